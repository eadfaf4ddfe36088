"""ChronosConfig: defaults, JSON round trip, validation."""

from __future__ import annotations

import dataclasses
import json

import pytest

from chronos_pkg.t5.config import ChronosConfig

PUBLISHED_KEYS = {
    "tokenizer_class",
    "tokenizer_kwargs",
    "n_tokens",
    "n_special_tokens",
    "pad_token_id",
    "eos_token_id",
    "use_eos_token",
    "model_type",
    "context_length",
    "prediction_length",
    "num_samples",
    "temperature",
    "top_k",
    "top_p",
}


def test_defaults_are_the_published_ones() -> None:
    config = ChronosConfig()
    assert config.to_dict() == {
        "tokenizer_class": "MeanScaleUniformBins",
        "tokenizer_kwargs": {"low_limit": -15.0, "high_limit": 15.0},
        "n_tokens": 4096,
        "n_special_tokens": 2,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "use_eos_token": True,
        "model_type": "seq2seq",
        "context_length": 512,
        "prediction_length": 64,
        "num_samples": 20,
        "temperature": 1.0,
        "top_k": 50,
        "top_p": 1.0,
    }
    assert (config.low_limit, config.high_limit) == (-15.0, 15.0)


def test_json_round_trip() -> None:
    config = ChronosConfig(
        model_type="causal", context_length=33, prediction_length=7, top_k=0, top_p=0.9
    )
    data = json.loads(json.dumps(config.to_dict()))
    assert set(data) == PUBLISHED_KEYS
    assert ChronosConfig.from_dict(data) == config


def test_to_dict_does_not_share_tokenizer_kwargs() -> None:
    config = ChronosConfig()
    data = config.to_dict()
    data["tokenizer_kwargs"]["low_limit"] = -1.0
    assert config.low_limit == -15.0


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ChronosConfig().num_samples = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tokenizer_class": "NoSuchTokenizer"}, "tokenizer_class"),
        ({"model_type": "encoder"}, "model_type"),
        ({"tokenizer_kwargs": {"low_limit": -1.0, "bogus": 1}}, "bogus"),
        ({"tokenizer_kwargs": {"low_limit": 5.0, "high_limit": 5.0}}, "low_limit"),
        ({"n_special_tokens": 1, "pad_token_id": 0, "eos_token_id": 0}, "n_special_tokens"),
        ({"n_tokens": 4}, "n_tokens"),
        ({"pad_token_id": 2}, "pad_token_id"),
        ({"eos_token_id": -1}, "eos_token_id"),
        ({"context_length": 0}, "context_length"),
        ({"prediction_length": 0}, "prediction_length"),
        ({"num_samples": 0}, "num_samples"),
        ({"temperature": 0.0}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
    ],
)
def test_invalid_values_are_rejected(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ChronosConfig(**kwargs)


def test_from_dict_rejects_unknown_keys_and_non_mappings() -> None:
    data = ChronosConfig().to_dict()
    data["learning_rate"] = 1e-3
    with pytest.raises(ValueError, match="learning_rate"):
        ChronosConfig.from_dict(data)
    with pytest.raises(TypeError, match="mapping"):
        ChronosConfig.from_dict(["not", "a", "dict"])  # type: ignore[arg-type]


@pytest.mark.oracle
def test_keys_match_the_published_config_class() -> None:
    chronos = pytest.importorskip("chronos")
    published = {f.name for f in dataclasses.fields(chronos.ChronosConfig)}
    assert published == PUBLISHED_KEYS
    # and a config of ours is accepted by the published class
    assert chronos.ChronosConfig(**ChronosConfig().to_dict()).n_tokens == 4096
