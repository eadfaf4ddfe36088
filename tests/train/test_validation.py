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
    ShipDecision,
    build_validation_sets,
    horizon_for,
    main,
    relative_to_baseline,
    rolls_for,
    ship_decision,
    validation_groups,
    with_margin,
    with_probe,
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


def test_rolls_reach_the_wanted_windows_within_the_shortest_series() -> None:
    assert rolls_for([1000] * 40, horizon=48, min_windows=30) == 1  # enough series already
    assert rolls_for([1000, 2000], horizon=48, min_windows=30) == 15
    assert rolls_for([16 + 3 * 48, 5000], horizon=48, min_windows=30) == 3  # the short one
    assert rolls_for([20], horizon=48, min_windows=30) == 1  # never fewer than one
    assert rolls_for([1000, 2000], horizon=48, min_windows=1) == 1


def test_datasets_with_few_series_roll_back(config_path: Path) -> None:
    config = load_train_config(config_path)
    daily, yearly, weekly = build_validation_sets(config)
    n = len(daily.dataset.targets)
    assert 1 < n < 30
    # daily: 295 steps leave room for 9 windows of 30; yearly (40 steps) for 4 of 6
    assert daily.config.num_rolls == min(-(-30 // n), 9)
    assert daily.config.offset == -30 * daily.config.num_rolls
    assert yearly.config.num_rolls == 4 and weekly.config.num_rolls == 2
    last_only = build_validation_sets(config, min_windows=1)
    assert [s.config.num_rolls for s in last_only] == [1, 1, 1]
    assert [s.config.offset for s in last_only] == [-30, -6, -13]
    with pytest.raises(ValueError, match="min_windows"):
        build_validation_sets(config, min_windows=0)


def test_sets_are_the_last_window_of_held_out_series(config_path: Path) -> None:
    sets = build_validation_sets(load_train_config(config_path), min_windows=1)
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


def _scores(wql: list[float], mase: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"dataset": ["a", "b", "c"], "WQL": wql, "MASE": mase})


BASELINE = _scores([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
GROUPS = {"native": {"a", "b"}, "aggregated": {"c"}}


def test_ship_rule_takes_a_run_better_everywhere() -> None:
    incumbent = _scores([0.8, 0.8, 0.8], [0.9, 0.9, 0.9])
    decision = ship_decision(_scores([0.7, 0.8, 0.8], [0.9, 0.8, 0.9]), incumbent, BASELINE, GROUPS)
    assert decision.ship and decision.reasons == ()


def test_ship_rule_needs_both_metrics_to_improve_overall() -> None:
    incumbent = _scores([0.8, 0.8, 0.8], [0.9, 0.9, 0.9])
    decision = ship_decision(_scores([0.7, 0.7, 0.7], [0.9, 0.9, 0.9]), incumbent, BASELINE, GROUPS)
    assert not decision.ship
    assert decision.reasons == ("all datasets: MASE 0.9000 >= 0.9000",)


def test_ship_rule_tolerates_a_small_loss_on_one_group_only() -> None:
    incumbent = _scores([0.8, 0.8, 0.8], [0.9, 0.9, 0.9])
    # native 0.5% worse on WQL (geometric mean of 0.804 and 0.804), aggregated much better
    small = _scores([0.804, 0.804, 0.6], [0.9, 0.9, 0.7])
    assert ship_decision(small, incumbent, BASELINE, GROUPS).ship
    # native 2% worse: the all-datasets gain no longer buys it (run5's case)
    large = _scores([0.816, 0.816, 0.6], [0.9, 0.9, 0.7])
    decision = ship_decision(large, incumbent, BASELINE, GROUPS)
    assert not decision.ship
    assert len(decision.reasons) == 1 and decision.reasons[0].startswith("native: WQL 0.8160")


def test_ship_rule_rejects_different_validation_sets() -> None:
    other = pd.DataFrame({"dataset": ["a", "b"], "WQL": [1.0, 1.0], "MASE": [1.0, 1.0]})
    with pytest.raises(ValueError, match="different validation sets"):
        ship_decision(other, _scores([1, 1, 1], [1, 1, 1]), BASELINE, GROUPS)


def test_cli_scores_a_checkpoint(
    config_path: Path, tmp_path: Path, one_thread: None, capsys: pytest.CaptureFixture[str]
) -> None:
    model = new_bolt_model(
        ChronosBoltConfig(context_length=64, prediction_length=32), seed=0, **MICRO_NETWORK
    )
    save_bolt_checkpoint(model, tmp_path / "ckpt")
    out = tmp_path / "val.csv"
    args = ["--config", str(config_path), "--output", str(out)]
    assert main([*args, "--model", str(tmp_path / "ckpt"), "seasonal-naive"]) == 0
    printed = capsys.readouterr().out
    # the later model gets the ship rule's verdict against the first
    assert f"replaces {tmp_path / 'ckpt'}:" in printed
    assert main([*args, "--model", str(tmp_path / "ckpt")]) == 0
    printed = capsys.readouterr().out
    assert "replaces" not in printed
    assert "WQL" in printed
    assert "native: WQL" in printed and "(2 datasets)" in printed
    assert "aggregated: WQL" in printed and "(1 datasets)" in printed
    table = pd.read_csv(out)
    assert sorted(table["model"].unique()) == sorted([str(tmp_path / "ckpt"), "seasonal-naive"])
    assert set(table["dataset"]) == {"daily", "yearly", "daily_weekly"}
    assert (table["windows"] >= table["series"]).all()
    assert np.isfinite(table[["WQL", "MASE"]].to_numpy()).all()
    # baselines beside the model: scored and written, no verdict, no probe
    assert main([*args, "--model", str(tmp_path / "ckpt"), "--baselines", "naive"]) == 0
    printed = capsys.readouterr().out
    assert "\nnaive: WQL" in printed and "replaces" not in printed
    assert printed.count("seasonal probe") == 1
    assert "naive" in set(pd.read_csv(out)["model"])


def test_whole_validation_datasets_are_held_out_with_their_copies(config_path: Path) -> None:
    config = load_train_config(config_path, ["data.validation_datasets=[daily]"])
    sets = {s.config.name: s for s in build_validation_sets(config, min_windows=1)}
    # every series of "daily" and of its aggregated copy; "yearly" keeps its 10% split
    assert len(sets["daily"].dataset.item_ids) == N_SERIES and sets["daily"].unseen
    assert len(sets["daily_weekly"].dataset.item_ids) == N_SERIES and sets["daily_weekly"].unseen
    assert not sets["yearly"].unseen and len(sets["yearly"].dataset.item_ids) == 4
    assert validation_groups(list(sets.values())) == {
        "unseen": {"daily", "daily_weekly"},
        "native": {"yearly"},
    }


def test_validation_datasets_must_name_file_sources(config_path: Path) -> None:
    with pytest.raises(ValueError, match="not file sources"):
        load_train_config(config_path, ["data.validation_datasets=[daily_weekly]"])
    with pytest.raises(ValueError, match="holdout_fraction > 0"):
        load_train_config(
            config_path, ["data.validation_datasets=[daily]", "data.holdout_fraction=0"]
        )


def test_ship_rule_needs_a_gain_on_unseen_datasets() -> None:
    incumbent = _scores([0.8, 0.8, 0.8], [0.9, 0.9, 0.9])
    groups = {"native": {"a", "b"}, "unseen": {"c"}}
    better_on_seen = _scores([0.6, 0.6, 0.8], [0.7, 0.7, 0.9])  # level on the unseen dataset
    decision = ship_decision(better_on_seen, incumbent, BASELINE, groups, must_improve=["unseen"])
    assert not decision.ship
    assert decision.reasons == ("unseen: WQL 0.8000 >= 0.8000", "unseen: MASE 0.9000 >= 0.9000")
    # the same numbers pass when that group only has the usual tolerance
    assert ship_decision(better_on_seen, incumbent, BASELINE, groups).ship
    everywhere = _scores([0.6, 0.6, 0.79], [0.7, 0.7, 0.89])
    assert ship_decision(everywhere, incumbent, BASELINE, groups, must_improve=["unseen"]).ship


def test_ship_rule_needs_a_better_seasonal_probe() -> None:
    passed = ShipDecision(True, ())
    old = {"mean": 2.0, "worst": 3.0}
    assert with_probe(passed, {"mean": 1.5, "worst": 3.5}, old).ship
    worse = with_probe(passed, {"mean": 2.1, "worst": 2.5}, old)
    assert not worse.ship and worse.reasons == ("seasonal probe: mean 2.100 >= 2.000",)
    # both meeting the targets: a small step back on a solved probe does not block
    assert with_probe(passed, {"mean": 0.9, "worst": 1.1}, {"mean": 0.85, "worst": 1.0}).ship


def test_a_new_default_needs_a_margin_worth_its_history() -> None:
    passed = ShipDecision(True, ())
    incumbent = _scores([0.8, 0.8, 0.8], [0.9, 0.9, 0.9])
    probe = {"mean": 2.0}
    slightly = _scores([0.797, 0.797, 0.797], [0.899, 0.899, 0.899])  # 0.4% and 0.1%
    decision = with_margin(passed, slightly, incumbent, BASELINE, {"mean": 1.9}, probe)
    assert not decision.ship and decision.reasons[0].startswith("margin: 0.4% on validation")
    assert with_margin(passed, slightly, incumbent, BASELINE, {"mean": 1.7}, probe).ship
    clearly = _scores([0.78, 0.78, 0.78], [0.9, 0.9, 0.9])  # 2.5% on WQL
    assert with_margin(passed, clearly, incumbent, BASELINE, {"mean": 2.0}, probe).ship
