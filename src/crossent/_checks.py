"""Input validation: every error message of the package is written here.

Messages follow STYLE.md: one line, the argument in backticks, what was expected and
what was given. ``TypeError`` for wrong types and dtypes, ``ValueError`` for values and
shapes. Value checks (ranges, sums) need concrete values, so they are skipped for JAX
tracers inside ``jit``/``grad``; shape and dtype checks always run.
"""

from __future__ import annotations

import math
from typing import Any

from crossent._array import dtype_name, is_concrete, is_floating, is_integer, numel

REDUCTIONS = ("none", "mean", "sum")


def any_true(xp: Any, mask: Any) -> bool:
    """Whether ``mask`` has a True entry; False when that cannot be known now.

    Under ``jax.jit`` even arithmetic on concrete arrays is traced, so the reduced flag
    itself is tested for concreteness before it is converted to a Python bool.
    """
    flag = xp.any(mask)
    return is_concrete(flag) and bool(flag)


def reduction(value: Any) -> str:
    if value not in REDUCTIONS:
        raise ValueError(
            f"`reduction` must be one of 'none', 'mean', 'sum'; got reduction={value!r}."
        )
    return str(value)


def base(value: Any) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value > 0
        or value == 1
    ):
        raise ValueError(
            f"`base` must be None (nats), 2 (bits), 10 or another positive number other than 1; "
            f"got base={value!r}."
        )


def number_in(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float in ``[low, high]`` (``(`` / ``)`` for an open end)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"`{name}` must be a number; got {name}={value!r}.")
    lower_ok = low < value if low_open else low <= value
    upper_ok = value < high if high_open else value <= high
    if not (lower_ok and upper_ok):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"`{name}` must be in {left}{low}, {high}{right}; got {name}={value!r}.")
    return float(value)


def non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"`{name}` must be a number; got {name}={value!r}.")
    if value < 0:
        raise ValueError(f"`{name}` must be non-negative; got {name}={value!r}.")
    return float(value)


def positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"`{name}` must be a number; got {name}={value!r}.")
    if not value > 0:
        raise ValueError(f"`{name}` must be positive; got {name}={value!r}.")
    return float(value)


def integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an integer; got {name}={value!r}.")
    return value


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
    if is_concrete(weight) and any_true(xp, weight < 0):
        raise ValueError(
            f"`{name}` must be non-negative; got a minimum of {float(xp.min(weight))!r}."
        )


def class_indices(
    xp: Any, name: str, targets: Any, n_classes: int, ignore_index: int | None
) -> None:
    """Integer targets must lie in ``[0, n_classes)``, ``ignore_index`` excepted."""
    if not is_integer(xp, targets):
        raise TypeError(
            f"`{name}` with class indices must have an integer dtype; got {dtype_name(targets.dtype)}."
        )
    if not is_concrete(targets) or numel(targets) == 0:
        return
    bad = (targets < 0) | (targets >= n_classes)
    if ignore_index is not None:
        bad = bad & (targets != ignore_index)
    if any_true(xp, bad):
        first = int(targets[bad][0])
        raise ValueError(
            f"`{name}`: class index {first} is out of range for {n_classes} classes "
            f"(expected 0..{n_classes - 1}"
            + (f" or ignore_index={ignore_index})." if ignore_index is not None else ").")
        )


def in_unit_interval(xp: Any, name: str, x: Any) -> None:
    """Probabilities (or probability targets) must lie in [0, 1]."""
    if not is_concrete(x) or numel(x) == 0:
        return
    bad = (x < 0) | (x > 1) | xp.isnan(x)
    if any_true(xp, bad):
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
    return max(1e-3, float(xp.finfo(dtype).eps))


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
    if not is_concrete(x) or numel(x) == 0:
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


def pairing(outputs: Any, targets: Any, *, loss: str, **options: Any) -> None:
    """``check=True`` of the losses: :func:`crossent.task.check` on this pairing."""
    from crossent.task import check  # lazy: crossent.task imports the losses

    check(outputs, targets, loss=loss, **options)
