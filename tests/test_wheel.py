"""Build the wheel, install it away from the source tree and forecast with it offline.

The wheel is built from a copy of the package sources with ``--no-build-isolation --no-index``
(no network), installed with ``pip install --target`` (no dependencies: they come from the
running environment) and used from a directory outside the repository with
``HF_HUB_OFFLINE=1``, so the tests see exactly what a pip user gets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from chronos_pkg.loading import BUILTIN_MODELS, bundled_models

pytestmark = [pytest.mark.slow, pytest.mark.wheel]

setuptools = pytest.importorskip("setuptools", reason="building the wheel needs setuptools")
if tuple(int(p) for p in setuptools.__version__.split(".")[:2]) < (70, 1):
    pytest.importorskip("wheel", reason="setuptools < 70.1 needs the wheel package to build wheels")

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FILES = ("pyproject.toml", "README.md")
EXAMPLE_CSV = REPO_ROOT / "examples" / "hourly_demand.csv"


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{args}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def build_wheel(
    destination: Path, source: Path, extra_models: dict[str, Path] | None = None
) -> Path:
    """Copy the package sources to ``source`` (plus ``extra_models`` as built-in models), build."""
    for name in PACKAGE_FILES:
        shutil.copy2(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "chronos_pkg",
        source / "chronos_pkg",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    for name, checkpoint in (extra_models or {}).items():
        shutil.copytree(checkpoint, source / "chronos_pkg" / "models" / name, dirs_exist_ok=True)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "-w", str(destination), str(source)]
    )  # fmt: skip
    wheels = list(destination.glob("chronos_pkg-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def install_wheel(wheel: Path, target: Path) -> Path:
    _run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--target", str(target), str(wheel)]
    )  # fmt: skip
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_wheel(wheel, tmp_path_factory.mktemp("site"))


def _env(site: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(site)  # ahead of the editable install of the source tree
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")
    return env


def test_wheel_contents(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "chronos_pkg/__init__.py",
        "chronos_pkg/cli.py",
        "chronos_pkg/py.typed",
        "chronos_pkg/data/benchmark.csv",
    ):
        assert expected in names
    assert not any(name.startswith(("tests/", "examples/", "notebooks/")) for name in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert (
        "chronos-pkg = chronos_pkg.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    )
    for name in bundled_models():
        for file in ("config.json", "model.safetensors"):
            assert f"chronos_pkg/models/{name}/{file}" in names


def test_installed_wheel_forecasts_offline(installed: Path, tiny_seq2seq_dir: Path, tmp_path: Path):
    env = _env(installed)
    where = _run(
        [sys.executable, "-c", "import chronos_pkg; print(chronos_pkg.__file__)"],
        env=env,
        cwd=tmp_path,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed)

    output = tmp_path / "forecast.csv"
    script = installed / "bin" / "chronos-pkg"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "chronos_pkg"]
    _run(
        [*command, "forecast", str(EXAMPLE_CSV), "-H", "4", "--model", str(tiny_seq2seq_dir),
         "--device", "cpu", "-o", str(output)],
        env=env, cwd=tmp_path,
    )  # fmt: skip
    forecast = pd.read_csv(output)
    assert len(forecast) == 4 * 4 and {"predictions", "0.1", "0.9"} <= set(forecast.columns)


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_builtin_model_in_wheel_forecasts_offline(name: str, installed: Path, tmp_path: Path):
    if name not in bundled_models():
        pytest.skip(f"no built-in model {name!r} is bundled in chronos_pkg/models/ yet")
    output = tmp_path / "forecast.csv"
    _run(
        [sys.executable, "-m", "chronos_pkg", "forecast", str(EXAMPLE_CSV), "-H", "8",
         "--model", name, "--device", "cpu", "-o", str(output)],
        env=_env(installed), cwd=tmp_path,
    )  # fmt: skip
    forecast = pd.read_csv(output)
    assert len(forecast) == 4 * 8 and forecast["predictions"].notna().all()
    info = _run(
        [sys.executable, "-m", "chronos_pkg", "info", name],
        env=_env(installed),
        cwd=tmp_path,
    )
    assert str(installed) in info.stdout  # the model card is read from the installed wheel


def test_bundled_model_files_ship_in_the_wheel(tiny_seq2seq_dir: Path, tmp_path: Path):
    """The package-data rules carry a built-in model: stand the tiny checkpoint in as one."""
    card = tmp_path / "card"
    card.mkdir()
    shutil.copytree(tiny_seq2seq_dir, card, dirs_exist_ok=True)
    (card / "MODEL_CARD.md").write_text("# stand-in default\n\nA tiny random test checkpoint.\n")
    (tmp_path / "source").mkdir()
    wheel = build_wheel(tmp_path / "dist", tmp_path / "source", {"default": card})
    names = set(zipfile.ZipFile(wheel).namelist())
    for file in ("config.json", "model.safetensors", "MODEL_CARD.md"):
        assert f"chronos_pkg/models/default/{file}" in names

    site = install_wheel(wheel, tmp_path / "site")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    output = run_dir / "forecast.csv"
    _run(
        [sys.executable, "-m", "chronos_pkg", "forecast", str(EXAMPLE_CSV), "-H", "4",
         "--device", "cpu", "-o", str(output)],  # --model default is the default
        env=_env(site), cwd=run_dir,
    )  # fmt: skip
    assert len(pd.read_csv(output)) == 4 * 4
    info = _run([sys.executable, "-m", "chronos_pkg", "info"], env=_env(site), cwd=run_dir)
    assert info.stdout.startswith("# stand-in default") and str(site) in info.stdout
