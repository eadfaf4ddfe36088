"""Baselines: hand-checked naive forecasts, published Seasonal Naive numbers, statsforecast and
GluonTS deep models through the same ``predict_quantiles`` protocol."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from chronos_pkg.eval.baselines import (
    GluonTSDeepBaseline,
    Naive,
    SeasonalNaive,
    StatsForecastBaseline,
    fill_missing,
    make_baseline,
)
from chronos_pkg.eval.datasets import (
    BenchmarkConfig,
    load_benchmark_configs,
    load_dataset,
    series_from_table,
)
from chronos_pkg.eval.harness import OverBudget, evaluate_dataset

NAN = float("nan")


LEVELS = (0.1, 0.5, 0.9)


def test_seasonal_naive_repeats_last_season():
    model = SeasonalNaive(season_length=3)
    quantiles, mean = model.predict_quantiles([torch.arange(1.0, 8.0)], 5, LEVELS)
    # last season of 1..7 is (5, 6, 7)
    assert mean[0].tolist() == [5.0, 6.0, 7.0, 5.0, 6.0]
    assert quantiles.shape == (1, 5, 3)
    assert torch.equal(quantiles[..., 0], quantiles[..., 2])


def test_seasonal_naive_imputes_and_handles_short_history():
    model = SeasonalNaive(season_length=4)
    context = np.array([NAN, 2.0, NAN, 4.0, NAN, NAN])  # imputed: 2, 2, 2, 4, 4, 4
    assert model.forecast(context, 4).tolist() == [2.0, 4.0, 4.0, 4.0]
    # shorter than a season: mean of the imputed history (1, 1, 5), as GluonTS
    assert model.forecast(np.array([1.0, NAN, 5.0]), 2) == pytest.approx([7 / 3, 7 / 3])
    assert Naive().predict_quantiles([torch.tensor([1.0, 9.0])], 2, LEVELS)[1].tolist() == [[9, 9]]
    np.testing.assert_array_equal(fill_missing(np.array([NAN, 1.0, NAN])), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="season_length"):
        SeasonalNaive(season_length=0)


def test_seasonal_naive_takes_season_from_frequency():
    model = SeasonalNaive().fit([], freq="MS")
    assert model.season_length == 12
    assert SeasonalNaive(season_length=2).fit([], freq="MS").season_length == 2


def test_make_baseline_names():
    assert isinstance(make_baseline("naive"), Naive)
    assert isinstance(make_baseline("auto-ets"), StatsForecastBaseline)
    assert isinstance(make_baseline("dlinear"), GluonTSDeepBaseline)
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baseline("prophet")


def published_seasonal_naive(reference_dir) -> pd.DataFrame:
    frames = [
        pd.read_csv(reference_dir / f"seasonal-naive-{b}.csv") for b in ("in-domain", "zero-shot")
    ]
    return pd.concat(frames).set_index("dataset")


def test_seasonal_naive_reproduces_published_numbers(shared_data_dir):
    """Every dataset whose data matches the published one gives the published MASE and WQL."""
    reference_dir = shared_data_dir.parent / "reference"
    if not reference_dir.is_dir():
        pytest.skip(f"no published reference results at {reference_dir}")
    manifest = json.loads((shared_data_dir / "manifest.json").read_text())["datasets"]
    published = published_seasonal_naive(reference_dir)
    matching = [
        c
        for c in load_benchmark_configs("all")
        if manifest.get(c.name, {}).get("matches_published")
    ]
    # every dataset the manifest says reproduces the published data is a benchmark config here
    published_data = {name for name, entry in manifest.items() if entry.get("matches_published")}
    assert {c.name for c in matching} == published_data
    assert {"exchange_rate", "m4_yearly", "monash_rideshare"} <= published_data
    model = SeasonalNaive()
    for config in matching:
        scores = evaluate_dataset(model, config, load_dataset(config, shared_data_dir), 100_000)
        for metric in ("MASE", "WQL"):
            expected = published.loc[config.name, metric]
            assert scores[metric] == pytest.approx(expected, rel=1e-3), (config.name, metric)


def toy_table(n_series=3, length=60, freq="MS", seed=0):
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    t = np.arange(length)
    targets = [
        (20 + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, length)).tolist()
        for _ in range(n_series)
    ]
    targets[0][10] = None  # a missing value
    stamps = pd.date_range("2000-01-01", periods=length, freq=freq).to_numpy()
    return pa.table(
        {
            "id": [str(i) for i in range(n_series)],
            "timestamp": [stamps] * n_series,
            "target": targets,
        }
    )


@pytest.mark.parametrize("name", ["auto-ets", "auto-theta"])
def test_statsforecast_baseline_quantiles(name):
    pytest.importorskip("statsforecast")
    data = series_from_table("toy", toy_table())
    model = StatsForecastBaseline(name, n_jobs=1, max_history=40).fit(data.targets, freq=data.freq)
    assert model.season_length == 12
    contexts = [torch.as_tensor(t[:-6]) for t in data.targets]
    quantiles, mean = model.predict_quantiles(contexts, 6, (0.1, 0.5, 0.9))
    assert quantiles.shape == (3, 6, 3) and mean.shape == (3, 6)
    assert torch.isfinite(quantiles).all()
    assert (quantiles[..., 0] <= quantiles[..., 1]).all() and (
        quantiles[..., 1] <= quantiles[..., 2]
    ).all()
    assert torch.allclose(quantiles[..., 1], mean)
    config = BenchmarkConfig(
        "zero-shot", "toy", "repo", offset=-6, prediction_length=6, num_rolls=1
    )
    assert np.isfinite(evaluate_dataset(model, config, data, 100)["MASE"])


def test_series_time_limit_falls_back_to_seasonal_naive_and_counts():
    pytest.importorskip("statsforecast")
    data = series_from_table("toy", toy_table(n_series=3, length=200))
    contexts = [t[:-6] for t in data.targets]
    batch = StatsForecastBaseline("auto-ets", n_jobs=1).fit(data.targets, freq=data.freq)
    expected, _ = batch.predict_quantiles(contexts, 6, (0.1, 0.5, 0.9))
    each = StatsForecastBaseline("auto-ets", n_jobs=2, series_time_limit=60)
    each.fit(data.targets, freq=data.freq)
    fitted, _ = each.predict_quantiles(contexts, 6, (0.1, 0.5, 0.9))
    torch.testing.assert_close(fitted, expected, rtol=1e-4, atol=1e-4)  # same model, same fit
    assert each.report() == {"series_time_limit_s": 60, "fallback_to_seasonal_naive": {}}

    hurried = StatsForecastBaseline("auto-arima", n_jobs=2, series_time_limit=1e-4)
    hurried.fit(data.targets, freq=data.freq)
    quantiles, mean = hurried.predict_quantiles(contexts, 6, (0.1, 0.5, 0.9))
    assert hurried.report()["fallback_to_seasonal_naive"] == {"timeout": 3}
    naive, _ = SeasonalNaive().fit(data.targets, freq=data.freq).predict_quantiles(contexts, 6)
    torch.testing.assert_close(mean, naive[..., 0])  # Seasonal Naive's point forecast
    hurried.fit(data.targets, freq=data.freq)
    assert hurried.report()["fallback_to_seasonal_naive"] == {}  # counted per dataset
    with pytest.raises(ValueError, match="series_time_limit"):
        StatsForecastBaseline("auto-arima", series_time_limit=0)


def test_series_cache_resumes_inside_a_dataset(tmp_path, monkeypatch):
    """Forecasts stored per series are reused by a rerun (no refit), and the results are the same
    as a fresh fit; a different setting (time limit) never reuses a stored forecast."""
    pytest.importorskip("statsforecast")
    import chronos_pkg.eval.baselines as baselines

    data = series_from_table("toy", toy_table(n_series=3, length=120))
    contexts = [t[:-6] for t in data.targets]
    first = StatsForecastBaseline("auto-ets", n_jobs=1, series_time_limit=60, cache_dir=tmp_path)
    first.fit(data.targets, freq=data.freq)
    expected, expected_mean = first.predict_quantiles(contexts, 6, (0.1, 0.5, 0.9))
    assert len(list(tmp_path.glob("*.npz"))) == 3

    def no_pool(method):
        raise AssertionError("a cached series was fitted again")

    monkeypatch.setattr(baselines.multiprocessing, "get_context", no_pool)
    again = StatsForecastBaseline("auto-ets", n_jobs=1, series_time_limit=60, cache_dir=tmp_path)
    again.fit(data.targets, freq=data.freq)
    quantiles, mean = again.predict_quantiles(contexts, 6, (0.1, 0.5, 0.9))
    torch.testing.assert_close(quantiles, expected)
    torch.testing.assert_close(mean, expected_mean)
    other = StatsForecastBaseline("auto-ets", n_jobs=1, series_time_limit=30, cache_dir=tmp_path)
    other.fit(data.targets, freq=data.freq)
    with pytest.raises(AssertionError, match="fitted again"):
        other.predict_quantiles(contexts, 6, (0.1, 0.5, 0.9))


def test_series_cache_round_trip_and_keys(tmp_path):
    from chronos_pkg.eval.series_cache import SeriesCache

    cache = SeriesCache(tmp_path / "c")
    values = np.arange(10.0)
    key = SeriesCache.key(values, 6, 12, "AutoARIMA", [80], 20.0)
    assert cache.load(key) is None
    assert key != SeriesCache.key(values, 6, 12, "AutoARIMA", [80], 30.0)
    assert key != SeriesCache.key(values + 1e-9, 6, 12, "AutoARIMA", [80], 20.0)
    cache.save(key, {"mean": np.ones(6), "lo-80": np.zeros(6)}, "timeout")
    forecast, status = cache.load(key)
    assert status == "timeout" and sorted(forecast) == ["lo-80", "mean"]
    np.testing.assert_array_equal(forecast["mean"], np.ones(6))
    assert not list((tmp_path / "c").glob(".*tmp*"))  # written atomically, no leftovers
    with pytest.raises(ValueError, match="__status__"):
        cache.save(key, {"__status__": np.ones(1)}, "fitted")


def test_statsforecast_fits_only_the_last_points():
    model = StatsForecastBaseline("auto-ets", max_history=5)
    frame = model._frame([np.arange(20.0), np.array([NAN, 1.0, NAN])])
    assert frame.groupby("unique_id")["y"].apply(list).tolist() == [
        [15.0, 16.0, 17.0, 18.0, 19.0],
        [1.0, 1.0, 1.0],
    ]


def test_statsforecast_rejects_unknown_model():
    with pytest.raises(ValueError, match="unknown statsforecast"):
        StatsForecastBaseline("auto-ces")


def test_deep_baseline_trains_and_forecasts_on_cpu():
    pytest.importorskip("lightning")
    pytest.importorskip("gluonts.torch")
    data = series_from_table("toy", toy_table(length=48))
    model = GluonTSDeepBaseline(
        "dlinear", max_epochs=1, num_batches_per_epoch=2, accelerator="cpu", context_multiple=2
    )
    with pytest.raises(ValueError, match="fit"):
        model.predict_quantiles([torch.ones(10)], 6, LEVELS)
    config = BenchmarkConfig(
        "zero-shot", "toy", "repo", offset=-6, prediction_length=6, num_rolls=1
    )
    scores = evaluate_dataset(model, config, data, batch_size=2)
    assert np.isfinite(scores["MASE"]) and scores["WQL"] > 0
    contexts = [torch.as_tensor(t[:-6]) for t in data.targets]
    quantiles, _ = model.predict_quantiles(contexts, 6, LEVELS, start_timestamps=data.starts)
    assert quantiles.shape == (3, 6, 3)
    assert (quantiles[..., 0] <= quantiles[..., 2]).all()
    report = model.report()
    assert report["epochs"] == 1 and report["batches"] == 2
    assert report["train_seconds"] > 0 and report["predict_seconds"] > 0


def test_deep_baseline_over_its_time_limit_raises_over_budget():
    pytest.importorskip("lightning")
    pytest.importorskip("gluonts.torch")
    data = series_from_table("toy", toy_table(length=48))
    model = GluonTSDeepBaseline(
        "dlinear",
        max_epochs=1000,
        num_batches_per_epoch=2,
        context_multiple=2,
        accelerator="cpu",
        time_limit=0.5,
    )
    with pytest.raises(OverBudget, match=r"over budget: trained \d+ of 1000 epochs .*limit 0.5 s"):
        model.fit(data.targets, freq="D", prediction_length=6)
    assert model.predictor is None  # no half-trained model is scored
    assert model.report()["time_limit_s"] == 0.5 and model.report()["epochs"] < 1000
    with pytest.raises(ValueError, match="time_limit"):
        GluonTSDeepBaseline("dlinear", time_limit=0)


def test_deep_baseline_with_early_stopping_validates_on_the_held_out_tail(monkeypatch):
    """The paper's protocol: training sees each series without its last prediction_length
    points, validation the whole series; training stops once the validation loss stalls."""
    pytest.importorskip("lightning")
    pytest.importorskip("gluonts.torch")
    from gluonts.torch.model.estimator import PyTorchLightningEstimator

    seen = {}
    original = PyTorchLightningEstimator.train_model

    def spy(self, training_data, validation_data=None, **kwargs):
        seen["train"] = [len(e["target"]) for e in training_data]
        seen["validation"] = [len(e["target"]) for e in validation_data]
        return original(self, training_data, validation_data=validation_data, **kwargs)

    monkeypatch.setattr(PyTorchLightningEstimator, "train_model", spy)
    data = series_from_table("toy", toy_table(length=48))
    model = GluonTSDeepBaseline(
        "dlinear",
        max_epochs=200,
        num_batches_per_epoch=2,
        context_multiple=2,
        accelerator="cpu",
        early_stopping_patience=1,
        time_limit=600,
    )
    model.fit(data.targets, freq="D", prediction_length=6)
    assert seen["validation"] == [len(t) for t in data.targets]
    assert seen["train"] == [len(t) - 6 for t in data.targets]
    report = model.report()
    assert report["early_stopping_patience"] == 1
    assert report["stopped_early"] and report["epochs"] < 200  # no over-budget error either
    with pytest.raises(ValueError, match="early_stopping_patience"):
        GluonTSDeepBaseline("dlinear", early_stopping_patience=0)


@pytest.mark.parametrize(
    "inputs, error, match",
    [
        ([np.array([1.0, np.inf])], ValueError, "series 0: contains \\+/-inf"),
        ([np.ones(3), np.ones((2, 2))], ValueError, "series 1: expected a 1-D series"),
        ("abc", TypeError, "got a string"),
        ([], ValueError, "inputs is empty"),
    ],
)
def test_baselines_normalise_inputs_like_the_pipelines(inputs, error, match):
    """inputs.py is the one place inputs are normalised: baselines reject what pipelines do."""
    from chronos_pkg.inputs import to_context_tensor

    with pytest.raises(error, match=match):
        to_context_tensor(inputs)
    with pytest.raises(error, match=match):
        SeasonalNaive().predict_quantiles(inputs, prediction_length=2)


def test_baselines_see_each_series_unpadded_in_float64():
    short, long = np.array([1.0, 2.0, 3.0 + 1e-9]), np.arange(30.0)
    quantiles, mean = SeasonalNaive(season_length=4).predict_quantiles(
        [short, torch.from_numpy(long)], prediction_length=2, quantile_levels=[0.5]
    )
    assert mean[0].tolist() == pytest.approx([np.mean(short)] * 2)  # shorter than a season
    assert mean[1].tolist() == [26.0, 27.0]
