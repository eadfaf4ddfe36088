"""Typed training configuration: YAML files plus dotted ``--a.b value`` overrides.

A run is described by one :class:`TrainConfig` (``model``, ``data``, ``trainer`` sections and a
``seed``). :func:`load_train_config` reads a YAML file, applies overrides such as
``trainer.max_steps=100`` or ``data.sources.0.weight=0.5``, and checks every key and type, so a
typo fails before any training starts. :func:`config_to_dict` gives the fully resolved mapping
that is saved next to every checkpoint (``train_config.yaml``).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

TRAIN_CONFIG_FILE = "train_config.yaml"  # the resolved config, saved next to every checkpoint
SOURCE_KINDS = ("parquet", "arrow", "files", "kernel_synth", "seasonal_synth", "tsmixup")
FILE_KINDS = ("parquet", "arrow", "files")


@dataclass
class SourceConfig:
    """One component of the training mixture.

    ``kind``: ``"files"`` (parquet or GluonTS arrow, detected per file; ``"parquet"`` and
    ``"arrow"`` are aliases), ``"kernel_synth"``, ``"seasonal_synth"`` (exactly repeated sharp
    seasonal shapes, :mod:`chronos_pkg.synth.seasonal_synth`) or ``"tsmixup"`` (all generated on
    the fly).
    ``path``: file or directory of a file source; relative paths resolve against
    ``data.data_dir`` / ``$CHRONOS_PKG_DATA_DIR``; a bare dataset name also works
    (``m4_hourly`` -> ``m4_hourly.parquet``).
    ``weight``: relative sampling weight in the mixture; 0 makes a file source "pool only"
    (read for a ``tsmixup`` pool, never sampled directly).
    ``exclude_last``: steps cut from the end of every series before sampling (the evaluation
    windows); ``None`` uses ``data.exclude_last``.
    ``pool``: for ``tsmixup``, the names of the file sources whose series are mixed.
    ``memory_map``: keep an arrow source on disk (memory-mapped) instead of in RAM, for corpora
    larger than memory.
    ``options``: generator settings passed to ``KernelSynth`` / ``SeasonalSynth`` / ``TSMixup``
    (e.g. ``length``,
    ``max_series``, ``min_length``, ``alpha``), plus ``num_series`` (how many distinct series
    indices are drawn from) and ``cache_size`` (generated series kept per worker).
    ``aggregate``: for a file source, replace every series (after the ``exclude_last`` cut) by
    its means over blocks of this many steps, aligned with its end; a fractional size keeps the
    calendar on average (hourly -> monthly is 730.5, daily -> quarterly 91.3125). It turns long
    high-frequency histories into the monthly and quarterly series real data has few of.
    ``freq``: the pandas frequency of the aggregated series (required with ``aggregate``): the
    validation horizon and season follow it.
    ``holdout_as``: the dataset name whose validation split this source shares (default: its
    own name), so an aggregated copy holds out exactly the series its original holds out.
    """

    name: str
    kind: str = "files"
    path: str | None = None
    weight: float = 1.0
    exclude_last: int | None = None
    pool: list[str] = field(default_factory=list)
    memory_map: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    aggregate: float | None = None
    freq: str | None = None
    holdout_as: str | None = None

    @property
    def holdout_name(self) -> str:
        """The name that seeds this file source's validation split
        (:func:`chronos_pkg.train.sources.holdout_mask`) and that ``data.validation_datasets``
        names."""
        return self.holdout_as or self.name


@dataclass
class DataConfig:
    """Window sampling and the source mixture (SPEC section 4)."""

    sources: list[SourceConfig] = field(default_factory=list)
    data_dir: str | None = None
    min_past: int = 60
    min_future: int | None = None  # observed future steps a window needs (None: all of them)
    holdout_fraction: float = 0.0  # share of each file source's series kept for validation
    # whole datasets (a file source's name, with every copy that shares it via holdout_as) never
    # trained on: validation on sources the run has not seen (they need holdout_fraction > 0)
    validation_datasets: list[str] = field(default_factory=list)
    max_missing_prop: float = 0.9
    exclude_last: int = 0
    missing_prob_max: float = 0.2
    num_workers: int = 2
    prefetch_factor: int = 4
    shuffle_buffer: int = 0  # >0: windows pass through a seeded shuffle buffer of this size


@dataclass
class ModelConfig:
    """Which network to train; ``network`` holds family-specific shape overrides."""

    family: str = "t5"
    size: str | None = "tiny"
    model_type: str = "seq2seq"
    context_length: int = 512
    prediction_length: int = 64
    network: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainerConfig:
    """Optimisation and bookkeeping (defaults: the Chronos paper's recipe)."""

    max_steps: int = 200_000
    batch_size: int = 256  # global, over all devices and accumulation steps
    gradient_accumulation: int = 1
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    bf16: bool = True  # autocast on CUDA only
    # bfloat16 autocast on the CPU as well: ~1.8x faster steps of Bolt tiny on a CPU with AMX
    # (benchmarks/training_bf16_cpu.py), but noisier gradients; off until validation says so
    cpu_bf16: bool = False
    tf32: bool = True
    compile: bool = False
    device: str = "auto"
    cpu_threads: int | None = None  # torch threads for a CPU run (1 is fastest for micro models)
    log_every: int = 100
    save_every: int = 1000
    max_minutes: float | None = None  # stop (with a checkpoint) after this much wall time
    stop_after_steps: int | None = None  # stop (with a checkpoint) after this many steps here
    progress_bar: bool = True
    resume: bool = False
    init_from: str | None = None
    # parameter-name prefixes that train (e.g. [seasonal_gate]); every other weight stays as
    # init_from left it. None: all train
    train_only: list[str] | None = None


@dataclass
class TrainConfig:
    """A whole training run."""

    output_dir: str = "runs/default"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        validate(self)


# ------------------------------------------------------------------------------- validation


def validate(config: TrainConfig) -> None:
    """Check value ranges and cross-field rules; raise ``ValueError`` naming the field."""
    t, d, m = config.trainer, config.data, config.model
    positive = {
        "trainer.max_steps": t.max_steps,
        "trainer.batch_size": t.batch_size,
        "trainer.gradient_accumulation": t.gradient_accumulation,
        "trainer.log_every": t.log_every,
        "trainer.save_every": t.save_every,
        "model.context_length": m.context_length,
        "model.prediction_length": m.prediction_length,
        "data.prefetch_factor": d.prefetch_factor,
    }
    for name, value in positive.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    _validate_trainer(t)
    _validate_data(d, m)
    _validate_sources(d.sources)


def _validate_trainer(t: TrainerConfig) -> None:
    if not t.learning_rate > 0:
        raise ValueError(f"trainer.learning_rate must be > 0, got {t.learning_rate}")
    if len(t.adam_betas) != 2:
        raise ValueError(f"trainer.adam_betas must have 2 values, got {t.adam_betas}")
    if t.warmup_steps < 0 or t.weight_decay < 0 or t.max_grad_norm < 0:
        raise ValueError("trainer.warmup_steps, weight_decay and max_grad_norm must be >= 0")
    if t.cpu_threads is not None and t.cpu_threads < 1:
        raise ValueError(f"trainer.cpu_threads must be >= 1, got {t.cpu_threads}")
    if t.stop_after_steps is not None and t.stop_after_steps < 1:
        raise ValueError(f"trainer.stop_after_steps must be >= 1, got {t.stop_after_steps}")
    if t.train_only is not None and not t.train_only:
        raise ValueError("trainer.train_only must name at least one parameter prefix, or be null")
    if t.device not in ("auto", "cpu", "cuda") and not t.device.startswith("cuda:"):
        raise ValueError(f"trainer.device must be 'auto', 'cpu' or 'cuda[:N]', got {t.device!r}")


def _validate_data(d: DataConfig, m: ModelConfig) -> None:
    if d.min_past < 1:
        raise ValueError(f"data.min_past must be >= 1, got {d.min_past}")
    if d.min_future is not None and not 1 <= d.min_future <= m.prediction_length:
        raise ValueError(
            f"data.min_future must be in [1, model.prediction_length={m.prediction_length}], "
            f"got {d.min_future}"
        )
    if not 0 <= d.holdout_fraction < 1:
        raise ValueError(f"data.holdout_fraction must be in [0, 1), got {d.holdout_fraction}")
    if d.validation_datasets:
        if d.holdout_fraction <= 0:
            raise ValueError("data.validation_datasets needs data.holdout_fraction > 0")
        split_names = {s.holdout_name for s in d.sources if s.kind in FILE_KINDS}
        unknown = sorted(set(d.validation_datasets) - split_names)
        if unknown:
            raise ValueError(f"data.validation_datasets {unknown} are not file sources")
    if not 0 <= d.max_missing_prop <= 1:
        raise ValueError(f"data.max_missing_prop must be in [0, 1], got {d.max_missing_prop}")
    if not 0 <= d.missing_prob_max < 1:
        raise ValueError(f"data.missing_prob_max must be in [0, 1), got {d.missing_prob_max}")
    if d.exclude_last < 0 or d.num_workers < 0 or d.shuffle_buffer < 0:
        raise ValueError("data.exclude_last, num_workers and shuffle_buffer must be >= 0")


def _validate_sources(sources: list[SourceConfig]) -> None:
    if not sources:
        raise ValueError("data.sources is empty: list at least one data source")
    if not any(s.weight > 0 for s in sources):
        raise ValueError("data.sources: at least one source needs a weight > 0")
    names = [s.name for s in sources]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"data.sources names must be unique, repeated: {duplicated}")
    for i, source in enumerate(sources):
        where = f"data.sources.{i} ({source.name!r})"
        if source.kind not in SOURCE_KINDS:
            raise ValueError(f"{where}: kind must be one of {SOURCE_KINDS}, got {source.kind!r}")
        if not source.weight >= 0:
            raise ValueError(f"{where}: weight must be >= 0, got {source.weight}")
        if source.kind in FILE_KINDS and not source.path:
            raise ValueError(f"{where}: a {source.kind!r} source needs a path")
        if source.exclude_last is not None and source.exclude_last < 0:
            raise ValueError(f"{where}: exclude_last must be >= 0, got {source.exclude_last}")
        if source.aggregate is not None:
            if source.kind not in FILE_KINDS or source.memory_map:
                raise ValueError(f"{where}: aggregate applies to in-memory file sources only")
            if not source.aggregate > 1:
                raise ValueError(f"{where}: aggregate must be > 1 steps, got {source.aggregate}")
            if not source.freq:
                raise ValueError(f"{where}: an aggregated source needs its new freq (e.g. 'MS')")
        if source.kind == "tsmixup":
            _validate_pool(source, sources, where)


def _validate_pool(source: SourceConfig, sources: list[SourceConfig], where: str) -> None:
    if not source.pool:
        raise ValueError(f"{where}: a tsmixup source needs a pool of file source names")
    kinds = {s.name: s.kind for s in sources}
    missing = [p for p in source.pool if p not in kinds]
    if missing:
        raise ValueError(f"{where}: pool names {missing} are not data sources")
    bad = [p for p in source.pool if kinds[p] not in FILE_KINDS]
    if bad:
        raise ValueError(f"{where}: pool entries {bad} are not file sources")


# ------------------------------------------------------------------------------ conversion


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert dataclass mappings."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except (TypeError, ValueError) as err:
                errors.append(str(err))
        raise TypeError(f"{where}: {value!r} matches none of {[_type_name(a) for a in args]}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected a mapping, got {type(value).__name__}")
        return _from_dict(tp, value, where)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{where}: expected a list, got {type(value).__name__}")
        (item_type,) = typing.get_args(tp)
        return [_coerce(v, item_type, f"{where}.{i}") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise TypeError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"{where}: unsupported annotation {tp}")  # pragma: no cover


def _from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ValueError(
            f"unknown config key(s) {[prefix + k for k in unknown]}; "
            f"known keys{' of ' + where if where else ''}: {sorted(known)}"
        )
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _coerce(value, hints[key], f"{where}.{key}" if where else key)
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required field is missing
        raise ValueError(f"{where or 'config'}: {err}") from err


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from a nested mapping."""
    if not isinstance(data, dict):
        raise TypeError(f"a training config must be a mapping, got {type(data).__name__}")
    return _from_dict(TrainConfig, data, "")


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """The fully resolved config as plain YAML-ready data."""
    return dataclasses.asdict(config)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"trainer.max_steps=100"`` -> (["trainer", "max_steps"], 100); values are YAML."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip().lstrip("-").replace("-", "_")
    if not key:
        raise ValueError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ValueError(f"override {text!r}: the value is not valid YAML: {err}") from err
    return key.split("."), value


def apply_override(data: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``value`` set at the dotted ``path`` (list indices allowed)."""
    import copy

    out = copy.deepcopy(data)
    node: Any = out
    for i, key in enumerate(path[:-1]):
        where = ".".join(path[: i + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ValueError(f"override {'.'.join(path)}: no list item {where}")
            node = node[int(key)]
        elif isinstance(node, dict):
            node = node.setdefault(key, {})
        else:
            raise ValueError(f"override {'.'.join(path)}: {where} is not a section")
    last = path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ValueError(f"override {'.'.join(path)}: no list item {last}")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ValueError(f"override {'.'.join(path)}: parent is not a section")
    return out


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``: mappings merge key by key, anything else (lists too) replaces."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_train_config_file(path: str | os.PathLike, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The mapping of a YAML config, with its ``base:`` file (relative to it) merged beneath."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"training config {path} does not exist")
    if path in _seen:
        raise ValueError(f"config {path} includes itself through 'base'")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}") from err
    if loaded is not None and not isinstance(loaded, dict):
        raise ValueError(f"{path}: a training config must be a YAML mapping")
    data = dict(loaded or {})
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise TypeError(f"{path}: 'base' must be a file name, got {base!r}")
    return _merge(read_train_config_file(path.parent / base, (*_seen, path)), data)


def load_train_config(
    path: str | os.PathLike | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> TrainConfig:
    """Read a YAML config (or start from defaults) and apply ``key.path=value`` overrides.

    A config may start with ``base: other.yaml`` (relative to itself): its keys are merged over
    that file's, section by section; lists such as ``data.sources`` are replaced whole.
    """
    data: dict[str, Any] = read_train_config_file(path) if path is not None else {}
    for text in overrides:
        keys, value = parse_override(text)
        data = apply_override(data, keys, value)
    return config_from_dict(data)


def save_train_config(config: TrainConfig, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML (atomically)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    os.replace(tmp, path)
    return path
