"""Information measures: the quantities cross-entropy losses come from.

All take probabilities (not logits), reduce along ``axis`` (default the last), and return
nats unless ``base`` says otherwise (``2`` for bits, ``10`` for bans). ``0 · log 0 = 0``;
where ``p > 0`` and ``q = 0`` the cross-entropy and KL divergence are ``inf`` — the model
says an event that happens is impossible. Inputs must hold probabilities in [0, 1];
distributions along ``axis`` are not renormalised (``scipy.stats.entropy`` does that;
crossent refuses to change your numbers silently).

The continuous counterparts — differential entropy, cross-entropy and KL divergence of
Gaussians (diagonal and full covariance) and the Monte-Carlo KL estimate from samples —
live in :mod:`crossent._densities` and are re-exported here.

References:
    Shannon, C. E. "A Mathematical Theory of Communication." Bell System Technical
    Journal 27, 1948.
    Cover, T. M. and Thomas, J. A. *Elements of Information Theory*, 2nd ed., Wiley, 2006.
"""

from __future__ import annotations

import math
from typing import Any

from crossent import _checks
from crossent._array import (
    Array,
    asarray,
    compute_dtype,
    is_floating,
    is_integer,
    log_base,
    namespace,
    safe_log,
    to_float,
    xlogy,
)
from crossent._densities import (
    gaussian_cross_entropy,
    gaussian_entropy,
    gaussian_kl_divergence,
    monte_carlo_kl,
    mvn_cross_entropy,
    mvn_entropy,
    mvn_kl_divergence,
)

__all__ = [
    "binary_entropy",
    "cross_entropy",
    "entropy",
    "gaussian_cross_entropy",
    "gaussian_entropy",
    "gaussian_kl_divergence",
    "js_divergence",
    "kl_divergence",
    "monte_carlo_kl",
    "mvn_cross_entropy",
    "mvn_entropy",
    "mvn_kl_divergence",
    "perplexity",
    "self_information",
]


def _prepare(*named: tuple[str, Any]) -> tuple[Any, list[Any], Any]:
    """Validate probability arrays; return the namespace, float copies and output dtype."""
    arrays = [asarray(x, name) for name, x in named]
    xp = namespace(*arrays)
    out = []
    for (name, _), x in zip(named, arrays, strict=True):
        if not (is_floating(xp, x) or is_integer(xp, x)):
            _checks.floating(xp, name, x)
        if is_integer(xp, x):
            # the library's default float: float64 for NumPy (and JAX in x64 mode), else float32
            x = xp.astype(x, xp.asarray(0.0).dtype)
        _checks.in_unit_interval(xp, name, x)
        out.append(x)
    dtype = compute_dtype(xp, out[0])
    result_dtype = out[0].dtype
    return xp, [to_float(xp, x, dtype) for x in out], result_dtype


def _same_shape(p: Any, q: Any) -> None:
    if tuple(p.shape) != tuple(q.shape):
        raise ValueError(f"`q` must have the shape of `p`, {tuple(p.shape)}; got {tuple(q.shape)}.")


def _finish(xp: Any, value: Any, base: float | None, dtype: Any) -> Any:
    value = value / log_base(base) if base is not None else value
    return to_float(xp, value, dtype)


def self_information(p: Array, *, base: float | None = None) -> Array:
    r"""Self-information (surprisal) of an event of probability ``p``.

    .. math:: I(p) = -\log p

    A certain event (``p = 1``) carries 0; an impossible one (``p = 0``) carries ``inf``.

    Args:
        p: probabilities in [0, 1], any shape.
        base: ``None`` for nats (default), ``2`` for bits, ``10`` for bans.

    Returns:
        Array of ``p``'s shape and library.

    Raises:
        ValueError: if ``p`` is outside [0, 1] or ``base`` is not a valid log base.

    Example:
        >>> import numpy as np
        >>> from crossent import self_information
        >>> self_information(np.array([1.0, 0.5, 0.25]), base=2)
        array([0., 1., 2.])
    """
    _checks.base(base)
    xp, (p,), dtype = _prepare(("p", p))
    # safe_log gives -inf at p = 0 without a divide-by-zero warning; 0 - x avoids -0.0
    return _finish(xp, 0.0 - safe_log(xp, p), base, dtype)


def entropy(p: Array, *, axis: int = -1, base: float | None = None) -> Array:
    r"""Shannon entropy of the distributions along ``axis``.

    .. math:: H(p) = -\sum_i p_i \log p_i, \qquad 0 \log 0 = 0

    Args:
        p: probabilities along ``axis`` (each distribution should sum to 1).
        axis: the axis holding each distribution. Default: ``-1``.
        base: ``None`` for nats (default), ``2`` for bits, ``10`` for bans.

    Returns:
        Array of ``p``'s shape without ``axis``.

    Raises:
        ValueError: if ``p`` is outside [0, 1], or ``axis``/``base`` are invalid.

    Example:
        >>> import numpy as np
        >>> from crossent import entropy
        >>> float(entropy(np.array([0.5, 0.5]), base=2))
        1.0
    """
    _checks.base(base)
    xp, (p,), dtype = _prepare(("p", p))
    axis = _checks.axis("axis", axis, p.ndim)
    return _finish(xp, 0.0 - xp.sum(xlogy(xp, p, p), axis=axis), base, dtype)


def binary_entropy(p: Array, *, base: float | None = None) -> Array:
    r"""Entropy of a Bernoulli(``p``) variable, elementwise.

    .. math:: H_b(p) = -p \log p - (1 - p) \log (1 - p)

    It is 0 for ``p`` in {0, 1} and peaks at ``p = 0.5`` with ``ln 2`` nats (1 bit).

    Args:
        p: probabilities of the event, any shape.
        base: ``None`` for nats (default), ``2`` for bits, ``10`` for bans.

    Returns:
        Array of ``p``'s shape.

    Example:
        >>> import numpy as np
        >>> from crossent import binary_entropy
        >>> binary_entropy(np.array([0.0, 0.5, 1.0]), base=2)
        array([0., 1., 0.])
    """
    _checks.base(base)
    xp, (p,), dtype = _prepare(("p", p))
    q = 1 - p
    return _finish(xp, 0.0 - (xlogy(xp, p, p) + xlogy(xp, q, q)), base, dtype)


def cross_entropy(p: Array, q: Array, *, axis: int = -1, base: float | None = None) -> Array:
    r"""Cross-entropy of the model distribution ``q`` relative to the true ``p``.

    .. math:: H(p, q) = -\sum_i p_i \log q_i = H(p) + \mathrm{KL}(p \,\|\, q)

    ``inf`` where some ``p_i > 0`` has ``q_i = 0``. For losses on logits use
    :func:`crossent.softmax_cross_entropy`; this function is the measure between two
    given distributions.

    Args:
        p: the true distributions, probabilities along ``axis``.
        q: the model's distributions, same shape as ``p``.
        axis: the axis holding each distribution. Default: ``-1``.
        base: ``None`` for nats (default), ``2`` for bits, ``10`` for bans.

    Returns:
        Array of ``p``'s shape without ``axis``.

    Example:
        >>> import numpy as np
        >>> from crossent import cross_entropy
        >>> round(float(cross_entropy(np.array([0, 1, 0.]), np.array([0.2, 0.7, 0.1]))), 4)
        0.3567
    """
    _checks.base(base)
    xp, (p, q), dtype = _prepare(("p", p), ("q", q))
    _same_shape(p, q)
    axis = _checks.axis("axis", axis, p.ndim)
    return _finish(xp, 0.0 - xp.sum(xlogy(xp, p, q), axis=axis), base, dtype)


def _relative_entropy(xp: Any, p: Any, q: Any) -> Any:
    r"""Elementwise :math:`p \log(p / q)`: 0 where ``p = 0``, ``inf`` where ``p > 0 = q``.

    Written as one log of a ratio (``scipy.special.rel_entr``) rather than the difference
    of two ``xlogy`` terms, so that KL stays accurate when ``p ≈ q``.
    """
    zero = p == 0
    impossible = q == 0
    # Safe operands in the discarded branches keep NumPy quiet and autograd free of NaN.
    p_safe = xp.where(zero, xp.ones_like(p), p)
    q_safe = xp.where(impossible, xp.ones_like(q), q)
    term = xp.where(impossible, xp.full_like(p, math.inf), p * xp.log(p_safe / q_safe))
    return xp.where(zero, xp.zeros_like(p), term)


def kl_divergence(p: Array, q: Array, *, axis: int = -1, base: float | None = None) -> Array:
    r"""Kullback–Leibler divergence of ``q`` from ``p``.

    .. math:: \mathrm{KL}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i} = H(p, q) - H(p)

    Non-negative, 0 exactly when ``p = q``; ``inf`` where some ``p_i > 0`` has ``q_i = 0``.
    For a one-hot ``p`` it equals the cross-entropy ``-log q_y``. Matches
    ``scipy.special.rel_entr(p, q).sum(axis)`` (SciPy's ``entropy(p, q)`` also
    renormalises its inputs; this function does not).

    Args:
        p: the true distributions, probabilities along ``axis``.
        q: the model's distributions, same shape as ``p``.
        axis: the axis holding each distribution. Default: ``-1``.
        base: ``None`` for nats (default), ``2`` for bits, ``10`` for bans.

    Returns:
        Array of ``p``'s shape without ``axis``.

    Example:
        >>> import numpy as np
        >>> from crossent import kl_divergence
        >>> round(float(kl_divergence(np.array([1, 0, 0.]), np.array([0.7, 0.2, 0.1]))), 4)
        0.3567
    """
    _checks.base(base)
    xp, (p, q), dtype = _prepare(("p", p), ("q", q))
    _same_shape(p, q)
    axis = _checks.axis("axis", axis, p.ndim)
    return _finish(xp, xp.sum(_relative_entropy(xp, p, q), axis=axis), base, dtype)


def js_divergence(p: Array, q: Array, *, axis: int = -1, base: float | None = None) -> Array:
    r"""Jensen–Shannon divergence, the symmetrised and bounded KL.

    .. math:: \mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12 \mathrm{KL}(q \,\|\, m),
        \qquad m = \tfrac12 (p + q)

    Symmetric, finite, and at most ``ln 2`` nats (1 bit). This is the divergence;
    ``scipy.spatial.distance.jensenshannon`` returns its square root (a metric).

    Args:
        p, q: distributions along ``axis``, same shape.
        axis: the axis holding each distribution. Default: ``-1``.
        base: ``None`` for nats (default), ``2`` for bits, ``10`` for bans.

    Returns:
        Array of ``p``'s shape without ``axis``.

    References:
        Lin, J. "Divergence measures based on the Shannon entropy." IEEE Transactions on
        Information Theory 37(1), 1991.

    Example:
        >>> import numpy as np
        >>> from crossent import js_divergence
        >>> float(js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0]), base=2))
        1.0
    """
    _checks.base(base)
    xp, (p, q), dtype = _prepare(("p", p), ("q", q))
    _same_shape(p, q)
    axis = _checks.axis("axis", axis, p.ndim)
    m = (p + q) / 2
    js = (
        xp.sum(_relative_entropy(xp, p, m), axis=axis)
        + xp.sum(_relative_entropy(xp, q, m), axis=axis)
    ) / 2
    return _finish(xp, js, base, dtype)


def perplexity(p: Array, q: Array | None = None, *, axis: int = -1) -> Array:
    r"""Perplexity: ``exp`` of the mean cross-entropy in nats.

    .. math:: \mathrm{PPL}(p, q) = \exp\Big(\frac{1}{N} \sum_{n=1}^{N} H(p_n, q_n)\Big)

    With ``q=None`` it is the perplexity of ``p`` itself, ``exp`` of its mean entropy — the
    effective number of equally likely outcomes (a fair die has perplexity 6). The mean is
    over every distribution (all axes but ``axis``); the result does not depend on the log
    base. For a language model with logits and class-index targets use
    ``exp(softmax_cross_entropy(logits, targets))``.

    Args:
        p: the true distributions (e.g. one-hot targets), probabilities along ``axis``.
        q: the model's distributions, same shape as ``p``; ``None`` for ``p``'s own.
        axis: the axis holding each distribution. Default: ``-1``.

    Returns:
        A 0-d array.

    Example:
        >>> import numpy as np
        >>> from crossent import perplexity
        >>> round(float(perplexity(np.full(6, 1 / 6))), 6)
        6.0
    """
    h = entropy(p, axis=axis) if q is None else cross_entropy(p, q, axis=axis)
    xp = namespace(h)
    return xp.exp(xp.mean(h))
