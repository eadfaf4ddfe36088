"""Relative scores and geometric-mean aggregates of benchmark result CSVs.

    python -m evaluation.aggregate evaluation/results/*.csv --reference-dir ../shared/reference \
        --output-dir evaluation/results/aggregate

Writes ``relative_scores.csv`` (per dataset), ``aggregate.csv``, ``aggregate.md`` and
``aggregate.png``. Published models from ``--reference-dir`` are scored on exactly the datasets
that every one of our models has, against the published Seasonal Naive. ``--update-docs
README.md`` rewrites the table between the ``<!-- aggregate-table:start -->`` and
``<!-- aggregate-table:end -->`` markers of each file named, so no document types the numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from chronos_pkg.eval.aggregate import (
    compare,
    load_published,
    load_results,
    markdown_table,
    plot_aggregate,
    replace_marked_block,
)

logger = logging.getLogger("evaluation.aggregate")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("results", nargs="+", help="result CSVs from evaluation.evaluate")
    p.add_argument("--baseline", default="seasonal-naive", help="model whose scores are 1.0")
    p.add_argument("--output-dir", default="aggregate", help="where the tables and chart go")
    p.add_argument(
        "--reference-dir",
        default=os.environ.get("CHRONOS_PKG_REFERENCE_DIR"),
        help="published <model>-{in-domain,zero-shot}.csv files ($CHRONOS_PKG_REFERENCE_DIR)",
    )
    p.add_argument("--datasets", default=None, help="comma-separated subset of datasets")
    p.add_argument(
        "--only-matching",
        metavar="MANIFEST",
        default=None,
        help="keep only datasets marked matches_published in this manifest.json",
    )
    p.add_argument("--no-plot", action="store_true", help="skip the PNG chart")
    p.add_argument(
        "--update-docs",
        nargs="+",
        default=[],
        metavar="FILE",
        help="markdown files whose aggregate-table markers get the new table",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    datasets = set(args.datasets.split(",")) if args.datasets else None
    if args.only_matching:
        manifest = json.loads(Path(args.only_matching).read_text())["datasets"]
        matching = {name for name, info in manifest.items() if info.get("matches_published")}
        datasets = matching if datasets is None else datasets & matching
    results = load_results(args.results)
    published = load_published(args.reference_dir) if args.reference_dir else None
    relative, aggregate = compare(
        results, args.baseline, published, sorted(datasets) if datasets is not None else None
    )
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    relative.to_csv(out / "relative_scores.csv", index=False)
    aggregate.to_csv(out / "aggregate.csv", index=False)
    table = markdown_table(aggregate)
    (out / "aggregate.md").write_text(table)
    if not args.no_plot:
        plot_aggregate(aggregate, out / "aggregate.png")
    for doc in args.update_docs:
        path = Path(doc)
        path.write_text(replace_table(path.read_text(), table, path))
    print(table)
    return 0


def replace_table(text: str, table: str, name: object = "the document") -> str:
    """``text`` with the lines between the aggregate-table markers replaced by ``table``."""
    return replace_marked_block(text, "aggregate-table", table, name)


if __name__ == "__main__":
    raise SystemExit(main())
