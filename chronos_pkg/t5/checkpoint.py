"""Building, saving and loading the ``transformers`` network of a Chronos-T5 checkpoint.

Used by the pipeline (load/save) and by training (random init, final checkpoint), so a
checkpoint written by either is the published format: a T5 (or causal LM) ``config.json`` with a
``chronos_config`` block, and ``model.safetensors``. The file format itself (``config.json``
keys, device and dtype settings, sizes) is shared with Chronos-Bolt and lives in
:mod:`chronos_pkg.loading`, :mod:`chronos_pkg.devices` and :mod:`chronos_pkg.sizes`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import transformers

from chronos_pkg.devices import resolve_device, resolve_dtype
from chronos_pkg.loading import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    read_checkpoint_config,
    write_checkpoint_config,
)
from chronos_pkg.sizes import T5_SIZES, check_size, t5_shape
from chronos_pkg.t5.config import ChronosConfig
from chronos_pkg.t5.model import ChronosModel

PIPELINE_CLASS = "ChronosPipeline"  # its name in base.PIPELINE_MODULES and in config.json


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Hide transformers' per-call "Loading weights" / "Writing model shards" bars."""
    was_enabled = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers.utils.logging.enable_progress_bar()


def new_hf_config(
    chronos_config: ChronosConfig, **model_kwargs: Any
) -> transformers.PretrainedConfig:
    """A ``transformers`` config for a fresh network matching ``chronos_config``.

    ``model_kwargs`` may hold ``size`` (a key of ``T5_SIZES``) and/or explicit T5 (seq2seq) or
    GPT-2 (causal) config fields such as ``d_model`` or ``n_layer``.
    """
    kwargs = dict(model_kwargs)
    size = check_size(kwargs.pop("size", None), "T5 size")
    ids = {
        "vocab_size": chronos_config.n_tokens,
        "pad_token_id": chronos_config.pad_token_id,
        "eos_token_id": chronos_config.eos_token_id,
    }
    if chronos_config.model_type == "seq2seq":
        shape = t5_shape(size, kwargs)
        return transformers.T5Config(
            tie_word_embeddings=shape.pop("tie_word_embeddings", True),
            decoder_start_token_id=chronos_config.pad_token_id,
            architectures=["T5ForConditionalGeneration"],
            **ids,
            **shape,
        )
    if size is not None:
        base = T5_SIZES[size]
        kwargs = {
            "n_embd": base["d_model"],
            "n_head": base["num_heads"],
            "n_layer": base["num_layers"],
            **kwargs,
        }
    return transformers.GPT2Config(
        n_positions=kwargs.pop(
            "n_positions", chronos_config.context_length + chronos_config.prediction_length + 8
        ),
        bos_token_id=chronos_config.pad_token_id,
        architectures=["GPT2LMHeadModel"],
        **ids,
        **kwargs,
    )


def new_hf_model(
    chronos_config: ChronosConfig, seed: int = 0, **model_kwargs: Any
) -> transformers.PreTrainedModel:
    """A randomly initialised network for ``chronos_config`` (seeded, so tests are repeatable)."""
    hf_config = new_hf_config(chronos_config, **model_kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if chronos_config.model_type == "seq2seq":
            return transformers.T5ForConditionalGeneration(hf_config)
        return transformers.AutoModelForCausalLM.from_config(hf_config)


def save_checkpoint(
    model: transformers.PreTrainedModel,
    chronos_config: ChronosConfig,
    directory: str | os.PathLike,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``config.json`` (with ``chronos_config``) and ``model.safetensors`` to ``directory``.

    ``extra`` entries (e.g. training provenance) are added at the top level of ``config.json``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with _no_progress_bars():
        model.save_pretrained(directory, safe_serialization=True)
    network = json.loads((directory / CONFIG_FILE).read_text())
    write_checkpoint_config(directory, network, chronos_config.to_dict(), PIPELINE_CLASS, extra)
    if not (directory / WEIGHTS_FILE).is_file():  # pragma: no cover - transformers contract
        raise RuntimeError(f"transformers did not write {WEIGHTS_FILE} in {directory}")
    return directory


def load_hf_model(
    directory: str | os.PathLike,
    chronos_config: ChronosConfig,
    device_map: str | torch.device | None = None,
    torch_dtype: torch.dtype | str | None = None,
) -> transformers.PreTrainedModel:
    """Load the network of a checkpoint directory from safetensors only."""
    auto = (
        transformers.AutoModelForSeq2SeqLM
        if chronos_config.model_type == "seq2seq"
        else transformers.AutoModelForCausalLM
    )
    kwargs: dict[str, Any] = {"use_safetensors": True}
    if torch_dtype is not None:
        kwargs["dtype"] = resolve_dtype(torch_dtype)
    with _no_progress_bars():
        model = auto.from_pretrained(directory, **kwargs)
    if device_map is not None:
        model = model.to(resolve_device(device_map))
    return model.eval()


def load_chronos_model(
    directory: str | os.PathLike,
    config: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
) -> ChronosModel:
    """The network of a Chronos-T5 checkpoint directory with its ``chronos_config``, in eval
    mode (``config`` is the parsed ``config.json``, read when omitted)."""
    if config is None:
        config = read_checkpoint_config(Path(directory))
    chronos_config = ChronosConfig.from_dict(config["chronos_config"])
    network = load_hf_model(directory, chronos_config, device_map=device, torch_dtype=dtype)
    return ChronosModel(chronos_config, network)
