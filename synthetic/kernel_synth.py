"""Write KernelSynth series: ``python -m synthetic.kernel_synth --num-series N --output DIR``.

The output directory holds shards ``part-*.arrow`` (GluonTS arrow, what GluonTS' ``FileDataset``
reads) or ``part-*.parquet`` (the shared data schema). Rerun with ``--resume`` to finish a killed
run; series ``i`` depends only on ``(--seed, i)``, so the result is the same either way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from chronos_pkg.synth.kernel_synth import generate_kernel_synth
from synthetic.shards_cli import add_output_arguments, run_generator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m synthetic.kernel_synth", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--num-series", type=int, required=True, help="total series to write")
    parser.add_argument("--length", type=int, default=1024, help="points per series")
    parser.add_argument("--max-kernels", type=int, default=5, help="most kernels per composition")
    parser.add_argument("--seed", type=int, default=0, help="base seed (non-negative)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (float64 either way)")
    parser.add_argument("--workers", type=int, default=1, help="CPU worker processes")
    parser.add_argument("--batch-size", type=int, default=None, help="series per Cholesky batch")
    add_output_arguments(parser, shard_size=4096)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_generator(
        args,
        generate_kernel_synth,
        "KernelSynth",
        (ValueError, RuntimeError, FileExistsError),
        settings=("length", "max_kernels", "seed", "device", "workers", "batch_size"),
    )


if __name__ == "__main__":
    sys.exit(main())
