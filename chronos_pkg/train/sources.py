"""Training data sources: series files (in RAM or memory-mapped), KernelSynth, TSMixup.

The first stage of the window pipeline (:mod:`chronos_pkg.train.windows`): each source applies
the filters of SPEC section 4 (cut ``exclude_last`` steps, the evaluation windows; drop series
with more than ``max_missing_prop`` missing or too short for ``min_past + min_future``) and,
with ``holdout_fraction`` > 0, keeps a fixed subset of each file source's series out for
validation (:func:`holdout_mask`). ``source.series(j)`` then gives the j-th usable series.
Corpora larger than memory are kept as Arrow IPC files and memory-mapped (``memory_map: true``;
:func:`chronos_pkg.series_io.convert_to_arrow` streams a parquet corpus into one), so only the
pages a window touches are read.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from chronos_pkg import series_io
from chronos_pkg.devices import resolve_device
from chronos_pkg.train.config import FILE_KINDS, DataConfig, SourceConfig
from chronos_pkg.train.windows import WindowSpec

logger = logging.getLogger(__name__)

HOLDOUT_MIN_SERIES = 20  # datasets with fewer series are never split for validation


class SeriesStore:
    """Many 1-D float32 series kept flat: ``values`` chunks plus ``offsets`` (random access).

    Each chunk is ``(values (P,), offsets (N + 1,))``; values may be a zero-copy view into a
    memory-mapped Arrow file.
    """

    def __init__(self, chunks: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        self.chunks = list(chunks)
        counts = [len(offsets) - 1 for _, offsets in self.chunks]
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    @classmethod
    def from_arrays(cls, arrays: Sequence[np.ndarray]) -> SeriesStore:
        """Copy a list of 1-D arrays into one flat float32 chunk."""
        lengths = np.array([len(a) for a in arrays], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        values = (
            np.concatenate([np.asarray(a, dtype=np.float32) for a in arrays])
            if len(arrays)
            else np.empty(0, np.float32)
        )
        return cls([(values, offsets)])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: int) -> np.ndarray:
        chunk = int(np.searchsorted(self.starts, index, side="right")) - 1
        values, offsets = self.chunks[chunk]
        local = index - int(self.starts[chunk])
        return values[offsets[local] : offsets[local + 1]]

    def lengths(self) -> np.ndarray:
        """Length of every series, (N,) int64."""
        if not self.chunks:
            return np.empty(0, np.int64)
        return np.concatenate([np.diff(offsets) for _, offsets in self.chunks]).astype(np.int64)

    def missing_counts(self, exclude_last: int = 0) -> np.ndarray:
        """NaN count of every series without its last ``exclude_last`` steps, (N,) int64."""
        out = []
        for values, offsets in self.chunks:
            nan_cumsum = np.concatenate([[0], np.cumsum(np.isnan(values), dtype=np.int64)])
            ends = np.maximum(offsets[1:] - exclude_last, offsets[:-1])
            out.append(nan_cumsum[ends] - nan_cumsum[offsets[:-1]])
        return np.concatenate(out) if out else np.empty(0, np.int64)


def _list_chunks(column: pa.ChunkedArray, where: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Zero-copy (values, offsets) of each chunk of a list<float32> column."""
    chunks = []
    for array in column.chunks:
        flat, offsets = series_io.list_parts(array, where)
        if array.null_count:
            raise ValueError(f"{where}: null series are not supported in a memory-mapped source")
        if flat.type != pa.float32() or flat.null_count:
            raise ValueError(
                f"{where}: memory-mapping needs float32 values without nulls (got {flat.type}); "
                "rewrite it with chronos_pkg.series_io.convert_to_arrow"
            )
        chunks.append((flat.to_numpy(zero_copy_only=True), offsets))
    return chunks


def open_memory_mapped(path: str | os.PathLike, column: str = "target") -> SeriesStore:
    """A store over Arrow IPC file(s) at ``path`` that reads pages on demand."""
    chunks: list[tuple[np.ndarray, np.ndarray]] = []
    for file in series_io.list_series_files(path):
        source = pa.memory_map(str(file), "r")
        try:
            table = pa.ipc.open_file(source).read_all()
        except pa.ArrowInvalid as err:
            raise ValueError(
                f"{file} is not an Arrow IPC file, so it cannot be memory-mapped; "
                "convert it with chronos_pkg.series_io.convert_to_arrow"
            ) from err
        if column not in table.column_names:
            raise ValueError(f"{file}: no column {column!r} (columns: {table.column_names})")
        chunks.extend(_list_chunks(table.column(column), f"{file}:{column}"))
    return SeriesStore(chunks)


# ----------------------------------------------------------------------------------- sources


class FileSource:
    """Series from files after the filters: ``series(j)`` is the j-th kept series, trimmed."""

    def __init__(
        self,
        name: str,
        store: SeriesStore,
        spec: WindowSpec,
        exclude_last: int = 0,
        train_mask: np.ndarray | None = None,
    ):
        self.name = name
        self.store = store
        self.exclude_last = exclude_last
        lengths = np.maximum(store.lengths() - exclude_last, 0)
        missing = store.missing_counts(exclude_last)
        with np.errstate(invalid="ignore", divide="ignore"):
            missing_prop = np.where(lengths > 0, missing / np.maximum(lengths, 1), 1.0)
        keep = (lengths >= spec.min_length) & (missing_prop <= spec.max_missing_prop)
        if train_mask is not None:
            keep &= train_mask
        self.index = np.flatnonzero(keep)
        self.lengths = lengths[self.index]
        logger.info(
            "source %s: %d of %d series usable (exclude_last=%d, held out=%d)",
            name,
            len(self.index),
            len(store),
            exclude_last,
            0 if train_mask is None else int((~train_mask).sum()),
        )

    @property
    def num_series(self) -> int:
        return len(self.index)

    def series(self, j: int) -> np.ndarray:
        return self.store[int(self.index[j])][: int(self.lengths[j])]


class GeneratedSource:
    """Series ``i`` of a deterministic generator ``make(i)``, with a small per-process cache."""

    def __init__(
        self,
        name: str,
        make: Callable[[int], np.ndarray],
        num_series: int,
        cache_size: int = 256,
    ) -> None:
        self.name = name
        self.make = make
        self.num_series = num_series
        self.cache_size = cache_size
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def series(self, j: int) -> np.ndarray:
        if j in self._cache:
            self._cache.move_to_end(j)
            return self._cache[j]
        values = np.asarray(self.make(j), dtype=np.float32)
        self._cache[j] = values
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return values

    def __getstate__(self) -> dict[str, Any]:  # workers start with an empty cache
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        return state


Source = FileSource | GeneratedSource


def resolve_source_path(source: SourceConfig, data_dir: str | None) -> Path:
    """The file or directory of a file source; relative paths resolve against ``data_dir``."""
    assert source.path is not None
    data_dir = data_dir if data_dir is not None else series_io.default_data_dir()
    path = Path(source.path).expanduser()
    if not path.is_absolute() and data_dir is not None:
        try:
            return series_io.resolve_data_path(source.path, data_dir)
        except FileNotFoundError:
            pass
    if path.exists():
        return path
    where = (
        f" (data_dir: {data_dir})"
        if data_dir
        else f" (set data.data_dir or ${series_io.DATA_DIR_ENV})"
    )
    raise FileNotFoundError(f"data source {source.name!r}: path {source.path!r} not found{where}")


def load_file_store(source: SourceConfig, data_dir: str | None) -> SeriesStore:
    """Read (or memory-map) the series of a file source."""
    path = resolve_source_path(source, data_dir)
    if source.memory_map:
        return open_memory_mapped(path)
    return SeriesStore.from_arrays(series_io.read_series(path))


def aggregate_series(values: np.ndarray, block: float, min_observed: float = 0.5) -> np.ndarray:
    """Means of ``values`` over consecutive blocks of ``block`` steps, aligned with its end.

    Block ``j`` from the end covers ``[n - round((j + 1) * block), n - round(j * block))``, so a
    fractional size keeps the calendar on average; steps before the first whole block are
    dropped. A block with less than ``min_observed`` of its steps observed is NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    count = int(np.floor(n / block + 1e-9))
    if count == 0:
        return np.empty(0, np.float32)
    starts = n - np.round(np.arange(count, 0, -1) * block).astype(np.int64)
    observed = ~np.isnan(values[starts[0] :])
    filled = np.where(observed, values[starts[0] :], 0.0)
    local = starts - starts[0]
    sums = np.add.reduceat(filled, local)
    seen = np.add.reduceat(observed.astype(np.float64), local)
    sizes = np.diff(np.append(local, n - starts[0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(seen >= min_observed * sizes, sums / seen, np.nan)
    return means.astype(np.float32)


def prepare_file_store(source: SourceConfig, data: DataConfig) -> tuple[SeriesStore, int]:
    """The series of a file source and the steps still to cut from their ends.

    An aggregated source (``source.aggregate``) is cut and aggregated here, so nothing is left to
    cut; any other source keeps its ``exclude_last`` for :class:`FileSource` to apply.
    """
    store = load_file_store(source, data.data_dir)
    exclude = data.exclude_last if source.exclude_last is None else source.exclude_last
    if source.aggregate is None:
        return store, exclude
    aggregated = []
    for i in range(len(store)):
        series = store[i]
        aggregated.append(
            aggregate_series(series[: max(0, len(series) - exclude)], source.aggregate)
        )
    return SeriesStore.from_arrays(aggregated), 0


def _kernel_synth_source(source: SourceConfig, spec: WindowSpec, seed: int) -> Source:
    """KernelSynth series ``0 .. num_series - 1`` of seed ``seed``.

    With ``options.pregenerate`` they are all drawn up front (batched, on the GPU when
    ``options.device`` is ``auto``/``cuda`` and one is present) and kept in memory; otherwise each
    worker draws series on demand (one GP sample of ``length`` points costs tens of ms per core).
    """
    from chronos_pkg.synth.kernel_synth import KernelSynth

    options = dict(source.options)
    num_series = int(options.pop("num_series", 1_000_000))
    cache_size = int(options.pop("cache_size", 256))
    pregenerate = bool(options.pop("pregenerate", False))
    device = str(resolve_device(options.pop("device", "cpu")))
    try:
        generator = KernelSynth(seed=int(options.pop("seed", seed)), device=device, **options)
    except TypeError as err:
        raise ValueError(f"data source {source.name!r}: bad kernel_synth options: {err}") from err
    if not pregenerate:
        return GeneratedSource(source.name, generator.sample, num_series, cache_size)
    logger.info("generating %d KernelSynth series on %s", num_series, device)
    block = 16_384
    values = np.empty(num_series * generator.length, dtype=np.float32)
    for begin in range(0, num_series, block):
        end = min(begin + block, num_series)
        values[begin * generator.length : end * generator.length] = generator.generate(
            begin, end
        ).ravel()
    if device != "cpu":
        torch.cuda.empty_cache()
    offsets = np.arange(num_series + 1, dtype=np.int64) * generator.length
    return FileSource(source.name, SeriesStore([(values, offsets)]), spec)


def _seasonal_synth_source(source: SourceConfig, seed: int) -> GeneratedSource:
    """SeasonalSynth series ``0 .. num_series - 1`` of seed ``seed``, drawn on demand (cheap)."""
    from chronos_pkg.synth.seasonal_synth import SeasonalSynth

    options = dict(source.options)
    num_series = int(options.pop("num_series", 1_000_000))
    cache_size = int(options.pop("cache_size", 0))
    try:
        generator = SeasonalSynth(seed=int(options.pop("seed", seed)), **options)
    except TypeError as err:
        raise ValueError(f"data source {source.name!r}: bad seasonal_synth options: {err}") from err
    return GeneratedSource(source.name, generator.sample, num_series, cache_size)


class _MixupTargets:
    """Picklable ``i -> TSMixup series i`` (worker processes may be spawned)."""

    def __init__(self, mixup: Any) -> None:
        self.mixup = mixup

    def __call__(self, index: int) -> np.ndarray:
        return self.mixup.sample(index).target


def _tsmixup_source(
    source: SourceConfig, pools: list[list[np.ndarray]], seed: int
) -> GeneratedSource:
    """TSMixup over the (already trimmed) series of the pool sources. Each pool dataset gets an
    equal share of the picks (or ``options.dataset_weights``), split evenly among its series."""
    from chronos_pkg.synth.tsmixup import TSMixup, dataset_probabilities

    options = dict(source.options)
    pool_weights = options.pop("dataset_weights", None)
    num_series = int(options.pop("num_series", 10_000_000))
    cache_size = int(options.pop("cache_size", 0))
    series = [s for pool in pools for s in pool]
    probabilities = dataset_probabilities([len(pool) for pool in pools], pool_weights)
    try:
        mixup = TSMixup(
            series, probabilities=probabilities, seed=int(options.pop("seed", seed)), **options
        )
    except TypeError as err:
        raise ValueError(f"data source {source.name!r}: bad tsmixup options: {err}") from err
    return GeneratedSource(source.name, _MixupTargets(mixup), num_series, cache_size)


def holdout_mask(name: str, num_series: int, fraction: float) -> np.ndarray:
    """Which series of dataset ``name`` are held out of training for validation, (N,) bool.

    A fixed ``fraction`` of the series of every dataset with at least
    :data:`HOLDOUT_MIN_SERIES` series (smaller ones stay whole in training), chosen by a
    generator seeded from the dataset's name only: training and validation agree on the split
    whatever the run's seed, and so do later runs.
    """
    mask = np.zeros(num_series, dtype=bool)
    if fraction <= 0 or num_series < HOLDOUT_MIN_SERIES:
        return mask
    count = max(1, round(fraction * num_series))
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    mask[rng.choice(num_series, size=count, replace=False)] = True
    return mask


def validation_mask(source: SourceConfig, num_series: int, data: DataConfig) -> np.ndarray:
    """Which series of a file source are kept out of training for validation, (N,) bool: all of
    them for a dataset named in ``data.validation_datasets``, else :func:`holdout_mask`'s."""
    name = source.holdout_name
    if name in data.validation_datasets:
        return np.ones(num_series, dtype=bool)
    return holdout_mask(name, num_series, data.holdout_fraction)


def build_sources(data: DataConfig, spec: WindowSpec, seed: int) -> tuple[list[Source], np.ndarray]:
    """Load every source of ``data`` and the normalised mixture weights.

    Raises ``FileNotFoundError`` for a missing path and ``ValueError`` for a source that keeps
    no usable series, before any training starts.
    """
    stores: dict[str, tuple[SeriesStore, int, np.ndarray]] = {}
    for source in data.sources:
        if source.kind in FILE_KINDS:
            store, exclude = prepare_file_store(source, data)
            train = ~validation_mask(source, len(store), data)
            stores[source.name] = (store, exclude, train)
    sources: list[Source] = []
    for source in data.sources:
        if source.kind in FILE_KINDS:
            store, exclude, train = stores[source.name]
            built: Source = FileSource(source.name, store, spec, exclude, train)
        elif source.kind == "kernel_synth":
            built = _kernel_synth_source(source, spec, seed)
        elif source.kind == "seasonal_synth":
            built = _seasonal_synth_source(source, seed)
        else:  # tsmixup
            pools = []
            for name in source.pool:
                store, exclude, train = stores[name]
                if not train.any():  # a whole validation dataset
                    continue
                lengths = store.lengths()
                pools.append(
                    [
                        store[i][: max(0, int(n) - exclude)]
                        for i, n in enumerate(lengths)
                        if train[i]
                    ]
                )
            built = _tsmixup_source(source, pools, seed)
        if built.num_series == 0 and source.weight > 0:
            raise ValueError(
                f"data source {source.name!r} has no usable series (each needs at least "
                f"min_past + min_future = {spec.min_length} steps after exclude_last and "
                f"at most {spec.max_missing_prop:.0%} missing)"
            )
        sources.append(built)
    weights = np.array([s.weight for s in data.sources], dtype=np.float64)
    return sources, weights / weights.sum()
