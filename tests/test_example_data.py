"""The shipped example dataset is what ``examples/make_example_data.py`` writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from chronos_pkg.dataframe import split_series

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_example_csv_is_reproducible_and_valid():
    spec = importlib.util.spec_from_file_location(
        "make_example_data", EXAMPLES / "make_example_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = pd.read_csv(EXAMPLES / "hourly_demand.csv", parse_dates=["timestamp"])
    regenerated = module.make_frame()
    assert list(shipped["id"]) == list(regenerated["id"])
    assert (shipped["timestamp"] == regenerated["timestamp"]).all()
    np.testing.assert_allclose(shipped["target"], regenerated["target"], atol=0.011)

    series = split_series(shipped)
    assert len(series.ids) == 4 and set(series.freqs) == {"h"}
    lengths = sorted(len(c) for c in series.contexts)
    assert lengths[0] >= 200 and lengths[0] != lengths[-1]  # a few hundred rows, different lengths
