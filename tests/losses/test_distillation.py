"""Distillation divergences: naive float64 references, PyTorch's kl_div, TRL's generalized
JSD, finite differences, autograd, properties, extreme logits, half precision, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import crossent
import reference as ref
import reference_distillation as refd
from crossent import distillation_loss, grad

N, C = 5, 4
DIVERGENCES = ["kl", "reverse_kl", "jsd"]
REDUCTIONS = ["none", "mean", "sum"]
TARGETS = np.array([1, -100, 3, 0, 2])


def logits_of(seed: int, shape: tuple[int, ...] = (N, C), scale: float = 2.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(shape)


CASES = [
    {},
    {"temperature": 2.5, "targets": TARGETS},
    {"beta": 0.2, "targets": TARGETS, "hard_weight": 0.3, "temperature": 0.7},
]


@pytest.mark.parametrize("divergence", DIVERGENCES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_value_and_gradient_match_the_naive_reference(xp, divergence, reduction, case):
    options = {**CASES[case], "divergence": divergence, "reduction": reduction}
    s, t = logits_of(1), logits_of(2)
    expected = refd.distillation_loss(s, t, **options)
    lib_opts = dict(options)
    if "targets" in options:
        lib_opts["targets"] = xp.asarray(options["targets"], "int64")
    out = distillation_loss(xp.asarray(s), xp.asarray(t), **lib_opts)
    ref.assert_result(xp, out, expected, scale=10)
    g = grad.distillation_loss(xp.asarray(s), xp.asarray(t), **lib_opts)
    numeric = ref.numerical_gradient(lambda z: refd.distillation_loss(z, t, **options), s)
    assert xp.is_native(g) and g.dtype == xp.dtype("float64") and tuple(g.shape) == (N, C)
    np.testing.assert_allclose(xp.to_numpy(g), numeric, rtol=1e-6, atol=1e-8)
    if "targets" in options:  # ignored rows get no gradient
        assert np.all(xp.to_numpy(g)[TARGETS == -100] == 0)


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_kl_is_torch_kl_div_batchmean_times_t_squared(temperature):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    s, t = torch.tensor(logits_of(3)), torch.tensor(logits_of(4))
    log_q = F.log_softmax(s / temperature, dim=-1)
    log_p = F.log_softmax(t / temperature, dim=-1)
    expected = F.kl_div(log_q, log_p, log_target=True, reduction="batchmean") * temperature**2
    out = distillation_loss(s, t, temperature=temperature)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    reverse = F.kl_div(log_p, log_q, log_target=True, reduction="batchmean") * temperature**2
    out = distillation_loss(s, t, temperature=temperature, divergence="reverse_kl")
    torch.testing.assert_close(out, reverse, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.9])
def test_jsd_is_trls_generalized_jsd(beta):
    """TRL's ``generalized_jsd_loss`` as it is written there (``kl_div`` against a mixture
    formed by ``logsumexp``), batchmean, value and autograd gradient."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    temperature = 2.0
    s = torch.tensor(logits_of(5), requires_grad=True)
    t = torch.tensor(logits_of(6))
    log_q = F.log_softmax(s / temperature, dim=-1)
    log_p = F.log_softmax(t / temperature, dim=-1)
    b = torch.tensor(beta, dtype=torch.float64)
    log_m = torch.logsumexp(torch.stack([log_q + torch.log(1 - b), log_p + torch.log(b)]), dim=0)
    kl_teacher = F.kl_div(log_m, log_p, reduction="none", log_target=True)
    kl_student = F.kl_div(log_m, log_q, reduction="none", log_target=True)
    trl = (beta * kl_teacher + (1 - beta) * kl_student).sum() / s.shape[0]
    (trl_grad,) = torch.autograd.grad(trl, s)
    out = distillation_loss(s, t, divergence="jsd", beta=beta, temperature=temperature)
    # TRL does not scale by T²; crossent does (Hinton's rule), by design.
    torch.testing.assert_close(out, trl * temperature**2, rtol=1e-12, atol=1e-12)
    g = grad.distillation_loss(s.detach(), t, divergence="jsd", beta=beta, temperature=temperature)
    torch.testing.assert_close(g, trl_grad * temperature**2, rtol=1e-10, atol=1e-12)


def test_symmetric_jsd_is_crossents_js_divergence():
    s, t = logits_of(7), logits_of(8)
    p = np.exp(t - t.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    q = np.exp(s - s.max(-1, keepdims=True))
    q /= q.sum(-1, keepdims=True)
    out = distillation_loss(s, t, divergence="jsd", beta=0.5, reduction="none")
    np.testing.assert_allclose(out, crossent.js_divergence(p, q), rtol=1e-10, atol=1e-14)


def test_hard_weight_one_is_softmax_cross_entropy_and_zero_ignores_targets():
    s, t = logits_of(9), logits_of(10)
    y = TARGETS
    out = distillation_loss(s, t, targets=y, hard_weight=1.0, temperature=4.0)
    np.testing.assert_allclose(out, crossent.softmax_cross_entropy(s, y), rtol=1e-13)
    g = grad.distillation_loss(s, t, targets=y, hard_weight=1.0)
    np.testing.assert_allclose(g, grad.softmax_cross_entropy(s, y), rtol=1e-13, atol=1e-15)
    counted = y != -100
    np.testing.assert_allclose(
        distillation_loss(s, t, targets=y), distillation_loss(s[counted], t[counted]), rtol=1e-13
    )


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_autograd_matches_closed_form_and_teacher_gets_none_torch(divergence):
    torch = pytest.importorskip("torch")
    s = torch.tensor(logits_of(11), requires_grad=True)
    t = torch.tensor(logits_of(12), requires_grad=True)
    y = torch.tensor(TARGETS)
    options = {"divergence": divergence, "temperature": 1.5, "targets": y, "hard_weight": 0.25}
    loss = distillation_loss(s, t, **options)
    assert loss.requires_grad
    loss.backward()
    assert t.grad is None  # the teacher is detached
    closed = grad.distillation_loss(s.detach(), t.detach(), **options)
    torch.testing.assert_close(s.grad, closed, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_jax_grad_matches_closed_form_and_teacher_gets_none(divergence):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    s, t = jnp.asarray(logits_of(13)), jnp.asarray(logits_of(14))
    options = {"divergence": divergence, "temperature": 2.0, "beta": 0.3}
    gs, gt = jax.grad(lambda a, b: distillation_loss(a, b, **options), argnums=(0, 1))(s, t)
    np.testing.assert_allclose(np.asarray(gt), 0.0)
    closed = grad.distillation_loss(s, t, **options)
    np.testing.assert_allclose(np.asarray(closed), np.asarray(gs), rtol=1e-10, atol=1e-12)
    jitted = jax.jit(lambda a, b: distillation_loss(a, b, **options))(s, t)
    np.testing.assert_allclose(float(jitted), float(distillation_loss(s, t, **options)), rtol=1e-12)


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_extreme_logits_stay_finite(xp, divergence):
    s = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, 0.0]])
    t = np.array([[-1e4, 1e4, 0.0], [1e4, -1e4, 0.0], [1e4, 0.0, -1e4]])
    y = np.array([0, 2, 1])
    for dtype in ("float64", "float32"):
        kwargs = {"divergence": divergence, "targets": xp.asarray(y, "int64"), "hard_weight": 0.1}
        out = distillation_loss(xp.asarray(s, dtype), xp.asarray(t, dtype), **kwargs)
        g = grad.distillation_loss(xp.asarray(s, dtype), xp.asarray(t, dtype), **kwargs)
        assert np.isfinite(xp.to_numpy(out)) and np.all(np.isfinite(xp.to_numpy(g)))
        assert out.dtype == xp.dtype(dtype)
    if divergence == "kl":  # the disagreeing rows cost about 2e4 nats each, not inf
        out = distillation_loss(xp.asarray(s), xp.asarray(t), reduction="none")
        assert 1.9e4 < xp.to_numpy(out)[0] < 2.1e4


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_class_masked_in_both_models_counts_for_nothing(divergence):
    s, t = logits_of(15), logits_of(16)
    s_masked = np.concatenate([s, np.full((N, 1), -np.inf)], axis=1)
    t_masked = np.concatenate([t, np.full((N, 1), -np.inf)], axis=1)
    out = distillation_loss(s_masked, t_masked, divergence=divergence, reduction="none")
    np.testing.assert_allclose(
        out, distillation_loss(s, t, divergence=divergence, reduction="none")
    )
    g = grad.distillation_loss(s_masked, t_masked, divergence=divergence)
    np.testing.assert_allclose(g[:, :C], grad.distillation_loss(s, t, divergence=divergence))
    assert np.all(g[:, C] == 0)


def test_ignored_padding_rows_of_minus_inf_stay_finite():
    torch = pytest.importorskip("torch")
    s = torch.tensor(logits_of(17), requires_grad=True)
    t = torch.tensor(logits_of(18))
    pad = torch.zeros(N, C, dtype=torch.float64)
    pad[1] = -math.inf
    loss = distillation_loss(s + pad, t + pad, divergence="jsd", targets=torch.tensor(TARGETS))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all() and (s.grad[1] == 0).all()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_is_computed_in_float32(dtype):
    torch = pytest.importorskip("torch")
    s = torch.tensor(logits_of(19) * 3).to(getattr(torch, dtype))
    t = torch.tensor(logits_of(20) * 3).to(getattr(torch, dtype))
    for divergence in DIVERGENCES:
        out = distillation_loss(s, t, divergence=divergence, temperature=2.0)
        g = grad.distillation_loss(s, t, divergence=divergence, temperature=2.0)
        assert out.dtype == g.dtype == s.dtype
        exact = refd.distillation_loss(
            s.double(), t.double(), divergence=divergence, temperature=2.0
        )
        rtol = ref.TOLERANCE[dtype][0]
        np.testing.assert_allclose(float(out), exact, rtol=rtol)
        exact_g = grad.distillation_loss(
            s.double(), t.double(), divergence=divergence, temperature=2.0
        )
        torch.testing.assert_close(g.double(), exact_g, rtol=rtol, atol=rtol * 0.1)


def test_class_axis_is_moveaxis():
    s, t = logits_of(21, (2, C, 3)), logits_of(22, (2, C, 3))
    y = np.array([[0, 1, -100], [3, 2, 1]])
    moved = distillation_loss(
        np.moveaxis(s, 1, -1), np.moveaxis(t, 1, -1), targets=y, hard_weight=0.5, reduction="none"
    )
    out = distillation_loss(s, t, targets=y, hard_weight=0.5, axis=1, reduction="none")
    np.testing.assert_allclose(out, moved, rtol=1e-13)
    g = grad.distillation_loss(s, t, targets=y, hard_weight=0.5, axis=1)
    g_moved = grad.distillation_loss(
        np.moveaxis(s, 1, -1), np.moveaxis(t, 1, -1), targets=y, hard_weight=0.5
    )
    np.testing.assert_allclose(g, np.moveaxis(g_moved, -1, 1), rtol=1e-13)


def test_all_ignored_and_empty_batches_are_zero_with_zero_gradient(xp):
    s, t = logits_of(23), logits_of(24)
    y = xp.asarray(np.full(N, -100), "int64")
    for divergence in DIVERGENCES:
        out = distillation_loss(xp.asarray(s), xp.asarray(t), targets=y, divergence=divergence)
        g = grad.distillation_loss(xp.asarray(s), xp.asarray(t), targets=y, divergence=divergence)
        ref.assert_result(xp, out, 0.0)
        ref.assert_result(xp, g, np.zeros((N, C)))
    empty = xp.asarray(np.zeros((0, C)))
    ref.assert_result(xp, distillation_loss(empty, empty), 0.0)
    ref.assert_result(xp, distillation_loss(empty, empty, reduction="none"), np.zeros(0))


finite_rows = arrays(
    np.float64, (3, 4), elements=st.floats(-30, 30, allow_nan=False, allow_infinity=False)
)


@settings(max_examples=25, deadline=None)
@given(s=finite_rows, t=finite_rows, temperature=st.floats(0.25, 8.0), beta=st.floats(0.05, 0.95))
def test_properties_non_negative_bounded_and_zero_at_equality(s, t, temperature, beta):
    for divergence in DIVERGENCES:
        d = distillation_loss(
            s, t, divergence=divergence, beta=beta, temperature=temperature, reduction="none"
        )
        assert np.all(d >= -1e-12 * temperature**2)
        same = distillation_loss(
            s, s, divergence=divergence, beta=beta, temperature=temperature, reduction="none"
        )
        np.testing.assert_allclose(same, 0.0, atol=1e-12 * temperature**2)
        g = grad.distillation_loss(s, s, divergence=divergence, beta=beta, temperature=temperature)
        np.testing.assert_allclose(g, 0.0, atol=1e-12 * temperature)
    jsd = distillation_loss(
        s, t, divergence="jsd", beta=beta, temperature=temperature, reduction="none"
    )
    assert np.all(jsd <= math.log(2) * temperature**2 * (1 + 1e-12))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"temperature": 0.0}, ValueError, r"`temperature` must be positive; got temperature=0.0"),
        ({"temperature": "2"}, TypeError, r"`temperature` must be a number"),
        (
            {"divergence": "js"},
            ValueError,
            r"`divergence` must be one of 'kl', 'reverse_kl', 'jsd'; got divergence='js'",
        ),
        ({"beta": 1.0}, ValueError, r"`beta` must be in \(0.0, 1.0\); got beta=1.0"),
        (
            {"hard_weight": 1.5},
            ValueError,
            r"`hard_weight` must be in \[0.0, 1.0\]; got hard_weight=1.5",
        ),
        ({"hard_weight": 0.5}, ValueError, r"`targets` are required when `hard_weight` > 0"),
        ({"targets": np.zeros(N)}, TypeError, r"`targets` of a distillation loss must be integer"),
        (
            {"targets": np.array([0, 1, 2, 3, 4])},
            ValueError,
            r"`targets`: class index 4 is out of range",
        ),
        ({"targets": np.zeros(3, dtype=int)}, ValueError, r"`targets` must have shape \(5,\)"),
        ({"reduction": "batchmean"}, ValueError, r"`reduction` must be one of"),
        ({"axis": 2}, ValueError, r"`axis` must be in \[-2, 1\]"),
    ],
)
def test_errors_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        distillation_loss(logits_of(0), logits_of(1), **kwargs)
    with pytest.raises(error, match=match):
        grad.distillation_loss(logits_of(0), logits_of(1), **kwargs)


def test_shape_and_dtype_errors():
    with pytest.raises(
        ValueError,
        match=r"`teacher_logits` must have the shape of `student_logits`, \(5, 4\); got \(5, 3\)",
    ):
        distillation_loss(logits_of(0), logits_of(1, (N, 3)))
    with pytest.raises(
        TypeError, match=r"`teacher_logits` must be a floating-point array; got dtype int64"
    ):
        distillation_loss(logits_of(0), np.zeros((N, C), dtype=np.int64))
    with pytest.raises(ValueError, match=r"at least one class"):
        distillation_loss(np.zeros((N, 0)), np.zeros((N, 0)))


def test_value_checks_follow_the_validation_policy():
    bad = np.array([0, 1, 2, 3, 9])
    with crossent.validation(False):  # the out-of-range index is not read, nor refused
        distillation_loss(logits_of(0), logits_of(1), targets=bad)
    with pytest.raises(ValueError, match="out of range"):
        distillation_loss(logits_of(0), logits_of(1), targets=bad, validate=True)
