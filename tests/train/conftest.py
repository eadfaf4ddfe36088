"""Training test data: a micro network, a window spec, series whose values say where a window
starts."""

from __future__ import annotations

import numpy as np

from chronos_pkg.train.windows import WindowSpec

# a T5 stack small enough to train for a few steps in a test (both families)
MICRO_NETWORK = {
    "d_model": 16,
    "d_ff": 32,
    "d_kv": 8,
    "num_heads": 2,
    "num_layers": 1,
    "relative_attention_num_buckets": 8,
}
SPEC = WindowSpec(context_length=32, prediction_length=8, min_past=10, max_missing_prop=0.5)


def ramp_series(lengths: list[int], offset: float = 0.0) -> list[np.ndarray]:
    """Series whose value is the position (plus ``offset``): windows reveal where they start."""
    return [np.arange(n, dtype=np.float32) + offset for n in lengths]
