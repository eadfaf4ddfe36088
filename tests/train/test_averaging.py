"""Weight averaging of exported models: exact means, provenance, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import chronos_pkg
from chronos_pkg.bolt.checkpoint import new_bolt_model, save_bolt_checkpoint
from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.train.averaging import average_models, main
from chronos_pkg.train.learnability import MICRO_NETWORK


def _model(root: Path, name: str, seed: int, steps: int, **config) -> Path:
    torch.manual_seed(seed)
    bolt = ChronosBoltConfig(context_length=64, prediction_length=8, **config)
    out = root / name
    cumulative = {"steps": steps, "windows": 4 * steps, "train_seconds": float(steps)}
    save_bolt_checkpoint(
        new_bolt_model(bolt, **MICRO_NETWORK),
        out,
        extra={"chronos_training": {"step": steps, "seed": seed, "cumulative": cumulative}},
    )
    (out / "train_config.yaml").write_text(f"seed: {seed}\n")
    return out


def test_the_average_is_the_weighted_mean_and_records_its_parents(tmp_path: Path) -> None:
    a, b = _model(tmp_path, "a", 0, 10), _model(tmp_path, "b", 1, 30)
    out = average_models([a, b], tmp_path / "avg", weights=[0.25, 0.75])
    sa, sb, avg = (load_file(p / "model.safetensors") for p in (a, b, out))
    assert avg.keys() == sa.keys()
    for name in sa:
        expected = 0.25 * sa[name].double() + 0.75 * sb[name].double()
        torch.testing.assert_close(avg[name].double(), expected.to(sa[name].dtype).double())
    training = json.loads((out / "config.json").read_text())["chronos_training"]
    assert [p["weight"] for p in training["averaged_from"]] == [0.25, 0.75]
    assert training["averaged_from"][0]["chronos_training"]["seed"] == 0
    assert training["cumulative"]["steps"] == 30  # the most-trained parent's
    assert (out / "train_config.yaml").read_text() == "seed: 1\n"
    pipeline = chronos_pkg.from_pretrained(out)
    forecast = pipeline.predict(torch.sin(torch.arange(64.0) / 3), prediction_length=8)
    assert torch.isfinite(forecast).all()


def test_equal_weights_by_default_and_the_cli(tmp_path: Path, capsys) -> None:
    a, b, c = (_model(tmp_path, n, i, 5) for i, n in enumerate("abc"))
    assert main(["--models", str(a), str(b), str(c), "--output", str(tmp_path / "avg")]) == 0
    weights = json.loads((tmp_path / "avg" / "config.json").read_text())["chronos_training"]
    assert [p["weight"] for p in weights["averaged_from"]] == pytest.approx([1 / 3] * 3)
    assert str(tmp_path / "avg") in capsys.readouterr().out


def test_different_networks_and_bad_weights_are_refused(tmp_path: Path, capsys) -> None:
    a = _model(tmp_path, "a", 0, 5)
    other = _model(tmp_path, "other", 1, 5, input_patch_size=8, input_patch_stride=8)
    with pytest.raises(ValueError, match="not the same network"):
        average_models([a, other], tmp_path / "x")
    b = _model(tmp_path, "b", 2, 5)
    with pytest.raises(ValueError, match="sum to 1"):
        average_models([a, b], tmp_path / "x", weights=[0.5, 0.6])
    with pytest.raises(ValueError, match="at least two"):
        average_models([a], tmp_path / "x")
    assert main(["--models", str(a), str(tmp_path / "missing"), "--output", str(tmp_path / "x")])
    assert "no config.json" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_model_without_the_seasonal_reference_counts_as_a_zero_gate(tmp_path: Path) -> None:
    plain = _model(tmp_path, "plain", 0, 10)
    gated = _model(tmp_path, "gated", 1, 30, seasonal_reference=True)
    state = load_file(gated / "model.safetensors")
    state["seasonal_gate.proj.bias"] = torch.full_like(state["seasonal_gate.proj.bias"], 0.5)
    from safetensors.torch import save_file

    save_file(state, str(gated / "model.safetensors"), metadata={"format": "pt"})
    out = average_models([plain, gated], tmp_path / "avg")
    avg = load_file(out / "model.safetensors")
    torch.testing.assert_close(
        avg["seasonal_gate.proj.bias"], torch.full_like(avg["seasonal_gate.proj.bias"], 0.25)
    )
    config = json.loads((out / "config.json").read_text())
    assert config["chronos_config"]["seasonal_reference"] is True
    assert chronos_pkg.from_pretrained(out).chronos_config.seasonal_reference
