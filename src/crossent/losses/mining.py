r"""Hard example mining: choose which elements of an unreduced loss count.

Both functions take per-element losses (any loss's ``reduction="none"`` output) and
return a boolean mask of the same shape; the selected loss is then
``(losses * mask).sum() / mask.sum()`` (or any other reduction), so that mining composes
with every loss of the package. Selection is per row — the last axis holds one image's
anchors (or one batch's samples) — and ranks by loss, highest first, with ties broken by
position (the earlier element wins), so the result is deterministic. The losses are only
compared, never differentiated.
"""

from __future__ import annotations

import math
from typing import Any

from crossent import _checks
from crossent._array import Array, asarray, compute_dtype, dtype_name, namespace, to_float

__all__ = ["hard_negative_mining", "ohem"]


def _check_losses(xp: Any, losses: Any) -> Any:
    _checks.floating(xp, "losses", losses)
    if losses.ndim == 0:
        raise ValueError(
            "`losses` must have at least one axis (the anchors of a row); got a 0-d array."
        )
    return to_float(xp, losses, compute_dtype(xp, losses))


def rank_descending(xp: Any, key: Any) -> Any:
    """Rank of each element of its row (last axis) by decreasing ``key``: 0 for the largest.

    A stable sort, so that equal keys keep their order; the inverse permutation of the
    sort order (a second argsort) gives each element its rank, as ssd.pytorch does.
    """
    order = xp.argsort(key, axis=-1, descending=True, stable=True)
    return xp.argsort(order, axis=-1, stable=True)


def hard_negative_mining(
    losses: Array,
    positives: Array,
    *,
    neg_pos_ratio: float = 3,
    min_negatives: int = 0,
) -> Array:
    r"""SSD's hard negative mining: every positive, and the highest-loss negatives at a fixed ratio.

    For each row (last axis) with :math:`n_+` positives and :math:`n_-` negatives, keep all
    positives and the

    .. math:: k = \min\big(\max(\lfloor r \cdot n_+ \rfloor,\ k_{\min}),\ n_-\big)

    negatives of highest loss (``r`` = ``neg_pos_ratio``, :math:`k_{\min}` =
    ``min_negatives``, which gives rows without positives some negatives). SSD uses
    ``r = 3``: a 3:1 ratio of negatives to positives. ssd.pytorch caps ``k`` at the number
    of anchors minus one instead of :math:`n_-`, which can pick a positive as a
    "negative"; here a positive never takes a negative's place.

    Args:
        losses: per-anchor losses ``[..., A]`` (e.g. the confidence loss with
            ``reduction="none"``), floating.
        positives: boolean mask of the positive anchors, ``losses``' shape.
        neg_pos_ratio: negatives kept per positive, ≥ 0 (``r · n_+`` is rounded down).
            Default: ``3``.
        min_negatives: negatives kept in every row however few positives it has, ≥ 0.
            Default: ``0``.

    Returns:
        A boolean mask of ``losses``' shape and library: positives and the chosen
        negatives.

    Raises:
        ValueError: a 0-d ``losses``, ``positives`` of another shape, a negative
            ``neg_pos_ratio`` or ``min_negatives``.
        TypeError: non-floating ``losses``, non-boolean ``positives``, a non-integer
            ``min_negatives``.

    References:
        Liu, Anguelov, Erhan, Szegedy, Reed, Fu, Berg. "SSD: Single Shot MultiBox
        Detector." ECCV 2016. https://arxiv.org/abs/1512.02325

    Example:
        >>> import numpy as np
        >>> from crossent import hard_negative_mining
        >>> losses = np.array([[0.1, 2.0, 0.5, 0.9, 0.2, 1.5]])
        >>> positives = np.array([[False, True, False, False, False, False]])
        >>> hard_negative_mining(losses, positives, neg_pos_ratio=2).astype(int)
        array([[0, 1, 0, 1, 0, 1]])
    """
    losses = asarray(losses, "losses")
    positives = asarray(positives, "positives")
    xp = namespace(losses, positives)
    ratio = _checks.non_negative("neg_pos_ratio", neg_pos_ratio)
    _checks.integer("min_negatives", min_negatives)
    _checks.non_negative("min_negatives", min_negatives)
    losses = _check_losses(xp, losses)
    if dtype_name(positives.dtype) != "bool":
        raise TypeError(
            f"`positives` must be a boolean mask (e.g. `labels > 0`); got dtype "
            f"{dtype_name(positives.dtype)}."
        )
    _checks.same_shape(
        "positives", tuple(positives.shape), tuple(losses.shape), "the shape of `losses`"
    )
    n_pos = xp.sum(xp.astype(positives, losses.dtype), axis=-1)
    n_neg = losses.shape[-1] - n_pos
    k = xp.minimum(xp.maximum(xp.floor(ratio * n_pos), xp.full_like(n_pos, min_negatives)), n_neg)
    # Positives sort after every negative, so the first k ranks are negatives (k <= n_neg).
    key = xp.where(positives, xp.full_like(losses, -math.inf), losses)
    ranks = rank_descending(xp, key)
    negatives = (ranks < xp.astype(k, ranks.dtype)[..., None]) & ~positives
    return positives | negatives


def ohem(
    losses: Array,
    *,
    k: int | None = None,
    fraction: float | None = None,
) -> Array:
    r"""Online hard example mining: the ``k`` highest losses of each row.

    Keeps, per row (last axis) of ``A`` elements, the ``k`` elements of highest loss — or
    :math:`\lceil f \cdot A \rceil` of them for ``fraction=f`` — regardless of class
    (Shrivastava et al. select the hardest RoIs of a minibatch this way). Give exactly one
    of ``k`` and ``fraction``. For a flat batch ``[N]`` the row is the whole batch.

    Args:
        losses: per-element losses ``[..., A]``, floating.
        k: number kept per row, in [0, A]. Default: ``None``.
        fraction: share kept per row, in (0, 1]. Default: ``None``.

    Returns:
        A boolean mask of ``losses``' shape and library with ``k`` entries set per row.

    Raises:
        ValueError: a 0-d ``losses``; neither or both of ``k`` and ``fraction``; ``k``
            outside [0, A]; ``fraction`` outside (0, 1].
        TypeError: non-floating ``losses``, a non-integer ``k``.

    References:
        Shrivastava, Gupta, Girshick. "Training Region-based Object Detectors with Online
        Hard Example Mining." CVPR 2016. https://arxiv.org/abs/1604.03540

    Example:
        >>> import numpy as np
        >>> from crossent import ohem
        >>> ohem(np.array([0.1, 2.0, 0.5, 0.9]), k=2)
        array([False,  True, False,  True])
    """
    losses = asarray(losses, "losses")
    xp = namespace(losses)
    losses = _check_losses(xp, losses)
    n = losses.shape[-1]
    if (k is None) == (fraction is None):
        raise ValueError(
            f"give exactly one of `k` and `fraction`; got k={k!r}, fraction={fraction!r}."
        )
    if k is not None:
        _checks.integer("k", k)
        if not 0 <= k <= n:
            raise ValueError(f"`k` must be in [0, {n}] for rows of {n} elements; got k={k!r}.")
        keep = k
    else:
        f = _checks.number_in("fraction", fraction, 0.0, 1.0)
        if f == 0:
            raise ValueError(f"`fraction` must be in (0, 1]; got fraction={fraction!r}.")
        keep = math.ceil(f * n)
    return rank_descending(xp, losses) < keep
