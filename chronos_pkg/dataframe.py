"""Long-format DataFrames in and out of the pipelines (used by ``BasePipeline.predict_df``).

``split_series`` turns a frame with one row per (series, timestamp) into per-series contexts;
``forecast_frame`` lays the forecasts out again, continuing each series at its own frequency.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import torch

from chronos_pkg.frequency import infer_frequency

FLOAT32_MAX = float(np.finfo(np.float32).max)
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

    @cached_property
    def unobserved(self) -> list[int]:
        """Positions of the series without any observed value (forecast at scale 1)."""
        return [i for i, context in enumerate(self.contexts) if np.isnan(context).all()]


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
    """The target column as float64 with NaN for missing, rejecting text and complex values.

    Range checks (inf, beyond float32) happen in :func:`split_series`, which knows the ids.
    """
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        converted = pd.to_numeric(column, errors="coerce")
        bad = converted.isna() & column.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise TypeError(
                f"target column {name!r} is not numeric: {column.iloc[row]!r} (row {row}) is "
                "not a number"
            )
        column = converted
    if pd.api.types.is_complex_dtype(column):
        raise TypeError(f"target column {name!r} holds complex values")
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_value_range(
    values: np.ndarray, ids: pd.Series, stamps: pd.DatetimeIndex, name: str
) -> None:
    """Reject +/-inf and values too large for float32 (what the models compute in), naming the
    series and the timestamp of the first offending value."""
    with np.errstate(invalid="ignore"):
        bad = np.isinf(values) | (np.abs(values) > FLOAT32_MAX)
    if not bad.any():
        return
    row = int(np.flatnonzero(bad)[0])
    where = f"series {ids.iloc[row]!r} at {stamps[row]}"
    if np.isinf(values[row]):
        raise ValueError(
            f"{where}: target column {name!r} holds {values[row]}; use NaN for missing values"
        )
    raise ValueError(
        f"{where}: target value {values[row]:.6g} in column {name!r} is too large "
        f"(the models compute in float32, |value| <= {FLOAT32_MAX:.4g}); rescale the series"
    )


def _timestamps(column: pd.Series, name: str) -> pd.DatetimeIndex:
    """The timestamp column as datetimes; numbers and unparseable values are rejected, naming
    the first value that cannot be read."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise TypeError(
            f"timestamp column {name!r} holds numbers (dtype {column.dtype}); expected datetimes"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' format-inference advice is not for our users
        try:
            stamps = pd.DatetimeIndex(pd.to_datetime(column))
        except (TypeError, ValueError, OverflowError) as err:
            try:  # 31/01/2024: unreadable month-first, so day-first is the only reading
                stamps = pd.DatetimeIndex(pd.to_datetime(column, dayfirst=True))
            except (TypeError, ValueError, OverflowError):
                stamps = _first_unreadable(column, name, err)
    if stamps.hasnans:
        row = int(np.flatnonzero(stamps.isna())[0])
        raise ValueError(f"timestamp column {name!r} has a missing timestamp (row {row})")
    return stamps


def _first_unreadable(column: pd.Series, name: str, err: Exception) -> pd.DatetimeIndex:
    """Raise ``ValueError`` naming the first value of ``column`` that is not a date/time."""
    for row, value in enumerate(column):
        if pd.isna(value):
            continue
        try:
            pd.Timestamp(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(
                f"timestamp column {name!r}: {value!r} (row {row}) is not a date/time; "
                "write timestamps like 2024-01-31 or 2024-01-31 13:00"
            ) from err
    raise ValueError(
        f"timestamp column {name!r} mixes date/time formats (it starts with "
        f"{column.iloc[0]!r}); write every timestamp in one format, like 2024-01-31 13:00"
    ) from err


def split_series(
    df: pd.DataFrame,
    id_column: str = "id",
    timestamp_column: str = "timestamp",
    target: str = "target",
) -> SeriesFrame:
    """Split a long-format frame into per-series contexts sorted by time.

    Raises ``ValueError``/``TypeError`` naming the problem (and the series id) for missing
    columns, an empty frame, a non-numeric target, an infinite value or one beyond float32,
    missing ids, unreadable, duplicate or irregular timestamps, and series too short to infer a
    frequency. Series without any observed value are kept, with a warning naming them.
    """
    _check_columns(
        df, {"id_column": id_column, "timestamp_column": timestamp_column, "target": target}
    )
    if df[id_column].isna().any():
        raise ValueError(f"id column {id_column!r} has missing values")
    values = _target_values(df[target], target)
    stamps = _timestamps(df[timestamp_column], timestamp_column)
    _check_value_range(values, df[id_column], stamps, target)
    values = values.astype(np.float32)
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
            known[grid] = infer_frequency(stamps[start:end], series_id)
        freqs.append(known[grid])
    frame = SeriesFrame(ids=ids, contexts=contexts, last_timestamps=last_timestamps, freqs=freqs)
    if frame.unobserved:
        warnings.warn(
            f"series {_shown([ids[i] for i in frame.unobserved])} have no observed {target!r} "
            "value; they are forecast at scale 1 (a flat forecast around 0)",
            stacklevel=3,
        )
    return frame


def _shown(ids: Sequence[Hashable], limit: int = 10) -> str:
    """``['a', 'b', ...]`` listing at most ``limit`` ids, with how many more there are."""
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return f"{[*ids[:limit]]}{more}"


def rename_series_in_warning(
    message: str, ids: Sequence[Hashable], reported: Collection[int] = ()
) -> str | None:
    """Replace the positional ``series [0, 3]`` of a pipeline warning with the series' ids.

    Returns None when every series the warning names is in ``reported`` (already warned about).
    """
    match = re.search(r"series \[([\d, ]*)\](?:\.\.\.)?", message)
    if match is None:
        return message
    positions = [int(p) for p in match.group(1).split(",") if p.strip()]
    if positions and set(positions) <= set(reported):
        return None
    named = f"series {_shown([ids[p] for p in positions if p < len(ids)])}"
    return message[: match.start()] + named + message[match.end() :]


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
