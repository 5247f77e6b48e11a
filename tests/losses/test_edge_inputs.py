"""Inputs at the edges: masked (-inf) logits under soft targets, no classes, NumPy bfloat16."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crossent
import reference as ref
from crossent import grad

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None
INF = math.inf

# ---------------------------------------------------------------------------------------
# 0 · log 0 = 0: a masked logit (-inf) on a class of target probability 0
# ---------------------------------------------------------------------------------------


def test_masked_logit_under_zero_target_probability(xp):
    z = xp.asarray([[-INF, 0.0, 0.0], [-INF, 0.0, -INF]])
    t = xp.asarray([[0.0, 0.5, 0.5], [0.0, 1.0, 0.0]])
    ce = crossent.softmax_cross_entropy(z, t, reduction="none")
    ref.assert_result(xp, ce, [math.log(2), 0.0])
    # focal: -Σ t (1 - q)^γ log q with q = [0, 1/2, 1/2] and [0, 1, 0]
    focal = crossent.softmax_focal_loss(z, t, gamma=2.0, reduction="none")
    ref.assert_result(xp, focal, [0.25 * math.log(2), 0.0])
    np.testing.assert_array_equal(
        xp.to_numpy(grad.softmax_cross_entropy(z, t, reduction="none")), np.zeros((2, 3))
    )
    assert np.isfinite(xp.to_numpy(grad.softmax_focal_loss(z, t, reduction="none"))).all()


def test_masked_logit_on_an_ignored_sample_and_under_zero_class_weight(xp):
    z = xp.asarray([[-INF, 1.0, 0.0], [-INF, 1.0, 0.0]])
    y = xp.asarray([-100, 1], "int64")  # the ignored row's index is replaced by class 0
    losses = crossent.softmax_cross_entropy(z, y, reduction="none")
    ref.assert_result(xp, losses, [0.0, math.log(1 + math.exp(-1))])
    # class 0 masked and weighted 0: the smoothing term skips it (a_0 = 0)
    w = xp.asarray([0.0, 1.0, 1.0])
    eps = 0.3
    smoothed = crossent.softmax_cross_entropy(
        z, xp.asarray([1, 2], "int64"), weight=w, label_smoothing=eps, reduction="none"
    )
    log_q = np.array([-INF, 1.0, 0.0]) - math.log(math.e + 1)
    a1 = np.array([0.0, (1 - eps) + eps / 3, eps / 3])
    a2 = np.array([0.0, eps / 3, (1 - eps) + eps / 3])
    ref.assert_result(xp, smoothed, [-(a1[1:] * log_q[1:]).sum(), -(a2[1:] * log_q[1:]).sum()])
    focal = crossent.softmax_focal_loss(z, y, reduction="none")
    assert np.isfinite(xp.to_numpy(focal)).all() and float(xp.to_numpy(focal)[0]) == 0.0


@pytest.mark.parametrize(
    "options", [{}, {"z_loss": 1e-3}, {"label_smoothing": 0.2}, {"logit_softcap": 5.0}]
)
def test_a_wholly_masked_row_that_counts_for_nothing_gives_zero_loss_and_gradient(xp, options):
    """Padding rows of a language model: every logit −inf and the target ignored — the row
    adds nothing, in value and gradient, and the other rows are as if it were not there."""
    z = xp.asarray([[-INF, -INF, -INF], [1.0, 2.0, 3.0], [-INF, -INF, -INF]])
    y = xp.asarray([-100, 2, -100], "int64")
    losses = crossent.softmax_cross_entropy(z, y, reduction="none", **options)
    alone = crossent.softmax_cross_entropy(z[1:2], y[1:2], reduction="none", **options)
    got = xp.to_numpy(losses)
    assert got[0] == 0.0 and got[2] == 0.0
    np.testing.assert_allclose(got[1], xp.to_numpy(alone)[0], rtol=1e-12)
    g = xp.to_numpy(grad.softmax_cross_entropy(z, y, **options))
    assert np.isfinite(g).all() and not g[0].any() and not g[2].any()


def test_information_measures_follow_zero_log_zero(xp):
    p = xp.asarray([[0.0, 0.5, 0.5]])
    q = xp.asarray([[0.0, 0.25, 0.75]])
    expected_h = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    ref.assert_result(xp, crossent.cross_entropy(p, q), [expected_h])
    expected_kl = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    ref.assert_result(xp, crossent.kl_divergence(p, q), [expected_kl])


def _drop_masked(z: np.ndarray, t: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return z[keep], t[keep]


@st.composite
def masked_rows(draw):
    """A row of logits with some classes masked (-inf), and a target distribution that puts
    no mass on them."""
    n_classes = draw(st.integers(2, 7))
    z = np.array(draw(st.lists(st.floats(-8, 8), min_size=n_classes, max_size=n_classes)))
    keep = np.array(draw(st.lists(st.booleans(), min_size=n_classes, max_size=n_classes)))
    keep[draw(st.integers(0, n_classes - 1))] = True
    mass = np.array(draw(st.lists(st.floats(0, 1), min_size=n_classes, max_size=n_classes)))
    mass = np.where(keep, mass, 0.0)
    if mass.sum() == 0:
        mass[np.argmax(keep)] = 1.0
    z = np.where(keep, z, -INF)
    return z, mass / mass.sum(), keep


@settings(max_examples=40, deadline=None)
@given(row=masked_rows(), gamma=st.sampled_from([0.0, 0.5, 2.0]))
def test_masking_a_class_with_zero_target_equals_deleting_it(row, gamma):
    # Property: a masked logit with target 0 contributes nothing, so the loss (and the
    # gradient on the other classes) is that of the problem without the class; its own
    # gradient is 0.
    z, t, keep = row
    zk, tk = _drop_masked(z, t, keep)
    for loss, g in [
        (crossent.softmax_cross_entropy, grad.softmax_cross_entropy),
        (
            lambda a, b, **k: crossent.softmax_focal_loss(a, b, gamma=gamma, **k),
            lambda a, b, **k: grad.softmax_focal_loss(a, b, gamma=gamma, **k),
        ),
    ]:
        full = loss(z[None], t[None], reduction="none")
        kept = loss(zk[None], tk[None], reduction="none")
        np.testing.assert_allclose(full, kept, rtol=1e-12, atol=1e-12)
        gz, gk = g(z[None], t[None])[0], g(zk[None], tk[None])[0]
        np.testing.assert_allclose(gz[keep], gk, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(gz[~keep], 0.0)


@pytest.mark.skipif(not HAS_TORCH, reason="needs PyTorch")
@settings(max_examples=25, deadline=None)
@given(row=masked_rows(), gamma=st.sampled_from([0.0, 0.5, 2.0]))
def test_torch_autograd_through_masked_logits_is_finite_and_matches_the_closed_form(row, gamma):
    import torch

    z, t, _ = row
    for loss, g, kw in [
        (crossent.softmax_cross_entropy, grad.softmax_cross_entropy, {}),
        (crossent.softmax_focal_loss, grad.softmax_focal_loss, {"gamma": gamma}),
        (crossent.softmax_cross_entropy, grad.softmax_cross_entropy, {"label_smoothing": 0.0}),
    ]:
        zt = torch.tensor(z[None], requires_grad=True)
        loss(zt, torch.tensor(t[None]), **kw).backward()
        assert zt.grad is not None and bool(torch.isfinite(zt.grad).all())
        np.testing.assert_allclose(zt.grad.numpy(), g(z[None], t[None], **kw), atol=1e-12)


@pytest.mark.skipif(not HAS_JAX, reason="needs JAX")
@settings(max_examples=25, deadline=None)
@given(row=masked_rows(), gamma=st.sampled_from([0.0, 0.5, 2.0]))
def test_jax_autograd_through_masked_logits_is_finite_and_matches_the_closed_form(row, gamma):
    import jax
    import jax.numpy as jnp

    z, t, _ = row
    tj = jnp.asarray(t[None])
    for loss, g, kw in [
        (crossent.softmax_cross_entropy, grad.softmax_cross_entropy, {}),
        (crossent.softmax_focal_loss, grad.softmax_focal_loss, {"gamma": gamma}),
    ]:
        auto = np.asarray(
            jax.grad(lambda a, loss=loss, kw=kw: loss(a, tj, **kw))(jnp.asarray(z[None]))
        )
        assert np.isfinite(auto).all()
        np.testing.assert_allclose(auto, g(z[None], t[None], **kw), atol=1e-12)


# ---------------------------------------------------------------------------------------
# No classes at all
# ---------------------------------------------------------------------------------------

NO_CLASS_CALLS = [
    ("logits", lambda p, t: crossent.softmax_cross_entropy(p, t)),
    ("logits", lambda p, t: crossent.softmax_focal_loss(p, t)),
    ("logits", lambda p, t: grad.softmax_cross_entropy(p, t)),
    ("logits", lambda p, t: grad.softmax_focal_loss(p, t)),
    ("probs", lambda p, t: crossent.categorical_cross_entropy(p, t)),
    ("probs", lambda p, t: grad.categorical_cross_entropy(p, t)),
]


@pytest.mark.parametrize(("name", "call"), NO_CLASS_CALLS)
@pytest.mark.parametrize("n", [0, 3])
def test_zero_classes_is_an_error_naming_the_prediction(xp, name, call, n):
    pred = xp.asarray(np.zeros((n, 0)))
    with pytest.raises(
        ValueError,
        match=rf"^`{name}` must have at least one class along axis 1; got shape \({n}, 0\)\.$",
    ):
        call(pred, xp.asarray(np.zeros((n, 0))))
    with pytest.raises(ValueError, match=rf"^`{name}` must have at least one class"):
        call(pred, xp.asarray(np.zeros(n), "int64"))


# ---------------------------------------------------------------------------------------
# NumPy arrays of ml_dtypes.bfloat16 (what JAX and Keras hand to NumPy)
# ---------------------------------------------------------------------------------------

ml_dtypes = importlib.import_module("ml_dtypes") if importlib.util.find_spec("ml_dtypes") else None

BF16_CALLS = [
    ("softmax_cross_entropy", lambda z, p, y, b: crossent.softmax_cross_entropy(z, y)),
    ("softmax_cross_entropy_probs", lambda z, p, y, b: crossent.softmax_cross_entropy(z, p)),
    ("categorical_cross_entropy", lambda z, p, y, b: crossent.categorical_cross_entropy(p, y)),
    (
        "sigmoid_binary_cross_entropy",
        lambda z, p, y, b: crossent.sigmoid_binary_cross_entropy(z, b),
    ),
    ("binary_cross_entropy", lambda z, p, y, b: crossent.binary_cross_entropy(p, b)),
    ("sigmoid_focal_loss", lambda z, p, y, b: crossent.sigmoid_focal_loss(z, b)),
    ("softmax_focal_loss", lambda z, p, y, b: crossent.softmax_focal_loss(z, y)),
    ("asymmetric_loss", lambda z, p, y, b: crossent.asymmetric_loss(z, b)),
    ("ghm_classification_loss", lambda z, p, y, b: crossent.ghm_classification_loss(z, b)),
    ("grad.softmax_cross_entropy", lambda z, p, y, b: grad.softmax_cross_entropy(z, y)),
    ("grad.sigmoid_focal_loss", lambda z, p, y, b: grad.sigmoid_focal_loss(z, b)),
    ("entropy", lambda z, p, y, b: crossent.entropy(p)),
    ("kl_divergence", lambda z, p, y, b: crossent.kl_divergence(p, p[::-1])),
]


@pytest.mark.skipif(ml_dtypes is None, reason="needs ml_dtypes (it comes with JAX)")
@pytest.mark.parametrize(("name", "call"), BF16_CALLS)
def test_numpy_bfloat16_is_computed_in_float32_and_returned_in_bfloat16(name, call):
    bf16 = ml_dtypes.bfloat16
    rng = np.random.default_rng(3)
    z = (2 * rng.standard_normal((5, 4))).astype(bf16)
    p = np.full((5, 4), 0.25).astype(bf16)
    y = rng.integers(0, 4, size=5)
    b = (rng.random((5, 4)) > 0.5).astype(bf16)
    out = call(z, p, y, b)
    assert isinstance(out, (np.ndarray, np.generic)) and out.dtype == np.dtype(bf16)
    # the same inputs widened to float32 by the caller: equal after rounding to bfloat16
    expected = call(z.astype(np.float32), p.astype(np.float32), y, b.astype(np.float32))
    np.testing.assert_allclose(
        out.astype(np.float64), expected.astype(bf16).astype(np.float64), rtol=0, atol=0
    )
