"""The array-library layer: dispatch, dtype promotion and the stable primitives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special

import reference as ref
from crossent import _array

N, C = 6, 4


def ns(xp, x):
    """The array API namespace crossent uses for ``x`` of the ``xp`` fixture's library."""
    return _array.namespace(x)


def logits_of(seed: int, scale: float = 5.0) -> np.ndarray:
    z = scale * np.random.default_rng(seed).standard_normal((N, C))
    z[0] = [1e4, -1e4, 0.0, 1e4]
    z[1] = [-1e4, -1e4, -1e4, -1e4]
    return z


# ---------------------------------------------------------------------------------------
# Stable primitives
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0])
def test_logsumexp(xp, axis):
    z = logits_of(0)
    x = xp.asarray(z)
    out = _array.logsumexp(ns(xp, x), x, axis=axis)
    ref.assert_result(xp, out, scipy.special.logsumexp(z, axis=axis))
    kept = _array.logsumexp(ns(xp, x), x, axis=axis, keepdims=True)
    ref.assert_result(xp, kept, scipy.special.logsumexp(z, axis=axis, keepdims=True))


def test_logsumexp_of_minus_inf_rows_is_minus_inf(xp):
    z = logits_of(1)
    z[2] = -np.inf
    x = xp.asarray(z)
    out = _array.logsumexp(ns(xp, x), x)
    assert xp.to_numpy(out)[2] == -np.inf
    assert np.isfinite(xp.to_numpy(out)[[0, 1, 3, 4, 5]]).all()


@pytest.mark.parametrize("axis", [-1, 0])
def test_log_softmax_and_softmax(xp, axis):
    z = logits_of(2)
    x = xp.asarray(z)
    log_q = _array.log_softmax(ns(xp, x), x, axis=axis)
    ref.assert_result(xp, log_q, scipy.special.log_softmax(z, axis=axis))
    q = _array.softmax(ns(xp, x), x, axis=axis)
    ref.assert_result(xp, q, scipy.special.softmax(z, axis=axis))
    # exp(log_softmax) of logits near ±1e4 carries the rounding of 1e4 + lse: ~1e-12.
    np.testing.assert_allclose(xp.to_numpy(q).sum(axis=axis), 1.0, rtol=1e-12)


def test_sigmoid_family(xp):
    z = logits_of(3)
    x = xp.asarray(z)
    xp_ = ns(xp, x)
    log_sig = np.vectorize(ref._log_sigmoid)(z)
    ref.assert_result(xp, _array.log_sigmoid(xp_, x), log_sig)
    ref.assert_result(xp, _array.softplus(xp_, x), -np.vectorize(ref._log_sigmoid)(-z))
    ref.assert_result(xp, _array.sigmoid(xp_, x), scipy.special.expit(z))
    assert np.isfinite(xp.to_numpy(_array.log_sigmoid(xp_, x))).all()


def test_softplus_is_exact_for_large_inputs(xp):
    # No threshold switch to the identity: softplus(30) = 30 + log1p(e^-30).
    x = xp.asarray(np.full((N, C), 30.0))
    out = _array.softplus(ns(xp, x), x)
    ref.assert_result(xp, out, np.full((N, C), 30.0 + math.log1p(math.exp(-30.0))))


def test_xlogy(xp):
    a = np.tile([0.0, 0.0, 0.5, 2.0], (N, 1))
    b = np.tile([0.0, 0.3, 0.0, 0.25], (N, 1))
    out = _array.xlogy(ns(xp, xp.asarray(a)), xp.asarray(a), xp.asarray(b))
    ref.assert_result(xp, out, scipy.special.xlogy(a, b))


def test_xlogy_gradient_has_no_nan():
    torch = pytest.importorskip("torch")
    x = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 0.25, 0.0], dtype=torch.float64, requires_grad=True)
    xp = _array.namespace(x)
    _array.xlogy(xp, x, y)[:2].sum().backward()
    assert x.grad is not None and y.grad is not None
    assert not bool(torch.isnan(x.grad).any()) and not bool(torch.isnan(y.grad).any())
    np.testing.assert_allclose(y.grad.numpy()[:2], [0.0, 0.5 / 0.25])


def test_softplus_gradient_at_zero_is_one_half():
    torch = pytest.importorskip("torch")
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    _array.softplus(_array.namespace(x), x).sum().backward()
    assert x.grad is not None and float(x.grad[0]) == 0.5


def test_no_numpy_warnings_on_extremes():
    # pyproject turns RuntimeWarnings from crossent into errors; check the primitives stay quiet.
    z = logits_of(4)
    xp = _array.namespace(z)
    with np.errstate(divide="raise", over="raise", invalid="raise"):
        _array.logsumexp(xp, z)
        _array.log_softmax(xp, z)
        _array.log_sigmoid(xp, z)
        _array.xlogy(xp, np.array([0.0, 1.0]), np.array([0.0, 0.0]))


# ---------------------------------------------------------------------------------------
# Indexing helpers
# ---------------------------------------------------------------------------------------


def test_take_along_last_and_one_hot(xp):
    z = logits_of(5)
    y = np.array([0, 3, 1, 2, 2, 0])
    x = xp.asarray(z)
    xp_ = ns(xp, x)
    picked = _array.take_along_last(xp_, x, xp.asarray(y, "int64"))
    ref.assert_result(xp, picked, z[np.arange(N), y])
    mask = _array.one_hot_mask(xp_, xp.asarray(y, "int32"), C, x.dtype)
    ref.assert_result(xp, mask, np.eye(C)[y])


def test_move_class_axis_round_trip(xp):
    z = np.arange(2 * C * 3, dtype=np.float64).reshape(2, C, 3)
    x = xp.asarray(z)
    xp_ = ns(xp, x)
    last = _array.move_class_axis_last(xp_, x, 1)
    ref.assert_result(xp, last, np.moveaxis(z, 1, -1))
    ref.assert_result(xp, _array.move_class_axis_back(xp_, last, 1), z)
    assert _array.move_class_axis_last(xp_, x, -1) is x
    assert _array.move_class_axis_last(xp_, x, 2) is x


# ---------------------------------------------------------------------------------------
# Dispatch and dtypes
# ---------------------------------------------------------------------------------------


def test_namespace_ignores_scalars_lists_and_none(xp):
    x = xp.asarray(np.zeros((N, C)))
    assert _array.namespace(x, None, 2.0, 3, True, [1.0, 2.0]) is _array.namespace(x)


def test_namespace_of_nothing_is_numpy():
    assert _array.is_torch(_array.namespace(None, 1.0)) is False
    assert _array.namespace(None, 1.0) is _array.namespace(np.zeros(1))


def test_namespace_mixed_libraries_error():
    torch = pytest.importorskip("torch")
    with pytest.raises(
        TypeError,
        match=r"all array arguments must come from one array library; got numpy.ndarray, torch.Tensor\.",
    ):
        _array.namespace(np.zeros(2), torch.zeros(2))


def test_asarray():
    assert isinstance(_array.asarray([1.0, 2.0], "x"), np.ndarray)
    assert isinstance(_array.asarray(2, "x"), np.ndarray)
    with pytest.raises(
        TypeError,
        match=r"`x` must be an array \(NumPy, PyTorch or JAX\) or a list of numbers; got str\.",
    ):
        _array.asarray("1.0", "x")


def test_asarray_in_follows_the_library(xp):
    x = xp.asarray(np.zeros(3))
    out = _array.asarray_in(ns(xp, x), [1.0, 2.0], "weight")
    assert xp.is_native(out)
    np.testing.assert_array_equal(xp.to_numpy(out), [1.0, 2.0])
    assert _array.asarray_in(ns(xp, x), x, "weight") is x
    with pytest.raises(TypeError, match=r"`weight` must be an array .* got dict\."):
        _array.asarray_in(ns(xp, x), {"a": 1.0}, "weight")


def test_compute_dtype_promotes_half_precision(xp):
    names = ["float16", "float32", "float64"] + ([] if xp.name == "numpy" else ["bfloat16"])
    for name in names:
        x = xp.asarray(np.zeros(2), name)
        expected = "float32" if name in ("float16", "bfloat16") else name
        assert _array.compute_dtype(ns(xp, x), x) == xp.dtype(expected)
        assert _array.dtype_name(x.dtype) == name
        assert _array.is_floating(ns(xp, x), x)
    i = xp.asarray(np.zeros(2), "int64")
    assert _array.is_integer(ns(xp, i), i) and not _array.is_floating(ns(xp, i), i)


def test_numel(xp):
    assert _array.numel(xp.asarray(np.zeros((N, C)))) == N * C
    assert _array.numel(xp.asarray(np.zeros((0, C)))) == 0
    assert _array.numel(xp.asarray(np.float64(1.0))) == 1


def test_is_concrete_is_false_under_jax_tracing():
    jax = pytest.importorskip("jax")
    seen = []
    jax.jit(lambda v: seen.append(_array.is_concrete(v)) or v)(jax.numpy.zeros(2))
    assert seen == [False]
    assert _array.is_concrete(jax.numpy.zeros(2))
    assert _array.is_concrete(np.zeros(2))
    assert not _array.is_concrete(None)


def test_log_base():
    assert _array.log_base(None) == 1.0
    assert _array.log_base(2) == math.log(2)
    assert _array.log_base(10) == math.log(10)


def test_add_along_last_adds_one_entry_per_row_and_skips_other_columns(xp):
    x = xp.asarray(np.zeros((3, 4)))
    out = _array.add_along_last(
        _array.namespace(x), x, xp.asarray([1, 4, -1], "int64"), xp.asarray([2.0, 5.0, 7.0])
    )
    expected = np.zeros((3, 4))
    expected[0, 1] = 2.0  # rows 1 and 2 name columns outside [0, 4): nothing added
    ref.assert_result(xp, out, expected)
