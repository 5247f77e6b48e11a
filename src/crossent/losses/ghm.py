r"""Gradient harmonizing mechanism for classification, GHM-C (Li, Liu, Wang 2019).

Each element's *gradient norm* under sigmoid cross-entropy is
:math:`g = |\sigma(z) - y|` (the articles' ``a − y``). Its density over a batch is U-shaped:
a crowd of easy examples near 0 and a bump of outliers near 1. GHM-C weighs each element
by the inverse of that density, so that both crowds — the easy examples *and* the
outliers — are down-weighted, while focal loss only down-weights the first.

The density is a histogram of ``bins`` equal bins on [0, 1], computed in one vectorised
pass (a bin index per element and a ``bincount``) rather than mmdetection's Python loop
over bins. :class:`GHMC` keeps an exponential moving average of the bin counts across
batches, as mmdetection's ``GHMC(momentum=...)`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import array_api_compat

from crossent import _checks, _guardrails, _reduce
from crossent._array import (
    Array,
    asarray_in,
    index_dtype,
    is_jax,
    is_torch,
    log_sigmoid,
    namespace,
    sigmoid,
    to_float,
)
from crossent.losses.binary import BinaryInputs, prepare_binary

__all__ = ["GHMC", "ghm_classification_loss", "ghm_weights"]

LAST_EDGE_RAISE = 1e-6
"""mmdetection raises the last bin edge from 1 to ``1 + 1e-6`` so that ``g = 1`` falls in the last bin."""


def bin_edges(bins: int) -> list[float]:
    """``[0, 1/B, ..., (B-1)/B, 1 + 1e-6]``: bin ``k`` is ``[k/B, (k+1)/B)``."""
    edges = [k / bins for k in range(bins + 1)]
    edges[-1] += LAST_EDGE_RAISE
    return edges


def bincount(xp: Any, indices: Any, weights: Any, length: int) -> Any:
    """``Σ weights`` per index in ``[0, length)``: the library's native bincount, one pass."""
    flat_i = xp.reshape(indices, (-1,))
    flat_w = xp.reshape(weights, (-1,))
    if is_torch(xp):
        # index_add, not bincount: its output has a static shape, so fake tensors and
        # torch.compile can trace it.
        return xp.zeros(length, dtype=flat_w.dtype, device=flat_w.device).index_add(
            0, flat_i, flat_w
        )
    if is_jax(xp):
        import jax.numpy as jnp

        return jnp.bincount(flat_i, weights=flat_w, length=length)
    import numpy as np

    return np.bincount(np.asarray(flat_i), weights=np.asarray(flat_w), minlength=length)


@dataclass
class GHMForward:
    """A batch's gradient-norm histogram, shared by the loss, its gradient and :class:`GHMC`."""

    b: BinaryInputs
    bins: int
    index: Any  # bin of each element (integer)
    valid: Any  # bool: elements that count (weight > 0)
    counts: Any  # valid elements per bin, [bins], compute dtype
    n_valid: Any  # 0-d: number of valid elements


def ghm_forward(
    logits: Array, targets: Array, *, bins: int, weight: Array | None, reduction: str
) -> GHMForward:
    """Validate the inputs of :func:`ghm_classification_loss` and histogram the gradient norms."""
    _checks.integer("bins", bins)
    _checks.positive("bins", bins)
    b = prepare_binary(
        logits, targets, pred_name="logits", weight=weight, label_smoothing=0.0, reduction=reduction
    )
    xp, dtype = b.xp, b.z.dtype
    g = xp.abs(sigmoid(xp, b.z) - b.y)
    edges = xp.asarray(bin_edges(bins), dtype=dtype, device=array_api_compat.device(b.z))
    # searchsorted(side="right") - 1 is the k with edges[k] <= g < edges[k + 1], the same
    # comparisons mmdetection makes; the clamp only matters for NaN logits.
    index = xp.searchsorted(edges, xp.reshape(g, (-1,)), side="right") - 1
    index = xp.reshape(xp.clip(index, 0, bins - 1), g.shape)
    if b.weight is None:
        valid = xp.ones(g.shape, dtype=xp.bool)
    else:
        valid = xp.broadcast_to(b.weight, g.shape) > 0
    counts = to_float(xp, bincount(xp, index, xp.astype(valid, dtype), bins), dtype)
    n_valid = xp.sum(xp.astype(valid, dtype))
    return GHMForward(b, bins, index, valid, counts, n_valid)


def check_density(xp: Any, density: Any, f: GHMForward) -> Any:
    """``density`` as a ``[bins]`` array, positive wherever the batch has elements."""
    density = asarray_in(xp, density, "density")
    namespace(f.b.z, density)
    _checks.floating(xp, "density", density)
    _checks.same_shape("density", tuple(density.shape), (f.bins,), "one entry per bin")
    if _checks.values_checked(xp, density, f.counts):
        missing = (f.counts > 0) & ~(density > 0)
        if bool(xp.any(missing)):
            k = int(xp.argmax(xp.astype(missing, index_dtype(xp))))
            raise ValueError(
                f"`density` must be positive in every bin that holds elements; bin {k} holds "
                f"{float(f.counts[k])!r} but has density {float(density[k])!r}."
            )
    return to_float(xp, density, f.counts.dtype)


def weights_from_forward(xp: Any, f: GHMForward, density: Any) -> Any:
    r"""GHM weights :math:`N / (\mathrm{density}_{k(i)} \cdot n_{\text{non-empty}})`, 0 where invalid."""
    per_bin = f.counts if density is None else check_density(xp, density, f)
    n_nonempty = xp.sum(xp.astype(f.counts > 0, f.counts.dtype))
    at = xp.reshape(xp.take(per_bin, xp.reshape(f.index, (-1,)), axis=0), f.index.shape)
    counted = f.valid & (at > 0)
    denominator = xp.where(counted, at * n_nonempty, xp.ones_like(at))
    return xp.where(counted, f.n_valid / denominator, xp.zeros_like(at))


def ghm_weights(
    logits: Array,
    targets: Array,
    *,
    bins: int = 10,
    density: Array | None = None,
    weight: Array | None = None,
) -> Array:
    r"""The GHM-C weight of each element: the inverse density of its gradient norm.

    .. math:: \beta_i = \frac{N}{\mathrm{GD}(g_i)\, n}, \qquad g_i = |\sigma(z_i) - y_i|

    where ``N`` is the number of valid elements, :math:`\mathrm{GD}(g_i)` the number of
    valid elements in :math:`g_i`'s bin (or ``density`` for that bin) and ``n`` the number
    of non-empty bins of this batch. Without ``density`` the weights sum to ``N``.

    Args:
        logits: any shape.
        targets: same shape, values in [0, 1].
        bins: number of equal bins on [0, 1]. Default: ``10``.
        density: per-bin counts to use instead of this batch's, shape ``[bins]`` (e.g.
            :attr:`GHMC.density`). Default: ``None``.
        weight: elementwise weight broadcastable to ``logits``; elements with weight 0 are
            ignored (not counted, weight 0). Default: ``None``.

    Returns:
        Weights of ``logits``' shape, in the compute dtype (float32 for fp16/bf16 inputs).

    Example:
        >>> import numpy as np
        >>> from crossent.losses.ghm import ghm_weights
        >>> z = np.array([-5.0, -5.0, -5.0, 0.0])  # three easy negatives, one hard one
        >>> ghm_weights(z, np.zeros(4), bins=2)
        array([0.66666667, 0.66666667, 0.66666667, 2.        ])
    """
    f = ghm_forward(logits, targets, bins=bins, weight=weight, reduction="none")
    return weights_from_forward(f.b.xp, f, density)


def ghm_loss_from_forward(f: GHMForward, density: Any, reduction: str) -> Array:
    xp, b = f.b.xp, f.b
    w = weights_from_forward(xp, f, density)
    loss = -w * (b.y * log_sigmoid(xp, b.z) + (1 - b.y) * log_sigmoid(xp, -b.z))
    if b.weight is not None:
        loss = loss * b.weight
    return to_float(xp, _reduce.reduce(xp, loss, reduction, f.n_valid), b.out_dtype)


@_checks.honours_validate
def ghm_classification_loss(
    logits: Array,
    targets: Array,
    *,
    bins: int = 10,
    density: Array | None = None,
    weight: Array | None = None,
    reduction: str = "mean",
    check: bool = False,
    validate: bool | None = None,
) -> Array:
    r"""GHM-C loss (Li et al. 2019): sigmoid cross-entropy weighted by inverse gradient density.

    With the gradient norm :math:`g_i = |\sigma(z_i) - y_i|` binned into ``bins`` equal
    bins :math:`[k/B, (k+1)/B)` (the last edge raised by 1e-6 to hold ``g = 1``):

    .. math:: \ell_i = \beta_i\, w_i\, \mathrm{BCE}(z_i, y_i), \qquad
        \beta_i = \frac{N}{\mathrm{GD}(g_i)\, n}

    ``N`` is the number of valid elements (``weight > 0``), :math:`\mathrm{GD}(g_i)` the
    number of valid elements in :math:`g_i`'s bin — or ``density`` for that bin — and ``n``
    the number of non-empty bins of the batch. ``"mean"`` is :math:`\sum_i \ell_i / N`.
    This is mmdetection's ``GHMC`` with ``momentum=0``; with ``density`` from
    :class:`GHMC` it is ``GHMC`` with momentum. The weights :math:`\beta` are constants
    for differentiation (mmdetection detaches :math:`g`): the gradient is
    :math:`\beta_i w_i (\sigma(z_i) - y_i) / N`.

    ``weight`` plays mmdetection's ``label_weight``: elements with weight 0 are ignored
    (not binned, not counted in ``N``); other weights multiply the terms (exactly
    mmdetection's loss for 0/1 weights). All-ignored batches give 0.

    Args:
        logits: any shape (``[N, C]`` for C sigmoid classes).
        targets: same shape, values in [0, 1] (0/1 in the paper).
        bins: number of bins B ≥ 1. Default: ``10``.
        density: per-bin counts ``[bins]`` replacing the batch's own in the denominator;
            ``None`` uses the batch's. Default: ``None``.
        weight: elementwise weight broadcastable to ``logits``. Default: ``None``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        check: run :func:`crossent.task.check` on the pairing first. Default: ``False``.
        validate: value checks (label range, probabilities, row sums, weights) on
            (``True``) or off (``False``) for this call; ``None`` follows
            :func:`crossent.set_validation`. Default: ``None``.

    Returns:
        0-d array, or the elementwise losses for ``"none"``; same library and dtype as
        ``logits``.

    Raises:
        ValueError: non-positive ``bins``, ``density`` of the wrong shape or 0 in a bin that
            holds elements, and the errors of :func:`crossent.sigmoid_binary_cross_entropy`.
        TypeError: non-integer ``bins``, non-floating ``logits``/``weight``/``density``.

    References:
        Li, Liu, Wang. "Gradient Harmonized Single-stage Detector." AAAI 2019.
        https://arxiv.org/abs/1811.05181

    Example:
        >>> import numpy as np
        >>> from crossent import ghm_classification_loss
        >>> z = np.array([-5.0, -5.0, -5.0, 0.0])
        >>> round(float(ghm_classification_loss(z, np.zeros(4), bins=2)), 4)
        0.3499
    """
    if check:
        _guardrails.check(logits, targets, loss="ghm_classification_loss")
    f = ghm_forward(logits, targets, bins=bins, weight=weight, reduction=reduction)
    return ghm_loss_from_forward(f, density, reduction)


class GHMC:
    r"""Stateful GHM-C: the bin counts are an exponential moving average across batches.

    Each call histograms the batch's gradient norms and, for every bin that holds elements,
    updates :math:`D_k \leftarrow \mu D_k + (1 - \mu)\, \mathrm{count}_k` (empty bins keep
    their value); the loss is then :func:`ghm_classification_loss` with ``density=D``.
    :math:`D` starts at 0 with no bias correction, as in mmdetection (so the first batch's
    weights are :math:`1/(1-\mu)` times those of ``momentum=0``). ``momentum=0`` keeps no
    state and is :func:`ghm_classification_loss`.

    The state lives in :attr:`density`, an array of the inputs' library; :meth:`reset`
    clears it. Being stateful, ``GHMC`` is not for use inside ``jax.jit``; there, pass the
    density explicitly to :func:`ghm_classification_loss`.

    Args:
        bins: number of bins B ≥ 1. Default: ``10``.
        momentum: μ in [0, 1). Default: ``0.75`` (mmdetection's RetinaNet-GHM setting).

    Raises:
        ValueError: non-positive ``bins``, ``momentum`` outside [0, 1).
        TypeError: non-integer ``bins``, non-numeric ``momentum``.

    References:
        Li, Liu, Wang. "Gradient Harmonized Single-stage Detector." AAAI 2019.

    Example:
        >>> import numpy as np
        >>> from crossent import GHMC
        >>> ghm = GHMC(bins=2, momentum=0.5)
        >>> z, y = np.array([-5.0, -5.0, -5.0, 0.0]), np.zeros(4)
        >>> round(float(ghm(z, y)), 4)
        0.6999
        >>> ghm.density
        array([1.5, 0.5])
    """

    def __init__(self, bins: int = 10, *, momentum: float = 0.75) -> None:
        _checks.integer("bins", bins)
        _checks.positive("bins", bins)
        self.bins = bins
        self.momentum = _checks.number_in("momentum", momentum, 0.0, 1.0, high_open=True)
        self.density: Any = None

    def reset(self) -> None:
        """Forget the running density."""
        self.density = None

    @_checks.honours_validate
    def __call__(
        self,
        logits: Array,
        targets: Array,
        *,
        weight: Array | None = None,
        reduction: str = "mean",
        validate: bool | None = None,
    ) -> Array:
        """The GHM-C loss of a batch, after updating the running density with it."""
        f = ghm_forward(logits, targets, bins=self.bins, weight=weight, reduction=reduction)
        if not self.momentum:
            return ghm_loss_from_forward(f, None, reduction)
        xp = f.b.xp
        previous = xp.zeros_like(f.counts) if self.density is None else self.density
        updated = self.momentum * previous + (1 - self.momentum) * f.counts
        self.density = xp.where(f.counts > 0, updated, previous)
        return ghm_loss_from_forward(f, self.density, reduction)

    def __repr__(self) -> str:
        return f"GHMC(bins={self.bins}, momentum={self.momentum})"
