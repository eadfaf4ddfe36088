"""YAML + dotted overrides onto the typed training config; every mistake is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chronos_pkg.train.config import (
    TrainConfig,
    config_from_dict,
    config_to_dict,
    load_train_config,
    parse_override,
    save_train_config,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "training" / "configs"

BASE = {
    "output_dir": "runs/x",
    "data": {
        "sources": [
            {"name": "a", "path": "a.parquet", "weight": 2},
            {"name": "b", "path": "b.parquet", "exclude_last": 8},
            {"name": "mix", "kind": "tsmixup", "pool": ["a", "b"]},
        ]
    },
}


@pytest.fixture
def base_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(BASE))
    return path


def test_yaml_and_overrides_map_onto_typed_fields(base_yaml: Path) -> None:
    config = load_train_config(
        base_yaml,
        [
            "trainer.max_steps=100",
            "--trainer.learning-rate=1e-4",
            "data.sources.1.weight=0.5",
            "model.network={d_model: 32}",
            "trainer.adam_betas=[0.9, 0.95]",
            "trainer.compile=true",
        ],
    )
    assert isinstance(config, TrainConfig)
    assert config.trainer.max_steps == 100
    assert config.trainer.learning_rate == pytest.approx(1e-4)
    assert config.data.sources[0].weight == 2.0 and isinstance(config.data.sources[0].weight, float)
    assert config.data.sources[1].weight == 0.5
    assert config.data.sources[1].exclude_last == 8
    assert config.data.sources[2].pool == ["a", "b"]
    assert config.model.network == {"d_model": 32}
    assert config.trainer.adam_betas == [0.9, 0.95]
    assert config.trainer.compile is True
    # defaults are the paper's recipe
    assert config.model.context_length == 512 and config.model.prediction_length == 64
    assert config.data.min_past == 60 and config.data.max_missing_prop == 0.9


def test_resolved_config_round_trips(base_yaml: Path, tmp_path: Path) -> None:
    config = load_train_config(base_yaml, ["seed=7"])
    path = save_train_config(config, tmp_path / "saved.yaml")
    again = load_train_config(path)
    assert again == config
    assert config_from_dict(config_to_dict(config)) == config
    assert yaml.safe_load(path.read_text())["seed"] == 7


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["trainer.max_stepz=3"], r"trainer\.max_stepz"),
        (["data.sources.0.wieght=3"], r"wieght"),
        (["colour=red"], r"colour"),
        (["data.sources.9.weight=1"], r"no list item"),
        (["trainer.max_steps=0"], r"max_steps must be >= 1"),
        (["data.max_missing_prop=1.5"], r"max_missing_prop"),
        (["data.sources.0.kind=csv"], r"kind must be one of"),
        (["data.sources.1.name=a"], r"unique"),
        (["data.sources.2.pool=[zzz]"], r"zzz"),
        (
            ["data.sources.0.weight=0", "data.sources.1.weight=0", "data.sources.2.weight=0"],
            "weight > 0",
        ),
        (["trainer.device=tpu"], r"trainer\.device"),
        (["data.min_future=0"], r"data\.min_future"),
        (["model.prediction_length=8", "data.min_future=9"], r"data\.min_future"),
        (["data.holdout_fraction=1.0"], r"data\.holdout_fraction"),
        (["trainer.max_steps"], r"key\.path=value"),
        (["data.sources.0.aggregate=24"], r"new freq"),
        (["data.sources.0.aggregate=1", "data.sources.0.freq=D"], r"aggregate must be > 1"),
        (["data.sources.2.aggregate=24", "data.sources.2.freq=D"], r"file sources only"),
    ],
)
def test_bad_values_raise_value_error(base_yaml: Path, overrides: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_train_config(base_yaml, overrides)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("trainer.max_steps=ten", "trainer.max_steps"),
        ("trainer.compile=3", "trainer.compile"),
        ("model=5", "model"),
    ],
)
def test_wrong_types_raise_type_error(base_yaml: Path, override: str, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        load_train_config(base_yaml, [override])


def test_missing_pieces_are_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_train_config(tmp_path / "absent.yaml")
    with pytest.raises(ValueError, match="sources is empty"):
        load_train_config(None, ["output_dir=x"])
    with pytest.raises(ValueError, match="needs a path"):
        config_from_dict({"data": {"sources": [{"name": "a"}]}})
    with pytest.raises(ValueError, match="name"):
        config_from_dict({"data": {"sources": [{"path": "a"}]}})
    broken = tmp_path / "broken.yaml"
    broken.write_text("trainer: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_train_config(broken)


def test_parse_override_reads_yaml_values() -> None:
    assert parse_override("a.b=1") == (["a", "b"], 1)
    assert parse_override("--a.b-c=null") == (["a", "b_c"], None)
    assert parse_override("a=x=y") == (["a"], "x=y")


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path: Path) -> None:
    config = load_train_config(path)
    assert config.model.family in ("t5", "bolt")
    assert config.trainer.batch_size >= 1


def test_base_config_is_merged_beneath(tmp_path: Path, base_yaml: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text("base: base.yaml\ntrainer: {max_steps: 7}\nmodel: {size: small}\n")
    config = load_train_config(child)
    assert config.trainer.max_steps == 7 and config.model.size == "small"
    assert [s.name for s in config.data.sources] == ["a", "b", "mix"]  # inherited
    loop = tmp_path / "loop.yaml"
    loop.write_text("base: loop.yaml\n")
    with pytest.raises(ValueError, match="includes itself"):
        load_train_config(loop)
