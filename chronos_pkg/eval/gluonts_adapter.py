"""A GluonTS ``Predictor`` over any chronos_pkg pipeline, for GluonTS backtesting.

``gluonts`` is a core dependency of chronos_pkg (its evaluation semantics are the benchmark's),
so this adapter always imports::

    predictor = ChronosPredictor(chronos_pkg.from_pretrained(path), prediction_length=24)
    forecasts = list(predictor.predict(test_data.input))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from gluonts.dataset.common import Dataset
from gluonts.dataset.util import forecast_start
from gluonts.itertools import batcher
from gluonts.model.forecast import Forecast, QuantileForecast, SampleForecast
from gluonts.model.predictor import Predictor

from chronos_pkg.bolt.pipeline import ChronosBoltPipeline
from chronos_pkg.inputs import DEFAULT_QUANTILE_LEVELS

FORECAST_TYPES = ("quantile", "sample")


class ChronosPredictor(Predictor):
    """Wraps a pipeline (anything with ``predict_quantiles``; ``predict`` for samples).

    Parameters
    ----------
    pipeline : a chronos_pkg pipeline or baseline.
    prediction_length : forecast horizon H.
    forecast_type : ``"quantile"`` gives ``QuantileForecast`` with ``quantile_levels`` and the
        mean; ``"sample"`` gives ``SampleForecast`` from the pipeline's ``predict`` samples
        (B, S, H), as the published benchmark scores sample-based models.
    batch_size : series per pipeline call.
    predict_kwargs : passed to the pipeline on each call (e.g. ``num_samples``).
    """

    def __init__(
        self,
        pipeline: Any,
        prediction_length: int,
        forecast_type: str = "quantile",
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        batch_size: int = 256,
        predict_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if forecast_type not in FORECAST_TYPES:
            raise ValueError(
                f"forecast_type must be one of {FORECAST_TYPES}, got {forecast_type!r}"
            )
        if forecast_type == "sample" and (
            not hasattr(pipeline, "predict") or isinstance(pipeline, ChronosBoltPipeline)
        ):
            raise TypeError(f"{type(pipeline).__name__} does not predict sample paths")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(prediction_length=prediction_length)
        self.pipeline = pipeline
        self.forecast_type = forecast_type
        self.quantile_levels = tuple(float(q) for q in quantile_levels)
        self.batch_size = batch_size
        self.predict_kwargs = dict(predict_kwargs or {})

    def _forecasts(self, entries: list[dict]) -> list[Forecast]:
        contexts = [torch.as_tensor(np.asarray(e["target"], dtype=np.float32)) for e in entries]
        h = self.prediction_length
        if self.forecast_type == "sample":
            samples = self.pipeline.predict(contexts, prediction_length=h, **self.predict_kwargs)
            samples = torch.as_tensor(samples).float().cpu().numpy()  # (B, S, H)
            return [
                SampleForecast(samples=s, start_date=forecast_start(e), item_id=e.get("item_id"))
                for s, e in zip(samples, entries)
            ]
        quantiles, mean = self.pipeline.predict_quantiles(
            contexts,
            prediction_length=h,
            quantile_levels=self.quantile_levels,
            **self.predict_kwargs,
        )
        quantiles = torch.as_tensor(quantiles).float().cpu().numpy()  # (B, H, Q)
        mean = torch.as_tensor(mean).float().cpu().numpy()  # (B, H)
        keys = [str(q) for q in self.quantile_levels] + ["mean"]
        return [
            QuantileForecast(
                forecast_arrays=np.concatenate([q.T, m[None]], axis=0),
                start_date=forecast_start(e),
                forecast_keys=keys,
                item_id=e.get("item_id"),
            )
            for q, m, e in zip(quantiles, mean, entries)
        ]

    def predict(self, dataset: Dataset, **kwargs: Any) -> Iterator[Forecast]:
        """One forecast per entry of ``dataset`` (dicts with ``start`` and ``target``)."""
        for batch in batcher(dataset, batch_size=self.batch_size):
            yield from self._forecasts(list(batch))
