"""Does a model continue an exactly repeated seasonal cycle? A probe Seasonal Naive solves exactly.

Strongly seasonal series (hourly load, 15-minute sensors, monthly tourism) are where a weak model
loses to Seasonal Naive on MASE: the naive forecast copies the last cycle to the digit, and MASE
divides by that cycle-to-cycle error. This probe repeats a random sharp cycle
(:func:`chronos_pkg.synth.seasonal_synth.cycle_shape`) of several periods, with no noise, at a
random level and scale, and reports each model's median-forecast MAE as a fraction of the
series' standard deviation (Seasonal Naive: 0). Its series come from their own seed, apart from
any training data, and it is a diagnostic, not a ship criterion (validation decides that).

    python -m chronos_pkg.train.repetition_probe --model chronos_pkg/models/default runs/x
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from chronos_pkg.synth.seasonal_synth import cycle_shape, repeat_cycle

PROBE_PERIODS = (7, 12, 24, 96)
PROBE_SEED = 20261206


def repeated_cycles(
    period: int, context_length: int, horizon: int, num_series: int, seed: int = PROBE_SEED
) -> tuple[list[np.ndarray], np.ndarray]:
    """``num_series`` contexts and their (H,) continuations: one cycle repeated exactly."""
    rng = np.random.default_rng([seed, period])
    contexts, futures = [], []
    total = context_length + horizon
    for _ in range(num_series):
        shape = cycle_shape(period, rng)
        while not shape.any():
            shape = cycle_shape(period, rng)
        series = repeat_cycle(shape, total, rng)
        series = rng.normal(0.0, 3.0) + np.exp(rng.uniform(0.0, 5.0)) * series
        contexts.append(series[:context_length])
        futures.append(series[context_length:])
    return contexts, np.stack(futures)


def probe(
    forecaster: Any,
    periods: Sequence[int] = PROBE_PERIODS,
    context_length: int = 512,
    horizon: int = 48,
    num_series: int = 32,
) -> dict[int, float]:
    """Per period, the median over series of ``MAE(median forecast) / std(context)``.

    The scale is the context's standard deviation (whole cycles, so the cycle's spread): the
    continuation's own would be zero, or nearly, when the horizon covers only a flat part of
    a long cycle.
    """
    out = {}
    for period in periods:
        contexts, futures = repeated_cycles(period, context_length, horizon, num_series)
        quantiles, _ = forecaster.predict_quantiles(
            [torch.as_tensor(c) for c in contexts], horizon, (0.5,)
        )
        median = quantiles[..., 0].double().numpy()
        scale = np.array([c.std() for c in contexts])
        out[period] = float(np.median(np.abs(median - futures).mean(axis=1) / scale))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from chronos_pkg.eval.forecasters import build_forecaster

    parser = argparse.ArgumentParser(
        prog="python -m chronos_pkg.train.repetition_probe",
        description="Median-forecast error on exactly repeated cycles, relative to the series' "
        "standard deviation (Seasonal Naive scores 0).",
    )
    parser.add_argument("--model", nargs="+", required=True, help="checkpoint dirs or model ids")
    parser.add_argument("--context-length", type=int, default=512)
    parser.add_argument("--horizon", type=int, default=48)
    parser.add_argument("--num-series", type=int, default=32)
    args = parser.parse_args(argv)
    for model in args.model:
        scores = probe(
            build_forecaster(model),
            context_length=args.context_length,
            horizon=args.horizon,
            num_series=args.num_series,
        )
        print(
            json.dumps(
                {"model": model, "mae_over_std": {str(k): round(v, 4) for k, v in scores.items()}}
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
