"""Seed noise of the deep baselines: per-dataset spread and the aggregate of the seeds' mean."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation import seed_spread


def write(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["dataset", "model", "MASE", "WQL"]).to_csv(path, index=False)


def test_spread_and_summary_against_the_paper(tmp_path) -> None:
    results, reference = tmp_path / "results", tmp_path / "reference"
    write(
        results / "seasonal-naive.csv",
        [("fred_md", "seasonal-naive", 2.0, 0.2), ("cif_2016", "seasonal-naive", 1.0, 0.1)],
    )
    write(results / "tft.csv", [("fred_md", "tft", 1.0, 0.1), ("cif_2016", "tft", 1.0, 0.1)])
    write(results / "seeds" / "tft-seed1.csv", [("fred_md", "tft-seed1", 3.0, 0.3)])
    write(reference / "seasonal-naive-zero-shot.csv", [("fred_md", "seasonal-naive", 4.0, 0.4)])
    write(reference / "paper-tft-zero-shot.csv", [("fred_md", "tft", 2.0, 0.2)])
    table = seed_spread.seed_table(results, ["tft"])
    assert sorted(table["seed"]) == [0, 0, 1]
    per_dataset = seed_spread.spread(table, seed_spread.load_published(reference))
    assert list(per_dataset["dataset"]) == ["fred_md"]  # cif_2016 has one seed only
    row = per_dataset.iloc[0]
    assert (row["WQL_seed0"], row["WQL_seed1"]) == pytest.approx((0.5, 1.5))
    assert row["WQL_mean"] == pytest.approx(1.0) and row["WQL_spread"] == pytest.approx(2.0)
    assert row["WQL_paper"] == pytest.approx(0.5)
    totals = seed_spread.summary(per_dataset).iloc[0]
    assert totals["MASE_seed0"] == pytest.approx(0.5)
    assert totals["MASE_mean_of_seeds"] == pytest.approx(1.0)


def test_main_writes_markdown_and_csv(tmp_path) -> None:
    results = tmp_path / "results"
    write(results / "seasonal-naive.csv", [("fred_md", "seasonal-naive", 2.0, 0.2)])
    write(results / "deepar.csv", [("fred_md", "deepar", 1.0, 0.1)])
    write(results / "seeds" / "deepar-seed2.csv", [("fred_md", "deepar-seed2", 1.2, 0.12)])
    output = tmp_path / "spread.md"
    assert seed_spread.main(["--results-dir", str(results), "--output", str(output)]) == 0
    assert "deepar" in output.read_text() and output.with_suffix(".csv").is_file()


def test_a_protocol_variant_keeps_its_seeds_together_and_meets_the_papers_row(tmp_path) -> None:
    results, protocol, reference = tmp_path / "r", tmp_path / "r" / "protocol", tmp_path / "ref"
    write(results / "seasonal-naive.csv", [("fred_md", "seasonal-naive", 2.0, 0.2)])
    write(results / "tft.csv", [("fred_md", "tft", 0.5, 0.05)])  # the plain protocol: left out
    name = "tft-early-stopping"
    write(protocol / f"{name}.csv", [("fred_md", name, 2.0, 0.2)])
    write(protocol / f"{name}-seed1.csv", [("fred_md", f"{name}-seed1", 1.0, 0.1)])
    write(reference / "seasonal-naive-zero-shot.csv", [("fred_md", "seasonal-naive", 4.0, 0.4)])
    write(reference / "paper-tft-zero-shot.csv", [("fred_md", "tft", 2.0, 0.2)])
    table = seed_spread.seed_table(results, [name], protocol)
    assert sorted(table["seed"]) == [0, 1] and set(table["model"]) == {name}
    row = seed_spread.spread(table, seed_spread.load_published(reference)).iloc[0]
    assert (row["WQL_seed0"], row["WQL_seed1"], row["WQL_paper"]) == pytest.approx((1, 0.5, 0.5))
    assert seed_spread.paper_model("patchtst") == "paper-patchtst"
    assert seed_spread.paper_model("tftx") == "paper-tftx"
