"""ChronosPipeline: the public face of a Chronos-T5 (or causal) checkpoint.

Tokenizes contexts, draws sample paths with :class:`chronos_pkg.t5.model.ChronosModel` and turns
them back into values. Large inputs are processed in chunks with bounded memory; with a ``seed``
each series' samples are a pure function of (seed, its tokenized context) times its scale,
whatever the batching, so seeded forecasts are also scale-equivariant.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from chronos_pkg.base import BasePipeline
from chronos_pkg.inputs import (
    ContextInput,
    check_batch_size,
    check_horizon,
    check_num_samples,
    check_prediction_length,
    to_context_tensor,
)
from chronos_pkg.t5.checkpoint import load_chronos_model, save_checkpoint
from chronos_pkg.t5.config import ChronosConfig
from chronos_pkg.t5.model import ChronosModel
from chronos_pkg.t5.sampling import counter_uniforms, series_keys
from chronos_pkg.t5.tokenizer import MeanScaleUniformBins

# inputs are normalised in pieces of at most this many padded values (64 MB of float32)
_NORMALISE_BUDGET = 1 << 24
# rows per piece when taking quantiles (torch.sort copies its input)
_QUANTILE_CHUNK = 4096


class ChronosPipeline(BasePipeline):
    """Probabilistic forecasts from a Chronos-T5 checkpoint (SPEC sections 2-3).

    Load with ``ChronosPipeline.from_pretrained(path)`` or ``chronos_pkg.from_pretrained(path)``.
    """

    def __init__(self, model: ChronosModel) -> None:
        super().__init__(model.eval())
        self.config: ChronosConfig = model.config
        self.tokenizer = MeanScaleUniformBins(self.config)

    # -- loading and saving ----------------------------------------------------------------

    load_model = staticmethod(load_chronos_model)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` + ``model.safetensors`` in the published format."""
        save_checkpoint(self.model.model, self.config, path)

    @property
    def chronos_config(self) -> ChronosConfig:
        return self.config

    # -- forecasting -----------------------------------------------------------------------

    def predict(
        self,
        inputs: ContextInput,
        prediction_length: int | None = None,
        num_samples: int | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        limit_prediction_length: bool = False,
        batch_size: int | None = None,
        seed: int | None = None,
        show_progress: bool = False,
    ) -> torch.Tensor:
        """Sample forecast paths.

        Parameters
        ----------
        inputs : 1-D or 2-D tensor/ndarray, or a list of 1-D series of any lengths; NaN = missing.
        prediction_length, num_samples, temperature, top_k, top_p : default to the checkpoint's
            ``chronos_config``. Horizons beyond the model's ``prediction_length`` warn (raise
            with ``limit_prediction_length``) and are forecast by appending the per-step median.
        batch_size : series per forward pass (default 256).
        seed : with a seed, each series' samples depend only on the seed and its own tokenized
            context (not on the batch size, the chunking or the other series; series with the
            same tokens get the same paths, times their scale); without one, torch's global
            RNG is used.
        show_progress : show a tqdm bar over the batches.

        Returns
        -------
        (B, num_samples, prediction_length) float32 CPU tensor in the original units.
        """
        settings = self._settings(num_samples, temperature, top_k, top_p)
        horizon = check_prediction_length(
            self.config.prediction_length if prediction_length is None else prediction_length
        )
        check_horizon(horizon, self.config.prediction_length, limit_prediction_length)
        batch_size = check_batch_size(batch_size)
        seed = _check_seed(seed)
        context = self._context_tensor(inputs)  # (B, T <= context_length)

        out = torch.empty(len(context), settings.num_samples, horizon, dtype=torch.float32)
        batches = _length_sorted_batches(context, batch_size)
        with torch.inference_mode():
            for rows, batch in _progress(batches, -(-len(context) // batch_size), show_progress):
                out[rows] = self._sample_paths(batch, horizon, settings, seed)
        return out

    def _quantiles_of(
        self, samples: torch.Tensor, levels: list[float]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantiles of the sample paths (B, S, H) (linear interpolation, like
        ``torch.quantile``): (B, H, Q), and the sample mean (B, H)."""
        return interpolated_sample_quantiles(samples, levels), samples.mean(dim=1)

    def embed(
        self, inputs: ContextInput, batch_size: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder hidden states of the tokenized contexts.

        Returns
        -------
        embeddings : (B, T (+1 for EOS), d_model) float32 CPU, T = min(longest series,
            context_length); rows are left-padded like the inputs.
        scale : (B,) float32, the mean absolute value each series was divided by.
        """
        batch_size = check_batch_size(batch_size)
        context = self._context_tensor(inputs)
        embeddings, scales = [], []
        with torch.inference_mode():
            for start in range(0, len(context), batch_size):
                ids, mask, scale = self._tokenize(context[start : start + batch_size])
                hidden = self.model.encode(ids.to(self.device), mask.to(self.device))
                embeddings.append(hidden.to("cpu", torch.float32))
                scales.append(scale)
        return torch.cat(embeddings), torch.cat(scales)

    # -- internals -------------------------------------------------------------------------

    def _settings(
        self,
        num_samples: int | None,
        temperature: float | None,
        top_k: int | None,
        top_p: float | None,
    ) -> ChronosConfig:
        """The checkpoint config with the call's overrides, validated by ``ChronosConfig``."""
        overrides: dict[str, Any] = {}
        if num_samples is not None:
            overrides["num_samples"] = check_num_samples(num_samples)
        if temperature is not None:
            overrides["temperature"] = float(temperature)
        if top_k is not None:
            if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
                raise TypeError(f"top_k must be an int, got {type(top_k).__name__}")
            overrides["top_k"] = int(top_k)
        if top_p is not None:
            overrides["top_p"] = float(top_p)
        return dataclasses.replace(self.config, **overrides)

    def _context_tensor(self, inputs: ContextInput) -> torch.Tensor:
        """(B, T) float32 contexts, each cut to its last ``context_length`` values, NaN-left-padded.

        Inputs are normalised in pieces so that a few very long series among many short ones
        never make a (B, longest) tensor.
        """
        length = self.config.context_length
        parts = []
        with warnings.catch_warnings():
            # re-issued below with indices into the whole input
            warnings.filterwarnings("ignore", message=r"series .* are entirely NaN")
            for start, piece in _pieces(inputs):
                try:
                    parts.append(to_context_tensor(piece)[:, -length:])
                except (TypeError, ValueError) as err:
                    raise _renumbered(err, start) from err
        context = _stack_left_padded(parts)
        empty = torch.isnan(context).all(dim=-1)
        if empty.any():
            index = empty.nonzero().flatten().tolist()
            warnings.warn(
                f"series {index[:10]}{'...' if len(index) > 10 else ''} have no observed value in "
                f"their last {length} steps; they are forecast at scale 1",
                stacklevel=3,
            )
        return context

    def _tokenize(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokenize (b, T) contexts as if each row were left-padded to ``context_length``.

        The scale is a float32 sum whose rounding depends on the row's padded length; a fixed
        length makes it (and so the tokens and forecasts) bit-identical whatever batch a series
        is in. Leading columns that are padding in every row are dropped again before the model.
        Returns ids and mask (b, min(T, context_length) (+1 EOS)) and scale (b,).
        """
        length = self.config.context_length
        context = context[:, -length:]
        width = context.shape[1]
        padded = torch.nn.functional.pad(context, (length - width, 0), value=float("nan"))
        ids, mask, scale = self.tokenizer.context_input_transform(padded)
        keep = width + ids.shape[1] - length  # plus the EOS column, if any
        return ids[:, -keep:], mask[:, -keep:], scale

    def _sample_paths(
        self, context: torch.Tensor, horizon: int, settings: ChronosConfig, seed: int | None
    ) -> torch.Tensor:
        """Sample paths (b, S, horizon) for one batch of contexts (b, T), rolling out if needed."""
        keys = None
        pieces: list[torch.Tensor] = []
        done = 0
        while done < horizon:
            steps = min(self.config.prediction_length, horizon - done)
            ids, mask, scale = self._tokenize(context)
            if seed is not None and keys is None:
                keys = _token_keys(ids, mask)
            uniforms = None
            if keys is not None:
                uniforms = counter_uniforms(
                    seed, keys, settings.num_samples, steps, step_offset=done, device=self.device
                )
            tokens = self.model.sample_tokens(
                ids.to(self.device),
                mask.to(self.device),
                prediction_length=steps,
                num_samples=settings.num_samples,
                temperature=settings.temperature,
                top_k=settings.top_k,
                top_p=settings.top_p,
                uniforms=uniforms,
            )  # (b, S, steps)
            samples = self.tokenizer.output_transform(tokens, scale.to(tokens.device))
            pieces.append(samples.to("cpu", torch.float32))
            done += steps
            if done < horizon:
                # torch.median takes the lower middle value: an actual sample, as published
                median = pieces[-1].median(dim=1).values  # (b, steps)
                context = torch.cat([context, median], dim=-1)[:, -self.config.context_length :]
        return torch.cat(pieces, dim=-1)


def _token_keys(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Random-stream keys (b,) of tokenized contexts (b, T): a hash of what the model sees.

    Hashing the tokens rather than the values makes seeded forecasts scale-equivariant
    (``c * x`` gets the same paths as ``x``, times ``c``); the NaN on masked steps makes the key
    ignore left padding, so it does not depend on the batch either.
    """
    observed = torch.where(mask, ids.to(torch.float32), torch.tensor(float("nan")))
    return series_keys(observed.cpu())


def interpolated_sample_quantiles(samples: torch.Tensor, levels: Sequence[float]) -> torch.Tensor:
    """Quantiles over the sample axis with linear interpolation, as ``torch.quantile`` does.

    Parameters
    ----------
    samples : (B, S, H) float tensor without NaN.
    levels : Q levels in [0, 1].

    Returns
    -------
    (B, H, Q) float32. Unlike ``torch.quantile`` there is no limit on the input size.
    """
    num_samples = samples.shape[1]
    position = torch.tensor([float(q) for q in levels], dtype=torch.float64) * (num_samples - 1)
    below = position.floor().long()
    above = position.ceil().long()
    weight = (position - below).to(torch.float32)  # (Q,)
    out = []
    for start in range(0, len(samples), _QUANTILE_CHUNK):
        ordered = samples[start : start + _QUANTILE_CHUNK].to(torch.float32).sort(dim=1).values
        low = ordered[:, below, :].transpose(1, 2)  # (b, H, Q)
        high = ordered[:, above, :].transpose(1, 2)
        out.append(torch.lerp(low, high, weight))
    return torch.cat(out) if out else samples.new_empty(0, samples.shape[2], len(levels))


def _check_seed(seed: int | None) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    return int(seed)


def _pieces(inputs: ContextInput) -> Iterator[tuple[int, Any]]:
    """(first row index, piece) pairs covering ``inputs``, each small enough to pad.

    Dense arrays are already padded and go whole; a list of series is cut so that no piece
    pads to more than ``_NORMALISE_BUDGET`` values.
    """
    if isinstance(inputs, (torch.Tensor, np.ndarray, str, bytes)) or not hasattr(
        inputs, "__iter__"
    ):
        yield 0, inputs  # to_context_tensor validates (and rejects what is not an input)
        return
    rows = list(inputs)  # type: ignore[arg-type]
    if not rows or all(np.isscalar(r) for r in rows):
        yield 0, rows
        return
    start, longest = 0, 0
    for index, row in enumerate(rows):
        length = len(row) if hasattr(row, "__len__") else 1
        if index > start and (index - start + 1) * max(longest, length) > _NORMALISE_BUDGET:
            yield start, rows[start:index]
            start, longest = index, 0
        longest = max(longest, length)
    yield start, rows[start:]


def _renumbered(err: Exception, offset: int) -> Exception:
    """``err`` with its leading "series i" made an index into the whole input."""
    if offset == 0:
        return err
    message = re.sub(r"^series (\d+)", lambda m: f"series {int(m[1]) + offset}", str(err))
    return type(err)(message)


def _stack_left_padded(parts: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate (b_i, T_i) blocks into (sum b_i, max T_i), left-padding with NaN."""
    if len(parts) == 1:
        return parts[0]
    width = max(p.shape[1] for p in parts)
    padded = [
        torch.nn.functional.pad(p, (width - p.shape[1], 0), value=float("nan")) for p in parts
    ]
    return torch.cat(padded)


def _length_sorted_batches(
    context: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(row indices, (b, T_b) contexts) batches of series of similar observed length.

    Leading NaNs are padding to the model (masked out), so each batch is cut to its longest
    series from the first observed value; sorting by that length keeps the padding small.
    """
    observed = ~torch.isnan(context)
    first = torch.where(observed.any(-1), observed.float().argmax(-1), context.shape[1])
    lengths = context.shape[1] - first  # (B,)
    order = torch.argsort(lengths, descending=True, stable=True)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(int(lengths[rows].max()), 1)
        yield rows, context[rows, -width:]


def _progress(iterable: Iterator[Any], total: int, show: bool) -> Iterator[Any]:
    if not show:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc="forecasting", unit="batch")
