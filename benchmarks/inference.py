"""Chronos-T5 inference speed and memory: ours against the published ``chronos`` package.

    python benchmarks/inference.py --sizes tiny --batch-sizes 16 --threads 2 --rounds 3 \
        --output benchmarks/results/inference_t5_cpu.json
    python benchmarks/inference.py --device cuda --dtype bfloat16 \
        --output benchmarks/results/inference_cuda.json

For each ``--sizes`` entry a random checkpoint of the published T5 shape is written once with
our code and loaded by both packages. Both forecast the same random-walk contexts (length 512,
horizon 64, 20 samples, top-k 50) through their pipelines' ``predict``. Before timing, greedy
decoding (top_k=1) is checked to give identical tokens. Rounds alternate the order of the two
packages so that a change in machine load hits both alike; throughput is series per second
from the median round. Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA; on CPU the
peak resident set size during the call minus the size just before it, sampled every 2 ms
(after ``malloc_trim`` so freed memory of the previous call is not reused unseen).
Our pipeline is also run alone at the larger ``--ours-only-batch-sizes`` (CUDA defaults:
1024 and 4096), where the published package runs out of memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from measure import PeakMemory, synchronize

import chronos_pkg
from chronos_pkg.provenance import describe_machine
from chronos_pkg.t5.checkpoint import new_hf_model, save_checkpoint
from chronos_pkg.t5.config import ChronosConfig

CONTEXT_LENGTH, HORIZON, NUM_SAMPLES = 512, 64, 20


def random_walks(batch_size: int, length: int, seed: int) -> torch.Tensor:
    """(B, T) float32 random walks with a level offset and 1% missing values."""
    rng = np.random.default_rng(seed)
    values = np.cumsum(rng.normal(size=(batch_size, length)), axis=-1)
    values += rng.normal(scale=10, size=(batch_size, 1))
    values[rng.random(values.shape) < 0.01] = np.nan
    return torch.tensor(values, dtype=torch.float32)


def write_checkpoint(size: str, directory: Path) -> Path:
    """A random Chronos-T5 checkpoint of a published size (weights re-drawn at 1/sqrt(fan_in)
    so that greedy paths vary; transformers' T5 init makes them repeat the start token)."""
    config = ChronosConfig()
    model = new_hf_model(config, seed=0, size=size)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2 and "relative_attention_bias" not in name:
                param.copy_(torch.randn(param.shape, generator=generator) / param.shape[1] ** 0.5)
    return save_checkpoint(model, config, directory / size)


def measure(predict: Callable[[], Any], device: str) -> tuple[float, int]:
    """Seconds and peak memory bytes of one forecast call."""
    with PeakMemory(device) as memory:
        synchronize(device)
        start = time.perf_counter()
        predict()
        synchronize(device)
        seconds = time.perf_counter() - start
    return seconds, memory.peak_bytes


def greedy_check(ours: Any, theirs: Any, device: str) -> dict[str, Any]:
    """Greedy (top_k=1) tokens of both packages on contexts with padding and gaps."""
    context = random_walks(8, CONTEXT_LENGTH, seed=7)
    context[0, :300] = float("nan")
    context[1, 100:140] = float("nan")
    ids, mask, scale = ours.tokenizer.context_input_transform(context)
    with torch.no_grad():
        our_tokens = ours.model.sample_tokens(
            ids.to(device), mask.to(device), HORIZON, 2, temperature=1.0, top_k=1, top_p=1.0
        ).cpu()
        their_tokens = theirs.model(ids.to(device), mask.to(device), HORIZON, 2, 1.0, 1, 1.0).cpu()
    our_values = ours.predict(context, HORIZON, num_samples=1, top_k=1)
    their_values = theirs.predict(context, HORIZON, num_samples=1, top_k=1)
    return {
        "tokens_identical": bool(torch.equal(our_tokens, their_tokens)),
        "token_agreement": float((our_tokens == their_tokens).float().mean()),
        "distinct_tokens": int(torch.unique(our_tokens).numel()),
        "predict_max_abs_diff": float((our_values - their_values).abs().max()),
    }


def bench_size(args: argparse.Namespace, size: str, directory: Path) -> dict[str, Any]:
    import chronos

    dtype = getattr(torch, args.dtype)
    checkpoint = write_checkpoint(size, directory)
    ours = chronos_pkg.from_pretrained(checkpoint, device_map=args.device, torch_dtype=dtype)
    theirs = chronos.ChronosPipeline.from_pretrained(
        str(checkpoint), device_map=args.device, dtype=dtype
    )
    result: dict[str, Any] = {"size": size, "greedy": greedy_check(ours, theirs, args.device)}
    print(f"[{size}] greedy check: {result['greedy']}", flush=True)

    def ours_predict(context: torch.Tensor) -> Callable[[], Any]:
        return lambda: ours.predict(
            context, HORIZON, num_samples=NUM_SAMPLES, batch_size=len(context), top_k=50
        )

    def theirs_predict(context: torch.Tensor) -> Callable[[], Any]:
        return lambda: theirs.predict(context, HORIZON, num_samples=NUM_SAMPLES, top_k=50)

    runs = []
    for batch_size in args.batch_sizes:
        context = random_walks(batch_size, CONTEXT_LENGTH, seed=batch_size)
        measure(ours_predict(context[:2]), args.device)  # warm-up (first-call allocations)
        measure(theirs_predict(context[:2]), args.device)
        rounds: dict[str, list[tuple[float, int]]] = {"ours": [], "published": []}
        for round_index in range(args.rounds):
            order = ["ours", "published"] if round_index % 2 == 0 else ["published", "ours"]
            for name in order:
                make = ours_predict if name == "ours" else theirs_predict
                try:
                    rounds[name].append(measure(make(context), args.device))
                except torch.cuda.OutOfMemoryError:
                    rounds[name].append((float("nan"), -1))
                    torch.cuda.empty_cache()
                seconds, peak = rounds[name][-1]
                print(
                    f"[{size}] batch {batch_size} {name}: {seconds:.2f} s, {peak / 2**20:.0f} MiB",
                    flush=True,
                )
        runs.append(summarise(batch_size, rounds))
    for batch_size in args.ours_only_batch_sizes:
        context = random_walks(batch_size, CONTEXT_LENGTH, seed=batch_size)
        try:
            rounds = {"ours": [measure(ours_predict(context), args.device)]}
        except torch.cuda.OutOfMemoryError:
            rounds = {"ours": [(float("nan"), -1)]}
            torch.cuda.empty_cache()
        runs.append(summarise(batch_size, rounds))
        print(f"[{size}] batch {batch_size} ours only: {runs[-1]['ours']}", flush=True)
    result["runs"] = runs
    return result


def summarise(batch_size: int, rounds: dict[str, list[tuple[float, int]]]) -> dict[str, Any]:
    out: dict[str, Any] = {"batch_size": batch_size}
    for name, values in rounds.items():
        seconds = [s for s, _ in values]
        peaks = [p for _, p in values]
        median = statistics.median(seconds)
        out[name] = {
            "seconds": [round(s, 3) for s in seconds],
            "series_per_s": round(batch_size / median, 3) if median == median else None,
            "peak_memory_mib": round(max(peaks) / 2**20, 1) if min(peaks) >= 0 else "oom",
        }
    if "published" in out and out["ours"]["series_per_s"] and out["published"]["series_per_s"]:
        out["speedup"] = round(out["ours"]["series_per_s"] / out["published"]["series_per_s"], 2)
        if isinstance(out["published"]["peak_memory_mib"], float):
            ours_peak = max(out["ours"]["peak_memory_mib"], 0.1)
            out["memory_ratio_published_over_ours"] = round(
                out["published"]["peak_memory_mib"] / ours_peak, 2
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument(
        "--batch-sizes",
        nargs="+",
        type=int,
        default=None,
        help="batch sizes for both packages (default: 32 on CPU, 256 on CUDA)",
    )
    parser.add_argument(
        "--ours-only-batch-sizes",
        nargs="*",
        type=int,
        default=None,
        help="batch sizes for ours alone (default: none on CPU, 1024 4096 on CUDA)",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--note", default="")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--append",
        action="store_true",
        help="add these results to those already in --output (e.g. per size)",
    )
    args = parser.parse_args()
    cuda = args.device.startswith("cuda")
    if args.batch_sizes is None:
        args.batch_sizes = [256] if cuda else [32]
    if args.ours_only_batch_sizes is None:
        args.ours_only_batch_sizes = [1024, 4096] if cuda else []
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    report: dict[str, Any] = {
        "benchmark": "chronos-t5 inference, chronos_pkg vs published chronos",
        "machine": describe_machine(),
        "settings": {
            "device": args.device,
            "dtype": args.dtype,
            "context_length": CONTEXT_LENGTH,
            "prediction_length": HORIZON,
            "num_samples": NUM_SAMPLES,
            "top_k": 50,
            "rounds": args.rounds,
            "torch_threads": torch.get_num_threads(),
        },
        "versions": _versions(),
        "load_average_start": os.getloadavg(),
        "note": args.note,
        "results": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            report["results"].append(bench_size(args, size, Path(tmp)))
    report["load_average_end"] = os.getloadavg()
    if args.append and args.output is not None and args.output.is_file():
        previous = json.loads(args.output.read_text())
        report["results"] = previous.get("results", []) + report["results"]
        report["earlier_runs"] = previous.get("earlier_runs", []) + [
            {k: previous.get(k) for k in ("settings", "load_average_start", "load_average_end")}
        ]
    text = json.dumps(report, indent=2)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")


def _versions() -> dict[str, str]:
    import chronos
    import transformers

    return {
        "chronos_pkg": chronos_pkg.__version__,
        "chronos": chronos.__version__,
        "transformers": transformers.__version__,
    }


if __name__ == "__main__":
    main()
