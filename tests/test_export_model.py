"""Exporting a trained Chronos-Bolt into a built-in model directory (bfloat16 storage)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import chronos_pkg
from chronos_pkg.bolt.checkpoint import load_bolt_model, new_bolt_model, save_bolt_checkpoint
from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.train.learnability import MICRO_NETWORK
from training.export_model import export_model, main


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    model = new_bolt_model(
        ChronosBoltConfig(context_length=64, prediction_length=8), **MICRO_NETWORK
    )
    final = tmp_path / "run" / "final"
    save_bolt_checkpoint(model, final, extra={"chronos_training": {"step": 7, "seed": 0}})
    (final / "train_config.yaml").write_text("seed: 0\n")
    (tmp_path / "run" / "log.jsonl").write_text('{"step": 7, "loss": 1.0}\n')
    return final


def test_export_writes_bf16_weights_provenance_and_logs(run_dir: Path, tmp_path: Path) -> None:
    out = export_model(run_dir, tmp_path / "default")
    config = json.loads((out / "config.json").read_text())
    assert config["chronos_training"]["step"] == 7 and config["chronos_training"]["seed"] == 0
    assert config["dtype"] == "bfloat16"
    assert (out / "train_config.yaml").read_text() == "seed: 0\n"
    assert (out / "training_log.jsonl").is_file()
    stored = load_bolt_model(out, dtype="bfloat16")
    assert stored.dtype == torch.bfloat16
    # on the CPU the stored bfloat16 weights compute in float32, close to the original
    pipeline = chronos_pkg.from_pretrained(out)
    assert pipeline.model.dtype == torch.float32
    original = chronos_pkg.from_pretrained(run_dir)
    context = torch.tensor(np.sin(np.arange(80) / 4), dtype=torch.float32)
    a = pipeline.predict(context, prediction_length=8)
    b = original.predict(context, prediction_length=8)
    assert torch.allclose(a, b, atol=0.05, rtol=0.05)


def test_export_records_run_cost_and_cumulative_totals(run_dir: Path, tmp_path: Path) -> None:
    run = run_dir.parent
    (run_dir / "train_config.yaml").write_text("trainer: {batch_size: 4}\n")
    rows = [{"step": 5, "steps_per_s": 0.5}, {"step": 10, "steps_per_s": 2.5}]
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    parent = export_model(run_dir, tmp_path / "parent")
    training = json.loads((parent / "config.json").read_text())["chronos_training"]
    assert training["train_seconds"] == 12.0  # 5 steps at 0.5/s + 5 at 2.5/s
    assert training["windows"] == 40
    assert training["cumulative"] == {"steps": 10, "windows": 40, "train_seconds": 12.0}

    # a later run started from the exported model adds its own cost to the parent's
    (run_dir / "train_config.yaml").write_text(f"trainer: {{batch_size: 2, init_from: {parent}}}\n")
    (run / "log.jsonl").write_text(json.dumps({"step": 4, "steps_per_s": 1.0}) + "\n")
    child = export_model(run_dir, tmp_path / "child")
    training = json.loads((child / "config.json").read_text())["chronos_training"]
    assert training["init_from"] == str(parent)
    assert training["cumulative"] == {"steps": 14, "windows": 48, "train_seconds": 16.0}


def test_cumulative_totals_follow_an_unexported_parent_run(run_dir: Path, tmp_path: Path) -> None:
    # grandparent: exported; parent: a raw final/ checkpoint of a run that started from it
    (run_dir / "train_config.yaml").write_text("trainer: {batch_size: 4}\n")
    (run_dir.parent / "log.jsonl").write_text(json.dumps({"step": 10, "steps_per_s": 1.0}) + "\n")
    grandparent = export_model(run_dir, tmp_path / "grandparent")
    model = new_bolt_model(
        ChronosBoltConfig(context_length=64, prediction_length=8), **MICRO_NETWORK
    )
    parent = tmp_path / "parent-run" / "final"
    save_bolt_checkpoint(model, parent, extra={"chronos_training": {"step": 6, "seed": 1}})
    (parent / "train_config.yaml").write_text(
        f"trainer: {{batch_size: 4, init_from: {grandparent}}}\n"
    )
    (parent.parent / "log.jsonl").write_text(json.dumps({"step": 6, "steps_per_s": 2.0}) + "\n")
    child = tmp_path / "child-run" / "final"
    save_bolt_checkpoint(model, child, extra={"chronos_training": {"step": 2, "seed": 2}})
    (child / "train_config.yaml").write_text(f"trainer: {{batch_size: 4, init_from: {parent}}}\n")
    (child.parent / "log.jsonl").write_text(json.dumps({"step": 2, "steps_per_s": 1.0}) + "\n")
    out = export_model(child, tmp_path / "child")
    training = json.loads((out / "config.json").read_text())["chronos_training"]
    assert training["cumulative"] == {"steps": 18, "windows": 72, "train_seconds": 15.0}


def test_export_rejects_bad_input(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["--checkpoint", str(tmp_path / "nowhere"), "--output", str(tmp_path / "x")]) == 1
    assert "error:" in capsys.readouterr().err
    with pytest.raises(ValueError, match="dtype"):
        export_model(run_dir, tmp_path / "y", dtype="float13")
