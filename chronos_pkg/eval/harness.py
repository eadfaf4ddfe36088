"""The benchmark's evaluation loop: test windows, one scoring function, the result file.

Any forecaster with ``predict_quantiles(contexts, prediction_length, quantile_levels, **kwargs)
-> (quantiles (B, H, Q), mean (B, H))`` goes through :func:`evaluate_dataset`, so our pipelines
and the baselines are scored by the same code. A forecaster may also define
``fit(series, *, freq, prediction_length, start_timestamps)``, called once per dataset on the
history before the first test window (baselines set their season length or train there), and
``uses_timestamps = True`` to receive ``start_timestamps`` (the start of each context) in
``predict_quantiles``.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from chronos_pkg.base import BasePipeline
from chronos_pkg.eval.datasets import (
    BenchmarkConfig,
    DatasetNotFoundError,
    SeriesDataset,
    load_dataset,
)
from chronos_pkg.eval.metrics import (
    mean_absolute_scaled_error,
    seasonal_error,
    weighted_quantile_loss,
)
from chronos_pkg.frequency import seasonality_from_freq
from chronos_pkg.inputs import DEFAULT_QUANTILE_LEVELS

logger = logging.getLogger(__name__)

RESULT_COLUMNS = ("dataset", "model", "MASE", "WQL", "seconds")
STATUS_COLUMN = "status"  # result files of budgeted models: "ok", or why a dataset has no score


class OverBudget(RuntimeError):
    """A forecaster could not finish a dataset within its fixed budget (e.g. a deep baseline's
    training time). The benchmark records an explicit row, with no scores and this message as
    its status, instead of leaving a gap."""


class QuantileForecaster(Protocol):
    """What the evaluation loop needs from a model."""

    def predict_quantiles(
        self,
        inputs: Sequence[torch.Tensor],
        prediction_length: int,
        quantile_levels: Sequence[float],
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass(frozen=True)
class ForecastWindows:
    """The benchmark's test windows of one dataset.

    ``contexts[i]`` is all history before window ``i``; ``targets`` is (N, H) with NaN = missing.
    """

    contexts: list[np.ndarray]
    targets: np.ndarray
    starts: list[pd.Timestamp]


def split_test_windows(
    targets: Sequence[np.ndarray],
    offset: int,
    prediction_length: int,
    num_rolls: int = 1,
    starts: Sequence[pd.Timestamp] | None = None,
) -> ForecastWindows:
    """Cut ``num_rolls`` consecutive windows per series, the first starting ``offset`` (< 0) from
    the end: window ``r`` covers ``[len + offset + r*h, len + offset + (r+1)*h)``.

    Windows are ordered series by series, rolls within a series.
    """
    if offset >= 0 or offset + num_rolls * prediction_length > 0:
        raise ValueError(
            f"offset must be negative with room for {num_rolls} windows of {prediction_length}, "
            f"got {offset}"
        )
    contexts, labels, window_starts = [], [], []
    for i, series in enumerate(targets):
        for r in range(num_rolls):
            cut = len(series) + offset + r * prediction_length
            if cut < 1:
                raise ValueError(f"series {i} (length {len(series)}) has no history before offset")
            contexts.append(series[:cut])
            labels.append(series[cut : cut + prediction_length])
            window_starts.append(starts[i] if starts is not None else pd.Timestamp(0))
    return ForecastWindows(contexts, np.stack(labels).astype(np.float64), window_starts)


def _forecast_windows(
    model: QuantileForecaster,
    windows: ForecastWindows,
    prediction_length: int,
    quantile_levels: Sequence[float],
    batch_size: int,
    predict_kwargs: dict[str, Any],
    max_context_length: int | None = None,
) -> np.ndarray:
    """Quantile forecasts (N, H, Q) of every window, ``batch_size`` windows per call, each
    context cut to its last ``max_context_length`` values (None: whole history)."""
    uses_timestamps = getattr(model, "uses_timestamps", False)
    keep = -max_context_length if max_context_length else 0
    chunks = []
    for lo in range(0, len(windows.contexts), batch_size):
        batch = [torch.from_numpy(c[keep:]) for c in windows.contexts[lo : lo + batch_size]]
        kwargs = dict(predict_kwargs)
        if uses_timestamps:
            kwargs["start_timestamps"] = windows.starts[lo : lo + batch_size]
        quantiles, _ = model.predict_quantiles(
            batch,
            prediction_length=prediction_length,
            quantile_levels=list(quantile_levels),
            **kwargs,
        )
        quantiles = torch.as_tensor(quantiles).detach().to("cpu", torch.float64).numpy()
        expected = (len(batch), prediction_length, len(quantile_levels))
        if quantiles.shape != expected:
            raise ValueError(
                f"model returned quantiles of shape {quantiles.shape}, expected {expected}"
            )
        chunks.append(quantiles)
    return np.concatenate(chunks)


def evaluate_dataset(
    model: QuantileForecaster,
    config: BenchmarkConfig,
    dataset: SeriesDataset,
    batch_size: int = 32,
    predict_kwargs: dict[str, Any] | None = None,
    quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
    max_context_length: int | None = None,
) -> dict[str, float]:
    """MASE (of the 0.5 quantile) and WQL (mean over ``quantile_levels``) of ``model`` on one
    dataset's test windows; calls ``model.fit`` first when the model has one.

    ``max_context_length`` cuts what the model sees (a model that reads at most that many steps
    gives the same forecasts, faster); seasonal errors always use the whole context.
    """
    if 0.5 not in quantile_levels:
        raise ValueError("quantile_levels must contain 0.5 (the MASE point forecast)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    h = config.prediction_length
    windows = split_test_windows(
        dataset.targets, config.offset, h, config.num_rolls, dataset.starts
    )
    # a pipeline's own fit() is fine-tuning: zero-shot it is scored as it is, and fine-tuned only
    # when wrapped (chronos_pkg.eval.forecasters.FineTunedForecaster)
    if hasattr(model, "fit") and not isinstance(model, BasePipeline):
        history = [t[: len(t) + config.offset] for t in dataset.targets]
        model.fit(history, freq=dataset.freq, prediction_length=h, start_timestamps=dataset.starts)
    quantiles = _forecast_windows(
        model, windows, h, quantile_levels, batch_size, predict_kwargs or {}, max_context_length
    )
    m = seasonality_from_freq(dataset.freq)
    seasonal_errors = np.array([seasonal_error(c, m) for c in windows.contexts])
    median = quantiles[..., list(quantile_levels).index(0.5)]
    return {
        "MASE": mean_absolute_scaled_error(windows.targets, median, seasonal_errors),
        "WQL": weighted_quantile_loss(windows.targets, quantiles, quantile_levels),
    }


class ResultWriter:
    """Appends one CSV row per finished dataset, so an interrupted run can resume.

    With ``status=True`` a new file also gets a ``status`` column ("ok", or why a dataset has
    no scores); an existing file keeps the columns of its header.
    """

    def __init__(self, path: str | os.PathLike, status: bool = False) -> None:
        self.path = Path(path)
        self.done: set[tuple[str, str]] = set()
        self.columns = (*RESULT_COLUMNS, STATUS_COLUMN) if status else RESULT_COLUMNS
        if self.path.is_file() and self.path.stat().st_size > 0:
            existing = pd.read_csv(self.path)
            self.done = set(zip(existing["dataset"].astype(str), existing["model"].astype(str)))
            self.columns = tuple(
                c for c in existing.columns if c in (*RESULT_COLUMNS, STATUS_COLUMN)
            )

    def write(self, row: dict[str, Any]) -> None:
        status = row.get(STATUS_COLUMN, "ok")
        if status != "ok" and STATUS_COLUMN not in self.columns:
            raise ValueError(
                f"{self.path} has no {STATUS_COLUMN} column for the row of {row['dataset']} "
                f"({status}): write budgeted results to a new file"
            )
        new_file = not self.path.is_file() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            if new_file:
                writer.writeheader()
            values = {**row, STATUS_COLUMN: status}
            writer.writerow({k: values[k] for k in self.columns})
        self.done.add((str(row["dataset"]), str(row["model"])))


def run_benchmark(
    model: QuantileForecaster,
    model_name: str,
    configs: Iterable[BenchmarkConfig],
    output_path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    batch_size: int = 32,
    predict_kwargs: dict[str, Any] | None = None,
    max_context_length: int | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Evaluate ``model`` on each dataset, appending a row to ``output_path`` as each finishes.

    Datasets already in the file for ``model_name`` are skipped; a missing dataset is logged
    and skipped; a failing dataset is logged with its traceback and the others still run.
    Returns the rows written by this call, with a ``report`` column (the model's ``report()``
    after each dataset) when the model has one. ``on_row`` sees each row as soon as it is
    written (e.g. to keep a run's record current in case the process is killed).
    """
    budgeted = getattr(model, "has_budget", False)
    writer = ResultWriter(output_path, status=budgeted)
    rows = []
    for config in configs:
        if (config.name, model_name) in writer.done:
            logger.info("%s: already in %s, skipping", config.name, output_path)
            continue
        started = time.perf_counter()
        try:
            dataset = load_dataset(config, data_dir)
            scores = evaluate_dataset(
                model,
                config,
                dataset,
                batch_size,
                predict_kwargs,
                max_context_length=max_context_length,
            )
        except DatasetNotFoundError as err:
            logger.warning("%s: dataset not available, skipped (%s)", config.name, err)
            continue
        except OverBudget as err:  # an explicit row: no scores, and why
            scores = {"MASE": math.nan, "WQL": math.nan, STATUS_COLUMN: str(err)}
            logger.warning("%s: %s", config.name, err)
        except Exception:  # one broken dataset must not stop the benchmark
            logger.error("%s: failed\n%s", config.name, traceback.format_exc())
            continue
        seconds = time.perf_counter() - started
        row = {"dataset": config.name, "model": model_name, **scores, "seconds": round(seconds, 3)}
        if budgeted:
            row.setdefault(STATUS_COLUMN, "ok")
        if hasattr(model, "report"):  # e.g. series that fell back to another model
            row["report"] = model.report()
        writer.write(row)
        rows.append(row)
        if on_row is not None:
            on_row(row)
        logger.info(
            "%s: MASE %.4f WQL %.4f (%.1f s)", config.name, scores["MASE"], scores["WQL"], seconds
        )
        over_budget = STATUS_COLUMN in scores
        if not over_budget and not (math.isfinite(scores["MASE"]) and math.isfinite(scores["WQL"])):
            logger.warning("%s: non-finite score", config.name)
    columns = list(writer.columns) + (["report"] if hasattr(model, "report") else [])
    return pd.DataFrame(rows, columns=columns)
