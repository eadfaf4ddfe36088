"""Write KernelSynth series: ``python -m synthetic.kernel_synth --num-series N --output DIR``.

The output directory holds shards ``part-*.arrow`` (GluonTS arrow, what GluonTS' ``FileDataset``
reads) or ``part-*.parquet`` (the shared data schema). Rerun with ``--resume`` to finish a killed
run; series ``i`` depends only on ``(--seed, i)``, so the result is the same either way.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time
from collections.abc import Sequence

from chronos_pkg import series_io
from chronos_pkg.kernel_synth import generate_kernel_synth


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m synthetic.kernel_synth", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--num-series", type=int, required=True, help="total series to write")
    parser.add_argument("--length", type=int, default=1024, help="points per series")
    parser.add_argument("--max-kernels", type=int, default=5, help="most kernels per composition")
    parser.add_argument("--seed", type=int, default=0, help="base seed (non-negative)")
    parser.add_argument("--output", required=True, help="output directory for the shards")
    parser.add_argument("--format", choices=["arrow", "parquet"], default="arrow")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (float64 either way)")
    parser.add_argument("--workers", type=int, default=1, help="CPU worker processes")
    parser.add_argument("--batch-size", type=int, default=None, help="series per Cholesky batch")
    parser.add_argument("--shard-size", type=int, default=4096, help="series per shard file")
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
        paths = generate_kernel_synth(
            args.output,
            args.num_series,
            length=args.length,
            max_kernels=args.max_kernels,
            seed=args.seed,
            format=args.format,
            device=args.device,
            workers=args.workers,
            batch_size=args.batch_size,
            shard_size=args.shard_size,
            resume=args.resume,
            progress=not args.no_progress,
        )
    except (ValueError, RuntimeError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - began
    print(
        f"wrote {args.num_series} series in {len(paths)} shards to {args.output} ({seconds:.1f} s)"
    )
    if args.plot:
        first = list(itertools.islice(series_io.iter_series(args.output), args.plot_count))
        series_io.plot_series_grid(first, args.plot, title=f"KernelSynth (seed {args.seed})")
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
