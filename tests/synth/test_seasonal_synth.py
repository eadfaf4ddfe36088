"""SeasonalSynth: seeded, exactly periodic when noise-free, every shape kind well formed."""

from __future__ import annotations

import numpy as np
import pytest

from chronos_pkg.synth.seasonal_synth import SeasonalSynth, cycle_shape


def test_series_are_seeded_by_seed_and_index_only():
    synth = SeasonalSynth(length=256, seed=3)
    first = synth.sample(5)
    assert first.shape == (256,) and first.dtype == np.float32
    np.testing.assert_array_equal(SeasonalSynth(length=256, seed=3).sample(5), first)
    assert not np.array_equal(synth.sample(6), first)
    assert not np.array_equal(SeasonalSynth(length=256, seed=4).sample(5), first)
    assert all(np.isfinite(synth.sample(i)).all() for i in range(50))


def test_noise_free_series_repeat_their_period_exactly():
    """With one component, no noise, no trend and no modulation left to chance, the series is a
    cycle repeated exactly: some lag p <= max_period reproduces it (what Seasonal Naive copies)."""
    synth = SeasonalSynth(length=400, seed=0, second_share=0.0, noise_free_share=1.0)
    exact = 0
    for i in range(40):
        x = synth.sample(i).astype(np.float64)
        d = np.diff(x, 2)  # a linear trend leaves a periodic second difference
        lags = [
            p
            for p in range(2, synth.max_period + 1)
            if np.allclose(d[p:], d[:-p], atol=1e-4 * (np.abs(d).max() + 1e-9))
        ]
        exact += bool(lags)
    # the rest carry a random-walk level or a modulated amplitude, which break exactness
    assert exact >= 10


def test_periods_respect_min_cycles():
    synth = SeasonalSynth(length=100, max_period=500, min_cycles=4)
    assert synth.max_period == 25
    assert all(p <= 25 for p in synth.common)


@pytest.mark.parametrize("period", [2, 3, 7, 24, 96])
def test_cycle_shapes_are_standardised(period):
    rng = np.random.default_rng(period)
    for _ in range(30):
        shape = cycle_shape(period, rng)
        assert shape.shape == (period,)
        assert abs(shape.mean()) < 1e-9
        assert shape.std() == pytest.approx(1.0) or not shape.any()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"length": 4}, "length"),
        ({"min_cycles": 1}, "min_cycles"),
        ({"common_share": 1.5}, "common_share"),
        ({"max_noise": 0.0}, "max_noise"),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SeasonalSynth(**kwargs)
