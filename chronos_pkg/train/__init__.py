"""Pretraining and fine-tuning: ``train(config) -> Path`` (``from chronos_pkg.train import train``).

``config`` (typed ``TrainConfig`` from YAML) -> ``sources`` (files, KernelSynth, TSMixup) ->
``windows`` (mixture, windows, loader) -> ``task`` (the family seam: ``t5_task``,
``bolt_task``) -> ``loop`` (the family-neutral loop) -> ``state`` (checkpoints, resume).
``validation`` scores checkpoints on held-out series; ``learnability`` is a quick Bolt probe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from chronos_pkg.train.config import TrainConfig

__all__ = ["train"]


def train(config: TrainConfig) -> Path:
    """Train as ``config`` says: :func:`chronos_pkg.train.loop.train` (imported on first use,
    so ``chronos_pkg.train.learnability`` and friends load without the loop)."""
    from chronos_pkg.train.loop import train as run

    return run(config)
