"""Can a Chronos-Bolt network learn dynamics at all? A toy task it must solve in minutes.

Half the series are noisy sines (random period 8-48 steps, amplitude, phase and level), half
are Gaussian random walks. A model that learns the series, not only their marginal distribution,
must continue the sines far better than the last value does and must follow a random walk from
its last value (the best point forecast), not pull it back to the context mean. The probe trains
a network for a few hundred steps and reports the median forecast's MAE on a fixed held-out set
relative to the two naive forecasts, separately for sines and random walks.

Run ``python -m chronos_pkg.train.learnability`` to probe the recipe's optimiser on the micro and
tiny shapes before spending hours of CPU on a real run.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from chronos_pkg.bolt.model import ChronosBoltModel, pinball_loss, standardize

MICRO_NETWORK: dict[str, Any] = {
    "d_model": 64,
    "d_ff": 256,
    "num_heads": 4,
    "num_layers": 2,
    "num_decoder_layers": 1,
    "dropout_rate": 0.0,
}


def toy_series(
    rng: np.random.Generator, num_series: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """``num_series`` toy series (N, length) float32 and their kinds (N,) bool: True = sine.

    Even rows are sines ``a sin(2 pi t / p + phi) + level + 0.1 a noise``; odd rows are random
    walks with unit steps started at a random level.
    """
    t = np.arange(length)
    kinds = np.arange(num_series) % 2 == 0
    out = np.empty((num_series, length), dtype=np.float32)
    for i in range(num_series):
        level = rng.uniform(-5, 5)
        if kinds[i]:
            period, amplitude = rng.uniform(8, 48), rng.uniform(0.5, 3.0)
            phase = rng.uniform(0, 2 * np.pi)
            noise = 0.1 * amplitude * rng.standard_normal(length)
            out[i] = amplitude * np.sin(2 * np.pi * t / period + phase) + level + noise
        else:
            out[i] = np.cumsum(rng.standard_normal(length)) + level
    return out, kinds


@dataclass(frozen=True)
class ProbeResult:
    """MAE of the model's median relative to the naive forecasts, on held-out toy series.

    ``sine_vs_last`` < 1 means the sines are continued better than by repeating the last value;
    ``walk_vs_last`` near 1 and ``walk_vs_mean`` well below 1 mean random walks are followed.
    """

    step: int
    loss: float
    sine_vs_last: float
    sine_vs_mean: float
    walk_vs_last: float
    walk_vs_mean: float
    seconds: float


def _ratios(forecast: np.ndarray, context: np.ndarray, future: np.ndarray, kinds: np.ndarray):
    last = np.abs(future - context[:, -1:]).mean(axis=1)
    mean = np.abs(future - context.mean(axis=1, keepdims=True)).mean(axis=1)
    model = np.abs(future - forecast).mean(axis=1)
    out = {}
    for name, rows in (("sine", kinds), ("walk", ~kinds)):
        out[f"{name}_vs_last"] = float(model[rows].mean() / last[rows].mean())
        out[f"{name}_vs_mean"] = float(model[rows].mean() / mean[rows].mean())
    return out


def run_probe(
    model: ChronosBoltModel,
    steps: int = 400,
    learning_rate: float = 1e-3,
    warmup_steps: int = 50,
    batch_size: int = 64,
    eval_every: int | None = None,
    eval_series: int = 256,
    max_grad_norm: float = 1.0,
    seed: int = 0,
) -> list[ProbeResult]:
    """Train ``model`` in place on toy windows with AdamW (warmup, then linear decay).

    The context and horizon come from ``model.bolt_config``; returns one result per evaluation
    (every ``eval_every`` steps, default: at the end only).
    """
    config = model.bolt_config
    context_length, horizon = config.context_length, config.prediction_length
    held_out, kinds = toy_series(
        np.random.default_rng([seed, 1]), eval_series, context_length + horizon
    )
    eval_context, eval_future = held_out[:, :context_length], held_out[:, context_length:]
    levels = torch.tensor(config.quantiles)
    median = int(np.argmin(np.abs(np.asarray(config.quantiles) - 0.5)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / max(1, warmup_steps)) * max(0.0, (steps - s) / steps),
    )
    rng = np.random.default_rng([seed, 0])
    eval_every = eval_every or steps
    results: list[ProbeResult] = []
    start = time.perf_counter()
    running = 0.0
    model.train()
    for step in range(1, steps + 1):
        batch, _ = toy_series(rng, batch_size, context_length + horizon)
        batch_t = torch.from_numpy(batch)
        predictions, stats = model(batch_t[:, :context_length])
        target, _ = standardize(batch_t[:, context_length:], stats)
        loss = pinball_loss(predictions, target, levels)
        loss.backward()
        if max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        running = 0.9 * running + 0.1 * float(loss.detach()) if step > 1 else float(loss.detach())
        if step % eval_every == 0 or step == steps:
            model.eval()
            with torch.inference_mode():
                forecast = model.forecast(torch.from_numpy(eval_context))[:, median].numpy()
            model.train()
            ratios = _ratios(forecast, eval_context, eval_future, kinds)
            elapsed = time.perf_counter() - start
            results.append(
                ProbeResult(step, round(running, 4), seconds=round(elapsed, 1), **ratios)
            )
    model.eval()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    from chronos_pkg.bolt.checkpoint import new_bolt_model
    from chronos_pkg.bolt.config import ChronosBoltConfig

    parser = argparse.ArgumentParser(
        prog="python -m chronos_pkg.train.learnability", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--size", default=None, help="T5 size (tiny, mini...); default: micro")
    parser.add_argument(
        "--network", default="{}", help="JSON T5 overrides (d_model, dropout_rate...)"
    )
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--context-length", type=int, default=256)
    parser.add_argument("--prediction-length", type=int, default=32)
    parser.add_argument("--eval-every", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--t5-position-init",
        action="store_true",
        help="start the encoder's relative position bias as T5 does (N(0, d_model^-0.5)) "
        "instead of the local init, to measure what the local init buys",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    network = dict(MICRO_NETWORK) if args.size is None else {"dropout_rate": 0.0}
    network.update(json.loads(args.network))
    config = ChronosBoltConfig(
        context_length=args.context_length, prediction_length=args.prediction_length
    )
    model = new_bolt_model(config, seed=args.seed, size=args.size, **network)
    if args.t5_position_init:
        table = model.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(args.seed)
            table.normal_(std=model.config.initializer_factor * model.config.d_model**-0.5)
    results = run_probe(
        model, args.steps, args.lr, args.warmup, args.batch_size, args.eval_every, seed=args.seed
    )
    settings = {k: v for k, v in vars(args).items() if k != "network"} | {"network": network}
    for result in results:
        print(json.dumps({"settings": settings, **asdict(result)}), flush=True)
    return 0 if results and math.isfinite(results[-1].loss) else 1


if __name__ == "__main__":
    raise SystemExit(main())
