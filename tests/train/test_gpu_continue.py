"""training/gpu_continue.sh: valid bash, and every override it passes is a real config key."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chronos_pkg.train.config import load_train_config

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "training" / "gpu_continue.sh"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_script_parses() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_overrides_are_config_keys() -> None:
    text = "\n".join(line for line in SCRIPT.read_text().splitlines() if not line.startswith("#"))
    keys = sorted(set(re.findall(r"--((?:trainer|data|model)\.[a-z_]+)", text)))
    assert {"trainer.batch_size", "trainer.max_steps", "trainer.max_minutes"} <= set(keys)
    overrides = [f"{key}=1" for key in keys if key not in ("trainer.device", "trainer.compile")]
    overrides += ["trainer.progress_bar=false", "trainer.compile=false", "trainer.device=auto"]
    overrides = [o for o in overrides if not o.startswith("trainer.progress_bar=1")]
    overrides = [o for o in overrides if not o.startswith("trainer.compile=1")]
    config = load_train_config(REPO_ROOT / "training" / "configs" / "default.yaml", overrides)
    assert config.trainer.batch_size == 1 and config.trainer.max_minutes == 1
    assert config.trainer.init_from == "chronos_pkg/models/default"
