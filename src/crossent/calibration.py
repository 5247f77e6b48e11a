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
    "ReliabilityDiagram",
    "brier_decomposition",
    "brier_score",
    "calibration_error",
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
