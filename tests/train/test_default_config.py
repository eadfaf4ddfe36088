"""The default shipped model's data mixture never trains on a benchmark's test windows.

Checks the recipes that train on the benchmark's data: ``default.yaml`` (the built-in
Chronos-Bolt's recipe), ``bolt-cpu-scratch.yaml`` (a Bolt from random weights on a CPU) and
``default-tiny.yaml`` (the T5 GPU recipe), against the data folder's ``manifest.json`` and the
benchmark definitions (``chronos_pkg/data/benchmark.csv``); skips when the data folder is absent.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chronos_pkg import series_io
from chronos_pkg.train.config import FILE_KINDS, TrainConfig, load_train_config
from chronos_pkg.train.sources import FileSource, load_file_store
from chronos_pkg.train.windows import WindowSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    [*(REPO_ROOT / "training" / "configs").glob("default*.yaml")]
    + [REPO_ROOT / "training" / "configs" / "bolt-cpu-scratch.yaml"]
)
BENCHMARK_CSV = REPO_ROOT / "chronos_pkg" / "data" / "benchmark.csv"
KEPT_OUT = "kept out of the shipped model"


def test_the_glob_finds_the_shipped_recipes() -> None:
    names = {path.name for path in CONFIGS}
    assert {"default.yaml", "bolt-cpu-scratch.yaml", "default-tiny.yaml"} <= names


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda path: path.name)
def config(request: pytest.FixtureRequest) -> TrainConfig:
    return load_train_config(request.param)


@pytest.fixture(scope="module")
def manifest(shared_data_dir: Path) -> dict[str, Any]:
    return json.loads((shared_data_dir / "manifest.json").read_text())["datasets"]


@pytest.fixture(scope="module")
def benchmark() -> dict[str, dict[str, str]]:
    with open(BENCHMARK_CSV) as handle:
        return {row["name"]: row for row in csv.DictReader(handle)}


def dataset_name(path: str) -> str:
    """Manifest key of a source path relative to the data folder (``train/x.parquet`` -> ``train/x``)."""
    return path[: -len(".parquet")] if path.endswith(".parquet") else path


def file_sources(config: TrainConfig) -> list[Any]:
    return [s for s in config.data.sources if s.kind in FILE_KINDS]


def test_every_path_exists_and_is_allowed(
    config: TrainConfig, manifest: dict, shared_data_dir: Path
) -> None:
    for source in file_sources(config):
        assert source.path is not None and not Path(source.path).is_absolute()
        assert series_io.resolve_data_path(source.path, shared_data_dir).is_file(), source.path
        entry = manifest[dataset_name(source.path)]
        assert entry["role"] in ("in-domain", "train-only"), (source.name, entry["role"])
        assert KEPT_OUT not in entry["notes"], source.name


def test_in_domain_sources_exclude_their_benchmark_window(
    config: TrainConfig, manifest: dict, benchmark: dict
) -> None:
    in_domain = [
        s for s in file_sources(config) if manifest[dataset_name(s.path)]["role"] == "in-domain"
    ]
    assert in_domain
    for source in in_domain:
        row = benchmark[dataset_name(source.path)]
        assert row["benchmark"] == "in-domain"
        # window r covers [len + offset + r*h, len + offset + (r+1)*h), all in the last -offset steps
        offset, h, rolls = int(row["offset"]), int(row["prediction_length"]), int(row["num_rolls"])
        assert offset + rolls * h <= 0
        needed = -offset
        exclude = (
            source.exclude_last if source.exclude_last is not None else config.data.exclude_last
        )
        assert exclude >= needed, (source.name, exclude, needed)


def test_mixture_is_complete(config: TrainConfig, manifest: dict, shared_data_dir: Path) -> None:
    listed = {dataset_name(s.path) for s in file_sources(config)}
    wanted = {
        name
        for name, entry in manifest.items()
        if entry["role"] in ("in-domain", "train-only")
        and KEPT_OUT not in entry["notes"]
        and (shared_data_dir / f"{name}.parquet").is_file()
    }
    assert listed == wanted
    for name, entry in manifest.items():
        if entry["role"] in ("zero-shot", "excluded") or KEPT_OUT in entry["notes"]:
            assert name not in listed


def test_generated_sources_draw_only_from_listed_data(config: TrainConfig) -> None:
    kinds = {s.kind for s in config.data.sources}
    assert {"kernel_synth", "tsmixup"} <= kinds
    file_names = {s.name for s in file_sources(config)}
    pools = [set(s.pool) for s in config.data.sources if s.kind == "tsmixup"]
    assert all(pool <= file_names for pool in pools)
    assert set().union(*pools) == file_names  # every listed dataset is mixed in somewhere
    # real series enter only through the mixtures (pool-only, weight 0)
    assert all(s.weight == 0 for s in file_sources(config))
    generated = ("tsmixup", "kernel_synth", "seasonal_synth")
    weights = [s.weight for s in config.data.sources if s.kind in generated]
    assert sum(weights) == pytest.approx(1.0)


def test_loaded_in_domain_series_end_before_the_benchmark(
    config: TrainConfig, manifest: dict, benchmark: dict, shared_data_dir: Path
) -> None:
    spec = WindowSpec(
        config.model.context_length, config.model.prediction_length, config.data.min_past
    )
    for source in file_sources(config):
        name = dataset_name(source.path)
        if manifest[name]["role"] != "in-domain":
            continue
        store = load_file_store(source, str(shared_data_dir))
        kept = FileSource(source.name, store, spec, source.exclude_last or 0)
        offset = int(benchmark[name]["offset"])
        full = store.lengths()[kept.index]
        assert len(kept.index) > 0
        np.testing.assert_array_less(kept.lengths - 1, full + offset)  # last step < window start


def test_validation_datasets_are_whole_train_only_datasets(
    config: TrainConfig, manifest: dict
) -> None:
    """Whole datasets held out for validation are train-only ones, across several frequencies."""
    by_name = {s.name: dataset_name(s.path) for s in file_sources(config)}
    for name in config.data.validation_datasets:
        assert manifest[by_name[name]]["role"] == "train-only", name
    if config.data.validation_datasets:
        freqs = {manifest[by_name[n]]["freq"] for n in config.data.validation_datasets}
        assert len(freqs) >= 4, freqs
