"""Weight averaging: one model whose weights are a weighted mean of several of the same network.

Runs continued one from another (run9 from run8's weights, run8 from run7's) end in nearby points
of the same basin, and the mean of their weights often forecasts better than either end (as in
stochastic weight averaging and "model soups"). Whether it does here is for validation to say,
like any other candidate.

The models must share their network configuration (everything in ``config.json`` but the
training provenance and the stored dtype) and their tensors' names and shapes. The average is
taken in float64 and stored in the first model's dtype. Its ``chronos_training`` provenance
lists each parent with its weight and provenance; ``cumulative`` is the largest parent's total
(the training behind the most-trained parent: exact when the parents are one lineage, each
continued from another, an undercount otherwise). The ``train_config.yaml`` and
``training_log.jsonl`` of that parent are copied beside the weights.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chronos_pkg.loading import WEIGHTS_FILE, read_checkpoint_config, write_config_file
from chronos_pkg.train.config import TRAIN_CONFIG_FILE

# config.json keys that may differ between the models averaged
_NOT_NETWORK = {"chronos_training", "_name_or_path", "dtype", "torch_dtype", "transformers_version"}
_COPIED = (TRAIN_CONFIG_FILE, "training_log.jsonl")  # as training.export_model names them


def average_models(
    models: Sequence[str | Path], output: str | Path, weights: Sequence[float] | None = None
) -> Path:
    """Write the weighted mean of ``models``' weights to ``output``; returns ``output``.

    ``weights`` (default: equal) must be positive and sum to 1. A model without the seasonal
    reference averaged with ones that have it counts as having a zero gate (its forecasts).
    """
    from safetensors.torch import load_file, save_file

    paths = [Path(m) for m in models]
    if len(paths) < 2:
        raise ValueError("averaging needs at least two models")
    weights = [1.0 / len(paths)] * len(paths) if weights is None else [float(w) for w in weights]
    if len(weights) != len(paths):
        raise ValueError(f"{len(weights)} weights for {len(paths)} models")
    if min(weights) <= 0 or abs(sum(weights) - 1.0) > 1e-6:
        raise ValueError(f"weights must be positive and sum to 1, got {weights}")
    configs = [read_checkpoint_config(p) for p in paths]
    states = [load_file(p / WEIGHTS_FILE) for p in paths]
    _add_zero_seasonal_gates(configs, states)
    for path, config in zip(paths[1:], configs[1:]):
        differ = sorted(
            k
            for k in (set(config) | set(configs[0])) - _NOT_NETWORK
            if config.get(k) != configs[0].get(k)
        )
        if differ:
            raise ValueError(f"{path} is not the same network as {paths[0]}: {differ} differ")
    for path, state in zip(paths[1:], states[1:]):
        if state.keys() != states[0].keys():
            raise ValueError(f"{path} has other tensors than {paths[0]}")
        wrong = [k for k in state if state[k].shape != states[0][k].shape]
        if wrong:
            raise ValueError(f"{path}: tensor shapes differ from {paths[0]}: {wrong[:3]}")
    averaged = {
        name: sum(w * s[name].double() for w, s in zip(weights, states)).to(states[0][name].dtype)
        for name in states[0]
    }
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    save_file(averaged, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    provenance = [config.get("chronos_training", {}) for config in configs]
    most = _most_trained(provenance)
    training = {
        "averaged_from": [
            {"model": str(p), "weight": w, "chronos_training": t}
            for p, w, t in zip(paths, weights, provenance)
        ],
        "cumulative": provenance[most].get("cumulative"),
    }
    write_config_file(out, {**configs[0], "chronos_training": training})
    most_trained = paths[most]
    for name in _COPIED:
        if (most_trained / name).is_file() and (most_trained / name).resolve() != (
            out / name
        ).resolve():
            shutil.copyfile(most_trained / name, out / name)
    return out


def _add_zero_seasonal_gates(configs: list[dict[str, Any]], states: list[dict[str, Any]]) -> None:
    """Where some models have the seasonal reference (chronos_pkg.bolt.seasonal), or a part of it,
    that others lack, give the others zeros there, which forecast exactly as they do (in place)."""
    import torch

    gated = [i for i, c in enumerate(configs) if c["chronos_config"].get("seasonal_reference")]
    if not gated:
        return
    gate = {}
    for state in states:
        gate.update({k: v for k, v in state.items() if k.startswith("seasonal_gate.")})
    for config, state in zip(configs, states, strict=True):
        config["chronos_config"] = {**config["chronos_config"], "seasonal_reference": True}
        state.update({k: torch.zeros_like(v) for k, v in gate.items() if k not in state})


def _steps(training: dict[str, Any]) -> int:
    return int((training.get("cumulative") or {}).get("steps") or training.get("step") or 0)


def _most_trained(provenance: list[dict[str, Any]]) -> int:
    return max(range(len(provenance)), key=lambda i: _steps(provenance[i]))


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m chronos_pkg.train.averaging", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--models", nargs="+", required=True, help="exported model directories")
    parser.add_argument("--weights", nargs="+", type=float, default=None, help="default: equal")
    parser.add_argument("--output", required=True, help="model directory to write")
    args = parser.parse_args(argv)
    try:
        print(average_models(args.models, args.output, args.weights))
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
