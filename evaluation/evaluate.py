"""Score a chronos_pkg checkpoint or a baseline on the Chronos benchmark.

    python -m evaluation.evaluate --model seasonal-naive --benchmark all \
        --data-dir ../shared/data --output evaluation/results/seasonal-naive.csv

Rows are appended as each dataset finishes; a rerun skips datasets already in ``--output``.
A ``<output>.json`` sidecar records the machine, settings and timing of every run, kept current
after each dataset so that a killed run keeps its record.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chronos_pkg.devices import resolve_device
from chronos_pkg.eval.baselines import BASELINE_NAMES, GluonTSDeepBaseline, StatsForecastBaseline
from chronos_pkg.eval.datasets import default_data_dir, load_benchmark_configs
from chronos_pkg.eval.forecasters import (
    build_forecaster,
    model_context_length,
    supported_predict_kwargs,
)
from chronos_pkg.eval.harness import run_benchmark
from chronos_pkg.provenance import describe_machine, library_versions
from chronos_pkg.train.finetune import FINETUNE_MODES

logger = logging.getLogger("evaluation.evaluate")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--model", required=True, help=f"checkpoint path, hub id, or {list(BASELINE_NAMES)}"
    )
    p.add_argument("--benchmark", default="all", choices=["in-domain", "zero-shot", "all"])
    p.add_argument("--datasets", default=None, help="comma-separated subset of dataset names")
    p.add_argument(
        "--data-dir",
        default=default_data_dir(),
        help="folder of <dataset>.parquet (default: $CHRONOS_PKG_DATA_DIR, else the HF hub)",
    )
    p.add_argument("--output", default=None, help="result CSV (default: results-<model>.csv)")
    p.add_argument("--model-name", default=None, help="name in the CSV (default: --model)")
    p.add_argument("--device", default="auto", help="cpu, cuda[:N] or auto (default: auto)")
    p.add_argument("--torch-dtype", default=None, help="e.g. bfloat16 (default: the checkpoint's)")
    p.add_argument("--batch-size", type=int, default=None, help="series per model call")
    p.add_argument("--num-samples", type=int, default=20, help="sample paths (Chronos-T5)")
    p.add_argument(
        "--quantiles",
        default="gluonts",
        choices=["gluonts", "pipeline"],
        help="sample-based models: GluonTS SampleForecast quantiles of the samples, as published "
        "(default), or the pipeline's predict_quantiles",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="sampling seed where the model takes one; the training seed of the deep baselines",
    )
    p.add_argument(
        "--max-history", type=int, default=2500, help="statsforecast: fit on the last N points"
    )
    p.add_argument(
        "--series-time-limit",
        type=float,
        default=None,
        help="statsforecast: seconds per series before it falls back to Seasonal Naive "
        "(counted in the sidecar; default: no limit)",
    )
    p.add_argument(
        "--series-cache",
        default=None,
        help="statsforecast with --series-time-limit: directory storing each series' forecast as "
        "it finishes, so an interrupted dataset resumes (default: <output>.series-cache)",
    )
    p.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        help="statsforecast: worker processes (default -1: one per core)",
    )
    p.add_argument(
        "--fine-tune",
        action="store_true",
        help="fine-tune a copy of the checkpoint per dataset on its history before the test "
        "windows (pipeline.fit), then score it",
    )
    p.add_argument("--fine-tune-steps", type=int, default=None, help="with --fine-tune")
    p.add_argument("--fine-tune-learning-rate", type=float, default=None, help="with --fine-tune")
    p.add_argument("--fine-tune-time-limit", type=float, default=None, help="seconds a dataset")
    p.add_argument(
        "--fine-tune-mode", choices=FINETUNE_MODES, default=None, help="which weights train"
    )
    p.add_argument("--max-epochs", type=int, default=100, help="deep baselines: training epochs")
    p.add_argument("--num-batches-per-epoch", type=int, default=50, help="deep baselines")
    p.add_argument(
        "--train-time-limit",
        type=float,
        default=None,
        help="deep baselines: seconds of training per dataset; a dataset whose epochs do not fit "
        "gets a row with no scores and status 'over budget' (default: no limit)",
    )
    p.add_argument(
        "--train-batch-size",
        type=int,
        default=None,
        help="deep baselines: windows per training batch (default: GluonTS's, 32)",
    )
    p.add_argument(
        "--early-stopping-patience",
        type=int,
        default=None,
        help="deep baselines: hold out each series' last prediction_length points, keep the "
        "epoch with the best validation loss and stop after this many epochs without a better "
        "one (the paper's protocol; default: the best training-loss epoch of the full budget)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    args.device = str(resolve_device(args.device))  # the sidecar records the device used
    return args


def fine_tune_kwargs(args: argparse.Namespace) -> dict[str, Any] | None:
    """``pipeline.fit`` arguments of ``--fine-tune`` (None without it)."""
    if not args.fine_tune:
        return None
    return {
        "num_steps": args.fine_tune_steps,
        "learning_rate": args.fine_tune_learning_rate,
        "finetune_mode": args.fine_tune_mode,
        "time_limit": args.fine_tune_time_limit,
        "seed": args.seed,
    }


def output_path(args: argparse.Namespace) -> Path:
    """The result CSV: ``--output``, else ``results-<model name>.csv``."""
    return Path(args.output or f"results-{Path(args.model_name or args.model).name}.csv")


def series_cache_dir(args: argparse.Namespace) -> str | None:
    """Where a per-series statsforecast run stores its forecasts (``None``: no time limit)."""
    if args.series_time_limit is None:
        return None
    if args.series_cache is not None:
        return args.series_cache
    return str(output_path(args)) + ".series-cache"


def baseline_kwargs(args: argparse.Namespace) -> dict:
    if args.model in StatsForecastBaseline.MODELS:
        return {
            "max_history": args.max_history,
            "series_time_limit": args.series_time_limit,
            "n_jobs": args.n_jobs,
            "cache_dir": series_cache_dir(args),
        }
    if args.model in GluonTSDeepBaseline.MODELS:
        return {
            "max_epochs": args.max_epochs,
            "num_batches_per_epoch": args.num_batches_per_epoch,
            "time_limit": args.train_time_limit,
            "early_stopping_patience": args.early_stopping_patience,
            "estimator_kwargs": (
                {} if args.train_batch_size is None else {"batch_size": args.train_batch_size}
            ),
            "accelerator": "cpu" if args.device == "cpu" else "gpu",
            "seed": args.seed,
        }
    return {}


class RunRecord:
    """This run's entry in the ``<output>.json`` sidecar, rewritten after every dataset.

    The entry is written before the first dataset (``finished: false``) and kept current, so
    a run that is killed outright (no chance to clean up) still leaves the provenance and
    wall time of each dataset it scored; a run that ends sets ``finished: true``.
    """

    def __init__(self, output: Path, run: dict) -> None:
        self.sidecar = output.with_name(output.name + ".json")
        self.index = len(self._runs())
        self.run = {**run, "datasets": [], "per_dataset": {}, "finished": False}
        self._save()

    def add_row(self, row: dict) -> None:
        """Record one finished dataset."""
        self.run["datasets"].append(row["dataset"])
        self.run["per_dataset"][row["dataset"]] = dataset_entry(row)
        self._save()

    def finish(self, **fields) -> None:
        """Record how the run ended (total seconds, interrupted or not)."""
        self.run.update(fields, finished=True)
        self._save()

    def _runs(self) -> list[dict]:
        return json.loads(self.sidecar.read_text())["runs"] if self.sidecar.is_file() else []

    def _save(self) -> None:
        runs = self._runs()
        runs[self.index : self.index + 1] = [self.run]
        self.sidecar.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
        tmp.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
        tmp.replace(self.sidecar)  # never a half-written sidecar, even if killed mid-write


def dataset_entry(row: dict) -> dict:
    """A scored dataset's wall time, status and the model's report (e.g. fallback counts)."""
    status = {"status": row["status"]} if isinstance(row.get("status"), str) else {}
    return {"seconds": row["seconds"], **status, **(row.get("report") or {})}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.model in GluonTSDeepBaseline.MODELS and not args.verbose:
        import lightning.pytorch  # noqa: F401  (it sets its logger to INFO on import)

        # one line per dataset, not Lightning's lines per epoch
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    names = args.datasets.split(",") if args.datasets else None
    try:
        configs = load_benchmark_configs(args.benchmark, names)
    except ValueError as err:
        logger.error("%s", err)
        return 2
    model_name = args.model_name or args.model
    output = output_path(args)
    batch_size = args.batch_size or (100_000 if args.model in BASELINE_NAMES else 256)
    started = time.perf_counter()  # the total includes loading the model and the data
    start_time = datetime.now(timezone.utc).isoformat(timespec="seconds")
    forecaster = build_forecaster(
        args.model,
        device=args.device,
        torch_dtype=args.torch_dtype,
        baseline_kwargs=baseline_kwargs(args),
        sample_quantile_rule=args.quantiles,
        fine_tune=fine_tune_kwargs(args),
    )
    predict_kwargs = supported_predict_kwargs(
        forecaster, {"num_samples": args.num_samples, "batch_size": batch_size, "seed": args.seed}
    )
    logger.info(
        "%s on %d datasets from %s -> %s",
        model_name,
        len(configs),
        args.data_dir or "the HF hub",
        output,
    )
    settings = {"batch_size": batch_size, "predict_kwargs": predict_kwargs}
    record = RunRecord(
        output,
        {
            "model": model_name,
            "started": start_time,
            "argv": sys.argv[1:] if argv is None else argv,
            "settings": _settings(args, settings),
            **_provenance(),
        },
    )
    interrupted = False
    try:
        run_benchmark(
            forecaster,
            model_name,
            configs,
            output,
            data_dir=args.data_dir,
            batch_size=batch_size,
            predict_kwargs=predict_kwargs,
            max_context_length=model_context_length(forecaster),
            on_row=record.add_row,
        )
    except (KeyboardInterrupt, SystemExit):  # keep what finished; a rerun resumes
        # (Lightning turns Ctrl-C during a deep baseline's training into SystemExit)
        interrupted = True
        logger.warning("interrupted; finished datasets are in %s", output)
    seconds = time.perf_counter() - started
    logger.info("%d datasets scored in %.1f s", len(record.run["datasets"]), seconds)
    record.finish(seconds=round(seconds, 1), interrupted=interrupted)
    return 130 if interrupted else 0


def _settings(args: argparse.Namespace, chosen: dict) -> dict:
    """The settings a run's record keeps: batch size, model options, device, quantile rule."""
    return {
        **chosen,
        "baseline_kwargs": baseline_kwargs(args),
        "device": args.device,
        "quantiles": args.quantiles,
    }


def _provenance() -> dict:
    return {"machine": describe_machine(), "versions": library_versions()}


if __name__ == "__main__":
    raise SystemExit(main())
