"""Naive float64 references for the imbalance losses, written from the papers and peers' code.

Each function computes its formula element by element (or row by row) in float64 Python
arithmetic, the way the paper or the named library writes it — probabilities and
``(1 - p) ** gamma`` included — so that it is independent of crossent's vectorised,
log-space code. Nothing here imports crossent. Peers that are not installed (torchvision,
kornia, optax's focal loss, mmdetection, ssd.pytorch, timm) are transcribed, not called.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _log_sigmoid(z: float) -> float:
    if z >= 0:
        return -math.log1p(math.exp(-z))
    return z - math.log1p(math.exp(z))


def _bce_with_logits(z: float, y: float) -> float:
    """``max(z, 0) - z y + log(1 + e^{-|z|})``: PyTorch's ``binary_cross_entropy_with_logits``."""
    return max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))


def _reduce(losses: np.ndarray, reduction: str, divisor: float | None = None) -> np.ndarray:
    if reduction == "none":
        return losses
    if reduction == "sum":
        return np.asarray(losses.sum())
    divisor = losses.size if divisor is None else divisor
    return np.asarray(losses.sum() / divisor if divisor > 0 else 0.0)


def _elementwise(fn: Any, *arrays: Any) -> np.ndarray:
    arrays64 = [_f64(a) for a in arrays]
    shape = arrays64[0].shape
    flat = [fn(*values) for values in zip(*(a.ravel() for a in arrays64), strict=True)]
    return np.array(flat, dtype=np.float64).reshape(shape)


# ---------------------------------------------------------------------------------------
# Sigmoid focal loss: torchvision, optax, kornia
# ---------------------------------------------------------------------------------------


def torchvision_sigmoid_focal_loss(
    inputs: Any, targets: Any, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "none"
) -> np.ndarray:
    """``torchvision.ops.sigmoid_focal_loss``: ``ce · (1 - p_t)^γ · α_t``, α < 0 meaning off.

    ``p = σ(x)``, ``p_t = p y + (1 - p)(1 - y)``, ``α_t = α y + (1 - α)(1 - y)``.
    """

    def one(x: float, y: float) -> float:
        p = _sigmoid(x)
        p_t = p * y + (1 - p) * (1 - y)
        loss = _bce_with_logits(x, y) * (1 - p_t) ** gamma
        if alpha >= 0:
            loss *= alpha * y + (1 - alpha) * (1 - y)
        return loss

    return _reduce(_elementwise(one, inputs, targets), reduction)


def optax_sigmoid_focal_loss(
    logits: Any, labels: Any, alpha: float | None = None, gamma: float = 2.0
) -> np.ndarray:
    """``optax.losses.sigmoid_focal_loss``: torchvision's formula, ``alpha=None`` meaning off."""
    return torchvision_sigmoid_focal_loss(logits, labels, -1.0 if alpha is None else alpha, gamma)


def kornia_binary_focal_loss_with_logits(
    pred: Any, target: Any, alpha: float = 0.25, gamma: float = 2.0
) -> np.ndarray:
    """``kornia.losses.binary_focal_loss_with_logits`` (reduction "none"), 0/1 targets.

    ``-α (1-p)^γ y log p - (1-α) p^γ (1-y) log(1-p)``.
    """

    def one(x: float, y: float) -> float:
        p = _sigmoid(x)
        return -alpha * (1 - p) ** gamma * y * _log_sigmoid(x) - (1 - alpha) * p**gamma * (
            1 - y
        ) * _log_sigmoid(-x)

    return _elementwise(one, pred, target)


# ---------------------------------------------------------------------------------------
# Softmax focal loss: the paper's formula per sample, and kornia's focal_loss
# ---------------------------------------------------------------------------------------


def _softmax_row(row: np.ndarray) -> list[float]:
    m = float(np.max(row))
    e = [math.exp(v - m) for v in row]
    s = sum(e)
    return [v / s for v in e]


def softmax_focal_loss(
    logits: Any,
    targets: Any,
    *,
    alpha: Any = None,
    gamma: float = 2.0,
    axis: int = -1,
    ignore_index: int | None = -100,
    reduction: str = "mean",
) -> np.ndarray:
    """``-α_y (1 - q_y)^γ log q_y`` per sample (or ``-Σ_c α_c t_c (1 - q_c)^γ log q_c``).

    ``alpha`` None, a number (scales all) or one weight per class. ``"mean"`` divides by the
    number of non-ignored samples.
    """
    logits = _f64(logits)
    n_classes = logits.shape[axis]
    if alpha is None:
        a = [1.0] * n_classes
    elif np.ndim(alpha) == 0:
        a = [float(alpha)] * n_classes
    else:
        a = [float(v) for v in np.asarray(alpha)]
    moved = np.moveaxis(logits, axis, -1)
    rows = moved.reshape(-1, n_classes)
    out_shape = moved.shape[:-1]
    index_targets = np.issubdtype(np.asarray(targets).dtype, np.integer)
    labels = np.asarray(targets).reshape(-1) if index_targets else None
    target_rows = (
        None if index_targets else np.moveaxis(_f64(targets), axis, -1).reshape(-1, n_classes)
    )
    losses, count = [], 0
    for i, row in enumerate(rows):
        q = _softmax_row(row)
        if labels is not None:
            y = int(labels[i])
            if ignore_index is not None and y == ignore_index:
                losses.append(0.0)
                continue
            losses.append(-a[y] * (1 - q[y]) ** gamma * math.log(q[y]))
        else:
            assert target_rows is not None
            losses.append(
                -sum(
                    a[c] * target_rows[i][c] * (1 - q[c]) ** gamma * math.log(q[c])
                    for c in range(n_classes)
                )
            )
        count += 1
    return _reduce(np.array(losses).reshape(out_shape), reduction, count)


def kornia_focal_loss(pred: Any, target: Any, alpha: float, gamma: float = 2.0) -> np.ndarray:
    """``kornia.losses.focal_loss`` (kornia ≥ 0.7, reduction "none", summed over classes).

    ``-α_c (1 - softmax(pred))^γ log_softmax(pred) · one_hot(target)`` with class dim 1 and
    ``α_c = 1 - α`` for class 0 and ``α`` for every other class.
    """
    pred = _f64(pred)
    rows = np.moveaxis(pred, 1, -1)
    out = np.empty(rows.shape[:-1])
    for idx in np.ndindex(*out.shape):
        q = _softmax_row(rows[idx])
        y = int(np.asarray(target)[idx])
        alpha_y = 1 - alpha if y == 0 else alpha
        out[idx] = -alpha_y * (1 - q[y]) ** gamma * math.log(q[y])
    return out


# ---------------------------------------------------------------------------------------
# GHM-C: mmdetection's GHMC.forward, with its Python loop over bins
# ---------------------------------------------------------------------------------------


def mmdet_ghmc(
    pred: Any,
    target: Any,
    label_weight: Any,
    *,
    bins: int = 10,
    momentum: float = 0.0,
    acc_sum: list[float] | None = None,
) -> tuple[float, list[float], np.ndarray]:
    """mmdetection's ``GHMC.forward`` (``use_sigmoid=True``, ``loss_weight=1``).

    Returns ``(loss, acc_sum, weights)``; ``acc_sum`` is the updated running count (pass it
    back in for the next batch; it starts at zeros).
    """
    pred, target, label_weight = (
        _f64(pred).ravel(),
        _f64(target).ravel(),
        _f64(label_weight).ravel(),
    )
    edges = [float(x) / bins for x in range(bins + 1)]
    edges[-1] += 1e-6
    acc = [0.0] * bins if acc_sum is None else list(acc_sum)
    weights = np.zeros_like(pred)
    g = np.array([abs(_sigmoid(z) - y) for z, y in zip(pred, target, strict=True)])
    valid = label_weight > 0
    tot = max(float(valid.sum()), 1.0)
    n = 0
    for i in range(bins):
        inds = (g >= edges[i]) & (g < edges[i + 1]) & valid
        num_in_bin = int(inds.sum())
        if num_in_bin > 0:
            if momentum > 0:
                acc[i] = momentum * acc[i] + (1 - momentum) * num_in_bin
                weights[inds] = tot / acc[i]
            else:
                weights[inds] = tot / num_in_bin
            n += 1
    if n > 0:
        weights = weights / n
    bce = np.array([_bce_with_logits(z, y) for z, y in zip(pred, target, strict=True)])
    return float((weights * bce).sum() / tot), acc, weights


# ---------------------------------------------------------------------------------------
# Hard negative mining: ssd.pytorch's MultiBoxLoss rule, and a plain sort-based one
# ---------------------------------------------------------------------------------------


def ssd_pytorch_mining(loss_c: Any, pos: Any, negpos_ratio: int = 3) -> np.ndarray:
    """ssd.pytorch ``MultiBoxLoss``: zero the positives' loss, rank by a double sort.

    ``num_neg = clamp(negpos_ratio * num_pos, max=num_anchors - 1)``; the mask is
    ``pos | (idx_rank < num_neg)``. (Its sort is not stable: use distinct losses.)
    """
    loss_c = _f64(loss_c).copy()
    pos = np.asarray(pos, dtype=bool)
    loss_c[pos] = 0.0
    loss_idx = np.argsort(-loss_c, axis=1, kind="stable")
    idx_rank = np.argsort(loss_idx, axis=1, kind="stable")
    num_pos = pos.sum(axis=1, keepdims=True)
    num_neg = np.minimum(negpos_ratio * num_pos, pos.shape[1] - 1)
    neg = idx_rank < num_neg
    return pos | neg


def hard_negative_mining(
    losses: Any, positives: Any, *, neg_pos_ratio: float = 3, min_negatives: int = 0
) -> np.ndarray:
    """DESIGN.md's rule row by row: positives, plus ``min(max(⌊r n+⌋, k_min), n-)`` negatives.

    Negatives are taken in order of decreasing loss, the earlier index first on ties.
    """
    losses = _f64(losses)
    positives = np.asarray(positives, dtype=bool)
    rows_l = losses.reshape(-1, losses.shape[-1])
    rows_p = positives.reshape(-1, losses.shape[-1])
    out = np.zeros_like(rows_p)
    for r, (row_l, row_p) in enumerate(zip(rows_l, rows_p, strict=True)):
        n_pos = int(row_p.sum())
        negatives = [i for i in range(len(row_l)) if not row_p[i]]
        k = min(max(math.floor(neg_pos_ratio * n_pos), min_negatives), len(negatives))
        chosen = sorted(negatives, key=lambda i: (-row_l[i], i))[:k]
        for i in range(len(row_l)):
            out[r, i] = bool(row_p[i]) or i in chosen
    return out.reshape(positives.shape)


def ohem(losses: Any, k: int) -> np.ndarray:
    """The ``k`` highest losses of each row (earlier index first on ties)."""
    losses = _f64(losses)
    rows = losses.reshape(-1, losses.shape[-1])
    out = np.zeros(rows.shape, dtype=bool)
    for r, row in enumerate(rows):
        for i in sorted(range(len(row)), key=lambda i: (-row[i], i))[:k]:
            out[r, i] = True
    return out.reshape(losses.shape)


# ---------------------------------------------------------------------------------------
# Class-balanced weights: Cui et al.'s code
# ---------------------------------------------------------------------------------------


def cui_class_balanced_weights(samples_per_cls: Any, beta: float) -> np.ndarray:
    """``(1 - β) / (1 - β^n)``, rescaled to sum to the number of classes (Cui et al.'s code)."""
    samples = [float(n) for n in np.asarray(samples_per_cls).ravel()]
    effective_num = [1.0 - beta**n for n in samples]
    weights = [(1.0 - beta) / e for e in effective_num]
    total = sum(weights)
    return np.array([w / total * len(samples) for w in weights])


# ---------------------------------------------------------------------------------------
# Asymmetric loss: the paper's formula and timm's implementation
# ---------------------------------------------------------------------------------------


def asymmetric_loss(
    logits: Any,
    targets: Any,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float | None = 0.05,
    reduction: str = "mean",
) -> np.ndarray:
    """Ridnik et al. (2021), eq. 7: ``-y (1-p)^γ+ log p - (1-y) p_m^γ- log(1 - p_m)``.

    ``p_m = max(p - m, 0)``; ``0^0 = 1`` (Python's convention), times ``log 1 = 0``.
    """
    m = 0.0 if clip is None else clip

    def one(z: float, y: float) -> float:
        p = _sigmoid(z)
        p_m = max(p - m, 0.0)
        neg = 0.0 if p_m == 0 else -(p_m**gamma_neg) * math.log1p(-p_m)
        return -y * (1 - p) ** gamma_pos * _log_sigmoid(z) + (1 - y) * neg

    return _reduce(_elementwise(one, logits, targets), reduction)


def timm_asymmetric_loss(
    x: Any,
    y: Any,
    *,
    gamma_neg: float = 4.0,
    gamma_pos: float = 1.0,
    clip: float = 0.05,
    eps: float = 1e-8,
) -> float:
    """timm's ``AsymmetricLossMultiLabel.forward``: probabilities clamped at ``eps``, summed."""

    def one(z: float, t: float) -> float:
        xs_pos = _sigmoid(z)
        xs_neg = 1 - xs_pos
        if clip is not None and clip > 0:
            xs_neg = min(xs_neg + clip, 1.0)
        loss = t * math.log(max(xs_pos, eps)) + (1 - t) * math.log(max(xs_neg, eps))
        if gamma_neg > 0 or gamma_pos > 0:
            pt = xs_pos * t + xs_neg * (1 - t)
            loss *= (1 - pt) ** (gamma_pos * t + gamma_neg * (1 - t))
        return loss

    return -float(_elementwise(one, x, y).sum())
