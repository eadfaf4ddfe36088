"""The built-in ``default`` model: what ``from_pretrained()`` loads with no argument."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import chronos_pkg
from chronos_pkg.bolt.pipeline import ChronosBoltPipeline
from chronos_pkg.loading import BUILTIN_MODELS_DIR, bundled_models

needs_default = pytest.mark.skipif(
    "default" not in bundled_models(), reason="no built-in 'default' model is bundled"
)
DEFAULT_DIR = BUILTIN_MODELS_DIR / "default"


def test_without_default_the_best_bundled_model_loads_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tiny_seq2seq_dir
) -> None:
    import chronos_pkg.base as base
    import chronos_pkg.loading as loading

    monkeypatch.setattr(loading, "bundled_models", lambda: ["backup"])
    assert loading.default_model() == "backup"
    loaded = []
    monkeypatch.setattr(
        base, "resolve_checkpoint", lambda name: loaded.append(name) or tiny_seq2seq_dir
    )
    with pytest.warns(
        UserWarning, match="'default' is not bundled in this installation; using 'backup'"
    ):
        chronos_pkg.from_pretrained()
    assert loaded == ["backup"]
    monkeypatch.setattr(loading, "bundled_models", lambda: [])
    with pytest.raises(FileNotFoundError, match="no built-in model is bundled"):
        chronos_pkg.from_pretrained()


@needs_default
def test_default_is_a_small_bolt_with_provenance() -> None:
    pipeline = chronos_pkg.from_pretrained()
    assert isinstance(pipeline, ChronosBoltPipeline)
    assert pipeline.model.dtype == torch.float32  # stored in bf16, computed in float32 on the CPU
    assert (DEFAULT_DIR / "model.safetensors").stat().st_size <= 20 * 2**20
    config = json.loads((DEFAULT_DIR / "config.json").read_text())
    training = config["chronos_training"]
    assert training["cumulative"]["steps"] > 0 and training["cumulative"]["train_seconds"] > 0
    # a trained run has its own step count; a weight average lists the runs it averaged
    averaged = training.get("averaged_from")
    parents = [p["chronos_training"] for p in averaged] if averaged else [training]
    assert all(p["step"] > 0 for p in parents)
    card = (DEFAULT_DIR / "MODEL_CARD.md").read_text()
    assert "training/configs/default.yaml" in card
    assert (DEFAULT_DIR / "train_config.yaml").is_file()


@needs_default
@pytest.mark.parametrize("period", [24, 96])
def test_default_continues_a_cycle_close_to_seasonal_naive(period: int) -> None:
    """A noisy daily (or 15-minute daily) cycle: the median follows it (an error under 15% of the
    flat context mean's, within 2x Seasonal Naive's; before the seasonal gate, period 96 was
    about 7x), and the band keeps its order."""
    torch.set_num_threads(1)
    pipeline = chronos_pkg.from_pretrained("default")
    t = np.arange(512 + 48)
    noise = 0.03 * np.random.default_rng(0).normal(size=len(t))
    series = 10 + np.sin(2 * np.pi * t / period) + noise
    quantiles, mean = pipeline.predict_quantiles(
        torch.tensor(series[:512]), prediction_length=48, quantile_levels=[0.1, 0.5, 0.9]
    )
    median = quantiles[0, :, 1].numpy()
    future = series[512:]
    model_error = np.abs(median - future).mean()
    flat_error = np.abs(series[:512].mean() - future).mean()  # ~0.64: the context mean
    naive_error = np.abs(np.resize(series[512 - period : 512], 48) - future).mean()
    assert model_error < 0.15 * flat_error
    assert model_error < 2.0 * naive_error
    assert torch.all(quantiles[0, :, 0] <= quantiles[0, :, 2])
