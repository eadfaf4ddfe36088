"""The repetition probe: Seasonal Naive solves it exactly, the last value does not."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from chronos_pkg.eval.baselines import Naive, SeasonalNaive
from chronos_pkg.train.repetition_probe import main, probe, repeated_cycles


class _KnownPeriod(SeasonalNaive):
    """Seasonal Naive told the probe's period (the probe's series carry no timestamps)."""

    def __init__(self, period: int) -> None:
        super().__init__(season_length=period)


def test_cycles_repeat_exactly_and_are_seeded():
    contexts, futures = repeated_cycles(12, 60, 24, num_series=5)
    assert len(contexts) == 5 and futures.shape == (5, 24)
    for context, future in zip(contexts, futures):
        series = np.concatenate([context, future])
        np.testing.assert_allclose(series[12:], series[:-12], rtol=1e-12, atol=1e-9)
        assert series.std() > 0
    again, _ = repeated_cycles(12, 60, 24, num_series=5)
    np.testing.assert_array_equal(again[0], contexts[0])


@pytest.mark.parametrize("period", [7, 24])
def test_seasonal_naive_scores_zero_and_last_value_does_not(period):
    exact = probe(_KnownPeriod(period), periods=(period,), context_length=100, num_series=8)
    last = probe(Naive(), periods=(period,), context_length=100, num_series=8)
    assert exact[period] < 1e-6
    assert last[period] > 0.5


def test_cli_prints_one_line_per_model(capsys):
    assert main(["--model", "naive", "--context-length", "64", "--num-series", "4"]) == 0
    line = capsys.readouterr().out.strip()
    assert '"model": "naive"' in line and '"96"' in line


def test_a_horizon_inside_a_flat_part_of_a_long_cycle_scores_finitely():
    """The scale is the context's spread, not the continuation's (which can be 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a division by a zero spread warns
        scores = probe(Naive(), periods=(96,), context_length=200, horizon=2, num_series=16)
    assert np.isfinite(scores[96]) and scores[96] >= 0
