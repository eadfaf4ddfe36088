"""Benchmark datasets: the packaged configs, tables with several target columns, parquet and hub."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chronos_pkg.eval.datasets import (
    BenchmarkConfig,
    DatasetNotFoundError,
    load_benchmark_configs,
    load_dataset,
    series_from_table,
)
from tests.eval.conftest import make_dataset


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
