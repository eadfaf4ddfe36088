"""Window sampling, filters, the mixture, memory-mapping and data-loader determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from chronos_pkg import series_io
from chronos_pkg.train_config import DataConfig, SourceConfig
from chronos_pkg.training_data import (
    BatchStream,
    FileSource,
    SeriesStore,
    WindowSampler,
    WindowSpec,
    build_sources,
    convert_to_arrow,
    holdout_mask,
    make_loader,
    mask_missing,
    open_memory_mapped,
    window_at,
)

SPEC = WindowSpec(context_length=32, prediction_length=8, min_past=10, max_missing_prop=0.5)


def ramp_series(lengths: list[int], offset: float = 0.0) -> list[np.ndarray]:
    """Series whose value is the position (plus ``offset``): windows reveal where they start."""
    return [np.arange(n, dtype=np.float32) + offset for n in lengths]


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


def test_filters_drop_short_and_gappy_series() -> None:
    gappy = np.arange(100, dtype=np.float32)
    gappy[::4] = np.nan
    gappy[1::4] = np.nan
    gappy[2::4] = np.nan  # 75% missing > max_missing_prop 0.5
    half = np.arange(100, dtype=np.float32)
    half[:40] = np.nan  # 40% missing: kept
    short = np.arange(SPEC.min_length - 1, dtype=np.float32)
    store = SeriesStore.from_arrays([gappy, half, short, np.arange(60, dtype=np.float32)])
    source = FileSource("mixed", store, SPEC)
    np.testing.assert_array_equal(source.index, [1, 3])
    # exclude_last trims before the filters: series 3 (60 steps) keeps exactly min_length = 18,
    # and series 1 keeps 58 steps of which 40 are missing (69% > 50%)
    assert FileSource("mixed", store, SPEC, exclude_last=42).index.tolist() == [3]
    assert FileSource("mixed", store, SPEC, exclude_last=43).index.tolist() == []


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


def test_holdout_mask_is_a_fixed_share_chosen_by_name() -> None:
    mask = holdout_mask("ramps", 200, 0.1)
    assert mask.sum() == 20
    np.testing.assert_array_equal(mask, holdout_mask("ramps", 200, 0.1))  # reproducible
    assert not np.array_equal(mask, holdout_mask("other", 200, 0.1))
    assert not holdout_mask("ramps", 19, 0.5).any()  # small datasets stay whole
    assert not holdout_mask("ramps", 200, 0.0).any()


def test_held_out_series_never_reach_training(tmp_path: Path) -> None:
    pytest.importorskip("chronos_pkg.tsmixup")
    n = 40
    held = holdout_mask("real", n, 0.25)
    rng = np.random.default_rng(0)
    # held-out series alternate in sign; training series are positive: a mean-scaled window of
    # a held-out series would show up as negative values
    series = [
        np.tile([1.0, -1.0], 100).astype(np.float32)
        if held[i]
        else (1 + rng.uniform(0, 0.1, 200)).astype(np.float32)
        for i in range(n)
    ]
    series_io.write_series(series, tmp_path / "pool.parquet")
    data = DataConfig(
        data_dir=str(tmp_path),
        holdout_fraction=0.25,
        sources=[
            SourceConfig(name="real", path="pool.parquet", weight=1),
            SourceConfig(
                name="mix",
                kind="tsmixup",
                pool=["real"],
                options={"max_series": 1, "min_length": 64, "max_length": 128},
            ),
        ],
    )
    sources, _ = build_sources(data, SPEC, seed=0)
    assert sources[0].index.tolist() == np.flatnonzero(~held).tolist()
    mixed = np.concatenate([sources[1].series(i) for i in range(300)])
    assert mixed.min() > 0


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


def test_memory_mapped_store_matches_in_memory(tmp_path: Path) -> None:
    series = ramp_series([50, 7, 300])
    series[1][3] = np.nan
    parquet = series_io.write_series(series, tmp_path / "s.parquet")
    arrow = convert_to_arrow(parquet, tmp_path / "s.arrow", chunk_size=2)
    store = open_memory_mapped(arrow)
    assert len(store) == 3 and len(store.chunks) == 2
    for i, expected in enumerate(series):
        np.testing.assert_array_equal(store[i], expected)
    np.testing.assert_array_equal(store.missing_counts(), [0, 1, 0])
    np.testing.assert_array_equal(store.missing_counts(exclude_last=4), [0, 0, 0])


def test_build_sources_resolves_paths_and_checks_data(tmp_path: Path) -> None:
    series_io.write_series(ramp_series([100, 200]), tmp_path / "ramps.parquet")
    series_io.write_series(ramp_series([15]), tmp_path / "tiny.parquet")
    data = DataConfig(
        data_dir=str(tmp_path),
        exclude_last=5,
        sources=[
            SourceConfig(name="ramps", path="ramps.parquet", weight=3),
            SourceConfig(name="named", path="ramps", exclude_last=0),
            SourceConfig(name="tiny", path="tiny.parquet", weight=0),  # pool only: may be unusable
        ],
    )
    sources, weights = build_sources(data, SPEC, seed=0)
    np.testing.assert_allclose(weights, [0.75, 0.25, 0.0])
    assert sources[0].lengths.tolist() == [95, 195]
    assert sources[1].lengths.tolist() == [100, 200]
    bad = DataConfig(
        data_dir=str(tmp_path), sources=[SourceConfig(name="x", path="absent.parquet")]
    )
    with pytest.raises(FileNotFoundError, match="absent"):
        build_sources(bad, SPEC, seed=0)
    empty = DataConfig(
        data_dir=str(tmp_path), sources=[SourceConfig(name="t", path="tiny.parquet")]
    )
    with pytest.raises(ValueError, match="no usable series"):
        build_sources(empty, SPEC, seed=0)


def test_tsmixup_pool_never_sees_excluded_steps(tmp_path: Path) -> None:
    pytest.importorskip("chronos_pkg.tsmixup")
    exclude = 20
    series = []
    for n in (300, 260, 400):
        values = np.ones(n, dtype=np.float32) + np.random.default_rng(n).uniform(0, 0.1, n).astype(
            np.float32
        )
        values[-exclude:] = 1e6  # evaluation window: must never be mixed in
        series.append(values)
    series_io.write_series(series, tmp_path / "pool.parquet")
    data = DataConfig(
        data_dir=str(tmp_path),
        sources=[
            SourceConfig(name="real", path="pool.parquet", weight=0, exclude_last=exclude),
            SourceConfig(
                name="mix",
                kind="tsmixup",
                pool=["real"],
                options={"min_length": 64, "max_length": 240},
            ),
        ],
    )
    sources, _ = build_sources(data, SPEC, seed=0)
    mix = sources[1]
    values = np.concatenate([mix.series(i) for i in range(200)])
    assert values.max() < 10  # mean-scaled windows of ~1.05 values; 1e6 would dominate


def test_kernel_synth_source_is_seeded(tmp_path: Path) -> None:
    data = DataConfig(
        sources=[
            SourceConfig(name="ks", kind="kernel_synth", options={"length": 64, "num_series": 8})
        ]
    )
    spec = WindowSpec(32, 8, min_past=10)
    sources, _ = build_sources(data, spec, seed=0)
    first = sources[0].series(3)
    assert first.shape == (64,)
    again, _ = build_sources(data, spec, seed=0)
    np.testing.assert_array_equal(again[0].series(3), first)
    other, _ = build_sources(data, spec, seed=1)
    assert not np.array_equal(other[0].series(3), first)
    pregenerated = DataConfig(
        sources=[
            SourceConfig(
                name="ks",
                kind="kernel_synth",
                options={"length": 64, "num_series": 8, "pregenerate": True},
            )
        ]
    )
    stored, _ = build_sources(pregenerated, spec, seed=0)
    assert stored[0].num_series == 8
    np.testing.assert_array_equal(stored[0].series(3), first)
    bad = DataConfig(sources=[SourceConfig(name="ks", kind="kernel_synth", options={"lenght": 64})])
    with pytest.raises(ValueError, match="lenght"):
        build_sources(bad, spec, seed=0)


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
