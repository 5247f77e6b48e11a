r"""Closed-form gradients of each loss with respect to its input.

``crossent.grad.<loss>(...)`` takes the loss's own arguments and returns
:math:`\partial L / \partial z` for the logits ``z`` (for the probability-input losses
``categorical_cross_entropy`` and ``binary_cross_entropy``: with respect to the
probabilities), an array shaped like that input, in its library and dtype. ``L`` is the
reduced loss; for ``reduction="none"`` it is the sum of the unreduced losses (the
gradient each element's own loss contributes).

These are the one source of truth for the fused kernels' backward passes, and each is
tested against autograd and finite differences. The famous special case is seed 002's
:math:`\partial L / \partial z_j = a_j - y_j` for softmax + CE and sigmoid + BCE.
"""

from __future__ import annotations

from typing import Any

from crossent import _checks, _reduce
from crossent._array import Array, move_class_axis_back, numel, sigmoid, to_float
from crossent.losses.binary import check_pos_weight, prepare_binary
from crossent.losses.categorical import (
    DEFAULT_EPS,
    categorical_forward,
    coefficients,
    softmax_forward,
)

__all__ = [
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
]


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
        logits, targets, axis=axis, weight=weight, ignore_index=ignore_index,
        label_smoothing=label_smoothing, z_loss=z_loss, logit_softcap=logit_softcap,
        reduction=reduction,
    )
    xp = f.xp
    q = xp.exp(f.z - f.lse[..., None])
    a = coefficients(xp, f.targets, f.z.dtype)
    scale = xp.sum(a, axis=-1)
    if z_loss:
        scale = scale + 2 * z_loss * f.row_weight * f.lse
    g = q * scale[..., None] - a
    g = _reduce.scale_gradient(xp, g, reduction, f.divisor)
    if logit_softcap is not None:
        g = g * (1 - (f.z / logit_softcap) ** 2)
    return to_float(xp, move_class_axis_back(xp, g, f.axis), f.out_dtype)


def categorical_cross_entropy(
    probs: Array,
    targets: Array,
    *,
    axis: int = -1,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    eps: float = DEFAULT_EPS,
    reduction: str = "mean",
) -> Array:
    r"""Gradient of :func:`crossent.categorical_cross_entropy` with respect to ``probs``.

    .. math:: \frac{\partial \ell_i}{\partial q_{ij}} = -\frac{a_{ij}}{q_{ij}}
        \quad (0 \text{ where } q_{ij} < \epsilon, \text{ the clamp's flat region})

    Note this is the gradient with respect to the *probabilities*; chained through a
    softmax it gives :func:`softmax_cross_entropy`'s ``q - y``.
    """
    f = categorical_forward(
        probs, targets, axis=axis, weight=weight, ignore_index=ignore_index, eps=eps,
        reduction=reduction,
    )
    xp = f.xp
    a = coefficients(xp, f.targets, f.z.dtype)
    above = f.z >= eps
    g = xp.where(above, -a / xp.where(above, f.z, xp.ones_like(f.z)), xp.zeros_like(f.z))
    g = _reduce.scale_gradient(xp, g, reduction, f.divisor)
    return to_float(xp, move_class_axis_back(xp, g, f.axis), f.out_dtype)


def sigmoid_binary_cross_entropy(
    logits: Array,
    targets: Array,
    *,
    weight: Array | None = None,
    pos_weight: Array | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Array:
    r"""Gradient of :func:`crossent.sigmoid_binary_cross_entropy` with respect to ``logits``.

    .. math:: \frac{\partial \ell}{\partial z} = w \big[\sigma(z)\,(1 - y + p_w y) - p_w y\big]

    which is seed 002's :math:`\sigma(z) - y` without weights; divided by the number of
    elements for ``"mean"``.

    Example:
        >>> import numpy as np
        >>> from crossent import grad
        >>> grad.sigmoid_binary_cross_entropy(np.array([0.0, 0.0]), np.array([1.0, 0.0]))
        array([-0.25,  0.25])
    """
    b = prepare_binary(
        logits, targets, pred_name="logits", weight=weight,
        label_smoothing=label_smoothing, reduction=reduction, extra=(pos_weight,),
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


def binary_cross_entropy(
    probs: Array,
    targets: Array,
    *,
    weight: Array | None = None,
    eps: float = DEFAULT_EPS,
    reduction: str = "mean",
) -> Array:
    r"""Gradient of :func:`crossent.binary_cross_entropy` with respect to ``probs``.

    .. math:: \frac{\partial \ell}{\partial p} = w \Big[-\frac{y}{p} + \frac{1 - y}{1 - p}\Big]

    each term 0 where its clamp is active (``p < ε`` or ``1 - p < ε``).
    """
    _checks.number_in("eps", eps, 0.0, 1.0, high_open=True)
    b = prepare_binary(
        probs, targets, pred_name="probs", weight=weight, label_smoothing=0.0, reduction=reduction
    )
    xp = b.xp
    _checks.in_unit_interval(xp, "probs", b.z)
    p, one = b.z, xp.ones_like(b.z)
    zero = xp.zeros_like(p)
    pos = xp.where(p >= eps, -b.y / xp.where(p >= eps, p, one), zero)
    neg = xp.where(1 - p >= eps, (1 - b.y) / xp.where(1 - p >= eps, 1 - p, one), zero)
    g = pos + neg
    if b.weight is not None:
        g = g * b.weight
    g = _reduce.scale_gradient(xp, g, reduction, numel(p))
    return to_float(xp, g, b.out_dtype)
