"""The training state on disk: ``checkpoint-latest/`` for ``--resume``, ``final/``, ``log.jsonl``.

A training checkpoint is a pipeline-loadable checkpoint (written by the task) plus
``trainer_state.pt`` (optimizer, scheduler, step and every rank's RNG state: tensors and plain
data, no pickled code) and the resolved ``train_config.yaml``.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from chronos_pkg.train.config import TRAIN_CONFIG_FILE, TrainConfig, save_train_config
from chronos_pkg.train.task import TrainingTask

logger = logging.getLogger(__name__)

LATEST = "checkpoint-latest"
FINAL = "final"
STATE_FILE = "trainer_state.pt"
LOG_FILE = "log.jsonl"  # one JSON object per logging step, in the run directory


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def gather_rng_states(device: torch.device, distributed: bool) -> list[dict[str, Any]]:
    """Every rank's RNG state (dropout differs per rank), collected on all ranks."""
    local = _rng_state(device)
    if not distributed:
        return [local]
    states: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(states, {k: v.cpu() for k, v in local.items()})
    return states


def save_model(
    directory: Path, task: TrainingTask, model: nn.Module, step: int, config: TrainConfig
) -> Path:
    """The task's checkpoint of ``model`` with its provenance and the resolved config."""
    task.save(model, directory, {"step": step, "seed": config.seed})
    save_train_config(config, directory / TRAIN_CONFIG_FILE)
    return directory


def save_training_checkpoint(
    directory: Path,
    task: TrainingTask,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    config: TrainConfig,
    rng_states: list[dict[str, Any]],
) -> Path:
    """Write ``directory`` atomically: build it beside, then swap it in with renames.

    ``rng_states`` holds one torch RNG state per rank (index = rank).
    """
    tmp = directory.with_name(directory.name + ".tmp")
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(tmp, task, model, step, config)
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_states,
    }
    torch.save(state, tmp / STATE_FILE)
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def find_resume_checkpoint(output_dir: Path) -> Path | None:
    """``checkpoint-latest`` (or the ``.old`` copy left by a stop during the swap)."""
    for candidate in (output_dir / LATEST, output_dir / (LATEST + ".old")):
        if (candidate / STATE_FILE).is_file():
            return candidate
    return None


def load_trainer_state(directory: Path) -> dict[str, Any]:
    """The optimizer/scheduler/RNG state of a training checkpoint (no pickled code)."""
    return torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)


def restore_trainer_state(
    directory: Path,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    rank: int,
    device: torch.device,
) -> int:
    """Load the optimizer, scheduler and this rank's RNG state saved in ``directory``; returns
    the step to continue from."""
    state = load_trainer_state(directory)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if rank < len(state["rng"]):
        _set_rng_state(state["rng"][rank], device)
    else:  # resumed on more ranks than saved: a fresh dropout stream for the new ones
        logger.warning("no saved RNG state for rank %d: dropout masks will differ", rank)
    step = int(state["step"])
    logger.info("resumed from %s at step %d", directory, step)
    return step
