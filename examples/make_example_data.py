"""Write ``examples/hourly_demand.csv``: a small synthetic long-format dataset for the quickstart.

Four hourly series (daily and weekly seasonality, a trend, noise) of different lengths and
start dates, a few hundred rows each, in the long format every chronos_pkg tool reads:
one row per (``id``, ``timestamp``) with the value in ``target``. The data is made up; it
only exists so the README's first command and the quickstart notebook have something to
forecast without downloads.

Usage: ``python examples/make_example_data.py [OUTPUT_CSV]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 2024
OUTPUT = Path(__file__).resolve().parent / "hourly_demand.csv"

# id -> (length in hours, start, level, daily amplitude, weekly amplitude, trend per day, noise)
SERIES = {
    "store_north": (480, "2024-03-01 00:00", 120.0, 40.0, 15.0, 0.8, 5.0),
    "store_south": (360, "2024-03-06 00:00", 80.0, 25.0, 10.0, -0.5, 4.0),
    "warehouse": (408, "2024-03-04 12:00", 300.0, 60.0, 40.0, 2.0, 12.0),
    "kiosk": (240, "2024-03-11 06:00", 20.0, 12.0, 3.0, 0.1, 2.0),
}


def make_series(
    length: int,
    level: float,
    daily: float,
    weekly: float,
    trend: float,
    noise: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """One hourly series: level + trend + daily and weekly cycles + AR(1) noise, kept >= 0."""
    hours = np.arange(length)
    daily_cycle = daily * np.sin(2 * np.pi * (hours - 6) / 24)
    weekly_cycle = weekly * np.sin(2 * np.pi * hours / (24 * 7))
    shocks = rng.normal(0.0, noise, size=length)
    ar_noise = np.zeros(length)
    for t in range(1, length):  # AR(1) so the noise looks like real demand, not white noise
        ar_noise[t] = 0.6 * ar_noise[t - 1] + shocks[t]
    values = level + trend * hours / 24 + daily_cycle + weekly_cycle + ar_noise
    return np.clip(values, 0.0, None)


def make_frame(seed: int = SEED) -> pd.DataFrame:
    """The whole dataset as a long DataFrame with columns ``id``, ``timestamp``, ``target``."""
    frames = []
    for index, (name, (length, start, *shape)) in enumerate(SERIES.items()):
        rng = np.random.default_rng([seed, index])
        values = make_series(length, *shape, rng=rng)
        timestamps = pd.date_range(start, periods=length, freq="h")
        frames.append(pd.DataFrame({"id": name, "timestamp": timestamps, "target": values}))
    frame = pd.concat(frames, ignore_index=True)
    frame["target"] = frame["target"].round(2)
    return frame


def main(argv: list[str]) -> None:
    output = Path(argv[0]) if argv else OUTPUT
    make_frame().to_csv(output, index=False, date_format="%Y-%m-%d %H:%M:%S")
    print(f"wrote {output}")


if __name__ == "__main__":
    main(sys.argv[1:])
