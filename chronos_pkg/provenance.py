"""Where a result came from: this machine and the versions of the libraries that made it.

Recorded next to benchmark results (``evaluation/``) and speed measurements (``benchmarks/``).
"""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

VERSIONED_LIBRARIES = (
    "chronos_pkg",
    "torch",
    "numpy",
    "pandas",
    "statsforecast",
    "gluonts",
    "transformers",
)


def library_versions() -> dict[str, str | None]:
    """Python's and each library's installed version (None: not installed), for result records."""
    from importlib import metadata

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def describe_machine() -> dict[str, Any]:
    """CPU model, core count, platform, torch version and GPU name (if any) of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
