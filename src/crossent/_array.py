"""Array-library dispatch and the stable primitives every loss is built from.

Step one of the pipeline (DESIGN.md): pick the array library of the inputs, promote
half precision to float32 for the math, and compute in log space. Every function here
works unchanged on NumPy, PyTorch and JAX arrays through the Python array API
(`array-api-compat <https://data-apis.org/array-api-compat/>`_); PyTorch and JAX get
their native fused kernels where those exist, because those are faster and carry
hand-written backward passes.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import array_api_compat
import numpy as np

Array = Any
"""Any array of NumPy, PyTorch or JAX (the typing of the array API is not expressible)."""

_HALF_DTYPE_NAMES = ("float16", "bfloat16")


def namespace(*arrays: Any) -> Any:
    """The array API namespace shared by ``arrays`` (``None`` and Python scalars ignored).

    Raises:
        TypeError: if the arrays come from different array libraries.
    """
    real = [
        a for a in arrays if a is not None and not isinstance(a, (bool, int, float, list, tuple))
    ]
    if not real:
        return array_api_compat.array_namespace(np.asarray(0.0))
    if any(is_tensorflow(a) for a in real):
        return _tensorflow_namespace(real)
    try:
        return array_api_compat.array_namespace(*real)
    except TypeError as exc:
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in real})
        raise TypeError(
            f"all array arguments must come from one array library; got {', '.join(kinds)}."
        ) from exc


def is_array(x: Any) -> bool:
    """Whether ``x`` is an array of a library the dispatch serves (TensorFlow's included)."""
    return bool(array_api_compat.is_array_api_obj(x)) or is_tensorflow(x)


def is_tensorflow(x: Any) -> bool:
    """Whether ``x`` is a TensorFlow tensor or variable (False while TensorFlow is not loaded:
    then no such object can exist, and TensorFlow is never imported here)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(x, (tf.Tensor, tf.Variable))


def _tensorflow_namespace(arrays: list[Any]) -> Any:
    """The TensorFlow adapter (:mod:`crossent._tensorflow`), if every array is TensorFlow's."""
    from crossent import _tensorflow

    if not all(is_tensorflow(a) for a in arrays):
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in arrays})
        raise TypeError(
            f"all array arguments must come from one array library; got {', '.join(kinds)}."
        )
    return _tensorflow.namespace


def is_tensorflow_namespace(xp: Any) -> bool:
    return getattr(xp, "__name__", None) == "crossent._tensorflow"


def asarray(x: Any, name: str) -> Any:
    """``x`` unchanged if it is an array; lists, tuples and scalars become NumPy arrays.

    A TensorFlow variable is read into a tensor (the read is recorded by a gradient tape).
    """
    if array_api_compat.is_array_api_obj(x):
        return x
    if is_tensorflow(x):
        tf = sys.modules["tensorflow"]
        return tf.convert_to_tensor(x) if isinstance(x, tf.Variable) else x
    if isinstance(x, (list, tuple, int, float, np.generic)):
        return np.asarray(x)
    raise TypeError(
        f"`{name}` must be an array (NumPy, PyTorch or JAX) or a list of numbers; "
        f"got {type(x).__name__}."
    )


def asarray_in(xp: Any, x: Any, name: str) -> Any:
    """``x`` unchanged if it is an array; lists, tuples and numbers become arrays of ``xp``.

    For options such as ``weight`` and ``pos_weight``, so that ``pos_weight=2.0`` or
    ``weight=[1.0, 3.0]`` work with torch and JAX inputs too.
    """
    if array_api_compat.is_array_api_obj(x):
        return x
    if is_tensorflow(x):
        return asarray(x, name)
    if isinstance(x, (list, tuple, int, float, np.generic)):
        return xp.asarray(x)
    raise TypeError(
        f"`{name}` must be an array (NumPy, PyTorch or JAX) or a list of numbers; "
        f"got {type(x).__name__}."
    )


def numel(x: Any) -> Any:
    """Number of elements of ``x`` (``x.size`` is a method on torch tensors, not a number).

    A 0-d integer tensor for a TensorFlow tensor whose shape ``tf.function`` leaves partly
    unknown (the batch dimension of a Keras model): the count exists only when it runs.
    """
    if is_tensorflow(x) and not x.shape.is_fully_defined():
        return sys.modules["tensorflow"].size(x)
    return math.prod(x.shape)


def is_torch(xp: Any) -> bool:
    return bool(array_api_compat.is_torch_namespace(xp))


def is_jax(xp: Any) -> bool:
    return bool(array_api_compat.is_jax_namespace(xp))


def is_concrete(x: Any) -> bool:
    """False for arrays whose values are not known now (JAX tracers under ``jit``/``grad``,
    PyTorch fake tensors under ``torch.compile``).

    Value checks (label ranges, probabilities in [0, 1]) run only on concrete arrays.
    """
    if x is None:
        return False
    if array_api_compat.is_jax_array(x):
        import jax

        return not isinstance(x, jax.core.Tracer)
    if array_api_compat.is_torch_array(x):
        return not _torch_is_symbolic(x)
    if is_tensorflow(x):
        return not _tensorflow_is_symbolic(x)
    return True


def _tensorflow_is_symbolic(x: Any) -> bool:
    """Whether ``x`` is a graph tensor (``tf.function`` is tracing), or TF builds a graph."""
    import tensorflow as tf

    return not tf.executing_eagerly() or bool(tf.is_symbolic_tensor(x))


def _torch_is_symbolic(x: Any) -> bool:
    """Whether ``x`` is a fake or meta tensor, or torch is compiling (no values to read)."""
    import torch

    if x.device.type == "meta" or torch.compiler.is_compiling():
        return True
    if type(x) in (torch.Tensor, torch.nn.Parameter):  # the common case: not a subclass
        return False
    from torch._subclasses.fake_tensor import is_fake

    return bool(is_fake(x))


def jax_is_tracing() -> bool:
    """Whether JAX is tracing a function now (``jit``, ``grad``, ``vmap``, ...).

    Inside a trace even arithmetic on concrete arrays captured from outside gives tracers,
    so nothing computed can be read as a Python value.
    """
    try:
        from jax._src import core
    except ImportError:  # pragma: no cover - only without JAX
        return False
    trace_ctx = getattr(core, "trace_ctx", None)
    if trace_ctx is not None and hasattr(trace_ctx, "is_top_level"):
        return not trace_ctx.is_top_level()
    import jax  # an older JAX: an array made now is a tracer exactly when tracing

    return isinstance(jax.numpy.zeros(()), jax.core.Tracer)


def readable(xp: Any, *arrays: Any) -> bool:
    """Whether the values of ``arrays`` (``None`` ignored) can be read now, on the host.

    False for JAX tracers and whenever JAX is tracing (captured concrete arrays included),
    and for PyTorch fake or meta tensors and under ``torch.compile``.
    """
    present = [a for a in arrays if a is not None]
    if is_jax(xp) and jax_is_tracing():
        return False
    if is_tensorflow_namespace(xp) and not sys.modules["tensorflow"].executing_eagerly():
        return False
    return all(is_concrete(a) for a in present)


def on_accelerator(*arrays: Any) -> bool:
    """Whether any of ``arrays`` lives on a device other than the CPU (GPU, TPU, MPS, ...)."""
    for a in arrays:
        if a is None:
            continue
        if array_api_compat.is_torch_array(a):
            if a.device.type != "cpu":
                return True
        elif array_api_compat.is_jax_array(a):
            devices = getattr(a, "devices", None)
            if devices is not None and any(d.platform != "cpu" for d in devices()):
                return True
        elif is_tensorflow(a) and any(kind in a.device for kind in (":GPU:", ":TPU:")):
            return True
    return False


def dtype_name(dtype: Any) -> str:
    """``"float32"``, ``"bfloat16"``, ``"int64"`` ... whatever the array library."""
    if type(dtype).__module__.startswith("tensorflow"):
        return str(dtype.name)  # str() of a TensorFlow dtype is "<dtype: 'float32'>"
    return str(dtype).rsplit(".", 1)[-1]


def _isdtype(xp: Any, dtype: Any, kind: str) -> bool:
    """``xp.isdtype``, False for dtypes the namespace does not know (``ml_dtypes`` in NumPy)."""
    try:
        return bool(xp.isdtype(dtype, kind))
    except TypeError:
        return False


def is_floating(xp: Any, x: Any) -> bool:
    return dtype_name(x.dtype) == "bfloat16" or _isdtype(xp, x.dtype, "real floating")


def is_integer(xp: Any, x: Any) -> bool:
    return _isdtype(xp, x.dtype, "integral")


def index_dtype(xp: Any) -> Any:
    """The library's default integer dtype (int64, or int32 for JAX without x64 mode)."""
    return xp.asarray(0).dtype


def compute_dtype(xp: Any, x: Any) -> Any:
    """The dtype the math runs in: float32 for fp16/bf16 inputs, else the input's own."""
    if dtype_name(x.dtype) in _HALF_DTYPE_NAMES:
        return xp.float32
    return x.dtype


def to_float(xp: Any, x: Any, dtype: Any) -> Any:
    """``x`` as ``dtype`` (no copy when it already is)."""
    return x if x.dtype == dtype else xp.astype(x, dtype)


def finfo_eps(xp: Any, dtype: Any) -> float:
    if dtype_name(dtype) == "bfloat16":
        return 2.0**-7  # ml_dtypes' bfloat16 in NumPy, which np.finfo does not know
    return float(xp.finfo(dtype).eps)


# ---------------------------------------------------------------------------------------
# Stable primitives. Each is the one implementation the whole package uses.
# ---------------------------------------------------------------------------------------


def logsumexp(xp: Any, x: Any, axis: int = -1, keepdims: bool = False) -> Any:
    r"""Stable :math:`\log \sum_j e^{x_j}` along ``axis``.

    The row maximum is subtracted before exponentiating; a row of all ``-inf`` gives
    ``-inf`` (not NaN).
    """
    if is_torch(xp):
        import torch

        return torch.logsumexp(x, dim=axis, keepdim=keepdims)
    if is_jax(xp):
        import jax

        return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)
    if array_api_compat.is_numpy_namespace(xp):
        return _numpy_logsumexp(x, axis, keepdims)
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    total = xp.sum(xp.exp(x - m), axis=axis, keepdims=True)
    # An all -inf row sums to 0: its log is -inf, taken without NumPy's divide warning.
    empty = total == 0
    log_total = xp.log(xp.where(empty, xp.ones_like(total), total))
    out = xp.where(empty, xp.full_like(total, -math.inf), log_total) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def _numpy_logsumexp(x: Any, axis: int, keepdims: bool) -> Any:
    """The same algorithm for NumPy with in-place temporaries (no autograd graph to keep)."""
    m = np.max(x, axis=axis, keepdims=True)
    m[~np.isfinite(m)] = 0
    e = np.subtract(x, m)
    np.exp(e, out=e)
    total = np.sum(e, axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):  # an all -inf row sums to 0: log 0 = -inf
        np.log(total, out=total)
    total += m
    return total if keepdims else np.squeeze(total, axis=axis)


def log_softmax(xp: Any, x: Any, axis: int = -1) -> Any:
    r"""Stable :math:`\log \mathrm{softmax}(x) = x - \mathrm{logsumexp}(x)`, never ``log(softmax)``."""
    if is_torch(xp):
        import torch

        return torch.log_softmax(x, dim=axis)
    if is_jax(xp):
        import jax

        return jax.nn.log_softmax(x, axis=axis)
    return x - logsumexp(xp, x, axis=axis, keepdims=True)


def softmax(xp: Any, x: Any, axis: int = -1) -> Any:
    r""":math:`e^{x_j} / \sum_k e^{x_k}`, computed as ``exp(log_softmax(x))``."""
    if is_torch(xp):
        import torch

        return torch.softmax(x, dim=axis)
    return xp.exp(log_softmax(xp, x, axis=axis))


def softplus(xp: Any, x: Any) -> Any:
    r"""Stable :math:`\log(1 + e^x) = \max(x, 0) + \log(1 + e^{-|x|})`.

    Exact for every ``x`` (no threshold switch to the identity, unlike
    ``torch.nn.functional.softplus``); the derivative at 0 is 1/2 under autograd.
    """
    return -log_sigmoid(xp, -x)


def log_sigmoid(xp: Any, x: Any) -> Any:
    r"""Stable :math:`\log \sigma(x) = \min(x, 0) - \log(1 + e^{-|x|})`."""
    if is_torch(xp):
        import torch

        return torch.nn.functional.logsigmoid(x)
    if is_jax(xp):
        import jax

        return jax.nn.log_sigmoid(x)
    return xp.minimum(x, xp.zeros_like(x)) - xp.log1p(xp.exp(-xp.abs(x)))


def sigmoid(xp: Any, x: Any) -> Any:
    r""":math:`\sigma(x) = 1 / (1 + e^{-x})`, without overflow for large ``|x|``."""
    if is_torch(xp):
        import torch

        return torch.sigmoid(x)
    if is_jax(xp):
        import jax

        return jax.nn.sigmoid(x)
    return xp.exp(log_sigmoid(xp, x))


def xlogy(xp: Any, x: Any, y: Any) -> Any:
    r""":math:`x \log y` with the convention :math:`0 \log y = 0` (also for ``y = 0``).

    ``y`` is replaced by 1 where ``x == 0`` or ``y == 0`` *before* the log, so that autograd
    does not see ``0 * log 0`` and return NaN gradients through the discarded branch, and
    NumPy does not warn; ``x > 0 = y`` gives ``-inf``. It is :func:`mul_log` of
    :func:`safe_log`.
    """
    return mul_log(xp, x, safe_log(xp, y))


def safe_log(xp: Any, x: Any) -> Any:
    r""":math:`\log x` with :math:`\log 0 = -\infty`, never evaluating ``log 0``.

    ``x`` is replaced by 1 where it is 0 before the log, so that NumPy does not warn and
    autograd sees no infinite derivative in the discarded branch (its gradient there is 0).

    Args:
        xp: the array namespace.
        x: non-negative values.

    Returns:
        ``log x``, ``-inf`` where ``x == 0``.

    Example:
        >>> import numpy as np
        >>> from crossent._array import namespace, safe_log
        >>> safe_log(namespace(np.zeros(1)), np.array([0.0, 1.0]))
        array([-inf,   0.])
    """
    positive = x > 0
    return xp.where(
        positive, xp.log(xp.where(positive, x, xp.ones_like(x))), xp.full_like(x, -math.inf)
    )


DEFAULT_EPS = math.exp(-100.0)
"""Default floor of the probability-input losses: ``log p ≥ -100``, PyTorch's clamp."""


def clamped_log(xp: Any, p: Any, eps: Any) -> Any:
    r""":math:`\log \max(p, \epsilon)`, clamped in log space (finite gradient at ``p = 0``).

    Args:
        xp: the array namespace.
        p: probabilities.
        eps: the floor ε in (0, 1), a number or a 0-d array of ``xp``.

    Returns:
        ``max(log p, log eps)``; its gradient is 0 where the floor is active.

    Example:
        >>> import numpy as np
        >>> from crossent._array import clamped_log, namespace
        >>> clamped_log(namespace(np.zeros(1)), np.array([0.0, 1.0]), 1e-7).round(4)
        array([-16.1181,   0.    ])
    """
    if isinstance(eps, (int, float)):
        floor = xp.full_like(p, math.log(eps) if eps > 0 else -math.inf)
    else:
        floor = xp.zeros_like(p) + xp.log(eps)
    return xp.maximum(safe_log(xp, p), floor)


def mul_log(xp: Any, x: Any, log_y: Any) -> Any:
    r""":math:`x \log y` from :math:`\log y`, with :math:`0 \cdot \log 0 = 0` in value and gradient.

    The rule of :func:`xlogy` for callers that hold log-probabilities: where
    ``log_y == -inf`` the product is 0 for ``x == 0`` (a masked logit under a target of
    probability 0) and ``-inf`` for ``x > 0``, taken as constants, so that neither the
    value nor autograd ever forms ``0 · (-inf)`` (``log_y`` is replaced by 0 there before
    the product: the double ``where``). Elsewhere it is the plain product, gradients
    included (``x = 0`` with a finite ``log_y`` keeps the gradient ``log_y`` in ``x``).

    Args:
        xp: the array namespace.
        x: non-negative coefficients (e.g. target probabilities), broadcastable against
            ``log_y``.
        log_y: logarithms, possibly ``-inf``.

    Returns:
        ``x * log_y`` of the broadcast shape, 0 where ``x == 0`` and ``log_y == -inf``.

    Example:
        >>> import numpy as np
        >>> from crossent._array import mul_log, namespace
        >>> mul_log(namespace(np.zeros(1)), np.array([0.0, 0.5]), np.array([-np.inf, -2.0]))
        array([ 0., -1.])
    """
    impossible = log_y == -math.inf
    product = x * xp.where(impossible, xp.zeros_like(log_y), log_y)
    limit = xp.where(x == 0, xp.zeros_like(product), xp.full_like(product, -math.inf))
    return xp.where(impossible, limit, product)


def softcap(xp: Any, logits: Any, cap: Any) -> Any:
    r"""Soft-capped logits :math:`c \tanh(z / c)` (Gemma 2); identity when ``cap`` is None.

    The derivative is :math:`1 - (z'/c)^2` with :math:`z'` the capped logits
    (:func:`softcap_derivative`).

    Args:
        xp: the array namespace.
        logits: the logits ``z``.
        cap: ``c > 0`` (a number or a 0-d array), or ``None`` for no cap.

    Returns:
        The capped logits, in ``(-c, c)``.

    Example:
        >>> import numpy as np
        >>> from crossent._array import namespace, softcap
        >>> softcap(namespace(np.zeros(1)), np.array([0.0, 1e4]), 30.0)
        array([ 0., 30.])
    """
    return logits if cap is None else cap * xp.tanh(logits / cap)


def softcap_derivative(capped: Any, cap: Any) -> Any:
    r""":math:`\partial z' / \partial z = 1 - (z'/c)^2` of :func:`softcap`, from the capped ``z'``.

    Args:
        capped: the soft-capped logits :math:`z'`.
        cap: the cap ``c`` (not None).

    Returns:
        The elementwise derivative, in [0, 1].

    Example:
        >>> import numpy as np
        >>> from crossent._array import softcap_derivative
        >>> softcap_derivative(np.array([0.0, 15.0]), 30.0)
        array([1.  , 0.75])
    """
    return 1 - (capped / cap) ** 2


def log_base(base: float | None) -> float:
    """``ln(base)``: divide a quantity in nats by it to express it in ``base`` units."""
    if base is None:
        return 1.0
    return math.log(base)


def take_along_last(xp: Any, x: Any, indices: Any) -> Any:
    """``x[..., indices[...]]``: the entry of each row of ``x`` named by ``indices``."""
    idx = xp.astype(indices, xp.int64) if is_torch(xp) else indices  # torch.gather wants int64
    if is_torch(xp):
        import torch

        return torch.gather(x, -1, idx[..., None])[..., 0]
    return xp.take_along_axis(x, idx[..., None], axis=-1)[..., 0]


def add_along_last(xp: Any, x: Any, indices: Any, values: Any) -> Any:
    """``x`` with ``values[...]`` added at ``x[..., indices[...]]``, one entry per row;
    an index outside ``[0, C)`` adds nothing.

    NumPy and PyTorch update ``x`` in place (O(rows) work, no ``[..., C]`` temporary) and
    return it; other libraries return a new array. Use the return value.

    Example:
        >>> import numpy as np
        >>> from crossent._array import add_along_last, namespace
        >>> add_along_last(namespace(np.zeros(1)), np.zeros((2, 3)), np.array([2, 5]), np.array([1.0, 1.0]))
        array([[0., 0., 1.],
               [0., 0., 0.]])
    """
    n_classes = x.shape[-1]
    inside = (indices >= 0) & (indices < n_classes)
    safe = xp.where(inside, indices, xp.zeros_like(indices))
    values = xp.where(inside, values, xp.zeros_like(values))
    if is_torch(xp):
        return x.scatter_add_(-1, xp.astype(safe, xp.int64)[..., None], values[..., None])
    if array_api_compat.is_numpy_namespace(xp):
        picked = np.take_along_axis(x, safe[..., None], axis=-1)
        np.put_along_axis(x, safe[..., None], picked + values[..., None], axis=-1)
        return x
    return x + values[..., None] * one_hot_mask(xp, safe, n_classes, x.dtype)


def one_hot_mask(xp: Any, indices: Any, n_classes: int, dtype: Any) -> Any:
    """``[..., C]`` array with 1 at ``indices`` and 0 elsewhere, in ``dtype``."""
    classes = xp.arange(n_classes, dtype=indices.dtype)
    return xp.astype(indices[..., None] == classes, dtype)


def move_class_axis_last(xp: Any, x: Any, axis: int) -> Any:
    """``x`` with ``axis`` moved to the end (a view where the library allows)."""
    if axis in (-1, x.ndim - 1):
        return x
    return xp.moveaxis(x, axis, -1)


def move_class_axis_back(xp: Any, x: Any, axis: int) -> Any:
    """Inverse of :func:`move_class_axis_last`."""
    if axis in (-1, x.ndim - 1):
        return x
    return xp.moveaxis(x, -1, axis)


def cholesky(xp: Any, a: Any) -> tuple[Any, Any]:
    r"""Lower Cholesky factors :math:`L L^\top = A` of ``a[..., D, D]``, and which failed.

    Libraries disagree on a matrix that is not positive definite: NumPy raises, PyTorch
    reports it through ``cholesky_ex``, JAX returns NaN. Here every library returns the
    factors (meaningless where failed) and a boolean array ``[...]`` marking the matrices
    that are not positive definite, for the caller to check where values are readable;
    the factors of those are NaN on every library.

    Args:
        xp: the array namespace.
        a: symmetric matrices ``[..., D, D]`` (only the lower triangle is read).

    Returns:
        ``(L, failed)``.

    Example:
        >>> import numpy as np
        >>> from crossent._array import cholesky, namespace
        >>> L, failed = cholesky(namespace(np.zeros(1)), np.array([[4.0, 2.0], [2.0, 2.0]]))
        >>> L, bool(failed)
        (array([[2., 0.],
               [1., 1.]]), False)
    """
    if is_torch(xp):
        import torch

        factor, info = torch.linalg.cholesky_ex(a)
        failed = info != 0
        # NaN where failed, as JAX and NumPy here: a partial factor would give a number
        return torch.where(failed[..., None, None], torch.nan, factor), failed
    if is_jax(xp):
        import jax.numpy as jnp

        factor = jnp.linalg.cholesky(a)
        return factor, jnp.any(jnp.isnan(factor), axis=(-2, -1))
    try:
        return xp.linalg.cholesky(a), xp.zeros(a.shape[:-2], dtype=xp.bool)
    except np.linalg.LinAlgError:
        # NumPy names no matrix: factor one by one to mark the failures
        flat = xp.reshape(a, (-1, *a.shape[-2:]))
        failed = np.zeros(flat.shape[0], dtype=bool)
        factors = np.full_like(flat, np.nan)
        for i in range(flat.shape[0]):
            try:
                factors[i] = np.linalg.cholesky(flat[i])
            except np.linalg.LinAlgError:
                failed[i] = True
        return factors.reshape(a.shape), failed.reshape(a.shape[:-2])


def solve_lower_triangular(xp: Any, lower: Any, b: Any) -> Any:
    r""":math:`X = L^{-1} B` for lower-triangular ``lower[..., D, D]`` and ``b[..., D, K]``.

    A triangular solve (no inverse formed). Batch dimensions must be equal (broadcast them
    first). NumPy has no triangular solver without SciPy; there LAPACK's general solver,
    backward stable, stands in.

    Example:
        >>> import numpy as np
        >>> from crossent._array import namespace, solve_lower_triangular
        >>> L = np.array([[2.0, 0.0], [1.0, 1.0]])
        >>> solve_lower_triangular(namespace(L), L, np.array([[2.0], [3.0]]))
        array([[1.],
               [2.]])
    """
    if is_torch(xp):
        import torch

        return torch.linalg.solve_triangular(lower, b, upper=False)
    if is_jax(xp):
        import jax

        return jax.lax.linalg.triangular_solve(lower, b, left_side=True, lower=True)
    return xp.linalg.solve(lower, b)
