"""Frequency rules: inference (strict and DST-tolerant), base names, seasonality, periods."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from chronos_pkg.frequency import (
    base_frequency,
    infer_frequency,
    period_freq,
    seasonality_from_freq,
)


def test_infer_frequency_survives_an_irregular_step():
    stamps = pd.date_range("2020-01-01", periods=500, freq="h")
    stamps = stamps.delete(200)  # a DST-like gap
    assert infer_frequency(stamps.to_numpy(), tolerate_gaps=True) == "h"
    with pytest.raises(ValueError, match="at least 3"):
        infer_frequency(stamps[:2].to_numpy(), tolerate_gaps=True)


def test_infer_frequency_is_strict_by_default_and_names_the_series():
    stamps = pd.date_range("2020-01-01", periods=500, freq="h").delete(200)
    with pytest.raises(ValueError, match="series 'a'.*irregular"):
        infer_frequency(stamps, series_id="a")
    assert infer_frequency(pd.date_range("2020-01-01", periods=3, freq="D")) == "D"


@pytest.mark.parametrize(
    "freq, expected",
    [
        ("W-SUN", "W"),
        ("MS", "ME"),
        ("QS-OCT", "QE"),
        ("YS-JAN", "YE"),
        ("15min", "min"),
        ("H", "h"),
    ],
)
def test_base_frequency(freq, expected):
    assert base_frequency(freq) == expected


@pytest.mark.parametrize(
    "freq, expected",
    [
        ("h", 24),
        ("H", 24),
        ("2h", 12),
        ("15min", 96),
        ("30min", 48),
        ("7min", 1),
        ("s", 3600),
        ("D", 1),
        ("B", 5),
        ("W", 1),
        ("W-SUN", 1),
        ("W-MON", 1),
        ("MS", 12),
        ("ME", 12),
        ("M", 12),
        ("QS", 4),
        ("QS-OCT", 4),
        ("QE-DEC", 4),
        ("YS", 1),
        ("YS-JAN", 1),
        ("8ms", 1),
    ],
)
def test_seasonality_from_freq(freq, expected, caplog):
    with caplog.at_level(logging.WARNING):
        assert seasonality_from_freq(freq) == expected


def test_seasonality_rejects_unknown_frequency():
    with pytest.raises(ValueError, match="frequency"):
        seasonality_from_freq("fortnightly")


def test_period_freq_maps_start_offsets():
    assert period_freq("MS") == "M"
    assert period_freq("QS-OCT") == "Q"
    assert period_freq("YS-JAN") == "Y"
    assert period_freq("h") == "h"
    assert period_freq("W-SUN") == "W-SUN"
