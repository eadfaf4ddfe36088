"""Writing a large synthetic corpus as numbered shards, resumably and in parallel.

Shard ``k`` holds series ``[k * shard_size, (k + 1) * shard_size)`` made by a deterministic
``make_shard(begin, end)`` (KernelSynth, TSMixup), so a resumed or parallel run writes the
same files as one uninterrupted run. The files are those of :mod:`chronos_pkg.series_io`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from chronos_pkg.series_io import (
    DEFAULT_FREQ,
    DEFAULT_START,
    FORMAT_SUFFIXES,
    SeriesCollection,
    SeriesFormat,
    as_series_list,
    count_rows,
    series_table,
    write_table_atomic,
)

logger = logging.getLogger(__name__)

ShardMaker = Callable[[int, int], SeriesCollection]
MANIFEST_NAME = ".manifest.json"  # hidden, so GluonTS' FileDataset does not try to load it


def shard_path(output_dir: Path, index: int, format: SeriesFormat) -> Path:
    """The file of shard ``index``: ``part-00000.arrow``, ``part-00001.arrow``..."""
    return output_dir / f"part-{index:05d}{FORMAT_SUFFIXES[format]}"


def _produce_shard(
    make_shard: ShardMaker,
    begin: int,
    end: int,
    path: Path,
    format: SeriesFormat,
    start: str,
    freq: str,
    id_prefix: str,
) -> int:
    series = as_series_list(make_shard(begin, end))
    if len(series) != end - begin:
        raise RuntimeError(f"shard maker returned {len(series)} series for range [{begin}, {end})")
    ids = [f"{id_prefix}{i}" for i in range(begin, end)]
    write_table_atomic(series_table(series, format, start=start, freq=freq, ids=ids), path, format)
    return end - begin


def _limit_threads(num_threads: int) -> None:
    """Worker initialiser: share the machine's cores between worker processes."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(num_threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(num_threads)


def _check_manifest(output_dir: Path, manifest: dict[str, Any], resume: bool) -> None:
    manifest_path = output_dir / MANIFEST_NAME
    existing_shards = list(output_dir.glob("part-*")) if output_dir.is_dir() else []
    if not resume:
        if manifest_path.exists() or existing_shards:
            raise FileExistsError(
                f"{output_dir} already holds shards: pass resume=True (--resume) or use a new path"
            )
        return
    if not manifest_path.exists():
        if existing_shards:
            raise ValueError(
                f"{output_dir} holds shards but no {MANIFEST_NAME}: cannot check they match"
            )
        return
    previous = json.loads(manifest_path.read_text())
    for key, value in manifest.items():
        if key != "num_series" and previous.get(key) != value:
            raise ValueError(
                f"cannot resume {output_dir}: {key} was {previous.get(key)!r}, now {value!r}; "
                "use the same settings or a new path"
            )


def write_shards(
    make_shard: ShardMaker,
    num_series: int,
    output_dir: str | os.PathLike,
    *,
    shard_size: int = 4096,
    format: SeriesFormat = "arrow",
    resume: bool = False,
    workers: int = 1,
    metadata: dict[str, Any] | None = None,
    start: str = DEFAULT_START,
    freq: str = DEFAULT_FREQ,
    id_prefix: str = "",
    progress: bool = True,
) -> list[Path]:
    """Generate ``num_series`` series shard by shard into ``output_dir``, resumably.

    Shard ``k`` holds series ``[k * shard_size, min((k + 1) * shard_size, num_series))``, made by
    ``make_shard(begin, end)`` (a 2-D array or a list of 1-D arrays), and is written atomically as
    ``part-{k:05d}.arrow`` / ``.parquet``. A killed run keeps its finished shards; with
    ``resume=True`` only missing or incomplete shards are made, so when ``make_shard`` is a
    deterministic function of the index range the result equals one uninterrupted run.
    ``metadata`` (generator settings) is stored in ``.manifest.json`` and must match on resume.
    With ``workers > 1`` shards are made in spawned processes, so ``make_shard`` must pickle.

    Returns
    -------
    The shard paths, in order.
    """
    _check_shard_settings(num_series, shard_size, workers, format)
    output_dir = Path(output_dir)
    manifest = {
        "num_series": num_series,
        "shard_size": shard_size,
        "format": format,
        "start": start,
        "freq": freq,
        "id_prefix": id_prefix,
        "metadata": json.loads(json.dumps(metadata or {})),
    }
    _prepare_output(output_dir, manifest, resume)
    num_shards = -(-num_series // shard_size)
    ranges = [(k * shard_size, min((k + 1) * shard_size, num_series)) for k in range(num_shards)]
    paths = [shard_path(output_dir, k, format) for k in range(num_shards)]
    _remove_extra_shards(output_dir, paths)
    todo = [
        k
        for k in range(num_shards)
        if not (paths[k].exists() and count_rows(paths[k]) == ranges[k][1] - ranges[k][0])
    ]
    done = num_series - sum(ranges[k][1] - ranges[k][0] for k in todo)
    if done:
        logger.info("resuming %s: %d of %d series already written", output_dir, done, num_series)
    jobs = [(ranges[k][0], ranges[k][1], paths[k], format, start, freq, id_prefix) for k in todo]

    from tqdm.auto import tqdm

    with tqdm(
        total=num_series, initial=done, unit="series", disable=not progress, desc=output_dir.name
    ) as bar:
        _produce_shards(make_shard, jobs, workers, bar.update)
    return paths


def _check_shard_settings(num_series: int, shard_size: int, workers: int, format: str) -> None:
    if num_series < 0:
        raise ValueError(f"num_series must be >= 0, got {num_series}")
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if format not in FORMAT_SUFFIXES:
        raise ValueError(f"format must be 'arrow' or 'parquet', got {format!r}")


def _prepare_output(output_dir: Path, manifest: dict[str, Any], resume: bool) -> None:
    """Check ``manifest`` against an earlier run's, write it, drop half-written files."""
    _check_manifest(output_dir, manifest, resume)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    for stale in output_dir.glob(".part-*.tmp"):  # left by a killed writer
        stale.unlink()


def _remove_extra_shards(output_dir: Path, paths: list[Path]) -> None:
    """Delete shards beyond a smaller new ``num_series``."""
    expected = {p.name for p in paths}
    for extra in output_dir.glob("part-*"):
        if extra.name not in expected:
            extra.unlink()


def _produce_shards(
    make_shard: ShardMaker, jobs: list[tuple], workers: int, report: Callable[[int], Any]
) -> None:
    """Write every shard of ``jobs``, in this process or in ``workers`` spawned ones."""
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            report(_produce_shard(make_shard, *job))
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=_limit_threads,
        initargs=(threads,),
    ) as pool:
        pending = {pool.submit(_produce_shard, make_shard, *job) for job in jobs}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    report(future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise
