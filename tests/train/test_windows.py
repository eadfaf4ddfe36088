"""Training windows: cutting, redraws, determinism, the mixture, augmentation, the loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chronos_pkg.train.sources import FileSource, SeriesStore
from chronos_pkg.train.windows import (
    BatchStream,
    WindowSampler,
    WindowSpec,
    make_loader,
    mask_missing,
    window_at,
)
from tests.train.conftest import SPEC, ramp_series


def test_window_at_left_pads_short_contexts() -> None:
    series = np.arange(100, dtype=np.float32)
    context, future = window_at(series, 20, SPEC)
    assert np.isnan(context[:12]).all()
    np.testing.assert_array_equal(context[12:], np.arange(20))
    np.testing.assert_array_equal(future, np.arange(20, 28))
    context, _ = window_at(series, 90, SPEC)
    np.testing.assert_array_equal(context, np.arange(58, 90))


def test_windows_respect_min_past_and_exclude_last() -> None:
    lengths = [40, 75, 200]
    exclude = 12
    store = SeriesStore.from_arrays(ramp_series(lengths))
    source = FileSource("ramps", store, SPEC, exclude_last=exclude)
    sampler = WindowSampler([source], np.array([1.0]), SPEC, seed=0)
    starts, ends = [], []
    for k in range(60):
        contexts, futures = sampler.sample(k, 64)
        assert contexts.shape == (64, 32) and futures.shape == (64, 8)
        assert not np.isnan(futures).any()
        start = futures[:, 0]
        starts.append(start)
        ends.append(futures[:, -1])
        # the context is exactly the history before the forecast start
        np.testing.assert_array_equal(contexts[:, -1], start - 1)
    starts, ends = np.concatenate(starts), np.concatenate(ends)
    assert starts.min() == SPEC.min_past  # reached: the bound is tight
    assert ends.max() == max(lengths) - exclude - 1  # the last kept step, never beyond
    assert (starts >= SPEC.min_past).all()


def test_short_series_train_with_a_partial_masked_future() -> None:
    spec = WindowSpec(32, 8, min_past=10, max_missing_prop=0.5, min_future=2)
    assert spec.min_length == 12
    context, future = window_at(np.arange(14, dtype=np.float32), 11, spec)
    np.testing.assert_array_equal(context[-11:], np.arange(11))
    np.testing.assert_array_equal(future[:3], [11, 12, 13])
    assert np.isnan(future[3:]).all()  # past the end: missing, so left out of the loss
    short = ramp_series([12, 13, 16])
    too_short = ramp_series([11])
    store = SeriesStore.from_arrays(short + too_short)
    source = FileSource("short", store, spec)
    assert source.index.tolist() == [0, 1, 2]
    assert FileSource("short", store, SPEC).index.tolist() == []  # full future required
    contexts, futures = WindowSampler([source], np.array([1.0]), spec, seed=0).sample(0, 256)
    observed = (~np.isnan(futures)).sum(axis=1)
    assert observed.min() >= 2 and observed.max() <= 6
    # every observed future value continues its context
    np.testing.assert_array_equal(futures[:, 0], contexts[:, -1] + 1)


def test_all_nan_contexts_are_redrawn() -> None:
    series = np.arange(200, dtype=np.float32)
    series[:150] = np.nan  # only 25% observed, but allowed by max_missing_prop=0.9
    spec = WindowSpec(32, 8, min_past=10, max_missing_prop=0.9)
    store = SeriesStore.from_arrays([series])
    sampler = WindowSampler([FileSource("late", store, spec)], np.array([1.0]), spec, seed=1)
    contexts, _ = sampler.sample(0, 64)
    assert (~np.isnan(contexts)).any(axis=1).all()


def test_batches_are_a_pure_function_of_seed_index_rank() -> None:
    store = SeriesStore.from_arrays(ramp_series([300] * 5))
    source = FileSource("ramps", store, SPEC)

    def batch(seed: int, index: int, rank: int) -> np.ndarray:
        return WindowSampler([source], np.array([1.0]), SPEC, seed, rank).sample(index, 16)[1]

    np.testing.assert_array_equal(batch(0, 3, 0), batch(0, 3, 0))
    assert not np.array_equal(batch(0, 3, 0), batch(0, 4, 0))
    assert not np.array_equal(batch(0, 3, 0), batch(0, 3, 1))
    assert not np.array_equal(batch(0, 3, 0), batch(1, 3, 0))


def test_mixture_follows_weights() -> None:
    positive = FileSource("pos", SeriesStore.from_arrays(ramp_series([100] * 3, 1.0)), SPEC)
    negative = FileSource("neg", SeriesStore.from_arrays(ramp_series([100] * 3, -1000.0)), SPEC)
    sampler = WindowSampler([positive, negative], np.array([3.0, 1.0]), SPEC, seed=0)
    futures = np.concatenate([sampler.sample(k, 100)[1] for k in range(20)])
    share = (futures[:, 0] > 0).mean()
    assert share == pytest.approx(0.75, abs=0.04)


def test_missing_augmentation_rate_and_no_mutation() -> None:
    rng = np.random.default_rng(0)
    contexts = rng.normal(size=(2000, 32)).astype(np.float32)
    futures = rng.normal(size=(2000, 8)).astype(np.float32)
    originals = contexts.copy(), futures.copy()
    masked_c, masked_f = mask_missing(contexts, futures, 0.2, rng)
    np.testing.assert_array_equal(contexts, originals[0])
    np.testing.assert_array_equal(futures, originals[1])
    per_window = np.isnan(np.concatenate([masked_c, masked_f], axis=1)).mean(axis=1)
    assert per_window.mean() == pytest.approx(0.1, abs=0.01)  # E[p] for p ~ U(0, 0.2)
    assert per_window.max() < 0.45
    np.testing.assert_array_equal(masked_c[~np.isnan(masked_c)], contexts[~np.isnan(masked_c)])


def _as_tensors(contexts: np.ndarray, futures: np.ndarray) -> dict[str, torch.Tensor]:
    return {"contexts": torch.from_numpy(contexts), "futures": torch.from_numpy(futures)}


def test_loader_workers_keep_batch_order() -> None:
    store = SeriesStore.from_arrays(ramp_series([300] * 5))
    sampler = WindowSampler([FileSource("r", store, SPEC)], np.array([1.0]), SPEC, seed=0)
    expected = [sampler.sample(k, 4)[1] for k in range(5, 11)]
    for workers in (0, 2):
        loader = make_loader(BatchStream(sampler, _as_tensors, 4, start=5), num_workers=workers)
        got = [batch["futures"].numpy() for _, batch in zip(range(6), loader)]
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
