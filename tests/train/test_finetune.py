"""pipeline.fit: fine-tuning a copy on the user's series, selected on held-out points."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import chronos_pkg
from chronos_pkg.bolt.checkpoint import new_bolt_model, save_bolt_checkpoint
from chronos_pkg.bolt.config import ChronosBoltConfig
from tests.bolt.conftest import MICRO_NETWORK


@pytest.fixture(scope="module")
def bolt(tmp_path_factory):
    config = ChronosBoltConfig(context_length=64, prediction_length=16)
    network = dict(MICRO_NETWORK, dropout_rate=0.0)
    model = new_bolt_model(config, seed=0, **network)
    return chronos_pkg.from_pretrained(save_bolt_checkpoint(model, tmp_path_factory.mktemp("b")))


def seasonal(n_series: int = 6, length: int = 120, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return [
        (10 + i + 3 * np.sin(2 * np.pi * t / 8) + 0.1 * rng.normal(size=length)).astype(np.float32)
        for i in range(n_series)
    ]


def forecast(pipeline, series, h=8):
    quantiles, _ = pipeline.predict_quantiles(series, h, [0.5])
    return quantiles[..., 0]


def test_fit_learns_the_series_and_leaves_the_original_alone(bolt) -> None:
    series = seasonal()
    before = forecast(bolt, series)
    weights = {k: v.clone() for k, v in bolt.model.state_dict().items()}
    tuned = bolt.fit(
        series, prediction_length=8, num_steps=60, learning_rate=3e-3, batch_size=16, progress=False
    )
    assert tuned is not bolt and type(tuned) is type(bolt)
    result = tuned.fit_result
    assert result.best_loss < result.start_loss and 0 < result.best_step <= 60
    # the original pipeline's weights and forecasts are untouched
    for key, value in bolt.model.state_dict().items():
        torch.testing.assert_close(value, weights[key])
    torch.testing.assert_close(forecast(bolt, series), before)
    # on the held-out last 8 points, the tuned model is closer than the random start
    contexts = [s[:-8] for s in series]
    truth = torch.tensor(np.stack([s[-8:] for s in series]))
    err_before = (forecast(bolt, contexts) - truth).abs().mean()
    err_after = (forecast(tuned, contexts) - truth).abs().mean()
    assert err_after < err_before


def test_decoder_mode_trains_the_decoder_and_head_only(bolt) -> None:
    tuned = bolt.fit(
        seasonal(),
        prediction_length=8,
        num_steps=30,
        learning_rate=3e-3,
        finetune_mode="decoder",
        progress=False,
    )
    assert tuned.fit_result.best_step > 0
    before, after = bolt.model.state_dict(), tuned.model.state_dict()
    frozen = [k for k in before if k.startswith(("encoder.", "input_patch_embedding.", "shared."))]
    trained = [k for k in before if k.startswith(("decoder.block", "output_patch_embedding."))]
    assert frozen and trained
    for key in frozen:
        torch.testing.assert_close(after[key], before[key])
    # (a one-token decoder's self-attention query and key get no gradient: not all of them move)
    moved = [k for k in trained if not torch.equal(after[k], before[k])]
    assert len(moved) > len(trained) // 2
    assert all(p.requires_grad for p in tuned.model.parameters())


def test_fit_is_reproducible_with_a_seed(bolt) -> None:
    series = seasonal(seed=1)
    kwargs = dict(prediction_length=8, num_steps=10, batch_size=8, progress=False, seed=3)
    a, b = bolt.fit(series, **kwargs), bolt.fit(series, **kwargs)
    torch.testing.assert_close(forecast(a, series), forecast(b, series))
    c = bolt.fit(series, **{**kwargs, "seed": 4})
    assert not torch.equal(forecast(a, series), forecast(c, series))


def test_no_improvement_returns_the_starting_weights(bolt) -> None:
    series = seasonal(seed=2)
    with pytest.warns(UserWarning, match="did not improve"):
        tuned = bolt.fit(
            series, prediction_length=8, num_steps=2, learning_rate=10.0, progress=False
        )
    assert tuned is not bolt
    assert tuned.fit_result.best_step == 0
    torch.testing.assert_close(forecast(tuned, series), forecast(bolt, series))


def test_time_limit_stops_early_and_saves(bolt, tmp_path) -> None:
    tuned = bolt.fit(
        seasonal(),
        prediction_length=8,
        num_steps=10_000,
        time_limit=1.0,
        progress=False,
        output_dir=tmp_path / "tuned",
    )
    assert tuned.fit_result.steps < 10_000 and tuned.fit_result.seconds < 30
    reloaded = chronos_pkg.from_pretrained(tmp_path / "tuned")
    torch.testing.assert_close(forecast(reloaded, seasonal()), forecast(tuned, seasonal()))


def test_validation_inputs_replace_the_held_out_tail(bolt) -> None:
    tuned = bolt.fit(
        seasonal(),
        prediction_length=8,
        validation_inputs=seasonal(seed=5),
        num_steps=5,
        progress=False,
    )
    assert len(tuned.fit_result.history) >= 2


def test_validation_scores_a_seeded_subset_of_many_series(bolt, monkeypatch) -> None:
    from chronos_pkg.train import finetune

    scored = []
    original = finetune._validation_scorer

    def spy(metric, family, contexts, targets, device):
        scored.append([float(c[0]) for c in contexts])
        return original(metric, family, contexts, targets, device)

    monkeypatch.setattr(finetune, "MAX_VALIDATION_WINDOWS", 4)
    monkeypatch.setattr(finetune, "_validation_scorer", spy)
    series = seasonal(n_series=10)
    for seed in (0, 0, 1):
        bolt.fit(series, prediction_length=8, num_steps=2, seed=seed, progress=False)
    assert [len(s) for s in scored] == [4, 4, 4]
    assert scored[0] == scored[1] != scored[2]  # the subset follows the seed


@pytest.mark.parametrize(
    "inputs, kwargs, match",
    [
        ([np.full(50, np.nan)], {}, "series 0: all values are missing"),
        ([np.arange(10.0)], {}, "too short for a training window"),
        ([np.arange(50.0)], {"prediction_length": 60}, "exceeds the model's horizon"),
        ([np.arange(12.0)], {"prediction_length": 12}, "leaves no history"),
        ([np.arange(50.0)], {"finetune_mode": "lora"}, "finetune_mode"),
        ([np.arange(50.0)], {"num_steps": 0}, "num_steps"),
        ([np.arange(50.0)], {"time_limit": 0}, "time_limit"),
    ],
)
def test_bad_input_is_caught_before_training(bolt, inputs, kwargs, match) -> None:
    kwargs = {"prediction_length": 8, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        bolt.fit(inputs, **kwargs)


def test_fit_works_for_chronos_t5(tiny_t5_dir) -> None:
    t5 = chronos_pkg.from_pretrained(tiny_t5_dir)
    series = seasonal(length=80)
    h = min(8, t5.model_prediction_length)
    tuned = t5.fit(
        series, prediction_length=h, num_steps=20, learning_rate=1e-3, batch_size=8, progress=False
    )
    assert type(tuned) is type(t5) and tuned.fit_result.best_loss <= tuned.fit_result.start_loss
    samples = tuned.predict(series, prediction_length=h, num_samples=4, seed=0)
    assert samples.shape == (len(series), 4, h) and torch.isfinite(samples).all()


def test_fit_df_reads_a_long_frame_and_names_series_by_id(bolt) -> None:
    import pandas as pd

    rows = []
    for name, values in zip(["a", "b"], seasonal(n_series=2)):
        stamps = pd.date_range("2024-01-01", periods=len(values), freq="h")
        rows.append(pd.DataFrame({"id": name, "timestamp": stamps, "target": values}))
    df = pd.concat(rows)
    tuned = bolt.fit_df(df, prediction_length=8, num_steps=5, progress=False)
    assert set(tuned.predict_df(df, prediction_length=8)["id"]) == {"a", "b"}
    df.loc[df["id"] == "b", "target"] = np.nan
    with pytest.raises(ValueError, match="series 'b': all values are missing"):
        bolt.fit_df(df, prediction_length=8, progress=False)


def test_benchmark_fine_tuning_never_sees_the_test_windows(bolt) -> None:
    """evaluate --fine-tune: the tuned weights depend only on the history before the windows."""
    import pandas as pd

    from chronos_pkg.eval.datasets import BenchmarkConfig, SeriesDataset
    from chronos_pkg.eval.forecasters import FineTunedForecaster
    from chronos_pkg.eval.harness import evaluate_dataset

    config = BenchmarkConfig("zero-shot", "toy", "", -16, 8, 2)  # two windows of 8 at the end
    series = seasonal(n_series=4)

    def tuned_weights(targets):
        dataset = SeriesDataset(
            "toy", "h", [str(i) for i in range(4)], [pd.Timestamp(0)] * 4, targets
        )
        forecaster = FineTunedForecaster(bolt, num_steps=20, learning_rate=3e-3, seed=1)
        scores = evaluate_dataset(forecaster, config, dataset, batch_size=16)
        report = forecaster.report()
        assert np.isfinite(scores["MASE"]) and report["fine_tune_steps"] == 20
        assert report["fine_tune_best_step"] > 0  # it did change the weights
        return forecaster.pipeline.model.state_dict()

    first = tuned_weights(series)
    changed = [s.copy() for s in series]
    for s in changed:
        s[-16:] = 1e6  # the test windows only
    second = tuned_weights(changed)
    for key in first:
        torch.testing.assert_close(first[key], second[key])
    changed[0][:80] *= 3  # history before the windows: now the fine-tuning differs
    third = tuned_weights(changed)
    assert any(not torch.equal(first[k], third[k]) for k in first)


def test_benchmark_scores_a_dataset_too_short_to_fine_tune_zero_shot(bolt) -> None:
    """A benchmark dataset whose history leaves no training window is scored as the untuned
    model, and the record says fine-tuning was skipped and why (never a crash mid-benchmark)."""
    import pandas as pd

    from chronos_pkg.eval.datasets import BenchmarkConfig, SeriesDataset
    from chronos_pkg.eval.forecasters import FineTunedForecaster
    from chronos_pkg.eval.harness import evaluate_dataset

    config = BenchmarkConfig("zero-shot", "short", "", -8, 8, 1)
    targets = [s[:26] for s in seasonal(n_series=3)]  # 18 points of history: 10 after validation
    dataset = SeriesDataset("short", "h", ["0", "1", "2"], [pd.Timestamp(0)] * 3, targets)
    forecaster = FineTunedForecaster(bolt, num_steps=5)
    tuned = evaluate_dataset(forecaster, config, dataset, batch_size=16)
    assert "too short for a training window" in forecaster.report()["fine_tune_skipped"]
    assert forecaster.pipeline is bolt
    assert tuned == evaluate_dataset(bolt, config, dataset, batch_size=16)


def test_the_kept_weights_are_chosen_by_the_held_out_wql_by_default(bolt) -> None:
    """The default validation score is the WQL of the forecasts on the held-out points, in the
    series' own units: at step 0 it is exactly the starting model's WQL there."""
    from chronos_pkg.eval.metrics import weighted_quantile_loss
    from chronos_pkg.inputs import DEFAULT_QUANTILE_LEVELS

    series = seasonal()
    tuned = bolt.fit(series, prediction_length=8, num_steps=20, progress=False)
    result = tuned.fit_result
    assert result.metric == "wql"
    levels = list(DEFAULT_QUANTILE_LEVELS)
    quantiles, _ = bolt.predict_quantiles([s[:-8] for s in series], 8, levels)
    start = weighted_quantile_loss(np.stack([s[-8:] for s in series]), quantiles.numpy(), levels)
    assert result.start_loss == pytest.approx(start, rel=1e-5)
    by_loss = bolt.fit(
        series, prediction_length=8, num_steps=20, progress=False, validation_metric="loss"
    ).fit_result
    assert by_loss.metric == "loss" and by_loss.start_loss != pytest.approx(start, rel=1e-2)
    with pytest.raises(ValueError, match="validation_metric must be one of"):
        bolt.fit(series, prediction_length=8, validation_metric="mse")


def test_decoder_mode_keeps_a_seasonal_gate_and_decoder_plus_gate_trains_it(bolt) -> None:
    from chronos_pkg.bolt.model import with_seasonal_reference
    from chronos_pkg.bolt.pipeline import ChronosBoltPipeline

    gated = ChronosBoltPipeline(with_seasonal_reference(copy.deepcopy(bolt.model), masked=True))
    gate = {k: v.clone() for k, v in gated.model.seasonal_gate.state_dict().items()}
    kwargs = dict(prediction_length=8, num_steps=20, learning_rate=3e-3, progress=False)
    kept = gated.fit(seasonal(), finetune_mode="decoder", validation_metric="loss", **kwargs)
    assert kept.fit_result.best_step > 0
    for key, value in kept.model.seasonal_gate.state_dict().items():
        torch.testing.assert_close(value, gate[key])
    trained = gated.fit(
        seasonal(), finetune_mode="decoder+gate", validation_metric="loss", **kwargs
    )
    assert trained.fit_result.best_step > 0
    moved = [
        k
        for k, v in trained.model.seasonal_gate.state_dict().items()
        if not torch.equal(v, gate[k])
    ]
    assert moved


def test_series_wql_parts_sum_to_the_wql() -> None:
    from chronos_pkg.eval.metrics import weighted_quantile_loss
    from chronos_pkg.train.finetune import series_wql_parts

    rng = np.random.default_rng(0)
    levels = [0.1, 0.5, 0.9]
    target = rng.normal(5, 2, size=(7, 6))
    quantiles = np.sort(target[..., None] + rng.normal(size=(7, 6, 3)), axis=-1)
    target[2, :3] = np.nan
    parts = series_wql_parts(target, quantiles, levels)
    assert parts.shape == (7,) and (parts >= 0).all()
    assert parts.sum() == pytest.approx(weighted_quantile_loss(target, quantiles, levels))


def test_gain_confidence_tells_a_broad_gain_from_one_carried_by_a_series() -> None:
    from chronos_pkg.train.finetune import gain_confidence

    rng = np.random.default_rng(1)
    start = rng.uniform(1.0, 2.0, size=40)
    broad = start * rng.uniform(0.85, 0.99, size=40)  # every series a little better
    assert gain_confidence(start, broad) > 0.99
    one = start * 1.05  # 39 series 5% worse, one far better: the sum still improves
    one[0] = start[0] - 0.06 * start.sum()
    assert one.sum() < start.sum()
    assert gain_confidence(start, one) < 0.7
    assert gain_confidence(start, one, seed=3) == gain_confidence(start, one, seed=3)
    assert gain_confidence(np.array([1.0]), np.array([0.5])) == 1.0


def test_a_gain_that_fails_the_guard_returns_the_starting_weights(bolt, monkeypatch) -> None:
    from chronos_pkg.train import finetune

    monkeypatch.setattr(finetune, "gain_confidence", lambda start, best, seed=0: 0.5)
    series = seasonal()
    kwargs = dict(prediction_length=8, num_steps=30, learning_rate=3e-3, progress=False)
    with pytest.warns(UserWarning, match="only 50% of resamples"):
        guarded = bolt.fit(series, **kwargs)
    assert guarded.fit_result.confidence == 0.5 and guarded.fit_result.best_step == 0
    assert guarded.fit_result.best_loss == guarded.fit_result.start_loss
    torch.testing.assert_close(forecast(guarded, series), forecast(bolt, series))
    kept = bolt.fit(series, guard_confidence=0.4, **kwargs)
    assert kept.fit_result.best_step > 0 and kept.fit_result.confidence == 0.5
    with pytest.raises(ValueError, match="guard_confidence must lie in"):
        bolt.fit(series, guard_confidence=1.5, **kwargs)
