"""Checkpoint files: finding them (local directories, built-in models, Hugging Face hub ids),
reading and writing their ``config.json``.

Shared by every model family so the loading branches and the file format are written once. A
checkpoint is ``config.json`` (the network's ``transformers`` config plus this package's own
keys, :data:`OWN_KEYS`) and ``model.safetensors``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

BUILTIN_MODELS_DIR = Path(__file__).parent / "models"
# "default": Chronos-Bolt pretrained by this repo on a 2-core CPU (training/configs/default.yaml).
# Best first: without a name, from_pretrained() loads the first one this installation bundles.
# (The first CPU-trained T5, "cpu-preview", was retired once "default" beat it; its record is in
# training/results/cpu-preview/.)
BUILTIN_MODELS = ("default",)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
# top-level config.json keys that are ours, not the network config's
OWN_KEYS = ("chronos_config", "chronos_pipeline_class")


def bundled_models() -> list[str]:
    """Names of the built-in models whose files are present in this installation."""
    return [
        name
        for name in BUILTIN_MODELS
        if (BUILTIN_MODELS_DIR / name / CONFIG_FILE).is_file()
        and (BUILTIN_MODELS_DIR / name / WEIGHTS_FILE).is_file()
    ]


DEFAULT_MODEL = "default"


def default_model() -> str:
    """The built-in model used when none is named: ``default`` when bundled, else the first
    bundled one in the order of :data:`BUILTIN_MODELS` (best first)."""
    bundled = bundled_models()
    if not bundled:
        raise FileNotFoundError(
            "no built-in model is bundled in this installation of chronos_pkg; "
            "pass a checkpoint directory or a hub id"
        )
    return DEFAULT_MODEL if DEFAULT_MODEL in bundled else bundled[0]


def builtin_model_path(name: str) -> Path:
    """Directory of a model shipped inside the package (one of ``BUILTIN_MODELS``)."""
    if name not in bundled_models():
        available = ", ".join(bundled_models()) or "none"
        raise FileNotFoundError(
            f"the built-in model {name!r} is not bundled in this installation of chronos_pkg "
            f"(bundled: {available}); pass a bundled name, a checkpoint directory or a hub id"
        )
    return BUILTIN_MODELS_DIR / name


def resolve_checkpoint(path_or_id: str | os.PathLike, **hub_kwargs: Any) -> Path:
    """Local directory of a checkpoint: an existing directory, a built-in name, or a hub id.

    Hub ids go through ``huggingface_hub.snapshot_download`` (config and safetensors only),
    which honours ``HF_HUB_OFFLINE`` and the local cache.
    """
    name = os.fspath(path_or_id)
    if name in BUILTIN_MODELS:
        return builtin_model_path(name)
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{path} is a file; a checkpoint is a directory with {CONFIG_FILE}")
        return path
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        raise FileNotFoundError(f"no checkpoint directory at {name!r} (and it is not a hub id)")
    from huggingface_hub import snapshot_download

    logger.info("fetching %s from the Hugging Face hub", name)
    patterns = ["*.json", "*.safetensors"]
    return Path(snapshot_download(repo_id=name, allow_patterns=patterns, **hub_kwargs))


def read_checkpoint_config(directory: Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint, checked to be a Chronos checkpoint."""
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise ValueError(f"{directory} is not a Chronos checkpoint: no {CONFIG_FILE}")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"unreadable checkpoint config {config_path}: {err}") from err
    if not isinstance(config, dict) or "chronos_config" not in config:
        raise ValueError(
            f"{directory} is not a Chronos checkpoint: {CONFIG_FILE} has no 'chronos_config'"
        )
    if not (directory / WEIGHTS_FILE).is_file():
        pickled = [p.name for p in directory.glob("*.bin")] + [
            p.name for p in directory.glob("*.pt")
        ]
        hint = (
            f" (found {pickled}; pickled weights are not loaded, convert to safetensors)"
            if pickled
            else ""
        )
        raise ValueError(f"{directory} has no {WEIGHTS_FILE}{hint}")
    return config


def pipeline_class_name(config: dict[str, Any]) -> str:
    """Which pipeline a checkpoint config asks for (T5 checkpoints may omit the field)."""
    name = config.get("chronos_pipeline_class")
    if name is None:
        architectures = config.get("architectures") or []
        name = (
            "ChronosBoltPipeline"
            if "ChronosBoltModelForForecasting" in architectures
            else "ChronosPipeline"
        )
    return name


def network_config(config: dict[str, Any]) -> dict[str, Any]:
    """The ``transformers`` part of a parsed ``config.json`` (without :data:`OWN_KEYS`)."""
    return {k: v for k, v in config.items() if k not in OWN_KEYS}


def write_checkpoint_config(
    directory: Path,
    network: dict[str, Any],
    chronos_config: dict[str, Any],
    pipeline_class: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``config.json``: the ``network`` config with ``chronos_config``, the pipeline class
    name (a key of ``base.PIPELINE_MODULES``) and ``extra`` top-level entries (e.g. training
    provenance); keys sorted, so equal configs give equal files."""
    config = {**network, "chronos_config": chronos_config, "chronos_pipeline_class": pipeline_class}
    config.update(extra or {})
    return write_config_file(directory, config)


def write_config_file(directory: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as the ``config.json`` of ``directory``, keys sorted (equal configs give
    equal files); the one place that decides the file's layout."""
    path = Path(directory) / CONFIG_FILE
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return path
