"""Input validation: every error message of the package is written here.

Messages follow STYLE.md: one line, the argument in backticks, what was expected and
what was given. ``TypeError`` for wrong types and dtypes, ``ValueError`` for values and
shapes.

The validation policy lives here too: shape and dtype checks always run; checks that
read values (ranges, sums) follow :func:`set_validation` / :func:`validation` / the
losses' ``validate=`` keyword — by default on for NumPy and CPU tensors, off on
accelerators (no device-to-host synchronisation per call) and under tracing.
"""

from __future__ import annotations

import math
import numbers
import operator
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, TypeVar

import array_api_compat
import numpy as np

from crossent._array import (
    dtype_name,
    finfo_eps,
    is_floating,
    is_integer,
    namespace,
    numel,
    on_accelerator,
    readable,
    to_float,
)

REDUCTIONS = ("none", "mean", "sum")

# ---------------------------------------------------------------------------------------
# The validation policy: which value checks run.
# ---------------------------------------------------------------------------------------

_global_validation: bool | None = None
_UNSET = object()
_context_validation: ContextVar[Any] = ContextVar("crossent_validation", default=_UNSET)


def _validation_mode(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise TypeError(f"`{name}` must be None (automatic), True or False; got {name}={value!r}.")


def set_validation(mode: bool | None) -> None:
    """Set the validation policy of the process: ``None`` (automatic), ``True`` or ``False``.

    Shape and dtype checks always run. The policy decides the checks that read values
    (class-index range, probabilities in [0, 1], rows summing to 1, non-negative finite
    weights, hyper-parameters given as arrays):

    * ``None`` (the default): on for NumPy arrays and CPU tensors, off for arrays on an
      accelerator (reading a value there is a device-to-host synchronisation on every
      call) and under tracing (``jax.jit``, ``jax.grad``, ``torch.compile``, fake tensors);
    * ``True``: on wherever values exist, accelerators included (traced arrays have none);
    * ``False``: off everywhere.

    :func:`validation` sets it for a block, and every loss takes ``validate=`` for one call.

    Args:
        mode: ``None``, ``True`` or ``False``.

    Raises:
        TypeError: any other ``mode``.

    Example:
        >>> import crossent
        >>> crossent.set_validation(False)
        >>> crossent.get_validation()
        False
        >>> crossent.set_validation(None)
    """
    global _global_validation
    _global_validation = _validation_mode(mode, "mode")


def get_validation() -> bool | None:
    """The validation policy in force here: that of the innermost :func:`validation` block,
    else the process's (:func:`set_validation`); ``None`` is automatic.

    Example:
        >>> import crossent
        >>> crossent.get_validation() is None
        True
    """
    mode = _context_validation.get()
    return _global_validation if mode is _UNSET else mode


@contextmanager
def validation(mode: bool | None) -> Iterator[None]:
    """A block with the validation policy ``mode`` (see :func:`set_validation`).

    Blocks nest, and are local to the thread or task that enters them.

    Args:
        mode: ``None`` (automatic), ``True`` or ``False``.

    Raises:
        TypeError: any other ``mode``.

    Example:
        >>> import numpy as np
        >>> import crossent
        >>> rows = np.array([[0.5, 0.6]])  # not a distribution: sums to 1.1
        >>> with crossent.validation(False):  # computed as given, not refused
        ...     round(float(crossent.softmax_cross_entropy(np.zeros((1, 2)), rows)), 4)
        0.7625
    """
    token = _context_validation.set(_validation_mode(mode, "mode"))
    try:
        yield
    finally:
        _context_validation.reset(token)


F = TypeVar("F", bound=Callable[..., Any])


def honours_validate(function: F) -> F:
    """Decorator of the public functions: their keyword ``validate`` (``None``: follow the
    policy in force) sets the policy for the duration of the call, ``check=True``
    included."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        mode = kwargs.get("validate")
        if mode is None or _torch_compiling():
            return function(*args, **kwargs)
        with validation(_validation_mode(mode, "validate")):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _torch_compiling() -> bool:
    """Whether torch.compile is tracing now (value checks are off there; no policy to set)."""
    torch = sys.modules.get("torch")
    return torch is not None and bool(torch.compiler.is_compiling())


def values_checked(xp: Any, *arrays: Any) -> bool:
    """Whether the checks that read the values of ``arrays`` run now (the policy above)."""
    if not readable(xp, *arrays):  # first: under torch.compile nothing below is traceable
        return False
    mode = get_validation()
    if mode is False:
        return False
    return mode is True or not on_accelerator(*arrays)


def any_true(xp: Any, mask: Any) -> bool:
    """Whether ``mask`` has a True entry; False when its values are not to be read now
    (traced, or value checks off by the validation policy)."""
    return values_checked(xp, mask) and bool(xp.any(mask))


# ---------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------


def reduction(value: Any) -> str:
    if not isinstance(value, str) or value not in REDUCTIONS:
        raise ValueError(
            f"`reduction` must be one of 'none', 'mean', 'sum'; got reduction={value!r}."
        )
    return str(value)


def is_number(value: Any) -> bool:
    """A real scalar of Python or NumPy (``np.float32(0.1)``, ``np.int64(2)``), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def base(value: Any) -> None:
    if value is None:
        return
    if not is_number(value) or not (0 < float(value) < math.inf) or float(value) == 1:
        raise ValueError(
            f"`base` must be None (nats), 2 (bits), 10 or another positive number other than 1; "
            f"got base={value!r}."
        )


def is_scalar(value: Any) -> bool:
    """A number (:func:`is_number`) or a 0-d array: one value, as :func:`option` takes."""
    if is_number(value):
        return True
    return bool(array_api_compat.is_array_api_obj(value)) and getattr(value, "ndim", None) == 0


def _range_text(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if high == math.inf and low == 0:
        return "positive" if low_open else "non-negative"
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    return f"in {left}{low}, {high}{right}"


def _in_range(
    name: str, v: float, raw: Any, low: float, high: float, low_open: bool, high_open: bool
) -> float:
    """``v`` if it is finite and lies in the interval; ValueError otherwise."""
    if math.isinf(v):
        raise ValueError(f"`{name}` must be finite; got {name}={raw!r}.")
    lower_ok = low < v if low_open else low <= v
    upper_ok = v < high if high_open else v <= high
    if not (lower_ok and upper_ok):  # NaN fails both
        raise ValueError(
            f"`{name}` must be {_range_text(low, high, low_open, high_open)}; got {name}={raw!r}."
        )
    return v


def number_in(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` (a Python or NumPy real scalar) as a float in ``[low, high]`` (``(`` / ``)``
    for an open end).

    Raises:
        TypeError: ``value`` is not a real number (a bool, a string, an array, ...).
        ValueError: ``value`` is NaN, infinite or outside the interval.
    """
    if not is_number(value):
        raise TypeError(f"`{name}` must be a number; got {name}={value!r}.")
    return _in_range(name, float(value), value, low, high, low_open, high_open)


def non_negative(name: str, value: Any) -> float:
    """``value`` as a finite float ≥ 0 (TypeError for non-numbers, ValueError otherwise)."""
    return number_in(name, value, 0.0, math.inf, high_open=True)


def positive(name: str, value: Any) -> float:
    """``value`` as a finite float > 0 (TypeError for non-numbers, ValueError otherwise)."""
    return number_in(name, value, 0.0, math.inf, low_open=True, high_open=True)


def integer(name: str, value: Any) -> int:
    """``value`` as a Python int: any integral scalar (``operator.index``), not a bool."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be an integer; got {name}={value!r}.")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"`{name}` must be an integer; got {name}={value!r}.") from None


def option(
    xp: Any,
    name: str,
    value: Any,
    *,
    dtype: Any,
    low: float = 0.0,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = True,
) -> Any:
    """A float hyper-parameter: a real number, or a 0-d array of the inputs' library.

    Numbers (Python or NumPy scalars, and 0-d NumPy arrays) come back as Python floats,
    checked against the interval (default ``[0, inf)``). A 0-d array of ``xp`` — a JAX
    tracer under ``jit`` or ``grad``, a tensor that requires grad — comes back as an array
    of ``dtype``, so that gradients flow into it; its value is checked where the
    validation policy reads values (:func:`values_checked`).

    Raises:
        TypeError: not a number or an array of ``xp``; a boolean or complex array.
        ValueError: NaN, infinite or outside the interval; an array of more than 0 dims.
    """
    if not array_api_compat.is_array_api_obj(value):
        return number_in(name, value, low, high, low_open=low_open, high_open=high_open)
    if array_api_compat.is_numpy_array(value) and value.ndim == 0 and value.dtype.kind in "iuf":
        return _in_range(name, float(value), float(value), low, high, low_open, high_open)
    try:
        namespace(value, xp.asarray(0.0))
    except TypeError:
        raise TypeError(
            f"`{name}` must be a number or a 0-d array of the inputs' array library; got "
            f"{type(value).__module__.split('.')[0]}.{type(value).__name__}."
        ) from None
    if not (is_floating(xp, value) or is_integer(xp, value)):
        raise TypeError(
            f"`{name}` must be a real number; got an array of dtype {dtype_name(value.dtype)}."
        )
    if value.ndim != 0:
        raise ValueError(
            f"`{name}` must be a number or a 0-d array; got an array of shape {tuple(value.shape)}."
        )
    if values_checked(xp, value):
        number = float(value.detach() if array_api_compat.is_torch_array(value) else value)
        _in_range(name, number, number, low, high, low_open, high_open)
    return to_float(xp, value, dtype)


def is_off(value: Any) -> bool:
    """Whether an option returned by :func:`option` is the number 0 (its term can be skipped).

    An array is never off: its value may be unknown (traced), so its term is computed.
    """
    return is_number(value) and float(value) == 0.0


def floating(xp: Any, name: str, x: Any) -> None:
    if not is_floating(xp, x):
        raise TypeError(
            f"`{name}` must be a floating-point array; got dtype {dtype_name(x.dtype)}."
        )


def axis(name: str, value: Any, ndim: int) -> int:
    """``value`` normalised to a non-negative axis of an ``ndim``-dimensional array."""
    integer(name, value)
    if ndim == 0:
        raise ValueError(f"`{name}`: the input is a scalar, it has no class axis.")
    if not -ndim <= value < ndim:
        raise ValueError(
            f"`{name}` must be in [{-ndim}, {ndim - 1}] for a {ndim}-d input; got {name}={value!r}."
        )
    return value % ndim


def same_shape(name: str, shape: tuple[int, ...], expected: tuple[int, ...], what: str) -> None:
    if tuple(shape) != tuple(expected):
        raise ValueError(
            f"`{name}` must have shape {tuple(expected)} ({what}); got {tuple(shape)}."
        )


def broadcastable(name: str, shape: tuple[int, ...], target: tuple[int, ...]) -> None:
    """``shape`` must broadcast to ``target`` without changing ``target``."""
    if len(shape) > len(target) or any(
        s not in (1, t) for s, t in zip(reversed(shape), reversed(target), strict=False)
    ):
        raise ValueError(
            f"`{name}` of shape {tuple(shape)} does not broadcast to the input's shape "
            f"{tuple(target)}."
        )


def class_weight(xp: Any, weight: Any, n_classes: int, name: str = "weight") -> None:
    floating(xp, name, weight)
    if tuple(weight.shape) != (n_classes,):
        raise ValueError(
            f"`{name}` must have one entry per class, shape ({n_classes},); "
            f"got {tuple(weight.shape)}."
        )
    finite_non_negative(xp, name, weight)


def finite_non_negative(xp: Any, name: str, x: Any) -> None:
    """Every entry of ``x`` must be finite and ≥ 0 (weights: NaN or inf would poison the loss)."""
    if not values_checked(xp, x) or numel(x) == 0:
        return
    flat = xp.reshape(x, (-1,))
    bad = ~((flat >= 0) & xp.isfinite(flat))
    if bool(xp.any(bad)):
        i = int(xp.argmax(xp.astype(bad, xp.int32)))
        where = f"{name}[{i}]" if x.ndim == 1 else f"an entry of `{name}`"
        raise ValueError(
            f"`{name}` must be non-negative and finite; got {where}={float(flat[i])!r}."
        )


def class_indices(
    xp: Any, name: str, targets: Any, n_classes: int, ignore_index: int | None
) -> None:
    """Integer targets must lie in ``[0, n_classes)``, ``ignore_index`` excepted."""
    if not is_integer(xp, targets):
        raise TypeError(
            f"`{name}` with class indices must have an integer dtype; got {dtype_name(targets.dtype)}."
        )
    if not values_checked(xp, targets) or numel(targets) == 0:
        return
    bad = (targets < 0) | (targets >= n_classes)
    if ignore_index is not None:
        bad = bad & (targets != ignore_index)
    if bool(xp.any(bad)):
        first = int(targets[bad][0])
        raise ValueError(
            f"`{name}`: class index {first} is out of range for {n_classes} classes "
            f"(expected 0..{n_classes - 1}"
            + (f" or ignore_index={ignore_index})." if ignore_index is not None else ").")
        )


def in_unit_interval(xp: Any, name: str, x: Any) -> None:
    """Probabilities (or probability targets) must lie in [0, 1]."""
    if not values_checked(xp, x) or numel(x) == 0:
        return
    bad = (x < 0) | (x > 1) | xp.isnan(x)
    if bool(xp.any(bad)):
        first = float(x[bad][0])
        raise ValueError(
            f"`{name}` must hold probabilities in [0, 1]; got {first!r}"
            + (
                " (did you pass logits? use the logits version of this loss)."
                if name in ("probs", "p", "q")
                else "."
            )
        )


def row_sum_tolerance(xp: Any, dtype: Any) -> float:
    """How far from 1 a probability row may sum, per unit of ``sqrt(C)``, in ``dtype``.

    bfloat16 rounds each entry by up to eps/2 = 2**-8 of its value, so a valid bf16
    distribution can sum to 1 ± 4e-3: the tolerance is at least the dtype's eps.
    """
    if dtype_name(dtype) == "float64":
        return 1e-6
    return max(1e-3, finfo_eps(xp, dtype))


def sums_to_one(xp: Any, x: Any, axis: int = -1, tol: float | None = None) -> Any:
    """Per distribution along ``axis``: whether it sums to 1 within ``tol · max(1, sqrt(C))``.

    ``tol`` defaults to :func:`row_sum_tolerance` of ``x``'s dtype; half precision is summed
    in float32.
    """
    if tol is None:
        tol = row_sum_tolerance(xp, x.dtype)
    sums = xp.sum(xp.astype(x, xp.float32) if _is_half(x) else x, axis=axis)
    return xp.abs(sums - 1) <= tol * max(1.0, math.sqrt(x.shape[axis]))


def rows_sum_to_one(xp: Any, name: str, x: Any, axis: int = -1) -> None:
    """Each distribution along ``axis`` must sum to 1 (to a tolerance set by the dtype)."""
    if not values_checked(xp, x) or numel(x) == 0:
        return
    sums = xp.sum(xp.astype(x, xp.float32) if _is_half(x) else x, axis=axis)
    row_sums_are_one(xp, name, sums, x.shape[axis], x.dtype, axis)


def row_sums_are_one(
    xp: Any, name: str, sums: Any, n_classes: int, dtype: Any, axis: int = -1
) -> None:
    """The row sums ``sums`` of distributions over ``n_classes`` entries of ``dtype`` must
    be 1 within :func:`row_sum_tolerance` ``· max(1, sqrt(n_classes))`` (as
    :func:`sums_to_one`); for sums gathered from shards of the rows."""
    tol = row_sum_tolerance(xp, dtype) * max(1.0, math.sqrt(n_classes))
    bad = xp.abs(sums - 1) > tol
    if any_true(xp, bad):
        raise ValueError(
            f"`{name}`: each distribution along axis {axis} must sum to 1; "
            f"found a sum of {float(sums[bad][0])!r}."
        )


def _is_half(x: Any) -> bool:
    return dtype_name(x.dtype) in ("float16", "bfloat16")
