"""Naive float64 NumPy reference formulas, written from the math, independent of crossent.

Each function is the textbook formula computed sample by sample in float64, so that a
mistake in crossent's vectorised, log-space, multi-library code cannot be repeated
here. Nothing in this module imports crossent.

Also here: the formulas of libraries that are not installed (TensorFlow's ``tf.nn``
functions and optax's losses), transcribed from their documentation, and a central
finite-difference gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

LOG_FLOOR = -100.0
"""PyTorch's ``binary_cross_entropy``/``nll`` on probabilities clamps each log at -100."""


def _f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _plogq(p: float, q: float) -> float:
    """``p log q`` with ``0 log q = 0`` (also for ``q = 0``)."""
    if p == 0:
        return 0.0
    if q == 0:
        return -math.inf
    return p * math.log(q)


def _per_row(x: np.ndarray, axis: int) -> np.ndarray:
    """``x`` with ``axis`` last, flattened to ``[rows, C]``."""
    moved = np.moveaxis(x, axis, -1)
    return moved.reshape(-1, moved.shape[-1])


def _out_shape(x: np.ndarray, axis: int) -> tuple[int, ...]:
    return tuple(np.delete(np.array(x.shape), axis % x.ndim))


def _log_base(base: float | None) -> float:
    return 1.0 if base is None else math.log(base)


# ---------------------------------------------------------------------------------------
# Information measures
# ---------------------------------------------------------------------------------------


def self_information(p: Any, *, base: float | None = None) -> np.ndarray:
    """``-log p``, elementwise."""
    p = _f64(p)
    out = np.array([math.inf if v == 0 else -math.log(v) for v in p.ravel()])
    return out.reshape(p.shape) / _log_base(base)


def entropy(p: Any, *, axis: int = -1, base: float | None = None) -> np.ndarray:
    """``-Σ p log p`` along ``axis`` with ``0 log 0 = 0``."""
    p = _f64(p)
    rows = [-sum(_plogq(v, v) for v in row) for row in _per_row(p, axis)]
    return np.array(rows).reshape(_out_shape(p, axis)) / _log_base(base)


def cross_entropy(p: Any, q: Any, *, axis: int = -1, base: float | None = None) -> np.ndarray:
    """``-Σ p log q`` along ``axis``."""
    p, q = _f64(p), _f64(q)
    rows = [
        -sum(_plogq(a, b) for a, b in zip(rp, rq, strict=True))
        for rp, rq in zip(_per_row(p, axis), _per_row(q, axis), strict=True)
    ]
    return np.array(rows).reshape(_out_shape(p, axis)) / _log_base(base)


def _rel_entr(a: float, b: float) -> float:
    """``a log(a / b)``: 0 for ``a = 0``, inf for ``a > 0 = b``."""
    if a == 0:
        return 0.0
    if b == 0:
        return math.inf
    return a * math.log(a / b)


def kl_divergence(p: Any, q: Any, *, axis: int = -1, base: float | None = None) -> np.ndarray:
    """``Σ p log(p / q)`` along ``axis``."""
    p, q = _f64(p), _f64(q)
    rows = [
        sum(_rel_entr(a, b) for a, b in zip(rp, rq, strict=True))
        for rp, rq in zip(_per_row(p, axis), _per_row(q, axis), strict=True)
    ]
    return np.array(rows).reshape(_out_shape(p, axis)) / _log_base(base)


def js_divergence(p: Any, q: Any, *, axis: int = -1, base: float | None = None) -> np.ndarray:
    """``½ KL(p‖m) + ½ KL(q‖m)`` with ``m = (p + q) / 2``."""
    p, q = _f64(p), _f64(q)
    m = (p + q) / 2
    return (
        kl_divergence(p, m, axis=axis, base=base) + kl_divergence(q, m, axis=axis, base=base)
    ) / 2


def binary_entropy(p: Any, *, base: float | None = None) -> np.ndarray:
    """``-p log p - (1-p) log(1-p)``, elementwise."""
    p = _f64(p)
    out = np.array([-_plogq(v, v) - _plogq(1 - v, 1 - v) for v in p.ravel()])
    return out.reshape(p.shape) / _log_base(base)


# ---------------------------------------------------------------------------------------
# Softmax / categorical cross-entropy
# ---------------------------------------------------------------------------------------


def _logsumexp(row: np.ndarray) -> float:
    m = float(np.max(row))
    return m + math.log(sum(math.exp(v - m) for v in row))


def _reduce(losses: np.ndarray, reduction: str, divisor: float) -> np.ndarray:
    if reduction == "none":
        return losses
    if reduction == "sum":
        return np.asarray(losses.sum())
    return np.asarray(losses.sum() / divisor if divisor > 0 else 0.0)


def softmax_cross_entropy(
    logits: Any,
    targets: Any,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
    reduction: str = "mean",
) -> np.ndarray:
    """Softmax cross-entropy, one sample at a time, PyTorch's rules for weights and smoothing.

    Class indices ``y``: ``(1-ε)·(-w[y] log q_y) + ε/C·Σ_c (-w_c log q_c) + λ w[y] lse²``,
    ``"mean"`` divides by ``Σ w[y_i]`` over non-ignored samples. Probability targets ``t``:
    ``-Σ_c w_c ((1-ε) t_c + ε/C) log q_c + λ lse²``, ``"mean"`` divides by the sample count.
    An all-ignored ``"mean"`` is 0 (crossent's rule; PyTorch gives NaN).
    """
    logits = _f64(logits)
    n_classes = logits.shape[axis]
    w = np.ones(n_classes) if weight is None else _f64(weight)
    eps = label_smoothing
    rows = _per_row(logits, axis)
    index_targets = np.issubdtype(np.asarray(targets).dtype, np.integer)
    if index_targets:
        labels = np.asarray(targets).reshape(-1)
    else:
        target_rows = _per_row(_f64(targets), axis)
    losses, divisor = [], 0.0
    for i, row in enumerate(rows):
        z = row if logit_softcap is None else logit_softcap * np.tanh(row / logit_softcap)
        lse = _logsumexp(z)
        log_q = z - lse
        if index_targets:
            y = int(labels[i])
            if ignore_index is not None and y == ignore_index:
                losses.append(0.0)
                continue
            smooth = -sum(w[c] * log_q[c] for c in range(n_classes))
            loss = (1 - eps) * (-w[y] * log_q[y]) + eps / n_classes * smooth
            loss += z_loss * w[y] * lse**2
            divisor += w[y]
        else:
            t = (1 - eps) * target_rows[i] + eps / n_classes
            loss = -sum(w[c] * t[c] * log_q[c] for c in range(n_classes)) + z_loss * lse**2
            divisor += 1.0
        losses.append(loss)
    return _reduce(np.array(losses).reshape(_out_shape(logits, axis)), reduction, divisor)


def categorical_cross_entropy(
    probs: Any,
    targets: Any,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int | None = -100,
    log_floor: float = LOG_FLOOR,
    reduction: str = "mean",
) -> np.ndarray:
    """``-Σ_c a_c max(log q_c, log_floor)`` with one-hot or probability targets ``a``."""
    probs = _f64(probs)
    n_classes = probs.shape[axis]
    w = np.ones(n_classes) if weight is None else _f64(weight)
    rows = _per_row(probs, axis)
    index_targets = np.issubdtype(np.asarray(targets).dtype, np.integer)
    labels = np.asarray(targets).reshape(-1) if index_targets else None
    target_rows = None if index_targets else _per_row(_f64(targets), axis)

    def log(v: float) -> float:
        return max(math.log(v), log_floor) if v > 0 else log_floor

    losses, divisor = [], 0.0
    for i, row in enumerate(rows):
        if labels is not None:
            y = int(labels[i])
            if ignore_index is not None and y == ignore_index:
                losses.append(0.0)
                continue
            losses.append(-w[y] * log(row[y]))
            divisor += w[y]
        else:
            assert target_rows is not None
            losses.append(-sum(w[c] * target_rows[i][c] * log(row[c]) for c in range(n_classes)))
            divisor += 1.0
    return _reduce(np.array(losses).reshape(_out_shape(probs, axis)), reduction, divisor)


# ---------------------------------------------------------------------------------------
# Binary cross-entropy
# ---------------------------------------------------------------------------------------


def _log_sigmoid(z: float) -> float:
    """``log σ(z) = -log(1 + e^{-z})``, written for both signs so float64 does not overflow."""
    if z >= 0:
        return -math.log1p(math.exp(-z))
    return z - math.log1p(math.exp(z))


def sigmoid_binary_cross_entropy(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> np.ndarray:
    """``-w [p_w y log σ(z) + (1-y) log σ(-z)]`` with ``y ↦ y(1-ε) + ε/2``; mean over elements."""
    z = _f64(logits)
    y = _f64(targets) * (1 - label_smoothing) + label_smoothing / 2
    w = np.broadcast_to(1.0 if weight is None else _f64(weight), z.shape)
    pw = np.broadcast_to(1.0 if pos_weight is None else _f64(pos_weight), z.shape)
    flat = [
        -wi * (pwi * yi * _log_sigmoid(zi) + (1 - yi) * _log_sigmoid(-zi))
        for zi, yi, wi, pwi in zip(z.ravel(), y.ravel(), w.ravel(), pw.ravel(), strict=True)
    ]
    return _reduce(np.array(flat).reshape(z.shape), reduction, z.size)


def binary_cross_entropy(
    probs: Any,
    targets: Any,
    *,
    weight: Any = None,
    log_floor: float = LOG_FLOOR,
    reduction: str = "mean",
) -> np.ndarray:
    """``-w [y max(log p, -100) + (1-y) max(log(1-p), -100)]``; mean over elements."""
    p, y = _f64(probs), _f64(targets)
    w = np.broadcast_to(1.0 if weight is None else _f64(weight), p.shape)

    def log(v: float) -> float:
        return max(math.log(v), log_floor) if v > 0 else log_floor

    flat = [
        -wi * (yi * log(pi) + (1 - yi) * log(1 - pi))
        for pi, yi, wi in zip(p.ravel(), y.ravel(), w.ravel(), strict=True)
    ]
    return _reduce(np.array(flat).reshape(p.shape), reduction, p.size)


# ---------------------------------------------------------------------------------------
# Other libraries' formulas (not installed here), transcribed from their documentation
# ---------------------------------------------------------------------------------------


def tf_softmax_cross_entropy_with_logits(labels: Any, logits: Any, axis: int = -1) -> np.ndarray:
    """``tf.nn.softmax_cross_entropy_with_logits``: ``-Σ labels · log_softmax(logits)`` per row."""
    labels, logits = _f64(labels), _f64(logits)
    out = [
        -float(np.dot(t, z - _logsumexp(z)))
        for t, z in zip(_per_row(labels, axis), _per_row(logits, axis), strict=True)
    ]
    return np.array(out).reshape(_out_shape(logits, axis))


def tf_sparse_softmax_cross_entropy_with_logits(labels: Any, logits: Any) -> np.ndarray:
    """``tf.nn.sparse_softmax_cross_entropy_with_logits``: ``-log_softmax(logits)[label]``."""
    labels, logits = np.asarray(labels), _f64(logits)
    rows = _per_row(logits, -1)
    out = [_logsumexp(z) - z[int(y)] for z, y in zip(rows, labels.ravel(), strict=True)]
    return np.array(out).reshape(labels.shape)


def tf_sigmoid_cross_entropy_with_logits(labels: Any, logits: Any) -> np.ndarray:
    """``tf.nn.sigmoid_cross_entropy_with_logits``: ``max(x, 0) - x z + log(1 + exp(-|x|))``."""
    z, x = _f64(labels), _f64(logits)
    return np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))


def tf_weighted_cross_entropy_with_logits(
    labels: Any, logits: Any, pos_weight: float
) -> np.ndarray:
    """``tf.nn.weighted_cross_entropy_with_logits``: ``(1-z) x + (1 + (q-1) z) log(1 + exp(-x))``.

    Written with TensorFlow's stable form ``log(1 + exp(-|x|)) + max(-x, 0)``.
    """
    z, x, q = _f64(labels), _f64(logits), float(pos_weight)
    log_weight = 1 + (q - 1) * z
    return (1 - z) * x + log_weight * (np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0))


def optax_softmax_cross_entropy(logits: Any, labels: Any) -> np.ndarray:
    """``optax.softmax_cross_entropy``: ``-Σ labels · log_softmax(logits)`` over the last axis."""
    return tf_softmax_cross_entropy_with_logits(labels, logits)


def optax_sigmoid_binary_cross_entropy(logits: Any, labels: Any) -> np.ndarray:
    """``optax.sigmoid_binary_cross_entropy``: ``-y log σ(x) - (1-y) log σ(-x)``, elementwise."""
    x, y = _f64(logits), _f64(labels)
    flat = [
        -yi * _log_sigmoid(xi) - (1 - yi) * _log_sigmoid(-xi)
        for xi, yi in zip(x.ravel(), y.ravel(), strict=True)
    ]
    return np.array(flat).reshape(x.shape)


# ---------------------------------------------------------------------------------------
# Finite differences
# ---------------------------------------------------------------------------------------


def numerical_gradient(f: Callable[[np.ndarray], Any], x: Any, *, step: float = 1e-6) -> np.ndarray:
    """Central differences ``(f(x + h e_k) - f(x - h e_k)) / 2h`` of a scalar ``f``, in float64."""
    x = _f64(x).copy()
    g = np.zeros_like(x)
    flat_x, flat_g = x.reshape(-1), g.reshape(-1)
    for k in range(flat_x.size):
        old = flat_x[k]
        flat_x[k] = old + step
        up = float(np.sum(f(x)))
        flat_x[k] = old - step
        down = float(np.sum(f(x)))
        flat_x[k] = old
        flat_g[k] = (up - down) / (2 * step)
    return g


# ---------------------------------------------------------------------------------------
# Comparing a crossent result with a reference
# ---------------------------------------------------------------------------------------

TOLERANCE = {
    "float64": (1e-12, 1e-12),
    "float32": (2e-5, 2e-6),
    "float16": (5e-3, 5e-3),
    "bfloat16": (3e-2, 3e-2),
}
"""``(rtol, atol)`` per dtype: float64 rounding, and a few units in the last place otherwise."""


def assert_result(
    lib: Any,
    out: Any,
    expected: Any,
    *,
    dtype: str = "float64",
    scale: float = 1.0,
) -> None:
    """``out`` is an array of ``lib`` with ``dtype``, ``expected``'s shape, and its values.

    ``lib`` is the ``xp`` fixture of conftest.py; the tolerance is the dtype's, times ``scale``.
    """
    expected = np.asarray(expected, dtype=np.float64)
    assert lib.is_native(out), f"expected a {lib.name} array, got {type(out)}"
    assert out.dtype == lib.dtype(dtype), f"expected dtype {dtype}, got {out.dtype}"
    assert tuple(out.shape) == expected.shape, f"expected shape {expected.shape}, got {out.shape}"
    rtol, atol = TOLERANCE[dtype]
    np.testing.assert_allclose(lib.to_numpy(out), expected, rtol=rtol * scale, atol=atol * scale)


# ---------------------------------------------------------------------------------------
# Continuous distributions: the textbook Gaussian formulas, with inverses and determinants
# ---------------------------------------------------------------------------------------


def gaussian_kl(mean_p: Any, var_p: Any, mean_q: Any, var_q: Any) -> np.ndarray:
    """KL(N(mp, vp) || N(mq, vq)) = ½ [log(vq/vp) + (vp + (mp − mq)²)/vq − 1], elementwise."""
    mp, vp, mq, vq = np.broadcast_arrays(_f64(mean_p), _f64(var_p), _f64(mean_q), _f64(var_q))
    out = np.empty(mp.shape)
    for i in np.ndindex(mp.shape):
        out[i] = 0.5 * (math.log(vq[i] / vp[i]) + (vp[i] + (mp[i] - mq[i]) ** 2) / vq[i] - 1)
    return out


def gaussian_entropy(var: Any) -> np.ndarray:
    """½ log(2πe σ²), elementwise."""
    v = _f64(var)
    return np.vectorize(lambda s: 0.5 * math.log(2 * math.pi * math.e * s))(v)


def mvn_kl(mean_p: Any, cov_p: Any, mean_q: Any, cov_q: Any) -> float:
    """½ [tr(Σq⁻¹Σp) + (μq − μp)ᵀΣq⁻¹(μq − μp) − D + ln det Σq − ln det Σp], one pair."""
    mp, sp, mq, sq = _f64(mean_p), _f64(cov_p), _f64(mean_q), _f64(cov_q)
    inv_q = np.linalg.inv(sq)
    diff = mq - mp
    return 0.5 * float(
        np.trace(inv_q @ sp)
        + diff @ inv_q @ diff
        - len(mp)
        + math.log(np.linalg.det(sq))
        - math.log(np.linalg.det(sp))
    )


def mvn_cross_entropy(mean_p: Any, cov_p: Any, mean_q: Any, cov_q: Any) -> float:
    """E_p[−log q(x)] = ½ [D ln 2π + ln det Σq + tr(Σq⁻¹Σp) + (μp − μq)ᵀΣq⁻¹(μp − μq)]."""
    mp, sp, mq, sq = _f64(mean_p), _f64(cov_p), _f64(mean_q), _f64(cov_q)
    inv_q = np.linalg.inv(sq)
    diff = mp - mq
    d = len(mp)
    return 0.5 * float(
        d * math.log(2 * math.pi)
        + math.log(np.linalg.det(sq))
        + np.trace(inv_q @ sp)
        + diff @ inv_q @ diff
    )


def monte_carlo_kl_terms(log_p: Any, log_q: Any, estimator: str) -> np.ndarray:
    """Per-sample k1 = log p − log q, k2 = ½ (log q − log p)², k3 = (r − 1) − log r, r = q/p."""
    lp, lq = _f64(log_p), _f64(log_q)
    if estimator == "k1":
        return lp - lq
    if estimator == "k2":
        return 0.5 * (lq - lp) ** 2
    r = np.exp(lq - lp)
    return (r - 1) - np.log(r)
