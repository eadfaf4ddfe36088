"""Chronos-Bolt: config, patching, instance norm, the pipeline, and parity with the published package."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import chronos_pkg
from chronos_pkg.bolt import (
    ChronosBoltPipeline,
    load_bolt_model,
    new_bolt_model,
    save_bolt_checkpoint,
)
from chronos_pkg.bolt_model import (
    ChronosBoltConfig,
    LocScale,
    destandardize,
    interpolate_quantiles,
    patchify,
    quantile_loss,
    standardize,
)

MICRO_NETWORK = {
    "d_model": 16,
    "d_ff": 32,
    "d_kv": 8,
    "num_heads": 2,
    "num_layers": 2,
    "num_decoder_layers": 1,
    "relative_attention_num_buckets": 8,
}
MICRO_BOLT = {"context_length": 64, "prediction_length": 8}


def _published_dir(directory: Path, use_reg_token: bool) -> Path:
    """A random checkpoint written by the published package, with well-separated quantiles."""
    from transformers import T5Config

    chronos_bolt = pytest.importorskip("chronos.chronos_bolt")
    chronos_config = {
        "context_length": 64,
        "prediction_length": 8,
        "input_patch_size": 16,
        "input_patch_stride": 16,
        "quantiles": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        "use_reg_token": use_reg_token,
    }
    config = T5Config(
        **MICRO_NETWORK,
        feed_forward_proj="relu",
        chronos_config=chronos_config,
        architectures=["ChronosBoltModelForForecasting"],
        decoder_start_token_id=0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = chronos_bolt.ChronosBoltModelForForecasting(config)
    head = model.output_patch_embedding
    with torch.no_grad():  # trained models do not cross their quantiles much: make this one not
        head.output_layer.weight.mul_(0.01)
        head.residual_layer.weight.mul_(0.01)
        head.output_layer.bias.copy_(torch.linspace(-2, 2, 9).repeat_interleave(8))
    model.save_pretrained(directory)
    path = directory / "config.json"
    path.write_text(
        json.dumps(
            {**json.loads(path.read_text()), "chronos_pipeline_class": "ChronosBoltPipeline"}
        )
    )
    return directory


@pytest.fixture(scope="module")
def published_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _published_dir(tmp_path_factory.mktemp("published-bolt"), use_reg_token=True)


@pytest.fixture(scope="module")
def published_pipeline(published_dir: Path):
    chronos = pytest.importorskip("chronos")
    return chronos.BaseChronosPipeline.from_pretrained(published_dir)


@pytest.fixture(scope="module")
def ours(published_dir: Path) -> ChronosBoltPipeline:
    pipeline = chronos_pkg.from_pretrained(published_dir)
    assert isinstance(pipeline, ChronosBoltPipeline)
    return pipeline


@pytest.fixture(scope="module")
def micro_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = new_bolt_model(ChronosBoltConfig(**MICRO_BOLT), seed=3, **MICRO_NETWORK)
    return save_bolt_checkpoint(model, tmp_path_factory.mktemp("micro-bolt"))


def _contexts() -> list[torch.Tensor]:
    """Series of several lengths (not multiples of 16, longer than the context) with NaN."""
    rng = np.random.default_rng(0)
    walk = lambda n: torch.tensor(np.cumsum(rng.normal(size=n)) * 5 + 50, dtype=torch.float32)  # noqa: E731
    gappy = walk(50)
    gappy[[3, 4, 20, 41]] = float("nan")
    leading_gap = walk(70)
    leading_gap[:30] = float("nan")
    return [walk(37), gappy, walk(100), leading_gap, torch.full((19,), 4.0), walk(5)]


# ------------------------------------------------------------------------------ config


def test_config_defaults_are_the_published_ones() -> None:
    config = ChronosBoltConfig()
    assert config.to_dict() == {
        "context_length": 2048,
        "prediction_length": 64,
        "input_patch_size": 16,
        "input_patch_stride": 16,
        "quantiles": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        "use_reg_token": True,
    }
    assert ChronosBoltConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "bad",
    [
        {"quantiles": [0.5, 0.1]},
        {"quantiles": [0.0, 0.5]},
        {"quantiles": []},
        {"input_patch_stride": 8},
        {"context_length": 0},
        {"prediction_length": 2.5},
    ],
)
def test_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValueError):
        ChronosBoltConfig(**bad)


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="patch_len"):
        ChronosBoltConfig.from_dict({"patch_len": 16})


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


# ------------------------------------------------------------------ patching and scaling


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


# ---------------------------------------------------------------- parity with published


@pytest.mark.parametrize("horizon", [8, 3, 20])
def test_predict_matches_published(ours, published_pipeline, horizon: int) -> None:
    contexts = _contexts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = published_pipeline.predict(contexts, prediction_length=horizon)
        got = ours.predict(contexts, prediction_length=horizon)
    assert got.shape == (len(contexts), 9, horizon) and got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_predict_without_reg_token_matches_published(tmp_path: Path) -> None:
    chronos = pytest.importorskip("chronos")
    directory = _published_dir(tmp_path, use_reg_token=False)
    theirs = chronos.BaseChronosPipeline.from_pretrained(directory)
    got = chronos_pkg.from_pretrained(directory)
    contexts = _contexts()[:3]
    torch.testing.assert_close(
        got.predict(contexts), theirs.predict(contexts), atol=1e-5, rtol=1e-5
    )


def test_predict_quantiles_and_embed_match_published(ours, published_pipeline) -> None:
    contexts = _contexts()
    for levels in ([0.1, 0.5, 0.9], [0.05, 0.15, 0.5, 0.73, 0.95]):
        q_got, mean_got = ours.predict_quantiles(contexts, 8, levels)
        q_exp, mean_exp = published_pipeline.predict_quantiles(contexts, 8, levels)
        assert q_got.shape == (len(contexts), 8, len(levels))
        torch.testing.assert_close(q_got, q_exp, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(mean_got, mean_exp, atol=1e-5, rtol=1e-5)
    emb_got, (loc_got, scale_got) = ours.embed(contexts)
    emb_exp, (loc_exp, scale_exp) = published_pipeline.embed(contexts)
    assert emb_got.shape == (len(contexts), 64 // 16 + 1, MICRO_NETWORK["d_model"])
    torch.testing.assert_close(emb_got, emb_exp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loc_got, loc_exp)
    torch.testing.assert_close(scale_got, scale_exp)


def test_our_checkpoint_loads_in_published(micro_dir: Path) -> None:
    chronos = pytest.importorskip("chronos")
    config = json.loads((micro_dir / "config.json").read_text())
    assert config["architectures"] == ["ChronosBoltModelForForecasting"]
    assert config["chronos_pipeline_class"] == "ChronosBoltPipeline"
    assert set(config["chronos_config"]) == set(ChronosBoltConfig().to_dict())
    theirs = chronos.BaseChronosPipeline.from_pretrained(micro_dir)
    assert type(theirs).__name__ == "ChronosBoltPipeline"
    contexts = _contexts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.testing.assert_close(
            chronos_pkg.from_pretrained(micro_dir).predict(contexts, 12),
            theirs.predict(contexts, 12),
            atol=1e-5,
            rtol=1e-5,
        )


# ------------------------------------------------------------------------- pipeline


def test_save_load_round_trip(ours: ChronosBoltPipeline, tmp_path: Path) -> None:
    ours.save_pretrained(tmp_path)
    again = chronos_pkg.from_pretrained(tmp_path)
    assert again.bolt_config == ours.bolt_config
    for (name, a), (_, b) in zip(ours.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert again.model.encoder.embed_tokens is again.model.shared  # still tied after loading
    x = _contexts()
    assert torch.equal(again.predict(x), ours.predict(x))


def test_instance_norm_makes_forecasts_affine_equivariant(ours: ChronosBoltPipeline) -> None:
    x = torch.stack([c for c in _contexts() if len(c) == 37] * 2)
    base = ours.predict(x)
    moved = ours.predict(x * 1000.0 - 7.0)
    torch.testing.assert_close(moved, base * 1000.0 - 7.0, rtol=1e-4, atol=1e-2)


def test_nan_positions_are_ignored(ours: ChronosBoltPipeline) -> None:
    """A left-padded series forecasts exactly like the same series given unpadded."""
    series = _contexts()[0]
    padded = torch.cat([torch.full((27,), float("nan")), series])  # one more, masked, patch
    torch.testing.assert_close(ours.predict(padded), ours.predict(series))
    with pytest.warns(UserWarning, match="entirely NaN"):
        assert torch.isfinite(ours.predict(torch.full((20,), float("nan")))).all()


def test_long_horizon_roll_out(ours: ChronosBoltPipeline) -> None:
    x = _contexts()
    direct = ours.predict(x, 8)
    with pytest.warns(UserWarning, match="exceeds"):
        long = ours.predict(x, 21)
    assert long.shape == (len(x), 9, 21)
    assert torch.equal(long[..., :8], direct)  # the first block is the direct forecast
    # blocks after the first are quantiles re-taken over the 81 paths: ordered
    assert (long[:, 1:, 8:] >= long[:, :-1, 8:] - 1e-6).all()
    with pytest.raises(ValueError, match="limit_prediction_length"):
        ours.predict(x, 9, limit_prediction_length=True)


def test_quantile_ordering_of_interpolated_levels(ours: ChronosBoltPipeline) -> None:
    levels = [0.01, 0.05, 0.25, 0.5, 0.55, 0.75, 0.99]
    quantiles, mean = ours.predict_quantiles(_contexts(), 8, levels)
    assert (quantiles.diff(dim=-1) >= 0).all()
    torch.testing.assert_close(mean, ours.predict(_contexts())[:, 4])
    crossed = torch.tensor([[3.0, 1.0, 2.0]])
    out = interpolate_quantiles(crossed, [0.1, 0.5, 0.9], [0.05, 0.3, 0.5, 0.7, 0.95])
    torch.testing.assert_close(out, torch.tensor([[1.0, 1.5, 2.0, 2.5, 3.0]]))


def test_batch_size_and_dtype_do_not_change_the_forecast(micro_dir: Path) -> None:
    pipeline = chronos_pkg.from_pretrained(micro_dir)
    x = _contexts()
    torch.testing.assert_close(pipeline.predict(x, batch_size=4), pipeline.predict(x))
    half = ChronosBoltPipeline.from_pretrained(micro_dir, torch_dtype="bfloat16")
    assert half.model.dtype == torch.bfloat16
    out = half.predict(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, pipeline.predict(x), rtol=0.05, atol=0.5)
    with pytest.raises(ValueError, match="batch_size"):
        pipeline.predict(x, batch_size=0)
    with pytest.raises(ValueError, match="dtype"):
        load_bolt_model(micro_dir, dtype="float99")


def test_predict_df_goes_through_predict_quantiles(ours: ChronosBoltPipeline) -> None:
    import pandas as pd

    series = _contexts()[2].numpy()
    df = pd.DataFrame(
        {
            "id": "a",
            "timestamp": pd.date_range("2024-01-01", periods=len(series), freq="D"),
            "target": series,
        }
    )
    out = ours.predict_df(df, prediction_length=8, quantile_levels=[0.1, 0.9])
    assert len(out) == 8 and {"predictions", "0.1", "0.9"} <= set(out.columns)
    np.testing.assert_allclose(
        out["predictions"].to_numpy(), ours.predict(series)[0, 4].numpy(), rtol=1e-6
    )


def test_loading_rejects_weights_that_do_not_fit(micro_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((micro_dir / name).read_bytes())
    state = load_file(tmp_path / "model.safetensors")
    del state["shared.weight"]
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="missing"):
        load_bolt_model(tmp_path)


# ---------------------------------------------------------------------------- loss


def test_quantile_loss_values_and_missing_targets() -> None:
    levels = torch.tensor([0.1, 0.5, 0.9])
    predictions = torch.zeros(1, 3, 2)
    target = torch.tensor([[1.0, float("nan")]])
    # error +1 at the observed step: 2 * (0.1 + 0.5 + 0.9) = 3, the NaN step is left out
    assert quantile_loss(predictions, target, levels).item() == pytest.approx(3.0)
    # a shorter target is compared with the first steps only
    assert quantile_loss(predictions, torch.tensor([[-1.0]]), levels).item() == pytest.approx(3.0)
    assert quantile_loss(predictions, torch.full((1, 2), float("nan")), levels).item() == 0.0
    with pytest.raises(ValueError):
        quantile_loss(predictions, torch.zeros(1, 3), levels)
