"""The Chronos-Bolt network: instance norm, patching, T5 encoder, one decoder step, quantile head.

SPEC section 8. The T5 stacks are ``transformers``' own modules; the rest is small and lives here,
with the training objective (:func:`pinball_loss`).
Parameter names follow the published checkpoints (``shared``, ``input_patch_embedding``,
``encoder``, ``decoder``, ``output_patch_embedding``), so their ``model.safetensors`` load as is.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import T5Config
from transformers.activations import ACT2FN
from transformers.models.t5.modeling_t5 import T5Stack

from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.bolt.seasonal import (
    LATER_KEYS,
    MIX_REFERENCES,
    detect_period,
    seasonal_features,
    seasonal_gate,
    seasonal_references,
)

# where a series has zero spread, divide by this instead (published behaviour)
MIN_SCALE = 1e-5
START_TOKEN_ID = 0  # decoder start token: row 0 of ``shared``
REG_TOKEN_ID = 1  # the appended [REG] token: row 1 of ``shared``
TIED_EMBEDDING_KEYS = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")


class LocScale(NamedTuple):
    """Per-series instance-norm statistics, each (B, 1) float32."""

    loc: torch.Tensor
    scale: torch.Tensor


def standardize(x: torch.Tensor, stats: LocScale | None = None) -> tuple[torch.Tensor, LocScale]:
    """Instance norm over the last axis, ignoring NaN; computed in float32.

    Parameters
    ----------
    x : (B, T) values, NaN = missing.
    stats : reuse these statistics (e.g. for the target) instead of computing them from ``x``.

    Returns
    -------
    ((x - loc) / scale as float32 (B, T), stats). All-NaN rows get loc 0 and scale 1; constant
    rows get scale ``MIN_SCALE``.
    """
    x = x.float()
    if stats is None:
        loc = torch.nan_to_num(torch.nanmean(x, dim=-1, keepdim=True), nan=0.0)
        spread = (x - loc).square().nanmean(dim=-1, keepdim=True).sqrt()
        scale = torch.nan_to_num(spread, nan=1.0)
        scale = torch.where(scale == 0, torch.full_like(scale, MIN_SCALE), scale)
        stats = LocScale(loc, scale)
    return (x - stats.loc) / stats.scale, stats


def destandardize(x: torch.Tensor, stats: LocScale) -> torch.Tensor:
    """Inverse of ``standardize`` in float32; ``x`` is (B, ...) with stats broadcast per row."""
    shape = (-1,) + (1,) * (x.dim() - 1)
    return x.float() * stats.scale.view(shape) + stats.loc.view(shape)


def patchify(x: torch.Tensor, patch_size: int, fill: float) -> torch.Tensor:
    """Cut (B, T) into (B, ceil(T / P), P) non-overlapping patches, left-padding with ``fill``."""
    remainder = x.shape[-1] % patch_size
    if remainder:
        x = F.pad(x, (patch_size - remainder, 0), value=fill)
    return x.unflatten(-1, (-1, patch_size))


class ResidualMLP(nn.Module):
    """``output(act(hidden(x))) + residual(x)``: the input embedding and the quantile head."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, activation: str, dropout: float):
        super().__init__()
        self.hidden_layer = nn.Linear(in_dim, hidden_dim)
        self.act = ACT2FN[activation]
        self.output_layer = nn.Linear(hidden_dim, out_dim)
        self.residual_layer = nn.Linear(in_dim, out_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(
            self.output_layer(self.act(self.hidden_layer(x)))
        ) + self.residual_layer(x)

    def reset_parameters(self) -> None:
        """Fan-in scaled normal weights, zero biases."""
        for layer in (self.hidden_layer, self.output_layer, self.residual_layer):
            nn.init.normal_(layer.weight, std=layer.in_features**-0.5)
            nn.init.zeros_(layer.bias)


def bucket_distance(bucket: int, num_buckets: int, max_distance: int) -> float:
    """Typical patch distance of a bidirectional T5 relative-position bucket.

    Half the buckets look left, half right; in each half the first quarter of ``num_buckets``
    are exact distances and the rest grow logarithmically up to ``max_distance``.
    """
    half = num_buckets // 2
    offset = bucket % half
    exact = half // 2
    if offset < exact:
        return float(offset)
    return exact * math.exp((offset - exact) / (half - exact) * math.log(max_distance / exact))


@torch.no_grad()
def init_locality_bias(encoder: nn.Module) -> None:
    """ALiBi-like start for the encoder's relative attention bias: head h gets ``-s_h * distance``.

    With T5's default init (bias ~ N(0, d_model^-0.5)) the encoder has almost no sense of
    position, so the decoder's one query sees a bag of patches and a fresh Bolt learns the
    marginal distribution long before any dynamics. Slopes ``0, 1, 1/2, 1/4, ...`` keep one
    global head and make the others local, so the appended [REG] token (the last position)
    summarises the recent patches from step 0. Only the starting values change; the checkpoint
    format and the computation are the published ones (chronos_pkg.train.learnability measures it).
    """
    attention = encoder.block[0].layer[0].SelfAttention
    table = attention.relative_attention_bias.weight  # (num_buckets, num_heads)
    buckets, heads = table.shape
    distances = torch.tensor(
        [
            bucket_distance(b, buckets, attention.relative_attention_max_distance)
            for b in range(buckets)
        ]
    )
    slopes = torch.tensor([0.0] + [2.0 ** (-h) for h in range(heads - 1)])
    table.copy_((-distances[:, None] * slopes[None, :]).to(table))


def bolt_t5_config(hf_config: T5Config, bolt_config: ChronosBoltConfig) -> T5Config:
    """A copy of ``hf_config`` with the fields a Bolt checkpoint fixes (vocabulary = special rows)."""
    config = copy.deepcopy(hf_config)
    config.vocab_size = 2 if bolt_config.use_reg_token else 1
    config.decoder_start_token_id = START_TOKEN_ID
    if bolt_config.use_reg_token:
        config.reg_token_id = REG_TOKEN_ID
    config.architectures = ["ChronosBoltModelForForecasting"]
    return config


class ChronosBoltModel(nn.Module):
    """Chronos-Bolt: context (B, T) -> standardised quantiles (B, Q, H) and their LocScale."""

    def __init__(self, hf_config: T5Config, bolt_config: ChronosBoltConfig):
        super().__init__()
        self.config = bolt_t5_config(hf_config, bolt_config)
        self.bolt_config = bolt_config
        d_model, d_ff = self.config.d_model, self.config.d_ff
        activation, dropout = self.config.dense_act_fn, self.config.dropout_rate
        # row 0: decoder start token, row 1: [REG]
        self.shared = nn.Embedding(self.config.vocab_size, d_model)
        self.input_patch_embedding = ResidualMLP(
            2 * bolt_config.input_patch_size, d_ff, d_model, activation, dropout
        )
        self.encoder = T5Stack(self._stack_config(is_decoder=False))
        self.decoder = T5Stack(self._stack_config(is_decoder=True))
        # both stacks share the one embedding table, as in the published checkpoints
        self.encoder.embed_tokens = self.shared
        self.decoder.embed_tokens = self.shared
        self.output_patch_embedding = ResidualMLP(
            d_model,
            d_ff,
            len(bolt_config.quantiles) * bolt_config.prediction_length,
            activation,
            dropout,
        )
        if bolt_config.seasonal_reference:
            self.seasonal_gate = seasonal_gate(
                bolt_config.seasonal_gate,
                d_model,
                bolt_config.prediction_length,
                masked=bolt_config.seasonal_mask,
            )
        self._init_own_parameters()  # from torch's global RNG, like the T5 stacks above

    def _stack_config(self, is_decoder: bool) -> T5Config:
        config = copy.deepcopy(self.config)
        config.is_decoder = is_decoder
        config.use_cache = False
        if is_decoder:
            config.num_layers = self.config.num_decoder_layers
        return config

    def _init_own_parameters(self) -> None:
        """Init the non-T5 parts (the T5 stacks get ``transformers``' T5 init when built)."""
        nn.init.normal_(self.shared.weight, std=self.config.initializer_factor)
        self.input_patch_embedding.reset_parameters()
        self.output_patch_embedding.reset_parameters()
        if self.bolt_config.seasonal_reference:
            self.seasonal_gate.reset_parameters()
        init_locality_bias(self.encoder)

    @property
    def dtype(self) -> torch.dtype:
        return self.shared.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.shared.weight.device

    def encode(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, LocScale]:
        """Encoder states (B, N(+1 REG), d_model), their attention mask (B, N(+1)) and LocScale.

        ``context`` is (B, T) with NaN = missing; only the last ``context_length`` steps are used.
        """
        context = context[..., -self.bolt_config.context_length :]
        observed = ~torch.isnan(context)
        normed, stats = standardize(context)
        patch_size = self.bolt_config.input_patch_size
        values = patchify(torch.where(observed, normed, 0.0), patch_size, fill=0.0)  # (B, N, P)
        mask = patchify(observed.to(torch.float32), patch_size, fill=0.0)  # (B, N, P)
        patches = torch.cat([values, mask], dim=-1).to(self.dtype)  # (B, N, 2P)
        embeds = self.input_patch_embedding(patches)  # (B, N, d_model)
        attention_mask = mask.sum(dim=-1) > 0  # a patch counts if one step in it is observed
        if self.bolt_config.use_reg_token:
            reg = self.shared.weight[REG_TOKEN_ID].expand(len(embeds), 1, -1)
            embeds = torch.cat([embeds, reg], dim=1)
            attention_mask = F.pad(attention_mask, (0, 1), value=True)
        hidden = self.encoder(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        return hidden, attention_mask, stats

    def forward(self, context: torch.Tensor) -> tuple[torch.Tensor, LocScale]:
        """Standardised quantile forecasts (B, Q, H) in the model dtype, and the context's LocScale."""
        hidden, attention_mask, stats = self.encode(context)
        start = torch.full((len(hidden), 1), START_TOKEN_ID, device=hidden.device)
        inputs: dict[str, torch.Tensor] = {"input_ids": start}
        if self.bolt_config.seasonal_reference:
            references, features = self._seasonal_inputs(context, stats)
            embed = self.seasonal_gate.start_embedding(features.to(self.dtype))
            inputs = {"inputs_embeds": self.shared(start) + embed}
        decoded = self.decoder(
            **inputs,
            encoder_hidden_states=hidden,
            encoder_attention_mask=attention_mask,
            use_cache=False,
        ).last_hidden_state  # (B, 1, d_model)
        quantiles = self.output_patch_embedding(decoded[:, 0])  # (B, Q * H)
        quantiles = quantiles.unflatten(-1, (len(self.bolt_config.quantiles), -1))
        if self.bolt_config.seasonal_reference:
            quantiles = self.seasonal_gate(
                quantiles, self.bolt_config.quantiles, decoded[:, 0], features, references
            )
        return quantiles, stats

    @torch.compiler.disable
    @torch.no_grad()
    def _seasonal_inputs(
        self, context: torch.Tensor, stats: LocScale
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The detected-period references (B, R, H) and gate features (B, F) of the standardised
        context (chronos_pkg.bolt.seasonal); no gradient flows into them, and ``torch.compile``
        leaves them to eager mode (FFTs and a discrete search)."""
        normed, _ = standardize(context[..., -self.bolt_config.context_length :], stats)
        seasonality = detect_period(normed)
        references = seasonal_references(
            normed,
            seasonality.period,
            self.bolt_config.prediction_length,
            drift=self.seasonal_gate.num_references == MIX_REFERENCES,
        )
        observed = (~torch.isnan(normed)).sum(dim=-1)
        return references, seasonal_features(seasonality, observed)

    @torch.no_grad()
    def forecast(self, context: torch.Tensor) -> torch.Tensor:
        """Quantile forecasts (B, Q, H) in the original units, float32."""
        quantiles, stats = self(context)
        return destandardize(quantiles, stats)

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """Weights under the published names (tied embedding copies dropped, as published)."""
        state = self.state_dict()
        return {k: v.contiguous() for k, v in state.items() if k not in TIED_EMBEDDING_KEYS}

    def load_checkpoint_state(
        self, state: Mapping[str, torch.Tensor], assign: bool = False
    ) -> None:
        """Load published-format weights; extra tied or LM-head copies are accepted and ignored.

        ``assign=True`` adopts the given tensors (for a model built on the meta device).
        """
        own = {k: v for k, v in state.items() if k not in (*TIED_EMBEDDING_KEYS, "lm_head.weight")}
        additive = (
            self.bolt_config.seasonal_reference and self.bolt_config.seasonal_gate == "additive"
        )
        for keys in LATER_KEYS if additive else ():
            if not any(k in own for k in keys):
                # a gate saved before it had this part: zero, i.e. the forecasts it made
                own.update({k: torch.zeros_like(self.get_parameter(k), device="cpu") for k in keys})
        missing, unexpected = self.load_state_dict(own, strict=False, assign=assign)
        missing = [k for k in missing if k not in TIED_EMBEDDING_KEYS]
        if missing or unexpected:
            raise ValueError(
                f"checkpoint does not fit the Chronos-Bolt network: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )


def with_seasonal_reference(
    model: ChronosBoltModel, masked: bool | None = None, kind: str | None = None
) -> ChronosBoltModel:
    """A copy of ``model`` (float32, CPU) with a fresh seasonal gate of ``kind`` (default: the
    model's own, else "additive"; ``masked``: acting only where a period is found): the same
    forecasts until it trains (nearly, for "mix": chronos_pkg.bolt.seasonal.TRUST_START). A model
    that already has a gate of that kind is returned as is, switched to ``masked`` when that is
    given; a gate of another kind is replaced (the rest of the network kept)."""
    saved = model.bolt_config
    kind = kind or (saved.seasonal_gate if saved.seasonal_reference else "additive")
    if saved.seasonal_reference and saved.seasonal_gate == kind:
        if masked is not None:
            model.bolt_config = dataclasses.replace(saved, seasonal_mask=masked)
            model.seasonal_gate.masked = masked
        return model
    if masked is None:
        masked = saved.seasonal_mask
    config = dataclasses.replace(
        saved, seasonal_reference=True, seasonal_mask=bool(masked), seasonal_gate=kind
    )
    with torch.random.fork_rng(devices=[]):  # its random init is overwritten: keep the RNG
        extended = ChronosBoltModel(model.config, config)
    base = {
        k: v
        for k, v in model.float().cpu().state_dict().items()
        if not k.startswith("seasonal_gate.")
    }
    extended.load_state_dict(base, strict=False)
    extended.seasonal_gate.reset_parameters()
    return extended.train(model.training)


def pinball_loss(
    predictions: torch.Tensor, target: torch.Tensor, quantile_levels: torch.Tensor
) -> torch.Tensor:
    """The Chronos-Bolt training loss: pinball loss summed over quantiles, averaged over observed
    target steps (torch, differentiable; the benchmark's numpy metrics are in ``eval.metrics``).

    Parameters
    ----------
    predictions : (B, Q, H) quantile forecasts.
    target : (B, H') with H' <= H, NaN = missing (ignored); compared with the first H' steps.
    quantile_levels : (Q,) levels of ``predictions``.

    Returns
    -------
    Scalar: ``mean over observed (b, t) of sum_q 2 * pinball_q``. Zero when nothing is observed.
    """
    horizon = target.shape[-1]
    if horizon > predictions.shape[-1]:
        raise ValueError(f"target has {horizon} steps, the model predicts {predictions.shape[-1]}")
    predictions = predictions[..., :horizon].float()  # (B, Q, H')
    observed = ~torch.isnan(target)  # (B, H')
    error = torch.nan_to_num(target.float()).unsqueeze(1) - predictions  # (B, Q, H')
    levels = quantile_levels.view(1, -1, 1).to(error)
    pinball = torch.maximum(levels * error, (levels - 1) * error)
    total = (2 * pinball.sum(dim=1) * observed).sum()
    return total / observed.sum().clamp(min=1)
