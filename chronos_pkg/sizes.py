"""Named network sizes, shared by both families: both are ``transformers`` T5 stacks.

The published Chronos-T5 (tiny ... large) and Chronos-Bolt (tiny ... base) checkpoints use the
same T5 shapes; a size name plus explicit overrides gives the fields of a ``T5Config``.
"""

from __future__ import annotations

from typing import Any

# Chronos-T5 / Chronos-Bolt shapes (SPEC section 1); all use relu feed-forward, d_kv 64.
T5_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"d_model": 256, "d_ff": 1024, "num_heads": 4, "num_layers": 4},
    "mini": {"d_model": 384, "d_ff": 1536, "num_heads": 8, "num_layers": 4},
    "small": {"d_model": 512, "d_ff": 2048, "num_heads": 8, "num_layers": 6},
    "base": {"d_model": 768, "d_ff": 3072, "num_heads": 12, "num_layers": 12},
    "large": {"d_model": 1024, "d_ff": 4096, "num_heads": 16, "num_layers": 24},
}


def check_size(size: str | None, what: str = "size") -> str | None:
    """``size`` itself when it is None or a key of :data:`T5_SIZES`; else ``ValueError``."""
    if size is not None and size not in T5_SIZES:
        raise ValueError(f"unknown {what} {size!r}; known: {sorted(T5_SIZES)}")
    return size


def t5_shape(size: str | None, overrides: dict[str, Any], what: str = "size") -> dict[str, Any]:
    """``T5Config`` fields: the named ``size`` (if any) with ``overrides`` on top.

    Defaults a Chronos network always has: as many decoder as encoder layers, ``d_kv`` 64 and
    a relu feed-forward.
    """
    shape: dict[str, Any] = dict(T5_SIZES[check_size(size, what)]) if size is not None else {}
    shape.update(overrides)
    shape.setdefault("num_decoder_layers", shape.get("num_layers", 6))
    shape.setdefault("d_kv", 64)
    shape.setdefault("feed_forward_proj", "relu")
    return shape
