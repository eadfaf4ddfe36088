"""KernelSynth: the kernel bank and compositions equal scikit-learn's, sampling, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from chronos_pkg import series_io
from chronos_pkg.synth import kernel_synth as ks

sk_kernels = pytest.importorskip("sklearn.gaussian_process.kernels")


def _grid(length: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, length)[:, None]


def _assert_matches_sklearn(composition: ks.KernelComposition, length: int) -> None:
    bank = ks.kernel_bank(length)
    expected = composition.to_sklearn(bank)(_grid(length))
    ours = ks.covariance_matrices([composition], length)[0].numpy()
    scale = np.abs(expected).max()
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12 * scale)


def test_bank_is_the_spec_bank() -> None:
    bank = ks.kernel_bank(1024)
    assert len(bank) == 33
    periods = [k.value * 1024 for k in bank if k.kind == "periodic"]
    assert periods == pytest.approx(
        [24, 48, 96, 168, 336, 672, 7, 14, 30, 60, 365, 730, 4, 26, 52, 4, 6, 12, 4, 40, 10]
    )
    values = {
        kind: [k.value for k in bank if k.kind == kind]
        for kind in ("linear", "rbf", "rational_quadratic", "white", "constant")
    }
    assert values == {
        "linear": [0.0, 1.0, 10.0],
        "rbf": [0.1, 1.0, 10.0],
        "rational_quadratic": [0.1, 1.0, 10.0],
        "white": [0.1, 1.0],
        "constant": [1.0],
    }
    assert isinstance(bank[0].to_sklearn(), sk_kernels.ExpSineSquared)
    assert isinstance(bank[-1].to_sklearn(), sk_kernels.ConstantKernel)


@pytest.mark.parametrize("index", range(33))
def test_each_bank_kernel_covariance_equals_sklearn(index: int) -> None:
    _assert_matches_sklearn(ks.KernelComposition((index,), ()), 1024)


def test_random_compositions_equal_sklearn() -> None:
    rng = np.random.default_rng(7)
    compositions = [ks.draw_composition(rng, 5) for _ in range(60)]
    length = 200
    batch = ks.covariance_matrices(compositions, length).numpy()
    bank = ks.kernel_bank(length)
    for composition, ours in zip(compositions, batch):
        expected = composition.to_sklearn(bank)(_grid(length))
        np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize(
    "kernels, operators",
    [
        ((21, 22, 23, 22, 23), ("*", "*", "*", "*")),  # degree-5 polynomial in x x'
        (
            (23, 0, 23, 30, 32),
            ("*", "+", "*", "*"),
        ),  # linear * periodic + linear * white * constant
        ((31, 22, 12, 24), ("+", "*", "*")),  # (white + linear) * periodic * rbf
    ],
)
def test_products_with_linear_kernels_equal_sklearn(kernels, operators) -> None:
    composition = ks.KernelComposition(kernels, operators)
    assert composition.to_sklearn(ks.kernel_bank(256)) is not None
    _assert_matches_sklearn(composition, 256)


def test_draw_composition_ranges() -> None:
    rng = np.random.default_rng(0)
    drawn = [ks.draw_composition(rng, 5) for _ in range(2000)]
    counts = np.bincount([len(c.kernels) for c in drawn])
    assert counts[0] == 0 and len(counts) == 6 and counts[1:].min() > 300  # uniform on 1..5
    assert {k for c in drawn for k in c.kernels} == set(range(33))
    ops = [op for c in drawn for op in c.operators]
    assert 0.45 < ops.count("+") / len(ops) < 0.55
    with pytest.raises(ValueError, match="operators"):
        ks.KernelComposition((0, 1), ("-",))


def test_series_have_the_length_are_finite_and_depend_only_on_seed_and_index() -> None:
    generator = ks.KernelSynth(length=128, seed=3, batch_size=4)
    series = generator.generate(0, 10)
    assert series.shape == (10, 128) and series.dtype == np.float32
    assert np.isfinite(series).all()
    assert np.unique(series.round(5), axis=0).shape[0] == 10
    # same (seed, index) -> same series, whatever the batching or range
    other_split = ks.KernelSynth(length=128, seed=3, batch_size=3).generate(4, 10)
    np.testing.assert_array_equal(other_split, series[4:])
    np.testing.assert_array_equal(generator.sample(7), series[7])
    different_seed = ks.KernelSynth(length=128, seed=4, batch_size=4).generate(0, 10)
    assert not np.allclose(different_seed, series)


@pytest.mark.parametrize("period", [7, 24, 52])
def test_periodic_kernel_gives_autocorrelation_peaks_at_its_period(period: int) -> None:
    length = 1024
    index = next(
        i
        for i, k in enumerate(ks.kernel_bank(length))
        if k.kind == "periodic" and round(k.value * length) == period
    )
    cov = ks.covariance_matrices([ks.KernelComposition((index,), ())] * 4, length)
    noise = torch.from_numpy(np.random.default_rng(period).standard_normal((4, length)))
    samples, ok = ks.sample_gaussian(cov, noise)
    assert ok.all()
    for sample in samples.numpy():
        x = sample - sample.mean()
        acf = np.array([np.dot(x[:-lag], x[lag:]) for lag in range(1, 3 * period)]) / np.dot(x, x)
        acf = np.concatenate([[1.0], acf])  # acf[lag]
        # the first peak after the trough at half a period is at the period
        search = np.arange(period // 2 + 1, 3 * period // 2)
        assert search[np.argmax(acf[search])] == period
        assert acf[period] > 0.9
        assert acf[period] - acf[period // 2] > 0.3


def test_sample_gaussian_has_the_requested_covariance() -> None:
    composition = ks.KernelComposition((1, 22, 25), ("+", "*"))  # periodic + linear * rbf
    length = 24
    cov = ks.covariance_matrices([composition], length)
    expected = cov[0].clone()
    draws = 20000
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal((draws, length)))
    samples, ok = ks.sample_gaussian(cov.expand(draws, -1, -1).clone(), noise)
    assert ok.all()
    empirical = samples.T @ samples / draws
    assert (empirical - expected).abs().max() < 0.05 * expected.diagonal().max()


def test_toeplitz_schur_sampler_equals_the_dense_cholesky() -> None:
    rng = np.random.default_rng(11)
    builder = ks.CovarianceBuilder(512)
    compositions = [ks.KernelComposition((k,), ()) for k in range(33) if k not in (21, 22, 23)]
    while len(compositions) < 60:  # plus random stationary (linear-free) compositions
        composition = ks.draw_composition(rng, 5)
        if builder.degrees([composition]) == [0]:
            compositions.append(composition)
    noise = torch.from_numpy(rng.standard_normal((len(compositions), 512)))
    first_rows = builder.coefficients(compositions)[:, 0]
    fast, ok_fast = ks.sample_toeplitz(first_rows, noise)
    dense, ok_dense = ks.sample_gaussian(builder.covariance(compositions), noise)
    assert ok_fast.all() and ok_dense.all()
    scale = dense.abs().amax(-1, keepdim=True)
    assert ((fast - dense).abs() / scale).max() < 1e-6
    _, ok = ks.sample_toeplitz(torch.tensor([[1.0, 2.0, 0.0]], dtype=torch.float64), noise[:1, :3])
    assert not ok.item()  # not positive definite: flagged, not returned as garbage


def test_the_batched_gpu_code_path_gives_the_same_covariances_and_samples() -> None:
    rng = np.random.default_rng(3)
    compositions = [ks.draw_composition(rng, 5) for _ in range(12)]
    looped = ks.CovarianceBuilder(96, batched=False).covariance(compositions)
    batched = ks.CovarianceBuilder(96, batched=True).covariance(compositions)
    np.testing.assert_allclose(batched.numpy(), looped.numpy(), rtol=1e-14)  # fma vs mul + add
    noise = torch.from_numpy(rng.standard_normal((12, 96)))
    one, ok_one = ks.sample_gaussian(looped.clone(), noise, batched=False)
    many, ok_many = ks.sample_gaussian(batched, noise, batched=True)
    assert ok_one.tolist() == ok_many.tolist()
    np.testing.assert_allclose(many.numpy(), one.numpy(), rtol=1e-8, atol=1e-8)


def test_sample_gaussian_flags_failures() -> None:
    length = 16
    bad = torch.stack(
        [
            -torch.eye(length, dtype=torch.float64),
            torch.full((length, length), float("nan"), dtype=torch.float64),
            torch.eye(length, dtype=torch.float64),
        ]
    )
    _, ok = ks.sample_gaussian(bad, torch.ones(3, length, dtype=torch.float64))
    assert ok.tolist() == [False, False, True]


def test_failed_draws_are_redrawn_not_written(monkeypatch) -> None:
    state = {"fail": True}

    def failing(sampler):
        def wrapped(*args, **kwargs):
            samples, ok = sampler(*args, **kwargs)
            if state["fail"]:  # pretend every draw of the first batch failed numerically
                samples[:] = float("nan")
                ok[:] = False
            return samples, ok

        return wrapped

    real_launch = ks.KernelSynth._launch

    def launch(self, rngs):
        result = real_launch(self, rngs)
        state["fail"] = False
        return result

    clean = ks.KernelSynth(length=64, seed=5, batch_size=2).generate(0, 4)
    monkeypatch.setattr(ks, "sample_gaussian", failing(ks.sample_gaussian))
    monkeypatch.setattr(ks, "sample_toeplitz", failing(ks.sample_toeplitz))
    monkeypatch.setattr(ks.KernelSynth, "_launch", launch)
    redrawn = ks.KernelSynth(length=64, seed=5, batch_size=2).generate(0, 4)
    assert np.isfinite(redrawn).all()
    np.testing.assert_array_equal(redrawn[2:], clean[2:])
    for i in (0, 1):  # fresh draws from the series' own generators
        assert not np.allclose(redrawn[i], clean[i])
    state["fail"] = True
    again = ks.KernelSynth(length=64, seed=5, batch_size=2).generate(0, 4)
    np.testing.assert_array_equal(again, redrawn)


def test_sklearn_reference_runs_the_same_algorithm() -> None:
    series = ks.sklearn_reference_series(3, seed=1, length=64)
    assert series.shape == (64,) and np.isfinite(series).all()


def test_invalid_settings_raise() -> None:
    with pytest.raises(ValueError, match="seed"):
        ks.KernelSynth(seed=-1)
    with pytest.raises(ValueError, match="max_kernels"):
        ks.KernelSynth(max_kernels=0)
    with pytest.raises(ValueError, match="outside the bank"):
        ks.covariance_matrices([ks.KernelComposition((40,), ())], 16)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_request_without_cuda_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cuda.*--device cpu"):
        ks.generate_kernel_synth(tmp_path / "out", 4, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu() -> None:
    cpu = ks.KernelSynth(length=128, seed=2).generate(0, 8)
    gpu = ks.KernelSynth(length=128, seed=2, device="cuda").generate(0, 8)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-4 * np.abs(cpu).max())


def test_cli_writes_shards_and_resume_matches_one_run(tmp_path: Path, monkeypatch) -> None:
    from synthetic.kernel_synth import main

    common = ["--num-series", "10", "--length", "48", "--seed", "9", "--shard-size", "4"]
    assert main([*common, "--output", str(tmp_path / "full"), "--no-progress"]) == 0
    full = series_io.read_series(tmp_path / "full")
    np.testing.assert_array_equal(np.stack(full), ks.KernelSynth(length=48, seed=9).generate(0, 10))

    real = ks.KernelSynth.generate
    calls = {"n": 0}

    def killed_on_second_shard(self, begin, end):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, begin, end)

    monkeypatch.setattr(ks.KernelSynth, "generate", killed_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        main([*common, "--output", str(tmp_path / "part"), "--no-progress"])
    monkeypatch.setattr(ks.KernelSynth, "generate", real)
    assert series_io.count_series(tmp_path / "part") == 4
    assert main([*common, "--output", str(tmp_path / "part"), "--no-progress"]) == 2  # exists
    assert main([*common, "--output", str(tmp_path / "part"), "--resume", "--no-progress"]) == 0
    resumed = series_io.read_series(tmp_path / "part")
    np.testing.assert_array_equal(np.stack(resumed), np.stack(full))


@pytest.mark.slow  # spawns two processes that import torch
def test_worker_processes_give_the_same_series(tmp_path: Path) -> None:
    paths = ks.generate_kernel_synth(
        tmp_path / "w2",
        6,
        length=32,
        seed=1,
        workers=2,
        shard_size=2,
        progress=False,
        format="parquet",
    )
    assert len(paths) == 3
    np.testing.assert_array_equal(
        np.stack(series_io.read_series(tmp_path / "w2")),
        ks.KernelSynth(length=32, seed=1).generate(0, 6),
    )
