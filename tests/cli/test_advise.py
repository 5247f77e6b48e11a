"""``crossent.advise``: task, recommendation, class balance, suggestions, checked predictions."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossent.cli.advise import (
    MAX_LISTED_CLASSES,
    STRAY_LABEL_FACTOR,
    STRONG_IMBALANCE,
    advise,
    render,
    stray_label_cutoff,
)
from crossent.task import loss_for

RNG = np.random.default_rng(3)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def strict_json(result: dict) -> dict:
    return json.loads(json.dumps(result, allow_nan=False))


def test_imbalanced_binary():
    y = np.array([0] * 190 + [1] * 10)
    result = advise(y)
    assert result["task"] == "binary"
    assert result["n"] == 200
    choice = loss_for("binary")
    assert result["recommendation"] == {
        "activation": "sigmoid",
        "loss": "sigmoid_binary_cross_entropy",
        "probability_loss": "binary_cross_entropy",
        "reason": choice.reason,
    }
    balance = result["balance"]
    assert balance["counts"] == [190, 10]
    assert balance["imbalance_ratio"] == 19.0
    assert balance["strong"] is True
    first, second = result["suggestions"]
    assert "pos_weight=19" in first and "alpha=0.95" in first
    assert "sigmoid_focal_loss(..., alpha=0.25, gamma=2.0)" in second
    assert result["predictions"] is None
    assert strict_json(result) == result


def test_balanced_multiclass_needs_no_change():
    y = np.arange(300) % 3
    result = advise(y)
    assert result["task"] == "multiclass"
    assert result["recommendation"]["loss"] == "softmax_cross_entropy"
    assert result["balance"]["counts"] == [100, 100, 100]
    assert result["balance"]["imbalance_ratio"] == 1.0
    assert result["balance"]["strong"] is False
    assert result["suggestions"] == []


def test_imbalanced_multiclass_suggests_class_weights():
    y = np.repeat([0, 1, 2], [500, 40, 20])
    result = advise(y)
    assert result["balance"]["imbalance_ratio"] == 25.0
    assert result["balance"]["strong"] and 25.0 >= STRONG_IMBALANCE
    assert "class_balanced_weights(counts, beta=0.999)" in result["suggestions"][0]
    assert "softmax_focal_loss" in result["suggestions"][1]


def test_a_class_without_samples_is_reported():
    y = np.array([0, 1, 1, 0, 3, 3])  # class 2 never occurs
    result = advise(y)
    assert result["balance"]["counts"] == [2, 2, 0, 2]
    assert result["balance"]["imbalance_ratio"] is None
    assert result["balance"]["notes"] == ["classes ['2'] have no sample"]
    assert "classes ['2'] cannot be learned" in result["suggestions"][0]
    strict_json(result)


def test_the_outputs_width_counts_classes_the_targets_never_show():
    y = np.arange(40) % 3
    result = advise(y, RNG.normal(size=(40, 5)))
    assert result["balance"]["counts"] == [14, 13, 13, 0, 0]
    assert result["predictions"]["problems"] == []


def test_one_hot_and_soft_rows():
    one_hot = np.eye(3)[np.arange(30) % 3]
    assert advise(one_hot)["balance"]["counts"] == [10, 10, 10]
    soft = np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
    result = advise(soft)
    assert result["task"] == "soft"
    assert result["balance"]["counts"] == [0.75, 0.75, 0.5]


def test_multilabel_balance_is_negatives_per_positive():
    y = np.zeros((100, 3))
    y[:50, 0] = 1
    y[:20, 1] = 1
    y[:4, 2] = 1
    result = advise(y)
    assert result["task"] == "multilabel"
    assert result["balance"]["of"] == "positives per label"
    assert result["balance"]["counts"] == [50, 20, 4]
    assert result["balance"]["imbalance_ratio"] == 24.0  # (100 - 4) / 4
    assert "pos_weight=[1, 4, 24]" in result["suggestions"][0]
    assert "asymmetric_loss" in result["suggestions"][1]


def test_soft_binary_targets_give_expected_counts():
    result = advise(np.array([0.2, 0.9, 0.4]))
    assert result["task"] == "binary"
    np.testing.assert_allclose(result["balance"]["counts"], [1.5, 1.5])


# ---------------------------------------------------------------------------------------
# Predictions
# ---------------------------------------------------------------------------------------


def test_correct_logits_have_no_problems():
    y = np.arange(50) % 2
    report = advise(y, RNG.normal(size=(50, 1)))["predictions"]
    assert report == {
        "shape": [50, 1],
        "input": "logits",
        "input_guess": None,
        "task": "binary",
        "loss": "sigmoid_binary_cross_entropy",
        "problems": [],
    }


def test_probabilities_are_checked_with_the_probability_loss():
    y = np.arange(50) % 4
    probs = np.exp(RNG.normal(size=(50, 4)))
    probs /= probs.sum(axis=1, keepdims=True)
    report = advise(y.astype(np.float64), probs)["predictions"]  # labels from a CSV: floats
    assert (report["input"], report["loss"], report["problems"]) == (
        "probabilities",
        "categorical_cross_entropy",
        [],
    )


@pytest.mark.parametrize(
    ("targets", "pred", "loss", "match"),
    [
        (
            np.arange(50) % 2,
            RNG.normal(size=(50, 1)),
            "softmax_cross_entropy",
            "single output unit",
        ),
        (
            (RNG.random((50, 4)) < 0.5).astype(float),
            sigmoid(RNG.normal(size=(50, 4))),
            "categorical_cross_entropy",
            "multi-hot",
        ),
        (
            np.arange(50) % 4,
            RNG.normal(size=(50, 4)),
            "sigmoid_binary_cross_entropy",
            "one-hot encode them",
        ),
        (
            np.arange(50) % 4,
            sigmoid(RNG.normal(size=(50, 4))),
            "categorical_cross_entropy",
            "independent sigmoid outputs",
        ),
        (
            np.arange(50) % 4,
            RNG.normal(size=(50, 4)),
            "categorical_cross_entropy",
            "look like logits",
        ),
        (np.arange(50) % 4 + 1, RNG.normal(size=(50, 4)), None, "out of range for 4 outputs"),
        (np.arange(50) % 4, RNG.normal(size=(50, 1)), None, "one output unit"),
        (np.arange(50) % 2, RNG.normal(size=(40, 1)), None, "40 rows but targets have 50"),
        (np.arange(50) % 2, RNG.normal(size=(50, 1, 1)), None, r"\[N\] or \[N, C\]"),
    ],
    ids=[
        "keras trap",
        "multi-hot",
        "indices to sigmoid",
        "sigmoid rows",
        "logits as probs",
        "one-based",
        "one unit multiclass",
        "rows",
        "3-d",
    ],
)
def test_mistakes_in_predictions_are_reported_not_raised(targets, pred, loss, match):
    result = advise(targets, pred, loss=loss)
    problems = result["predictions"]["problems"]
    assert len(problems) == 1
    assert re.search(match, problems[0]), problems[0]
    strict_json(result)


def test_advise_errors():
    with pytest.raises(ValueError, match=r"`loss` must be one of .*; got loss='mse'"):
        advise(np.array([0, 1]), loss="mse")
    with pytest.raises(ValueError, match="single row"):
        advise(np.array([[1.0, 0.0, 1.0]]))


# ---------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------


def test_render():
    y = np.array([0] * 190 + [1] * 10)
    text = render(
        advise(y, RNG.normal(size=(200, 1)), loss="softmax_cross_entropy"),
        target_name="labels.npy",
        pred_name="logits.npy",
    )
    lines = text.splitlines()
    assert lines[0] == "targets: labels.npy (200 samples)"
    assert lines[1] == "task: binary"
    assert lines[2].startswith("recommended: sigmoid + sigmoid_binary_cross_entropy")
    assert "imbalance ratio (largest / smallest): 19 — strong" in lines
    assert "predictions: logits.npy (shape (200, 1))" in lines
    assert any(
        line.startswith("  problem: softmax_cross_entropy over a single output unit")
        for line in lines
    )


def test_render_summarises_many_classes():
    y = np.arange(1000) % 100
    text = render(advise(y))
    table_rows = [
        line for line in text.splitlines() if line[:1] == " " and line.strip()[:1].isdigit()
    ]
    assert len(table_rows) == 20
    assert "…" in text
    assert "no change needed" in text


# ---------------------------------------------------------------------------------------
# Stray labels far beyond the others
# ---------------------------------------------------------------------------------------


def test_one_stray_huge_label_is_summarised_and_flagged():
    y = np.concatenate([np.arange(100) % 10, [200000]])
    result = advise(y)
    balance = result["balance"]
    assert balance["names"] == [str(c) for c in range(10)]
    assert balance["counts"] == [10] * 10
    assert balance["imbalance_ratio"] == 1.0
    assert balance["suspect"] == {
        "labels": [200000],
        "n_labels": 1,
        "samples": 1,
        "usual_range": [0, 9],
    }
    assert balance["notes"][0].startswith("suspect: label 200000 (1 sample)")
    assert len(json.dumps(result)) < 3000
    assert "note: suspect: label 200000" in render(result)


@settings(max_examples=50, deadline=None)
@given(
    n_classes=st.integers(1, 50),
    stray=st.lists(st.integers(0, 10**9), min_size=0, max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_stray_label_cutoff_separates_far_labels(n_classes, stray, seed):
    """Dense labels ``0..C-1`` are never suspect; a label beyond ``f·C`` and
    ``C + MAX_LISTED_CLASSES`` always is, and so is every label above it."""
    rng = np.random.default_rng(seed)
    dense = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, 30)])
    assert stray_label_cutoff(dense) is None
    far = [s for s in stray if s + 1 > STRAY_LABEL_FACTOR * n_classes + MAX_LISTED_CLASSES]
    labels = np.concatenate([dense, np.asarray(far, dtype=np.int64)])
    cutoff = stray_label_cutoff(labels)
    if not far:
        assert cutoff is None
    else:
        assert cutoff == min(far)
        # The output width vouches for labels below it.
        assert stray_label_cutoff(labels, n_outputs=max(far) + 1) is None


def test_labels_that_would_make_too_many_classes_are_refused():
    with pytest.raises(ValueError, match=r"would make .* classes, more than"):
        advise(np.array([2**40, 2**40 + 1] * 5))


def test_predictions_of_unclear_kind_are_a_problem_not_a_guess():
    y = np.arange(60) % 10
    z = RNG.normal(size=(60, 10)) * 3
    rounded = np.round(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), 2)
    report = advise(y, rounded)["predictions"]
    assert report["input"] is None and report["loss"] is None
    assert report["problems"][0].startswith("cannot tell whether the predictions are probabi")
    # Naming the loss says what they are meant to be; the pairing is then checked.
    named = advise(y, rounded, loss="categorical_cross_entropy")["predictions"]
    assert named["input"] == "probabilities"
    assert "do not sum to 1" in named["problems"][0]


def test_sigmoid_outputs_in_the_unit_interval_are_read_as_a_stated_guess():
    y = np.arange(40) % 2
    report = advise(y, sigmoid(RNG.normal(size=40)))["predictions"]
    assert (report["input"], report["input_guess"]) == (
        "probabilities",
        "every value lies in [0, 1]",
    )
    assert "read as probabilities (a guess: every value lies in [0, 1])" in render(
        advise(y, sigmoid(RNG.normal(size=40)))
    )
