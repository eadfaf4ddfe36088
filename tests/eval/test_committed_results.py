"""Every committed benchmark row has its record: the run that scored it, with machine and versions.

``evaluation/results/<model>.csv`` rows are what the README's tables are built from; the sidecar
``<model>.csv.json`` must say where, with what libraries and in how many seconds each one was
produced (issue: reproducible baselines). Reads committed files only, no data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

RESULTS = Path(__file__).resolve().parents[2] / "evaluation" / "results"
VERSION_KEYS = ("python", "torch", "numpy", "pandas", "statsforecast", "gluonts")
# Rows whose producer cannot be run again, so their record stays as first written.
UNRECORDED = {"cpu-bolt-run1": "its weights were never kept (training/results/runs.md)"}


def result_files() -> list[Path]:
    return sorted(p for p in RESULTS.glob("*.csv") if p.stem not in UNRECORDED)


def latest_records(sidecar: Path) -> dict[str, dict]:
    """Per dataset, the last run that scored it: ``{dataset: {"run": ..., "entry": ...}}``."""
    runs = json.loads(sidecar.read_text())["runs"]
    latest: dict[str, dict] = {}
    for run in runs:
        for dataset in run.get("datasets", []):
            latest[dataset] = {"run": run, "entry": run.get("per_dataset", {}).get(dataset)}
    return latest


def test_there_are_results_to_check():
    names = {p.stem for p in result_files()}
    assert {"seasonal-naive", "auto-ets", "auto-arima", "tft"} <= names


@pytest.mark.parametrize("csv", result_files(), ids=lambda p: p.stem)
def test_every_row_has_the_record_of_the_run_that_scored_it(csv: Path):
    rows = pd.read_csv(csv)
    latest = latest_records(csv.with_name(csv.name + ".json"))
    for row in rows.itertuples():
        record = latest.get(row.dataset)
        assert record is not None, f"{csv.name}: no run in the sidecar scored {row.dataset}"
        run, entry = record["run"], record["entry"]
        assert entry is not None, f"{csv.name}: {row.dataset} has no per-dataset entry"
        assert entry["seconds"] == pytest.approx(row.seconds, abs=1e-3), (
            f"{csv.name}: {row.dataset} took {row.seconds} s in the CSV, "
            f"{entry['seconds']} s in its run's record"
        )
        missing = [k for k in VERSION_KEYS if not run.get("versions", {}).get(k)]
        assert not missing, f"{csv.name}: {row.dataset}'s run lacks versions of {missing}"
        assert run["machine"].get("cpu"), f"{csv.name}: {row.dataset}'s run names no machine"
