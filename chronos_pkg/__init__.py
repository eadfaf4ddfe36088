"""chronos_pkg: pretrained probabilistic time-series forecasting in the Chronos family.

Forecast with :func:`from_pretrained`; the families live in ``chronos_pkg.t5`` and
``chronos_pkg.bolt``, pretraining in ``chronos_pkg.train``, synthetic data in
``chronos_pkg.synth`` and the benchmark in ``chronos_pkg.eval`` (README, "Architecture").
"""

from __future__ import annotations

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


def __getattr__(name: str) -> Any:
    # the pipelines import transformers: load them on first use, through the registry
    if name in ("ChronosPipeline", "ChronosBoltPipeline"):
        return pipeline_class(name)
    raise AttributeError(f"module 'chronos_pkg' has no attribute {name!r}")
