"""Per-series forecast cache, so a long per-series baseline run resumes inside a dataset.

AutoARIMA on a dataset of a few hundred long seasonal series can take an hour; without this an
interruption loses the whole dataset. Each forecast is stored under a key made of everything that
determines it (the fitted values, horizon, season length, model, interval levels and time limit),
so a changed setting never reuses a stale forecast, and a file is written atomically (temporary
name, then rename) so an interruption never leaves a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SeriesCache"]


class SeriesCache:
    """A directory of ``<key>.npz`` files, one per forecast series."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @staticmethod
    def key(values: np.ndarray, *settings: Any) -> str:
        """Hex digest of the series (as float64) and the settings that change its forecast."""
        digest = hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        digest.update(repr(settings).encode())
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def load(self, key: str) -> tuple[dict[str, np.ndarray], str] | None:
        """The stored ``(forecast, status)`` for ``key``, or ``None`` when there is none."""
        path = self._path(key)
        if not path.is_file():
            return None
        with np.load(path) as stored:
            forecast = {name: stored[name] for name in stored.files if name != "__status__"}
            status = str(stored["__status__"])
        return forecast, status

    def save(self, key: str, forecast: dict[str, np.ndarray], status: str) -> None:
        """Store one series' forecast arrays and its status (``fitted``, ``timeout``, ...)."""
        if "__status__" in forecast:
            raise ValueError("a forecast output may not be named '__status__'")
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{key}.{os.getpid()}.tmp.npz"
        arrays = {name: np.asarray(value) for name, value in forecast.items()}
        np.savez(tmp, __status__=np.asarray(status), **arrays)
        os.replace(tmp, self._path(key))
