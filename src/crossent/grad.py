r"""Closed-form gradients of each loss with respect to its input.

``crossent.grad.<loss>(...)`` takes the loss's own arguments and returns
:math:`\partial L / \partial z` for the logits ``z`` (for the probability-input losses
``categorical_cross_entropy`` and ``binary_cross_entropy``: with respect to the
probabilities), an array shaped like that input, in its library and dtype, and takes
``validate=`` as the losses do. ``L`` is the reduced loss; for ``reduction="none"`` it is the sum of the unreduced losses (the
gradient each element's own loss contributes).

These are the one source of truth for the fused kernels' backward passes, and each is
tested against autograd and finite differences. The famous special case is the articles'
:math:`\partial L / \partial z_j = a_j - y_j` for softmax + CE and sigmoid + BCE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from crossent import _checks, _reduce
from crossent._array import (
    DEFAULT_EPS,
    Array,
    move_class_axis_back,
    mul_log,
    numel,
    one_hot_mask,
    sigmoid,
    to_float,
)
from crossent.losses._rows import block_gradient, softmax_gradient_row_scale
from crossent.losses.binary import check_pos_weight, prepare_binary, prepare_binary_probs
from crossent.losses.categorical import (
    SoftmaxTargets,
    categorical_forward,
    coefficients,
    row_weight,
    softmax_forward,
)
from crossent.losses.focal import (
    asymmetric_forward,
    modulating_factor,
    sigmoid_focal_forward,
    softmax_focal_forward,
)
from crossent.losses.ghm import ghm_forward, weights_from_forward

__all__ = [
    "asymmetric_loss",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "ghm_classification_loss",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_cross_entropy",
    "softmax_focal_loss",
]


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
    validate: bool | None = None,
) -> Array:
    r"""Gradient of :func:`crossent.softmax_cross_entropy` with respect to ``logits``.

    With :math:`q = \mathrm{softmax}(z')`, target coefficients ``a`` (see
    :mod:`crossent.losses.categorical`), sample weight :math:`r_i` and
    :math:`s = \mathrm{logsumexp}(z')`:

    .. math:: \frac{\partial \ell_i}{\partial z'_{ij}} = q_{ij} \Big(\sum_c a_{ic}
        + 2 \lambda_z r_i s_i\Big) - a_{ij}, \qquad
        \frac{\partial z'}{\partial z} = 1 - (z'/c)^2 \text{ when soft-capped at } c,

    divided by the ``"mean"`` divisor. Without options this is :math:`q - y`.

    Example:
        >>> import numpy as np
        >>> from crossent import grad
        >>> g = grad.softmax_cross_entropy(np.log(np.array([[0.2, 0.7, 0.1]])), np.array([1]))
        >>> np.round(g, 4)
        array([[ 0.2, -0.3,  0.1]])
    """
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
    a = coefficients(xp, f.targets, f.z.dtype)
    k = softmax_gradient_row_scale(
        xp, xp.sum(a, axis=-1), z_loss=f.z_loss, row_weight=f.row_weight, lse=f.lse
    )
    g = block_gradient(xp, f.z, f.lse, k, coef=a, cap=f.cap)
    g = _reduce.scale_gradient(xp, g, reduction, f.divisor)
    return to_float(xp, move_class_axis_back(xp, g, f.axis), f.out_dtype)


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
    validate: bool | None = None,
) -> Array:
    r"""Gradient of :func:`crossent.categorical_cross_entropy` with respect to ``probs``.

    .. math:: \frac{\partial \ell_i}{\partial q_{ij}} = -\frac{a_{ij}}{q_{ij}}
        \quad (0 \text{ where } q_{ij} < \epsilon, \text{ the clamp's flat region})

    Note this is the gradient with respect to the *probabilities*; chained through a
    softmax it gives :func:`softmax_cross_entropy`'s ``q - y``.
    """
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
    a = coefficients(xp, f.targets, f.z.dtype)
    above = f.z >= f.eps
    g = xp.where(above, -a / xp.where(above, f.z, xp.ones_like(f.z)), xp.zeros_like(f.z))
    g = _reduce.scale_gradient(xp, g, reduction, f.divisor)
    return to_float(xp, move_class_axis_back(xp, g, f.axis), f.out_dtype)


@_checks.honours_validate
def sigmoid_binary_cross_entropy(
    logits: Array,
    targets: Array,
    *,
    weight: Array | None = None,
    pos_weight: Array | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Array:
    r"""Gradient of :func:`crossent.sigmoid_binary_cross_entropy` with respect to ``logits``.

    .. math:: \frac{\partial \ell}{\partial z} = w \big[\sigma(z)\,(1 - y + p_w y) - p_w y\big]

    which is the articles' :math:`\sigma(z) - y` without weights; divided by the number of
    elements for ``"mean"``.

    Example:
        >>> import numpy as np
        >>> from crossent import grad
        >>> grad.sigmoid_binary_cross_entropy(np.array([0.0, 0.0]), np.array([1.0, 0.0]))
        array([-0.25,  0.25])
    """
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
    s = sigmoid(xp, b.z)
    if pos_weight is None:
        g = s - b.y
    else:
        pw = check_pos_weight(xp, pos_weight, tuple(b.z.shape), b.z.dtype)
        g = s * (1 - b.y + pw * b.y) - pw * b.y
    if b.weight is not None:
        g = g * b.weight
    g = _reduce.scale_gradient(xp, g, reduction, numel(b.z))
    return to_float(xp, g, b.out_dtype)


@_checks.honours_validate
def binary_cross_entropy(
    probs: Array,
    targets: Array,
    *,
    weight: Array | None = None,
    eps: float = DEFAULT_EPS,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Array:
    r"""Gradient of :func:`crossent.binary_cross_entropy` with respect to ``probs``.

    .. math:: \frac{\partial \ell}{\partial p} = w \Big[-\frac{y}{p} + \frac{1 - y}{1 - p}\Big]

    each term 0 where its clamp is active (``p < ε`` or ``1 - p < ε``).
    """
    b, eps = prepare_binary_probs(probs, targets, weight=weight, eps=eps, reduction=reduction)
    xp = b.xp
    p, one = b.z, xp.ones_like(b.z)
    zero = xp.zeros_like(p)
    pos = xp.where(p >= eps, -b.y / xp.where(p >= eps, p, one), zero)
    neg = xp.where(1 - p >= eps, (1 - b.y) / xp.where(1 - p >= eps, 1 - p, one), zero)
    g = pos + neg
    if b.weight is not None:
        g = g * b.weight
    g = _reduce.scale_gradient(xp, g, reduction, numel(p))
    return to_float(xp, g, b.out_dtype)


# ---------------------------------------------------------------------------------------
# Imbalanced and hard data: focal, GHM-C, asymmetric
# ---------------------------------------------------------------------------------------


@_checks.honours_validate
def sigmoid_focal_loss(
    logits: Array,
    targets: Array,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    weight: Array | None = None,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Array:
    r"""Gradient of :func:`crossent.sigmoid_focal_loss` with respect to ``logits``.

    With :math:`p = \sigma(z)`, :math:`M = (1 - p_t)^\gamma` and
    :math:`\mathrm{CE} = -y \log p - (1 - y) \log(1 - p)`:

    .. math:: \frac{\partial \ell}{\partial z} = w\, \alpha_t\, M \Big[\gamma (1 - 2y)
        \frac{p (1 - p)}{1 - p_t}\, \mathrm{CE} + p - y\Big]

    which for a positive is :math:`\alpha (1-p)^\gamma (\gamma p \log p + p - 1)` and for
    γ = 0 the α-weighted :math:`p - y`. The ratio :math:`p(1-p)/(1-p_t) \le 1` is formed
    in log space; divided by the number of elements for ``"mean"``.

    Example:
        >>> import numpy as np
        >>> from crossent import grad
        >>> np.round(grad.sigmoid_focal_loss(np.array([0.0]), np.array([1.0]), gamma=0.0), 4)
        array([-0.125])
    """
    f = sigmoid_focal_forward(
        logits, targets, alpha=alpha, gamma=gamma, weight=weight, reduction=reduction
    )
    xp, b = f.b.xp, f.b
    g = xp.exp(f.log_p) - b.y
    if f.log_1mpt is not None:
        ce = -(mul_log(xp, b.y, f.log_p) + mul_log(xp, 1 - b.y, f.log_1mp))
        ratio = xp.exp(f.log_p + f.log_1mp - f.log_1mpt)
        g = modulating_factor(xp, f.log_1mpt, f.gamma) * (f.gamma * (1 - 2 * b.y) * ratio * ce + g)
    if f.alpha_t is not None:
        g = f.alpha_t * g
    if b.weight is not None:
        g = g * b.weight
    g = _reduce.scale_gradient(xp, g, reduction, numel(b.z))
    return to_float(xp, g, b.out_dtype)


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
    validate: bool | None = None,
) -> Array:
    r"""Gradient of :func:`crossent.softmax_focal_loss` with respect to ``logits``.

    For :math:`\ell = -\sum_c a_c (1 - q_c)^\gamma \log q_c` (``a`` = α × one-hot or
    probability targets), with

    .. math:: b_c = a_c (1 - q_c)^\gamma \Big(1 + \gamma\, q_c \frac{-\log q_c}{1 - q_c}\Big),
        \qquad \frac{\partial \ell}{\partial z_j} = q_j \sum_c b_c - b_j

    the cross-entropy gradient :math:`q - y` with coefficients ``b`` in place of ``a``.
    :math:`(-\log q)/(1 - q)` is evaluated as :math:`x / (1 - e^{-x})` with
    :math:`x = -\log q` (1 at :math:`x = 0`), so it stays finite for saturated logits and
    γ < 1. Divided by the ``"mean"`` divisor of the loss.

    Example:
        >>> import numpy as np
        >>> from crossent import grad
        >>> g = grad.softmax_focal_loss(np.log(np.array([[0.2, 0.7, 0.1]])), np.array([1]), gamma=0.0)
        >>> np.round(g, 4)
        array([[ 0.2, -0.3,  0.1]])
    """
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
    q = xp.exp(s.log_q)
    b = s.coef
    if s.log_1mq_t is not None:
        x = xp.maximum(-s.log_q_t, xp.zeros_like(s.log_q_t))
        # x / (1 - e^{-x}) = -log q / (1 - q), whose limit at q = 1 is 1; q times it tends
        # to 0 as q -> 0 (x -> inf: a masked logit), where it is set to 0 directly.
        usual = (x > 0) & (x < math.inf)
        x_safe = xp.where(usual, x, xp.ones_like(x))
        ratio = xp.where(usual, x_safe / -xp.expm1(-x_safe), xp.ones_like(x))
        q_ratio = xp.where(x < math.inf, xp.exp(s.log_q_t) * ratio, xp.zeros_like(x))
        focus = 1 + s.gamma * q_ratio
        b = b * modulating_factor(xp, s.log_1mq_t, s.gamma) * focus
    if f.targets.probs is not None:
        g = q * xp.sum(b, axis=-1, keepdims=True) - b
    else:
        onehot = one_hot_mask(xp, f.targets.indices, f.targets.n_classes, q.dtype)
        g = b[..., None] * (q - onehot)
    g = _reduce.scale_gradient(xp, g, reduction, f.divisor)
    return to_float(xp, move_class_axis_back(xp, g, f.axis), f.out_dtype)


@_checks.honours_validate
def ghm_classification_loss(
    logits: Array,
    targets: Array,
    *,
    bins: int = 10,
    density: Array | None = None,
    weight: Array | None = None,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Array:
    r"""Gradient of :func:`crossent.ghm_classification_loss` with respect to ``logits``.

    .. math:: \frac{\partial L}{\partial z_i} = \frac{\beta_i\, w_i\, (\sigma(z_i) - y_i)}{N}

    with the GHM weights :math:`\beta` held constant (as mmdetection detaches them) and
    ``N`` the number of valid elements for ``"mean"``.

    Example:
        >>> import numpy as np
        >>> from crossent import grad
        >>> z = np.array([-5.0, -5.0, -5.0, 0.0])
        >>> np.round(grad.ghm_classification_loss(z, np.zeros(4), bins=2), 4)
        array([0.0011, 0.0011, 0.0011, 0.25  ])
    """
    f = ghm_forward(logits, targets, bins=bins, weight=weight, reduction=reduction)
    xp, b = f.b.xp, f.b
    g = weights_from_forward(xp, f, density) * (sigmoid(xp, b.z) - b.y)
    if b.weight is not None:
        g = g * b.weight
    g = _reduce.scale_gradient(xp, g, reduction, f.n_valid)
    return to_float(xp, g, b.out_dtype)


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
    validate: bool | None = None,
) -> Array:
    r"""Gradient of :func:`crossent.asymmetric_loss` with respect to ``logits``.

    With :math:`p = \sigma(z)`, :math:`u = p_m = p - m` where :math:`p > m`:

    .. math:: \frac{\partial \ell}{\partial z} = w \Big[\, y\, (1-p)^{\gamma_+}
        \big(\gamma_+ p \log p - (1 - p)\big)
        + (1 - y)\, p(1-p)\, u^{\gamma_-} \Big(\frac{1}{1 - u}
        + \gamma_- \frac{-\log(1 - u)}{u}\Big) \Big]

    the negative part being 0 where :math:`p \le m`. :math:`-\log(1-u)/u` tends to 1 as
    :math:`u \to 0`, so the factor :math:`u^{\gamma_- - 1}` of the naive derivative never
    appears. Divided by the number of elements for ``"mean"``.

    Example:
        >>> import numpy as np
        >>> from crossent import grad
        >>> z, y = np.array([0.0, 0.0]), np.array([1.0, 0.0])
        >>> np.round(grad.asymmetric_loss(z, y, gamma_neg=0.0, clip=None, reduction="sum"), 4)
        array([-0.5,  0.5])
    """
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
    p, one_minus_p = xp.exp(a.log_p), xp.exp(a.log_1mp)
    pos = -one_minus_p
    if not _checks.is_off(a.gamma_pos):
        pos = modulating_factor(xp, a.log_1mp, a.gamma_pos) * (a.gamma_pos * p * a.log_p + pos)
    if a.shifted is None:
        # No shift: u = p, and p(1-p)/(1-u) = p, -log(1-u)(1-p)p/u = -(1-p) log(1-p).
        neg = p
        if not _checks.is_off(a.gamma_neg):
            neg = modulating_factor(xp, a.log_u, a.gamma_neg) * (
                p - a.gamma_neg * one_minus_p * a.log_1mp
            )
    else:
        dp = xp.exp(a.log_p + a.log_1mp)
        inner = xp.exp(-a.log_1mu)
        if not _checks.is_off(a.gamma_neg):
            inner = inner + a.gamma_neg * (-a.log_1mu / a.u)
            dp = dp * modulating_factor(xp, a.log_u, a.gamma_neg)
        neg = xp.where(a.shifted, dp * inner, xp.zeros_like(dp))
    g = b.y * pos + (1 - b.y) * neg
    if b.weight is not None:
        g = g * b.weight
    g = _reduce.scale_gradient(xp, g, reduction, numel(b.z))
    return to_float(xp, g, b.out_dtype)


# ---------------------------------------------------------------------------------------
# Pieces of the softmax closed form shared with the fused kernels (crossent.torch.fused),
# which evaluate ∂ℓ_i/∂z'_ij = q_ij k_i − a_ij row by row without a dense ``a``: the row
# factor k_i and the block gradient are crossent.losses._rows's; the sparse coefficients
# of class-index targets are below.
# ---------------------------------------------------------------------------------------


@dataclass
class IndexCoefficients:
    r"""Sparse target coefficients of class-index targets:
    :math:`a_{ij} = h_i [j = y_i] + u_i w_j` (``w ≡ 1`` without class weights)."""

    target: Array  # h_i = valid_i (1 − ε) w_{y_i}
    smooth: Array  # u_i = valid_i ε / C
    total: Array  # Σ_j a_ij = h_i + u_i Σ_j w_j


def softmax_index_coefficients(xp: Any, t: SoftmaxTargets, dtype: Any) -> IndexCoefficients:
    """:func:`crossent.losses.categorical.coefficients` for class-index targets, per row.

    The same numbers without the dense ``[..., C]`` array, for kernels that work one row
    block at a time.
    """
    if t.indices is None:
        raise ValueError("internal: sparse coefficients need class-index targets.")
    valid = xp.astype(t.valid, dtype)
    w_target = row_weight(xp, t, dtype)  # valid_i w_{y_i}
    target = (1 - t.smoothing) * w_target
    smooth = (t.smoothing / t.n_classes) * valid
    w_sum = t.n_classes if t.weight is None else xp.sum(t.weight)
    return IndexCoefficients(target=target, smooth=smooth, total=target + smooth * w_sum)


# ---------------------------------------------------------------------------------------
# Knowledge distillation
# ---------------------------------------------------------------------------------------

from crossent.losses.distillation import (  # noqa: E402
    DistillationOptions,
    RowLogProbs,
    distillation_forward,
    kl_rows,
    log_ratio,
    row_log_probs,
    row_mask,
)

__all__ += ["distillation_loss"]


def mode_seeking_gradient(xp: Any, log_q: Array, log_r: Array) -> Array:
    r""":math:`\partial\, \mathrm{KL}(Q \,\|\, R) / \partial s` for :math:`Q = \mathrm{softmax}(s)`
    and a constant :math:`R`, class axis last:

    .. math:: \frac{\partial}{\partial s_j} \sum_c q_c (\log q_c - \log r_c)
        = q_j \big(\log q_j - \log r_j - \mathrm{KL}(Q \,\|\, R)\big)

    (the derivative of :math:`\log q_c` sums to :math:`q_j - q_j = 0`); 0 where
    :math:`q_j = 0`.
    """
    kl = kl_rows(xp, log_q, log_r)
    return mul_log(xp, xp.exp(log_q), log_ratio(xp, log_q, log_r) - kl[..., None])


def divergence_gradient(xp: Any, lp: RowLogProbs, opts: DistillationOptions) -> Array:
    r""":math:`\partial D_i / \partial u_{ij}` of each row's divergence with respect to the
    student's tempered logits :math:`u = s / T` (class axis last):

    * ``"kl"``: :math:`q - p`, the articles' ``a − y`` with the teacher as the target;
    * ``"reverse_kl"``: :math:`q_j (\log q_j - \log p_j - \mathrm{KL}(Q\|P))`;
    * ``"jsd"``: :math:`(1 - \beta)\, q_j (\log q_j - \log m_j - \mathrm{KL}(Q\|M))` — with
      :math:`\sum_c m_c \log m_c` written out, the terms of :math:`\log m` in the
      derivative cancel, leaving :math:`(1-\beta)` times the reverse-KL form against
      :math:`M`.
    """
    if opts.divergence == "kl":
        return xp.exp(lp.log_q) - xp.exp(lp.log_p)
    if opts.divergence == "reverse_kl":
        return mode_seeking_gradient(xp, lp.log_q, lp.log_p)
    return (1 - opts.beta) * mode_seeking_gradient(xp, lp.log_q, lp.log_m)


def distillation_rows_gradient(
    xp: Any,
    student: Array,
    teacher: Array,
    targets: Array | None,
    opts: DistillationOptions,
    lp: RowLogProbs | None = None,
) -> Array:
    r"""Gradient of the sum of :func:`crossent.losses.distillation.rows_loss` with respect to
    ``student`` (class axis last, compute dtype): 0 on rows that do not count,

    .. math:: (1 - \alpha)\, T\, \frac{\partial D_i}{\partial u_i}
        + \alpha\, (\mathrm{softmax}(s_i) - y_i),

    the :math:`T^2` of the loss times the :math:`1/T` of :math:`u = s / T`; ``lp`` are the
    rows' :func:`~crossent.losses.distillation.row_log_probs` when the caller has them. The
    fused loss calls this on each chunk of rows.
    """
    valid = row_mask(xp, targets, opts.ignore_index)
    alpha = opts.hard_weight
    g = None
    if alpha < 1:
        if lp is None:
            lp = row_log_probs(xp, student, teacher, valid, opts)
        g = ((1 - alpha) * opts.temperature) * divergence_gradient(xp, lp, opts)
        if valid is not None:
            g = xp.where(valid[..., None], g, xp.zeros_like(g))
    if alpha > 0:
        hard = alpha * softmax_cross_entropy(
            student, targets, ignore_index=opts.ignore_index, reduction="none", validate=False
        )
        g = hard if g is None else g + hard
    return g


@_checks.honours_validate
def distillation_loss(
    student_logits: Array,
    teacher_logits: Array,
    *,
    temperature: float = 1.0,
    divergence: str = "kl",
    beta: float = 0.5,
    targets: Array | None = None,
    ignore_index: int | None = -100,
    hard_weight: float = 0.0,
    axis: int = -1,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Array:
    r"""Gradient of :func:`crossent.distillation_loss` with respect to ``student_logits``.

    With :math:`Q = \mathrm{softmax}(s/T)`, :math:`P = \mathrm{softmax}(t/T)` and
    :math:`\alpha` = ``hard_weight``, for each row that counts

    .. math:: \frac{\partial \ell_i}{\partial s_{ij}} = (1 - \alpha)\, T\, g_{ij}
        + \alpha\, (\mathrm{softmax}(s_i)_j - [j = y_i]),

    with :math:`g = q - p` for ``"kl"`` (so :math:`T (q - p)`: Hinton's :math:`T^2` makes
    the gradient :math:`T` times the tempered ``a − y``),
    :math:`g_j = q_j (\log q_j - \log p_j - \mathrm{KL}(Q\|P))` for ``"reverse_kl"`` and
    :math:`g_j = (1-\beta)\, q_j (\log q_j - \log m_j - \mathrm{KL}(Q\|M))` for ``"jsd"``;
    divided by the number of rows that count for ``"mean"``. The teacher gets none.

    Example:
        >>> import numpy as np
        >>> from crossent import grad
        >>> teacher = np.log(np.array([[0.5, 0.5]]))
        >>> student = np.log(np.array([[0.25, 0.75]]))
        >>> grad.distillation_loss(student, teacher)  # q - p
        array([[-0.25,  0.25]])
    """
    f = distillation_forward(
        student_logits,
        teacher_logits,
        temperature=temperature,
        divergence=divergence,
        beta=beta,
        targets=targets,
        ignore_index=ignore_index,
        hard_weight=hard_weight,
        axis=axis,
        reduction=reduction,
    )
    xp = f.xp
    g = distillation_rows_gradient(xp, f.student, f.teacher, f.targets, f.opts)
    g = _reduce.scale_gradient(xp, g, reduction, f.divisor)
    return to_float(xp, move_class_axis_back(xp, g, f.axis), f.out_dtype)


# ---------------------------------------------------------------------------------------
# Noise-robust cross-entropies (crossent.losses.robust). Each gradient has the softmax
# form ∂ℓ_i/∂z_ij = p_ij Σ_c b_ic − b_ij for coefficients b that the loss sets; the
# bi-tempered loss has no entry: its normaliser is a fixed-point iteration, and its
# gradient is by autograd (see crossent.bi_tempered_logistic_loss).
# ---------------------------------------------------------------------------------------

from crossent.losses import robust as _robust  # noqa: E402

__all__ += ["generalized_cross_entropy", "poly1_cross_entropy", "symmetric_cross_entropy"]


def _softmax_form(xp: Any, p: Array, b: Array) -> Array:
    r""":math:`p_j \sum_c b_c - b_j`: the derivative of :math:`-\sum_c b_c \log p_c` with
    ``b`` held fixed, through the softmax (class axis last)."""
    return p * xp.sum(b, axis=-1, keepdims=True) - b


def _robust_result(r: _robust.RobustForward, g: Array, reduction: str) -> Array:
    """``g`` (class axis last) scaled by the ``"mean"`` divisor, in the input's layout and dtype."""
    xp = r.f.xp
    g = _reduce.scale_gradient(xp, g, reduction, r.divisor)
    return to_float(xp, move_class_axis_back(xp, g, r.f.axis), r.f.out_dtype)


@_checks.honours_validate
def generalized_cross_entropy(
    logits: Array,
    targets: Array,
    *,
    q: float = 0.7,
    axis: int = -1,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Array:
    r"""Gradient of :func:`crossent.generalized_cross_entropy` with respect to ``logits``.

    From :math:`\partial p_c^q / \partial z_j = q\, p_c^q (\delta_{cj} - p_j)`:

    .. math:: \frac{\partial \ell_i}{\partial z_{ij}} = p_{ij} \sum_c b_{ic} - b_{ij},
        \qquad b_{ic} = a_{ic}\, p_{ic}^{\,q}

    the cross-entropy gradient with each target's coefficient weighted by :math:`p^q`
    (:math:`w_y p_y^q (p - e_y)` for a class index). Divided by the ``"mean"`` divisor.

    Example:
        >>> import numpy as np
        >>> from crossent import grad
        >>> g = grad.generalized_cross_entropy(np.log(np.array([[0.25, 0.75]])), np.array([0]), q=1.0)
        >>> np.round(g, 4)
        array([[-0.1875,  0.1875]])
    """
    r = _robust.robust_forward(
        logits,
        targets,
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=0.0,
        reduction=reduction,
    )
    xp = r.f.xp
    q = _robust.check_q(xp, q, r.f.z.dtype)
    a = coefficients(xp, r.f.targets, r.f.z.dtype)
    b = a * xp.exp(q * r.log_p)
    return _robust_result(r, _softmax_form(xp, xp.exp(r.log_p), b), reduction)


@_checks.honours_validate
def poly1_cross_entropy(
    logits: Array,
    targets: Array,
    *,
    epsilon: float = 1.0,
    label_smoothing: float = 0.0,
    axis: int = -1,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Array:
    r"""Gradient of :func:`crossent.poly1_cross_entropy` with respect to ``logits``.

    With :math:`S_i = \sum_c a_{ic} p_{ic}` (:math:`w_y p_y` for a class index):

    .. math:: \frac{\partial \ell_i}{\partial z_{ij}} = \Big(p_{ij} \sum_c a_{ic} - a_{ij}\Big)
        + \varepsilon\, p_{ij} (S_i - a_{ij})

    the cross-entropy's :math:`p - y` plus ε times the derivative of
    :math:`-\sum_c a_c p_c`. Divided by the ``"mean"`` divisor.

    Example:
        >>> import numpy as np
        >>> from crossent import grad
        >>> g = grad.poly1_cross_entropy(np.log(np.array([[0.25, 0.75]])), np.array([0]))
        >>> np.round(g, 4)
        array([[-0.9375,  0.9375]])
    """
    r = _robust.robust_forward(
        logits,
        targets,
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    xp = r.f.xp
    epsilon = _robust.check_epsilon(xp, epsilon, r.f.z.dtype)
    a = coefficients(xp, r.f.targets, r.f.z.dtype)
    p = xp.exp(r.log_p)
    g = _softmax_form(xp, p, a)
    if not _checks.is_off(epsilon):
        s = xp.sum(a * p, axis=-1, keepdims=True)
        g = g + epsilon * p * (s - a)
    return _robust_result(r, g, reduction)


@_checks.honours_validate
def symmetric_cross_entropy(
    logits: Array,
    targets: Array,
    *,
    alpha: float = 0.1,
    beta: float = 1.0,
    log_zero: float = -4.0,
    axis: int = -1,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Array:
    r"""Gradient of :func:`crossent.symmetric_cross_entropy` with respect to ``logits``.

    With :math:`L_{ic} = \max(\log y_{ic}, A)` and :math:`r_i = \sum_c a_{ic}`:

    .. math:: \frac{\partial \ell_i}{\partial z_{ij}} = \alpha \Big(p_{ij} \sum_c a_{ic}
        - a_{ij}\Big) - \beta\, r_i\, p_{ij} \Big(L_{ij} - \sum_c p_{ic} L_{ic}\Big)

    which for a class index is :math:`\alpha (p - e_y) + \beta A\, p_j ([j \ne y] - (1 - p_y))`
    without weights. Divided by the ``"mean"`` divisor.

    Example:
        >>> import numpy as np
        >>> from crossent import grad
        >>> g = grad.symmetric_cross_entropy(np.log(np.array([[0.25, 0.75]])), np.array([0]))
        >>> np.round(g, 4)
        array([[-0.825,  0.825]])
    """
    r = _robust.robust_forward(
        logits,
        targets,
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=0.0,
        reduction=reduction,
    )
    xp = r.f.xp
    alpha, beta, log_zero = _robust.check_sce_options(xp, alpha, beta, log_zero, r.f.z.dtype)
    a = coefficients(xp, r.f.targets, r.f.z.dtype)
    p = xp.exp(r.log_p)
    logs = _robust.reverse_log_targets(xp, r, log_zero)
    centred = logs - xp.sum(p * logs, axis=-1, keepdims=True)
    g = alpha * _softmax_form(xp, p, a)
    g = g - beta * _robust.target_weight(xp, r)[..., None] * p * centred
    return _robust_result(r, g, reduction)
