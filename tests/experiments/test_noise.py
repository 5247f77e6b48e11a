"""C20 (noise-robust losses under symmetric label noise) in a reduced size, and its pieces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crossent.experiments import report
from crossent.experiments.claims import by_id, noise
from crossent.experiments.registry import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    INCONCLUSIVE,
    VERDICTS,
    Context,
    Options,
)


def test_symmetric_noise_flips_the_share_asked_to_other_classes_uniformly():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=20_000)
    noisy = noise.symmetric_noise(np.random.default_rng(1), y, 0.4, 10)
    flipped = noisy != y
    assert noisy.dtype == y.dtype and noisy.min() >= 0 and noisy.max() <= 9
    assert abs(flipped.mean() - 0.4) < 0.01
    # each of the nine other classes about equally often: offsets 1..9, none 0
    offsets = np.bincount(((noisy - y) % 10)[flipped], minlength=10)
    assert offsets[0] == 0
    expected = flipped.sum() / 9
    assert np.all(np.abs(offsets[1:] - expected) < 5 * np.sqrt(expected))
    np.testing.assert_array_equal(noise.symmetric_noise(rng, y, 0.0, 10), y)


def test_symmetric_noise_refuses_bad_arguments():
    y = np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError, match=r"`rate` must be in \[0, 1\]; got rate=1\.5\."):
        noise.symmetric_noise(np.random.default_rng(0), y, 1.5, 10)
    with pytest.raises(ValueError, match=r"`n_classes` must be at least 2; got n_classes=1\."):
        noise.symmetric_noise(np.random.default_rng(0), y, 0.1, 1)


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ((HOLDS, HOLDS, HOLDS), HOLDS),
        ((HOLDS, INCONCLUSIVE, DOES_NOT_HOLD), HOLDS_WITH_CORRECTION),
        ((DOES_NOT_HOLD, DOES_NOT_HOLD, DOES_NOT_HOLD), DOES_NOT_HOLD),
        ((DOES_NOT_HOLD, INCONCLUSIVE, DOES_NOT_HOLD), INCONCLUSIVE),
    ],
)
def test_overall_verdict_needs_every_robust_loss(verdicts, expected):
    assert noise.overall_verdict(dict(zip("abc", verdicts, strict=True))) == expected


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(noise, "STEPS_QUICK", 30)


def test_c20_record_meets_the_contract_of_a_trained_claim(small: None) -> None:
    claim = by_id()["C20"]
    result = claim.run(Context(Options(quick=True)))
    assert result.verdict in VERDICTS
    assert result.criterion and result.setting and result.finding and result.headline
    record = json.loads(report.claims_json([report.Outcome(claim, result, 1.0)]))[0]
    assert record["id"] == "C20" and record["repeats"] >= 5 and record["quick"] is True
    sweep = record["sweep"]
    assert [p["value"] for p in sweep] == list(noise.RATES_QUICK)
    assert record["baseline"] == noise.CE and record["claimed"] in noise.ROBUST
    for point in sweep:
        assert {noise.CE, *noise.ROBUST, noise.CLEAN} <= set(point["methods"])
        means = {name: iv["mean"] for name, iv in point["methods"].items()}
        paired = means[record["claimed"]] - means[noise.CE]
        assert point["difference"]["mean"] == pytest.approx(paired, abs=1e-9)
    assert record["ceiling"] == [None] * len(sweep) and record["reference"]
    m = result.measured
    assert set(m["verdicts"]) == set(noise.ROBUST)
    assert noise.overall_verdict(m["verdicts"]) == result.verdict
    for rate in noise.RATES_QUICK:  # the realised noise is the rate asked for
        assert abs(m["realised_noise"][f"{rate:g}"] - rate) < 0.05
    # the clean reference is CE at noise 0, repeated beside every rate
    assert m["accuracy"][noise.CLEAN]["0.4"] == m["accuracy"][noise.CE]["0"]
    (table,) = result.tables
    assert len(table.rows) == len(noise.RATES_QUICK)
