"""Which task the targets describe, and so which activation and loss fit.

The seeds' main practical lesson (CLAIMS.md C8–C10): softmax + cross-entropy is for
mutually exclusive classes, one sigmoid + BCE per output for binary and multi-label
targets. :func:`infer_task` reads the targets and names the task.
"""

from __future__ import annotations

import numpy as np

from crossent._array import Array

__all__ = ["TASKS", "infer_task"]

TASKS = ("binary", "multiclass", "multilabel", "soft")


def _as_numpy(targets: Array) -> np.ndarray:
    if isinstance(targets, np.ndarray):
        return targets
    if hasattr(targets, "detach"):  # torch
        return targets.detach().cpu().numpy()
    return np.asarray(targets)


def infer_task(targets: Array, *, n_outputs: int | None = None) -> str:
    """Name the task the ``targets`` describe.

    * ``"binary"`` — 0/1 labels ``[N]`` or ``[N, 1]``, or one output unit (``n_outputs=1``);
    * ``"multiclass"`` — class indices ``[N]`` with more than two classes, or one-hot rows;
    * ``"multilabel"`` — 0/1 rows ``[N, L]`` where some row has a number of 1s other than one;
    * ``"soft"`` — rows of probabilities summing to 1 that are not all one-hot.

    Args:
        targets: the targets, any array library.
        n_outputs: the model's output width, when known; it settles ``[N]`` 0/1 labels with
            two output units as ``"multiclass"`` and is checked against the targets' width.

    Returns:
        One of :data:`TASKS`.

    Raises:
        ValueError: when the targets cannot tell (a single row of several columns, values
            that are neither labels nor probabilities, a width that does not match
            ``n_outputs``), with the reason.

    Example:
        >>> import numpy as np
        >>> from crossent.task import infer_task
        >>> infer_task(np.array([0, 2, 1, 2]))
        'multiclass'
        >>> infer_task(np.array([[1, 0, 1], [0, 1, 1]]))
        'multilabel'
    """
    y = _as_numpy(targets)
    if y.ndim == 0 or y.size == 0:
        raise ValueError(f"`targets` must hold at least one label; got shape {y.shape}.")
    if y.ndim > 2:
        raise ValueError(
            f"`targets` must be [N] labels or [N, K] rows; got shape {y.shape} "
            "(flatten spatial axes first)."
        )
    finite = np.all(np.isfinite(y)) if y.dtype.kind == "f" else True
    if not finite:
        raise ValueError("`targets` contain NaN or infinite values.")
    whole = bool(np.all(y == np.round(y)))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 1:
        return _infer_from_labels(y, whole, n_outputs)
    return _infer_from_rows(y, whole, n_outputs)


def _infer_from_labels(y: np.ndarray, whole: bool, n_outputs: int | None) -> str:
    if not whole:
        if np.all((y >= 0) & (y <= 1)) and n_outputs in (None, 1):
            return "binary"  # soft binary targets: probabilities of the positive class
        raise ValueError(
            "`targets`: a 1-d array must hold class indices (whole numbers ≥ 0) or binary "
            f"targets in [0, 1]; got values from {y.min()!r} to {y.max()!r}."
        )
    if y.min() < 0:
        raise ValueError(f"`targets`: class indices must be ≥ 0; got {int(y.min())}.")
    n_classes = int(y.max()) + 1
    if n_outputs is not None and n_outputs > 1 and n_classes > n_outputs:
        raise ValueError(
            f"`targets`: class index {n_classes - 1} is out of range for {n_outputs} outputs."
        )
    if n_classes <= 2 and n_outputs in (None, 1):
        return "binary"
    if n_outputs == 1:
        raise ValueError(
            f"`targets` hold {n_classes} classes but the model has one output unit; "
            "a multi-class task needs one output per class."
        )
    return "multiclass"


def _infer_from_rows(y: np.ndarray, whole: bool, n_outputs: int | None) -> str:
    n, k = y.shape
    if n_outputs is not None and n_outputs != k:
        raise ValueError(f"`targets` have {k} columns but the model has {n_outputs} outputs.")
    if n < 2:
        raise ValueError(
            "`targets`: a single row cannot tell a one-hot multi-class target from a "
            "multi-label one; pass more rows or the task explicitly."
        )
    if np.any(y < 0) or np.any(y > 1):
        raise ValueError(
            "`targets`: rows must hold 0/1 labels or probabilities in [0, 1]; got values "
            f"from {y.min()!r} to {y.max()!r}."
        )
    row_sums = y.sum(axis=1)
    if whole:
        return "multiclass" if np.all(row_sums == 1) else "multilabel"
    if np.allclose(row_sums, 1.0, atol=1e-3):
        return "soft"
    return "multilabel"  # soft multi-label targets (e.g. label-smoothed multi-hot)
