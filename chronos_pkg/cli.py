"""The ``chronos-pkg`` command: forecast a CSV/Parquet file, describe a checkpoint.

Every command reads its input and checks it before loading a model, so a typo in a column name
fails in a second with a message naming the column. Exit codes: 0 success, 1 a problem with the
data, the model or the output path (one ``error:`` line, no traceback unless ``--traceback``),
2 bad command-line usage (argparse).
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from chronos_pkg import __version__
from chronos_pkg.inputs import DEFAULT_QUANTILE_LEVELS
from chronos_pkg.loading import BUILTIN_MODELS, DEFAULT_MODEL, bundled_models, default_model
from chronos_pkg.train.finetune import FINETUNE_MODES, FIT_MODE

if TYPE_CHECKING:
    from chronos_pkg.dataframe import SeriesFrame

logger = logging.getLogger(__name__)

PROG = "chronos-pkg"
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")
PARQUET_SUFFIXES = (".parquet", ".pq")
OUTPUT_SUFFIXES = (".csv", ".parquet", ".pq")
PLOT_BAND_LEVELS = (0.1, 0.9)  # the 80% band drawn by --plot
DEVICES_HELP = "cpu, cuda, cuda:N, mps or auto (cuda when available, else cpu)"


class CommandError(Exception):
    """A user-facing failure: printed as one ``error:`` line, exit code 1."""


# ------------------------------------------------------------------------------ reading/writing


def _has_suffix(path: Path, suffixes: Sequence[str]) -> bool:
    return any(path.name.lower().endswith(suffix) for suffix in suffixes)


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``.csv`` (optionally compressed) or ``.parquet`` file into a DataFrame.

    Parquet files in the one-row-per-series layout (list-valued columns, as in the benchmark
    data) are exploded into the long format. Raises ``CommandError`` with the reason otherwise.
    """
    path = Path(path)
    if not path.exists():
        raise CommandError(f"input file not found: {path}")
    if path.is_dir():
        raise CommandError(f"input is a directory, expected a .csv or .parquet file: {path}")
    if _has_suffix(path, CSV_SUFFIXES):
        kind, reader = "CSV", pd.read_csv
    elif _has_suffix(path, PARQUET_SUFFIXES):
        kind, reader = "Parquet", pd.read_parquet
    else:
        raise CommandError(
            f"unsupported input format {''.join(path.suffixes) or '(no suffix)'!r} for {path}; "
            "expected .csv or .parquet"
        )
    try:
        frame = reader(path)
    except Exception as err:  # any reader failure means the file is unreadable
        raise CommandError(f"cannot read {path} as {kind}: {err}") from err
    if frame.empty:
        return frame
    first = frame.iloc[0]
    list_columns = [c for c in frame.columns if isinstance(first[c], (list, tuple, np.ndarray))]
    if list_columns:  # one row per series: explode to one row per time step
        try:
            frame = frame.explode(list_columns, ignore_index=True)
        except ValueError as err:
            raise CommandError(
                f"{path}: the list columns {list_columns} differ in length within a row ({err})"
            ) from err
    return frame


def check_columns(frame: pd.DataFrame, columns: dict[str, str], source: str) -> None:
    """Raise ``CommandError`` naming each ``--flag`` whose column is missing from ``frame``."""
    if frame.empty:
        raise CommandError(f"{source} holds no rows")
    missing = [f"{name!r} ({flag})" for flag, name in columns.items() if name not in frame.columns]
    if missing:
        raise CommandError(
            f"column {', '.join(missing)} not found in {source}; its columns are "
            f"{[str(c) for c in frame.columns]}"
        )


def check_output_path(path: Path, suffixes: Sequence[str], what: str, flag: str) -> None:
    """Raise ``CommandError`` unless ``path`` has a supported suffix and lies in an existing,
    writable directory; checked before any model is loaded."""
    if path.is_dir():
        raise CommandError(f"{flag} {path} is a directory; give a file name")
    if not _has_suffix(path, suffixes):
        raise CommandError(
            f"unsupported {what} format {''.join(path.suffixes) or '(no suffix)'!r} for {flag} "
            f"{path}; use {', '.join(suffixes)}"
        )
    parent = path.parent
    if not parent.is_dir():
        raise CommandError(f"the directory of {flag} {path} does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise CommandError(f"cannot write {flag} {path}: directory {parent} is not writable")


def write_table(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix) into an existing directory."""
    path = Path(path)
    check_output_path(path, OUTPUT_SUFFIXES, "output", "--output")
    try:
        if _has_suffix(path, PARQUET_SUFFIXES):
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
    except (OSError, ImportError) as err:
        raise CommandError(f"cannot write {path}: {err}") from err
    return path


def plot_suffixes() -> tuple[str, ...]:
    """Image formats matplotlib can write here ('.png', '.svg', '.pdf', ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return tuple(f".{kind}" for kind in sorted(FigureCanvasBase.get_supported_filetypes()))


# ------------------------------------------------------------------------------------ commands


def _device_flag(device: str) -> str:
    """``--device``: ``auto`` becomes ``cuda`` when a GPU is visible, else ``cpu``; CUDA asked
    for without a GPU is a ``CommandError`` (see :func:`chronos_pkg.devices.resolve_device`)."""
    from chronos_pkg.devices import resolve_device

    try:
        return str(resolve_device(device))
    except ValueError as err:
        raise CommandError(f"--device: {err}") from err


def _prediction_options(pipeline: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Sampling options accepted by this pipeline's ``predict`` (Bolt has none)."""
    accepted = inspect.signature(pipeline.predict).parameters
    options: dict[str, Any] = {}
    if args.num_samples is not None:
        if "num_samples" not in accepted:
            raise CommandError(f"--num-samples does not apply to {type(pipeline).__name__}")
        options["num_samples"] = args.num_samples
    if "seed" in accepted:
        options["seed"] = args.seed
    if "batch_size" in accepted and args.batch_size is not None:
        options["batch_size"] = args.batch_size
    return options


def resolve_model(name: str | None, quiet: bool = False) -> str:
    """``--model`` as given, or the built-in model ``from_pretrained()`` loads without one
    (saying so in one line when ``default`` is not bundled)."""
    if name is not None:
        return name
    try:
        chosen = default_model()
    except FileNotFoundError as err:
        raise CommandError(f"{err} with --model") from err
    if chosen != DEFAULT_MODEL and not quiet:
        print(
            f"{PROG}: using the built-in model {chosen!r} ({DEFAULT_MODEL!r} is not bundled in "
            "this installation)",
            file=sys.stderr,
        )
    return chosen


def forecast_command(args: argparse.Namespace) -> int:
    """``chronos-pkg forecast``: forecast every series of a long-format file.

    Order: everything that can be checked without the model (output and plot paths, the input's
    columns, values and timestamps) first, then the model is loaded and run.
    """
    from chronos_pkg.base import from_pretrained

    history, series, frame_columns = _checked_forecast_input(args)
    model = resolve_model(args.model, args.quiet)
    if args.verbose == 0:  # keep the terminal to our own two lines
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    levels = list(args.quantile_levels)
    asked = sorted(set(levels) | (set(PLOT_BAND_LEVELS) if args.plot is not None else set()))
    device = _device_flag(args.device)
    logger.info("loading model %s on %s", model, device)
    pipeline = from_pretrained(model, device_map=device, torch_dtype=args.torch_dtype)
    if args.fine_tune:
        pipeline = _fine_tuned(pipeline, series, args, args.save_model)
    forecast = pipeline.predict_series_frame(
        series,
        prediction_length=args.prediction_length,
        quantile_levels=asked,
        id_column=args.id_column,
        timestamp_column=args.timestamp_column,
        **_prediction_options(pipeline, args),
    )
    extra = [str(q) for q in asked if q not in levels]
    path = write_table(forecast.drop(columns=extra), args.output)
    n_series = forecast[args.id_column].nunique()
    say = (lambda text: None) if args.quiet else print
    say(
        f"wrote {len(forecast)} rows ({n_series} series x {args.prediction_length} steps) to {path}"
    )
    if args.plot is not None:
        from chronos_pkg.plotting import save_forecast_plot

        save_forecast_plot(
            args.plot,
            history,
            forecast,
            max_series=args.plot_series,
            history_length=args.plot_history,
            title=f"{model}: {args.prediction_length}-step forecast",
            **frame_columns,
        )
        shown = min(n_series, args.plot_series)
        say(f"wrote a plot of {shown} of {n_series} series to {args.plot}")
    return 0


def _fine_tuned(
    pipeline: Any, series: SeriesFrame, args: argparse.Namespace, save: Path | None
) -> Any:
    """``pipeline`` fine-tuned on the input's series (``pipeline.fit``), saved to ``save``."""
    logger.info("fine-tuning on %d series", len(series.ids))
    tuned = pipeline.fit_series_frame(
        series,
        args.prediction_length,
        num_steps=args.fine_tune_steps,
        learning_rate=args.fine_tune_learning_rate,
        finetune_mode=args.fine_tune_mode,
        time_limit=args.fine_tune_time_limit,
        seed=args.seed,
        output_dir=save,
        progress=not args.quiet,
    )
    result = tuned.fit_result
    if not args.quiet:
        print(
            f"fine-tuned {result.steps} steps in {result.seconds:.0f} s: validation {result.metric} "
            f"{result.start_loss:.4f} -> {result.best_loss:.4f} (kept step {result.best_step})"
            + (f"; saved to {save}" if save is not None else "")
        )
    return tuned


def _check_model_dir(path: Path | None, flag: str) -> None:
    """A directory to save a model in: absent or a directory, under a writable parent."""
    if path is None:
        return
    if path.exists() and not path.is_dir():
        raise CommandError(f"{flag} {path} exists and is not a directory")
    parent = path.parent if not path.exists() else path
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise CommandError(f"{flag} {path}: {parent} is not a writable directory")


def _checked_forecast_input(
    args: argparse.Namespace,
) -> tuple[pd.DataFrame, SeriesFrame, dict[str, str]]:
    """The input table, its series (split once, here) and its column names, after checking the
    output and plot paths and the table's columns, values, timestamps and frequencies (no model
    is loaded yet)."""
    check_output_path(args.output, OUTPUT_SUFFIXES, "output", "--output")
    if args.plot is not None:  # fail before any work if the plot cannot be drawn
        from chronos_pkg.plotting import _require_matplotlib

        _require_matplotlib()
        check_output_path(args.plot, plot_suffixes(), "plot", "--plot")
    if args.save_model is not None and not args.fine_tune:
        raise CommandError("--save-model needs --fine-tune")
    _check_model_dir(args.save_model, "--save-model")
    return _checked_input(args)


def _checked_input(args: argparse.Namespace) -> tuple[pd.DataFrame, SeriesFrame, dict[str, str]]:
    """The input table, its series and its column names, after checking the columns, values,
    timestamps and frequencies."""
    from chronos_pkg.dataframe import split_series

    columns = {
        "--id-column": args.id_column,
        "--timestamp-column": args.timestamp_column,
        "--target": args.target,
    }
    history = read_table(args.input)
    check_columns(history, columns, str(args.input))
    frame_columns = {
        "id_column": args.id_column,
        "timestamp_column": args.timestamp_column,
        "target": args.target,
    }
    series = split_series(history, **frame_columns)  # checks targets, timestamps, frequencies
    return history, series, frame_columns


def fine_tune_command(args: argparse.Namespace) -> int:
    """``chronos-pkg fine-tune``: fine-tune a model on a long-format file and save it."""
    from chronos_pkg.base import from_pretrained

    _check_model_dir(args.output_dir, "--output-dir")
    _, series, _ = _checked_input(args)
    model = resolve_model(args.model, args.quiet)
    logger.info("loading model %s", model)
    pipeline = from_pretrained(model, device_map=_device_flag(args.device))
    _fine_tuned(pipeline, series, args, args.output_dir)
    return 0


def info_command(args: argparse.Namespace) -> int:
    """``chronos-pkg info``: print a checkpoint's model card and summary."""
    import json

    from chronos_pkg.model_card import checkpoint_summary, render_model_card

    model = resolve_model(args.model, args.quiet)
    if args.json:
        print(json.dumps(checkpoint_summary(model), indent=2, sort_keys=True))
    else:
        print(render_model_card(model), end="")
    return 0


def models_command(args: argparse.Namespace) -> int:
    """``chronos-pkg models``: list the built-in model names and whether they are bundled."""
    bundled = bundled_models()
    for name in BUILTIN_MODELS:
        print(f"{name:<16} {'bundled' if name in bundled else 'not bundled in this installation'}")
    return 0


# -------------------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _quantile_level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"quantile levels must lie in (0, 1), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``chronos-pkg`` and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Zero-shot probabilistic forecasting with Chronos-family models.",
        epilog="Exit codes: 0 success, 1 bad data/model/output, 2 bad usage. "
        f"Run '{PROG} COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_global_flags(parser, defaults=True)
    # the same flags after the command; SUPPRESS keeps an absent one from resetting the value
    common = argparse.ArgumentParser(add_help=False)
    _add_global_flags(common, defaults=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    _add_forecast_command(commands, common)
    _add_fine_tune_command(commands, common)
    _add_info_command(commands, common)
    _add_models_command(commands, common)
    return parser


def _add_forecast_command(commands: Any, common: argparse.ArgumentParser) -> None:
    forecast = commands.add_parser(
        "forecast",
        parents=[common],
        help="forecast every series of a long-format CSV/Parquet file",
        description="Read a long-format table (one row per series and time step), forecast "
        "each series and write the forecast table (columns: id, timestamp, predictions = "
        "median, mean, one column per quantile level).",
        epilog=f"Example: {PROG} forecast examples/hourly_demand.csv --prediction-length 24 "
        "--output forecast.csv --plot forecast.png",
    )
    forecast.add_argument("input", type=Path, help="input table (.csv or .parquet)")
    forecast.add_argument(
        "-H", "--prediction-length", type=_positive_int, required=True, help="forecast horizon"
    )
    forecast.add_argument("-o", "--output", type=Path, required=True, help=".csv or .parquet")
    _add_column_options(forecast)
    forecast.add_argument(
        "--quantile-levels",
        type=_quantile_level,
        nargs="+",
        default=list(DEFAULT_QUANTILE_LEVELS),
        metavar="Q",
        help="quantile levels to output (default: 0.1 0.2 ... 0.9)",
    )
    forecast.add_argument(
        "--model",
        default=None,
        help=f"checkpoint directory, built-in model ({', '.join(BUILTIN_MODELS)}) or "
        "Hugging Face id (default: the built-in 'default', else the best bundled model)",
    )
    forecast.add_argument("--device", default="auto", help=DEVICES_HELP + " (default: auto)")
    forecast.add_argument(
        "--torch-dtype",
        choices=("float32", "bfloat16", "float16"),
        default=None,
        help="weights dtype (default: as stored)",
    )
    forecast.add_argument(
        "--num-samples", type=_positive_int, default=None, help="sample paths (Chronos-T5 only)"
    )
    forecast.add_argument("--batch-size", type=_positive_int, default=None, help="series per batch")
    forecast.add_argument(
        "--seed", type=int, default=0, help="random seed for sampling models (default: 0)"
    )
    forecast.add_argument("--plot", type=Path, default=None, help="also draw a PNG/SVG/PDF plot")
    forecast.add_argument(
        "--plot-series", type=_positive_int, default=4, help="series to draw (default: 4)"
    )
    forecast.add_argument(
        "--plot-history",
        type=_positive_int,
        default=None,
        help="past steps to draw (default: 3x the horizon, at least 48)",
    )
    forecast.add_argument(
        "--fine-tune",
        action="store_true",
        help="first fine-tune the model on the input's series (pipeline.fit: the last H points "
        "of each held out to keep the best weights)",
    )
    _add_fine_tune_options(forecast)
    forecast.add_argument(
        "--save-model", type=Path, default=None, help="with --fine-tune: save the tuned model here"
    )
    forecast.set_defaults(handler=forecast_command)


def _add_column_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id-column", default="id", help="series id column (default: id)")
    parser.add_argument(
        "--timestamp-column", default="timestamp", help="timestamp column (default: timestamp)"
    )
    parser.add_argument("--target", default="target", help="value column (default: target)")


def _add_fine_tune_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fine-tune-steps", type=_positive_int, default=None, help="optimiser steps"
    )
    parser.add_argument(
        "--fine-tune-learning-rate", type=float, default=None, help="peak learning rate"
    )
    parser.add_argument(
        "--fine-tune-time-limit", type=float, default=None, help="stop after this many seconds"
    )
    parser.add_argument(
        "--fine-tune-mode",
        choices=FINETUNE_MODES,
        default=None,
        help=f"which weights train (default {FIT_MODE}: see pipeline.fit)",
    )


def _add_fine_tune_command(commands: Any, common: argparse.ArgumentParser) -> None:
    tune = commands.add_parser(
        "fine-tune",
        parents=[common],
        help="fine-tune a model on a long-format CSV/Parquet file and save it",
        description="Fine-tune a copy of the model on every series of a long-format table "
        "(the last H points of each held out to keep the best weights) and save it as a "
        "checkpoint that --model and from_pretrained load.",
        epilog=f"Example: {PROG} fine-tune examples/hourly_demand.csv -H 24 --output-dir tuned",
    )
    tune.add_argument("input", type=Path, help="input table (.csv or .parquet)")
    tune.add_argument(
        "-H", "--prediction-length", type=_positive_int, required=True, help="forecast horizon"
    )
    tune.add_argument("--output-dir", type=Path, required=True, help="where to save the model")
    _add_column_options(tune)
    tune.add_argument("--model", default=None, help="the model to start from (default: default)")
    tune.add_argument("--device", default="auto", help=DEVICES_HELP + " (default: auto)")
    tune.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    _add_fine_tune_options(tune)
    tune.set_defaults(handler=fine_tune_command)


def _add_info_command(commands: Any, common: argparse.ArgumentParser) -> None:
    info = commands.add_parser(
        "info",
        parents=[common],
        help="print the model card of a checkpoint",
        description="Print a checkpoint's MODEL_CARD.md and a summary of its config "
        "(architecture, parameter count, chronos_config, training provenance).",
    )
    info.add_argument(
        "model",
        nargs="?",
        default=None,
        help="checkpoint directory, built-in model name or hub id (default: the model "
        "'forecast' uses without --model)",
    )
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(handler=info_command)


def _add_models_command(commands: Any, common: argparse.ArgumentParser) -> None:
    models = commands.add_parser(
        "models",
        parents=[common],
        help="list the built-in models",
        description="List the built-in model names and whether this installation bundles them.",
    )
    models.set_defaults(handler=models_command)


def _add_global_flags(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """``--verbose``, ``--quiet``, ``--traceback``: accepted before or after the command."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "-v", "--verbose", action="count", default=default(0), help="more log output"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default(False), help="errors only"
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        default=default(False),
        help="show the full traceback on errors",
    )


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``chronos-pkg`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.ERROR if args.quiet else logging.WARNING - 10 * min(args.verbose, 2),
        format=f"{PROG}: %(levelname)s: %(message)s",
    )
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            if args.quiet:
                warnings.simplefilter("ignore")
            return args.handler(args)
    except BrokenPipeError:  # e.g. `chronos-pkg info --json | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, TypeError, OSError, ImportError, RuntimeError) as err:
        if args.traceback:
            raise
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
