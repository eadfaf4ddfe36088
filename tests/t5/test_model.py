"""Tests for chronos_pkg.t5.model: our decoding loop against transformers and the published package."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from chronos_pkg.t5.checkpoint import load_hf_model, new_hf_model, save_checkpoint
from chronos_pkg.t5.config import ChronosConfig
from chronos_pkg.t5.model import ChronosModel, _T5Decoder
from chronos_pkg.t5.sampling import counter_uniforms, series_keys
from chronos_pkg.t5.tokenizer import MeanScaleUniformBins

NAN = float("nan")
CHRONOS_KWARGS = {"context_length": 48, "prediction_length": 12, "n_tokens": 256}
NETWORKS = {
    "seq2seq": {"d_model": 32, "d_ff": 64, "d_kv": 8, "num_heads": 4, "num_layers": 2},
    "causal": {"n_embd": 32, "n_head": 4, "n_layer": 2},
}


def _spread_weights(model: torch.nn.Module, seed: int) -> None:
    """Re-draw the matrices at 1/sqrt(fan_in): transformers' init makes a random T5 repeat its
    decoder input token (unit-norm embeddings dominate), which would make greedy tests vacuous."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2 and "relative_attention_bias" not in name:
                param.copy_(torch.randn(param.shape, generator=generator) / param.shape[1] ** 0.5)


def _checkpoint(directory: Path, model_type: str, eos_boost: float = 1.0) -> Path:
    config = ChronosConfig(model_type=model_type, **CHRONOS_KWARGS)
    model = new_hf_model(config, seed=0, **NETWORKS[model_type])
    _spread_weights(model, seed=1)
    with torch.no_grad():  # make EOS attractive, to check that it is never produced
        model.get_output_embeddings().weight[config.eos_token_id] *= eos_boost
    return save_checkpoint(model, config, directory)


@pytest.fixture(scope="module", params=["seq2seq", "causal"])
def checkpoint(request, tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp(request.param), request.param)


def _ours(directory: Path, dtype: torch.dtype | None = None) -> ChronosModel:
    config = ChronosConfig.from_dict(
        __import__("json").loads((directory / "config.json").read_text())["chronos_config"]
    )
    return ChronosModel(config, load_hf_model(directory, config, torch_dtype=dtype))


def _contexts() -> torch.Tensor:
    """Five series: left padding, missing values inside and at the end, one constant."""
    generator = torch.Generator().manual_seed(0)
    context = torch.randn(5, 60, generator=generator).cumsum(-1) + 10
    context[0, :25] = NAN
    context[1, 30:34] = NAN
    context[2, -1] = NAN
    context[3] = 4.0
    context[4, :59] = NAN
    return context


def _tokens(model: ChronosModel, context: torch.Tensor):
    return MeanScaleUniformBins(model.config).context_input_transform(context)


# -- the hand-written T5 decoder step equals transformers' full forward ------------------------


def test_t5_decoder_step_logits_match_transformers(tmp_path):
    model = _ours(_checkpoint(tmp_path, "seq2seq"))
    t5 = model.model
    input_ids, mask, _ = _tokens(model, _contexts()[:3])
    generator = torch.Generator().manual_seed(3)
    num_samples, steps = 2, 6
    paths = torch.randint(0, 256, (3 * num_samples, steps), generator=generator)
    paths[:, 0] = 0  # decoder start token
    with torch.no_grad():
        encoded = t5.encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        decoder = _T5Decoder(t5, encoded, mask, num_samples, steps)
        ours = torch.stack([decoder.step(paths[:, t], t) for t in range(steps)], dim=1)
        full = t5(
            input_ids=input_ids.repeat_interleave(num_samples, 0),
            attention_mask=mask.repeat_interleave(num_samples, 0),
            decoder_input_ids=paths,
        ).logits
    torch.testing.assert_close(ours, full, atol=1e-4, rtol=1e-4)


# -- greedy decoding equals the published package ----------------------------------------------


@pytest.mark.parametrize("eos_boost", [1.0, 40.0])
@pytest.mark.parametrize("model_type", ["seq2seq", "causal"])
def test_greedy_tokens_match_published_package(tmp_path, model_type, eos_boost):
    chronos = pytest.importorskip("chronos")
    directory = _checkpoint(tmp_path, model_type, eos_boost=eos_boost)
    published = chronos.ChronosPipeline.from_pretrained(str(directory))
    ours = _ours(directory)
    input_ids, mask, _ = _tokens(ours, _contexts())
    expected = published.model(input_ids, mask, 12, 3, 1.0, 1, 1.0)
    tokens = ours.sample_tokens(input_ids, mask, 12, 3, temperature=1.0, top_k=1, top_p=1.0)
    assert tokens.shape == (5, 3, 12) and tokens.dtype == torch.int64
    assert torch.equal(tokens, expected)
    assert len(torch.unique(tokens)) > 4  # the check is not vacuous
    assert not (tokens == ours.config.eos_token_id).any()


def test_encode_matches_published_embed(tmp_path):
    chronos = pytest.importorskip("chronos")
    directory = _checkpoint(tmp_path, "seq2seq")
    published = chronos.ChronosPipeline.from_pretrained(str(directory))
    ours = _ours(directory)
    context = _contexts()
    expected, scale = published.embed(context)
    input_ids, mask, our_scale = _tokens(ours, context)
    embedding = ours.encode(input_ids, mask)
    assert embedding.shape == (5, 49, 32)
    torch.testing.assert_close(embedding, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(our_scale, scale)


def test_causal_encode_shape(checkpoint):
    model = _ours(checkpoint)
    input_ids, mask, _ = _tokens(model, _contexts())
    hidden = model.encode(input_ids, mask)
    length = 49 if model.config.model_type == "seq2seq" else 48
    assert hidden.shape == (5, length, 32)


# -- sampling: same distribution as the published package --------------------------------------


def _chi_square_two_sample(a: np.ndarray, b: np.ndarray, min_count: int = 5) -> tuple[float, int]:
    """Two-sample chi-square statistic over the tokens seen >= min_count times in total."""
    values, counts = np.unique(np.concatenate([a, b]), return_counts=True)
    keep = values[counts >= min_count]
    count_a = np.array([(a == v).sum() for v in keep] + [(~np.isin(a, keep)).sum()])
    count_b = np.array([(b == v).sum() for v in keep] + [(~np.isin(b, keep)).sum()])
    total = count_a + count_b
    used = total > 0
    count_a, count_b, total = count_a[used], count_b[used], total[used]
    expected_a = total * len(a) / (len(a) + len(b))
    expected_b = total * len(b) / (len(a) + len(b))
    stat = (count_a - expected_a) ** 2 / expected_a + (count_b - expected_b) ** 2 / expected_b
    return float(stat.sum()), int(used.sum() - 1)


@pytest.mark.parametrize("model_type", ["seq2seq", "causal"])
def test_sampled_tokens_have_the_published_distribution(tmp_path, model_type):
    chronos = pytest.importorskip("chronos")
    from scipy.stats import chi2

    directory = _checkpoint(tmp_path, model_type)
    published = chronos.ChronosPipeline.from_pretrained(str(directory))
    ours = _ours(directory)
    input_ids, mask, _ = _tokens(ours, _contexts()[1:2])
    num_samples, steps = 1500, 3
    settings = {"temperature": 1.3, "top_k": 12, "top_p": 0.9}
    torch.manual_seed(0)
    expected = published.model(input_ids, mask, steps, num_samples, **settings)[0].numpy()
    uniforms = counter_uniforms(0, series_keys(_contexts()[1:2]), num_samples, steps)
    tokens = ours.sample_tokens(input_ids, mask, steps, num_samples, uniforms=uniforms, **settings)
    tokens = tokens[0].numpy()
    for step in range(steps):  # marginals at each step: step 0 direct, later ones through the path
        stat, dof = _chi_square_two_sample(tokens[:, step], expected[:, step])
        assert dof >= 5
        assert chi2.sf(stat, dof) > 1e-4, (step, stat, dof)
    # and the joint of the first two steps (pairs as categories)
    stat, dof = _chi_square_two_sample(
        tokens[:, 0] * 1000 + tokens[:, 1], expected[:, 0] * 1000 + expected[:, 1], min_count=10
    )
    assert dof >= 5
    assert chi2.sf(stat, dof) > 1e-4, (stat, dof)


# -- randomness is controlled by the caller -----------------------------------------------------


def test_uniforms_make_samples_independent_of_batch(checkpoint):
    model = _ours(checkpoint)
    context = _contexts()
    keys = series_keys(context)
    settings = {
        "prediction_length": 5,
        "num_samples": 4,
        "temperature": 1.0,
        "top_k": 50,
        "top_p": 1.0,
    }
    input_ids, mask, _ = _tokens(model, context)
    batch = model.sample_tokens(
        input_ids, mask, uniforms=counter_uniforms(5, keys, 4, 5), **settings
    )
    alone_ids, alone_mask, _ = _tokens(model, context[1:2])
    alone = model.sample_tokens(
        alone_ids, alone_mask, uniforms=counter_uniforms(5, keys[1:2], 4, 5), **settings
    )
    assert torch.equal(batch[1:2], alone)
    assert len(torch.unique(batch)) > 10  # samples do differ


def test_generator_seeds_the_samples(checkpoint):
    model = _ours(checkpoint)
    input_ids, mask, _ = _tokens(model, _contexts())
    settings = {
        "prediction_length": 4,
        "num_samples": 6,
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
    }

    def draw(seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return model.sample_tokens(input_ids, mask, generator=generator, **settings)

    assert torch.equal(draw(1), draw(1))
    assert not torch.equal(draw(1), draw(2))


def test_sample_tokens_rejects_bad_arguments(checkpoint):
    model = _ours(checkpoint)
    input_ids, mask, _ = _tokens(model, _contexts())
    with pytest.raises(ValueError, match="uniforms must have shape"):
        model.sample_tokens(input_ids, mask, 4, 2, 1.0, 5, 1.0, uniforms=torch.rand(5, 2, 3))
    with pytest.raises(ValueError, match="2-D"):
        model.sample_tokens(input_ids[0], mask[0], 4, 2, 1.0, 5, 1.0)
    with pytest.raises(ValueError, match=">= 1"):
        model.sample_tokens(input_ids, mask, 0, 2, 1.0, 5, 1.0)


def test_bfloat16_runs_and_tracks_float32_logits(tmp_path):
    directory = _checkpoint(tmp_path, "seq2seq")
    full, half = _ours(directory), _ours(directory, dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16
    input_ids, mask, _ = _tokens(full, _contexts())
    tokens = half.sample_tokens(input_ids, mask, 6, 3, 1.0, 50, 1.0)
    assert tokens.shape == (5, 3, 6)
    assert ((tokens >= 0) & (tokens < 256) & (tokens != 1)).all()
    with torch.no_grad():
        paths = torch.zeros(5, 1, dtype=torch.long)
        logits = []
        for model in (full, half):
            encoded = model.encode(input_ids, mask)
            logits.append(_T5Decoder(model.model, encoded, mask, 1, 1).step(paths[:, 0], 0))
    assert logits[1].dtype == torch.float32
    assert (logits[0] - logits[1]).abs().max() < 0.1 * logits[0].abs().max() + 0.05
    assert math.isfinite(logits[1].sum().item())
