"""Tests of the checkpoint summary behind ``chronos-pkg info``."""

from __future__ import annotations

import shutil

import pytest
from safetensors.torch import load_file

from chronos_pkg.model_card import (
    checkpoint_summary,
    render_model_card,
    safetensors_parameter_count,
)


def test_parameter_count_matches_stored_tensors(tiny_seq2seq_dir):
    tensors = load_file(tiny_seq2seq_dir / "model.safetensors")
    expected = sum(t.numel() for t in tensors.values())
    assert safetensors_parameter_count(tiny_seq2seq_dir / "model.safetensors") == expected


def test_not_a_safetensors_file(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x01\x00")
    with pytest.raises(ValueError, match="not a safetensors file"):
        safetensors_parameter_count(bad)


def test_summary_and_card(tiny_seq2seq_dir, tiny_causal_dir, tmp_path):
    summary = checkpoint_summary(tiny_seq2seq_dir)
    assert summary["architecture"] == "T5ForConditionalGeneration"
    assert summary["shape"]["d_model"] == 6 and summary["chronos_config"]["context_length"] == 32
    assert "provenance" not in summary  # nothing beyond transformers' own keys

    checkpoint = tmp_path / "ckpt"
    shutil.copytree(tiny_causal_dir, checkpoint)
    (checkpoint / "MODEL_CARD.md").write_text("# Causal test model\n")
    config = (checkpoint / "config.json").read_text()
    (checkpoint / "config.json").write_text(config.replace("{", '{"training_seed": 7,', 1))
    card = render_model_card(checkpoint)
    assert card.startswith("# Causal test model\n")
    assert "model_type=causal" in card and "- training_seed: 7" in card
