"""Does a model continue a clear cycle? Exactly periodic signals scored against Seasonal Naive.

A user's first test of a forecaster is a series with an obvious cycle (a daily load curve, a
weekly pattern). This probe builds such series: a shape repeated exactly at periods 7, 12, 24,
48, 96 and 168 (a context of 512 holds three cycles of 168), in five shapes (smooth, two peaks a
cycle, square, sawtooth, a weekday/weekend profile), each plain, on a linear trend and with a
growing amplitude, plus white noise at :data:`NOISE` of the shape's standard deviation, at a
random phase, level and scale. The score is ``MAE(median forecast) / MAE(Seasonal Naive at the
period)``, per period the geometric mean over its shape x variant cells (each cell the mean MAE
of its series), and over periods their geometric mean. An ideal forecaster that averages cycles
scores about 0.7; a flat forecast far above 1. Series come from their own seed, apart from any
training data; the probe is printed in the model card and is part of the ship rule.

    python -m chronos_pkg.train.seasonal_probe --model default runs/x/final [--output probe.csv] \
        [--plot probe.png]

``--plot`` draws what a user would see: three probe series (a sharp daily cycle, a square wave on
a trend, a weekly profile of growing amplitude), with each model's median and 80% band.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

PROBE_PERIODS = (7, 12, 24, 48, 96, 168)
VARIANTS = ("plain", "trend", "growing")
NOISE = 0.03  # noise standard deviation, relative to the shape's
PROBE_SEED = 20261207
CONTEXT_LENGTH = 512
HORIZON = 64
SERIES_PER_CELL = 16
# targets (issue "continue a cycle"): geometric mean over periods and the worst period
TARGET_MEAN = 1.0
TARGET_WORST = 1.3


def _two_peaks(phase: np.ndarray) -> np.ndarray:
    return np.exp(-(((phase - 0.33) / 0.06) ** 2)) + 0.8 * np.exp(-(((phase - 0.75) / 0.07) ** 2))


SHAPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "smooth": lambda f: np.sin(2 * np.pi * f) + 0.5 * np.sin(4 * np.pi * f + 1.0),
    "two_peaks": _two_peaks,
    "square": lambda f: (f < 0.5).astype(float),
    "sawtooth": lambda f: f,
    "weekday_weekend": lambda f: np.where(f < 5 / 7, 1.0, 0.3) + 0.2 * np.sin(14 * np.pi * f),
}


def probe_series(
    period: int,
    shape: str,
    variant: str,
    num_series: int = SERIES_PER_CELL,
    context_length: int = CONTEXT_LENGTH,
    horizon: int = HORIZON,
    seed: int = PROBE_SEED,
) -> np.ndarray:
    """(num_series, context_length + horizon) float64 series of one probe cell."""
    if shape not in SHAPES or variant not in VARIANTS:
        raise ValueError(f"unknown probe cell {shape!r} / {variant!r}")
    names = list(SHAPES)
    rng = np.random.default_rng([seed, period, names.index(shape), VARIANTS.index(variant)])
    total = context_length + horizon
    t = np.arange(total)
    rows = []
    for _ in range(num_series):
        phase = ((t + rng.integers(period)) % period) / period
        cycle = SHAPES[shape](phase)
        cycle = (cycle - cycle.mean()) / cycle.std()
        if variant == "trend":  # the level climbs (or falls) 1-3 cycle amplitudes over the context
            cycle = cycle + rng.choice([-1, 1]) * rng.uniform(1.0, 3.0) * t / context_length
        elif variant == "growing":  # the amplitude doubles over the context
            cycle = cycle * (1.0 + t / context_length)
        noisy = cycle + NOISE * rng.normal(size=total)
        rows.append(rng.uniform(-5.0, 5.0) + np.exp(rng.uniform(0.0, 6.0)) * (2.0 + noisy))
    return np.stack(rows)


def seasonal_naive_forecast(context: np.ndarray, period: int, horizon: int) -> np.ndarray:
    """The last cycle of each row of ``context`` (N, T) repeated over ``horizon`` steps."""
    last = context[:, -period:]
    return np.tile(last, (1, -(-horizon // period)))[:, :horizon]


def probe_cells(
    forecaster: Any,
    periods: Sequence[int] = PROBE_PERIODS,
    num_series: int = SERIES_PER_CELL,
    context_length: int = CONTEXT_LENGTH,
    horizon: int = HORIZON,
) -> pd.DataFrame:
    """One row per (period, shape, variant): the MAE of the forecaster's median, Seasonal
    Naive's, and their ratio."""
    cells, contexts, futures = [], [], []
    for period in periods:
        for shape in SHAPES:
            for variant in VARIANTS:
                series = probe_series(period, shape, variant, num_series, context_length, horizon)
                cells.append((period, shape, variant))
                contexts.append(series[:, :context_length])
                futures.append(series[:, context_length:])
    context = torch.as_tensor(np.concatenate(contexts), dtype=torch.float32)
    quantiles, _ = forecaster.predict_quantiles(context, horizon, (0.5,))
    medians = np.split(quantiles[..., 0].double().numpy(), len(cells))
    rows = []
    for (period, shape, variant), ctx, future, median in zip(cells, contexts, futures, medians):
        naive = seasonal_naive_forecast(ctx, period, horizon)
        model_mae = float(np.abs(median - future).mean())
        naive_mae = float(np.abs(naive - future).mean())
        rows.append(
            {
                "period": period,
                "shape": shape,
                "variant": variant,
                "mae": model_mae,
                "mae_seasonal_naive": naive_mae,
                "ratio": model_mae / naive_mae,
            }
        )
    return pd.DataFrame(rows)


PLOT_CELLS = (
    (24, "two_peaks", "plain"),
    (96, "square", "trend"),
    (168, "weekday_weekend", "growing"),
)
PLOT_HISTORY = 336  # context steps shown before the forecast


def plot_probe(
    forecasters: dict[str, Any],
    path: str | Path,
    cells: Sequence[tuple[int, str, str]] = PLOT_CELLS,
) -> Path:
    """Save a figure of one series per cell: its recent history, the truth over the horizon,
    and each forecaster's median with its 10-90% band."""
    from chronos_pkg.plotting import _require_matplotlib

    _require_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.2 * len(cells)), layout="constrained")
    axes = fig.subplots(len(cells), 1, squeeze=False)[:, 0]
    t_hist = np.arange(-PLOT_HISTORY, 0)
    t_future = np.arange(HORIZON)
    for ax, (period, shape, variant) in zip(axes, cells):
        series = probe_series(period, shape, variant, num_series=1)[0]
        context, future = series[:CONTEXT_LENGTH], series[CONTEXT_LENGTH:]
        ax.plot(t_hist, context[-PLOT_HISTORY:], color="black", lw=1, label="history")
        ax.plot(t_future, future, color="black", lw=1, ls=":", label="truth")
        for i, (name, forecaster) in enumerate(forecasters.items()):
            q, _ = forecaster.predict_quantiles(
                torch.as_tensor(context[None], dtype=torch.float32), HORIZON, (0.1, 0.5, 0.9)
            )
            q = q[0].double().numpy()
            color = f"C{i}"
            ax.fill_between(t_future, q[:, 0], q[:, 2], color=color, alpha=0.2)
            ax.plot(t_future, q[:, 1], color=color, lw=1.5, label=f"{name} (median, 80%)")
        ax.set_title(f"period {period}, {shape.replace('_', ' ')}, {variant}")
        ax.axvline(0, color="grey", lw=0.5)
    axes[0].legend(loc="upper left", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path


def summarize(cells: pd.DataFrame) -> dict[str, float]:
    """Per period the geometric mean of its cells' ratios (keys ``p7``...), ``mean`` (their
    geometric mean) and ``worst`` (the largest period score)."""
    per_period = cells.groupby("period")["ratio"].apply(lambda r: float(np.exp(np.log(r).mean())))
    out = {f"p{p}": float(v) for p, v in per_period.items()}
    out["mean"] = float(np.exp(np.log(per_period).mean()))
    out["worst"] = float(per_period.max())
    return out


def meets_targets(summary: dict[str, float]) -> bool:
    """The probe's targets: geometric mean <= 1.0 and no period above 1.3."""
    return summary["mean"] <= TARGET_MEAN and summary["worst"] <= TARGET_WORST


def format_summary(name: str, summary: dict[str, float]) -> str:
    periods = "  ".join(f"{k} {v:.2f}" for k, v in summary.items() if k.startswith("p"))
    return f"{name}: {periods}  | mean {summary['mean']:.3f}  worst {summary['worst']:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    from chronos_pkg.eval.forecasters import build_forecaster

    parser = argparse.ArgumentParser(
        prog="python -m chronos_pkg.train.seasonal_probe",
        description="MAE of the median forecast relative to Seasonal Naive's on exactly periodic "
        "signals (periods 7-168, five shapes, plain / trend / growing amplitude, 3% noise).",
    )
    parser.add_argument("--model", nargs="+", required=True, help="checkpoint dirs or model ids")
    parser.add_argument("--output", help="CSV of every cell of every model")
    parser.add_argument("--num-series", type=int, default=SERIES_PER_CELL)
    parser.add_argument("--plot", help="PNG of three probe series with each model's forecast")
    args = parser.parse_args(argv)
    tables = []
    forecasters = {model: build_forecaster(model) for model in args.model}
    for model, forecaster in forecasters.items():
        cells = probe_cells(forecaster, num_series=args.num_series)
        summary = summarize(cells)
        verdict = "meets" if meets_targets(summary) else "misses"
        print(f"{format_summary(model, summary)}  ({verdict} the targets)")
        tables.append(cells.assign(model=model))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        pd.concat(tables).to_csv(args.output, index=False, float_format="%.6g")
    if args.plot:
        print(f"plot: {plot_probe(forecasters, args.plot)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
