"""Fine-tune a loaded pipeline on the user's own series: ``pipeline.fit(series, prediction_length)``.

Pretraining reads YAML configs and data files; a user with a few hundred series in memory wants
one call. :func:`fine_tune` takes the series in any form ``predict_quantiles`` accepts, holds out
the last ``prediction_length`` points of each (or takes ``validation_inputs``), draws training
windows from the rest with the pretraining window sampler (:class:`~chronos_pkg.train.windows.
WindowSampler`) and the family's training task (its loss), trains a copy of the network, and
returns a new pipeline with the weights that scored best on the held-out points: never worse than
the starting weights there (if no step beats them, the starting weights come back, with a
warning). The pipeline it was called on is left unchanged.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from chronos_pkg.eval.metrics import quantile_loss
from chronos_pkg.inputs import (
    DEFAULT_QUANTILE_LEVELS,
    ContextInput,
    check_prediction_length,
    to_series_list,
)
from chronos_pkg.train.config import ModelConfig
from chronos_pkg.train.loop import linear_schedule, select_trainable
from chronos_pkg.train.sources import FileSource, SeriesStore
from chronos_pkg.train.task import TrainingTask
from chronos_pkg.train.windows import WindowSampler, WindowSpec, window_at

logger = logging.getLogger(__name__)

# Defaults measured on the whole datasets the default recipe holds out (data.validation_datasets:
# 12 sets with their aggregated copies), never on the benchmark:
# `python -m chronos_pkg.train.finetune_sweep`, table training/results/finetune-defaults.md.
# Training every weight was never better than the frozen encoder (level at 1e-4, behind at 3e-4)
# and took twice the time; with the encoder frozen 1e-3 beat 1e-4, 3e-4 and 3e-3, and 600 steps
# beat 300 (WQL 0.903x zero-shot on the geometric mean, median 57 s a dataset at one thread).
# That was with the previous default (avg1011). With the current one (gated, cpu-bolt-gate1) the
# same settings are level with zero-shot (WQL 1.010x, MASE 1.019x; training/results/
# finetune-gate1.md), better than also training the seasonal gate (1.017x, worst set 1.69x) and
# than 3e-4 (1.009x, MASE 1.038x): a stronger guard than the last window is what is missing.
# With cpu-bolt-mix1 (training/results/finetune-mix1.md): 1.013x / 1.027x, worst 1.24x
# (Case-Shiller) without the guard; with GUARD_CONFIDENCE 0.9, 0.995x / 1.010x, worst 1.16x
# (US births weekly: one series, which no resampling of series can judge).
# "full": every weight trains; "decoder": the encoder, the input embeddings and the seasonal gate
# (chronos_pkg.bolt.seasonal) stay frozen and the decoder and output head train; "decoder+gate":
# the decoder mode with the seasonal gate training too
FINETUNE_MODES = ("full", "decoder", "decoder+gate")
FIT_MODE = "decoder"
FROZEN_IN_DECODER_MODE = ("encoder", "input_patch_embedding", "shared", "embed_tokens")
FROZEN_GATE = ("seasonal_gate",)
FIT_LEARNING_RATE = 1e-3
FIT_NUM_STEPS = 600
FIT_BATCH_SIZE = 32
# what picks the kept weights on the held-out points: "wql", the weighted quantile loss of the
# forecasts in the series' own units (the benchmark's metric: large series weigh more), or
# "loss", the training loss (each window standardised, so every series weighs the same). On the
# same 12 sets (same table) choosing by WQL kept WQL at 0.903x and took MASE from 0.961x to 0.927x
# zero-shot, and the worst set (Seoul bikes daily, 1.15x by the loss) stayed at the start
# weights; scoring by WQL is also 2x cheaper than by the loss (512 windows: 1.4 s against 2.9 s)
VALIDATION_METRICS = ("wql", "loss")
FIT_VALIDATION_METRIC = "wql"
MIN_PAST = 8  # steps of history a training window needs before its forecast start
EVALUATIONS = 10  # validation checks over a run (and one before the first step)
# held-out windows scored at each check at most (a seeded subset of the series beyond that): on
# m4_yearly's 23,000 series, scoring all of them 11 times took longer than the training itself
MAX_VALIDATION_WINDOWS = 2048
# the guard: the kept step's gain must hold across the held-out series, not only in their sum.
# The series are resampled with replacement (GUARD_RESAMPLES times); the fine-tuned weights are
# kept only if their WQL beats the start's in at least GUARD_CONFIDENCE of the resamples. WQL
# weighs series by their size, so one or two large series can carry the whole sum (on the
# validation set Case-Shiller, the unguarded choice was 1.24x worse than zero-shot on the test
# windows; the guard kept the start there). 0.5 is about the plain comparison; one series is
# judged by the plain comparison.
GUARD_CONFIDENCE = 0.9
GUARD_RESAMPLES = 2000


class TooShortToFineTune(ValueError):
    """The series leave no training window or no held-out points to validate on."""


@dataclass(frozen=True)
class FineTuneResult:
    """What a fine-tuning run did: the validation scores it saw (``metric``: "wql" or the
    training "loss"; lower is better) and the step it kept."""

    start_loss: float
    best_loss: float
    best_step: int
    steps: int
    seconds: float
    history: tuple[tuple[int, float], ...]
    metric: str = FIT_VALIDATION_METRIC
    # share of the series resamples in which the best step beat the start (None: no step beat it,
    # or the metric has no per-series parts)
    confidence: float | None = None


@dataclass
class _Family:
    """The pieces of one model family that fine-tuning needs."""

    task: TrainingTask
    network: nn.Module
    rebuild: Callable[[nn.Module], Any]  # trained network -> a new pipeline


def _family(pipeline: Any, context_length: int) -> _Family:
    from chronos_pkg.bolt.pipeline import ChronosBoltPipeline
    from chronos_pkg.t5.model import ChronosModel
    from chronos_pkg.t5.pipeline import ChronosPipeline
    from chronos_pkg.t5.tokenizer import MeanScaleUniformBins
    from chronos_pkg.train.bolt_task import BoltTask
    from chronos_pkg.train.t5_task import T5Task

    config = pipeline.chronos_config
    shape = {"size": None, "context_length": context_length}
    shape["prediction_length"] = config.prediction_length
    if isinstance(pipeline, ChronosBoltPipeline):
        task = BoltTask(ModelConfig(family="bolt", options={"target_clip": 20.0}, **shape))
        task.bolt_config = dataclasses.replace(config, context_length=context_length)
        network = copy.deepcopy(pipeline.model).float()
        network.bolt_config = task.bolt_config

        def rebuild(net: nn.Module) -> Any:
            return ChronosBoltPipeline(net)

        return _Family(task, network, rebuild)
    if isinstance(pipeline, ChronosPipeline):
        task = T5Task(ModelConfig(family="t5", model_type=config.model_type, **shape))
        task.chronos_config = dataclasses.replace(config, context_length=context_length)
        task.tokenizer = MeanScaleUniformBins(task.chronos_config)
        network = copy.deepcopy(pipeline.model.model).float()
        saved = dataclasses.replace(config, context_length=context_length)

        def rebuild(net: nn.Module) -> Any:
            return ChronosPipeline(ChronosModel(saved, net))

        return _Family(task, network, rebuild)
    raise TypeError(f"fine-tuning is not available for {type(pipeline).__name__}")


def split_fit_series(
    inputs: ContextInput,
    prediction_length: int,
    validation_inputs: ContextInput | None,
    min_train: int,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Training series, validation contexts and validation targets, after the input checks.

    Without ``validation_inputs`` each series' last ``prediction_length`` points are its
    validation target and the points before them its context and training data. With them, the
    training series are ``inputs`` whole and each validation series is split the same way.
    """
    series = [s.numpy().astype(np.float32) for s in to_series_list(inputs)]
    for i, values in enumerate(series):
        if np.isnan(values).all():
            raise ValueError(f"series {i}: all values are missing; nothing to fine-tune on")
    held = (
        series
        if validation_inputs is None
        else [s.numpy().astype(np.float32) for s in to_series_list(validation_inputs)]
    )
    longest = max(len(s) for s in held)
    if prediction_length >= longest:
        raise TooShortToFineTune(
            f"prediction_length {prediction_length} leaves no history to validate on: the "
            f"longest {'series' if validation_inputs is None else 'validation series'} has "
            f"{longest} points"
        )
    contexts, targets = [], []
    for values in held:
        if len(values) <= prediction_length:
            continue  # too short to score; training may still use it
        context, target = values[:-prediction_length], values[-prediction_length:]
        if np.isnan(context).all() or np.isnan(target).all():
            continue
        contexts.append(context)
        targets.append(target)
    if not contexts:
        raise TooShortToFineTune(
            "no series has an observed value both in its last prediction_length "
            f"({prediction_length}) points and before them: nothing to validate on"
        )
    train = series if validation_inputs is not None else [s[:-prediction_length] for s in series]
    usable = [s for s in train if len(s) >= min_train and not np.isnan(s).all()]
    if not usable:
        raise TooShortToFineTune(
            f"every series is too short for a training window: each needs at least {min_train} "
            f"points before its last prediction_length ({prediction_length}); the longest has "
            f"{max(len(s) for s in train)}"
        )
    return usable, contexts, targets


def _validation_batch(
    task: TrainingTask, contexts: Sequence[np.ndarray], targets: Sequence[np.ndarray]
) -> dict[str, torch.Tensor]:
    """The held-out windows as one batch of the task, cut as training windows are
    (:func:`~chronos_pkg.train.windows.window_at`: contexts left-padded, targets right-padded to
    the model's horizon with NaN, which the loss leaves out)."""
    spec = WindowSpec(task.context_length, task.prediction_length)
    windows = [window_at(np.concatenate([c, t]), len(c), spec) for c, t in zip(contexts, targets)]
    rows_c, rows_f = (np.stack(part) for part in zip(*windows))
    return task.make_batch(rows_c, rows_f)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def _validation_loss(
    task: TrainingTask, network: nn.Module, batches: Sequence[dict[str, torch.Tensor]]
) -> np.ndarray:
    network.eval()
    losses = [float(task.loss(network, batch)) for batch in batches]
    network.train()
    return np.array([np.mean(losses)])


def series_wql_parts(
    target: np.ndarray, quantiles: np.ndarray, levels: Sequence[float]
) -> np.ndarray:
    """(N,) each series' share of the WQL of ``quantiles`` (N, H, Q) against ``target`` (N, H):
    its quantile loss over all series' summed ``|y|``, averaged over the levels; they sum to the
    WQL (:func:`~chronos_pkg.eval.metrics.weighted_quantile_loss`)."""
    target = np.asarray(target, dtype=np.float64)
    scale = np.nansum(np.abs(target))
    losses = [
        np.nansum(quantile_loss(target, quantiles[..., i], q), axis=1) for i, q in enumerate(levels)
    ]
    return np.mean(losses, axis=0) / scale


def gain_confidence(
    start: np.ndarray, best: np.ndarray, seed: int = 0, resamples: int = GUARD_RESAMPLES
) -> float:
    """Share of resamples of the series (with replacement) in which the summed ``best`` parts
    are below the summed ``start`` parts: how consistently the gain holds across series."""
    start, best = np.asarray(start, np.float64), np.asarray(best, np.float64)
    rng = np.random.default_rng(seed)
    wins = 0
    for chunk in np.array_split(np.arange(resamples), max(1, resamples * len(start) // 2**22)):
        index = rng.integers(len(start), size=(len(chunk), len(start)))
        wins += int((best[index].sum(axis=1) < start[index].sum(axis=1)).sum())
    return wins / resamples


def _validation_scorer(
    metric: str,
    family: _Family,
    contexts: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    device: torch.device,
) -> Callable[[], np.ndarray]:
    """A function scoring the network as it is now on the held-out points, as parts that sum to
    the score (lower is better): ``metric`` "wql" forecasts them with the pipeline the network
    would become (one part per series, :func:`series_wql_parts`); "loss" (or targets that are
    all zero, where WQL is undefined) takes the task's training loss (one part)."""
    task, network = family.task, family.network
    target = np.stack(targets)
    if metric == "wql" and np.nansum(np.abs(target)) > 0:
        levels = list(DEFAULT_QUANTILE_LEVELS)

        def score_wql() -> np.ndarray:
            with torch.random.fork_rng(devices=[]):  # Chronos-T5 samples: the same draws each time
                torch.manual_seed(0)
                quantiles, _ = family.rebuild(network).predict_quantiles(
                    list(contexts), target.shape[1], levels
                )
            network.train()
            return series_wql_parts(target, quantiles.numpy(), levels)

        return score_wql
    chunk = 256
    batches = [
        _to(_validation_batch(task, contexts[i : i + chunk], targets[i : i + chunk]), device)
        for i in range(0, len(contexts), chunk)
    ]
    return lambda: _validation_loss(task, network, batches)


def fine_tune(
    pipeline: Any,
    inputs: ContextInput,
    prediction_length: int,
    *,
    validation_inputs: ContextInput | None = None,
    finetune_mode: str | None = None,
    learning_rate: float | None = None,
    num_steps: int | None = None,
    batch_size: int | None = None,
    context_length: int | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    output_dir: str | os.PathLike | None = None,
    progress: bool = True,
    bf16: bool | None = None,
    validation_metric: str | None = None,
    guard_confidence: float | None = None,
) -> tuple[Any, FineTuneResult]:
    """Fine-tune a copy of ``pipeline``'s network; returns the new pipeline and a summary.

    See :meth:`chronos_pkg.base.BasePipeline.fit` for the parameters.
    """
    horizon = check_prediction_length(prediction_length)
    finetune_mode = FIT_MODE if finetune_mode is None else finetune_mode
    if finetune_mode not in FINETUNE_MODES:
        raise ValueError(
            f"finetune_mode must be one of {FINETUNE_MODES}, got {finetune_mode!r} (LoRA is not "
            "offered: on these small networks full fine-tuning is as cheap)"
        )
    if horizon > pipeline.model_prediction_length:
        raise ValueError(
            f"prediction_length {horizon} exceeds the model's horizon "
            f"{pipeline.model_prediction_length}: fine-tune for at most that many steps"
        )
    metric = FIT_VALIDATION_METRIC if validation_metric is None else validation_metric
    if metric not in VALIDATION_METRICS:
        raise ValueError(f"validation_metric must be one of {VALIDATION_METRICS}, got {metric!r}")
    confidence = GUARD_CONFIDENCE if guard_confidence is None else float(guard_confidence)
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"guard_confidence must lie in [0, 1], got {confidence}")
    lr = FIT_LEARNING_RATE if learning_rate is None else float(learning_rate)
    steps = FIT_NUM_STEPS if num_steps is None else int(num_steps)
    batch = FIT_BATCH_SIZE if batch_size is None else int(batch_size)
    context = pipeline.model_context_length if context_length is None else int(context_length)
    for name, value in (("num_steps", steps), ("batch_size", batch), ("context_length", context)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not lr > 0:
        raise ValueError(f"learning_rate must be > 0, got {lr}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit}")
    spec = WindowSpec(
        context_length=context,
        prediction_length=pipeline.model_prediction_length,
        min_past=MIN_PAST,
        min_future=horizon,
    )
    train, val_contexts, val_targets = split_fit_series(
        inputs, horizon, validation_inputs, spec.min_length
    )
    if len(val_contexts) > MAX_VALIDATION_WINDOWS:  # enough to rank checkpoints, cheap to score
        keep = np.sort(
            np.random.default_rng(seed).choice(
                len(val_contexts), MAX_VALIDATION_WINDOWS, replace=False
            )
        )
        val_contexts = [val_contexts[i] for i in keep]
        val_targets = [val_targets[i] for i in keep]

    start = time.monotonic()
    family = _family(pipeline, context)
    task, network = family.task, family.network
    device = pipeline.device
    network.to(device).train()
    trainable = _trainable(network, finetune_mode)
    source = FileSource("fine-tune", SeriesStore.from_arrays(train), spec)
    sampler = WindowSampler([source], np.ones(1), spec, seed)
    score = _validation_scorer(metric, family, val_contexts, val_targets, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        best_state, summary = _train(
            task,
            network,
            trainable,
            sampler,
            score,
            steps,
            batch,
            lr,
            start,
            time_limit,
            progress,
            device,
            use_bf16(device) if bf16 is None else bf16,
            seed,
        )
    summary = dataclasses.replace(summary, metric=metric)
    if best_state is None:
        warnings.warn(
            f"fine-tuning did not improve the validation {metric} ({summary.start_loss:.4f}); "
            "returning the starting weights",
            stacklevel=3,
        )
    elif summary.confidence is not None and summary.confidence < confidence:
        warnings.warn(
            f"fine-tuning improved the validation {metric} ({summary.start_loss:.4f} -> "
            f"{summary.best_loss:.4f}) in only {summary.confidence:.0%} of resamples of the "
            f"held-out series (the guard asks for {confidence:.0%}): the gain rests on a few "
            "series; returning the starting weights",
            stacklevel=3,
        )
        best_state = None
        summary = dataclasses.replace(summary, best_loss=summary.start_loss, best_step=0)
    if best_state is None:
        tuned = pipeline.__class__(copy.deepcopy(pipeline.model))
    else:
        network.load_state_dict(best_state)
        network.requires_grad_(True)
        tuned = family.rebuild(network.eval())
    if output_dir is not None:
        tuned.save_pretrained(output_dir)
    return tuned, summary


def _trainable(network: nn.Module, mode: str) -> list[nn.Parameter]:
    """The parameters ``mode`` trains; the others get ``requires_grad=False`` (on the copy)."""
    frozen_parts = {
        "full": (),
        "decoder": FROZEN_IN_DECODER_MODE + FROZEN_GATE,
        "decoder+gate": FROZEN_IN_DECODER_MODE,
    }[mode]
    return select_trainable(
        network, lambda name: not any(part in frozen_parts for part in name.split("."))
    )


def _train(
    task: TrainingTask,
    network: nn.Module,
    trainable: Sequence[nn.Parameter],
    sampler: WindowSampler,
    score: Callable[[], np.ndarray],
    steps: int,
    batch_size: int,
    lr: float,
    start: float,
    time_limit: float | None,
    progress: bool,
    device: torch.device,
    bf16: bool,
    seed: int = 0,
) -> tuple[dict[str, torch.Tensor] | None, FineTuneResult]:
    """The optimisation loop; returns the best weights (None: the start was best) and a summary
    with the guard's confidence in the best step's gain (:func:`gain_confidence`)."""
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    warmup = min(50, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: linear_schedule(s, steps, warmup)
    )
    every = max(1, math.ceil(steps / EVALUATIONS))
    start_parts = best_parts = score()
    start_loss = best_loss = float(start_parts.sum())
    history = [(0, start_loss)]
    best_state, best_step, step = None, 0, 0
    bar = _progress_bar(steps, progress)
    for step in range(1, steps + 1):
        contexts, futures = sampler.sample(step, batch_size)
        with _autocast(device, bf16):
            loss = task.loss(network, _to(task.make_batch(contexts, futures), device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        out_of_time = time_limit is not None and time.monotonic() - start >= time_limit
        if step % every == 0 or step == steps or out_of_time:
            parts = score()
            val = float(parts.sum())
            history.append((step, val))
            if val < best_loss:
                best_loss, best_step, best_parts = val, step, parts
                best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
            if bar is not None:
                bar.set_postfix(val=f"{val:.4f}", best=f"{best_loss:.4f}")
        if bar is not None:
            bar.update(1)
        if out_of_time:
            logger.info("fine-tuning: time limit reached at step %d", step)
            break
    if bar is not None:
        bar.close()
    confidence = None
    if best_state is not None and len(start_parts) > 1:
        confidence = gain_confidence(start_parts, best_parts, seed)
    summary = FineTuneResult(
        start_loss,
        best_loss,
        best_step,
        step,
        time.monotonic() - start,
        tuple(history),
        confidence=confidence,
    )
    return best_state, summary


def use_bf16(device: torch.device) -> bool:
    """Whether training steps run in bfloat16 autocast by default: on a GPU that supports it,
    and on a CPU with bfloat16 units (AMX or AVX-512 BF16), where it is faster (1.7x on the
    2-core AMD EPYC this project runs on); elsewhere bfloat16 is emulated and slower.
    Validation always runs in float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def _autocast(device: torch.device, enabled: bool) -> Any:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with transformers
        return None
    return tqdm(total=total, desc="fine-tuning", unit="step")
