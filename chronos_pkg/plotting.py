"""Pictures of forecasts (each series' recent history with the median and a prediction band)
and of generated series (a grid of small line plots).

matplotlib is an optional dependency (the ``eval`` extra); it is imported when a plot is drawn,
so the rest of the package works without it. Figures are built with the object-oriented API
(no ``pyplot`` state), so plotting from a script, a server or a notebook behaves the same.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from chronos_pkg.dataframe import PREDICTIONS_COLUMN
from chronos_pkg.series_io import SeriesCollection, as_series_list

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

DEFAULT_MAX_SERIES = 4


def _require_matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError(
            "plotting needs matplotlib, which is not installed; "
            "install it with `pip install matplotlib` or `pip install 'chronos_pkg[eval]'`"
        ) from err
    return matplotlib


def band_columns(forecast: pd.DataFrame, coverage: float = 0.8) -> tuple[str, str]:
    """Names of the quantile columns bounding a central ``coverage`` band, e.g. "0.1"/"0.9".

    Raises ``ValueError`` if ``forecast`` lacks them.
    """
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must lie strictly between 0 and 1, got {coverage}")
    lower, upper = str(round((1 - coverage) / 2, 10)), str(round((1 + coverage) / 2, 10))
    missing = [name for name in (lower, upper) if name not in forecast.columns]
    if missing:
        raise ValueError(
            f"a {coverage:.0%} band needs quantile columns {lower!r} and {upper!r}; "
            f"the forecast lacks {missing} (forecast with those quantile levels)"
        )
    return lower, upper


def plot_forecast(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    id_column: str = "id",
    timestamp_column: str = "timestamp",
    target: str = "target",
    series_ids: Sequence[Hashable] | None = None,
    max_series: int = DEFAULT_MAX_SERIES,
    history_length: int | None = None,
    coverage: float = 0.8,
    title: str | None = None,
) -> Figure:
    """Draw one panel per series: recent history, the median forecast and a central band.

    Parameters
    ----------
    history : long frame of observed values (``id_column``, ``timestamp_column``, ``target``);
        values inside the forecast window (held-out data) are drawn along the forecast.
    forecast : long frame from ``predict_df`` (``predictions`` plus quantile columns).
    series_ids : which series to draw; default the first ``max_series`` of ``forecast``.
    history_length : how many of the latest observations to show; default 3x the horizon
        (at least 48).
    coverage : width of the shaded band, 0.8 for the 0.1-0.9 quantiles.
    title : figure title, e.g. the model and horizon.

    Returns
    -------
    A ``matplotlib.figure.Figure``; save it with ``fig.savefig(path)`` or use ``save_forecast_plot``.
    """
    _require_matplotlib()
    from matplotlib.figure import Figure

    _check_plot_columns(history, forecast, id_column, timestamp_column, target)
    lower, upper = band_columns(forecast, coverage)
    if max_series < 1:
        raise ValueError(f"max_series must be >= 1, got {max_series}")
    ids = list(series_ids) if series_ids is not None else list(forecast[id_column].unique())
    ids = ids[:max_series]
    if not ids:
        raise ValueError("the forecast frame holds no series to plot")

    fig = Figure(figsize=(10, 2.6 * len(ids)), layout="constrained")
    axes = fig.subplots(len(ids), 1, squeeze=False)[:, 0]
    for ax, series_id in zip(axes, ids):
        future = forecast[forecast[id_column] == series_id]
        if future.empty:
            raise ValueError(f"series {series_id!r} is not in the forecast frame")
        past = history[history[id_column] == series_id]
        shown = history_length if history_length is not None else max(3 * len(future), 48)
        _draw_series(ax, past, future, timestamp_column, target, shown, (lower, upper), coverage)
        ax.set_title(str(series_id), loc="left", fontsize=10)
    axes[-1].set_xlabel(timestamp_column)
    axes[0].legend(loc="upper left", fontsize=8, ncols=3)
    if title:
        fig.suptitle(title)
    return fig


def _check_plot_columns(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    id_column: str,
    timestamp_column: str,
    target: str,
) -> None:
    for frame, name, columns in (
        (history, "history", (id_column, timestamp_column, target)),
        (forecast, "forecast", (id_column, timestamp_column, PREDICTIONS_COLUMN)),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"the {name} frame has no column(s) {missing}")


def _draw_series(
    ax: Any,
    past: pd.DataFrame,
    future: pd.DataFrame,
    timestamp_column: str,
    target: str,
    shown: int,
    band: tuple[str, str],
    coverage: float,
) -> None:
    """One panel: the last ``shown`` observations, observations inside the forecast window
    (a held-out test), the ``band`` quantile columns shaded and the median."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    future_time = pd.to_datetime(future[timestamp_column])
    start, end = future_time.min(), future_time.max()
    past = past.assign(**{timestamp_column: pd.to_datetime(past[timestamp_column])})
    past = past.sort_values(timestamp_column)
    before = past[past[timestamp_column] < start].tail(shown)
    during = past[(past[timestamp_column] >= start) & (past[timestamp_column] <= end)]
    observed = pd.concat([before, during])
    lower, upper = band

    ax.plot(observed[timestamp_column], observed[target], color="black", lw=1.0, label="observed")
    ax.fill_between(
        future_time,
        future[lower].to_numpy(dtype=float),
        future[upper].to_numpy(dtype=float),
        color="tab:blue",
        alpha=0.25,
        lw=0,
        label=f"{coverage:.0%} prediction interval ({lower}-{upper} quantiles)",
    )
    ax.plot(
        future_time, future[PREDICTIONS_COLUMN], color="tab:blue", lw=1.5, label="median forecast"
    )
    if not before.empty:  # where the forecast starts
        ax.axvline(before[timestamp_column].iloc[-1], color="grey", lw=0.8, ls="--")
    ax.set_ylabel(target)
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.grid(alpha=0.3)


def save_forecast_plot(
    path: str | os.PathLike,
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    **kwargs: Any,
) -> Path:
    """Draw ``plot_forecast(history, forecast, **kwargs)`` and write it to ``path`` (PNG, SVG, PDF)."""
    fig = plot_forecast(history, forecast, **kwargs)
    path = Path(path)
    fig.savefig(path, dpi=100)
    logger.info("wrote forecast plot to %s", path)
    return path


def plot_series_grid(
    series: SeriesCollection, path: str | os.PathLike, *, columns: int = 4, title: str | None = None
) -> Path:
    """Save a grid of small line plots of ``series`` (e.g. synthetic data) to an image file."""
    _require_matplotlib()
    from matplotlib.figure import Figure

    arrays = as_series_list(series)
    if not arrays:
        raise ValueError("nothing to plot: no series given")
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    rows = -(-len(arrays) // columns)
    figure = Figure(figsize=(3 * columns, 2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < len(arrays):
            ax.plot(arrays[i], linewidth=0.8)
            ax.set_title(f"series {i}", fontsize=8)
            ax.tick_params(labelsize=6)
        else:
            ax.axis("off")
    if title:
        figure.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
