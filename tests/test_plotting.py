"""Tests of the forecast plot (history, median, 80% band; one panel per series)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from chronos_pkg.plotting import band_columns, plot_forecast, plot_series_grid, save_forecast_plot  # noqa: E402


def _frames(n_series: int = 3, horizon: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    history, forecast = [], []
    for i in range(n_series):
        stamps = pd.date_range("2024-01-01", periods=100 + 10 * i, freq="D")
        history.append(
            pd.DataFrame(
                {"id": f"s{i}", "timestamp": stamps, "target": np.arange(len(stamps)) * 1.0}
            )
        )
        future = pd.date_range(stamps[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
        median = np.full(horizon, float(len(stamps)))
        forecast.append(
            pd.DataFrame(
                {
                    "id": f"s{i}",
                    "timestamp": future,
                    "predictions": median,
                    "mean": median,
                    "0.1": median - 1,
                    "0.5": median,
                    "0.9": median + 1,
                }
            )  # fmt: skip
        )
    return pd.concat(history, ignore_index=True), pd.concat(forecast, ignore_index=True)


def test_one_panel_per_series_up_to_max_series():
    history, forecast = _frames(n_series=3)
    assert len(plot_forecast(history, forecast, max_series=2).axes) == 2
    fig = plot_forecast(history, forecast, history_length=20)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["s0", "s1", "s2"]
    history_line = fig.axes[0].get_lines()[0]
    assert len(history_line.get_xdata()) == 20  # only the recent history is drawn


def test_axes_title_and_legend_say_what_is_drawn():
    history, forecast = _frames(n_series=2)
    fig = plot_forecast(history, forecast, title="my-model: 5-step forecast")
    assert fig.get_suptitle() == "my-model: 5-step forecast"
    assert [ax.get_ylabel() for ax in fig.axes] == ["target", "target"]
    assert fig.axes[-1].get_xlabel() == "timestamp"
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["observed", "80% prediction interval (0.1-0.9 quantiles)", "median forecast"]


def test_save_writes_png(tmp_path):
    history, forecast = _frames()
    path = save_forecast_plot(tmp_path / "f.png", history, forecast, series_ids=["s1"])
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_band_columns_and_errors():
    history, forecast = _frames()
    assert band_columns(forecast) == ("0.1", "0.9")
    with pytest.raises(ValueError, match="'0.05' and '0.95'"):
        band_columns(forecast, coverage=0.9)
    with pytest.raises(ValueError, match="coverage"):
        band_columns(forecast, coverage=1.0)
    with pytest.raises(ValueError, match="history frame has no column"):
        plot_forecast(history.drop(columns="target"), forecast)
    with pytest.raises(ValueError, match="not in the forecast"):
        plot_forecast(history, forecast, series_ids=["nope"])


def test_held_out_observations_are_drawn_with_the_forecast():
    history, forecast = _frames(n_series=1, horizon=5)
    # history already covers the forecast window (a backtest): 10 context points + 5 actuals
    future = forecast["timestamp"]
    extra = pd.DataFrame({"id": "s0", "timestamp": future, "target": np.arange(5.0)})
    fig = plot_forecast(pd.concat([history, extra]), forecast, history_length=10)
    observed = fig.axes[0].get_lines()[0]
    assert len(observed.get_xdata()) == 15


def test_plot_series_grid_writes_an_image(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    series = [rng.normal(size=n).astype(np.float32) for n in (5, 17, 1, 40)]
    series[1][3] = np.nan
    path = plot_series_grid(series, tmp_path / "grid.png", columns=3)
    assert path.read_bytes()[:4] == b"\x89PNG"
