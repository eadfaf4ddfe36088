"""Forecast accuracy metrics of the Chronos benchmark, as pure numpy functions.

The semantics follow GluonTS' ``gluonts.ev`` metrics as used by the published benchmark:

- NaN in a target (missing value) removes that point from every sum and mean;
- the seasonal error of a series is the mean ``|y_t - y_{t-m}|`` over the pairs of its *context*
  where both values are observed (``m = 1`` when ``m`` exceeds the context length);
- a point whose series has a seasonal error of 0 (or none at all) is left out of MASE, as GluonTS'
  masked division does.

Shapes: ``N`` forecast windows (series), ``H`` steps, ``Q`` quantile levels. The seasonal
period ``m`` of a frequency is :func:`chronos_pkg.frequency.seasonality_from_freq`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chronos_pkg.inputs import DEFAULT_QUANTILE_LEVELS

__all__ = [
    "gluonts_sample_quantiles",
    "mean_absolute_scaled_error",
    "quantile_loss",
    "seasonal_error",
    "weighted_quantile_loss",
]


def seasonal_error(context: np.ndarray, seasonality: int) -> float:
    """Mean ``|y_t - y_{t-m}|`` over the observed pairs of a 1-D context (NaN = missing).

    ``m`` falls back to 1 when it exceeds the context length. Returns NaN when no pair of
    observed values exists (e.g. a context of length 1 or all missing).
    """
    if seasonality < 1:
        raise ValueError(f"seasonality must be >= 1, got {seasonality}")
    values = np.asarray(context, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"context must be 1-D, got shape {values.shape}")
    m = 1 if seasonality > len(values) else seasonality
    diffs = np.abs(values[m:] - values[:-m]) if len(values) > m else np.empty(0)
    diffs = diffs[~np.isnan(diffs)]
    return float(diffs.mean()) if diffs.size else float("nan")


def _check_target_and_forecast(target: np.ndarray, forecast: np.ndarray, name: str) -> None:
    if forecast.shape[: target.ndim] != target.shape:
        raise ValueError(f"{name} shape {forecast.shape} does not match target {target.shape}")
    if np.isnan(forecast).any():
        raise ValueError(f"{name} contains NaN; forecasts must be finite")


def quantile_loss(target: np.ndarray, forecast: np.ndarray, level: float) -> np.ndarray:
    """Elementwise scaled pinball loss ``2 * |(y - f) * (1{f >= y} - q)|`` (NaN where y is NaN)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"quantile level must be in (0, 1), got {level}")
    target = np.asarray(target, dtype=np.float64)
    forecast = np.asarray(forecast, dtype=np.float64)
    return 2.0 * np.abs((target - forecast) * ((forecast >= target) - level))


def weighted_quantile_loss(
    target: np.ndarray,
    quantile_forecasts: np.ndarray,
    quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
) -> float:
    """WQL: per level, summed quantile loss over sum ``|y|`` (observed points), averaged over levels.

    Parameters
    ----------
    target : (N, H) with NaN for missing values.
    quantile_forecasts : (N, H, Q), one slice per entry of ``quantile_levels``.
    """
    target = np.asarray(target, dtype=np.float64)
    quantile_forecasts = np.asarray(quantile_forecasts, dtype=np.float64)
    _check_target_and_forecast(target, quantile_forecasts, "quantile_forecasts")
    if quantile_forecasts.shape[-1] != len(quantile_levels):
        raise ValueError(
            f"quantile_forecasts has {quantile_forecasts.shape[-1]} levels, "
            f"quantile_levels has {len(quantile_levels)}"
        )
    observed = ~np.isnan(target)
    scale = np.abs(target[observed]).sum()
    losses = [
        quantile_loss(target, quantile_forecasts[..., i], q)[observed].sum() / scale
        for i, q in enumerate(quantile_levels)
    ]
    return float(np.mean(losses))


def mean_absolute_scaled_error(
    target: np.ndarray, point_forecast: np.ndarray, seasonal_errors: np.ndarray
) -> float:
    """MASE: mean of ``|y - f| / seasonal_error`` over all observed points of all series.

    Parameters
    ----------
    target : (N, H) with NaN for missing values.
    point_forecast : (N, H), the median forecast in the benchmark.
    seasonal_errors : (N,), from :func:`seasonal_error` on each window's context; points of a
        series whose seasonal error is 0 or NaN are left out (GluonTS' masked division).
    """
    target = np.asarray(target, dtype=np.float64)
    point_forecast = np.asarray(point_forecast, dtype=np.float64)
    seasonal_errors = np.asarray(seasonal_errors, dtype=np.float64)
    _check_target_and_forecast(target, point_forecast, "point_forecast")
    if seasonal_errors.shape != target.shape[:1]:
        raise ValueError(f"seasonal_errors shape {seasonal_errors.shape} != ({target.shape[0]},)")
    valid_scale = np.nan_to_num(seasonal_errors, nan=0.0) > 0
    keep = ~np.isnan(target) & valid_scale[:, None]
    if not keep.any():
        return float("nan")
    scaled = (
        np.abs(target - point_forecast)[keep]
        / np.broadcast_to(seasonal_errors[:, None], target.shape)[keep]
    )
    return float(scaled.mean())


def gluonts_sample_quantiles(samples: np.ndarray, quantile_levels: Sequence[float]) -> np.ndarray:
    """Quantiles of sample paths the way GluonTS' ``SampleForecast.quantile`` takes them.

    That is the sorted sample at index ``round((S - 1) * q)`` (numpy rounding, half to even), not
    an interpolation; the published benchmark scored sample-based models this way.

    Parameters
    ----------
    samples : (N, S, H) sample paths.
    quantile_levels : Q levels in (0, 1).

    Returns
    -------
    (N, H, Q) array.
    """
    samples = np.asarray(samples)
    if samples.ndim != 3 or samples.shape[1] == 0:
        raise ValueError(f"samples must be (N, S, H) with S >= 1, got {samples.shape}")
    if any(not 0.0 < q < 1.0 for q in quantile_levels):
        raise ValueError(f"quantile levels must be in (0, 1), got {list(quantile_levels)}")
    ordered = np.sort(samples, axis=1)
    index = [int(np.round((samples.shape[1] - 1) * q)) for q in quantile_levels]
    return np.moveaxis(ordered[:, index, :], 1, 2)
