"""Input normalisation and argument checks shared by every pipeline."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from chronos_pkg.inputs import (
    DEFAULT_BATCH_SIZE,
    check_batch_size,
    check_horizon,
    check_num_samples,
    check_prediction_length,
    check_quantile_levels,
    left_pad,
    to_context_tensor,
    to_series_list,
)

NAN = float("nan")


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(torch.isnan(a), torch.isnan(b)) and torch.equal(
        a.nan_to_num(), b.nan_to_num()
    )


@pytest.mark.parametrize(
    "inputs",
    [
        np.array([1.0, 2.0, NAN]),
        np.array([1, 2, 3], dtype=np.int64),
        torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64),
        [1.0, 2.0, 3.0],
    ],
)
def test_one_series_becomes_one_row(inputs: object) -> None:
    context = to_context_tensor(inputs)
    assert context.shape == (1, 3) and context.dtype == torch.float32
    assert context[0, 0] == 1.0


def test_two_d_inputs_keep_their_rows() -> None:
    array = np.arange(12, dtype=np.float64).reshape(3, 4)
    for inputs in (array, torch.tensor(array)):
        context = to_context_tensor(inputs)
        assert context.shape == (3, 4) and context.dtype == torch.float32
        assert np.array_equal(context.numpy(), array.astype(np.float32))


def test_list_of_different_lengths_is_left_padded_with_nan() -> None:
    context = to_context_tensor([np.array([1.0, 2.0, 3.0]), torch.tensor([4.0]), [5.0, NAN]])
    expected = torch.tensor([[1.0, 2.0, 3.0], [NAN, NAN, 4.0], [NAN, 5.0, NAN]])
    assert _same(context, expected)
    assert _same(
        left_pad([torch.tensor([1.0]), torch.tensor([2.0, 3.0])]),
        torch.tensor([[NAN, 1.0], [2.0, 3.0]]),
    )


def test_inputs_are_not_mutated() -> None:
    array = np.array([[1.0, NAN], [3.0, 4.0]])
    before = array.copy()
    context = to_context_tensor(array)
    context[:] = 0.0
    assert np.array_equal(array, before, equal_nan=True)


def test_all_nan_series_warns_but_is_kept() -> None:
    with pytest.warns(UserWarning, match="entirely NaN"):
        context = to_context_tensor([np.array([NAN, NAN]), np.array([1.0])])
    assert context.shape == (2, 2)


def test_no_warning_for_ordinary_input() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_context_tensor(np.ones((2, 3)))


@pytest.mark.parametrize(
    ("inputs", "error", "match"),
    [
        ([], ValueError, "empty"),
        (np.zeros((0, 5)), ValueError, "empty"),
        ([np.array([])], ValueError, "length 0"),
        (np.zeros((2, 3, 4)), ValueError, "1-D or 2-D"),
        (np.array(3.0), ValueError, "scalar"),
        (np.float64(3.0), TypeError, "unsupported"),
        (np.array(["a", "b"]), TypeError, "non-numeric"),
        ([np.array([1.0]), np.array(["x"], dtype=object)], TypeError, "series 1"),
        ("12345", TypeError, "string"),
        (np.array([1.0, np.inf]), ValueError, "inf"),
        ([np.array([1.0]), np.array([-np.inf])], ValueError, "series 1"),
        (torch.tensor([1 + 1j, 2 + 0j]), TypeError, "complex"),
        (42, TypeError, "unsupported"),
    ],
)
def test_bad_inputs(inputs: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        to_context_tensor(inputs)


def test_check_prediction_length_and_num_samples() -> None:
    assert check_prediction_length(np.int64(5)) == 5
    assert check_num_samples(3) == 3
    for check in (check_prediction_length, check_num_samples):
        with pytest.raises(ValueError, match=">= 1"):
            check(0)
        with pytest.raises(TypeError):
            check(2.5)
        with pytest.raises(TypeError):
            check(True)


def test_check_quantile_levels() -> None:
    assert check_quantile_levels((0.1, np.float32(0.5))) == [0.1, 0.5]
    for bad in ([0.0, 0.5], [0.5, 1.0], [-0.1], [1.5]):
        with pytest.raises(ValueError, match="between 0 and 1"):
            check_quantile_levels(bad)
    with pytest.raises(ValueError, match="empty"):
        check_quantile_levels([])


def test_check_horizon() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_horizon(64, 64, limit_prediction_length=True)
    with pytest.warns(UserWarning, match="exceeds"):
        check_horizon(65, 64, limit_prediction_length=False)
    with pytest.raises(ValueError, match="limit_prediction_length"):
        check_horizon(65, 64, limit_prediction_length=True)


def test_check_batch_size() -> None:
    assert check_batch_size(None) == DEFAULT_BATCH_SIZE == 256
    assert check_batch_size(np.int64(3)) == 3 and type(check_batch_size(np.int64(3))) is int
    for bad in (2.0, "2", True):
        with pytest.raises(TypeError, match="batch_size must be an int"):
            check_batch_size(bad)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        check_batch_size(0)


def test_series_list_keeps_lengths_and_can_keep_float64() -> None:
    series = to_series_list([np.array([1.0, 1e-12 + 1.0]), torch.arange(3)], dtype=torch.float64)
    assert [s.dtype for s in series] == [torch.float64, torch.float64]
    assert [len(s) for s in series] == [2, 3]
    assert series[0][1].item() == 1e-12 + 1.0  # not rounded to float32
    assert len(to_series_list(np.ones((4, 6)))) == 4
