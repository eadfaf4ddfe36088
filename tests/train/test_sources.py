"""Training sources: filters, held-out series, memory-mapped stores, paths, generated sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chronos_pkg import series_io
from chronos_pkg.series_io import convert_to_arrow
from chronos_pkg.train.config import DataConfig, SourceConfig
from chronos_pkg.train.sources import (
    FileSource,
    SeriesStore,
    aggregate_series,
    build_sources,
    holdout_mask,
    open_memory_mapped,
)
from chronos_pkg.train.windows import WindowSpec
from tests.train.conftest import SPEC, ramp_series


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


def test_holdout_mask_is_a_fixed_share_chosen_by_name() -> None:
    mask = holdout_mask("ramps", 200, 0.1)
    assert mask.sum() == 20
    np.testing.assert_array_equal(mask, holdout_mask("ramps", 200, 0.1))  # reproducible
    assert not np.array_equal(mask, holdout_mask("other", 200, 0.1))
    assert not holdout_mask("ramps", 19, 0.5).any()  # small datasets stay whole
    assert not holdout_mask("ramps", 200, 0.0).any()


def test_held_out_series_never_reach_training(tmp_path: Path) -> None:
    pytest.importorskip("chronos_pkg.synth.tsmixup")
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


def test_aggregate_series_takes_block_means_from_the_end() -> None:
    values = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(aggregate_series(values, 3), [2, 5, 8])  # step 0 dropped
    # fractional blocks alternate 2 and 3 steps: boundaries 10 - round(k * 2.5) = 0, 2, 5, 8
    np.testing.assert_array_equal(aggregate_series(values, 2.5), [0.5, 3, 6, 8.5])
    gappy = values.copy()
    gappy[[0, 1, 2, 6]] = np.nan  # block [0, 4): 1 of 4 observed -> NaN; [4, 8): 3 of 4
    np.testing.assert_allclose(aggregate_series(gappy[:8], 4), [np.nan, 16 / 3])
    assert len(aggregate_series(values[:3], 4)) == 0
    # hourly -> monthly keeps a yearly cycle at 12 steps on average
    hours = np.arange(24 * 365.25 * 10)
    monthly = aggregate_series(np.sin(2 * np.pi * hours / (24 * 365.25)), 730.5)
    assert len(monthly) == 120
    np.testing.assert_allclose(monthly[12:], monthly[:-12], atol=1e-3)


def test_aggregated_copy_is_cut_first_and_shares_the_holdout(tmp_path: Path) -> None:
    n = 40
    series = [np.arange(100, dtype=np.float32) + 1000 * i for i in range(n)]
    series_io.write_series(series, tmp_path / "hourly.parquet")
    data = DataConfig(
        data_dir=str(tmp_path),
        holdout_fraction=0.25,
        sources=[
            SourceConfig(name="hourly", path="hourly.parquet", weight=1, exclude_last=4),
            SourceConfig(
                name="daily",
                path="hourly.parquet",
                weight=1,
                exclude_last=4,
                aggregate=24,
                freq="D",
                holdout_as="hourly",
            ),
        ],
    )
    spec = WindowSpec(context_length=4, prediction_length=2, min_past=1)
    hourly, daily = build_sources(data, spec, seed=0)[0]
    assert daily.index.tolist() == hourly.index.tolist()  # the same series held out
    assert daily.exclude_last == 0 and daily.lengths.tolist() == [4] * len(daily.index)
    first = int(daily.index[0])
    # 96 steps left after the cut: blocks [0, 24), ..., [72, 96)
    np.testing.assert_allclose(daily.series(0), 1000 * first + np.array([11.5, 35.5, 59.5, 83.5]))


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
    pytest.importorskip("chronos_pkg.synth.tsmixup")
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


def test_seasonal_synth_source_is_seeded() -> None:
    data = DataConfig(
        sources=[
            SourceConfig(
                name="seasonal", kind="seasonal_synth", options={"length": 96, "num_series": 8}
            )
        ]
    )
    spec = WindowSpec(32, 8, min_past=10)
    sources, weights = build_sources(data, spec, seed=0)
    first = sources[0].series(3)
    assert first.shape == (96,) and sources[0].num_series == 8 and weights.tolist() == [1.0]
    np.testing.assert_array_equal(build_sources(data, spec, seed=0)[0][0].series(3), first)
    assert not np.array_equal(build_sources(data, spec, seed=1)[0][0].series(3), first)
    bad = DataConfig(
        sources=[SourceConfig(name="s", kind="seasonal_synth", options={"periods": [7]})]
    )
    with pytest.raises(ValueError, match="seasonal_synth options"):
        build_sources(bad, spec, seed=0)


def test_validation_datasets_never_reach_training(tmp_path: Path) -> None:
    """A whole validation dataset gives no windows and no TSMixup ingredient."""
    pytest.importorskip("chronos_pkg.synth.tsmixup")
    series_io.write_series([np.full(200, -1.0, dtype=np.float32)] * 8, tmp_path / "unseen.parquet")
    series_io.write_series([np.full(200, 1.0, dtype=np.float32)] * 8, tmp_path / "seen.parquet")
    data = DataConfig(
        data_dir=str(tmp_path),
        holdout_fraction=0.1,
        validation_datasets=["unseen"],
        sources=[
            SourceConfig(name="unseen", path="unseen.parquet", weight=0),
            SourceConfig(name="seen", path="seen.parquet", weight=0),
            SourceConfig(
                name="mix",
                kind="tsmixup",
                pool=["unseen", "seen"],
                options={"max_series": 2, "min_length": 64, "max_length": 128},
            ),
        ],
    )
    sources, _ = build_sources(data, SPEC, seed=0)
    assert sources[0].num_series == 0 and sources[1].num_series == 8
    mixed = np.concatenate([sources[2].series(i) for i in range(100)])
    assert mixed.min() > 0
