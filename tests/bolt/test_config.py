"""ChronosBoltConfig: the published defaults, validation, unknown keys."""

from __future__ import annotations

import pytest

from chronos_pkg.bolt.config import ChronosBoltConfig


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
