"""Binary and multi-label cross-entropy: one independent Bernoulli per output.

For a binary task use one output per sample; for multi-label, one output per label
(k sigmoids, not a softmax: the labels are not mutually exclusive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crossent import _checks, _guardrails, _reduce
from crossent._array import (
    DEFAULT_EPS,
    Array,
    asarray,
    asarray_in,
    clamped_log,
    compute_dtype,
    is_floating,
    log_sigmoid,
    mul_log,
    namespace,
    to_float,
)

__all__ = ["binary_cross_entropy", "sigmoid_binary_cross_entropy"]


@dataclass
class BinaryInputs:
    """Validated inputs of a sigmoid-family loss, in the compute dtype."""

    xp: Any
    z: Any  # logits (or probabilities for the probability-input loss)
    y: Any  # targets in [0, 1], label smoothed
    weight: Any  # broadcastable elementwise weight or None
    out_dtype: Any
    smoothing: Any = 0.0  # validated ε: a float or a 0-d array


def prepare_binary(
    pred: Array,
    targets: Array,
    *,
    pred_name: str,
    weight: Array | None,
    label_smoothing: Any,
    reduction: str,
    extra: tuple[Any, ...] = (),
) -> BinaryInputs:
    """Validate a binary loss's prediction, targets and weight; smooth the targets.

    Targets may be floats in [0, 1] (soft labels allowed), booleans or integers 0/1;
    they must have the prediction's shape.
    """
    pred = asarray(pred, pred_name)
    targets = asarray(targets, "targets")
    xp = namespace(pred, targets, weight, *extra)
    weight = None if weight is None else asarray_in(xp, weight, "weight")
    _checks.reduction(reduction)
    _checks.floating(xp, pred_name, pred)
    dtype = compute_dtype(xp, pred)
    smoothing = _checks.option(
        xp, "label_smoothing", label_smoothing, dtype=dtype, high=1.0, high_open=False
    )
    _checks.same_shape(
        "targets", tuple(targets.shape), tuple(pred.shape), f"the shape of `{pred_name}`"
    )
    if not is_floating(xp, targets):
        targets = xp.astype(targets, dtype)
    _checks.in_unit_interval(xp, "targets", targets)
    y = to_float(xp, targets, dtype)
    if not _checks.is_off(smoothing):
        y = y * (1 - smoothing) + smoothing / 2
    if weight is not None:
        _checks.floating(xp, "weight", weight)
        _checks.broadcastable("weight", tuple(weight.shape), tuple(pred.shape))
        weight = to_float(xp, weight, dtype)
    return BinaryInputs(xp, to_float(xp, pred, dtype), y, weight, pred.dtype, smoothing)


def prepare_binary_probs(
    probs: Array, targets: Array, *, weight: Array | None, eps: Any, reduction: str
) -> tuple[BinaryInputs, Any]:
    """:func:`prepare_binary` for probabilities in [0, 1], with the clamp ``eps`` in (0, 1)."""
    b = prepare_binary(
        probs, targets, pred_name="probs", weight=weight, label_smoothing=0.0, reduction=reduction
    )
    floor = _checks.option(b.xp, "eps", eps, dtype=b.z.dtype, high=1.0, low_open=True)
    _checks.in_unit_interval(b.xp, "probs", b.z)
    return b, floor


def check_pos_weight(xp: Any, pos_weight: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """``pos_weight`` as a float array broadcastable to ``shape`` (non-negative, finite)."""
    pos_weight = asarray_in(xp, pos_weight, "pos_weight")
    _checks.floating(xp, "pos_weight", pos_weight)
    _checks.broadcastable("pos_weight", tuple(pos_weight.shape), shape)
    _checks.finite_non_negative(xp, "pos_weight", pos_weight)
    return to_float(xp, pos_weight, dtype)


@_checks.honours_validate
def sigmoid_binary_cross_entropy(
    logits: Array,
    targets: Array,
    *,
    weight: Array | None = None,
    pos_weight: Array | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    check: bool = False,
    validate: bool | None = None,
) -> Array:
    r"""Binary cross-entropy on logits: one sigmoid per element (binary and multi-label).

    .. math:: \ell = -w \big[\, p_w\, y \log \sigma(z) + (1 - y) \log \sigma(-z) \,\big]

    computed as ``log_sigmoid`` (never ``log(sigmoid)``), so logits of ±1e4 stay finite.
    Label smoothing maps ``y ↦ y(1-ε) + ε/2`` (Keras). ``"mean"`` divides by the number of
    elements; ``weight`` scales terms, not the divisor (PyTorch's
    ``binary_cross_entropy_with_logits``).

    Args:
        logits: any shape; ``[N]`` for a binary task, ``[N, L]`` for L labels.
        targets: same shape, values in [0, 1] (floats, or 0/1 integers or booleans).
        weight: elementwise weight broadcastable to ``logits``. Default: ``None``.
        pos_weight: weight :math:`p_w` of the positive term, broadcastable to ``logits``
            (e.g. ``[L]``: n_negatives / n_positives per label). Default: ``None``.
        label_smoothing: ε in [0, 1]. Default: ``0.0``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        check: run :func:`crossent.task.check` first (refuses e.g. class indices for
            one-hot targets, a trailing axis of size 1, probabilities for logits).
            Default: ``False``.
        validate: value checks (label range, probabilities, row sums, weights) on
            (``True``) or off (``False``) for this call; ``None`` follows
            :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        0-d array, or the elementwise losses of ``logits``' shape for ``"none"``; same
        library and dtype as ``logits``.

    Raises:
        ValueError: shape mismatch, targets outside [0, 1], bad options.
        TypeError: non-floating ``logits``/``weight``/``pos_weight``.

    Example:
        >>> import numpy as np
        >>> from crossent import sigmoid_binary_cross_entropy
        >>> round(float(sigmoid_binary_cross_entropy(np.array([0.0]), np.array([1.0]))), 4)
        0.6931
    """
    if check:
        _guardrails.check(logits, targets, loss="sigmoid_binary_cross_entropy")
    b = prepare_binary(
        logits,
        targets,
        pred_name="logits",
        weight=weight,
        label_smoothing=label_smoothing,
        reduction=reduction,
        extra=(pos_weight,),
    )
    xp = b.xp
    pos_term = mul_log(xp, b.y, log_sigmoid(xp, b.z))
    if pos_weight is not None:
        pos_term = pos_term * check_pos_weight(xp, pos_weight, tuple(b.z.shape), b.z.dtype)
    loss = -(pos_term + mul_log(xp, 1 - b.y, log_sigmoid(xp, -b.z)))
    if b.weight is not None:
        loss = loss * b.weight
    return to_float(xp, _reduce.reduce(xp, loss, reduction), b.out_dtype)


@_checks.honours_validate
def binary_cross_entropy(
    probs: Array,
    targets: Array,
    *,
    weight: Array | None = None,
    eps: float = DEFAULT_EPS,
    reduction: str = "mean",
    check: bool = False,
    validate: bool | None = None,
) -> Array:
    r"""Binary cross-entropy of predicted probabilities (the output of a sigmoid).

    .. math:: \ell = -w \big[\, y \log \max(p, \epsilon) + (1 - y) \log \max(1 - p, \epsilon) \,\big]

    Prefer :func:`sigmoid_binary_cross_entropy` on logits: it is exact where this one must
    clamp. The clamp is in log space; the default ``eps = exp(-100)`` makes each log at
    least -100, as PyTorch's ``binary_cross_entropy`` does. ``"mean"`` divides by the number
    of elements.

    Args:
        probs: probabilities in [0, 1], any shape.
        targets: same shape, values in [0, 1].
        weight: elementwise weight broadcastable to ``probs``. Default: ``None``.
        eps: smallest probability the log sees, in (0, 1). Default: ``exp(-100)``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        check: run :func:`crossent.task.check` first (refuses e.g. logits for
            probabilities, targets that do not match the outputs). Default: ``False``.
        validate: value checks (label range, probabilities, row sums, weights) on
            (``True``) or off (``False``) for this call; ``None`` follows
            :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        As :func:`sigmoid_binary_cross_entropy`.

    Raises:
        ValueError: ``probs`` or ``targets`` outside [0, 1], shape mismatch, bad options.

    Example:
        >>> import numpy as np
        >>> from crossent import binary_cross_entropy
        >>> round(float(binary_cross_entropy(np.array([0.5]), np.array([1.0]))), 4)
        0.6931
    """
    if check:
        _guardrails.check(probs, targets, loss="binary_cross_entropy")
    b, floor = prepare_binary_probs(probs, targets, weight=weight, eps=eps, reduction=reduction)
    xp = b.xp
    loss = -(b.y * clamped_log(xp, b.z, floor) + (1 - b.y) * clamped_log(xp, 1 - b.z, floor))
    if b.weight is not None:
        loss = loss * b.weight
    return to_float(xp, _reduce.reduce(xp, loss, reduction), b.out_dtype)
