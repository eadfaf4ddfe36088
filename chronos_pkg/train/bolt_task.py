"""The Chronos-Bolt training task: windows -> context and target -> quantile (pinball) loss.

The network standardises each context itself (instance norm); the target is standardised with
the same statistics, so the loss is scale-free across series, and missing target steps (NaN)
are left out of it (SPEC section 8).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from chronos_pkg.bolt.checkpoint import load_bolt_model, new_bolt_model, save_bolt_checkpoint
from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.bolt.model import (
    ChronosBoltModel,
    pinball_loss,
    standardize,
    with_seasonal_reference,
)
from chronos_pkg.sizes import check_size
from chronos_pkg.train.config import ModelConfig
from chronos_pkg.train.task import TrainingTask

# model.options keys: ChronosBoltConfig fields other than the window lengths, plus augmentation
BOLT_OPTION_KEYS = (
    "input_patch_size",
    "quantiles",
    "use_reg_token",
    "seasonal_reference",
    "seasonal_mask",
    "seasonal_gate",
    "missing_augmentation",
    "target_clip",
)


class BoltTask(TrainingTask):
    """Chronos-Bolt as a :class:`TrainingTask`.

    ``model_config.options`` may set ``input_patch_size``, ``quantiles``, ``use_reg_token``,
    ``seasonal_reference`` (add the gated detected-period reference, :mod:`chronos_pkg.bolt.seasonal`;
    a checkpoint without it gains a zero gate when fine-tuned), ``seasonal_mask`` (the gate acts
    only where a period was found), ``seasonal_gate`` ("additive" or "mix"; a checkpoint with a
    gate of the other kind gets a fresh one of this kind, the rest kept), ``missing_augmentation`` (blank observations at random, default off) and ``target_clip``
    (clamp standardised targets to +/- this in the loss, default off); ``model_config.network``
    sets T5 fields (``d_model``, ``num_layers``, ``dropout_rate``...) over ``size``.
    """

    def __init__(self, model_config: ModelConfig, seed: int = 0) -> None:
        super().__init__(model_config, seed)
        options = dict(model_config.options)
        unknown = sorted(set(options) - set(BOLT_OPTION_KEYS))
        if unknown:
            raise ValueError(
                f"unknown model.options {unknown} for family 'bolt'; known: {BOLT_OPTION_KEYS}"
            )
        check_size(model_config.size, "model.size")
        if model_config.model_type != "seq2seq":
            raise ValueError(
                f"Chronos-Bolt is an encoder-decoder: model.model_type must be 'seq2seq', "
                f"got {model_config.model_type!r}"
            )
        self.uses_missing_augmentation = bool(options.pop("missing_augmentation", False))
        clip = options.pop("target_clip", None)
        if clip is not None and (
            isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0
        ):
            raise ValueError(f"model.options.target_clip must be a positive number, got {clip!r}")
        self.target_clip = None if clip is None else float(clip)
        # a gate kind only when asked for: a run from a gated checkpoint keeps its kind otherwise
        self.gate_kind = options.get("seasonal_gate")
        patch_size = options.pop("input_patch_size", 16)
        self.bolt_config = ChronosBoltConfig(
            context_length=model_config.context_length,
            prediction_length=model_config.prediction_length,
            input_patch_size=patch_size,
            input_patch_stride=patch_size,
            **options,
        )

    def build_model(self, init_from: Path | None = None) -> nn.Module:
        if init_from is None:
            network = dict(self.model_config.network)
            return new_bolt_model(
                self.bolt_config, seed=self.seed, size=self.model_config.size, **network
            ).train()
        model = load_bolt_model(init_from)
        if self.bolt_config.seasonal_reference:
            model = with_seasonal_reference(
                model, masked=self.bolt_config.seasonal_mask, kind=self.gate_kind
            )
        saved = model.bolt_config
        same_head = (saved.prediction_length, saved.quantiles, saved.input_patch_size) == (
            self.bolt_config.prediction_length,
            self.bolt_config.quantiles,
            self.bolt_config.input_patch_size,
        )
        if not same_head:
            raise ValueError(
                f"{init_from} predicts {saved.prediction_length} steps at quantiles "
                f"{saved.quantiles} from patches of {saved.input_patch_size}; this run asks for "
                f"{self.bolt_config.prediction_length} at {self.bolt_config.quantiles} from "
                f"{self.bolt_config.input_patch_size}"
            )
        # the context length is a setting, not a weight: fine-tuning may change it
        self.bolt_config = dataclasses.replace(
            saved, context_length=self.bolt_config.context_length
        )
        model.bolt_config = self.bolt_config
        return model.float().train()

    def make_batch(self, contexts: np.ndarray, futures: np.ndarray) -> dict[str, torch.Tensor]:
        context = torch.from_numpy(np.ascontiguousarray(contexts, dtype=np.float32))  # (B, C)
        target = torch.from_numpy(np.ascontiguousarray(futures, dtype=np.float32))  # (B, H)
        return {"context": context, "target": target}

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        predictions, stats = model(batch["context"])  # (B, Q, H) standardised
        target, _ = standardize(batch["target"], stats)  # same loc/scale as the context
        if self.target_clip is not None:
            # a flat context (scale ~0) followed by any change standardises to a huge target that
            # would dominate the batch's loss; the clipped target still says "far above/below"
            target = target.clamp(-self.target_clip, self.target_clip)
        levels = torch.tensor(self.bolt_config.quantiles, device=predictions.device)
        return pinball_loss(predictions, target, levels)

    def tokens_in(self, batch: dict[str, torch.Tensor]) -> int:
        batch_size, length = batch["context"].shape
        patches = math.ceil(min(length, self.context_length) / self.bolt_config.input_patch_size)
        return int(batch_size * (patches + int(self.bolt_config.use_reg_token)))

    def save(self, model: nn.Module, directory: Path, provenance: dict[str, Any]) -> Path:
        if not isinstance(model, ChronosBoltModel):
            raise TypeError(f"expected the unwrapped ChronosBoltModel, got {type(model).__name__}")
        return save_bolt_checkpoint(model, directory, extra={"chronos_training": provenance})
