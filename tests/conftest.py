"""Shared test fixtures: tiny random checkpoints (~100 KB) and the optional shared data folder.

The checkpoints are built once per test session with the library's own code path
(``checkpoint.new_hf_model`` + ``checkpoint.save_checkpoint``), so they are the published format.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from chronos_pkg.t5.checkpoint import new_hf_model, save_checkpoint
from chronos_pkg.t5.config import ChronosConfig

# Test models are tiny: intra-op threads only add synchronisation cost (100x slower on a busy
# 2-core machine), so every test runs single-threaded.
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
TINY_T5_DIR = FIXTURES_DIR / "tiny-t5"  # checked-in golden checkpoint (make_tiny_checkpoint.py)

# small enough to run in milliseconds; n_tokens stays at the published 4096 so the bins are real
TINY_CHRONOS_KWARGS = {"context_length": 32, "prediction_length": 8, "num_samples": 10}
TINY_T5_KWARGS = {
    "d_model": 6,
    "d_ff": 12,
    "d_kv": 4,
    "num_heads": 2,
    "num_layers": 1,
    "relative_attention_num_buckets": 8,
    "initializer_factor": 5.0,  # larger weights: greedy paths that vary with the context
}
TINY_GPT2_KWARGS = {"n_embd": 6, "n_head": 2, "n_layer": 1, "initializer_range": 0.5}


@pytest.fixture(scope="session")
def tiny_chronos_config() -> ChronosConfig:
    """The ``ChronosConfig`` of ``tiny_seq2seq_dir`` (context 32, horizon 8, 10 samples)."""
    return ChronosConfig(**TINY_CHRONOS_KWARGS)


@pytest.fixture(scope="session")
def tiny_seq2seq_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 1+1-layer T5 Chronos checkpoint directory (config.json + model.safetensors)."""
    config = ChronosConfig(**TINY_CHRONOS_KWARGS)
    model = new_hf_model(config, seed=0, **TINY_T5_KWARGS)
    return save_checkpoint(model, config, tmp_path_factory.mktemp("tiny-seq2seq"))


@pytest.fixture(scope="session")
def tiny_causal_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 1-layer GPT-2 (``model_type: causal``) Chronos checkpoint directory."""
    config = ChronosConfig(model_type="causal", **TINY_CHRONOS_KWARGS)
    model = new_hf_model(config, seed=0, **TINY_GPT2_KWARGS)
    return save_checkpoint(model, config, tmp_path_factory.mktemp("tiny-causal"))


@pytest.fixture(scope="session")
def tiny_t5_dir() -> Path:
    """The checked-in tiny checkpoint used for golden values (``tests/fixtures/tiny-t5``)."""
    if not (TINY_T5_DIR / "model.safetensors").is_file():
        pytest.skip("tests/fixtures/tiny-t5 is missing; run tests/fixtures/make_tiny_checkpoint.py")
    return TINY_T5_DIR


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``$CHRONOS_PKG_DATA_DIR`` or ``<repo>/../shared/data``; skips the test when absent."""
    env = os.environ.get("CHRONOS_PKG_DATA_DIR")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path}")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded NumPy generator for each test."""
    return np.random.default_rng(1234)


@pytest.fixture
def one_thread():
    """Tiny matmuls run faster on one thread than on two busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
