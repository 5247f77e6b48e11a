"""The one reduction: "none" | "mean" | "sum", the mean's divisor and the all-ignored case."""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from crossent import _array, _reduce

N, C = 6, 4


def losses_of(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((N, C))


def test_reduce_without_divisor(xp):
    v = losses_of(0)
    x = xp.asarray(v)
    ns = _array.namespace(x)
    ref.assert_result(xp, _reduce.reduce(ns, x, "none"), v)
    ref.assert_result(xp, _reduce.reduce(ns, x, "sum"), v.sum())
    ref.assert_result(xp, _reduce.reduce(ns, x, "mean"), v.mean())


def test_reduce_mean_with_divisor(xp):
    v = losses_of(1)
    x = xp.asarray(v)
    ns = _array.namespace(x)
    ref.assert_result(xp, _reduce.reduce(ns, x, "mean", 4), v.sum() / 4)
    divisor = xp.asarray(np.float64(2.5))
    ref.assert_result(xp, _reduce.reduce(ns, x, "mean", divisor), v.sum() / 2.5)
    count = xp.asarray(np.int64(3), "int64")
    ref.assert_result(xp, _reduce.reduce(ns, x, "mean", count), v.sum() / 3)


def test_zero_divisor_gives_zero_not_nan(xp):
    x = xp.asarray(np.zeros((N, C)))
    ns = _array.namespace(x)
    ref.assert_result(xp, _reduce.reduce(ns, x, "mean", 0), 0.0)
    ref.assert_result(xp, _reduce.reduce(ns, x, "mean", xp.asarray(np.float64(0.0))), 0.0)
    empty = xp.asarray(np.zeros((0, C)))
    ref.assert_result(xp, _reduce.reduce(ns, empty, "mean"), 0.0)


def test_zero_divisor_has_a_zero_gradient():
    torch = pytest.importorskip("torch")
    x = torch.zeros((N, C), dtype=torch.float64, requires_grad=True)
    divisor = torch.zeros((), dtype=torch.float64, requires_grad=True)
    _reduce.reduce(_array.namespace(x), x * 0, "mean", divisor).backward()
    assert x.grad is not None and bool((x.grad == 0).all())
    assert divisor.grad is not None and float(divisor.grad) == 0.0


def test_scale_gradient(xp):
    v = losses_of(2)
    g = xp.asarray(v)
    ns = _array.namespace(g)
    ref.assert_result(xp, _reduce.scale_gradient(ns, g, "none"), v)
    ref.assert_result(xp, _reduce.scale_gradient(ns, g, "sum"), v)
    ref.assert_result(xp, _reduce.scale_gradient(ns, g, "mean", N), v / N)
    ref.assert_result(xp, _reduce.scale_gradient(ns, g, "mean", 0), v)  # 0 / 1 upstream
    ref.assert_result(xp, _reduce.scale_gradient(ns, g, "mean", xp.asarray(np.float64(2.0))), v / 2)


def test_scale_gradient_mean_needs_a_divisor():
    with pytest.raises(ValueError, match=r"internal: a mean gradient needs its divisor"):
        _reduce.scale_gradient(_array.namespace(np.zeros(2)), np.zeros(2), "mean")


def test_unknown_reduction():
    x = np.zeros(2)
    with pytest.raises(
        ValueError, match=r"`reduction` must be one of 'none', 'mean', 'sum'; got reduction='max'"
    ):
        _reduce.reduce(_array.namespace(x), x, "max")
    with pytest.raises(ValueError, match=r"got reduction='MEAN'"):
        _reduce.scale_gradient(_array.namespace(x), x, "MEAN", 1)


def test_count(xp):
    mask = np.array([True, False, True, True, False, False])
    out = _reduce.count(_array.namespace(xp.asarray(np.zeros(1))), xp.asarray(mask, "bool"))
    assert xp.is_native(out) and int(out) == 3


def test_safe_divisor_keeps_python_numbers():
    x = np.zeros(2)
    ns = _array.namespace(x)
    assert _reduce.safe_divisor(ns, 5, x) == 5
    assert _reduce.safe_divisor(ns, 0, x) == 1
    assert _reduce.safe_divisor(ns, 0.0, x) == 1
