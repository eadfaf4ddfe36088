"""Chronos-Bolt checkpoints: the published format both ways, round trips, bad weights, sizes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

import chronos_pkg
from chronos_pkg.bolt.checkpoint import load_bolt_model, new_bolt_model
from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.bolt.pipeline import ChronosBoltPipeline
from tests.bolt.conftest import bolt_contexts


def test_our_checkpoint_loads_in_published(micro_dir: Path) -> None:
    chronos = pytest.importorskip("chronos")
    config = json.loads((micro_dir / "config.json").read_text())
    assert config["architectures"] == ["ChronosBoltModelForForecasting"]
    assert config["chronos_pipeline_class"] == "ChronosBoltPipeline"
    assert set(config["chronos_config"]) == set(ChronosBoltConfig().to_dict())
    theirs = chronos.BaseChronosPipeline.from_pretrained(micro_dir)
    assert type(theirs).__name__ == "ChronosBoltPipeline"
    contexts = bolt_contexts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.testing.assert_close(
            chronos_pkg.from_pretrained(micro_dir).predict(contexts, 12),
            theirs.predict(contexts, 12),
            atol=1e-5,
            rtol=1e-5,
        )


def test_save_load_round_trip(ours: ChronosBoltPipeline, tmp_path: Path) -> None:
    ours.save_pretrained(tmp_path)
    again = chronos_pkg.from_pretrained(tmp_path)
    assert again.bolt_config == ours.bolt_config
    for (name, a), (_, b) in zip(ours.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert again.model.encoder.embed_tokens is again.model.shared  # still tied after loading
    x = bolt_contexts()
    assert torch.equal(again.predict(x), ours.predict(x))


def test_loading_rejects_weights_that_do_not_fit(micro_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((micro_dir / name).read_bytes())
    state = load_file(tmp_path / "model.safetensors")
    del state["shared.weight"]
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="missing"):
        load_bolt_model(tmp_path)


def test_an_unknown_size_is_a_value_error():
    with pytest.raises(ValueError, match="unknown Bolt size 'huge'"):
        new_bolt_model(ChronosBoltConfig(), size="huge")


def test_auto_device_and_dtype_names_load(micro_dir: Path) -> None:
    model = load_bolt_model(micro_dir, device="auto")
    assert model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown torch dtype"):
        load_bolt_model(micro_dir, dtype="float33")
