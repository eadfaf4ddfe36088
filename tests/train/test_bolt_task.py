"""The Chronos-Bolt training task, alone and inside a CPU smoke run of the shared ``train()``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import chronos_pkg
from chronos_pkg.bolt.pipeline import ChronosBoltPipeline
from chronos_pkg.train.bolt_task import BoltTask
from chronos_pkg.train.config import ModelConfig, load_train_config
from chronos_pkg.train.task import make_task
from tests.train.conftest import MICRO_NETWORK

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOKE_CONFIG = REPO_ROOT / "training" / "configs" / "bolt-smoke.yaml"


def _task(**options) -> BoltTask:
    config = ModelConfig(
        family="bolt",
        size=None,
        context_length=40,
        prediction_length=8,
        network=dict(MICRO_NETWORK),
        options=options,
    )
    task = make_task(config, seed=0)
    assert isinstance(task, BoltTask)
    return task


def test_make_batch_loss_and_token_count() -> None:
    task = _task()
    rng = np.random.default_rng(0)
    contexts = rng.normal(size=(4, 40)).astype(np.float32)
    contexts[0, :25] = np.nan
    futures = rng.normal(size=(4, 8)).astype(np.float32)
    batch = task.make_batch(contexts, futures)
    assert batch["context"].shape == (4, 40) and batch["target"].shape == (4, 8)
    assert task.tokens_in(batch) == 4 * (3 + 1)  # 40 steps -> 3 patches, plus [REG]
    model = task.build_model()
    loss = task.loss(model.eval(), batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.input_patch_embedding.hidden_layer.weight.grad is not None
    assert (
        not task.uses_missing_augmentation
        and _task(missing_augmentation=True).uses_missing_augmentation
    )


def test_missing_targets_are_left_out_of_the_loss() -> None:
    task = _task()
    model = task.build_model().eval()
    rng = np.random.default_rng(1)
    contexts = rng.normal(size=(2, 40)).astype(np.float32)
    futures = rng.normal(size=(2, 8)).astype(np.float32)
    gappy = futures.copy()
    gappy[1] = np.nan
    with torch.no_grad():
        full = task.loss(model, task.make_batch(contexts[:1], futures[:1]))
        masked = task.loss(model, task.make_batch(contexts, gappy))
    torch.testing.assert_close(masked, full)


def test_bad_options_fail_before_training() -> None:
    with pytest.raises(ValueError, match="unknown model.options"):
        _task(patch=16)
    with pytest.raises(ValueError, match="seq2seq"):
        make_task(ModelConfig(family="bolt", size=None, model_type="causal"))
    with pytest.raises(ValueError, match="size"):
        make_task(ModelConfig(family="bolt", size="huge"))


def test_init_from_a_plain_checkpoint_with_a_masked_gate(tmp_path: Path) -> None:
    """``seasonal_mask`` in model.options: a checkpoint without the gate gains a masked one."""
    task = _task()
    task.save(task.build_model(), tmp_path / "ckpt", {"step": 3})
    masked_task = _task(seasonal_reference=True, seasonal_mask=True)
    model = masked_task.build_model(init_from=tmp_path / "ckpt")
    assert model.bolt_config.seasonal_mask and model.seasonal_gate.masked
    assert masked_task.bolt_config.seasonal_mask
    with pytest.raises(ValueError, match="seasonal_mask needs seasonal_reference"):
        _task(seasonal_mask=True)


def test_a_gate_kind_is_kept_unless_asked_for(tmp_path: Path) -> None:
    """``seasonal_gate: mix`` replaces an additive gate (the network kept); a later run from the
    mix checkpoint that does not name a kind keeps the trained mix gate."""
    additive = _task(seasonal_reference=True, seasonal_mask=True)
    base = additive.build_model()
    additive.save(base, tmp_path / "additive", {"step": 3})
    mix_task = _task(seasonal_reference=True, seasonal_mask=True, seasonal_gate="mix")
    mix = mix_task.build_model(init_from=tmp_path / "additive")
    assert type(mix.seasonal_gate).__name__ == "MixingGate"
    assert mix_task.bolt_config.seasonal_gate == "mix"
    shared = mix.input_patch_embedding.hidden_layer.weight
    assert torch.equal(shared, base.input_patch_embedding.hidden_layer.weight)
    with torch.no_grad():
        mix.seasonal_gate.trust.bias.fill_(0.3)
    mix_task.save(mix, tmp_path / "mix", {"step": 4})
    again = _task(seasonal_reference=True, seasonal_mask=True).build_model(
        init_from=tmp_path / "mix"
    )
    assert torch.equal(again.seasonal_gate.trust.bias, mix.seasonal_gate.trust.bias)


def test_init_from_checkpoint(tmp_path: Path) -> None:
    task = _task()
    model = task.build_model()
    task.save(model, tmp_path / "ckpt", {"step": 3})
    again = _task().build_model(init_from=tmp_path / "ckpt")
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    assert again.training
    other = make_task(
        ModelConfig(
            family="bolt",
            size=None,
            context_length=40,
            prediction_length=16,
            network=dict(MICRO_NETWORK),
        )
    )
    with pytest.raises(ValueError, match="predicts 8 steps"):
        other.build_model(init_from=tmp_path / "ckpt")


def test_smoke_training_run_loss_falls(tmp_path: Path, one_thread) -> None:
    from chronos_pkg.train.loop import train

    config = load_train_config(SMOKE_CONFIG, [f"output_dir={tmp_path}"])
    assert config.model.family == "bolt"
    final = train(config)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == config.trainer.max_steps
    assert log[-1]["loss"] < 0.9 * log[0]["loss"]
    pipeline = chronos_pkg.from_pretrained(final)
    assert isinstance(pipeline, ChronosBoltPipeline)
    assert pipeline.bolt_config.context_length == 64
    assert json.loads((final / "config.json").read_text())["chronos_training"]["step"] == 40
    forecast = pipeline.predict(np.sin(np.arange(100) / 5), prediction_length=16)
    assert forecast.shape == (1, 9, 16) and torch.isfinite(forecast).all()


def test_target_clip_bounds_the_loss_of_flat_contexts() -> None:
    contexts = np.zeros((2, 40), dtype=np.float32)  # flat: scale falls back to 1e-5
    futures = np.ones((2, 8), dtype=np.float32)
    torch.manual_seed(0)
    clipped, raw = _task(target_clip=20.0), _task()
    batch = clipped.make_batch(contexts, futures)
    model = clipped.build_model()
    clipped_loss = float(clipped.loss(model, batch))
    raw_loss = float(raw.loss(model, batch))
    assert raw_loss > 1e4  # the unclipped target is 1e5 standard deviations away
    assert 0 < clipped_loss < 2 * 9 * 21  # at most 2 * sum_q |20 - prediction| for small outputs
    with pytest.raises(ValueError, match="target_clip"):
        _task(target_clip=-1)


def test_training_flushes_denormals(monkeypatch, tmp_path: Path, one_thread) -> None:
    from chronos_pkg.train import loop as train_module

    calls = []
    real = torch.set_flush_denormal
    monkeypatch.setattr(torch, "set_flush_denormal", lambda on: calls.append(on) or real(on))
    seen = {}
    monkeypatch.setattr(train_module, "_train", lambda config: seen.setdefault("flush", calls[:]))
    config = load_train_config(SMOKE_CONFIG, [f"output_dir={tmp_path}"])
    train_module.train(config)
    assert seen["flush"] == [True]  # on while training
    assert calls[-1] is False  # and restored afterwards
