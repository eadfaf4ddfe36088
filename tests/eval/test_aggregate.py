"""Relative scores, geometric means and published rows on the same datasets."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from chronos_pkg.eval.aggregate import (
    aggregate_scores,
    compare,
    geometric_mean,
    load_published,
    load_results,
    markdown_table,
    plot_aggregate,
    relative_scores,
)


def results_frame() -> pd.DataFrame:
    rows = [
        # dataset, model, MASE, WQL
        ("m4_hourly", "seasonal-naive", 2.0, 0.5),
        ("ETTh", "seasonal-naive", 1.0, 0.2),
        ("nn5", "seasonal-naive", 4.0, 0.4),
        ("m4_hourly", "ours", 1.0, 0.25),
        ("ETTh", "ours", 0.5, 0.1),
        ("nn5", "ours", 8.0, 0.4),
        ("ETTh", "other", 2.0, 0.2),  # has only one dataset
    ]
    return pd.DataFrame(rows, columns=["dataset", "model", "MASE", "WQL"])


def test_geometric_mean():
    assert geometric_mean([1.0, 4.0]) == pytest.approx(2.0)
    assert geometric_mean([0.5, 2.0, 1.0]) == pytest.approx(1.0)
    assert math.isnan(geometric_mean([]))
    with pytest.raises(ValueError, match="positive"):
        geometric_mean([1.0, 0.0])


def test_relative_scores_divide_by_the_baseline():
    rel = relative_scores(results_frame()).set_index(["model", "dataset"])
    assert rel.loc[("ours", "m4_hourly"), "MASE"] == 0.5
    assert rel.loc[("ours", "nn5"), "MASE"] == 2.0
    assert rel.loc[("seasonal-naive", "ETTh"), "WQL"] == 1.0
    assert rel.loc[("ours", "m4_hourly"), "benchmark"] == "in-domain"
    assert rel.loc[("ours", "ETTh"), "benchmark"] == "zero-shot"
    with pytest.raises(ValueError, match="baseline"):
        relative_scores(results_frame(), baseline="missing")


def test_aggregate_is_a_geometric_mean_per_benchmark():
    rel = relative_scores(results_frame())
    agg = aggregate_scores(rel[rel["model"] == "ours"]).set_index("benchmark")
    assert agg.loc["zero-shot", "MASE"] == pytest.approx(math.sqrt(0.5 * 2.0))
    assert agg.loc["zero-shot", "WQL"] == pytest.approx(math.sqrt(0.5 * 1.0))
    assert agg.loc["in-domain", "MASE"] == pytest.approx(0.5)
    assert agg.loc["zero-shot", "n_datasets"] == 2


def test_compare_uses_common_datasets_and_published_baseline(tmp_path, caplog):
    pd.DataFrame(
        {
            "dataset": ["ETTh", "nn5", "m4_yearly"],
            "model": "seasonal-naive",
            "MASE": [2.0, 2.0, 9.0],
            "WQL": 1.0,
        }
    ).to_csv(tmp_path / "seasonal-naive-zero-shot.csv", index=False)
    pd.DataFrame(
        {"dataset": ["ETTh", "nn5", "m4_yearly"], "model": "x", "MASE": [1.0, 4.0, 0.1], "WQL": 0.5}
    ).to_csv(tmp_path / "chronos-t5-tiny-zero-shot.csv", index=False)
    published = load_published(tmp_path)
    results = results_frame()
    results = results[results["model"] != "other"]
    relative, aggregate = compare(results, published=published)
    agg = aggregate.set_index(["model", "benchmark"])
    # published tiny on exactly ETTh and nn5 (m4_yearly is not in our results): (0.5 * 2) ** 0.5
    assert agg.loc[("chronos-t5-tiny (published)", "zero-shot"), "MASE"] == pytest.approx(1.0)
    assert agg.loc[("chronos-t5-tiny (published)", "zero-shot"), "n_datasets"] == 2
    assert ("seasonal-naive (published)", "zero-shot") not in agg.index
    assert ("chronos-t5-tiny (published)", "in-domain") not in agg.index
    assert set(relative["dataset"]) == {"ETTh", "nn5", "m4_hourly"}
    # a model with fewer datasets shrinks the common set, with a warning
    relative, _ = compare(results_frame())
    assert set(relative["dataset"]) == {"ETTh"}
    assert "left out" in caplog.text
    # an explicit subset
    relative, _ = compare(results, datasets=["nn5"])
    assert set(relative["dataset"]) == {"nn5"}


def test_load_results_later_files_win(tmp_path):
    results_frame().to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame([("ETTh", "ours", 9.0, 9.0)], columns=["dataset", "model", "MASE", "WQL"]).to_csv(
        tmp_path / "b.csv", index=False
    )
    merged = load_results([tmp_path / "a.csv", tmp_path / "b.csv"]).set_index(["model", "dataset"])
    assert merged.loc[("ours", "ETTh"), "MASE"] == 9.0
    with pytest.raises(ValueError, match="no result files"):
        load_results([])


def test_markdown_and_plot(tmp_path):
    _, aggregate = compare(results_frame()[lambda f: f["model"] != "other"])
    table = markdown_table(aggregate)
    assert table.splitlines()[0].startswith("| model | in-domain MASE (1 datasets)")
    assert "| ours | 0.500 | 0.500 | 1.000 | 0.707 |" in table
    pytest.importorskip("matplotlib")
    plot_aggregate(aggregate, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 1000


def test_over_budget_rows_count_as_present_but_unscored():
    """A deep baseline's over-budget row keeps the dataset in the common set for every model;
    that model's mean leaves it out and the table says on how many datasets it stands."""
    results = results_frame()[lambda f: f["model"] != "other"]
    deep = pd.DataFrame(
        [
            ("ETTh", "deep", 1.0, 0.1),
            ("nn5", "deep", math.nan, math.nan),
            ("m4_hourly", "deep", 4.0, 1.0),
        ],
        columns=["dataset", "model", "MASE", "WQL"],
    )
    relative, aggregate = compare(pd.concat([results, deep], ignore_index=True))
    assert set(relative["dataset"]) == {"ETTh", "nn5", "m4_hourly"}
    agg = aggregate.set_index(["model", "benchmark"])
    assert agg.loc[("deep", "zero-shot"), "MASE"] == pytest.approx(1.0)  # ETTh only
    assert agg.loc[("deep", "zero-shot"), "n_datasets"] == 1
    assert agg.loc[("ours", "zero-shot"), "n_datasets"] == 2
    table = markdown_table(aggregate)
    assert "| deep | 2.000 | 2.000 | 1.000 (1 of 2) | 0.500 (1 of 2) |" in table
