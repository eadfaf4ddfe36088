"""Relative scores and benchmark aggregates, with published results on the same datasets.

Per dataset, a model's relative score is its metric over the baseline's (Seasonal Naive) metric on
that dataset; a benchmark's score is the geometric mean of the relative scores over its datasets.
Our models are scored against our baseline run; published models against the published baseline,
on exactly the datasets we have, so the comparison is like for like.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from chronos_pkg.eval.datasets import BENCHMARKS, load_benchmark_configs

logger = logging.getLogger(__name__)

METRICS = ("MASE", "WQL")
PUBLISHED_SUFFIX = " (published)"


def load_results(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate result CSVs (columns dataset, model, MASE, WQL, ...); later rows win."""
    frames = [pd.read_csv(p) for p in paths]
    if not frames:
        raise ValueError("no result files given")
    results = pd.concat(frames, ignore_index=True)
    missing = {"dataset", "model", *METRICS} - set(results.columns)
    if missing:
        raise ValueError(f"result files lack columns {sorted(missing)}")
    return results.drop_duplicates(["dataset", "model"], keep="last").reset_index(drop=True)


def benchmark_of() -> dict[str, str]:
    """Dataset name -> 'in-domain' or 'zero-shot'."""
    return {c.name: c.benchmark for c in load_benchmark_configs("all")}


def relative_scores(
    results: pd.DataFrame, baseline: str = "seasonal-naive", datasets: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per (model, dataset): metric / baseline metric, for the datasets the baseline has.

    Returns columns ``model, dataset, benchmark, MASE, WQL`` (relative), baseline rows included
    (all ones). ``datasets`` restricts the rows to those names.
    """
    base = results[results["model"] == baseline].set_index("dataset")[list(METRICS)]
    if base.empty:
        raise ValueError(f"no rows for the baseline {baseline!r}")
    rows = results[results["dataset"].isin(base.index)]
    if datasets is not None:
        rows = rows[rows["dataset"].isin(set(datasets))]
    dropped = sorted(set(results["dataset"]) - set(base.index))
    if dropped:
        logger.warning("no %s result for %s: left out", baseline, dropped)
    rel = rows[["model", "dataset"]].copy()
    for metric in METRICS:
        rel[metric] = rows[metric].to_numpy() / base.loc[rows["dataset"], metric].to_numpy()
    rel["benchmark"] = rel["dataset"].map(benchmark_of())
    return rel[["model", "dataset", "benchmark", *METRICS]].reset_index(drop=True)


def common_datasets(relative: pd.DataFrame) -> list[str]:
    """The datasets that every model in ``relative`` has a result on."""
    per_model = [set(g["dataset"]) for _, g in relative.groupby("model")]
    common = set.intersection(*per_model) if per_model else set()
    return sorted(common)


def geometric_mean(values: Sequence[float]) -> float:
    """exp(mean(log(values))) of positive values; NaN for an empty input."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan")
    if (values <= 0).any() or np.isnan(values).any():
        raise ValueError("geometric mean needs positive, non-NaN values")
    return float(np.exp(np.log(values).mean()))


def aggregate_scores(relative: pd.DataFrame) -> pd.DataFrame:
    """Geometric mean of the relative scores per (model, benchmark).

    Returns columns ``model, benchmark, MASE, WQL, n_datasets``. Datasets with no score (a row
    marked over budget) are left out of that model's mean and ``n_datasets`` counts the rest.
    """
    rows = []
    for (model, benchmark), group in relative.groupby(["model", "benchmark"], sort=False):
        scored = group.dropna(subset=list(METRICS))
        row = {"model": model, "benchmark": benchmark}
        row.update({m: geometric_mean(scored[m].to_numpy()) for m in METRICS})
        row["n_datasets"] = len(scored)
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", "benchmark", *METRICS, "n_datasets"])


def load_published(reference_dir: str | os.PathLike) -> pd.DataFrame:
    """Published per-dataset results: every ``<model>-{in-domain,zero-shot}.csv`` in the folder.

    The model column is the file's model name plus " (published)", except Seasonal Naive which
    keeps the name ``seasonal-naive (published)`` as the published baseline.
    """
    frames = []
    for benchmark in BENCHMARKS:
        for path in sorted(Path(reference_dir).glob(f"*-{benchmark}.csv")):
            frame = pd.read_csv(path)
            frame["model"] = path.name[: -len(f"-{benchmark}.csv")] + PUBLISHED_SUFFIX
            frames.append(frame[["dataset", "model", *METRICS]])
    if not frames:
        raise ValueError(f"no published result files in {reference_dir}")
    return pd.concat(frames, ignore_index=True)


def compare(
    results: pd.DataFrame,
    baseline: str = "seasonal-naive",
    published: pd.DataFrame | None = None,
    datasets: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Relative scores and aggregates of our models, plus published models on the same datasets.

    Only datasets on which every one of our models (and the baseline) has a result are used.
    Published models are divided by the published baseline. Returns ``(relative, aggregate)``.
    """
    ours = relative_scores(results, baseline, datasets)
    keep = common_datasets(ours)
    dropped = sorted(set(ours["dataset"]) - set(keep))
    if dropped:
        logger.warning("datasets not run by every model, left out: %s", dropped)
    ours = ours[ours["dataset"].isin(keep)]
    tables = [ours]
    if published is not None:
        theirs = relative_scores(published, baseline + PUBLISHED_SUFFIX, keep)
        theirs = theirs[theirs["model"] != baseline + PUBLISHED_SUFFIX]
        # a published model counts on a benchmark only with every one of our datasets there
        wanted = ours.groupby("benchmark")["dataset"].agg(frozenset).to_dict()
        groups = theirs.groupby(["model", "benchmark"])["dataset"].agg(frozenset)
        complete = {key for key, names in groups.items() if names == wanted.get(key[1])}
        lacking = sorted({key for key in groups.index if key not in complete})
        if lacking:
            logger.warning("published results lacking some of our datasets, left out: %s", lacking)
        keys = list(zip(theirs["model"], theirs["benchmark"]))
        tables.append(theirs[[key in complete for key in keys]])
    relative = pd.concat(tables, ignore_index=True)
    return relative, aggregate_scores(relative)


def markdown_table(aggregate: pd.DataFrame) -> str:
    """Aggregate scores as a markdown table, one row per model, one column per benchmark/metric."""
    wide = aggregate.pivot(index="model", columns="benchmark", values=list(METRICS))
    scored = aggregate.pivot(index="model", columns="benchmark", values="n_datasets")
    counts = aggregate.groupby("benchmark")["n_datasets"].max()
    columns = [(m, b) for b in BENCHMARKS for m in METRICS if (m, b) in wide.columns]
    header = ["model"] + [f"{b} {m} ({counts[b]} datasets)" for m, b in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    order = wide.sort_values(columns[0]).index if columns else wide.index
    for model in order:
        cells = []
        for metric, benchmark in columns:
            value, n = wide.loc[model, (metric, benchmark)], scored.loc[model, benchmark]
            cell = f"{value:.3f}" if pd.notna(value) else ""
            if pd.notna(n) and n < counts[benchmark]:  # some datasets over budget
                cell += f" ({int(n)} of {counts[benchmark]})"
            cells.append(cell)
        lines.append("| " + " | ".join([model, *cells]) + " |")
    return "\n".join(lines) + "\n"


def replace_marked_block(
    text: str, marker: str, content: str, name: object = "the document"
) -> str:
    """``text`` with everything between ``<!-- {marker}:start -->`` and ``<!-- {marker}:end -->``
    replaced by ``content``: how generated tables are kept in hand-written documents."""
    start_tag, end_tag = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    start, end = text.find(start_tag), text.find(end_tag)
    if start < 0 or end < start:
        raise ValueError(f"{name} has no {start_tag} ... {end_tag} block")
    return text[: start + len(start_tag)] + "\n" + content + text[end:]


def plot_aggregate(aggregate: pd.DataFrame, path: str | os.PathLike) -> None:
    """Bar chart of the aggregate relative scores (one panel per benchmark and metric)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benchmarks = [b for b in BENCHMARKS if b in set(aggregate["benchmark"])]
    fig, axes = plt.subplots(
        len(benchmarks),
        len(METRICS),
        figsize=(12, 0.35 * aggregate["model"].nunique() * len(benchmarks) + 2),
        squeeze=False,
    )
    for i, benchmark in enumerate(benchmarks):
        part = aggregate[aggregate["benchmark"] == benchmark]
        for j, metric in enumerate(METRICS):
            ax = axes[i][j]
            part = part.sort_values(metric, ascending=False)
            colors = ["tab:gray" if PUBLISHED_SUFFIX in m else "tab:blue" for m in part["model"]]
            ax.barh(part["model"], part[metric], color=colors)
            ax.axvline(1.0, color="black", linewidth=0.8)
            n = int(part["n_datasets"].max()) if len(part) else 0
            ax.set_title(f"{benchmark} {metric} / Seasonal Naive ({n} datasets)")
            ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
