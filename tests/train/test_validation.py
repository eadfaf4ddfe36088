"""The validation split: held-out series of the training sources, scored against Seasonal Naive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chronos_pkg import series_io
from chronos_pkg.bolt.checkpoint import new_bolt_model, save_bolt_checkpoint
from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.train.config import load_train_config
from chronos_pkg.train.learnability import MICRO_NETWORK
from chronos_pkg.train.sources import holdout_mask
from chronos_pkg.train.validation import (
    build_validation_sets,
    horizon_for,
    main,
    relative_to_baseline,
)

N_SERIES = 40
EXCLUDE = 5


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    daily = [np.sin(np.arange(300) / 3).astype(np.float32) + i for i in range(N_SERIES)]
    yearly = [np.cumsum(rng.normal(size=40)).astype(np.float32) for _ in range(N_SERIES)]
    series_io.write_series(daily, tmp_path / "daily.parquet", freq="D")
    series_io.write_series(yearly, tmp_path / "yearly.parquet", freq="YS")
    series_io.write_series(daily[:5], tmp_path / "few.parquet", freq="D")
    path = tmp_path / "train.yaml"
    path.write_text(
        f"""
model: {{family: bolt, context_length: 64, prediction_length: 32}}
data:
  data_dir: {tmp_path}
  holdout_fraction: 0.1
  sources:
    - {{name: daily, path: daily.parquet, weight: 1, exclude_last: {EXCLUDE}}}
    - {{name: yearly, path: yearly.parquet, weight: 1}}
    - {{name: few, path: few.parquet, weight: 1}}
    - {{name: daily_weekly, path: daily.parquet, weight: 0, exclude_last: {EXCLUDE},
        aggregate: 7, freq: W-SUN, holdout_as: daily}}
"""
    )
    return path


def test_horizon_follows_frequency() -> None:
    assert [horizon_for(f) for f in ("YS", "QS-OCT", "MS", "W-SUN", "D", "h", "10min")] == [
        6,
        8,
        18,
        13,
        30,
        48,
        48,
    ]


def test_sets_are_the_last_window_of_held_out_series(config_path: Path) -> None:
    sets = build_validation_sets(load_train_config(config_path))
    # "few" is never split
    assert [s.config.name for s in sets] == ["daily", "yearly", "daily_weekly"]
    daily, yearly, weekly = sets
    assert daily.config.prediction_length == 30 and yearly.config.prediction_length == 6
    held = np.flatnonzero(holdout_mask("daily", N_SERIES, 0.1))
    assert daily.dataset.item_ids == [str(i) for i in held]
    # the aggregated copy scores the same held-out series, as weekly means, horizon 13
    assert weekly.aggregated and not daily.aggregated
    assert weekly.dataset.item_ids == daily.dataset.item_ids and weekly.dataset.freq == "W-SUN"
    assert weekly.config.prediction_length == 13
    np.testing.assert_allclose(weekly.dataset.targets[0][-1], daily.dataset.targets[0][-7:].mean())
    # the window ends where training's exclude_last cut starts: the first value identifies it
    first = int(held[0])
    expected = np.sin(np.arange(300 - EXCLUDE) / 3).astype(np.float32) + first
    np.testing.assert_array_equal(daily.dataset.targets[0], expected)


def test_config_without_holdout_is_rejected(config_path: Path) -> None:
    config = load_train_config(config_path, ["data.holdout_fraction=0"])
    with pytest.raises(ValueError, match="holdout_fraction"):
        build_validation_sets(config)


def test_relative_scores_are_geometric_means() -> None:
    baseline = pd.DataFrame({"dataset": ["a", "b"], "WQL": [1.0, 2.0], "MASE": [1.0, 1.0]})
    scores = pd.DataFrame({"dataset": ["a", "b"], "WQL": [0.5, 4.0], "MASE": [0.25, 1.0]})
    summary = relative_to_baseline(scores, baseline)
    assert summary["WQL"] == pytest.approx(1.0)  # sqrt(0.5 * 2)
    assert summary["MASE"] == pytest.approx(0.5)
    assert summary["datasets"] == 2


def test_cli_scores_a_checkpoint(
    config_path: Path, tmp_path: Path, one_thread: None, capsys: pytest.CaptureFixture[str]
) -> None:
    model = new_bolt_model(
        ChronosBoltConfig(context_length=64, prediction_length=32), seed=0, **MICRO_NETWORK
    )
    save_bolt_checkpoint(model, tmp_path / "ckpt")
    out = tmp_path / "val.csv"
    assert (
        main(
            ["--config", str(config_path), "--model", str(tmp_path / "ckpt"), "--output", str(out)]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "WQL" in printed
    assert "native: WQL" in printed and "(2 datasets)" in printed
    assert "aggregated: WQL" in printed and "(1 datasets)" in printed
    table = pd.read_csv(out)
    assert sorted(table["model"].unique()) == sorted([str(tmp_path / "ckpt"), "seasonal-naive"])
    assert set(table["dataset"]) == {"daily", "yearly", "daily_weekly"}
    assert np.isfinite(table[["WQL", "MASE"]].to_numpy()).all()
