"""The seam between the shared training loop and a model family ("training task").

``chronos_pkg.train.loop`` knows nothing about tokens, patches or T5: it samples windows, hands them
to a :class:`TrainingTask`, and optimises whatever scalar ``task.loss`` returns. A family plugs
in by subclassing :class:`TrainingTask` and registering ``"module:Class"`` in :data:`TASKS`
(selected by the config key ``model.family``). The registry is imported lazily, so the T5 task
does not import Bolt code and vice versa.

Contract (all shapes are per device, ``B`` = per-device batch size):

``__init__(model_config, seed=0)``
    ``model_config`` is a :class:`chronos_pkg.train.config.ModelConfig`: ``family``, ``size``
    (a name such as ``"tiny"`` or ``None``), ``model_type``, ``context_length``,
    ``prediction_length``, ``network`` (family-specific network fields that override the size,
    e.g. ``{"d_model": 32}``) and ``options`` (other family-specific settings); ``seed`` (the
    run's seed) seeds the random initialisation. Unknown ``network``/``options`` keys should
    raise ``ValueError`` here, before training. Call ``super().__init__(model_config, seed)``.
``context_length`` / ``prediction_length``
    How many past steps the sampler gives as context and how many future steps as target.
``uses_missing_augmentation``
    True if the sampler should blank each window's observations with probability
    ``p ~ U(0, data.missing_prob_max)`` drawn per window (Chronos-T5 seq2seq does, SPEC 4).
``build_model(init_from)``
    A fresh network (seeded by ``seed``), or the weights of the checkpoint directory
    ``init_from`` (fine-tuning, and how ``--resume`` restores weights). Returns an ``nn.Module``
    on the CPU in float32.
``make_batch(contexts, futures)``
    ``contexts``: ``np.ndarray (B, context_length)`` float32, left-padded with NaN (NaN also
    marks missing values); ``futures``: ``np.ndarray (B, prediction_length)`` float32, NaN =
    missing. Returns a dict of CPU tensors. Runs in data-loader worker processes, so it must be
    pure, cheap and picklable (no model access, no CUDA).
``loss(model, batch)``
    The scalar training loss of ``model`` (possibly wrapped by DDP / ``torch.compile``: call it,
    don't reach into it) on a batch already moved to the model's device.
``tokens_in(batch)``
    Number of input positions the batch feeds the network (for the ``tokens_per_s`` log).
``save(model, directory, provenance)``
    Write a checkpoint loadable by the family's pipeline (``chronos_pkg.from_pretrained``) to
    ``directory``; ``model`` is the unwrapped module; ``provenance`` is a small JSON-ready dict
    (seed, step, config name) to record in the checkpoint. Returns ``directory``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from chronos_pkg.train.config import ModelConfig

# model.family -> "module:Class", imported on first use
TASKS: dict[str, str] = {
    "t5": "chronos_pkg.train.t5_task:T5Task",
    "bolt": "chronos_pkg.train.bolt_task:BoltTask",
}


class TrainingTask(ABC):
    """How one model family turns sampled windows into a loss and a checkpoint."""

    context_length: int
    prediction_length: int
    uses_missing_augmentation: bool = False

    def __init__(self, model_config: ModelConfig, seed: int = 0) -> None:
        self.model_config = model_config
        self.seed = seed
        self.context_length = model_config.context_length
        self.prediction_length = model_config.prediction_length

    @abstractmethod
    def build_model(self, init_from: Path | None = None) -> nn.Module:
        """A fresh seeded network, or the weights of checkpoint directory ``init_from``."""

    @abstractmethod
    def make_batch(self, contexts: np.ndarray, futures: np.ndarray) -> dict[str, torch.Tensor]:
        """Model inputs from windows: contexts (B, C) NaN-left-padded, futures (B, H)."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scalar loss of ``model`` on ``batch`` (tensors already on the model's device)."""

    @abstractmethod
    def tokens_in(self, batch: dict[str, torch.Tensor]) -> int:
        """Input positions fed to the network by ``batch``."""

    @abstractmethod
    def save(self, model: nn.Module, directory: Path, provenance: dict[str, Any]) -> Path:
        """Write a pipeline-loadable checkpoint of ``model`` to ``directory``."""


def task_class(family: str) -> type[TrainingTask]:
    """The :class:`TrainingTask` subclass registered for ``family``."""
    if family not in TASKS:
        raise ValueError(f"unknown model.family {family!r}; known: {sorted(TASKS)}")
    module_name, class_name = TASKS[family].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise ValueError(
            f"model.family {family!r} needs {module_name}, which is not available: {err}"
        ) from err
    return getattr(module, class_name)


def make_task(model_config: ModelConfig, seed: int = 0) -> TrainingTask:
    """Instantiate the task of ``model_config.family``."""
    return task_class(model_config.family)(model_config, seed)
