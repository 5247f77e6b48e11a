r"""Information measures of continuous distributions: Gaussians in closed form, and the
Monte-Carlo estimate of a KL divergence from log-densities of samples.

For densities the sums of :mod:`crossent.info` become integrals,

.. math:: \mathrm{KL}(p \,\|\, q) = \int p(x) \log \frac{p(x)}{q(x)} \, dx, \qquad
    H(p, q) = -\int p(x) \log q(x) \, dx = H(p) + \mathrm{KL}(p \,\|\, q),

and the differential entropy :math:`H(p) = -\int p \log p` may be negative. Results are in
nats unless ``base`` says otherwise. Re-exported by :mod:`crossent.info`.

References:
    Kullback, S. and Leibler, R. A. "On Information and Sufficiency." Annals of
    Mathematical Statistics 22(1), 1951.
    Cover, T. M. and Thomas, J. A. *Elements of Information Theory*, 2nd ed., Wiley, 2006,
    ch. 8.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from crossent import _checks
from crossent._array import (
    Array,
    asarray_in,
    cholesky,
    compute_dtype,
    is_array,
    is_floating,
    is_integer,
    log_base,
    namespace,
    solve_lower_triangular,
    to_float,
)

__all__ = [
    "gaussian_cross_entropy",
    "gaussian_entropy",
    "gaussian_kl_divergence",
    "monte_carlo_kl",
    "mvn_cross_entropy",
    "mvn_entropy",
    "mvn_kl_divergence",
]

_LOG_2PI = math.log(2 * math.pi)
ESTIMATORS = ("k1", "k2", "k3")
"""The Monte-Carlo KL estimators of :func:`monte_carlo_kl`."""


def _floats(*named: tuple[str, Any]) -> tuple[Any, list[Any], Any]:
    """Real arrays (``None`` kept) in one compute dtype; the namespace and output dtype.

    Integers become the library's default float; fp16/bf16 are computed in float32 and
    the result returned in the dtype of the first array.
    """
    xp = namespace(*[x for _, x in named if is_array(x)])
    # numbers and lists (a scalar variance) join the library of the arrays given
    arrays = [None if x is None else asarray_in(xp, x, name) for name, x in named]
    out: list[Any] = []
    for (name, _), x in zip(named, arrays, strict=True):
        if x is not None and is_integer(xp, x):
            # the library's default float: float64 for NumPy (and JAX in x64 mode)
            x = xp.astype(x, xp.asarray(0.0).dtype)
        elif x is not None and not is_floating(xp, x):
            _checks.floating(xp, name, x)
        out.append(x)
    floats = [x for x in out if x is not None]
    result_dtype = floats[0].dtype
    dtype = xp.result_type(*[compute_dtype(xp, x) for x in floats])
    return xp, [None if x is None else to_float(xp, x, dtype) for x in out], result_dtype


def _finish(xp: Any, value: Any, base: float | None, dtype: Any) -> Any:
    value = value / log_base(base) if base is not None else value
    return to_float(xp, value, dtype)


def _positive(xp: Any, name: str, x: Any, what: str = "") -> None:
    """Every entry of ``x`` (``name``, or its part ``what``) must be > 0, checked where the
    validation policy reads values."""
    if _checks.any_true(xp, ~(x > 0)):
        low = float(xp.min(x))
        if what:
            raise ValueError(
                f"`{name}` must have a positive {what}; got a minimum {what} entry of {low!r}."
            )
        raise ValueError(f"`{name}` must be positive; got min({name})={low!r}.")


def _broadcast(xp: Any, names: tuple[str, ...], *arrays: Any) -> list[Any]:
    """``arrays`` broadcast to one shape; ValueError naming the arguments otherwise."""
    try:
        return list(xp.broadcast_arrays(*arrays))
    except (ValueError, RuntimeError):
        shapes = ", ".join(f"`{n}` {tuple(a.shape)}" for n, a in zip(names, arrays, strict=True))
        raise ValueError(f"the arguments must broadcast to one shape; got {shapes}.") from None


def _event_sum(xp: Any, x: Any, axis: int | None) -> Any:
    """Sum over the event axis ``axis`` (``None``: univariate, nothing summed)."""
    if axis is None:
        return x
    return xp.sum(x, axis=_checks.axis("axis", axis, x.ndim))


# ---------------------------------------------------------------------------------------
# Gaussians with diagonal (or scalar) variances
# ---------------------------------------------------------------------------------------


def _gaussian(
    named: tuple[tuple[str, Any], ...], variances: tuple[str, ...]
) -> tuple[Any, list[Any], Any]:
    """Float, broadcast arrays of a Gaussian measure, the variances checked positive."""
    xp, arrays, dtype = _floats(*named)
    for (name, _), x in zip(named, arrays, strict=True):
        if name in variances:
            _positive(xp, name, x)
    return xp, _broadcast(xp, tuple(n for n, _ in named), *arrays), dtype


def gaussian_entropy(var: Array, *, axis: int | None = None, base: float | None = None) -> Array:
    r"""Differential entropy of Gaussians with variances ``var`` (diagonal covariance).

    .. math:: H(\mathcal N(\mu, \sigma^2)) = \tfrac12 \log(2 \pi e \sigma^2)

    summed over the event axis ``axis`` for a diagonal multivariate Gaussian. Negative when
    :math:`\sigma^2 < 1 / (2 \pi e)`; it does not depend on the mean.

    Args:
        var: variances :math:`\sigma^2 > 0`, any shape.
        axis: the event axis summed over; ``None`` (default) for univariate Gaussians,
            elementwise.
        base: ``None`` for nats (default), ``2`` for bits, ``10`` for bans.

    Returns:
        Array of ``var``'s shape (without ``axis`` if given), in ``var``'s dtype.

    Raises:
        TypeError: if ``var`` is not a real array.
        ValueError: if a variance is not positive, or ``axis``/``base`` are invalid.

    References:
        Cover and Thomas, *Elements of Information Theory*, 2nd ed., 2006, eq. 8.5.

    Example:
        >>> import numpy as np
        >>> from crossent import gaussian_entropy
        >>> round(float(gaussian_entropy(np.array(1.0))), 6)  # ½ log(2πe)
        1.418939
    """
    _checks.base(base)
    xp, (var,), dtype = _gaussian((("var", var),), ("var",))
    value = (1.0 + _LOG_2PI + xp.log(var)) / 2
    return _finish(xp, _event_sum(xp, value, axis), base, dtype)


def gaussian_kl_divergence(
    mean_p: Array,
    var_p: Array,
    mean_q: Array,
    var_q: Array,
    *,
    axis: int | None = None,
    base: float | None = None,
) -> Array:
    r"""KL divergence between Gaussians with diagonal (or scalar) variances.

    .. math:: \mathrm{KL}(\mathcal N(\mu_p, \sigma_p^2) \,\|\, \mathcal N(\mu_q, \sigma_q^2))
        = \tfrac12 \Big[ (r - 1 - \log r) + \frac{(\mu_p - \mu_q)^2}{\sigma_q^2} \Big],
        \qquad r = \sigma_p^2 / \sigma_q^2

    summed over the event axis ``axis``. Written with ``r − 1 − log1p(r − 1)`` so that it
    stays accurate (and exactly 0) as ``p`` approaches ``q``. Matches
    ``torch.distributions.kl_divergence`` of ``Normal`` (``axis=None``) and of
    ``Independent(Normal, 1)`` (``axis=-1``).

    Args:
        mean_p, var_p: means and variances (> 0) of ``p``, broadcastable.
        mean_q, var_q: means and variances (> 0) of ``q``, broadcastable.
        axis: the event axis summed over; ``None`` (default) for univariate Gaussians,
            elementwise.
        base: ``None`` for nats (default), ``2`` for bits, ``10`` for bans.

    Returns:
        Array of the broadcast shape (without ``axis`` if given), in ``mean_p``'s dtype.

    Raises:
        TypeError: for non-real arrays or arrays of different libraries.
        ValueError: for a variance that is not positive, shapes that do not broadcast, or
            an invalid ``axis``/``base``.

    References:
        Kullback, S. and Leibler, R. A. "On Information and Sufficiency." 1951.

    Example:
        >>> import numpy as np
        >>> from crossent import gaussian_kl_divergence
        >>> float(gaussian_kl_divergence(np.array(1.0), np.array(1.0), np.array(0.0), np.array(1.0)))
        0.5
    """
    _checks.base(base)
    xp, (mp, vp, mq, vq), dtype = _gaussian(
        (("mean_p", mean_p), ("var_p", var_p), ("mean_q", mean_q), ("var_q", var_q)),
        ("var_p", "var_q"),
    )
    ratio_minus_one = (vp - vq) / vq
    value = (ratio_minus_one - xp.log1p(ratio_minus_one) + (mp - mq) ** 2 / vq) / 2
    return _finish(xp, _event_sum(xp, value, axis), base, dtype)


def gaussian_cross_entropy(
    mean_p: Array,
    var_p: Array,
    mean_q: Array,
    var_q: Array,
    *,
    axis: int | None = None,
    base: float | None = None,
) -> Array:
    r"""Cross-entropy of a Gaussian ``q`` relative to a Gaussian ``p`` (diagonal variances).

    .. math:: H(p, q) = -\int p \log q
        = \tfrac12 \Big[ \log(2 \pi \sigma_q^2) + \frac{\sigma_p^2 + (\mu_p - \mu_q)^2}{\sigma_q^2} \Big]
        = H(p) + \mathrm{KL}(p \,\|\, q)

    summed over the event axis ``axis``: the expected negative log-likelihood of ``q`` on
    data drawn from ``p``, which maximum likelihood minimises.

    Args:
        mean_p, var_p: means and variances (> 0) of ``p``, broadcastable.
        mean_q, var_q: means and variances (> 0) of ``q``, broadcastable.
        axis: the event axis summed over; ``None`` (default) for univariate Gaussians.
        base: ``None`` for nats (default), ``2`` for bits, ``10`` for bans.

    Returns:
        Array of the broadcast shape (without ``axis`` if given), in ``mean_p``'s dtype.

    Raises:
        TypeError: for non-real arrays or arrays of different libraries.
        ValueError: for a variance that is not positive, shapes that do not broadcast, or
            an invalid ``axis``/``base``.

    References:
        Cover and Thomas, *Elements of Information Theory*, 2nd ed., 2006, ch. 8.

    Example:
        >>> import numpy as np
        >>> from crossent import gaussian_cross_entropy
        >>> round(float(gaussian_cross_entropy(0.0, 1.0, 0.0, 1.0)), 6)  # = H(p)
        1.418939
    """
    _checks.base(base)
    xp, (mp, vp, mq, vq), dtype = _gaussian(
        (("mean_p", mean_p), ("var_p", var_p), ("mean_q", mean_q), ("var_q", var_q)),
        ("var_p", "var_q"),
    )
    value = (_LOG_2PI + xp.log(vq) + (vp + (mp - mq) ** 2) / vq) / 2
    return _finish(xp, _event_sum(xp, value, axis), base, dtype)


# ---------------------------------------------------------------------------------------
# Gaussians with full covariances, through Cholesky factors
# ---------------------------------------------------------------------------------------


def _scale_tril(xp: Any, name: str, cov: Any, tril_name: str, tril: Any) -> Any:
    """The lower Cholesky factor of one covariance: ``tril`` as given, or that of ``cov``."""
    if (cov is None) == (tril is None):
        raise ValueError(
            f"give exactly one of `{name}` and `{tril_name}`; got {_given(cov, tril)}."
        )
    matrix, matrix_name = (cov, name) if tril is None else (tril, tril_name)
    if matrix.ndim < 2 or matrix.shape[-1] != matrix.shape[-2]:
        raise ValueError(
            f"`{matrix_name}` must be square matrices [..., D, D]; got shape {tuple(matrix.shape)}."
        )
    if tril is not None:
        _positive(xp, tril_name, xp.linalg.diagonal(tril), "diagonal")
        return tril
    factor, failed = cholesky(xp, cov)
    if _checks.any_true(xp, failed):
        raise ValueError(
            f"`{name}` must be symmetric positive definite; its Cholesky factorisation failed."
        )
    return factor


def _given(cov: Any, tril: Any) -> str:
    return "both" if cov is not None else "neither"


def _mean_matches(mean: Any, factor: Any, names: tuple[str, str]) -> None:
    """The mean ``[..., D]`` must end in the dimension of the covariance ``[..., D, D]``."""
    if mean.ndim < 1 or mean.shape[-1] != factor.shape[-1]:
        raise ValueError(
            f"`{names[0]}` must end in the dimension D={factor.shape[-1]} of `{names[1]}`; "
            f"got shape {tuple(mean.shape)}."
        )


def _half_log_det(xp: Any, factor: Any) -> Any:
    r""":math:`\tfrac12 \log \det \Sigma = \sum_i \log L_{ii}` from the Cholesky factor."""
    return xp.sum(xp.log(xp.linalg.diagonal(factor)), axis=-1)


def _trace_and_mahalanobis(
    xp: Any, mean_p: Any, factor_p: Any, mean_q: Any, factor_q: Any
) -> tuple[Any, Any]:
    r""":math:`\mathrm{tr}(\Sigma_q^{-1} \Sigma_p) = \|L_q^{-1} L_p\|_F^2` and
    :math:`(\mu_p - \mu_q)^\top \Sigma_q^{-1} (\mu_p - \mu_q) = \|L_q^{-1}(\mu_p - \mu_q)\|^2`,
    by one triangular solve of the batch-broadcast operands."""
    d = factor_q.shape[-1]
    batch = _batch_shape(mean_p, factor_p, mean_q, factor_q)
    lq = xp.broadcast_to(factor_q, (*batch, d, d))
    rhs = xp.concat(
        [
            xp.broadcast_to(factor_p, (*batch, d, d)),
            xp.broadcast_to((mean_p - mean_q)[..., None], (*batch, d, 1)),
        ],
        axis=-1,
    )
    solved = solve_lower_triangular(xp, lq, rhs)
    squares = solved**2
    return xp.sum(squares[..., :d], axis=(-2, -1)), xp.sum(squares[..., d], axis=-1)


def _batch_shape(mean_p: Any, factor_p: Any, mean_q: Any, factor_q: Any) -> tuple[int, ...]:
    """The broadcast batch shape of two Gaussians; ValueError naming the shapes otherwise."""
    shapes = [mean_p.shape[:-1], factor_p.shape[:-2], mean_q.shape[:-1], factor_q.shape[:-2]]
    try:
        return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        names = ("mean_p", "cov_p", "mean_q", "cov_q")
        text = ", ".join(f"`{n}` {tuple(s)}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"the batch shapes must broadcast to one shape; got {text}.") from None


def _two_mvns(
    mean_p: Any, cov_p: Any, mean_q: Any, cov_q: Any, scale_tril_p: Any, scale_tril_q: Any
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """Namespace, checked means and Cholesky factors of ``p`` and ``q``, and output dtype."""
    xp, (mp, cp, mq, cq, tp, tq), dtype = _floats(
        ("mean_p", mean_p),
        ("cov_p", cov_p),
        ("mean_q", mean_q),
        ("cov_q", cov_q),
        ("scale_tril_p", scale_tril_p),
        ("scale_tril_q", scale_tril_q),
    )
    lp = _scale_tril(xp, "cov_p", cp, "scale_tril_p", tp)
    lq = _scale_tril(xp, "cov_q", cq, "scale_tril_q", tq)
    _mean_matches(mp, lp, ("mean_p", "cov_p"))
    _mean_matches(mq, lq, ("mean_q", "cov_q"))
    if lp.shape[-1] != lq.shape[-1]:
        raise ValueError(
            f"`cov_q` must have the dimension D={lp.shape[-1]} of `cov_p`; got D={lq.shape[-1]}."
        )
    return xp, mp, lp, mq, lq, dtype


def mvn_entropy(
    cov: Array | None = None, *, scale_tril: Array | None = None, base: float | None = None
) -> Array:
    r"""Differential entropy of multivariate Gaussians with full covariances.

    .. math:: H(\mathcal N(\mu, \Sigma)) = \tfrac{D}{2} (1 + \log 2\pi) + \tfrac12 \log\det\Sigma
        = \tfrac{D}{2} (1 + \log 2\pi) + \sum_i \log L_{ii}

    with :math:`L` the lower Cholesky factor of :math:`\Sigma` (no determinant is formed).

    Args:
        cov: covariances ``[..., D, D]``, symmetric positive definite (the lower triangle
            is read); or ``None`` with ``scale_tril``.
        scale_tril: the lower Cholesky factors ``[..., D, D]`` (positive diagonal), for
            callers that already hold them; or ``None`` (default) with ``cov``.
        base: ``None`` for nats (default), ``2`` for bits, ``10`` for bans.

    Returns:
        Array of the batch shape ``[...]``, in the input's dtype.

    Raises:
        TypeError: for a non-real array.
        ValueError: for a covariance that is not positive definite, a factor without a
            positive diagonal, non-square matrices, both or neither of ``cov`` and
            ``scale_tril``, or an invalid ``base``.

    Example:
        >>> import numpy as np
        >>> from crossent import mvn_entropy
        >>> round(float(mvn_entropy(np.eye(2))), 6)  # 1 + log 2π
        2.837877
    """
    _checks.base(base)
    xp, (c, t), dtype = _floats(("cov", cov), ("scale_tril", scale_tril))
    factor = _scale_tril(xp, "cov", c, "scale_tril", t)
    d = factor.shape[-1]
    value = d * (1.0 + _LOG_2PI) / 2 + _half_log_det(xp, factor)
    return _finish(xp, value, base, dtype)


def mvn_kl_divergence(
    mean_p: Array,
    cov_p: Array | None,
    mean_q: Array,
    cov_q: Array | None,
    *,
    scale_tril_p: Array | None = None,
    scale_tril_q: Array | None = None,
    base: float | None = None,
) -> Array:
    r"""KL divergence between multivariate Gaussians with full covariances.

    .. math:: \mathrm{KL}(p \,\|\, q) = \tfrac12 \Big[ \|L_q^{-1} L_p\|_F^2
        + \|L_q^{-1}(\mu_p - \mu_q)\|^2 - D \Big] + \sum_i \log \frac{(L_q)_{ii}}{(L_p)_{ii}}

    the textbook :math:`\tfrac12[\mathrm{tr}(\Sigma_q^{-1}\Sigma_p) + \Delta\mu^\top
    \Sigma_q^{-1} \Delta\mu - D + \log\det\Sigma_q - \log\det\Sigma_p]` through the lower
    Cholesky factors :math:`L` and triangular solves — never an explicit inverse or
    determinant. Batch dimensions broadcast. Matches ``torch.distributions.kl_divergence``
    of two ``MultivariateNormal``.

    Args:
        mean_p: means of ``p``, ``[..., D]``.
        cov_p: covariances of ``p``, ``[..., D, D]`` symmetric positive definite (lower
            triangle read); ``None`` with ``scale_tril_p``.
        mean_q: means of ``q``, ``[..., D]``.
        cov_q: covariances of ``q``; ``None`` with ``scale_tril_q``.
        scale_tril_p: lower Cholesky factors of ``p`` instead of ``cov_p``. Default: None.
        scale_tril_q: lower Cholesky factors of ``q`` instead of ``cov_q``. Default: None.
        base: ``None`` for nats (default), ``2`` for bits, ``10`` for bans.

    Returns:
        Array of the broadcast batch shape ``[...]``, in ``mean_p``'s dtype.

    Raises:
        TypeError: for non-real arrays or arrays of different libraries.
        ValueError: for a covariance that is not positive definite (naming it), shapes
            that disagree, both or neither of a covariance and its factor, or an invalid
            ``base``.

    References:
        Kullback, S. and Leibler, R. A. "On Information and Sufficiency." 1951.

    Example:
        >>> import numpy as np
        >>> from crossent import mvn_kl_divergence
        >>> float(mvn_kl_divergence(np.zeros(2), np.eye(2), np.ones(2), np.eye(2)))
        1.0
    """
    _checks.base(base)
    xp, mp, lp, mq, lq, dtype = _two_mvns(mean_p, cov_p, mean_q, cov_q, scale_tril_p, scale_tril_q)
    trace, mahalanobis = _trace_and_mahalanobis(xp, mp, lp, mq, lq)
    d = lq.shape[-1]
    value = (trace + mahalanobis - d) / 2 + _half_log_det(xp, lq) - _half_log_det(xp, lp)
    return _finish(xp, value, base, dtype)


def mvn_cross_entropy(
    mean_p: Array,
    cov_p: Array | None,
    mean_q: Array,
    cov_q: Array | None,
    *,
    scale_tril_p: Array | None = None,
    scale_tril_q: Array | None = None,
    base: float | None = None,
) -> Array:
    r"""Cross-entropy of a multivariate Gaussian ``q`` relative to ``p`` (full covariances).

    .. math:: H(p, q) = \tfrac12 \Big[ D \log 2\pi + \|L_q^{-1} L_p\|_F^2
        + \|L_q^{-1}(\mu_p - \mu_q)\|^2 \Big] + \sum_i \log (L_q)_{ii}
        = H(p) + \mathrm{KL}(p \,\|\, q)

    through the lower Cholesky factors :math:`L` and triangular solves.

    Args:
        mean_p: means of ``p``, ``[..., D]``.
        cov_p: covariances of ``p``, ``[..., D, D]``; ``None`` with ``scale_tril_p``.
        mean_q: means of ``q``, ``[..., D]``.
        cov_q: covariances of ``q``; ``None`` with ``scale_tril_q``.
        scale_tril_p: lower Cholesky factors of ``p`` instead of ``cov_p``. Default: None.
        scale_tril_q: lower Cholesky factors of ``q`` instead of ``cov_q``. Default: None.
        base: ``None`` for nats (default), ``2`` for bits, ``10`` for bans.

    Returns:
        Array of the broadcast batch shape ``[...]``, in ``mean_p``'s dtype.

    Raises:
        TypeError: for non-real arrays or arrays of different libraries.
        ValueError: as :func:`mvn_kl_divergence`.

    Example:
        >>> import numpy as np
        >>> from crossent import mvn_cross_entropy
        >>> round(float(mvn_cross_entropy(np.zeros(2), np.eye(2), np.ones(2), np.eye(2))), 6)
        3.837877
    """
    _checks.base(base)
    xp, mp, lp, mq, lq, dtype = _two_mvns(mean_p, cov_p, mean_q, cov_q, scale_tril_p, scale_tril_q)
    trace, mahalanobis = _trace_and_mahalanobis(xp, mp, lp, mq, lq)
    d = lq.shape[-1]
    value = (d * _LOG_2PI + trace + mahalanobis) / 2 + _half_log_det(xp, lq)
    return _finish(xp, value, base, dtype)


# ---------------------------------------------------------------------------------------
# Monte-Carlo estimate from samples
# ---------------------------------------------------------------------------------------


def _kl_terms(xp: Any, log_ratio: Any, estimator: str) -> Any:
    r"""Per-sample terms of the estimators, from :math:`\log r = \log q - \log p`."""
    if estimator == "k1":
        return -log_ratio
    if estimator == "k2":
        return log_ratio**2 / 2
    # (r - 1) - log r with expm1: no cancellation in r - 1 for small |log r|, and no
    # overflow of r itself for large negative log r. The floor at 0 only absorbs the
    # last-ulp error of a library's expm1; mathematically e^x - 1 ≥ x.
    terms = xp.expm1(log_ratio) - log_ratio
    return xp.maximum(terms, xp.zeros_like(terms))


def monte_carlo_kl(
    log_p: Array, log_q: Array, *, estimator: str = "k1", axis: int = -1
) -> tuple[Array, Array]:
    r"""Monte-Carlo estimate of :math:`\mathrm{KL}(p \,\|\, q)` from samples :math:`x_n \sim p`.

    With :math:`\log r_n = \log q(x_n) - \log p(x_n)`, the mean over the samples of

    - ``"k1"``: :math:`-\log r` — unbiased, high variance, negative per sample;
    - ``"k2"``: :math:`\tfrac12 (\log r)^2` — biased, low variance when ``p ≈ q``;
    - ``"k3"``: :math:`(r - 1) - \log r` — unbiased (:math:`E_p[r] = 1`), low variance and
      never negative per sample; the KL penalty of PPO/GRPO-style training. Computed as
      ``expm1(log r) − log r``, in log space.

    Args:
        log_p: log-densities :math:`\log p(x_n)` of samples drawn from ``p``.
        log_q: log-densities :math:`\log q(x_n)` of the same samples, broadcastable.
        estimator: ``"k1"`` (default), ``"k2"`` or ``"k3"``.
        axis: the sample axis averaged over. Default: ``-1``.

    Returns:
        ``(estimate, standard_error)``: arrays of the broadcast shape without ``axis``; the
        standard error is the sample standard deviation of the terms (``n − 1``) over
        :math:`\sqrt n`. In ``log_p``'s dtype (fp16/bf16 computed in float32).

    Raises:
        TypeError: for non-real arrays or arrays of different libraries.
        ValueError: for an unknown ``estimator``, an invalid ``axis``, shapes that do not
            broadcast, or fewer than 2 samples.

    References:
        Schulman, J. "Approximating KL Divergence." Blog post, 2020.
        http://joschu.net/blog/kl-approx.html

    Example:
        >>> import numpy as np
        >>> from crossent import monte_carlo_kl
        >>> estimate, se = monte_carlo_kl(np.array([-1.0, -1.0]), np.array([-2.0, -2.0]))
        >>> float(estimate), float(se)
        (1.0, 0.0)
    """
    if estimator not in ESTIMATORS:
        raise ValueError(
            f"`estimator` must be one of {', '.join(ESTIMATORS)}; got estimator={estimator!r}."
        )
    xp, (lp, lq), dtype = _floats(("log_p", log_p), ("log_q", log_q))
    lp, lq = _broadcast(xp, ("log_p", "log_q"), lp, lq)
    axis = _checks.axis("axis", axis, lp.ndim)
    n = lp.shape[axis]
    if n < 2:
        raise ValueError(
            f"`log_p` must hold at least 2 samples along axis {axis} for a standard error; got {n}."
        )
    terms = _kl_terms(xp, lq - lp, estimator)
    estimate = xp.mean(terms, axis=axis)
    standard_error = xp.std(terms, axis=axis, correction=1) / math.sqrt(n)
    return to_float(xp, estimate, dtype), to_float(xp, standard_error, dtype)
