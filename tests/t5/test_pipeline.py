"""ChronosPipeline: loading, shapes, seeded sampling, roll-outs, quantiles, embeddings, errors."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import chronos_pkg
from chronos_pkg.t5 import pipeline as pipeline_module
from chronos_pkg.t5.pipeline import ChronosPipeline, interpolated_sample_quantiles

# horizons beyond the tiny models' 8 steps are used on purpose; the warning is tested once
pytestmark = pytest.mark.filterwarnings("ignore:prediction_length .* exceeds")

NAN = float("nan")
S, H, CONTEXT = 10, 8, 32  # the tiny checkpoints' num_samples, prediction_length, context_length


@pytest.fixture(scope="module")
def pipeline(tiny_seq2seq_dir: Path) -> ChronosPipeline:
    return ChronosPipeline.from_pretrained(tiny_seq2seq_dir)


@pytest.fixture(scope="module")
def golden(tiny_t5_dir: Path) -> ChronosPipeline:
    return ChronosPipeline.from_pretrained(tiny_t5_dir)


@pytest.fixture(scope="module")
def series() -> list[np.ndarray]:
    """Five series of different lengths and scales, with missing values."""
    rng = np.random.default_rng(7)
    out = [
        rng.normal(loc, scale, n)
        for loc, scale, n in [
            (5, 2, 40),
            (-300, 50, 25),
            (0.01, 0.002, 9),
            (0, 1, 32),
            (1e4, 1e3, 60),
        ]
    ]
    out[1][[0, 4, 5]] = np.nan
    out[3][-1] = np.nan
    return out


def _wave(n: int = 30) -> np.ndarray:
    return 10 + 3 * np.sin(np.arange(n) / 2.0) + 0.1 * np.arange(n)


# -- loading, saving, dispatch ---------------------------------------------------------------


def test_from_pretrained_dispatch(tiny_seq2seq_dir: Path, tiny_causal_dir: Path) -> None:
    for directory in (tiny_seq2seq_dir, tiny_causal_dir):
        loaded = chronos_pkg.from_pretrained(directory)
        assert type(loaded) is ChronosPipeline
        assert chronos_pkg.ChronosPipeline is ChronosPipeline
        assert loaded.model.training is False
    assert chronos_pkg.from_pretrained(str(tiny_causal_dir)).config.model_type == "causal"


def test_save_and_load_round_trip(pipeline: ChronosPipeline, tmp_path: Path, series) -> None:
    pipeline.save_pretrained(tmp_path / "copy")
    config = json.loads((tmp_path / "copy" / "config.json").read_text())
    assert config["chronos_config"] == pipeline.config.to_dict()
    assert config["architectures"] == ["T5ForConditionalGeneration"]
    assert (tmp_path / "copy" / "model.safetensors").is_file()
    reloaded = chronos_pkg.from_pretrained(tmp_path / "copy")
    assert reloaded.config == pipeline.config
    assert torch.equal(reloaded.predict(series, seed=5), pipeline.predict(series, seed=5))


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_from_pretrained_errors(tiny_seq2seq_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a Chronos checkpoint"):
        chronos_pkg.from_pretrained(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        chronos_pkg.from_pretrained(tmp_path / "does-not-exist")
    with pytest.raises(ValueError, match="is a file"):
        chronos_pkg.from_pretrained(tiny_seq2seq_dir / "config.json")

    no_weights = _copy(tiny_seq2seq_dir, tmp_path / "no-weights")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="model.safetensors"):
        chronos_pkg.from_pretrained(no_weights)

    pickled = _copy(tiny_seq2seq_dir, tmp_path / "pickled")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(ValueError, match="pickled"):
        chronos_pkg.from_pretrained(pickled)

    garbage = _copy(tiny_seq2seq_dir, tmp_path / "garbage")
    (garbage / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable"):
        chronos_pkg.from_pretrained(garbage)

    not_chronos = _copy(tiny_seq2seq_dir, tmp_path / "plain-t5")
    config = json.loads((not_chronos / "config.json").read_text())
    del config["chronos_config"]
    (not_chronos / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="chronos_config"):
        chronos_pkg.from_pretrained(not_chronos)

    bad_values = _copy(tiny_seq2seq_dir, tmp_path / "bad-values")
    config = json.loads((bad_values / "config.json").read_text())
    config["chronos_config"]["num_samples"] = 0
    (bad_values / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="num_samples"):
        chronos_pkg.from_pretrained(bad_values)


def test_torch_dtype_and_device(tiny_seq2seq_dir: Path, series) -> None:
    half = ChronosPipeline.from_pretrained(
        tiny_seq2seq_dir, device_map="cpu", torch_dtype="bfloat16"
    )
    assert half.model.dtype == torch.bfloat16 and half.device == torch.device("cpu")
    samples = half.predict(series, seed=0)
    assert samples.dtype == torch.float32 and torch.isfinite(samples).all()
    embeddings, _ = half.embed(series)
    assert embeddings.dtype == torch.float32


# -- shapes and input kinds ------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x[0],  # 1-D numpy
        lambda x: torch.tensor(x[0]),  # 1-D torch (float64)
        lambda x: np.stack([x[0][:9], x[2]]),  # 2-D numpy
        lambda x: torch.tensor(np.stack([x[0][:9], x[2]]), dtype=torch.float32),  # 2-D torch
        lambda x: x,  # list of numpy arrays of different lengths
        lambda x: [torch.tensor(s) for s in x],  # list of tensors
    ],
)
def test_shapes_for_every_input_kind(pipeline: ChronosPipeline, series, make) -> None:
    inputs = make(series)
    batch = 1 if np.ndim(inputs[0]) == 0 else len(inputs)
    samples = pipeline.predict(inputs, seed=1)
    assert samples.shape == (batch, S, H) and samples.dtype == torch.float32
    assert samples.device == torch.device("cpu") and torch.isfinite(samples).all()
    assert pipeline.predict(inputs, prediction_length=3, num_samples=2, seed=1).shape == (
        batch,
        2,
        3,
    )
    quantiles, mean = pipeline.predict_quantiles(inputs, prediction_length=4, seed=1)
    assert quantiles.shape == (batch, 4, 9) and mean.shape == (batch, 4)
    assert quantiles.dtype == mean.dtype == torch.float32


def test_causal_checkpoint_forecasts(tiny_causal_dir: Path, series) -> None:
    causal = chronos_pkg.from_pretrained(tiny_causal_dir)
    samples = causal.predict(series, prediction_length=12, seed=0)
    assert samples.shape == (5, S, 12) and torch.isfinite(samples).all()
    embeddings, scale = causal.embed(series)
    assert embeddings.shape == (5, CONTEXT, 6)  # no EOS for causal models


def test_inputs_are_not_mutated(pipeline: ChronosPipeline, series) -> None:
    copies = [s.copy() for s in series]
    tensor = torch.tensor(series[0])
    pipeline.predict(series + [tensor], prediction_length=10, seed=0)
    for original, copy in zip(series, copies):
        np.testing.assert_array_equal(original, copy)
    assert torch.equal(tensor, torch.tensor(copies[0]))


# -- seeded sampling -------------------------------------------------------------------------


def test_seed_makes_samples_repeatable(pipeline: ChronosPipeline, series) -> None:
    first = pipeline.predict(series, seed=11)
    assert torch.equal(first, pipeline.predict(series, seed=11))
    assert not torch.equal(first, pipeline.predict(series, seed=12))
    # without a seed, torch's global RNG drives the sampling
    torch.manual_seed(3)
    unseeded = pipeline.predict(series)
    torch.manual_seed(3)
    assert torch.equal(unseeded, pipeline.predict(series))


def test_seeded_samples_do_not_depend_on_batching(pipeline: ChronosPipeline, series) -> None:
    reference = pipeline.predict(series, prediction_length=20, seed=2024)  # one batch, rolled out
    for batch_size in (1, 2, 3):
        chunked = pipeline.predict(series, prediction_length=20, seed=2024, batch_size=batch_size)
        assert torch.equal(chunked, reference)
    reordered = pipeline.predict(series[::-1], prediction_length=20, seed=2024)
    assert torch.equal(reordered, reference.flip(0))
    for i, one in enumerate(series):
        alone = pipeline.predict(one, prediction_length=20, seed=2024)
        assert torch.equal(alone[0], reference[i])
    # other company in a dense 2-D batch, with different left padding
    others = np.stack([np.r_[np.full(10, np.nan), series[3]], np.arange(42.0)])
    assert torch.equal(pipeline.predict(others, seed=2024, prediction_length=20)[0], reference[3])


def test_quantiles_are_those_of_the_samples(pipeline: ChronosPipeline, series) -> None:
    levels = [0.05, 0.5, 0.77]
    quantiles, mean = pipeline.predict_quantiles(series, quantile_levels=levels, seed=9)
    samples = pipeline.predict(series, seed=9)
    # torch.quantile in float64 (in float32 it rounds level * (S - 1) first)
    levels64 = torch.tensor(levels, dtype=torch.float64)
    expected = torch.quantile(samples.double(), levels64, dim=1).permute(1, 2, 0).float()
    torch.testing.assert_close(quantiles, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(mean, samples.mean(dim=1))
    assert (quantiles.diff(dim=-1) >= 0).all()


def test_sample_quantiles_matches_torch_quantile(rng: np.random.Generator) -> None:
    samples = torch.tensor(rng.normal(size=(7, 13, 5)), dtype=torch.float32)
    levels = [0.1, 0.25, 0.5, 0.9, 0.999]
    levels64 = torch.tensor(levels, dtype=torch.float64)
    expected = torch.quantile(samples.double(), levels64, dim=1).permute(1, 2, 0).float()
    torch.testing.assert_close(
        interpolated_sample_quantiles(samples, levels), expected, rtol=1e-6, atol=1e-6
    )
    assert interpolated_sample_quantiles(samples, [0.5]).shape == (7, 5, 1)


# -- long horizons ---------------------------------------------------------------------------


def test_long_horizon_warns_and_rolls_out_with_the_median(
    pipeline: ChronosPipeline, series
) -> None:
    with pytest.warns(UserWarning, match="exceeds"):
        long = pipeline.predict(series, prediction_length=2 * H + 3, seed=4)
    assert long.shape == (5, S, 2 * H + 3)
    # the first chunk is the ordinary forecast (same seed, same steps)
    assert torch.equal(long[..., :H], pipeline.predict(series, seed=4))
    # greedy: the second chunk forecasts the context with the first chunk appended
    greedy = pipeline.predict(series, prediction_length=2 * H, top_k=1)
    extended = [np.r_[s, greedy[i, 0, :H].numpy()] for i, s in enumerate(series)]
    torch.testing.assert_close(greedy[..., H:], pipeline.predict(extended, top_k=1), rtol=0, atol=0)
    with pytest.raises(ValueError, match="limit_prediction_length"):
        pipeline.predict(series, prediction_length=H + 1, limit_prediction_length=True)


def test_only_the_last_context_length_steps_matter(pipeline: ChronosPipeline, series) -> None:
    long_series = series[4]  # 60 steps, context_length 32
    full = pipeline.predict(long_series, seed=8)
    assert torch.equal(full, pipeline.predict(long_series[-CONTEXT:], seed=8))
    embeddings, _ = pipeline.embed(long_series)
    assert embeddings.shape == (1, CONTEXT + 1, 6)


# -- golden values and the published package -------------------------------------------------


def test_golden_values(golden: ChronosPipeline) -> None:
    x = _wave()
    greedy = golden.predict(x, top_k=1)
    assert greedy.shape == (1, S, H) and (greedy == greedy[:, :1]).all()
    expected = [-139.5235, -45.4443, 93.3031, 47.6001, 93.3031, 47.6001, 93.3031, 47.6001]
    torch.testing.assert_close(greedy[0, 0], torch.tensor(expected), rtol=1e-5, atol=1e-4)
    samples = golden.predict(x, seed=42, num_samples=3, temperature=5.0, top_k=0)
    expected_samples = [
        [-139.5235, -45.4443, 41.6501, 160.133, 50.2733, -151.596, -152.3721, 171.9468],
        [-72.0038, 78.2988, -174.0164, 18.195, 78.2988, -174.0164, 18.195, 78.2988],
        [-139.5235, -115.1199, 48.2037, -45.4443, 134.7808, -46.1342, 93.3031, 41.4776],
    ]
    torch.testing.assert_close(samples[0], torch.tensor(expected_samples), rtol=1e-5, atol=1e-4)


@pytest.mark.oracle
@pytest.mark.parametrize("fixture", ["tiny_t5_dir", "tiny_causal_dir"])
def test_greedy_matches_the_published_pipeline(fixture: str, request, series) -> None:
    chronos = pytest.importorskip("chronos")
    directory = request.getfixturevalue(fixture)
    ours = chronos_pkg.from_pretrained(directory)
    theirs = chronos.BaseChronosPipeline.from_pretrained(directory)
    context = [torch.tensor(s, dtype=torch.float32) for s in series]
    for horizon in (5, H, 2 * H + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = theirs.predict(context, prediction_length=horizon, top_k=1)
            actual = ours.predict(context, prediction_length=horizon, top_k=1, batch_size=2)
        assert torch.equal(actual, expected)
    if ours.config.model_type != "seq2seq":
        return  # the published package only embeds with encoder-decoder models
    embeddings, scale = ours.embed(context)
    ref_embeddings, ref_scale = theirs.embed(context)
    torch.testing.assert_close(embeddings, ref_embeddings, rtol=1e-5, atol=1e-6)
    assert torch.equal(scale, ref_scale)


@pytest.mark.oracle
def test_saved_checkpoint_loads_in_the_published_pipeline(
    pipeline: ChronosPipeline, tmp_path: Path, series
) -> None:
    chronos = pytest.importorskip("chronos")
    pipeline.save_pretrained(tmp_path)
    theirs = chronos.BaseChronosPipeline.from_pretrained(tmp_path)
    context = [torch.tensor(s, dtype=torch.float32) for s in series]
    assert torch.equal(theirs.predict(context, top_k=1), pipeline.predict(series, top_k=1))


# -- properties ------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.001, 3.7, 2.0**10, 12345.0])
def test_forecasts_scale_with_the_input(pipeline: ChronosPipeline, series, factor: float) -> None:
    x = series[:4]
    base = pipeline.predict(x, prediction_length=12, top_k=1)
    scaled = pipeline.predict([s * factor for s in x], prediction_length=12, top_k=1)
    torch.testing.assert_close(scaled, base * factor, rtol=1e-5, atol=0)
    seeded = pipeline.predict(x, seed=6)
    torch.testing.assert_close(
        pipeline.predict([s * factor for s in x], seed=6), seeded * factor, rtol=1e-5, atol=0
    )


# -- embeddings ------------------------------------------------------------------------------


def test_embed_shapes_and_scale(pipeline: ChronosPipeline, series) -> None:
    embeddings, scale = pipeline.embed(series[1:3], batch_size=1)  # lengths 25 and 9
    assert embeddings.shape == (2, 25 + 1, 6) and embeddings.dtype == torch.float32
    expected_scale = [np.nanmean(np.abs(s)) for s in series[1:3]]
    np.testing.assert_allclose(scale.numpy(), expected_scale, rtol=1e-6)
    # the shorter series' own steps do not depend on its left padding
    alone, _ = pipeline.embed(series[2])
    assert alone.shape == (1, 9 + 1, 6)
    torch.testing.assert_close(embeddings[1, -10:], alone[0], rtol=1e-4, atol=1e-5)
    with_eos, _ = pipeline.embed(series[4])  # 60 steps, cut to the context length
    assert with_eos.shape == (1, CONTEXT + 1, 6)


# -- all-NaN and bad input -------------------------------------------------------------------


def test_all_nan_series_is_forecast_with_a_warning(pipeline: ChronosPipeline, series) -> None:
    with pytest.warns(UserWarning, match="scale 1"):
        samples = pipeline.predict([np.full(5, np.nan), series[0]], seed=0)
    assert torch.isfinite(samples).all()
    alone = pipeline.predict(series[0], seed=0)
    assert torch.equal(samples[1], alone[0])
    with pytest.warns(UserWarning, match=r"series \[0\]"):
        _, scale = pipeline.embed([np.full(3, np.nan)])
    assert scale.tolist() == [1.0]


@pytest.mark.parametrize(
    ("inputs", "kwargs", "error", "match"),
    [
        ([], {}, ValueError, "empty"),
        (np.zeros((0, 4)), {}, ValueError, "empty"),
        ([np.ones(3), np.array([])], {}, ValueError, "series 1.*length 0"),
        (np.zeros((2, 3, 4)), {}, ValueError, "1-D or 2-D"),
        (np.array(["a", "b"]), {}, TypeError, "non-numeric"),
        ([np.ones(3), np.array([1.0, np.inf])], {}, ValueError, "series 1.*inf"),
        (np.array([-np.inf, 1.0]), {}, ValueError, "inf"),
        (np.ones(5), {"prediction_length": 0}, ValueError, "prediction_length"),
        (np.ones(5), {"prediction_length": 2.5}, TypeError, "prediction_length"),
        (np.ones(5), {"num_samples": 0}, ValueError, "num_samples"),
        (np.ones(5), {"temperature": 0.0}, ValueError, "temperature"),
        (np.ones(5), {"top_k": -1}, ValueError, "top_k"),
        (np.ones(5), {"top_k": 1.5}, TypeError, "top_k"),
        (np.ones(5), {"top_p": 1.5}, ValueError, "top_p"),
        (np.ones(5), {"batch_size": 0}, ValueError, "batch_size"),
        (np.ones(5), {"seed": "abc"}, TypeError, "seed"),
    ],
)
def test_bad_input(pipeline: ChronosPipeline, inputs, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        pipeline.predict(inputs, **kwargs)


def test_bad_quantile_levels(pipeline: ChronosPipeline) -> None:
    for levels in ([0.0, 0.5], [0.5, 1.0], [1.2], []):
        with pytest.raises(ValueError):
            pipeline.predict_quantiles(np.ones(5), quantile_levels=levels)


# -- large inputs ----------------------------------------------------------------------------


def test_many_series_of_wildly_different_lengths(
    pipeline: ChronosPipeline, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    lengths = [int(n) for n in rng.integers(3, 80, size=300)]
    lengths[17] = 5000
    many = [rng.normal(size=n) * (1 + i % 7) for i, n in enumerate(lengths)]
    reference = pipeline.predict(many, seed=1, num_samples=2, prediction_length=3, batch_size=64)
    # normalising in small pieces (as for a huge input) gives the same tensor and forecasts
    monkeypatch.setattr(pipeline_module, "_NORMALISE_BUDGET", 2000)
    pieces = list(pipeline_module._pieces(many))
    assert len(pieces) > 10 and all(len(p) * max(len(s) for s in p) <= 5000 for _, p in pieces)
    context = pipeline._context_tensor(many)
    assert context.shape == (300, CONTEXT)
    chunked = pipeline.predict(
        many, seed=1, num_samples=2, prediction_length=3, batch_size=37, show_progress=True
    )
    assert torch.equal(chunked, reference)
    # error messages still name the series by its index in the whole input
    many[250] = np.r_[many[250], np.inf]
    with pytest.raises(ValueError, match="^series 250"):
        pipeline.predict(many)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_device(tiny_seq2seq_dir: Path, series) -> None:
    on_gpu = ChronosPipeline.from_pretrained(tiny_seq2seq_dir, device_map="cuda")
    assert on_gpu.device.type == "cuda"
    samples = on_gpu.predict(series, prediction_length=2 * H, seed=3)
    assert samples.device == torch.device("cpu") and samples.dtype == torch.float32
    assert torch.equal(samples, on_gpu.predict(series, prediction_length=2 * H, seed=3))
    embeddings, scale = on_gpu.embed(series)
    assert embeddings.device == scale.device == torch.device("cpu")
