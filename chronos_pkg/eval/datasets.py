"""The Chronos benchmark's datasets: which ones, where they live, and their series.

``benchmark.csv`` (package data) lists each dataset with its benchmark (in-domain or
zero-shot), Hugging Face repository and test-window layout; :func:`load_dataset` reads one from
``<data_dir>/<name>.parquet`` or the hub.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from chronos_pkg.frequency import infer_frequency
from chronos_pkg.series_io import default_data_dir, split_list_array

__all__ = [
    "BENCHMARKS",
    "BenchmarkConfig",
    "DatasetNotFoundError",
    "SeriesDataset",
    "default_data_dir",
    "load_benchmark_configs",
    "load_dataset",
    "series_from_table",
]

BENCHMARKS = ("in-domain", "zero-shot")


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
    timestamps = split_list_array(table.column("timestamp"), f"{name}:timestamp", "datetime64[ns]")
    ids = (
        [str(i) for i in table.column("id").to_pylist()]
        if "id" in table.column_names
        else [str(i) for i in range(table.num_rows)]
    )
    item_ids, starts, targets = [], [], []
    for field in fields:
        for row, values in enumerate(split_list_array(table.column(field), f"{name}:{field}")):
            item_ids.append(ids[row] if len(fields) == 1 else f"{ids[row]}_{field}")
            starts.append(pd.Timestamp(timestamps[row][0]))
            targets.append(values)
    freq = infer_frequency(timestamps[0], tolerate_gaps=True)
    return SeriesDataset(name, freq, item_ids, starts, targets)


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
