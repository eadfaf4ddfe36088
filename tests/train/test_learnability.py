"""A fresh Chronos-Bolt learns dynamics, not only the marginal distribution, within minutes."""

from __future__ import annotations

import numpy as np
import torch

from chronos_pkg.bolt.checkpoint import load_bolt_model, new_bolt_model, save_bolt_checkpoint
from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.bolt.model import bucket_distance, init_locality_bias
from chronos_pkg.train.learnability import MICRO_NETWORK, run_probe, toy_series


def test_toy_series_kinds_and_shape() -> None:
    values, kinds = toy_series(np.random.default_rng(0), 6, 100)
    assert values.shape == (6, 100) and values.dtype == np.float32
    assert kinds.tolist() == [True, False] * 3
    # a random walk's steps are unit normal; a sine's are bounded by its amplitude
    assert 0.7 < np.diff(values[1::2], axis=1).std() < 1.3


def test_micro_bolt_learns_sines_and_random_walks(one_thread) -> None:
    torch.manual_seed(0)
    config = ChronosBoltConfig(context_length=128, prediction_length=16)
    model = new_bolt_model(config, seed=0, **MICRO_NETWORK)
    result = run_probe(model, steps=400, learning_rate=1e-3, warmup_steps=50, batch_size=64)[-1]
    # sines continued: far better than repeating the last value or forecasting the mean
    assert result.sine_vs_last < 0.6, result
    assert result.sine_vs_mean < 0.6, result
    # random walks followed from their last value, not pulled back to the context mean
    assert result.walk_vs_last < 1.15, result
    assert result.walk_vs_mean < 0.6, result


def test_locality_bias_prefers_near_patches() -> None:
    model = new_bolt_model(ChronosBoltConfig(context_length=256), seed=0, size="tiny")
    table = model.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight
    assert torch.all(table[:, 0] == 0)  # one global head
    for head in range(1, table.shape[1]):
        near, far = table[1, head], table[15, head]  # distance 1 vs the farthest left bucket
        assert near > far
    assert bucket_distance(3, 32, 128) == 3.0
    assert 64 < bucket_distance(15, 32, 128) < 128
    assert bucket_distance(16 + 2, 32, 128) == 2.0  # right half mirrors the left


def test_locality_init_does_not_touch_loaded_weights(tmp_path) -> None:
    config = ChronosBoltConfig(context_length=64, prediction_length=8)
    model = new_bolt_model(config, seed=0, **MICRO_NETWORK)
    attention = model.encoder.block[0].layer[0].SelfAttention
    with torch.no_grad():
        attention.relative_attention_bias.weight.normal_()
    saved = attention.relative_attention_bias.weight.clone()
    save_bolt_checkpoint(model, tmp_path)
    loaded = load_bolt_model(tmp_path)
    loaded_table = loaded.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight
    torch.testing.assert_close(loaded_table, saved)
    init_locality_bias(loaded.encoder)  # and it can be re-applied explicitly
    assert torch.all(loaded_table[:, 0] == 0)
