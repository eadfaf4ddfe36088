"""Forecasters by name: the GluonTS sample-quantile rule and a real checkpoint through the loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chronos_pkg.eval.datasets import BenchmarkConfig, series_from_table
from chronos_pkg.eval.forecasters import SampleQuantileForecaster, supported_predict_kwargs
from chronos_pkg.eval.harness import evaluate_dataset
from tests.eval.conftest import make_dataset


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
    from chronos_pkg.eval.forecasters import build_forecaster

    forecaster = build_forecaster(str(tiny_seq2seq_dir), device="cpu")
    assert isinstance(forecaster, SampleQuantileForecaster)
    table, _ = make_dataset(lengths=(30, 41))
    config = BenchmarkConfig(
        "zero-shot", "toy", "repo", offset=-4, prediction_length=4, num_rolls=1
    )
    kwargs = supported_predict_kwargs(forecaster, {"num_samples": 5, "seed": 0})
    scores = evaluate_dataset(forecaster, config, series_from_table("toy", table), 2, kwargs)
    assert np.isfinite(scores["MASE"]) and scores["WQL"] > 0
