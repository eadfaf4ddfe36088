"""Pretraining and fine-tuning loop shared by every model family: ``train(config) -> Path``.

One process per device. Launched by ``torchrun`` or ``accelerate launch`` (``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK`` in the environment) it runs distributed data parallel with no code
change; otherwise it trains on one GPU, or on the CPU for smoke runs.

Recipe (SPEC section 4): AdamW (fused on CUDA), linear decay to 0 after optional warmup,
gradient clipping, bf16 autocast and tf32 on CUDA, optional ``torch.compile``.

Output directory::

    log.jsonl                 one JSON object per logging step: step, loss, lr, tokens_per_s, ...
    checkpoint-latest/        written atomically every ``save_every`` steps and on stop:
        config.json, model.safetensors   (a pipeline-loadable checkpoint, float32 weights)
        trainer_state.pt      optimizer, scheduler, step, RNG states (tensors + plain data)
        train_config.yaml     the resolved config, with the seed
    final/                    the finished model (+ train_config.yaml)

``--resume`` continues from ``checkpoint-latest`` at the saved step; data batch ``k`` is a pure
function of ``(seed, k, rank)`` (see :mod:`chronos_pkg.training_data`), so the run continues
exactly as if it had not stopped. SIGTERM/SIGINT, ``trainer.max_minutes`` and ``trainer.stop_after_steps`` stop
the run at the next step boundary after writing a checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from chronos_pkg.train_config import TrainConfig, save_train_config
from chronos_pkg.train_task import TrainingTask, make_task
from chronos_pkg.training_data import (
    BatchStream,
    WindowSampler,
    WindowSpec,
    build_sources,
    make_loader,
)

logger = logging.getLogger(__name__)

LATEST = "checkpoint-latest"
FINAL = "final"
STATE_FILE = "trainer_state.pt"
CONFIG_FILE = "train_config.yaml"
LOG_FILE = "log.jsonl"
STOP_CHECK_EVERY = 10


# --------------------------------------------------------------------------------- devices


def _distributed_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from the launcher's environment (1 process: 0, 0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, local, world


def _select_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        return (
            torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
        )
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("trainer.device is 'cuda' but no CUDA device is available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def linear_schedule(step: int, max_steps: int, warmup_steps: int = 0) -> float:
    """Learning-rate multiplier: linear warmup, then linear decay to 0 at ``max_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (max_steps - step) / max(1, max_steps - warmup_steps))


# ------------------------------------------------------------------------------ checkpoints


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _gather_rng_states(device: torch.device, distributed: bool) -> list[dict[str, Any]]:
    """Every rank's RNG state (dropout differs per rank), collected on all ranks."""
    local = _rng_state(device)
    if not distributed:
        return [local]
    states: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(states, {k: v.cpu() for k, v in local.items()})
    return states


def save_training_checkpoint(
    directory: Path,
    task: TrainingTask,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    config: TrainConfig,
    rng_states: list[dict[str, Any]],
) -> Path:
    """Write ``directory`` atomically: build it beside, then swap it in with renames.

    ``rng_states`` holds one torch RNG state per rank (index = rank).
    """
    tmp = directory.with_name(directory.name + ".tmp")
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    task.save(model, tmp, {"step": step, "seed": config.seed})
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_states,
    }
    torch.save(state, tmp / STATE_FILE)
    save_train_config(config, tmp / CONFIG_FILE)
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)
    return directory


def find_resume_checkpoint(output_dir: Path) -> Path | None:
    """``checkpoint-latest`` (or the ``.old`` copy left by a stop during the swap)."""
    for candidate in (output_dir / LATEST, output_dir / (LATEST + ".old")):
        if (candidate / STATE_FILE).is_file():
            return candidate
    return None


def load_trainer_state(directory: Path) -> dict[str, Any]:
    """The optimizer/scheduler/RNG state of a training checkpoint (no pickled code)."""
    return torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)


# ------------------------------------------------------------------------------------ loop


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


def _train(config: TrainConfig) -> Path:
    t = config.trainer
    rank, local_rank, world = _distributed_env()
    device = _select_device(t.device, local_rank)
    distributed = world > 1
    if distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cpu" and t.cpu_threads:
        torch.set_num_threads(t.cpu_threads)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = t.tf32
        torch.backends.cudnn.allow_tf32 = t.tf32
    per_device = t.batch_size // (world * t.gradient_accumulation)
    if per_device * world * t.gradient_accumulation != t.batch_size:
        raise ValueError(
            f"trainer.batch_size {t.batch_size} is not divisible by world size {world} x "
            f"gradient_accumulation {t.gradient_accumulation}"
        )
    output_dir = Path(config.output_dir)
    is_main = rank == 0

    # everything that can fail on bad input happens before the first step
    task = make_task(config.model, config.seed)
    resume_from = find_resume_checkpoint(output_dir) if t.resume else None
    if t.resume and resume_from is None:
        logger.info("no checkpoint in %s to resume from: starting fresh", output_dir)
    init_from = resume_from or (Path(t.init_from) if t.init_from else None)
    if init_from is not None and not init_from.is_dir():
        raise FileNotFoundError(f"trainer.init_from {init_from} is not a checkpoint directory")
    model = task.build_model(init_from).to(device)
    spec = WindowSpec(
        context_length=task.context_length,
        prediction_length=task.prediction_length,
        min_past=config.data.min_past,
        min_future=config.data.min_future,
        max_missing_prop=config.data.max_missing_prop,
        missing_prob_max=config.data.missing_prob_max if task.uses_missing_augmentation else 0.0,
    )
    sources, weights = build_sources(config.data, spec, config.seed)

    torch.manual_seed(config.seed + rank)
    fused = device.type == "cuda"
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=t.learning_rate,
        betas=(t.adam_betas[0], t.adam_betas[1]),
        weight_decay=t.weight_decay,
        fused=fused,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: linear_schedule(s, t.max_steps, t.warmup_steps)
    )
    step = 0
    if resume_from is not None:
        state = load_trainer_state(resume_from)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if rank < len(state["rng"]):
            _set_rng_state(state["rng"][rank], device)
        else:  # resumed on more ranks than saved: a fresh dropout stream for the new ones
            logger.warning("no saved RNG state for rank %d: dropout masks will differ", rank)
        step = int(state["step"])
        logger.info("resumed from %s at step %d", resume_from, step)

    step_model: nn.Module = model
    if distributed:
        step_model = nn.parallel.DistributedDataParallel(
            step_model, device_ids=[device.index] if device.type == "cuda" else None
        )
    ddp_model = step_model
    if t.compile:  # after DDP, so compiled graphs break at gradient buckets (DDPOptimizer)
        step_model = torch.compile(step_model)

    sampler = WindowSampler(sources, weights, spec, config.seed, rank=rank)
    stream = BatchStream(sampler, task.make_batch, per_device, start=step * t.gradient_accumulation)
    loader = make_loader(
        stream,
        config.data.num_workers,
        config.data.prefetch_factor,
        pin_memory=device.type == "cuda",
    )
    batches: Iterator[dict[str, torch.Tensor]] = iter(loader)

    if is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        save_train_config(config, output_dir / CONFIG_FILE)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda" and t.bf16
        else contextlib.nullcontext()
    )
    deadline = time.monotonic() + 60 * t.max_minutes if t.max_minutes else math.inf
    stop_step = step + t.stop_after_steps if t.stop_after_steps else math.inf

    from tqdm.auto import tqdm

    progress = tqdm(
        total=t.max_steps, initial=step, disable=not (is_main and t.progress_bar), unit="step"
    )
    loss_sum = torch.zeros((), device=device)
    tokens = 0
    window_start = time.perf_counter()
    window_steps = 0
    stopped = False
    with _StopFlag() as flag:
        while step < t.max_steps:
            for micro in range(t.gradient_accumulation):
                batch = {k: v.to(device, non_blocking=True) for k, v in next(batches).items()}
                sync = (
                    ddp_model.no_sync()
                    if distributed and micro < t.gradient_accumulation - 1
                    else contextlib.nullcontext()
                )
                with sync:  # no gradient all-reduce until the last micro-batch
                    with autocast:
                        loss = task.loss(step_model, batch) / t.gradient_accumulation
                    loss.backward()
                loss_sum += loss.detach()
                tokens += task.tokens_in(batch)
            if t.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), t.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window_steps += 1
            progress.update(1)

            if step % t.log_every == 0 or step == t.max_steps:
                record = _log_record(
                    loss_sum, window_steps, tokens, window_start, step, scheduler, world
                )
                if is_main:
                    progress.set_postfix(loss=f"{record['loss']:.4f}")
                    with open(output_dir / LOG_FILE, "a") as handle:
                        handle.write(json.dumps(record) + "\n")
                loss_sum.zero_()
                tokens, window_steps, window_start = 0, 0, time.perf_counter()

            wants_stop = flag.stop or time.monotonic() > deadline or step >= stop_step
            # ranks agree every STOP_CHECK_EVERY steps (a collective per step would stall)
            if distributed and step % STOP_CHECK_EVERY and step < stop_step:
                stop_now = False
            else:
                stop_now = _agree(wants_stop, device, distributed)
            if step % t.save_every == 0 or (stop_now and step < t.max_steps):
                rng_states = _gather_rng_states(device, distributed)
                if is_main:
                    save_training_checkpoint(
                        output_dir / LATEST,
                        task,
                        model,
                        optimizer,
                        scheduler,
                        step,
                        config,
                        rng_states,
                    )
                if distributed:
                    dist.barrier()
            if stop_now and step < t.max_steps:
                logger.info("stopping at step %d; continue with --resume", step)
                stopped = True
                break
    progress.close()
    del batches, loader

    final = output_dir / (LATEST if stopped else FINAL)
    if is_main and not stopped:
        task.save(model, final, {"step": step, "seed": config.seed})
        save_train_config(config, final / CONFIG_FILE)
    if distributed:
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


__all__ = [
    "find_resume_checkpoint",
    "linear_schedule",
    "load_trainer_state",
    "save_training_checkpoint",
    "train",
]
