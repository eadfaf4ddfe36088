"""Sharded corpora: a resumed run equals one run; totals can change; settings must match."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from chronos_pkg import series_io
from chronos_pkg.synth import shards


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == np.float32
        np.testing.assert_array_equal(x, y)  # NaN == NaN here


def _ramp_shard(begin: int, end: int) -> np.ndarray:
    """A deterministic shard maker: series i is i + arange(6)."""
    return np.arange(begin, end, dtype=np.float32)[:, None] + np.arange(6, dtype=np.float32)


class _Interrupted(Exception):
    pass


def _failing_after(shards_ok: int):
    calls = {"n": 0}

    def make(begin: int, end: int) -> np.ndarray:
        if calls["n"] == shards_ok:
            raise _Interrupted
        calls["n"] += 1
        return _ramp_shard(begin, end)

    return make


@pytest.mark.parametrize("format", ["arrow", "parquet"])
def test_resume_after_interruption_equals_one_run(tmp_path: Path, format: str) -> None:
    full = shards.write_shards(
        _ramp_shard, 23, tmp_path / "full", shard_size=5, format=format, progress=False
    )
    assert [p.name for p in full] == [f"part-0000{k}.{format}" for k in range(5)]

    partial = tmp_path / "partial"
    with pytest.raises(_Interrupted):
        shards.write_shards(
            _failing_after(2), 23, partial, shard_size=5, format=format, progress=False
        )
    assert series_io.count_series(partial) == 10  # the two finished shards survive
    (partial / f".part-00002.{format}.tmp").write_bytes(b"half written")
    with pytest.raises(FileExistsError, match="resume"):
        shards.write_shards(_ramp_shard, 23, partial, shard_size=5, format=format)

    calls: list[tuple[int, int]] = []

    def counting(begin: int, end: int) -> np.ndarray:
        calls.append((begin, end))
        return _ramp_shard(begin, end)

    shards.write_shards(
        counting, 23, partial, shard_size=5, format=format, resume=True, progress=False
    )
    assert calls == [(10, 15), (15, 20), (20, 23)]  # only the missing shards were made
    assert not list(partial.glob(".*.tmp"))
    _assert_same(series_io.read_series(partial), series_io.read_series(tmp_path / "full"))
    if format == "parquet":
        ids = pq.read_table(partial / "part-00004.parquet").column("id").to_pylist()
        assert ids == ["20", "21", "22"]


def test_resume_can_grow_or_shrink_the_total(tmp_path: Path) -> None:
    out = tmp_path / "out"
    shards.write_shards(_ramp_shard, 7, out, shard_size=3, progress=False)
    shards.write_shards(_ramp_shard, 11, out, shard_size=3, resume=True, progress=False)
    _assert_same(series_io.read_series(out), list(_ramp_shard(0, 11)))
    shards.write_shards(_ramp_shard, 4, out, shard_size=3, resume=True, progress=False)
    _assert_same(series_io.read_series(out), list(_ramp_shard(0, 4)))
    assert json.loads((out / shards.MANIFEST_NAME).read_text())["num_series"] == 4


def test_resume_refuses_different_settings(tmp_path: Path) -> None:
    out = tmp_path / "out"
    shards.write_shards(_ramp_shard, 4, out, shard_size=2, metadata={"seed": 1}, progress=False)
    with pytest.raises(ValueError, match="seed"):
        shards.write_shards(
            _ramp_shard, 4, out, shard_size=2, metadata={"seed": 2}, resume=True, progress=False
        )
    with pytest.raises(ValueError, match="shard_size"):
        shards.write_shards(
            _ramp_shard, 4, out, shard_size=3, metadata={"seed": 1}, resume=True, progress=False
        )
