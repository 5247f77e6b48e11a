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
