"""The TensorFlow adapter's functions against NumPy's, where the core relies on them."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from crossent import _array  # noqa: E402
from crossent._tensorflow import namespace as xp  # noqa: E402

X = np.array([[1.0, -2.0, 3.5], [4.0, 5.0, -7.0]], dtype=np.float32)


def same(ours, expected, dtype=None):
    assert isinstance(ours, tf.Tensor)
    if dtype is not None:
        assert ours.dtype == dtype
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6)


def test_dispatch_returns_the_adapter_for_tensors_and_variables():
    assert _array.namespace(tf.constant(X)) is xp
    assert _array.namespace(tf.Variable(X), None, 2.0) is xp
    assert _array.dtype_name(tf.bfloat16) == "bfloat16"
    with pytest.raises(TypeError, match="one array library"):
        _array.namespace(tf.constant(X), X)


def test_reductions_and_elementwise_functions_match_numpy():
    t = tf.constant(X)
    same(xp.std(t, axis=-1), np.std(X, axis=-1))
    same(xp.std(t, axis=-1, correction=1), np.std(X, axis=-1, ddof=1))
    same(xp.sum(t > 0), np.sum(X > 0), tf.int64)
    same(xp.argmax(t, axis=-1, keepdims=True), np.argmax(X, axis=-1)[:, None], tf.int64)
    a = np.array([-np.inf, 1.0, np.inf, 3.0], dtype=np.float32)
    b = np.array([-np.inf, 2.0, np.inf, -np.inf], dtype=np.float32)
    same(xp.logaddexp(tf.constant(a), tf.constant(b)), np.logaddexp(a, b))
    same(xp.where(t > 0, t, 0.0), np.where(X > 0, X, 0.0))
    same(xp.clip(t, -1.0, 2.0), np.clip(X, -1.0, 2.0))


def test_indexing_sorting_and_shapes_match_numpy():
    t = tf.constant(X)
    idx = np.array([[2], [0]])
    same(xp.take_along_axis(t, tf.constant(idx), axis=-1), np.take_along_axis(X, idx, axis=-1))
    same(xp.take(t, tf.constant([2, 0]), axis=1), np.take(X, [2, 0], axis=1))
    same(xp.moveaxis(tf.zeros((2, 3, 4)), 1, -1), np.zeros((2, 4, 3)))
    same(xp.argsort(t, axis=-1, descending=True), np.argsort(-X, axis=-1, kind="stable"))
    edges = np.array([0.0, 0.5, 1.0], dtype=np.float32)
    values = np.array([[0.2, 0.5], [0.9, 1.0]], dtype=np.float32)
    for side in ("left", "right"):
        same(
            xp.searchsorted(tf.constant(edges), tf.constant(values), side=side),
            np.searchsorted(edges, values, side=side),
        )
    same(xp.linspace(0.0, 1.0, 4, endpoint=False), np.linspace(0.0, 1.0, 4, endpoint=False))
    same(xp.arange(3), np.arange(3), tf.int64)
    same(xp.full_like(t, 2.0), np.full_like(X, 2.0), tf.float32)


def test_dtypes():
    assert xp.isdtype(tf.bfloat16, "real floating") and xp.isdtype(tf.int32, "integral")
    assert not xp.isdtype(tf.bool, ("integral", "real floating"))
    assert xp.finfo(tf.bfloat16).eps == 2.0**-7
    assert xp.result_type(tf.float32, tf.float64) == tf.float64
    assert xp.asarray([1, 2]).dtype == tf.int64 and xp.asarray([1.0]).dtype == tf.float32
    assert xp.asarray(np.array([1.0]), dtype=tf.float32).dtype == tf.float32
