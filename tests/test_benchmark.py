"""Benchmark configs, data loading, the offset/num_rolls split, the loop and the resumable writer."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from chronos_pkg.benchmark import (
    BenchmarkConfig,
    DatasetNotFoundError,
    ResultWriter,
    SampleQuantileForecaster,
    evaluate_dataset,
    infer_frequency,
    load_benchmark_configs,
    load_dataset,
    run_benchmark,
    series_from_table,
    split_test_windows,
    supported_predict_kwargs,
)


class OracleModel:
    """Knows the future: forecasts are the true values (NaN -> 0) plus ``shift``."""

    def __init__(self, futures: dict[int, np.ndarray], shift: float = 0.0) -> None:
        self.futures = futures  # context length -> future values
        self.shift = shift
        self.calls: list[int] = []
        self.fitted: list[str] = []

    def fit(self, series, *, freq, prediction_length, **_):
        self.fitted.append(freq)

    def predict_quantiles(self, inputs, prediction_length, quantile_levels, **kwargs):
        self.calls.append(len(inputs))
        point = torch.stack(
            [torch.as_tensor(np.nan_to_num(self.futures[len(c)])) + self.shift for c in inputs]
        ).float()
        return point.unsqueeze(-1).repeat(1, 1, len(quantile_levels)), point


def make_dataset(lengths=(30, 41, 25), freq="D", seed=0) -> tuple[pa.Table, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    targets = [rng.normal(10, 2, size=n).astype(np.float32) for n in lengths]
    table = pa.table(
        {
            "id": [f"s{i}" for i in range(len(lengths))],
            "timestamp": [
                pd.date_range("2020-01-01", periods=n, freq=freq).to_numpy() for n in lengths
            ],
            "target": [t.tolist() for t in targets],
        }
    )
    return table, targets


def test_configs_cover_both_benchmarks():
    configs = load_benchmark_configs("all")
    assert len(configs) == 42
    assert len(load_benchmark_configs("in-domain")) == 15
    assert len(load_benchmark_configs("zero-shot")) == 27
    ettm = load_benchmark_configs("zero-shot", ["ETTm"])[0]
    assert (ettm.offset, ettm.prediction_length, ettm.num_rolls) == (-96, 24, 1)
    assert ettm.hf_repo == "autogluon/chronos_datasets_extra"
    with pytest.raises(ValueError, match="not in the in-domain"):
        load_benchmark_configs("in-domain", ["ETTm"])
    with pytest.raises(ValueError, match="benchmark must be"):
        load_benchmark_configs("everything")
    with pytest.raises(ValueError, match="no room"):
        BenchmarkConfig("zero-shot", "x", "repo", offset=-10, prediction_length=6, num_rolls=2)


def test_split_offset_and_rolls():
    series = np.arange(20.0)
    windows = split_test_windows([series], offset=-9, prediction_length=3, num_rolls=2)
    # window r covers [len + offset + r*h, len + offset + (r+1)*h) = [11, 14), [14, 17)
    np.testing.assert_array_equal(windows.targets, [[11, 12, 13], [14, 15, 16]])
    assert [len(c) for c in windows.contexts] == [11, 14]
    np.testing.assert_array_equal(windows.contexts[1], np.arange(14.0))
    with pytest.raises(ValueError, match="offset"):
        split_test_windows([series], offset=-5, prediction_length=3, num_rolls=2)
    with pytest.raises(ValueError, match="no history"):
        split_test_windows([np.arange(3.0)], offset=-3, prediction_length=3)


def test_series_from_table_splits_every_target_column():
    stamps = pd.date_range("2021-01-01", periods=4, freq="h").to_numpy()
    table = pa.table(
        {
            "id": ["a", "b"],
            "timestamp": [stamps, stamps],
            "load": [[1.0, None, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]],
            "temp": [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]],
        }
    )
    data = series_from_table("multi", table)
    assert data.freq == "h"
    assert data.item_ids == ["a_load", "b_load", "a_temp", "b_temp"]
    assert np.isnan(data.targets[0][1]) and data.targets[0].dtype == np.float32
    assert data.starts[0] == pd.Timestamp("2021-01-01")


def test_infer_frequency_survives_an_irregular_step():
    stamps = pd.date_range("2020-01-01", periods=500, freq="h")
    stamps = stamps.delete(200)  # a DST-like gap
    assert infer_frequency(stamps.to_numpy()) == "h"
    with pytest.raises(ValueError, match="at least 3"):
        infer_frequency(stamps[:2].to_numpy())


def test_load_dataset_from_parquet_dir(tmp_path):
    table, targets = make_dataset()
    pq.write_table(table, tmp_path / "monash_m1_yearly.parquet")
    config = load_benchmark_configs("zero-shot", ["monash_m1_yearly"])[0]
    data = load_dataset(config, tmp_path)
    assert data.freq == "D" and len(data.targets) == 3
    np.testing.assert_array_equal(data.targets[1], targets[1])
    with pytest.raises(DatasetNotFoundError):
        load_dataset(load_benchmark_configs("zero-shot", ["m5"])[0], tmp_path)


def test_load_dataset_from_hub_uses_datasets_loader(monkeypatch):
    datasets = pytest.importorskip("datasets")
    stamps = list(pd.date_range("2020-01-01", periods=5, freq="MS"))
    fake = datasets.Dataset.from_dict(
        {"id": ["x"], "timestamp": [stamps], "target": [[1.0, 2.0, 3.0, 4.0, 5.0]]}
    )
    calls = []

    def fake_load(repo, name, split):
        calls.append((repo, name, split))
        return fake

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    config = load_benchmark_configs("zero-shot", ["ETTh"])[0]
    data = load_dataset(config)
    assert calls == [("autogluon/chronos_datasets_extra", "ETTh", "train")]
    assert data.freq == "MS" and data.item_ids == ["x"]


def test_evaluate_dataset_perfect_and_shifted_forecasts():
    table, targets = make_dataset()
    data = series_from_table("toy", table)
    config = BenchmarkConfig(
        "zero-shot", "toy", "repo", offset=-6, prediction_length=3, num_rolls=2
    )
    windows = split_test_windows(data.targets, -6, 3, 2)
    futures = {len(c): t for c, t in zip(windows.contexts, windows.targets)}
    assert len(futures) == len(windows.contexts)  # context lengths identify windows
    perfect = OracleModel(futures)
    scores = evaluate_dataset(perfect, config, data, batch_size=4)
    assert scores == {"MASE": 0.0, "WQL": 0.0}
    assert perfect.calls == [4, 2] and perfect.fitted == ["D"]
    # shifting every forecast by 1: MASE = mean(1 / seasonal error), WQL = sum|e| / sum|y|
    shifted = evaluate_dataset(OracleModel(futures, shift=1.0), config, data, batch_size=100)
    scales = np.array([np.abs(np.diff(c)).mean() for c in windows.contexts])
    assert shifted["MASE"] == pytest.approx(np.mean(1 / scales))
    assert shifted["WQL"] == pytest.approx(windows.targets.size / np.abs(windows.targets).sum())


def test_evaluate_dataset_checks_the_model_output():
    class Wrong:
        def predict_quantiles(self, inputs, prediction_length, quantile_levels, **_):
            return torch.zeros(len(inputs), prediction_length, 2), torch.zeros(1)

    table, _ = make_dataset()
    config = BenchmarkConfig(
        "zero-shot", "toy", "repo", offset=-3, prediction_length=3, num_rolls=1
    )
    with pytest.raises(ValueError, match="shape"):
        evaluate_dataset(Wrong(), config, series_from_table("toy", table))


def test_result_writer_resumes(tmp_path):
    path = tmp_path / "out" / "results.csv"
    writer = ResultWriter(path)
    writer.write({"dataset": "a", "model": "m", "MASE": 1.0, "WQL": 0.5, "seconds": 0.1})
    again = ResultWriter(path)
    assert again.done == {("a", "m")}
    again.write({"dataset": "b", "model": "m", "MASE": 2.0, "WQL": 0.5, "seconds": 0.1})
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["dataset", "model", "MASE", "WQL", "seconds"]
    assert frame["dataset"].tolist() == ["a", "b"]


def test_run_benchmark_skips_missing_logs_failures_and_resumes(tmp_path, caplog):
    from chronos_pkg.baselines import SeasonalNaive

    table, _ = make_dataset(lengths=(40, 50))
    for name in ("monash_m1_yearly", "monash_cif_2016"):
        pq.write_table(table, tmp_path / f"{name}.parquet")
    (tmp_path / "monash_hospital.parquet").write_text("not parquet")
    configs = load_benchmark_configs(
        "zero-shot", ["monash_m1_yearly", "monash_hospital", "monash_cif_2016", "m5"]
    )
    out = tmp_path / "results.csv"
    with caplog.at_level(logging.INFO):
        rows = run_benchmark(SeasonalNaive(), "sn", configs, out, data_dir=tmp_path)
    assert rows["dataset"].tolist() == ["monash_cif_2016", "monash_m1_yearly"]  # CSV order
    assert "monash_hospital: failed" in caplog.text and "Traceback" in caplog.text
    assert "m5: dataset not available" in caplog.text
    assert pd.read_csv(out)["dataset"].tolist() == ["monash_cif_2016", "monash_m1_yearly"]
    rerun = run_benchmark(SeasonalNaive(), "sn", configs, out, data_dir=tmp_path)
    assert rerun.empty and len(pd.read_csv(out)) == 2


def test_sample_quantile_forecaster_uses_gluonts_rule():
    class Sampler:
        def predict(self, inputs, prediction_length, num_samples=20, seed=None):
            paths = torch.arange(num_samples, dtype=torch.float32).flip(0)
            return paths[None, :, None].repeat(len(inputs), 1, prediction_length)

    wrapped = SampleQuantileForecaster(Sampler())
    quantiles, mean = wrapped.predict_quantiles([torch.ones(5)], 2, (0.1, 0.5), num_samples=20)
    assert quantiles.shape == (1, 2, 2)
    assert quantiles[0, 0].tolist() == [2.0, 10.0]  # round(1.9), round(9.5) -> ranks 2 and 10
    assert mean[0, 0].item() == pytest.approx(9.5)
    kwargs = supported_predict_kwargs(wrapped, {"num_samples": 20, "batch_size": 8, "seed": 0})
    assert kwargs == {"num_samples": 20, "seed": 0}


def test_a_real_pipeline_goes_through_the_loop(tiny_seq2seq_dir):
    chronos_pkg = pytest.importorskip("chronos_pkg")
    if not hasattr(chronos_pkg, "from_pretrained"):
        pytest.skip("chronos_pkg.from_pretrained not available yet")
    from chronos_pkg.benchmark import build_forecaster

    forecaster = build_forecaster(str(tiny_seq2seq_dir), device="cpu")
    assert isinstance(forecaster, SampleQuantileForecaster)
    table, _ = make_dataset(lengths=(30, 41))
    config = BenchmarkConfig(
        "zero-shot", "toy", "repo", offset=-4, prediction_length=4, num_rolls=1
    )
    kwargs = supported_predict_kwargs(forecaster, {"num_samples": 5, "seed": 0})
    scores = evaluate_dataset(forecaster, config, series_from_table("toy", table), 2, kwargs)
    assert np.isfinite(scores["MASE"]) and scores["WQL"] > 0


def test_max_context_length_cuts_only_what_the_model_sees():
    from chronos_pkg.baselines import SeasonalNaive

    class Recorder(SeasonalNaive):
        lengths: list[int] = []

        def predict_quantiles(self, inputs, prediction_length, quantile_levels, **kwargs):
            self.lengths.extend(len(c) for c in inputs)
            return super().predict_quantiles(inputs, prediction_length, quantile_levels)

    table, _ = make_dataset()
    data = series_from_table("toy", table)
    config = BenchmarkConfig(
        "zero-shot", "toy", "repo", offset=-3, prediction_length=3, num_rolls=1
    )
    full = evaluate_dataset(SeasonalNaive(), config, data)
    model = Recorder()
    cut = evaluate_dataset(model, config, data, max_context_length=10)
    assert model.lengths == [10, 10, 10]
    assert cut == full  # seasonal errors still use the whole context
