"""Training windows: sources, the filters of SPEC section 4, the weighted mixture, data loading.

Pipeline (all in NumPy, run inside data-loader workers)::

    sources (files in RAM or memory-mapped, KernelSynth, TSMixup)
      -> filters: cut ``exclude_last`` steps (evaluation windows), drop series with more than
         ``max_missing_prop`` missing or too short for ``min_past + min_future``; with
         ``holdout_fraction`` > 0, a fixed subset of each file source's series is kept out for
         validation (:func:`holdout_mask`)
      -> mixture: each window picks a source with probability proportional to its weight
      -> window: forecast start uniform on [min_past, len - min_future], context left-padded
         and future right-padded with NaN (a short series trains with a partial, masked
         future); all-NaN contexts are redrawn
      -> missing-value augmentation (if the task asks): p ~ U(0, missing_prob_max) per window
      -> task.make_batch(contexts (B, C), futures (B, H)) -> tensors

Determinism by construction: micro-batch ``k`` on rank ``r`` is drawn from
``np.random.default_rng([seed, k, r])`` and generated series ``i`` from ``(seed, i)``, so a batch
is a pure function of ``(seed, k, rank)``: resuming at step ``s`` needs no sampler state beyond
``s``, and data-loader workers split the batch indices round-robin without coordination.
Because every window is drawn independently over the whole corpus (random access), the stream is
already perfectly shuffled: no shuffle buffer is needed. Corpora larger than memory are kept as
Arrow IPC files and memory-mapped (``memory_map: true``; :func:`convert_to_arrow` streams a
parquet corpus into one), so only the pages a window touches are read.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from chronos_pkg import series_io
from chronos_pkg.train_config import FILE_KINDS, DataConfig, SourceConfig

logger = logging.getLogger(__name__)

MAX_REDRAWS = 1000  # per window, before deciding a source cannot give a usable context
HOLDOUT_MIN_SERIES = 20  # datasets with fewer series are never split for validation


@dataclass(frozen=True)
class WindowSpec:
    """Shape and filters of training windows."""

    context_length: int
    prediction_length: int
    min_past: int = 60
    max_missing_prop: float = 0.9
    missing_prob_max: float = 0.0  # 0 disables missing-value augmentation
    min_future: int | None = None  # None: a full prediction_length of future

    @property
    def required_future(self) -> int:
        """Observed future steps a window needs; the rest of its future is NaN (not in the loss)."""
        return self.prediction_length if self.min_future is None else self.min_future

    @property
    def min_length(self) -> int:
        """Shortest usable series: ``min_past`` history plus ``required_future`` steps."""
        return self.min_past + self.required_future


# ----------------------------------------------------------------------------- series stores


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
        if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
            raise TypeError(f"{where}: expected a list column, got {array.type}")
        if array.null_count:
            raise ValueError(f"{where}: null series are not supported in a memory-mapped source")
        flat = array.values
        if flat.type != pa.float32() or flat.null_count:
            raise ValueError(
                f"{where}: memory-mapping needs float32 values without nulls (got {flat.type}); "
                "rewrite it with convert_to_arrow"
            )
        offsets = array.offsets.to_numpy().astype(np.int64)
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
                "convert it with chronos_pkg.training_data.convert_to_arrow"
            ) from err
        if column not in table.column_names:
            raise ValueError(f"{file}: no column {column!r} (columns: {table.column_names})")
        chunks.extend(_list_chunks(table.column(column), f"{file}:{column}"))
    return SeriesStore(chunks)


def convert_to_arrow(
    path: str | os.PathLike, output: str | os.PathLike, chunk_size: int = 4096
) -> Path:
    """Stream the series at ``path`` (parquet/arrow, file or directory) into one Arrow IPC file
    of float32 ``target`` lists, holding at most ``chunk_size`` series in memory."""
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

        for series in series_io.iter_series(path):
            buffer.append(series)
            if len(buffer) >= chunk_size:
                flush()
        if buffer:
            flush()
    os.replace(tmp, output)
    return output


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
    data_dir = data_dir if data_dir is not None else os.environ.get(series_io.DATA_DIR_ENV)
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


def _kernel_synth_source(source: SourceConfig, spec: WindowSpec, seed: int) -> Source:
    """KernelSynth series ``0 .. num_series - 1`` of seed ``seed``.

    With ``options.pregenerate`` they are all drawn up front (batched, on the GPU when
    ``options.device`` is ``auto``/``cuda`` and one is present) and kept in memory; otherwise each
    worker draws series on demand (one GP sample of ``length`` points costs tens of ms per core).
    """
    from chronos_pkg.kernel_synth import KernelSynth

    options = dict(source.options)
    num_series = int(options.pop("num_series", 1_000_000))
    cache_size = int(options.pop("cache_size", 256))
    pregenerate = bool(options.pop("pregenerate", False))
    device = options.pop("device", "cpu")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
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
    from chronos_pkg.tsmixup import TSMixup, dataset_probabilities

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


def build_sources(data: DataConfig, spec: WindowSpec, seed: int) -> tuple[list[Source], np.ndarray]:
    """Load every source of ``data`` and the normalised mixture weights.

    Raises ``FileNotFoundError`` for a missing path and ``ValueError`` for a source that keeps
    no usable series, before any training starts.
    """
    stores: dict[str, tuple[SeriesStore, int, np.ndarray]] = {}
    for source in data.sources:
        if source.kind in FILE_KINDS:
            exclude = data.exclude_last if source.exclude_last is None else source.exclude_last
            store = load_file_store(source, data.data_dir)
            train = ~holdout_mask(source.name, len(store), data.holdout_fraction)
            stores[source.name] = (store, exclude, train)
    sources: list[Source] = []
    for source in data.sources:
        if source.kind in FILE_KINDS:
            store, exclude, train = stores[source.name]
            built: Source = FileSource(source.name, store, spec, exclude, train)
        elif source.kind == "kernel_synth":
            built = _kernel_synth_source(source, spec, seed)
        else:  # tsmixup
            pools = []
            for name in source.pool:
                store, exclude, train = stores[name]
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


# ---------------------------------------------------------------------------------- windows


def window_at(series: np.ndarray, start: int, spec: WindowSpec) -> tuple[np.ndarray, np.ndarray]:
    """Context (C,) left-padded with NaN and future (H,) around forecast start ``start``."""
    context = np.full(spec.context_length, np.nan, dtype=np.float32)
    past = series[max(0, start - spec.context_length) : start]
    if len(past):
        context[-len(past) :] = past
    future = np.full(spec.prediction_length, np.nan, dtype=np.float32)
    observed = series[start : start + spec.prediction_length]
    future[: len(observed)] = observed
    return context, future


def draw_window(
    source: Source, spec: WindowSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One window from a random series of ``source`` (uniform series, uniform start)."""
    for _ in range(MAX_REDRAWS):
        series = source.series(int(rng.integers(source.num_series)))
        last_start = len(series) - spec.required_future
        if last_start < spec.min_past:  # generated series shorter than a window
            continue
        start = int(rng.integers(spec.min_past, last_start + 1))
        context, future = window_at(series, start, spec)
        if not np.isnan(context).all():
            return context, future
    raise RuntimeError(
        f"source {source.name!r}: no window with an observed context after {MAX_REDRAWS} draws"
    )


def mask_missing(
    contexts: np.ndarray, futures: np.ndarray, max_prob: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Missing-value augmentation: per window p ~ U(0, max_prob), each step NaN with prob. p.

    Returns new arrays; the inputs are not modified.  (B, C), (B, H) -> (B, C), (B, H)
    """
    probs = rng.uniform(0.0, max_prob, size=(len(contexts), 1))
    drop = rng.random((len(contexts), contexts.shape[1] + futures.shape[1])) < probs
    c = contexts.shape[1]
    return (
        np.where(drop[:, :c], np.float32(np.nan), contexts),
        np.where(drop[:, c:], np.float32(np.nan), futures),
    )


class WindowSampler:
    """Micro-batch ``k`` of rank ``r``: a pure function of ``(seed, k, r)``."""

    def __init__(
        self,
        sources: Sequence[Source],
        weights: np.ndarray,
        spec: WindowSpec,
        seed: int,
        rank: int = 0,
    ) -> None:
        if len(sources) != len(weights):
            raise ValueError(f"{len(sources)} sources but {len(weights)} weights")
        self.sources = list(sources)
        self.weights = np.asarray(weights, dtype=np.float64) / np.sum(weights)
        self.spec = spec
        self.seed = seed
        self.rank = rank

    def sample(self, index: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Windows of micro-batch ``index``: contexts (B, C) float32, futures (B, H) float32."""
        rng = np.random.default_rng([self.seed, index, self.rank])
        choices = rng.choice(len(self.sources), size=batch_size, p=self.weights)
        contexts = np.empty((batch_size, self.spec.context_length), dtype=np.float32)
        futures = np.empty((batch_size, self.spec.prediction_length), dtype=np.float32)
        for i, choice in enumerate(choices):
            contexts[i], futures[i] = draw_window(self.sources[choice], self.spec, rng)
        if self.spec.missing_prob_max > 0:
            contexts, futures = mask_missing(contexts, futures, self.spec.missing_prob_max, rng)
        return contexts, futures


class BatchStream(torch.utils.data.IterableDataset):
    """Model-ready micro-batches ``start, start + 1, ...`` split round-robin over workers.

    ``torch.utils.data.DataLoader`` reads its workers in turn, so with ``batch_size=None`` the
    loader yields the micro-batches in index order whatever ``num_workers`` is.
    """

    def __init__(
        self,
        sampler: WindowSampler,
        make_batch: Callable[[np.ndarray, np.ndarray], dict[str, torch.Tensor]],
        batch_size: int,
        start: int = 0,
    ) -> None:
        super().__init__()
        self.sampler = sampler
        self.make_batch = make_batch
        self.batch_size = batch_size
        self.start = start

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        index = self.start + worker
        while True:
            contexts, futures = self.sampler.sample(index, self.batch_size)
            yield self.make_batch(contexts, futures)
            index += num_workers


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # tokenisation is tiny; avoid oversubscribing the cores


def make_loader(
    stream: BatchStream, num_workers: int, prefetch_factor: int = 4, pin_memory: bool = False
) -> torch.utils.data.DataLoader:
    """A loader over ``stream`` (one item = one micro-batch)."""
    kwargs: dict[str, Any] = {}
    if num_workers > 0:
        kwargs.update(
            prefetch_factor=prefetch_factor, persistent_workers=False, worker_init_fn=_worker_init
        )
    # an own generator, so creating the loader does not draw from (and shift) torch's global RNG,
    # which dropout uses: a resumed run must see the same dropout masks as an uninterrupted one
    generator = torch.Generator().manual_seed(stream.sampler.seed)
    return torch.utils.data.DataLoader(
        stream,
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=generator,
        **kwargs,
    )
