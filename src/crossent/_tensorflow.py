"""TensorFlow as an array namespace: the adapter that lets the core take ``tf.Tensor``.

TensorFlow has no Python array API namespace of its own, and array-api-compat has none
for it either. :data:`namespace` supplies the part of the standard that crossent's core
calls on ``xp`` (creation, elementwise, reductions, indexing, sorting, a little linear
algebra), written over ``tf`` operations so that results stay ``tf.Tensor``, gradients
flow under ``tf.GradientTape`` and everything traces inside ``tf.function`` (XLA
included). The formulas stay in the core; this module only translates the calls.

Only :mod:`crossent._array` imports this module, and only once it has met a TensorFlow
tensor, so ``import crossent`` never imports TensorFlow.

Departures from the standard, where TensorFlow differs and the core does not mind:

* Python floats become float32 tensors (TensorFlow's default, as in JAX) and Python ints
  int64 (the index dtype of ``argmax``, ``argsort`` and ``arange`` here, as in PyTorch);
  NumPy arrays keep their dtype.
* Binary functions (``where``, ``maximum``, ...) take Python scalars on either side and
  give them the dtype of the tensor beside them.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["is_tensorflow_array", "namespace"]


def is_tensorflow_array(x: Any) -> bool:
    """Whether ``x`` is a ``tf.Tensor`` (eager or symbolic) or a ``tf.Variable``."""
    return isinstance(x, (tf.Tensor, tf.Variable))


def _scalar_like(value: Any, like: Any) -> Any:
    """``value`` as a tensor; a Python or NumPy scalar takes the dtype of ``like``."""
    if is_tensorflow_array(value):
        return value
    if is_tensorflow_array(like) and isinstance(value, (builtins.bool, int, float, np.generic)):
        return tf.constant(value, dtype=like.dtype)
    return TensorFlowNamespace.asarray(value)


def _pair(a: Any, b: Any) -> tuple[Any, Any]:
    return _scalar_like(a, b), _scalar_like(b, a)


def _static_or_inferred(shape: Any) -> Any:
    """A reshape target: one dimension that ``tf.function`` left unknown becomes -1.

    The core reshapes to the shape of another array of the same size (``x.shape``); while
    tracing, that shape may lack the batch dimension, which the element count fixes.
    """
    if not isinstance(shape, tf.TensorShape) or shape.is_fully_defined():
        return shape
    dims = shape.as_list()
    if dims.count(None) > 1:
        raise ValueError(
            f"cannot reshape to {shape}: more than one dimension is unknown while tracing; "
            "give the tf.function an input_signature with at most one unknown dimension."
        )
    return [-1 if d is None else d for d in dims]


def _axes(axis: Any) -> Any:
    return list(axis) if isinstance(axis, tuple) else axis


class _Linalg:
    """The ``linalg`` extension: the three functions the core uses."""

    @staticmethod
    def diagonal(x: Any, /, *, offset: int = 0) -> Any:
        return tf.linalg.diag_part(x, k=offset)

    @staticmethod
    def solve(x1: Any, x2: Any, /) -> Any:
        return tf.linalg.solve(x1, x2)

    @staticmethod
    def cholesky(x: Any, /, *, upper: builtins.bool = False) -> Any:
        factor = tf.linalg.cholesky(x)
        return tf.linalg.adjoint(factor) if upper else factor


class _FloatInfo:
    """``finfo`` of a TensorFlow floating dtype, read from NumPy / ml_dtypes."""

    def __init__(self, dtype: Any) -> None:
        import ml_dtypes

        info = ml_dtypes.finfo(tf.as_dtype(dtype).as_numpy_dtype)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.smallest_normal = float(info.smallest_normal)
        self.dtype = tf.as_dtype(dtype)


class TensorFlowNamespace:
    """The array-API subset of TensorFlow that crossent's core uses (see the module)."""

    __name__ = "crossent._tensorflow"

    bool = tf.bool
    int8, int16, int32, int64 = tf.int8, tf.int16, tf.int32, tf.int64
    uint8 = tf.uint8
    float16, bfloat16, float32, float64 = tf.float16, tf.bfloat16, tf.float32, tf.float64
    e, pi, inf, nan = math.e, math.pi, math.inf, math.nan
    linalg = _Linalg()

    # -- dtypes ---------------------------------------------------------------------------

    @staticmethod
    def isdtype(dtype: Any, kind: Any) -> builtins.bool:
        """The array API's ``isdtype`` for TensorFlow dtypes."""
        if isinstance(kind, tuple):
            return builtins.any(TensorFlowNamespace.isdtype(dtype, k) for k in kind)
        d = tf.as_dtype(dtype)
        if not isinstance(kind, str):
            return d == tf.as_dtype(kind)
        checks = {
            "bool": d.is_bool,
            "signed integer": d.is_integer and not d.is_unsigned,
            "unsigned integer": d.is_integer and d.is_unsigned,
            "integral": d.is_integer,
            "real floating": d.is_floating,
            "complex floating": d.is_complex,
            "numeric": d.is_integer or d.is_floating or d.is_complex,
        }
        if kind not in checks:
            raise ValueError(f"`kind` must be an array API dtype kind; got kind={kind!r}.")
        return builtins.bool(checks[kind])

    @staticmethod
    def finfo(dtype: Any) -> _FloatInfo:
        return _FloatInfo(dtype.dtype if is_tensorflow_array(dtype) else dtype)

    @staticmethod
    def result_type(*arrays_and_dtypes: Any) -> Any:
        dtypes = [
            tf.as_dtype(a.dtype if is_tensorflow_array(a) else a).as_numpy_dtype
            for a in arrays_and_dtypes
        ]
        return tf.as_dtype(np.result_type(*dtypes))

    @staticmethod
    def astype(x: Any, dtype: Any, /, *, copy: builtins.bool = True, device: Any = None) -> Any:
        return tf.cast(x, dtype)

    # -- creation -------------------------------------------------------------------------

    @staticmethod
    def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None) -> Any:
        if is_tensorflow_array(obj):
            x = tf.convert_to_tensor(obj)
            return x if dtype is None or x.dtype == dtype else tf.cast(x, dtype)
        if isinstance(obj, (np.ndarray, np.generic)):
            return tf.constant(obj if dtype is None else np.asarray(obj), dtype=dtype)
        x = tf.constant(obj)
        if dtype is None and x.dtype == tf.int32:
            dtype = tf.int64
        return x if dtype is None or x.dtype == dtype else tf.cast(x, dtype)

    @staticmethod
    def arange(
        start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None
    ) -> Any:
        if stop is None:
            start, stop = 0, start
        return tf.range(start, stop, step, dtype=dtype or tf.int64)

    @staticmethod
    def linspace(
        start: Any,
        stop: Any,
        /,
        num: int,
        *,
        dtype: Any = None,
        device: Any = None,
        endpoint: builtins.bool = True,
    ) -> Any:
        dtype = dtype or tf.float32
        if not endpoint:
            stop = start + (stop - start) * (num - 1) / num if num > 1 else start
        return tf.cast(tf.linspace(float(start), float(stop), num), dtype)

    @staticmethod
    def zeros(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
        return tf.zeros(shape, dtype=dtype or tf.float32)

    @staticmethod
    def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
        return tf.ones(shape, dtype=dtype or tf.float32)

    @staticmethod
    def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Any:
        if dtype is None:
            dtype = tf.bool if isinstance(fill_value, builtins.bool) else tf.float32
        return tf.fill(shape, tf.constant(fill_value, dtype=dtype))

    # The *_like functions use the dynamic shape, so that they work on tensors whose
    # batch dimension is unknown while tf.function traces.
    @staticmethod
    def zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
        return tf.zeros_like(x, dtype=dtype)

    @staticmethod
    def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
        return tf.ones_like(x, dtype=dtype)

    @staticmethod
    def full_like(x: Any, /, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Any:
        return tf.fill(tf.shape(x), tf.constant(fill_value, dtype=dtype or x.dtype))

    # -- elementwise ----------------------------------------------------------------------

    exp = staticmethod(tf.exp)
    expm1 = staticmethod(tf.math.expm1)
    log = staticmethod(tf.math.log)
    log1p = staticmethod(tf.math.log1p)
    sqrt = staticmethod(tf.sqrt)
    tanh = staticmethod(tf.tanh)
    abs = staticmethod(tf.abs)
    floor = staticmethod(tf.floor)
    sign = staticmethod(tf.sign)
    isnan = staticmethod(tf.math.is_nan)
    isfinite = staticmethod(tf.math.is_finite)
    # Half to even, as NumPy and the array API.
    round = staticmethod(tf.round)

    @staticmethod
    def maximum(x1: Any, x2: Any, /) -> Any:
        return tf.maximum(*_pair(x1, x2))

    @staticmethod
    def minimum(x1: Any, x2: Any, /) -> Any:
        return tf.minimum(*_pair(x1, x2))

    @staticmethod
    def logaddexp(x1: Any, x2: Any, /) -> Any:
        x1, x2 = _pair(x1, x2)
        top = tf.maximum(x1, x2)
        delta = x1 - x2
        # Equal infinities give delta = NaN: the sum is then the answer (inf or -inf).
        return tf.where(tf.math.is_nan(delta), x1 + x2, top + tf.math.log1p(tf.exp(-tf.abs(delta))))

    @staticmethod
    def where(condition: Any, x1: Any, x2: Any, /) -> Any:
        return tf.where(condition, *_pair(x1, x2))

    @staticmethod
    def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:
        if min is not None:
            x = tf.maximum(*_pair(x, min))
        if max is not None:
            x = tf.minimum(*_pair(x, max))
        return x

    # -- reductions -----------------------------------------------------------------------

    @staticmethod
    def sum(
        x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: builtins.bool = False
    ) -> Any:
        if x.dtype == tf.bool:
            x = tf.cast(x, tf.int64)
        if dtype is not None:
            x = tf.cast(x, dtype)
        return tf.reduce_sum(x, axis=_axes(axis), keepdims=keepdims)

    @staticmethod
    def mean(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:
        return tf.reduce_mean(x, axis=_axes(axis), keepdims=keepdims)

    @staticmethod
    def std(
        x: Any, /, *, axis: Any = None, correction: float = 0.0, keepdims: builtins.bool = False
    ) -> Any:
        mean = tf.reduce_mean(x, axis=_axes(axis), keepdims=True)
        squares = tf.reduce_sum(tf.square(x - mean), axis=_axes(axis), keepdims=keepdims)
        n = tf.cast(tf.size(x) // tf.maximum(tf.size(mean), 1), x.dtype)
        return tf.sqrt(squares / (n - correction))

    @staticmethod
    def max(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:
        return tf.reduce_max(x, axis=_axes(axis), keepdims=keepdims)

    @staticmethod
    def min(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:
        return tf.reduce_min(x, axis=_axes(axis), keepdims=keepdims)

    @staticmethod
    def all(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:
        return tf.reduce_all(tf.cast(x, tf.bool), axis=_axes(axis), keepdims=keepdims)

    @staticmethod
    def any(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:
        return tf.reduce_any(tf.cast(x, tf.bool), axis=_axes(axis), keepdims=keepdims)

    @staticmethod
    def argmax(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:
        if axis is None:
            return tf.argmax(tf.reshape(x, (-1,)), axis=0, output_type=tf.int64)
        out = tf.argmax(x, axis=axis, output_type=tf.int64)
        return tf.expand_dims(out, axis) if keepdims else out

    # -- shapes and indexing --------------------------------------------------------------

    @staticmethod
    def reshape(x: Any, /, shape: Any, *, copy: Any = None) -> Any:
        return tf.reshape(x, _static_or_inferred(shape))

    @staticmethod
    def squeeze(x: Any, /, axis: Any) -> Any:
        return tf.squeeze(x, axis=_axes(axis))

    @staticmethod
    def moveaxis(x: Any, source: int, destination: int, /) -> Any:
        ndim = x.shape.rank
        order = [i for i in range(ndim) if i != source % ndim]
        order.insert(destination % ndim, source % ndim)
        return tf.transpose(x, order)

    @staticmethod
    def broadcast_to(x: Any, /, shape: Any) -> Any:
        return tf.broadcast_to(x, shape)

    @staticmethod
    def broadcast_arrays(*arrays: Any) -> list[Any]:
        shape = tf.shape(arrays[0])
        for a in arrays[1:]:
            shape = tf.broadcast_dynamic_shape(shape, tf.shape(a))
        return [tf.broadcast_to(a, shape) for a in arrays]

    @staticmethod
    def stack(arrays: Sequence[Any], /, *, axis: int = 0) -> Any:
        return tf.stack(list(arrays), axis=axis)

    @staticmethod
    def concat(arrays: Sequence[Any], /, *, axis: int | None = 0) -> Any:
        if axis is None:
            return tf.concat([tf.reshape(a, (-1,)) for a in arrays], axis=0)
        return tf.concat(list(arrays), axis=axis)

    @staticmethod
    def take(x: Any, indices: Any, /, *, axis: int | None = None) -> Any:
        if axis is None:
            return tf.gather(tf.reshape(x, (-1,)), indices)
        return tf.gather(x, indices, axis=axis)

    @staticmethod
    def take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> Any:
        axis = axis % x.shape.rank
        last = TensorFlowNamespace.moveaxis(x, axis, -1)
        picked = tf.gather(
            last, TensorFlowNamespace.moveaxis(indices, axis, -1), batch_dims=x.shape.rank - 1
        )
        return TensorFlowNamespace.moveaxis(picked, -1, axis)

    @staticmethod
    def matmul(x1: Any, x2: Any, /) -> Any:
        return tf.linalg.matmul(x1, x2)

    # -- sorting and searching ------------------------------------------------------------

    @staticmethod
    def sort(
        x: Any,
        /,
        *,
        axis: int = -1,
        descending: builtins.bool = False,
        stable: builtins.bool = True,
    ) -> Any:
        return tf.sort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING")

    @staticmethod
    def argsort(
        x: Any,
        /,
        *,
        axis: int = -1,
        descending: builtins.bool = False,
        stable: builtins.bool = True,
    ) -> Any:
        order = tf.argsort(
            x, axis=axis, direction="DESCENDING" if descending else "ASCENDING", stable=True
        )
        return tf.cast(order, tf.int64)

    @staticmethod
    def searchsorted(x1: Any, x2: Any, /, *, side: str = "left", sorter: Any = None) -> Any:
        if sorter is not None:
            x1 = tf.gather(x1, sorter)
        values = _scalar_like(x2, x1)
        flat = tf.searchsorted(
            x1[None, :], tf.reshape(values, (1, -1)), side=side, out_type=tf.int64
        )
        return tf.reshape(flat, tf.shape(values))


namespace = TensorFlowNamespace()
"""The namespace that :func:`crossent._array.namespace` returns for TensorFlow tensors."""
