"""The Chronos-Bolt network: seeded init, patching, instance norm, the pinball training loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chronos_pkg.bolt.checkpoint import new_bolt_model
from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.bolt.model import LocScale, destandardize, patchify, pinball_loss, standardize
from tests.bolt.conftest import MICRO_BOLT, MICRO_NETWORK


def test_random_init_depends_only_on_the_seed() -> None:
    config = ChronosBoltConfig(**MICRO_BOLT)
    torch.manual_seed(1)
    first = new_bolt_model(config, seed=5, **MICRO_NETWORK).state_dict()
    torch.manual_seed(2)
    second = new_bolt_model(config, seed=5, **MICRO_NETWORK).state_dict()
    other = new_bolt_model(config, seed=6, **MICRO_NETWORK).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(
        first["encoder.block.0.layer.0.SelfAttention.q.weight"],
        other["encoder.block.0.layer.0.SelfAttention.q.weight"],
    )
    assert not torch.equal(first["shared.weight"], other["shared.weight"])


def test_patchify_left_pads_lengths_not_divisible_by_the_patch() -> None:
    x = torch.arange(1.0, 38.0).unsqueeze(0)  # 37 steps -> 3 patches, 11 padded in front
    patches = patchify(x, 16, fill=float("nan"))
    assert patches.shape == (1, 3, 16)
    assert torch.isnan(patches[0, 0, :11]).all()
    assert torch.equal(patches[0, 0, 11:], torch.arange(1.0, 6.0))
    assert torch.equal(patches[0, -1], torch.arange(22.0, 38.0))
    assert patchify(torch.zeros(2, 32), 16, fill=0.0).shape == (2, 2, 16)


def test_standardize_round_trip_and_nan_handling() -> None:
    x = torch.tensor([[1.0, float("nan"), 3.0, 5.0], [2.0, 2.0, 2.0, 2.0], [float("nan")] * 4])
    normed, stats = standardize(x)
    assert torch.allclose(stats.loc[:, 0], torch.tensor([3.0, 2.0, 0.0]))
    assert stats.scale[0, 0] == pytest.approx(np.sqrt(8 / 3))
    assert stats.scale[1, 0] == pytest.approx(1e-5)  # constant series: tiny scale, no division by 0
    assert stats.scale[2, 0] == 1.0  # nothing observed
    assert torch.isnan(normed[0, 1]) and not torch.isnan(normed[:2, [0, 2, 3]]).any()
    back = destandardize(normed, stats)
    assert torch.allclose(back, x, equal_nan=True)
    # the target is scaled with the context's statistics
    target, same = standardize(torch.tensor([[5.0], [2.0], [1.0]]), stats)
    assert same is stats and target[0, 0] == pytest.approx(2 / np.sqrt(8 / 3))
    assert isinstance(stats, LocScale)


def test_quantile_loss_values_and_missing_targets() -> None:
    levels = torch.tensor([0.1, 0.5, 0.9])
    predictions = torch.zeros(1, 3, 2)
    target = torch.tensor([[1.0, float("nan")]])
    # error +1 at the observed step: 2 * (0.1 + 0.5 + 0.9) = 3, the NaN step is left out
    assert pinball_loss(predictions, target, levels).item() == pytest.approx(3.0)
    # a shorter target is compared with the first steps only
    assert pinball_loss(predictions, torch.tensor([[-1.0]]), levels).item() == pytest.approx(3.0)
    assert pinball_loss(predictions, torch.full((1, 2), float("nan")), levels).item() == 0.0
    with pytest.raises(ValueError):
        pinball_loss(predictions, torch.zeros(1, 3), levels)
