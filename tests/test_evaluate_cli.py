"""End to end: ``evaluation.evaluate`` then ``evaluation.aggregate`` on two small parquet files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluation import aggregate as aggregate_cli
from evaluation import evaluate as evaluate_cli

DATASETS = "monash_m1_yearly,monash_cif_2016"


@pytest.fixture
def data_dir(tmp_path):
    rng = np.random.default_rng(0)
    for name, freq, length in [("monash_m1_yearly", "YS", 30), ("monash_cif_2016", "MS", 48)]:
        t = np.arange(length)
        table = pa.table(
            {
                "id": [f"{name}_{i}" for i in range(4)],
                "timestamp": [pd.date_range("2000-01-01", periods=length, freq=freq).to_numpy()]
                * 4,
                "target": [(50 + t + rng.normal(0, 3, length)).tolist() for _ in range(4)],
            }
        )
        pq.write_table(table, tmp_path / f"{name}.parquet")
    return tmp_path


def run(args):
    assert evaluate_cli.main([str(a) for a in args]) == 0


def test_evaluate_writes_rows_sidecar_and_resumes(data_dir, tmp_path, caplog):
    out = tmp_path / "res" / "sn.csv"
    args = ["--model", "seasonal-naive", "--benchmark", "zero-shot", "--datasets", DATASETS]
    run([*args, "--data-dir", data_dir, "--output", out])
    frame = pd.read_csv(out)
    assert frame["dataset"].tolist() == ["monash_cif_2016", "monash_m1_yearly"]
    assert (frame["model"] == "seasonal-naive").all()
    assert (frame["MASE"] > 0).all() and (frame["seconds"] >= 0).all()
    sidecar = json.loads(out.with_name("sn.csv.json").read_text())
    assert sidecar["runs"][0]["machine"]["cpu_cores"] >= 1
    assert sidecar["runs"][0]["datasets"] == ["monash_cif_2016", "monash_m1_yearly"]
    versions = sidecar["runs"][0]["versions"]
    assert versions["python"] and versions["torch"] and versions["numpy"] and versions["pandas"]
    assert {"statsforecast", "gluonts"} <= set(versions)
    per_dataset = sidecar["runs"][0]["per_dataset"]
    assert set(per_dataset) == {"monash_cif_2016", "monash_m1_yearly"}
    assert all(d["seconds"] >= 0 for d in per_dataset.values())
    # a rerun skips both datasets and records a second run with none scored
    run([*args, "--data-dir", data_dir, "--output", out])
    assert len(pd.read_csv(out)) == 2
    assert json.loads(out.with_name("sn.csv.json").read_text())["runs"][1]["datasets"] == []
    # naive into the same file adds its own rows
    run(
        [
            "--model",
            "naive",
            "--benchmark",
            "zero-shot",
            "--datasets",
            DATASETS,
            "--data-dir",
            data_dir,
            "--output",
            out,
        ]
    )
    assert len(pd.read_csv(out)) == 4


def test_unknown_dataset_is_a_clean_error(tmp_path, caplog):
    code = evaluate_cli.main(
        ["--model", "naive", "--datasets", "nope", "--output", str(tmp_path / "x.csv")]
    )
    assert code == 2 and "nope" in caplog.text


def test_aggregate_cli_writes_tables_and_chart(data_dir, tmp_path, capsys):
    out = tmp_path / "all.csv"
    for model in ("seasonal-naive", "naive"):
        run(
            [
                "--model",
                model,
                "--benchmark",
                "all",
                "--datasets",
                DATASETS,
                "--data-dir",
                data_dir,
                "--output",
                out,
            ]
        )
    agg_dir = tmp_path / "agg"
    assert aggregate_cli.main([str(out), "--output-dir", str(agg_dir)]) == 0
    aggregate = pd.read_csv(agg_dir / "aggregate.csv").set_index("model")
    assert aggregate.loc["seasonal-naive", "MASE"] == pytest.approx(1.0)
    assert aggregate.loc["naive", "n_datasets"] == 2
    assert (agg_dir / "aggregate.md").read_text().startswith("| model |")
    assert (agg_dir / "aggregate.png").is_file()
    assert len(pd.read_csv(agg_dir / "relative_scores.csv")) == 4
    assert "naive" in capsys.readouterr().out
    # a subset through a manifest: only datasets marked matches_published
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {"datasets": {"monash_cif_2016": {"matches_published": True}, "monash_m1_yearly": {}}}
        )
    )
    sub_dir = tmp_path / "sub"
    aggregate_cli.main(
        [str(out), "--output-dir", str(sub_dir), "--only-matching", str(manifest), "--no-plot"]
    )
    assert set(pd.read_csv(sub_dir / "relative_scores.csv")["dataset"]) == {"monash_cif_2016"}


def test_evaluate_a_checkpoint(data_dir, tmp_path, tiny_seq2seq_dir):
    import chronos_pkg

    if not hasattr(chronos_pkg, "from_pretrained"):
        pytest.skip("chronos_pkg.from_pretrained not available yet")
    out = tmp_path / "tiny.csv"
    run(
        [
            "--model", tiny_seq2seq_dir, "--model-name", "tiny", "--benchmark", "zero-shot",
            "--datasets", DATASETS, "--data-dir", data_dir, "--output", out,
            "--device", "cpu", "--num-samples", "4", "--batch-size", "3",
        ]
    )  # fmt: skip
    frame = pd.read_csv(out)
    assert frame["model"].tolist() == ["tiny", "tiny"]
    assert np.isfinite(frame[["MASE", "WQL"]].to_numpy()).all()
    settings = json.loads(out.with_name("tiny.csv.json").read_text())["runs"][0]["settings"]
    assert settings["predict_kwargs"]["num_samples"] == 4


def test_baseline_options_reach_the_baselines():
    """The CLI's baseline flags land in the baseline objects (and so in the sidecar's settings)."""
    from chronos_pkg.eval.forecasters import build_forecaster

    args = evaluate_cli.parse_args(
        ["--model", "auto-arima", "--device", "cpu", "--n-jobs", "1", "--series-time-limit", "20"]
    )
    model = build_forecaster(args.model, baseline_kwargs=evaluate_cli.baseline_kwargs(args))
    assert (model.n_jobs, model.series_time_limit) == (1, 20.0)
    assert str(model.cache.directory) == "results-auto-arima.csv.series-cache"
    args = evaluate_cli.parse_args(
        ["--model", "auto-arima", "--series-cache", "c", "--output", "o"]
    )
    assert evaluate_cli.baseline_kwargs(args)["cache_dir"] is None  # no time limit: batch fit
    args = evaluate_cli.parse_args(
        ["--model", "auto-ets", "--series-time-limit", "5", "--output", "o"]
    )
    assert evaluate_cli.baseline_kwargs(args)["cache_dir"] == "o.series-cache"
    args = evaluate_cli.parse_args(
        ["--model", "tft", "--device", "cpu", "--max-epochs", "20", "--train-time-limit", "300"]
        + ["--seed", "2"]
    )
    model = build_forecaster(args.model, baseline_kwargs=evaluate_cli.baseline_kwargs(args))
    assert (model.max_epochs, model.time_limit, model.accelerator) == (20, 300.0, "cpu")
    assert model.seed == 2  # the seed-noise runs train with other seeds
    assert model.early_stopping_patience is None and model.estimator_kwargs == {}
    args = evaluate_cli.parse_args(
        ["--model", "tft", "--early-stopping-patience", "10", "--train-batch-size", "128"]
    )
    model = build_forecaster(args.model, baseline_kwargs=evaluate_cli.baseline_kwargs(args))
    assert model.early_stopping_patience == 10 and model.estimator_kwargs == {"batch_size": 128}


def test_update_docs_rewrites_only_the_marked_table(tmp_path):
    results = tmp_path / "r.csv"
    pd.DataFrame(
        [("ETTh", "seasonal-naive", 2.0, 0.5), ("ETTh", "ours", 1.0, 0.25)],
        columns=["dataset", "model", "MASE", "WQL"],
    ).to_csv(results, index=False)
    doc = tmp_path / "README.md"
    doc.write_text(
        "intro\n<!-- aggregate-table:start -->\nold table\n<!-- aggregate-table:end -->\nend\n"
    )
    args = [str(results), "--output-dir", str(tmp_path / "agg"), "--no-plot"]
    assert aggregate_cli.main([*args, "--update-docs", str(doc)]) == 0
    text = doc.read_text()
    table = (tmp_path / "agg" / "aggregate.md").read_text()
    assert (
        text == f"intro\n<!-- aggregate-table:start -->\n{table}<!-- aggregate-table:end -->\nend\n"
    )
    (tmp_path / "plain.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="no <!-- aggregate-table:start -->"):
        aggregate_cli.main([*args, "--update-docs", str(tmp_path / "plain.md")])


def test_readme_tables_are_the_committed_aggregate():
    """README.md and evaluation/README.md show aggregate.md as written by evaluation.aggregate."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    table = (root / "evaluation/results/aggregate/aggregate.md").read_text()
    for doc in ("README.md", "evaluation/README.md"):
        text = (root / doc).read_text()
        assert aggregate_cli.replace_table(text, table) == text, f"{doc} is stale"


def test_an_interrupted_run_still_writes_its_sidecar(tmp_path, monkeypatch):
    """Ctrl-C (or Lightning's SystemExit on it) keeps the record of what finished."""

    def interrupted(*args, **kwargs):
        raise SystemExit(1)

    monkeypatch.setattr(evaluate_cli, "run_benchmark", interrupted)
    out = tmp_path / "r.csv"
    args = ["--model", "seasonal-naive", "--device", "cpu", "--datasets", "monash_m1_yearly"]
    assert evaluate_cli.main([*args, "--output", str(out)]) == 130
    run = json.loads((tmp_path / "r.csv.json").read_text())["runs"][-1]
    assert run["interrupted"] is True and run["datasets"] == []


def test_a_killed_run_keeps_the_record_of_each_finished_dataset(data_dir, tmp_path, monkeypatch):
    """A run killed outright (SIGKILL: no handler runs) leaves its sidecar entry up to date."""
    from chronos_pkg.eval import harness

    class Killed(BaseException):
        pass

    real = harness.evaluate_dataset
    calls = []

    def dies_on_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(harness, "evaluate_dataset", dies_on_the_second)
    out = tmp_path / "k.csv"
    args = ["--model", "seasonal-naive", "--benchmark", "zero-shot", "--datasets", DATASETS]
    with pytest.raises(Killed):
        evaluate_cli.main([*args, "--data-dir", str(data_dir), "--output", str(out)])
    run = json.loads(out.with_name("k.csv.json").read_text())["runs"][-1]
    assert run["finished"] is False and "seconds" not in run
    assert run["datasets"] == ["monash_cif_2016"] == pd.read_csv(out)["dataset"].tolist()
    assert run["per_dataset"]["monash_cif_2016"]["seconds"] >= 0
    assert run["versions"]["torch"] and run["machine"]["cpu_cores"] >= 1
    # the rerun resumes with the other dataset and appends its own, finished, entry
    monkeypatch.setattr(harness, "evaluate_dataset", real)
    run_ = evaluate_cli.main([*args, "--data-dir", str(data_dir), "--output", str(out)])
    runs = json.loads(out.with_name("k.csv.json").read_text())["runs"]
    assert run_ == 0 and len(runs) == 2
    assert runs[1]["finished"] is True and runs[1]["datasets"] == ["monash_m1_yearly"]
