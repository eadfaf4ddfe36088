"""SeasonalSynth: seeded, exactly periodic when noise-free, every shape kind well formed."""

from __future__ import annotations

import numpy as np
import pytest

from chronos_pkg.synth.seasonal_synth import SeasonalSynth, cycle_shape, resample_cycle


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


EXTRAS = {
    "fractional_share": 0.3,
    "growth_share": 0.3,
    "shift_share": 0.3,
    "spike_share": 0.3,
    "intermittent_share": 0.2,
}


def test_extras_are_seeded_and_leave_other_series_untouched():
    plain = SeasonalSynth(length=300, seed=2)
    mixed = SeasonalSynth(length=300, seed=2, **EXTRAS)
    series = [mixed.sample(i) for i in range(60)]
    assert all(np.isfinite(x).all() and x.shape == (300,) for x in series)
    np.testing.assert_array_equal(SeasonalSynth(length=300, seed=2, **EXTRAS).sample(7), series[7])
    # the extras draw from their own generator: some series come out exactly as without them
    same = sum(np.array_equal(plain.sample(i), series[i]) for i in range(60))
    assert 0 < same < 60


def test_intermittent_series_are_counts_with_zeros():
    synth = SeasonalSynth(length=400, seed=0, intermittent_share=1.0)
    for i in range(10):
        x = synth.sample(i)
        assert (x >= 0).all() and np.array_equal(x, np.round(x))
    assert any((synth.sample(i) == 0).mean() > 0.3 for i in range(10))


def test_fractional_periods_are_not_whole_numbers():
    """A cycle of a real period: no integer lag repeats it, yet it is close to periodic."""
    rng = np.random.default_rng(0)
    shape = cycle_shape(25, rng)
    x = resample_cycle(shape, 24.5, 490, rng)
    assert not np.allclose(x[24:], x[:-24]) and not np.allclose(x[25:], x[:-25])
    np.testing.assert_allclose(x[49:], x[:-49], atol=1e-9)  # two cycles = 49 steps exactly


@pytest.mark.parametrize("name", sorted(EXTRAS))
def test_extra_shares_are_checked(name):
    with pytest.raises(ValueError, match=name):
        SeasonalSynth(**{name: 1.5})
