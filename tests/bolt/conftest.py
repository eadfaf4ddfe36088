"""Chronos-Bolt fixtures: a random checkpoint written by the published package (when installed)
and a micro checkpoint of ours, with the contexts the tests forecast."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import chronos_pkg
from chronos_pkg.bolt.checkpoint import new_bolt_model, save_bolt_checkpoint
from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.bolt.pipeline import ChronosBoltPipeline

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


def publish_random_bolt(directory: Path, use_reg_token: bool) -> Path:
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
    return publish_random_bolt(tmp_path_factory.mktemp("published-bolt"), use_reg_token=True)


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


def bolt_contexts() -> list[torch.Tensor]:
    """Series of several lengths (not multiples of 16, longer than the context) with NaN."""
    rng = np.random.default_rng(0)
    walk = lambda n: torch.tensor(np.cumsum(rng.normal(size=n)) * 5 + 50, dtype=torch.float32)  # noqa: E731
    gappy = walk(50)
    gappy[[3, 4, 20, 41]] = float("nan")
    leading_gap = walk(70)
    leading_gap[:30] = float("nan")
    return [walk(37), gappy, walk(100), leading_gap, torch.full((19,), 4.0), walk(5)]
