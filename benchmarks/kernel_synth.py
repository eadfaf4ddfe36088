"""KernelSynth speed: our batched sampler against per-series sklearn ``sample_y``, in one run.

    python benchmarks/kernel_synth.py --output benchmarks/results/kernel_synth_cpu.json
    python benchmarks/kernel_synth.py --device cuda --end-to-end 1000000 \
        --output benchmarks/results/kernel_synth_cuda.json

Both samplers draw the same compositions for the same ``(seed, i)`` (``chronos_pkg.synth.kernel_synth``
has the plain per-series reference, ``sklearn_reference_series``). The two are timed in
alternating rounds, at each ``--threads`` setting, so that a change in machine load hits both
alike; the speedup is the ratio of total throughputs. ``--end-to-end N`` also times writing N
series to disk with the CLI's library function (shards, arrow).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import sklearn
import torch
from threadpoolctl import threadpool_info

from chronos_pkg.provenance import describe_machine
from chronos_pkg.synth.kernel_synth import (
    KernelSynth,
    generate_kernel_synth,
    sklearn_reference_series,
)


def machine_info() -> dict[str, object]:
    """The shared machine description plus the libraries and load this benchmark depends on."""
    info: dict[str, object] = {
        **describe_machine(),
        "torch_threads_default": torch.get_num_threads(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
    }
    if hasattr(os, "getloadavg"):
        info["load_average_1m_at_start"] = round(os.getloadavg()[0], 2)
    return info


def _time_ours(generator: KernelSynth, begin: int, end: int) -> float:
    if torch.device(generator.device).type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    generator.generate(begin, end)
    if torch.device(generator.device).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _time_sklearn(begin: int, end: int, seed: int, length: int, max_kernels: int) -> float:
    start = time.perf_counter()
    for index in range(begin, end):
        sklearn_reference_series(index, seed, length, max_kernels)
    return time.perf_counter() - start


def compare(args: argparse.Namespace, threads: int | None) -> dict[str, object]:
    """Alternating sklearn / ours rounds with ``threads`` BLAS and torch threads (None: default)."""
    from threadpoolctl import threadpool_limits

    default_torch_threads = torch.get_num_threads()
    with threadpool_limits(threads):  # numpy's BLAS (sklearn's SVD) and OpenMP
        torch.set_num_threads(threads or default_torch_threads)
        generator = KernelSynth(
            args.length, args.max_kernels, args.seed, args.device, batch_size=args.batch_size
        )
        generator.generate(0, 2)  # warm-up: caches, CUDA context
        sklearn_reference_series(0, args.seed, args.length, args.max_kernels)
        rounds = []
        for r in range(args.rounds):
            # disjoint index ranges per round; both samplers start at the same indices
            base = 1_000_000 + r * max(args.ours_series, args.sklearn_series)
            sk_seconds = _time_sklearn(
                base, base + args.sklearn_series, args.seed, args.length, args.max_kernels
            )
            our_seconds = _time_ours(generator, base, base + args.ours_series)
            speedup = (args.ours_series / our_seconds) / (args.sklearn_series / sk_seconds)
            rounds.append(
                {
                    "sklearn_series": args.sklearn_series,
                    "sklearn_seconds": round(sk_seconds, 3),
                    "ours_series": args.ours_series,
                    "ours_seconds": round(our_seconds, 3),
                    "speedup": round(speedup, 2),
                }
            )
            print(f"threads={threads or 'default'} round {r}: {rounds[-1]}", flush=True)
        blas_threads = [pool["num_threads"] for pool in threadpool_info()]
        torch_threads = torch.get_num_threads()
    torch.set_num_threads(default_torch_threads)
    sk_rate = sum(r["sklearn_series"] for r in rounds) / sum(r["sklearn_seconds"] for r in rounds)
    our_rate = sum(r["ours_series"] for r in rounds) / sum(r["ours_seconds"] for r in rounds)
    return {
        "threads": threads or "default",
        "torch_threads": torch_threads,
        "blas_threads": blas_threads,
        "sklearn_series_per_s": round(sk_rate, 3),
        "ours_series_per_s": round(our_rate, 2),
        "speedup": round(our_rate / sk_rate, 2),
        "speedup_per_round_median": float(np.median([r["speedup"] for r in rounds])),
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--max-kernels", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds")
    parser.add_argument("--sklearn-series", type=int, default=4, help="sklearn series per round")
    parser.add_argument("--ours-series", type=int, default=64, help="our series per round")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--end-to-end", type=int, default=0, help="also time writing N series")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[0],
        help="BLAS/torch thread counts to compare at, for both samplers (0: library default)",
    )
    parser.add_argument("--note", default="", help="free text stored with the results")
    parser.add_argument("--output", type=Path, default=None, help="write the results JSON here")
    args = parser.parse_args()

    machine = machine_info()
    runs = [compare(args, threads or None) for threads in args.threads]
    result: dict[str, object] = {
        "benchmark": "kernel_synth",
        "settings": {
            "length": args.length,
            "max_kernels": args.max_kernels,
            "seed": args.seed,
            "device": args.device,
            "batch_size": args.batch_size,
            "dtype": "float64",
            "jitter_relative": KernelSynth().jitter,
        },
        "speedup_lowest": min(run["speedup"] for run in runs),
        "runs": runs,
        "machine": machine,
        "note": args.note,
    }
    if args.end_to_end:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            generate_kernel_synth(
                Path(tmp) / "out",
                args.end_to_end,
                length=args.length,
                max_kernels=args.max_kernels,
                seed=args.seed,
                device=args.device,
                batch_size=args.batch_size,
                progress=False,
            )
            seconds = time.perf_counter() - start
        result["end_to_end"] = {
            "num_series": args.end_to_end,
            "seconds": round(seconds, 2),
            "series_per_s": round(args.end_to_end / seconds, 2),
            "format": "arrow",
            "threads": "default",
        }
    if hasattr(os, "getloadavg"):
        machine["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    summary = {k: v for k, v in result.items() if k != "runs"}
    summary["speedups"] = {str(run["threads"]): run["speedup"] for run in runs}
    print(json.dumps(summary, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
