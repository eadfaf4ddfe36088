"""A seasonal reference for Chronos-Bolt: detect each context's period and continue its cycle.

The published Bolt network maps its encoder states to all 64 x 9 outputs through one decoder
vector; reproducing a sharp cycle of a few steps many times over the horizon from that vector is
what it learns slowest (shared/docs/FINDINGS.md: after 114,000 CPU steps the shipped default
forecast a noise-free period-48 cycle 7x worse than Seasonal Naive). With
``ChronosBoltConfig.seasonal_reference`` the network gets that continuation for free: per series,
the period with the most prominent autocorrelation peak in the (standardised) context, and two
references over the horizon,

* ``last``: the last observed cycle repeated (Seasonal Naive at the detected period), and
* ``mean``: the mean of up to :data:`MEAN_CYCLES` last cycles (less noise, slower to follow),

which a learned, per-step gate adds to the quantile head's output (:class:`SeasonalGate`). The
gate also rescales the band around the median, per side and step: a network that learned a band
wide enough to cover a cycle it could not follow must narrow it once the reference follows the
cycle (the first gated run widened its m4_hourly band instead), and can move the forecast away
from the network's own median (``blend``: the references are added, the median partly taken
away). All start at zero (a scale of 1), so a published checkpoint extended with the gate
forecasts exactly as before. A ``masked`` gate acts only where a period was found: every other
series gets the network's forecast unchanged, so training only the gate cannot move the
forecasts of smooth, trending or noisy series (the base drift that kept run seasonal2 from
shipping).
A ``mix`` gate (``ChronosBoltConfig.seasonal_gate = "mix"``, :class:`MixingGate`) is the
constrained form: per step, a trust in [0, 1] (a sigmoid) moves the median towards a convex
mixture (a softmax) of four references, the two above and the same two carried along the
context's linear drift. The additive gate's weights and blend are free, so the exact copy a clean
cycle needs (weights summing to 1, the network's median wholly taken away) was a point it only
approached (on the probe's period-24 cycles: weights 0.6-0.9, blend 0.6-0.9, so the flat network
median leaked into the forecast); a saturating trust reaches it from any strong enough evidence.
Everything here is batched torch, computed in float32, and differentiable nowhere it needs to be
(the period is a discrete choice; the gate learns how far to trust it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

MEAN_CYCLES = 4  # cycles averaged by the ``mean`` reference
MIN_PROMINENCE = 0.2  # an autocorrelation peak must rise this far above the trough before it
MIN_STRENGTH = 0.4  # and its lag-pair-normalised autocorrelation must reach this
MIN_PERIOD = 2
REFINE_REACH = 2  # lags either side of the autocorrelation peak tried by Seasonal Naive's error
NUM_REFERENCES = 2
NUM_FEATURES = 4  # strength, cycles in the context, whether a period was found, in-sample fit
MAX_FIT = 3.0  # the in-sample error feature is capped here
GATE_GAIN = 10.0  # the gate is ``GATE_GAIN * Linear(...)``: 10x the learning rate of the rest
SPREAD_LIMIT = 2.0  # the band's log-scale is ``SPREAD_LIMIT * tanh(Linear(...) / SPREAD_LIMIT)``
SPREAD_KEYS = ("seasonal_gate.spread.weight", "seasonal_gate.spread.bias")  # added after run s1
BLEND_KEYS = ("seasonal_gate.blend.weight", "seasonal_gate.blend.bias")  # added after run s2
LATER_KEYS = (SPREAD_KEYS, BLEND_KEYS)  # gate parts an older gated checkpoint may lack (zero)
FOUND_FEATURE = 2  # index in seasonal_features of "a period was found" (1.0 or 0.0)
FIT_FEATURE = 3  # index of the in-sample fit (scaled by MAX_FIT)
GATE_KINDS = ("additive", "mix")
MIX_REFERENCES = 4  # last, mean, and both carried along the context's drift
MIX_FEATURES = NUM_FEATURES + 1  # the mix gate adds the log of the in-sample fit
LOG_FIT_FLOOR = 1e-3  # fits below this (standardised units) count as exact
TRUST_START = -6.0  # the mix gate's trust logit at start: sigmoid(-6) = 0.25%


class Seasonality(NamedTuple):
    """Per series (B,): the period (int64, 1 where none was found), the autocorrelation at it, and
    the in-sample error of copying the context at that lag (standardised units, trend removed)."""

    period: torch.Tensor
    strength: torch.Tensor
    fit: torch.Tensor


class _Line(NamedTuple):
    """A least-squares line per row: ``x_mean + slope * (t - t_mean)``, each (B, 1)."""

    t_mean: torch.Tensor
    x_mean: torch.Tensor
    slope: torch.Tensor


def _line(x: torch.Tensor, observed: torch.Tensor) -> _Line:
    """The least-squares line of each row of ``x`` (B, T) over its observed steps."""
    obs = observed.float()
    count = obs.sum(-1, keepdim=True).clamp(min=1)
    t = torch.arange(x.shape[-1], device=x.device, dtype=torch.float32)
    values = torch.where(observed, x, 0.0)
    t_mean = (obs * t).sum(-1, keepdim=True) / count
    x_mean = values.sum(-1, keepdim=True) / count
    dt = (t - t_mean) * obs
    slope = (dt * (values - x_mean)).sum(-1, keepdim=True) / dt.square().sum(
        -1, keepdim=True
    ).clamp(min=1e-12)
    return _Line(t_mean, x_mean, slope)


def _detrended(x: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """``x`` (B, T) minus its least-squares line over the observed steps; 0 where unobserved."""
    line = _line(x, observed)
    t = torch.arange(x.shape[-1], device=x.device, dtype=torch.float32)
    fitted = line.x_mean + line.slope * (t - line.t_mean)
    return torch.where(observed, torch.where(observed, x, 0.0) - fitted, 0.0)


def _autocovariance(x: torch.Tensor, length: int) -> torch.Tensor:
    """Sums ``sum_t x_t x_{t+k}`` for k in [0, length) along the last axis, by FFT."""
    n_fft = 1 << (2 * x.shape[-1] - 1).bit_length()
    spectrum = torch.fft.rfft(x, n=n_fft)
    return torch.fft.irfft(spectrum * spectrum.conj(), n=n_fft)[..., :length]


def _refine(
    x: torch.Tensor,
    observed: torch.Tensor,
    lag: torch.Tensor,
    limit: int,
    reach: int = REFINE_REACH,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Of the lags within ``reach`` of ``lag`` (B,), the one whose copy of the context ``x`` is
    closest to it (mean absolute difference over observed pairs, less its mean: a trend's): a broad autocorrelation peak
    under noise is off by a step, and a cycle copied at the wrong lag drifts by a step a cycle."""
    length = x.shape[-1]
    steps = torch.arange(length, device=x.device)
    values = torch.where(observed, x, 0.0)
    errors = []
    offsets = range(-reach, reach + 1)
    for offset in offsets:
        shift = (lag + offset).clamp(MIN_PERIOD, max(MIN_PERIOD, limit))[:, None]  # (B, 1)
        source = steps[None, :] - shift
        valid = (source >= 0) & observed & observed.gather(-1, source.clamp(min=0))
        diff = torch.where(valid, values - values.gather(-1, source.clamp(min=0)), 0.0)
        count = valid.sum(-1, keepdim=True).clamp(min=1)
        drift = diff.sum(-1, keepdim=True) / count  # a linear trend's constant lag difference
        errors.append(torch.where(valid, (diff - drift).abs(), 0.0).sum(-1) / count[:, 0])
    error, best = torch.stack(errors, dim=-1).min(dim=-1)
    return (lag + best - reach).clamp(MIN_PERIOD, max(MIN_PERIOD, limit)), error


def detect_period(x: torch.Tensor, max_period: int | None = None) -> Seasonality:
    """The dominant period of each row of ``x`` (B, T), NaN = missing.

    The autocorrelation of the linearly detrended series (missing steps left out of each lag's
    sum) is searched for local maxima at lags ``MIN_PERIOD .. max_period`` (default half the
    context) that at least two observed cycles support, that reach :data:`MIN_STRENGTH` and
    rise :data:`MIN_PROMINENCE` above the lowest value at shorter lags (a random walk's slowly
    decaying wiggles do not); the highest of them, on the
    ordinary (biased) estimate that favours shorter lags, refined to the lag within
    :data:`REFINE_REACH` whose copy of the context fits it best, is the period. ``strength`` is the
    lag-pair-normalised autocorrelation there, 0 where no period qualifies (period 1); ``fit``
    the mean absolute error of that copy (of the lag-2 copy where none qualifies).
    """
    x = x.float()
    batch, length = x.shape
    observed = ~torch.isnan(x)
    resid = _detrended(x, observed)
    sums = _autocovariance(resid, length)  # (B, T)
    pairs = _autocovariance(observed.float(), length).round()  # observed pairs per lag
    count = observed.sum(-1, keepdim=True).float().clamp(min=1)
    variance = (sums[..., :1] / count).clamp(min=1e-12)
    unbiased = sums / pairs.clamp(min=1) / variance
    lags = torch.arange(length, device=x.device)
    # the ordinary estimate's decay with the lag, independent of where values are missing
    biased = unbiased * (1 - lags / count).clamp(min=0)
    limit = length // 2 if max_period is None else min(max_period, length - 1)
    # peaks are located on the lag-pair-normalised estimate (the decay would pull a broad peak
    # to shorter lags) and ranked on the ordinary one
    previous = torch.nn.functional.pad(unbiased[..., :-1], (1, 0), value=float("inf"))
    following = torch.nn.functional.pad(unbiased[..., 1:], (0, 1), value=float("-inf"))
    trough = torch.cummin(torch.where(lags >= 1, unbiased, float("inf")), dim=-1).values
    candidate = (
        (lags >= MIN_PERIOD)
        & (lags <= limit)
        & (pairs >= lags.float())  # at least two cycles observed
        & (unbiased >= previous)
        & (unbiased >= following)
        & (unbiased - trough >= MIN_PROMINENCE)
        & (unbiased >= MIN_STRENGTH)
        & (variance > 1e-10)
    )
    score = torch.where(candidate, biased, float("-inf"))
    best, fit = _refine(x, observed, score.argmax(dim=-1), limit)
    found = candidate.any(dim=-1)
    period = torch.where(found, best, torch.ones_like(best))
    strength = torch.where(
        found,
        unbiased.gather(-1, best[:, None])[:, 0].clamp(-1.0, 1.0),
        torch.zeros(batch, device=x.device),
    )
    fit = torch.where(
        count[:, 0] > MIN_PERIOD, fit.clamp(max=MAX_FIT), torch.full_like(fit, MAX_FIT)
    )
    return Seasonality(period, strength, fit)


def seasonal_references(
    x: torch.Tensor,
    period: torch.Tensor,
    horizon: int,
    cycles: int = MEAN_CYCLES,
    drift: bool = False,
) -> torch.Tensor:
    """(B, 2, horizon): the last cycle repeated, and the mean of the last ``cycles`` cycles;
    with ``drift``, (B, 4, horizon): those two, then the same two carried along the context's
    least-squares slope (each copied value moved by the slope times the steps it is copied over).

    ``x`` (B, T) with NaN = missing; ``period`` (B,) >= 1. A step whose source value is missing
    falls back to the mean reference, and that to 0 (the standardised mean) when no cycle
    observed it.
    """
    x = x.float()
    length = x.shape[-1]
    steps = torch.arange(horizon, device=x.device)
    p = period.clamp(min=1)[:, None]
    last_index = length - p + steps[None, :] % p  # (B, H)
    slope = span = None
    if drift:
        slope = _line(x, ~torch.isnan(x)).slope  # (B, 1)
        # steps from the last cycle's source value to its target: one cycle, plus cycles ahead
        span = (p * (1 + steps[None, :] // p)).float()  # (B, H)
    total = torch.zeros(len(x), horizon, device=x.device)
    moved = torch.zeros_like(total)
    seen = torch.zeros_like(total)
    last = None
    for c in range(cycles):
        index = last_index - c * p
        valid = index >= 0
        values = x.gather(-1, index.clamp(min=0))
        valid = valid & ~torch.isnan(values)
        values = torch.where(valid, values, 0.0)
        if last is None:
            last = torch.where(valid, values, float("nan"))
        total += values
        if slope is not None:
            moved += torch.where(valid, slope * (span + c * p), 0.0)
        seen += valid.float()
    mean = torch.where(seen > 0, total / seen.clamp(min=1), 0.0)
    last_missing = torch.isnan(last)
    last = torch.where(last_missing, mean, last)
    if slope is None:
        return torch.stack([last, mean], dim=1)
    mean_drift = mean + torch.where(seen > 0, moved / seen.clamp(min=1), 0.0)
    last_drift = torch.where(last_missing, mean_drift, last + slope * span)
    return torch.stack([last, mean, last_drift, mean_drift], dim=1)


def seasonal_features(
    seasonality: Seasonality, observed_steps: torch.Tensor, max_cycles: float = 16.0
) -> torch.Tensor:
    """(B, NUM_FEATURES) gate inputs: strength, observed cycles (capped, scaled to [0, 1]),
    whether a period was found, and the in-sample fit of the copy (scaled to [0, 1])."""
    found = (seasonality.period > 1).float()
    cycles = (observed_steps.float() / seasonality.period.float()).clamp(max=max_cycles) * found
    fit = seasonality.fit / MAX_FIT
    return torch.stack([seasonality.strength, cycles / max_cycles, found, fit], dim=-1)


class _Gate(nn.Module):
    """What both gate kinds share: the horizon, the mask (:meth:`found`) and the start-token
    embedding of the gate's features (:meth:`gate_features`, the features as they are unless a
    kind adds its own)."""

    embed: nn.Linear

    def __init__(self, horizon: int, masked: bool) -> None:
        super().__init__()
        self.horizon = horizon
        self.masked = masked

    def found(self, features: torch.Tensor) -> torch.Tensor:
        """(B, 1): 1 where the gate may act (a masked gate: where a period was found), else 0."""
        if not self.masked:
            return torch.ones_like(features[:, :1])
        return features[:, FOUND_FEATURE : FOUND_FEATURE + 1]

    def gate_features(self, features: torch.Tensor) -> torch.Tensor:
        """The features the gate's parts read."""
        return features

    def start_embedding(self, features: torch.Tensor) -> torch.Tensor:
        """(B, 1, d): what the gate adds to the decoder's start token (zero where masked)."""
        return (self.embed(self.gate_features(features)) * self.found(features))[:, None]


class SeasonalGate(_Gate):
    """Per-step weights of the references: ``GATE_GAIN * Linear([decoder state, features])``;
    per-step weights of the network's own median taken away (``blend``, same gain); per-side,
    per-step scales of the band around the median (``spread``); ``embed`` also tells the decoder
    the features (added to its start token's embedding). ``masked``: all of it only where a
    period was found (:meth:`found`), nothing elsewhere.

    Zero-initialised, so a network that gains this gate forecasts as before until it trains.
    """

    num_references = NUM_REFERENCES

    def __init__(self, d_model: int, horizon: int, masked: bool = False) -> None:
        super().__init__(horizon, masked)
        self.proj = nn.Linear(d_model + NUM_FEATURES, NUM_REFERENCES * horizon)
        self.blend = nn.Linear(d_model + NUM_FEATURES, horizon)
        self.spread = nn.Linear(d_model + NUM_FEATURES, 2 * horizon)
        self.embed = nn.Linear(NUM_FEATURES, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in (self.proj, self.blend, self.spread, self.embed):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self,
        quantiles: torch.Tensor,
        levels: Sequence[float],
        hidden: torch.Tensor,
        features: torch.Tensor,
        references: torch.Tensor,
    ) -> torch.Tensor:
        """``quantiles`` (B, Q, H) at the increasing ``levels`` (Q) with the band around the median
        rescaled and the weighted references (B, R, H) added, from the decoder state ``hidden``
        (B, d) and ``features`` (B, F). Each side of the band is scaled as one, so quantiles keep
        their order."""
        inputs = torch.cat([hidden, features.to(hidden.dtype)], dim=-1)
        found = self.found(features).to(hidden.dtype)  # (B, 1)
        weights = GATE_GAIN * self.proj(inputs).unflatten(-1, (NUM_REFERENCES, self.horizon))
        correction = (weights * references.to(weights.dtype)).sum(dim=1)  # (B, H)
        median = quantiles[:, _centre(levels)]  # (B, H)
        correction = (correction - GATE_GAIN * self.blend(inputs) * median) * found
        log_scale = self.spread(inputs).unflatten(-1, (2, self.horizon)) * found[:, None]
        return _moved_band(quantiles, levels, median + correction, log_scale)


def _centre(levels: Sequence[float]) -> int:
    """The index of the level closest to the median."""
    return min(range(len(levels)), key=lambda i: abs(levels[i] - 0.5))


def _moved_band(
    quantiles: torch.Tensor, levels: Sequence[float], median: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """``quantiles`` (B, Q, H) re-centred on ``median`` (B, H), each side of the band around the
    old median scaled by ``exp(SPREAD_LIMIT * tanh(log_scale / SPREAD_LIMIT))`` (log_scale
    (B, 2, H): lower side, upper side), so the quantiles keep their order."""
    centre = _centre(levels)
    old = quantiles[:, centre : centre + 1]  # (B, 1, H)
    scale = torch.exp(SPREAD_LIMIT * torch.tanh(log_scale / SPREAD_LIMIT))
    upper = torch.tensor(
        [float(i > centre) for i in range(len(levels))],
        dtype=quantiles.dtype,
        device=quantiles.device,
    )[None, :, None]  # (1, Q, 1)
    side_scale = scale[:, :1] * (1 - upper) + scale[:, 1:] * upper  # (B, Q, H)
    return median.unsqueeze(1) + side_scale * (quantiles - old)


class MixingGate(_Gate):
    """The constrained gate (``seasonal_gate = "mix"``): per step, the median moves by a trust
    ``a = sigmoid(GATE_GAIN * Linear(inputs))`` towards ``sum_r w_r * reference_r`` with softmax
    weights ``w`` (``choice``) over the four references of ``seasonal_references(drift=True)``:
    ``median + a * (mix - median)``. ``spread`` and ``embed`` as in :class:`SeasonalGate`; the
    inputs add ``log(fit)`` to the features (a clean cycle's copy error is 100x smaller than a
    noisy one's, which the linear fit feature barely tells apart). Where it acts, the quantile
    levels come out sorted (the network's heads can cross). ``masked``: only where a period was
    found.

    Starts with a trust of sigmoid(TRUST_START) = 0.25% and equal weights: nearly the network's
    forecast (exactly it where masked).
    """

    num_references = MIX_REFERENCES

    def __init__(self, d_model: int, horizon: int, masked: bool = False) -> None:
        super().__init__(horizon, masked)
        self.trust = nn.Linear(d_model + MIX_FEATURES, horizon)
        self.choice = nn.Linear(d_model + MIX_FEATURES, MIX_REFERENCES * horizon)
        self.spread = nn.Linear(d_model + MIX_FEATURES, 2 * horizon)
        self.embed = nn.Linear(MIX_FEATURES, d_model)
        self.reset_parameters()

    def gate_features(self, features: torch.Tensor) -> torch.Tensor:
        """(B, MIX_FEATURES): the features and the log of the in-sample fit, scaled to about
        [0, 1] (1 at an exact copy, 0 at a fit of 1 standardised unit or worse)."""
        fit = features[:, FIT_FEATURE : FIT_FEATURE + 1] * MAX_FIT
        log_fit = (torch.log10(fit + LOG_FIT_FLOOR) / math.log10(LOG_FIT_FLOOR)).clamp(0, 1)
        return torch.cat([features, log_fit], dim=-1)

    def reset_parameters(self) -> None:
        for layer in (self.trust, self.choice, self.spread, self.embed):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        nn.init.constant_(self.trust.bias, TRUST_START / GATE_GAIN)

    def inputs(self, hidden: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """(B, d + MIX_FEATURES): what the gate's parts read."""
        return torch.cat([hidden, self.gate_features(features).to(hidden.dtype)], dim=-1)

    def weights(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The trust (B, H) and the references' weights (B, R, H) from :meth:`inputs`."""
        trust = torch.sigmoid(GATE_GAIN * self.trust(inputs))
        choice = GATE_GAIN * self.choice(inputs).unflatten(-1, (MIX_REFERENCES, self.horizon))
        return trust, torch.softmax(choice, dim=1)

    def forward(
        self,
        quantiles: torch.Tensor,
        levels: Sequence[float],
        hidden: torch.Tensor,
        features: torch.Tensor,
        references: torch.Tensor,
    ) -> torch.Tensor:
        """``quantiles`` (B, Q, H) with the median moved towards the references' mixture and the
        band around it rescaled, from the decoder state ``hidden`` (B, d) and ``features``."""
        found = self.found(features).to(hidden.dtype)  # (B, 1)
        inputs = self.inputs(hidden, features)
        trust, weights = self.weights(inputs)
        mix = (weights * references.to(weights.dtype)).sum(dim=1)  # (B, H)
        median = quantiles[:, _centre(levels)]
        moved = median + trust * found * (mix - median)
        log_scale = self.spread(inputs).unflatten(-1, (2, self.horizon)) * found[:, None]
        band = _moved_band(quantiles, levels, moved, log_scale)
        # the network's own quantile heads can cross (the published Bolt's too); moving the median
        # and narrowing the band around it keeps a crossing, so the levels are sorted (where the
        # gate acts: elsewhere the network's forecast is left exactly as it was)
        return torch.where(found[:, :, None] > 0, band.sort(dim=1).values, band)


def seasonal_gate(kind: str, d_model: int, horizon: int, masked: bool) -> nn.Module:
    """A zero-started gate of ``kind`` (one of :data:`GATE_KINDS`)."""
    if kind == "additive":
        return SeasonalGate(d_model, horizon, masked=masked)
    if kind == "mix":
        return MixingGate(d_model, horizon, masked=masked)
    raise ValueError(f"unknown seasonal gate {kind!r}; known: {GATE_KINDS}")
