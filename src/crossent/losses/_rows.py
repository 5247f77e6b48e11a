r"""The softmax cross-entropy from per-row statistics: its loss and its block gradient.

Write the target coefficients of a row (see :mod:`crossent.losses.categorical`) as
:math:`a_{ij} = h_i t_{ij} + u_i w_j`: a target part (``t`` one-hot at :math:`y_i`, or a
probability row) with coefficient :math:`h_i`, and a smoothing part spread over the
classes by the class weights :math:`w_j` (:math:`w \equiv 1` without them) with
coefficient :math:`u_i`. With :math:`s_i = \mathrm{logsumexp}_j z'_{ij}` of the
(soft-capped) logits :math:`z'` and :math:`\log q_{ij} = z'_{ij} - s_i`, the loss of a row
needs only sums over its classes,

.. math:: \ell_i = -\sum_j a_{ij} \log q_{ij} + \lambda_z r_i s_i^2
    = h_i \big(m_i s_i - d_i\big) + u_i \big(W s_i - T_i\big) + \lambda_z r_i s_i^2,

with :math:`m_i = \sum_j t_{ij}` (1 for a class index), :math:`d_i = \sum_j t_{ij} z'_{ij}`
(the target logit :math:`z'_{iy_i}`), :math:`W = \sum_j w_j` and
:math:`T_i = \sum_j w_j z'_{ij}`. That is :func:`loss_from_row_stats`. The gradient with
respect to the raw logits of any block of a row's columns needs only :math:`s_i` and the
row factor :math:`k_i = \sum_j a_{ij} + 2 \lambda_z r_i s_i`
(:func:`softmax_gradient_row_scale`):

.. math:: \frac{\partial \ell_i}{\partial z_{ij}} = \big(q_{ij} k_i - a_{ij}\big)
    \frac{\partial z'_{ij}}{\partial z_{ij}},

which is :func:`block_gradient`. The core losses, the fused kernels' composed-torch path
and the vocabulary-parallel losses all call these two functions; the compiled kernel
(``crossent/torch/fused/_kernel.c``) is the only other statement of them, and a test
checks it against them.
"""

from __future__ import annotations

from typing import Any

from crossent import _checks
from crossent._array import add_along_last, softcap_derivative

__all__ = ["block_gradient", "loss_from_row_stats", "softmax_gradient_row_scale", "weighted_term"]


def weighted_term(xp: Any, coef: Any, value: Any) -> Any:
    r"""``coef * value`` with :math:`0 \cdot v = 0` for every ``v``, in value and gradient.

    A zero coefficient (an ignored row, a class of target probability 0) makes its term
    vanish even where ``value`` is infinite or NaN — e.g. :math:`s - z'_{y}` of a row of
    masked (:math:`-\infty`) logits, the :math:`0 \log 0 = 0` rule. ``value`` is replaced
    by 0 there before the product, so that autograd never forms :math:`0 \cdot \infty`
    either.

    Args:
        xp: the array namespace.
        coef: coefficients, broadcastable against ``value``.
        value: the values they weight.

    Returns:
        The products, 0 where ``coef == 0``.

    Example:
        >>> import numpy as np
        >>> from crossent._array import namespace
        >>> xp = namespace(np.zeros(1))
        >>> weighted_term(xp, np.array([0.0, 2.0]), np.array([np.nan, 3.0]))
        array([0., 6.])
    """
    off = coef == 0
    return xp.where(off, xp.zeros_like(value), coef * xp.where(off, xp.zeros_like(value), value))


def loss_from_row_stats(
    xp: Any,
    lse: Any,
    target_coef: Any,
    target_dot: Any,
    *,
    target_mass: Any = None,
    smooth_coef: Any = None,
    weight_sum: Any = None,
    weighted_logit_sum: Any = None,
    z_loss: Any = 0.0,
    row_weight: Any = None,
) -> Any:
    r"""Per-row softmax cross-entropy from row statistics (module docstring):

    .. math:: \ell_i = h_i \big(m_i s_i - d_i\big) + u_i \big(W s_i - T_i\big)
        + \lambda_z r_i s_i^2

    Each of the three terms counts 0 where its coefficient is 0 (:func:`weighted_term`).

    Args:
        xp: the array namespace.
        lse: :math:`s_i`, the row log-sum-exp of the logits; ``None`` when the statistics
            are of log-probabilities already (:math:`s = 0`, no z-loss).
        target_coef: :math:`h_i`, the coefficient of the target part.
        target_dot: :math:`d_i = \sum_j t_{ij} z'_{ij}`: the target logit for a class index.
        target_mass: :math:`m_i = \sum_j t_{ij}`; ``None`` for 1 (a class index).
            Default: ``None``.
        smooth_coef: :math:`u_i`, the coefficient of the smoothing part; ``None`` is off.
            Default: ``None``.
        weight_sum: :math:`W = \sum_j w_j` (the number of classes without class weights);
            needed with ``smooth_coef``. Default: ``None``.
        weighted_logit_sum: :math:`T_i = \sum_j w_j z'_{ij}`; needed with ``smooth_coef``.
            Default: ``None``.
        z_loss: :math:`\lambda_z \ge 0`. Default: ``0.0``.
        row_weight: :math:`r_i`, the row's weight in the z-loss; ``None`` for 1.
            Default: ``None``.

    Returns:
        :math:`\ell_i`, the shape of the row statistics.

    Raises:
        ValueError: ``smooth_coef`` without ``weight_sum`` and ``weighted_logit_sum``, or
            a z-loss without ``lse``.

    Example:
        >>> import numpy as np
        >>> from crossent._array import namespace
        >>> xp = namespace(np.zeros(1))
        >>> z = np.log(np.array([[0.2, 0.7, 0.1]]))
        >>> s = np.log(np.exp(z).sum(axis=1))
        >>> loss_from_row_stats(xp, s, np.ones(1), z[:, 1]).round(4)  # -log 0.7
        array([0.3567])
    """
    gap = (
        -target_dot
        if lse is None
        else (lse if target_mass is None else target_mass * lse) - target_dot
    )
    loss = weighted_term(xp, target_coef, gap)
    if smooth_coef is not None:
        if weight_sum is None or weighted_logit_sum is None:
            raise ValueError("internal: the smoothing term needs `weight_sum` and its logit sum.")
        spread = -weighted_logit_sum if lse is None else weight_sum * lse - weighted_logit_sum
        loss = loss + weighted_term(xp, smooth_coef, spread)
    if not _checks.is_off(z_loss):
        if lse is None:
            raise ValueError("internal: the z-loss needs the row log-sum-exp.")
        if row_weight is None:
            loss = loss + z_loss * lse**2
        else:
            loss = loss + weighted_term(xp, z_loss * row_weight, lse**2)
    return loss


def softmax_gradient_row_scale(
    xp: Any, a_sum: Any, *, z_loss: Any, row_weight: Any, lse: Any
) -> Any:
    r"""The row factor :math:`k_i = \sum_j a_{ij} + 2 \lambda_z r_i s_i` of
    :func:`block_gradient`.

    Args:
        xp: the array namespace.
        a_sum: :math:`\sum_j a_{ij}`, the row's total target coefficient.
        z_loss: :math:`\lambda_z` (a number or a 0-d array).
        row_weight: :math:`r_i`.
        lse: :math:`s_i`, the row log-sum-exp of the soft-capped logits.

    Returns:
        :math:`k_i`, the shape of ``a_sum`` broadcast against the others.

    Example:
        >>> import numpy as np
        >>> from crossent._array import namespace
        >>> xp = namespace(np.zeros(1))
        >>> softmax_gradient_row_scale(xp, np.ones(2), z_loss=0.5, row_weight=np.ones(2), lse=np.array([0.0, 1.0]))
        array([1., 2.])
    """
    if _checks.is_off(z_loss):
        return a_sum
    return a_sum + 2 * z_loss * row_weight * lse


def block_gradient(
    xp: Any,
    z: Any,
    lse: Any,
    k: Any,
    *,
    coef: Any = None,
    smooth_coef: Any = None,
    target_coef: Any = None,
    indices: Any = None,
    cap: Any = None,
    out: Any = None,
) -> Any:
    r""":math:`(q_{ij} k_i - a_{ij})\, \partial z'_{ij} / \partial z_{ij}` on a block of a
    row's columns, with :math:`q_{ij} = e^{z'_{ij} - s_i}`.

    The target coefficients come dense (``coef``: :math:`a` itself, the block's shape) or
    sparse, :math:`a_{ij} = u_i + h_i [j = y_i]` (``smooth_coef``, ``target_coef`` and
    ``indices``; an index outside the block's columns, another block's class or an
    ignored row, adds nothing), or as both (their sum). The rows' scale (the
    reduction's divisor, an incoming gradient) is folded into ``k`` and the coefficients
    by the caller, or applied to the result.

    Args:
        xp: the array namespace.
        z: soft-capped logits :math:`z'` of the block, ``[..., B]``.
        lse: :math:`s_i`, ``[...]``, the log-sum-exp of the whole row.
        k: :math:`k_i`, ``[...]`` (:func:`softmax_gradient_row_scale`).
        coef: dense coefficients, ``[..., B]``, or ``None``. Default: ``None``.
        smooth_coef: :math:`u_i`, ``[...]``, or ``None``. Default: ``None``.
        target_coef: :math:`h_i`, ``[...]``, or ``None`` (with ``indices``). Default: ``None``.
        indices: :math:`y_i` as column numbers of the block, integer ``[...]``.
            Default: ``None``.
        cap: the soft cap :math:`c` that made ``z`` (its chain-rule factor
            :math:`1 - (z'/c)^2` is applied), or ``None``. Default: ``None``.
        out: an array of ``z``'s shape to write the gradient into (``z`` itself, or the
            logits the soft cap was taken of, for an in-place gradient), or ``None``.
            Default: ``None``.

    Returns:
        The gradient, ``[..., B]`` in ``z``'s dtype (``out`` when given).

    Example:
        >>> import numpy as np
        >>> from crossent._array import namespace
        >>> xp = namespace(np.zeros(1))
        >>> z = np.log(np.array([[0.2, 0.7, 0.1]]))
        >>> g = block_gradient(xp, z, np.zeros(1), np.ones(1), target_coef=np.ones(1), indices=np.array([1]))
        >>> g.round(4)  # q - y
        array([[ 0.2, -0.3,  0.1]])
    """
    g = xp.exp(z - lse[..., None]) * k[..., None]
    # ``g`` is a fresh array, so it is updated in place where the library allows (NumPy,
    # PyTorch; JAX rebinds): no block-sized temporary per term, which is what the fused
    # kernels' composed-torch path costs. Autograd saved the product's inputs, not the
    # product, so the in-place updates leave it correct.
    if coef is not None:
        g -= coef
    if smooth_coef is not None:
        g -= smooth_coef[..., None]
    if target_coef is not None:
        g = add_along_last(xp, g, indices, -target_coef)
    if cap is not None:
        g *= softcap_derivative(z, cap)
    if out is None:
        return g
    out[...] = g
    return out
