"""SeasonalSynth: series that repeat a sharp, arbitrary seasonal shape, to teach exact repetition.

KernelSynth's periodic kernels (``ExpSineSquared`` with length scale 1 on ``[0, 1]``) give smooth,
few-harmonic cycles, and real training data rarely repeats a cycle exactly. A model trained on
those continues a strongly seasonal series by its smooth outline and misses the detail that
Seasonal Naive copies (:mod:`chronos_pkg.train.seasonal_probe` measures it). Each series here is

    level + trend + amplitude(t) * (shape_1(t) + w * shape_2(t)) + noise

with ``shape_k`` one cycle of period ``p_k`` repeated exactly: a smoothed random walk, a sum of a
few harmonics, a step profile (business hours, weekdays) or sparse pulses, zero mean, unit
standard deviation. Periods are drawn from the seasonalities of real frequencies (or any integer
in ``[2, max_period]``); the amplitude is constant or slowly modulated; the trend none, linear
or a slow random walk; the noise absent, white or AR(1), at a log-uniform fraction of the
amplitude. Optional extras (off by default): periods that are real numbers, an exponentially
growing or shrinking amplitude, level shifts, spikes, and intermittent counts whose rate follows
the cycle.

Series ``i`` uses only ``np.random.default_rng([seed, i])``, so any split into workers or resumed
runs gives the same series.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SeasonalSynth", "COMMON_PERIODS", "cycle_shape", "repeat_cycle", "resample_cycle"]

# seasonalities of common frequencies: quarterly, monthly, weekly (in days), business days,
# hours per day / week, half-hours and 15 minutes per day, 10 minutes per day, weeks per year
COMMON_PERIODS = (4, 12, 7, 5, 24, 168, 48, 96, 144, 52, 6, 13, 26, 30, 60)


class SeasonalSynth:
    """Draw seasonal series of ``length`` points (see the module docstring).

    Parameters
    ----------
    length
        Points per series.
    seed
        Seed of the whole collection; series ``i`` depends only on ``(seed, i)``.
    max_period
        Largest period drawn; longer ones are skipped so that at least ``min_cycles`` fit.
    min_cycles
        Cycles of the (first) period that every series holds.
    common_share
        Probability that a period comes from :data:`COMMON_PERIODS` (else uniform in
        ``[2, max_period]``).
    second_share
        Probability of a second seasonal component (e.g. daily within weekly).
    noise_free_share
        Probability of no noise at all.
    max_noise
        Largest noise level, relative to the seasonal amplitude (drawn log-uniform from 1e-3).
    fractional_share
        Probability that the first period is a real number in ``[2, max_period]`` (a cycle
        resampled by linear interpolation: 24.6 steps a cycle, as a calendar or a sensor gives).
    growth_share
        Probability of an exponentially growing or shrinking amplitude (up to e^1.5 either way).
    shift_share
        Probability of 1-3 level shifts of up to two amplitudes at random times.
    spike_share
        Probability of sparse spikes (0.2-1% of the steps, 2-6 amplitudes, either sign).
    intermittent_share
        Probability that the series is intermittent counts instead: Poisson draws whose rate
        follows the seasonal pattern (mostly zeros at a low rate).

    The last five default to 0: the stream of series is then exactly that of earlier versions.
    """

    def __init__(
        self,
        length: int = 1024,
        seed: int = 0,
        max_period: int = 200,
        min_cycles: int = 4,
        common_share: float = 0.7,
        second_share: float = 0.3,
        noise_free_share: float = 0.2,
        max_noise: float = 0.5,
        fractional_share: float = 0.0,
        growth_share: float = 0.0,
        shift_share: float = 0.0,
        spike_share: float = 0.0,
        intermittent_share: float = 0.0,
    ) -> None:
        for name, value, least in (
            ("length", length, 8),
            ("min_cycles", min_cycles, 2),
            ("max_period", max_period, 2),
        ):
            if value < least:
                raise ValueError(f"{name} must be >= {least}, got {value}")
        for name, value in (
            ("common_share", common_share),
            ("second_share", second_share),
            ("noise_free_share", noise_free_share),
            ("fractional_share", fractional_share),
            ("growth_share", growth_share),
            ("shift_share", shift_share),
            ("spike_share", spike_share),
            ("intermittent_share", intermittent_share),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if not max_noise > 1e-3:
            raise ValueError(f"max_noise must be > 1e-3, got {max_noise}")
        self.length = length
        self.seed = seed
        self.max_period = max(2, min(max_period, length // min_cycles))
        self.common_share = common_share
        self.second_share = second_share
        self.noise_free_share = noise_free_share
        self.max_noise = max_noise
        self.extras = {
            "fractional": fractional_share,
            "growth": growth_share,
            "shift": shift_share,
            "spike": spike_share,
            "intermittent": intermittent_share,
        }
        self.common = [p for p in COMMON_PERIODS if p <= self.max_period]

    def _period(self, rng: np.random.Generator) -> int:
        if self.common and rng.random() < self.common_share:
            return int(rng.choice(self.common))
        return int(rng.integers(2, self.max_period + 1))

    def _draws(self, extra: np.random.Generator, name: str) -> bool:
        """Whether this series gets extra ``name`` (no draw at all when its share is 0)."""
        share = self.extras[name]
        return share > 0 and extra.random() < share

    def sample(self, index: int) -> np.ndarray:
        """Series ``index``, float32 ``(length,)``."""
        if index < 0:
            raise ValueError(f"series index must be >= 0, got {index}")
        rng = np.random.default_rng([self.seed, index])
        n = self.length
        t = np.arange(n, dtype=np.float64)
        # extras draw from a second generator, so the base stream stays that of earlier versions
        extra = np.random.default_rng([self.seed, index, 1])
        if self._draws(extra, "fractional"):
            period = float(extra.uniform(2.0, self.max_period))
            shape = cycle_shape(int(np.ceil(period)), rng)
            seasonal = resample_cycle(shape, period, n, rng)
        else:
            seasonal = repeat_cycle(cycle_shape(self._period(rng), rng), n, rng)
        if rng.random() < self.second_share:
            seasonal += rng.uniform(0.2, 1.0) * repeat_cycle(
                cycle_shape(self._period(rng), rng), n, rng
            )
        amplitude = np.ones(n)
        if rng.random() < 0.4:  # slow modulation: at most a few wide swings over the series
            cycles = rng.uniform(0.2, 2.0)
            depth = rng.uniform(0.1, 0.6)
            amplitude = 1.0 + depth * np.sin(2 * np.pi * cycles * t / n + rng.uniform(0, 2 * np.pi))
        if self._draws(extra, "growth"):
            amplitude = amplitude * np.exp(extra.uniform(-1.5, 1.5) * t / n)
        if self._draws(extra, "intermittent"):
            rate = np.exp(np.log(extra.uniform(0.05, 5.0)) + extra.uniform(0.3, 1.0) * seasonal)
            return extra.poisson(amplitude * rate).astype(np.float32)
        series = amplitude * seasonal
        if self._draws(extra, "shift"):
            for when in extra.integers(n // 8, n, size=extra.integers(1, 4)):
                series[when:] += extra.normal(0.0, 1.0)
        if self._draws(extra, "spike"):
            where = extra.random(n) < extra.uniform(0.002, 0.01)
            series[where] += extra.choice([-1.0, 1.0], where.sum()) * extra.uniform(
                2, 6, where.sum()
            )
        kind = rng.choice(3, p=[0.4, 0.35, 0.25])
        if kind == 1:  # linear trend of up to a few amplitudes over the series
            series += rng.normal(0.0, 2.0) * t / n
        elif kind == 2:  # slow random walk level
            walk = np.cumsum(rng.normal(0.0, 1.0, n)) * rng.uniform(0.01, 0.1)
            series += walk - walk[0]
        if rng.random() >= self.noise_free_share:
            scale = np.exp(rng.uniform(np.log(1e-3), np.log(self.max_noise)))
            noise = rng.normal(0.0, 1.0, n)
            if rng.random() < 0.5:  # AR(1) noise, unit variance
                phi = rng.uniform(0.3, 0.95)
                noise = _ar1(noise * np.sqrt(1 - phi**2), phi)
            series += scale * noise
        level = rng.normal(0.0, 3.0)
        scale = np.exp(rng.uniform(np.log(0.1), np.log(1000.0)))
        return ((series + level) * scale).astype(np.float32)


def cycle_shape(period: int, rng: np.random.Generator) -> np.ndarray:
    """One cycle of ``period`` points, zero mean and unit standard deviation (or all zeros when
    the period is too short to vary)."""
    kind = rng.choice(4, p=[0.35, 0.3, 0.2, 0.15])
    phase = np.arange(period) / period
    if kind == 0:  # smoothed random walk, closed so the cycle joins up
        steps = rng.normal(0.0, 1.0, period)
        steps -= steps.mean()
        shape = np.cumsum(steps)
        width = int(rng.integers(1, max(2, period // 6) + 1))
        if width > 1:
            padded = np.concatenate([shape[-width:], shape, shape[:width]])
            shape = np.convolve(padded, np.ones(width) / width, mode="same")[width:-width]
    elif kind == 1:  # a few harmonics with decaying amplitudes
        harmonics = int(rng.integers(1, max(2, min(6, period // 2)) + 1))
        shape = np.zeros(period)
        for k in range(1, harmonics + 1):
            shape += rng.normal(0.0, 1.0 / k) * np.sin(2 * np.pi * k * phase + rng.uniform(0, 6.3))
    elif kind == 2:  # step profile: a few flat segments (opening hours, weekdays)
        cuts = np.sort(rng.choice(np.arange(1, period), size=min(period - 1, rng.integers(1, 4))))
        levels = rng.normal(0.0, 1.0, len(cuts) + 1)
        shape = levels[np.searchsorted(cuts, np.arange(period), side="right")]
    else:  # sparse pulses on a flat base
        shape = np.zeros(period)
        count = int(rng.integers(1, max(2, period // 8) + 1))
        shape[rng.choice(period, size=min(count, period), replace=False)] = rng.uniform(
            0.5, 3.0, min(count, period)
        )
    shape = shape - shape.mean()
    std = shape.std()
    return shape / std if std > 1e-12 else np.zeros(period)


def repeat_cycle(shape: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``shape`` repeated exactly over ``n`` points, starting at a random phase."""
    start = int(rng.integers(len(shape)))
    reps = -(-(n + start) // len(shape))
    return np.tile(shape, reps)[start : start + n].copy()


def resample_cycle(
    shape: np.ndarray, period: float, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``shape`` (one cycle) stretched to a real ``period`` and repeated over ``n`` points from a
    random phase, by linear interpolation around the closed cycle."""
    phase = (np.arange(n) / period + rng.uniform()) % 1.0
    position = phase * len(shape)
    left = np.floor(position).astype(int) % len(shape)
    frac = position - np.floor(position)
    return (1 - frac) * shape[left] + frac * shape[(left + 1) % len(shape)]


def _ar1(innovations: np.ndarray, phi: float) -> np.ndarray:
    """AR(1) filter ``x_t = phi * x_{t-1} + e_t`` started from its stationary law."""
    out = np.empty_like(innovations)
    out[0] = innovations[0] / np.sqrt(1 - phi**2)
    for i in range(1, len(innovations)):
        out[i] = phi * out[i - 1] + innovations[i]
    return out
