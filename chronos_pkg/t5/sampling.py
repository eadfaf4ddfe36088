"""Token sampling for Chronos-T5: counter-based uniforms and inverse-CDF token choice.

Random numbers are a pure function of ``(seed, series key, sample index, step)``, so a seeded
forecast of a series does not depend on which batch or chunk it was computed in. Tokens are
chosen from the temperature / top-k / top-p filtered distribution (the one ``transformers``
samples from) by inverting its CDF at the given uniform.
"""

from __future__ import annotations

import torch

_MASK32 = 0xFFFFFFFF
_CANONICAL_NAN_BITS = 0x7FC00000
# odd 32-bit constants (golden ratio and two murmur-style multipliers) to separate the streams
_GOLDEN = 0x9E3779B9
_SAMPLE_MULT = 0x85EBCA6B
_STEP_MULT = 0xC2B2AE35


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer finaliser (lowbias32) on int64 tensors holding values in [0, 2**32).

    Products may wrap around in int64; masking back to 32 bits keeps the exact low bits, and
    masking before each right shift keeps the shifts logical.
    """
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def series_keys(context: torch.Tensor) -> torch.Tensor:
    """A hash of each row's own values, independent of left padding and batch composition.

    Parameters
    ----------
    context : (B, T) float tensor, NaN = missing (leading NaNs are padding and ignored).

    Returns
    -------
    (B,) int64 keys in [0, 2**62).
    """
    if context.dim() != 2:
        raise ValueError(f"context must be 2-D (batch, time), got shape {tuple(context.shape)}")
    values = context.detach().to("cpu", torch.float32)
    missing = torch.isnan(values)
    bits = values.view(torch.int32).to(torch.int64) & _MASK32  # (B, T)
    bits = torch.where(missing, torch.full_like(bits, _CANONICAL_NAN_BITS), bits)
    # -0.0 and 0.0 are the same value
    bits = torch.where(values == 0, torch.zeros_like(bits), bits)
    observed = ~missing
    started = observed.to(torch.int64).cumsum(-1) > 0  # False on the leading NaNs
    n_lead = (~started).sum(-1, keepdim=True)  # (B, 1)
    position = torch.arange(values.shape[-1]).unsqueeze(0) - n_lead  # 0 at the first observation
    length = started.sum(-1)  # (B,)
    keys = []
    for salt in (0x243F6A88, 0x13198A2E):  # two independent 32-bit hashes -> 62 bits
        term = _mix32(_mix32(bits ^ salt) ^ _mix32(position * _GOLDEN + salt))
        term = torch.where(started, term, torch.zeros_like(term))
        total = term.sum(-1) & _MASK32  # sum < T * 2**32, no overflow for T < 2**31
        keys.append(_mix32(total ^ _mix32(length + salt)))
    return ((keys[0] & 0x3FFFFFFF) << 32) | keys[1]


def counter_uniforms(
    seed: int,
    keys: torch.Tensor,
    num_samples: int,
    num_steps: int,
    step_offset: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Uniforms in (0, 1), a pure function of ``(seed, key, sample, step_offset + step)``.

    Parameters
    ----------
    seed : any Python int (reduced to 64 bits).
    keys : (B,) int64 series keys, e.g. from :func:`series_keys`.
    num_samples, num_steps : sizes of the sample and step axes.
    step_offset : index of the first step, so a long horizon can be drawn in chunks.

    Returns
    -------
    (B, num_samples, num_steps) float32, each value ``(k + 0.5) / 2**24`` for an integer k.
    """
    if keys.dim() != 1:
        raise ValueError(f"keys must be 1-D, got shape {tuple(keys.shape)}")
    if num_samples < 0 or num_steps < 0 or step_offset < 0:
        raise ValueError("num_samples, num_steps and step_offset must be >= 0")
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    keys = keys.to(device=device, dtype=torch.int64)
    state = _mix32(torch.full_like(keys, seed & _MASK32) + _GOLDEN)
    state = _mix32(state ^ ((seed >> 32) & _MASK32))
    state = _mix32(state ^ (keys & _MASK32))
    state = _mix32(state ^ ((keys >> 32) & _MASK32))  # (B,)
    samples = torch.arange(num_samples, device=keys.device, dtype=torch.int64)
    steps = torch.arange(num_steps, device=keys.device, dtype=torch.int64) + step_offset
    per_sample = _mix32(state[:, None] ^ _mix32(samples * _SAMPLE_MULT + 1))  # (B, S)
    bits = _mix32(per_sample[:, :, None] ^ _mix32(steps * _STEP_MULT + 2))  # (B, S, H)
    # the top 24 bits are exact in float32; the half offset keeps 0 and 1 out
    return ((bits >> 8).to(torch.float32) + 0.5) / float(1 << 24)


def choose_tokens(
    logits: torch.Tensor, uniforms: torch.Tensor, temperature: float, top_k: int, top_p: float
) -> torch.Tensor:
    """Pick one token per row from the filtered distribution by inverse CDF.

    The distribution is ``transformers``' sampling distribution: logits divided by
    ``temperature``, restricted to the ``top_k`` largest (0 = no limit), then to the smallest
    set of most likely tokens whose probability exceeds ``top_p``, renormalised.

    Parameters
    ----------
    logits : (N, V) float logits (-inf for forbidden tokens).
    uniforms : (N,) values in [0, 1).
    temperature : > 0.
    top_k : >= 0; 1 is greedy argmax (ties go to the lowest id).
    top_p : in (0, 1].

    Returns
    -------
    (N,) int64 token ids.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    vocab = logits.shape[-1]
    if top_k == 1:
        return logits.argmax(dim=-1)
    scores = logits.float()
    if temperature != 1.0:
        scores = scores / temperature
    uniforms = uniforms.to(scores.device, torch.float32)
    if top_k == 0 or top_k >= vocab:
        if top_p >= 1.0:
            return _inverse_cdf(scores.softmax(dim=-1), uniforms, None)
        scores, candidates = scores.sort(dim=-1, descending=True)
    else:
        scores, candidates = scores.topk(top_k, dim=-1)  # sorted, descending
    probs = scores.softmax(dim=-1)  # (N, K)
    if top_p < 1.0:
        # transformers drops the tokens whose ascending cumulative probability is <= 1 - top_p
        ascending = probs.flip(-1).cumsum(dim=-1).flip(-1)  # mass of this token and all below
        keep = ascending > (1 - top_p)
        keep[..., 0] = True
        probs = torch.where(keep, probs, torch.zeros_like(probs))
    return _inverse_cdf(probs, uniforms, candidates)


def _inverse_cdf(
    probs: torch.Tensor, uniforms: torch.Tensor, candidates: torch.Tensor | None
) -> torch.Tensor:
    """Index (or candidate id) where the cumulative ``probs`` (N, K) first exceed ``u * total``."""
    cdf = probs.cumsum(dim=-1)  # (N, K)
    target = (uniforms * cdf[..., -1]).unsqueeze(-1)  # unnormalised: skips a division
    index = torch.searchsorted(cdf, target, right=True).squeeze(-1)
    # rounding can push the target to the total: fall back to the last token with mass
    index = torch.minimum(index, cdf.argmax(dim=-1))
    if candidates is None:
        return index
    return candidates.gather(-1, index.unsqueeze(-1)).squeeze(-1)
