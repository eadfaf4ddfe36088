"""Write TSMixup series: ``python -m synthetic.tsmixup --data A.parquet B.arrow --num-series N --output DIR``.

Each ``--data`` path (file, directory of shards, or a dataset name under
``$CHRONOS_PKG_DATA_DIR``) is one dataset; datasets are drawn with ``--dataset-weights``
(default equal), series uniformly within. Shards and ``--resume`` work as for KernelSynth.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time
from collections.abc import Sequence

from chronos_pkg import series_io
from chronos_pkg.tsmixup import generate_tsmixup


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m synthetic.tsmixup", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data", nargs="+", required=True, help="source datasets")
    parser.add_argument("--dataset-weights", nargs="+", type=float, default=None)
    parser.add_argument("--num-series", type=int, required=True, help="total series to write")
    parser.add_argument("--max-series", type=int, default=3, help="most sources per mixture (K)")
    parser.add_argument("--min-length", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--alpha", type=float, default=1.5, help="Dirichlet concentration")
    parser.add_argument("--seed", type=int, default=0, help="base seed (non-negative)")
    parser.add_argument("--output", required=True, help="output directory for the shards")
    parser.add_argument("--format", choices=["arrow", "parquet"], default="arrow")
    parser.add_argument("--shard-size", type=int, default=100_000, help="series per shard file")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--plot", default=None, help="save a grid plot of the first series here")
    parser.add_argument("--plot-count", type=int, default=16, help="series in the --plot grid")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    began = time.perf_counter()
    try:
        paths = generate_tsmixup(
            args.data,
            args.output,
            args.num_series,
            max_series=args.max_series,
            min_length=args.min_length,
            max_length=args.max_length,
            alpha=args.alpha,
            dataset_weights=args.dataset_weights,
            seed=args.seed,
            format=args.format,
            shard_size=args.shard_size,
            resume=args.resume,
            progress=not args.no_progress,
        )
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - began
    print(
        f"wrote {args.num_series} series in {len(paths)} shards to {args.output} ({seconds:.1f} s)"
    )
    if args.plot:
        first = list(itertools.islice(series_io.iter_series(args.output), args.plot_count))
        series_io.plot_series_grid(first, args.plot, title=f"TSMixup (seed {args.seed})")
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
