"""Long-format DataFrames in and out: split_series, forecast_frame and predict_df."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from chronos_pkg import from_pretrained
from chronos_pkg.dataframe import SeriesFrame, forecast_frame, future_timestamps, split_series

LEVELS = (0.1, 0.5, 0.9)


def _frame(rng: np.random.Generator) -> pd.DataFrame:
    """Three series with different lengths and frequencies, rows shuffled."""
    parts = []
    for series_id, start, freq, length in [
        ("daily", "2024-01-01", "D", 40),
        ("hourly", "2024-03-01 05:00", "h", 25),
        ("monthly", "2019-01-01", "MS", 12),
    ]:
        stamps = pd.date_range(start, periods=length, freq=freq)
        target = rng.normal(10.0, 2.0, length).astype(np.float32)
        parts.append(pd.DataFrame({"id": series_id, "timestamp": stamps, "target": target}))
    df = pd.concat(parts, ignore_index=True)
    df.loc[3, "target"] = np.nan  # a missing value inside the daily series
    return df.sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_split_series_sorts_and_keeps_first_appearance_order(rng: np.random.Generator) -> None:
    df = _frame(rng)
    before = df.copy()
    series = split_series(df)
    assert isinstance(series, SeriesFrame)
    expected_order = list(pd.unique(df["id"]))
    assert series.ids == expected_order
    for series_id, context, last, freq in zip(
        series.ids, series.contexts, series.last_timestamps, series.freqs
    ):
        rows = df[df["id"] == series_id].sort_values("timestamp")
        np.testing.assert_array_equal(context, rows["target"].to_numpy(np.float32))
        assert context.dtype == np.float32
        assert last == rows["timestamp"].max()
        assert pd.tseries.frequencies.to_offset(freq) == pd.tseries.frequencies.to_offset(
            {"daily": "D", "hourly": "h", "monthly": "MS"}[series_id]
        )
    assert np.isnan(series.contexts[expected_order.index("daily")]).sum() == 1
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is untouched


def test_split_series_custom_column_names_and_string_timestamps() -> None:
    df = pd.DataFrame(
        {
            "item": [7, 7, 7, 3, 3, 3],
            "when": ["2024-01-03", "2024-01-01", "2024-01-02"] * 2,
            "y": [3, 1, 2, 30, 10, 20],
        }
    )
    series = split_series(df, id_column="item", timestamp_column="when", target="y")
    assert series.ids == [7, 3] and type(series.ids[0]) is int
    assert [c.tolist() for c in series.contexts] == [[1, 2, 3], [10, 20, 30]]
    assert series.freqs == ["D", "D"]


def test_future_timestamps_continue_each_frequency() -> None:
    last = pd.Timestamp("2024-01-31")
    assert list(future_timestamps(last, "ME", 2)) == [
        pd.Timestamp("2024-02-29"),
        pd.Timestamp("2024-03-31"),
    ]
    hourly = future_timestamps(pd.Timestamp("2024-01-01 23:00"), "h", 2)
    assert list(hourly) == [pd.Timestamp("2024-01-02 00:00"), pd.Timestamp("2024-01-02 01:00")]


def test_forecast_frame_layout() -> None:
    series = SeriesFrame(
        ids=["b", "a"],
        contexts=[np.ones(3, np.float32), np.ones(4, np.float32)],
        last_timestamps=[pd.Timestamp("2024-01-03"), pd.Timestamp("2020-12-01")],
        freqs=["D", "MS"],
    )
    computed = [0.1, 0.5, 0.9]
    quantiles = torch.arange(2 * 2 * 3, dtype=torch.float32).reshape(2, 2, 3)
    mean = torch.tensor([[100.0, 101.0], [200.0, 201.0]])
    frame = forecast_frame(series, quantiles, mean, computed, [0.9, 0.1], 2)
    assert list(frame.columns) == ["id", "timestamp", "predictions", "mean", "0.9", "0.1"]
    assert frame["id"].tolist() == ["b", "b", "a", "a"]
    assert frame["timestamp"].tolist() == [
        pd.Timestamp("2024-01-04"),
        pd.Timestamp("2024-01-05"),
        pd.Timestamp("2021-01-01"),
        pd.Timestamp("2021-02-01"),
    ]
    assert frame["predictions"].tolist() == [1.0, 4.0, 7.0, 10.0]
    assert frame["0.9"].tolist() == [2.0, 5.0, 8.0, 11.0]
    assert frame["mean"].tolist() == [100.0, 101.0, 200.0, 201.0]


def _good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a"] * 4,
            "timestamp": pd.date_range("2024-01-01", periods=4, freq="D"),
            "target": [1.0, 2.0, 3.0, 4.0],
        }
    )


def _with(**columns: object) -> pd.DataFrame:
    df = _good()
    for name, values in columns.items():
        df[name] = values
    return df


@pytest.mark.parametrize(
    ("df", "kwargs", "error", "match"),
    [
        (_good().drop(columns="target"), {}, ValueError, "'target'"),
        (_good(), {"id_column": "item_id"}, ValueError, "item_id"),
        (_good(), {"timestamp_column": "ds"}, ValueError, "ds"),
        (_good().iloc[:0], {}, ValueError, "empty"),
        (_with(target=["a", "b", "c", "d"]), {}, TypeError, "not numeric"),
        (_with(target=[1.0, np.inf, 2.0, 3.0]), {}, ValueError, r"series 'a' at .*: .* inf"),
        (
            _with(timestamp=pd.to_datetime(["2024-01-01"] * 2 + ["2024-01-02", "2024-01-03"])),
            {},
            ValueError,
            "duplicate",
        ),
        (
            _with(timestamp=["2024-01-01", "yesterday", "later", "soon"]),
            {},
            ValueError,
            r"'yesterday' \(row 1\) is not a date/time",
        ),
        (
            _with(target=[1.0, 2.0, -1e300, 3.0]),
            {},
            ValueError,
            r"series 'a' at 2024-01-03 00:00:00: target value -1e\+300 .* too large",
        ),
        (_with(timestamp=[1, 2, 3, 4]), {}, TypeError, "numbers"),
        (
            _with(
                timestamp=pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-06"])
            ),
            {},
            ValueError,
            "irregular",
        ),
        (_good().iloc[:2], {}, ValueError, "at least 3"),
        (_with(id=["a", None, "a", "a"]), {}, ValueError, "missing values"),
    ],
)
def test_bad_frames(df: pd.DataFrame, kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        split_series(df, **kwargs)


def test_not_a_dataframe() -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        split_series({"id": [1], "timestamp": [1], "target": [1.0]})  # type: ignore[arg-type]


def test_object_target_with_none_is_read_as_missing() -> None:
    series = split_series(_with(target=pd.Series([1, None, 3, 4], dtype=object)))
    assert np.isnan(series.contexts[0][1]) and series.contexts[0][3] == 4.0


def test_day_first_timestamps_are_read_when_month_first_cannot_be() -> None:
    frame = _with(timestamp=["30/01/2024", "31/01/2024", "01/02/2024", "02/02/2024"])
    series = split_series(frame)
    assert series.last_timestamps[0] == pd.Timestamp("2024-02-02") and series.freqs == ["D"]


def test_pipeline_warnings_name_ids_and_skip_reported_series() -> None:
    from chronos_pkg.dataframe import rename_series_in_warning

    ids = ["a", "b", "c"]
    message = "series [0, 2] have no observed value in their last 256 steps"
    assert rename_series_in_warning(message, ids) == (
        "series ['a', 'c'] have no observed value in their last 256 steps"
    )
    assert rename_series_in_warning(message, ids, reported=[0, 2]) is None
    assert rename_series_in_warning("other text", ids) == "other text"


def test_all_nan_series_warn_by_id() -> None:
    frame = _frame(np.random.default_rng(0))
    frame.loc[frame["id"] == "daily", "target"] = np.nan
    with pytest.warns(UserWarning, match=r"series \['daily'\] have no observed 'target' value"):
        split_series(frame)


def test_predict_df_rejects_unknown_options_before_work(tiny_seq2seq_dir) -> None:
    pipeline = from_pretrained(tiny_seq2seq_dir)
    with pytest.raises(
        TypeError, match=r"predict_df\(\) got unexpected keyword argument\(s\) \['foo'\]"
    ):
        pipeline.predict_df("not even a frame", prediction_length=3, foo=1)  # type: ignore[arg-type]


def test_predict_df_end_to_end(tiny_seq2seq_dir, rng: np.random.Generator) -> None:
    pipeline = from_pretrained(tiny_seq2seq_dir)
    df = _frame(rng)
    out = pipeline.predict_df(df, prediction_length=5, quantile_levels=LEVELS, seed=3)
    assert list(out.columns) == ["id", "timestamp", "predictions", "mean", "0.1", "0.5", "0.9"]
    assert len(out) == 3 * 5
    assert out["id"].tolist() == [i for i in pd.unique(df["id"]) for _ in range(5)]
    hourly = out[out["id"] == "hourly"]["timestamp"]
    assert list(hourly) == list(pd.date_range("2024-03-02 06:00", periods=5, freq="h"))
    monthly = out[out["id"] == "monthly"]["timestamp"]
    assert list(monthly) == list(pd.date_range("2020-01-01", periods=5, freq="MS"))
    assert (out["0.1"] <= out["predictions"]).all() and (out["predictions"] <= out["0.9"]).all()
    np.testing.assert_array_equal(out["predictions"], out["0.5"])

    # the same numbers as predict_quantiles on the split contexts
    series = split_series(df)
    quantiles, mean = pipeline.predict_quantiles(
        series.contexts, prediction_length=5, quantile_levels=LEVELS, seed=3
    )
    np.testing.assert_array_equal(out["0.9"].to_numpy(), quantiles[:, :, 2].reshape(-1).numpy())
    np.testing.assert_array_equal(out["mean"].to_numpy(), mean.reshape(-1).numpy())


def test_predict_df_checks_levels_and_horizon(tiny_seq2seq_dir) -> None:
    pipeline = from_pretrained(tiny_seq2seq_dir)
    with pytest.raises(ValueError, match="between 0 and 1"):
        pipeline.predict_df(_good(), prediction_length=2, quantile_levels=[0.5, 1.0])
    with pytest.raises(ValueError, match="prediction_length"):
        pipeline.predict_df(_good(), prediction_length=0)
