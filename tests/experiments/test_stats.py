"""The statistics of trained verdicts against SciPy and against simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from crossent.experiments.registry import DOES_NOT_HOLD, HOLDS, HOLDS_WITH_CORRECTION, INCONCLUSIVE
from crossent.experiments.stats import (
    Interval,
    detectable_difference,
    is_lower_better,
    mean_interval,
    paired_difference,
    sweep_verdict,
)


def test_mean_interval_equals_scipy_t_interval() -> None:
    x = np.random.default_rng(0).normal(0.3, 0.1, size=7)
    lo, hi = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    iv = mean_interval(x)
    assert iv.n == 7
    assert iv.mean == pytest.approx(x.mean(), abs=1e-15)
    assert (iv.lo, iv.hi) == pytest.approx((lo, hi), abs=1e-12)


def test_paired_difference_is_the_interval_of_the_differences_and_flips_for_losses() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=6), rng.normal(size=6)
    assert paired_difference(a, b) == mean_interval(a - b)
    flipped = paired_difference(a, b, higher_is_better=False)
    assert flipped.mean == pytest.approx(-(a - b).mean(), abs=1e-14)
    with pytest.raises(ValueError, match="`claimed` and `baseline`"):
        paired_difference(a, b[:5])


def test_detectable_difference_is_detected_with_the_stated_power() -> None:
    """Paired designs whose true effect equals the detectable difference are significant
    about 80% of the time (a simulation of 4000 experiments; the t approximation is close)."""
    rng = np.random.default_rng(2)
    n, sd = 8, 1.0
    effect = (sps.t.ppf(0.975, n - 1) + sps.t.ppf(0.8, n - 1)) * sd / math.sqrt(n)
    d = rng.normal(effect, sd, size=(4000, n))
    significant = sps.ttest_1samp(d, 0.0, axis=1).pvalue < 0.05
    assert 0.74 < significant.mean() < 0.86
    sample = rng.normal(0.0, sd, size=n)
    expected = effect * sample.std(ddof=1) / sd
    assert detectable_difference(sample) == pytest.approx(expected, rel=1e-12)
    assert detectable_difference([0.5]) == math.inf


@pytest.mark.parametrize(
    ("intervals", "detectable", "meaningful", "expected"),
    [
        ([(0.02, 0.01, 0.03), (0.0, -0.01, 0.01)], 0.01, None, HOLDS),
        ([(-0.02, -0.03, -0.01)] * 3, 0.01, None, DOES_NOT_HOLD),
        ([(0.0, -0.004, 0.004)] * 3, 0.01, None, DOES_NOT_HOLD),
        ([(0.0, -0.004, 0.004)] * 3, 0.01, 0.005, INCONCLUSIVE),
        ([(0.01, -0.02, 0.04)] * 3, 0.03, None, INCONCLUSIVE),
    ],
)
def test_sweep_verdict_rule(intervals, detectable, meaningful, expected) -> None:
    points = [Interval(m, lo, hi, 5) for m, lo, hi in intervals]
    assert sweep_verdict(points, detectable, meaningful=meaningful) == expected


def test_sweep_verdict_with_correction_and_errors() -> None:
    point = Interval(0.02, 0.01, 0.03, 5)
    assert sweep_verdict([point], 0.01, correction=True) == HOLDS_WITH_CORRECTION
    with pytest.raises(ValueError, match="`differences`"):
        sweep_verdict([], 0.01)
    with pytest.raises(ValueError, match="`values` must be finite"):
        mean_interval([1.0, math.nan])


@pytest.mark.parametrize(
    ("metric", "lower"),
    [
        ("test NLL", True),
        ("ECE", True),
        ("Brier score", True),
        ("cross-entropy loss", True),
        ("top-1 error", True),
        ("average precision", False),
        ("accuracy", False),
    ],
)
def test_metric_direction(metric: str, lower: bool) -> None:
    assert is_lower_better(metric) is lower


def test_evidence_record_has_the_claims_json_fields() -> None:
    from crossent.experiments.stats import Evidence, SweepPoint

    diff = Interval(0.02, 0.01, 0.03, 5)
    points = [
        SweepPoint("positive rate", r, {"focal": diff, "BCE": diff}, diff, ceiling=c)
        for r, c in ((0.1, 0.9), (0.01, 0.8), (0.001, None))
    ]
    record = Evidence("average precision", 5, points, 0.015, reference="best of a grid").as_dict()
    assert record["repeats"] == 5
    assert record["ceiling"] == [0.9, 0.8, None]
    assert record["sweep"][1] == {
        "variable": "positive rate",
        "value": 0.01,
        "methods": {
            "focal": {"mean": 0.02, "ci": [0.01, 0.03]},
            "BCE": {"mean": 0.02, "ci": [0.01, 0.03]},
        },
        "difference": {"mean": 0.02, "ci": [0.01, 0.03]},
    }


def test_sweep_point_pairs_repeats_and_signs_the_difference() -> None:
    from crossent.experiments.stats import sweep_point

    rng = np.random.default_rng(1)
    a, b = rng.normal(0.30, 0.02, 6), rng.normal(0.25, 0.02, 6)
    p = sweep_point("steps", 100, {"a": a, "b": b}, claimed="a", baseline="b", metric="accuracy")
    d = a - b
    lo, hi = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
    assert (p.difference.mean, p.difference.lo, p.difference.hi) == pytest.approx(
        (d.mean(), lo, hi), abs=1e-12
    )
    assert p.methods["b"].mean == pytest.approx(b.mean(), abs=1e-15)
    assert p.value == 100.0 and p.ceiling is None
    assert p.detectable == pytest.approx(detectable_difference(d), abs=1e-15)
    # A loss: the claimed method should be lower, so the difference is baseline − claimed.
    q = sweep_point("steps", 1, {"a": a, "b": b}, claimed="a", baseline="b", metric="test loss")
    assert q.difference.mean == pytest.approx(-d.mean(), abs=1e-15)
    assert "detectable_difference" in p.as_dict()
    with pytest.raises(ValueError, match="`baseline` must name one of"):
        sweep_point("steps", 1, {"a": a}, claimed="a", baseline="c", metric="accuracy")


@pytest.mark.parametrize(
    ("intervals", "margin", "non_inferiority", "expected"),
    [
        ([(-0.01, 0.01)] * 3, 0.02, False, HOLDS),  # every interval inside ± margin
        ([(-0.01, 0.01), (0.03, 0.05)], 0.02, False, DOES_NOT_HOLD),  # one wholly above
        ([(-0.05, -0.03)], 0.02, False, DOES_NOT_HOLD),  # wholly below
        ([(-0.03, 0.01)], 0.02, False, INCONCLUSIVE),  # straddles the margin
        ([(0.03, 0.05)], 0.02, True, HOLDS),  # better is fine when only a shortfall counts
        ([(-0.01, 0.2)], 0.02, True, HOLDS),
        ([(-0.05, -0.03)], 0.02, True, DOES_NOT_HOLD),
        ([(-0.03, 0.0)], 0.02, True, INCONCLUSIVE),
    ],
)
def test_equivalence_verdict(
    intervals: list[tuple[float, float]], margin: float, non_inferiority: bool, expected: str
) -> None:
    from crossent.experiments.stats import equivalence_verdict

    diffs = [Interval((lo + hi) / 2, lo, hi, 5) for lo, hi in intervals]
    assert equivalence_verdict(diffs, margin, non_inferiority=non_inferiority) == expected


def test_equivalence_verdict_errors() -> None:
    from crossent.experiments.stats import equivalence_verdict

    with pytest.raises(ValueError, match="at least one sweep point"):
        equivalence_verdict([], 0.1)
    with pytest.raises(ValueError, match=r"`margin` must be positive; got margin=0\.0"):
        equivalence_verdict([Interval(0, 0, 0, 5)], 0.0)


def test_values_where_names_the_regime() -> None:
    from crossent.experiments.stats import SweepPoint, values_where

    points = [
        SweepPoint("ratio", v, {}, Interval(m, m - 0.1, m + 0.1, 5))
        for v, m in ((1.0, 0.0), (385.123, 0.5), (38469.06, 0.7))
    ]
    assert values_where(points, lambda d: d.lo > 0) == "385, 3.85e+04"
    assert values_where(points, lambda d: d.hi < 0) == "none"


def test_evidence_records_the_optional_fields_only_when_set() -> None:
    from crossent.experiments.stats import Evidence, SweepPoint

    diff = Interval(0.0, -0.01, 0.01, 5)
    points = [SweepPoint("steps", v, {"a": diff, "b": diff}, diff) for v in (1, 2, 3)]
    plain = Evidence("accuracy", 5, points, 0.02).as_dict()
    assert not {"claimed", "baseline", "margin", "quick"} & set(plain)
    full = Evidence(
        "accuracy", 5, points, 0.02, claimed="a", baseline="b", margin=0.05, quick=True
    ).as_dict()
    assert (full["claimed"], full["baseline"], full["margin"], full["quick"]) == (
        "a",
        "b",
        0.05,
        True,
    )


def test_where_and_where_not_reads_as_a_phrase() -> None:
    from crossent.experiments.stats import SweepPoint, where_and_where_not

    points = [
        SweepPoint("ratio", v, {}, Interval(m, m - 0.1, m + 0.1, 5))
        for v, m in ((1.0, 0.0), (35.0, 0.5), (384.0, 0.7))
    ]
    assert where_and_where_not(points, lambda d: d.lo > 0) == "at 35, 384; not at 1"
    assert where_and_where_not(points, lambda d: d.hi > 0) == "at every point (1, 35, 384)"
    assert where_and_where_not(points, lambda d: d.hi < 0) == "at no point"


def test_values_where_writes_whole_numbers_whole() -> None:
    from crossent.experiments.stats import SweepPoint, values_where

    points = [SweepPoint("steps", v, {}, Interval(1.0, 0.5, 1.5, 5)) for v in (30.0, 1000.0, 0.25)]
    assert values_where(points, lambda d: d.lo > 0) == "30, 1000, 0.25"
