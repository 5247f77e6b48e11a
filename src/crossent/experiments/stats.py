"""The statistics behind a trained verdict: paired differences, intervals, power, the rule.

A trained comparison runs every method on the same ``n`` independent repeats (data draw and
initialisation), so the methods' metrics are *paired*: the claim is judged on the per-repeat
difference ``d_r = claimed_r − baseline_r``, whose mean has the Student-t interval

.. math::

    \\bar d \\pm t_{0.975,\\,n-1}\\, s_d / \\sqrt{n}.

The smallest true difference the design detects with a two-sided test at level
:math:`\\alpha` and power :math:`1-\\beta` is (the usual normal-theory approximation, with t
quantiles for small ``n``)

.. math::

    \\delta_{\\min} = (t_{1-\\alpha/2,\\,n-1} + t_{1-\\beta,\\,n-1})\\, s_d / \\sqrt{n}.

:func:`sweep_verdict` turns the intervals of a sweep over the claim's regime into one of
four verdicts. Differences are *signed*: positive means the claim's direction (for a
lower-is-better metric pass ``higher_is_better=False`` and the sign is flipped here, so the
rule itself only ever looks for positive differences).

References:
    Cohen, J. *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed., 1988.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DOES_NOT_HOLD",
    "HOLDS",
    "HOLDS_WITH_CORRECTION",
    "INCONCLUSIVE",
    "VERDICTS",
    "Evidence",
    "Interval",
    "SweepPoint",
    "detectable_difference",
    "equivalence_verdict",
    "is_lower_better",
    "mean_interval",
    "paired_difference",
    "sweep_point",
    "sweep_verdict",
    "values_where",
    "verdict",
    "where_and_where_not",
]

HOLDS = "holds"
HOLDS_WITH_CORRECTION = "holds with a correction"
DOES_NOT_HOLD = "does not hold"
INCONCLUSIVE = "inconclusive"
"""The experiment cannot decide the claim: too little power, or effects of both signs."""
VERDICTS = (HOLDS, HOLDS_WITH_CORRECTION, DOES_NOT_HOLD, INCONCLUSIVE)


def verdict(holds: bool, *, correction: bool = False) -> str:
    """The verdict from the measured outcome.

    Args:
        holds: whether the measured numbers meet the claim's criterion.
        correction: whether the numbers also show that the seed's statement needs
            correcting (a wrong formula, convention or explanation) for it to hold.

    Returns:
        :data:`DOES_NOT_HOLD` when the criterion fails, else :data:`HOLDS_WITH_CORRECTION`
        or :data:`HOLDS`.

    Example:
        >>> from crossent.experiments.stats import verdict
        >>> steps_bce, steps_mse, speedup = 50, 469, 3.0
        >>> verdict(steps_bce * speedup <= steps_mse)
        'holds'
        >>> verdict(True, correction=True), verdict(False, correction=True)
        ('holds with a correction', 'does not hold')
    """
    if not holds:
        return DOES_NOT_HOLD
    return HOLDS_WITH_CORRECTION if correction else HOLDS


_LOWER_IS_BETTER = re.compile(r"loss|error|ece|nll|brier", re.IGNORECASE)


def is_lower_better(metric: str) -> bool:
    """Whether ``metric`` is read as lower-is-better: its name contains loss, error, ECE, NLL
    or Brier (any case).

    Example:
        >>> from crossent.experiments.stats import is_lower_better
        >>> is_lower_better("test NLL"), is_lower_better("average precision")
        (True, False)
    """
    return bool(_LOWER_IS_BETTER.search(metric))


def _t_quantile(q: float, dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(q, dof))


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided confidence interval over ``n`` values."""

    mean: float
    lo: float
    hi: float
    n: int

    def as_dict(self) -> dict[str, float | list[float]]:
        """``{"mean": m, "ci": [lo, hi]}``, the form ``claims.json`` records."""
        return {"mean": self.mean, "ci": [self.lo, self.hi]}

    def excludes_zero_above(self) -> bool:
        """The whole interval lies above 0."""
        return self.lo > 0.0


@dataclass(frozen=True)
class SweepPoint:
    """One setting of the claim's regime: each method's metric and the claimed difference.

    Attributes:
        variable: what is swept (``"positive rate"``, ``"label noise"``).
        value: its value at this point.
        methods: each method's mean metric over the repeats, with its interval.
        difference: claimed method minus baseline, paired over repeats, signed so that
            positive is the claim's direction (:func:`paired_difference`).
        ceiling: the Bayes-optimal value of the metric at this point, where the data come
            from a known generator; None for real data.
        detectable: the smallest difference this point's repeats detect at 95% / 80% power
            (:func:`detectable_difference`); None when not computed.
    """

    variable: str
    value: float
    methods: dict[str, Interval]
    difference: Interval
    ceiling: float | None = None
    detectable: float | None = None

    def as_dict(self) -> dict[str, object]:
        """The ``claims.json`` form of the point (without the ceiling, recorded beside)."""
        record: dict[str, object] = {
            "variable": self.variable,
            "value": self.value,
            "methods": {name: iv.as_dict() for name, iv in self.methods.items()},
            "difference": self.difference.as_dict(),
        }
        if self.detectable is not None:
            record["detectable_difference"] = self.detectable
        return record


@dataclass(frozen=True)
class Evidence:
    """What a trained verdict rests on.

    Attributes:
        metric: the metric compared (its name decides the direction: :func:`is_lower_better`).
        repeats: independent repeats (data draw and initialisation) per method and point.
        sweep: the points of the claim's regime, in order.
        detectable_difference: the smallest difference the design detects at 95% / 80% power.
        reference: where the data are real, the strong reference standing in for a ceiling
            (``"best of a 3 × 3 grid of learning rate and width"``); None otherwise.
        claimed, baseline: the two methods whose paired difference is judged (names of
            ``methods`` in the sweep points); None when not stated.
        margin: for a claim of *no* difference (equivalence, non-inferiority), the largest
            difference that still counts as none (:func:`equivalence_verdict`); None for a
            claim of an effect.
        quick: the evidence comes from a ``--quick`` run (fewer points and repeats).
    """

    metric: str
    repeats: int
    sweep: list[SweepPoint]
    detectable_difference: float
    reference: str | None = None
    claimed: str | None = None
    baseline: str | None = None
    margin: float | None = None
    quick: bool = False

    def as_dict(self) -> dict[str, object]:
        """The fields a trained claim adds to its ``claims.json`` record."""
        record: dict[str, object] = {
            "metric": self.metric,
            "repeats": self.repeats,
            "sweep": [p.as_dict() for p in self.sweep],
            "ceiling": [p.ceiling for p in self.sweep],
            "reference": self.reference,
            "detectable_difference": self.detectable_difference,
        }
        if self.claimed is not None and self.baseline is not None:
            record["claimed"], record["baseline"] = self.claimed, self.baseline
        if self.margin is not None:
            record["margin"] = self.margin
        if self.quick:
            record["quick"] = True
        return record


def mean_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Interval:
    """The mean of ``values`` with its Student-t ``confidence`` interval.

    With one value (or identical values) the interval has zero width.

    Raises:
        ValueError: fewer than one value, or a value that is not finite.

    Example:
        >>> from crossent.experiments.stats import mean_interval
        >>> iv = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
        >>> iv.mean, round(iv.lo, 4), round(iv.hi, 4)
        (3.0, 1.0368, 4.9632)
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"`values` must be a non-empty 1-D sequence; got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`values` must be finite; got {x.tolist()!r}.")
    mean = float(x.mean())
    if x.size == 1:
        return Interval(mean, mean, mean, 1)
    half = _t_quantile(0.5 + confidence / 2, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return Interval(mean, mean - half, mean + half, int(x.size))


def paired_difference(
    claimed: Sequence[float] | np.ndarray,
    baseline: Sequence[float] | np.ndarray,
    *,
    higher_is_better: bool = True,
    confidence: float = 0.95,
) -> Interval:
    """The mean paired difference ``claimed − baseline`` (sign flipped for a lower-is-better
    metric, so that positive always means the claim's direction) with its interval.

    Raises:
        ValueError: the two do not have the same number of repeats.

    Example:
        >>> from crossent.experiments.stats import paired_difference
        >>> paired_difference([0.30, 0.32, 0.31], [0.20, 0.21, 0.22]).mean > 0
        True
        >>> round(paired_difference([0.5, 0.6], [0.7, 0.8], higher_is_better=False).mean, 12)
        0.2
    """
    a = np.asarray(claimed, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"`claimed` and `baseline` must be paired repeats of the same length; "
            f"got {a.shape} and {b.shape}."
        )
    d = a - b if higher_is_better else b - a
    return mean_interval(d, confidence)


def detectable_difference(
    differences: Sequence[float] | np.ndarray, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest true mean difference a paired design like this one detects: two-sided
    level ``alpha``, probability ``power``, from the spread of the observed ``differences``.

    Returns ``inf`` with fewer than two repeats (no spread to judge by).

    Example:
        >>> from crossent.experiments.stats import detectable_difference
        >>> round(detectable_difference([0.01, -0.01, 0.02, 0.0, -0.02]), 4)
        0.0263
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.size < 2:
        return math.inf
    dof = d.size - 1
    t_sum = _t_quantile(1 - alpha / 2, dof) + _t_quantile(power, dof)
    return t_sum * float(d.std(ddof=1)) / math.sqrt(d.size)


def sweep_verdict(
    differences: Sequence[Interval],
    detectable: float,
    *,
    meaningful: float | None = None,
    correction: bool = False,
) -> str:
    """The verdict of a claim from its paired differences over the swept regime.

    - **holds** (or **holds with a correction** when ``correction``): some point's interval
      lies wholly above 0 — the effect is there, in the claimed direction, somewhere in the
      regime the claim names;
    - **does not hold**: at every point the interval lies below 0 (the opposite effect), or
      below ``detectable`` (no effect as large as the design could detect) — the latter only
      when the design had the power to see a ``meaningful`` effect (``detectable ≤
      meaningful``);
    - **inconclusive**: anything else — the experiment cannot decide.

    Args:
        differences: one interval per sweep point, positive = the claim's direction.
        detectable: the design's smallest detectable difference (:func:`detectable_difference`).
        meaningful: the smallest effect that would matter for the claim, in the metric's units;
            None: any effect the design can detect matters.
        correction: the claim holds only once the seed's statement is corrected.

    Example:
        >>> from crossent.experiments.stats import Interval, sweep_verdict
        >>> sweep_verdict([Interval(0.02, 0.01, 0.03, 5), Interval(0.0, -0.01, 0.01, 5)], 0.01)
        'holds'
        >>> sweep_verdict([Interval(0.0, -0.004, 0.004, 5)] * 3, 0.01)
        'does not hold'
        >>> sweep_verdict([Interval(0.01, -0.02, 0.04, 5)] * 3, 0.05, meaningful=0.02)
        'inconclusive'
    """
    if not differences:
        raise ValueError("`differences` must hold at least one sweep point; got none.")
    if any(d.lo > 0.0 for d in differences):
        return verdict(True, correction=correction)
    powered = meaningful is None or detectable <= meaningful
    if all(d.hi < 0.0 or (powered and d.hi < detectable) for d in differences):
        return DOES_NOT_HOLD
    return INCONCLUSIVE


def sweep_point(
    variable: str,
    value: float,
    metrics: Mapping[str, Sequence[float] | np.ndarray],
    *,
    claimed: str,
    baseline: str,
    metric: str,
    ceiling: float | None = None,
) -> SweepPoint:
    """One :class:`SweepPoint` from each method's per-repeat values of ``metric``.

    The repeats are paired by position (repeat ``r`` of every method saw the same data draw
    and initialisation); the difference is ``claimed − baseline``, sign-flipped when
    ``metric`` is lower-is-better (:func:`is_lower_better`), and the point records its own
    detectable difference.

    Args:
        variable: what is swept.
        value: its value here.
        metrics: per method, one value per repeat.
        claimed: the method the claim says is better (a key of ``metrics``).
        baseline: the method it is compared with.
        metric: the metric's name (decides the direction).
        ceiling: the Bayes-optimal value of the metric here, if known. Default: None.

    Returns:
        The point, each method's mean with its 95% interval.

    Raises:
        ValueError: ``claimed`` or ``baseline`` is not in ``metrics``, or the two differ in
            their number of repeats.

    Example:
        >>> from crossent.experiments.stats import sweep_point
        >>> p = sweep_point("steps", 100, {"a": [0.9, 0.8, 0.85], "b": [0.7, 0.62, 0.69]},
        ...                 claimed="a", baseline="b", metric="accuracy")
        >>> round(p.difference.mean, 4), p.difference.lo > 0
        (0.18, True)
    """
    for name, role in ((claimed, "claimed"), (baseline, "baseline")):
        if name not in metrics:
            raise ValueError(f"`{role}` must name one of {sorted(metrics)}; got {role}={name!r}.")
    higher = not is_lower_better(metric)
    a, b = np.asarray(metrics[claimed], float), np.asarray(metrics[baseline], float)
    difference = paired_difference(a, b, higher_is_better=higher)
    signed = (a - b) if higher else (b - a)
    return SweepPoint(
        variable,
        float(value),
        {name: mean_interval(v) for name, v in metrics.items()},
        difference,
        ceiling,
        detectable_difference(signed),
    )


def equivalence_verdict(
    differences: Sequence[Interval], margin: float, *, non_inferiority: bool = False
) -> str:
    """The verdict of a claim of *no* meaningful difference ("close accuracies", "needs no
    tuning") from its paired differences over the swept regime.

    Two one-sided tests at the 95% intervals' ends (Schuirmann's TOST, at level 2.5% a side):

    - **holds**: at every point the interval lies inside ``(−margin, margin)`` — or, for
      ``non_inferiority``, above ``−margin``: the claimed method is no worse by more than the
      margin anywhere in the regime;
    - **does not hold**: at some point the interval lies wholly outside — beyond ``±margin``
      (below ``−margin`` for ``non_inferiority``): a difference larger than the margin is
      shown;
    - **inconclusive**: anything else — some interval straddles the margin, the repeats are
      too few or too noisy to tell.

    Args:
        differences: one interval per sweep point, ``claimed − baseline`` signed so that
            positive is better for the claimed method.
        margin: the largest difference that counts as none, in the metric's units (> 0).
        non_inferiority: only a shortfall of the claimed method counts against the claim.
            Default: False.

    Raises:
        ValueError: no points, or a margin that is not positive.

    References:
        Schuirmann, D. J. "A comparison of the two one-sided tests procedure and the power
        approach for assessing the equivalence of average bioavailability." *J.
        Pharmacokinetics and Biopharmaceutics* 15 (1987).

    Example:
        >>> from crossent.experiments.stats import Interval, equivalence_verdict
        >>> equivalence_verdict([Interval(0.0, -0.01, 0.01, 5)] * 3, 0.05)
        'holds'
        >>> equivalence_verdict([Interval(0.0, -0.01, 0.01, 5), Interval(0.1, 0.07, 0.13, 5)], 0.05)
        'does not hold'
        >>> equivalence_verdict([Interval(0.1, 0.07, 0.13, 5)], 0.05, non_inferiority=True)
        'holds'
        >>> equivalence_verdict([Interval(0.0, -0.08, 0.08, 5)], 0.05)
        'inconclusive'
    """
    if not differences:
        raise ValueError("`differences` must hold at least one sweep point; got none.")
    if not margin > 0.0:
        raise ValueError(f"`margin` must be positive; got margin={margin!r}.")

    def inside(d: Interval) -> bool:
        return d.lo > -margin and (non_inferiority or d.hi < margin)

    def outside(d: Interval) -> bool:
        return d.hi < -margin or (not non_inferiority and d.lo > margin)

    if all(inside(d) for d in differences):
        return HOLDS
    if any(outside(d) for d in differences):
        return DOES_NOT_HOLD
    return INCONCLUSIVE


def _value_text(value: float) -> str:
    """A swept value for a sentence: whole numbers whole (``1000``), others to 3 digits."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e6 else f"{value:.3g}"


def values_where(points: Sequence[SweepPoint], test: Callable[[Interval], bool]) -> str:
    """The swept values at which ``test(difference)`` is true, as text (``"50, 200"``), or
    ``"none"`` — for the verdict's sentence of where a claim holds and where not.

    Example:
        >>> from crossent.experiments.stats import Interval, SweepPoint, values_where
        >>> pts = [SweepPoint("steps", v, {}, Interval(d, d - 1, d + 1, 5)) for v, d in
        ...        [(50, 0.5), (200, 2.0), (800, 3.0)]]
        >>> values_where(pts, lambda d: d.lo > 0)
        '200, 800'
    """
    chosen = [_value_text(p.value) for p in points if test(p.difference)]
    return ", ".join(chosen) if chosen else "none"


def where_and_where_not(points: Sequence[SweepPoint], test: Callable[[Interval], bool]) -> str:
    """Where ``test(difference)`` is true over the sweep and where not, as a phrase for a
    finding: ``"at every point (1, 10, 100)"``, ``"at no point"`` or ``"at 10, 100; not at
    1"``.

    Example:
        >>> from crossent.experiments.stats import Interval, SweepPoint, where_and_where_not
        >>> pts = [SweepPoint("ratio", v, {}, Interval(d, d - 1, d + 1, 5)) for v, d in
        ...        [(1, 0.5), (10, 2.0), (100, 3.0)]]
        >>> where_and_where_not(pts, lambda d: d.lo > 0)
        'at 10, 100; not at 1'
        >>> where_and_where_not(pts, lambda d: d.hi > 0)
        'at every point (1, 10, 100)'
    """
    yes = values_where(points, test)
    no = values_where(points, lambda d: not test(d))
    if no == "none":
        return f"at every point ({yes})"
    if yes == "none":
        return "at no point"
    return f"at {yes}; not at {no}"
