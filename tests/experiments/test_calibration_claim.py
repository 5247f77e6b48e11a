"""C19 (calibration) in pieces: the splits, the scores before and after temperature scaling,
the finite-sample floor of the ECE, and the verdict rule. The whole claim end to end, in a
tiny size, is in test_claims_evidence.py with the other trained claims."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import log_softmax, softmax

from crossent.experiments import datasets
from crossent.experiments.claims import calibration as c19
from crossent.experiments.registry import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE
from crossent.experiments.stats import Interval, SweepPoint


def test_splits_are_disjoint_and_sized_as_stated() -> None:
    draws = [datasets.digits(seed) for seed in (0, 1)]
    data = c19._data(draws)
    n_train, n_test = len(draws[0].y_train), len(draws[0].y_test)
    assert tuple(data.x_fit.shape[:2]) == (2, c19.FIT_ROWS)
    assert data.y_val.shape == (2, c19.VALIDATION_ROWS)
    rest = n_train - c19.FIT_ROWS - c19.VALIDATION_ROWS
    assert data.y_test.shape == (2, rest + n_test) and data.classes == 10
    # Every image of a draw is in exactly one part (rows are distinct images in digits).
    x0 = np.concatenate([data.x_fit[0].numpy(), data.x_val[0].numpy(), data.x_test[0].numpy()])
    assert len(x0) == n_train + n_test
    np.testing.assert_array_equal(data.x_test[0].numpy()[rest:], draws[0].x_test)
    small = datasets.Split(
        "tiny",
        *(a[:10] for a in (draws[0].x_train, draws[0].y_train)),
        draws[0].x_test,
        draws[0].y_test,
    )
    with pytest.raises(ValueError, match="`draws` must hold more than 750 training rows"):
        c19._data([small])


def test_member_metrics_of_over_confident_logits() -> None:
    rng = np.random.default_rng(0)
    calibrated = rng.standard_normal((3000, 4)) * 1.5
    labels = np.array([rng.choice(4, p=p) for p in softmax(calibrated, axis=1)])
    logits = 3.0 * calibrated  # the same ranking, three times too sure
    m = c19._member_metrics(logits[:1500], labels[:1500], logits[1500:], labels[1500:], seed=1)
    assert m["temperature"] == pytest.approx(3.0, rel=0.1)
    assert m["changed"] == 0 and m["accuracy_scaled"] == m["accuracy_raw"]
    nll = -np.mean(log_softmax(logits[1500:], axis=1)[np.arange(1500), labels[1500:]])
    assert m["nll_raw"] == pytest.approx(nll, rel=1e-12)
    assert m["nll_scaled"] < m["nll_raw"] and m["ece_scaled"] < m["ece_raw"]
    confidence = softmax(logits[1500:], axis=1).max(axis=1).mean()
    assert m["confidence_raw"] == pytest.approx(confidence, rel=1e-12)
    assert m["confidence_raw"] - m["accuracy_raw"] > 0.05  # over-confident
    assert 0 < m["floor"] < m["ece_raw"]


def test_floor_of_one_bin_is_the_mean_absolute_deviation_of_a_binomial_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # All confidences equal: one bin, ECE = |share correct − c|, whose mean over draws is
    # E|X̄ − c| ≈ √(2/π) · √(c(1 − c)/N) for N Bernoulli(c) outcomes.
    monkeypatch.setattr(c19, "FLOOR_DRAWS", 400)
    c, n = 0.9, 1000
    floor = c19._floor(np.full(n, c), np.random.default_rng(0))
    assert floor == pytest.approx(math.sqrt(2 / math.pi) * math.sqrt(c * (1 - c) / n), rel=0.15)


def point(diff: Interval, detectable: float = 0.001) -> SweepPoint:
    return SweepPoint("training steps", 100.0, {}, diff, None, detectable)


ABOVE = Interval(0.02, 0.01, 0.03, 5)
STRADDLES = Interval(0.0, -0.01, 0.01, 5)
BELOW = Interval(-0.02, -0.03, -0.01, 5)


@pytest.mark.parametrize(
    ("over", "ece", "nll", "changed", "expected"),
    [
        (ABOVE, ABOVE, ABOVE, 0, HOLDS),
        (ABOVE, ABOVE, ABOVE, 1, DOES_NOT_HOLD),  # a prediction changed
        (BELOW, ABOVE, ABOVE, 0, DOES_NOT_HOLD),  # ends under-confident
        (ABOVE, BELOW, ABOVE, 0, DOES_NOT_HOLD),  # scaling raises the ECE
        (STRADDLES, ABOVE, ABOVE, 0, INCONCLUSIVE),
        (ABOVE, Interval(0.0, -0.05, 0.05, 5), ABOVE, 0, INCONCLUSIVE),
    ],
)
def test_the_longest_budget_decides(
    over: Interval, ece: Interval, nll: Interval, changed: int, expected: str
) -> None:
    early = point(BELOW)
    sweep = c19._Sweep(
        [early, point(ece, 0.08 if ece.hi - ece.lo > 0.05 else 0.001)],
        [early, point(nll)],
        [BELOW, over],
    )
    assert c19._verdict(sweep, changed) == expected
