"""Execute every notebook under ``notebooks/`` on the CPU so they cannot rot.

Each notebook runs in a fresh kernel from the ``notebooks/`` folder with
``CHRONOS_PKG_MODEL`` pointing at the tiny random test checkpoint (so no built-in model or network
is needed) and a per-notebook time limit. Deselect with ``-m "not notebook"``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def test_notebooks_exist():
    names = [p.name for p in NOTEBOOKS]
    assert names[:3] == [
        "01_quickstart.ipynb",
        "02_pretrain_micro.ipynb",
        "03_evaluate_two_datasets.ipynb",
    ]


def execute(path: Path, model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the notebook at ``path`` in a fresh kernel with ``CHRONOS_PKG_MODEL=model``."""
    monkeypatch.setenv("CHRONOS_PKG_MODEL", str(model))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # the kernel starts in notebooks/: make it import this checkout's chronos_pkg, not another
    # installed copy (an editable install of a different checkout, say)
    paths = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    # one thread per kernel: tiny models gain nothing from more, and a busy CPU loses a lot
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [o for cell in code_cells for o in cell.outputs if o.output_type == "error"]
    assert not errors
    assert all(cell.execution_count for cell in code_cells)  # every code cell ran


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tiny_seq2seq_dir: Path, monkeypatch: pytest.MonkeyPatch):
    execute(path, tiny_seq2seq_dir, monkeypatch)


@pytest.mark.slow
@pytest.mark.notebook
def test_quickstart_runs_with_a_bolt_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The quickstart must work whichever family the built-in model is."""
    from chronos_pkg.bolt.checkpoint import new_bolt_model, save_bolt_checkpoint
    from chronos_pkg.bolt.config import ChronosBoltConfig

    network = {"d_model": 16, "d_ff": 32, "d_kv": 8, "num_heads": 2, "num_layers": 1}
    model = new_bolt_model(ChronosBoltConfig(context_length=64, prediction_length=8), **network)
    execute(
        NOTEBOOKS_DIR / "01_quickstart.ipynb", save_bolt_checkpoint(model, tmp_path), monkeypatch
    )
