"""The GluonTS Predictor adapter: quantile and sample forecasts usable by GluonTS' evaluator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("gluonts")

from chronos_pkg.eval.baselines import SeasonalNaive  # noqa: E402
from chronos_pkg.eval.gluonts_adapter import ChronosPredictor  # noqa: E402


class FakeSampler(SeasonalNaive):
    """Seasonal naive plus ``predict`` giving (B, S, H) samples around it."""

    def predict(self, inputs, prediction_length, num_samples=5):
        _, mean = self.predict_quantiles(inputs, prediction_length)
        offsets = torch.arange(num_samples, dtype=torch.float32)[None, :, None]
        return mean[:, None, :] + offsets


def entries():
    return [
        {"start": pd.Period("2020-01-01", freq="D"), "target": np.arange(10.0), "item_id": "a"},
        {"start": pd.Period("2020-03-01", freq="D"), "target": np.arange(5.0) * 2, "item_id": "b"},
    ]


def test_quantile_forecasts():
    predictor = ChronosPredictor(SeasonalNaive(), prediction_length=3, batch_size=1)
    forecasts = list(predictor.predict(entries()))
    assert len(forecasts) == 2
    first = forecasts[0]
    assert first.start_date == pd.Period("2020-01-11", freq="D")
    assert first.item_id == "a"
    np.testing.assert_allclose(first.quantile(0.5), [9.0, 9.0, 9.0])
    np.testing.assert_allclose(forecasts[1].mean, [8.0, 8.0, 8.0])


def test_sample_forecasts_and_gluonts_evaluation():
    from gluonts.dataset.split import split
    from gluonts.ev.metrics import MASE
    from gluonts.model.evaluation import evaluate_forecasts

    predictor = ChronosPredictor(
        FakeSampler(),
        prediction_length=2,
        forecast_type="sample",
        predict_kwargs={"num_samples": 3},
    )
    _, template = split(entries(), offset=-2)
    test_data = template.generate_instances(2)
    forecasts = list(predictor.predict(test_data.input))
    assert forecasts[0].samples.shape == (3, 2)
    # a: context 0..7, label 8, 9, median sample 7 + 1 = 8, seasonal error 1 -> 0, 1
    # b: context 0, 2, 4, label 6, 8, median sample 4 + 1 = 5, seasonal error 2 -> 0.5, 1.5
    metrics = evaluate_forecasts(forecasts, test_data=test_data, metrics=[MASE()], seasonality=1)
    assert metrics["MASE[0.5]"].iloc[0] == pytest.approx(0.75)


def test_bad_arguments():
    with pytest.raises(ValueError, match="forecast_type"):
        ChronosPredictor(SeasonalNaive(), prediction_length=2, forecast_type="point")
    with pytest.raises(TypeError, match="sample paths"):
        ChronosPredictor(SeasonalNaive(), prediction_length=2, forecast_type="sample")


def test_a_real_pipeline_gives_both_forecast_types(tiny_seq2seq_dir):
    import chronos_pkg

    pipeline = chronos_pkg.from_pretrained(tiny_seq2seq_dir, device_map="cpu")
    samples = ChronosPredictor(
        pipeline, 4, forecast_type="sample", predict_kwargs={"num_samples": 3}
    ).predict(entries())
    assert [f.samples.shape for f in samples] == [(3, 4), (3, 4)]
    quantiles = list(
        ChronosPredictor(pipeline, 4, predict_kwargs={"num_samples": 3}).predict(entries())
    )
    assert quantiles[1].quantile(0.9).shape == (4,)
    assert quantiles[1].start_date == pd.Period("2020-03-06", freq="D")
