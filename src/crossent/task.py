r"""Which task the targets describe, which activation and loss fit it, and guardrails.

The articles' main practical lesson: softmax + cross-entropy is for mutually exclusive
classes, one sigmoid + binary cross-entropy per output for binary and multi-label
targets. Three functions put it to work:

* :func:`infer_task` reads the targets and names the task;
* :func:`loss_for` gives the activation and loss that fit a task, and why;
* :func:`check` refuses the classic mistakes with an explanation and the fix (it lives in
  :mod:`crossent._guardrails`, which the losses call for ``check=True``, and is
  re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crossent import _checks
from crossent._array import (
    Array,
    asarray,
    compute_dtype,
    is_floating,
    is_integer,
    namespace,
    numel,
    readable,
    to_float,
)
from crossent._guardrails import (
    LOSS_KINDS,
    ROW_SUM_TOLERANCE,
    SIGMOID_PROBS_MIN_COUNT,
    SIGMOID_PROBS_MIN_SPREAD,
    LossKind,
    check,
    sums_to_one,
)
from crossent.losses import (
    binary_cross_entropy,
    categorical_cross_entropy,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
)

__all__ = [
    "LOSS_KINDS",
    "ROW_SUM_TOLERANCE",
    "SIGMOID_PROBS_MIN_COUNT",
    "SIGMOID_PROBS_MIN_SPREAD",
    "TASKS",
    "LossChoice",
    "LossKind",
    "check",
    "infer_task",
    "loss_for",
]

TASKS = ("binary", "multiclass", "multilabel", "soft")
"""The tasks :func:`infer_task` can name."""


# ---------------------------------------------------------------------------------------
# Task inference
# ---------------------------------------------------------------------------------------


def infer_task(targets: Array, *, n_outputs: int | None = None) -> str:
    """Name the task the ``targets`` describe.

    * ``"binary"`` — 0/1 labels ``[N]`` or ``[N, 1]`` (or soft targets in [0, 1]) for one
      output unit;
    * ``"multiclass"`` — class indices ``[N]`` with more than two classes (or with
      ``n_outputs=2``), or one-hot rows ``[N, C]``;
    * ``"multilabel"`` — 0/1 rows ``[N, L]`` where some row has a number of 1s other than
      one (including none), or rows of values in [0, 1] that do not sum to 1;
    * ``"soft"`` — rows of probabilities summing to 1 that are not all one-hot.

    Rows that are all one-hot are read as multi-class: the targets alone cannot tell them
    from a multi-label data set whose samples happen to carry one label each.

    Args:
        targets: the targets, any array library; booleans count as 0/1.
        n_outputs: the model's output width, when known. It settles ``[N]`` 0/1 labels with
            two output units as ``"multiclass"`` and is checked against the targets' width.
            Default: ``None`` (not known).

    Returns:
        One of :data:`TASKS`.

    Raises:
        ValueError: when the targets cannot tell (a single row of several columns, values
            that are neither labels nor probabilities, more than two dimensions, a width or
            class count that does not match ``n_outputs``, traced JAX arrays), with the
            reason.
        TypeError: ``n_outputs`` that is not an integer.

    Example:
        >>> import numpy as np
        >>> from crossent.task import infer_task
        >>> infer_task(np.array([0, 2, 1, 2]))
        'multiclass'
        >>> infer_task(np.array([[1, 0, 1], [0, 1, 1]]))
        'multilabel'
        >>> infer_task(np.array([1, 0, 0, 1]), n_outputs=2)
        'multiclass'
    """
    if n_outputs is not None:
        _checks.positive("n_outputs", _checks.integer("n_outputs", n_outputs))
    y = asarray(targets, "targets")
    xp = namespace(y)
    if not readable(xp, y):
        raise ValueError(
            "`targets`: infer_task reads the values, so it cannot run on traced JAX arrays "
            "(inside jit or grad); call it outside the traced function."
        )
    if y.ndim == 0 or numel(y) == 0:
        raise ValueError(f"`targets` must hold at least one label; got shape {tuple(y.shape)}.")
    if y.ndim > 2:
        raise ValueError(
            f"`targets` must be [N] labels or [N, K] rows; got shape {tuple(y.shape)} "
            "(flatten the spatial axes first)."
        )
    if not (is_integer(xp, y) or is_floating(xp, y)):
        y = xp.astype(y, xp.int64)  # booleans
    if is_floating(xp, y):
        y = to_float(xp, y, compute_dtype(xp, y))
        if not bool(xp.all(xp.isfinite(y))):
            raise ValueError("`targets` contain NaN or infinite values.")
        whole = bool(xp.all(y == xp.round(y)))
    else:
        whole = True
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 1:
        return _infer_from_labels(xp, y, whole, n_outputs)
    return _infer_from_rows(xp, y, whole, n_outputs)


def _infer_from_labels(xp: Any, y: Any, whole: bool, n_outputs: int | None) -> str:
    low, high = float(xp.min(y)), float(xp.max(y))
    if not whole:
        if low >= 0 and high <= 1 and n_outputs in (None, 1):
            return "binary"  # soft binary targets: probabilities of the positive class
        raise ValueError(
            "`targets`: a 1-d array must hold class indices (whole numbers ≥ 0) or binary "
            f"targets in [0, 1]; got values from {low!r} to {high!r}."
        )
    if low < 0:
        raise ValueError(f"`targets`: class indices must be ≥ 0; got {int(low)}.")
    n_classes = int(high) + 1
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


def _infer_from_rows(xp: Any, y: Any, whole: bool, n_outputs: int | None) -> str:
    n, k = y.shape
    if n_outputs is not None and n_outputs != k:
        raise ValueError(f"`targets` have {k} columns but the model has {n_outputs} outputs.")
    if n < 2:
        raise ValueError(
            "`targets`: a single row cannot tell a one-hot multi-class target from a "
            "multi-label one; pass more rows or the task explicitly."
        )
    low, high = float(xp.min(y)), float(xp.max(y))
    if low < 0 or high > 1:
        raise ValueError(
            "`targets`: rows must hold 0/1 labels or probabilities in [0, 1]; got values "
            f"from {low!r} to {high!r}."
        )
    if whole:
        return "multiclass" if bool(xp.all(xp.sum(y, axis=1) == 1)) else "multilabel"
    if bool(xp.all(sums_to_one(xp, y, loose=True))):
        return "soft"
    return "multilabel"  # soft multi-label targets (e.g. label-smoothed multi-hot)


# ---------------------------------------------------------------------------------------
# The loss for a task
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LossChoice:
    """The activation and loss that fit a task, returned by :func:`loss_for`.

    Attributes:
        task: one of :data:`TASKS`.
        activation: ``"sigmoid"`` (one independent Bernoulli per output) or ``"softmax"``
            (one distribution over mutually exclusive classes); the loss applies it to the
            logits itself, so the model outputs logits.
        loss: the crossent loss, called as ``loss(logits, targets, ...)``.
        name: the loss's name, e.g. ``"softmax_cross_entropy"``.
        reason: one sentence on why this pairing fits the task.
        probability_loss: the same loss on probabilities (outputs already through the
            activation), e.g. for saved predictions; less exact than ``loss`` on logits.
    """

    task: str
    activation: str
    loss: Callable[..., Array]
    name: str
    reason: str
    probability_loss: Callable[..., Array]


_CHOICES: dict[str, LossChoice] = {
    choice.task: choice
    for choice in (
        LossChoice(
            "binary",
            "sigmoid",
            sigmoid_binary_cross_entropy,
            "sigmoid_binary_cross_entropy",
            "One output unit with a sigmoid gives P(y=1), and binary cross-entropy's two "
            "terms give positives and negatives a gradient; a softmax over one unit is "
            "always 1, so its cross-entropy is always 0 and nothing is learned.",
            binary_cross_entropy,
        ),
        LossChoice(
            "multiclass",
            "softmax",
            softmax_cross_entropy,
            "softmax_cross_entropy",
            "The classes are mutually exclusive, so a softmax makes one distribution of the "
            "outputs (raising the true class lowers the others) and cross-entropy on it is "
            "the negative log-likelihood, with gradient softmax(z) − y.",
            categorical_cross_entropy,
        ),
        LossChoice(
            "multilabel",
            "sigmoid",
            sigmoid_binary_cross_entropy,
            "sigmoid_binary_cross_entropy",
            "The labels are independent, so each gets its own sigmoid and binary "
            "cross-entropy, which also pushes absent labels down; a softmax would make the "
            "labels compete, and −Σ y log a over sigmoids ignores the absent ones.",
            binary_cross_entropy,
        ),
        LossChoice(
            "soft",
            "softmax",
            softmax_cross_entropy,
            "softmax_cross_entropy",
            "The targets are distributions over exclusive classes, and softmax "
            "cross-entropy with probability targets H(p, q) = H(p) + KL(p‖q) is minimised "
            "exactly when the prediction equals the target distribution.",
            categorical_cross_entropy,
        ),
    )
}


def loss_for(task: str) -> LossChoice:
    """The activation and loss that fit ``task``, as a callable, with one sentence of why.

    ============  ==========  ================================  ===========================
    task          activation  loss                              targets
    ============  ==========  ================================  ===========================
    binary        sigmoid     ``sigmoid_binary_cross_entropy``  0/1 of the logits' shape
    multiclass    softmax     ``softmax_cross_entropy``         class indices or one-hot
    multilabel    sigmoid     ``sigmoid_binary_cross_entropy``  multi-hot ``[N, L]``
    soft          softmax     ``softmax_cross_entropy``         probability rows ``[N, C]``
    ============  ==========  ================================  ===========================

    Args:
        task: one of :data:`TASKS`, e.g. from :func:`infer_task`.

    Returns:
        A :class:`LossChoice` ``(task, activation, loss, name, reason)``.

    Raises:
        ValueError: an unknown ``task``.

    Example:
        >>> import numpy as np
        >>> from crossent.task import loss_for
        >>> choice = loss_for("multilabel")
        >>> choice.activation, choice.name
        ('sigmoid', 'sigmoid_binary_cross_entropy')
        >>> round(float(choice.loss(np.zeros((1, 2)), np.array([[1.0, 0.0]]))), 4)
        0.6931
    """
    if task not in _CHOICES:
        raise ValueError(f"`task` must be one of {TASKS}; got task={task!r}.")
    return _CHOICES[task]
