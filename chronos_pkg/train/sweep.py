"""Recipe sweeps on a fixed CPU budget: short runs of one config, each with the same minutes.

On a CPU the question is not "which recipe is best after N steps" but "which is best after N
minutes": a wider network, a longer context or a bigger batch costs more per step. So every run of
a sweep gets the same training time. A short calibration (``calibration_steps`` steps of the run's
own config) measures its step rate on this machine; the run's ``max_steps`` is then the number of
steps that fit in ``minutes``, so its learning-rate schedule (warmup, then linear decay to 0)
completes. Each run is scored on the validation split of its config (the held-out series,
:mod:`chronos_pkg.train.validation`), never on the benchmark.

Usage::

    python -m chronos_pkg.train.sweep --spec training/sweeps/cpu-recipe.yaml \\
        --data-dir ../shared/data [--only NAME ...]

The spec (YAML; paths relative to it)::

    base: ../configs/default.yaml   # the config every run starts from
    minutes: 12                     # training time per run
    output_dir: ../../runs/sweep    # one run directory per name
    results: ../results/sweep.csv   # one row per finished run, appended
    runs:
      - {name: reference}
      - {name: lr-1e-3, overrides: [trainer.learning_rate=0.001]}

A run already in ``results`` is skipped; an interrupted run resumes from its checkpoint with the
step budget it was given (kept in ``plan.json`` in its directory).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from chronos_pkg.eval.forecasters import build_forecaster
from chronos_pkg.train.config import TrainConfig, load_train_config
from chronos_pkg.train.loop import train
from chronos_pkg.train.validation import build_validation_sets, relative_to_baseline, score

logger = logging.getLogger(__name__)

SWEEP_COLUMNS = (
    "name",
    "overrides",
    "minutes",
    "steps",
    "windows",
    "steps_per_s",
    "train_seconds",
    "val_WQL",
    "val_MASE",
    "val_datasets",
    "command",
)
PLAN_FILE = "plan.json"


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: a name and its config overrides (``key.path=value``)."""

    name: str
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: the base config, the minutes per run, where runs and results go, the runs."""

    path: Path
    base: Path
    minutes: float
    output_dir: Path
    results: Path
    runs: tuple[SweepRun, ...]
    calibration_steps: int = 30
    warmup_fraction: float = 0.1
    max_warmup_steps: int = 200


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec; relative paths resolve against the spec's folder."""
    path = Path(path)
    raw = yaml.safe_load(path.read_text()) or {}
    known = {"base", "minutes", "output_dir", "results", "runs", "calibration_steps"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; known: {sorted(known)}")
    for key in ("base", "minutes", "runs"):
        if key not in raw:
            raise ValueError(f"{path}: '{key}' is required")
    minutes = float(raw["minutes"])
    if minutes <= 0:
        raise ValueError(f"{path}: minutes must be > 0, got {minutes}")
    runs = []
    for i, item in enumerate(raw["runs"]):
        if not isinstance(item, dict) or "name" not in item:
            raise ValueError(f"{path}: runs[{i}] needs a name")
        overrides = item.get("overrides") or []
        if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
            raise ValueError(f"{path}: runs[{i}] ({item['name']}): overrides must be strings")
        runs.append(SweepRun(str(item["name"]), tuple(overrides)))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: run names repeat: {names}")

    def near(name: str) -> Path:  # relative to the spec, without "a/../"
        return Path(os.path.normpath(path.parent / name))

    return SweepSpec(
        path=path,
        base=near(raw["base"]),
        minutes=minutes,
        output_dir=near(raw.get("output_dir", "runs/sweep")),
        results=near(raw.get("results", "sweep.csv")),
        runs=tuple(runs),
        calibration_steps=int(raw.get("calibration_steps", 30)),
    )


def run_config(spec: SweepSpec, run: SweepRun, data_dir: str | None) -> TrainConfig:
    """The run's config: the base, the run's overrides, its own output directory."""
    overrides = list(run.overrides) + [f"output_dir={spec.output_dir / run.name}"]
    if data_dir:
        overrides.append(f"data.data_dir={data_dir}")
    return load_train_config(spec.base, overrides)


def calibrate(config: TrainConfig, steps: int) -> float:
    """Steps per second of ``config`` on this machine, from the second half of ``steps`` steps
    (the first half pays for warm-up: data workers, caches, allocator)."""
    half = max(1, steps // 2)
    with tempfile.TemporaryDirectory(prefix="chronos_pkg_calibrate_") as out:
        calibration = _with(
            config,
            output_dir=out,
            max_steps=10 * steps,  # any schedule: only the rate is kept
            stop_after_steps=2 * half,
            log_every=half,
            save_every=10**9,
            progress_bar=False,
            resume=False,
        )
        train(calibration)
        rows = [json.loads(line) for line in (Path(out) / "log.jsonl").read_text().splitlines()]
    return float(rows[-1]["steps_per_s"])


def _with(config: TrainConfig, output_dir: str | Path | None = None, **trainer: Any) -> TrainConfig:
    """A copy of ``config`` with trainer fields (and the output directory) replaced."""
    new = replace(config, trainer=replace(config.trainer, **trainer))
    return replace(new, output_dir=str(output_dir)) if output_dir is not None else new


def plan_steps(spec: SweepSpec, steps_per_s: float) -> tuple[int, int]:
    """(max_steps, warmup_steps) that fit ``spec.minutes`` at ``steps_per_s``."""
    steps = max(10, int(steps_per_s * spec.minutes * 60))
    warmup = min(spec.max_warmup_steps, max(1, int(spec.warmup_fraction * steps)))
    return steps, warmup


def execute(spec: SweepSpec, run: SweepRun, data_dir: str | None, baseline: Any) -> dict:
    """Calibrate (or reuse the plan), train and validate one run; returns its result row."""
    config = run_config(spec, run, data_dir)
    run_dir = Path(config.output_dir)
    plan_path = run_dir / PLAN_FILE
    if plan_path.is_file():  # an interrupted run keeps its step budget
        plan = json.loads(plan_path.read_text())
    else:
        rate = calibrate(config, spec.calibration_steps)
        steps, warmup = plan_steps(spec, rate)
        plan = {"steps_per_s": rate, "max_steps": steps, "warmup_steps": warmup}
        run_dir.mkdir(parents=True, exist_ok=True)
        plan_path.write_text(json.dumps(plan, indent=2) + "\n")
    logger.info(
        "%s: %d steps (%.2f steps/s x %g min), warmup %d",
        run.name,
        plan["max_steps"],
        plan["steps_per_s"],
        spec.minutes,
        plan["warmup_steps"],
    )
    config = _with(
        config,
        max_steps=plan["max_steps"],
        warmup_steps=plan["warmup_steps"],
        resume=True,
        progress_bar=False,
    )
    started = time.perf_counter()
    final = train(config)
    seconds = time.perf_counter() - started
    if final.name != "final":
        raise RuntimeError(f"{run.name}: training stopped early ({final}); rerun to resume")
    sets, base_scores = baseline
    summary = relative_to_baseline(score(build_forecaster(str(final)), sets), base_scores)
    return {
        "name": run.name,
        "overrides": " ".join(run.overrides),
        "minutes": spec.minutes,
        "steps": plan["max_steps"],
        "windows": plan["max_steps"] * config.trainer.batch_size,
        "steps_per_s": round(plan["steps_per_s"], 3),
        "train_seconds": round(seconds, 1),
        "val_WQL": round(summary["WQL"], 4),
        "val_MASE": round(summary["MASE"], 4),
        "val_datasets": summary["datasets"],
        "command": f"python -m chronos_pkg.train.sweep --spec {spec.path} --only {run.name}",
    }


def run_sweep(
    spec: SweepSpec, data_dir: str | None = None, only: Sequence[str] | None = None
) -> pd.DataFrame:
    """Run every run of ``spec`` (or those named in ``only``) not yet in its results file."""
    wanted = [r for r in spec.runs if only is None or r.name in set(only)]
    missing = sorted(set(only or ()) - {r.name for r in spec.runs})
    if missing:
        raise ValueError(f"{spec.path} has no runs named {missing}")
    done = set()
    if spec.results.is_file():
        done = set(pd.read_csv(spec.results)["name"].astype(str))
    todo = [r for r in wanted if r.name not in done]
    if not todo:
        logger.info("every run is already in %s", spec.results)
        return pd.DataFrame(columns=SWEEP_COLUMNS)
    # the validation set and Seasonal Naive's scores on it are the same for every run
    sets = build_validation_sets(run_config(spec, todo[0], data_dir))
    baseline = (sets, score(build_forecaster("seasonal-naive"), sets))
    rows = []
    for run in todo:
        row = execute(spec, run, data_dir, baseline)
        frame = pd.DataFrame([row], columns=SWEEP_COLUMNS)
        spec.results.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(spec.results, mode="a", header=not spec.results.is_file(), index=False)
        logger.info("%s: validation WQL %.4f MASE %.4f", run.name, row["val_WQL"], row["val_MASE"])
        rows.append(row)
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chronos_pkg.train.sweep", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--spec", required=True, help="sweep YAML (base, minutes, runs)")
    parser.add_argument("--data-dir", default=None, help="root of the data (else the config's)")
    parser.add_argument("--only", action="append", default=None, help="run only this name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        spec = load_sweep_spec(args.spec)
        rows = run_sweep(spec, args.data_dir, args.only)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}")
        return 1
    if not rows.empty:
        print(rows[["name", "steps", "val_WQL", "val_MASE"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
