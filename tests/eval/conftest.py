"""Benchmark test data: a small dataset table with known targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def make_dataset(lengths=(30, 41, 25), freq="D", seed=0) -> tuple[pa.Table, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    targets = [rng.normal(10, 2, size=n).astype(np.float32) for n in lengths]
    table = pa.table(
        {
            "id": [f"s{i}" for i in range(len(lengths))],
            "timestamp": [
                pd.date_range("2020-01-01", periods=n, freq=freq).to_numpy() for n in lengths
            ],
            "target": [t.tolist() for t in targets],
        }
    )
    return table, targets
