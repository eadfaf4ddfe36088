"""TSMixup: new series as convex mixtures of mean-scaled windows of real series.

Per new series (SPEC section 5): draw ``k`` uniformly from ``{1..max_series}`` and a length ``l``
uniformly from ``[min_length, max_length]``; pick ``k`` source series, from each take a window of
length ``l`` at a uniformly random position, divide it by its mean absolute value, and mix the
windows with weights drawn from a symmetric ``Dirichlet(alpha)``.

Choices the paper leaves open, made here:

- only series with at least ``min_length`` values are used as sources, and when a picked
  source is shorter than ``l`` the window length becomes the shortest picked source's length
  (so lengths always lie in ``[min_length, max_length]``);
- the ``k`` sources are distinct when at least ``k`` are usable (drawn with ``probabilities``);
- the scale is the mean absolute value of the observed (non-NaN) values, 1 when that is not
  positive; NaN values stay NaN in the mixture (missing stays missing).

Mixture ``i`` of a :class:`TSMixup` with seed ``s`` uses only ``np.random.default_rng([s, i])``,
so files written by the CLI and the on-the-fly iterator give the same series.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chronos_pkg import series_io
from chronos_pkg.synth.shards import write_shards

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MixupSample:
    """One TSMixup series and how it was made.

    Attributes
    ----------
    target
        The mixture, float32 ``(length,)``.
    sources
        Indices of the source series, ``(k,)``.
    starts
        Start of each source's window, ``(k,)``.
    scales
        Mean absolute value each window was divided by, ``(k,)``.
    weights
        Dirichlet mixing weights, ``(k,)``, summing to 1.
    """

    target: np.ndarray
    sources: np.ndarray
    starts: np.ndarray
    scales: np.ndarray
    weights: np.ndarray


def mean_abs_scale(window: np.ndarray) -> float:
    """Mean absolute value of the observed entries; 1.0 when that is not a positive number."""
    observed = np.abs(window[~np.isnan(window)])
    scale = float(observed.mean()) if observed.size else 0.0
    return scale if np.isfinite(scale) and scale > 0 else 1.0


def tsmixup(
    series: Sequence[np.ndarray],
    rng: np.random.Generator,
    *,
    max_series: int = 3,
    min_length: int = 128,
    max_length: int = 2048,
    alpha: float = 1.5,
    probabilities: np.ndarray | None = None,
) -> MixupSample:
    """Draw one TSMixup series from ``series`` (a sequence of 1-D arrays).

    Parameters
    ----------
    series
        Source series; those shorter than ``min_length`` are never picked.
    rng
        The generator to draw from.
    max_series
        Largest number of sources ``K`` in one mixture.
    min_length, max_length
        Range of the mixture length (inclusive).
    alpha
        Concentration of the symmetric Dirichlet over the mixing weights.
    probabilities
        Optional sampling probability of each source series (renormalised over usable ones).
    """
    mixer = _Mixer(series, max_series, min_length, max_length, alpha, probabilities)
    return mixer.draw(rng)


class _Mixer:
    """Validated settings plus the usable sources, shared by :func:`tsmixup` and :class:`TSMixup`."""

    def __init__(
        self,
        series: Sequence[np.ndarray],
        max_series: int,
        min_length: int,
        max_length: int,
        alpha: float,
        probabilities: np.ndarray | Sequence[float] | None,
    ) -> None:
        if max_series < 1:
            raise ValueError(f"max_series must be >= 1, got {max_series}")
        if not 1 <= min_length <= max_length:
            raise ValueError(
                f"need 1 <= min_length <= max_length, got min_length={min_length}, "
                f"max_length={max_length}"
            )
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        arrays = []
        for i, item in enumerate(series):
            array = np.asarray(item)
            if not np.issubdtype(array.dtype, np.floating):
                array = array.astype(np.float64)
            if array.ndim != 1:
                raise ValueError(f"series {i} must be 1-D, got shape {array.shape}")
            arrays.append(array)
        lengths = np.array([len(a) for a in arrays], dtype=np.int64)
        usable = (lengths >= min_length) & np.array(
            [bool(np.any(~np.isnan(a))) for a in arrays], dtype=bool
        )
        if not usable.any():
            raise ValueError(
                f"no usable source series: TSMixup needs series with at least min_length="
                f"{min_length} values, not all NaN (got {len(arrays)} series)"
            )
        if probabilities is None:
            weights = usable.astype(np.float64)
        else:
            weights = np.asarray(probabilities, dtype=np.float64)
            if weights.shape != (len(arrays),):
                raise ValueError(
                    f"probabilities must have one entry per series ({len(arrays)}), "
                    f"got shape {weights.shape}"
                )
            if np.any(~np.isfinite(weights)) or np.any(weights < 0):
                raise ValueError("probabilities must be finite and non-negative")
            weights = np.where(usable, weights, 0.0)
            if not weights.sum() > 0:
                raise ValueError("probabilities give zero weight to every usable series")
        self.series = arrays
        self.lengths = lengths
        self.candidates = np.flatnonzero(weights > 0)
        self.candidate_p = weights[self.candidates] / weights[self.candidates].sum()
        self.max_series = max_series
        self.min_length = min_length
        self.max_length = max_length
        self.alpha = float(alpha)

    def draw(self, rng: np.random.Generator) -> MixupSample:
        count = int(rng.integers(1, self.max_series + 1))
        length = int(rng.integers(self.min_length, self.max_length + 1))
        replace = count > len(self.candidates)
        sources = rng.choice(self.candidates, size=count, replace=replace, p=self.candidate_p)
        length = min(length, int(self.lengths[sources].min()))
        # Dirichlet of one component is exactly 1 (numpy returns 1 - 1 ulp)
        weights = rng.dirichlet(np.full(count, self.alpha)) if count > 1 else np.ones(1)
        starts = np.array([rng.integers(0, self.lengths[s] - length + 1) for s in sources])
        windows = [
            self.series[s][a : a + length].astype(np.float64) for s, a in zip(sources, starts)
        ]
        scales = np.array([mean_abs_scale(w) for w in windows])
        mixture = sum(w * (window / scale) for w, window, scale in zip(weights, windows, scales))
        return MixupSample(
            target=np.asarray(mixture, dtype=np.float32),
            sources=np.asarray(sources, dtype=np.int64),
            starts=starts.astype(np.int64),
            scales=scales,
            weights=weights,
        )


class TSMixup:
    """Seeded TSMixup source: sample ``i`` depends only on ``(seed, i)`` and the sources.

    Use it on the fly (``iter(mixup)`` is an endless stream of float32 arrays, no files), for
    one sample (``mixup.sample(i)``), or for a range (``mixup(begin, end)``, what
    :func:`chronos_pkg.synth.shards.write_shards` calls).

    Parameters
    ----------
    series
        Source series (1-D arrays; NaN = missing). Float arrays are kept, not copied.
    max_series, min_length, max_length, alpha, probabilities
        As in :func:`tsmixup`.
    seed
        Non-negative base seed.
    """

    def __init__(
        self,
        series: Sequence[np.ndarray],
        *,
        max_series: int = 3,
        min_length: int = 128,
        max_length: int = 2048,
        alpha: float = 1.5,
        probabilities: np.ndarray | Sequence[float] | None = None,
        seed: int = 0,
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self._mixer = _Mixer(series, max_series, min_length, max_length, alpha, probabilities)
        self.seed = seed

    def sample(self, index: int) -> MixupSample:
        """Mixture ``index`` with its provenance."""
        if index < 0:
            raise ValueError(f"index must be >= 0, got {index}")
        return self._mixer.draw(np.random.default_rng([self.seed, index]))

    def __call__(self, begin: int, end: int) -> list[np.ndarray]:
        """Mixtures ``begin .. end - 1`` as float32 arrays."""
        return [self.sample(i).target for i in range(begin, end)]

    def iter_samples(self, start: int = 0, step: int = 1) -> Iterator[np.ndarray]:
        """Endless mixtures ``start, start + step, ...`` (``step`` > 1 splits among workers)."""
        if start < 0 or step < 1:
            raise ValueError(f"need start >= 0 and step >= 1, got start={start}, step={step}")
        index = start
        while True:
            yield self.sample(index).target
            index += step

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iter_samples()


def dataset_probabilities(
    sizes: Sequence[int], dataset_weights: Sequence[float] | None = None
) -> np.ndarray:
    """Per-series probabilities (summing to 1) for pooled datasets: each dataset gets its share
    of ``dataset_weights`` (default equal), split evenly among its series.

    ``sizes`` are the datasets' series counts, in pooling order.
    """
    if dataset_weights is None:
        dataset_weights = [1.0] * len(sizes)
    if len(dataset_weights) != len(sizes):
        raise ValueError(f"got {len(dataset_weights)} dataset weights for {len(sizes)} datasets")
    if any(not w >= 0 for w in dataset_weights) or not sum(dataset_weights) > 0:
        raise ValueError(
            f"dataset weights must be non-negative and not all zero: {dataset_weights}"
        )
    parts = [np.full(n, w / n) for n, w in zip(sizes, dataset_weights) if n > 0]
    probabilities = np.concatenate(parts) if parts else np.empty(0)
    return probabilities / probabilities.sum() if probabilities.sum() > 0 else probabilities


def generate_tsmixup(
    data: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    num_series: int,
    *,
    max_series: int = 3,
    min_length: int = 128,
    max_length: int = 2048,
    alpha: float = 1.5,
    dataset_weights: Sequence[float] | None = None,
    seed: int = 0,
    format: series_io.SeriesFormat = "arrow",
    shard_size: int = 100_000,
    resume: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write ``num_series`` TSMixup series drawn from the datasets at ``data`` into ``output``.

    Each path in ``data`` (file, directory, or a name under ``$CHRONOS_PKG_DATA_DIR``) is one
    dataset; datasets are drawn with ``dataset_weights`` (default equal), series uniformly within.
    Returns the shard paths (see :func:`chronos_pkg.synth.shards.write_shards`).
    """
    if not data:
        raise ValueError("need at least one dataset path")
    paths = [series_io.resolve_data_path(p) for p in data]
    pools = [series_io.read_series(p) for p in paths]
    sources = [s for pool in pools for s in pool]
    probabilities = dataset_probabilities([len(pool) for pool in pools], dataset_weights)
    logger.info("TSMixup sources: %d series from %d datasets", len(sources), len(paths))
    mixup = TSMixup(
        sources,
        max_series=max_series,
        min_length=min_length,
        max_length=max_length,
        alpha=alpha,
        probabilities=probabilities,
        seed=seed,
    )
    settings = {
        "generator": "tsmixup",
        "data": [str(p) for p in paths],
        "dataset_weights": list(dataset_weights) if dataset_weights is not None else None,
        "max_series": max_series,
        "min_length": min_length,
        "max_length": max_length,
        "alpha": alpha,
        "seed": seed,
    }
    return write_shards(
        mixup,
        num_series,
        output,
        shard_size=shard_size,
        format=format,
        resume=resume,
        metadata=settings,
        id_prefix="tsmixup_",
        progress=progress,
    )
