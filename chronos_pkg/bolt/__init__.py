"""Chronos-Bolt: patches of the context in, quantiles of the next steps out, in one pass.

config (``ChronosBoltConfig``) -> model (the network) -> checkpoint (build, save, load) ->
pipeline (``ChronosBoltPipeline``), mirroring ``chronos_pkg.t5``.

``from chronos_pkg.bolt import ChronosBoltPipeline, load_bolt_model, ...`` keeps working from
the flat layout, where ``chronos_pkg.bolt`` was one module; those names load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from chronos_pkg.bolt.config import ChronosBoltConfig

__all__ = [
    "ChronosBoltConfig",
    "ChronosBoltPipeline",
    "load_bolt_model",
    "new_bolt_model",
    "save_bolt_checkpoint",
]

# the names the flat module chronos_pkg.bolt exported -> where they live now
_EXPORTS = {
    "ChronosBoltPipeline": "chronos_pkg.bolt.pipeline",
    "load_bolt_model": "chronos_pkg.bolt.checkpoint",
    "new_bolt_model": "chronos_pkg.bolt.checkpoint",
    "save_bolt_checkpoint": "chronos_pkg.bolt.checkpoint",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'chronos_pkg.bolt' has no attribute {name!r}")
