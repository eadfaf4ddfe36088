"""chronos_pkg: pretrained probabilistic time-series forecasting in the Chronos family."""

from __future__ import annotations

import importlib
from typing import Any

from chronos_pkg.base import BasePipeline, from_pretrained
from chronos_pkg.config import ChronosConfig
from chronos_pkg.tokenizer import MeanScaleUniformBins

__version__ = "0.1.0"

# heavy or optional parts are imported on first use
_LAZY = {
    "ChronosPipeline": "chronos_pkg.pipeline",
    "ChronosBoltPipeline": "chronos_pkg.bolt",
    "ChronosBoltConfig": "chronos_pkg.bolt",
}

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
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'chronos_pkg' has no attribute {name!r}")
