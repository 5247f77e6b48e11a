r"""Noise-robust cross-entropies: losses that a wrong label cannot dominate.

Cross-entropy :math:`-\log p_y` is unbounded: a mislabelled example the model gets right
(:math:`p_y \to 0` for the wrong label ``y``) has a loss and a gradient weight that grow
without limit, so a few wrong labels can steer training. Each loss here bounds or
reshapes that:

* :func:`generalized_cross_entropy` — :math:`(1 - p_y^q)/q`, between CE (q → 0) and the
  bounded mean absolute error (q = 1) (Zhang & Sabuncu 2018);
* :func:`poly1_cross_entropy` — :math:`\mathrm{CE} + \varepsilon (1 - p_y)`, the first
  term of CE's Taylor series in :math:`1 - p_y` re-weighted (Leng et al. 2022);
* :func:`symmetric_cross_entropy` — :math:`\alpha\,\mathrm{CE} + \beta\,\mathrm{RCE}`, with
  the reverse cross-entropy :math:`-\sum_c p_c \log y_c` bounded by a finite
  :math:`\log 0 := A` (Wang et al. 2019);
* :func:`bi_tempered_logistic_loss` — tempered logarithm and exponential: bounded for
  :math:`t_1 < 1`, heavy-tailed probabilities for :math:`t_2 > 1` (Amid et al. 2019).

Every loss is computed from :math:`\log p = z - \mathrm{logsumexp}(z)` of
:func:`crossent.losses.categorical.softmax_forward`, which validates the inputs and holds
the target machinery (class indices with ``ignore_index``, probability targets, label
smoothing, class weights) of :func:`crossent.softmax_cross_entropy`; powers of ``p`` are
:math:`\exp(q \log p)`, so logits of ±1e4 give finite values and gradients.

Target coefficients :math:`a_{ic}` are those of :mod:`crossent.losses.categorical`
(one-hot or probability row, label smoothed, times class weights). GCE and poly-1 are sums
over classes of :math:`a_{ic}` times a per-class term, like CE, so class weights act per
class (PyTorch's rule). The reverse cross-entropy and the bi-tempered loss are not such
sums: a sample's term is scaled by :math:`r_i = \sum_c a_{ic}` — ``weight[y_i]`` for
class indices, 1 for unweighted probability targets. ``"mean"`` divides by the number of
non-ignored samples (probability targets: the number of samples), not by
:math:`\sum_i w_{y_i}` as the class-weighted cross-entropy does (DESIGN.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from crossent import _checks, _reduce
from crossent._array import (
    Array,
    log_softmax,
    mul_log,
    one_hot_mask,
    safe_log,
    take_along_last,
    to_float,
)
from crossent.losses.categorical import (
    SoftmaxForward,
    SoftmaxTargets,
    coefficients,
    mean_divisor,
    rows_loss,
    softmax_forward,
)

__all__ = [
    "bi_tempered_logistic_loss",
    "generalized_cross_entropy",
    "poly1_cross_entropy",
    "symmetric_cross_entropy",
]


@dataclass
class RobustForward:
    """What every loss of this module starts from, shared with the closed-form gradients."""

    f: SoftmaxForward  # validated inputs, logits with the class axis last, logsumexp
    log_p: Any  # log softmax, class axis last
    divisor: Any  # what "mean" divides by: the number of samples that count


def robust_forward(
    logits: Array,
    targets: Array,
    *,
    axis: int,
    weight: Array | None,
    ignore_index: int | None,
    label_smoothing: float,
    reduction: str,
) -> RobustForward:
    """Validate the inputs as :func:`crossent.softmax_cross_entropy` does and take log p."""
    f = softmax_forward(
        logits,
        targets,
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        z_loss=0.0,
        logit_softcap=None,
        reduction=reduction,
    )
    xp, t = f.xp, f.targets
    counted = None if t.valid is None else xp.astype(t.valid, f.z.dtype)
    return RobustForward(f, f.z - f.lse[..., None], mean_divisor(xp, t, counted))


def is_sparse(t: SoftmaxTargets) -> bool:
    """Class-index targets without label smoothing: only the target's entry of ``a`` is not 0."""
    return t.probs is None and _checks.is_off(t.smoothing)


def target_sum(xp: Any, r: RobustForward, values: Any) -> Any:
    r""":math:`\sum_c a_{ic} v_{ic}` for per-class ``values`` (class axis last), per sample.

    For class indices without smoothing it reads the target's entry only, ``w[y_i] v_{iy_i}``.
    """
    f = r.f
    if is_sparse(f.targets):
        return f.row_weight * take_along_last(xp, values, f.targets.indices)
    return xp.sum(coefficients(xp, f.targets, values.dtype) * values, axis=-1)


def target_weight(xp: Any, r: RobustForward) -> Any:
    r""":math:`r_i = \sum_c a_{ic}`: ``weight[y_i]`` (0 when ignored), 1 for unweighted
    probability targets; it scales the losses that are not a sum over target classes."""
    f = r.f
    if is_sparse(f.targets):
        return f.row_weight
    return xp.sum(coefficients(xp, f.targets, f.z.dtype), axis=-1)


def target_probs(xp: Any, t: SoftmaxTargets, dtype: Any) -> Any:
    """The (smoothed) target distribution of each sample, without class weights, ``[..., C]``
    (all 0 for an ignored sample)."""
    return coefficients(xp, replace(t, weight=None), dtype)


def reduced(xp: Any, r: RobustForward, loss: Any, reduction: str) -> Any:
    """Per-sample ``loss`` reduced by the one reduction, in the input's dtype."""
    return to_float(xp, _reduce.reduce(xp, loss, reduction, r.divisor), r.f.out_dtype)


# ---------------------------------------------------------------------------------------
# Generalized cross-entropy
# ---------------------------------------------------------------------------------------


def gce_terms(xp: Any, log_p: Any, q: Any) -> Any:
    r""":math:`(1 - p^q)/q = -\mathrm{expm1}(q \log p)/q`: exact for p near 1 (no
    cancellation), finite with bounded gradient for p → 0 (``log p`` of -1e4 or -inf)."""
    return -xp.expm1(q * log_p) / q


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
    r"""Generalized cross-entropy (Zhang & Sabuncu 2018): the negative Box–Cox transform of p_y.

    With :math:`p = \mathrm{softmax}(z)` along ``axis``, for class-index targets ``y``

    .. math:: \ell_i = w_{y_i}\, \frac{1 - p_{iy_i}^{\,q}}{q}

    and for probability targets ``t``, :math:`\ell_i = \sum_c w_c t_{ic} (1 - p_{ic}^q)/q`.
    As :math:`q \to 0` it tends to cross-entropy :math:`-\log p_y`; at :math:`q = 1` it is
    :math:`1 - p_y`, the mean absolute error between ``p`` and the one-hot target up to a
    factor 2, which is bounded and so robust to wrong labels. Its gradient is CE's weighted
    by :math:`p_y^q`: confident mistakes, likely wrong labels, weigh little. Equal to Keras'
    ``CategoricalGeneralizedCrossEntropy`` (which takes probabilities) on ``softmax(z)`` at the
    same ``q``. :math:`p^q` is :math:`\exp(q \log p)`. ``"mean"`` divides by the number of
    non-ignored samples (probability targets: samples); all-ignored batches give 0.

    Args:
        logits: unnormalised scores, classes along ``axis``.
        targets: integer class indices of ``logits``' shape without ``axis``, or
            probabilities of ``logits``' shape.
        q: the exponent, in (0, 1]. Default: ``0.7`` (the paper's).
        axis: the class axis. Default: ``-1``.
        weight: per-class weights, shape ``[C]``. Default: ``None``.
        ignore_index: class index whose samples count for nothing; ``None`` disables it.
            Default: ``-100``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        validate: value checks on (``True``) or off (``False``) for this call; ``None``
            follows :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        0-d array for ``"mean"``/``"sum"``; for ``"none"`` the per-sample losses, shaped
        like ``logits`` without ``axis``. Same library and dtype as ``logits``.

    Raises:
        ValueError: ``q`` outside (0, 1], and the errors of :func:`crossent.softmax_cross_entropy`.
        TypeError: non-floating ``logits`` or ``weight``, non-integer index targets.

    References:
        Zhang, Sabuncu. "Generalized Cross Entropy Loss for Training Deep Neural Networks
        with Noisy Labels." NeurIPS 2018. https://arxiv.org/abs/1805.07836

    Example:
        >>> import numpy as np
        >>> from crossent import generalized_cross_entropy
        >>> logits = np.log(np.array([[0.25, 0.75], [0.5, 0.5]]))
        >>> np.round(generalized_cross_entropy(logits, np.array([0, 1]), q=1.0, reduction="none"), 4)
        array([0.75, 0.5 ])
    """
    r = robust_forward(
        logits,
        targets,
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=0.0,
        reduction=reduction,
    )
    xp = r.f.xp
    q = check_q(xp, q, r.f.z.dtype)
    return reduced(xp, r, target_sum(xp, r, gce_terms(xp, r.log_p, q)), reduction)


def check_q(xp: Any, q: Any, dtype: Any) -> Any:
    """GCE's exponent ``q`` in (0, 1]: a number or a 0-d array."""
    return _checks.option(xp, "q", q, dtype=dtype, high=1.0, low_open=True, high_open=False)


# ---------------------------------------------------------------------------------------
# Poly-1
# ---------------------------------------------------------------------------------------


def check_epsilon(xp: Any, epsilon: Any, dtype: Any) -> Any:
    """Poly-1's ``epsilon`` ≥ -1 (the paper's range: the loss stays a sum of positive terms)."""
    return _checks.option(xp, "epsilon", epsilon, dtype=dtype, low=-1.0)


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
    r"""Poly-1 cross-entropy (Leng et al. 2022): CE plus ε times its first Taylor term.

    Cross-entropy is :math:`-\log p_t = \sum_{j \ge 1} (1 - p_t)^j / j`; Poly-1 raises the
    first coefficient by ε:

    .. math:: \ell_i = -\sum_c a_{ic} \log p_{ic} + \varepsilon \sum_c a_{ic} (1 - p_{ic})

    with ``a`` the target coefficients of :func:`crossent.softmax_cross_entropy` (one-hot or
    probability row, label smoothed as :math:`(1-\varepsilon_{ls}) y + \varepsilon_{ls}/C`,
    times class ``weight``); for one-hot targets the second term is
    :math:`\varepsilon (1 - p_y)`. The first term is crossent's cross-entropy itself.
    Equal to optax's ``poly_loss_cross_entropy`` at the same ε (optax's default is 2.0).
    ``epsilon=0`` is :func:`crossent.softmax_cross_entropy`, except that with class weights
    ``"mean"`` divides by the number of non-ignored samples, not by :math:`\sum_i w_{y_i}`.
    :math:`1 - p` is :math:`-\mathrm{expm1}(\log p)`.

    Args:
        logits: unnormalised scores, classes along ``axis``.
        targets: integer class indices of ``logits``' shape without ``axis``, or
            probabilities of ``logits``' shape.
        epsilon: the coefficient ε ≥ -1 of :math:`1 - p_t`. Default: ``1.0``.
        label_smoothing: in [0, 1]. Default: ``0.0``.
        axis: the class axis. Default: ``-1``.
        weight: per-class weights, shape ``[C]``. Default: ``None``.
        ignore_index: class index whose samples count for nothing; ``None`` disables it.
            Default: ``-100``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        validate: value checks on (``True``) or off (``False``) for this call; ``None``
            follows :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        As :func:`generalized_cross_entropy`.

    Raises:
        ValueError: ``epsilon`` below -1, and the errors of :func:`crossent.softmax_cross_entropy`.
        TypeError: non-floating ``logits`` or ``weight``, non-integer index targets.

    References:
        Leng, Xu, Tan, Shen, Wang, Huang, Li, Wang, Li, Zou, Wang, Cheng. "PolyLoss: A
        Polynomial Expansion Perspective of Classification Loss Functions." ICLR 2022.
        https://arxiv.org/abs/2204.12511

    Example:
        >>> import numpy as np
        >>> from crossent import poly1_cross_entropy
        >>> logits = np.log(np.array([[0.2, 0.7, 0.1]]))
        >>> round(float(poly1_cross_entropy(logits, np.array([1]))), 4)  # -log 0.7 + 0.3
        0.6567
    """
    r = robust_forward(
        logits,
        targets,
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    f, xp = r.f, r.f.xp
    epsilon = check_epsilon(xp, epsilon, f.z.dtype)
    loss = rows_loss(xp, f.targets, f.z, f.row_weight, lse=f.lse)
    if not _checks.is_off(epsilon):
        loss = loss + epsilon * target_sum(xp, r, -xp.expm1(r.log_p))
    return reduced(xp, r, loss, reduction)


# ---------------------------------------------------------------------------------------
# Symmetric cross-entropy
# ---------------------------------------------------------------------------------------


def check_sce_options(xp: Any, alpha: Any, beta: Any, log_zero: Any, dtype: Any) -> tuple[Any, ...]:
    """``alpha``, ``beta`` ≥ 0 and ``log_zero`` < 0, each a number or a 0-d array."""
    return (
        _checks.option(xp, "alpha", alpha, dtype=dtype),
        _checks.option(xp, "beta", beta, dtype=dtype),
        _checks.option(
            xp, "log_zero", log_zero, dtype=dtype, low=-math.inf, high=0.0, low_open=True
        ),
    )


def reverse_log_targets(xp: Any, r: RobustForward, log_zero: Any) -> Any:
    r""":math:`L_{ic} = \max(\log t_{ic}, A)`, the target's log with :math:`\log 0 := A`
    (``log_zero``), class axis last: A off the target class for class indices.

    A probability target below :math:`e^A` is clamped to it, as the paper's code clamps the
    one-hot labels at :math:`10^{-4}`.
    """
    t, dtype = r.f.targets, r.f.z.dtype
    floor = xp.zeros(r.log_p.shape, dtype=dtype) + log_zero
    if t.probs is None:
        # log 1 = 0 at the target, log 0 := A elsewhere (label smoothing is not an option).
        return floor * (1 - one_hot_mask(xp, t.indices, t.n_classes, dtype))
    return xp.maximum(safe_log(xp, t.probs), floor)


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
    r"""Symmetric cross-entropy (Wang et al. 2019): CE plus the reverse cross-entropy.

    With :math:`p = \mathrm{softmax}(z)` and the target distribution ``y`` (one-hot, or the
    probability row):

    .. math:: \ell_i = \alpha \Big(-\sum_c a_{ic} \log p_{ic}\Big)
        + \beta\, r_i \Big(-\sum_c p_{ic} \max(\log y_{ic}, A)\Big)

    where ``a`` are the target coefficients (times class ``weight``), :math:`r_i =
    \sum_c a_{ic}` (``weight[y_i]``, or 1) and :math:`A` = ``log_zero`` stands for
    :math:`\log 0`. For one-hot targets the reverse term is :math:`-A (1 - p_y)`, a bounded
    MAE-like loss that wrong labels cannot blow up, while the CE term keeps the fit.
    Probability targets below :math:`e^A` are clamped to it (the paper's code clamps at
    :math:`10^{-4}`, i.e. :math:`A = \log 10^{-4}`). ``"mean"`` divides by the number of
    non-ignored samples (probability targets: samples).

    Args:
        logits: unnormalised scores, classes along ``axis``.
        targets: integer class indices of ``logits``' shape without ``axis``, or
            probabilities of ``logits``' shape.
        alpha: weight α ≥ 0 of the cross-entropy. Default: ``0.1`` (the paper's CIFAR-10).
        beta: weight β ≥ 0 of the reverse cross-entropy. Default: ``1.0``.
        log_zero: :math:`A < 0`, the value taken for :math:`\log 0`. Default: ``-4.0``.
        axis: the class axis. Default: ``-1``.
        weight: per-class weights, shape ``[C]``. Default: ``None``.
        ignore_index: class index whose samples count for nothing; ``None`` disables it.
            Default: ``-100``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        validate: value checks on (``True``) or off (``False``) for this call; ``None``
            follows :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        As :func:`generalized_cross_entropy`.

    Raises:
        ValueError: negative ``alpha`` or ``beta``, ``log_zero`` not negative, and the
            errors of :func:`crossent.softmax_cross_entropy`.
        TypeError: non-floating ``logits`` or ``weight``, non-integer index targets.

    References:
        Wang, Ma, Chen, Luo, Yi, Bailey. "Symmetric Cross Entropy for Robust Learning with
        Noisy Labels." ICCV 2019. https://arxiv.org/abs/1908.06112

    Example:
        >>> import numpy as np
        >>> from crossent import symmetric_cross_entropy
        >>> logits = np.log(np.array([[0.2, 0.7, 0.1]]))
        >>> round(float(symmetric_cross_entropy(logits, np.array([1]))), 4)  # 0.1·0.3567 + 4·0.3
        1.2357
    """
    r = robust_forward(
        logits,
        targets,
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=0.0,
        reduction=reduction,
    )
    f, xp = r.f, r.f.xp
    alpha, beta, log_zero = check_sce_options(xp, alpha, beta, log_zero, f.z.dtype)
    loss = alpha * rows_loss(xp, f.targets, f.z, f.row_weight, lse=f.lse)
    rce = -xp.sum(xp.exp(r.log_p) * reverse_log_targets(xp, r, log_zero), axis=-1)
    loss = loss + beta * target_weight(xp, r) * rce
    return reduced(xp, r, loss, reduction)


# ---------------------------------------------------------------------------------------
# Bi-tempered logistic loss
# ---------------------------------------------------------------------------------------


def tempered_log_of(xp: Any, log_x: Any, t: Any) -> Any:
    r""":math:`\log_t x = (x^{1-t} - 1)/(1 - t)` from :math:`\log x`
    (:math:`= \mathrm{expm1}((1-t)\log x)/(1-t)`; :math:`\log x` itself at ``t = 1``)."""
    if _checks.is_number(t) and float(t) == 1.0:
        return log_x
    return xp.expm1((1 - t) * log_x) / (1 - t)


def tempered_log_exp(xp: Any, x: Any, t: Any) -> Any:
    r""":math:`\log \exp_t(x) = \log[1 + (1-t)x]_+ / (1 - t)` for ``t > 1`` and ``x ≤ 0``,
    where :math:`1 + (t-1)|x| \ge 1`: ``log1p`` of a non-negative number, never 0."""
    return xp.log1p((1 - t) * x) / (1 - t)


def tempered_log_softmax(xp: Any, z: Any, t: Any, num_iters: int) -> Any:
    r""":math:`\log \exp_t(z - \lambda(z))`, the log of the tempered softmax (class axis last).

    The normaliser :math:`\lambda` solves :math:`\sum_c \exp_t(z_c - \lambda) = 1`; for
    :math:`t > 1` Amid et al.'s fixed point finds it: with :math:`\mu = \max_c z_c` and
    :math:`\tilde z^{(0)} = z - \mu`, iterate :math:`\tilde z^{(k+1)} = \tilde z^{(0)}
    Z_k^{1-t}` where :math:`Z_k = \sum_c \exp_t(\tilde z^{(k)}_c)`, then
    :math:`\lambda = -\log_t(1/Z) + \mu`. ``num_iters`` iterations (the normalisation is
    exact only in the limit; autograd differentiates the iteration as run). ``t = 1`` is
    the log-softmax.
    """
    if _checks.is_number(t) and float(t) == 1.0:
        return log_softmax(xp, z, axis=-1)
    mu = xp.max(z, axis=-1, keepdims=True)
    start = z - mu  # ≤ 0, and 0 at the maximum: every Z_k ≥ 1
    shifted = start
    for _ in range(num_iters):
        partition = xp.sum(xp.exp(tempered_log_exp(xp, shifted, t)), axis=-1, keepdims=True)
        shifted = start * partition ** (1 - t)
    partition = xp.sum(xp.exp(tempered_log_exp(xp, shifted, t)), axis=-1, keepdims=True)
    # λ - μ = -log_t(1/Z) = (1 - Z^{t-1}) / (1 - t) ≥ 0, so z - λ ≤ 0.
    offset = -xp.expm1((t - 1) * xp.log(partition)) / (1 - t)
    return tempered_log_exp(xp, start - offset, t)


def check_temperatures(xp: Any, t1: Any, t2: Any, num_iters: Any, dtype: Any) -> tuple[Any, ...]:
    """``t1`` in [0, 1] (the bounded, "tempered log" side), ``t2`` ≥ 1 (the heavy-tailed
    softmax that the fixed point normalises) and ``num_iters`` ≥ 1."""
    t1 = _checks.option(xp, "t1", t1, dtype=dtype, high=1.0, high_open=False)
    t2 = _checks.option(xp, "t2", t2, dtype=dtype, low=1.0)
    iters = _checks.integer("num_iters", num_iters)
    if iters < 1:
        raise ValueError(f"`num_iters` must be at least 1; got num_iters={num_iters!r}.")
    return t1, t2, iters


@_checks.honours_validate
def bi_tempered_logistic_loss(
    logits: Array,
    targets: Array,
    *,
    t1: float = 0.8,
    t2: float = 1.2,
    label_smoothing: float = 0.0,
    num_iters: int = 5,
    axis: int = -1,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    reduction: str = "mean",
    validate: bool | None = None,
) -> Array:
    r"""Bi-tempered logistic loss (Amid et al. 2019): tempered log in the loss, tempered exp
    in the softmax.

    With :math:`\log_t x = (x^{1-t} - 1)/(1-t)`, :math:`\exp_t x = [1 + (1-t)x]_+^{1/(1-t)}`
    (the ordinary log and exp at ``t = 1``), the tempered softmax
    :math:`\hat y_c = \exp_{t_2}(z_c - \lambda(z))` normalised by the fixed point of
    :func:`tempered_log_softmax`, and the target distribution ``y`` (one-hot or the
    probability row, label smoothed as :math:`(1-\varepsilon) y + \varepsilon / C`):

    .. math:: \ell_i = r_i \sum_c \Big[ y_c (\log_{t_1} y_c - \log_{t_1} \hat y_c)
        - \frac{y_c^{2-t_1} - \hat y_c^{2-t_1}}{2 - t_1} \Big]

    with :math:`r_i` = ``weight[y_i]`` (or :math:`\sum_c w_c y_c`; 1 without weights).
    :math:`t_1 < 1` bounds the loss (wrong labels far from the boundary stop pulling),
    :math:`t_2 > 1` gives the softmax a heavy tail (wrong labels near the boundary pull less).
    At :math:`t_1 = t_2 = 1` the last term vanishes (both distributions sum to 1) and the
    loss is :math:`\mathrm{KL}(y \| \mathrm{softmax}(z))`: exactly
    :func:`crossent.softmax_cross_entropy` for class indices (for probability targets, that
    minus the targets' entropy). Powers of :math:`\hat y` are formed from
    :math:`\log \hat y`. The gradient is by autograd: Amid et al.'s closed form holds only
    at the exact normaliser, not after ``num_iters`` iterations, so :mod:`crossent.grad` has
    no entry for this loss. Label smoothing follows crossent's (PyTorch's) rule; the
    authors' code spreads ε over the other ``C − 1`` classes instead. ``"mean"`` divides by
    the number of non-ignored samples (probability targets: samples).

    Args:
        logits: unnormalised scores, classes along ``axis``.
        targets: integer class indices of ``logits``' shape without ``axis``, or
            probabilities of ``logits``' shape.
        t1: temperature of the log, in [0, 1]. Default: ``0.8``.
        t2: temperature of the exp, ≥ 1. Default: ``1.2``.
        label_smoothing: in [0, 1]. Default: ``0.0``.
        num_iters: fixed-point iterations of the normaliser, ≥ 1. Default: ``5`` (the
            authors').
        axis: the class axis. Default: ``-1``.
        weight: per-class weights, shape ``[C]``. Default: ``None``.
        ignore_index: class index whose samples count for nothing; ``None`` disables it.
            Default: ``-100``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        validate: value checks on (``True``) or off (``False``) for this call; ``None``
            follows :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        As :func:`generalized_cross_entropy`.

    Raises:
        ValueError: ``t1`` outside [0, 1], ``t2`` below 1, ``num_iters`` below 1, and the
            errors of :func:`crossent.softmax_cross_entropy`.
        TypeError: non-floating ``logits`` or ``weight``, non-integer index targets or
            ``num_iters``.

    References:
        Amid, Warmuth, Anil, Koren. "Robust Bi-Tempered Logistic Loss Based on Bregman
        Divergences." NeurIPS 2019. https://arxiv.org/abs/1906.03361

    Example:
        >>> import numpy as np
        >>> from crossent import bi_tempered_logistic_loss
        >>> logits = np.log(np.array([[0.2, 0.7, 0.1]]))
        >>> round(float(bi_tempered_logistic_loss(logits, np.array([1]), t1=1.0, t2=1.0)), 4)
        0.3567
        >>> round(float(bi_tempered_logistic_loss(logits, np.array([1]))), 4)
        0.3024
    """
    r = robust_forward(
        logits,
        targets,
        axis=axis,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    f, xp = r.f, r.f.xp
    dtype = f.z.dtype
    t1, t2, iters = check_temperatures(xp, t1, t2, num_iters, dtype)
    softmax = _checks.is_number(t2) and float(t2) == 1.0
    # At t2 = 1, log p of the cross-entropy itself, so that t1 = t2 = 1 is CE to the bit.
    log_y_hat = r.log_p if softmax else tempered_log_softmax(xp, f.z, t2, iters)
    both_one = softmax and _checks.is_number(t1) and float(t1) == 1.0
    if is_sparse(f.targets):
        # One-hot y: Σ y log_t y = 0 and Σ y^{2-t1} = 1.
        picked = take_along_last(xp, log_y_hat, f.targets.indices)
        loss = -tempered_log_of(xp, picked, t1)
        if not both_one:
            mass = xp.sum(xp.exp((2 - t1) * log_y_hat), axis=-1)
            loss = loss - (1 - mass) / (2 - t1)
        return reduced(xp, r, f.row_weight * loss, reduction)
    y = target_probs(xp, f.targets, dtype)
    log_y = safe_log(xp, y)
    if both_one:
        # Σ y (log y - log ŷ): the cross term through the cross-entropy's own 0 log 0 = 0 rule.
        loss = -xp.sum(mul_log(xp, y, log_y_hat), axis=-1) + xp.sum(mul_log(xp, y, log_y), axis=-1)
    else:
        own = mul_log(xp, y, tempered_log_of(xp, log_y, t1))
        cross = mul_log(xp, y, tempered_log_of(xp, log_y_hat, t1))
        mass = xp.exp((2 - t1) * log_y) - xp.exp((2 - t1) * log_y_hat)
        loss = xp.sum(own - cross - mass / (2 - t1), axis=-1)
    return reduced(xp, r, target_weight(xp, r) * loss, reduction)
