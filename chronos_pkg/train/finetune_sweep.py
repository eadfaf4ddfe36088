"""Choose ``pipeline.fit``'s defaults by measurement, never on the benchmark.

Each setting (learning rate x steps x batch size x which layers train) fine-tunes the model once
per validation set: the whole datasets a training config holds out (``data.validation_datasets``,
with their aggregated copies), each tuned on its history before the validation windows and scored
on them, exactly as ``evaluate --fine-tune`` does on the benchmark. Scores are relative to the same model
zero-shot (and to Seasonal Naive); the setting with the best geometric-mean WQL among those whose
median fine-tuning time meets :data:`MAX_MEDIAN_SECONDS` is the recommendation.

Usage::

    python -m chronos_pkg.train.finetune_sweep --config training/configs/default.yaml \\
        --data-dir ../shared/data --model chronos_pkg/models/default \\
        --learning-rates 3e-5 1e-4 3e-4 --steps 300 --batch-sizes 32 \\
        --output training/results/finetune-defaults.csv

Rows are appended as each (dataset, setting) finishes, so a rerun resumes; the summary of every
setting in the file is printed and written beside it (``.md``).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from chronos_pkg.eval.aggregate import geometric_mean
from chronos_pkg.eval.forecasters import build_forecaster
from chronos_pkg.eval.harness import evaluate_dataset
from chronos_pkg.train.config import load_train_config
from chronos_pkg.train.validation import ValidationSet, build_validation_sets

logger = logging.getLogger(__name__)

MAX_MEDIAN_SECONDS = 60.0  # fine-tuning cost target per dataset (issue 28), 2-core CPU
ZERO_SHOT = "zero-shot"
NAIVE = "seasonal-naive"
COLUMNS = (
    "dataset",
    "setting",
    "learning_rate",
    "num_steps",
    "batch_size",
    "finetune_mode",
    "validation_metric",
    "guard_confidence",
    "WQL",
    "MASE",
    "seconds",
    "best_step",
)


def setting_name(
    learning_rate: float,
    num_steps: int,
    batch_size: int,
    finetune_mode: str = "full",
    validation_metric: str = "loss",
    guard_confidence: float = 0.0,
) -> str:
    """A setting's label in the results, e.g. ``lr=0.0001,steps=300,batch=32`` (with
    ``,mode=decoder`` for a mode other than full, ``,val=wql`` for a validation metric other
    than the training loss, which the first sweeps used, and ``,guard=0.9`` for a guard
    confidence above 0, which they did not have)."""
    name = f"lr={learning_rate:g},steps={num_steps},batch={batch_size}"
    if finetune_mode != "full":
        name += f",mode={finetune_mode}"
    if validation_metric != "loss":
        name += f",val={validation_metric}"
    return name if guard_confidence == 0 else f"{name},guard={guard_confidence:g}"


def summarize_sweep(results: pd.DataFrame) -> pd.DataFrame:
    """Per setting: geometric means of WQL and MASE relative to the zero-shot rows and to Seasonal
    Naive's, the worst dataset's WQL ratio to zero-shot, and the median fine-tuning seconds."""
    base = results[results["setting"] == ZERO_SHOT].set_index("dataset")
    naive = results[results["setting"] == NAIVE].set_index("dataset")
    rows = []
    for setting, group in results.groupby("setting", sort=False):
        group = group.set_index("dataset")
        common = group.index.intersection(base.index).intersection(naive.index)
        if len(common) == 0:
            continue
        row = {"setting": setting, "datasets": len(common)}
        for metric in ("WQL", "MASE"):
            ratio = (group.loc[common, metric] / base.loc[common, metric]).to_numpy(float)
            row[f"{metric}_vs_zero_shot"] = geometric_mean(ratio)
            vs_naive = (group.loc[common, metric] / naive.loc[common, metric]).to_numpy(float)
            row[f"{metric}_vs_seasonal_naive"] = geometric_mean(vs_naive)
            if metric == "WQL":
                row["worst_WQL_vs_zero_shot"] = float(ratio.max())
        row["median_seconds"] = float(np.nanmedian(group.loc[common, "seconds"].to_numpy(float)))
        rows.append(row)
    return pd.DataFrame(rows)


def recommend(summary: pd.DataFrame, max_seconds: float = MAX_MEDIAN_SECONDS) -> str | None:
    """The fine-tuned setting with the lowest WQL relative to zero-shot among those whose median
    time is within ``max_seconds``; None when none is."""
    tuned = summary[~summary["setting"].isin([ZERO_SHOT, NAIVE])]
    tuned = tuned[tuned["median_seconds"] <= max_seconds]
    if tuned.empty:
        return None
    return str(tuned.sort_values(["WQL_vs_zero_shot", "MASE_vs_zero_shot"]).iloc[0]["setting"])


def _score_row(forecaster, item: ValidationSet, setting: str, **values) -> dict:
    start = time.monotonic()
    metrics = evaluate_dataset(forecaster, item.config, item.dataset)
    report = forecaster.report() if hasattr(forecaster, "report") else {}
    return {
        "dataset": item.config.name,
        "setting": setting,
        **values,
        **metrics,
        "seconds": report.get(
            "fine_tune_seconds",
            0.0 if "fine_tune_skipped" in report else round(time.monotonic() - start, 1),
        ),
        "best_step": report.get("fine_tune_best_step"),
    }


def sweep(
    model: str,
    sets: Sequence[ValidationSet],
    settings: Sequence[tuple[float, int, int, str, str, float]],
    output: Path,
    seed: int = 0,
) -> pd.DataFrame:
    """Score Seasonal Naive, ``model`` zero-shot and fine-tuned with every setting on every set,
    appending rows to ``output`` (CSV) and skipping those it already holds."""
    done: set[tuple[str, str]] = set()
    if output.is_file():
        existing = pd.read_csv(output)
        done = set(zip(existing["dataset"], existing["setting"]))
    output.parent.mkdir(parents=True, exist_ok=True)
    plain = {NAIVE: build_forecaster(NAIVE), ZERO_SHOT: build_forecaster(model)}
    for item in sets:
        for name, forecaster in plain.items():
            if (item.config.name, name) not in done:
                _append(output, _score_row(forecaster, item, name))
        for lr, steps, batch, mode, metric, guard in settings:
            name = setting_name(lr, steps, batch, mode, metric, guard)
            if (item.config.name, name) in done:
                continue
            values = {
                "learning_rate": lr,
                "num_steps": steps,
                "batch_size": batch,
                "finetune_mode": mode,
                "validation_metric": metric,
                "guard_confidence": guard,
            }
            tuned = build_forecaster(model, fine_tune={**values, "seed": seed})
            row = _score_row(tuned, item, name, **values)
            logger.info(
                "%s %s: WQL %.4f MASE %.4f (%.0f s)",
                item.config.name,
                name,
                row["WQL"],
                row["MASE"],
                row["seconds"],
            )
            _append(output, row)
    return pd.read_csv(output)


def _append(path: Path, row: dict) -> None:
    # a file begun by an older sweep keeps its columns (the setting's name tells the rest)
    columns = pd.read_csv(path, nrows=0).columns if path.is_file() else COLUMNS
    frame = pd.DataFrame([{c: row.get(c) for c in columns}])
    frame.to_csv(path, mode="a", header=not path.is_file(), index=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chronos_pkg.train.finetune_sweep", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--config", required=True, help="training config (its validation sets)")
    parser.add_argument("--model", required=True, help="checkpoint dir or model id")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[1e-4])
    parser.add_argument("--steps", type=int, nargs="+", default=[300])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32])
    parser.add_argument("--modes", nargs="+", default=["full"], help="full and/or decoder")
    parser.add_argument(
        "--datasets", nargs="+", default=None, help="validation sets (default: the unseen ones)"
    )
    parser.add_argument(
        "--validation-metrics",
        nargs="+",
        default=["loss"],
        help="what picks the kept weights: wql and/or loss (the training loss)",
    )
    parser.add_argument(
        "--guard-confidences",
        type=float,
        nargs="+",
        default=[0.0],
        help="share of series resamples the gain must hold in (0: any gain is kept)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="CSV of per-dataset scores (resumable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    overrides = [f"data.data_dir={args.data_dir}"] if args.data_dir else []
    config = load_train_config(args.config, overrides)
    sets = [
        s
        for s in build_validation_sets(config)
        if (s.config.name in args.datasets if args.datasets else s.unseen)
    ]
    if not sets:
        raise SystemExit("no validation set matches (see --datasets)")
    settings = list(
        itertools.product(
            args.learning_rates,
            args.steps,
            args.batch_sizes,
            args.modes,
            args.validation_metrics,
            args.guard_confidences,
        )
    )
    results = sweep(args.model, sets, settings, Path(args.output), args.seed)
    summary = summarize_sweep(results)
    table = summary.to_string(index=False, float_format=lambda v: f"{v:.3f}")
    verdict = f"recommended (median <= {MAX_MEDIAN_SECONDS:.0f} s): {recommend(summary)}"
    print(table)
    print(verdict)
    Path(args.output).with_suffix(".md").write_text(
        f"Generated by `python -m chronos_pkg.train.finetune_sweep` from `{Path(args.output).name}`"
        " (geometric means over the validation sets; seconds of fine-tuning, 0 where a set was"
        " too short to fine-tune and was scored zero-shot).\n\n```\n"
        f"{table}\n```\n\n{verdict}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
