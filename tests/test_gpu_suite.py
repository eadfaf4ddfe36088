"""benchmarks/gpu_suite.sh --dry-run: the GPU suite's every part, on the CPU with tiny sizes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PARTS = ("inference_t5", "inference_bolt", "kernel_synth", "training", "benchmark")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils timeout")
def test_dry_run_runs_every_part_and_records_it(tmp_path: Path) -> None:
    pytest.importorskip("chronos")  # the published package, for the side-by-side parts
    # the scripts run from benchmarks/: make them import this checkout's chronos_pkg
    paths = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.pop("CHRONOS_PKG_DATA_DIR", None)
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "benchmarks" / "gpu_suite.sh"), "--dry-run", "--out",
         str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    suite = json.loads((tmp_path / "suite.json").read_text())
    assert suite["device"] == "cpu" and suite["all_passed"]
    assert set(suite["parts"]) == set(PARTS)
    for name, part in suite["parts"].items():
        assert part["exit_status"] == 0 and 0 < part["seconds"] < 60, name
        assert (tmp_path / part["result"]).is_file(), name
    for name in ("inference_t5", "inference_bolt", "kernel_synth", "training"):
        assert json.loads((tmp_path / f"{name}.json").read_text())["machine"]
