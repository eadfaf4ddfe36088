"""The package as a whole: public API, old import paths, one name per meaning, no dead loggers."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import chronos_pkg
from chronos_pkg.base import PIPELINE_MODULES, pipeline_class
from chronos_pkg.inputs import DEFAULT_QUANTILE_LEVELS

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO_ROOT / "chronos_pkg"
# names several modules define on purpose, with one meaning: command entry points, the family
# modules' registry names (t5/ and bolt/ mirror each other), the train() re-export, loggers
SHARED_NAMES = {"main", "train", "PIPELINE_CLASS", "logger"}


def _modules() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_public_api_resolves_to_the_family_modules():
    for name in chronos_pkg.__all__:
        assert getattr(chronos_pkg, name) is not None, name
    from chronos_pkg.bolt.pipeline import ChronosBoltPipeline
    from chronos_pkg.t5.pipeline import ChronosPipeline

    assert chronos_pkg.ChronosPipeline is ChronosPipeline
    assert chronos_pkg.ChronosBoltPipeline is ChronosBoltPipeline
    with pytest.raises(AttributeError):
        _ = chronos_pkg.NoSuchThing


def test_registry_names_are_the_checkpoint_format():
    """``chronos_pipeline_class`` values in saved config.json files must keep loading."""
    from chronos_pkg.bolt import checkpoint as bolt_checkpoint
    from chronos_pkg.t5 import checkpoint as t5_checkpoint

    assert set(PIPELINE_MODULES) == {"ChronosPipeline", "ChronosBoltPipeline"}
    for module in (t5_checkpoint, bolt_checkpoint):
        assert pipeline_class(module.PIPELINE_CLASS).__name__ == module.PIPELINE_CLASS


def test_no_two_public_names_mean_different_things():
    """e.g. ``sample_quantiles`` (torch, interpolated) vs (numpy, GluonTS rule) once collided."""
    where: dict[str, list[str]] = {}
    for path in _modules():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                continue
            for name in names:
                if not name.startswith("_") and name not in SHARED_NAMES:
                    where.setdefault(name, []).append(_module_name(path))
    assert {name: mods for name, mods in where.items() if len(mods) > 1} == {}


def test_every_logger_is_used():
    """A module-level ``logger`` that nothing logs to is noise (eight modules had one)."""
    unused = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        defines = any(
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "logger" for t in node.targets)
            for node in tree.body
        )
        used = any(
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "logger"
            for node in ast.walk(tree)
        )
        if defines and not used:
            unused.append(_module_name(path))
    assert unused == []


def test_one_set_of_default_quantile_levels():
    from chronos_pkg.bolt.config import ChronosBoltConfig
    from chronos_pkg.eval.metrics import weighted_quantile_loss

    assert tuple(ChronosBoltConfig().quantiles) == DEFAULT_QUANTILE_LEVELS
    default = inspect.signature(weighted_quantile_loss).parameters["quantile_levels"].default
    assert default is DEFAULT_QUANTILE_LEVELS


def test_the_families_mirror_each_other():
    for family in ("t5", "bolt"):
        for module in ("config", "model", "checkpoint", "pipeline"):
            importlib.import_module(f"chronos_pkg.{family}.{module}")


def test_gluonts_is_a_core_dependency_and_the_adapter_says_so():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    from chronos_pkg.eval import gluonts_adapter

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("gluonts") for dep in project["dependencies"])
    assert "optional" not in (gluonts_adapter.__doc__ or "")
