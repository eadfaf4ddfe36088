"""Pandas frequencies: inferring one from timestamps, and what a frequency implies.

One home for the frequency rules shared by the DataFrame adapter (a user's series must be
regular), the benchmark and validation data (a few DST gaps are tolerated), the metrics
(seasonal period) and the baselines (period frequencies for GluonTS).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

MIN_TIMESTAMPS = 3  # pandas needs three timestamps to infer a frequency
_STRETCH = 50  # length of the stretches searched for a regular one

# Seasonality per base frequency (GluonTS' defaults): a day for sub-daily data, a week of
# business days, a year for months and quarters, none for daily, weekly and yearly data.
_BASE_SEASONALITY: dict[str, int] = {
    "s": 3600,
    "min": 1440,
    "h": 24,
    "D": 1,
    "W": 1,
    "ME": 12,
    "B": 5,
    "QE": 4,
}
# Older pandas spellings of the same frequencies.
_ALIASES: dict[str, str] = {"S": "s", "T": "min", "H": "h", "M": "ME", "Q": "QE"}
# start-anchored offsets that pd.Period does not take, and their period frequency
_PERIOD_OF_START = {"MS": "M", "QS": "Q", "YS": "Y", "AS": "Y", "BMS": "M", "BQS": "Q", "BYS": "Y"}


def infer_frequency(
    timestamps: np.ndarray | pd.DatetimeIndex,
    series_id: Hashable | None = None,
    tolerate_gaps: bool = False,
) -> str:
    """Pandas frequency of one series' timestamps.

    With ``tolerate_gaps`` a few irregular steps (DST gaps) are accepted: the frequency of the
    first regular stretch of 50 steps is used. Raises ``ValueError`` (naming ``series_id`` when
    given) for fewer than 3 timestamps or irregular ones.
    """
    index = pd.DatetimeIndex(timestamps)
    which = "this series" if series_id is None else f"series {series_id!r}"
    if len(index) < MIN_TIMESTAMPS:
        raise ValueError(
            f"{which} has {len(index)} timestamps; at least {MIN_TIMESTAMPS} are needed to infer "
            "its frequency"
        )
    freq = pd.infer_freq(index)
    if tolerate_gaps:
        for start in range(0, len(index) - 2, _STRETCH):  # first regular stretch
            if freq is not None:
                break
            freq = pd.infer_freq(index[start : start + _STRETCH])
    if freq is None:
        raise ValueError(
            f"cannot infer a frequency for {which}: its timestamps are irregular "
            "(fill gaps with NaN targets at the missing timestamps)"
        )
    return freq


def base_frequency(freq: str) -> str:
    """The base name of a frequency: 'W-SUN' -> 'W', 'MS' -> 'ME', 'QS-OCT' -> 'QE', '15min' ->
    'min', 'YS-JAN' -> 'YE'."""
    name = pd.tseries.frequencies.to_offset(freq).name
    base = name.split("-")[0]
    # Start-anchored offsets count as their end-anchored twin; "S" alone is seconds.
    if len(base) >= 2 and base.endswith("S"):
        base = base[:-1] + "E"
    return _ALIASES.get(base, base)


def seasonality_from_freq(freq: str) -> int:
    """Seasonal period ``m`` of a pandas frequency string, as GluonTS' ``get_seasonality``.

    Examples: ``"h"`` -> 24, ``"15min"`` -> 96, ``"B"`` -> 5, ``"MS"`` -> 12, ``"QS-OCT"`` -> 4,
    ``"W-SUN"``/``"D"``/``"YS"`` -> 1. A multiple that does not divide the base period gives 1.
    """
    if not isinstance(freq, str) or not freq:
        raise ValueError(f"freq must be a non-empty pandas frequency string, got {freq!r}")
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError as err:
        raise ValueError(f"unknown pandas frequency {freq!r}") from err
    base = _BASE_SEASONALITY.get(base_frequency(offset.name), 1)
    seasonality, remainder = divmod(base, offset.n)
    if remainder:
        logger.warning(
            "frequency %s: %d does not divide %d; using seasonality 1", freq, offset.n, base
        )
        return 1
    return seasonality


def period_freq(freq: str) -> str:
    """A pandas frequency usable for ``pd.Period`` ('MS' -> 'M', 'QS-OCT' -> 'Q', 'YS' -> 'Y')."""
    try:
        pd.Period("2000-01-01", freq=freq)
        return freq
    except ValueError:
        offset = pd.tseries.frequencies.to_offset(freq)
        base = offset.name.split("-")[0]
        if base not in _PERIOD_OF_START:
            raise ValueError(f"no period frequency for {freq!r}") from None
        return f"{offset.n if offset.n > 1 else ''}{_PERIOD_OF_START[base]}"
