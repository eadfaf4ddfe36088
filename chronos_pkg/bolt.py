"""Chronos-Bolt: checkpoint I/O and the forecasting pipeline (SPEC section 8).

The network lives in :mod:`chronos_pkg.bolt_model`; this module reads and writes the published
checkpoint format (``config.json`` with ``architectures: ["ChronosBoltModelForForecasting"]``
and a ``chronos_config`` block, plus ``model.safetensors``) and turns the network's direct
multi-quantile output into forecasts of any horizon.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import T5Config

from chronos_pkg.base import DEFAULT_QUANTILE_LEVELS, BasePipeline
from chronos_pkg.bolt_model import (
    ChronosBoltConfig,
    ChronosBoltModel,
    interpolate_quantiles,
)
from chronos_pkg.checkpoint import T5_SIZES
from chronos_pkg.inputs import (
    ContextInput,
    check_horizon,
    check_prediction_length,
    check_quantile_levels,
    to_context_tensor,
)
from chronos_pkg.loading import CONFIG_FILE, WEIGHTS_FILE, read_config

__all__ = [
    "ChronosBoltConfig",
    "ChronosBoltPipeline",
    "load_bolt_model",
    "new_bolt_model",
    "save_bolt_checkpoint",
]

logger = logging.getLogger(__name__)

PIPELINE_CLASS = "ChronosBoltPipeline"
# top-level config.json keys that are ours, not the T5 config's
_OWN_KEYS = ("chronos_config", "chronos_pipeline_class")


# --------------------------------------------------------------------------- checkpoints


def new_bolt_model(
    bolt_config: ChronosBoltConfig, seed: int = 0, size: str | None = None, **network: Any
) -> ChronosBoltModel:
    """A randomly initialised Chronos-Bolt network (float32, CPU, seeded).

    ``size`` is a key of ``checkpoint.T5_SIZES`` (tiny, mini, small, base: the published Bolt
    shapes); ``network`` holds explicit T5 config fields (``d_model``, ``num_layers``,
    ``dropout_rate``...) that override it.
    """
    if size is not None and size not in T5_SIZES:
        raise ValueError(f"unknown Bolt size {size!r}; known: {sorted(T5_SIZES)}")
    shape: dict[str, Any] = dict(T5_SIZES[size]) if size is not None else {}
    shape.update(network)
    shape.setdefault("num_decoder_layers", shape.get("num_layers", 6))
    shape.setdefault("d_kv", 64)
    shape.setdefault("feed_forward_proj", "relu")
    try:
        hf_config = T5Config(**shape)
    except (TypeError, ValueError) as err:
        raise ValueError(f"invalid Chronos-Bolt network settings {shape}: {err}") from err
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ChronosBoltModel(hf_config, bolt_config)


def save_bolt_checkpoint(
    model: ChronosBoltModel, directory: str | os.PathLike, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` in the published Chronos-Bolt format.

    ``extra`` entries (e.g. training provenance) are added at the top level of ``config.json``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = model.config.to_dict()
    config["dtype"] = str(model.dtype).removeprefix("torch.")
    config["chronos_config"] = model.bolt_config.to_dict()
    config["chronos_pipeline_class"] = PIPELINE_CLASS
    config.update(extra or {})
    state = {k: v.detach().cpu() for k, v in model.checkpoint_state().items()}
    save_file(state, directory / WEIGHTS_FILE, metadata={"format": "pt"})
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return directory


def load_bolt_model(
    directory: str | os.PathLike,
    config: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
) -> ChronosBoltModel:
    """The network of a Chronos-Bolt checkpoint directory, in eval mode.

    Without ``dtype`` the stored dtype is kept, except that bfloat16 weights run in float32 on
    the CPU.

    ``config`` is the parsed ``config.json`` (read from ``directory`` when omitted).
    """
    directory = Path(directory)
    if config is None:
        config = read_config(directory)
    bolt_config = ChronosBoltConfig.from_dict(config["chronos_config"])
    hf_config = T5Config.from_dict({k: v for k, v in config.items() if k not in _OWN_KEYS})
    with torch.device("meta"):  # no wasted random init: every weight comes from the file
        model = ChronosBoltModel(hf_config, bolt_config)
    model.load_checkpoint_state(load_file(directory / WEIGHTS_FILE), assign=True)
    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"unknown torch dtype {dtype!r}; try 'float32' or 'bfloat16'")
        dtype = getattr(torch, dtype)
    on_cpu = device is None or torch.device(device).type == "cpu"
    if dtype is None and on_cpu and model.dtype == torch.bfloat16:
        # bfloat16 is a storage format (the built-in model's wheel size); CPU matmuls in it are
        # slow where the CPU has no native support and cost accuracy, so compute in float32
        dtype = torch.float32
    return model.to(device=device, dtype=dtype).eval()


# ------------------------------------------------------------------------------ pipeline


class ChronosBoltPipeline(BasePipeline):
    """Forecast with a Chronos-Bolt checkpoint: quantiles in one forward pass per 64 steps."""

    def __init__(self, model: ChronosBoltModel) -> None:
        self.model = model.eval()

    @classmethod
    def _from_directory(
        cls,
        directory: Path,
        config: dict[str, Any],
        device_map: str | torch.device | None,
        torch_dtype: torch.dtype | str | None,
    ) -> ChronosBoltPipeline:
        return cls(load_bolt_model(directory, config, device=device_map, dtype=torch_dtype))

    def save_pretrained(self, path: str | os.PathLike) -> None:
        save_bolt_checkpoint(self.model, path)

    @property
    def bolt_config(self) -> ChronosBoltConfig:
        return self.model.bolt_config

    @property
    def quantiles(self) -> list[float]:
        """The quantile levels the model predicts directly."""
        return list(self.bolt_config.quantiles)

    @property
    def model_context_length(self) -> int:
        return self.bolt_config.context_length

    @property
    def model_prediction_length(self) -> int:
        return self.bolt_config.prediction_length

    @property
    def device(self) -> torch.device:
        return self.model.device

    def predict(
        self,
        inputs: ContextInput,
        prediction_length: int | None = None,
        limit_prediction_length: bool = False,
        batch_size: int | None = None,
    ) -> torch.Tensor:
        """Quantile forecasts at the model's levels.

        Parameters
        ----------
        inputs : 1-D or 2-D tensor/ndarray, or a list of 1-D series of any lengths; NaN = missing.
        prediction_length : defaults to the model's. Longer horizons warn (raise with
            ``limit_prediction_length``) and are rolled out: each quantile path is appended to
            the context and forecast again, and the quantiles are re-taken over the Q x Q paths.
        batch_size : series per forward pass (default: all at once).

        Returns
        -------
        (B, Q, prediction_length) float32 CPU tensor in the original units.
        """
        horizon = check_prediction_length(
            self.model_prediction_length if prediction_length is None else prediction_length
        )
        check_horizon(horizon, self.model_prediction_length, limit_prediction_length)
        # truncated before moving: only the last context_length steps are ever read
        context = to_context_tensor(inputs)[..., -self.model_context_length :].to(self.device)
        step = len(context) if batch_size is None else _check_batch_size(batch_size)
        with torch.inference_mode():
            parts = [
                self._roll_out(context[i : i + step], horizon) for i in range(0, len(context), step)
            ]
        return torch.cat(parts).cpu()

    def _roll_out(self, context: torch.Tensor, horizon: int) -> torch.Tensor:
        """(B, T) context -> (B, Q, horizon) float32 forecasts, on the model's device."""
        forecast = self.model.forecast(context)  # (B, Q, H)
        blocks, produced = [forecast], forecast.shape[-1]
        if produced >= horizon:
            return forecast[..., :horizon]
        batch, n_quantiles = forecast.shape[:2]
        levels = torch.tensor(self.quantiles, device=forecast.device)
        paths = context.unsqueeze(1).expand(-1, n_quantiles, -1)  # (B, Q, T)
        while produced < horizon:
            # one path per quantile of the last block; Q forecasts of Q quantiles each
            paths = torch.cat([paths, blocks[-1]], dim=-1)[..., -self.model_context_length :]
            nested = self.model.forecast(paths.reshape(batch * n_quantiles, -1))  # (B*Q, Q, H)
            nested = nested.reshape(batch, n_quantiles * n_quantiles, -1)  # (B, Q*Q, H)
            blocks.append(torch.quantile(nested, levels, dim=1).transpose(0, 1))  # (B, Q, H)
            produced += blocks[-1].shape[-1]
        return torch.cat(blocks, dim=-1)[..., :horizon]

    def predict_quantiles(
        self,
        inputs: ContextInput,
        prediction_length: int | None = None,
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        **predict_kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Forecasts at ``quantile_levels`` (B, H, Q') and the median as the mean (B, H).

        Levels the model predicts are returned as is; others are interpolated linearly between
        the model's (sorted) quantiles and clamped to its outermost ones (with a warning) outside
        their range. ``predict_kwargs`` go to :meth:`predict`.
        """
        levels = check_quantile_levels(quantile_levels)
        forecast = self.predict(inputs, prediction_length, **predict_kwargs).transpose(1, 2)
        known = self.quantiles
        if min(levels) < known[0] or max(levels) > known[-1]:
            logger.warning(
                "quantile levels %s reach outside the model's range [%s, %s]; "
                "they are clamped to its outermost quantiles",
                levels,
                known[0],
                known[-1],
            )
        if set(levels) <= set(known):
            quantiles = forecast[..., [known.index(q) for q in levels]]
        else:
            quantiles = interpolate_quantiles(forecast, known, levels)
        if 0.5 in known:
            median = forecast[..., known.index(0.5)]
        else:
            median = interpolate_quantiles(forecast, known, [0.5])[..., 0]
        return quantiles.contiguous(), median.contiguous()

    def embed(self, inputs: ContextInput) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Encoder states and the instance-norm statistics of each series.

        Returns
        -------
        (embeddings (B, N + 1, d_model) float32, (loc (B,), scale (B,))) on the CPU, where N is
        the number of patches of the (truncated) context and the extra row is the [REG] token
        (absent in models without one).
        """
        context = to_context_tensor(inputs)[..., -self.model_context_length :].to(self.device)
        with torch.inference_mode():
            hidden, _, stats = self.model.encode(context)
        return hidden.float().cpu(), (stats.loc[:, 0].cpu(), stats.scale[:, 0].cpu())


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return batch_size
