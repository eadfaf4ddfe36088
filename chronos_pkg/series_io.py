"""Reading and writing collections of univariate time series (parquet and GluonTS arrow).

The one home for series files, used by training (file sources), synthetic data (shards),
validation and the benchmark (dataset files); that includes reading Arrow list columns
(:func:`split_list_array`) and the data-directory variable (:data:`DATA_DIR_ENV`).

Two on-disk layouts are understood:

- parquet in the shared data schema: one row per series with ``id`` (string), ``timestamp``
  (list of timestamp[ms]) and ``target`` (list of float32, NaN = missing);
- GluonTS arrow: an Arrow IPC file (what ``gluonts.dataset.arrow.ArrowFile`` and
  ``gluonts.dataset.common.FileDataset`` read) with ``start`` (timestamp) and ``target``
  (list of float32). Arrow IPC *streams* (e.g. Hugging Face ``datasets`` cache files) are read too.

A path is a single file or a directory of such files (large synthetic corpora are numbered
shards, see :mod:`chronos_pkg.synth.shards`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SeriesFormat = Literal["arrow", "parquet"]
SeriesCollection = np.ndarray | Sequence[np.ndarray]

FORMAT_SUFFIXES: dict[str, str] = {"arrow": ".arrow", "parquet": ".parquet"}
SERIES_SUFFIXES = (".arrow", ".parquet", ".feather")
DEFAULT_START = "2000-01-01 00:00:00"
DEFAULT_FREQ = "h"
DATA_DIR_ENV = "CHRONOS_PKG_DATA_DIR"  # where dataset names are looked up


def default_data_dir() -> str | None:
    """The data directory named by ``$CHRONOS_PKG_DATA_DIR``, or None when it is unset."""
    return os.environ.get(DATA_DIR_ENV) or None


# ----------------------------------------------------------------------------------- reading


def resolve_data_path(
    name_or_path: str | os.PathLike, data_dir: str | os.PathLike | None = None
) -> Path:
    """Find a dataset given a path or a bare name.

    An existing path is returned as is; otherwise ``name`` is looked up as ``name``,
    ``name.parquet`` or ``name.arrow`` in ``data_dir`` (default: ``$CHRONOS_PKG_DATA_DIR``).
    """
    path = Path(name_or_path)
    if path.exists():
        return path
    data_dir = data_dir if data_dir is not None else default_data_dir()
    if data_dir is not None:
        for candidate in (
            path,
            path.with_name(path.name + ".parquet"),
            path.with_name(path.name + ".arrow"),
        ):
            full = Path(data_dir) / candidate
            if full.exists():
                return full
    where = (
        f" or in {data_dir}" if data_dir is not None else f" (set ${DATA_DIR_ENV} to look up names)"
    )
    raise FileNotFoundError(f"dataset {str(name_or_path)!r} not found as a path{where}")


def _natural_key(path: Path) -> list[object]:
    """Sort key putting ``part-2`` before ``part-10`` (numbers compared as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def list_series_files(path: str | os.PathLike) -> list[Path]:
    """The data files behind ``path``: the file itself, or a directory's visible
    ``*.arrow`` / ``*.parquet`` / ``*.feather`` files in sorted order."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such file or directory: {path}")
    files = sorted(
        (
            p
            for p in path.iterdir()
            if p.is_file() and p.suffix in SERIES_SUFFIXES and not p.name.startswith(".")
        ),
        key=_natural_key,
    )
    if not files:
        raise FileNotFoundError(f"directory {path} holds no {'/'.join(SERIES_SUFFIXES)} files")
    return files


def _file_kind(path: Path) -> str:
    """'parquet', 'ipc_file' or 'ipc_stream', from the file's magic bytes."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head == b"ARROW1":
        return "ipc_file"
    return "ipc_stream"


def _iter_batches(path: Path, column: str) -> Iterator[pa.RecordBatch]:
    kind = _file_kind(path)
    if kind == "parquet":
        parquet = pq.ParquetFile(path)
        if column not in parquet.schema_arrow.names:
            raise ValueError(
                f"{path}: no column {column!r} (columns: {parquet.schema_arrow.names})"
            )
        yield from parquet.iter_batches(columns=[column])
        return
    with pa.memory_map(str(path), "r") as source:
        if kind == "ipc_file":
            reader = pa.ipc.open_file(source)
            batches: Iterator[pa.RecordBatch] = (
                reader.get_batch(i) for i in range(reader.num_record_batches)
            )
            names = reader.schema.names
        else:
            reader = pa.ipc.open_stream(source)
            batches = iter(reader)
            names = reader.schema.names
        if column not in names:
            raise ValueError(f"{path}: no column {column!r} (columns: {names})")
        for batch in batches:
            yield batch.select([column])


def list_parts(array: pa.Array, where: str) -> tuple[pa.Array, np.ndarray]:
    """The flat values and the (N + 1,) int64 offsets of a (large) list array of scalars.

    Raises ``TypeError`` for a column that is not a list and ``ValueError`` for nested lists
    (multivariate targets), naming ``where``.
    """
    if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
        raise TypeError(f"{where}: expected a list column of numbers, got {array.type}")
    if pa.types.is_list(array.type.value_type) or pa.types.is_large_list(array.type.value_type):
        raise ValueError(f"{where}: multivariate (nested list) targets are not supported")
    return array.values, array.offsets.to_numpy().astype(np.int64)


def split_list_array(
    array: pa.Array | pa.ChunkedArray, where: str, dtype: np.dtype | type = np.float32
) -> list[np.ndarray]:
    """Each row of a list column as its own numpy array of ``dtype``.

    Numbers are read as float64 first, so missing values (nulls) become NaN; other values
    (timestamps) are converted as they are. A null row gives an empty array.
    """
    if isinstance(array, pa.ChunkedArray):
        chunks = array.chunks or [pa.array([], array.type)]
        array = pa.concat_arrays(chunks) if len(chunks) > 1 else chunks[0]
    values, offsets = list_parts(array, where)
    if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
        flat = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    else:
        flat = values.to_numpy(zero_copy_only=False)
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    return [
        np.array(flat[offsets[i] : offsets[i + 1]], dtype=dtype)
        if valid[i]
        else np.empty(0, dtype=dtype)
        for i in range(len(array))
    ]


def iter_series(path: str | os.PathLike, column: str = "target") -> Iterator[np.ndarray]:
    """Stream the series stored at ``path`` (file or directory), one 1-D float32 array each.

    Parameters
    ----------
    path
        A parquet / arrow file or a directory of them (shards are read in name order).
    column
        The list column holding the values.
    """
    for file in list_series_files(path):
        for batch in _iter_batches(file, column):
            yield from split_list_array(batch.column(0), f"{file}:{column}")


def read_series(path: str | os.PathLike, column: str = "target") -> list[np.ndarray]:
    """All series stored at ``path`` as a list of 1-D float32 arrays (NaN = missing)."""
    return list(iter_series(path, column))


def count_rows(path: Path) -> int:
    """Number of series in one file, read from its metadata."""
    kind = _file_kind(path)
    if kind == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with pa.memory_map(str(path), "r") as source:
        if kind == "ipc_file":
            reader = pa.ipc.open_file(source)
            return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
        return sum(batch.num_rows for batch in pa.ipc.open_stream(source))


def count_series(path: str | os.PathLike) -> int:
    """Number of series stored at ``path`` (file or directory), read from metadata."""
    return sum(count_rows(file) for file in list_series_files(path))


# ----------------------------------------------------------------------------------- writing


def as_series_list(series: SeriesCollection) -> list[np.ndarray]:
    """A 2-D array or a list of 1-D arrays as a list of 1-D arrays (``ValueError`` otherwise)."""
    if isinstance(series, np.ndarray):
        if series.ndim != 2:
            raise ValueError(
                f"an array of series must be 2-D (num_series, length), got shape {series.shape}"
            )
        return list(series)
    arrays = []
    for i, item in enumerate(series):
        array = np.asarray(item)
        if array.ndim != 1:
            raise ValueError(f"series {i} must be 1-D, got shape {array.shape}")
        arrays.append(array)
    return arrays


def _list_array(flat: np.ndarray, lengths: np.ndarray, value_type: pa.DataType) -> pa.ListArray:
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    if offsets[-1] >= 2**31:
        return pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat, type=value_type))
    return pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), pa.array(flat, type=value_type)
    )


def series_table(
    series: SeriesCollection,
    format: SeriesFormat = "arrow",
    *,
    start: str = DEFAULT_START,
    freq: str = DEFAULT_FREQ,
    ids: Sequence[str] | None = None,
) -> pa.Table:
    """An Arrow table of ``series`` in the layout of ``format``.

    ``"arrow"`` gives GluonTS' ``start`` / ``target`` columns; ``"parquet"`` gives the shared
    schema ``id`` / ``timestamp`` / ``target``, timestamps running from ``start`` every ``freq``.
    Values are stored as float32.
    """
    arrays = as_series_list(series)
    if ids is not None and len(ids) != len(arrays):
        raise ValueError(f"got {len(ids)} ids for {len(arrays)} series")
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    flat = np.concatenate(arrays).astype(np.float32) if arrays else np.empty(0, np.float32)
    target = _list_array(flat, lengths, pa.float32())
    start_ts = pd.Timestamp(start)
    if format == "arrow":
        starts = pa.array(np.full(len(arrays), start_ts.to_datetime64(), dtype="datetime64[s]"))
        return pa.table({"start": starts, "target": target})
    if format == "parquet":
        max_length = int(lengths.max()) if len(lengths) else 0
        clock = (
            pd.date_range(start_ts, periods=max_length, freq=freq)
            .to_numpy()
            .astype("datetime64[ms]")
        )
        stamps = np.concatenate([clock[:n] for n in lengths]) if len(lengths) else clock[:0]
        timestamp = _list_array(stamps, lengths, pa.timestamp("ms"))
        id_column = pa.array(
            list(ids) if ids is not None else [str(i) for i in range(len(arrays))], pa.string()
        )
        return pa.table({"id": id_column, "timestamp": timestamp, "target": target})
    raise ValueError(f"format must be 'arrow' or 'parquet', got {format!r}")


def write_table_atomic(table: pa.Table, path: Path, format: SeriesFormat) -> None:
    """Write to a hidden temporary file and rename, so ``path`` is either complete or absent."""
    tmp = path.with_name(f".{path.name}.tmp")
    if format == "arrow":
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=1024)
    else:
        pq.write_table(table, tmp)
    os.replace(tmp, path)


def infer_format(path: str | os.PathLike) -> SeriesFormat:
    """``"arrow"`` or ``"parquet"`` from a file name's suffix."""
    suffix = Path(path).suffix
    for name, expected in FORMAT_SUFFIXES.items():
        if suffix == expected:
            return name  # type: ignore[return-value]
    raise ValueError(f"cannot infer the format of {str(path)!r}: use a .arrow or .parquet suffix")


def write_series(
    series: SeriesCollection,
    path: str | os.PathLike,
    *,
    format: SeriesFormat | None = None,
    start: str = DEFAULT_START,
    freq: str = DEFAULT_FREQ,
    ids: Sequence[str] | None = None,
) -> Path:
    """Write ``series`` (a 2-D array or a list of 1-D arrays) to one file; see :func:`series_table`.

    The format defaults to the one named by the suffix (``.arrow`` or ``.parquet``).
    """
    path = Path(path)
    format = format or infer_format(path)
    table = series_table(series, format, start=start, freq=freq, ids=ids)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table_atomic(table, path, format)
    return path


def convert_to_arrow(
    path: str | os.PathLike, output: str | os.PathLike, chunk_size: int = 4096
) -> Path:
    """Stream the series at ``path`` (parquet/arrow, file or directory) into one Arrow IPC file
    of float32 ``target`` lists, holding at most ``chunk_size`` series in memory (what a
    memory-mapped training source reads)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    schema = pa.schema([("target", pa.large_list(pa.float32()))])
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        buffer: list[np.ndarray] = []

        def flush() -> None:
            lengths = np.array([len(a) for a in buffer], dtype=np.int64)
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            values = np.concatenate(buffer).astype(np.float32)
            array = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values))
            writer.write_batch(pa.record_batch([array], schema=schema))
            buffer.clear()

        for series in iter_series(path):
            buffer.append(series)
            if len(buffer) >= chunk_size:
                flush()
        if buffer:
            flush()
    os.replace(tmp, output)
    return output
