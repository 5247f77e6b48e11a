r"""Focal losses: cross-entropy that down-weights easy examples.

Lin et al.'s focal loss multiplies each example's cross-entropy by a *modulating factor*
:math:`(1 - p_t)^\gamma`, where :math:`p_t` is the probability the model gives the true
outcome: easy examples (:math:`p_t \to 1`) contribute almost nothing, hard ones keep
their loss. The α-balanced form also weighs positives by α and negatives by 1 − α.
Ridnik et al.'s asymmetric loss gives positives and negatives their own γ and shifts the
negatives' probability by a margin.

Every modulating factor here is computed in log space, :math:`(1 - p_t)^\gamma =
\exp(\gamma \log(1 - p_t))` with :math:`\log(1 - p_t)` from ``log_sigmoid`` /
``log_softmax``, never ``(1 - p) ** gamma`` from probabilities: the latter gives NaN
gradients for γ < 1 (an infinite derivative of :math:`x^\gamma` at 0 times 0), for
γ = 0 (``0 ** 0`` differentiated) and for saturated logits — the bug that hit kornia and
optax. Here logits of ±1e4 and any γ ≥ 0 give finite losses and gradients, and
``gamma=0`` is the plain cross-entropy to the last bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import array_api_compat

from crossent import _checks, _guardrails, _reduce
from crossent._array import (
    Array,
    asarray_in,
    log_sigmoid,
    logsumexp,
    mul_log,
    namespace,
    safe_log,
    take_along_last,
    to_float,
)
from crossent.losses.binary import BinaryInputs, prepare_binary
from crossent.losses.categorical import SoftmaxForward, softmax_forward

__all__ = ["asymmetric_loss", "sigmoid_focal_loss", "softmax_focal_loss"]


def modulating_factor(xp: Any, log_base: Any, gamma: Any) -> Any:
    r""":math:`b^\gamma = \exp(\gamma \log b)` from :math:`\log b`; finite gradient for every γ ≥ 0.

    At :math:`b = 0` (``log_base = -inf``) it is :math:`0^\gamma`: 0 for γ > 0 and 1 for
    γ = 0 (torchvision's ``(1 - p_t) ** 0``), with a gradient of 0 with respect to both
    ``log_base`` and γ — ``-inf`` is replaced before the product, so ``0 · (-inf)`` never
    forms. ``gamma`` is a number or a 0-d array (e.g. traced by ``jax.grad``).
    """
    finite = log_base > -math.inf
    factor = xp.exp(gamma * xp.where(finite, log_base, xp.zeros_like(log_base)))
    at_zero = (gamma == 0) if not isinstance(gamma, float) else xp.asarray(gamma == 0)
    return xp.where(finite, factor, xp.astype(at_zero, factor.dtype) * xp.ones_like(factor))


# ---------------------------------------------------------------------------------------
# Sigmoid focal loss
# ---------------------------------------------------------------------------------------


@dataclass
class SigmoidFocalForward:
    """The pieces of :func:`sigmoid_focal_loss` that its closed-form gradient reuses."""

    b: BinaryInputs
    log_p: Any  # log σ(z)
    log_1mp: Any  # log σ(-z) = log(1 - σ(z))
    log_1mpt: Any  # log(1 - p_t), or None when gamma is the number 0
    alpha_t: Any  # α y + (1 - α)(1 - y), or None when alpha is None
    gamma: Any  # a float or a 0-d array


def sigmoid_focal_forward(
    logits: Array,
    targets: Array,
    *,
    alpha: float | None,
    gamma: float,
    weight: Array | None,
    reduction: str,
) -> SigmoidFocalForward:
    """Validate the inputs of :func:`sigmoid_focal_loss` and compute its log-space pieces."""
    b = prepare_binary(
        logits, targets, pred_name="logits", weight=weight, label_smoothing=0.0, reduction=reduction
    )
    xp, dtype = b.xp, b.z.dtype
    if alpha is not None:
        alpha = _checks.option(xp, "alpha", alpha, dtype=dtype, high=1.0, high_open=False)
    gamma = _checks.option(xp, "gamma", gamma, dtype=dtype)
    log_p, log_1mp = log_sigmoid(xp, b.z), log_sigmoid(xp, -b.z)
    log_1mpt = None
    if not _checks.is_off(gamma):
        # 1 - p_t = y (1 - p) + (1 - y) p (torchvision's p_t, which also serves soft targets),
        # as a log-sum-exp of the two log terms; exactly log σ(∓z) for targets 1 and 0.
        log_1mpt = xp.logaddexp(safe_log(xp, b.y) + log_1mp, safe_log(xp, 1 - b.y) + log_p)
    alpha_t = None if alpha is None else alpha * b.y + (1 - alpha) * (1 - b.y)
    return SigmoidFocalForward(b, log_p, log_1mp, log_1mpt, alpha_t, gamma)


@_checks.honours_validate
def sigmoid_focal_loss(
    logits: Array,
    targets: Array,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    weight: Array | None = None,
    reduction: str = "mean",
    check: bool = False,
    validate: bool | None = None,
) -> Array:
    r"""Focal loss on logits (Lin et al. 2017): sigmoid cross-entropy that fades on easy examples.

    With :math:`p = \sigma(z)`, :math:`p_t = y p + (1 - y)(1 - p)` and
    :math:`\alpha_t = \alpha y + (1 - \alpha)(1 - y)`:

    .. math:: \ell = -w\, \alpha_t\, (1 - p_t)^\gamma \big[\, y \log p + (1 - y) \log(1 - p) \,\big]

    i.e. :math:`-\alpha_t (1 - p_t)^\gamma \log p_t` for 0/1 targets. α multiplies the
    *positive* term, as in the paper and torchvision (``alpha=0.25`` down-weights positives;
    the paper's best setting pairs it with ``gamma=2``). ``gamma=0`` is the α-balanced
    cross-entropy and ``alpha=None, gamma=0`` is exactly
    :func:`crossent.sigmoid_binary_cross_entropy`, gradients included. The modulating
    factor is :math:`\exp(\gamma \log(1 - p_t))` with :math:`\log(1 - p_t)` computed from
    ``log_sigmoid``, so γ < 1, γ = 0 and logits of ±1e4 give finite gradients. Soft targets
    use the same :math:`p_t` (torchvision's and optax's definition).

    ``"mean"`` divides by the number of elements (torchvision's ``loss.mean()``); RetinaNet
    instead divides the sum by the number of positive anchors — use ``reduction="sum"`` and
    divide.

    Args:
        logits: any shape; ``[N]`` for a binary task, ``[N, L]`` for L labels or classes.
        targets: same shape, values in [0, 1] (floats, or 0/1 integers or booleans).
        alpha: weight of the positive term in [0, 1] (negatives get ``1 - alpha``); ``None``
            is off. Default: ``0.25``.
        gamma: focusing parameter γ ≥ 0. Default: ``2.0``.
        weight: elementwise weight broadcastable to ``logits``. Default: ``None``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        check: run :func:`crossent.task.check` on the pairing first. Default: ``False``.
        validate: value checks (label range, probabilities, row sums, weights) on
            (``True``) or off (``False``) for this call; ``None`` follows
            :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        0-d array, or the elementwise losses of ``logits``' shape for ``"none"``; same
        library and dtype as ``logits``.

    Raises:
        ValueError: shape mismatch, targets outside [0, 1], ``alpha`` outside [0, 1],
            negative ``gamma``, an unknown ``reduction``.
        TypeError: non-floating ``logits`` or ``weight``, non-numeric ``alpha``/``gamma``.

    References:
        Lin, Goyal, Girshick, He, Dollár. "Focal Loss for Dense Object Detection." ICCV 2017.
        https://arxiv.org/abs/1708.02002

    Example:
        >>> import numpy as np
        >>> from crossent import sigmoid_focal_loss
        >>> z, y = np.array([2.0, -2.0]), np.array([1.0, 1.0])  # an easy and a hard positive
        >>> np.round(sigmoid_focal_loss(z, y, reduction="none"), 4)
        array([0.0005, 0.4125])
    """
    if check:
        _guardrails.check(logits, targets, loss="sigmoid_focal_loss")
    f = sigmoid_focal_forward(
        logits, targets, alpha=alpha, gamma=gamma, weight=weight, reduction=reduction
    )
    xp, b = f.b.xp, f.b
    loss = -(mul_log(xp, b.y, f.log_p) + mul_log(xp, 1 - b.y, f.log_1mp))
    if f.log_1mpt is not None:
        loss = modulating_factor(xp, f.log_1mpt, f.gamma) * loss
    if f.alpha_t is not None:
        loss = f.alpha_t * loss
    if b.weight is not None:
        loss = loss * b.weight
    return to_float(xp, _reduce.reduce(xp, loss, reduction), b.out_dtype)


# ---------------------------------------------------------------------------------------
# Softmax focal loss
# ---------------------------------------------------------------------------------------


def log1m_softmax(xp: Any, z: Any, lse: Any) -> Any:
    r""":math:`\log(1 - q_c)` for :math:`q = \mathrm{softmax}(z)`, class axis last, without cancellation.

    Only the largest logit's class can have :math:`q_c > 1/2`; its
    :math:`1 - q_c = \sum_{c' \ne c} q_{c'}` is a log-sum-exp over the other classes (exact
    even when :math:`q_c` rounds to 1). Every other class has :math:`q_c \le 1/2`, where
    ``log1p(-q)`` is exact. A single class has :math:`\log(1 - q) = -\infty`.
    """
    n_classes = z.shape[-1]
    if n_classes == 1:
        return xp.full_like(z, -math.inf)
    classes = xp.arange(n_classes, device=array_api_compat.device(z))
    top = xp.argmax(z, axis=-1)[..., None] == classes
    rest = xp.where(top, xp.full_like(z, -math.inf), z)
    # Every other class masked (-inf): 1 - q_top = 0 exactly. The log-sum-exp of an all
    # -inf row has a NaN gradient, so such rows see zeros in its place (double where).
    some = xp.max(rest, axis=-1) > -math.inf
    safe_rest = xp.where(some[..., None], rest, xp.zeros_like(rest))
    others = xp.where(some, logsumexp(xp, safe_rest, axis=-1), xp.full_like(lse, -math.inf)) - lse
    # The top class's q is replaced by 0 before log1p so that no gradient flows through
    # log1p(-1) = -inf on the branch that `where` discards.
    q_rest = xp.where(top, xp.zeros_like(z), xp.exp(z - lse[..., None]))
    return xp.where(top, others[..., None], xp.log1p(-q_rest))


@dataclass
class SoftmaxFocalForward:
    """The pieces of :func:`softmax_focal_loss` that its closed-form gradient reuses."""

    f: SoftmaxForward
    log_q: Any  # log softmax, class axis last
    coef: Any  # α_c × target coefficient: [..., C] for probabilities, [...] (at y) for indices
    log_q_t: Any  # log q at the target ([...]) for indices, else log_q
    log_1mq_t: Any  # log(1 - q) likewise, or None when gamma is the number 0
    gamma: Any  # a float or a 0-d array


def softmax_focal_forward(
    logits: Array,
    targets: Array,
    *,
    alpha: Array | float | None,
    gamma: float,
    axis: int,
    ignore_index: int | None,
    reduction: str,
) -> SoftmaxFocalForward:
    """Validate the inputs of :func:`softmax_focal_loss` and compute its log-space pieces."""
    f = softmax_forward(
        logits,
        targets,
        axis=axis,
        weight=None,
        ignore_index=ignore_index,
        label_smoothing=0.0,
        z_loss=0.0,
        logit_softcap=None,
        reduction=reduction,
    )
    xp, t, dtype = f.xp, f.targets, f.z.dtype
    gamma = _checks.option(xp, "gamma", gamma, dtype=dtype)
    alpha_c = None
    if _checks.is_scalar(alpha):
        alpha_c = _checks.option(xp, "alpha", alpha, dtype=dtype)  # one number for every class
    elif alpha is not None:
        alpha = asarray_in(xp, alpha, "alpha")
        namespace(f.z, alpha)
        _checks.class_weight(xp, alpha, t.n_classes, name="alpha")
        alpha_c = to_float(xp, alpha, dtype)
    log_q = f.z - f.lse[..., None]
    log_1mq = None if _checks.is_off(gamma) else log1m_softmax(xp, f.z, f.lse)
    if t.probs is not None:
        coef = t.probs if alpha_c is None else t.probs * alpha_c
        return SoftmaxFocalForward(f, log_q, coef, log_q, log_1mq, gamma)
    coef = f.row_weight  # the valid mask as floats (no class weights here)
    if alpha_c is not None:
        if isinstance(alpha_c, float) or alpha_c.ndim == 0:
            coef = coef * alpha_c
        else:
            flat = xp.take(alpha_c, xp.reshape(t.indices, (-1,)), axis=0)
            coef = coef * xp.reshape(flat, t.indices.shape)
    log_q_t = take_along_last(xp, log_q, t.indices)
    log_1mq_t = None if log_1mq is None else take_along_last(xp, log_1mq, t.indices)
    return SoftmaxFocalForward(f, log_q, coef, log_q_t, log_1mq_t, gamma)


@_checks.honours_validate
def softmax_focal_loss(
    logits: Array,
    targets: Array,
    *,
    alpha: Array | float | None = None,
    gamma: float = 2.0,
    axis: int = -1,
    ignore_index: int | None = -100,
    reduction: str = "mean",
    check: bool = False,
    validate: bool | None = None,
) -> Array:
    r"""Multi-class focal loss on the softmax: cross-entropy times :math:`(1 - q_y)^\gamma`.

    With :math:`q = \mathrm{softmax}(z)` along ``axis``, for class-index targets ``y``

    .. math:: \ell_i = -\alpha_{y_i}\, (1 - q_{i y_i})^\gamma \log q_{i y_i}

    and for probability targets ``t``,
    :math:`\ell_i = -\sum_c \alpha_c\, t_{ic}\, (1 - q_{ic})^\gamma \log q_{ic}`.
    ``alpha`` is a per-class weight vector (e.g. the output of
    :func:`crossent.class_balanced_weights`), or a number that scales every term, or
    ``None``: off (kornia ≥ 0.7 reads its scalar α as the vector ``[1 − α, α, …, α]``:
    pass that vector for its numbers). ``gamma=0`` is :func:`crossent.softmax_cross_entropy`
    (with ``weight=alpha``, up to the ``"mean"`` divisor below). :math:`\log(1 - q)` is
    computed from the logits (a log-sum-exp over the other classes), so confident logits
    and γ < 1 give finite gradients.

    ``"mean"`` divides by the number of non-ignored samples (probability targets: the
    number of samples), *not* by :math:`\sum_i \alpha_{y_i}` as ``softmax_cross_entropy``
    does with ``weight`` (DESIGN.md: only the class-weighted cross-entropy follows PyTorch's
    weighted mean). All-ignored batches give 0.

    Args:
        logits: unnormalised scores, classes along ``axis``.
        targets: integer class indices of ``logits``' shape without ``axis``, or
            probabilities of ``logits``' shape.
        alpha: ``None``, a non-negative number, or per-class weights of shape ``[C]``.
            Default: ``None``.
        gamma: focusing parameter γ ≥ 0. Default: ``2.0``.
        axis: the class axis. Default: ``-1``.
        ignore_index: class index whose samples count for nothing; ``None`` disables it.
            Default: ``-100``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        check: run :func:`crossent.task.check` on the pairing first. Default: ``False``.
        validate: value checks (label range, probabilities, row sums, weights) on
            (``True``) or off (``False``) for this call; ``None`` follows
            :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        0-d array for ``"mean"``/``"sum"``; for ``"none"`` the per-sample losses, shaped
        like ``logits`` without ``axis``. Same library and dtype as ``logits``.

    Raises:
        ValueError: the errors of :func:`crossent.softmax_cross_entropy`, a negative
            ``gamma`` or ``alpha``, an ``alpha`` vector of the wrong length.
        TypeError: non-floating ``logits`` or ``alpha``, non-integer index targets.

    References:
        Lin, Goyal, Girshick, He, Dollár. "Focal Loss for Dense Object Detection." ICCV 2017.
        https://arxiv.org/abs/1708.02002

    Example:
        >>> import numpy as np
        >>> from crossent import softmax_focal_loss
        >>> logits = np.log(np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]]))
        >>> np.round(softmax_focal_loss(logits, np.array([0, 0]), reduction="none"), 4)
        array([0.0011, 1.03  ])
    """
    if check:
        _guardrails.check(
            logits, targets, loss="softmax_focal_loss", axis=axis, ignore_index=ignore_index
        )
    s = softmax_focal_forward(
        logits,
        targets,
        alpha=alpha,
        gamma=gamma,
        axis=axis,
        ignore_index=ignore_index,
        reduction=reduction,
    )
    f, xp = s.f, s.f.xp
    coef = s.coef
    if s.log_1mq_t is not None:
        coef = coef * modulating_factor(xp, s.log_1mq_t, s.gamma)
    loss = -mul_log(xp, coef, s.log_q_t)
    if f.targets.probs is not None:
        loss = xp.sum(loss, axis=-1)
    return to_float(xp, _reduce.reduce(xp, loss, reduction, f.divisor), f.out_dtype)


# ---------------------------------------------------------------------------------------
# Asymmetric loss
# ---------------------------------------------------------------------------------------


@dataclass
class AsymmetricForward:
    """The pieces of :func:`asymmetric_loss` that its closed-form gradient reuses."""

    b: BinaryInputs
    log_p: Any  # log σ(z)
    log_1mp: Any  # log σ(-z)
    shifted: Any  # bool: p > clip (the negative term is active); None without clip
    u: Any  # p_m = max(p - clip, 0), with 1 where inactive; None without clip
    log_u: Any  # log p_m (log σ(z) without clip)
    log_1mu: Any  # log(1 - p_m) (log σ(-z) without clip)
    gamma_pos: Any  # each a float or a 0-d array
    gamma_neg: Any
    clip: Any


def asymmetric_forward(
    logits: Array,
    targets: Array,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float | None,
    weight: Array | None,
    reduction: str,
) -> AsymmetricForward:
    """Validate the inputs of :func:`asymmetric_loss` and compute its log-space pieces."""
    b = prepare_binary(
        logits, targets, pred_name="logits", weight=weight, label_smoothing=0.0, reduction=reduction
    )
    xp, dtype = b.xp, b.z.dtype
    gamma_pos = _checks.option(xp, "gamma_pos", gamma_pos, dtype=dtype)
    gamma_neg = _checks.option(xp, "gamma_neg", gamma_neg, dtype=dtype)
    m = 0.0 if clip is None else _checks.option(xp, "clip", clip, dtype=dtype, high=1.0)
    log_p, log_1mp = log_sigmoid(xp, b.z), log_sigmoid(xp, -b.z)
    if _checks.is_off(m):
        return AsymmetricForward(
            b, log_p, log_1mp, None, None, log_p, log_1mp, gamma_pos, gamma_neg, m
        )
    p = xp.exp(log_p)
    shifted = p > m
    # Where p <= m the negative term is 0; u is set to 1 there (any value in (0, 1) would
    # do) so that neither log(u) nor its gradient is evaluated at 0.
    u = xp.where(shifted, p - m, xp.ones_like(p))
    log_u = xp.log(u)
    # 1 - p_m = 1 - p + m >= m > 0: log1p(-u) is exact and bounded by log(m).
    log_1mu = xp.where(shifted, xp.log1p(-xp.where(shifted, u, xp.zeros_like(u))), xp.zeros_like(u))
    return AsymmetricForward(b, log_p, log_1mp, shifted, u, log_u, log_1mu, gamma_pos, gamma_neg, m)


@_checks.honours_validate
def asymmetric_loss(
    logits: Array,
    targets: Array,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float | None = 0.05,
    weight: Array | None = None,
    reduction: str = "mean",
    check: bool = False,
    validate: bool | None = None,
) -> Array:
    r"""Asymmetric loss for multi-label classification (Ridnik et al. 2021).

    With :math:`p = \sigma(z)` and the *shifted* probability of negatives
    :math:`p_m = \max(p - m, 0)` (``m`` = ``clip``):

    .. math:: \ell = -w \Big[\, y\, (1 - p)^{\gamma_+} \log p
        + (1 - y)\, p_m^{\gamma_-} \log(1 - p_m) \,\Big]

    Positives are focal-weighted with :math:`\gamma_+`, negatives with a larger
    :math:`\gamma_-`, and a negative whose probability is at most ``clip`` contributes
    nothing at all (hard thresholding of very easy negatives); above it, its loss is that
    of the probability :math:`p - m`, so it never exceeds :math:`-\log m` — mislabelled
    negatives (missing labels) cannot dominate. ``clip=None`` (or 0) is no shift, and
    ``gamma_pos=gamma_neg=0, clip=None`` is :func:`crossent.sigmoid_binary_cross_entropy`.

    Everything is in log space: :math:`\log p` is ``log_sigmoid(z)``, not timm's
    ``log(max(p, 1e-8))``, which caps a wrong positive's loss at 18.4; and
    :math:`\log(1 - p_m) = \mathrm{log1p}(-(p - m))`. The focal weights are differentiated
    (timm's ``disable_torch_grad_focal_loss=False``). ``"mean"`` divides by the number of
    elements; timm and the paper's code return the sum (``reduction="sum"``).

    Args:
        logits: ``[N, L]`` (or any shape), one logit per label.
        targets: same shape, values in [0, 1].
        gamma_pos: γ₊ ≥ 0, focusing of positives. Default: ``0.0``.
        gamma_neg: γ₋ ≥ 0, focusing of negatives. Default: ``4.0``.
        clip: probability margin ``m`` in [0, 1) of the negatives' shift; ``None`` is off.
            Default: ``0.05``.
        weight: elementwise weight broadcastable to ``logits``. Default: ``None``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        check: run :func:`crossent.task.check` on the pairing first. Default: ``False``.
        validate: value checks (label range, probabilities, row sums, weights) on
            (``True``) or off (``False``) for this call; ``None`` follows
            :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        0-d array, or the elementwise losses of ``logits``' shape for ``"none"``; same
        library and dtype as ``logits``.

    Raises:
        ValueError: shape mismatch, targets outside [0, 1], negative γ, ``clip`` outside
            [0, 1), an unknown ``reduction``.
        TypeError: non-floating ``logits`` or ``weight``.

    References:
        Ridnik, Ben-Baruch, Zamir, Noy, Friedman, Protter, Zelnik-Manor. "Asymmetric Loss
        For Multi-Label Classification." ICCV 2021. https://arxiv.org/abs/2009.14119

    Example:
        >>> import numpy as np
        >>> from crossent import asymmetric_loss
        >>> z = np.array([[-3.0, 0.0, 1.0]])  # negative below the clip, negative, positive
        >>> np.round(asymmetric_loss(z, np.array([[0.0, 0.0, 1.0]]), reduction="none"), 4)
        array([[0.    , 0.0245, 0.3133]])
    """
    if check:
        _guardrails.check(logits, targets, loss="asymmetric_loss")
    a = asymmetric_forward(
        logits,
        targets,
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        weight=weight,
        reduction=reduction,
    )
    xp, b = a.b.xp, a.b
    pos = -a.log_p
    if not _checks.is_off(a.gamma_pos):
        pos = modulating_factor(xp, a.log_1mp, a.gamma_pos) * pos
    neg = -a.log_1mu
    if not _checks.is_off(a.gamma_neg):
        neg = modulating_factor(xp, a.log_u, a.gamma_neg) * neg
    if a.shifted is not None:
        neg = xp.where(a.shifted, neg, xp.zeros_like(neg))
    loss = b.y * pos + (1 - b.y) * neg
    if b.weight is not None:
        loss = loss * b.weight
    return to_float(xp, _reduce.reduce(xp, loss, reduction), b.out_dtype)
