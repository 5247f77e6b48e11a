"""Task inference, loss selection and the guardrails, on every array library."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crossent
import reference as ref
from crossent import task
from crossent.task import LOSS_KINDS, TASKS, check, infer_task, loss_for

RNG = np.random.default_rng(20240604)
N = 64


def one_hot(indices: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[indices]


def softmax_rows(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


# ---------------------------------------------------------------------------------------
# infer_task
# ---------------------------------------------------------------------------------------

INFER_CASES = [
    ("binary labels", np.array([0, 1, 1, 0]), "int64", None, "binary"),
    ("binary column", np.array([[0], [1], [1]]), "int64", None, "binary"),
    ("binary floats", np.array([0.0, 1.0, 1.0]), "float64", None, "binary"),
    ("soft binary", np.array([0.1, 0.9, 0.5]), "float64", 1, "binary"),
    ("one class seen", np.array([1, 1, 1]), "int64", None, "binary"),
    ("two-unit softmax", np.array([0, 1, 1, 0]), "int64", 2, "multiclass"),
    ("class indices", np.array([0, 2, 1, 2]), "int64", None, "multiclass"),
    ("indices as floats", np.array([0.0, 4.0, 2.0]), "float64", 5, "multiclass"),
    ("one-hot rows", one_hot(np.array([0, 2, 1]), 3), "float64", None, "multiclass"),
    ("integer one-hot", one_hot(np.array([0, 2, 1]), 3), "int64", 3, "multiclass"),
    ("multi-hot rows", np.array([[1, 0, 1], [0, 1, 1]]), "int64", None, "multilabel"),
    ("a row with no label", np.array([[1, 0, 0], [0, 0, 0]]), "float64", None, "multilabel"),
    (
        "soft multi-label",
        np.array([[0.9, 0.05, 0.9], [0.05, 0.9, 0.05]]),
        "float64",
        None,
        "multilabel",
    ),
    ("distributions", np.array([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0]]), "float64", None, "soft"),
]


@pytest.mark.parametrize(
    ("targets", "dtype", "n_outputs", "expected"),
    [case[1:] for case in INFER_CASES],
    ids=[case[0] for case in INFER_CASES],
)
def test_infer_task(xp, targets, dtype, n_outputs, expected):
    assert infer_task(xp.asarray(targets, dtype), n_outputs=n_outputs) == expected


def test_infer_task_booleans_are_labels(xp):
    y = xp.asarray([[True, False, True], [False, True, False]], "bool")
    assert infer_task(y) == "multilabel"
    assert infer_task(xp.asarray([True, False], "bool")) == "binary"


def test_infer_task_float32_distributions_from_a_softmax(xp):
    p = softmax_rows(RNG.normal(size=(16, 7))).astype(np.float32)
    assert infer_task(xp.asarray(p, "float32")) == "soft"


@settings(max_examples=30, deadline=None)
@given(
    st.integers(2, 30),
    st.integers(2, 9),
    st.integers(0, 2**31 - 1),
)
def test_infer_task_properties(n, n_classes, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    assert infer_task(one_hot(labels, n_classes)) == "multiclass"
    assert infer_task(labels, n_outputs=n_classes) == "multiclass"
    multi_hot = one_hot(labels, n_classes)
    multi_hot[0] = 1.0  # every label of the first row: not one-hot
    assert infer_task(multi_hot) == "multilabel"
    dist = rng.dirichlet(np.ones(n_classes), size=n)
    assert infer_task(dist) == "soft"


INFER_ERRORS = [
    (np.array([[1.0, 0.0, 0.0]]), None, "single row"),
    (np.zeros((2, 2, 2)), None, r"\[N\] labels or \[N, K\] rows; got shape \(2, 2, 2\)"),
    (np.array([0.0, np.nan]), None, "NaN"),
    (np.array([], dtype=np.int64), None, "at least one label"),
    (np.array([0, -1, 2]), None, "must be ≥ 0; got -1"),
    (np.array([0.5, 1.5]), None, "class indices .* or binary targets in \\[0, 1\\]"),
    (np.array([0, 5, 2]), 3, "class index 5 is out of range for 3 outputs"),
    (np.array([0, 3, 2]), 1, "4 classes but the model has one output unit"),
    (np.array([[1, 0], [0, 1]]), 3, "2 columns but the model has 3 outputs"),
    (np.array([[2.0, 0.0], [0.0, 1.0]]), None, r"0/1 labels or probabilities in \[0, 1\]"),
]


@pytest.mark.parametrize(("targets", "n_outputs", "match"), INFER_ERRORS)
def test_infer_task_errors(targets, n_outputs, match):
    with pytest.raises(ValueError, match=match):
        infer_task(targets, n_outputs=n_outputs)


def test_infer_task_rejects_bad_n_outputs():
    with pytest.raises(TypeError, match=r"`n_outputs` must be an integer; got n_outputs=2\.0"):
        infer_task(np.array([0, 1]), n_outputs=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`n_outputs` must be positive; got n_outputs=0"):
        infer_task(np.array([0, 1]), n_outputs=0)


def test_infer_task_refuses_jax_tracers():
    import jax

    with pytest.raises(ValueError, match="cannot run on traced JAX arrays"):
        jax.jit(lambda y: infer_task(y) == "binary")(jax.numpy.asarray([0, 1]))


# ---------------------------------------------------------------------------------------
# loss_for
# ---------------------------------------------------------------------------------------

LOSS_FOR = {
    "binary": ("sigmoid", "sigmoid_binary_cross_entropy", "binary_cross_entropy"),
    "multiclass": ("softmax", "softmax_cross_entropy", "categorical_cross_entropy"),
    "multilabel": ("sigmoid", "sigmoid_binary_cross_entropy", "binary_cross_entropy"),
    "soft": ("softmax", "softmax_cross_entropy", "categorical_cross_entropy"),
}


@pytest.mark.parametrize("name", TASKS)
def test_loss_for_names_the_activation_and_loss(name):
    choice = loss_for(name)
    activation, loss_name, probability_name = LOSS_FOR[name]
    assert choice.task == name
    assert choice.activation == activation
    assert choice.name == loss_name
    assert choice.loss is getattr(crossent, loss_name)
    assert choice.probability_loss is getattr(crossent, probability_name)
    assert LOSS_KINDS[choice.name].family == activation
    # One sentence: a single full stop, at the end.
    assert choice.reason.endswith(".") and choice.reason.count(". ") == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        choice.name = "other"  # type: ignore[misc]


def test_loss_for_callables_fit_the_targets_infer_task_reads(xp):
    z1, y1 = RNG.normal(size=N), RNG.integers(0, 2, N)
    zc, yc = RNG.normal(size=(N, 5)), RNG.integers(0, 5, N)
    zl, yl = RNG.normal(size=(N, 4)), (RNG.random((N, 4)) < 0.3).astype(np.float64)
    ts = RNG.dirichlet(np.ones(5), size=N)
    cases = [
        (z1, y1.astype(np.float64), ref.sigmoid_binary_cross_entropy(z1, y1)),
        (zc, yc, ref.softmax_cross_entropy(zc, yc)),
        (zl, yl, ref.sigmoid_binary_cross_entropy(zl, yl)),
        (zc, ts, ref.softmax_cross_entropy(zc, ts)),
    ]
    for z, y, expected in cases:
        dtype = "int64" if y.dtype.kind == "i" else "float64"
        choice = loss_for(
            infer_task(xp.asarray(y, dtype), n_outputs=1 if z.ndim == 1 else z.shape[1])
        )
        ref.assert_result(xp, choice.loss(xp.asarray(z), xp.asarray(y, dtype)), expected)
        check(xp.asarray(z), xp.asarray(y, dtype), loss=choice.loss)  # and it passes the checks


def test_loss_for_unknown_task():
    with pytest.raises(ValueError, match=r"`task` must be one of .*; got task='regression'"):
        loss_for("regression")


# ---------------------------------------------------------------------------------------
# The mistakes: each raises with the problem and the fix
# ---------------------------------------------------------------------------------------


def test_the_keras_trap_is_real_and_refused(xp):
    """Softmax CE over one unit is 0 whatever the logits; check refuses it."""
    logits = xp.asarray(RNG.normal(size=(N, 1)) * 5)
    targets = xp.asarray(np.zeros(N, dtype=np.int64), "int64")
    ref.assert_result(xp, crossent.softmax_cross_entropy(logits, targets), 0.0)
    ref.assert_result(xp, crossent.grad.softmax_cross_entropy(logits, targets), np.zeros((N, 1)))
    with pytest.raises(
        ValueError,
        match=r"over a single output unit .* always 1, so the loss is"
        r" always 0 .* Keras trap .*Fix: .*sigmoid_binary_cross_entropy",
    ):
        check(logits, targets, loss="softmax_cross_entropy")


def test_mistake_1_categorical_on_one_unit(xp):
    probs = xp.asarray(sigmoid(RNG.normal(size=(N, 1))))
    targets = xp.asarray(RNG.integers(0, 2, (N, 1)).astype(np.float64))
    with pytest.raises(
        ValueError,
        match=r"categorical_cross_entropy over a single output unit.*"
        r"samples with y = 0 give no gradient.*Fix: .*binary_cross_entropy",
    ):
        check(probs, targets, loss=crossent.categorical_cross_entropy)


def test_mistake_1_squeezed_single_unit(xp):
    """[N] logits with [N] labels: a softmax along the batch axis."""
    with pytest.raises(
        ValueError, match=r"single output unit.*Fix: .*sigmoid_binary_cross_entropy"
    ):
        check(
            xp.asarray(RNG.normal(size=N)),
            xp.asarray(RNG.integers(0, 2, N), "int64"),
            loss="softmax_cross_entropy",
        )


def test_mistake_2_multi_hot_targets(xp):
    targets = (RNG.random((N, 6)) < 0.4).astype(np.float64)
    targets[0] = [1, 1, 1, 0, 0, 0]
    with pytest.raises(
        ValueError,
        match=r"multi-hot \(up to \d positive labels per row\).*"
        r"no gradient.*Fix: use sigmoid_binary_cross_entropy with one logit per",
    ):
        check(
            xp.asarray(RNG.normal(size=(N, 6))), xp.asarray(targets), loss="softmax_cross_entropy"
        )


def test_mistake_2_categorical_over_independent_sigmoids(xp):
    probs = sigmoid(RNG.normal(size=(N, 6)))
    targets = RNG.integers(0, 6, N)
    with pytest.raises(
        ValueError,
        match=r"rows do not sum to 1 .*independent sigmoid outputs.*"
        r"y = 0 no gradient.*Fix: .*softmax_cross_entropy.*binary_cross_entropy",
    ):
        check(xp.asarray(probs), xp.asarray(targets, "int64"), loss="categorical_cross_entropy")


def test_mistake_2_negatives_really_get_no_gradient():
    """Why it matters: −Σ y log σ(z) has zero gradient for every label with y = 0."""
    import torch

    z = torch.tensor(RNG.normal(size=(8, 5)), requires_grad=True)
    y = torch.tensor((RNG.random((8, 5)) < 0.4).astype(np.float64))
    y[:, 0] = 1.0
    loss = crossent.categorical_cross_entropy(torch.sigmoid(z), y / y.sum(1, keepdim=True))
    loss.backward()
    assert torch.all(z.grad[y == 0] == 0)
    assert torch.all(z.grad[y == 1] < 0)  # positives only ever pushed up


def test_mistake_3_double_softmax(xp):
    probs = softmax_rows(RNG.normal(size=(N, 10)))
    ceiling = math.e / (math.e + 9)
    with pytest.raises(
        ValueError,
        match=rf"probabilities, not logits.*sums to 1.*double softmax.*"
        rf"e/\(e \+ C − 1\) = {ceiling:.3g} for C = 10.*Fix: pass the logits",
    ):
        check(
            xp.asarray(probs),
            xp.asarray(RNG.integers(0, 10, N), "int64"),
            loss="softmax_cross_entropy",
        )


def test_mistake_3_double_softmax_float32_and_class_axis_1(xp):
    probs = np.moveaxis(softmax_rows(RNG.normal(size=(4, 3, 5))), -1, 1).astype(np.float32)
    with pytest.raises(ValueError, match="double softmax"):
        check(
            xp.asarray(probs, "float32"),
            xp.asarray(RNG.integers(0, 5, (4, 3)), "int64"),
            loss="softmax_cross_entropy",
            axis=1,
        )


def test_mistake_3_sigmoid_probabilities_for_logits(xp):
    targets = RNG.integers(0, 2, (N, 3)).astype(np.float64)
    probs = sigmoid(RNG.normal(size=(N, 3)) * 3)
    with pytest.raises(
        ValueError,
        match=r"probabilities, not logits: all 192 lie in \[0, 1\].*"
        r"Fix: pass the logits.*binary_cross_entropy",
    ):
        check(xp.asarray(probs), xp.asarray(targets), loss="sigmoid_binary_cross_entropy")


@pytest.mark.parametrize(
    "logits",
    [
        np.zeros(N),  # zero-initialised head
        np.full(N, 0.4) + RNG.normal(size=N) * 0.01,  # bias set to a prior, tiny weights
        RNG.random(8),  # too few outputs to tell
    ],
    ids=["zeros", "narrow", "few"],
)
def test_sigmoid_probability_heuristic_spares_plausible_logits(xp, logits):
    targets = np.arange(logits.size) % 2
    check(
        xp.asarray(logits),
        xp.asarray(targets.astype(np.float64)),
        loss="sigmoid_binary_cross_entropy",
    )


def test_sigmoid_probability_heuristic_needs_negative_targets(xp):
    check(xp.asarray(RNG.random(N)), xp.asarray(np.ones(N)), loss="sigmoid_binary_cross_entropy")


@pytest.mark.parametrize(
    ("loss", "shape", "logits_loss"),
    [
        ("categorical_cross_entropy", (N, 4), "softmax_cross_entropy"),
        ("binary_cross_entropy", (N,), "sigmoid_binary_cross_entropy"),
        ("binary_cross_entropy", (N, 4), "sigmoid_binary_cross_entropy"),
    ],
)
def test_mistake_4_logits_for_probabilities(xp, loss, shape, logits_loss):
    logits = RNG.normal(size=shape)
    targets = RNG.integers(0, 4, N) if loss.startswith("categorical") else RNG.integers(0, 2, shape)
    dtype = "int64" if loss.startswith("categorical") else "float64"
    with pytest.raises(
        ValueError,
        match=rf"outside \[0, 1\]: these look like logits, but {loss} "
        rf"expects probabilities.*Fix: pass the logits to {logits_loss}",
    ):
        check(xp.asarray(logits), xp.asarray(targets, dtype), loss=loss)


def test_mistake_5_index_out_of_range(xp):
    targets = RNG.integers(0, 7, N)
    targets[3] = 7
    with pytest.raises(
        ValueError,
        match=r"class index 7 is out of range for 7 outputs .*"
        r"Fix: the model needs one output per class, at least 8 outputs",
    ):
        check(
            xp.asarray(RNG.normal(size=(N, 7))),
            xp.asarray(targets, "int64"),
            loss="softmax_cross_entropy",
        )


def test_mistake_5_one_based_labels(xp):
    targets = np.arange(N) % 7 + 1
    with pytest.raises(
        ValueError,
        match=r"class index 7 is out of range.*labels span 1\.\.7.*"
        r"Fix: the labels look 1-based \(1\.\.7\): subtract 1",
    ):
        check(
            xp.asarray(RNG.normal(size=(N, 7))),
            xp.asarray(targets, "int64"),
            loss="softmax_cross_entropy",
        )


def test_mistake_5_negative_labels(xp):
    targets = np.arange(N) % 3
    targets[0] = -1
    with pytest.raises(
        ValueError,
        match=r"class index -1 is out of range.*"
        r"Fix: negative labels are not classes.*ignore_index=-100",
    ):
        check(
            xp.asarray(RNG.normal(size=(N, 3))),
            xp.asarray(targets, "int64"),
            loss="softmax_cross_entropy",
        )


@pytest.mark.parametrize(
    ("outputs", "targets", "dtype", "loss", "match"),
    [
        (
            (N, 4),
            one_hot(np.arange(N) % 5, 5),
            "float64",
            "softmax_cross_entropy",
            r"\(64, 5\) do not match `outputs` of shape \(64, 4\).*Fix: give the model one output",
        ),
        (
            (N, 4),
            (np.arange(N) % 4)[:, None],
            "int64",
            "softmax_cross_entropy",
            r"class indices need shape \(64,\).*Fix: drop the trailing axis",
        ),
        (
            (N, 4),
            one_hot(np.arange(N) % 4, 4),
            "int64",
            "categorical_cross_entropy",
            r"class indices need shape \(64,\).*Fix: pass class indices",
        ),
        (
            (N - 1, 4),
            np.arange(N) % 4,
            "int64",
            "softmax_cross_entropy",
            r"Fix: give the targets one class index per sample, or check that outputs and targets",
        ),
        (
            (N, 4),
            np.arange(N) % 4,
            "int64",
            "sigmoid_binary_cross_entropy",
            r"look like class indices.*needs one 0/1 target per output.*Fix: one-hot encode them "
            r"into 4 columns",
        ),
        (
            (N, 1),
            np.arange(N) % 2,
            "float64",
            "sigmoid_binary_cross_entropy",
            r"differ by a trailing axis of size 1.*Fix: reshape the targets",
        ),
        (
            (N, 3),
            (np.arange(N) % 2)[:, None] * np.ones((1, 4)),
            "float64",
            "binary_cross_entropy",
            r"\(64, 4\) do not match `outputs` of shape \(64, 3\).*Fix: give the model one output",
        ),
        (
            (N,),
            np.arange(N) % 4,
            "float64",
            "sigmoid_binary_cross_entropy",
            r"values from 0\.0 to 3\.0, outside \[0, 1\].*Fix: one-hot encode the class indices "
            r"\(4 columns\)",
        ),
    ],
    ids=[
        "one-hot width",
        "index column",
        "integer one-hot",
        "batch sizes",
        "indices to sigmoid",
        "trailing axis",
        "label width",
        "indices as BCE targets",
    ],
)
def test_mistake_5_widths_and_shapes(xp, outputs, targets, dtype, loss, match):
    z = RNG.normal(size=outputs)
    if LOSS_KINDS[loss].takes == "probs":
        z = sigmoid(z) if LOSS_KINDS[loss].family == "sigmoid" else softmax_rows(z)
    with pytest.raises(ValueError, match=match):
        check(xp.asarray(z), xp.asarray(targets, dtype), loss=loss)


def test_class_indices_stored_as_floats(xp):
    with pytest.raises(
        TypeError,
        match=r"look like class indices but have dtype float64.*"
        r"Fix: cast them to an integer dtype",
    ):
        check(
            xp.asarray(RNG.normal(size=(N, 4))),
            xp.asarray(np.arange(N) % 4, "float64"),
            loss="softmax_cross_entropy",
        )


def test_soft_targets_that_do_not_sum_to_one(xp):
    t = RNG.dirichlet(np.ones(4), size=N)
    t[2] *= 0.5
    with pytest.raises(ValueError, match=r"1 rows do not sum to 1.*Fix: normalise each row"):
        check(xp.asarray(RNG.normal(size=(N, 4))), xp.asarray(t), loss="softmax_cross_entropy")


def test_loss_argument_errors():
    z, y = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(ValueError, match=r"`loss` must be one of .*; got loss='cross_entropy'"):
        check(z, y, loss="cross_entropy")
    with pytest.raises(ValueError, match="`loss` must be a crossent loss or its name; got 'mean'"):
        check(z, y, loss=np.mean)
    with pytest.raises(TypeError, match="`loss` must be a crossent loss or its name; got int"):
        check(z, y, loss=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`axis` must be in \[-2, 1\]"):
        check(z, y, loss="softmax_cross_entropy", axis=2)


# ---------------------------------------------------------------------------------------
# Correct pairings pass, on every library
# ---------------------------------------------------------------------------------------


def correct_pairings():
    labels = np.arange(N) % 5
    z = RNG.normal(size=(N, 5))
    with_ignored = labels.copy()
    with_ignored[::7] = -100
    multi_hot = (RNG.random((N, 5)) < 0.4).astype(np.float64)
    binary = (np.arange(N) % 2).astype(np.float64)
    return [
        ("softmax_cross_entropy", z, labels, "int64", {}),
        ("softmax_cross_entropy", z, with_ignored, "int64", {}),
        ("softmax_cross_entropy", z, one_hot(labels, 5), "float64", {}),
        ("softmax_cross_entropy", z, RNG.dirichlet(np.ones(5), size=N), "float64", {}),
        ("softmax_cross_entropy", z[:, :2], labels % 2, "int64", {}),  # two-unit binary
        (
            "softmax_cross_entropy",
            np.moveaxis(RNG.normal(size=(4, 6, 5)), -1, 1),
            RNG.integers(0, 5, (4, 6)),
            "int64",
            {"axis": 1},
        ),
        ("softmax_cross_entropy", RNG.normal(size=5), np.array(3), "int64", {}),  # one sample
        ("categorical_cross_entropy", softmax_rows(z), labels, "int64", {}),
        ("categorical_cross_entropy", softmax_rows(z), one_hot(labels, 5), "float64", {}),
        ("sigmoid_binary_cross_entropy", RNG.normal(size=N), binary, "float64", {}),
        ("sigmoid_binary_cross_entropy", RNG.normal(size=N), binary, "int64", {}),
        ("sigmoid_binary_cross_entropy", RNG.normal(size=(N, 1)), binary[:, None], "float64", {}),
        ("sigmoid_binary_cross_entropy", z, multi_hot, "float64", {}),
        ("sigmoid_binary_cross_entropy", z, one_hot(labels, 5), "float64", {}),
        ("binary_cross_entropy", sigmoid(z), multi_hot, "float64", {}),
        ("binary_cross_entropy", sigmoid(z[:, 0]), binary, "float64", {}),
    ]


@pytest.mark.parametrize(
    ("loss", "outputs", "targets", "dtype", "options"),
    correct_pairings(),
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_correct_pairings_pass(xp, loss, outputs, targets, dtype, options):
    check(xp.asarray(outputs), xp.asarray(targets, dtype), loss=loss, **options)
    check(xp.asarray(outputs), xp.asarray(targets, dtype), loss=getattr(crossent, loss), **options)


@pytest.mark.parametrize(
    ("loss", "outputs", "targets", "dtype", "options"),
    correct_pairings(),
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_check_true_leaves_the_loss_unchanged(xp, loss, outputs, targets, dtype, options):
    fn = getattr(crossent, loss)
    z, y = xp.asarray(outputs), xp.asarray(targets, dtype)
    expected = xp.to_numpy(fn(z, y, **options))
    ref.assert_result(xp, fn(z, y, check=True, **options), expected)


def test_half_precision_pairings_pass(xp):
    dtype = "float16"
    z = RNG.normal(size=(N, 5))
    check(xp.asarray(z, dtype), xp.asarray(np.arange(N) % 5, "int64"), loss="softmax_cross_entropy")
    with pytest.raises(ValueError, match="double softmax"):
        check(
            xp.asarray(softmax_rows(z), dtype),
            xp.asarray(np.arange(N) % 5, "int64"),
            loss="softmax_cross_entropy",
        )


# ---------------------------------------------------------------------------------------
# check=True on the losses
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "outputs", "targets", "dtype", "match"),
    [
        (
            "softmax_cross_entropy",
            RNG.normal(size=(N, 1)),
            np.zeros(N),
            "int64",
            "single output unit",
        ),
        (
            "categorical_cross_entropy",
            sigmoid(RNG.normal(size=(N, 4))),
            np.arange(N) % 4,
            "int64",
            "independent sigmoid outputs",
        ),
        (
            "sigmoid_binary_cross_entropy",
            RNG.normal(size=(N, 4)),
            np.arange(N) % 4,
            "int64",
            "one-hot encode them",
        ),
        (
            "binary_cross_entropy",
            RNG.normal(size=N),
            np.arange(N) % 2,
            "float64",
            "look like logits",
        ),
    ],
)
def test_losses_run_the_checks_when_asked(xp, loss, outputs, targets, dtype, match):
    fn = getattr(crossent, loss)
    with pytest.raises(ValueError, match=match):
        fn(xp.asarray(outputs), xp.asarray(targets, dtype), check=True)


def test_categorical_without_check_accepts_sigmoid_rows():
    """The trap check=True closes: the loss alone computes a number for independent sigmoids."""
    probs = sigmoid(RNG.normal(size=(N, 4)))
    out = crossent.categorical_cross_entropy(probs, np.arange(N) % 4)
    assert np.isfinite(float(out))


def test_check_under_jax_jit_keeps_shape_checks_and_skips_value_checks():
    import jax

    jnp = jax.numpy
    z = jnp.asarray(RNG.normal(size=(N, 5)))
    y = jnp.asarray(np.arange(N) % 5)

    @jax.jit
    def loss(z, y):
        return crossent.softmax_cross_entropy(z, y, check=True)

    np.testing.assert_allclose(
        loss(z, y), ref.softmax_cross_entropy(np.asarray(z), np.arange(N) % 5)
    )
    # Values are not known inside jit, so double-softmax inputs pass there ...
    probs = jax.nn.softmax(z)
    assert np.isfinite(float(loss(probs, y)))
    # ... but shapes are, so the one-unit trap is refused even when traced.
    with pytest.raises(ValueError, match="single output unit"):
        loss(z[:, :1], jnp.zeros(N, dtype=y.dtype))
    grad = jax.grad(lambda z: crossent.sigmoid_binary_cross_entropy(z, y % 2, check=True))(z[:, 0])
    assert grad.shape == (N,)


CAPTURED_CASES = [
    # (loss, outputs columns, targets maker): every loss kind, class-index and dense targets
    ("softmax_cross_entropy", 5, lambda: np.arange(N) % 5),
    ("softmax_cross_entropy", 5, lambda: np.eye(5)[np.arange(N) % 5]),
    ("softmax_focal_loss", 5, lambda: np.arange(N) % 5),
    ("categorical_cross_entropy", 5, lambda: np.arange(N) % 5),
    ("sigmoid_binary_cross_entropy", 5, lambda: (RNG.random((N, 5)) > 0.5).astype(float)),
    ("binary_cross_entropy", 5, lambda: (RNG.random((N, 5)) > 0.5).astype(float)),
    ("sigmoid_focal_loss", 5, lambda: (RNG.random((N, 5)) > 0.5).astype(float)),
    ("asymmetric_loss", 5, lambda: (RNG.random((N, 5)) > 0.5).astype(float)),
    ("ghm_classification_loss", 5, lambda: (RNG.random((N, 5)) > 0.5).astype(float)),
]


@pytest.mark.parametrize(("name", "width", "make_targets"), CAPTURED_CASES)
def test_check_under_jit_with_targets_captured_from_outside(name, width, make_targets):
    # The targets are a concrete array closed over by the jitted function: inside the trace
    # even arithmetic on them is traced, so the value checks are skipped, not crashed.
    import jax

    jnp = jax.numpy
    fn = getattr(crossent, name)
    z = RNG.normal(size=(N, width))
    if name in ("categorical_cross_entropy", "binary_cross_entropy"):
        z = np.asarray(jax.nn.softmax(z) if name.startswith("cat") else jax.nn.sigmoid(z))
    targets = jnp.asarray(make_targets())

    @jax.jit
    def loss(z):
        return fn(z, targets, check=True)

    np.testing.assert_allclose(
        float(loss(jnp.asarray(z))), float(fn(z, np.asarray(targets))), rtol=1e-12
    )
    # ... and check() itself, called inside the traced function, runs its shape checks only
    jax.jit(lambda z: (check(z, targets, loss=name), z)[1])(jnp.asarray(z))
    with pytest.raises(ValueError, match="targets"):
        jax.jit(lambda z: fn(z, targets[:-1], check=True))(jnp.asarray(z))


def test_check_under_jit_with_traced_targets_runs_shape_checks_only():
    import jax

    jnp = jax.numpy
    z = jnp.asarray(RNG.normal(size=(N, 5)))
    wrong = jnp.asarray(np.arange(N) % 5 + 5)  # out of range: a value check, skipped when traced
    loss = jax.jit(lambda z, y: crossent.softmax_cross_entropy(z, y, check=True))
    assert loss(z, wrong).shape == ()
    with pytest.raises(ValueError, match="single output unit"):
        loss(z[:, :1], jnp.zeros(N, dtype=wrong.dtype))
    # outside jit the same targets are refused
    with pytest.raises(ValueError, match="out of range"):
        crossent.softmax_cross_entropy(z, wrong, check=True)


def test_check_true_keeps_torch_autograd():
    import torch

    z = torch.tensor(RNG.normal(size=(N, 5)), requires_grad=True)
    y = torch.tensor(np.arange(N) % 5)
    crossent.softmax_cross_entropy(z, y, check=True).backward()
    expected = (torch.softmax(z, -1) - torch.nn.functional.one_hot(y, 5)) / N
    torch.testing.assert_close(z.grad, expected.detach())


def test_module_lists_every_loss_check_knows():
    assert set(LOSS_KINDS) >= {
        "softmax_cross_entropy",
        "categorical_cross_entropy",
        "sigmoid_binary_cross_entropy",
        "binary_cross_entropy",
    }
    assert all(kind.takes in ("logits", "probs") for kind in LOSS_KINDS.values())
    assert task.SIGMOID_PROBS_MIN_COUNT > 0 < task.SIGMOID_PROBS_MIN_SPREAD < 1


def test_check_knows_the_focal_and_ghm_losses_by_name_and_ghmc_instances():
    from crossent.losses.ghm import GHMC

    z, y = RNG.normal(size=(N, 3)), (RNG.random((N, 3)) < 0.3).astype(np.float64)
    for loss in ("sigmoid_focal_loss", "ghm_classification_loss", "asymmetric_loss", GHMC()):
        check(z, y, loss=loss)
        with pytest.raises(ValueError, match="one-hot encode them"):
            check(z, np.arange(N) % 3, loss=loss)
    check(z, np.arange(N) % 3, loss="softmax_focal_loss")
    with pytest.raises(ValueError, match="single output unit"):
        check(z[:, :1], np.zeros(N, dtype=np.int64), loss="softmax_focal_loss")
