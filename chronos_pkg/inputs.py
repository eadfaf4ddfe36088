"""Turning user input into context series, checking arguments, and the defaults they share.

This is the only place where 1-D, 2-D, list, numpy and torch inputs are normalised
(:func:`to_series_list`, and :func:`to_context_tensor` for the left-padded batch the networks
read), so every forecaster (Chronos-T5, Chronos-Bolt, the baselines) rejects bad input with the
same messages.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

ContextInput = torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray]

# the nine levels of the Chronos benchmark and of the published Chronos-Bolt heads
DEFAULT_QUANTILE_LEVELS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DEFAULT_BATCH_SIZE = 256  # series per forward pass, for every family


def _as_1d_float_tensor(
    series: object, index: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """One series as a ``dtype`` tensor, with a message naming the series when it is bad."""
    where = f"series {index}"
    if isinstance(series, torch.Tensor):
        if series.is_complex() or series.dtype == torch.bool:
            raise TypeError(f"{where}: expected real numeric values, got dtype {series.dtype}")
        tensor = series.detach().to("cpu", dtype)
    else:
        array = np.asarray(series)
        if array.dtype == object or not (
            np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)
        ):
            try:
                array = array.astype(np.float64)
            except (TypeError, ValueError) as err:
                raise TypeError(f"{where}: non-numeric values ({array.dtype})") from err
        if np.iscomplexobj(array):
            raise TypeError(f"{where}: expected real numeric values, got complex")
        numpy_dtype = np.float64 if dtype == torch.float64 else np.float32
        tensor = torch.as_tensor(array.astype(numpy_dtype, copy=False)).to(dtype)
    if tensor.dim() != 1:
        raise ValueError(f"{where}: expected a 1-D series, got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise ValueError(f"{where}: series has length 0")
    if torch.isinf(tensor).any():
        raise ValueError(f"{where}: contains +/-inf; use NaN for missing values")
    return tensor


def left_pad(series: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack 1-D tensors of different lengths into (B, T_max), left-padded with NaN."""
    length = max(len(s) for s in series)
    out = torch.full((len(series), length), float("nan"), dtype=torch.float32)
    for row, s in enumerate(series):
        out[row, length - len(s) :] = s
    return out


def to_series_list(inputs: ContextInput, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Normalise ``inputs`` to a list of 1-D ``dtype`` CPU tensors, one per series (NaN = missing).

    Accepts a 1-D or 2-D torch tensor or numpy array, or a list of 1-D series of any lengths.
    Raises ``TypeError``/``ValueError`` naming the series for non-numeric, complex, empty,
    multi-dimensional or infinite values.
    """
    if isinstance(inputs, (torch.Tensor, np.ndarray)):
        ndim = inputs.dim() if isinstance(inputs, torch.Tensor) else inputs.ndim
        if ndim == 0:
            raise ValueError("inputs is a scalar; expected a 1-D series or a 2-D batch")
        if ndim > 2:
            raise ValueError(f"inputs must be 1-D or 2-D, got {ndim}-D shape {tuple(inputs.shape)}")
        if inputs.shape[0] == 0:
            raise ValueError("inputs is empty: no series to forecast")
        rows = [inputs] if ndim == 1 else list(inputs)
    elif isinstance(inputs, (str, bytes)):
        raise TypeError("inputs must be numeric arrays or tensors, got a string")
    elif isinstance(inputs, Sequence) or hasattr(inputs, "__iter__"):
        rows = list(inputs)  # type: ignore[arg-type]
        if not rows:
            raise ValueError("inputs is empty: no series to forecast")
        if all(np.isscalar(r) for r in rows):
            rows = [np.asarray(rows)]
    else:
        raise TypeError(f"unsupported input type {type(inputs).__name__}")
    return [_as_1d_float_tensor(r, i, dtype) for i, r in enumerate(rows)]


def to_context_tensor(inputs: ContextInput) -> torch.Tensor:
    """Normalise ``inputs`` to a (B, T) float32 CPU tensor, left-padded with NaN.

    Accepts what :func:`to_series_list` accepts. All-NaN series are kept (they forecast at
    scale 1) with a warning.
    """
    context = left_pad(to_series_list(inputs))
    all_missing = torch.isnan(context).all(dim=-1)
    if all_missing.any():
        idx = all_missing.nonzero().flatten().tolist()
        warnings.warn(
            f"series {idx[:10]} are entirely NaN; they are forecast at scale 1", stacklevel=3
        )
    return context


def check_prediction_length(prediction_length: int) -> int:
    """Validate a forecast horizon (an int >= 1)."""
    if isinstance(prediction_length, bool) or not isinstance(prediction_length, (int, np.integer)):
        raise TypeError(f"prediction_length must be an int, got {type(prediction_length).__name__}")
    if prediction_length < 1:
        raise ValueError(f"prediction_length must be >= 1, got {prediction_length}")
    return int(prediction_length)


def check_num_samples(num_samples: int) -> int:
    """Validate a sample count (an int >= 1)."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(f"num_samples must be an int, got {type(num_samples).__name__}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    return int(num_samples)


def check_batch_size(batch_size: int | None) -> int:
    """Validate a batch size (an int >= 1); ``None`` gives :data:`DEFAULT_BATCH_SIZE`."""
    if batch_size is None:
        return DEFAULT_BATCH_SIZE
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


def check_quantile_levels(quantile_levels: Sequence[float]) -> list[float]:
    """Validate quantile levels: a non-empty sequence of floats strictly inside (0, 1)."""
    levels = [float(q) for q in quantile_levels]
    if not levels:
        raise ValueError("quantile_levels is empty")
    bad = [q for q in levels if not 0.0 < q < 1.0]
    if bad:
        raise ValueError(f"quantile levels must lie strictly between 0 and 1, got {bad}")
    return levels


def check_horizon(
    prediction_length: int, model_prediction_length: int, limit_prediction_length: bool
) -> None:
    """Warn (or raise when limiting) if the horizon exceeds what the model was trained for."""
    if prediction_length <= model_prediction_length:
        return
    message = (
        f"prediction_length {prediction_length} exceeds the model's prediction_length "
        f"{model_prediction_length}; quality may degrade"
    )
    if limit_prediction_length:
        raise ValueError(message + ". Pass limit_prediction_length=False to allow it.")
    warnings.warn(message + " (forecasting autoregressively).", stacklevel=3)
