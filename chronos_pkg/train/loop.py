"""Pretraining and fine-tuning loop shared by every model family: ``train(config) -> Path``.

One process per device. Launched by ``torchrun`` or ``accelerate launch`` (``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK`` in the environment) it runs distributed data parallel with no code
change; otherwise it trains on one GPU, or on the CPU for smoke runs.

Recipe (SPEC section 4): AdamW (fused on CUDA), linear decay to 0 after optional warmup,
gradient clipping, bf16 autocast and tf32 on CUDA (bf16 autocast on the CPU with
``trainer.cpu_bf16``), optional ``torch.compile``.

Output directory::

    log.jsonl                 one JSON object per logging step: step, loss, lr, tokens_per_s, ...
    checkpoint-latest/        written atomically every ``save_every`` steps and on stop:
        config.json, model.safetensors   (a pipeline-loadable checkpoint, float32 weights)
        trainer_state.pt      optimizer, scheduler, step, RNG states (tensors + plain data)
        train_config.yaml     the resolved config, with the seed
    final/                    the finished model (+ train_config.yaml)

``--resume`` continues from ``checkpoint-latest`` at the saved step; data batch ``k`` is a pure
function of ``(seed, k, rank)`` (see :mod:`chronos_pkg.train.windows`), so the run continues
exactly as if it had not stopped. SIGTERM/SIGINT, ``trainer.max_minutes`` and
``trainer.stop_after_steps`` stop the run at the next step boundary after writing a checkpoint.

Reading order: :func:`train` -> :func:`_train` (setup) -> :func:`_loop` (one
:func:`_optimizer_step` per step, then :func:`_log`, :func:`_stop_now`, :func:`_save_latest`)
-> :func:`_finish`. The checkpoint files are :mod:`chronos_pkg.train.state`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from chronos_pkg.devices import resolve_device
from chronos_pkg.train.config import (
    TRAIN_CONFIG_FILE,
    DataConfig,
    TrainConfig,
    TrainerConfig,
    save_train_config,
)
from chronos_pkg.train.sources import build_sources
from chronos_pkg.train.state import (
    FINAL,
    LATEST,
    LOG_FILE,
    find_resume_checkpoint,
    gather_rng_states,
    restore_trainer_state,
    save_model,
    save_training_checkpoint,
)
from chronos_pkg.train.task import TrainingTask, make_task
from chronos_pkg.train.windows import BatchStream, WindowSampler, WindowSpec, make_loader

logger = logging.getLogger(__name__)

STOP_CHECK_EVERY = 10
Batches = Iterator[dict[str, torch.Tensor]]


# ------------------------------------------------------------------------------- placement


@dataclass(frozen=True)
class Placement:
    """Where this process trains: its rank among ``world`` processes, and its device."""

    rank: int
    world: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _distributed_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from the launcher's environment (1 process: 0, 0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, local, world


def place_process(trainer: TrainerConfig) -> Placement:
    """Pick this process's device, join the process group, set threads and tf32."""
    rank, local_rank, world = _distributed_env()
    device = resolve_device(trainer.device, cuda_index=local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cpu" and trainer.cpu_threads:
        torch.set_num_threads(trainer.cpu_threads)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = trainer.tf32
        torch.backends.cudnn.allow_tf32 = trainer.tf32
    return Placement(rank, world, device)


def linear_schedule(step: int, max_steps: int, warmup_steps: int = 0) -> float:
    """Learning-rate multiplier: linear warmup, then linear decay to 0 at ``max_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (max_steps - step) / max(1, max_steps - warmup_steps))


# ------------------------------------------------------------------------------------ setup


def train(config: TrainConfig) -> Path:
    """Train as ``config`` says; returns the ``final/`` checkpoint directory.

    When stopped early (signal, ``trainer.max_minutes`` or ``trainer.stop_after_steps``) it
    returns ``checkpoint-latest``.
    """
    threads = torch.get_num_threads()
    # denormal floats in CPU matmuls halved the step rate of a Bolt run within 350 steps
    flush = torch.set_flush_denormal(True)
    try:
        return _train(config)
    finally:
        torch.set_num_threads(threads)  # cpu_threads applies to this run only
        if flush:
            torch.set_flush_denormal(False)


@dataclass
class _Run:
    """What a run carries from step to step."""

    config: TrainConfig
    place: Placement
    task: TrainingTask
    model: nn.Module  # the network itself: clipped, saved
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    step: int = 0
    ddp_model: nn.Module | None = None  # DDP wrapper (or the model): gradient sync control
    step_model: nn.Module | None = None  # what the loss calls: DDP and/or compiled
    meter: _Meter | None = field(default=None, repr=False)

    @property
    def output_dir(self) -> Path:
        return Path(self.config.output_dir)


def _train(config: TrainConfig) -> Path:
    t = config.trainer
    place = place_process(t)
    per_device = _per_device_batch_size(t, place.world)
    # everything that can fail on bad input happens before the first step
    task = make_task(config.model, config.seed)
    resume_from = find_resume_checkpoint(Path(config.output_dir)) if t.resume else None
    if t.resume and resume_from is None:
        logger.info("no checkpoint in %s to resume from: starting fresh", config.output_dir)
    model = _initial_model(task, resume_from, t.init_from).to(place.device)
    spec = _window_spec(config.data, task)
    sources, weights = build_sources(config.data, spec, config.seed)

    torch.manual_seed(config.seed + place.rank)
    run = _Run(config, place, task, model, *_optimizer(model, t, place.device))
    if resume_from is not None:
        run.step = restore_trainer_state(
            resume_from, run.optimizer, run.scheduler, place.rank, place.device
        )
    run.ddp_model, run.step_model = _wrap_model(model, place, t.compile)
    sampler = WindowSampler(sources, weights, spec, config.seed, rank=place.rank)
    stream = BatchStream(
        sampler, task.make_batch, per_device, start=run.step * t.gradient_accumulation
    )
    loader = make_loader(
        stream,
        config.data.num_workers,
        config.data.prefetch_factor,
        pin_memory=place.device.type == "cuda",
    )
    batches: Batches = iter(loader)
    if place.is_main:
        run.output_dir.mkdir(parents=True, exist_ok=True)
        save_train_config(config, run.output_dir / TRAIN_CONFIG_FILE)
    stopped = _loop(run, batches)
    del batches, loader  # stop the data-loader workers before the final save
    return _finish(run, stopped)


def _per_device_batch_size(t: TrainerConfig, world: int) -> int:
    per_device = t.batch_size // (world * t.gradient_accumulation)
    if per_device * world * t.gradient_accumulation != t.batch_size:
        raise ValueError(
            f"trainer.batch_size {t.batch_size} is not divisible by world size {world} x "
            f"gradient_accumulation {t.gradient_accumulation}"
        )
    return per_device


def _initial_model(
    task: TrainingTask, resume_from: Path | None, init_from: str | None
) -> nn.Module:
    """The network to start from: the resume point's, a checkpoint to fine-tune, or fresh."""
    start = resume_from or (Path(init_from) if init_from else None)
    if start is not None and not start.is_dir():
        raise FileNotFoundError(f"trainer.init_from {start} is not a checkpoint directory")
    return task.build_model(start)


def _window_spec(data: DataConfig, task: TrainingTask) -> WindowSpec:
    return WindowSpec(
        context_length=task.context_length,
        prediction_length=task.prediction_length,
        min_past=data.min_past,
        min_future=data.min_future,
        max_missing_prop=data.max_missing_prop,
        missing_prob_max=data.missing_prob_max if task.uses_missing_augmentation else 0.0,
    )


def _optimizer(
    model: nn.Module, t: TrainerConfig, device: torch.device
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW (fused on CUDA) and the warmup + linear decay schedule, over the weights that train
    (:func:`trainable_parameters`)."""
    optimizer = torch.optim.AdamW(
        trainable_parameters(model, t.train_only),
        lr=t.learning_rate,
        betas=(t.adam_betas[0], t.adam_betas[1]),
        weight_decay=t.weight_decay,
        fused=device.type == "cuda",
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: linear_schedule(s, t.max_steps, t.warmup_steps)
    )
    return optimizer, scheduler


def select_trainable(model: nn.Module, trains: Callable[[str], bool]) -> list[nn.Parameter]:
    """The parameters whose name ``trains`` accepts; every other one gets
    ``requires_grad=False`` (one freezing rule for pretraining and fine-tuning)."""
    chosen = []
    for name, param in model.named_parameters():
        param.requires_grad_(trains(name))
        if param.requires_grad:
            chosen.append(param)
    return chosen


def trainable_parameters(model: nn.Module, prefixes: list[str] | None) -> list[nn.Parameter]:
    """Every parameter, or with ``prefixes`` (``trainer.train_only``) those whose name starts with
    one of them; the rest are frozen (no gradient, not in the optimizer, saved unchanged)."""
    chosen = select_trainable(
        model, lambda name: prefixes is None or any(name.startswith(p) for p in prefixes)
    )
    if not chosen:
        names = [n for n, _ in model.named_parameters()][:5]
        raise ValueError(
            f"trainer.train_only {prefixes} matches no parameter of the model (names look like "
            f"{names})"
        )
    return chosen


def _wrap_model(
    model: nn.Module, place: Placement, use_compile: bool
) -> tuple[nn.Module, nn.Module]:
    """(the DDP-wrapped model, the model the loss calls: DDP and/or ``torch.compile``)."""
    ddp_model = model
    if place.distributed:
        device_ids = [place.device.index] if place.device.type == "cuda" else None
        ddp_model = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    # compiled after DDP, so compiled graphs break at gradient buckets (DDPOptimizer)
    return ddp_model, torch.compile(ddp_model) if use_compile else ddp_model


# ------------------------------------------------------------------------------------- loop


class _StopFlag:
    """Set by SIGTERM/SIGINT; the loop checkpoints and exits at the next step boundary."""

    def __init__(self) -> None:
        self.stop = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop:  # a second signal: stop now, without a checkpoint
            raise KeyboardInterrupt
        logger.warning("received signal %d: saving a checkpoint and stopping", signum)
        self.stop = True

    def __enter__(self) -> _StopFlag:
        with contextlib.suppress(ValueError):  # not the main thread
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _Meter:
    """Loss, input positions and steps since the last log line (the loss stays on the device)."""

    def __init__(self, device: torch.device) -> None:
        self.loss_sum = torch.zeros((), device=device)
        self.reset()

    def reset(self) -> None:
        self.loss_sum.zero_()
        self.tokens, self.steps, self.since = 0, 0, time.perf_counter()


def _loop(run: _Run, batches: Batches) -> bool:
    """Step until ``max_steps`` or a stop; returns True when stopped early."""
    t = run.config.trainer
    autocast = _autocast(run.place.device.type, t)
    deadline = time.monotonic() + 60 * t.max_minutes if t.max_minutes else math.inf
    stop_step = run.step + t.stop_after_steps if t.stop_after_steps else math.inf
    from tqdm.auto import tqdm

    progress = tqdm(
        total=t.max_steps,
        initial=run.step,
        disable=not (run.place.is_main and t.progress_bar),
        unit="step",
    )
    run.meter = _Meter(run.place.device)
    stopped = False
    with _StopFlag() as flag:
        while run.step < t.max_steps:
            _optimizer_step(run, batches, autocast)
            progress.update(1)
            if run.step % t.log_every == 0 or run.step == t.max_steps:
                _log(run, progress)
            wants_stop = flag.stop or time.monotonic() > deadline or run.step >= stop_step
            stop_now = _stop_now(run, wants_stop, stop_step)
            if run.step % t.save_every == 0 or (stop_now and run.step < t.max_steps):
                _save_latest(run)
            if stop_now and run.step < t.max_steps:
                logger.info("stopping at step %d; continue with --resume", run.step)
                stopped = True
                break
    progress.close()
    return stopped


def _autocast(device_type: str, t: TrainerConfig) -> Any:
    """bfloat16 autocast for the forward pass: on CUDA with ``bf16``, on the CPU with
    ``cpu_bf16``; otherwise float32 throughout."""
    if (device_type == "cuda" and t.bf16) or (device_type == "cpu" and t.cpu_bf16):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _optimizer_step(run: _Run, batches: Batches, autocast: Any) -> None:
    """One optimizer step over ``gradient_accumulation`` micro-batches."""
    t, meter = run.config.trainer, run.meter
    assert meter is not None and run.step_model is not None and run.ddp_model is not None
    for micro in range(t.gradient_accumulation):
        batch = {k: v.to(run.place.device, non_blocking=True) for k, v in next(batches).items()}
        sync = (
            run.ddp_model.no_sync()
            if run.place.distributed and micro < t.gradient_accumulation - 1
            else contextlib.nullcontext()
        )
        with sync:  # no gradient all-reduce until the last micro-batch
            with autocast:
                loss = run.task.loss(run.step_model, batch) / t.gradient_accumulation
            loss.backward()
        meter.loss_sum += loss.detach()
        meter.tokens += run.task.tokens_in(batch)
    if t.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), t.max_grad_norm)
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    meter.steps += 1


def _log(run: _Run, progress: Any) -> None:
    """Append one ``log.jsonl`` row (main process) and restart the meter."""
    meter = run.meter
    assert meter is not None
    record = _log_record(
        meter.loss_sum,
        meter.steps,
        meter.tokens,
        meter.since,
        run.step,
        run.scheduler,
        run.place.world,
    )
    if run.place.is_main:
        progress.set_postfix(loss=f"{record['loss']:.4f}")
        with open(run.output_dir / LOG_FILE, "a") as handle:
            handle.write(json.dumps(record) + "\n")
    meter.reset()


def _stop_now(run: _Run, wants_stop: bool, stop_step: float) -> bool:
    """Whether every rank stops after this step; ranks agree every ``STOP_CHECK_EVERY`` steps
    (a collective per step would stall)."""
    if run.place.distributed and run.step % STOP_CHECK_EVERY and run.step < stop_step:
        return False
    return _agree(wants_stop, run.place.device, run.place.distributed)


def _save_latest(run: _Run) -> None:
    """Write ``checkpoint-latest`` (main process), every rank's RNG state included."""
    rng_states = gather_rng_states(run.place.device, run.place.distributed)
    if run.place.is_main:
        save_training_checkpoint(
            run.output_dir / LATEST,
            run.task,
            run.model,
            run.optimizer,
            run.scheduler,
            run.step,
            run.config,
            rng_states,
        )
    if run.place.distributed:
        dist.barrier()


def _finish(run: _Run, stopped: bool) -> Path:
    """Save ``final/`` after a full run; returns it, or ``checkpoint-latest`` when stopped."""
    final = run.output_dir / (LATEST if stopped else FINAL)
    if run.place.is_main and not stopped:
        save_model(final, run.task, run.model, run.step, run.config)
    if run.place.distributed:
        dist.barrier()
    return final


def _agree(local_stop: bool, device: torch.device, distributed: bool) -> bool:
    """Stop everywhere if any rank wants to (keeps DDP ranks in step)."""
    if not distributed:
        return local_stop
    flag = torch.tensor([1.0 if local_stop else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)


def _log_record(
    loss_sum: torch.Tensor,
    steps: int,
    tokens: int,
    since: float,
    step: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    world: int,
) -> dict[str, Any]:
    """One ``log.jsonl`` row; the only place the loop waits for the device."""
    loss = loss_sum.clone()
    if world > 1:
        dist.all_reduce(loss)
        loss /= world
    elapsed = max(time.perf_counter() - since, 1e-9)
    return {
        "step": step,
        "loss": float(loss.item()) / max(steps, 1),
        "lr": float(scheduler.get_last_lr()[0]),
        "tokens_per_s": tokens * world / elapsed,
        "steps_per_s": steps / elapsed,
        "time": time.time(),
    }


__all__ = ["Placement", "linear_schedule", "place_process", "train"]
