"""chronos_pkg: pretrained probabilistic time-series forecasting in the Chronos family.

Forecast with :func:`from_pretrained`; the families live in ``chronos_pkg.t5`` and
``chronos_pkg.bolt``, pretraining in ``chronos_pkg.train``, synthetic data in
``chronos_pkg.synth`` and the benchmark in ``chronos_pkg.eval`` (README, "Architecture").
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

from chronos_pkg.base import BasePipeline, from_pretrained, pipeline_class
from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.t5.config import ChronosConfig
from chronos_pkg.t5.tokenizer import MeanScaleUniformBins

__version__ = "0.1.0"

__all__ = [
    "BasePipeline",
    "ChronosBoltConfig",
    "ChronosBoltPipeline",
    "ChronosConfig",
    "ChronosPipeline",
    "MeanScaleUniformBins",
    "from_pretrained",
]

# Modules of the flat layout that moved into the subpackages. ``chronos_pkg.pipeline`` (a thin
# re-export) and ``chronos_pkg.bolt`` (now the package) still import; these name their new home.
MOVED_MODULES = {
    "chronos_pkg.aggregate": "chronos_pkg.eval.aggregate",
    "chronos_pkg.baselines": "chronos_pkg.eval.baselines",
    "chronos_pkg.benchmark": "chronos_pkg.eval (datasets, harness, forecasters)",
    "chronos_pkg.bolt_model": "chronos_pkg.bolt.model and chronos_pkg.bolt.config",
    "chronos_pkg.bolt_task": "chronos_pkg.train.bolt_task",
    "chronos_pkg.checkpoint": "chronos_pkg.t5.checkpoint",
    "chronos_pkg.config": "chronos_pkg.t5.config",
    "chronos_pkg.gluonts_adapter": "chronos_pkg.eval.gluonts_adapter",
    "chronos_pkg.kernel_synth": "chronos_pkg.synth.kernel_synth",
    "chronos_pkg.learnability": "chronos_pkg.train.learnability",
    "chronos_pkg.metrics": "chronos_pkg.eval.metrics",
    "chronos_pkg.model": "chronos_pkg.t5.model",
    "chronos_pkg.sampling": "chronos_pkg.t5.sampling",
    "chronos_pkg.t5_task": "chronos_pkg.train.t5_task",
    "chronos_pkg.tokenizer": "chronos_pkg.t5.tokenizer",
    "chronos_pkg.train_config": "chronos_pkg.train.config",
    "chronos_pkg.train_task": "chronos_pkg.train.task",
    "chronos_pkg.training_data": "chronos_pkg.train.sources and chronos_pkg.train.windows",
    "chronos_pkg.tsmixup": "chronos_pkg.synth.tsmixup",
    "chronos_pkg.validation": "chronos_pkg.train.validation",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Turns ``import chronos_pkg.<moved>`` into an ImportError that names the new module."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname in MOVED_MODULES:
            raise ImportError(
                f"{fullname} has moved: use {MOVED_MODULES[fullname]}",
                name=fullname,
            )
        return None


if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
    # first, so that no other installed copy of the package can answer for these names
    sys.meta_path.insert(0, _MovedModuleFinder())


def __getattr__(name: str) -> Any:
    # the pipelines import transformers: load them on first use, through the registry
    if name in ("ChronosPipeline", "ChronosBoltPipeline"):
        return pipeline_class(name)
    raise AttributeError(f"module 'chronos_pkg' has no attribute {name!r}")
