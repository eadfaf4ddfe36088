"""Seed noise of the deep baselines: the same protocol trained with other seeds, beside the paper.

Seed 0 is the committed row (``evaluation/results/<model>.csv``); other seeds are run with the
same command plus ``--seed K --model-name <model>-seed<K>`` into ``evaluation/results/seeds/``:

    python -m evaluation.evaluate --model tft --seed 1 --model-name tft-seed1 --device cpu \\
        --max-epochs 100 --num-batches-per-epoch 50 --train-time-limit 600 \\
        --datasets monash_fred_md,monash_cif_2016,monash_m1_quarterly --data-dir ../shared/data \\
        --output evaluation/results/seeds/tft-seed1.csv

    python -m evaluation.seed_spread --results-dir evaluation/results \\
        --reference-dir ../shared/reference --output evaluation/results/seeds/spread.md

Per model and dataset: WQL and MASE relative to Seasonal Naive for each seed, their mean and
spread (largest over smallest, less 1), and the paper's (mean of 3 seeds); then the geometric
means over the datasets every seed covers.

A variant of a protocol (e.g. ``tft-early-stopping``, run with ``--early-stopping-patience``)
keeps all its seeds in one folder, seed 0 as ``<model>.csv`` beside ``<model>-seed<K>.csv``,
and is compared with the paper's row of the model its name starts with:

    python -m evaluation.seed_spread --results-dir evaluation/results \
        --seeds-dir evaluation/results/protocol --models tft-early-stopping \
        --reference-dir ../shared/reference --output evaluation/results/protocol/spread.md
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from chronos_pkg.eval.aggregate import (
    METRICS,
    PUBLISHED_SUFFIX,
    geometric_mean,
    load_published,
    relative_scores,
)

SEED_NAME = re.compile(r"^(?P<model>.+)-seed(?P<seed>\d+)$")
PAPER_MODELS = ("tft", "patchtst", "deepar", "dlinear")  # the paper's task-specific rows


def paper_model(model: str) -> str:
    """The paper's row a model (or a protocol variant of it, ``tft-early-stopping``) compares
    with: ``paper-<name>``."""
    for name in PAPER_MODELS:
        if model == name or model.startswith(f"{name}-"):
            return f"paper-{name}"
    return f"paper-{model}"


def seed_table(
    results_dir: Path, models: Sequence[str], seeds_dir: Path | None = None
) -> pd.DataFrame:
    """Relative scores per (model, seed, dataset): columns model, seed, dataset, MASE, WQL.
    Seed 0 is ``<model>.csv`` in ``results_dir`` or ``seeds_dir`` (default
    ``results_dir/seeds``), the other seeds ``<model>-seed<K>.csv`` in ``seeds_dir``."""
    seeds_dir = results_dir / "seeds" if seeds_dir is None else seeds_dir
    paths = [results_dir / "seasonal-naive.csv"]
    for folder in (results_dir, seeds_dir):
        paths += [folder / f"{m}.csv" for m in models if (folder / f"{m}.csv").is_file()]
    paths += sorted(seeds_dir.glob("*-seed*.csv"))
    results = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    results = results.drop_duplicates(["dataset", "model"], keep="last")
    relative = relative_scores(results).dropna(subset=list(METRICS))
    rows = []
    for row in relative.itertuples(index=False):
        match = SEED_NAME.match(row.model)
        model, seed = (match["model"], int(match["seed"])) if match else (row.model, 0)
        if model in models:
            rows.append((model, seed, row.dataset, row.MASE, row.WQL))
    return pd.DataFrame(rows, columns=["model", "seed", "dataset", "MASE", "WQL"])


def spread(table: pd.DataFrame, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (model, dataset) with more than one seed: each seed's scores, mean, spread, paper."""
    paper = {}
    if published is not None:
        rel = relative_scores(published, baseline="seasonal-naive" + PUBLISHED_SUFFIX)
        paper = {(r.model, r.dataset): (r.MASE, r.WQL) for r in rel.itertuples(index=False)}
    rows = []
    for (model, dataset), group in table.groupby(["model", "dataset"], sort=True):
        if group["seed"].nunique() < 2:
            continue
        row: dict = {"model": model, "dataset": dataset, "seeds": group["seed"].nunique()}
        for i, metric in enumerate(METRICS):
            values = group.sort_values("seed")[metric].to_numpy(float)
            for seed, value in zip(sorted(group["seed"]), values, strict=True):
                row[f"{metric}_seed{seed}"] = value
            row[f"{metric}_mean"] = values.mean()
            row[f"{metric}_spread"] = values.max() / values.min() - 1
            row[f"{metric}_paper"] = paper.get(
                (f"{paper_model(model)}{PUBLISHED_SUFFIX}", dataset), (None, None)
            )[i]
        rows.append(row)
    return pd.DataFrame(rows)


def summary(per_dataset: pd.DataFrame) -> pd.DataFrame:
    """Per model: geometric means over its datasets of seed 0, the seeds' mean and the paper."""
    rows = []
    for model, group in per_dataset.groupby("model", sort=True):
        row: dict = {"model": model, "datasets": len(group)}
        for metric in METRICS:
            row[f"{metric}_seed0"] = geometric_mean(group[f"{metric}_seed0"])
            row[f"{metric}_mean_of_seeds"] = geometric_mean(group[f"{metric}_mean"])
            row[f"{metric}_largest_spread"] = group[f"{metric}_spread"].max()
            paper = group[f"{metric}_paper"].dropna()
            row[f"{metric}_paper"] = (
                geometric_mean(paper.to_numpy(float)) if len(paper) == len(group) else None
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    cells = frame.map(lambda v: f"{v:.3f}" if isinstance(v, float) else str(v))
    return header + "".join("| " + " | ".join(r) + " |\n" for r in cells.to_numpy())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.seed_spread", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--results-dir", default="evaluation/results")
    parser.add_argument(
        "--seeds-dir", default=None, help="other seeds' files (default: <results-dir>/seeds)"
    )
    parser.add_argument("--reference-dir", default=None, help="published rows (paper-*.csv)")
    parser.add_argument("--models", nargs="+", default=["tft", "patchtst", "deepar"])
    parser.add_argument("--output", required=True, help="markdown file (a .csv goes beside it)")
    args = parser.parse_args(argv)
    seeds_dir = Path(args.seeds_dir) if args.seeds_dir else None
    table = seed_table(Path(args.results_dir), args.models, seeds_dir)
    published = load_published(args.reference_dir) if args.reference_dir else None
    per_dataset = spread(table, published)
    if per_dataset.empty:
        raise SystemExit("no dataset has results for two seeds yet")
    totals = summary(per_dataset)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    per_dataset.to_csv(output.with_suffix(".csv"), index=False)
    text = (
        "Generated by `python -m evaluation.seed_spread` (see its docstring); relative to "
        "Seasonal Naive, lower is better.\n\n## Per dataset\n\n"
        + _markdown(per_dataset)
        + "\n## Geometric means over the same datasets\n\n"
        + _markdown(totals)
    )
    output.write_text(text)
    print(_markdown(totals))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
