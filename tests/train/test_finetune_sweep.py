"""Choosing fine-tuning defaults: the summary and the recommendation rule."""

from __future__ import annotations

import pandas as pd
import pytest

from chronos_pkg.train.finetune_sweep import ZERO_SHOT, recommend, setting_name, summarize_sweep


def results() -> pd.DataFrame:
    fast, slow = setting_name(1e-4, 100, 32), setting_name(1e-4, 1000, 32)
    rows = []
    for dataset, naive, zero, tuned_fast, tuned_slow in (
        ("a", 1.0, 0.5, 0.4, 0.25),
        ("b", 2.0, 1.0, 1.1, 0.5),
    ):
        rows += [
            (dataset, "seasonal-naive", naive, naive, 0.1),
            (dataset, ZERO_SHOT, zero, zero, 0.2),
            (dataset, fast, tuned_fast, tuned_fast, 30.0),
            (dataset, slow, tuned_slow, tuned_slow, 300.0),
        ]
    return pd.DataFrame(rows, columns=["dataset", "setting", "WQL", "MASE", "seconds"])


def test_summary_is_relative_to_zero_shot_and_seasonal_naive() -> None:
    summary = summarize_sweep(results()).set_index("setting")
    fast = summary.loc[setting_name(1e-4, 100, 32)]
    assert fast["WQL_vs_zero_shot"] == pytest.approx((0.8 * 1.1) ** 0.5)
    assert fast["WQL_vs_seasonal_naive"] == pytest.approx((0.4 * 0.55) ** 0.5)
    assert fast["worst_WQL_vs_zero_shot"] == pytest.approx(1.1)
    assert fast["median_seconds"] == 30.0 and fast["datasets"] == 2
    assert summary.loc[ZERO_SHOT, "MASE_vs_zero_shot"] == pytest.approx(1.0)


def test_recommendation_is_the_best_setting_within_the_time_budget() -> None:
    summary = summarize_sweep(results())
    assert recommend(summary, max_seconds=60) == setting_name(1e-4, 100, 32)
    assert recommend(summary, max_seconds=600) == setting_name(1e-4, 1000, 32)
    assert recommend(summary, max_seconds=1) is None


def test_sweep_passes_each_setting_to_fit_and_resumes(tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    from chronos_pkg.train import finetune_sweep

    built = []

    class Fake:
        def __init__(self, kwargs):
            self.kwargs = kwargs

        def report(self):
            return {"fine_tune_seconds": 1.0, "fine_tune_best_step": 3} if self.kwargs else {}

    def build(model, fine_tune=None):
        built.append(fine_tune)
        return Fake(fine_tune)

    monkeypatch.setattr(finetune_sweep, "build_forecaster", build)
    monkeypatch.setattr(
        finetune_sweep, "evaluate_dataset", lambda f, c, d: {"WQL": 0.5, "MASE": 1.0}
    )
    item = SimpleNamespace(config=SimpleNamespace(name="set"), dataset=None)
    output = tmp_path / "sweep.csv"
    settings = [(1e-4, 100, 32, "full", "loss", 0.0), (3e-4, 100, 32, "decoder", "wql", 0.9)]
    results = finetune_sweep.sweep("m", [item], settings, output)
    tuned = [kwargs for kwargs in built if kwargs]
    assert [k["finetune_mode"] for k in tuned] == ["full", "decoder"]
    assert [k["learning_rate"] for k in tuned] == [1e-4, 3e-4]
    assert [k["validation_metric"] for k in tuned] == ["loss", "wql"]
    assert [k["guard_confidence"] for k in tuned] == [0.0, 0.9]
    name = setting_name(3e-4, 100, 32, "decoder", "wql", 0.9)
    decoder = results[results["setting"] == name].iloc[0]
    assert decoder["finetune_mode"] == "decoder" and decoder["best_step"] == 3
    assert decoder["setting"].endswith(",mode=decoder,val=wql,guard=0.9")
    assert decoder["guard_confidence"] == 0.9
    assert len(results) == 4  # seasonal naive, zero-shot, two settings
    built.clear()
    finetune_sweep.sweep("m", [item], settings, output)  # everything done: nothing rebuilt
    assert [k for k in built if k] == [] and len(pd.read_csv(output)) == 4


def test_an_older_sweeps_file_keeps_its_columns(tmp_path) -> None:
    from chronos_pkg.train.finetune_sweep import _append

    output = tmp_path / "old.csv"
    pd.DataFrame([{"dataset": "a", "setting": "x", "WQL": 1.0}]).to_csv(output, index=False)
    _append(output, {"dataset": "b", "setting": "y", "WQL": 2.0, "validation_metric": "wql"})
    assert pd.read_csv(output).to_dict("list") == {
        "dataset": ["a", "b"],
        "setting": ["x", "y"],
        "WQL": [1.0, 2.0],
    }
