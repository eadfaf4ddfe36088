"""The seasonal probe: exactly periodic series scored against Seasonal Naive."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chronos_pkg.bolt.seasonal import detect_period
from chronos_pkg.train.seasonal_probe import (
    PROBE_PERIODS,
    SHAPES,
    VARIANTS,
    meets_targets,
    probe_cells,
    probe_series,
    seasonal_naive_forecast,
    summarize,
)


class CycleCopier:
    """Seasonal Naive at the period ``detect_period`` finds: the probe's reference, if found."""

    def predict_quantiles(self, context, horizon, levels):
        x = torch.as_tensor(context, dtype=torch.float32)
        period = detect_period(x).period.tolist()
        rows = [
            seasonal_naive_forecast(row[None].double().numpy(), p, horizon)[0]
            for row, p in zip(x, period)
        ]
        median = torch.tensor(np.stack(rows))
        return median[..., None].repeat(1, 1, len(levels)), median


class LastValue:
    def predict_quantiles(self, context, horizon, levels):
        x = torch.as_tensor(context, dtype=torch.float32)
        median = x[:, -1:].repeat(1, horizon)
        return median[..., None].repeat(1, 1, len(levels)), median


def test_cells_are_seeded_and_shaped() -> None:
    a = probe_series(24, "two_peaks", "growing", num_series=3)
    assert a.shape == (3, 512 + 64)
    np.testing.assert_array_equal(a, probe_series(24, "two_peaks", "growing", num_series=3))
    assert not np.array_equal(a, probe_series(24, "two_peaks", "plain", num_series=3))
    with pytest.raises(ValueError, match="unknown probe cell"):
        probe_series(24, "triangle", "plain")


def test_seasonal_naive_at_the_detected_period_scores_one() -> None:
    cells = probe_cells(CycleCopier(), num_series=2)
    assert len(cells) == len(PROBE_PERIODS) * len(SHAPES) * len(VARIANTS)
    summary = summarize(cells)
    # the detector finds the exact period of (nearly) every probe series
    assert summary["mean"] == pytest.approx(1.0, abs=0.005)
    assert summary["worst"] < 1.02 and meets_targets({**summary, "mean": 0.99})


def test_a_flat_forecast_misses_the_targets() -> None:
    summary = summarize(probe_cells(LastValue(), periods=(12, 48), num_series=2))
    assert set(summary) == {"p12", "p48", "mean", "worst"}
    assert summary["worst"] > 3 and not meets_targets(summary)


def test_plot_draws_each_forecaster_on_the_probe_series(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from chronos_pkg.train.seasonal_probe import PLOT_CELLS, plot_probe

    calls = []

    class Recording(CycleCopier):
        def predict_quantiles(self, context, horizon, levels):
            calls.append((tuple(context.shape), horizon, tuple(levels)))
            return super().predict_quantiles(context, horizon, levels)

    path = plot_probe({"copier": Recording()}, tmp_path / "probe.png")
    assert path.stat().st_size > 10_000
    assert calls == [((1, 512), 64, (0.1, 0.5, 0.9))] * len(PLOT_CELLS)
