"""What every forecasting pipeline shares: the pipeline registry, loading dispatch and the
DataFrame adapter.

Subclasses (``ChronosPipeline``, ``ChronosBoltPipeline``) are built from their network
(``__init__(model)``), name the function that loads it (``load_model``, from the family's
``checkpoint`` module) and their settings (``chronos_config``), and implement
``save_pretrained``, ``predict``, ``_quantiles_of`` (``predict``'s output as quantiles and a
mean, for :meth:`BasePipeline.predict_quantiles`) and ``embed``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from chronos_pkg.inputs import DEFAULT_QUANTILE_LEVELS, ContextInput, check_quantile_levels
from chronos_pkg.loading import (
    DEFAULT_MODEL,
    default_model,
    pipeline_class_name,
    read_checkpoint_config,
    resolve_checkpoint,
)

if TYPE_CHECKING:
    import pandas as pd

    from chronos_pkg.dataframe import SeriesFrame

# The pipeline registry: class name in config.json ("chronos_pipeline_class") -> module that
# defines it, imported on first use. The names are the published format: never rename them.
PIPELINE_MODULES = {
    "ChronosPipeline": "chronos_pkg.t5.pipeline",
    "ChronosBoltPipeline": "chronos_pkg.bolt.pipeline",
}


def pipeline_class(name: str) -> type[BasePipeline]:
    """The pipeline class registered under ``name``."""
    if name not in PIPELINE_MODULES:
        raise ValueError(
            f"unknown chronos_pipeline_class {name!r}; known: {sorted(PIPELINE_MODULES)}"
        )
    return getattr(importlib.import_module(PIPELINE_MODULES[name]), name)


class BasePipeline(ABC):
    """Public face of a pretrained forecaster."""

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | os.PathLike | None = None,
        device_map: str | torch.device | None = None,
        torch_dtype: torch.dtype | str | None = None,
        **hub_kwargs: Any,
    ) -> BasePipeline:
        """Load a checkpoint directory, built-in model name or hub id.

        The pipeline class comes from the checkpoint's ``config.json``, so
        ``BasePipeline.from_pretrained`` (alias ``chronos_pkg.from_pretrained``) loads any family.
        Without ``path_or_id``: the built-in ``default`` model, or (with a warning) the best
        bundled one when this installation lacks it (:func:`chronos_pkg.loading.default_model`).
        """
        if path_or_id is None:
            path_or_id = default_model()
            if path_or_id != DEFAULT_MODEL:
                warnings.warn(
                    f"the built-in model {DEFAULT_MODEL!r} is not bundled in this installation; "
                    f"using {path_or_id!r}",
                    stacklevel=2,
                )
        directory = resolve_checkpoint(path_or_id, **hub_kwargs)
        config = read_checkpoint_config(directory)
        target = pipeline_class(pipeline_class_name(config))
        if not issubclass(target, cls):
            raise ValueError(
                f"{directory} holds a {target.__name__} checkpoint, not a {cls.__name__}; "
                "load it with chronos_pkg.from_pretrained"
            )
        return target(target.load_model(Path(directory), config, device_map, torch_dtype))

    # (directory, parsed config.json, device, dtype) -> the network ``__init__`` takes
    load_model: Callable[..., torch.nn.Module]

    @abstractmethod
    def __init__(self, model: torch.nn.Module) -> None:
        """A pipeline around a loaded network (kept as ``self.model``)."""
        self.model = model

    @property
    @abstractmethod
    def chronos_config(self) -> Any:
        """The checkpoint's ``chronos_config`` (``ChronosConfig`` or ``ChronosBoltConfig``)."""

    @property
    def model_context_length(self) -> int:
        """The most history steps the model reads; longer contexts are cut."""
        return self.chronos_config.context_length

    @property
    def model_prediction_length(self) -> int:
        """The horizon the model was trained for; longer ones are rolled out."""
        return self.chronos_config.prediction_length

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @abstractmethod
    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` + ``model.safetensors`` in the published format."""

    @abstractmethod
    def predict(
        self, inputs: ContextInput, prediction_length: int | None = None, **kwargs: Any
    ) -> torch.Tensor:
        """Forecasts (B, S, H): sample paths (Chronos-T5) or quantiles (Chronos-Bolt)."""

    def fit(
        self,
        inputs: ContextInput,
        prediction_length: int,
        *,
        validation_inputs: ContextInput | None = None,
        finetune_mode: str | None = None,
        learning_rate: float | None = None,
        num_steps: int | None = None,
        batch_size: int | None = None,
        context_length: int | None = None,
        time_limit: float | None = None,
        seed: int = 0,
        output_dir: str | os.PathLike | None = None,
        progress: bool = True,
        bf16: bool | None = None,
        validation_metric: str | None = None,
        guard_confidence: float | None = None,
    ) -> BasePipeline:
        """Fine-tune a copy of this model on ``inputs``; returns the new pipeline.

        Parameters
        ----------
        inputs : the series, in any form :meth:`predict_quantiles` accepts (NaN = missing).
        prediction_length : the horizon to fine-tune for (at most the model's).
        validation_inputs : series to select the weights on; by default the last
            ``prediction_length`` points of every input series are held out for it.
        finetune_mode : ``"decoder"`` (the encoder, the input embeddings and a Chronos-Bolt
            seasonal gate stay frozen; the decoder and the output head train),
            ``"decoder+gate"`` (the gate trains too) or ``"full"`` (every weight trains);
            ``None`` takes the default of :mod:`chronos_pkg.train.finetune`.
        learning_rate, num_steps, batch_size : AdamW peak rate (linear decay to 0), optimiser
            steps and windows per step; ``None`` takes the defaults of
            :mod:`chronos_pkg.train.finetune`.
        context_length : history steps per window (default: the model's).
        time_limit : stop after this many seconds (the best weights so far are kept).
        seed : windows and initialisation of randomness; the same seed gives the same model.
        output_dir : also ``save_pretrained`` the result there.
        progress : show a progress bar with the validation score.
        bf16 : run the training steps in bfloat16 autocast (validation stays float32); default:
            where the hardware has bfloat16 units (1.7x faster on the 2-core AMD EPYC with AVX-512
            BF16 this project runs on).
        validation_metric : what picks the kept weights on the validation points: ``"wql"``
            (weighted quantile loss of the forecasts in the series' units, as the benchmark
            scores) or ``"loss"`` (the training loss); ``None`` takes the default.
        guard_confidence : with ``"wql"``, the best weights are kept only if they beat this
            model in at least this share of resamples (with replacement) of the validation
            series, i.e. the gain does not rest on a few large series; 0 keeps any gain;
            ``None`` takes the default.

        Returns
        -------
        A new pipeline with the weights that scored best on the validation points: never worse
        there than this model (if nothing beats it, or the gain fails the guard, a copy of it
        comes back, with a warning).
        This pipeline is unchanged. ``pipeline.fit_result`` on the new one says what happened.
        """
        from chronos_pkg.train.finetune import fine_tune

        tuned, result = fine_tune(
            self,
            inputs,
            prediction_length,
            validation_inputs=validation_inputs,
            finetune_mode=finetune_mode,
            learning_rate=learning_rate,
            num_steps=num_steps,
            batch_size=batch_size,
            context_length=context_length,
            time_limit=time_limit,
            seed=seed,
            output_dir=output_dir,
            progress=progress,
            bf16=bf16,
            validation_metric=validation_metric,
            guard_confidence=guard_confidence,
        )
        tuned.fit_result = result
        return tuned

    def predict_quantiles(
        self,
        inputs: ContextInput,
        prediction_length: int | None = None,
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Forecasts at ``quantile_levels``: quantiles (B, H, Q) and a mean (B, H), float32.

        ``kwargs`` go to :meth:`predict`. Chronos-T5 takes the quantiles of its sample paths
        (linear interpolation, like ``torch.quantile``) and their mean; Chronos-Bolt returns the
        levels it predicts as they are, interpolates others linearly between them (clamped to
        its outermost ones, with a warning, outside their range) and gives the median as mean.
        """
        levels = check_quantile_levels(quantile_levels)
        forecast = self.predict(inputs, prediction_length, **kwargs)
        return self._quantiles_of(forecast, levels)

    @abstractmethod
    def _quantiles_of(
        self, forecast: torch.Tensor, levels: list[float]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantiles (B, H, Q) at ``levels`` and mean (B, H) of a :meth:`predict` output."""

    def _check_predict_kwargs(self, kwargs: dict[str, Any], caller: str) -> None:
        """Raise ``TypeError`` naming ``caller`` for options this pipeline's ``predict`` lacks,
        before any work is done."""
        accepted = {
            name
            for method in (self.predict, self.predict_quantiles)
            for name, p in inspect.signature(method).parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        } - {"inputs", "prediction_length", "quantile_levels"}
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            raise TypeError(
                f"{caller}() got unexpected keyword argument(s) {unknown}; "
                f"{type(self).__name__} accepts {sorted(accepted)}"
            )

    def predict_df(
        self,
        df: pd.DataFrame,
        prediction_length: int,
        id_column: str = "id",
        timestamp_column: str = "timestamp",
        target: str = "target",
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        **kwargs: Any,
    ) -> pd.DataFrame:
        """Forecast every series of a long-format DataFrame.

        Returns a long frame with ``id_column``, ``timestamp_column`` (future timestamps at each
        series' inferred frequency), ``predictions`` (the median), ``mean`` and one column per
        quantile level named like ``"0.1"``; series keep their order of first appearance.

        ``mean`` depends on the family: Chronos-T5 gives the average of its sample paths, which a
        few extreme samples can pull outside the 0.1-0.9 band; Chronos-Bolt predicts quantiles
        only, so its ``mean`` is the median. ``kwargs`` go to ``predict_quantiles``/``predict``
        (e.g. ``num_samples``, ``seed`` for T5); unknown ones raise ``TypeError`` before any work.
        Series without any observed value warn by their id and are forecast at scale 1.
        """
        from chronos_pkg.dataframe import split_series

        self._check_predict_kwargs(kwargs, "predict_df")
        check_quantile_levels(quantile_levels)
        series = split_series(
            df, id_column=id_column, timestamp_column=timestamp_column, target=target
        )
        return self.predict_series_frame(
            series,
            prediction_length,
            id_column=id_column,
            timestamp_column=timestamp_column,
            quantile_levels=quantile_levels,
            **kwargs,
        )

    def fit_df(
        self,
        df: pd.DataFrame,
        prediction_length: int,
        id_column: str = "id",
        timestamp_column: str = "timestamp",
        target: str = "target",
        **kwargs: Any,
    ) -> BasePipeline:
        """:meth:`fit` on the series of a long-format DataFrame (the columns and checks of
        :meth:`predict_df`; errors name the series by its id). ``kwargs`` go to :meth:`fit`."""
        from chronos_pkg.dataframe import split_series

        series = split_series(
            df, id_column=id_column, timestamp_column=timestamp_column, target=target
        )
        return self.fit_series_frame(series, prediction_length, **kwargs)

    def fit_series_frame(
        self, series: SeriesFrame, prediction_length: int, **kwargs: Any
    ) -> BasePipeline:
        """:meth:`fit` on series split by :func:`chronos_pkg.dataframe.split_series` (as the CLI
        has them), with errors naming the series by its id."""
        try:
            return self.fit(series.contexts, prediction_length, **kwargs)
        except ValueError as err:
            named = re.sub(
                r"^series (\d+)", lambda m: f"series {series.ids[int(m.group(1))]!r}", str(err)
            )
            raise ValueError(named) from err

    def predict_series_frame(
        self,
        series: SeriesFrame,
        prediction_length: int,
        id_column: str = "id",
        timestamp_column: str = "timestamp",
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        **kwargs: Any,
    ) -> pd.DataFrame:
        """:meth:`predict_df` on series already split by
        :func:`chronos_pkg.dataframe.split_series`, so a caller that has checked a table (the
        CLI does, before loading the model) does not parse it twice."""
        from chronos_pkg.dataframe import forecast_frame, rename_series_in_warning

        self._check_predict_kwargs(kwargs, "predict_series_frame")
        levels = check_quantile_levels(quantile_levels)
        asked = sorted(set(levels) | {0.5})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            quantiles, mean = self.predict_quantiles(
                series.contexts,
                prediction_length=prediction_length,
                quantile_levels=asked,
                **kwargs,
            )
        # positions mean nothing to a DataFrame user: name the ids, and say nothing again about
        # the empty series split_series has already named
        for warning in caught:
            message = rename_series_in_warning(str(warning.message), series.ids, series.unobserved)
            if message is not None:
                warnings.warn(message, warning.category, stacklevel=2)
        return forecast_frame(
            series,
            quantiles=quantiles,
            mean=mean,
            computed_levels=asked,
            quantile_levels=levels,
            prediction_length=prediction_length,
            id_column=id_column,
            timestamp_column=timestamp_column,
        )


def from_pretrained(
    path_or_id: str | os.PathLike | None = None,
    device_map: str | torch.device | None = None,
    torch_dtype: torch.dtype | str | None = None,
    **hub_kwargs: Any,
) -> BasePipeline:
    """Load any chronos_pkg checkpoint (T5 or Bolt), picking the pipeline from its config."""
    return BasePipeline.from_pretrained(
        path_or_id, device_map=device_map, torch_dtype=torch_dtype, **hub_kwargs
    )
