"""Reading and writing collections of univariate time series (parquet and GluonTS arrow).

Two on-disk layouts are understood:

- parquet in the shared data schema: one row per series with ``id`` (string), ``timestamp``
  (list of timestamp[ms]) and ``target`` (list of float32, NaN = missing);
- GluonTS arrow: an Arrow IPC file (what ``gluonts.dataset.arrow.ArrowFile`` and
  ``gluonts.dataset.common.FileDataset`` read) with ``start`` (timestamp) and ``target``
  (list of float32). Arrow IPC *streams* (e.g. Hugging Face ``datasets`` cache files) are read too.

A path is a single file or a directory of such files. Large synthetic corpora are written as
numbered shards by :func:`write_shards`, which can resume an interrupted run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

SeriesFormat = Literal["arrow", "parquet"]
SeriesCollection = np.ndarray | Sequence[np.ndarray]
ShardMaker = Callable[[int, int], SeriesCollection]

FORMAT_SUFFIXES: dict[str, str] = {"arrow": ".arrow", "parquet": ".parquet"}
SERIES_SUFFIXES = (".arrow", ".parquet", ".feather")
DEFAULT_START = "2000-01-01 00:00:00"
DEFAULT_FREQ = "h"
DATA_DIR_ENV = "CHRONOS_PKG_DATA_DIR"
MANIFEST_NAME = ".manifest.json"  # hidden, so GluonTS' FileDataset does not try to load it


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
    data_dir = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
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


def _split_list_array(array: pa.Array, where: str) -> Iterator[np.ndarray]:
    """Each entry of a (large) list array as its own float32 array; nulls become NaN."""
    if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
        raise TypeError(f"{where}: expected a list column of numbers, got {array.type}")
    if pa.types.is_list(array.type.value_type) or pa.types.is_large_list(array.type.value_type):
        raise ValueError(f"{where}: multivariate (nested list) targets are not supported")
    offsets = array.offsets.to_numpy()
    values = array.values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    for i in range(len(array)):
        if not array[i].is_valid:
            yield np.empty(0, dtype=np.float32)
            continue
        yield np.array(values[offsets[i] : offsets[i + 1]], dtype=np.float32)


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
            yield from _split_list_array(batch.column(0), f"{file}:{column}")


def read_series(path: str | os.PathLike, column: str = "target") -> list[np.ndarray]:
    """All series stored at ``path`` as a list of 1-D float32 arrays (NaN = missing)."""
    return list(iter_series(path, column))


def _count_rows(path: Path) -> int:
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
    return sum(_count_rows(file) for file in list_series_files(path))


# ----------------------------------------------------------------------------------- writing


def _as_series_list(series: SeriesCollection) -> list[np.ndarray]:
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
    arrays = _as_series_list(series)
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


def _write_table_atomic(table: pa.Table, path: Path, format: SeriesFormat) -> None:
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
    _write_table_atomic(table, path, format)
    return path


def shard_path(output_dir: Path, index: int, format: SeriesFormat) -> Path:
    return output_dir / f"part-{index:05d}{FORMAT_SUFFIXES[format]}"


def _produce_shard(
    make_shard: ShardMaker,
    begin: int,
    end: int,
    path: Path,
    format: SeriesFormat,
    start: str,
    freq: str,
    id_prefix: str,
) -> int:
    series = _as_series_list(make_shard(begin, end))
    if len(series) != end - begin:
        raise RuntimeError(f"shard maker returned {len(series)} series for range [{begin}, {end})")
    ids = [f"{id_prefix}{i}" for i in range(begin, end)]
    _write_table_atomic(series_table(series, format, start=start, freq=freq, ids=ids), path, format)
    return end - begin


def _limit_threads(num_threads: int) -> None:
    """Worker initialiser: share the machine's cores between worker processes."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(num_threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(num_threads)


def _check_manifest(output_dir: Path, manifest: dict[str, Any], resume: bool) -> None:
    manifest_path = output_dir / MANIFEST_NAME
    existing_shards = list(output_dir.glob("part-*")) if output_dir.is_dir() else []
    if not resume:
        if manifest_path.exists() or existing_shards:
            raise FileExistsError(
                f"{output_dir} already holds shards: pass resume=True (--resume) or use a new path"
            )
        return
    if not manifest_path.exists():
        if existing_shards:
            raise ValueError(
                f"{output_dir} holds shards but no {MANIFEST_NAME}: cannot check they match"
            )
        return
    previous = json.loads(manifest_path.read_text())
    for key, value in manifest.items():
        if key != "num_series" and previous.get(key) != value:
            raise ValueError(
                f"cannot resume {output_dir}: {key} was {previous.get(key)!r}, now {value!r}; "
                "use the same settings or a new path"
            )


def write_shards(
    make_shard: ShardMaker,
    num_series: int,
    output_dir: str | os.PathLike,
    *,
    shard_size: int = 4096,
    format: SeriesFormat = "arrow",
    resume: bool = False,
    workers: int = 1,
    metadata: dict[str, Any] | None = None,
    start: str = DEFAULT_START,
    freq: str = DEFAULT_FREQ,
    id_prefix: str = "",
    progress: bool = True,
) -> list[Path]:
    """Generate ``num_series`` series shard by shard into ``output_dir``, resumably.

    Shard ``k`` holds series ``[k * shard_size, min((k + 1) * shard_size, num_series))``, made by
    ``make_shard(begin, end)`` (a 2-D array or a list of 1-D arrays), and is written atomically as
    ``part-{k:05d}.arrow`` / ``.parquet``. A killed run keeps its finished shards; with
    ``resume=True`` only missing or incomplete shards are made, so when ``make_shard`` is a
    deterministic function of the index range the result equals one uninterrupted run.
    ``metadata`` (generator settings) is stored in ``.manifest.json`` and must match on resume.
    With ``workers > 1`` shards are made in spawned processes, so ``make_shard`` must pickle.

    Returns
    -------
    The shard paths, in order.
    """
    if num_series < 0:
        raise ValueError(f"num_series must be >= 0, got {num_series}")
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if format not in FORMAT_SUFFIXES:
        raise ValueError(f"format must be 'arrow' or 'parquet', got {format!r}")
    output_dir = Path(output_dir)
    manifest = {
        "num_series": num_series,
        "shard_size": shard_size,
        "format": format,
        "start": start,
        "freq": freq,
        "id_prefix": id_prefix,
        "metadata": json.loads(json.dumps(metadata or {})),
    }
    _check_manifest(output_dir, manifest, resume)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    for stale in output_dir.glob(".part-*.tmp"):  # left by a killed writer
        stale.unlink()

    num_shards = -(-num_series // shard_size)
    ranges = [(k * shard_size, min((k + 1) * shard_size, num_series)) for k in range(num_shards)]
    paths = [shard_path(output_dir, k, format) for k in range(num_shards)]
    expected = {p.name for p in paths}
    for extra in output_dir.glob("part-*"):  # shards beyond a smaller new num_series
        if extra.name not in expected:
            extra.unlink()
    todo = [
        k
        for k in range(num_shards)
        if not (paths[k].exists() and _count_rows(paths[k]) == ranges[k][1] - ranges[k][0])
    ]
    done = num_series - sum(ranges[k][1] - ranges[k][0] for k in todo)
    if done:
        logger.info("resuming %s: %d of %d series already written", output_dir, done, num_series)

    from tqdm.auto import tqdm

    args = [(ranges[k][0], ranges[k][1], paths[k], format, start, freq, id_prefix) for k in todo]
    with tqdm(
        total=num_series, initial=done, unit="series", disable=not progress, desc=output_dir.name
    ) as bar:
        if workers == 1 or len(todo) <= 1:
            for arg in args:
                bar.update(_produce_shard(make_shard, *arg))
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            with ProcessPoolExecutor(
                max_workers=workers,
                mp_context=get_context("spawn"),
                initializer=_limit_threads,
                initargs=(threads,),
            ) as pool:
                pending = {pool.submit(_produce_shard, make_shard, *arg) for arg in args}
                try:
                    while pending:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in finished:
                            bar.update(future.result())
                except BaseException:
                    for future in pending:
                        future.cancel()
                    raise
    return paths


# ---------------------------------------------------------------------------------- plotting


def plot_series_grid(
    series: SeriesCollection, path: str | os.PathLike, *, columns: int = 4, title: str | None = None
) -> Path:
    """Save a grid of small line plots of ``series`` to an image file (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            "plotting needs matplotlib: pip install matplotlib (or chronos_pkg[plot])"
        ) from err
    arrays = _as_series_list(series)
    if not arrays:
        raise ValueError("nothing to plot: no series given")
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    rows = -(-len(arrays) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(3 * columns, 2 * rows), squeeze=False, constrained_layout=True
    )
    for i, ax in enumerate(axes.flat):
        if i < len(arrays):
            ax.plot(arrays[i], linewidth=0.8)
            ax.set_title(f"series {i}", fontsize=8)
            ax.tick_params(labelsize=6)
        else:
            ax.axis("off")
    if title:
        figure.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
