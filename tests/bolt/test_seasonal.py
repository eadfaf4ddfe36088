"""The seasonal reference: period detection, the references, the gate's wiring and format."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import chronos_pkg
from chronos_pkg.bolt.checkpoint import load_bolt_model, new_bolt_model, save_bolt_checkpoint
from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.bolt.model import standardize, with_seasonal_reference
from chronos_pkg.bolt.seasonal import (
    GATE_GAIN,
    SPREAD_LIMIT,
    detect_period,
    seasonal_references,
)
from tests.bolt.conftest import MICRO_NETWORK


def periodic(period: float, length: int = 512, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    phase = 2 * np.pi * t / period
    return np.sin(phase) + 0.4 * np.sin(2 * phase + 1) + noise * rng.normal(size=length)


@pytest.mark.parametrize("period", [3, 7, 12, 24, 48, 96, 168])
def test_detects_the_period_of_a_noisy_cycle_with_a_trend(period: int) -> None:
    x = periodic(period) + 0.003 * np.arange(512)
    found = detect_period(torch.tensor(x[None], dtype=torch.float32))
    assert abs(int(found.period[0]) - period) <= max(1, period // 50)
    assert float(found.strength[0]) > 0.8


def test_no_period_in_noise_or_random_walks() -> None:
    rng = np.random.default_rng(1)
    rows = [rng.normal(size=512) for _ in range(10)] + [
        np.cumsum(rng.normal(size=512)) for _ in range(10)
    ]
    found = detect_period(torch.tensor(np.stack(rows), dtype=torch.float32))
    assert (found.period == 1).float().mean() >= 0.8  # at most a few spurious weak peaks
    assert torch.all((found.period > 1) | (found.strength == 0))


def test_missing_values_left_padding_and_short_series() -> None:
    x = torch.full((4, 512), float("nan"))
    x[0, -60:] = torch.tensor(periodic(12, 60, noise=0.0), dtype=torch.float32)  # 5 cycles
    x[1] = torch.tensor(periodic(24), dtype=torch.float32)
    x[1, ::5] = float("nan")  # 20% missing
    x[2, -10:] = torch.arange(10.0)  # too short for any cycle
    # row 3: all missing
    found = detect_period(x)
    assert found.period.tolist()[:3] == [12, 24, 1]
    assert found.period[3] == 1 and found.strength[3] == 0


def test_references_repeat_the_last_cycle_and_average_cycles() -> None:
    cycle = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    x = torch.cat([cycle, cycle + 10, cycle + 20, cycle + 30])[None]  # 4 cycles, rising
    refs = seasonal_references(x, torch.tensor([5]), horizon=12)
    assert refs.shape == (1, 2, 12)
    assert refs[0, 0].tolist() == (cycle + 30).repeat(3)[:12].tolist()
    assert refs[0, 1].tolist() == (cycle + 15).repeat(3)[:12].tolist()  # mean of 4 cycles
    x[0, -3] = float("nan")  # a missing value in the last cycle falls back to the mean
    refs = seasonal_references(x, torch.tensor([5]), horizon=5)
    assert refs[0, 0, 2] == pytest.approx((3 + 13 + 23) / 3)
    none = seasonal_references(torch.full((1, 8), float("nan")), torch.tensor([1]), horizon=3)
    assert none.abs().sum() == 0


def micro_model(seasonal: bool, seed: int = 3):
    config = ChronosBoltConfig(context_length=64, prediction_length=8, seasonal_reference=seasonal)
    return new_bolt_model(config, seed=seed, **MICRO_NETWORK).eval()


def test_config_writes_the_key_only_when_on() -> None:
    assert "seasonal_reference" not in ChronosBoltConfig().to_dict()
    on = ChronosBoltConfig(seasonal_reference=True)
    assert on.to_dict()["seasonal_reference"] is True
    assert ChronosBoltConfig.from_dict(on.to_dict()) == on
    with pytest.raises(ValueError, match="seasonal_reference must be a bool"):
        ChronosBoltConfig(seasonal_reference="yes")


def test_a_zero_gate_leaves_forecasts_unchanged() -> None:
    plain = micro_model(False)
    extended = with_seasonal_reference(plain)
    assert extended.bolt_config.seasonal_reference and not plain.bolt_config.seasonal_reference
    context = torch.tensor(np.stack([periodic(7, 100), periodic(12, 100)]), dtype=torch.float32)
    torch.testing.assert_close(extended.forecast(context), plain.forecast(context))
    assert with_seasonal_reference(extended) is extended


def test_a_gate_of_one_on_the_last_cycle_adds_seasonal_naive() -> None:
    """Wiring: with weight 1 on the ``last`` reference at every step, the forecast is the plain
    network's plus the detected cycle's continuation, in the series' own units."""
    plain = micro_model(False)
    extended = with_seasonal_reference(plain)
    with torch.no_grad():
        extended.seasonal_gate.proj.bias[:8] = 1.0 / GATE_GAIN  # reference 0 ('last'), 8 steps
    context = torch.tensor(periodic(6, 64, noise=0.0)[None] * 3 + 10, dtype=torch.float32)
    normed, stats = standardize(context)
    expected_ref = normed[0, -6:].repeat(2)[:8] * stats.scale[0]
    added = extended.forecast(context) - plain.forecast(context)  # (1, Q, 8)
    for q in range(added.shape[1]):
        torch.testing.assert_close(added[0, q], expected_ref, atol=1e-4, rtol=1e-4)


def test_checkpoint_round_trip_keeps_the_gate(tmp_path) -> None:
    model = with_seasonal_reference(micro_model(False))
    with torch.no_grad():
        model.seasonal_gate.proj.weight.normal_(0, 0.01)
    directory = save_bolt_checkpoint(model, tmp_path / "ckpt")
    config = json.loads((directory / "config.json").read_text())
    assert config["chronos_config"]["seasonal_reference"] is True
    loaded = load_bolt_model(directory)
    context = torch.tensor(periodic(5, 90)[None], dtype=torch.float32)
    torch.testing.assert_close(loaded.forecast(context), model.forecast(context))
    pipeline = chronos_pkg.from_pretrained(directory)
    quantiles, _ = pipeline.predict_quantiles(context, 20, [0.5])  # rolled out past 8 steps
    assert quantiles.shape == (1, 20, 1) and torch.isfinite(quantiles).all()


def test_the_spread_scales_each_side_of_the_band_around_the_median() -> None:
    """A lower-side log-scale of log(1/2) about halves every lower quantile's distance to the median and leaves
    the median and the upper side as they were, and keeps the quantiles' order."""
    plain = micro_model(False)
    extended = with_seasonal_reference(plain)
    horizon = extended.bolt_config.prediction_length
    with torch.no_grad():
        extended.seasonal_gate.spread.bias[:horizon] = float(np.log(0.5))  # side 0: lower
    context = torch.tensor(periodic(7, 100)[None], dtype=torch.float32)
    before, after = plain.forecast(context)[0], extended.forecast(context)[0]  # (Q, H)
    centre = extended.bolt_config.quantiles.index(0.5)
    median = before[centre]
    expected = before.clone()
    scale = float(np.exp(SPREAD_LIMIT * np.tanh(np.log(0.5) / SPREAD_LIMIT)))  # about 0.52
    expected[:centre] = median + (before[:centre] - median) * scale
    torch.testing.assert_close(after, expected, atol=1e-4, rtol=1e-4)
    assert torch.equal(after.diff(dim=0) > 0, before.diff(dim=0) > 0)  # the order is kept


@pytest.mark.parametrize("part", ["spread", "blend", "both"])
def test_a_gated_checkpoint_saved_before_a_gate_part_loads_with_it_at_zero(
    tmp_path, part: str
) -> None:
    from safetensors.torch import load_file, save_file

    from chronos_pkg.bolt.seasonal import BLEND_KEYS, SPREAD_KEYS

    dropped = {"spread": SPREAD_KEYS, "blend": BLEND_KEYS, "both": SPREAD_KEYS + BLEND_KEYS}[part]

    model = with_seasonal_reference(micro_model(False))
    with torch.no_grad():
        model.seasonal_gate.proj.weight.normal_(0, 0.01)
    directory = save_bolt_checkpoint(model, tmp_path / "ckpt")
    weights = directory / "model.safetensors"
    state = load_file(weights)
    save_file({k: v for k, v in state.items() if k not in dropped}, weights)
    loaded = load_bolt_model(directory)
    context = torch.tensor(periodic(5, 90)[None], dtype=torch.float32)
    torch.testing.assert_close(loaded.forecast(context), model.forecast(context))


def test_blend_moves_the_forecast_from_the_networks_median() -> None:
    """A blend of 1 everywhere takes the network's median away from every quantile: the median
    becomes 0 in standardised units, i.e. the context's mean, and the band keeps its width."""
    plain = micro_model(False)
    extended = with_seasonal_reference(plain)
    with torch.no_grad():
        extended.seasonal_gate.blend.bias[:] = 1.0 / GATE_GAIN
    context = torch.tensor(periodic(7, 100)[None] * 2 + 5, dtype=torch.float32)
    _, stats = standardize(context[:, -extended.bolt_config.context_length :])
    before, after = plain.forecast(context)[0], extended.forecast(context)[0]  # (Q, H)
    centre = extended.bolt_config.quantiles.index(0.5)
    torch.testing.assert_close(
        after[centre], stats.loc[0].expand(after.shape[1]), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(after - after[centre], before - before[centre], atol=1e-4, rtol=1e-4)


def test_a_masked_gate_leaves_series_without_a_period_unchanged(tmp_path) -> None:
    """Every gate part set (references, blend, band, start embedding): a masked gate changes the
    forecast of a cycle and leaves a random walk's exactly as the network made it; the mask is
    saved with the checkpoint."""
    plain = micro_model(False)
    masked = with_seasonal_reference(plain, masked=True)
    assert masked.bolt_config.seasonal_mask
    with torch.no_grad():
        for param in masked.seasonal_gate.parameters():
            param.normal_(0, 0.05)
    walk = np.cumsum(np.random.default_rng(0).normal(size=100))
    context = torch.tensor(np.stack([walk, periodic(7, 100)]), dtype=torch.float32)
    window = context[:, -masked.bolt_config.context_length :]
    assert detect_period(window).period.tolist()[0] == 1 < detect_period(window).period[1]
    before, after = plain.forecast(context), masked.forecast(context)
    torch.testing.assert_close(after[0], before[0])
    assert (after[1] - before[1]).abs().max() > 1e-2
    loaded = load_bolt_model(save_bolt_checkpoint(masked, tmp_path / "ckpt"))
    assert loaded.bolt_config.seasonal_mask
    torch.testing.assert_close(loaded.forecast(context), after)
    unmasked = with_seasonal_reference(loaded, masked=False)
    assert (unmasked.forecast(context)[0] - before[0]).abs().max() > 1e-3


def test_seasonal_mask_needs_the_gate_and_is_written_only_when_on() -> None:
    with pytest.raises(ValueError, match="seasonal_mask needs seasonal_reference"):
        ChronosBoltConfig(seasonal_mask=True)
    assert "seasonal_mask" not in ChronosBoltConfig(seasonal_reference=True).to_dict()
    both = ChronosBoltConfig(seasonal_reference=True, seasonal_mask=True).to_dict()
    assert both["seasonal_mask"] is True
    assert ChronosBoltConfig.from_dict(both).seasonal_mask


def test_drift_references_carry_the_cycle_along_the_trend() -> None:
    """On an exact cycle plus a line, the drifted references are about the future (the
    least-squares slope is the line's up to the cycle's small tilt), the plain ones lag it."""
    cycle = torch.tensor([0.0, 2.0, 1.0, -1.0, -2.0])
    t = torch.arange(60.0)
    x = (0.3 * t + cycle.repeat(12))[None]
    refs = seasonal_references(x, torch.tensor([5]), horizon=8, drift=True)
    assert refs.shape == (1, 4, 8)
    future = 0.3 * torch.arange(60.0, 68.0) + cycle.repeat(2)[:8]
    torch.testing.assert_close(refs[0, 2], future, atol=0.1, rtol=0)
    torch.testing.assert_close(refs[0, 3], future, atol=0.1, rtol=0)
    assert (refs[0, 0] - future).abs().min() > 1.0  # one cycle's trend behind
    torch.testing.assert_close(refs[0, :2], seasonal_references(x, torch.tensor([5]), 8)[0])


def test_mix_gate_config_and_round_trip(tmp_path) -> None:
    with pytest.raises(ValueError, match="seasonal_gate must be one of"):
        ChronosBoltConfig(seasonal_reference=True, seasonal_gate="linear")
    with pytest.raises(ValueError, match="seasonal_gate needs seasonal_reference"):
        ChronosBoltConfig(seasonal_gate="mix")
    assert "seasonal_gate" not in ChronosBoltConfig(seasonal_reference=True).to_dict()
    model = with_seasonal_reference(micro_model(False), masked=True, kind="mix")
    assert model.bolt_config.seasonal_gate == "mix"
    with torch.no_grad():
        for param in model.seasonal_gate.parameters():
            param.normal_(0, 0.05)
    directory = save_bolt_checkpoint(model, tmp_path / "ckpt")
    config = json.loads((directory / "config.json").read_text())
    assert config["chronos_config"]["seasonal_gate"] == "mix"
    context = torch.tensor(np.stack([periodic(7, 100), periodic(12, 100)]), dtype=torch.float32)
    torch.testing.assert_close(
        load_bolt_model(directory).forecast(context), model.forecast(context)
    )


def test_a_fresh_mix_gate_barely_moves_the_forecast_and_replaces_another_kind() -> None:
    plain = micro_model(False)
    additive = with_seasonal_reference(plain)
    with torch.no_grad():
        additive.seasonal_gate.proj.bias.fill_(0.05)
    mix = with_seasonal_reference(additive, kind="mix")
    assert type(mix.seasonal_gate).__name__ == "MixingGate"
    context = torch.tensor(periodic(7, 100)[None] * 4 + 3, dtype=torch.float32)
    before, after = plain.forecast(context), mix.forecast(context)
    # the random micro network's quantile heads cross; where the gate acts they come out sorted
    before = before.sort(dim=1).values
    assert (after - before).abs().max() < 0.01 * (before - before.mean()).abs().max()
    assert (additive.forecast(context) - before).abs().max() > 0.1  # the old gate acted...
    assert with_seasonal_reference(mix) is mix  # ...and is gone; the same kind is kept as is


def test_full_trust_in_the_last_cycle_forecasts_seasonal_naive_with_the_band_kept() -> None:
    """Trust 1 and all weight on ``last``: the median is Seasonal Naive at the detected period
    in the series' units; the band around it keeps the network's width (its levels sorted); a
    series without a period (masked) keeps the network's forecast exactly."""
    plain = micro_model(False)
    mix = with_seasonal_reference(plain, masked=True, kind="mix")
    horizon = mix.bolt_config.prediction_length
    with torch.no_grad():
        mix.seasonal_gate.trust.bias.fill_(3.0)  # sigmoid(30)
        mix.seasonal_gate.choice.bias[:horizon] = 3.0  # reference 0 ('last'): softmax ~1
    walk = np.cumsum(np.random.default_rng(0).normal(size=64))
    series = periodic(6, 64, noise=0.0) * 3 + 10
    context = torch.tensor(np.stack([series, walk]), dtype=torch.float32)
    before, after = plain.forecast(context), mix.forecast(context)
    centre = mix.bolt_config.quantiles.index(0.5)
    naive = torch.tensor(series[-6:], dtype=torch.float32).repeat(2)[:horizon]
    # the network's band moved onto Seasonal Naive, its levels sorted (the random micro
    # network's heads cross)
    expected = (naive[None] + before[0] - before[0, centre]).sort(dim=0).values
    torch.testing.assert_close(after[0], expected, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(after[1], before[1])
