"""Chronos-Bolt inference speed: ours against the published ``chronos`` package, same checkpoint.

    python benchmarks/inference_bolt.py --threads 2 --context-length 512 2048 --batch-size 32 256 \
        --output benchmarks/results/inference_bolt_cpu.json
    python benchmarks/inference_bolt.py --device cuda --dtype bfloat16 --batch-size 8192 \
        --output benchmarks/results/inference_bolt_cuda.json

A random checkpoint of the published shape (``--size``, default tiny) is written once with our
code and loaded by both packages. Before timing, the two forecasts of the same batch are
compared (float32: they must agree to 1e-5). The two pipelines are then timed in alternating
rounds (the order flips every round) so that a change in machine load hits both alike;
throughput is series per second over all rounds, and the speedup is also given as the median
of the per-round ratios (robust to load bursts on a shared machine). Peak memory of one call
of each pipeline (CPU: sampled RSS above the starting RSS; CUDA: the allocator's peak) is
measured after the timing.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from measure import PeakMemory, synchronize

import chronos_pkg
from chronos_pkg.bolt.checkpoint import new_bolt_model, save_bolt_checkpoint
from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.provenance import describe_machine


def random_walks(batch_size: int, length: int, seed: int) -> torch.Tensor:
    """(B, T) float32 random walks with a few missing values, like real inputs."""
    rng = np.random.default_rng(seed)
    values = np.cumsum(rng.normal(size=(batch_size, length)), axis=-1) + rng.normal(
        scale=10, size=(batch_size, 1)
    )
    values[rng.random(values.shape) < 0.01] = np.nan
    return torch.tensor(values, dtype=torch.float32)


def time_calls(predict: Callable[[], Any], calls: int, device: str) -> float:
    """Seconds for ``calls`` back-to-back forecasts."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(calls):
        predict()
    synchronize(device)
    return time.perf_counter() - start


def compare(ours: torch.Tensor, theirs: torch.Tensor) -> dict[str, float | bool]:
    diff = (ours - theirs).abs()
    return {
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float((diff / theirs.abs().clamp(min=1e-6)).max()),
        "allclose_1e-5": bool(torch.allclose(ours, theirs, atol=1e-5, rtol=1e-5)),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from chronos import BaseChronosPipeline  # the published package, only as the baseline

    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for context_length in args.context_length:
        parameters, rows = _run_context(args, BaseChronosPipeline, context_length)
        results.extend(rows)
    return {
        "benchmark": "chronos-bolt inference, ours vs published chronos package",
        "machine": describe_machine(),
        "torch_threads": torch.get_num_threads(),
        "settings": {
            "size": args.size,
            "parameters": parameters,
            "context_lengths": args.context_length,
            "prediction_length": args.prediction_length,
            "device": args.device,
            "dtype": args.dtype,
            "compile": args.compile,
            "rounds": args.rounds,
            "series_per_round": args.series_per_round,
        },
        "results": results,
    }


def _run_context(
    args: argparse.Namespace, published: Any, context_length: int
) -> tuple[int, list[dict[str, Any]]]:
    """Both pipelines on one random checkpoint whose context is ``context_length``."""
    dtype = getattr(torch, args.dtype)
    bolt_config = ChronosBoltConfig(
        context_length=context_length, prediction_length=args.prediction_length
    )
    with tempfile.TemporaryDirectory() as tmp:
        model = new_bolt_model(bolt_config, seed=0, size=args.size)
        parameters = sum(p.numel() for p in model.parameters())
        save_bolt_checkpoint(model, tmp)
        ours = chronos_pkg.from_pretrained(tmp, device_map=args.device, torch_dtype=dtype)
        theirs = published.from_pretrained(tmp, device_map=args.device, dtype=dtype)
        reference = (
            None
            if dtype == torch.float32
            else chronos_pkg.from_pretrained(tmp, device_map=args.device, torch_dtype=torch.float32)
        )
    if args.compile:
        ours.model.compile()

    results = []
    for batch_size in args.batch_size:
        context = random_walks(batch_size, context_length, seed=batch_size)
        run_ours = partial(ours.predict, context, args.prediction_length)
        run_theirs = partial(theirs.predict, context, args.prediction_length)
        agreement = compare(run_ours(), run_theirs())  # also the warm-up call of each
        if reference is not None:  # what a lower precision costs: ours against ours in float32
            low = run_ours().float()
            exact = reference.predict(context, args.prediction_length)
            agreement["vs_float32"] = {
                **compare(low, exact),
                "median_rel_diff": float((low - exact).abs().median() / exact.abs().median()),
            }
        calls = max(1, math.ceil(args.series_per_round / batch_size))
        seconds: dict[str, list[float]] = {"ours": [], "published": []}
        for round_index in range(args.rounds):
            order = [("ours", run_ours), ("published", run_theirs)]
            for name, predict in order if round_index % 2 == 0 else order[::-1]:
                seconds[name].append(time_calls(predict, calls, args.device))
        series = batch_size * calls * args.rounds
        ratios = [p / o for o, p in zip(seconds["ours"], seconds["published"])]
        peaks = {}
        for name, predict in (("ours", run_ours), ("published", run_theirs)):
            with PeakMemory(args.device) as peak:
                predict()
            peaks[name] = round(peak.peak_bytes / 2**20, 1)
        row = {
            "context_length": context_length,
            "batch_size": batch_size,
            "ours_series_per_s": series / sum(seconds["ours"]),
            "published_series_per_s": series / sum(seconds["published"]),
            # per-round ratios cancel slow drifts in machine load; the median resists bursts
            "speedup_median_of_rounds": float(np.median(ratios)),
            **agreement,
        }
        row["speedup_total"] = row["ours_series_per_s"] / row["published_series_per_s"]
        row["peak_memory_mib"] = peaks
        results.append(row)
        print(json.dumps(row))
    return parameters, results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="tiny", choices=["tiny", "mini", "small", "base"])
    parser.add_argument("--batch-size", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--context-length", type=int, nargs="+", default=[2048])
    parser.add_argument("--prediction-length", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--compile", action="store_true", help="torch.compile our network")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--series-per-round",
        type=int,
        default=256,
        help="each round forecasts at least this many series per pipeline",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    report = run(args)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
