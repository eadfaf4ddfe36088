"""Where and in what precision things run: one reading of ``device`` and ``dtype`` settings.

Used by the pipelines (``device_map``, ``torch_dtype``), the command line (``--device``),
training (``trainer.device``) and KernelSynth, so ``"auto"`` and a missing GPU mean the same
everywhere.
"""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device, cuda_index: int | None = None) -> torch.device:
    """A torch device from a user's setting.

    ``"auto"`` is CUDA when torch sees a GPU, else the CPU. ``cuda_index`` is the GPU of this
    process (e.g. its ``LOCAL_RANK``) for ``"auto"`` and for a ``"cuda"`` without an index.
    Raises ``ValueError`` for an unknown device name and for CUDA asked for without one.
    """
    if isinstance(device, str) and device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", cuda_index) if cuda_index is not None else torch.device("cuda")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}") from err
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {str(device)!r} asks for CUDA, but torch {torch.__version__} sees no "
                "CUDA device; use 'cpu' (--device cpu) instead"
            )
        if resolved.index is None and cuda_index is not None:
            resolved = torch.device("cuda", cuda_index)
    return resolved


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    """A torch dtype from a dtype or its name (``"bfloat16"``); None stays None."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype), None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"unknown torch dtype {dtype!r}; try 'float32' or 'bfloat16'")
    return resolved
