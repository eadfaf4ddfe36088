"""MeanScaleUniformBins: bins, scaling, padding, labels, and the published format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chronos_pkg.t5.config import ChronosConfig
from chronos_pkg.t5.tokenizer import IGNORE_INDEX, MeanScaleUniformBins

NAN = float("nan")


@pytest.fixture(scope="module")
def tokenizer() -> MeanScaleUniformBins:
    return MeanScaleUniformBins(ChronosConfig(context_length=8, prediction_length=4))


def test_bins_and_boundaries(tokenizer: MeanScaleUniformBins) -> None:
    centers, boundaries = tokenizer.centers, tokenizer.boundaries
    assert centers.shape == (4093,)
    assert centers[0] == -15.0 and centers[-1] == 15.0
    assert abs(centers[2046].item()) < 1e-6  # the middle bin is zero (up to linspace rounding)
    assert boundaries.shape == (4094,)
    assert boundaries[0] == -1e20 and boundaries[-1] == 1e20
    torch.testing.assert_close(boundaries[1:-1], (centers[1:] + centers[:-1]) / 2)


def test_encode_plus_two_decode_minus_three(tokenizer: MeanScaleUniformBins) -> None:
    # ids are bucket + 2 at the mean-abs scale
    values = torch.tensor([[0.5, -3.0, 7.25, 100.0]])
    ids, _, scale = tokenizer.context_input_transform(values)
    assert scale.item() == pytest.approx(27.6875)
    expected = torch.bucketize(values[0] / scale, tokenizer.boundaries, right=True) + 2
    assert torch.equal(ids[0, :4], expected)
    # a value at center i falls in bucket i + 1 (right=True), so its id is i + 3, and decoding
    # subtracts 3: grid values come back unchanged
    unit = torch.ones(1)
    index = torch.tensor([0, 1, 2046, 4000, 4092])
    grid = tokenizer.centers[index].unsqueeze(0)
    grid_ids, _ = tokenizer._encode(grid, unit)
    assert torch.equal(grid_ids[0], index + 3)
    assert torch.equal(tokenizer.output_transform(grid_ids, unit), grid)


def test_zero_maps_to_the_middle_token(tokenizer: MeanScaleUniformBins) -> None:
    ids, mask, scale = tokenizer.context_input_transform(torch.zeros(1, 5))
    assert scale.tolist() == [1.0]
    assert ids[0, :5].tolist() == [2049] * 5
    assert tokenizer.output_transform(ids[:, :5], scale).abs().max() < 1e-6


def test_extreme_values_are_clamped_to_the_outer_bins(tokenizer: MeanScaleUniformBins) -> None:
    ids, _ = tokenizer._encode(torch.tensor([[-1e6, 1e6, -15.0, 15.0]]), torch.ones(1))
    assert ids[0].tolist() == [3, 4095, 3, 4095]
    decoded = tokenizer.output_transform(torch.tensor([[0, 1, 2, 3, 4095]]), torch.ones(1))
    # ids below the first bin decode to the lowest center
    assert decoded[0].tolist() == [-15.0, -15.0, -15.0, -15.0, 15.0]


def test_mean_scale_ignores_missing_values(tokenizer: MeanScaleUniformBins) -> None:
    context = torch.tensor([[NAN, 2.0, -4.0, NAN], [0.0, 0.0, 0.0, 0.0], [NAN, NAN, NAN, NAN]])
    _, _, scale = tokenizer.context_input_transform(context)
    assert scale.tolist() == [3.0, 1.0, 1.0]  # zero and all-NaN series get scale 1


def test_left_padding_and_eos(tokenizer: MeanScaleUniformBins) -> None:
    context = torch.tensor([[NAN, NAN, 1.0, 2.0], [1.0, NAN, 3.0, 4.0]])
    ids, mask, _ = tokenizer.context_input_transform(context)
    assert ids.shape == mask.shape == (2, 5)
    assert mask.tolist() == [[False, False, True, True, True], [True, False, True, True, True]]
    assert ids[0, :2].tolist() == [0, 0] and ids[1, 1] == 0  # pad id on missing steps
    assert ids[:, -1].tolist() == [1, 1]  # EOS
    assert ids.dtype == torch.long and mask.dtype == torch.bool


def test_all_nan_series(tokenizer: MeanScaleUniformBins) -> None:
    ids, mask, scale = tokenizer.context_input_transform(torch.full((1, 3), NAN))
    assert ids.tolist() == [[0, 0, 0, 1]]
    assert mask.tolist() == [[False, False, False, True]]
    assert scale.tolist() == [1.0]


def test_context_is_cut_to_context_length(tokenizer: MeanScaleUniformBins) -> None:
    context = torch.arange(1.0, 21.0).unsqueeze(0)  # 20 steps, context_length 8
    ids, mask, scale = tokenizer.context_input_transform(context)
    assert ids.shape == (1, 9)
    assert scale.item() == pytest.approx(torch.arange(13.0, 21.0).mean().item())
    short, _, short_scale = tokenizer.context_input_transform(context[:, -8:])
    assert torch.equal(ids, short) and torch.equal(scale, short_scale)


def test_labels_use_the_context_scale_and_ignore_missing(tokenizer: MeanScaleUniformBins) -> None:
    context = torch.tensor([[2.0, 2.0, 2.0, 2.0]])
    _, _, scale = tokenizer.context_input_transform(context)
    label = torch.tensor([[2.0, NAN, -2.0, 0.0]])
    ids, mask = tokenizer.label_input_transform(label, scale)
    unit_ids, _ = tokenizer._encode(torch.tensor([[1.0, -1.0, 0.0]]), torch.ones(1))
    assert ids.shape == (1, 5)
    assert ids[0, 1] == IGNORE_INDEX == -100
    assert ids[0, [0, 2, 3]].tolist() == unit_ids[0].tolist()
    assert ids[0, -1] == 1  # EOS is a label too
    assert mask.tolist() == [[True, False, True, True, True]]


def test_causal_model_has_no_eos() -> None:
    tokenizer = MeanScaleUniformBins(ChronosConfig(model_type="causal"))
    ids, mask, _ = tokenizer.context_input_transform(torch.tensor([[1.0, 2.0]]))
    assert ids.shape == mask.shape == (1, 2)
    assert 1 not in ids.tolist()[0]


def test_inputs_are_not_mutated(tokenizer: MeanScaleUniformBins) -> None:
    context = torch.tensor([[NAN, 1.0, 2.0]])
    before = context.clone()
    tokenizer.context_input_transform(context)
    tokenizer.label_input_transform(context, torch.ones(1))
    assert torch.equal(torch.isnan(context), torch.isnan(before))
    assert torch.equal(context.nan_to_num(), before.nan_to_num())


def test_output_transform_shapes(tokenizer: MeanScaleUniformBins) -> None:
    ids = torch.full((2, 3, 4), 2049 + 136)  # (B, S, H)
    out = tokenizer.output_transform(ids, torch.tensor([1.0, 10.0]))
    assert out.shape == (2, 3, 4) and out.dtype == torch.float32
    torch.testing.assert_close(out[1], out[0] * 10)


def _random_context(rng: np.random.Generator, batch: int, length: int) -> torch.Tensor:
    scales = 10.0 ** rng.uniform(-3, 4, size=(batch, 1))
    values = rng.standard_normal((batch, length)) * scales + rng.normal(size=(batch, 1)) * scales
    values[rng.random((batch, length)) < 0.15] = np.nan
    values[0] = np.nan  # an all-missing row
    values[1] = 0.0  # an all-zero row
    values[2, :5] = np.nan  # left padding
    return torch.tensor(values, dtype=torch.float32)


@pytest.mark.oracle
@pytest.mark.parametrize("model_type", ["seq2seq", "causal"])
def test_matches_the_published_tokenizer(model_type: str, rng: np.random.Generator) -> None:
    chronos = pytest.importorskip("chronos")
    config = ChronosConfig(context_length=24, prediction_length=6, model_type=model_type)
    ours = MeanScaleUniformBins(config)
    theirs = chronos.ChronosConfig(**config.to_dict()).create_tokenizer()
    context = _random_context(rng, batch=64, length=30)

    ids, mask, scale = ours.context_input_transform(context)
    ref_ids, ref_mask, ref_scale = theirs.context_input_transform(context.clone())
    assert torch.equal(ids, ref_ids)
    assert torch.equal(mask, ref_mask)
    assert torch.equal(scale, ref_scale)

    samples = torch.randint(0, 4096, (64, 5, 6), generator=torch.Generator().manual_seed(0))
    assert torch.equal(
        ours.output_transform(samples, scale), theirs.output_transform(samples, scale)
    )

    if model_type == "seq2seq":  # published labels: pad id + mask; ours: -100 where masked
        label = _random_context(rng, batch=64, length=6)
        label_ids, label_mask = ours.label_input_transform(label, scale)
        ref_ids, ref_mask = theirs.label_input_transform(label.clone(), scale)
        assert torch.equal(label_mask, ref_mask)
        assert torch.equal(label_ids, torch.where(ref_mask, ref_ids, torch.tensor(-100)))
