"""Reading and writing series collections: parquet (shared schema), GluonTS arrow, Arrow lists."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chronos_pkg import series_io


def _series(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = [rng.normal(size=n).astype(np.float32) for n in (5, 17, 1, 40)]
    out[1][3] = np.nan
    return out


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == np.float32
        np.testing.assert_array_equal(x, y)  # NaN == NaN here


@pytest.mark.parametrize("suffix", [".arrow", ".parquet"])
def test_round_trip_keeps_values_lengths_and_nan(tmp_path: Path, suffix: str) -> None:
    series = _series()
    path = series_io.write_series(series, tmp_path / f"data{suffix}")
    _assert_same(series_io.read_series(path), series)
    assert series_io.count_series(path) == len(series)


def test_parquet_uses_the_shared_schema_with_regular_timestamps(tmp_path: Path) -> None:
    path = series_io.write_series(
        _series(), tmp_path / "d.parquet", start="2021-03-01", freq="15min", ids=list("abcd")
    )
    table = pq.read_table(path)
    assert table.schema.field("id").type == pa.string()
    assert table.schema.field("timestamp").type == pa.list_(pa.timestamp("ms"))
    assert table.schema.field("target").type == pa.list_(pa.float32())
    row = table.slice(1, 1).to_pylist()[0]
    assert row["id"] == "b"
    stamps = pd.DatetimeIndex(row["timestamp"])
    assert len(stamps) == 17 and stamps[0] == pd.Timestamp("2021-03-01")
    assert (np.diff(stamps.asi8) == 15 * 60 * 10**9).all()


def test_arrow_output_is_read_by_gluonts(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gluonts warns about its json backend on import
        pytest.importorskip("gluonts")
        from gluonts.dataset.arrow import ArrowFile
        from gluonts.dataset.common import FileDataset

    series = _series()
    path = series_io.write_series(series, tmp_path / "d.arrow")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entries = list(FileDataset(path, freq="h"))
        direct = ArrowFile(path)
    assert len(entries) == len(series) == len(direct)
    for entry, expected in zip(entries, series):
        assert entry["start"] == pd.Period("2000-01-01 00:00", freq="h")
        np.testing.assert_array_equal(entry["target"], expected)
    np.testing.assert_array_equal(direct[3]["target"], series[3])


def test_reads_arrow_streams_int_lists_and_nulls(tmp_path: Path) -> None:
    table = pa.table({"target": pa.array([[1, None, 3], None, [4]], pa.list_(pa.int64()))})
    path = tmp_path / "stream.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    out = series_io.read_series(path)
    np.testing.assert_array_equal(out[0], np.array([1, np.nan, 3], np.float32))
    assert out[1].size == 0 and out[2].tolist() == [4.0]


def test_directory_is_read_in_name_order_skipping_hidden_files(tmp_path: Path) -> None:
    a, b = _series(0), _series(1)
    series_io.write_series(b, tmp_path / "part-1.parquet")
    series_io.write_series(a, tmp_path / "part-0.arrow")
    (tmp_path / ".hidden.arrow").write_bytes(b"junk")
    _assert_same(series_io.read_series(tmp_path), a + b)
    assert series_io.count_series(tmp_path) == 8


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="series 1 must be 1-D"):
        series_io.write_series([np.ones(3), np.ones((2, 2))], tmp_path / "x.arrow")
    with pytest.raises(ValueError, match="cannot infer the format"):
        series_io.write_series([np.ones(3)], tmp_path / "x.csv")
    path = series_io.write_series([np.ones(3)], tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="no column 'values'"):
        series_io.read_series(path, column="values")
    nested = pa.table({"target": pa.array([[[1.0, 2.0]]])})
    pq.write_table(nested, tmp_path / "nested.parquet")
    with pytest.raises(ValueError, match="multivariate"):
        series_io.read_series(tmp_path / "nested.parquet")
    with pytest.raises(FileNotFoundError):
        series_io.read_series(tmp_path / "missing.parquet")


def test_resolve_data_path_uses_the_environment(tmp_path: Path, monkeypatch) -> None:
    series_io.write_series([np.ones(3)], tmp_path / "tiny.parquet")
    monkeypatch.setenv(series_io.DATA_DIR_ENV, str(tmp_path))
    assert series_io.resolve_data_path("tiny") == tmp_path / "tiny.parquet"
    with pytest.raises(FileNotFoundError, match="not_there"):
        series_io.resolve_data_path("not_there")


def test_reads_the_shared_data(shared_data_dir: Path) -> None:
    path = shared_data_dir / "m4_hourly.parquet"
    if not path.exists():
        pytest.skip("m4_hourly.parquet not in the shared data")
    series = series_io.read_series(path)
    assert len(series) == pq.ParquetFile(path).metadata.num_rows
    assert all(s.dtype == np.float32 and s.ndim == 1 and s.size > 0 for s in series)
