"""Model selection without the benchmark: score a checkpoint on series that training held out.

A training config with ``data.holdout_fraction`` > 0 keeps a fixed subset of the series of each
file source out of training (:func:`chronos_pkg.train.sources.holdout_mask`, seeded by the
dataset's name). The validation set is the last windows of each held-out series (after the
source's ``exclude_last`` cut, so in-domain benchmark windows stay untouched), with a horizon set
by the dataset's frequency: one window per series, or as many consecutive ones as it takes to
reach ``min_windows`` per dataset (and the shortest series allows), so that a dataset with two
held-out series does not weigh in the mean on two forecasts. Scores are WQL and MASE relative to Seasonal Naive, combined over
datasets by the geometric mean, as in the benchmark; the zero-shot benchmark is never read.

Usage::

    python -m chronos_pkg.train.validation --config training/configs/default.yaml \\
        --data-dir ../shared/data --model chronos_pkg/models/default runs/default/final \\
        --output validation.csv

With several models, the first is the incumbent (the shipped one) and each later one gets the
verdict of the fixed ship rule (:func:`ship_decision`, :func:`with_probe`): better on all
datasets together, within 1% on each group of held-out series, better on the whole datasets no
run trained on (``data.validation_datasets``), and better on the seasonal probe.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from chronos_pkg import series_io
from chronos_pkg.eval.aggregate import geometric_mean
from chronos_pkg.eval.datasets import BenchmarkConfig, SeriesDataset
from chronos_pkg.eval.forecasters import build_forecaster
from chronos_pkg.eval.harness import evaluate_dataset
from chronos_pkg.frequency import base_frequency, infer_frequency
from chronos_pkg.train.config import FILE_KINDS, TrainConfig, load_train_config
from chronos_pkg.train.seasonal_probe import format_summary, meets_targets, probe_cells, summarize
from chronos_pkg.train.sources import (
    prepare_file_store,
    resolve_source_path,
    validation_mask,
)

logger = logging.getLogger(__name__)

# forecast horizon of the validation window by base frequency (M4's horizons; 48 below daily)
HORIZONS: dict[str, int] = {"YE": 6, "QE": 8, "ME": 18, "W": 13, "D": 30, "B": 30}
SUBDAILY_HORIZON = 48
MIN_CONTEXT = 16  # a held-out series needs this much history before its window
MIN_WINDOWS = 30  # windows per dataset the validation set aims at (rolls back when series are few)
# ship rule: a candidate may be worse than the incumbent on one group of datasets by at most this
# much (relative), on either metric, and must be better on all datasets together
GROUP_TOLERANCE = 0.01
# a new default adds its weights (17 MB) to the git history forever: it ships only when it is at
# least this much better on all datasets' WQL or MASE, or on the seasonal probe's mean
SHIP_MARGIN = 0.01
PROBE_MARGIN = 0.10


@dataclass(frozen=True)
class ValidationSet:
    """The held-out series of one training source, ready for :func:`evaluate_dataset`."""

    config: BenchmarkConfig
    dataset: SeriesDataset
    aggregated: bool = False  # block means of a finer source (SourceConfig.aggregate)
    unseen: bool = False  # a whole dataset the run never trained on (data.validation_datasets)


def horizon_for(freq: str) -> int:
    """Validation horizon of a pandas frequency ('YS' -> 6, 'MS' -> 18, 'h' -> 48...)."""
    return HORIZONS.get(base_frequency(freq), SUBDAILY_HORIZON)


def _frequency(path: Path) -> str | None:
    """Frequency of the first series' timestamps of a parquet source; None when unknown."""
    first = series_io.list_series_files(path)[0]
    if first.suffix != ".parquet" or "timestamp" not in pq.read_schema(first).names:
        return None
    batch = next(pq.ParquetFile(first).iter_batches(batch_size=1, columns=["timestamp"]))
    (timestamps,) = series_io.split_list_array(
        batch.column(0), f"{first}:timestamp", "datetime64[ns]"
    )
    return infer_frequency(timestamps, tolerate_gaps=True)


def rolls_for(lengths: Sequence[int], horizon: int, min_windows: int) -> int:
    """Consecutive windows per series: enough for ``min_windows`` in all, at least 1, and never
    more than the shortest series holds with ``MIN_CONTEXT`` steps of history before them."""
    wanted = -(-min_windows // max(1, len(lengths)))
    room = (min(lengths) - MIN_CONTEXT) // horizon
    return max(1, min(wanted, room))


def build_validation_sets(
    config: TrainConfig, min_windows: int = MIN_WINDOWS
) -> list[ValidationSet]:
    """The validation set of every file source of ``config`` that holds series out.

    A held-out series enters when it has at least ``MIN_CONTEXT`` steps before its last window and
    an observed value in it. Each series then gives :func:`rolls_for` consecutive last windows
    (``min_windows=1``: the last window only). Sources without timestamps (no frequency, so no
    horizon or season) are skipped with a warning.
    """
    if min_windows < 1:
        raise ValueError(f"min_windows must be >= 1, got {min_windows}")
    data = config.data
    if data.holdout_fraction <= 0:
        raise ValueError(
            "data.holdout_fraction is 0 in this config: no series are held out to validate on"
        )
    sets = []
    for source in data.sources:
        if source.kind not in FILE_KINDS:
            continue
        store, exclude = prepare_file_store(source, data)
        held_out = np.flatnonzero(validation_mask(source, len(store), data))
        if len(held_out) == 0:
            continue
        freq = source.freq or _frequency(resolve_source_path(source, data.data_dir))
        if freq is None:
            logger.warning("validation: %s has no timestamps; skipped", source.name)
            continue
        h = horizon_for(freq)
        ids, targets = [], []
        for i in held_out:
            series = store[int(i)]
            series = np.asarray(series[: max(0, len(series) - exclude)], dtype=np.float32)
            if len(series) >= h + MIN_CONTEXT and not np.isnan(series[-h:]).all():
                ids.append(str(i))
                targets.append(series)
        if not targets:
            continue
        dataset = SeriesDataset(source.name, freq, ids, [pd.Timestamp(0)] * len(targets), targets)
        rolls = rolls_for([len(t) for t in targets], h, min_windows)
        bench = BenchmarkConfig("validation", source.name, "", -h * rolls, h, rolls)
        unseen = source.holdout_name in data.validation_datasets
        sets.append(ValidationSet(bench, dataset, source.aggregate is not None, unseen))
    if not sets:
        raise ValueError("no source of this config has held-out series long enough to validate")
    return sets


def score(forecaster: Any, sets: Sequence[ValidationSet], batch_size: int = 256) -> pd.DataFrame:
    """MASE and WQL of ``forecaster`` on every validation set: one row per dataset."""
    rows = []
    for item in sets:
        metrics = evaluate_dataset(forecaster, item.config, item.dataset, batch_size=batch_size)
        rows.append(
            {
                "dataset": item.config.name,
                "freq": item.dataset.freq,
                "horizon": item.config.prediction_length,
                "series": len(item.dataset.targets),
                "windows": len(item.dataset.targets) * item.config.num_rolls,
                **metrics,
            }
        )
    return pd.DataFrame(rows)


def relative_to_baseline(scores: pd.DataFrame, baseline: pd.DataFrame) -> dict[str, float]:
    """Geometric means over datasets of the scores relative to the baseline's (lower is better).

    Datasets where the baseline scores 0 (nothing to scale by) are left out.
    """
    merged = scores.merge(baseline, on="dataset", suffixes=("", "_baseline"))
    out = {}
    for metric in ("WQL", "MASE"):
        ratio = merged[metric] / merged[f"{metric}_baseline"]
        out[metric] = geometric_mean(ratio[np.isfinite(ratio) & (ratio > 0)].to_numpy())
    out["datasets"] = int(len(merged))
    return out


@dataclass(frozen=True)
class ShipDecision:
    """Whether a candidate checkpoint should replace the incumbent, and why."""

    ship: bool
    reasons: tuple[str, ...]


def ship_decision(
    candidate: pd.DataFrame,
    incumbent: pd.DataFrame,
    baseline: pd.DataFrame,
    groups: dict[str, set[str]] | None = None,
    tolerance: float = GROUP_TOLERANCE,
    must_improve: Sequence[str] = (),
) -> ShipDecision:
    """The fixed rule that decides whether a training run replaces the shipped model.

    Relative to ``baseline`` (Seasonal Naive) on the same validation sets, the candidate must
    beat the incumbent on WQL and MASE over all datasets together (geometric means), and on every
    group of datasets (e.g. native and aggregated) be at most ``tolerance`` worse on either metric;
    on the groups named in ``must_improve`` (whole datasets no run trained on) it must be better
    on both.
    Fixed before the runs it judges, so selection cannot drift towards whatever a run happened to
    improve.
    """
    if set(candidate["dataset"]) != set(incumbent["dataset"]):
        raise ValueError("candidate and incumbent were scored on different validation sets")
    reasons = []
    new, old = relative_to_baseline(candidate, baseline), relative_to_baseline(incumbent, baseline)
    for metric in ("WQL", "MASE"):
        if not new[metric] < old[metric]:
            reasons.append(f"all datasets: {metric} {new[metric]:.4f} >= {old[metric]:.4f}")
    for name, members in (groups or {}).items():
        new_g = relative_to_baseline(candidate[candidate["dataset"].isin(members)], baseline)
        old_g = relative_to_baseline(incumbent[incumbent["dataset"].isin(members)], baseline)
        for metric in ("WQL", "MASE"):
            if name in must_improve and not new_g[metric] < old_g[metric]:
                reasons.append(f"{name}: {metric} {new_g[metric]:.4f} >= {old_g[metric]:.4f}")
            elif new_g[metric] > old_g[metric] * (1 + tolerance):
                reasons.append(
                    f"{name}: {metric} {new_g[metric]:.4f} > {old_g[metric]:.4f} +{tolerance:.0%}"
                )
    return ShipDecision(not reasons, tuple(reasons))


def with_probe(
    decision: ShipDecision, candidate: dict[str, float], incumbent: dict[str, float]
) -> ShipDecision:
    """The ship rule's last clause: the candidate continues clear cycles better than the
    incumbent (a lower geometric mean on :mod:`chronos_pkg.train.seasonal_probe`), or meets the
    probe's targets while the incumbent does too."""
    if candidate["mean"] < incumbent["mean"] or (
        meets_targets(candidate) and meets_targets(incumbent)
    ):
        return decision
    reason = f"seasonal probe: mean {candidate['mean']:.3f} >= {incumbent['mean']:.3f}"
    return ShipDecision(False, (*decision.reasons, reason))


def with_margin(
    decision: ShipDecision,
    candidate: pd.DataFrame,
    incumbent: pd.DataFrame,
    baseline: pd.DataFrame,
    probe: dict[str, float],
    incumbent_probe: dict[str, float],
) -> ShipDecision:
    """A candidate that passes the rule ships only with a margin worth 17 MB of history:
    :data:`SHIP_MARGIN` better on all datasets' WQL or MASE, or :data:`PROBE_MARGIN` better on
    the seasonal probe's mean."""
    new, old = relative_to_baseline(candidate, baseline), relative_to_baseline(incumbent, baseline)
    gains = [1 - new[m] / old[m] for m in ("WQL", "MASE")]
    probe_gain = 1 - probe["mean"] / incumbent_probe["mean"]
    if max(gains) >= SHIP_MARGIN or probe_gain >= PROBE_MARGIN:
        return decision
    reason = (
        f"margin: {max(gains):.1%} on validation (needs {SHIP_MARGIN:.0%}) and "
        f"{probe_gain:.1%} on the probe (needs {PROBE_MARGIN:.0%})"
    )
    return ShipDecision(False, (*decision.reasons, reason))


def validation_groups(sets: Sequence[ValidationSet]) -> dict[str, set[str]]:
    """Dataset names by group: held-out series of trained datasets (``native``), their
    aggregated copies (``aggregated``) and whole datasets no run trained on (``unseen``)."""
    groups: dict[str, set[str]] = {}
    for item in sets:
        name = "unseen" if item.unseen else "aggregated" if item.aggregated else "native"
        groups.setdefault(name, set()).add(item.config.name)
    return groups


def _summary_line(scores: pd.DataFrame, baseline: pd.DataFrame) -> str:
    summary = relative_to_baseline(scores, baseline)
    return f"WQL {summary['WQL']:.4f}  MASE {summary['MASE']:.4f}  ({summary['datasets']} datasets)"


def _print_scores(
    name: str,
    scores: pd.DataFrame,
    baseline: pd.DataFrame,
    groups: dict[str, set[str]],
    probe: dict[str, float] | None = None,
) -> None:
    print(f"{name}: {_summary_line(scores, baseline)} (relative to Seasonal Naive)")
    if probe is not None:
        print(f"  {format_summary('seasonal probe', probe)}")
    if len(groups) > 1:
        for group, members in groups.items():
            print(f"  {group}: {_summary_line(scores[scores['dataset'].isin(members)], baseline)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chronos_pkg.train.validation",
        description="Score checkpoints on the series a training config holds out "
        "(WQL and MASE relative to Seasonal Naive, geometric mean over datasets).",
    )
    parser.add_argument("--config", required=True, help="training config YAML (its data section)")
    parser.add_argument(
        "--model",
        required=True,
        nargs="+",
        help="checkpoint dir(s) or model ids; the first is the incumbent that each later one is "
        "judged against by the ship rule (ship_decision)",
    )
    parser.add_argument("--data-dir", default=None, help="root of the data (else the config's)")
    parser.add_argument("--output", default=None, help="CSV of per-dataset scores to write")
    parser.add_argument(
        "--min-windows",
        type=int,
        default=MIN_WINDOWS,
        help="windows per dataset to aim at by rolling back over the held-out series "
        f"(default {MIN_WINDOWS}; 1: the last window of each series, as before run6)",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--baselines",
        nargs="*",
        default=[],
        help="baselines (e.g. auto-theta auto-ets) scored beside the models for comparison: "
        "printed and written, but no part of the ship rule and not probed",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    overrides = [f"data.data_dir={args.data_dir}"] if args.data_dir else []
    config = load_train_config(args.config, overrides)
    sets = build_validation_sets(config, args.min_windows)
    logger.info(
        "validation: %d datasets, %d series, %d windows",
        len(sets),
        sum(len(s.dataset.targets) for s in sets),
        sum(len(s.dataset.targets) * s.config.num_rolls for s in sets),
    )
    baseline = score(build_forecaster("seasonal-naive"), sets, args.batch_size)
    tables = [baseline.assign(model="seasonal-naive")]
    groups = validation_groups(sets)
    incumbent = incumbent_probe = None
    for model in args.model:
        forecaster = build_forecaster(model)
        scores = score(forecaster, sets, args.batch_size)
        probe = summarize(probe_cells(forecaster))
        _print_scores(model, scores, baseline, groups, probe)
        if incumbent is None:
            incumbent, incumbent_probe = scores, probe
        else:
            decision = ship_decision(scores, incumbent, baseline, groups, must_improve=("unseen",))
            decision = with_probe(decision, probe, incumbent_probe)
            decision = with_margin(decision, scores, incumbent, baseline, probe, incumbent_probe)
            verdict = "yes" if decision.ship else "no: " + "; ".join(decision.reasons)
            print(f"  replaces {args.model[0]}: {verdict}")
        tables.append(scores.assign(model=model))
    for name in args.baselines:
        scores = score(build_forecaster(name), sets, args.batch_size)
        _print_scores(name, scores, baseline, groups)
        tables.append(scores.assign(model=name))
    if args.output:
        Path(os.path.dirname(os.path.abspath(args.output))).mkdir(parents=True, exist_ok=True)
        pd.concat(tables).to_csv(args.output, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
