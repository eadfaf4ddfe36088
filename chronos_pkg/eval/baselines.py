"""Baseline forecasters of the Chronos benchmark, all behind the ``predict_quantiles`` protocol.

- :class:`SeasonalNaive` / :class:`Naive`: repeat the last season (the last value);
- :class:`StatsForecastBaseline`: AutoETS, AutoARIMA, AutoTheta from ``statsforecast``;
- :class:`GluonTSDeepBaseline`: DeepAR, PatchTST, DLinear, TFT trained per dataset with
  GluonTS' torch estimators (``gluonts[torch]``).

Each sets itself up per dataset in ``fit`` (called by
:func:`chronos_pkg.eval.harness.evaluate_dataset`), so the same object can be evaluated on
several datasets in turn. Inputs are normalised by :func:`chronos_pkg.inputs.to_series_list`,
as for the pipelines.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import torch

from chronos_pkg.eval.harness import OverBudget
from chronos_pkg.eval.series_cache import SeriesCache
from chronos_pkg.frequency import period_freq, seasonality_from_freq
from chronos_pkg.inputs import DEFAULT_QUANTILE_LEVELS, to_series_list

logger = logging.getLogger(__name__)


def _as_numpy_series(inputs: Sequence[Any]) -> list[np.ndarray]:
    """Each context as a float64 numpy array (no padding: baselines read each series' length)."""
    return [series.numpy() for series in to_series_list(inputs, dtype=torch.float64)]


def fill_missing(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaN, then back-fill the leading NaN (GluonTS' last-value imputation).

    An all-NaN series stays all NaN. Returns a new array.
    """
    return pd.Series(values).ffill().bfill().to_numpy()


def _output(
    point: np.ndarray, quantile_levels: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Point forecasts (B, H) as degenerate quantiles (B, H, Q) and mean (B, H)."""
    point = torch.as_tensor(point, dtype=torch.float32)
    return point.unsqueeze(-1).repeat(1, 1, len(quantile_levels)), point


class _SeasonalBaseline:
    """What the statistical baselines share: a season length (fixed, or set from each dataset's
    frequency by :meth:`fit`) and ``predict_quantiles`` over normalised contexts."""

    def __init__(self, season_length: int | None = None) -> None:
        if season_length is not None and season_length < 1:
            raise ValueError(f"season_length must be >= 1, got {season_length}")
        self.fixed_season_length = season_length
        self.season_length = season_length or 1

    def fit(self, series: Sequence[np.ndarray], *, freq: str, **_: Any) -> _SeasonalBaseline:
        """Set the season length from ``freq`` unless one was fixed."""
        self.season_length = self.fixed_season_length or seasonality_from_freq(freq)
        return self

    def predict_quantiles(
        self,
        inputs: Sequence[Any],
        prediction_length: int,
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        **_: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantiles (B, H, Q) and mean (B, H) of each context's forecast."""
        return self._forecast(_as_numpy_series(inputs), prediction_length, quantile_levels)

    def _forecast(
        self, series: list[np.ndarray], prediction_length: int, quantile_levels: Sequence[float]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class SeasonalNaive(_SeasonalBaseline):
    """Repeat the last observed season; the mean of the history when it is shorter than a season.

    ``season_length=None`` takes it from the dataset's frequency in :meth:`fit`.
    Missing values are imputed with the last observed value first.
    """

    def forecast(self, context: np.ndarray, prediction_length: int) -> np.ndarray:
        """Point forecast (H,) of one 1-D context."""
        values = fill_missing(context) if np.isnan(context).any() else context
        m = self.season_length
        if len(values) < m:
            return np.full(prediction_length, np.nanmean(values))
        return values[len(values) - m + np.arange(prediction_length) % m]

    def _forecast(
        self, series: list[np.ndarray], prediction_length: int, quantile_levels: Sequence[float]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All quantiles equal the point forecast: (B, H, Q) and mean (B, H)."""
        point = np.stack([self.forecast(s, prediction_length) for s in series])
        return _output(point, quantile_levels)


class Naive(SeasonalNaive):
    """Repeat the last observed value."""

    def __init__(self) -> None:
        super().__init__(season_length=1)


def _levels_to_intervals(quantile_levels: Sequence[float]) -> list[tuple[float, str, int]]:
    """Map each quantile level to a (level, 'lo'|'hi'|'mid', interval %) of a symmetric interval."""
    out = []
    for q in quantile_levels:
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantile levels must be in (0, 1), got {q}")
        if abs(q - 0.5) < 1e-9:
            out.append((q, "mid", 0))
        else:
            out.append((q, "lo" if q < 0.5 else "hi", int(round(abs(1 - 2 * q) * 100))))
    return out


class StatsForecastBaseline(_SeasonalBaseline):
    """AutoETS, AutoARIMA or AutoTheta from ``statsforecast``, fitted on each context.

    Quantiles come from the models' Gaussian prediction intervals (level ``q`` is the bound of the
    ``|1 - 2q|`` central interval; 0.5 is the point forecast). Missing values are imputed with the
    last observed value; only the last ``max_history`` points are fitted (``None``: all); a series
    on which the model fails falls back to Seasonal Naive.

    With ``series_time_limit`` (seconds), each series is fitted on its own in a worker process and
    one that takes longer falls back to Seasonal Naive too; :attr:`fallbacks` counts, per
    dataset (reset by :meth:`fit`), the series that timed out or failed, for the run's record.
    With ``cache_dir`` as well, each series' forecast is stored as it finishes and reused by a
    rerun with the same settings, so an interrupted dataset resumes where it stopped; progress
    is logged about once a minute.
    """

    MODELS = {"auto-ets": "AutoETS", "auto-arima": "AutoARIMA", "auto-theta": "AutoTheta"}

    def __init__(
        self,
        model: str,
        season_length: int | None = None,
        max_history: int | None = 2500,
        n_jobs: int = -1,
        series_time_limit: float | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if model not in self.MODELS:
            raise ValueError(
                f"unknown statsforecast baseline {model!r}; known: {sorted(self.MODELS)}"
            )
        if max_history is not None and max_history < 1:
            raise ValueError(f"max_history must be >= 1 or None, got {max_history}")
        super().__init__(season_length)
        self.model = model
        if series_time_limit is not None and not series_time_limit > 0:
            raise ValueError(f"series_time_limit must be > 0 seconds, got {series_time_limit}")
        self.max_history = max_history
        self.n_jobs = n_jobs
        self.series_time_limit = series_time_limit
        self.cache = SeriesCache(cache_dir) if cache_dir is not None else None
        self.fallbacks: Counter[str] = Counter()

    def fit(self, series: Sequence[np.ndarray], *, freq: str, **_: Any) -> StatsForecastBaseline:
        """Set the season length from ``freq`` unless one was fixed; reset the fallback count."""
        super().fit(series, freq=freq)
        self.fallbacks = Counter()
        return self

    def report(self) -> dict[str, Any]:
        """What the run's record should say about the last dataset: its fallback counts."""
        if self.series_time_limit is None:
            return {}
        return {
            "series_time_limit_s": self.series_time_limit,
            "fallback_to_seasonal_naive": dict(self.fallbacks),
        }

    def _prepared(self, values: np.ndarray) -> np.ndarray:
        """One context imputed, zero when all missing, cut to ``max_history``."""
        values = fill_missing(values)
        if np.isnan(values).all():
            values = np.zeros_like(values)
        if self.max_history is not None:
            values = values[-self.max_history :]
        return values

    def _frame(self, series: list[np.ndarray]) -> pd.DataFrame:
        """Long frame (unique_id, ds, y) of the imputed, truncated contexts."""
        parts = []
        for i, values in enumerate(series):
            values = self._prepared(values)
            parts.append(pd.DataFrame({"unique_id": i, "ds": np.arange(len(values)), "y": values}))
        return pd.concat(parts, ignore_index=True)

    def _forecast(
        self, series: list[np.ndarray], prediction_length: int, quantile_levels: Sequence[float]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantiles (B, H, Q) and mean (B, H) of the fitted model on each context."""
        import statsforecast
        import statsforecast.models as sf_models

        spec = _levels_to_intervals(quantile_levels)
        if self.series_time_limit is not None:
            return self._predict_each(series, prediction_length, spec)
        name = self.MODELS[self.model]
        m = self.season_length
        forecaster = statsforecast.StatsForecast(
            models=[getattr(sf_models, name)(season_length=m)],
            freq=1,
            n_jobs=self.n_jobs,
            fallback_model=sf_models.SeasonalNaive(season_length=m),
        )
        intervals = sorted({pct for _, side, pct in spec if side != "mid"})
        frame = forecaster.forecast(
            df=self._frame(series), h=prediction_length, level=intervals or None
        )
        frame = frame.sort_values(["unique_id", "ds"])
        # the fallback model's columns carry its own name; statsforecast renames them to ours
        columns = [name if side == "mid" else f"{name}-{side}-{pct}" for _, side, pct in spec]
        values = frame[columns].to_numpy(np.float64).reshape(len(series), prediction_length, -1)
        point = frame[name].to_numpy(np.float64).reshape(len(series), prediction_length)
        return _interval_output(values, point)

    def _predict_each(
        self, series: list[np.ndarray], prediction_length: int, spec: list[tuple[float, str, int]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fit series by series in worker processes, each under ``series_time_limit``."""
        intervals = sorted({pct for _, side, pct in spec if side != "mid"})
        jobs = [
            (
                self._prepared(values),
                prediction_length,
                self.season_length,
                self.MODELS[self.model],
                intervals,
                self.series_time_limit,
            )
            for values in series
        ]
        results = self._run_jobs(jobs)
        values = np.empty((len(series), prediction_length, len(spec)))
        point = np.empty((len(series), prediction_length))
        for i, (forecast, status) in enumerate(results):
            if status != "fitted":
                self.fallbacks[status] += 1
            point[i] = forecast["mean"]
            for j, (_, side, pct) in enumerate(spec):
                values[i, :, j] = forecast["mean"] if side == "mid" else forecast[f"{side}-{pct}"]
        return _interval_output(values, point)

    def _run_jobs(self, jobs: list[tuple]) -> list[tuple[dict[str, np.ndarray], str]]:
        """Each job's ``(forecast, status)``: from the cache where stored, else fitted in workers
        (and stored as each finishes), logging progress about once a minute."""
        results: list[tuple[dict[str, np.ndarray], str] | None] = [None] * len(jobs)
        keys: list[str] = []
        if self.cache is not None:  # hash the series only when there is a cache to look them up
            import statsforecast

            keys = [SeriesCache.key(job[0], *job[1:], statsforecast.__version__) for job in jobs]
            results = [self.cache.load(key) for key in keys]
        todo = [i for i, result in enumerate(results) if result is None]
        cached = len(jobs) - len(todo)
        if cached:
            logger.info("%s: %d of %d series taken from the cache", self.model, cached, len(jobs))
        if todo:
            processes = (os.cpu_count() or 1) if self.n_jobs < 1 else self.n_jobs
            last_log = time.monotonic()
            with multiprocessing.get_context("fork").Pool(min(processes, len(todo))) as pool:
                finished = pool.imap_unordered(
                    _fit_indexed, [(i, jobs[i]) for i in todo], chunksize=1
                )
                for done, (i, result) in enumerate(finished, start=1):
                    results[i] = result
                    if self.cache is not None:
                        self.cache.save(keys[i], *result)
                    if time.monotonic() - last_log >= 60 or done == len(todo):
                        last_log = time.monotonic()
                        logger.info(
                            "%s: %d of %d series fitted (%d from the cache)",
                            self.model,
                            cached + done,
                            len(jobs),
                            cached,
                        )
        missing = [i for i, result in enumerate(results) if result is None]
        if missing:  # a worker pool that lost jobs must not shift forecasts between series
            raise RuntimeError(f"{self.model}: no forecast for series {missing[:5]}")
        return results  # type: ignore[return-value]


def _interval_output(values: np.ndarray, point: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantiles (B, H, Q) and mean (B, H) as float32 tensors; an undefined interval bound
    (NaN, e.g. zero residual variance) becomes the point forecast."""
    values = np.where(np.isnan(values), point[..., None], values)
    return torch.as_tensor(values, dtype=torch.float32), torch.as_tensor(point, dtype=torch.float32)


class _SeriesTimeout(Exception):
    """Raised by SIGALRM inside a worker when a series' fit overruns its time limit."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _SeriesTimeout


def _fit_indexed(
    item: tuple[int, tuple[np.ndarray, int, int, str, list[int], float]],
) -> tuple[int, tuple[dict[str, np.ndarray], str]]:
    """:func:`_fit_one_series` with the job's index, for unordered workers."""
    index, job = item
    return index, _fit_one_series(job)


def _fit_one_series(
    job: tuple[np.ndarray, int, int, str, list[int], float],
) -> tuple[dict[str, np.ndarray], str]:
    """Forecast one series with a statsforecast model under a wall-clock limit (in a worker).

    Returns the model's output dict (``mean``, ``lo-80``...) and ``"fitted"``, or Seasonal
    Naive's with ``"timeout"`` / ``"error"``.
    """
    import statsforecast.models as sf_models

    values, h, m, name, intervals, limit = job
    levels = intervals or None
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return getattr(sf_models, name)(season_length=m).forecast(y=values, h=h, level=levels), (
            "fitted"
        )
    except _SeriesTimeout:
        status = "timeout"
    except Exception:  # any failure of the model on this series: fall back, and count it
        status = "error"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return sf_models.SeasonalNaive(season_length=m).forecast(y=values, h=h, level=levels), status


class GluonTSDeepBaseline:
    """A task-specific deep model (DeepAR, PatchTST, DLinear, TFT) trained per dataset by GluonTS.

    ``fit`` trains on the history before the test windows (needs ``gluonts[torch]``, i.e.
    ``lightning``); training runs on the GPU when there is one. Hyperparameters are GluonTS'
    defaults except a context of ``context_multiple * prediction_length`` steps for PatchTST
    and DLinear (patch length 16 for PatchTST).

    The budget per dataset is fixed: ``max_epochs`` x ``num_batches_per_epoch`` batches; the
    epoch with the lowest training loss is kept (GluonTS's default). With
    ``early_stopping_patience`` (the paper's protocol instead): each series' last
    ``prediction_length`` points are held out of training as validation data, the epoch with the
    lowest validation loss is kept, and training stops after that many epochs without a better
    one. With a
    ``time_limit`` (seconds of training per dataset), a dataset whose budget does not fit raises
    :class:`~chronos_pkg.eval.harness.OverBudget` and the benchmark writes an explicit row for
    it; :meth:`report` gives the training and forecasting seconds of the last dataset.
    """

    MODELS = ("deepar", "patchtst", "dlinear", "tft")
    uses_timestamps = True
    has_budget = True  # result files get a status column ("ok" or over budget)

    def __init__(
        self,
        model: str,
        max_epochs: int = 100,
        num_batches_per_epoch: int = 50,
        context_multiple: int = 10,
        accelerator: str = "auto",
        seed: int = 0,
        estimator_kwargs: dict[str, Any] | None = None,
        time_limit: float | None = None,
        early_stopping_patience: int | None = None,
    ) -> None:
        if model not in self.MODELS:
            raise ValueError(f"unknown deep baseline {model!r}; known: {list(self.MODELS)}")
        if early_stopping_patience is not None and early_stopping_patience < 1:
            raise ValueError(f"early_stopping_patience must be >= 1, got {early_stopping_patience}")
        self.early_stopping_patience = early_stopping_patience
        if time_limit is not None and time_limit <= 0:
            raise ValueError(f"time_limit must be > 0 seconds, got {time_limit}")
        self.model = model
        self.max_epochs = max_epochs
        self.num_batches_per_epoch = num_batches_per_epoch
        self.context_multiple = context_multiple
        self.accelerator = accelerator
        self.seed = seed
        self.estimator_kwargs = dict(estimator_kwargs or {})
        self.time_limit = time_limit
        self.predictor: Any = None
        self.freq: str | None = None
        self.timings: dict[str, Any] = {}

    def _estimator(self, freq: str, prediction_length: int, root_dir: str) -> Any:
        trainer = {
            "default_root_dir": root_dir,
            "max_epochs": self.max_epochs,
            "accelerator": self.accelerator,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": False,
        }
        if self.time_limit is not None:
            trainer["max_time"] = timedelta(seconds=self.time_limit)
        if self.early_stopping_patience is not None:
            from lightning.pytorch.callbacks import EarlyStopping

            stop = EarlyStopping(monitor="val_loss", patience=self.early_stopping_patience)
            trainer["callbacks"] = [stop]
        common = {
            "prediction_length": prediction_length,
            "num_batches_per_epoch": self.num_batches_per_epoch,
            "trainer_kwargs": trainer,
            **self.estimator_kwargs,
        }
        context = self.context_multiple * prediction_length
        if self.model == "deepar":
            from gluonts.torch.model.deepar import DeepAREstimator

            return DeepAREstimator(freq=freq, **common)
        if self.model == "patchtst":
            from gluonts.torch.model.patch_tst import PatchTSTEstimator

            return PatchTSTEstimator(patch_len=16, context_length=max(context, 16), **common)
        if self.model == "dlinear":
            from gluonts.torch.model.d_linear import DLinearEstimator

            return DLinearEstimator(context_length=context, **common)
        from gluonts.torch.model.tft import TemporalFusionTransformerEstimator

        return TemporalFusionTransformerEstimator(freq=freq, **common)

    def _entries(self, series: Sequence[np.ndarray], starts: Sequence[Any] | None) -> list[dict]:
        assert self.freq is not None
        starts = starts if starts is not None else [pd.Timestamp("2000-01-01")] * len(series)
        return [
            {"start": pd.Period(start, freq=self.freq), "target": np.asarray(s, dtype=np.float32)}
            for s, start in zip(series, starts)
        ]

    def fit(
        self,
        series: Sequence[np.ndarray],
        *,
        freq: str,
        prediction_length: int,
        start_timestamps: Sequence[Any] | None = None,
        **_: Any,
    ) -> GluonTSDeepBaseline:
        """Train a fresh model on ``series`` (the history before the test windows).

        Raises :class:`~chronos_pkg.eval.harness.OverBudget` when ``time_limit`` stopped the
        training before its ``max_epochs``.
        """
        import tempfile

        import lightning

        lightning.seed_everything(self.seed, verbose=False)
        self.freq = period_freq(freq)
        self.predictor = None
        started = time.perf_counter()
        # GluonTS keeps the best epoch through a checkpoint file: keep those out of the cwd
        with tempfile.TemporaryDirectory(prefix="chronos_pkg_baseline_") as root:
            estimator = self._estimator(self.freq, prediction_length, root)
            entries = self._entries(series, start_timestamps)
            validation = None
            if self.early_stopping_patience is not None:
                # train on all but the last prediction_length points; validate on the whole
                # series (GluonTS scores the windows that end in the held-out points)
                validation = entries
                entries = [
                    {**e, "target": e["target"][:-prediction_length]}
                    for e in entries
                    if len(e["target"]) > prediction_length
                ]
            output = estimator.train_model(entries, validation_data=validation, cache_data=True)
        seconds = time.perf_counter() - started
        epochs = int(output.trainer.current_epoch)
        self.timings = {
            "train_seconds": round(seconds, 2),
            "epochs": epochs,
            "batches": int(output.trainer.global_step),
            "predict_seconds": 0.0,
        }
        stopped_early = self.early_stopping_patience is not None and bool(
            output.trainer.should_stop
        )
        self.timings["stopped_early"] = stopped_early
        if self.time_limit is not None and epochs < self.max_epochs and not stopped_early:
            raise OverBudget(
                f"over budget: trained {epochs} of {self.max_epochs} epochs in {seconds:.0f} s "
                f"(limit {self.time_limit:g} s)"
            )
        self.predictor = output.predictor
        return self

    def report(self) -> dict[str, Any]:
        """What the run's record should say about the last dataset: budget and timings."""
        budget = {
            "max_epochs": self.max_epochs,
            "num_batches_per_epoch": self.num_batches_per_epoch,
            "time_limit_s": self.time_limit,
            "early_stopping_patience": self.early_stopping_patience,
        }
        return {**budget, **self.timings}

    def predict_quantiles(
        self,
        inputs: Sequence[Any],
        prediction_length: int,
        quantile_levels: Sequence[float] = DEFAULT_QUANTILE_LEVELS,
        start_timestamps: Sequence[Any] | None = None,
        **_: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantiles (B, H, Q) and mean (B, H) of the trained model's forecasts."""
        if self.predictor is None:
            raise ValueError("call fit() on a dataset before predict_quantiles()")
        if prediction_length != self.predictor.prediction_length:
            raise ValueError(
                f"trained for prediction_length {self.predictor.prediction_length}, "
                f"asked for {prediction_length}"
            )
        started = time.perf_counter()
        entries = self._entries(_as_numpy_series(inputs), start_timestamps)
        forecasts = list(self.predictor.predict(entries))
        quantiles = np.stack(
            [np.stack([f.quantile(q) for q in quantile_levels], -1) for f in forecasts]
        )
        mean = np.stack([f.mean for f in forecasts])
        spent = self.timings.get("predict_seconds", 0.0) + time.perf_counter() - started
        self.timings["predict_seconds"] = round(spent, 2)
        return torch.as_tensor(quantiles, dtype=torch.float32), torch.as_tensor(
            mean, dtype=torch.float32
        )


BASELINE_NAMES = (
    "seasonal-naive",
    "naive",
    *StatsForecastBaseline.MODELS,
    *GluonTSDeepBaseline.MODELS,
)


def make_baseline(name: str, **kwargs: Any) -> Any:
    """The baseline called ``name`` (one of :data:`BASELINE_NAMES`), built with ``kwargs``."""
    if name == "seasonal-naive":
        return SeasonalNaive(**kwargs)
    if name == "naive":
        return Naive(**kwargs)
    if name in StatsForecastBaseline.MODELS:
        return StatsForecastBaseline(name, **kwargs)
    if name in GluonTSDeepBaseline.MODELS:
        return GluonTSDeepBaseline(name, **kwargs)
    raise ValueError(f"unknown baseline {name!r}; known: {list(BASELINE_NAMES)}")
