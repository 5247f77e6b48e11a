"""``crossent.evaluate``: per-task metrics against independent references."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import sklearn.metrics
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import reference as ref
from crossent.cli.evaluate import (
    CALIBRATION_BINS,
    TOP_K,
    InputReading,
    class_indices,
    evaluate,
    expected_calibration_error,
    read_input_kind,
)

RNG = np.random.default_rng(7)
N = 200


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def softmax_rows(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------
# Naive references, written from the definitions
# ---------------------------------------------------------------------------------------


def naive_ece(confidence, correct, bins=CALIBRATION_BINS) -> float:
    """Guo et al.: bins (b/M, (b+1)/M], |acc − conf| weighted by the bin's share."""
    total = 0.0
    n = len(confidence)
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidence) if (lo < c <= hi) or (b == 0 and c == 0)]
        if members:
            acc = sum(float(correct[i]) for i in members) / len(members)
            conf = sum(confidence[i] for i in members) / len(members)
            total += len(members) / n * abs(acc - conf)
    return total


def naive_auroc(scores, labels) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def naive_f1(truth: np.ndarray, guess: np.ndarray) -> tuple[float, float]:
    def f1(t, g):
        tp = sum(1 for a, b in zip(t, g, strict=True) if a and b)
        fp = sum(1 for a, b in zip(t, g, strict=True) if not a and b)
        fn = sum(1 for a, b in zip(t, g, strict=True) if a and not b)
        return 0.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)

    micro = f1(truth.ravel(), guess.ravel())
    macro = sum(f1(truth[:, j], guess[:, j]) for j in range(truth.shape[1])) / truth.shape[1]
    return micro, macro


def naive_top_k(logits, labels, k) -> float:
    hits = 0
    for row, y in zip(logits, labels, strict=True):
        best = sorted(range(len(row)), key=lambda c: -row[c])[:k]
        hits += y in best
    return hits / len(labels)


# ---------------------------------------------------------------------------------------
# Binary
# ---------------------------------------------------------------------------------------


def binary_data():
    y = (RNG.random(N) < 0.3).astype(np.int64)
    z = np.where(y == 1, 1.0, -1.0) * 1.2 + RNG.normal(size=N) * 1.5
    return z, y


def test_binary_from_logits():
    z, y = binary_data()
    result = evaluate(z, y)
    assert (result["task"], result["input"], result["n"]) == ("binary", "logits", N)
    assert result["loss"] == "sigmoid_binary_cross_entropy"
    m = result["metrics"]
    assert list(m) == ["cross_entropy", "accuracy", "auroc", "ece", "prediction_entropy"]
    p = sigmoid(z)
    np.testing.assert_allclose(m["cross_entropy"], ref.sigmoid_binary_cross_entropy(z, y))
    np.testing.assert_allclose(m["cross_entropy"], sklearn.metrics.log_loss(y, p), rtol=1e-9)
    assert m["accuracy"] == np.mean((p > 0.5) == (y == 1))
    np.testing.assert_allclose(m["auroc"], naive_auroc(z, y), rtol=1e-12)
    np.testing.assert_allclose(m["ece"], naive_ece(np.maximum(p, 1 - p), (p > 0.5) == y))
    assert result["notes"] == []
    json.dumps(result, allow_nan=False)


def test_binary_from_probabilities_column_and_auto_detection():
    z, y = binary_data()
    p = sigmoid(z)
    result = evaluate(p[:, None], y[:, None])
    assert (result["task"], result["input"]) == ("binary", "probabilities")
    assert result["loss"] == "binary_cross_entropy"
    np.testing.assert_allclose(
        result["metrics"]["cross_entropy"], sklearn.metrics.log_loss(y, p), rtol=1e-9
    )
    from_logits = evaluate(z, y)["metrics"]
    for name in ("accuracy", "auroc", "ece"):
        np.testing.assert_allclose(result["metrics"][name], from_logits[name], rtol=1e-12)


def test_binary_auroc_undefined_cases_are_noted():
    z, _ = binary_data()
    one_class = evaluate(z, np.ones(N))
    assert "auroc" not in one_class["metrics"]
    assert one_class["notes"] == ["auroc omitted: only one class is present in the targets"]
    soft = evaluate(z, RNG.random(N))
    assert "auroc" not in soft["metrics"]
    assert soft["notes"] == ["auroc omitted: it needs 0/1 targets, these are soft"]


# ---------------------------------------------------------------------------------------
# Multi-class
# ---------------------------------------------------------------------------------------


def multiclass_data(n_classes: int):
    y = RNG.integers(0, n_classes, N)
    z = RNG.normal(size=(N, n_classes)) * 2
    z[np.arange(N), y] += 1.5
    return z, y


def test_multiclass_from_logits():
    z, y = multiclass_data(12)
    result = evaluate(z, y)
    assert (result["task"], result["input"], result["loss"]) == (
        "multiclass",
        "logits",
        "softmax_cross_entropy",
    )
    m = result["metrics"]
    assert list(m) == [
        "cross_entropy",
        "accuracy",
        f"top{TOP_K}_accuracy",
        "perplexity",
        "ece",
        "prediction_entropy",
    ]
    q = softmax_rows(z)
    np.testing.assert_allclose(m["cross_entropy"], ref.softmax_cross_entropy(z, y))
    np.testing.assert_allclose(
        m["cross_entropy"], sklearn.metrics.log_loss(y, q, labels=range(12)), rtol=1e-9
    )
    assert m["accuracy"] == np.mean(np.argmax(z, axis=1) == y)
    assert m[f"top{TOP_K}_accuracy"] == naive_top_k(z, y, TOP_K)
    np.testing.assert_allclose(m["perplexity"], math.exp(ref.softmax_cross_entropy(z, y)))
    np.testing.assert_allclose(m["ece"], naive_ece(q.max(axis=1), q.argmax(axis=1) == y))
    np.testing.assert_allclose(m["prediction_entropy"], np.mean(ref.entropy(q)))


def test_multiclass_probabilities_one_hot_and_csv_floats_agree():
    z, y = multiclass_data(4)
    q = softmax_rows(z)
    by_logits = evaluate(z, y)
    for pred, targets in [(q, y), (q, np.eye(4)[y]), (q, y.astype(np.float64)), (z, np.eye(4)[y])]:
        result = evaluate(pred, targets)
        assert result["task"] == "multiclass"
        for name, value in by_logits["metrics"].items():
            np.testing.assert_allclose(result["metrics"][name], value, rtol=1e-9, err_msg=name)
    assert by_logits["notes"] == [f"top{TOP_K}_accuracy omitted: there are only 4 classes"]


def test_multiclass_probabilities_rounded_in_a_csv_still_count():
    z, y = multiclass_data(6)
    q = np.round(softmax_rows(z), 4)
    result = evaluate(q, y)
    assert (result["input"], result["loss"]) == ("probabilities", "categorical_cross_entropy")


def test_two_softmax_units_for_binary_labels_are_multiclass():
    z, y = multiclass_data(2)
    assert evaluate(z, y)["task"] == "multiclass"


# ---------------------------------------------------------------------------------------
# Multi-label and soft targets
# ---------------------------------------------------------------------------------------


def multilabel_data():
    y = (RNG.random((N, 5)) < [0.5, 0.3, 0.1, 0.05, 0.4]).astype(np.float64)
    z = np.where(y > 0, 1.0, -1.0) + RNG.normal(size=(N, 5)) * 1.5
    return z, y


def test_multilabel_from_logits():
    z, y = multilabel_data()
    result = evaluate(z, y)
    assert (result["task"], result["loss"]) == ("multilabel", "sigmoid_binary_cross_entropy")
    m = result["metrics"]
    assert list(m) == [
        "cross_entropy",
        "label_accuracy",
        "exact_match",
        "micro_f1",
        "macro_f1",
        "ece",
        "prediction_entropy",
    ]
    p = sigmoid(z)
    np.testing.assert_allclose(m["cross_entropy"], ref.sigmoid_binary_cross_entropy(z, y))
    micro, macro = naive_f1(y == 1, p > 0.5)
    np.testing.assert_allclose([m["micro_f1"], m["macro_f1"]], [micro, macro], rtol=1e-12)
    assert m["exact_match"] == np.mean(np.all((p > 0.5) == (y == 1), axis=1))
    conf = np.maximum(p, 1 - p).ravel()
    np.testing.assert_allclose(m["ece"], naive_ece(conf, ((p > 0.5) == (y == 1)).ravel()))


def test_multilabel_f1_with_an_empty_label_counts_zero():
    z, y = multilabel_data()
    y[:, 3] = 0.0
    z[:, 3] = -5.0  # never predicted either: F1 undefined, counted as 0
    m = evaluate(z, y)["metrics"]
    _, macro = naive_f1(y == 1, sigmoid(z) > 0.5)
    np.testing.assert_allclose(m["macro_f1"], macro, rtol=1e-12)


def test_multilabel_soft_targets_omit_f1():
    z, y = multilabel_data()
    result = evaluate(z, np.clip(y, 0.05, 0.95))
    assert "micro_f1" not in result["metrics"]
    assert result["notes"] == ["micro_f1, macro_f1 omitted: they need 0/1 targets, these are soft"]


def test_soft_targets():
    z = RNG.normal(size=(N, 4))
    t = RNG.dirichlet(np.ones(4), size=N)
    result = evaluate(z, t)
    assert (result["task"], result["loss"]) == ("soft", "softmax_cross_entropy")
    m = result["metrics"]
    q = softmax_rows(z)
    np.testing.assert_allclose(m["cross_entropy"], ref.softmax_cross_entropy(z, t))
    np.testing.assert_allclose(m["kl_divergence"], np.mean(ref.kl_divergence(t, q)))
    np.testing.assert_allclose(m["target_entropy"], np.mean(ref.entropy(t)))
    hit = q.argmax(axis=1) == t.argmax(axis=1)
    np.testing.assert_allclose(m["ece"], naive_ece(q.max(axis=1), hit))


# ---------------------------------------------------------------------------------------
# Without scikit-learn
# ---------------------------------------------------------------------------------------


def test_without_scikit_learn_metrics_are_omitted_with_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)
    z, y = binary_data()
    result = evaluate(z, y)
    assert "auroc" not in result["metrics"]
    assert {"cross_entropy", "accuracy", "ece"} <= set(result["metrics"])
    assert result["notes"] == [
        "auroc omitted: scikit-learn is not installed (pip install 'crossent[report]')"
    ]
    zl, yl = multilabel_data()
    result = evaluate(zl, yl)
    assert not {"micro_f1", "macro_f1"} & set(result["metrics"])
    assert "scikit-learn is not installed" in result["notes"][0]


# ---------------------------------------------------------------------------------------
# Expected calibration error
# ---------------------------------------------------------------------------------------


def test_ece_known_values():
    assert expected_calibration_error(np.ones(4), np.ones(4)) == 0.0
    assert expected_calibration_error(np.ones(4), np.zeros(4)) == 1.0
    # 80% right at confidence 0.8, 60% right at 0.6: calibrated.
    conf = np.array([0.8] * 5 + [0.6] * 5)
    correct = np.array([1, 1, 1, 1, 0, 1, 1, 1, 0, 0])
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-15)
    # Both groups in one bin when there is one bin: |0.7 - 0.7| = 0; with 2 bins also 0.
    assert expected_calibration_error(conf, correct, bins=1) == pytest.approx(0.0, abs=1e-15)


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 60), elements=st.floats(0, 1)),
    st.integers(1, 20),
    st.integers(0, 2**31 - 1),
)
def test_ece_matches_the_naive_definition(conf, bins, seed):
    correct = np.random.default_rng(seed).random(conf.size) < 0.5
    got = expected_calibration_error(conf, correct, bins=bins)
    assert 0.0 <= got <= 1.0
    np.testing.assert_allclose(got, naive_ece(conf, correct, bins), atol=1e-12)


@pytest.mark.parametrize(
    ("conf", "correct", "bins", "match"),
    [
        (np.array([0.5]), np.array([1, 0]), 15, "one length; got 1 and 2"),
        (np.array([]), np.array([]), 15, "non-empty"),
        (np.array([1.5]), np.array([1]), 15, r"must lie in \[0, 1\]; got values from 1.5"),
        (np.array([0.5]), np.array([1]), 0, "`bins` must be a positive integer; got bins=0"),
    ],
)
def test_ece_errors(conf, correct, bins, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(conf, correct, bins=bins)


# ---------------------------------------------------------------------------------------
# Errors: the guardrails speak through eval
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "targets", "options", "error", "match"),
    [
        (
            np.zeros((4, 1)),
            np.array([0, 1, 0, 0]),
            {"task": "multiclass"},
            ValueError,
            "single output unit",
        ),
        (
            softmax_rows(RNG.normal(size=(8, 4))),
            np.arange(8) % 4,
            {"from_logits": True},
            ValueError,
            "double softmax",
        ),
        (
            RNG.normal(size=(4, 3)),
            np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 1]]),
            {"task": "multiclass"},
            ValueError,
            "multi-hot",
        ),
        (
            RNG.normal(size=(8, 3)),
            np.arange(8) % 3,
            {"from_logits": False},
            ValueError,
            "look like logits",
        ),
        (
            RNG.normal(size=(8, 3)),
            np.arange(8) % 3 + 1,
            {},
            ValueError,
            "class index 3 is out of range",
        ),
        (
            RNG.normal(size=5),
            np.arange(4) % 2,
            {},
            ValueError,
            "predictions have 5 rows but targets have 4",
        ),
        (
            RNG.normal(size=(4, 3)),
            np.arange(4) % 2,
            {"task": "binary"},
            ValueError,
            r"binary task needs predictions of shape \[N\] or \[N, 1\]",
        ),
        (
            RNG.normal(size=4),
            np.arange(4) % 2,
            {"task": "regression"},
            ValueError,
            "`task` must be 'auto' or one of",
        ),
        (RNG.normal(size=(2, 2, 2)), np.zeros(2), {}, ValueError, r"must be \[N\] or \[N, C\]"),
        (
            RNG.normal(size=(4, 3)),
            np.array([0.0, 1.5, 2.0, 1.0]),
            {"task": "multiclass"},
            ValueError,
            "class indices must be whole numbers",
        ),
        (RNG.normal(size=4), np.array(["a", "b", "c", "d"]), {}, TypeError, "must hold numbers"),
    ],
    ids=[
        "keras trap",
        "double softmax",
        "multi-hot as multiclass",
        "logits as probs",
        "one-based",
        "rows",
        "binary width",
        "task",
        "3-d",
        "fractional index",
        "strings",
    ],
)
def test_evaluate_errors(pred, targets, options, error, match):
    with pytest.raises(error, match=match):
        evaluate(pred, targets, **options)


# ---------------------------------------------------------------------------------------
# Logits or probabilities: one reading for both paths, and no quiet guess
# ---------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    n_classes=st.integers(2, 12),
    seed=st.integers(0, 2**32 - 1),
    drift=st.floats(0.0, 0.02),
)
def test_auto_and_explicit_probabilities_agree(n_classes, seed, drift):
    """Rows that ``from_logits=False`` accepts are read as probabilities automatically, with
    the same numbers; rows that it refuses are refused automatically too (never logits)."""
    rng = np.random.default_rng(seed)
    q = rng.dirichlet(np.ones(n_classes), size=16)
    q = np.clip(q * (1 + drift * rng.uniform(-1, 1, size=(16, 1))), 0, 1)
    y = rng.integers(0, n_classes, 16)
    try:
        explicit = evaluate(q, y, from_logits=False)
    except ValueError as exc:
        assert "do not sum to 1" in str(exc)
        with pytest.raises(ValueError, match="cannot tell whether the predictions"):
            evaluate(q, y)
        return
    auto = evaluate(q, y)
    assert (auto["input"], auto["input_guess"]) == ("probabilities", None)
    assert auto["metrics"] == explicit["metrics"]


def test_probabilities_rounded_to_two_decimals_are_refused_not_read_as_logits():
    z = RNG.normal(size=(200, 10)) * 3
    y = RNG.integers(0, 10, 200)
    q = np.round(softmax_rows(z), 2)
    with pytest.raises(ValueError, match=r"rows sum to 0\.9\d*\.\.1\.0\d*, not to 1") as info:
        evaluate(q, y)
    assert "from_logits=True" in str(info.value) and "from_logits=False" in str(info.value)


def test_binary_values_in_the_unit_interval_are_a_stated_guess():
    z, y = binary_data()
    p = sigmoid(z)
    guessed = evaluate(p, y)
    assert (guessed["input"], guessed["input_guess"]) == (
        "probabilities",
        "every value lies in [0, 1]",
    )
    assert evaluate(p, y, from_logits=False)["input_guess"] is None
    assert evaluate(z, y)["input_guess"] is None  # negative values: logits for sure


@pytest.mark.parametrize(
    ("pred", "task", "from_logits", "guess"),
    [
        (np.array([[0.2, 0.8], [0.5, 0.5]]), "multiclass", False, None),
        (np.array([[-1.0, 2.0], [0.5, 0.5]]), "multiclass", True, None),
        (np.array([0.2, 0.9]), "binary", False, "every value lies in [0, 1]"),
        (np.array([[0.2, 0.9]]), "multilabel", False, "every value lies in [0, 1]"),
        (np.array([1.5, 0.2]), "binary", True, None),
    ],
)
def test_read_input_kind(pred, task, from_logits, guess):
    assert read_input_kind(pred, task) == InputReading(from_logits=from_logits, guess=guess)


def test_class_indices_refuse_values_a_cast_would_change():
    np.testing.assert_array_equal(class_indices(np.array([3.0, 0.0])), [3, 0])
    for label in (1e20, 2.0**63, float(2**53), np.inf):
        with pytest.raises(ValueError, match="too large to be a class index"):
            class_indices(np.array([0.0, label]))
    with pytest.raises(ValueError, match="whole numbers"):
        class_indices(np.array([0.5]))
