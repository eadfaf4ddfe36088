"""The Chronos-T5 training task: windows -> tokens -> the network's cross-entropy (SPEC 2, 4).

Seq2seq: the encoder reads the tokenized context (EOS appended), the labels are the future
tokenized at the context's scale (EOS appended, missing steps = ``IGNORE_INDEX``), and
``transformers`` shifts them right behind the pad token to feed the decoder.
Causal (decoder-only): context and future tokens form one sequence with the loss on every
observed position; the left padding of short contexts is moved to the right end, because GPT-2
style absolute position embeddings should see the series start at position 0.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from chronos_pkg.loading import read_checkpoint_config
from chronos_pkg.sizes import check_size
from chronos_pkg.t5.checkpoint import load_hf_model, new_hf_model, save_checkpoint
from chronos_pkg.t5.config import ChronosConfig
from chronos_pkg.t5.tokenizer import IGNORE_INDEX, MeanScaleUniformBins
from chronos_pkg.train.config import ModelConfig
from chronos_pkg.train.task import TrainingTask

CHRONOS_OPTION_KEYS = (
    "n_tokens",
    "tokenizer_kwargs",
    "use_eos_token",
    "num_samples",
    "temperature",
    "top_k",
    "top_p",
)


class T5Task(TrainingTask):
    """Chronos-T5 (and its decoder-only variant) as a :class:`TrainingTask`.

    ``model_config.options`` may set ``ChronosConfig`` fields (``n_tokens``,
    ``tokenizer_kwargs``, ``num_samples``...); ``model_config.network`` sets ``transformers``
    config fields (``d_model``, ``num_layers``... or GPT-2's ``n_embd``...) over ``size``.
    """

    def __init__(self, model_config: ModelConfig, seed: int = 0) -> None:
        super().__init__(model_config, seed)
        unknown = sorted(set(model_config.options) - set(CHRONOS_OPTION_KEYS))
        if unknown:
            raise ValueError(
                f"unknown model.options {unknown} for family 't5'; known: {CHRONOS_OPTION_KEYS}"
            )
        check_size(model_config.size, "model.size")
        self.chronos_config = ChronosConfig(
            model_type=model_config.model_type,
            context_length=model_config.context_length,
            prediction_length=model_config.prediction_length,
            **model_config.options,
        )
        self.tokenizer = MeanScaleUniformBins(self.chronos_config)
        self.uses_missing_augmentation = self.chronos_config.model_type == "seq2seq"

    def _adopt_checkpoint_config(self, directory: Path) -> None:
        """Use a fine-tuned checkpoint's tokenizer settings with this run's window lengths."""
        saved = ChronosConfig.from_dict(read_checkpoint_config(directory)["chronos_config"])
        if saved.model_type != self.chronos_config.model_type:
            raise ValueError(
                f"{directory} is a {saved.model_type} checkpoint but model.model_type is "
                f"{self.chronos_config.model_type!r}"
            )
        self.chronos_config = dataclasses.replace(
            saved,
            context_length=self.chronos_config.context_length,
            prediction_length=self.chronos_config.prediction_length,
        )
        self.tokenizer = MeanScaleUniformBins(self.chronos_config)

    def build_model(self, init_from: Path | None = None) -> nn.Module:
        if init_from is not None:
            self._adopt_checkpoint_config(Path(init_from))
            model = load_hf_model(init_from, self.chronos_config)
            return model.train()
        kwargs: dict[str, Any] = dict(self.model_config.network)
        if self.model_config.size is not None:
            kwargs["size"] = self.model_config.size
        try:
            model = new_hf_model(self.chronos_config, seed=self.seed, **kwargs)
        except TypeError as err:
            raise ValueError(
                f"bad model.network settings {self.model_config.network}: {err}"
            ) from err
        return model.train()

    def make_batch(self, contexts: np.ndarray, futures: np.ndarray) -> dict[str, torch.Tensor]:
        context = torch.from_numpy(np.ascontiguousarray(contexts, dtype=np.float32))  # (B, C)
        future = torch.from_numpy(np.ascontiguousarray(futures, dtype=np.float32))  # (B, H)
        input_ids, attention_mask, scale = self.tokenizer.context_input_transform(context)
        labels, labels_mask = self.tokenizer.label_input_transform(future, scale)
        if self.chronos_config.model_type == "seq2seq":
            return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        return self._causal_batch(input_ids, attention_mask, labels, labels_mask)

    def _causal_batch(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
        labels_mask: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        pad = self.chronos_config.pad_token_id
        ids = torch.cat([input_ids, torch.where(labels_mask, labels, pad)], dim=-1)  # (B, C + H)
        mask = torch.cat([attention_mask, labels_mask], dim=-1)
        # number of leading padded steps (series shorter than the context)
        leading = (mask.cumsum(-1) == 0).sum(-1)
        positions = (torch.arange(ids.shape[-1]) + leading.unsqueeze(-1)) % ids.shape[-1]
        ids, mask = ids.gather(-1, positions), mask.gather(-1, positions)
        targets = torch.where(mask, ids, torch.full_like(ids, IGNORE_INDEX))
        return {"input_ids": ids, "attention_mask": mask.long(), "labels": targets}

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(**batch).loss

    def tokens_in(self, batch: dict[str, torch.Tensor]) -> int:
        tokens = batch["input_ids"].numel()
        if self.chronos_config.model_type == "seq2seq":
            tokens += batch["labels"].numel()
        return int(tokens)

    def save(self, model: nn.Module, directory: Path, provenance: dict[str, Any]) -> Path:
        return save_checkpoint(
            model, self.chronos_config, directory, extra={"chronos_training": provenance}
        )
