"""Metric functions against hand-computed values and, where installed, against GluonTS."""

from __future__ import annotations

import numpy as np
import pytest

from chronos_pkg.eval.metrics import (
    gluonts_sample_quantiles,
    mean_absolute_scaled_error,
    quantile_loss,
    seasonal_error,
    weighted_quantile_loss,
)

NAN = float("nan")


def test_quantile_loss_hand_computed():
    # y=10: f=8 under-forecasts by 2 -> 2*2*q; f=13 over-forecasts by 3 -> 2*3*(1-q)
    loss = quantile_loss(np.array([10.0, 10.0]), np.array([8.0, 13.0]), 0.9)
    np.testing.assert_allclose(loss, [2 * 2 * 0.9, 2 * 3 * 0.1])
    assert quantile_loss(np.array([5.0]), np.array([5.0]), 0.3)[0] == 0.0
    with pytest.raises(ValueError, match="quantile level"):
        quantile_loss(np.array([1.0]), np.array([1.0]), 1.0)


def test_weighted_quantile_loss_hand_computed_with_nan():
    target = np.array([[10.0, NAN], [-4.0, 2.0]])
    # levels 0.1 and 0.9; forecasts are the same for both levels
    forecast = np.array([[8.0, 100.0], [-4.0, 3.0]])
    quantiles = np.stack([forecast, forecast], axis=-1)
    # observed |y| sum = 16; errors: 10 vs 8 (under by 2), -4 exact, 2 vs 3 (over by 1)
    ql_01 = 2 * (2 * 0.1) + 2 * (1 * 0.9)
    ql_09 = 2 * (2 * 0.9) + 2 * (1 * 0.1)
    expected = (ql_01 / 16 + ql_09 / 16) / 2
    assert weighted_quantile_loss(target, quantiles, (0.1, 0.9)) == pytest.approx(expected)


def test_weighted_quantile_loss_rejects_bad_shapes_and_nan_forecasts():
    target = np.ones((2, 3))
    with pytest.raises(ValueError, match="levels"):
        weighted_quantile_loss(target, np.ones((2, 3, 2)), (0.1, 0.5, 0.9))
    with pytest.raises(ValueError, match="NaN"):
        weighted_quantile_loss(target, np.full((2, 3, 1), NAN), (0.5,))


def test_seasonal_error_with_season_and_nan():
    context = np.array([1.0, 5.0, 2.0, 9.0, 4.0, NAN, 7.0])
    # m=2 pairs: (1,2)=1, (5,9)=4, (2,4)=2, (9,nan) skipped, (4,7)=3 -> mean 2.5
    assert seasonal_error(context, 2) == pytest.approx(2.5)


def test_seasonal_error_short_history_falls_back_to_lag_one():
    assert seasonal_error(np.array([1.0, 4.0, 6.0]), 12) == pytest.approx(2.5)
    # m == length leaves no pair: undefined
    assert np.isnan(seasonal_error(np.array([1.0, 4.0, 6.0]), 3))
    assert np.isnan(seasonal_error(np.array([3.0]), 1))
    assert np.isnan(seasonal_error(np.array([NAN, 1.0, NAN]), 1))
    with pytest.raises(ValueError, match="seasonality"):
        seasonal_error(np.ones(4), 0)


def test_mase_skips_missing_targets_and_zero_scale_series():
    target = np.array([[3.0, NAN], [5.0, 5.0], [1.0, 2.0]])
    forecast = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    scales = np.array([2.0, 0.0, NAN])  # series 2 and 3 have no usable scale
    assert mean_absolute_scaled_error(target, forecast, scales) == pytest.approx(1.0)
    scales = np.array([2.0, 5.0, 1.0])
    # |errors|/scale: 1, 1, 1, 0, 1 -> mean 0.8
    assert mean_absolute_scaled_error(target, forecast, scales) == pytest.approx(0.8)


def test_metrics_match_gluonts_on_random_data_with_gaps(rng):
    """Same numbers as GluonTS' evaluate_forecasts (the published benchmark's evaluator)."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("gluonts")
    from gluonts.dataset.split import split
    from gluonts.ev.metrics import MASE, MeanWeightedSumQuantileLoss
    from gluonts.model.evaluation import evaluate_forecasts
    from gluonts.model.forecast import SampleForecast

    h, m, levels = 6, 4, [0.1, 0.5, 0.9]
    series = []
    for _ in range(12):
        values = rng.normal(10, 3, size=int(rng.integers(8, 40))).astype(np.float32)
        values[rng.random(len(values)) < 0.15] = np.nan
        series.append(values)
    series[0][:-h] = 5.0  # constant context: seasonal error 0
    samples = [rng.normal(10, 3, size=(20, h)).astype(np.float32) for _ in series]

    entries = [{"start": pd.Period("2020-01-01", freq="D"), "target": s} for s in series]
    _, template = split(entries, offset=-h)
    test_data = template.generate_instances(h, windows=1)
    forecasts = [
        SampleForecast(samples=s, start_date=pd.Period("2021-01-01", freq="D")) for s in samples
    ]
    expected = evaluate_forecasts(
        forecasts,
        test_data=test_data,
        metrics=[MASE(), MeanWeightedSumQuantileLoss(levels)],
        seasonality=m,
    ).iloc[0]

    target = np.stack([s[-h:] for s in series])
    quantiles = gluonts_sample_quantiles(np.stack(samples), levels)  # (N, H, Q), GluonTS' rule
    scales = np.array([seasonal_error(s[:-h], m) for s in series])
    assert mean_absolute_scaled_error(target, quantiles[..., 1], scales) == pytest.approx(
        expected["MASE[0.5]"], rel=1e-5
    )
    assert weighted_quantile_loss(target, quantiles, levels) == pytest.approx(
        expected["mean_weighted_sum_quantile_loss"], rel=1e-5
    )


def test_sample_quantiles_take_the_nearest_ranked_sample():
    samples = np.arange(20.0)[None, :, None][:, ::-1]  # (1, 20, 1), unsorted
    got = gluonts_sample_quantiles(samples, (0.1, 0.5, 0.9))[0, 0]
    # round(19 q): 1.9 -> 2, 9.5 -> 10 (half to even), 17.1 -> 17; no interpolation
    np.testing.assert_array_equal(got, [2.0, 10.0, 17.0])
    with pytest.raises(ValueError, match="samples"):
        gluonts_sample_quantiles(np.ones((2, 3)), (0.5,))
