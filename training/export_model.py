"""Turn a training checkpoint into a shippable built-in model directory.

Usage::

    python -m training.export_model --checkpoint runs/default/final \
        --output chronos_pkg/models/default --dtype bfloat16

Writes ``config.json`` + ``model.safetensors`` (the published Chronos-Bolt format, weights cast
to ``--dtype``; the training provenance in ``config.json`` is kept), and copies the
run's ``train_config.yaml`` and ``log.jsonl`` (as ``training_log.jsonl``) next to them, so the
model card can point at the exact config and loss curve. An existing ``MODEL_CARD.md`` stays.

The provenance gains what the run cost, from its log: ``train_seconds`` (the sum over logged
intervals of steps / step rate, so pauses between resumed chunks do not count), ``windows``
(steps x batch size) and, for a run started with ``trainer.init_from`` from an exported model,
``cumulative`` totals that add the parent's: a model improved run after run keeps its whole cost.
The parent may also be the raw ``final/`` checkpoint of an unshipped run: its cost then comes from
that run's log, and so on up the chain of ``init_from``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from chronos_pkg.loading import pipeline_class_name, read_checkpoint_config
from chronos_pkg.train.config import TRAIN_CONFIG_FILE
from chronos_pkg.train.state import LOG_FILE


def export_model(checkpoint: Path, output: Path, dtype: str = "bfloat16") -> Path:
    """Write the shippable copy of ``checkpoint`` to ``output``; returns ``output``."""
    config = read_checkpoint_config(checkpoint)
    if pipeline_class_name(config) != "ChronosBoltPipeline":
        raise ValueError(f"{checkpoint}: only Chronos-Bolt checkpoints are exported here")
    from chronos_pkg.bolt.checkpoint import load_bolt_model, save_bolt_checkpoint

    model = load_bolt_model(checkpoint, config, device="cpu", dtype=dtype)  # checks the dtype
    run_dir = checkpoint.parent
    provenance = {**config.get("chronos_training", {}), **run_cost(checkpoint, run_dir)}
    output.mkdir(parents=True, exist_ok=True)
    save_bolt_checkpoint(model, output, extra={"chronos_training": provenance})
    for source, name in (
        (checkpoint / TRAIN_CONFIG_FILE, TRAIN_CONFIG_FILE),
        (run_dir / LOG_FILE, "training_log.jsonl"),
    ):
        if source.is_file():
            shutil.copyfile(source, output / name)
    return output


def run_cost(checkpoint: Path, run_dir: Path) -> dict[str, Any]:
    """Training time, windows and (with a parent model) cumulative totals of one run."""
    import yaml

    log = run_dir / LOG_FILE
    if not log.is_file():
        return {}
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    if not rows:
        return {}
    seconds, previous = 0.0, 0
    for row in rows:
        if row["step"] > previous and row.get("steps_per_s"):
            seconds += (row["step"] - previous) / row["steps_per_s"]
        previous = row["step"]
    steps = int(rows[-1]["step"])
    cost: dict[str, Any] = {"train_seconds": round(seconds, 1)}
    config_file = checkpoint / TRAIN_CONFIG_FILE
    settings = yaml.safe_load(config_file.read_text()) if config_file.is_file() else None
    trainer = (settings or {}).get("trainer") or {}
    if "batch_size" in trainer:
        cost["windows"] = steps * int(trainer["batch_size"])
    totals = {
        "steps": steps,
        "windows": cost.get("windows"),
        "train_seconds": cost["train_seconds"],
    }
    parent = trainer.get("init_from")
    if parent:
        cost["init_from"] = str(parent)
        earlier = _parent_totals(Path(parent))
        totals = {
            key: (value + earlier[key])
            if value is not None and earlier.get(key) is not None
            else None
            for key, value in totals.items()
        }
    cost["cumulative"] = totals
    return cost


def _parent_totals(parent: Path) -> dict[str, Any]:
    """Cumulative steps, windows and seconds of the model a run started from.

    An exported model carries them in its provenance; a raw training checkpoint (``final/`` of an
    unshipped run, whose config has only step and seed) gets them from its own run's log and
    config, following that run's ``init_from`` in turn.
    """
    parent_config = parent / "config.json"
    if not parent_config.is_file():
        return {}
    training = json.loads(parent_config.read_text()).get("chronos_training", {})
    if "cumulative" in training:
        return training["cumulative"]
    if "train_seconds" not in training and (parent.parent / LOG_FILE).is_file():
        return run_cost(parent, parent.parent).get("cumulative", {})
    return {
        "steps": training.get("step"),
        "windows": training.get("windows"),
        "train_seconds": training.get("train_seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.export_model", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="final/ or checkpoint-latest/"
    )
    parser.add_argument("--output", type=Path, required=True, help="model directory to write")
    parser.add_argument(
        "--dtype", default="bfloat16", help="stored weights dtype (default bfloat16)"
    )
    args = parser.parse_args(argv)
    try:
        print(export_model(args.checkpoint, args.output, args.dtype))
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
