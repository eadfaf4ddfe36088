"""ChronosBoltPipeline: parity with the published package, invariances, long horizons, batches."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import chronos_pkg
from chronos_pkg.bolt.checkpoint import load_bolt_model
from chronos_pkg.bolt.pipeline import ChronosBoltPipeline, interpolate_quantiles
from tests.bolt.conftest import MICRO_NETWORK, bolt_contexts, publish_random_bolt


@pytest.mark.parametrize("horizon", [8, 3, 20])
def test_predict_matches_published(ours, published_pipeline, horizon: int) -> None:
    contexts = bolt_contexts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = published_pipeline.predict(contexts, prediction_length=horizon)
        got = ours.predict(contexts, prediction_length=horizon)
    assert got.shape == (len(contexts), 9, horizon) and got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_predict_without_reg_token_matches_published(tmp_path: Path) -> None:
    chronos = pytest.importorskip("chronos")
    directory = publish_random_bolt(tmp_path, use_reg_token=False)
    theirs = chronos.BaseChronosPipeline.from_pretrained(directory)
    got = chronos_pkg.from_pretrained(directory)
    contexts = bolt_contexts()[:3]
    torch.testing.assert_close(
        got.predict(contexts), theirs.predict(contexts), atol=1e-5, rtol=1e-5
    )


def test_predict_quantiles_and_embed_match_published(ours, published_pipeline) -> None:
    contexts = bolt_contexts()
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


def test_instance_norm_makes_forecasts_affine_equivariant(ours: ChronosBoltPipeline) -> None:
    x = torch.stack([c for c in bolt_contexts() if len(c) == 37] * 2)
    base = ours.predict(x)
    moved = ours.predict(x * 1000.0 - 7.0)
    torch.testing.assert_close(moved, base * 1000.0 - 7.0, rtol=1e-4, atol=1e-2)


def test_nan_positions_are_ignored(ours: ChronosBoltPipeline) -> None:
    """A left-padded series forecasts exactly like the same series given unpadded."""
    series = bolt_contexts()[0]
    padded = torch.cat([torch.full((27,), float("nan")), series])  # one more, masked, patch
    torch.testing.assert_close(ours.predict(padded), ours.predict(series))
    with pytest.warns(UserWarning, match="entirely NaN"):
        assert torch.isfinite(ours.predict(torch.full((20,), float("nan")))).all()


def test_long_horizon_roll_out(ours: ChronosBoltPipeline) -> None:
    x = bolt_contexts()
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
    quantiles, mean = ours.predict_quantiles(bolt_contexts(), 8, levels)
    assert (quantiles.diff(dim=-1) >= 0).all()
    torch.testing.assert_close(mean, ours.predict(bolt_contexts())[:, 4])
    crossed = torch.tensor([[3.0, 1.0, 2.0]])
    out = interpolate_quantiles(crossed, [0.1, 0.5, 0.9], [0.05, 0.3, 0.5, 0.7, 0.95])
    torch.testing.assert_close(out, torch.tensor([[1.0, 1.5, 2.0, 2.5, 3.0]]))


def test_batch_size_and_dtype_do_not_change_the_forecast(micro_dir: Path) -> None:
    pipeline = chronos_pkg.from_pretrained(micro_dir)
    x = bolt_contexts()
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

    series = bolt_contexts()[2].numpy()
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


def test_batch_size_rules_and_default_are_those_of_chronos_t5(
    micro_dir: Path, tiny_seq2seq_dir: Path
) -> None:
    """Bolt raised ValueError for every bad batch size, rejected np.int64 and forecast all
    series in one pass; now both families check it the same way and default to 256."""
    bolt = chronos_pkg.from_pretrained(micro_dir)
    t5 = chronos_pkg.from_pretrained(tiny_seq2seq_dir)
    x = bolt_contexts()[:3]
    torch.testing.assert_close(bolt.predict(x, batch_size=np.int64(2)), bolt.predict(x))
    for pipeline in (bolt, t5):
        with pytest.raises(TypeError, match="batch_size must be an int"):
            pipeline.predict(x, batch_size=2.0)
        with pytest.raises(ValueError, match="batch_size must be >= 1"):
            pipeline.predict(x, batch_size=0)

    sizes = []
    forecast = bolt.model.forecast
    bolt.model.forecast = lambda context: sizes.append(len(context)) or forecast(context)
    bolt.predict(torch.randn(300, 40))
    assert sizes == [256, 44]
