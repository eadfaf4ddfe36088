"""Chronos-T5 checkpoints: sizes, the published config.json, the save/load round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from chronos_pkg.sizes import T5_SIZES
from chronos_pkg.t5.checkpoint import load_hf_model, new_hf_config, new_hf_model, save_checkpoint
from chronos_pkg.t5.config import ChronosConfig


@pytest.mark.parametrize("model_type", ["seq2seq", "causal"])
def test_an_unknown_size_is_a_value_error_not_a_key_error(model_type: str):
    """The size used to be looked up before it was checked (a bare KeyError: 'huge')."""
    config = ChronosConfig(model_type=model_type)
    with pytest.raises(ValueError, match="unknown T5 size 'huge'; known"):
        new_hf_config(config, size="huge")


def test_a_named_size_sets_the_shape_and_overrides_win():
    hf = new_hf_config(ChronosConfig(), size="mini", num_layers=2)
    assert (hf.d_model, hf.d_ff, hf.num_heads, hf.num_layers) == (384, 1536, 8, 2)
    assert (hf.num_decoder_layers, hf.d_kv, hf.feed_forward_proj) == (2, 64, "relu")
    gpt2 = new_hf_config(ChronosConfig(model_type="causal"), size="tiny")
    assert (gpt2.n_embd, gpt2.n_layer) == (T5_SIZES["tiny"]["d_model"], 4)


def test_save_writes_the_published_config_and_loads_back(
    tiny_chronos_config: ChronosConfig, tmp_path: Path
):
    model = new_hf_model(tiny_chronos_config, seed=0, d_model=8, d_ff=16, num_heads=2, num_layers=1)
    save_checkpoint(model, tiny_chronos_config, tmp_path, extra={"chronos_training": {"step": 3}})
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["chronos_config"] == tiny_chronos_config.to_dict()
    assert config["chronos_pipeline_class"] == "ChronosPipeline"
    assert config["chronos_training"] == {"step": 3}
    loaded = load_hf_model(tmp_path, tiny_chronos_config, device_map="cpu", torch_dtype="float32")
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
