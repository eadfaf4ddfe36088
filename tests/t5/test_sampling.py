"""Tests for chronos_pkg.t5.sampling: series keys, counter-based uniforms, inverse-CDF token choice."""

from __future__ import annotations

import math

import pytest
import torch
from transformers.generation.logits_process import (
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from chronos_pkg.t5.sampling import choose_tokens, counter_uniforms, series_keys

NAN = float("nan")


# -- series_keys -------------------------------------------------------------------------------


def test_series_keys_ignore_left_padding_and_batch():
    series = torch.tensor([1.0, NAN, 3.5, -2.0])
    alone = series_keys(series.unsqueeze(0))
    padded = series_keys(torch.cat([torch.full((3,), NAN), series]).unsqueeze(0))
    batch = torch.stack(
        [torch.cat([torch.full((3,), NAN), series]), torch.arange(7, dtype=torch.float32)]
    )
    assert alone.dtype == torch.int64 and alone.shape == (1,)
    assert alone.item() == padded.item() == series_keys(batch)[0].item()


def test_series_keys_depend_on_values_order_and_missing():
    base = torch.tensor([[1.0, 2.0, 3.0]])
    variants = torch.tensor(
        [[1.0, 2.0, 3.0], [2.0, 1.0, 3.0], [1.0, NAN, 3.0], [1.0, 2.0, 3.0001], [0.0, 1.0, 2.0]]
    )
    keys = series_keys(variants)
    assert keys[0] == series_keys(base)[0]
    assert len(set(keys.tolist())) == 5
    assert (keys >= 0).all()
    # a leading NaN is padding, a trailing one is a missing observation
    assert series_keys(torch.tensor([[NAN, 1.0]]))[0] == series_keys(torch.tensor([[1.0]]))[0]
    assert series_keys(torch.tensor([[1.0, NAN]]))[0] != series_keys(torch.tensor([[1.0]]))[0]


def test_series_keys_rejects_1d():
    with pytest.raises(ValueError, match="2-D"):
        series_keys(torch.ones(4))


# -- counter_uniforms --------------------------------------------------------------------------


def test_counter_uniforms_shape_range_and_determinism():
    keys = torch.tensor([3, 2**40 + 5, 17], dtype=torch.int64)
    u = counter_uniforms(seed=7, keys=keys, num_samples=20, num_steps=64)
    assert u.shape == (3, 20, 64) and u.dtype == torch.float32
    assert (u > 0).all() and (u < 1).all()
    assert torch.equal(u, counter_uniforms(7, keys, 20, 64))
    assert not torch.equal(u, counter_uniforms(8, keys, 20, 64))
    # roughly uniform and not correlated across the three axes
    assert abs(u.mean().item() - 0.5) < 0.02
    assert abs(u.var().item() - 1 / 12) < 0.005
    assert not torch.equal(u[0], u[2])
    assert len(torch.unique(u)) > 0.99 * u.numel()


def test_counter_uniforms_independent_of_batch_and_chunking():
    keys = torch.tensor([11, 22, 33], dtype=torch.int64)
    full = counter_uniforms(1, keys, num_samples=4, num_steps=10)
    assert torch.equal(counter_uniforms(1, keys[1:2], 4, 10), full[1:2])
    assert torch.equal(counter_uniforms(1, keys.flip(0), 4, 10), full.flip(0))
    assert torch.equal(counter_uniforms(1, keys, 4, 6, step_offset=4), full[..., 4:])
    assert torch.equal(counter_uniforms(1, keys, 2, 10), full[:, :2])
    # huge seeds are reduced to 64 bits, not an overflow error
    assert counter_uniforms(2**70 + 3, keys, 1, 1).shape == (3, 1, 1)


# -- choose_tokens -----------------------------------------------------------------------------


def _transformers_probs(logits: torch.Tensor, temperature: float, top_k: int, top_p: float):
    """The distribution ``generate(do_sample=True)`` samples from."""
    scores = logits.clone()
    if temperature != 1.0:
        scores = TemperatureLogitsWarper(temperature)(None, scores)
    if top_k:
        scores = TopKLogitsWarper(top_k)(None, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return scores.softmax(-1)


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"),
    [(1.0, 50, 1.0), (0.7, 0, 1.0), (1.3, 0, 0.8), (1.0, 20, 0.5), (1.0, 4096, 1.0)],
)
def test_choose_tokens_inverts_the_transformers_distribution(temperature, top_k, top_p):
    generator = torch.Generator().manual_seed(0)
    vocab, grid = 300, 20000
    logits = torch.randn(3, vocab, generator=generator) * 2
    logits[:, 1] = -math.inf  # a forbidden token (EOS) is never chosen
    expected = _transformers_probs(logits, temperature, top_k, top_p)  # (3, V)
    # a fine uniform grid: token frequencies equal probabilities up to 1 / grid per token
    u = (torch.arange(grid, dtype=torch.float32) + 0.5) / grid
    rows = logits.repeat_interleave(grid, dim=0)
    tokens = choose_tokens(rows, u.repeat(3), temperature, top_k, top_p).view(3, grid)
    for row in range(3):
        freq = torch.bincount(tokens[row], minlength=vocab).float() / grid
        assert (freq[expected[row] == 0] == 0).all()
        assert torch.allclose(freq, expected[row], atol=2.0 / grid)


def test_choose_tokens_top_k_1_is_argmax_with_lowest_id_on_ties():
    logits = torch.tensor([[0.0, 2.0, 2.0, 1.0], [5.0, -1.0, 5.0, 5.0]])
    tokens = choose_tokens(logits, torch.tensor([0.99, 0.5]), 1.0, 1, 1.0)
    assert tokens.tolist() == [1, 0]


def test_choose_tokens_extreme_uniforms_stay_in_support():
    logits = torch.tensor([[0.0, -math.inf, 1.0, -math.inf]] * 3)
    u = torch.tensor([0.0, 1.0 - 2**-24, 0.5])
    for top_k in (0, 3):
        tokens = choose_tokens(logits, u, 1.0, top_k, 1.0)
        assert set(tokens.tolist()) <= {0, 2}
        assert tokens[0] == (0 if top_k == 0 else 2)  # lowest CDF entry: index / most likely


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
    ],
)
def test_choose_tokens_rejects_bad_parameters(kwargs, message):
    arguments = {"temperature": 1.0, "top_k": 5, "top_p": 1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        choose_tokens(torch.zeros(2, 8), torch.rand(2), **arguments)
