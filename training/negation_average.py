"""Does averaging a forecast with the negated forecast of the negated series help?

An inference-time option the seasonal-competence issue asked to measure before offering it:
``q_i(x)`` averaged with ``-q_{1-i}(-x)`` (a network that treats a series and its mirror image
differently gets both views). Scored on the default recipe's validation sets (never the
benchmark), for one model, plain and averaged; prints the geometric means relative to Seasonal
Naive per group and writes them to ``--output``.

    python -m training.negation_average --model chronos_pkg/models/default \\
        --data-dir ../shared/data --output training/results/negation-average.csv
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

import chronos_pkg
from chronos_pkg.eval.forecasters import build_forecaster
from chronos_pkg.train.config import load_train_config
from chronos_pkg.train.validation import (
    build_validation_sets,
    relative_to_baseline,
    score,
    validation_groups,
)

CONFIG = "training/configs/default.yaml"


class NegationAveraged:
    """A pipeline's quantiles averaged with the mirrored quantiles of the negated series."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def predict_quantiles(
        self, contexts: Any, prediction_length: int, quantile_levels: Sequence[float], **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        levels = list(quantile_levels)
        plain, mean = self.pipeline.predict_quantiles(contexts, prediction_length, levels, **kwargs)
        negated = [-torch.as_tensor(c) for c in contexts]
        mirror = [min(max(1 - q, levels[0]), levels[-1]) for q in levels]  # 1 - 0.9 = 0.0999..
        flipped, flipped_mean = self.pipeline.predict_quantiles(
            negated, prediction_length, sorted(mirror), **kwargs
        )
        flipped = flipped.flip(-1)  # ascending mirror levels -> the order of ``levels``
        return (plain - flipped) / 2, (mean - flipped_mean) / 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    config = load_train_config(CONFIG, [f"data.data_dir={args.data_dir}"])
    sets = build_validation_sets(config)
    baseline = score(build_forecaster("seasonal-naive"), sets)
    groups = {"all": {s.config.name for s in sets}, **validation_groups(sets)}
    rows = []
    variants = {
        "plain": build_forecaster(args.model),
        "negation-averaged": NegationAveraged(chronos_pkg.from_pretrained(args.model)),
    }
    for name, forecaster in variants.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = score(forecaster, sets)
        for group, members in groups.items():
            summary = relative_to_baseline(scores[scores["dataset"].isin(members)], baseline)
            rows.append({"model": args.model, "variant": name, "group": group, **summary})
    table = pd.DataFrame(rows)
    table.to_csv(args.output, index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
