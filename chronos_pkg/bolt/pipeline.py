"""ChronosBoltPipeline: the public face of a Chronos-Bolt checkpoint (SPEC section 8).

The network (:mod:`chronos_pkg.bolt.model`) predicts quantiles of the next 64 steps in one
forward pass; this module turns that into forecasts of any horizon and at any quantile level.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch

from chronos_pkg.base import BasePipeline
from chronos_pkg.bolt.checkpoint import load_bolt_model, save_bolt_checkpoint
from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.bolt.model import ChronosBoltModel
from chronos_pkg.inputs import (
    ContextInput,
    check_batch_size,
    check_horizon,
    check_prediction_length,
    to_context_tensor,
)

logger = logging.getLogger(__name__)


class ChronosBoltPipeline(BasePipeline):
    """Forecast with a Chronos-Bolt checkpoint: quantiles in one forward pass per 64 steps."""

    def __init__(self, model: ChronosBoltModel) -> None:
        super().__init__(model.eval())

    load_model = staticmethod(load_bolt_model)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        save_bolt_checkpoint(self.model, path)

    @property
    def chronos_config(self) -> ChronosBoltConfig:
        return self.model.bolt_config

    bolt_config = chronos_config  # its name before BasePipeline.chronos_config

    @property
    def quantiles(self) -> list[float]:
        """The quantile levels the model predicts directly."""
        return list(self.bolt_config.quantiles)

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
        batch_size : series per forward pass (default 256, as for Chronos-T5).

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
        step = check_batch_size(batch_size)
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

    def _quantiles_of(
        self, forecast: torch.Tensor, levels: list[float]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Forecasts (B, Q, H) at the model's levels -> (B, H, Q') at ``levels``, and the median
        as the mean (B, H).

        Levels the model predicts are returned as is; others are interpolated linearly between
        the model's (sorted) quantiles and clamped to its outermost ones (with a warning) outside
        their range.
        """
        forecast = forecast.transpose(1, 2)
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


def interpolate_quantiles(
    values: torch.Tensor, levels: Sequence[float], wanted: Sequence[float]
) -> torch.Tensor:
    """Read quantiles at ``wanted`` levels off quantiles ``values`` (..., Q) given at ``levels``.

    Values are sorted along the last axis first (so crossed quantiles cannot produce a
    non-monotone result), then interpolated linearly in the level; levels outside
    ``[levels[0], levels[-1]]`` are clamped to the outermost quantile. Returns (..., len(wanted)).
    """
    known = torch.tensor(list(levels), dtype=torch.float64)
    query = torch.tensor(list(wanted), dtype=torch.float64).clamp(known[0], known[-1])
    upper = torch.searchsorted(known, query, right=True).clamp(1, len(known) - 1)
    lower = upper - 1
    gap = known[upper] - known[lower]
    weight = torch.where(gap > 0, (query - known[lower]) / gap, torch.zeros_like(gap))
    weight = weight.clamp(0.0, 1.0).to(values.dtype).to(values.device)
    ordered = values.sort(dim=-1).values
    low, high = ordered[..., lower.to(values.device)], ordered[..., upper.to(values.device)]
    return low + weight * (high - low)
