"""The Chronos benchmark: dataset configs, data loading, test windows and one evaluation loop.

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
import platform
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from chronos_pkg.metrics import (
    DEFAULT_QUANTILE_LEVELS,
    mean_absolute_scaled_error,
    sample_quantiles,
    seasonal_error,
    seasonality_from_freq,
    weighted_quantile_loss,
)

logger = logging.getLogger(__name__)

BENCHMARKS = ("in-domain", "zero-shot")
RESULT_COLUMNS = ("dataset", "model", "MASE", "WQL", "seconds")
DATA_DIR_ENV = "CHRONOS_PKG_DATA_DIR"


class QuantileForecaster(Protocol):
    """What the evaluation loop needs from a model."""

    def predict_quantiles(
        self,
        inputs: Sequence[torch.Tensor],
        prediction_length: int,
        quantile_levels: Sequence[float],
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


class DatasetNotFoundError(FileNotFoundError):
    """A benchmark dataset is not available from the chosen source."""


@dataclass(frozen=True)
class BenchmarkConfig:
    """One benchmark dataset: where it lives and how its test windows are cut."""

    benchmark: str
    name: str
    hf_repo: str
    offset: int
    prediction_length: int
    num_rolls: int

    def __post_init__(self) -> None:
        if self.prediction_length < 1 or self.num_rolls < 1:
            raise ValueError(f"{self.name}: prediction_length and num_rolls must be >= 1")
        if self.offset + self.num_rolls * self.prediction_length > 0:
            raise ValueError(
                f"{self.name}: offset {self.offset} leaves no room for {self.num_rolls} "
                f"windows of {self.prediction_length}"
            )


def load_benchmark_configs(
    benchmark: str = "all", names: Sequence[str] | None = None
) -> list[BenchmarkConfig]:
    """Configs from the packaged ``benchmark.csv``: ``benchmark`` is in-domain, zero-shot or all.

    ``names`` keeps only those datasets (in the CSV's order); an unknown name is an error.
    """
    if benchmark not in (*BENCHMARKS, "all"):
        raise ValueError(f"benchmark must be one of {(*BENCHMARKS, 'all')}, got {benchmark!r}")
    text = resources.files("chronos_pkg").joinpath("data/benchmark.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    configs = [
        BenchmarkConfig(
            benchmark=r["benchmark"],
            name=r["name"],
            hf_repo=r["hf_repo"],
            offset=int(r["offset"]),
            prediction_length=int(r["prediction_length"]),
            num_rolls=int(r["num_rolls"]),
        )
        for r in rows
        if benchmark == "all" or r["benchmark"] == benchmark
    ]
    if names is not None:
        known = {c.name for c in configs}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"not in the {benchmark} benchmark: {unknown}")
        configs = [c for c in configs if c.name in set(names)]
    return configs


@dataclass(frozen=True)
class SeriesDataset:
    """Univariate series of one dataset: float32 targets (NaN = missing) and their starts."""

    name: str
    freq: str
    item_ids: list[str]
    starts: list[pd.Timestamp]
    targets: list[np.ndarray]


def infer_frequency(timestamps: np.ndarray) -> str:
    """Pandas frequency of a series' timestamps, robust to a few irregular steps (DST gaps)."""
    index = pd.DatetimeIndex(timestamps)
    if len(index) < 3:
        raise ValueError(f"need at least 3 timestamps to infer a frequency, got {len(index)}")
    freq = pd.infer_freq(index)
    for start in range(0, len(index) - 2, 50):  # first regular stretch
        if freq is not None:
            break
        freq = pd.infer_freq(index[start : start + 50])
    if freq is None:
        raise ValueError("could not infer a frequency from the timestamps")
    return freq


def _list_column_to_arrays(column: pa.ChunkedArray, dtype: np.dtype) -> list[np.ndarray]:
    """Split a list<...> column into one numpy array per row (nulls -> NaN / NaT)."""
    array = column.combine_chunks()
    if isinstance(array, pa.ChunkedArray):  # empty table
        array = pa.concat_arrays(array.chunks) if array.num_chunks else pa.array([], array.type)
    offsets = array.offsets.to_numpy()
    values = array.values
    if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
        flat = values.cast(pa.float64()).fill_null(float("nan")).to_numpy().astype(dtype)
    else:
        flat = values.to_numpy(zero_copy_only=False).astype(dtype)
    return [flat[offsets[i] : offsets[i + 1]] for i in range(len(array))]


def _is_numeric_list(table: pa.Table, column: str) -> bool:
    kind = table.schema.field(column).type
    return (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and (
        pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)
    )


def series_from_table(name: str, table: pa.Table) -> SeriesDataset:
    """Series from a table with one row per item: ``timestamp`` and one or more numeric list
    columns (each becomes its own series, as in the published benchmark), optional ``id``."""
    if "timestamp" not in table.column_names:
        raise ValueError(f"{name}: no 'timestamp' column")
    fields = [c for c in table.column_names if c != "timestamp" and _is_numeric_list(table, c)]
    if not fields:
        raise ValueError(f"{name}: no list-valued target column")
    timestamps = _list_column_to_arrays(table.column("timestamp"), np.dtype("datetime64[ns]"))
    ids = (
        [str(i) for i in table.column("id").to_pylist()]
        if "id" in table.column_names
        else [str(i) for i in range(table.num_rows)]
    )
    item_ids, starts, targets = [], [], []
    for field in fields:
        for row, values in enumerate(_list_column_to_arrays(table.column(field), np.float32)):
            item_ids.append(ids[row] if len(fields) == 1 else f"{ids[row]}_{field}")
            starts.append(pd.Timestamp(timestamps[row][0]))
            targets.append(values)
    return SeriesDataset(name, infer_frequency(timestamps[0]), item_ids, starts, targets)


def load_dataset(
    config: BenchmarkConfig, data_dir: str | os.PathLike | None = None
) -> SeriesDataset:
    """Series of one benchmark dataset.

    With ``data_dir``: ``<data_dir>/<name>.parquet``. Without: the Hugging Face ``datasets``
    loader for ``config.hf_repo`` (needs network or a warm cache). Raises
    :class:`DatasetNotFoundError` when the dataset is not there.
    """
    if data_dir is not None:
        path = Path(data_dir) / f"{config.name}.parquet"
        if not path.is_file():
            raise DatasetNotFoundError(f"{config.name}: {path} does not exist")
        return series_from_table(config.name, pq.read_table(path))
    import datasets  # optional dependency, only for the hub

    try:
        hf = datasets.load_dataset(config.hf_repo, config.name, split="train")
    except (FileNotFoundError, ValueError, ConnectionError) as err:
        raise DatasetNotFoundError(f"{config.name}: not loadable from {config.hf_repo}") from err
    return series_from_table(config.name, hf.with_format("arrow")[:])


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
    if hasattr(model, "fit"):
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
    """Appends one CSV row per finished dataset, so an interrupted run can resume."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.done: set[tuple[str, str]] = set()
        if self.path.is_file() and self.path.stat().st_size > 0:
            existing = pd.read_csv(self.path)
            self.done = set(zip(existing["dataset"].astype(str), existing["model"].astype(str)))

    def write(self, row: dict[str, Any]) -> None:
        new_file = not self.path.is_file() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
            if new_file:
                writer.writeheader()
            writer.writerow({k: row[k] for k in RESULT_COLUMNS})
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
) -> pd.DataFrame:
    """Evaluate ``model`` on each dataset, appending a row to ``output_path`` as each finishes.

    Datasets already in the file for ``model_name`` are skipped; a missing dataset is logged
    and skipped; a failing dataset is logged with its traceback and the others still run.
    Returns the rows written by this call, with a ``report`` column (the model's ``report()``
    after each dataset) when the model has one.
    """
    writer = ResultWriter(output_path)
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
        except Exception:  # one broken dataset must not stop the benchmark
            logger.error("%s: failed\n%s", config.name, traceback.format_exc())
            continue
        seconds = time.perf_counter() - started
        row = {"dataset": config.name, "model": model_name, **scores, "seconds": round(seconds, 3)}
        if hasattr(model, "report"):  # e.g. series that fell back to another model
            row["report"] = model.report()
        writer.write(row)
        rows.append(row)
        logger.info(
            "%s: MASE %.4f WQL %.4f (%.1f s)", config.name, scores["MASE"], scores["WQL"], seconds
        )
        if not (math.isfinite(scores["MASE"]) and math.isfinite(scores["WQL"])):
            logger.warning("%s: non-finite score", config.name)
    columns = list(RESULT_COLUMNS) + (["report"] if hasattr(model, "report") else [])
    return pd.DataFrame(rows, columns=columns)


def default_data_dir() -> str | None:
    """The data directory from ``CHRONOS_PKG_DATA_DIR``, or None (use the hub)."""
    return os.environ.get(DATA_DIR_ENV) or None


class SampleQuantileForecaster:
    """Scores a sample-based pipeline (``predict`` -> (B, S, H) samples) as the published
    benchmark did: quantiles are GluonTS ``SampleForecast`` quantiles of the raw samples (see
    :func:`chronos_pkg.metrics.sample_quantiles`), the mean is the sample mean."""

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
        quantiles = sample_quantiles(samples.numpy(), quantile_levels)
        return torch.from_numpy(quantiles), samples.mean(dim=1)


def build_forecaster(
    model: str,
    device: str | None = None,
    torch_dtype: str | None = None,
    baseline_kwargs: dict[str, Any] | None = None,
    sample_quantile_rule: str = "gluonts",
) -> Any:
    """A baseline by name (see :data:`chronos_pkg.baselines.BASELINE_NAMES`) or a chronos_pkg
    checkpoint (path or hub id) loaded on ``device``.

    ``sample_quantile_rule``: for sample-based checkpoints (Chronos-T5), ``"gluonts"`` scores the
    samples' GluonTS quantiles as the published benchmark (:class:`SampleQuantileForecaster`);
    ``"pipeline"`` uses the pipeline's own ``predict_quantiles`` (linear interpolation).
    """
    from chronos_pkg.baselines import BASELINE_NAMES, make_baseline

    if sample_quantile_rule not in ("gluonts", "pipeline"):
        raise ValueError(
            f"sample_quantile_rule must be 'gluonts' or 'pipeline', got {sample_quantile_rule!r}"
        )
    if model in BASELINE_NAMES:
        return make_baseline(model, **(baseline_kwargs or {}))
    import chronos_pkg
    from chronos_pkg.pipeline import ChronosPipeline

    pipeline = chronos_pkg.from_pretrained(model, device_map=device, torch_dtype=torch_dtype)
    if sample_quantile_rule == "gluonts" and isinstance(pipeline, ChronosPipeline):
        return SampleQuantileForecaster(pipeline)
    return pipeline


def supported_predict_kwargs(forecaster: Any, candidates: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``candidates`` that the forecaster's ``predict`` (or, without one,
    ``predict_quantiles``) names as parameters; the rest are dropped with a debug message."""
    import inspect

    target = getattr(forecaster, "pipeline", forecaster)  # look through SampleQuantileForecaster
    method = getattr(target, "predict", None) or target.predict_quantiles
    params = inspect.signature(method).parameters
    kept = {k: v for k, v in candidates.items() if k in params and v is not None}
    dropped = sorted(set(candidates) - set(kept))
    if dropped:
        logger.debug("%s does not take %s", type(forecaster).__name__, dropped)
    return kept


VERSIONED_LIBRARIES = (
    "chronos_pkg",
    "torch",
    "numpy",
    "pandas",
    "statsforecast",
    "gluonts",
    "transformers",
)


def library_versions() -> dict[str, str | None]:
    """Python's and each library's installed version (None: not installed), for result records."""
    from importlib import metadata

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def describe_machine() -> dict[str, Any]:
    """CPU model, core count, platform, torch version and GPU name (if any) of this machine."""

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def model_context_length(forecaster: Any) -> int | None:
    """The most history steps a chronos_pkg pipeline reads (``model_context_length``), or None."""
    target = getattr(forecaster, "pipeline", forecaster)
    length = getattr(target, "model_context_length", None)
    return int(length) if isinstance(length, int) else None
