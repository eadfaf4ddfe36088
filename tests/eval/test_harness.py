"""The evaluation loop: the offset/num_rolls split, scoring, the resumable result writer."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from chronos_pkg.eval.datasets import BenchmarkConfig, load_benchmark_configs, series_from_table
from chronos_pkg.eval.harness import (
    OverBudget,
    ResultWriter,
    evaluate_dataset,
    run_benchmark,
    split_test_windows,
)
from tests.eval.conftest import make_dataset


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
    from chronos_pkg.eval.baselines import SeasonalNaive

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


def test_max_context_length_cuts_only_what_the_model_sees():
    from chronos_pkg.eval.baselines import SeasonalNaive

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


def test_over_budget_datasets_get_an_explicit_row(tmp_path, caplog):
    """A budgeted model that cannot finish a dataset leaves a row (no scores, the reason), not a
    gap; the file has a status column, and a rerun does not retry the dataset."""
    from chronos_pkg.eval.baselines import SeasonalNaive

    class Budgeted(SeasonalNaive):
        has_budget = True

        def fit(self, series, *, freq, prediction_length, **kwargs):
            if len(series[0]) < 25:  # stands in for training that overran its time limit
                raise OverBudget("over budget: trained 3 of 20 epochs in 61 s (limit 60 s)")
            return super().fit(series, freq=freq, prediction_length=prediction_length)

    table, _ = make_dataset(lengths=(40, 50))
    pq.write_table(table, tmp_path / "monash_m1_yearly.parquet")
    short, _ = make_dataset(lengths=(30, 30))
    pq.write_table(short, tmp_path / "monash_cif_2016.parquet")
    configs = load_benchmark_configs("zero-shot", ["monash_m1_yearly", "monash_cif_2016"])
    out = tmp_path / "deep.csv"
    with caplog.at_level(logging.WARNING):
        rows = run_benchmark(Budgeted(), "deep", configs, out, data_dir=tmp_path)
    frame = pd.read_csv(out).set_index("dataset")
    assert list(frame.columns) == ["model", "MASE", "WQL", "seconds", "status"]
    assert frame.loc["monash_m1_yearly", "status"] == "ok"
    assert np.isfinite(frame.loc["monash_m1_yearly", "MASE"])
    assert frame.loc["monash_cif_2016", "status"].startswith("over budget: trained 3 of 20")
    assert np.isnan(frame.loc["monash_cif_2016", ["MASE", "WQL"]].astype(float)).all()
    assert "monash_cif_2016: over budget" in caplog.text
    assert set(rows["status"]) == {"ok", "over budget: trained 3 of 20 epochs in 61 s (limit 60 s)"}
    assert run_benchmark(Budgeted(), "deep", configs, out, data_dir=tmp_path).empty


def test_result_writer_refuses_a_status_row_in_a_file_without_the_column(tmp_path):
    path = tmp_path / "results.csv"
    ResultWriter(path).write({"dataset": "a", "model": "m", "MASE": 1.0, "WQL": 0.5, "seconds": 1})
    with pytest.raises(ValueError, match="no status column for the row of b"):
        ResultWriter(path, status=True).write(
            {
                "dataset": "b",
                "model": "m",
                "MASE": None,
                "WQL": None,
                "seconds": 1,
                "status": "over budget",
            }
        )


def test_a_pipeline_is_scored_zero_shot_not_fine_tuned(tiny_seq2seq_dir, monkeypatch):
    """Pipelines have fit() (fine-tuning); the benchmark loop must not call it on them."""
    import chronos_pkg

    pipeline = chronos_pkg.from_pretrained(tiny_seq2seq_dir)
    monkeypatch.setattr(type(pipeline), "fit", lambda *a, **k: pytest.fail("fit was called"))
    table, _ = make_dataset()
    data = series_from_table("toy", table)
    config = BenchmarkConfig("zero-shot", "toy", "", -4, 4, 1)
    scores = evaluate_dataset(pipeline, config, data, batch_size=8, predict_kwargs={"seed": 0})
    assert np.isfinite(scores["WQL"])
