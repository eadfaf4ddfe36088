"""Turn a training checkpoint into a shippable built-in model directory.

Usage::

    python -m training.export_model --checkpoint runs/default/final \
        --output chronos_pkg/models/default --dtype bfloat16

Writes ``config.json`` + ``model.safetensors`` (the published Chronos-Bolt format, weights cast
to ``--dtype``; the training provenance in ``config.json`` is kept), and copies the
run's ``train_config.yaml`` and ``log.jsonl`` (as ``training_log.jsonl``) next to them, so the
model card can point at the exact config and loss curve. An existing ``MODEL_CARD.md`` stays.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from chronos_pkg.loading import pipeline_class_name, read_config


def export_model(checkpoint: Path, output: Path, dtype: str = "bfloat16") -> Path:
    """Write the shippable copy of ``checkpoint`` to ``output``; returns ``output``."""
    config = read_config(checkpoint)
    if pipeline_class_name(config) != "ChronosBoltPipeline":
        raise ValueError(f"{checkpoint}: only Chronos-Bolt checkpoints are exported here")
    from chronos_pkg.bolt import load_bolt_model, save_bolt_checkpoint

    model = load_bolt_model(checkpoint, config, device="cpu", dtype=dtype)  # checks the dtype
    extra = {k: config[k] for k in ("chronos_training",) if k in config}
    output.mkdir(parents=True, exist_ok=True)
    save_bolt_checkpoint(model, output, extra=extra)
    run_dir = checkpoint.parent
    for source, name in (
        (checkpoint / "train_config.yaml", "train_config.yaml"),
        (run_dir / "log.jsonl", "training_log.jsonl"),
    ):
        if source.is_file():
            shutil.copyfile(source, output / name)
    return output


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
