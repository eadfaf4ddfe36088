"""Training windows: the weighted mixture of sources, window cutting, augmentation, loading.

Pipeline (all in NumPy, run inside data-loader workers)::

    sources (:mod:`chronos_pkg.train.sources`: files, KernelSynth, TSMixup, after the filters)
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
already perfectly shuffled: no shuffle buffer is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from chronos_pkg.train.sources import Source

MAX_REDRAWS = 1000  # per window, before deciding a source cannot give a usable context


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
