"""Softmax and categorical cross-entropy: references, PyTorch, TF/optax formulas, properties."""

from __future__ import annotations

import inspect
import itertools
import math

import numpy as np
import pytest
import sklearn.metrics
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import crossent
import reference as ref
from crossent import categorical_cross_entropy, softmax_cross_entropy

N, C = 6, 4
"""Batch and class count of most tests (one shape: JAX compiles once per shape)."""
IMAGE = (2, C, 3, 2)
"""A segmentation batch ``[N, C, H, W]``; the class axis is 1."""
REDUCTIONS = ["none", "mean", "sum"]
WEIGHT = np.array([0.5, 2.0, 1.0, 0.25])


def logits_of(seed: int, shape: tuple[int, ...] = (N, C), scale: float = 3.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(shape)


def labels_of(seed: int, shape: tuple[int, ...] = (N,), *, ignored: int = 0) -> np.ndarray:
    """Class indices in [0, C); the first ``ignored`` (flat) entries are -100."""
    y = np.random.default_rng(seed).integers(0, C, size=shape)
    y.reshape(-1)[:ignored] = -100
    return y


def soft_targets_of(seed: int, shape: tuple[int, ...] = (N, C), axis: int = -1) -> np.ndarray:
    t = np.random.default_rng(seed).dirichlet(np.ones(shape[axis]), size=np.delete(shape, axis))
    return np.moveaxis(t, -1, axis)


def torch_f():
    torch = pytest.importorskip("torch")
    return torch, torch.nn.functional


# The options of softmax_cross_entropy, each combination checked against the reference.
OPTIONS = [
    dict(zip(("weight", "label_smoothing", "z_loss", "logit_softcap"), combo, strict=True))
    for combo in itertools.product([None, WEIGHT], [0.0, 0.2], [0.0, 1e-2], [None, 4.0])
]


def option_id(options: dict) -> str:
    return "-".join(
        f"{k}={'w' if k == 'weight' and v is not None else v}" for k, v in options.items()
    )


def with_lib(xp, options: dict) -> dict:
    weight = options.get("weight")
    return {**options, "weight": None if weight is None else xp.asarray(weight)}


# ---------------------------------------------------------------------------------------
# softmax_cross_entropy against the naive reference, on every array library
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", OPTIONS, ids=option_id)
def test_softmax_ce_class_indices(xp, options):
    z, y = logits_of(0), labels_of(1, ignored=2)
    for reduction in REDUCTIONS:
        out = softmax_cross_entropy(
            xp.asarray(z), xp.asarray(y, "int64"), **with_lib(xp, options), reduction=reduction
        )
        expected = ref.softmax_cross_entropy(z, y, **options, reduction=reduction)
        ref.assert_result(xp, out, expected)


@pytest.mark.parametrize("options", OPTIONS, ids=option_id)
def test_softmax_ce_probability_targets(xp, options):
    z, t = logits_of(2), soft_targets_of(3)
    for reduction in REDUCTIONS:
        out = softmax_cross_entropy(
            xp.asarray(z), xp.asarray(t), **with_lib(xp, options), reduction=reduction
        )
        expected = ref.softmax_cross_entropy(z, t, **options, reduction=reduction)
        ref.assert_result(xp, out, expected)


@pytest.mark.parametrize("targets", ["indices", "probabilities"])
def test_softmax_ce_segmentation_layout(xp, targets):
    z = logits_of(4, IMAGE)
    y = labels_of(5, (2, 3, 2), ignored=3) if targets == "indices" else soft_targets_of(5, IMAGE, 1)
    y_in = xp.asarray(y, "int64") if targets == "indices" else xp.asarray(y)
    options = {"weight": WEIGHT, "label_smoothing": 0.1, "z_loss": 1e-3, "logit_softcap": 5.0}
    for reduction in REDUCTIONS:
        out = softmax_cross_entropy(
            xp.asarray(z), y_in, axis=1, **with_lib(xp, options), reduction=reduction
        )
        expected = ref.softmax_cross_entropy(z, y, axis=1, **options, reduction=reduction)
        ref.assert_result(xp, out, expected)


def test_softmax_ce_ignore_index_inside_the_class_range(xp):
    z, y = logits_of(6), labels_of(7)
    y[:3] = 2
    out = softmax_cross_entropy(xp.asarray(z), xp.asarray(y, "int64"), ignore_index=2)
    ref.assert_result(xp, out, ref.softmax_cross_entropy(z, y, ignore_index=2))


def test_softmax_ce_int32_targets_and_no_ignore_index(xp):
    z, y = logits_of(8), labels_of(9)
    out = softmax_cross_entropy(
        xp.asarray(z), xp.asarray(y, "int32"), ignore_index=None, reduction="sum"
    )
    ref.assert_result(xp, out, ref.softmax_cross_entropy(z, y, ignore_index=None, reduction="sum"))


def test_softmax_ce_1d_logits_single_sample(xp):
    z = logits_of(10)[0]
    out = softmax_cross_entropy(xp.asarray(z), xp.asarray(np.array(1), "int64"))
    ref.assert_result(xp, out, ref.softmax_cross_entropy(z[None], np.array([1])))


def test_claim_c2_worked_example():
    # Seed 001: label [0, 1, 0] against the prediction [0.2, 0.7, 0.1] costs -ln 0.7.
    logits = np.log(np.array([[0.2, 0.7, 0.1]]))
    assert float(softmax_cross_entropy(logits, np.array([1]))) == pytest.approx(
        -math.log(0.7), rel=1e-15
    )
    one_hot = softmax_cross_entropy(logits, np.array([[0.0, 1.0, 0.0]]))
    assert float(one_hot) == pytest.approx(-math.log(0.7), rel=1e-15)


def test_claim_c3_worked_example():
    # Seed 003: (1, 0, 0) against (0.5, 0.4, 0.1) costs ln 2.
    out = categorical_cross_entropy(np.array([[0.5, 0.4, 0.1]]), np.array([[1.0, 0.0, 0.0]]))
    assert float(out) == pytest.approx(math.log(2), rel=1e-15)


# ---------------------------------------------------------------------------------------
# categorical_cross_entropy (probabilities in)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [None, WEIGHT], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("targets", ["indices", "probabilities"])
def test_categorical_ce(xp, weight, targets):
    probs = soft_targets_of(11)
    probs[0] = [0.0, 1.0, 0.0, 0.0]  # a zero probability: the log floor at -100 applies
    y = labels_of(12, ignored=1) if targets == "indices" else soft_targets_of(13)
    y_in = xp.asarray(y, "int64") if targets == "indices" else xp.asarray(y)
    w_in = None if weight is None else xp.asarray(weight)
    for reduction in REDUCTIONS:
        out = categorical_cross_entropy(xp.asarray(probs), y_in, weight=w_in, reduction=reduction)
        expected = ref.categorical_cross_entropy(probs, y, weight=weight, reduction=reduction)
        ref.assert_result(xp, out, expected)


def test_categorical_ce_class_axis_1(xp):
    probs, y = soft_targets_of(14, IMAGE, 1), labels_of(15, (2, 3, 2), ignored=2)
    out = categorical_cross_entropy(xp.asarray(probs), xp.asarray(y, "int64"), axis=1)
    ref.assert_result(xp, out, ref.categorical_cross_entropy(probs, y, axis=1))


def test_categorical_ce_log_is_clamped_at_eps(xp):
    probs = np.tile([[0.0, 1.0, 0.0, 0.0], [1e-30, 1.0 - 1e-30, 0.0, 0.0]], (N // 2, 1))
    y = np.zeros(N, dtype=np.int64)
    out = categorical_cross_entropy(xp.asarray(probs), xp.asarray(y, "int64"), reduction="none")
    ref.assert_result(xp, out, np.tile([100.0, -math.log(1e-30)], N // 2))
    floor = categorical_cross_entropy(
        xp.asarray(probs), xp.asarray(y, "int64"), eps=1e-10, reduction="none"
    )
    ref.assert_result(xp, floor, np.full(N, -math.log(1e-10)))


def test_categorical_ce_equals_softmax_ce_on_log_probs(xp):
    z, y = logits_of(16), labels_of(17)
    probs = np.exp(z - np.log(np.exp(z).sum(-1, keepdims=True)))
    a = categorical_cross_entropy(
        xp.asarray(probs), xp.asarray(y, "int64"), weight=xp.asarray(WEIGHT)
    )
    b = softmax_cross_entropy(xp.asarray(z), xp.asarray(y, "int64"), weight=xp.asarray(WEIGHT))
    ref.assert_result(xp, a, xp.to_numpy(b), scale=100)


# ---------------------------------------------------------------------------------------
# All-ignored batches: 0 with a zero gradient (PyTorch: NaN)
# ---------------------------------------------------------------------------------------


def test_all_ignored_mean_is_zero(xp):
    z, y = logits_of(18), np.full(N, -100)
    for f, pred in ((softmax_cross_entropy, z), (categorical_cross_entropy, soft_targets_of(19))):
        for weight in (None, xp.asarray(WEIGHT)):
            out = f(xp.asarray(pred), xp.asarray(y, "int64"), weight=weight)
            ref.assert_result(xp, out, 0.0)
            out_none = f(xp.asarray(pred), xp.asarray(y, "int64"), reduction="none")
            ref.assert_result(xp, out_none, np.zeros(N))


def test_all_ignored_differs_from_torch_which_returns_nan():
    torch, F = torch_f()
    z, y = torch.tensor(logits_of(20), requires_grad=True), torch.full((N,), -100)
    assert math.isnan(float(F.cross_entropy(z.detach(), y)))  # the documented difference
    loss = softmax_cross_entropy(z, y)
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert z.grad is not None
    assert bool((z.grad == 0).all())


def test_all_weights_zero_mean_is_zero(xp):
    z, y = logits_of(21), labels_of(22)
    out = softmax_cross_entropy(
        xp.asarray(z), xp.asarray(y, "int64"), weight=xp.asarray(np.zeros(C))
    )
    ref.assert_result(xp, out, 0.0)


# ---------------------------------------------------------------------------------------
# Cross-checks with PyTorch, TensorFlow's and optax's formulas, jax.nn and scikit-learn
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["flat", "image"])
@pytest.mark.parametrize("targets", ["indices", "probabilities"])
@pytest.mark.parametrize("weight", [None, WEIGHT], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
def test_softmax_ce_matches_torch(layout, targets, weight, label_smoothing):
    torch, F = torch_f()
    shape = (N, C) if layout == "flat" else IMAGE
    z = torch.tensor(logits_of(23, shape))
    if targets == "indices":
        y = torch.tensor(labels_of(24, shape[:1] + shape[2:], ignored=2))
    else:
        y = torch.tensor(soft_targets_of(24, shape, 1))
    w = None if weight is None else torch.tensor(weight)
    for reduction in REDUCTIONS:
        expected = F.cross_entropy(
            z, y, weight=w, ignore_index=-100, label_smoothing=label_smoothing, reduction=reduction
        )
        out = softmax_cross_entropy(
            z, y, axis=1, weight=w, label_smoothing=label_smoothing, reduction=reduction
        )
        assert out.dtype == expected.dtype and out.shape == expected.shape
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_softmax_ce_matches_torch_ignore_index_inside_the_range():
    torch, F = torch_f()
    z, y = torch.tensor(logits_of(25)), torch.tensor(labels_of(26))
    for reduction in REDUCTIONS:
        expected = F.cross_entropy(
            z,
            y,
            weight=torch.tensor(WEIGHT),
            ignore_index=1,
            label_smoothing=0.3,
            reduction=reduction,
        )
        out = softmax_cross_entropy(
            z,
            y,
            weight=torch.tensor(WEIGHT),
            ignore_index=1,
            label_smoothing=0.3,
            reduction=reduction,
        )
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_categorical_ce_matches_torch_nll_of_log():
    torch, F = torch_f()
    probs, y = torch.tensor(soft_targets_of(27)), torch.tensor(labels_of(28, ignored=1))
    for reduction in REDUCTIONS:
        expected = F.nll_loss(torch.log(probs), y, weight=torch.tensor(WEIGHT), reduction=reduction)
        out = categorical_cross_entropy(probs, y, weight=torch.tensor(WEIGHT), reduction=reduction)
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_matches_tensorflow_formulas():
    z, t, y = logits_of(29), soft_targets_of(30), labels_of(31)
    np.testing.assert_allclose(
        softmax_cross_entropy(z, t, reduction="none"),
        ref.tf_softmax_cross_entropy_with_logits(labels=t, logits=z),
        rtol=1e-13,
    )
    np.testing.assert_allclose(
        softmax_cross_entropy(z, y, reduction="none"),
        ref.tf_sparse_softmax_cross_entropy_with_logits(labels=y, logits=z),
        rtol=1e-13,
    )
    image, t_image = logits_of(32, IMAGE), soft_targets_of(33, IMAGE, 1)
    np.testing.assert_allclose(
        softmax_cross_entropy(image, t_image, axis=1, reduction="none"),
        ref.tf_softmax_cross_entropy_with_logits(labels=t_image, logits=image, axis=1),
        rtol=1e-13,
    )


def test_matches_optax_and_jax_nn_formulas():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z, t, y = logits_of(34), soft_targets_of(35), labels_of(36)
    out = softmax_cross_entropy(jnp.asarray(z), jnp.asarray(t), reduction="none")
    np.testing.assert_allclose(out, ref.optax_softmax_cross_entropy(z, t), rtol=1e-13)
    by_jax_nn = -jnp.sum(jnp.asarray(t) * jax.nn.log_softmax(jnp.asarray(z)), axis=-1)
    np.testing.assert_allclose(out, by_jax_nn, rtol=1e-13)
    # optax.softmax_cross_entropy_with_integer_labels: logsumexp(z) - z[y]
    sparse = (
        jax.nn.logsumexp(jnp.asarray(z), axis=-1)
        - jnp.take_along_axis(jnp.asarray(z), jnp.asarray(y)[:, None], axis=-1)[:, 0]
    )
    out_sparse = softmax_cross_entropy(jnp.asarray(z), jnp.asarray(y), reduction="none")
    np.testing.assert_allclose(out_sparse, sparse, rtol=1e-13)


def sklearn_log_loss(y_true, probs, **kwargs):
    """``sklearn.metrics.log_loss``, whose prediction argument became ``y_proba`` in 1.9."""
    if "y_proba" in inspect.signature(sklearn.metrics.log_loss).parameters:
        return sklearn.metrics.log_loss(y_true, y_proba=probs, **kwargs)
    return sklearn.metrics.log_loss(y_true, probs, **kwargs)


def test_matches_sklearn_log_loss():
    z, y = logits_of(37), labels_of(38)
    probs = np.exp(z - np.log(np.exp(z).sum(-1, keepdims=True)))
    expected = sklearn_log_loss(y, probs, labels=list(range(C)))
    assert float(categorical_cross_entropy(probs, y)) == pytest.approx(expected, rel=1e-13)
    assert float(softmax_cross_entropy(z, y)) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------------------
# Properties (hypothesis, on NumPy float64)
# ---------------------------------------------------------------------------------------

finite_logits = arrays(
    np.float64,
    st.tuples(st.integers(1, 5), st.integers(2, 5)),
    elements=st.floats(-30, 30, allow_nan=False),
)


@settings(max_examples=40, deadline=None)
@given(finite_logits, st.floats(-50, 50), st.data())
def test_shift_invariance(z, shift, data):
    y = data.draw(arrays(np.int64, z.shape[0], elements=st.integers(0, z.shape[1] - 1)))
    row_shift = shift * np.arange(1, z.shape[0] + 1)[:, None]  # a different constant per row
    a = softmax_cross_entropy(z, y, reduction="none")
    b = softmax_cross_entropy(z + row_shift, y, reduction="none")
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(finite_logits, st.floats(0.0, 1.0), st.booleans(), st.data())
def test_integer_labels_equal_one_hot(z, smoothing, weighted, data):
    n, c = z.shape
    y = data.draw(arrays(np.int64, n, elements=st.integers(0, c - 1)))
    weight = np.linspace(0.5, 2.0, c) if weighted else None
    a = softmax_cross_entropy(z, y, weight=weight, label_smoothing=smoothing, reduction="none")
    b = softmax_cross_entropy(
        z, np.eye(c)[y], weight=weight, label_smoothing=smoothing, reduction="none"
    )
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    if not weighted:  # with weights the "mean" divisors differ: Σ w[y_i] against N
        np.testing.assert_allclose(
            softmax_cross_entropy(z, y, label_smoothing=smoothing),
            softmax_cross_entropy(z, np.eye(c)[y], label_smoothing=smoothing),
            rtol=1e-12,
            atol=1e-12,
        )


@settings(max_examples=40, deadline=None)
@given(finite_logits, st.data())
def test_sum_is_n_times_mean_without_weights(z, data):
    n, c = z.shape
    y = data.draw(arrays(np.int64, n, elements=st.integers(-1, c - 1)))
    counted = int((y != -1).sum())
    total = float(softmax_cross_entropy(z, y, ignore_index=-1, reduction="sum"))
    mean = float(softmax_cross_entropy(z, y, ignore_index=-1, reduction="mean"))
    assert total == pytest.approx(counted * mean, rel=1e-12, abs=1e-12)
    t = np.eye(c)[np.abs(y)]
    assert float(softmax_cross_entropy(z, t, reduction="sum")) == pytest.approx(
        n * float(softmax_cross_entropy(z, t)), rel=1e-12
    )


@settings(max_examples=30, deadline=None)
@given(
    arrays(np.float64, (2, 3, 4), elements=st.floats(-20, 20, allow_nan=False)),
    st.sampled_from([0, 1, 2, -2, -3]),
    st.data(),
)
def test_axis_equals_moveaxis(z, axis, data):
    rest = tuple(int(d) for d in np.delete(np.array(z.shape), axis % 3))
    y = data.draw(arrays(np.int64, rest, elements=st.integers(0, z.shape[axis] - 1)))
    moved = np.moveaxis(z, axis, -1)
    for reduction in REDUCTIONS:
        np.testing.assert_allclose(
            softmax_cross_entropy(z, y, axis=axis, label_smoothing=0.1, reduction=reduction),
            softmax_cross_entropy(moved, y, label_smoothing=0.1, reduction=reduction),
            rtol=1e-12,
            atol=1e-12,
        )
        probs = np.exp(moved - np.log(np.exp(moved).sum(-1, keepdims=True)))
        np.testing.assert_allclose(
            categorical_cross_entropy(
                np.moveaxis(probs, -1, axis), y, axis=axis, reduction=reduction
            ),
            categorical_cross_entropy(probs, y, reduction=reduction),
            rtol=1e-12,
            atol=1e-12,
        )


# ---------------------------------------------------------------------------------------
# Extreme logits and half precision
# ---------------------------------------------------------------------------------------

EXTREME = np.array(
    [
        [1e4, -1e4, 0.0, 5.0],
        [-1e4, -1e4, -1e4, 1e4],
        [-1e4, 1e4, 1e4, -1e4],
        [1e4, 1e4, 1e4, 1e4],
        [-1e4, -1e4, -1e4, -1e4],
        [0.0, 1e4, -1e4, 0.0],
    ]
)
"""Logits of ±1e4, shaped like the other tests' logits (JAX compiles once per shape)."""
EXTREME_LABELS = np.array([1, 3, 0, 2, 0, 2])


@pytest.mark.parametrize("options", OPTIONS[::3], ids=option_id)
def test_extreme_logits_give_finite_losses(xp, options):
    y = EXTREME_LABELS
    out = softmax_cross_entropy(
        xp.asarray(EXTREME), xp.asarray(y, "int64"), **with_lib(xp, options), reduction="none"
    )
    assert np.isfinite(xp.to_numpy(out)).all()
    ref.assert_result(xp, out, ref.softmax_cross_entropy(EXTREME, y, **options, reduction="none"))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_extreme_logits_in_low_precision(xp, dtype):
    y = EXTREME_LABELS
    out = softmax_cross_entropy(xp.asarray(EXTREME, dtype), xp.asarray(y, "int64"), z_loss=1e-4)
    ref.assert_result(xp, out, ref.softmax_cross_entropy(EXTREME, y, z_loss=1e-4), dtype=dtype)


def test_half_precision_is_computed_in_float32(xp):
    # NumPy has no bfloat16.
    dtypes = ["float32", "float16"] + ([] if xp.name == "numpy" else ["bfloat16"])
    z, y, t = logits_of(39), labels_of(40, ignored=1), soft_targets_of(41)
    options = {"label_smoothing": 0.1, "z_loss": 1e-2, "logit_softcap": 4.0}
    for dtype in dtypes:
        z_in = xp.asarray(z, dtype)
        z_seen = xp.to_numpy(z_in)  # the rounded logits the library actually sees
        out = softmax_cross_entropy(
            z_in,
            xp.asarray(y, "int64"),
            weight=xp.asarray(WEIGHT, dtype),
            **options,
            reduction="none",
        )
        expected = ref.softmax_cross_entropy(z_seen, y, weight=WEIGHT, **options, reduction="none")
        ref.assert_result(xp, out, expected, dtype=dtype)
        t_in = xp.asarray(t, dtype)
        out_soft = softmax_cross_entropy(z_in, t_in, **options)
        expected_soft = ref.softmax_cross_entropy(z_seen, xp.to_numpy(t_in), **options)
        ref.assert_result(xp, out_soft, expected_soft, dtype=dtype)
        p_in = xp.asarray(soft_targets_of(42), dtype)
        out_cat = categorical_cross_entropy(p_in, xp.asarray(y, "int64"))
        expected_cat = ref.categorical_cross_entropy(xp.to_numpy(p_in), y)
        ref.assert_result(xp, out_cat, expected_cat, dtype=dtype)


def test_fp16_loss_beyond_the_fp16_log_range_is_exact():
    # log(softmax) in float16 would underflow to -inf for a probability below 6e-8.
    torch, _ = torch_f()
    z = torch.tensor([[0.0, 30.0]], dtype=torch.float16)
    out = softmax_cross_entropy(z, torch.tensor([0]))
    assert out.dtype == torch.float16
    assert float(out) == pytest.approx(30.0, rel=1e-3)


# ---------------------------------------------------------------------------------------
# Autograd and jit
# ---------------------------------------------------------------------------------------


def test_torch_backward_through_softmax_ce():
    torch, _ = torch_f()
    z = torch.tensor(logits_of(43, IMAGE), requires_grad=True)
    y = torch.tensor(labels_of(44, (2, 3, 2), ignored=2))
    loss = softmax_cross_entropy(
        z,
        y,
        axis=1,
        weight=torch.tensor(WEIGHT),
        label_smoothing=0.1,
        z_loss=1e-3,
        logit_softcap=5.0,
    )
    loss.backward()
    assert z.grad is not None and z.grad.shape == z.shape
    assert bool(torch.isfinite(z.grad).all())


def test_jax_jit_and_grad_through_softmax_ce():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z, y = jnp.asarray(logits_of(45)), jnp.asarray(labels_of(46, ignored=2))

    def loss(logits, labels):
        return softmax_cross_entropy(
            logits,
            labels,
            weight=jnp.asarray(WEIGHT),
            label_smoothing=0.1,
            z_loss=1e-3,
            logit_softcap=5.0,
        )

    eager = loss(z, y)
    np.testing.assert_allclose(jax.jit(loss)(z, y), eager, rtol=1e-13)
    g = jax.jit(jax.grad(loss))(z, y)
    assert g.shape == z.shape and bool(jnp.isfinite(g).all())
    # Under jit the value checks are skipped (tracers): an out-of-range label is not caught.
    soft = jnp.asarray(soft_targets_of(47))
    np.testing.assert_allclose(
        jax.jit(softmax_cross_entropy)(z, soft), softmax_cross_entropy(z, soft), rtol=1e-13
    )
    p = jnp.asarray(soft_targets_of(48))
    g_cat = jax.grad(lambda q: categorical_cross_entropy(q, y))(p)
    assert g_cat.shape == p.shape


# ---------------------------------------------------------------------------------------
# Errors, one test per message
# ---------------------------------------------------------------------------------------


def test_error_index_targets_wrong_shape(xp):
    with pytest.raises(ValueError, match=r"`targets` must have shape \(6,\) \(class indices"):
        softmax_cross_entropy(xp.asarray(logits_of(0)), xp.asarray(np.zeros(5), "int64"))


def test_error_probability_targets_wrong_shape(xp):
    with pytest.raises(
        ValueError, match=r"`targets` must be class indices .* or probabilities of the prediction's"
    ):
        softmax_cross_entropy(xp.asarray(logits_of(0)), xp.asarray(np.full((6, 3), 1 / 3)))


def test_error_class_index_out_of_range(xp):
    y = labels_of(0)
    y[2] = 7
    with pytest.raises(
        ValueError,
        match=r"`targets`: class index 7 is out of range for 4 classes "
        r"\(expected 0..3 or ignore_index=-100\)",
    ):
        softmax_cross_entropy(xp.asarray(logits_of(0)), xp.asarray(y, "int64"))
    y[2] = -1
    with pytest.raises(ValueError, match=r"class index -1 is out of range for 4 classes"):
        categorical_cross_entropy(xp.asarray(soft_targets_of(0)), xp.asarray(y, "int64"))


def test_error_ignore_index_disabled(xp):
    with pytest.raises(
        ValueError, match=r"class index -100 is out of range for 4 classes \(expected 0..3\)\."
    ):
        softmax_cross_entropy(
            xp.asarray(logits_of(0)),
            xp.asarray(labels_of(0, ignored=1), "int64"),
            ignore_index=None,
        )


def test_error_probability_targets_outside_unit_interval(xp):
    t = soft_targets_of(0)
    t[0] = [1.5, -0.5, 0.0, 0.0]
    with pytest.raises(
        ValueError, match=r"`targets` must hold probabilities in \[0, 1\]; got 1.5\.$"
    ):
        softmax_cross_entropy(xp.asarray(logits_of(0)), xp.asarray(t))


def test_error_probability_targets_rows_not_summing_to_one(xp):
    t = soft_targets_of(0)
    t[3] *= 0.9
    with pytest.raises(
        ValueError,
        match=r"`targets`: each distribution along axis 1 must sum to 1; found a sum of 0.9",
    ):
        softmax_cross_entropy(xp.asarray(logits_of(0)), xp.asarray(t))
    image = soft_targets_of(0, IMAGE, 1) / 2
    with pytest.raises(ValueError, match=r"along axis 1 must sum to 1; found a sum of 0.5"):
        softmax_cross_entropy(xp.asarray(logits_of(0, IMAGE)), xp.asarray(image), axis=1)


def test_error_probs_outside_unit_interval(xp):
    with pytest.raises(
        ValueError,
        match=r"`probs` must hold probabilities in \[0, 1\]; got 2.0 \(did you pass logits",
    ):
        categorical_cross_entropy(
            xp.asarray(logits_of(0) * 0 + 2.0), xp.asarray(labels_of(0), "int64")
        )


def test_error_unknown_reduction(xp):
    with pytest.raises(
        ValueError, match=r"`reduction` must be one of 'none', 'mean', 'sum'; got reduction='avg'"
    ):
        softmax_cross_entropy(
            xp.asarray(logits_of(0)), xp.asarray(labels_of(0), "int64"), reduction="avg"
        )
    with pytest.raises(ValueError, match=r"got reduction='batchmean'"):
        categorical_cross_entropy(
            xp.asarray(soft_targets_of(0)), xp.asarray(labels_of(0), "int64"), reduction="batchmean"
        )


@pytest.mark.parametrize("smoothing", [-0.1, 1.5])
def test_error_label_smoothing_out_of_range(smoothing):
    with pytest.raises(
        ValueError,
        match=rf"`label_smoothing` must be in \[0.0, 1.0\]; got label_smoothing={smoothing}",
    ):
        softmax_cross_entropy(logits_of(0), labels_of(0), label_smoothing=smoothing)


def test_error_label_smoothing_not_a_number():
    with pytest.raises(
        TypeError, match=r"`label_smoothing` must be a number; got label_smoothing='0.1'"
    ):
        softmax_cross_entropy(logits_of(0), labels_of(0), label_smoothing="0.1")


def test_error_negative_z_loss():
    with pytest.raises(ValueError, match=r"`z_loss` must be non-negative; got z_loss=-0.001"):
        softmax_cross_entropy(logits_of(0), labels_of(0), z_loss=-1e-3)


def test_error_non_positive_softcap():
    with pytest.raises(
        ValueError, match=r"`logit_softcap` must be positive; got logit_softcap=0.0"
    ):
        softmax_cross_entropy(logits_of(0), labels_of(0), logit_softcap=0.0)


def test_error_non_float_logits(xp):
    with pytest.raises(
        TypeError, match=r"`logits` must be a floating-point array; got dtype int64"
    ):
        softmax_cross_entropy(
            xp.asarray(np.zeros((N, C)), "int64"), xp.asarray(labels_of(0), "int64")
        )
    with pytest.raises(TypeError, match=r"`probs` must be a floating-point array; got dtype int64"):
        categorical_cross_entropy(
            xp.asarray(np.zeros((N, C)), "int64"), xp.asarray(labels_of(0), "int64")
        )


def test_error_bool_targets(xp):
    with pytest.raises(
        TypeError, match=r"`targets` must be a floating-point array; got dtype bool"
    ):
        softmax_cross_entropy(xp.asarray(logits_of(0)), xp.asarray(np.eye(C)[labels_of(0)], "bool"))


def test_error_weight_shape(xp):
    with pytest.raises(
        ValueError, match=r"`weight` must have one entry per class, shape \(4,\); got \(3,\)"
    ):
        softmax_cross_entropy(
            xp.asarray(logits_of(0)),
            xp.asarray(labels_of(0), "int64"),
            weight=xp.asarray([1.0, 2.0, 3.0]),
        )


def test_error_negative_weight(xp):
    with pytest.raises(
        ValueError, match=r"`weight` must be non-negative and finite; got weight\[1\]=-1.0"
    ):
        softmax_cross_entropy(
            xp.asarray(logits_of(0)),
            xp.asarray(labels_of(0), "int64"),
            weight=xp.asarray([1.0, -1.0, 1.0, 1.0]),
        )


def test_error_integer_weight(xp):
    with pytest.raises(
        TypeError, match=r"`weight` must be a floating-point array; got dtype int64"
    ):
        softmax_cross_entropy(
            xp.asarray(logits_of(0)),
            xp.asarray(labels_of(0), "int64"),
            weight=xp.asarray([1, 2, 1, 1], "int64"),
        )


def test_weight_as_a_list_follows_the_logits_library(xp):
    out = softmax_cross_entropy(
        xp.asarray(logits_of(0)), xp.asarray(labels_of(1), "int64"), weight=[0.5, 2.0, 1.0, 0.25]
    )
    ref.assert_result(xp, out, ref.softmax_cross_entropy(logits_of(0), labels_of(1), weight=WEIGHT))


def test_error_ignore_index_not_an_integer():
    with pytest.raises(
        TypeError, match=r"`ignore_index` must be an integer; got ignore_index=-100.0"
    ):
        softmax_cross_entropy(logits_of(0), labels_of(0), ignore_index=-100.0)


@pytest.mark.parametrize("eps", [-1e-3, 0.0, 1.0])
def test_error_eps_out_of_range(eps):
    with pytest.raises(ValueError, match=rf"`eps` must be in \(0.0, 1.0\); got eps={eps}"):
        categorical_cross_entropy(soft_targets_of(0), labels_of(0), eps=eps)


def test_error_bad_axis(xp):
    with pytest.raises(
        ValueError, match=r"`axis` must be in \[-2, 1\] for a 2-d input; got axis=2"
    ):
        softmax_cross_entropy(xp.asarray(logits_of(0)), xp.asarray(labels_of(0), "int64"), axis=2)


def test_error_mixed_array_libraries():
    torch, _ = torch_f()
    with pytest.raises(
        TypeError, match=r"all array arguments must come from one array library; got .*numpy.*torch"
    ):
        softmax_cross_entropy(torch.tensor(logits_of(0)), labels_of(0))


def test_error_logits_not_an_array():
    with pytest.raises(TypeError, match=r"`logits` must be an array \(NumPy, PyTorch or JAX\)"):
        softmax_cross_entropy({"a": 1.0}, labels_of(0))


def test_public_names():
    assert crossent.losses.softmax_cross_entropy is softmax_cross_entropy
    assert crossent.losses.categorical_cross_entropy is categorical_cross_entropy
