"""Forecasters for the benchmark by name: a baseline or a checkpoint, scored as published.

:func:`build_forecaster` is what ``python -m evaluation.evaluate --model NAME`` and the
validation command call; the helpers say which ``predict`` options a forecaster takes and how
much history it reads.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

import torch

from chronos_pkg.eval.metrics import gluonts_sample_quantiles
from chronos_pkg.inputs import DEFAULT_QUANTILE_LEVELS

logger = logging.getLogger(__name__)


class SampleQuantileForecaster:
    """Scores a sample-based pipeline (``predict`` -> (B, S, H) samples) as the published
    benchmark did: quantiles are GluonTS ``SampleForecast`` quantiles of the raw samples (see
    :func:`chronos_pkg.eval.metrics.gluonts_sample_quantiles`), the mean is the sample mean."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def predict_quantiles(
        self,
        inputs: Sequence[torch.Tensor],
        prediction_length: int,
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantiles (B, H, Q) and mean (B, H) of the pipeline's samples; kwargs go to predict."""
        samples = self.pipeline.predict(inputs, prediction_length=prediction_length, **kwargs)
        samples = torch.as_tensor(samples).detach().to("cpu", torch.float32)  # (B, S, H)
        quantiles = gluonts_sample_quantiles(samples.numpy(), quantile_levels)
        return torch.from_numpy(quantiles), samples.mean(dim=1)


class FineTunedForecaster:
    """A pipeline fine-tuned per dataset (``pipeline.fit``) on the history the benchmark hands
    to ``fit`` (everything before the first test window), then scored like the pipeline.

    ``fit_kwargs`` go to ``pipeline.fit``; ``wrap`` turns a tuned pipeline into the scored
    forecaster (e.g. :class:`SampleQuantileForecaster` for Chronos-T5). :meth:`report` gives
    the last dataset's fine-tuning summary for the result's record. A dataset whose history is
    too short to fine-tune on (no training window or nothing to validate on) is scored zero-shot,
    and its record says so.
    """

    def __init__(self, pipeline: Any, wrap: Any = None, **fit_kwargs: Any) -> None:
        self.base = pipeline
        self.wrap = wrap or (lambda p: p)
        self.fit_kwargs = fit_kwargs
        self.current: Any = None
        self._report: dict[str, Any] = {}

    @property
    def pipeline(self) -> Any:
        """The pipeline of the last ``fit`` (the untuned one before any)."""
        return self.base if self.current is None else self.current

    def fit(self, series: Sequence[Any], *, prediction_length: int, **_: Any) -> None:
        from chronos_pkg.train.finetune import TooShortToFineTune

        horizon = min(int(prediction_length), self.base.model_prediction_length)
        try:
            tuned = self.base.fit(list(series), horizon, progress=False, **self.fit_kwargs)
        except TooShortToFineTune as err:  # scored zero-shot, and the record says why
            self.current = None
            self._report = {"fine_tune_skipped": str(err)}
            return
        result = tuned.fit_result
        self.current = tuned
        self._report = {
            "fine_tune_seconds": round(result.seconds, 1),
            "fine_tune_steps": result.steps,
            "fine_tune_best_step": result.best_step,
            "fine_tune_loss": [round(result.start_loss, 5), round(result.best_loss, 5)],
            "fine_tune_metric": result.metric,
            "fine_tune_confidence": result.confidence,
        }

    def predict_quantiles(self, inputs: Any, prediction_length: int, *args: Any, **kwargs: Any):
        return self.wrap(self.pipeline).predict_quantiles(
            inputs, prediction_length, *args, **kwargs
        )

    def report(self) -> dict[str, Any]:
        return dict(self._report)


def build_forecaster(
    model: str,
    device: str | None = None,
    torch_dtype: str | None = None,
    baseline_kwargs: dict[str, Any] | None = None,
    sample_quantile_rule: str = "gluonts",
    fine_tune: dict[str, Any] | None = None,
) -> Any:
    """A baseline by name (see :data:`chronos_pkg.baselines.BASELINE_NAMES`) or a chronos_pkg
    checkpoint (path or hub id) loaded on ``device``.

    ``sample_quantile_rule``: for sample-based checkpoints (Chronos-T5), ``"gluonts"`` scores the
    samples' GluonTS quantiles as the published benchmark (:class:`SampleQuantileForecaster`);
    ``"pipeline"`` uses the pipeline's own ``predict_quantiles`` (linear interpolation).
    ``fine_tune``: fine-tune the checkpoint per dataset with these ``pipeline.fit`` arguments
    (:class:`FineTunedForecaster`).
    """
    from chronos_pkg.eval.baselines import BASELINE_NAMES, make_baseline

    if sample_quantile_rule not in ("gluonts", "pipeline"):
        raise ValueError(
            f"sample_quantile_rule must be 'gluonts' or 'pipeline', got {sample_quantile_rule!r}"
        )
    if model in BASELINE_NAMES:
        if fine_tune is not None:
            raise ValueError(f"{model} is a baseline: only checkpoints can be fine-tuned")
        return make_baseline(model, **(baseline_kwargs or {}))
    from chronos_pkg.base import from_pretrained
    from chronos_pkg.t5.pipeline import ChronosPipeline

    pipeline = from_pretrained(model, device_map=device, torch_dtype=torch_dtype)
    sampled = sample_quantile_rule == "gluonts" and isinstance(pipeline, ChronosPipeline)
    if fine_tune is not None:
        wrap = SampleQuantileForecaster if sampled else None
        return FineTunedForecaster(pipeline, wrap, **fine_tune)
    if sampled:
        return SampleQuantileForecaster(pipeline)
    return pipeline


def supported_predict_kwargs(forecaster: Any, candidates: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``candidates`` that the forecaster's ``predict`` (or, without one,
    ``predict_quantiles``) names as parameters; the rest are dropped with a debug message."""
    target = getattr(forecaster, "pipeline", forecaster)  # look through SampleQuantileForecaster
    method = getattr(target, "predict", None) or target.predict_quantiles
    params = inspect.signature(method).parameters
    kept = {k: v for k, v in candidates.items() if k in params and v is not None}
    dropped = sorted(set(candidates) - set(kept))
    if dropped:
        logger.debug("%s does not take %s", type(forecaster).__name__, dropped)
    return kept


def model_context_length(forecaster: Any) -> int | None:
    """The most history steps a chronos_pkg pipeline reads (``model_context_length``), or None."""
    target = getattr(forecaster, "pipeline", forecaster)
    length = getattr(target, "model_context_length", None)
    return int(length) if isinstance(length, int) else None
