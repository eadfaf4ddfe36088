"""One reading of device and dtype settings for the pipelines, the CLI, training and KernelSynth."""

from __future__ import annotations

import pytest
import torch

from chronos_pkg.devices import resolve_device, resolve_dtype


def test_auto_is_the_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("auto", cuda_index=3) == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_auto_and_bare_cuda_take_this_process_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("auto", cuda_index=1) == torch.device("cuda", 1)
    assert resolve_device("cuda", cuda_index=1) == torch.device("cuda", 1)
    assert resolve_device("cuda:0", cuda_index=1) == torch.device("cuda", 0)


def test_cuda_without_a_gpu_and_unknown_names_are_value_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="sees no CUDA device.*'cpu'"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")


def test_dtypes_by_name():
    assert resolve_dtype(None) is None
    assert resolve_dtype("bfloat16") is torch.bfloat16
    assert resolve_dtype(torch.float16) is torch.float16
    for bad in ("float33", "nn"):
        with pytest.raises(ValueError, match="unknown torch dtype"):
            resolve_dtype(bad)
