"""TSMixup: convex mixtures of mean-scaled windows, lengths in range, determinism, files."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from chronos_pkg import series_io
from chronos_pkg.synth.tsmixup import (
    TSMixup,
    dataset_probabilities,
    generate_tsmixup,
    mean_abs_scale,
    tsmixup,
)


def _sources(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = [3000, 2500, 400, 150, 128, 900, 60]  # the last is too short to be used
    return [
        (rng.normal(size=n) * 10 ** rng.uniform(-2, 3) + rng.normal() * 50).astype(np.float32)
        for n in lengths
    ]


def test_samples_are_mean_scaled_convex_mixtures_of_their_sources() -> None:
    sources = _sources()
    mixup = TSMixup(sources, seed=1)
    seen_counts = set()
    for i in range(200):
        sample = mixup.sample(i)
        k = len(sample.sources)
        seen_counts.add(k)
        assert 1 <= k <= 3
        assert np.all(sample.weights >= 0) and sample.weights.sum() == pytest.approx(1.0, abs=1e-12)
        length = len(sample.target)
        assert 128 <= length <= 2048 and sample.target.dtype == np.float32
        assert 6 not in sample.sources  # shorter than min_length
        expected = np.zeros(length)
        for source, start, scale, weight in zip(
            sample.sources, sample.starts, sample.scales, sample.weights
        ):
            window = sources[source][start : start + length].astype(np.float64)
            assert len(window) == length
            assert scale == pytest.approx(np.abs(window).mean(), rel=1e-12)
            expected += weight * window / scale
        np.testing.assert_allclose(sample.target, expected, rtol=1e-5, atol=1e-6)
        if k > 1:
            assert len(set(sample.sources.tolist())) == k  # distinct sources
    assert seen_counts == {1, 2, 3}


def test_single_source_mixture_has_unit_mean_absolute_value() -> None:
    mixup = TSMixup(_sources(), max_series=1, seed=0)
    for i in range(20):
        sample = mixup.sample(i)
        assert sample.weights.tolist() == [1.0]
        assert np.abs(sample.target.astype(np.float64)).mean() == pytest.approx(1.0, rel=1e-5)


def test_counts_and_lengths_cover_their_ranges() -> None:
    long_sources = [np.random.default_rng(i).normal(size=4000) for i in range(5)]
    samples = [tsmixup(long_sources, np.random.default_rng(i), max_series=3) for i in range(1500)]
    counts = np.bincount([len(s.sources) for s in samples], minlength=4)
    assert counts[0] == 0 and counts[1:].min() > 400
    lengths = np.array([len(s.target) for s in samples])
    assert lengths.min() >= 128 and lengths.max() <= 2048
    assert lengths.min() < 200 and lengths.max() > 1950  # uniform over the whole range
    two = [s.weights for s in samples if len(s.weights) == 2]
    assert np.mean([w[0] for w in two]) == pytest.approx(0.5, abs=0.05)  # symmetric Dirichlet


def test_same_seed_same_series_and_iteration_matches_sample() -> None:
    sources = _sources()
    a, b = TSMixup(sources, seed=4), TSMixup(sources, seed=4)
    for i in (0, 5, 99):
        np.testing.assert_array_equal(a.sample(i).target, b.sample(i).target)
    first = list(itertools.islice(iter(a), 4))
    for i, target in enumerate(first):
        np.testing.assert_array_equal(target, a.sample(i).target)
    strided = list(itertools.islice(a.iter_samples(start=1, step=3), 2))
    np.testing.assert_array_equal(strided[1], a.sample(4).target)
    c = TSMixup(sources, seed=5)
    assert any(len(a.sample(i).target) != len(c.sample(i).target) for i in range(5))


def test_nan_stays_missing_and_does_not_change_the_scale() -> None:
    series = np.arange(1.0, 301.0)
    series[10:20] = np.nan
    assert mean_abs_scale(series) == pytest.approx(np.nanmean(series))
    assert mean_abs_scale(np.zeros(5)) == 1.0 and mean_abs_scale(np.full(3, np.nan)) == 1.0
    mixup = TSMixup([series], max_series=1, min_length=300, max_length=300, seed=0)
    target = mixup.sample(0).target
    assert np.isnan(target[10:20]).all() and np.isfinite(np.delete(target, range(10, 20))).all()


def test_probabilities_steer_the_sources() -> None:
    sources = _sources()
    probabilities = np.zeros(len(sources))
    probabilities[[0, 1]] = 1.0
    mixup = TSMixup(sources, probabilities=probabilities, seed=0)
    used = {int(s) for i in range(100) for s in mixup.sample(i).sources}
    assert used == {0, 1}
    np.testing.assert_allclose(
        dataset_probabilities([2, 3], [3.0, 1.0]), [0.375, 0.375, 1 / 12, 1 / 12, 1 / 12]
    )


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="no usable source"):
        TSMixup([np.ones(50)], min_length=128)
    with pytest.raises(ValueError, match="min_length <= max_length"):
        TSMixup(_sources(), min_length=300, max_length=200)
    with pytest.raises(ValueError, match="alpha"):
        TSMixup(_sources(), alpha=0.0)
    with pytest.raises(ValueError, match="one entry per series"):
        TSMixup(_sources(), probabilities=[1.0])
    with pytest.raises(ValueError, match="1-D"):
        TSMixup([np.ones((200, 2))])


def test_generate_writes_files_that_equal_the_on_the_fly_stream(tmp_path: Path) -> None:
    a, b = _sources(0)[:3], _sources(1)[3:6]
    series_io.write_series(a, tmp_path / "a.parquet")
    series_io.write_series(b, tmp_path / "b.arrow")
    out = tmp_path / "mix"
    generate_tsmixup(
        [tmp_path / "a.parquet", tmp_path / "b.arrow"], out, 9, seed=2, shard_size=4, progress=False
    )
    written = series_io.read_series(out)
    sources = series_io.read_series(tmp_path / "a.parquet") + series_io.read_series(
        tmp_path / "b.arrow"
    )
    stream = TSMixup(sources, probabilities=dataset_probabilities([3, 3]), seed=2)
    expected = list(itertools.islice(iter(stream), 9))
    assert len(written) == 9
    for got, want in zip(written, expected):
        np.testing.assert_array_equal(got, want)


def test_cli_resume_matches_one_run(tmp_path: Path, monkeypatch) -> None:
    from synthetic.tsmixup import main

    series_io.write_series(_sources(3)[:4], tmp_path / "src.parquet")
    common = ["--data", str(tmp_path / "src.parquet"), "--num-series", "7", "--seed", "1"]
    common += ["--shard-size", "3", "--max-length", "300", "--no-progress"]
    assert main([*common, "--output", str(tmp_path / "full"), "--format", "parquet"]) == 0

    real = TSMixup.__call__
    calls = {"n": 0}

    def killed_on_second_shard(self, begin, end):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, begin, end)

    monkeypatch.setattr(TSMixup, "__call__", killed_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        main([*common, "--output", str(tmp_path / "part"), "--format", "parquet"])
    monkeypatch.setattr(TSMixup, "__call__", real)
    assert series_io.count_series(tmp_path / "part") == 3
    assert (
        main([*common, "--output", str(tmp_path / "part"), "--format", "parquet", "--resume"]) == 0
    )
    full, resumed = (
        series_io.read_series(tmp_path / "full"),
        series_io.read_series(tmp_path / "part"),
    )
    assert len(full) == len(resumed) == 7
    for x, y in zip(full, resumed):
        np.testing.assert_array_equal(x, y)
        assert 128 <= len(x) <= 300


def test_mixes_the_shared_data(shared_data_dir: Path) -> None:
    path = shared_data_dir / "m4_hourly.parquet"
    if not path.exists():
        pytest.skip("m4_hourly.parquet not in the shared data")
    mixup = TSMixup(series_io.read_series(path), seed=0)
    targets = [mixup.sample(i).target for i in range(20)]
    assert all(128 <= len(t) <= 2048 and np.isfinite(t).any() for t in targets)
