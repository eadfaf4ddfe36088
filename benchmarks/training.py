"""Training speed: a raw step on random tokens vs the full pipeline (data, augmentation, logging).

The raw step is the ceiling: the same network, optimizer, autocast and (optionally) compile,
fed pre-made random token batches already on the device. The full pipeline is
``chronos_pkg.train.train`` itself on real windows from a training config. The target is a
full-pipeline step rate of at least 90% of the raw one (the data pipeline never starves the GPU).

    python benchmarks/training.py --device cuda --compile --size tiny --batch-size 256 \
        --config training/configs/default-tiny.yaml --data-dir ../shared/data --num-workers 14
    python benchmarks/training.py  # CPU, micro shape, self-contained KernelSynth data

Prints and writes JSON (default ``benchmarks/results/training_<device>.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from chronos_pkg.provenance import describe_machine  # noqa: E402
from chronos_pkg.train import train  # noqa: E402
from chronos_pkg.train.config import load_train_config  # noqa: E402
from chronos_pkg.train.state import LOG_FILE  # noqa: E402
from chronos_pkg.train.task import make_task  # noqa: E402

MICRO = {"d_model": 64, "d_ff": 128, "d_kv": 32, "num_heads": 2, "num_layers": 2}


def machine() -> dict[str, Any]:
    """The shared machine description plus the transformers version and current load."""
    import transformers

    info = {**describe_machine(), "transformers": transformers.__version__}
    if hasattr(os, "getloadavg"):
        info["load_average_1min"] = os.getloadavg()[0]
    return info


def overrides(args: argparse.Namespace) -> list[str]:
    out = [
        f"model.context_length={args.context_length}",
        f"model.prediction_length={args.prediction_length}",
        f"trainer.batch_size={args.batch_size}",
        f"trainer.device={args.device}",
        f"trainer.compile={str(args.compile).lower()}",
        "trainer.gradient_accumulation=1",
        "trainer.progress_bar=false",
        "trainer.max_minutes=null",
        f"data.num_workers={args.num_workers}",
    ]
    if args.size == "micro":
        out += ["model.size=null", f"model.network={json.dumps(MICRO)}"]
    else:
        out += [f"model.size={args.size}", "model.network={}"]
    if args.data_dir:
        out.append(f"data.data_dir={args.data_dir}")
    return out


def raw_step_seconds(args: argparse.Namespace) -> float:
    """Seconds per optimizer step on random tokens already on the device."""
    config = load_train_config(args.config, overrides(args))
    task = make_task(config.model, seed=0)
    device = torch.device(args.device)
    model = task.build_model().to(device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type == "cuda")
    step_model = torch.compile(model) if args.compile else model
    generator = torch.Generator().manual_seed(0)
    n_tokens = task.chronos_config.n_tokens
    batch = {
        "input_ids": torch.randint(
            2, n_tokens, (args.batch_size, args.context_length + 1), generator=generator
        ),
        "attention_mask": torch.ones(args.batch_size, args.context_length + 1, dtype=torch.bool),
        "labels": torch.randint(
            2, n_tokens, (args.batch_size, args.prediction_length + 1), generator=generator
        ),
    }
    batch = {k: v.to(device) for k, v in batch.items()}
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else torch.autocast("cpu", enabled=False)
    )

    def step() -> None:
        with autocast:
            loss = task.loss(step_model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / args.steps


def data_batch_seconds(args: argparse.Namespace, batches: int = 5) -> float:
    """Seconds for one process to sample and tokenize one batch (what each loader worker does)."""
    from chronos_pkg.train.sources import build_sources
    from chronos_pkg.train.windows import WindowSampler, WindowSpec

    config = load_train_config(args.config, overrides(args))
    task = make_task(config.model, seed=0)
    spec = WindowSpec(
        task.context_length,
        task.prediction_length,
        config.data.min_past,
        config.data.max_missing_prop,
        config.data.missing_prob_max if task.uses_missing_augmentation else 0.0,
    )
    sources, weights = build_sources(config.data, spec, config.seed)
    sampler = WindowSampler(sources, weights, spec, config.seed)
    times = []
    for index in range(batches):
        start = time.perf_counter()
        task.make_batch(*sampler.sample(index, args.batch_size))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def pipeline_step_seconds(args: argparse.Namespace) -> tuple[float, dict[str, Any]]:
    """Seconds per step of ``train()`` after warmup, from its own ``log.jsonl``."""
    with tempfile.TemporaryDirectory() as tmp:
        extra = [
            f"output_dir={tmp}",
            f"trainer.max_steps={args.warmup + args.steps}",
            f"trainer.log_every={args.warmup}",
            f"trainer.save_every={10 * (args.warmup + args.steps)}",
        ]
        config = load_train_config(args.config, overrides(args) + extra)
        train(config)
        records = [json.loads(line) for line in (Path(tmp) / LOG_FILE).read_text().splitlines()]
    steady = [r for r in records if r["step"] > args.warmup]
    seconds = float(np.mean([1.0 / r["steps_per_s"] for r in steady]))
    return seconds, {
        "tokens_per_s": float(np.mean([r["tokens_per_s"] for r in steady])),
        "log": records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--size", default="micro", help="micro or a T5 size (tiny, mini, ...)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--context-length", type=int, default=128)
    parser.add_argument("--prediction-length", type=int, default=16)
    parser.add_argument("--config", default=str(REPO_ROOT / "training" / "configs" / "smoke.yaml"))
    parser.add_argument("--data-dir")
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0: torch's default)"
    )
    parser.add_argument("--output")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steps % args.warmup:
        parser.error("--steps must be a multiple of --warmup (log windows align with it)")

    raw = raw_step_seconds(args)
    data = data_batch_seconds(args)
    full, details = pipeline_step_seconds(args)
    result = {
        "benchmark": "training step: raw random tokens vs full pipeline",
        "machine": machine(),
        "settings": {
            **{k: v for k, v in vars(args).items() if k != "output"},
            "config": os.path.relpath(args.config, REPO_ROOT),
        },
        "raw_step_s": raw,
        "pipeline_step_s": full,
        "pipeline_over_raw_rate": raw / full,
        "target_rate": 0.9,
        "pipeline_tokens_per_s": details["tokens_per_s"],
        # one process sampling + tokenizing a batch; workers needed to keep up ~ this / raw step
        "data_batch_s_one_worker": data,
        "workers_needed_estimate": data / raw,
        "pipeline_log": details["log"],
    }
    print(json.dumps({k: v for k, v in result.items() if k != "pipeline_log"}, indent=2))
    output = Path(
        args.output
        or REPO_ROOT / "benchmarks" / "results" / f"training_{torch.device(args.device).type}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
