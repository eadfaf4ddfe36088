"""Write TSMixup series: ``python -m synthetic.tsmixup --data A.parquet B.arrow --num-series N --output DIR``.

Each ``--data`` path (file, directory of shards, or a dataset name under
``$CHRONOS_PKG_DATA_DIR``) is one dataset; datasets are drawn with ``--dataset-weights``
(default equal), series uniformly within. Shards and ``--resume`` work as for KernelSynth.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from chronos_pkg.synth.tsmixup import generate_tsmixup
from synthetic.shards_cli import add_output_arguments, run_generator


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
    add_output_arguments(parser, shard_size=100_000)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_generator(
        args,
        generate_tsmixup,
        "TSMixup",
        (ValueError, FileNotFoundError, FileExistsError),
        settings=(
            "data",
            "max_series",
            "min_length",
            "max_length",
            "alpha",
            "dataset_weights",
            "seed",
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
