"""Sigmoid and probability binary cross-entropy: references, PyTorch, TF/optax, properties."""

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
from crossent import binary_cross_entropy, sigmoid_binary_cross_entropy

N, L = 6, 4
"""Batch size and label count of most tests (one shape: JAX compiles once per shape)."""
REDUCTIONS = ["none", "mean", "sum"]
SAMPLE_WEIGHT = np.linspace(0.5, 2.0, N)[:, None] * np.ones((N, L))
LABEL_WEIGHT = np.array([1.0, 0.5, 2.0, 0.0])
POS_WEIGHT = np.array([3.0, 0.5, 1.0, 10.0])


def logits_of(seed: int, shape: tuple[int, ...] = (N, L), scale: float = 3.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(shape)


def targets_of(seed: int, shape: tuple[int, ...] = (N, L), *, soft: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random(shape) if soft else rng.integers(0, 2, size=shape).astype(np.float64)


def probs_of(seed: int, shape: tuple[int, ...] = (N, L)) -> np.ndarray:
    p = np.random.default_rng(seed).random(shape)
    p.reshape(-1)[:3] = [0.0, 1.0, 1e-50]  # the log clamp at -100 applies
    return p


def torch_f():
    torch = pytest.importorskip("torch")
    return torch, torch.nn.functional


OPTIONS = [
    dict(zip(("weight", "pos_weight", "label_smoothing"), combo, strict=True))
    for combo in itertools.product(
        [None, SAMPLE_WEIGHT, LABEL_WEIGHT], [None, POS_WEIGHT], [0.0, 0.1]
    )
]


def option_id(options: dict) -> str:
    names = []
    for key, value in options.items():
        if isinstance(value, np.ndarray):
            names.append(f"{key}{list(value.shape)}")
        elif value is not None:
            names.append(f"{key}={value}")
    return "-".join(names) or "plain"


def with_lib(xp, options: dict) -> dict:
    return {k: xp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}


# ---------------------------------------------------------------------------------------
# Values against the naive reference, on every array library
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", OPTIONS, ids=option_id)
def test_sigmoid_bce(xp, options):
    z, y = logits_of(0), targets_of(1, soft=True)
    for reduction in REDUCTIONS:
        out = sigmoid_binary_cross_entropy(
            xp.asarray(z), xp.asarray(y), **with_lib(xp, options), reduction=reduction
        )
        expected = ref.sigmoid_binary_cross_entropy(z, y, **options, reduction=reduction)
        ref.assert_result(xp, out, expected)


@pytest.mark.parametrize(
    "weight", [None, SAMPLE_WEIGHT, LABEL_WEIGHT], ids=["none", "full", "per-label"]
)
def test_bce_on_probabilities(xp, weight):
    p, y = probs_of(2), targets_of(3, soft=True)
    w_in = None if weight is None else xp.asarray(weight)
    for reduction in REDUCTIONS:
        out = binary_cross_entropy(xp.asarray(p), xp.asarray(y), weight=w_in, reduction=reduction)
        expected = ref.binary_cross_entropy(p, y, weight=weight, reduction=reduction)
        ref.assert_result(xp, out, expected)


def test_bce_log_is_clamped_at_minus_100(xp):
    p, y = np.tile([0.0, 1.0, 0.0, 0.5], (N, 1)), np.tile([1.0, 0.0, 0.0, 1.0], (N, 1))
    out = binary_cross_entropy(xp.asarray(p), xp.asarray(y), reduction="none")
    ref.assert_result(xp, out, np.tile([100.0, 100.0, 0.0, math.log(2)], (N, 1)))
    out_eps = binary_cross_entropy(xp.asarray(p), xp.asarray(y), eps=1e-3, reduction="none")
    ref.assert_result(
        xp, out_eps, np.tile([-math.log(1e-3), -math.log(1e-3), 0.0, math.log(2)], (N, 1))
    )


def test_integer_and_boolean_targets(xp):
    z, y = logits_of(4), targets_of(5)
    expected = ref.sigmoid_binary_cross_entropy(z, y)
    for dtype in ("int64", "int32", "bool"):
        ref.assert_result(
            xp, sigmoid_binary_cross_entropy(xp.asarray(z), xp.asarray(y, dtype)), expected
        )
    p = probs_of(6)
    ref.assert_result(
        xp,
        binary_cross_entropy(xp.asarray(p), xp.asarray(y, "bool")),
        ref.binary_cross_entropy(p, y),
    )


def test_binary_task_one_output_per_sample(xp):
    z, y = logits_of(7, (N,)), targets_of(8, (N,))
    out = sigmoid_binary_cross_entropy(xp.asarray(z), xp.asarray(y), reduction="none")
    ref.assert_result(xp, out, ref.sigmoid_binary_cross_entropy(z, y, reduction="none"))


def test_scalar_pos_weight_and_list_weight(xp):
    z, y = logits_of(9), targets_of(10)
    out = sigmoid_binary_cross_entropy(
        xp.asarray(z), xp.asarray(y), pos_weight=2.0, weight=[1.0, 0.5, 2.0, 0.0]
    )
    ref.assert_result(
        xp, out, ref.sigmoid_binary_cross_entropy(z, y, pos_weight=2.0, weight=LABEL_WEIGHT)
    )


def test_label_smoothing_is_keras_rule(xp):
    z, y = logits_of(11), targets_of(12)
    smoothed = sigmoid_binary_cross_entropy(xp.asarray(z), xp.asarray(y), label_smoothing=0.2)
    explicit = sigmoid_binary_cross_entropy(xp.asarray(z), xp.asarray(y * 0.8 + 0.1))
    ref.assert_result(xp, smoothed, xp.to_numpy(explicit))


def test_empty_input_mean_is_zero(xp):
    out = sigmoid_binary_cross_entropy(xp.asarray(np.zeros((0, L))), xp.asarray(np.zeros((0, L))))
    ref.assert_result(xp, out, 0.0)


def test_claim_c4_binary_entropy_at_one_half():
    # BCE of p = 0.5 against y = 0.5 is the binary entropy at its peak: ln 2 nats.
    out = binary_cross_entropy(np.array([0.5]), np.array([0.5]))
    assert float(out) == pytest.approx(math.log(2), rel=1e-15)


# ---------------------------------------------------------------------------------------
# Cross-checks with PyTorch, TensorFlow's and optax's formulas, jax.nn and scikit-learn
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options", [o for o in OPTIONS if o["label_smoothing"] == 0], ids=option_id
)
def test_sigmoid_bce_matches_torch(options):
    torch, F = torch_f()
    z, y = torch.tensor(logits_of(13)), torch.tensor(targets_of(14, soft=True))
    kwargs = {k: torch.tensor(v) for k, v in options.items() if isinstance(v, np.ndarray)}
    for reduction in REDUCTIONS:
        expected = F.binary_cross_entropy_with_logits(z, y, **kwargs, reduction=reduction)
        out = sigmoid_binary_cross_entropy(z, y, **kwargs, reduction=reduction)
        assert out.dtype == expected.dtype and out.shape == expected.shape
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "weight", [None, SAMPLE_WEIGHT, LABEL_WEIGHT], ids=["none", "full", "per-label"]
)
def test_bce_matches_torch(weight):
    torch, F = torch_f()
    p, y = torch.tensor(probs_of(15)), torch.tensor(targets_of(16, soft=True))
    w = None if weight is None else torch.tensor(weight)
    for reduction in REDUCTIONS:
        expected = F.binary_cross_entropy(p, y, weight=w, reduction=reduction)
        out = binary_cross_entropy(p, y, weight=w, reduction=reduction)
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_matches_tensorflow_formulas():
    z, y = logits_of(17), targets_of(18, soft=True)
    np.testing.assert_allclose(
        sigmoid_binary_cross_entropy(z, y, reduction="none"),
        ref.tf_sigmoid_cross_entropy_with_logits(labels=y, logits=z),
        rtol=1e-13,
        atol=1e-15,
    )
    np.testing.assert_allclose(
        sigmoid_binary_cross_entropy(z, y, pos_weight=np.array(3.0), reduction="none"),
        ref.tf_weighted_cross_entropy_with_logits(labels=y, logits=z, pos_weight=3.0),
        rtol=1e-13,
        atol=1e-15,
    )


def test_matches_optax_and_jax_nn_formulas():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z, y = logits_of(19), targets_of(20, soft=True)
    out = sigmoid_binary_cross_entropy(jnp.asarray(z), jnp.asarray(y), reduction="none")
    np.testing.assert_allclose(out, ref.optax_sigmoid_binary_cross_entropy(z, y), rtol=1e-13)
    z_j, y_j = jnp.asarray(z), jnp.asarray(y)
    by_jax_nn = -(y_j * jax.nn.log_sigmoid(z_j) + (1 - y_j) * jax.nn.log_sigmoid(-z_j))
    np.testing.assert_allclose(out, by_jax_nn, rtol=1e-13)


def sklearn_log_loss(y_true, probs, **kwargs):
    """``sklearn.metrics.log_loss``, whose prediction argument became ``y_proba`` in 1.9."""
    if "y_proba" in inspect.signature(sklearn.metrics.log_loss).parameters:
        return sklearn.metrics.log_loss(y_true, y_proba=probs, **kwargs)
    return sklearn.metrics.log_loss(y_true, probs, **kwargs)


def test_matches_sklearn_log_loss():
    z, y = logits_of(21, (50,)), targets_of(22, (50,))
    p = 1 / (1 + np.exp(-z))
    w = np.linspace(0.1, 3.0, 50)
    assert float(binary_cross_entropy(p, y)) == pytest.approx(sklearn_log_loss(y, p), rel=1e-12)
    assert float(sigmoid_binary_cross_entropy(z, y)) == pytest.approx(
        sklearn_log_loss(y, p), rel=1e-10
    )
    # scikit-learn's sample_weight is a weighted average; crossent's "sum" is the numerator.
    total = sklearn_log_loss(y, p, sample_weight=w, normalize=False)
    assert float(sigmoid_binary_cross_entropy(z, y, weight=w, reduction="sum")) == pytest.approx(
        total, rel=1e-10
    )


# ---------------------------------------------------------------------------------------
# Properties (hypothesis, on NumPy float64)
# ---------------------------------------------------------------------------------------

logit_arrays = arrays(
    np.float64,
    st.tuples(st.integers(1, 5), st.integers(1, 4)),
    elements=st.floats(-40, 40, allow_nan=False),
)


@settings(max_examples=40, deadline=None)
@given(logit_arrays, st.data())
def test_sum_is_n_times_mean_and_label_flip_symmetry(z, data):
    y = data.draw(arrays(np.float64, z.shape, elements=st.floats(0, 1)))
    total = float(sigmoid_binary_cross_entropy(z, y, reduction="sum"))
    assert total == pytest.approx(
        z.size * float(sigmoid_binary_cross_entropy(z, y)), rel=1e-12, abs=1e-12
    )
    np.testing.assert_allclose(
        sigmoid_binary_cross_entropy(z, y, reduction="none"),
        sigmoid_binary_cross_entropy(-z, 1 - y, reduction="none"),
        rtol=1e-12,
        atol=1e-12,
    )


@settings(max_examples=40, deadline=None)
@given(logit_arrays, st.data())
def test_logits_and_probabilities_agree(z, data):
    y = data.draw(arrays(np.float64, z.shape, elements=st.floats(0, 1)))
    z = np.clip(z, -15, 15)  # where 1 - sigmoid(z) is still accurate in float64
    p = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(
        binary_cross_entropy(p, y, reduction="none"),
        sigmoid_binary_cross_entropy(z, y, reduction="none"),
        rtol=1e-8,
        atol=1e-10,
    )


@settings(max_examples=40, deadline=None)
@given(logit_arrays, st.floats(0, 1))
def test_bce_minimised_at_the_target(z, smoothing):
    # For fixed y the loss in z is minimised at sigmoid(z) = y', the smoothed target.
    y = 1 / (1 + np.exp(-np.clip(z, -10, 10)))
    y_smoothed = y * (1 - smoothing) + smoothing / 2
    best = np.log(y_smoothed / (1 - y_smoothed))
    at_best = sigmoid_binary_cross_entropy(best, y, label_smoothing=smoothing, reduction="none")
    moved = sigmoid_binary_cross_entropy(best + 0.5, y, label_smoothing=smoothing, reduction="none")
    assert (moved >= at_best - 1e-12).all()


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
EXTREME_TARGETS = np.array(
    [
        [1.0, 1.0, 0.0, 0.0],
        [1.0, 0.0, 0.5, 1.0],
        [0.0, 0.0, 1.0, 1.0],
        [1.0, 0.0, 1.0, 0.0],
        [0.0, 1.0, 0.0, 1.0],
        [0.5, 1.0, 1.0, 0.0],
    ]
)


def test_extreme_logits_give_finite_losses(xp):
    y = EXTREME_TARGETS
    options = {"pos_weight": POS_WEIGHT, "weight": LABEL_WEIGHT, "label_smoothing": 0.1}
    out = sigmoid_binary_cross_entropy(
        xp.asarray(EXTREME), xp.asarray(y), **with_lib(xp, options), reduction="none"
    )
    assert np.isfinite(xp.to_numpy(out)).all()
    ref.assert_result(
        xp, out, ref.sigmoid_binary_cross_entropy(EXTREME, y, **options, reduction="none")
    )


def test_half_precision_is_computed_in_float32(xp):
    # NumPy has no bfloat16.
    dtypes = ["float32", "float16"] + ([] if xp.name == "numpy" else ["bfloat16"])
    y = targets_of(23, soft=True)
    for dtype in dtypes:
        z_in = xp.asarray(logits_of(24), dtype)
        y_in = xp.asarray(y, dtype)
        z_seen, y_seen = xp.to_numpy(z_in), xp.to_numpy(y_in)
        out = sigmoid_binary_cross_entropy(
            z_in,
            y_in,
            pos_weight=xp.asarray(POS_WEIGHT, dtype),
            label_smoothing=0.1,
            reduction="none",
        )
        expected = ref.sigmoid_binary_cross_entropy(
            z_seen, y_seen, pos_weight=POS_WEIGHT, label_smoothing=0.1, reduction="none"
        )
        ref.assert_result(xp, out, expected, dtype=dtype)
        p_in = xp.asarray(probs_of(25), dtype)
        out_p = binary_cross_entropy(p_in, y_in)
        ref.assert_result(
            xp, out_p, ref.binary_cross_entropy(xp.to_numpy(p_in), y_seen), dtype=dtype
        )
        extreme = sigmoid_binary_cross_entropy(
            xp.asarray(EXTREME, dtype), xp.asarray(np.ones((N, L)), dtype)
        )
        ref.assert_result(
            xp, extreme, ref.sigmoid_binary_cross_entropy(EXTREME, np.ones((N, L))), dtype=dtype
        )


# ---------------------------------------------------------------------------------------
# Autograd and jit
# ---------------------------------------------------------------------------------------


def test_torch_backward_through_bce():
    torch, _ = torch_f()
    z = torch.tensor(EXTREME, requires_grad=True)
    sigmoid_binary_cross_entropy(
        z, torch.ones((N, L), dtype=torch.float64), pos_weight=torch.tensor(POS_WEIGHT)
    ).backward()
    assert z.grad is not None and bool(torch.isfinite(z.grad).all())
    p = torch.tensor(probs_of(26), requires_grad=True)
    binary_cross_entropy(p, torch.tensor(targets_of(27))).backward()
    assert p.grad is not None and bool(torch.isfinite(p.grad).all())


def test_jax_jit_and_grad_through_bce():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z, y = jnp.asarray(logits_of(28)), jnp.asarray(targets_of(29, soft=True))

    def loss(logits, targets):
        return sigmoid_binary_cross_entropy(
            logits,
            targets,
            weight=jnp.asarray(LABEL_WEIGHT),
            pos_weight=jnp.asarray(POS_WEIGHT),
            label_smoothing=0.1,
        )

    np.testing.assert_allclose(jax.jit(loss)(z, y), loss(z, y), rtol=1e-13)
    g = jax.jit(jax.grad(loss))(z, y)
    assert g.shape == z.shape and bool(jnp.isfinite(g).all())
    p = jnp.asarray(probs_of(30))
    g_p = jax.grad(lambda q: binary_cross_entropy(q, y))(p)
    assert g_p.shape == p.shape


# ---------------------------------------------------------------------------------------
# Errors, one test per message
# ---------------------------------------------------------------------------------------


def test_error_targets_wrong_shape(xp):
    with pytest.raises(
        ValueError,
        match=r"`targets` must have shape \(6, 4\) \(the shape of `logits`\); got \(6,\)",
    ):
        sigmoid_binary_cross_entropy(xp.asarray(logits_of(0)), xp.asarray(targets_of(0, (N,))))
    with pytest.raises(ValueError, match=r"\(the shape of `probs`\); got \(4, 6\)"):
        binary_cross_entropy(xp.asarray(probs_of(0)), xp.asarray(targets_of(0, (L, N))))


def test_error_targets_outside_unit_interval(xp):
    y = targets_of(0)
    y[1, 1] = 2.0
    with pytest.raises(
        ValueError, match=r"`targets` must hold probabilities in \[0, 1\]; got 2.0\.$"
    ):
        sigmoid_binary_cross_entropy(xp.asarray(logits_of(0)), xp.asarray(y))
    with pytest.raises(
        ValueError, match=r"`targets` must hold probabilities in \[0, 1\]; got -1.0"
    ):
        sigmoid_binary_cross_entropy(xp.asarray(logits_of(0)), xp.asarray(y * 0 - 1, "int64"))


def test_error_probs_outside_unit_interval(xp):
    with pytest.raises(
        ValueError,
        match=r"`probs` must hold probabilities in \[0, 1\]; got 2.0 \(did you pass logits",
    ):
        binary_cross_entropy(xp.asarray(probs_of(0) + 2.0), xp.asarray(targets_of(0)))


def test_error_weight_not_broadcastable(xp):
    with pytest.raises(
        ValueError,
        match=r"`weight` of shape \(6,\) does not broadcast to the input's shape \(6, 4\)",
    ):
        sigmoid_binary_cross_entropy(
            xp.asarray(logits_of(0)), xp.asarray(targets_of(0)), weight=xp.asarray(np.ones(N))
        )
    with pytest.raises(ValueError, match=r"`pos_weight` of shape \(2, 6, 4\) does not broadcast"):
        sigmoid_binary_cross_entropy(
            xp.asarray(logits_of(0)),
            xp.asarray(targets_of(0)),
            pos_weight=xp.asarray(np.ones((2, N, L))),
        )


def test_error_negative_pos_weight(xp):
    with pytest.raises(
        ValueError, match=r"`pos_weight` must be non-negative and finite; got pos_weight\[1\]=-2.0"
    ):
        sigmoid_binary_cross_entropy(
            xp.asarray(logits_of(0)),
            xp.asarray(targets_of(0)),
            pos_weight=xp.asarray([1.0, -2.0, 1.0, 1.0]),
        )


def test_error_non_float_inputs(xp):
    with pytest.raises(
        TypeError, match=r"`logits` must be a floating-point array; got dtype int64"
    ):
        sigmoid_binary_cross_entropy(
            xp.asarray(np.zeros((N, L)), "int64"), xp.asarray(targets_of(0))
        )
    with pytest.raises(
        TypeError, match=r"`weight` must be a floating-point array; got dtype int64"
    ):
        sigmoid_binary_cross_entropy(
            xp.asarray(logits_of(0)),
            xp.asarray(targets_of(0)),
            weight=xp.asarray(np.ones(L), "int64"),
        )
    with pytest.raises(
        TypeError, match=r"`pos_weight` must be a floating-point array; got dtype bool"
    ):
        sigmoid_binary_cross_entropy(
            xp.asarray(logits_of(0)),
            xp.asarray(targets_of(0)),
            pos_weight=xp.asarray(np.ones(L), "bool"),
        )


def test_error_unknown_reduction(xp):
    with pytest.raises(
        ValueError, match=r"`reduction` must be one of 'none', 'mean', 'sum'; got reduction=None"
    ):
        sigmoid_binary_cross_entropy(
            xp.asarray(logits_of(0)), xp.asarray(targets_of(0)), reduction=None
        )


@pytest.mark.parametrize("smoothing", [-0.5, 2.0])
def test_error_label_smoothing_out_of_range(smoothing):
    with pytest.raises(
        ValueError,
        match=rf"`label_smoothing` must be in \[0.0, 1.0\]; got label_smoothing={smoothing}",
    ):
        sigmoid_binary_cross_entropy(logits_of(0), targets_of(0), label_smoothing=smoothing)


@pytest.mark.parametrize("eps", [-0.1, 0.0, 1.0])
def test_error_eps_out_of_range(eps):
    # eps = 0 is refused: 0 · log 0 would make the loss NaN where p = y ∈ {0, 1}.
    with pytest.raises(ValueError, match=rf"`eps` must be in \(0.0, 1.0\); got eps={eps}"):
        binary_cross_entropy(probs_of(0), targets_of(0), eps=eps)


def test_error_mixed_array_libraries():
    torch, _ = torch_f()
    with pytest.raises(TypeError, match=r"all array arguments must come from one array library"):
        sigmoid_binary_cross_entropy(torch.tensor(logits_of(0)), targets_of(0))


def test_public_names():
    assert crossent.losses.sigmoid_binary_cross_entropy is sigmoid_binary_cross_entropy
    assert crossent.losses.binary_cross_entropy is binary_cross_entropy


# ---------------------------------------------------------------------------------------
# Keras' clip in float32 (docs/api-notes.md): eps=1e-7 matches at p = 0, not at p = 1
# ---------------------------------------------------------------------------------------


def _keras_binary_crossentropy(y: np.ndarray, p: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Keras 3's probability BCE, in float32: clip to [eps, 1 - eps], then the two logs."""
    p = np.clip(p.astype(np.float32), eps, 1.0 - eps)
    y = y.astype(np.float32)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_eps_1e7_gives_keras_numbers_at_p_0_but_not_at_p_1():
    # In float32, 1 - 1e-7 rounds to 1 - 2**-23: Keras' log(1 - p) at p = 1 is log(2**-23).
    assert np.float32(1.0) - np.clip(np.float32(1.0), 1e-7, 1.0 - 1e-7) == np.float32(2.0**-23)
    y = np.array([1.0, 0.0], dtype=np.float32)
    keras = _keras_binary_crossentropy(y, np.array([0.0, 1.0]))
    ours = binary_cross_entropy(
        np.array([0.0, 1.0], dtype=np.float32), y, eps=1e-7, reduction="none"
    )
    assert ours.dtype == np.float32
    # the documented numbers: -log(float32(1e-7)) and -log(2**-23)
    np.testing.assert_allclose(keras, [16.118095, 23 * math.log(2)], rtol=1e-6)
    np.testing.assert_allclose(ours, [16.118095, 16.118095], rtol=1e-6)
    assert ours[0] == keras[0] and abs(ours[1] - keras[1]) > 0.17
