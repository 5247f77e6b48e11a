r"""Calibration: how far a classifier's confidence is from its accuracy, and how to fix it.

Cross-entropy (NLL) is a strictly proper scoring rule: its expectation is minimised only
by the true conditional distribution. A network trained on it can still end
over-confident on held-out data (Guo et al., 2017). This module measures that —
binned calibration errors, reliability diagrams, the Brier score and its decomposition —
and fixes it with post-hoc calibrators fitted by NLL (never by a calibration error, which
is not a proper score).

Inputs are either

- multi-class: ``pred`` of shape ``[..., C, ...]`` (probabilities, or logits with
  ``from_logits=True``; class axis ``axis``) and integer class indices ``labels`` of the
  other dimensions; the *top-label* confidence :math:`\max_c p_c` is scored against
  whether the arg-max is right (torchmetrics' multiclass definition); or
- binary: ``pred`` of the same shape as ``labels`` — the probability (or logit) of the
  positive class — scored against the 0/1 labels (torchmetrics' binary definition).

Binning: ``B`` bins :math:`(e_k, e_{k+1}]`, closed on the right as scikit-learn's
``calibration_curve`` has them (a confidence of exactly 1.0 is in the last bin, 0.0 in the
first). ``"uniform"`` edges are :math:`k/B`; ``"quantile"`` edges are the
:math:`k/B`-quantiles of the confidences (linear interpolation, NumPy's default), so the
bins hold equal mass (adaptive ECE). Empty bins carry no weight and are skipped.

All functions take NumPy, PyTorch and JAX arrays and return the same library's arrays;
the metrics are jit-safe on JAX (bin membership by ``searchsorted`` and one-hot sums, no
value-dependent Python control flow).

References:
    Guo, Pleiss, Sun, Weinberger, "On Calibration of Modern Neural Networks", ICML 2017,
    https://arxiv.org/abs/1706.04599.
    Naeini, Cooper, Hauskrecht, "Obtaining Well Calibrated Probabilities Using Bayesian
    Binning", AAAI 2015.
    Kull, Perello-Nieto, Kängsepp, Silva Filho, Song, Flach, "Beyond temperature scaling:
    Obtaining well-calibrated multiclass probabilities with Dirichlet calibration",
    NeurIPS 2019, https://arxiv.org/abs/1910.12656.
    Brier, "Verification of forecasts expressed in terms of probability", Monthly Weather
    Review 78, 1950.
    Murphy, "A New Vector Partition of the Probability Score", Journal of Applied
    Meteorology 12, 1973.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from crossent import _array, _checks
from crossent._array import Array

__all__ = [
    "BrierDecomposition",
    "MatrixScaling",
    "ReliabilityDiagram",
    "TemperatureScaling",
    "VectorScaling",
    "brier_decomposition",
    "brier_score",
    "calibration_error",
    "fit_temperature",
    "reliability_diagram",
]

BINNINGS = ("uniform", "quantile")
NORMS = ("l1", "l2", "max")


class ReliabilityDiagram(NamedTuple):
    """The data of a reliability diagram, one entry per bin (arrays of the input library).

    Attributes:
        confidence: ``[B]`` mean confidence of the bin (NaN for an empty bin).
        accuracy: ``[B]`` fraction of hits (multi-class) or positives (binary) in the bin
            (NaN for an empty bin).
        count: ``[B]`` number of samples in the bin.
        edges: ``[B + 1]`` bin edges; bin ``k`` is ``(edges[k], edges[k + 1]]``.
    """

    confidence: Array
    accuracy: Array
    count: Array
    edges: Array


class BrierDecomposition(NamedTuple):
    r"""Murphy's partition :math:`\mathrm{BS} \approx \mathrm{REL} - \mathrm{RES} + \mathrm{UNC}`.

    Attributes:
        reliability: 0-d array, the weighted squared gap between forecast and frequency.
        resolution: 0-d array, the weighted squared spread of the bin frequencies.
        uncertainty: 0-d array, the Brier score of always forecasting the base rate.
    """

    reliability: Array
    resolution: Array
    uncertainty: Array


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------


class _Scored(NamedTuple):
    """Inputs brought to one form: ``probs`` ``[N, C]`` (multi-class) or ``[N]`` (binary)."""

    xp: Any
    probs: Array
    labels: Array
    binary: bool


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {options}; got {name}={value!r}.")
    return value


def _n_bins(value: Any) -> int:
    n = _checks.integer("n_bins", value)
    if n < 1:
        raise ValueError(f"`n_bins` must be a positive integer; got n_bins={value!r}.")
    return n


def _scored(pred: Any, labels: Any, from_logits: bool, axis: int) -> _Scored:
    """Probabilities ``[N, C]`` or ``[N]`` and flat labels, checked (shapes, dtypes, values)."""
    if not isinstance(from_logits, bool):
        raise TypeError(f"`from_logits` must be a bool; got from_logits={from_logits!r}.")
    pred = _array.asarray(pred, "pred")
    labels = _array.asarray(labels, "labels")
    xp = _array.namespace(pred, labels)
    _checks.floating(xp, "pred", pred)
    dtype = _array.compute_dtype(xp, pred)
    pred = _array.to_float(xp, pred, dtype)
    if tuple(pred.shape) == tuple(labels.shape):
        if _array.numel(pred) == 0:
            raise ValueError("`pred` must hold at least one sample; got an empty array.")
        flat = xp.reshape(pred, (-1,))
        probs = _array.sigmoid(xp, flat) if from_logits else flat
        if not from_logits:
            _checks.in_unit_interval(xp, "pred", probs)
        y = xp.reshape(labels, (-1,))
        if not (_array.is_integer(xp, y) or _array.is_floating(xp, y) or y.dtype == xp.bool):
            raise TypeError(
                f"`labels` must hold 0/1 numbers; got dtype {_array.dtype_name(labels.dtype)}."
            )
        y = _array.to_float(xp, xp.astype(y, dtype) if y.dtype != dtype else y, dtype)
        if _checks.values_checked(xp, y) and bool(xp.any((y != 0) & (y != 1))):
            raise ValueError("`labels` of a binary prediction must be 0 or 1.")
        return _Scored(xp, probs, y, True)
    ax = _checks.axis("axis", axis, pred.ndim)
    rest = tuple(s for i, s in enumerate(pred.shape) if i != ax)
    _checks.same_shape("labels", tuple(labels.shape), rest, "the prediction without its class axis")
    n_classes = pred.shape[ax]
    if n_classes == 0:
        raise ValueError(f"`pred` has no classes along axis {axis}; got shape {tuple(pred.shape)}.")
    scores = xp.reshape(_array.move_class_axis_last(xp, pred, ax), (-1, n_classes))
    if scores.shape[0] == 0:
        raise ValueError("`pred` must hold at least one sample; got an empty array.")
    if from_logits:
        probs = _array.softmax(xp, scores, axis=-1)
    else:
        _checks.in_unit_interval(xp, "pred", scores)
        _checks.rows_sum_to_one(xp, "pred", scores)
        probs = scores
    y = xp.reshape(labels, (-1,))
    _checks.class_indices(xp, "labels", y, n_classes, None)
    return _Scored(xp, probs, y, False)


def _top_label(s: _Scored) -> tuple[Array, Array]:
    """(confidence, outcome) pairs: top-label vs correct (multi-class), p vs y (binary)."""
    xp = s.xp
    if s.binary:
        return s.probs, s.labels
    confidence = xp.max(s.probs, axis=-1)
    predicted = xp.argmax(s.probs, axis=-1)
    hit = xp.astype(predicted == xp.astype(s.labels, predicted.dtype), s.probs.dtype)
    return confidence, hit


def _one_vs_rest(s: _Scored) -> tuple[Array, Array]:
    """``[N, C]`` forecasts of each class and ``[N, C]`` 0/1 outcomes (one column if binary)."""
    xp = s.xp
    if s.binary:
        return s.probs[:, None], s.labels[:, None]
    onehot = _array.one_hot_mask(xp, s.labels, s.probs.shape[-1], s.probs.dtype)
    return s.probs, onehot


# ---------------------------------------------------------------------------------------
# Binning
# ---------------------------------------------------------------------------------------


def _quantile_edges(xp: Any, confidence: Array, n_bins: int) -> Array:
    """The ``k/B``-quantiles of ``confidence`` (NumPy's linear rule), ``k = 0..B``."""
    ordered = xp.sort(confidence)
    n = confidence.shape[0]
    position = [k * (n - 1) / n_bins for k in range(n_bins + 1)]
    lower = xp.asarray([math.floor(p) for p in position], dtype=_array.index_dtype(xp))
    upper = xp.asarray([min(math.floor(p) + 1, n - 1) for p in position], dtype=lower.dtype)
    frac = xp.asarray([p - math.floor(p) for p in position], dtype=confidence.dtype)
    low = xp.take(ordered, lower, axis=0)
    return low + frac * (xp.take(ordered, upper, axis=0) - low)


def _edges(xp: Any, confidence: Array, n_bins: int, binning: str) -> Array:
    if binning == "quantile":
        return _quantile_edges(xp, confidence, n_bins)
    return xp.linspace(0.0, 1.0, n_bins + 1, dtype=confidence.dtype)


def _bin_sums(
    xp: Any, confidence: Array, outcome: Array, edges: Array
) -> tuple[Array, Array, Array]:
    """Per bin ``(e_k, e_{k+1}]``: count, sum of confidences, sum of outcomes.

    A confidence at or below the first interior edge is in bin 0, above the last one in
    bin ``B - 1``: searching the interior edges from the left puts a value equal to an edge
    in the bin it closes.
    """
    n_bins = edges.shape[0] - 1
    if _array.is_torch(xp):  # a class column is a strided view; torch's search wants it dense
        confidence = confidence.contiguous()
    index = xp.searchsorted(edges[1:-1], confidence, side="left")
    member = _array.one_hot_mask(xp, index, n_bins, confidence.dtype)
    count = xp.sum(member, axis=0)
    return (
        count,
        xp.sum(member * confidence[:, None], axis=0),
        xp.sum(member * outcome[:, None], axis=0),
    )


def _safe_ratio(xp: Any, num: Array, den: Array) -> Array:
    """``num / den``, 0 where ``den == 0`` (no division by zero is evaluated)."""
    filled = den > 0
    return xp.where(filled, num / xp.where(filled, den, xp.ones_like(den)), xp.zeros_like(num))


def _binned_error(
    xp: Any, confidence: Array, outcome: Array, n_bins: int, binning: str, norm: str
) -> Array:
    r""":math:`\sum_k w_k |\bar p_k - \bar o_k|` (l1), its root-mean-square (l2) or max."""
    edges = _edges(xp, confidence, n_bins, binning)
    count, conf_sum, hit_sum = _bin_sums(xp, confidence, outcome, edges)
    gap = xp.abs(_safe_ratio(xp, conf_sum, count) - _safe_ratio(xp, hit_sum, count))
    weight = count / confidence.shape[0]
    if norm == "l1":
        return xp.sum(weight * gap)
    if norm == "l2":
        return xp.sqrt(xp.sum(weight * gap**2))
    return xp.max(xp.where(count > 0, gap, xp.zeros_like(gap)))


# ---------------------------------------------------------------------------------------
# Public metrics
# ---------------------------------------------------------------------------------------


@_checks.honours_validate
def calibration_error(
    pred: Array,
    labels: Array,
    *,
    from_logits: bool = False,
    n_bins: int = 15,
    binning: str = "uniform",
    norm: str = "l1",
    classwise: bool = False,
    axis: int = -1,
    validate: bool | None = None,
) -> Array:
    r"""Binned calibration error: ECE (``l1``), RMS calibration error (``l2``), MCE (``max``).

    With confidences :math:`p_i`, outcomes :math:`o_i \in \{0, 1\}`, bins :math:`b_k` holding
    :math:`n_k` of the :math:`N` samples, :math:`\bar p_k` and :math:`\bar o_k` their means:

    .. math::
        \mathrm{ECE} = \sum_k \tfrac{n_k}{N} |\bar o_k - \bar p_k|, \quad
        \mathrm{RMSCE} = \Big(\sum_k \tfrac{n_k}{N} (\bar o_k - \bar p_k)^2\Big)^{1/2}, \quad
        \mathrm{MCE} = \max_{k: n_k > 0} |\bar o_k - \bar p_k|.

    Multi-class: :math:`p_i = \max_c p_{ic}`, :math:`o_i = [\arg\max_c p_{ic} = y_i]`
    (ties go to the first class). Binary (``pred`` shaped as ``labels``): :math:`p_i` the
    positive-class probability, :math:`o_i = y_i`. ``classwise=True``: the mean over the
    classes :math:`c` of the error of :math:`p_{ic}` against :math:`[y_i = c]` (Kull et al.,
    2019). Empty bins carry no weight and do not enter the max.

    Args:
        pred: probabilities, or logits with ``from_logits=True``: ``[..., C, ...]`` with the
            class axis ``axis`` (multi-class), or the positive class's, shaped as
            ``labels`` (binary).
        labels: class indices (integers, multi-class) or 0/1 (binary).
        from_logits: whether ``pred`` holds logits (softmax or sigmoid applied). Default: False.
        n_bins: the number of bins ``B``. Default: 15.
        binning: ``"uniform"`` (edges ``k/B``) or ``"quantile"`` (equal mass: adaptive ECE).
            Default: ``"uniform"``.
        norm: ``"l1"``, ``"l2"`` or ``"max"``. Default: ``"l1"``.
        classwise: one-vs-rest per class, averaged. Default: False.
        axis: the class axis of a multi-class ``pred``. Default: -1.
        validate: value checks for this call (``None``: the validation policy).

    Returns:
        A 0-d array of ``pred``'s library, in [0, 1].

    Raises:
        TypeError: ``pred`` not floating point; integer labels expected.
        ValueError: shapes that do not match; a bad option; probabilities outside [0, 1]
            or rows not summing to 1; labels out of range (where values are checked).

    References:
        Guo et al., "On Calibration of Modern Neural Networks", ICML 2017.
        Kull et al., "Beyond temperature scaling", NeurIPS 2019.

    Example:
        >>> import numpy as np
        >>> pred = np.array([[0.9, 0.1], [0.7, 0.3], [0.3, 0.7], [0.55, 0.45]])
        >>> round(float(calibration_error(pred, np.array([0, 1, 1, 0]), n_bins=2)), 4)
        0.0375
    """
    n_bins = _n_bins(n_bins)
    binning = _choice("binning", binning, BINNINGS)
    norm = _choice("norm", norm, NORMS)
    if not isinstance(classwise, bool):
        raise TypeError(f"`classwise` must be a bool; got classwise={classwise!r}.")
    s = _scored(pred, labels, from_logits, axis)
    xp = s.xp
    if not classwise:
        confidence, outcome = _top_label(s)
        return _binned_error(xp, confidence, outcome, n_bins, binning, norm)
    forecasts, outcomes = _one_vs_rest(s)
    per_class = [
        _binned_error(xp, forecasts[:, c], outcomes[:, c], n_bins, binning, norm)
        for c in range(forecasts.shape[1])
    ]
    return xp.mean(xp.stack(per_class))


@_checks.honours_validate
def reliability_diagram(
    pred: Array,
    labels: Array,
    *,
    from_logits: bool = False,
    n_bins: int = 15,
    binning: str = "uniform",
    axis: int = -1,
    validate: bool | None = None,
) -> ReliabilityDiagram:
    r"""Per bin: mean confidence, accuracy (or positive frequency), count, and the edges.

    The confidences and outcomes and the bins are those of :func:`calibration_error`; the
    points :math:`(\bar p_k, \bar o_k)` of the non-empty bins are scikit-learn's
    ``calibration_curve`` ``(prob_pred, prob_true)`` for the binary case. The ECE is
    ``sum(count * |accuracy - confidence|) / sum(count)`` over the non-empty bins.

    Args:
        pred: as :func:`calibration_error`.
        labels: as :func:`calibration_error`.
        from_logits: whether ``pred`` holds logits. Default: False.
        n_bins: the number of bins ``B``. Default: 15.
        binning: ``"uniform"`` or ``"quantile"``. Default: ``"uniform"``.
        axis: the class axis of a multi-class ``pred``. Default: -1.
        validate: value checks for this call (``None``: the validation policy).

    Returns:
        :class:`ReliabilityDiagram` of ``[B]`` arrays (``[B + 1]`` edges); empty bins have
        count 0 and NaN confidence and accuracy.

    Raises:
        TypeError, ValueError: as :func:`calibration_error`.

    Example:
        >>> import numpy as np
        >>> d = reliability_diagram(np.array([0.2, 0.4, 0.9]), np.array([0, 1, 1]), n_bins=2)
        >>> d.count, d.accuracy
        (array([2., 1.]), array([0.5, 1. ]))
    """
    n_bins = _n_bins(n_bins)
    binning = _choice("binning", binning, BINNINGS)
    s = _scored(pred, labels, from_logits, axis)
    xp = s.xp
    confidence, outcome = _top_label(s)
    edges = _edges(xp, confidence, n_bins, binning)
    count, conf_sum, hit_sum = _bin_sums(xp, confidence, outcome, edges)
    nan = xp.full_like(count, math.nan)
    filled = count > 0
    return ReliabilityDiagram(
        confidence=xp.where(filled, _safe_ratio(xp, conf_sum, count), nan),
        accuracy=xp.where(filled, _safe_ratio(xp, hit_sum, count), nan),
        count=count,
        edges=edges,
    )


@_checks.honours_validate
def brier_score(
    pred: Array,
    labels: Array,
    *,
    from_logits: bool = False,
    axis: int = -1,
    validate: bool | None = None,
) -> Array:
    r"""Brier score: mean squared distance between forecast and outcome.

    Multi-class: :math:`\frac1N \sum_i \sum_c (p_{ic} - [y_i = c])^2` (Brier, 1950; in
    [0, 2]). Binary: :math:`\frac1N \sum_i (p_i - y_i)^2` (scikit-learn's
    ``brier_score_loss``; in [0, 1]). A strictly proper score, like NLL.

    Args:
        pred: as :func:`calibration_error`.
        labels: as :func:`calibration_error`.
        from_logits: whether ``pred`` holds logits. Default: False.
        axis: the class axis of a multi-class ``pred``. Default: -1.
        validate: value checks for this call (``None``: the validation policy).

    Returns:
        A 0-d array of ``pred``'s library.

    Raises:
        TypeError, ValueError: as :func:`calibration_error`.

    References:
        Brier, "Verification of forecasts expressed in terms of probability", 1950.

    Example:
        >>> import numpy as np
        >>> float(brier_score(np.array([[0.75, 0.25], [0.5, 0.5]]), np.array([0, 1])))
        0.3125
    """
    s = _scored(pred, labels, from_logits, axis)
    forecasts, outcomes = _one_vs_rest(s)
    return s.xp.mean(s.xp.sum((forecasts - outcomes) ** 2, axis=-1))


@_checks.honours_validate
def brier_decomposition(
    pred: Array,
    labels: Array,
    *,
    from_logits: bool = False,
    n_bins: int = 15,
    binning: str = "uniform",
    axis: int = -1,
    validate: bool | None = None,
) -> BrierDecomposition:
    r"""Murphy's (1973) partition of the Brier score: reliability, resolution, uncertainty.

    For each class :math:`c` (the one column of a binary forecast), the forecasts
    :math:`p_{ic}` are binned as in :func:`calibration_error`; with :math:`n_k`,
    :math:`\bar p_k`, :math:`\bar o_k` a bin's count, mean forecast and outcome frequency
    and :math:`\bar o` the base rate,

    .. math::
        \mathrm{REL} = \sum_c \sum_k \tfrac{n_k}{N} (\bar p_k - \bar o_k)^2, \quad
        \mathrm{RES} = \sum_c \sum_k \tfrac{n_k}{N} (\bar o_k - \bar o)^2, \quad
        \mathrm{UNC} = \sum_c \bar o (1 - \bar o).

    :math:`\mathrm{BS} = \mathrm{REL} - \mathrm{RES} + \mathrm{UNC}` holds exactly when the
    forecasts take one value per bin (per class); otherwise the binned reliability misses
    the within-bin variance of the forecasts and the identity is off by
    :math:`\sum_c \sum_k \frac{n_k}{N}\big(\overline{p^2}_k - \bar p_k^2 - 2\,\overline{p o}_k
    + 2\,\bar p_k \bar o_k\big)`.

    Args:
        pred: as :func:`calibration_error`.
        labels: as :func:`calibration_error`.
        from_logits: whether ``pred`` holds logits. Default: False.
        n_bins: the number of bins. Default: 15.
        binning: ``"uniform"`` or ``"quantile"``. Default: ``"uniform"``.
        axis: the class axis of a multi-class ``pred``. Default: -1.
        validate: value checks for this call (``None``: the validation policy).

    Returns:
        :class:`BrierDecomposition` of 0-d arrays of ``pred``'s library.

    Raises:
        TypeError, ValueError: as :func:`calibration_error`.

    References:
        Murphy, "A New Vector Partition of the Probability Score", 1973.

    Example:
        >>> import numpy as np
        >>> d = brier_decomposition(np.array([0.2, 0.2, 0.8, 0.8]), np.array([0, 1, 1, 1]))
        >>> [round(float(v), 4) for v in d]
        [0.065, 0.0625, 0.1875]
    """
    n_bins = _n_bins(n_bins)
    binning = _choice("binning", binning, BINNINGS)
    s = _scored(pred, labels, from_logits, axis)
    xp = s.xp
    forecasts, outcomes = _one_vs_rest(s)
    n = forecasts.shape[0]
    rel, res, unc = [], [], []
    for c in range(forecasts.shape[1]):
        p, o = forecasts[:, c], outcomes[:, c]
        edges = _edges(xp, p, n_bins, binning)
        count, p_sum, o_sum = _bin_sums(xp, p, o, edges)
        p_bar, o_bar = _safe_ratio(xp, p_sum, count), _safe_ratio(xp, o_sum, count)
        base_rate = xp.mean(o)
        rel.append(xp.sum(count * (p_bar - o_bar) ** 2) / n)
        res.append(xp.sum(count * (o_bar - base_rate) ** 2) / n)
        unc.append(base_rate * (1 - base_rate))
    return BrierDecomposition(
        reliability=xp.sum(xp.stack(rel)),
        resolution=xp.sum(xp.stack(res)),
        uncertainty=xp.sum(xp.stack(unc)),
    )


# ---------------------------------------------------------------------------------------
# Post-hoc calibrators, fitted by NLL on held-out logits (on the host, in float64)
# ---------------------------------------------------------------------------------------

_BETA_BOUNDS = (1e-4, 1e4)
"""The inverse temperatures searched by :func:`fit_temperature`: T in [1e-4, 1e4]."""


def _host_logits(logits: Any, labels: Any, axis: int) -> tuple[Any, Any]:
    """``[N, C]`` float64 NumPy logits and int64 labels, checked, for fitting."""
    import numpy as np

    s = _scored(logits, labels, True, axis)
    if s.binary:
        raise ValueError(
            "`logits` must have a class axis: calibrators fit multi-class logits "
            f"[N, C]; got the shape of `labels`, {tuple(s.labels.shape)}."
        )
    z = _array.asarray(logits, "logits")
    xp = s.xp
    ax = _checks.axis("axis", axis, z.ndim)
    flat = xp.reshape(_array.move_class_axis_last(xp, z, ax), (-1, z.shape[ax]))
    z_np = np.asarray(_to_numpy(flat), dtype=np.float64)
    y_np = np.asarray(_to_numpy(s.labels), dtype=np.int64)
    if not np.all(np.isfinite(z_np)):
        raise ValueError("`logits` must be finite to fit a calibrator; found NaN or inf.")
    return z_np, y_np


def _to_numpy(x: Any) -> Any:
    import numpy as np

    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _mean_nll(z: Any, y: Any) -> float:
    """Mean NLL of softmax(``z``) at ``y`` (the loss of :mod:`crossent.losses`)."""
    from crossent.losses import softmax_cross_entropy

    return float(softmax_cross_entropy(z, y, ignore_index=None))


def fit_temperature(logits: Array, labels: Array, *, axis: int = -1) -> float:
    r"""The temperature :math:`T > 0` minimising the NLL of softmax(``logits`` / T).

    With :math:`\beta = 1/T`, :math:`\mathrm{NLL}(\beta) = \frac1N \sum_i
    (\mathrm{logsumexp}_c\, \beta z_{ic} - \beta z_{iy_i})` is convex, with derivative
    :math:`\frac1N \sum_i (\mathbb E_{q_i}[z_i] - z_{iy_i})` and second derivative
    :math:`\frac1N \sum_i \mathrm{Var}_{q_i}[z_i] \ge 0` (:math:`q_i` = softmax(βz_i)).
    It is solved by Newton's method safeguarded by bisection on
    :math:`\beta \in [10^{-4}, 10^4]`, which always converges; when the minimum lies beyond
    a bound (the held-out data are separable, or the logits anti-correlated with the
    labels) the bound is returned. Dividing by T never changes the arg-max.

    Args:
        logits: ``[..., C, ...]`` held-out logits (NumPy, PyTorch or JAX).
        labels: class indices of the other dimensions.
        axis: the class axis. Default: -1.

    Returns:
        T as a Python float in :math:`[10^{-4}, 10^4]`.

    Raises:
        TypeError, ValueError: as :func:`calibration_error`; non-finite logits.

    References:
        Guo et al., "On Calibration of Modern Neural Networks", ICML 2017.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> z = rng.standard_normal((2000, 3))
        >>> y = np.array([rng.choice(3, p=np.exp(r) / np.exp(r).sum()) for r in z])
        >>> round(fit_temperature(4.0 * z, y), 1)  # four times over-confident logits
        4.0
    """
    import numpy as np

    z, y = _host_logits(logits, labels, axis)
    z_true = z[np.arange(z.shape[0]), y]
    xp = _array.namespace(z)

    def slope_curvature(beta: float) -> tuple[float, float]:
        q = _array.softmax(xp, beta * z, axis=-1)
        mean_z = np.sum(q * z, axis=-1)
        var_z = np.sum(q * z**2, axis=-1) - mean_z**2
        return float(np.mean(mean_z - z_true)), float(np.mean(np.maximum(var_z, 0.0)))

    lo, hi = _BETA_BOUNDS
    if slope_curvature(hi)[0] <= 0:
        return 1.0 / hi
    if slope_curvature(lo)[0] >= 0:
        return 1.0 / lo
    beta = 1.0
    for _ in range(200):
        g, h = slope_curvature(beta)
        if g > 0:
            hi = beta
        else:
            lo = beta
        if g == 0 or hi / lo - 1 < 1e-13:
            break
        step = beta - g / h if h > 0 else math.nan
        beta = step if lo < step < hi else math.sqrt(lo * hi)
    return 1.0 / beta


def _lbfgs(objective: Any, x0: Any, *, iterations: int = 500, memory: int = 10) -> Any:
    """Minimise a smooth convex ``objective(x) -> (value, gradient)`` by L-BFGS with an
    Armijo backtracking line search; stops when the gradient or the step vanishes."""
    import numpy as np

    x = np.array(x0, dtype=np.float64)
    f, g = objective(x)
    s_hist: list[Any] = []
    y_hist: list[Any] = []
    for _ in range(iterations):
        if np.max(np.abs(g)) < 1e-10:
            break
        # two-loop recursion: the quasi-Newton direction from the last `memory` pairs
        d = -g
        alphas = []
        for s, yv in zip(reversed(s_hist), reversed(y_hist), strict=True):
            a = float(s @ d) / float(yv @ s)
            alphas.append(a)
            d = d - a * yv
        if s_hist:
            d = d * (float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1]))
        for (s, yv), a in zip(zip(s_hist, y_hist, strict=True), reversed(alphas), strict=True):
            d = d + (a - float(yv @ d) / float(yv @ s)) * s
        if float(g @ d) >= 0:  # not a descent direction: restart from the gradient
            d, s_hist, y_hist = -g, [], []
        t = 1.0
        while True:
            x_new = x + t * d
            f_new, g_new = objective(x_new)
            if f_new <= f + 1e-4 * t * float(g @ d) or t < 1e-12:
                break
            t /= 2
        s, yv = x_new - x, g_new - g
        if float(s @ yv) > 1e-12:
            s_hist, y_hist = [*s_hist[-memory + 1 :], s], [*y_hist[-memory + 1 :], yv]
        converged = abs(f - f_new) <= 1e-14 * max(1.0, abs(f))
        x, f, g = x_new, f_new, g_new
        if converged:
            break
    return x


class TemperatureScaling:
    r"""Temperature scaling: calibrated logits :math:`z / T`, T fitted by NLL (Guo et al., 2017).

    Never changes the arg-max (T > 0).

    Example:
        >>> import numpy as np
        >>> ts = TemperatureScaling().fit(np.array([[4.0, 0.0], [4.0, 0.0]]), np.array([0, 1]))
        >>> ts.temperature  # a sure prediction, right half the time: softened to the bound
        10000.0
        >>> int(ts(np.array([[4.0, 0.0]])).argmax())
        0
    """

    def __init__(self) -> None:
        self.temperature = 1.0

    def fit(self, logits: Array, labels: Array, *, axis: int = -1) -> TemperatureScaling:
        """Fit T on held-out ``logits`` and ``labels`` (:func:`fit_temperature`); returns self."""
        self.temperature = fit_temperature(logits, labels, axis=axis)
        return self

    def __call__(self, logits: Array) -> Array:
        """``logits / T``, in the library and dtype of ``logits``."""
        logits = _array.asarray(logits, "logits")
        return logits / self.temperature

    def state_dict(self) -> dict[str, Any]:
        """``{"method": "temperature", "temperature": T}`` (JSON-serialisable)."""
        return {"method": "temperature", "temperature": self.temperature}

    def load_state_dict(self, state: dict[str, Any]) -> TemperatureScaling:
        """Restore from :meth:`state_dict`; returns self.

        Raises:
            ValueError: another method's state, or a temperature that is not positive.
        """
        _state_method(state, "temperature")
        self.temperature = _checks.positive("temperature", state.get("temperature"))
        return self


def _state_method(state: Any, method: str) -> None:
    if not isinstance(state, dict) or state.get("method") != method:
        got = state.get("method") if isinstance(state, dict) else state
        raise ValueError(f"`state` must be a {method} scaling state; got method={got!r}.")


class _AffineScaling:
    """Calibrated logits :math:`z W^\\top + b`, fitted by NLL (plus L2 penalties) by L-BFGS."""

    method = ""

    def __init__(self, *, off_diagonal_l2: float = 0.0, bias_l2: float = 0.0) -> None:
        self.off_diagonal_l2 = _checks.non_negative("off_diagonal_l2", off_diagonal_l2)
        self.bias_l2 = _checks.non_negative("bias_l2", bias_l2)
        self.weight: Any = None
        self.bias: Any = None

    def _unpack(self, x: Any, c: int) -> tuple[Any, Any]:
        raise NotImplementedError

    def _initial(self, c: int) -> Any:
        raise NotImplementedError

    def fit(self, logits: Array, labels: Array, *, axis: int = -1) -> Any:
        """Fit on held-out ``logits`` and ``labels`` by minimising the mean NLL (plus the
        penalties); returns self."""
        import numpy as np

        z, y = _host_logits(logits, labels, axis)
        n, c = z.shape
        onehot = np.eye(c)[y]
        xp = _array.namespace(z)
        off = ~np.eye(c, dtype=bool)
        n_off = max(c * (c - 1), 1)

        def objective(x: Any) -> tuple[float, Any]:
            w, b = self._unpack(x, c)
            scores = z @ w.T + b
            value = _mean_nll(scores, y)
            residual = (_array.softmax(xp, scores, axis=-1) - onehot) / n
            grad_w = residual.T @ z
            grad_b = residual.sum(axis=0)
            value += self.off_diagonal_l2 * float(np.sum(w[off] ** 2)) / n_off
            grad_w = grad_w + np.where(off, 2 * self.off_diagonal_l2 * w / n_off, 0.0)
            value += self.bias_l2 * float(np.sum(b**2)) / c
            grad_b = grad_b + 2 * self.bias_l2 * b / c
            return value, self._pack_grad(grad_w, grad_b)

        self.weight, self.bias = self._unpack(_lbfgs(objective, self._initial(c)), c)
        return self

    def _pack_grad(self, grad_w: Any, grad_b: Any) -> Any:
        raise NotImplementedError

    def __call__(self, logits: Array, *, axis: int = -1) -> Array:
        """The calibrated logits, in the library and dtype of ``logits``.

        Raises:
            ValueError: not fitted yet; a class count other than the fitted one.
        """
        if self.weight is None:
            raise ValueError(f"this {type(self).__name__} is not fitted; call fit first.")
        logits = _array.asarray(logits, "logits")
        xp = _array.namespace(logits)
        ax = _checks.axis("axis", axis, logits.ndim)
        c = self.weight.shape[0]
        if logits.shape[ax] != c:
            raise ValueError(
                f"`logits` must have {c} classes along axis {axis} (the fitted calibrator's); "
                f"got {logits.shape[ax]}."
            )
        z = _array.move_class_axis_last(xp, logits, ax)
        w = xp.asarray(self.weight.T.copy(), dtype=z.dtype)
        b = xp.asarray(self.bias, dtype=z.dtype)
        return _array.move_class_axis_back(xp, xp.matmul(z, w) + b, ax)

    def state_dict(self) -> dict[str, Any]:
        """``{"method", "weight", "bias", ...}`` as nested lists (JSON-serialisable)."""
        if self.weight is None:
            raise ValueError(f"this {type(self).__name__} is not fitted; call fit first.")
        return {
            "method": self.method,
            "weight": self.weight.tolist(),
            "bias": self.bias.tolist(),
            "off_diagonal_l2": self.off_diagonal_l2,
            "bias_l2": self.bias_l2,
        }

    def load_state_dict(self, state: dict[str, Any]) -> Any:
        """Restore from :meth:`state_dict`; returns self.

        Raises:
            ValueError: another method's state; weight and bias of mismatched shapes.
        """
        import numpy as np

        _state_method(state, self.method)
        w = np.asarray(state.get("weight"), dtype=np.float64)
        b = np.asarray(state.get("bias"), dtype=np.float64)
        c = b.shape[0] if b.ndim == 1 else -1
        if c < 1 or w.shape != (c, c) or not np.all(np.isfinite(w)) or not np.all(np.isfinite(b)):
            raise ValueError(
                f"`state` must hold a finite [C, C] weight and [C] bias; got shapes "
                f"{w.shape} and {b.shape}."
            )
        self.weight, self.bias = w, b
        return self


class VectorScaling(_AffineScaling):
    r"""Vector scaling (Guo et al., 2017): :math:`z' = w \odot z + b`, per class a scale and
    a bias, fitted by NLL.

    Unlike temperature scaling it *can* change the arg-max: a larger scale or bias for one
    class moves samples to it (``w = (1, 3)`` maps ``z = (2, 1)`` to ``(2, 3)``). With
    ``bias_l2`` the biases are pulled to 0. ``weight`` holds ``diag(w)``.

    Args:
        bias_l2: L2 penalty on the biases, divided by C. Default: 0.

    Example:
        >>> import numpy as np
        >>> z = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 3.0]])
        >>> vs = VectorScaling().fit(z, np.array([0, 1, 1, 1]))
        >>> vs(z).shape
        (4, 2)
    """

    method = "vector"

    def __init__(self, *, bias_l2: float = 0.0) -> None:
        super().__init__(bias_l2=bias_l2)

    def _initial(self, c: int) -> Any:
        import numpy as np

        return np.concatenate([np.ones(c), np.zeros(c)])

    def _unpack(self, x: Any, c: int) -> tuple[Any, Any]:
        import numpy as np

        return np.diag(x[:c]), x[c:]

    def _pack_grad(self, grad_w: Any, grad_b: Any) -> Any:
        import numpy as np

        return np.concatenate([np.diag(grad_w), grad_b])


class MatrixScaling(_AffineScaling):
    r"""Matrix scaling (Guo et al., 2017): :math:`z' = z W^\top + b`, fitted by NLL, with the
    off-diagonal and intercept L2 penalties of Kull et al. (2019) (ODIR):
    :math:`\lambda \frac{\sum_{i \ne j} W_{ij}^2}{C(C-1)} + \mu \frac{\sum_j b_j^2}{C}`.

    Args:
        off_diagonal_l2: λ. Default: 0.
        bias_l2: μ. Default: 0.

    Example:
        >>> import numpy as np
        >>> z = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 3.0]])
        >>> ms = MatrixScaling(off_diagonal_l2=1.0).fit(z, np.array([0, 1, 1, 1]))
        >>> ms.weight.shape, ms.bias.shape
        ((2, 2), (2,))
    """

    method = "matrix"

    def _initial(self, c: int) -> Any:
        import numpy as np

        return np.concatenate([np.eye(c).ravel(), np.zeros(c)])

    def _unpack(self, x: Any, c: int) -> tuple[Any, Any]:
        return x[: c * c].reshape(c, c), x[c * c :]

    def _pack_grad(self, grad_w: Any, grad_b: Any) -> Any:
        import numpy as np

        return np.concatenate([grad_w.ravel(), grad_b])
