"""Long-format DataFrames in and out of the pipelines (used by ``BasePipeline.predict_df``).

``split_series`` turns a frame with one row per (series, timestamp) into per-series contexts;
``forecast_frame`` lays the forecasts out again, continuing each series at its own frequency.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

logger = logging.getLogger(__name__)

PREDICTIONS_COLUMN = "predictions"
MEAN_COLUMN = "mean"


@dataclass(frozen=True)
class SeriesFrame:
    """The series of a long-format frame, in order of first appearance of their id.

    ``contexts[i]`` is series ``ids[i]`` as float32 sorted by time (NaN = missing),
    ``last_timestamps[i]`` its last timestamp and ``freqs[i]`` its inferred pandas frequency.
    """

    ids: list[Hashable]
    contexts: list[np.ndarray]
    last_timestamps: list[pd.Timestamp]
    freqs: list[str]


def _check_columns(df: pd.DataFrame, columns: dict[str, str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    for role, name in columns.items():
        if name not in df.columns:
            raise ValueError(
                f"{role} {name!r} is not a column of the DataFrame (columns: {list(df.columns)})"
            )
    if len(df) == 0:
        raise ValueError("the DataFrame is empty: no series to forecast")


def _target_values(column: pd.Series, name: str) -> np.ndarray:
    """The target column as float32 with NaN for missing, rejecting text and inf."""
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        try:
            column = pd.to_numeric(column, errors="raise")
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"target column {name!r} is not numeric (dtype {column.dtype})"
            ) from err
    if pd.api.types.is_complex_dtype(column):
        raise TypeError(f"target column {name!r} holds complex values")
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise ValueError(f"target column {name!r} contains +/-inf; use NaN for missing values")
    return values.astype(np.float32)


def _timestamps(column: pd.Series, name: str) -> pd.DatetimeIndex:
    """The timestamp column as datetimes; numbers and unparseable values are rejected."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise TypeError(
            f"timestamp column {name!r} holds numbers (dtype {column.dtype}); expected datetimes"
        )
    try:
        stamps = pd.DatetimeIndex(pd.to_datetime(column))
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(
            f"timestamp column {name!r} cannot be read as sortable datetimes: {err}"
        ) from err
    if stamps.hasnans:
        raise ValueError(f"timestamp column {name!r} has missing timestamps")
    return stamps


def _infer_freq(stamps: pd.DatetimeIndex, series_id: Hashable) -> str:
    if len(stamps) < 3:
        raise ValueError(
            f"series {series_id!r} has {len(stamps)} timestamps; at least 3 are needed to infer "
            "its frequency"
        )
    freq = pd.infer_freq(stamps)
    if freq is None:
        raise ValueError(
            f"cannot infer a frequency for series {series_id!r}: its timestamps are irregular "
            "(fill gaps with NaN targets at the missing timestamps)"
        )
    return freq


def split_series(
    df: pd.DataFrame,
    id_column: str = "id",
    timestamp_column: str = "timestamp",
    target: str = "target",
) -> SeriesFrame:
    """Split a long-format frame into per-series contexts sorted by time.

    Raises ``ValueError``/``TypeError`` naming the problem for missing columns, an empty frame,
    a non-numeric or infinite target, missing ids, unreadable, duplicate or irregular
    timestamps, and series too short to infer a frequency.
    """
    _check_columns(
        df, {"id_column": id_column, "timestamp_column": timestamp_column, "target": target}
    )
    if df[id_column].isna().any():
        raise ValueError(f"id column {id_column!r} has missing values")
    values = _target_values(df[target], target)
    stamps = _timestamps(df[timestamp_column], timestamp_column)
    codes, uniques = pd.factorize(df[id_column], sort=False)  # first-appearance order
    # one stable sort by (series, time) instead of a sort per series
    ticks = stamps.asi8
    order = np.lexsort((ticks, codes))
    codes, values, ticks, stamps = codes[order], values[order], ticks[order], stamps[order]
    same_series = codes[1:] == codes[:-1]
    duplicated = np.flatnonzero(same_series & (ticks[1:] == ticks[:-1]))
    if len(duplicated):
        row = duplicated[0]
        raise ValueError(f"series {uniques[codes[row]]!r} has duplicate timestamp {stamps[row]}")
    starts = np.flatnonzero(np.r_[True, ~same_series])
    ends = np.r_[starts[1:], len(codes)]

    ids = pd.Index(uniques).take(codes[starts]).tolist()  # plain Python values
    contexts = [values[start:end].copy() for start, end in zip(starts, ends)]
    last_timestamps = list(stamps[ends - 1])
    freqs: list[str] = []
    known: dict[tuple[int, int, int, int], str] = {}  # panels often share one time grid
    for series_id, start, end in zip(ids, starts, ends):
        grid = (int(end - start), int(ticks[start]), int(ticks[end - 1]))
        grid += (hash(ticks[start:end].tobytes()),)
        if grid not in known:
            known[grid] = _infer_freq(stamps[start:end], series_id)
        freqs.append(known[grid])
    return SeriesFrame(ids=ids, contexts=contexts, last_timestamps=last_timestamps, freqs=freqs)


def future_timestamps(
    last_timestamp: pd.Timestamp, freq: str, prediction_length: int
) -> pd.DatetimeIndex:
    """The ``prediction_length`` timestamps after ``last_timestamp`` at frequency ``freq``."""
    offset = pd.tseries.frequencies.to_offset(freq)
    return pd.date_range(start=last_timestamp + offset, periods=prediction_length, freq=offset)


def forecast_frame(
    series: SeriesFrame,
    quantiles: torch.Tensor,
    mean: torch.Tensor,
    computed_levels: Sequence[float],
    quantile_levels: Sequence[float],
    prediction_length: int,
    id_column: str = "id",
    timestamp_column: str = "timestamp",
) -> pd.DataFrame:
    """Lay out forecasts as a long frame, ``prediction_length`` rows per series.

    Parameters
    ----------
    series : the ``SeriesFrame`` the forecasts were made for.
    quantiles : (B, H, Q) quantiles at ``computed_levels`` (which must include 0.5).
    mean : (B, H) sample means.
    quantile_levels : the levels to report, each as a column named ``str(level)``.

    Returns
    -------
    Columns ``id_column``, ``timestamp_column``, ``predictions`` (the median), ``mean`` and one per
    level in ``quantile_levels``; series in the order of ``series.ids``.
    """
    computed = [float(q) for q in computed_levels]
    n_series, horizon = len(series.ids), prediction_length
    assert quantiles.shape == (n_series, horizon, len(computed)), quantiles.shape
    assert mean.shape == (n_series, horizon), mean.shape
    missing = [q for q in [0.5, *quantile_levels] if float(q) not in computed]
    assert not missing, f"levels {missing} were not computed"

    cache: dict[tuple[pd.Timestamp, str], pd.DatetimeIndex] = {}
    future = []
    for last, freq in zip(series.last_timestamps, series.freqs):
        key = (last, freq)
        if key not in cache:  # many series usually end together
            cache[key] = future_timestamps(last, freq, horizon)
        future.append(cache[key])
    timestamps = future[0].append(future[1:]) if len(future) > 1 else future[0]

    quantile_values = quantiles.detach().to("cpu", torch.float32).numpy()
    columns: dict[str, object] = {
        id_column: np.repeat(np.asarray(series.ids, dtype=object), horizon),
        timestamp_column: timestamps,
        PREDICTIONS_COLUMN: quantile_values[:, :, computed.index(0.5)].reshape(-1),
        MEAN_COLUMN: mean.detach().to("cpu", torch.float32).numpy().reshape(-1),
    }
    for level in quantile_levels:
        columns[str(level)] = quantile_values[:, :, computed.index(float(level))].reshape(-1)
    frame = pd.DataFrame(columns)
    frame[id_column] = frame[id_column].infer_objects()
    return frame
