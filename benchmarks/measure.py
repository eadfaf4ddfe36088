"""What the benchmark scripts share: peak memory of a call (CUDA allocator or sampled RSS) and
device synchronisation. The scripts run as files (``python benchmarks/x.py``), so this folder is
on their import path."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import threading
import time

import torch


class PeakMemory:
    """Peak memory of one call: CUDA allocator peak, or sampled RSS above the starting RSS."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.peak_bytes = 0

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
            return self
        _malloc_trim()
        self._start = _rss()
        self._peak = self._start
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while self._running:
            self._peak = max(self._peak, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.peak_bytes = torch.cuda.max_memory_allocated() - self._start
            return
        self._running = False
        self._thread.join()
        self.peak_bytes = max(self._peak, _rss()) - self._start


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
