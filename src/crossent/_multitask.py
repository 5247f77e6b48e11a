"""The framework-free pieces of the multi-task weightings, shared by
:mod:`crossent.multitask` and :mod:`crossent.torch.multitask`: validating per-task
inputs, stacking the task losses, the weighted sum and the uncertainty weights.

They sit below both modules so that the ``torch.nn.Module`` weightings can use them
while :mod:`crossent.multitask` re-exports those modules (an import of
:mod:`crossent.torch.multitask` that would otherwise close a cycle).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import array_api_compat
import numpy as np

from crossent import _checks
from crossent._array import Array, compute_dtype, namespace, to_float

__all__ = [
    "check_n_tasks",
    "is_number",
    "non_negative_entries",
    "per_task",
    "positive_numbers",
    "stack_losses",
    "task_array",
    "uncertainty_total",
    "uncertainty_weights",
    "weighted_sum",
]


# ---------------------------------------------------------------------------------------
# Validation of per-task inputs.
# ---------------------------------------------------------------------------------------


def check_n_tasks(value: Any) -> int:
    _checks.integer("n_tasks", value)
    if value < 1:
        raise ValueError(f"`n_tasks` must be at least 1; got n_tasks={value!r}.")
    return int(value)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def task_array(name: str, values: Any, n_tasks: int | None) -> tuple[Any, Array]:
    """``values`` as one array whose first axis indexes the tasks, and its namespace.

    A list or tuple is stacked (Python numbers become arrays of the other entries'
    library, or a NumPy float64 array when every entry is a number); an array is used
    as it is.
    """
    if array_api_compat.is_array_api_obj(values):
        if values.ndim == 0:
            raise ValueError(
                f"`{name}` must be a list with one entry per task, or an array whose first "
                f"axis indexes the tasks; got a 0-d array."
            )
        xp, stacked = namespace(values), values
    elif isinstance(values, (list, tuple)):
        for i, value in enumerate(values):
            if not (is_number(value) or array_api_compat.is_array_api_obj(value)):
                raise TypeError(
                    f"`{name}[{i}]` must be an array or a number; got {type(value).__name__}."
                )
        arrays = [v for v in values if not is_number(v)]
        xp = namespace(*arrays)
        if not arrays:
            stacked = np.asarray(values, dtype=np.float64)
        else:
            shapes = sorted({tuple(a.shape) for a in arrays})
            if len(shapes) > 1:
                listed = ", ".join(str(s) for s in shapes)
                raise ValueError(f"`{name}`: every task's entry must have one shape; got {listed}.")
            ref = arrays[0]
            device = array_api_compat.device(ref)
            stacked = xp.stack(
                [
                    xp.full(ref.shape, float(v), dtype=ref.dtype, device=device)
                    if is_number(v)
                    else v
                    for v in values
                ]
            )
    else:
        raise TypeError(
            f"`{name}` must be a list or tuple with one entry per task, or an array; "
            f"got {type(values).__name__}."
        )
    if stacked.shape[0] == 0:
        raise ValueError(f"`{name}` must hold at least one task; got none.")
    if n_tasks is not None and stacked.shape[0] != n_tasks:
        raise ValueError(
            f"`{name}` must hold one entry per task ({n_tasks}); got {stacked.shape[0]}."
        )
    return xp, stacked


def stack_losses(losses: Any, n_tasks: int | None = None) -> tuple[Any, Array, Any]:
    """Stacked task losses in the compute dtype, their namespace and the output dtype."""
    xp, stacked = task_array("losses", losses, n_tasks)
    _checks.floating(xp, "losses", stacked)
    return xp, to_float(xp, stacked, compute_dtype(xp, stacked)), stacked.dtype


def per_task(xp: Any, like: Array, name: str, values: Any) -> Array:
    """One number per task (shape ``[K]``) in ``like``'s library, dtype and device.

    Lists of numbers and NumPy arrays are converted (they are constants); arrays of
    ``like``'s library are used as they are, so gradients flow into them.
    """
    n_tasks = like.shape[0]
    vxp, values = task_array(name, values, n_tasks)
    if values.ndim != 1:
        raise ValueError(
            f"`{name}` must hold one number per task, shape ({n_tasks},); "
            f"got {tuple(values.shape)}."
        )
    _checks.floating(vxp, name, values)
    if array_api_compat.is_numpy_array(values) and not array_api_compat.is_numpy_namespace(xp):
        return xp.asarray(values, dtype=like.dtype, device=array_api_compat.device(like))
    namespace(like, values)  # raises if the libraries differ
    return to_float(xp, values, like.dtype)


def non_negative_entries(xp: Any, name: str, values: Array) -> None:
    if not _checks.values_checked(xp, values):
        return
    bad = ~(values >= 0)  # NaN fails the comparison too
    if bool(xp.any(bad)):
        i = next(i for i in range(values.shape[0]) if bool(bad[i]))
        raise ValueError(f"`{name}` must be non-negative; got {name}[{i}]={float(values[i])!r}.")


def positive_numbers(name: str, value: Any, n_tasks: int) -> tuple[float, ...]:
    """A positive number, or a sequence of one positive number per task, as a tuple."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        return (_checks.positive(name, value),) * n_tasks
    if len(value) != n_tasks:
        raise ValueError(f"`{name}` must hold one number per task ({n_tasks}); got {len(value)}.")
    return tuple(_checks.positive(f"{name}[{i}]", v) for i, v in enumerate(value))


def weighted_sum(xp: Any, losses: Array, weights: Array) -> Array:
    r""":math:`\sum_k w_k L_k` over the task axis (axis 0) of ``losses``."""
    w = xp.reshape(weights, (-1,) + (1,) * (losses.ndim - 1))
    return xp.sum(w * losses, axis=0)


def uncertainty_total(losses: Any, log_vars: Any, factor: Any, n_tasks: int | None) -> Array:
    xp, stacked, out_dtype = stack_losses(losses, n_tasks)
    s = per_task(xp, stacked, "log_vars", log_vars)
    weights = uncertainty_weights(xp, s, positive_numbers("factor", factor, stacked.shape[0]))
    total = weighted_sum(xp, stacked, weights) + xp.sum(s)
    return to_float(xp, total, out_dtype)


def uncertainty_weights(xp: Any, log_vars: Array, factor: tuple[float, ...]) -> Array:
    r"""The effective weights :math:`c_i e^{-s_i}`."""
    weights = xp.exp(-log_vars)
    if any(c != 1.0 for c in factor):
        weights = weights * xp.asarray(
            factor, dtype=log_vars.dtype, device=array_api_compat.device(log_vars)
        )
    return weights
