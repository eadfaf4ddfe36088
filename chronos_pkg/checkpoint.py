"""Building, saving and loading the ``transformers`` network of a Chronos-T5 checkpoint.

Used by the pipeline (load/save) and by training (random init, final checkpoint), so a
checkpoint written by either is the published format: a T5 (or causal LM) ``config.json`` with a
``chronos_config`` block, and ``model.safetensors``.
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

from chronos_pkg.config import ChronosConfig
from chronos_pkg.loading import CONFIG_FILE, WEIGHTS_FILE

# Chronos-T5 shapes (SPEC section 1); all use relu feed-forward, d_kv 64, tied embeddings.
T5_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"d_model": 256, "d_ff": 1024, "num_heads": 4, "num_layers": 4},
    "mini": {"d_model": 384, "d_ff": 1536, "num_heads": 8, "num_layers": 4},
    "small": {"d_model": 512, "d_ff": 2048, "num_heads": 8, "num_layers": 6},
    "base": {"d_model": 768, "d_ff": 3072, "num_heads": 12, "num_layers": 12},
    "large": {"d_model": 1024, "d_ff": 4096, "num_heads": 16, "num_layers": 24},
}


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
    size = kwargs.pop("size", None)
    ids = {
        "vocab_size": chronos_config.n_tokens,
        "pad_token_id": chronos_config.pad_token_id,
        "eos_token_id": chronos_config.eos_token_id,
    }
    if chronos_config.model_type == "seq2seq":
        shape = dict(T5_SIZES[size]) if size is not None else {}
        if size is not None and size not in T5_SIZES:
            raise ValueError(f"unknown T5 size {size!r}; known: {sorted(T5_SIZES)}")
        shape.update(kwargs)
        shape.setdefault("num_decoder_layers", shape.get("num_layers", 6))
        return transformers.T5Config(
            d_kv=shape.pop("d_kv", 64),
            feed_forward_proj=shape.pop("feed_forward_proj", "relu"),
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
    config_path = directory / CONFIG_FILE
    config = json.loads(config_path.read_text())
    config["chronos_config"] = chronos_config.to_dict()
    config["chronos_pipeline_class"] = "ChronosPipeline"
    config.update(extra or {})
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
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
        kwargs["dtype"] = (
            getattr(torch, torch_dtype) if isinstance(torch_dtype, str) else torch_dtype
        )
    with _no_progress_bars():
        model = auto.from_pretrained(directory, **kwargs)
    if device_map is not None:
        model = model.to(resolve_device(device_map))
    return model.eval()


def resolve_device(device_map: str | torch.device) -> torch.device:
    """A torch device from a user's ``device_map``; ``"auto"`` picks CUDA when present."""
    if isinstance(device_map, str) and device_map == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device_map)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device_map!r}") from err
