"""Recipe sweeps: every run gets the same minutes, a calibrated step budget and a validation row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from chronos_pkg import series_io
from chronos_pkg.train.sweep import load_sweep_spec, main, plan_steps, run_sweep

MICRO = (
    "{d_model: 16, d_ff: 32, d_kv: 8, num_heads: 2, num_layers: 1, num_decoder_layers: 1, "
    "relative_attention_num_buckets: 8, dropout_rate: 0.0}"
)


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    daily = [np.sin(np.arange(200) / 3).astype(np.float32) + rng.normal() for _ in range(30)]
    series_io.write_series(daily, tmp_path / "daily.parquet", freq="D")
    (tmp_path / "base.yaml").write_text(
        f"""
seed: 0
model:
  family: bolt
  context_length: 32
  prediction_length: 16
  network: {MICRO}
  options: {{input_patch_size: 8}}
data:
  data_dir: {tmp_path}
  min_past: 16
  num_workers: 0
  holdout_fraction: 0.1
  sources:
    - {{name: daily, path: daily.parquet, weight: 1}}
trainer: {{max_steps: 5, batch_size: 8, learning_rate: 0.003, log_every: 2, cpu_threads: 1,
           progress_bar: false}}
"""
    )
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        """
base: base.yaml
minutes: 0.01
calibration_steps: 4
output_dir: runs
results: results/sweep.csv
runs:
  - {name: reference}
  - {name: lr-low, overrides: [trainer.learning_rate=0.0003]}
"""
    )
    return spec


def test_sweep_runs_each_config_for_its_budget_and_scores_validation(spec_path: Path) -> None:
    spec = load_sweep_spec(spec_path)
    rows = run_sweep(spec)
    assert rows["name"].tolist() == ["reference", "lr-low"]
    saved = pd.read_csv(spec.results)
    assert saved["name"].tolist() == ["reference", "lr-low"]
    for row in saved.to_dict("records"):
        plan = json.loads((spec.output_dir / row["name"] / "plan.json").read_text())
        assert row["steps"] == plan["max_steps"] == plan_steps(spec, plan["steps_per_s"])[0]
        assert row["windows"] == row["steps"] * 8
        assert row["val_WQL"] > 0 and row["val_MASE"] > 0 and row["val_datasets"] == 1
        assert row["command"].endswith(f"--only {row['name']}")
        log = (spec.output_dir / row["name"] / "log.jsonl").read_text().splitlines()
        assert json.loads(log[-1])["step"] == row["steps"]  # the whole schedule ran
    trained = yaml.safe_load((spec.output_dir / "lr-low" / "train_config.yaml").read_text())
    assert trained["trainer"]["learning_rate"] == 0.0003  # the run's override
    assert trained["trainer"]["max_steps"] == saved["steps"].iloc[1]
    assert run_sweep(spec).empty  # finished runs are not run again


def test_plan_steps_fills_the_minutes() -> None:
    spec = load_sweep_spec_from_text("base: b.yaml\nminutes: 10\nruns: [{name: a}]\n")
    assert plan_steps(spec, 2.0) == (1200, 120)
    assert plan_steps(spec, 20.0) == (12000, 200)  # warmup capped


def load_sweep_spec_from_text(text: str, tmp: Path | None = None):
    import tempfile

    folder = Path(tmp or tempfile.mkdtemp())
    (folder / "s.yaml").write_text(text)
    return load_sweep_spec(folder / "s.yaml")


@pytest.mark.parametrize(
    "text, match",
    [
        ("minutes: 1\nruns: []\n", "'base' is required"),
        ("base: b.yaml\nminutes: 0\nruns: []\n", "minutes must be > 0"),
        ("base: b.yaml\nminutes: 1\nruns: [{name: a}, {name: a}]\n", "names repeat"),
        ("base: b.yaml\nminutes: 1\nruns: [{overrides: []}]\n", r"runs\[0\] needs a name"),
        ("base: b.yaml\nminutes: 1\nrun: []\n", "unknown keys \\['run'\\]"),
    ],
)
def test_bad_specs_are_named(text: str, match: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=match):
        load_sweep_spec_from_text(text, tmp_path)


def test_cli_rejects_unknown_run_names(spec_path: Path, capsys) -> None:
    assert main(["--spec", str(spec_path), "--only", "nope"]) == 1
    assert "no runs named ['nope']" in capsys.readouterr().out


def test_an_interrupted_run_keeps_its_step_budget(spec_path: Path) -> None:
    spec = load_sweep_spec(spec_path)
    run_dir = spec.output_dir / "reference"
    run_dir.mkdir(parents=True)
    plan = {"steps_per_s": 1.0, "max_steps": 3, "warmup_steps": 1}
    (run_dir / "plan.json").write_text(json.dumps(plan))
    rows = run_sweep(spec, only=["reference"])
    assert rows["steps"].tolist() == [3] and rows["steps_per_s"].tolist() == [1.0]


def test_the_committed_cpu_recipe_sweep_is_valid() -> None:
    """Every run of the committed sweep resolves to a valid config that differs from the
    reference only where its overrides say, with the default model's data."""
    from chronos_pkg.train.config import config_to_dict
    from chronos_pkg.train.sweep import run_config

    root = Path(__file__).resolve().parents[2]
    spec = load_sweep_spec(root / "training/sweeps/cpu-recipe.yaml")
    assert spec.minutes == 12 and spec.runs[0].name == "reference"
    configs = {run.name: run_config(spec, run, None) for run in spec.runs}
    reference = config_to_dict(configs["reference"])
    names = [s["name"] for s in reference["data"]["sources"]]
    for name, config in configs.items():
        as_dict = config_to_dict(config)
        assert [s["name"] for s in as_dict["data"]["sources"]] == names, name
        assert config.output_dir.endswith(f"runs/sweep/{name}")
    assert configs["context-1024"].model.context_length == 1024
    assert configs["lr-1e-3"].trainer.learning_rate == 0.001
    assert configs["kernel-synth-30"].data.sources[2].weight == 0.3
