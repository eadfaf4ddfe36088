"""MeanScaleUniformBins: the Chronos tokenizer (SPEC section 2), pure torch, no model.

Values are divided by the mean absolute value of the observed context and bucketed into
``n_tokens - n_special_tokens - 1`` uniform bins on ``[low_limit, high_limit]``.
"""

from __future__ import annotations

import torch

from chronos_pkg.t5.config import ChronosConfig

IGNORE_INDEX = -100  # label id ignored by torch's cross-entropy


class MeanScaleUniformBins:
    """Encode real values to token ids and decode ids back, with the published off-by-one.

    Encoding adds ``n_special_tokens`` to the bucket index, decoding subtracts
    ``n_special_tokens + 1``: the asymmetry is part of the published checkpoint format.
    """

    def __init__(self, config: ChronosConfig) -> None:
        self.config = config
        n_bins = config.n_tokens - config.n_special_tokens - 1
        self.centers = torch.linspace(config.low_limit, config.high_limit, n_bins)  # (n_bins,)
        midpoints = (self.centers[1:] + self.centers[:-1]) / 2
        self.boundaries = torch.cat(
            [torch.tensor([-1e20]), midpoints, torch.tensor([1e20])]
        )  # (n_bins + 1,)

    # -- encoding ---------------------------------------------------------------------------

    def _encode(
        self, values: torch.Tensor, scale: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and observed-mask of ``values`` (B, T) at ``scale`` (B,)."""
        values = values.to(torch.float32)
        mask = ~torch.isnan(values)
        scaled = values / scale.unsqueeze(-1)
        boundaries = self.boundaries.to(values.device)
        ids = torch.bucketize(scaled, boundaries, right=True) + self.config.n_special_tokens
        ids = ids.clamp(0, self.config.n_tokens - 1)
        ids = torch.where(mask, ids, torch.full_like(ids, self.config.pad_token_id))
        return ids, mask

    def _append_eos(
        self, ids: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.config.use_eos_token:
            return ids, mask
        eos = torch.full(
            (ids.shape[0], 1), self.config.eos_token_id, dtype=ids.dtype, device=ids.device
        )
        ones = torch.ones((mask.shape[0], 1), dtype=torch.bool, device=mask.device)
        return torch.cat([ids, eos], dim=-1), torch.cat([mask, ones], dim=-1)

    @staticmethod
    def mean_scale(context: torch.Tensor) -> torch.Tensor:
        """Mean absolute value over observed steps, 1 where that is not > 0.  (B, T) -> (B,)"""
        mask = ~torch.isnan(context)
        total = torch.where(mask, context.abs(), torch.zeros_like(context)).sum(-1)
        scale = total / mask.sum(-1)
        return torch.where(scale > 0, scale, torch.ones_like(scale))

    def context_input_transform(
        self, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokenize a NaN-left-padded context.

        Parameters
        ----------
        context : (B, T) float tensor, NaN = missing.

        Returns
        -------
        token_ids : (B, T' (+1 with EOS)) long, with T' = min(T, context_length)
        attention_mask : same shape, bool, False on missing steps
        scale : (B,) float32
        """
        context = context.to(torch.float32)[..., -self.config.context_length :]
        scale = self.mean_scale(context)
        ids, mask = self._encode(context, scale)
        if self.config.model_type == "seq2seq":  # causal models see the raw context
            ids, mask = self._append_eos(ids, mask)
        return ids, mask, scale

    def label_input_transform(
        self, label: torch.Tensor, scale: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenize a training target (B, H) at the context's ``scale`` (B,).

        Returns token ids (B, H (+1 with EOS)) with missing steps set to ``IGNORE_INDEX``, and
        the observed mask. EOS is appended whenever ``use_eos_token`` is set, for causal models
        too (the published format).
        """
        ids, mask = self._encode(label, scale)
        ids, mask = self._append_eos(ids, mask)
        ids = torch.where(mask, ids, torch.full_like(ids, IGNORE_INDEX))
        return ids, mask

    # -- decoding ---------------------------------------------------------------------------

    def output_transform(self, token_ids: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """Map sampled ids (B, ...) back to values in the original units, float32."""
        centers = self.centers.to(token_ids.device)
        index = (token_ids - self.config.n_special_tokens - 1).clamp(0, len(centers) - 1)
        shape = (-1,) + (1,) * (token_ids.dim() - 1)
        return centers[index] * scale.to(centers.device, torch.float32).view(shape)
