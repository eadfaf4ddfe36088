"""The training loop on the CPU: loss falls, checkpoints load, resume is exact, bad configs fail early."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from chronos_pkg import series_io
from chronos_pkg.train.config import config_from_dict
from chronos_pkg.train.loop import linear_schedule, train
from chronos_pkg.train.state import LATEST, STATE_FILE, load_trainer_state
from tests.train.conftest import MICRO_NETWORK


@pytest.fixture(scope="module")
def sine_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Noisy sinusoids with period 12 and random level/amplitude: easy to learn."""
    rng = np.random.default_rng(0)
    t = np.arange(300)
    series = [
        (10 + rng.uniform(1, 5) * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 6))).astype(np.float32)
        + rng.normal(0, 0.1, size=len(t)).astype(np.float32)
        for _ in range(40)
    ]
    return series_io.write_series(series, tmp_path_factory.mktemp("data") / "sines.parquet")


def micro_config(output_dir: Path, data_path: Path, **trainer: Any) -> dict[str, Any]:
    return {
        "output_dir": str(output_dir),
        "seed": 3,
        "model": {
            "family": "t5",
            "size": None,
            "context_length": 32,
            "prediction_length": 8,
            "network": dict(MICRO_NETWORK),
            "options": {"n_tokens": 1024},  # fewer bins: the loss falls within 100 steps
        },
        "data": {
            "min_past": 16,
            "num_workers": 0,
            "sources": [{"name": "sines", "path": str(data_path)}],
        },
        "trainer": {
            "max_steps": 100,
            "batch_size": 16,
            "learning_rate": 1e-2,
            "log_every": 10,
            "save_every": 1000,
            "progress_bar": False,
            "cpu_threads": 1,
            **trainer,
        },
    }


def read_log(output_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (output_dir / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, sine_file: Path) -> Path:
    output = tmp_path_factory.mktemp("smoke")
    final = train(config_from_dict(micro_config(output, sine_file)))
    assert final == output / "final"
    return output


def test_smoke_loss_falls_and_log_has_fields(smoke_run: Path) -> None:
    log = read_log(smoke_run)
    assert [r["step"] for r in log] == list(range(10, 101, 10))
    for record in log:
        assert {"step", "loss", "lr", "tokens_per_s"} <= set(record)
        assert record["tokens_per_s"] > 0
    assert log[-1]["loss"] < log[0]["loss"] - 1.0
    assert log[-1]["lr"] == pytest.approx(0.0)
    assert (smoke_run / "train_config.yaml").is_file()
    assert (smoke_run / "final" / "train_config.yaml").is_file()


def test_final_checkpoint_forecasts(smoke_run: Path) -> None:
    from chronos_pkg.t5.pipeline import ChronosPipeline

    pipeline = ChronosPipeline.from_pretrained(smoke_run / "final")
    context = torch.sin(2 * torch.pi * torch.arange(48) / 12) * 3 + 10
    quantiles, mean = pipeline.predict_quantiles(context, prediction_length=8)
    assert quantiles.shape == (1, 8, 9) and mean.shape == (1, 8)
    assert torch.isfinite(quantiles).all()


@pytest.mark.oracle
def test_final_checkpoint_loads_in_published_package(smoke_run: Path) -> None:
    chronos = pytest.importorskip("chronos")
    pipeline = chronos.ChronosPipeline.from_pretrained(smoke_run / "final")
    samples = pipeline.predict(torch.arange(40, dtype=torch.float32), prediction_length=8)
    assert samples.shape[-1] == 8


def test_resume_continues_exactly(tmp_path: Path, sine_file: Path) -> None:
    straight = tmp_path / "straight"
    train(config_from_dict(micro_config(straight, sine_file, max_steps=20, log_every=4)))

    chunked = tmp_path / "chunked"
    first = train(
        config_from_dict(
            micro_config(chunked, sine_file, max_steps=20, log_every=4, stop_after_steps=12)
        )
    )
    assert first == chunked / LATEST
    state = load_trainer_state(chunked / LATEST)
    assert state["step"] == 12
    assert state["scheduler"]["last_epoch"] == 12
    assert not (chunked / "final").exists()
    train(
        config_from_dict(micro_config(chunked, sine_file, max_steps=20, log_every=4, resume=True))
    )

    log_a, log_b = read_log(straight), read_log(chunked)
    assert [r["step"] for r in log_b] == [4, 8, 12, 16, 20]
    assert [r["lr"] for r in log_b] == pytest.approx([r["lr"] for r in log_a])
    assert [r["loss"] for r in log_b] == pytest.approx([r["loss"] for r in log_a], rel=1e-6)
    weights_a = load_file(straight / "final" / "model.safetensors")
    weights_b = load_file(chunked / "final" / "model.safetensors")
    for name, value in weights_a.items():
        torch.testing.assert_close(weights_b[name], value, rtol=1e-5, atol=1e-6)


def test_checkpoint_holds_optimizer_state(tmp_path: Path, sine_file: Path) -> None:
    train(config_from_dict(micro_config(tmp_path, sine_file, max_steps=4, save_every=2)))
    state = load_trainer_state(tmp_path / LATEST)
    assert state["step"] == 4
    assert len(state["optimizer"]["state"]) > 0
    assert (tmp_path / LATEST / "model.safetensors").is_file()
    assert (tmp_path / LATEST / STATE_FILE).is_file()


def test_init_from_fine_tunes_a_checkpoint(
    tmp_path: Path, smoke_run: Path, sine_file: Path
) -> None:
    config = micro_config(tmp_path, sine_file, max_steps=3, init_from=str(smoke_run / "final"))
    config["model"]["network"] = {}  # the shape comes from the checkpoint
    final = train(config_from_dict(config))
    before = load_file(smoke_run / "final" / "model.safetensors")
    after = load_file(final / "model.safetensors")
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed
    # a fine-tuned model starts from the trained loss, not from ln(1024) ~ 6.9
    assert read_log(tmp_path)[0]["loss"] < read_log(smoke_run)[0]["loss"]


def test_train_only_freezes_every_other_weight(
    tmp_path: Path, smoke_run: Path, sine_file: Path
) -> None:
    config = micro_config(tmp_path, sine_file, max_steps=3, init_from=str(smoke_run / "final"))
    config["model"]["network"] = {}
    config["trainer"]["train_only"] = ["decoder.block.0."]
    final = train(config_from_dict(config))
    before = load_file(smoke_run / "final" / "model.safetensors")
    after = load_file(final / "model.safetensors")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("decoder.block.0.") for k in changed)


def test_train_only_that_matches_nothing_is_an_error(tmp_path: Path, sine_file: Path) -> None:
    config = micro_config(tmp_path, sine_file, max_steps=1, train_only=["no_such_layer"])
    with pytest.raises(ValueError, match="no_such_layer"):
        train(config_from_dict(config))
    with pytest.raises(ValueError, match="train_only"):
        config_from_dict(micro_config(tmp_path, sine_file, max_steps=1, train_only=[]))


def test_causal_variant_trains(tmp_path: Path, sine_file: Path) -> None:
    config = micro_config(tmp_path, sine_file, max_steps=3, log_every=1)
    config["model"].update(model_type="causal", network={"n_embd": 16, "n_head": 2, "n_layer": 1})
    final = train(config_from_dict(config))
    assert (
        json.loads((final / "config.json").read_text())["chronos_config"]["model_type"] == "causal"
    )
    assert np.isfinite([r["loss"] for r in read_log(tmp_path)]).all()


def test_linear_schedule() -> None:
    assert linear_schedule(0, 100) == 1.0
    assert linear_schedule(50, 100) == 0.5
    assert linear_schedule(100, 100) == 0.0
    assert linear_schedule(0, 100, warmup_steps=10) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda c: c["trainer"].update(max_stepz=3), ValueError, "max_stepz"),
        (
            lambda c: c["data"]["sources"][0].update(path="nowhere.parquet"),
            FileNotFoundError,
            "nowhere",
        ),
        (lambda c: c.update(seed="one"), TypeError, "seed"),
        (lambda c: c["model"].update(family="rnn"), ValueError, "family"),
    ],
)
def test_bad_config_fails_before_training(
    tmp_path: Path, sine_file: Path, change: Any, error: type, match: str
) -> None:
    config = micro_config(tmp_path / "run", sine_file)
    change(config)
    with pytest.raises(error, match=match):
        train(config_from_dict(config))
    assert not (tmp_path / "run").exists()


def test_empty_dataset_fails_before_training(tmp_path: Path) -> None:
    short = series_io.write_series([np.ones(20, np.float32)] * 3, tmp_path / "short.parquet")
    config = micro_config(tmp_path / "run", short)
    with pytest.raises(ValueError, match="no usable series"):
        train(config_from_dict(config))
    assert not (tmp_path / "run").exists()


def test_cli_runs_and_rejects_unknown_keys(tmp_path: Path, sine_file: Path, capsys: Any) -> None:
    import yaml

    from training.train import main

    config_path = tmp_path / "micro.yaml"
    config_path.write_text(yaml.safe_dump(micro_config(tmp_path / "unused", sine_file)))
    out = tmp_path / "cli"
    code = main(
        [
            "--config",
            str(config_path),
            "--output-dir",
            str(out),
            "--trainer.max_steps",
            "2",
            "--trainer.log_every=1",
            "--seed",
            "5",
        ]
    )
    assert code == 0
    assert (out / "final" / "model.safetensors").is_file()
    saved = yaml.safe_load((out / "train_config.yaml").read_text())
    assert saved["seed"] == 5 and saved["trainer"]["max_steps"] == 2
    assert main(["--config", str(config_path), "--trainer.max_stepz", "2"]) == 2
    assert "max_stepz" in capsys.readouterr().err


def test_smoke_config_runs(tmp_path: Path) -> None:
    from chronos_pkg.train.config import load_train_config

    smoke = Path(__file__).resolve().parents[2] / "training" / "configs" / "smoke.yaml"
    config = load_train_config(
        smoke,
        [
            f"output_dir={tmp_path}",
            "trainer.max_steps=3",
            "trainer.log_every=1",
            "data.sources.0.options.num_series=16",
            "trainer.progress_bar=false",
        ],
    )
    final = train(config)
    assert (final / "model.safetensors").is_file()
    assert len(read_log(tmp_path)) == 3


@pytest.mark.slow
def test_distributed_run_with_torchrun(tmp_path: Path, sine_file: Path) -> None:
    """Two CPU processes (gloo) through torchrun: the same command, no code change."""
    import os
    import subprocess
    import sys

    import yaml

    config_path = tmp_path / "ddp.yaml"
    config_path.write_text(
        yaml.safe_dump(micro_config(tmp_path / "run", sine_file, max_steps=4, log_every=2))
    )
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "-m",
        "training.train",
        "--config",
        str(config_path),
    ]
    result = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r["step"] for r in read_log(tmp_path / "run")] == [2, 4]
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_compiled_run(tmp_path: Path, sine_file: Path) -> None:
    config = micro_config(
        tmp_path, sine_file, max_steps=20, log_every=10, device="cuda", compile=True
    )
    config["data"]["num_workers"] = 2
    final = train(config_from_dict(config))
    log = read_log(tmp_path)
    assert np.isfinite([r["loss"] for r in log]).all() and log[-1]["loss"] < log[0]["loss"]
    assert (final / "model.safetensors").is_file()


def test_gradient_accumulation_draws_micro_batches(tmp_path: Path, sine_file: Path) -> None:
    config = micro_config(tmp_path, sine_file, max_steps=2, log_every=1, gradient_accumulation=2)
    train(config_from_dict(config))
    log = read_log(tmp_path)
    assert [r["step"] for r in log] == [1, 2]
    assert np.isfinite([r["loss"] for r in log]).all()
    with pytest.raises(ValueError, match="divisible"):
        train(config_from_dict(micro_config(tmp_path / "bad", sine_file, gradient_accumulation=3)))


@pytest.mark.parametrize("cpu_bf16", [False, True])
def test_cpu_bf16_autocasts_the_forward_pass(
    tmp_path: Path, sine_file: Path, monkeypatch: pytest.MonkeyPatch, cpu_bf16: bool
) -> None:
    from chronos_pkg.train.t5_task import T5Task

    seen: list[bool] = []
    real_loss = T5Task.loss

    def recording_loss(self: T5Task, model: Any, batch: Any) -> torch.Tensor:
        seen.append(torch.is_autocast_enabled("cpu"))
        return real_loss(self, model, batch)

    monkeypatch.setattr(T5Task, "loss", recording_loss)
    config = micro_config(tmp_path, sine_file, max_steps=30, log_every=10, cpu_bf16=cpu_bf16)
    train(config_from_dict(config))
    assert seen == [cpu_bf16] * 30
    log = read_log(tmp_path)
    assert np.isfinite([r["loss"] for r in log]).all() and log[-1]["loss"] < log[0]["loss"]
    # the weights stay float32: only the computation is bfloat16
    weights = load_file(str(tmp_path / "final" / "model.safetensors"))
    assert all(w.dtype == torch.float32 for w in weights.values())
