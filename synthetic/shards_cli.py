"""Arguments and reporting shared by the synthetic-data commands (sharded writers)."""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from chronos_pkg import series_io
from chronos_pkg.plotting import plot_series_grid


def add_output_arguments(parser: argparse.ArgumentParser, shard_size: int) -> None:
    """``--output``, ``--format``, ``--shard-size``, ``--resume``, ``--plot*``, ``--no-progress``."""
    parser.add_argument("--output", required=True, help="output directory for the shards")
    parser.add_argument("--format", choices=["arrow", "parquet"], default="arrow")
    parser.add_argument("--shard-size", type=int, default=shard_size, help="series per shard file")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--plot", default=None, help="save a grid plot of the first series here")
    parser.add_argument("--plot-count", type=int, default=16, help="series in the --plot grid")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run_generator(
    args: argparse.Namespace,
    generate: Callable[..., list[Path]],
    title: str,
    errors: tuple[type[Exception], ...],
    settings: Sequence[str],
) -> int:
    """Write the shards with ``generate(output=..., num_series=..., **options)``: the options
    named in ``settings`` (argument names shared by the command and ``generate``) plus those of
    :func:`add_output_arguments`; report, plot; exit code 2 on ``errors``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    began = time.perf_counter()
    try:
        paths = generate(
            output=args.output,
            num_series=args.num_series,
            format=args.format,
            shard_size=args.shard_size,
            resume=args.resume,
            progress=not args.no_progress,
            **{name: getattr(args, name) for name in settings},
        )
    except errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - began
    print(
        f"wrote {args.num_series} series in {len(paths)} shards to {args.output} ({seconds:.1f} s)"
    )
    if args.plot:
        first = list(itertools.islice(series_io.iter_series(args.output), args.plot_count))
        plot_series_grid(first, args.plot, title=f"{title} (seed {args.seed})")
        print(f"plot: {args.plot}")
    return 0
