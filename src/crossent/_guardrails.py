r"""Guardrails: the classic mistakes of pairing outputs, targets and a loss, refused with the fix.

:func:`check` knows these mistakes:

1. softmax (or categorical) cross-entropy on a one-unit output: the softmax of one unit is
   always 1, so the loss is always 0 (the Keras binary-sentiment trap of the articles;
   Keras refuses it);
2. categorical cross-entropy :math:`-\sum_c y_c \log a_c` over independent sigmoid outputs
   or on multi-hot targets: the labels with :math:`y_c = 0` contribute nothing, so nothing
   pushes their outputs down;
3. probabilities where logits are expected: rows in [0, 1] summing to 1 put through a
   second softmax;
4. logits where probabilities are expected: values outside [0, 1];
5. class indices out of range, and targets whose width does not match the outputs.

The value checks read the arrays, so they follow the validation policy of
:mod:`crossent._checks` (skipped under tracing and, by default, on accelerators); the shape
checks always run. This module imports only :mod:`crossent._array` and
:mod:`crossent._checks`, so that every loss can call :func:`check` (``check=True``) without
an import cycle; :mod:`crossent.task` re-exports it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crossent import _checks
from crossent._array import (
    Array,
    asarray,
    compute_dtype,
    dtype_name,
    index_dtype,
    is_floating,
    is_integer,
    move_class_axis_last,
    namespace,
    numel,
    to_float,
)

__all__ = [
    "LOSS_KINDS",
    "ROW_SUM_TOLERANCE",
    "SIGMOID_PROBS_MIN_COUNT",
    "SIGMOID_PROBS_MIN_SPREAD",
    "LossKind",
    "check",
    "sums_to_one",
]


@dataclass(frozen=True)
class LossKind:
    """How a loss reads its inputs, which is what :func:`check` needs to know.

    Attributes:
        family: ``"softmax"`` (one distribution over exclusive classes along an axis) or
            ``"sigmoid"`` (one independent Bernoulli per element).
        takes: ``"logits"`` or ``"probs"``.
    """

    family: str
    takes: str


LOSS_KINDS: dict[str, LossKind] = {
    "softmax_cross_entropy": LossKind("softmax", "logits"),
    "categorical_cross_entropy": LossKind("softmax", "probs"),
    "softmax_focal_loss": LossKind("softmax", "logits"),
    "sigmoid_binary_cross_entropy": LossKind("sigmoid", "logits"),
    "binary_cross_entropy": LossKind("sigmoid", "probs"),
    "sigmoid_focal_loss": LossKind("sigmoid", "logits"),
    "ghm_classification_loss": LossKind("sigmoid", "logits"),
    "GHMC": LossKind("sigmoid", "logits"),
    "asymmetric_loss": LossKind("sigmoid", "logits"),
}
"""The losses :func:`check` knows, by name."""

ROW_SUM_TOLERANCE = 1e-3
"""How far from 1 (times ``sqrt(C)``) a row may sum and still be read as a distribution.

Used to tell what outputs and targets *are* (probabilities saved as float32 or rounded
in a CSV file still count); the losses' own check of probability targets is stricter
in float64.
"""

SIGMOID_PROBS_MIN_COUNT = 32
"""Fewest outputs from which :func:`check` judges that a sigmoid loss got probabilities.

All of 32 symmetric-initialised logits landing in [0, 1] has a chance below 1e-9, so a
false alarm needs a model that really never outputs a negative logit.
"""

SIGMOID_PROBS_MIN_SPREAD = 0.5
"""Smallest range ``max − min`` of outputs in [0, 1] that :func:`check` reads as probabilities
given to a sigmoid loss; narrower outputs (e.g. every logit near a prior-initialised bias)
pass."""


def check(
    outputs: Array,
    targets: Array,
    *,
    loss: str | Callable[..., Any],
    axis: int = -1,
    ignore_index: int | None = -100,
) -> None:
    r"""Refuse the classic mistakes of pairing ``outputs``, ``targets`` and ``loss``.

    Passes silently for a correct pairing; otherwise raises with what is wrong, why it
    matters and the fix, for each of the mistakes of :mod:`crossent._guardrails`: a softmax loss
    on one output unit, categorical cross-entropy on multi-hot targets or on independent
    sigmoid outputs (rows of ``probs`` that do not sum to 1), probabilities where logits
    are expected, logits where probabilities are expected, class indices out of range and
    targets whose width does not match the outputs.

    Probabilities given to a softmax loss are recognised exactly (every row in [0, 1],
    summing to 1). For a sigmoid loss the check is a heuristic: it fires when at least
    :data:`SIGMOID_PROBS_MIN_COUNT` outputs all lie in [0, 1], spread over at least
    :data:`SIGMOID_PROBS_MIN_SPREAD`, while some targets are negative (their logits should
    be below 0, since :math:`\sigma(z) \ge 1/2` for :math:`z \ge 0`).

    Args:
        outputs: what the model gives the loss: logits or probabilities.
        targets: the targets as the loss would get them.
        loss: a crossent loss or its name (one of :data:`LOSS_KINDS`, e.g.
            ``"softmax_cross_entropy"``).
        axis: the class axis of a softmax-family loss. Default: ``-1``.
        ignore_index: class index that a softmax-family loss ignores; ``None`` for none.
            Default: ``-100``.

    Returns:
        ``None``.

    Raises:
        ValueError: for each mistake above, naming it and the fix; for an unknown ``loss``
            name or a function that is not a crossent loss.
        TypeError: ``loss`` neither a string nor callable; class indices stored as floats
            for a softmax-family loss.

    Example:
        >>> import numpy as np
        >>> from crossent.task import check
        >>> labels = np.array([[1.0], [0.0], [1.0]])
        >>> check(np.array([[2.0], [-1.0], [0.5]]), labels, loss="sigmoid_binary_cross_entropy")
        >>> check(np.array([[2.0], [-1.0], [0.5]]), labels, loss="softmax_cross_entropy")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        ValueError: softmax_cross_entropy over a single output unit...
    """
    name, kind = _loss_kind(loss)
    outputs = asarray(outputs, "outputs")
    targets = asarray(targets, "targets")
    xp = namespace(outputs, targets)
    if kind.family == "softmax":
        ax = _checks.axis("axis", axis, outputs.ndim)
        _check_softmax_targets(xp, name, kind, outputs, targets, ax, ignore_index)
        _check_softmax_outputs(xp, name, kind, move_class_axis_last(xp, outputs, ax))
    else:
        _check_sigmoid_targets(xp, name, outputs, targets)
        _check_sigmoid_outputs(xp, name, kind, outputs, targets)


def _loss_kind(loss: Any) -> tuple[str, LossKind]:
    if isinstance(loss, str):
        name = loss
    elif callable(loss):
        name = getattr(loss, "__name__", type(loss).__name__)  # a GHMC instance: its class
        if not str(getattr(loss, "__module__", "")).startswith("crossent"):
            raise ValueError(
                f"`loss` must be a crossent loss or its name; got {name!r} "
                f"from {getattr(loss, '__module__', None)!r}."
            )
    else:
        raise TypeError(f"`loss` must be a crossent loss or its name; got {type(loss).__name__}.")
    if name not in LOSS_KINDS:
        raise ValueError(f"`loss` must be one of {sorted(LOSS_KINDS)}; got loss={name!r}.")
    return name, LOSS_KINDS[name]


def _check_softmax_targets(
    xp: Any,
    name: str,
    kind: LossKind,
    outputs: Any,
    targets: Any,
    ax: int,
    ignore_index: int | None,
) -> None:
    shape, n_classes = tuple(outputs.shape), outputs.shape[ax]
    index_shape = shape[:ax] + shape[ax + 1 :]
    one_per_sample = outputs.ndim == 1 and is_integer(xp, targets) and tuple(targets.shape) == shape
    if n_classes == 1 or one_per_sample:
        if kind.takes == "logits":
            why = "the softmax of one unit is always 1, so the loss is always 0"
        else:
            why = (
                "with one unit −Σ y log a keeps only −y log a, so samples with y = 0 give no "
                "gradient and every prediction drifts to 1 (Keras, which renormalises, gets a "
                "constant loss of 0)"
            )
        raise ValueError(
            f"{name} over a single output unit (outputs of shape {shape}, classes on axis "
            f"{ax}): {why} — the Keras trap of a binary task given softmax over one unit. Fix: for a binary task use "
            "sigmoid_binary_cross_entropy on one logit per sample (binary_cross_entropy "
            "for probabilities), or give the model one output per class for softmax."
        )
    if is_integer(xp, targets):
        if tuple(targets.shape) != index_shape:
            raise ValueError(_index_shape_message(name, shape, tuple(targets.shape), ax))
        _check_index_range(xp, name, targets, n_classes, ignore_index)
        return
    if not is_floating(xp, targets):
        return  # booleans: the loss itself refuses them with a TypeError
    if tuple(targets.shape) == index_shape:
        if _checks.values_checked(xp, targets) and bool(xp.all(targets == xp.round(targets))):
            raise TypeError(
                f"`targets` look like class indices but have dtype {dtype_name(targets.dtype)}; "
                f"{name} reads float targets as probabilities of the outputs' shape. Fix: "
                "cast them to an integer dtype (e.g. targets.astype('int64'))."
            )
        raise ValueError(_index_shape_message(name, shape, tuple(targets.shape), ax))
    if tuple(targets.shape) != shape:
        raise ValueError(
            f"`targets` of shape {tuple(targets.shape)} do not match `outputs` of shape {shape}: "
            f"one-hot or probability targets need the outputs' shape, {n_classes} classes on "
            f"axis {ax}. Fix: give the model one output per class, or encode the targets "
            f"with {n_classes} columns (class indices of shape {index_shape} also work)."
        )
    if not _checks.values_checked(xp, targets) or numel(targets) == 0:
        return
    t = move_class_axis_last(xp, to_float(xp, targets, compute_dtype(xp, targets)), ax)
    if bool(xp.any((t < 0) | (t > 1))):
        raise ValueError(
            f"`targets` must hold probabilities in [0, 1] for {name}; got values from "
            f"{float(xp.min(t))!r} to {float(xp.max(t))!r}. Fix: pass one-hot rows or "
            "distributions, or integer class indices."
        )
    fits = sums_to_one(xp, t)
    if bool(xp.all(fits)):
        return
    sums = xp.sum(t, axis=-1)
    if bool(xp.all((t == 0) | (t == 1))):
        most = int(float(xp.max(sums)))
        labels = f"up to {most} positive labels per row" if most > 1 else "rows with no label"
        raise ValueError(
            f"`targets` are multi-hot ({labels}): a multi-label task, which {name} cannot learn: it reads each row as one "
            "distribution over exclusive classes, so the labels compete for one unit of "
            "probability and −Σ y log a gives the absent labels (y = 0) no gradient of their "
            "own. Fix: use "
            "sigmoid_binary_cross_entropy with one logit per label (k independent sigmoids)."
        )
    raise ValueError(
        f"`targets`: {int(xp.sum(xp.astype(~fits, index_dtype(xp))))} rows do not sum to 1 (e.g. "
        f"{float(sums[~fits][0])!r}), so they are not distributions over exclusive classes. "
        "Fix: normalise each row, or, for independent labels, use "
        "sigmoid_binary_cross_entropy."
    )


def _index_shape_message(
    name: str, shape: tuple[int, ...], target_shape: tuple[int, ...], ax: int
) -> str:
    index_shape = shape[:ax] + shape[ax + 1 :]
    if target_shape == shape:
        fix = "pass class indices (targets.argmax(axis)) or make the one-hot rows floats"
    elif target_shape == (*index_shape, 1):
        fix = "drop the trailing axis of size 1 (targets[..., 0])"
    else:
        fix = (
            "give the targets one class index per sample, or check that outputs and "
            "targets come from the same batch"
        )
    return (
        f"`targets` of shape {target_shape} do not fit `outputs` of shape {shape} for {name}: "
        f"class indices need shape {index_shape} (the outputs' shape without the class axis "
        f"{ax}), probability targets shape {shape}. Fix: {fix}."
    )


def _check_index_range(
    xp: Any, name: str, targets: Any, n_classes: int, ignore_index: int | None
) -> None:
    if not _checks.values_checked(xp, targets) or numel(targets) == 0:
        return
    counted = targets if ignore_index is None else targets[targets != ignore_index]
    if numel(counted) == 0:
        return
    low, high = int(xp.min(counted)), int(xp.max(counted))
    if low >= 0 and high < n_classes:
        return
    first = int(counted[(counted < 0) | (counted >= n_classes)][0])
    if low == 1 and high == n_classes:
        fix = f"the labels look 1-based (1..{n_classes}): subtract 1"
    elif high >= n_classes:
        fix = f"the model needs one output per class, at least {high + 1} outputs"
    else:
        fix = (
            "negative labels are not classes; mark samples to skip with ignore_index="
            f"{ignore_index!r}"
            if ignore_index is not None
            else "negative labels are not classes; pass ignore_index to skip samples"
        )
    valid = f"0..{n_classes - 1}" + (
        f" or ignore_index={ignore_index}" if ignore_index is not None else ""
    )
    raise ValueError(
        f"`targets`: class index {first} is out of range for {n_classes} outputs (valid: "
        f"{valid}; labels span {low}..{high}) in {name}. Fix: {fix}."
    )


def _check_softmax_outputs(xp: Any, name: str, kind: LossKind, outputs: Any) -> None:
    """``outputs`` with the class axis last."""
    if not _checks.values_checked(xp, outputs) or numel(outputs) == 0:
        return
    out = to_float(xp, outputs, compute_dtype(xp, outputs))
    in_unit = bool(xp.all((out >= 0) & (out <= 1)))
    if kind.takes == "logits":
        if in_unit and bool(xp.all(sums_to_one(xp, out, loose=True))):
            raise ValueError(
                f"`outputs` look like probabilities, not logits: every row lies in [0, 1] and "
                f"sums to 1. {name} applies its own softmax, so this is a double softmax: no "
                f"prediction can exceed e/(e + C − 1) = {_double_softmax_ceiling(out.shape[-1]):.3g} "
                f"for C = {out.shape[-1]}, and the gradient is weakened. Fix: pass "
                "the logits (the layer before the softmax), or use categorical_cross_entropy "
                "for probabilities."
            )
        return
    if not in_unit:
        raise ValueError(_logits_for_probs_message(xp, name, out, "softmax_cross_entropy"))
    fits = sums_to_one(xp, out, loose=True)
    if not bool(xp.all(fits)):
        sums = xp.sum(out, axis=-1)
        raise ValueError(
            f"`outputs` rows do not sum to 1 ({int(xp.sum(xp.astype(~fits, index_dtype(xp))))} rows, "
            f"e.g. {float(sums[~fits][0])!r}): they look like independent sigmoid outputs, "
            f"and {name}'s −Σ y log a over them gives the labels with y = 0 no gradient, so "
            "every output is pushed toward 1. Fix: for exclusive classes output "
            "logits and use softmax_cross_entropy; for independent labels use "
            "binary_cross_entropy (sigmoid_binary_cross_entropy on logits)."
        )


def _logits_for_probs_message(xp: Any, name: str, out: Any, logits_loss: str) -> str:
    return (
        f"`outputs` hold values from {float(xp.min(out))!r} to {float(xp.max(out))!r}, outside "
        f"[0, 1]: these look like logits, but {name} expects probabilities (its log of a "
        f"value outside [0, 1] is meaningless). Fix: pass the logits to {logits_loss}, which "
        "applies the activation in log space, or apply the activation first."
    )


def _check_sigmoid_targets(xp: Any, name: str, outputs: Any, targets: Any) -> None:
    shape, target_shape = tuple(outputs.shape), tuple(targets.shape)
    if target_shape != shape:
        if shape == (*target_shape, 1) or target_shape == (*shape, 1):
            fix = "reshape the targets to the outputs' shape (e.g. targets.reshape(outputs.shape))"
            raise ValueError(
                f"`targets` of shape {target_shape} and `outputs` of shape {shape} differ by a "
                f"trailing axis of size 1; {name} needs one target per output (elementwise "
                f"code would broadcast them to an [N, N] grid of unrelated pairs). Fix: {fix}."
            )
        if outputs.ndim >= 2 and target_shape == shape[:-1] and _whole_numbers(xp, targets):
            raise ValueError(
                f"`targets` of shape {target_shape} look like class indices, but {name} "
                f"needs one 0/1 target per output, shape {shape}. Fix: one-hot encode them "
                f"into {shape[-1]} columns, or use softmax_cross_entropy for single-label "
                "classes."
            )
        raise ValueError(
            f"`targets` of shape {target_shape} do not match `outputs` of shape {shape}: "
            f"{name} needs one target per output. Fix: give the model one output per label, "
            "or check that outputs and targets come from the same batch."
        )
    if not _checks.values_checked(xp, targets) or numel(targets) == 0:
        return
    t = _as_float(xp, targets)
    low, high = float(xp.min(t)), float(xp.max(t))
    if low < 0 or high > 1:
        whole = bool(xp.all(t == xp.round(t)))
        fix = (
            f"one-hot encode the class indices ({int(high) + 1} columns), or use "
            "softmax_cross_entropy for single-label classes"
            if whole and low >= 0
            else "pass 0/1 labels or probabilities of the positive class"
        )
        raise ValueError(
            f"`targets` hold values from {low!r} to {high!r}, outside [0, 1]: {name} needs a "
            f"0/1 label (or a probability) per output. Fix: {fix}."
        )


def _check_sigmoid_outputs(xp: Any, name: str, kind: LossKind, outputs: Any, targets: Any) -> None:
    if not _checks.values_checked(xp, outputs, targets) or numel(outputs) == 0:
        return
    out = to_float(xp, outputs, compute_dtype(xp, outputs))
    low, high = float(xp.min(out)), float(xp.max(out))
    in_unit = low >= 0 and high <= 1
    if kind.takes == "probs":
        if not in_unit:
            raise ValueError(
                _logits_for_probs_message(xp, name, out, "sigmoid_binary_cross_entropy")
            )
        return
    t = _as_float(xp, targets)
    some_negative = bool(xp.any(t < 0.5))
    if (
        in_unit
        and some_negative
        and numel(out) >= SIGMOID_PROBS_MIN_COUNT
        and high - low >= SIGMOID_PROBS_MIN_SPREAD
    ):
        raise ValueError(
            f"`outputs` look like probabilities, not logits: all {numel(out)} lie in [0, 1] "
            f"(from {low:.3g} to {high:.3g}) although some targets are 0. {name} applies its "
            "own sigmoid, and σ(z) ≥ 0.5 for z ≥ 0, so no prediction can ever be negative. "
            "Fix: pass the logits (the layer before the sigmoid), or use "
            "binary_cross_entropy for probabilities."
        )


def sums_to_one(xp: Any, x: Any, *, loose: bool = False) -> Any:
    """Per row (last axis): whether it sums to 1, by :func:`crossent._checks.sums_to_one`.

    Its dtype's tolerance is the one the losses apply to probability targets;
    ``loose=True`` uses :data:`ROW_SUM_TOLERANCE` whatever the dtype, for reading what
    values *are*.
    """
    return _checks.sums_to_one(xp, x, axis=-1, tol=ROW_SUM_TOLERANCE if loose else None)


def _whole_numbers(xp: Any, x: Any) -> bool:
    """Integer dtype, or concrete floats that are all whole numbers (labels read from a CSV)."""
    if not is_floating(xp, x):
        return True
    return _checks.values_checked(xp, x) and bool(xp.all(x == xp.round(x)))


def _as_float(xp: Any, x: Any) -> Any:
    """``x`` in its compute dtype; integer or boolean labels as float32 (exact for labels)."""
    if is_floating(xp, x):
        return to_float(xp, x, compute_dtype(xp, x))
    return xp.astype(x, xp.float32)


def _double_softmax_ceiling(n_classes: int) -> float:
    """Largest probability a softmax of probabilities can give: one input 1, the rest 0."""
    return math.e / (math.e + n_classes - 1)
