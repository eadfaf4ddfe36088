"""Chronos-Bolt training step on the CPU: float32 against bfloat16 autocast.

CPUs with AMX or AVX512-BF16 run bfloat16 matrix products several times faster than float32 ones.
This measures what that buys a whole training step (forward, backward, clipping, AdamW) of the
default recipe's network (``training/configs/default.yaml``: Bolt tiny, context 512, horizon 64,
batch 128), started from the shipped weights, and what it costs in accuracy on the same batch:
the loss difference and the cosine between the float32 and the autocast gradients.

    python benchmarks/training_bf16_cpu.py --threads 2 \
        --output benchmarks/results/training_bf16_cpu.json
    python benchmarks/training_bf16_cpu.py --threads 2 --compile \
        --output benchmarks/results/training_bf16_compile_cpu.json

``--compile`` also times the bfloat16 step of a ``torch.compile``d network (inductor, which
needs a C++ compiler on the CPU) and records how long its first steps took to compile.

Run it on a quiet machine: another CPU-heavy process skews both timings.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from chronos_pkg.provenance import describe_machine  # noqa: E402
from chronos_pkg.train.config import load_train_config  # noqa: E402
from chronos_pkg.train.task import make_task  # noqa: E402


def windows(batch_size: int, context: int, horizon: int, seed: int) -> tuple[np.ndarray, ...]:
    """Seasonal random walks with noise: (batch, context) and (batch, horizon), float32."""
    rng = np.random.default_rng(seed)
    length = context + horizon
    t = np.arange(length)
    period = rng.integers(8, 64, size=(batch_size, 1))
    season = rng.normal(size=(batch_size, 1)) * np.sin(2 * np.pi * t / period)
    walk = np.cumsum(rng.normal(scale=0.1, size=(batch_size, length)), axis=1)
    level = rng.lognormal(mean=3, sigma=2, size=(batch_size, 1))
    series = level * (1 + 0.2 * (season + walk + 0.1 * rng.normal(size=(batch_size, length))))
    series = series.astype(np.float32)
    return series[:, :context], series[:, context:]


def autocast_for(dtype: str) -> Any:
    if dtype == "bfloat16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def gradients(
    task: Any, model: torch.nn.Module, batch: dict, dtype: str
) -> tuple[float, torch.Tensor]:
    """Loss and flattened gradient of one batch under ``dtype``."""
    model.zero_grad(set_to_none=True)
    with autocast_for(dtype):
        loss = task.loss(model, batch)
    loss.backward()
    grad = torch.cat([p.grad.flatten().float() for p in model.parameters() if p.grad is not None])
    return float(loss), grad


def time_steps(
    task: Any,
    model: torch.nn.Module,
    batch: dict,
    dtype: str,
    warmup: int,
    steps: int,
    compiled: bool = False,
) -> tuple[float, float]:
    """(seconds per optimizer step after ``warmup`` steps, seconds of the warmup steps).

    A step is forward, backward, clip and AdamW; with ``compiled`` the loss calls a
    ``torch.compile``d copy of the network, so the warmup includes compiling it.
    """
    model = copy.deepcopy(model)
    step_model = torch.compile(model) if compiled else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    times = []
    for _ in range(warmup + steps):
        start = time.perf_counter()
        with autocast_for(dtype):
            loss = task.loss(step_model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return float(np.median(times[warmup:])), float(sum(times[:warmup]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(REPO_ROOT / "training/configs/default.yaml"))
    parser.add_argument("--init-from", default=str(REPO_ROOT / "chronos_pkg/models/default"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batches", type=int, default=4, help="batches for the accuracy check")
    parser.add_argument("--compile", action="store_true", help="also time a compiled bf16 step")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)

    config = load_train_config(args.config)
    task = make_task(config.model, seed=0)
    model = task.build_model(Path(args.init_from))
    context, horizon = config.model.context_length, config.model.prediction_length

    accuracy = []
    for seed in range(args.batches):
        c, f = windows(args.batch_size, context, horizon, seed)
        batch = task.make_batch(c, f)
        loss32, grad32 = gradients(task, model, batch, "float32")
        loss16, grad16 = gradients(task, model, batch, "bfloat16")
        accuracy.append(
            {
                "loss_float32": loss32,
                "loss_bfloat16": loss16,
                "loss_rel_diff": abs(loss16 - loss32) / abs(loss32),
                "grad_cosine": float(torch.nn.functional.cosine_similarity(grad32, grad16, dim=0)),
                "grad_norm_ratio": float(grad16.norm() / grad32.norm()),
            }
        )
    c, f = windows(args.batch_size, context, horizon, 0)
    batch = task.make_batch(c, f)
    variants = [("float32", "float32", False), ("bfloat16", "bfloat16", False)]
    if args.compile:
        variants.append(("bfloat16+compile", "bfloat16", True))
    seconds, warmup_seconds = {}, {}
    for name, dtype, compiled in variants:
        seconds[name], warmup_seconds[name] = time_steps(
            task, model, batch, dtype, args.warmup, args.steps, compiled
        )
    result = {
        "benchmark": "Chronos-Bolt training step on the CPU: float32 vs bfloat16 autocast",
        "machine": describe_machine(),
        "settings": {**vars(args), "context_length": context, "prediction_length": horizon},
        "step_seconds": seconds,
        "warmup_seconds": warmup_seconds,
        "speedup": seconds["float32"] / seconds["bfloat16"],
        "accuracy": accuracy,
    }
    if args.compile:
        result["compile_speedup_over_bfloat16"] = seconds["bfloat16"] / seconds["bfloat16+compile"]
    print(
        json.dumps({k: v for k, v in result.items() if "seconds" in k or "speedup" in k}, indent=1)
    )
    for row in accuracy:
        print({k: round(v, 5) for k, v in row.items()})
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
