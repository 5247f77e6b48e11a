r"""Single-label multi-class cross-entropy: softmax on logits, or probabilities in.

Both losses share one target model. For each sample ``i`` the loss is

.. math:: \ell_i = -\sum_c a_{ic} \log q_{ic}

with ``q`` the predicted distribution and ``a_{ic} ≥ 0`` the *target coefficients*:

* class-index targets ``y_i``: :math:`a_{ic} = (1-\varepsilon)\, w_{y_i} [c = y_i] + \tfrac{\varepsilon}{C} w_c`
  (``w ≡ 1`` without class weights; ``a_i = 0`` for ``y_i = ignore_index``);
* probability targets ``t_i``: :math:`a_{ic} = w_c \big((1-\varepsilon) t_{ic} + \tfrac{\varepsilon}{C}\big)`.

This is PyTorch's ``cross_entropy`` rule for label smoothing ε and class weights ``w``.
The gradient with respect to the logits then has the closed form
:math:`\partial \ell_i / \partial z_{ij} = q_{ij} \sum_c a_{ic} - a_{ij}` (the articles'
``a − y`` when ``a`` is one-hot), which :mod:`crossent.grad` uses. A term with
:math:`a_{ic} = 0` counts 0 even where :math:`\log q_{ic} = -\infty` (a masked logit):
:math:`0 \log 0 = 0`, in the value and in the gradient.
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
    is_integer,
    logsumexp,
    move_class_axis_last,
    mul_log,
    namespace,
    numel,
    one_hot_mask,
    softcap,
    take_along_last,
    to_float,
)
from crossent.losses._rows import loss_from_row_stats

__all__ = ["DEFAULT_EPS", "categorical_cross_entropy", "softmax_cross_entropy"]


@dataclass
class SoftmaxTargets:
    """Targets of a softmax-family loss, validated, with the class axis last.

    Exactly one of ``indices`` (class indices, ``ignore_index`` replaced by 0) and
    ``probs`` (probability targets, already smoothed) is set.
    """

    n_classes: int
    indices: Any = None
    valid: Any = None  # bool mask of counted samples (class-index targets)
    probs: Any = None
    weight: Any = None  # per-class weights, or None
    smoothing: Any = 0.0  # ε: a float, or a 0-d array (e.g. traced by jax.jit)


def prepare_targets(
    xp: Any,
    targets: Any,
    *,
    pred_shape: tuple[int, ...],
    axis: int,
    dtype: Any,
    weight: Any,
    ignore_index: int | None,
    label_smoothing: Any,
    pred_name: str = "logits",
) -> SoftmaxTargets:
    """Validate ``targets`` against a prediction ``pred_name`` of ``pred_shape`` (class axis
    ``axis``).

    ``label_smoothing`` is already validated (a float, or a 0-d array of ``xp``).
    """
    n_classes = pred_shape[axis]
    if n_classes == 0:
        raise ValueError(
            f"`{pred_name}` must have at least one class along axis {axis}; got shape "
            f"{tuple(pred_shape)}."
        )
    if weight is not None:
        weight = asarray_in(xp, weight, "weight")
        _checks.class_weight(xp, weight, n_classes)
        weight = to_float(xp, weight, dtype)
    if is_integer(xp, targets):
        expected = pred_shape[:axis] + pred_shape[axis + 1 :]
        _checks.same_shape(
            "targets",
            tuple(targets.shape),
            expected,
            "class indices: the prediction's shape without the class axis",
        )
        _checks.class_indices(xp, "targets", targets, n_classes, ignore_index)
        if ignore_index is None:
            valid = xp.ones_like(targets, dtype=xp.bool)
        else:
            valid = targets != ignore_index
        indices = xp.where(valid, targets, xp.zeros_like(targets))
        return SoftmaxTargets(
            n_classes, indices=indices, valid=valid, weight=weight, smoothing=label_smoothing
        )
    _checks.floating(xp, "targets", targets)
    if tuple(targets.shape) != tuple(pred_shape):
        raise ValueError(
            f"`targets` must be class indices (an integer array of shape "
            f"{pred_shape[:axis] + pred_shape[axis + 1 :]}) or probabilities of the prediction's shape "
            f"{tuple(pred_shape)}; got a {targets.dtype} array of shape {tuple(targets.shape)}."
        )
    _checks.in_unit_interval(xp, "targets", targets)
    _checks.rows_sum_to_one(xp, "targets", targets, axis=axis)
    probs = move_class_axis_last(xp, to_float(xp, targets, dtype), axis)
    if not _checks.is_off(label_smoothing):
        probs = (1 - label_smoothing) * probs + label_smoothing / n_classes
    return SoftmaxTargets(n_classes, probs=probs, weight=weight, smoothing=label_smoothing)


def coefficients(xp: Any, t: SoftmaxTargets, dtype: Any) -> Any:
    """The dense target coefficients ``a`` of the module docstring, class axis last."""
    if t.probs is not None:
        return t.probs if t.weight is None else t.probs * t.weight
    valid = xp.astype(t.valid, dtype)[..., None]
    w = xp.ones((t.n_classes,), dtype=dtype) if t.weight is None else t.weight
    onehot = one_hot_mask(xp, t.indices, t.n_classes, dtype)
    return valid * ((1 - t.smoothing) * onehot * w + (t.smoothing / t.n_classes) * w)


def row_weight(xp: Any, t: SoftmaxTargets, dtype: Any) -> Any:
    """Weight of each sample's loss: ``w[y_i]`` (0 when ignored) or 1 for probability targets.

    It scales the z-loss term, and its sum is what ``"mean"`` divides by for class-index
    targets.
    """
    if t.probs is not None:
        return xp.ones_like(t.probs[..., 0], dtype=dtype)
    valid = xp.astype(t.valid, dtype)
    if t.weight is None:
        return valid
    flat = xp.take(t.weight, xp.reshape(t.indices, (-1,)), axis=0)
    return valid * xp.reshape(flat, t.indices.shape)


def mean_divisor(xp: Any, t: SoftmaxTargets, rw: Any) -> Any:
    """What ``"mean"`` divides by: ``Σ w[y_i]`` over counted samples, or the sample count."""
    if t.probs is not None:
        return numel(t.probs) // max(t.probs.shape[-1], 1)
    return xp.sum(rw)


def rows_loss(
    xp: Any, t: SoftmaxTargets, scores: Any, rw: Any, lse: Any = None, z_loss: Any = 0.0
) -> Any:
    r"""Per-sample :math:`-\sum_c a_{ic} \log q_{ic} + \lambda_z r_i s_i^2` by
    :func:`crossent.losses._rows.loss_from_row_stats`, without building ``a`` for index
    targets.

    ``\log q = `` ``scores - lse[..., None]`` (``scores`` are already log-probabilities
    when ``lse`` is None), class axis last. For class indices the row statistics are the
    target's score and, with smoothing, :math:`\sum_c w_c z_{ic}` (a matrix–vector
    product); probability targets take :math:`\sum_c a_{ic}` and
    :math:`\sum_c a_{ic} z_{ic}`. Every product of a coefficient and a score follows
    :math:`0 \log 0 = 0` (:func:`crossent._array.mul_log`), so masked (``-inf``) logits
    under a coefficient of 0 give 0, not NaN.
    """
    if t.probs is not None:
        a = coefficients(xp, t, scores.dtype)
        mass = xp.sum(a, axis=-1)
        dot = xp.sum(mul_log(xp, a, scores), axis=-1)
        return loss_from_row_stats(
            xp, lse, xp.ones_like(mass), dot, target_mass=mass, z_loss=z_loss, row_weight=rw
        )
    picked = take_along_last(xp, scores, t.indices)
    smooth = None if _checks.is_off(t.smoothing) else t.smoothing
    spread: dict[str, Any] = {}
    if smooth is not None:
        if t.weight is None:
            spread = {"weight_sum": t.n_classes, "weighted_logit_sum": xp.sum(scores, axis=-1)}
        else:
            spread = {
                "weight_sum": xp.sum(t.weight),
                "weighted_logit_sum": xp.sum(mul_log(xp, t.weight, scores), axis=-1),
            }
        spread["smooth_coef"] = xp.astype(t.valid, picked.dtype) * (smooth / t.n_classes)
    target = rw if smooth is None else (1 - smooth) * rw
    return loss_from_row_stats(xp, lse, target, picked, z_loss=z_loss, row_weight=rw, **spread)


def softmax_options(
    xp: Any, dtype: Any, label_smoothing: Any, z_loss: Any, logit_softcap: Any
) -> tuple[Any, Any, Any]:
    """``label_smoothing`` in [0, 1], ``z_loss`` ≥ 0 and ``logit_softcap`` > 0 (or None),
    each a number or a 0-d array of ``xp`` (see :func:`crossent._checks.option`)."""
    smoothing = _checks.option(
        xp, "label_smoothing", label_smoothing, dtype=dtype, high=1.0, high_open=False
    )
    z = _checks.option(xp, "z_loss", z_loss, dtype=dtype)
    cap = (
        None
        if logit_softcap is None
        else _checks.option(xp, "logit_softcap", logit_softcap, dtype=dtype, low_open=True)
    )
    return smoothing, z, cap


def check_softmax_options(
    label_smoothing: float, z_loss: float, logit_softcap: float | None
) -> tuple[float, float, float | None]:
    """:func:`softmax_options` for callers that need Python numbers (the fused kernels)."""
    smoothing = _checks.number_in("label_smoothing", label_smoothing, 0.0, 1.0)
    z = _checks.non_negative("z_loss", z_loss)
    cap = None if logit_softcap is None else _checks.positive("logit_softcap", logit_softcap)
    return smoothing, z, cap


@dataclass
class SoftmaxForward:
    """What the softmax cross-entropy forward computes, shared with its closed-form gradient."""

    xp: Any
    z: Any  # soft-capped logits (probabilities for categorical CE), class axis last
    lse: Any  # logsumexp of z per sample (None for categorical CE)
    targets: SoftmaxTargets
    row_weight: Any
    divisor: Any
    axis: int
    out_dtype: Any
    z_loss: Any = 0.0  # validated λ_z: a float or a 0-d array
    cap: Any = None  # validated soft-cap c, or None
    eps: Any = DEFAULT_EPS  # validated clamp of categorical CE


def softmax_forward(
    logits: Array,
    targets: Array,
    *,
    axis: int,
    weight: Array | None,
    ignore_index: int | None,
    label_smoothing: float,
    z_loss: float,
    logit_softcap: float | None,
    reduction: str,
) -> SoftmaxForward:
    """Validate the inputs of :func:`softmax_cross_entropy` and compute its shared pieces."""
    logits = asarray(logits, "logits")
    targets = asarray(targets, "targets")
    xp = namespace(logits, targets, weight)
    _checks.reduction(reduction)
    _checks.floating(xp, "logits", logits)
    dtype = compute_dtype(xp, logits)
    smoothing, z_coef, cap = softmax_options(xp, dtype, label_smoothing, z_loss, logit_softcap)
    if ignore_index is not None:
        ignore_index = _checks.integer("ignore_index", ignore_index)
    ax = _checks.axis("axis", axis, logits.ndim)
    t = prepare_targets(
        xp,
        targets,
        pred_shape=tuple(logits.shape),
        axis=ax,
        dtype=dtype,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=smoothing,
    )
    z = softcap(xp, move_class_axis_last(xp, to_float(xp, logits, dtype), ax), cap)
    if t.valid is not None:
        # An ignored row may be masked whole (all −inf, e.g. padding): its logits become 0 so
        # that its log-normaliser, and through it value and gradient, stay finite; every
        # term of the row is multiplied by 0 anyway.
        z = xp.where(t.valid[..., None], z, xp.zeros_like(z))
    lse = logsumexp(xp, z, axis=-1)
    rw = row_weight(xp, t, dtype)
    return SoftmaxForward(
        xp, z, lse, t, rw, mean_divisor(xp, t, rw), ax, logits.dtype, z_loss=z_coef, cap=cap
    )


@_checks.honours_validate
def softmax_cross_entropy(
    logits: Array,
    targets: Array,
    *,
    axis: int = -1,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
    reduction: str = "mean",
    check: bool = False,
    validate: bool | None = None,
) -> Array:
    r"""Cross-entropy of softmax(``logits``) against class indices or probability targets.

    With :math:`z' = c \tanh(z / c)` when ``logit_softcap=c`` (else :math:`z' = z`) and
    :math:`\log q_{ic} = z'_{ic} - \mathrm{logsumexp}_c\, z'_{ic}`, the unreduced loss is

    .. math:: \ell_i = -\sum_c a_{ic} \log q_{ic} + \lambda_z\, r_i \big(\mathrm{logsumexp}_c\, z'_{ic}\big)^2

    where ``a`` are the target coefficients (one-hot ``y_i`` or the probability row, label
    smoothed as :math:`(1-\varepsilon) y + \varepsilon / C`, scaled by class ``weight``),
    :math:`\lambda_z` = ``z_loss`` (PaLM's auxiliary loss keeping the normaliser near 0) and
    :math:`r_i` the sample's weight (``weight[y_i]``, or 1). ``"mean"`` divides the sum by
    :math:`\sum_i r_i` over non-ignored samples for class-index targets — PyTorch's rule, so
    ``weight`` changes the divisor — and by the number of samples for probability targets.
    All-ignored batches give 0 (PyTorch: NaN). Computed in log space; fp16/bf16 run in
    float32 and return in the input dtype.

    Args:
        logits: unnormalised scores, classes along ``axis``; e.g. ``[N, C]`` or ``[N, C, H, W]``
            with ``axis=1``.
        targets: integer class indices of ``logits``' shape without ``axis``, or
            probabilities of ``logits``' shape (each distribution summing to 1).
        axis: the class axis. Default: ``-1`` (optax, Keras); PyTorch's layout is ``axis=1``.
        weight: per-class weights, shape ``[C]``. Default: ``None``.
        ignore_index: class index whose samples count for nothing (class-index targets
            only); ``None`` disables it. Default: ``-100``.
        label_smoothing: ε in [0, 1]. Default: ``0.0``.
        z_loss: coefficient of the squared log-normaliser. Default: ``0.0``.
        logit_softcap: ``c > 0`` to soft-cap logits at ±c before the softmax; ``None`` is off.
            Default: ``None``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        check: run :func:`crossent.task.check` first, which refuses the classic mistakes
            (one output unit, multi-hot targets, probabilities for logits, ...) with the
            fix. Default: ``False``.
        validate: value checks (label range, probabilities, row sums, weights) on
            (``True``) or off (``False``) for this call; ``None`` follows
            :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        0-d array for ``"mean"``/``"sum"``; for ``"none"`` the per-sample losses, shaped
        like ``logits`` without ``axis``. Same array library as ``logits``, and its dtype.

    Raises:
        ValueError: bad shapes, class indices out of range, probability targets outside
            [0, 1] or not summing to 1, an unknown ``reduction``, out-of-range options.
        TypeError: non-floating ``logits`` or weights, non-integer index targets.

    References:
        Chowdhery et al. "PaLM: Scaling Language Modeling with Pathways." 2022 (z-loss).
        Szegedy et al. "Rethinking the Inception Architecture for Computer Vision." 2016
        (label smoothing). Gemma Team. "Gemma 2." 2024 (logit soft-capping).

    Example:
        >>> import numpy as np
        >>> from crossent import softmax_cross_entropy
        >>> logits = np.log(np.array([[0.2, 0.7, 0.1]]))
        >>> round(float(softmax_cross_entropy(logits, np.array([1]))), 4)
        0.3567
    """
    if check:
        _guardrails.check(
            logits, targets, loss="softmax_cross_entropy", axis=axis, ignore_index=ignore_index
        )
    f = softmax_forward(
        logits,
        targets,
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        z_loss=z_loss,
        logit_softcap=logit_softcap,
        reduction=reduction,
    )
    xp = f.xp
    loss = rows_loss(xp, f.targets, f.z, f.row_weight, lse=f.lse, z_loss=f.z_loss)
    return to_float(xp, _reduce.reduce(xp, loss, reduction, f.divisor), f.out_dtype)


@_checks.honours_validate
def categorical_cross_entropy(
    probs: Array,
    targets: Array,
    *,
    axis: int = -1,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    eps: float = DEFAULT_EPS,
    reduction: str = "mean",
    check: bool = False,
    validate: bool | None = None,
) -> Array:
    r"""Cross-entropy of predicted probabilities ``probs`` against class indices or distributions.

    .. math:: \ell_i = -\sum_c a_{ic} \log \max(q_{ic}, \epsilon)

    with ``a`` the target coefficients (one-hot or probability row, times class ``weight``).
    ``probs`` must be probabilities (the output of a softmax); prefer
    :func:`softmax_cross_entropy` on logits, which is exact where ``log(softmax)`` is not.
    The clamp ``eps`` is applied in log space; the default ``exp(-100)`` makes
    ``log q ≥ -100``, PyTorch's rule for its probability losses. ``"mean"`` divides as in
    :func:`softmax_cross_entropy`. Unlike Keras, ``probs`` are not renormalised.

    Args:
        probs: probabilities, classes along ``axis``.
        targets: integer class indices (``probs``' shape without ``axis``) or probabilities
            of ``probs``' shape.
        axis: the class axis. Default: ``-1``.
        weight: per-class weights, shape ``[C]``. Default: ``None``.
        ignore_index: class index that counts for nothing; ``None`` disables it. Default: ``-100``.
        eps: smallest probability the log sees, in (0, 1). Default: ``exp(-100)`` ≈ 3.7e-44.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        check: run :func:`crossent.task.check` first (refuses e.g. one output unit, rows
            of independent sigmoid outputs, logits for probabilities). Default: ``False``.
        validate: value checks (label range, probabilities, row sums, weights) on
            (``True``) or off (``False``) for this call; ``None`` follows
            :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        As :func:`softmax_cross_entropy`.

    Raises:
        ValueError: ``probs`` outside [0, 1], and the errors of :func:`softmax_cross_entropy`.

    Example:
        >>> import numpy as np
        >>> from crossent import categorical_cross_entropy
        >>> round(float(categorical_cross_entropy(np.array([[0.5, 0.4, 0.1]]), np.array([0]))), 4)
        0.6931
    """
    if check:
        _guardrails.check(
            probs, targets, loss="categorical_cross_entropy", axis=axis, ignore_index=ignore_index
        )
    f = categorical_forward(
        probs,
        targets,
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        eps=eps,
        reduction=reduction,
    )
    xp = f.xp
    loss = rows_loss(xp, f.targets, clamped_log(xp, f.z, f.eps), f.row_weight)
    return to_float(xp, _reduce.reduce(xp, loss, reduction, f.divisor), f.out_dtype)


def categorical_forward(
    probs: Array,
    targets: Array,
    *,
    axis: int,
    weight: Array | None,
    ignore_index: int | None,
    eps: float,
    reduction: str,
) -> SoftmaxForward:
    """Validate the inputs of :func:`categorical_cross_entropy`; ``z`` holds the probabilities."""
    probs = asarray(probs, "probs")
    targets = asarray(targets, "targets")
    xp = namespace(probs, targets, weight)
    _checks.reduction(reduction)
    _checks.floating(xp, "probs", probs)
    dtype = compute_dtype(xp, probs)
    floor = _checks.option(xp, "eps", eps, dtype=dtype, high=1.0, low_open=True)
    if ignore_index is not None:
        ignore_index = _checks.integer("ignore_index", ignore_index)
    ax = _checks.axis("axis", axis, probs.ndim)
    _checks.in_unit_interval(xp, "probs", probs)
    t = prepare_targets(
        xp,
        targets,
        pred_shape=tuple(probs.shape),
        axis=ax,
        dtype=dtype,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=0.0,
        pred_name="probs",
    )
    q = move_class_axis_last(xp, to_float(xp, probs, dtype), ax)
    rw = row_weight(xp, t, dtype)
    return SoftmaxForward(xp, q, None, t, rw, mean_divisor(xp, t, rw), ax, probs.dtype, eps=floor)
