"""End-to-end tests of the ``chronos-pkg`` command on the shipped example data."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chronos_pkg.cli import main, read_table

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CSV = REPO_ROOT / "examples" / "hourly_demand.csv"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
H = 6  # horizon within the tiny model's prediction_length (8)


@pytest.fixture(scope="module")
def example() -> pd.DataFrame:
    return pd.read_csv(EXAMPLE_CSV, parse_dates=["timestamp"])


def run_cli(*args: object) -> int:
    """Run ``chronos-pkg`` in-process and return its exit code (argparse exits included)."""
    try:
        return main([str(a) for a in args])
    except SystemExit as exit_:
        return int(exit_.code or 0)


def forecast_args(model: Path, output: Path, *extra: object) -> list[object]:
    return [
        "forecast",
        EXAMPLE_CSV,
        "-H",
        H,
        "--model",
        model,
        "--device",
        "cpu",
        "-o",
        output,
        *extra,
    ]


def test_forecast_writes_forecast_table_and_plot(tiny_seq2seq_dir, example, tmp_path, capsys):
    output, plot = tmp_path / "forecast.csv", tmp_path / "forecast.png"
    code = run_cli(*forecast_args(tiny_seq2seq_dir, output, "--plot", plot), "--plot-series", 2)
    assert code == 0, capsys.readouterr().err

    forecast = pd.read_csv(output, parse_dates=["timestamp"])
    levels = [f"0.{i}" for i in range(1, 10)]
    assert list(forecast.columns) == ["id", "timestamp", "predictions", "mean", *levels]
    ids = list(example["id"].unique())
    assert list(forecast["id"].unique()) == ids and len(forecast) == H * len(ids)
    for series_id, group in forecast.groupby("id", sort=False):
        last = example.loc[example["id"] == series_id, "timestamp"].max()
        expected = pd.date_range(last + pd.Timedelta(hours=1), periods=H, freq="h")
        assert (group["timestamp"].to_numpy() == expected.to_numpy()).all()
    quantiles = forecast[levels].to_numpy()
    assert np.isfinite(quantiles).all()
    assert (np.diff(quantiles, axis=1) >= -1e-4).all()  # quantiles are ordered
    np.testing.assert_allclose(forecast["predictions"], forecast["0.5"])

    assert plot.read_bytes()[:8] == PNG_MAGIC and plot.stat().st_size > 10_000
    out = capsys.readouterr().out
    assert f"{H * len(ids)} rows" in out and "plot of 2 of 4 series" in out


def test_forecast_is_reproducible_with_a_seed(tiny_seq2seq_dir, tmp_path):
    first, second, other = (tmp_path / f"{name}.csv" for name in ("a", "b", "c"))
    assert run_cli(*forecast_args(tiny_seq2seq_dir, first, "--seed", "3")) == 0
    assert run_cli(*forecast_args(tiny_seq2seq_dir, second, "--seed", "3")) == 0
    assert run_cli(*forecast_args(tiny_seq2seq_dir, other, "--seed", "4")) == 0
    assert first.read_text() == second.read_text()
    assert first.read_text() != other.read_text()


def test_custom_columns_levels_and_parquet(tiny_seq2seq_dir, example, tmp_path):
    renamed = example.rename(columns={"id": "item", "timestamp": "ds", "target": "y"})
    source = tmp_path / "input.parquet"
    renamed.assign(extra="ignored").to_parquet(source)
    output = tmp_path / "forecast.parquet"
    code = run_cli(
        "forecast", source, "-H", H, "--model", tiny_seq2seq_dir, "--device", "cpu",
        "--id-column", "item", "--timestamp-column", "ds", "--target", "y",
        "--quantile-levels", "0.25", "0.75", "-o", output, "--plot", tmp_path / "p.png",
    )  # fmt: skip
    assert code == 0
    forecast = pd.read_parquet(output)
    # the plot's 0.1/0.9 band is computed but only the asked levels are written
    assert list(forecast.columns) == ["item", "ds", "predictions", "mean", "0.25", "0.75"]
    assert (forecast["0.25"] <= forecast["0.75"] + 1e-4).all()


def test_one_row_per_series_parquet_is_exploded(example, tmp_path):
    grouped = example.groupby("id", sort=False).agg(list).reset_index()
    path = tmp_path / "wide.parquet"
    grouped.to_parquet(path)
    frame = read_table(path)
    assert len(frame) == len(example)
    assert list(frame["id"].unique()) == list(example["id"].unique())
    np.testing.assert_allclose(frame["target"].astype(float), example["target"])


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make_input", "expected"),
    [
        (lambda d: d / "missing.csv", "input file not found"),
        (lambda d: _write(d / "data.xlsx", "x"), "unsupported input"),
        (lambda d: d, "is a directory"),
        (lambda d: _write(d / "e.csv", ""), "cannot read"),
        (lambda d: _write(d / "p.parquet", "not parquet"), "cannot read"),
        (lambda d: _write(d / "h.csv", "id,timestamp,target\n"), "holds no rows"),
    ],
    ids=["missing", "suffix", "directory", "empty-csv", "corrupt-parquet", "header-only"],
)
def test_bad_input_files_exit_1(tmp_path, capsys, make_input, expected):
    source = make_input(tmp_path)
    code = run_cli("forecast", source, "-H", H, "--model", tmp_path, "-o", tmp_path / "f.csv")
    err = capsys.readouterr().err
    assert code == 1
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "f.csv").exists()


@pytest.mark.parametrize(
    ("flag", "value", "frame_change"),
    [
        ("--target", "value", None),
        ("--id-column", "series", None),
        ("--timestamp-column", "time", None),
        (None, None, lambda f: f.assign(target="abc")),
        (None, None, lambda f: f.drop(index=[3, 10, 11])),  # irregular timestamps
    ],
    ids=["target", "id", "timestamp", "text-target", "irregular"],
)
def test_bad_data_exits_1_before_loading_the_model(
    tmp_path, capsys, example, flag, value, frame_change
):
    source = tmp_path / "data.csv"
    (frame_change(example) if frame_change else example).to_csv(source, index=False)
    extra = [flag, value] if flag else []
    # the model path does not exist: a data error must be reported before the model is loaded
    code = run_cli("forecast", source, "-H", H, "--model", tmp_path / "nope", "-o", "f.csv", *extra)
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    if flag:
        assert f"{value!r} ({flag}) not found" in err and "'target'" in err
    else:
        assert "nope" not in err


def test_missing_model_exits_1(tmp_path, capsys):
    code = run_cli(*forecast_args(tmp_path / "no-such-model", tmp_path / "f.csv"))
    assert code == 1 and "no checkpoint directory" in capsys.readouterr().err


def test_without_model_the_default_or_best_bundled_model_is_used(monkeypatch, capsys):
    import chronos_pkg.loading as loading
    from chronos_pkg.cli import CommandError, resolve_model

    monkeypatch.setattr(loading, "bundled_models", lambda: ["default", "backup"])
    assert resolve_model(None) == "default"
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(loading, "bundled_models", lambda: ["backup"])
    assert resolve_model(None) == "backup"
    assert capsys.readouterr().err == (
        "chronos-pkg: using the built-in model 'backup' ('default' is not bundled in this "
        "installation)\n"
    )
    assert resolve_model("some/dir") == "some/dir"
    monkeypatch.setattr(loading, "bundled_models", lambda: [])
    with pytest.raises(CommandError, match="no built-in model is bundled"):
        resolve_model(None)


@pytest.fixture
def no_model_loading(monkeypatch):
    """Fail the test if the CLI gets as far as loading a model."""
    import chronos_pkg.base

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(chronos_pkg.base, "from_pretrained", refuse)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Warning" not in err
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("output", "plot", "expected"),
    [
        (
            "missing-dir/f.csv",
            None,
            "chronos-pkg forecast: error: the directory of --output {d}/missing-dir/f.csv does "
            "not exist: {d}/missing-dir",
        ),
        (
            "f.txt",
            None,
            "chronos-pkg forecast: error: unsupported output format '.txt' for --output {d}/f.txt;"
            " use .csv, .parquet, .pq",
        ),
        (
            "f.csv",
            "p.xyz",
            "chronos-pkg forecast: error: unsupported plot format '.xyz' for --plot",
        ),
        ("f.csv", "nodir/p.png", "chronos-pkg forecast: error: the directory of --plot"),
        (".", None, "chronos-pkg forecast: error: --output {d} is a directory; give a file name"),
    ],
    ids=["output-dir", "output-format", "plot-format", "plot-dir", "output-is-dir"],
)
def test_bad_output_paths_fail_before_the_model_loads(
    tmp_path, capsys, no_model_loading, output, plot, expected
):
    extra = ["--plot", tmp_path / plot] if plot else []
    code = run_cli("forecast", EXAMPLE_CSV, "-H", H, "-o", tmp_path / output, *extra)
    assert code == 1
    assert _error_line(capsys).startswith(expected.format(d=tmp_path))
    assert not (tmp_path / "missing-dir").exists()  # never created silently


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda f: f.assign(target=f["target"].where(f.index != 5, 1e300)),
            "chronos-pkg forecast: error: series 'store_north' at 2024-03-01 05:00:00: target "
            "value 1e+300 in column 'target' is too large (the models compute in float32, "
            "|value| <= 3.403e+38); rescale the series",
        ),
        (
            lambda f: f.assign(timestamp=f["timestamp"].astype(str).where(f.index != 2, "t0")),
            "chronos-pkg forecast: error: timestamp column 'timestamp': 't0' (row 2) is not a "
            "date/time; write timestamps like 2024-01-31 or 2024-01-31 13:00",
        ),
        (
            lambda f: f.assign(
                timestamp=f["timestamp"].astype(str).where(f.index != 2, "2024-02-30 00:00:00")
            ),
            "chronos-pkg forecast: error: timestamp column 'timestamp': '2024-02-30 00:00:00' "
            "(row 2) is not a date/time",
        ),
    ],
    ids=["beyond-float32", "text-timestamp", "impossible-date"],
)
def test_bad_values_are_named_before_the_model_loads(
    tmp_path, capsys, example, no_model_loading, change, expected
):
    source = tmp_path / "data.csv"
    change(example).to_csv(source, index=False)
    assert run_cli("forecast", source, "-H", H, "-o", tmp_path / "f.csv") == 1
    assert _error_line(capsys).startswith(expected)


def test_global_flags_work_after_the_command(tmp_path, capsys, no_model_loading):
    args = ["forecast", EXAMPLE_CSV, "-H", H, "-o", tmp_path / "f.txt"]
    with pytest.raises(Exception, match="unsupported output format"):
        run_cli(*args, "--traceback")
    with pytest.raises(Exception, match="unsupported output format"):
        run_cli("--traceback", *args)
    assert run_cli(*args, "--quiet", "-v") == 1
    assert run_cli("models", "--quiet") == 0


def test_all_nan_series_are_named_by_id(tiny_seq2seq_dir, example, tmp_path, capsys):
    source = tmp_path / "data.csv"
    example.assign(target=example["target"].where(example["id"] != "kiosk")).to_csv(
        source, index=False
    )
    assert run_cli(*forecast_args(tiny_seq2seq_dir, tmp_path / "f.csv")[:1], source,
                   *forecast_args(tiny_seq2seq_dir, tmp_path / "f.csv")[2:]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("warning: series ['kiosk'] have no observed 'target' value") == 1
    assert "[2]" not in err and "Traceback" not in err


def test_forecast_reads_the_input_once(tiny_seq2seq_dir, tmp_path, monkeypatch):
    """The checks before loading the model split the table; the forecast reuses that split."""
    import chronos_pkg.dataframe as dataframe

    calls = []
    split = dataframe.split_series
    monkeypatch.setattr(
        dataframe, "split_series", lambda *a, **k: calls.append(1) or split(*a, **k)
    )
    assert run_cli(*forecast_args(tiny_seq2seq_dir, tmp_path / "f.csv")) == 0
    assert len(calls) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["forecast", str(EXAMPLE_CSV), "-o", "f.csv"],  # no --prediction-length
        ["forecast", str(EXAMPLE_CSV), "-H", "0", "-o", "f.csv"],
        ["forecast", str(EXAMPLE_CSV), "-H", "x", "-o", "f.csv"],
        ["forecast", str(EXAMPLE_CSV), "-H", "4", "-o", "f.csv", "--quantile-levels", "1.5"],
        ["forecast", str(EXAMPLE_CSV), "-H", "4", "-o", "f.csv", "--no-such-option"],
        ["no-such-command"],
        [],
    ],
    ids=[
        "no-horizon",
        "zero-horizon",
        "text-horizon",
        "bad-level",
        "unknown-option",
        "command",
        "none",
    ],
)
def test_usage_errors_exit_2(args, capsys):
    assert run_cli(*args) == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["forecast"], ["fine-tune"], ["info"], ["models"]])
def test_help_for_every_command(command, capsys):
    assert run_cli(*command, "--help") == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: chronos-pkg")
    if command == ["forecast"]:
        for option in ("--prediction-length", "--id-column", "--quantile-levels", "--plot"):
            assert option in out


def test_plot_without_matplotlib_fails_early(tiny_seq2seq_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    output = tmp_path / "f.csv"
    code = run_cli(*forecast_args(tiny_seq2seq_dir, output, "--plot", tmp_path / "p.png"))
    assert code == 1
    assert "plotting needs matplotlib" in capsys.readouterr().err
    assert not output.exists()


def test_info_prints_model_card_and_summary(tiny_seq2seq_dir, tmp_path, capsys):
    checkpoint = tmp_path / "ckpt"
    shutil.copytree(tiny_seq2seq_dir, checkpoint)
    (checkpoint / "MODEL_CARD.md").write_text("# tiny test model\n\nRandom weights, for tests.\n")
    assert run_cli("info", checkpoint) == 0
    out = capsys.readouterr().out
    assert out.startswith("# tiny test model") and "Random weights" in out
    assert "ChronosPipeline" in out and "context_length=32" in out

    assert run_cli("info", checkpoint, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pipeline"] == "ChronosPipeline"
    assert summary["chronos_config"]["prediction_length"] == 8
    assert summary["parameters"] > 0


def test_info_on_a_non_checkpoint_exits_1(tmp_path, capsys):
    assert run_cli("info", tmp_path) == 1
    assert "not a Chronos checkpoint" in capsys.readouterr().err


def test_models_lists_builtin_names(capsys):
    assert run_cli("models") == 0
    out = capsys.readouterr().out
    assert out.split()[0] == "default"


@pytest.fixture(scope="module")
def micro_bolt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from chronos_pkg.bolt.checkpoint import new_bolt_model, save_bolt_checkpoint
    from chronos_pkg.bolt.config import ChronosBoltConfig

    network = {"d_model": 16, "d_ff": 32, "d_kv": 8, "num_heads": 2, "num_layers": 1}
    model = new_bolt_model(ChronosBoltConfig(context_length=64, prediction_length=8), **network)
    return save_bolt_checkpoint(model, tmp_path_factory.mktemp("micro-bolt"))


def test_forecast_with_a_bolt_checkpoint(micro_bolt_dir, tmp_path, capsys):
    output, plot = tmp_path / "bolt.csv", tmp_path / "bolt.png"
    assert run_cli(*forecast_args(micro_bolt_dir, output, "--plot", plot)) == 0
    forecast = pd.read_csv(output)
    assert len(forecast) == 4 * H and forecast["0.9"].notna().all()
    assert plot.read_bytes()[:8] == PNG_MAGIC

    assert run_cli(*forecast_args(micro_bolt_dir, output, "--num-samples", "5")) == 1
    assert "--num-samples does not apply to ChronosBoltPipeline" in capsys.readouterr().err


def test_forecast_fine_tunes_first_and_saves_the_model(micro_bolt_dir, tmp_path, capsys):
    output, saved = tmp_path / "tuned.csv", tmp_path / "tuned-model"
    extra = ("--fine-tune", "--fine-tune-steps", 3, "--save-model", saved)
    assert run_cli(*forecast_args(micro_bolt_dir, output, *extra)) == 0
    out = capsys.readouterr().out
    assert "fine-tuned 3 steps" in out and f"saved to {saved}" in out
    assert len(pd.read_csv(output)) == 4 * H
    # the saved model forecasts what the fine-tuned run wrote
    again = tmp_path / "again.csv"
    assert run_cli(*forecast_args(saved, again)) == 0
    pd.testing.assert_frame_equal(pd.read_csv(again), pd.read_csv(output))


def test_fine_tune_command_saves_a_loadable_model(micro_bolt_dir, tmp_path, capsys):
    saved = tmp_path / "model"
    args = ["fine-tune", EXAMPLE_CSV, "-H", H, "--model", micro_bolt_dir, "--device", "cpu"]
    assert run_cli(*args, "--output-dir", saved, "--fine-tune-steps", 2) == 0
    assert (saved / "config.json").is_file() and (saved / "model.safetensors").is_file()


def test_fine_tune_mode_reaches_fit(micro_bolt_dir, tmp_path, monkeypatch):
    from chronos_pkg.bolt.pipeline import ChronosBoltPipeline

    seen = {}
    original = ChronosBoltPipeline.fit

    def spy(self, *args, **kwargs):
        seen["mode"] = kwargs.get("finetune_mode")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ChronosBoltPipeline, "fit", spy)
    args = ["fine-tune", EXAMPLE_CSV, "-H", H, "--model", micro_bolt_dir, "--device", "cpu"]
    extra = ("--fine-tune-steps", 2, "--fine-tune-mode", "full")
    assert run_cli(*args, "--output-dir", tmp_path / "m", *extra) == 0
    assert seen["mode"] == "full"
    assert run_cli(*args, "--output-dir", tmp_path / "n", "--fine-tune-mode", "lora") == 2
    assert not (tmp_path / "n").exists()


def test_fine_tune_errors_come_before_training(micro_bolt_dir, tmp_path, capsys):
    output = tmp_path / "x.csv"
    assert run_cli(*forecast_args(micro_bolt_dir, output, "--save-model", tmp_path / "m")) == 1
    assert "--save-model needs --fine-tune" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("")
    args = ["fine-tune", EXAMPLE_CSV, "-H", H, "--model", micro_bolt_dir, "--output-dir", a_file]
    assert run_cli(*args) == 1
    assert "exists and is not a directory" in capsys.readouterr().err
    short = _write(
        tmp_path / "short.csv",
        "id,timestamp,target\n" + "".join(f"a,2024-01-01 0{i}:00,{i}\n" for i in range(8)),
    )
    args = ["fine-tune", short, "-H", H, "--model", micro_bolt_dir, "--output-dir", tmp_path / "o"]
    assert run_cli(*args) == 1
    assert "too short for a training window" in capsys.readouterr().err
