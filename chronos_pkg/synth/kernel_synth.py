"""KernelSynth: synthetic series drawn from Gaussian-process priors with random composite kernels.

Per series (SPEC section 6): draw ``j`` uniformly from ``{1..max_kernels}``, draw ``j`` kernels
from the bank with replacement, fold them left to right with ``+`` or ``*`` (equal odds), and
draw one sample of the zero-mean GP prior on ``length`` points evenly spaced on ``[0, 1]``.

Series ``i`` uses only ``np.random.default_rng([seed, i])`` (composition, then the standard
normal noise, then again on a numerical failure), so any split into batches, shards, worker
processes or resumed runs gives the same series.

Speed comes from three things, all exact (same covariance, same Gaussian law):

- Covariances are built in closed form equal to scikit-learn's kernels (checked by the tests):
  every bank kernel is a polynomial in ``u = x x'`` whose coefficients are functions of the lag
  ``|i - j|`` (stationary kernels have degree 0, the linear ``DotProduct`` kernel is
  ``sigma_0**2 + u``), so ``+`` and ``*`` act on short coefficient vectors for a whole batch
  at once and an ``L x L`` matrix is materialised once, as Toeplitz matrices times powers of u.
- Samples are ``chol(K + jitter * mean(diag K) * I) @ z`` in float64 (batched on a GPU)
  instead of sklearn's SVD per series.
- On CPU, the ~3/4 of compositions without a linear kernel are stationary, so ``K`` is
  Toeplitz and its Cholesky factor comes from the O(L^2) Schur algorithm
  (:func:`sample_toeplitz`) without forming ``K``; the dense path is its fallback.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from numpy.lib.stride_tricks import as_strided

from chronos_pkg.devices import resolve_device
from chronos_pkg.series_io import SeriesFormat
from chronos_pkg.synth.shards import write_shards

logger = logging.getLogger(__name__)

KernelKind = Literal["periodic", "linear", "rbf", "rational_quadratic", "white", "constant"]

# Periods in points per cycle (SPEC section 6); the period in x units is p / length.
PERIODS = (24, 48, 96, 168, 336, 672, 7, 14, 30, 60, 365, 730, 4, 26, 52, 4, 6, 12, 4, 40, 10)
LINEAR_SIGMAS = (0.0, 1.0, 10.0)
RBF_LENGTH_SCALES = (0.1, 1.0, 10.0)
RATIONAL_QUADRATIC_ALPHAS = (0.1, 1.0, 10.0)
WHITE_NOISE_LEVELS = (0.1, 1.0)
CHOLESKY_BATCH_SIZE = {"cpu": 64, "cuda": 256}  # series per batched Cholesky, by device


@dataclass(frozen=True)
class BankKernel:
    """One kernel of the bank.

    ``value`` is the kernel's parameter: the period in x units (periodic), ``sigma_0``
    (linear), the length scale (rbf), ``alpha`` (rational_quadratic), the noise level (white),
    or the constant (constant). Other sklearn parameters keep sklearn's defaults (length scale 1).
    """

    kind: KernelKind
    value: float

    def to_sklearn(self) -> Any:
        """The equivalent ``sklearn.gaussian_process.kernels`` object."""
        from sklearn.gaussian_process import kernels

        if self.kind == "periodic":
            return kernels.ExpSineSquared(periodicity=self.value)
        if self.kind == "linear":
            return kernels.DotProduct(sigma_0=self.value)
        if self.kind == "rbf":
            return kernels.RBF(length_scale=self.value)
        if self.kind == "rational_quadratic":
            return kernels.RationalQuadratic(alpha=self.value)
        if self.kind == "white":
            return kernels.WhiteKernel(noise_level=self.value)
        if self.kind == "constant":
            return kernels.ConstantKernel(constant_value=self.value)
        raise ValueError(f"unknown kernel kind {self.kind!r}")

    def lag_values(self, lags: np.ndarray) -> np.ndarray:
        """The stationary factor on ``lags`` (distances ``|x - x'|``), shape ``(L,)``.

        For the linear kernel this is the constant ``sigma_0**2``; its ``x x'`` term is separate.
        """
        if self.kind == "periodic":
            return np.exp(-2.0 * np.sin(np.pi * lags / self.value) ** 2)
        if self.kind == "linear":
            return np.full_like(lags, self.value**2)
        if self.kind == "rbf":
            return np.exp(-0.5 * (lags / self.value) ** 2)
        if self.kind == "rational_quadratic":
            return (1.0 + lags**2 / (2.0 * self.value)) ** -self.value
        if self.kind == "white":
            return np.where(lags == 0.0, self.value, 0.0)
        if self.kind == "constant":
            return np.full_like(lags, self.value)
        raise ValueError(f"unknown kernel kind {self.kind!r}")


@functools.lru_cache(maxsize=8)
def kernel_bank(length: int = 1024) -> tuple[BankKernel, ...]:
    """The KernelSynth bank for series of ``length`` points (33 kernels)."""
    if length < 2:
        raise ValueError(f"length must be >= 2, got {length}")
    return (
        *(BankKernel("periodic", p / length) for p in PERIODS),
        *(BankKernel("linear", s) for s in LINEAR_SIGMAS),
        *(BankKernel("rbf", s) for s in RBF_LENGTH_SCALES),
        *(BankKernel("rational_quadratic", a) for a in RATIONAL_QUADRATIC_ALPHAS),
        *(BankKernel("white", n) for n in WHITE_NOISE_LEVELS),
        BankKernel("constant", 1.0),
    )


@dataclass(frozen=True)
class KernelComposition:
    """Bank indices folded left to right: ``((k0 op0 k1) op1 k2) ...``, ops ``"+"`` / ``"*"``."""

    kernels: tuple[int, ...]
    operators: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.kernels:
            raise ValueError("a composition needs at least one kernel")
        if len(self.operators) != len(self.kernels) - 1:
            raise ValueError(f"{len(self.kernels)} kernels need {len(self.kernels) - 1} operators")
        if any(op not in ("+", "*") for op in self.operators):
            raise ValueError(f"operators must be '+' or '*', got {self.operators}")

    def to_sklearn(self, bank: Sequence[BankKernel]) -> Any:
        """The composite ``sklearn`` kernel (``+`` -> ``Sum``, ``*`` -> ``Product``)."""
        kernel = bank[self.kernels[0]].to_sklearn()
        for op, index in zip(self.operators, self.kernels[1:]):
            other = bank[index].to_sklearn()
            kernel = kernel + other if op == "+" else kernel * other
        return kernel


def draw_composition(
    rng: np.random.Generator, max_kernels: int = 5, bank_size: int = 33
) -> KernelComposition:
    """Draw ``j ~ U{1..max_kernels}`` bank kernels with replacement and ``j - 1`` operators."""
    if max_kernels < 1:
        raise ValueError(f"max_kernels must be >= 1, got {max_kernels}")
    count = int(rng.integers(1, max_kernels + 1))
    kernels = tuple(int(k) for k in rng.integers(0, bank_size, size=count))
    operators = tuple("+" if bit else "*" for bit in rng.integers(0, 2, size=count - 1))
    return KernelComposition(kernels, operators)


def _toeplitz_into(
    out: torch.Tensor, lag_values: torch.Tensor, batched: bool | None = None
) -> torch.Tensor:
    """Fill ``out`` with symmetric Toeplitz matrices ``T[b, i, j] = v[b, |i - j|]``.

    ``lag_values`` is ``(B, L)``, ``out`` is ``(B, L, L)`` on the same device; returns ``out``.
    ``batched`` picks the one-gather GPU form (default: on non-CPU devices).
    """
    batch, length = lag_values.shape
    if not (out.device.type != "cpu" if batched is None else batched):
        # a negative-stride view of the mirrored vector, copied into place: no index tensor, no
        # temporary matrices (fresh allocations are what makes big CPU tensors slow)
        mirrored = torch.cat(
            [lag_values.flip(-1)[..., :-1], lag_values], dim=-1
        ).numpy()  # (B, 2L-1)
        target = out.numpy()
        step = mirrored.strides[-1]
        for b in range(batch):
            target[b] = as_strided(mirrored[b, length - 1 :], (length, length), (-step, step))
    else:
        lag_index = _lag_index(length, str(out.device))
        torch.index_select(lag_values, 1, lag_index, out=out.view(batch, length * length))
    return out


@functools.lru_cache(maxsize=4)
def _lag_index(length: int, device: str) -> torch.Tensor:
    """Flattened ``|i - j|`` for an ``L x L`` grid, ``(L * L,)`` int64."""
    positions = torch.arange(length, device=device)
    return (positions[:, None] - positions[None, :]).abs().flatten()


class CovarianceBuilder:
    """Batched closed-form covariance matrices of kernel compositions on one grid and device."""

    def __init__(
        self, length: int = 1024, device: str | torch.device = "cpu", batched: bool | None = None
    ) -> None:
        self.length = length
        self.device = resolve_device(device)
        # batched: whole-batch tensor ops (GPU); else one matrix at a time in reused buffers (CPU)
        self.batched = self.device.type != "cpu" if batched is None else batched
        self.bank = kernel_bank(length)
        x = np.linspace(0.0, 1.0, length)  # the grid, exactly as the sklearn reference uses it
        stationary = np.stack([kernel.lag_values(x) for kernel in self.bank])  # (K, L)
        self.stationary = torch.as_tensor(stationary, dtype=torch.float64, device=self.device)
        is_linear = [kernel.kind == "linear" for kernel in self.bank]
        self.is_linear = torch.tensor(is_linear, device=self.device)
        x_t = torch.as_tensor(x, dtype=torch.float64, device=self.device)
        self.outer = torch.outer(x_t, x_t)  # u = x x', (L, L)
        self._outer_powers: dict[int, torch.Tensor] = {}
        self._bank_polys: dict[int, torch.Tensor] = {}
        self._workspace: torch.Tensor | None = None
        self._scratch: torch.Tensor | None = None

    def _outer_power(self, degree: int) -> torch.Tensor:
        if degree not in self._outer_powers:
            self._outer_powers[degree] = self.outer**degree
        return self._outer_powers[degree]

    def _bank_polynomials(self, degree: int) -> torch.Tensor:
        """Bank kernels as polynomials in ``u`` up to ``degree``, ``(K, degree + 1, L)``, cached
        (building them masks by kind, which would sync a GPU on every batch)."""
        if degree not in self._bank_polys:
            shape = (len(self.bank), degree + 1, self.length)
            poly = torch.zeros(shape, dtype=torch.float64, device=self.device)
            poly[:, 0] = self.stationary
            if degree > 0:
                poly[self.is_linear, 1] = 1.0  # linear = sigma_0**2 + 1 * u
            self._bank_polys[degree] = poly
        return self._bank_polys[degree]

    def degrees(self, compositions: Sequence[KernelComposition]) -> list[int]:
        """Each composition's polynomial degree in ``u = x x'`` (``+``: max, ``*``: sum)."""
        size = len(self.bank)
        degrees = []
        for comp in compositions:
            if any(not 0 <= k < size for k in comp.kernels):
                raise ValueError(f"composition {comp} refers to kernels outside the bank of {size}")
            linear = [int(self.bank[k].kind == "linear") for k in comp.kernels]
            degree = linear[0]
            for op, term in zip(comp.operators, linear[1:]):
                degree = max(degree, term) if op == "+" else degree + term
            degrees.append(degree)
        return degrees

    def coefficients(self, compositions: Sequence[KernelComposition]) -> torch.Tensor:
        """Polynomial coefficients in ``u = x x'`` as functions of the lag, ``(B, D + 1, L)``.

        ``D`` is the largest degree in the batch; series of lower degree have zero rows there.
        """
        degree = max(self.degrees(compositions))
        depth = max(len(c.kernels) for c in compositions)
        index = torch.zeros(len(compositions), depth, dtype=torch.long)
        op_code = torch.full((len(compositions), depth), 2, dtype=torch.long)  # 0 +, 1 *, 2 none
        for b, comp in enumerate(compositions):
            index[b, : len(comp.kernels)] = torch.tensor(comp.kernels)
            op_code[b, 1 : len(comp.kernels)] = torch.tensor([op == "*" for op in comp.operators])
        index, op_code = _to_device(index, self.device), _to_device(op_code, self.device)

        bank_poly = self._bank_polynomials(degree)  # (K, D + 1, L)
        coeffs = bank_poly[index[:, 0]]  # (B, D + 1, L)
        for j in range(1, depth):
            term = bank_poly[index[:, j]]  # (B, D + 1, L)
            product = torch.zeros_like(coeffs)
            # no degree exceeds D, so the truncated polynomial product is exact
            for k in range(degree + 1):
                for i in range(k + 1):
                    product[:, k] += coeffs[:, i] * term[:, k - i]
            code = op_code[:, j, None, None]
            coeffs = torch.where(code == 0, coeffs + term, torch.where(code == 1, product, coeffs))
        return coeffs

    def workspace(self, batch: int) -> torch.Tensor:
        """A reusable ``(batch, L, L)`` float64 buffer (reuse avoids page-faulting fresh memory)."""
        if self._workspace is None or self._workspace.shape[0] < batch:
            self._workspace = None  # free the old one first
            shape = (batch, self.length, self.length)
            self._workspace = torch.empty(shape, dtype=torch.float64, device=self.device)
        return self._workspace[:batch]

    def covariance(
        self, compositions: Sequence[KernelComposition], out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Covariance matrices on the grid, float64 ``(B, L, L)``, equal to sklearn's ``kernel(X)``.

        ``out``, when given, is a ``(B, L, L)`` float64 tensor on the builder's device to fill.
        """
        if not compositions:
            raise ValueError("need at least one composition")
        degrees = self.degrees(compositions)
        coeffs = self.coefficients(compositions)  # (B, D + 1, L)
        batch = len(compositions)
        if out is None:
            out = torch.empty(
                batch, self.length, self.length, dtype=torch.float64, device=self.device
            )
        _toeplitz_into(out, coeffs[:, 0], self.batched)
        for k in range(1, coeffs.shape[1]):
            # only series of degree >= k pay for the u**k term, so a series' covariance never
            # depends on the rest of its batch (degrees come from the host: no device sync)
            rows = [b for b, degree in enumerate(degrees) if degree >= k]
            power = self._outer_power(k)
            if not self.batched:
                if self._scratch is None:
                    self._scratch = torch.empty(1, self.length, self.length, dtype=torch.float64)
                for b in rows:
                    _toeplitz_into(self._scratch, coeffs[b : b + 1, k])
                    out[b].addcmul_(self._scratch[0], power)
            else:
                row_index = _to_device(torch.tensor(rows), self.device)
                shape = (len(rows), self.length, self.length)
                term = torch.empty(shape, dtype=torch.float64, device=self.device)
                _toeplitz_into(term, coeffs[row_index, k], self.batched)
                out.index_add_(0, row_index, term.mul_(power))
        return out


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a host tensor to ``device``; through pinned memory to CUDA, so it does not block."""
    if device.type == "cpu":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)


@functools.lru_cache(maxsize=4)
def _cached_builder(length: int, device: str) -> CovarianceBuilder:
    return CovarianceBuilder(length, device)


def covariance_matrices(
    compositions: Sequence[KernelComposition],
    length: int = 1024,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Covariances of ``compositions`` on ``length`` points of ``[0, 1]``, float64 ``(B, L, L)``."""
    return _cached_builder(length, str(resolve_device(device))).covariance(compositions)


def sample_gaussian(
    covariance: torch.Tensor, noise: torch.Tensor, jitter: float = 1e-6, batched: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-mean Gaussian draws ``chol(K + jitter * mean(diag K) * I) @ noise``.

    Parameters
    ----------
    covariance
        ``(B, L, L)`` float64 covariances (overwritten: the jitter is added in place).
    noise
        ``(B, L)`` standard normal draws.
    jitter
        Diagonal loading relative to the mean variance, so it scales with the kernel.
    batched
        One batched factorisation (default on GPUs) instead of a loop over matrices (CPU).

    Returns
    -------
    samples
        ``(B, L)`` float64.
    ok
        ``(B,)`` bool: the factorisation succeeded and the sample is finite.
    """
    diagonal = covariance.diagonal(dim1=-2, dim2=-1)
    level = diagonal.mean(-1, keepdim=True).clamp_min(torch.finfo(covariance.dtype).tiny)
    diagonal.add_(jitter * level)
    noise = noise.to(covariance.dtype)
    if not (covariance.device.type != "cpu" if batched is None else batched):
        # one matrix at a time into one scratch factor: LAPACK uses every thread on each matrix,
        # and no batch-sized factor tensor has to be allocated
        batch, length = noise.shape
        chol = torch.empty(length, length, dtype=covariance.dtype)
        info_one = torch.empty((), dtype=torch.int32)
        info = torch.empty(batch, dtype=torch.int32)
        samples = torch.empty(batch, length, dtype=covariance.dtype)
        for b in range(batch):
            torch.linalg.cholesky_ex(covariance[b], out=(chol, info_one))
            info[b] = info_one
            torch.mv(chol, noise[b], out=samples[b])
    else:
        chol, info = torch.linalg.cholesky_ex(covariance)
        samples = (chol @ noise.unsqueeze(-1)).squeeze(-1)
    finite32 = samples.abs().amax(-1) < torch.finfo(torch.float32).max  # also rejects NaN
    return samples, (info == 0) & finite32


def sample_toeplitz(
    first_row: torch.Tensor, noise: torch.Tensor, jitter: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-mean Gaussian draws ``chol(T) @ noise`` for symmetric Toeplitz covariances, in O(L^2).

    ``T[i, j] = first_row[|i - j|]`` plus ``jitter * first_row[0]`` on the diagonal (the same
    loading as :func:`sample_gaussian`). The Cholesky factor comes column by column from the
    Schur algorithm (hyperbolic rotations of the displacement generators, in the stable "mixed"
    form), and is never stored: each column is multiplied into the sample as it appears. It is
    the same factor as the dense one, to rounding.

    Parameters
    ----------
    first_row
        ``(B, L)`` float64 first rows (covariance at lags ``0 .. L - 1``).
    noise
        ``(B, L)`` standard normal draws.

    Returns
    -------
    samples
        ``(B, L)`` float64.
    ok
        ``(B,)`` bool: every rotation was proper (the matrix was numerically positive
        definite) and the sample is finite.
    """
    row = first_row.to(torch.float64).clone()
    row[:, 0] += jitter * row[:, 0]
    noise = noise.to(torch.float64)
    length = row.shape[-1]
    u = row / row[:, :1].sqrt()  # generators: T - Z T Z' = u u' - v v'
    v = u.clone()
    v[:, 0] = 0.0
    samples = u * noise[:, :1]  # column 0 of the factor is u
    proper = torch.ones(row.shape[0], dtype=torch.bool, device=row.device)
    for k in range(1, length):
        shifted = u[:, k - 1 : length - 1]  # u moved down one place, positions k..L-1
        other = v[:, k:]
        rho = other[:, :1] / shifted[:, :1]
        proper &= (rho.abs() < 1.0).squeeze(-1)
        scale = ((1.0 - rho) * (1.0 + rho)).sqrt()
        column = (shifted - rho * other) / scale  # column k of the factor, rows k..L-1
        v[:, k:] = scale * other - rho * column
        u[:, k:] = column
        samples[:, k:] += column * noise[:, k : k + 1]
    finite32 = samples.abs().amax(-1) < torch.finfo(torch.float32).max  # also rejects NaN
    return samples, proper & finite32


@dataclass(frozen=True)
class KernelSynth:
    """A deterministic KernelSynth generator: series ``i`` depends only on ``(seed, i)``.

    Parameters
    ----------
    length
        Points per series (the grid is ``linspace(0, 1, length)``).
    max_kernels
        Largest number of bank kernels per composition.
    seed
        Non-negative base seed.
    device
        ``"cpu"`` or ``"cuda"`` (float64 either way).
    batch_size
        Series per batch; default 64 on CPU, 256 on CUDA.
    jitter
        Relative diagonal loading, see :func:`sample_gaussian`.
    max_attempts
        Redraws allowed per series after numerical failures before giving up.
    """

    length: int = 1024
    max_kernels: int = 5
    seed: int = 0
    device: str = "cpu"
    batch_size: int | None = None
    jitter: float = 1e-6
    max_attempts: int = 100

    def __post_init__(self) -> None:
        if self.length < 2:
            raise ValueError(f"length must be >= 2, got {self.length}")
        if self.max_kernels < 1:
            raise ValueError(f"max_kernels must be >= 1, got {self.max_kernels}")
        if self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.jitter >= 0:
            raise ValueError(f"jitter must be >= 0, got {self.jitter}")

    def rng(self, index: int) -> np.random.Generator:
        """The generator owned by series ``index``."""
        return np.random.default_rng([self.seed, index])

    def _launch(self, rngs: Sequence[np.random.Generator]) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw compositions and noise on the host and queue the sampling on the device.

        Returns float32 samples ``(B, L)`` and the ``(B,)`` success flags, still on the device.
        """
        builder = _cached_builder(self.length, str(resolve_device(self.device)))
        compositions = [draw_composition(rng, self.max_kernels, len(builder.bank)) for rng in rngs]
        noise = torch.from_numpy(np.stack([rng.standard_normal(self.length) for rng in rngs]))
        noise = _to_device(noise, builder.device)  # (B, L)
        samples = torch.empty(noise.shape, dtype=torch.float64, device=builder.device)
        ok = torch.zeros(len(compositions), dtype=torch.bool, device=builder.device)
        dense = list(range(len(compositions)))
        if builder.device.type == "cpu":
            # most compositions have no linear kernel: stationary, Toeplitz, O(L^2) Schur path;
            # its rare failures fall back to the dense factorisation of the same matrix
            stationary = [
                b for b, degree in enumerate(builder.degrees(compositions)) if degree == 0
            ]
            if stationary:
                first_rows = builder.coefficients([compositions[b] for b in stationary])[:, 0]
                drawn, good = sample_toeplitz(first_rows, noise[stationary], self.jitter)
                samples[stationary], ok[stationary] = drawn, good
                fallback = {b for b, g in zip(stationary, good.tolist()) if not g}
                dense = [b for b in dense if b not in stationary or b in fallback]
        if dense:
            chosen = [compositions[b] for b in dense]
            cov = builder.covariance(chosen, out=builder.workspace(len(chosen)))
            if len(dense) == len(compositions):
                samples, ok = sample_gaussian(cov, noise, self.jitter)
            else:
                samples[dense], ok[dense] = sample_gaussian(cov, noise[dense], self.jitter)
        return samples.to(torch.float32), ok

    def generate(self, begin: int, end: int) -> np.ndarray:
        """Series ``begin .. end - 1`` as a float32 array ``(end - begin, length)``."""
        if not 0 <= begin <= end:
            raise ValueError(f"need 0 <= begin <= end, got [{begin}, {end})")
        batch_size = self.batch_size or CHOLESKY_BATCH_SIZE.get(torch.device(self.device).type, 16)
        out = np.empty((end - begin, self.length), dtype=np.float32)
        rngs = [self.rng(i) for i in range(begin, end)]
        pending = list(range(end - begin))
        for attempt in range(self.max_attempts):
            failed: list[int] = []
            chunks = [pending[s : s + batch_size] for s in range(0, len(pending), batch_size)]
            in_flight = None
            # queue batch n + 1 before collecting batch n, so a GPU never waits for the host
            for chunk in [*chunks, None]:
                launched = (
                    None if chunk is None else (chunk, self._launch([rngs[p] for p in chunk]))
                )
                if in_flight is not None:
                    done, (samples, ok) = in_flight
                    samples_np, ok_np = samples.cpu().numpy(), ok.cpu().numpy()
                    for p, sample, good in zip(done, samples_np, ok_np):
                        if good:
                            out[p] = sample
                        else:
                            failed.append(p)
                in_flight = launched
            if not failed:
                return out
            logger.debug(
                "redrawing %d series after numerical failures (pass %d)", len(failed), attempt + 1
            )
            pending = sorted(failed)
        raise RuntimeError(
            f"{len(pending)} series still failed after {self.max_attempts} draws "
            f"(first: series {begin + pending[0]})"
        )

    def __call__(self, begin: int, end: int) -> np.ndarray:
        return self.generate(begin, end)

    def sample(self, index: int) -> np.ndarray:
        """Series ``index`` alone, float32 ``(length,)``."""
        return self.generate(index, index + 1)[0]


def generate_kernel_synth(
    output: str | os.PathLike,
    num_series: int,
    *,
    length: int = 1024,
    max_kernels: int = 5,
    seed: int = 0,
    format: SeriesFormat = "arrow",
    device: str = "cpu",
    workers: int = 1,
    batch_size: int | None = None,
    shard_size: int = 4096,
    resume: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write ``num_series`` KernelSynth series as shards in directory ``output``.

    See :class:`KernelSynth` for the generator and :func:`chronos_pkg.synth.shards.write_shards` for the
    sharding and resume rules. Returns the shard paths.
    """
    device = str(resolve_device(device))
    if workers > 1 and torch.device(device).type != "cpu":
        raise ValueError("workers > 1 is for CPU generation; use one process per GPU")
    generator = KernelSynth(length, max_kernels, seed, device, batch_size)
    settings = {
        "generator": "kernel_synth",
        "length": length,
        "max_kernels": max_kernels,
        "seed": seed,
    }
    settings["jitter"] = generator.jitter
    return write_shards(
        generator,
        num_series,
        output,
        shard_size=shard_size,
        format=format,
        resume=resume,
        workers=workers,
        metadata=settings,
        id_prefix="kernel_synth_",
        progress=progress,
    )


def sklearn_reference_series(
    index: int, seed: int = 0, length: int = 1024, max_kernels: int = 5
) -> np.ndarray:
    """Series ``index`` by the plain per-series algorithm: sklearn ``GaussianProcessRegressor.sample_y``.

    The same composition as :class:`KernelSynth` draws for ``(seed, index)``, but sampled by
    sklearn (an SVD per series); a slow baseline for benchmarks, not bit-equal to ours.
    """
    from sklearn.exceptions import ConvergenceWarning  # noqa: F401  (sklearn present)
    from sklearn.gaussian_process import GaussianProcessRegressor

    bank = kernel_bank(length)
    rng = np.random.default_rng([seed, index])
    grid = np.linspace(0.0, 1.0, length)[:, None]
    while True:
        composition = draw_composition(rng, max_kernels, len(bank))
        regressor = GaussianProcessRegressor(kernel=composition.to_sklearn(bank))
        try:
            sample = regressor.sample_y(
                grid, n_samples=1, random_state=int(rng.integers(2**31))
            ).ravel()
        except (np.linalg.LinAlgError, ValueError):
            continue
        if np.all(np.isfinite(sample)):
            return sample.astype(np.float32)
