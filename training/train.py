"""Pretrain or fine-tune a Chronos model from a YAML config.

Usage::

    python -m training.train --config training/configs/chronos-t5-tiny.yaml \
        --output-dir runs/tiny [--resume] [--init-from CKPT] [--data-dir DIR] \
        [--exclude-last N] [--seed N] [--trainer.max_steps 1000 --data.num_workers 8 ...]

Any ``--section.key value`` (or ``--section.key=value``) overrides the config; values are YAML
(``true``, ``1e-4``, ``[0.9, 0.95]``); unknown keys are errors. Multi-GPU: launch the same
command with ``torchrun --nproc-per-node N -m training.train ...`` or ``accelerate launch``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from chronos_pkg.train import train
from chronos_pkg.train.config import config_to_dict, load_train_config

# convenience flags -> dotted config keys
SHORTCUTS = {
    "output_dir": "output_dir",
    "init_from": "trainer.init_from",
    "data_dir": "data.data_dir",
    "exclude_last": "data.exclude_last",
    "seed": "seed",
}


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Known flags, plus the remaining ``--a.b value`` pairs as ``a.b=value`` overrides."""
    parser = argparse.ArgumentParser(
        prog="python -m training.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--config", required=True, help="YAML training config")
    parser.add_argument(
        "--output-dir", help="run directory (final/, checkpoint-latest/, log.jsonl)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoint-latest"
    )
    parser.add_argument("--init-from", help="checkpoint directory to fine-tune")
    parser.add_argument("--data-dir", help="directory that relative data paths resolve against")
    parser.add_argument("--exclude-last", type=int, help="steps cut from the end of every series")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )
    args, rest = parser.parse_known_args(argv)
    overrides = []
    for name, key in SHORTCUTS.items():
        value = getattr(args, name)
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.resume:
        overrides.append("trainer.resume=true")
    i = 0
    while i < len(rest):
        item = rest[i]
        if not item.startswith("--"):
            parser.error(f"unexpected argument {item!r}; overrides look like --section.key value")
        if "=" in item:
            overrides.append(item[2:])
            i += 1
        elif i + 1 < len(rest):
            overrides.append(f"{item[2:]}={rest[i + 1]}")
            i += 2
        else:
            parser.error(f"override {item} has no value")
    return args, overrides


def main(argv: list[str] | None = None) -> int:
    args, overrides = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_train_config(args.config, overrides)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.print_config:
        import yaml

        print(yaml.safe_dump(config_to_dict(config), sort_keys=False))
        return 0
    final = train(config)
    print(final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
