"""Building, saving and loading the network of a Chronos-Bolt checkpoint.

The published format: ``config.json`` (a T5 config with ``architectures:
["ChronosBoltModelForForecasting"]`` and a ``chronos_config`` block) and ``model.safetensors``.
Mirrors :mod:`chronos_pkg.t5.checkpoint`; the file format, sizes, devices and dtypes they share
live in :mod:`chronos_pkg.loading`, :mod:`chronos_pkg.sizes` and :mod:`chronos_pkg.devices`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import T5Config

from chronos_pkg.bolt.config import ChronosBoltConfig
from chronos_pkg.bolt.model import ChronosBoltModel
from chronos_pkg.devices import resolve_device, resolve_dtype
from chronos_pkg.loading import (
    WEIGHTS_FILE,
    network_config,
    read_checkpoint_config,
    write_checkpoint_config,
)
from chronos_pkg.sizes import t5_shape

PIPELINE_CLASS = "ChronosBoltPipeline"  # its name in base.PIPELINE_MODULES and in config.json


def new_bolt_model(
    bolt_config: ChronosBoltConfig, seed: int = 0, size: str | None = None, **network: Any
) -> ChronosBoltModel:
    """A randomly initialised Chronos-Bolt network (float32, CPU, seeded).

    ``size`` is a key of ``sizes.T5_SIZES`` (tiny, mini, small, base: the published Bolt
    shapes); ``network`` holds explicit T5 config fields (``d_model``, ``num_layers``,
    ``dropout_rate``...) that override it.
    """
    shape = t5_shape(size, network, "Bolt size")
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
    network = model.config.to_dict()
    network["dtype"] = str(model.dtype).removeprefix("torch.")
    state = {k: v.detach().cpu() for k, v in model.checkpoint_state().items()}
    save_file(state, directory / WEIGHTS_FILE, metadata={"format": "pt"})
    write_checkpoint_config(directory, network, model.bolt_config.to_dict(), PIPELINE_CLASS, extra)
    return directory


def load_bolt_model(
    directory: str | os.PathLike,
    config: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
) -> ChronosBoltModel:
    """The network of a Chronos-Bolt checkpoint directory, in eval mode.

    Without ``dtype`` the stored dtype is kept, except that bfloat16 weights run in float32 on
    the CPU. ``config`` is the parsed ``config.json`` (read from ``directory`` when omitted).
    """
    directory = Path(directory)
    if config is None:
        config = read_checkpoint_config(directory)
    bolt_config = ChronosBoltConfig.from_dict(config["chronos_config"])
    hf_config = T5Config.from_dict(network_config(config))
    with torch.device("meta"):  # no wasted random init: every weight comes from the file
        model = ChronosBoltModel(hf_config, bolt_config)
    model.load_checkpoint_state(load_file(directory / WEIGHTS_FILE), assign=True)
    dtype = resolve_dtype(dtype)
    device = None if device is None else resolve_device(device)
    on_cpu = device is None or device.type == "cpu"
    if dtype is None and on_cpu and model.dtype == torch.bfloat16:
        # bfloat16 is a storage format (the built-in model's wheel size); CPU matmuls in it are
        # slow where the CPU has no native support and cost accuracy, so compute in float32
        dtype = torch.float32
    return model.to(device=device, dtype=dtype).eval()
