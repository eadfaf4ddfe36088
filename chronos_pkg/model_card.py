"""What a checkpoint is, read from its files without loading the network.

``checkpoint_summary`` reads ``config.json`` and the ``model.safetensors`` header (tensor names
and shapes only), so ``chronos-pkg info`` answers instantly even for large checkpoints.
``render_model_card`` puts the checkpoint's own ``MODEL_CARD.md`` (if any) above that summary.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Any

from chronos_pkg.loading import (
    WEIGHTS_FILE,
    pipeline_class_name,
    read_checkpoint_config,
    resolve_checkpoint,
)

MODEL_CARD_FILE = "MODEL_CARD.md"
# transformers config fields worth showing, T5 first, then GPT-2 names
_SHAPE_FIELDS = (
    "d_model",
    "d_ff",
    "d_kv",
    "num_heads",
    "num_layers",
    "num_decoder_layers",
    "n_embd",
    "n_head",
    "n_layer",
    "vocab_size",
)
# top-level config keys that are transformers' own, not provenance written by our training
_HF_KEYS_HINT = (
    "chronos_config",
    "chronos_pipeline_class",
    "architectures",
    "model_type",
    "decoder_start_token_id",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "dtype",
    "torch_dtype",
    "transformers_version",
)


def safetensors_parameter_count(path: str | os.PathLike) -> int:
    """Number of values stored in a ``.safetensors`` file, read from its JSON header only."""
    path = Path(path)
    with path.open("rb") as handle:
        size_bytes = handle.read(8)
        if len(size_bytes) != 8:
            raise ValueError(f"{path} is not a safetensors file (too short)")
        (header_size,) = struct.unpack("<Q", size_bytes)
        if header_size > 100_000_000:
            raise ValueError(f"{path} is not a safetensors file (header size {header_size})")
        try:
            header = json.loads(handle.read(header_size))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not a safetensors file: {err}") from err
    return sum(
        math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__"
    )


def checkpoint_summary(path_or_id: str | os.PathLike) -> dict[str, Any]:
    """A JSON-ready description of a checkpoint: family, architecture, size and settings.

    ``path_or_id`` is anything ``from_pretrained`` accepts (directory, built-in name, hub id).
    """
    directory = resolve_checkpoint(path_or_id)
    config = read_checkpoint_config(directory)
    weights = directory / WEIGHTS_FILE
    summary: dict[str, Any] = {
        "path": str(directory),
        "pipeline": pipeline_class_name(config),
        "architecture": (config.get("architectures") or ["?"])[0],
        "transformers_model_type": config.get("model_type"),
        "parameters": safetensors_parameter_count(weights),
        "weights_mb": round(weights.stat().st_size / 2**20, 2),
        "shape": {key: config[key] for key in _SHAPE_FIELDS if key in config},
        "chronos_config": config["chronos_config"],
    }
    hf_defaults = set(_default_hf_keys(config))
    provenance = {
        key: value
        for key, value in config.items()
        if key not in hf_defaults and key not in _HF_KEYS_HINT and not key.startswith("_")
    }
    if provenance:
        summary["provenance"] = provenance
    return summary


def _default_hf_keys(config: dict[str, Any]) -> list[str]:
    """Keys a ``transformers`` config of this model type writes by itself."""
    try:
        import transformers

        config_class = transformers.AutoConfig.for_model(config.get("model_type", "t5")).__class__
        return list(config_class().to_dict())
    except (ImportError, ValueError, KeyError):  # unknown model type: show everything
        return list(config)


def _format_parameters(count: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f}{unit}"
    return str(count)


def render_model_card(path_or_id: str | os.PathLike) -> str:
    """The checkpoint's ``MODEL_CARD.md`` (when present) followed by a generated summary."""
    summary = checkpoint_summary(path_or_id)
    directory = Path(summary["path"])
    lines: list[str] = []
    card = directory / MODEL_CARD_FILE
    if card.is_file():
        lines += [card.read_text().rstrip(), ""]
    else:
        lines += [f"# {directory.name}", "", f"(no {MODEL_CARD_FILE} in {directory})", ""]
    lines += [
        "## Checkpoint summary",
        "",
        f"- path: {summary['path']}",
        f"- pipeline: {summary['pipeline']} ({summary['architecture']})",
        f"- parameters: {_format_parameters(summary['parameters'])} "
        f"({summary['parameters']:,} stored, {summary['weights_mb']} MB)",
    ]
    if summary["shape"]:
        shape = ", ".join(f"{key}={value}" for key, value in summary["shape"].items())
        lines.append(f"- network: {shape}")
    chronos = summary["chronos_config"]
    lines.append("- chronos_config: " + ", ".join(f"{k}={v}" for k, v in sorted(chronos.items())))
    for key, value in summary.get("provenance", {}).items():
        lines.append(f"- {key}: {json.dumps(value, sort_keys=True)}")
    return "\n".join(lines) + "\n"
