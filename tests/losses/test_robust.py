"""Noise-robust cross-entropies: the papers' formulas, optax, published numbers, properties,
closed-form gradients, extremes and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import reference as ref
from crossent import (
    bi_tempered_logistic_loss,
    generalized_cross_entropy,
    grad,
    poly1_cross_entropy,
    softmax_cross_entropy,
    symmetric_cross_entropy,
)

N, C = 6, 4
REDUCTIONS = ["none", "mean", "sum"]
LOSSES = {
    "generalized_cross_entropy": generalized_cross_entropy,
    "poly1_cross_entropy": poly1_cross_entropy,
    "symmetric_cross_entropy": symmetric_cross_entropy,
    "bi_tempered_logistic_loss": bi_tempered_logistic_loss,
}
CLOSED_FORMS = ["generalized_cross_entropy", "poly1_cross_entropy", "symmetric_cross_entropy"]


def logits_of(seed: int, shape: tuple[int, ...] = (N, C), scale: float = 2.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(shape)


def index_targets(seed: int, n: int = N) -> np.ndarray:
    y = np.random.default_rng(seed).integers(0, C, size=n)
    y[1] = -100
    return y


def prob_targets(seed: int, n: int = N) -> np.ndarray:
    t = np.random.default_rng(seed).dirichlet(np.ones(C), size=n)
    t[2] = np.eye(C)[1]  # a row with zeros in it
    return t


# ---------------------------------------------------------------------------------------
# The papers' formulas, one sample at a time in float64 from probabilities
# ---------------------------------------------------------------------------------------


def _softmax(row: np.ndarray) -> list[float]:
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


def _samples(targets, weight, ignore_index, smoothing):
    """Per sample: ``(y, w)`` — the target distribution (smoothed) and class weights — or
    None when the sample is ignored."""
    w = [1.0] * C if weight is None else list(weight)
    out = []
    for target in targets:
        if np.ndim(target) == 0:
            if int(target) == ignore_index:
                out.append(None)
                continue
            y = [1.0 if c == int(target) else 0.0 for c in range(C)]
        else:
            y = [float(v) for v in target]
        out.append(([(1 - smoothing) * v + smoothing / C for v in y], w))
    return out


def _reduce(losses: list[float], counted: int, reduction: str) -> np.ndarray:
    if reduction == "none":
        return np.array(losses)
    total = sum(losses)
    return np.array(total if reduction == "sum" else (total / counted if counted else 0.0))


def naive(term, logits, targets, *, weight=None, ignore_index=-100, smoothing=0.0, reduction):
    """``term(p, y, w)`` per counted sample, 0 for ignored ones, then the reduction (``"mean"``
    over counted samples)."""
    losses, counted = [], 0
    for row, sample in zip(logits, _samples(targets, weight, ignore_index, smoothing), strict=True):
        if sample is None:
            losses.append(0.0)
            continue
        counted += 1
        losses.append(term(_softmax(row), *sample))
    return _reduce(losses, counted, reduction)


def gce_term(q):
    """Zhang & Sabuncu: ``Σ_c w_c y_c (1 − p_c^q)/q``."""
    return lambda p, y, w: sum(w[c] * y[c] * (1 - p[c] ** q) / q for c in range(C))


def poly1_term(epsilon):
    """Leng et al.: ``CE + ε Σ_c w_c y_c (1 − p_c)``."""
    return lambda p, y, w: sum(
        w[c] * y[c] * (-math.log(p[c]) + epsilon * (1 - p[c])) for c in range(C)
    )


def sce_term(alpha, beta, log_zero):
    """Wang et al.: ``α CE + β (Σ w y) RCE``, ``RCE = −Σ_c p_c log y_c``, ``log 0 := A``."""

    def term(p, y, w):
        ce = -sum(w[c] * y[c] * math.log(p[c]) for c in range(C) if y[c] > 0)
        logs = [log_zero if y[c] == 0 else max(math.log(y[c]), log_zero) for c in range(C)]
        rce = -sum(p[c] * logs[c] for c in range(C))
        return alpha * ce + beta * sum(w[c] * y[c] for c in range(C)) * rce

    return term


def log_t(x: float, t: float) -> float:
    return math.log(x) if t == 1 else (x ** (1 - t) - 1) / (1 - t)


def exp_t(x: float, t: float) -> float:
    return math.exp(x) if t == 1 else max(1 + (1 - t) * x, 0.0) ** (1 / (1 - t))


def tempered_softmax(row: np.ndarray, t: float, num_iters: int) -> list[float]:
    """Amid et al.'s fixed point for the normaliser (t > 1), written out per row."""
    if t == 1:
        return _softmax(row)
    mu = max(row)
    start = [v - mu for v in row]
    a = list(start)
    for _ in range(num_iters):
        partition = sum(exp_t(v, t) for v in a)
        a = [v * partition ** (1 - t) for v in start]
    partition = sum(exp_t(v, t) for v in a)
    normaliser = -log_t(1 / partition, t) + mu
    return [exp_t(v - normaliser, t) for v in row]


def bt_term(t1, t2, num_iters):
    """Amid et al.'s loss ``Σ_c y(log_t1 y − log_t1 ŷ) − (y^{2−t1} − ŷ^{2−t1})/(2 − t1)``."""

    def term(row, y, w):
        y_hat = tempered_softmax(row, t2, num_iters)
        total = 0.0
        for c in range(C):
            own = y[c] * log_t(y[c], t1) if y[c] > 0 else 0.0
            total += own - y[c] * log_t(y_hat[c], t1)
            total -= (y[c] ** (2 - t1) - y_hat[c] ** (2 - t1)) / (2 - t1)
        return sum(w[c] * y[c] for c in range(C)) * total

    return term


def naive_bt(logits, targets, *, t1, t2, num_iters=5, weight=None, smoothing=0.0, reduction):
    """As :func:`naive`, but the term needs the logits (the tempered softmax)."""
    losses, counted = [], 0
    term = bt_term(t1, t2, num_iters)
    for row, sample in zip(logits, _samples(targets, weight, -100, smoothing), strict=True):
        if sample is None:
            losses.append(0.0)
            continue
        counted += 1
        losses.append(term(row, *sample))
    return _reduce(losses, counted, reduction)


# ---------------------------------------------------------------------------------------
# Values against the formulas, on every array library
# ---------------------------------------------------------------------------------------

WEIGHT = np.array([0.5, 2.0, 1.0, 0.25])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["indices", "probs"])
def test_gce_matches_the_formula(xp, reduction, kind):
    z = logits_of(0)
    y = index_targets(1) if kind == "indices" else prob_targets(1)
    for q, weight in ((0.7, None), (0.3, WEIGHT), (1.0, None)):
        out = generalized_cross_entropy(
            xp.asarray(z),
            xp.asarray(y, "int64" if kind == "indices" else "float64"),
            q=q,
            weight=None if weight is None else xp.asarray(weight),
            reduction=reduction,
        )
        expected = naive(gce_term(q), z, y, weight=weight, reduction=reduction)
        ref.assert_result(xp, out, expected, scale=10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["indices", "probs"])
def test_poly1_matches_the_formula(xp, reduction, kind):
    z = logits_of(2)
    y = index_targets(3) if kind == "indices" else prob_targets(3)
    for epsilon, smoothing, weight in ((1.0, 0.0, None), (-0.5, 0.1, WEIGHT), (2.0, 0.2, None)):
        out = poly1_cross_entropy(
            xp.asarray(z),
            xp.asarray(y, "int64" if kind == "indices" else "float64"),
            epsilon=epsilon,
            label_smoothing=smoothing,
            weight=None if weight is None else xp.asarray(weight),
            reduction=reduction,
        )
        expected = naive(
            poly1_term(epsilon), z, y, weight=weight, smoothing=smoothing, reduction=reduction
        )
        ref.assert_result(xp, out, expected, scale=10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["indices", "probs"])
def test_sce_matches_the_formula(xp, reduction, kind):
    z = logits_of(4)
    y = index_targets(5) if kind == "indices" else prob_targets(5)
    for alpha, beta, log_zero, weight in ((0.1, 1.0, -4.0, None), (1.0, 0.5, -9.21, WEIGHT)):
        out = symmetric_cross_entropy(
            xp.asarray(z),
            xp.asarray(y, "int64" if kind == "indices" else "float64"),
            alpha=alpha,
            beta=beta,
            log_zero=log_zero,
            weight=None if weight is None else xp.asarray(weight),
            reduction=reduction,
        )
        expected = naive(sce_term(alpha, beta, log_zero), z, y, weight=weight, reduction=reduction)
        ref.assert_result(xp, out, expected, scale=10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["indices", "probs"])
def test_bi_tempered_matches_the_naive_fixed_point(xp, reduction, kind):
    z = logits_of(6)
    y = index_targets(7) if kind == "indices" else prob_targets(7)
    cases = (
        (0.8, 1.2, 5, 0.0, None),
        (0.5, 2.0, 3, 0.1, WEIGHT),
        (1.0, 1.5, 5, 0.0, None),
        (0.3, 1.0, 5, 0.0, None),
    )
    for t1, t2, iters, smoothing, weight in cases:
        out = bi_tempered_logistic_loss(
            xp.asarray(z),
            xp.asarray(y, "int64" if kind == "indices" else "float64"),
            t1=t1,
            t2=t2,
            num_iters=iters,
            label_smoothing=smoothing,
            weight=None if weight is None else xp.asarray(weight),
            reduction=reduction,
        )
        expected = naive_bt(
            z, y, t1=t1, t2=t2, num_iters=iters, weight=weight, smoothing=smoothing,
            reduction=reduction,
        )  # fmt: skip
        ref.assert_result(xp, out, expected, scale=100)


def test_bi_tempered_reproduces_the_authors_published_values():
    # The authors' own test values (google/bi-tempered-loss, loss_test.py): their code adds
    # 1e-10 inside log_t(labels), hence the tolerance.
    labels = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.2, 0.8, 0.0]])
    z = np.array([[-0.5, 0.1, 2.0], [0.1, 1.5, -5.0], [4.0, -3.0, -6.0]])
    out = bi_tempered_logistic_loss(z, labels, t1=0.5, t2=1.5, reduction="none")
    np.testing.assert_allclose(out, [0.02301914, 0.18972909, 0.93874922], atol=1e-5)
    y, zz = np.array([[0.2, 0.5, 0.3]]), np.array([[-0.5, 0.1, 2.0]])
    published = [0.628705, 0.45677936, 0.34298314, 0.26295574]
    for (t1, t2), value in zip(
        [(1.0, 1.0), (0.9, 1.1), (0.8, 1.2), (0.7, 1.3)], published, strict=True
    ):
        assert float(bi_tempered_logistic_loss(zz, y, t1=t1, t2=t2)) == pytest.approx(
            value, abs=1e-5
        )


def test_bi_tempered_at_one_one_is_softmax_cross_entropy_exactly(xp):
    z, y = logits_of(8, (12, C), scale=4.0), index_targets(9, 12)
    w = xp.asarray(WEIGHT)
    for kwargs in ({}, {"reduction": "none"}, {"weight": w, "reduction": "sum"}):
        out = bi_tempered_logistic_loss(
            xp.asarray(z), xp.asarray(y, "int64"), t1=1.0, t2=1.0, **kwargs
        )
        ce = softmax_cross_entropy(xp.asarray(z), xp.asarray(y, "int64"), **kwargs)
        np.testing.assert_array_equal(xp.to_numpy(out), xp.to_numpy(ce))
    # probability targets: KL(y‖softmax z) = CE − H(y)
    t = prob_targets(10, 12)
    out = bi_tempered_logistic_loss(xp.asarray(z), xp.asarray(t), t1=1.0, t2=1.0, reduction="none")
    entropy = -np.sum(np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0), axis=-1)
    expected = ref.softmax_cross_entropy(z, t, reduction="none") - entropy
    ref.assert_result(xp, out, expected, scale=10)


def test_tempered_softmax_converges_to_a_distribution():
    from crossent.losses.robust import tempered_log_softmax

    z = logits_of(11, (5, 7), scale=3.0)
    for t in (1.1, 1.5, 4.0):
        p = np.exp(tempered_log_softmax(np, z, t, 60))
        np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-9)
        np.testing.assert_allclose(p, [tempered_softmax(row, t, 60) for row in z], rtol=1e-12)
        # the heavy tail: the smallest probability is larger than softmax's
        assert np.all(p.min(axis=-1) > np.array([min(_softmax(row)) for row in z]))


def test_poly1_matches_optax():
    jnp = pytest.importorskip("jax.numpy")
    optax = pytest.importorskip("optax")
    z, y = logits_of(12), np.random.default_rng(13).integers(0, C, size=N)
    one_hot = np.eye(C)[y]
    for epsilon, smoothing in ((1.0, 0.0), (2.0, 0.0), (-0.5, 0.1)):
        labels = (
            optax.losses.smooth_labels(jnp.asarray(one_hot), smoothing) if smoothing else one_hot
        )
        expected = optax.losses.poly_loss_cross_entropy(
            jnp.asarray(z), jnp.asarray(labels), epsilon=epsilon
        )
        out = poly1_cross_entropy(
            jnp.asarray(z),
            jnp.asarray(y),
            epsilon=epsilon,
            label_smoothing=smoothing,
            reduction="none",
        )
        np.testing.assert_allclose(np.asarray(out), np.asarray(expected), rtol=1e-12, atol=1e-12)
        out_probs = poly1_cross_entropy(
            jnp.asarray(z), jnp.asarray(labels), epsilon=epsilon, reduction="none"
        )
        np.testing.assert_allclose(
            np.asarray(out_probs), np.asarray(expected), rtol=1e-12, atol=1e-12
        )


def test_axis_one_equals_moving_the_class_axis(xp):
    z = logits_of(14, (3, C, 2))
    y = np.random.default_rng(15).integers(0, C, size=(3, 2))
    for fn in LOSSES.values():
        out = fn(xp.asarray(z), xp.asarray(y, "int64"), axis=1, reduction="none")
        moved = fn(xp.asarray(np.moveaxis(z, 1, -1)), xp.asarray(y, "int64"), reduction="none")
        ref.assert_result(xp, out, xp.to_numpy(moved))


def test_all_ignored_mean_is_zero_with_zero_gradient(xp):
    z, y = logits_of(16), np.full(N, -100)
    for fn in LOSSES.values():
        out = fn(xp.asarray(z), xp.asarray(y, "int64"))
        ref.assert_result(xp, out, 0.0)
    for name in CLOSED_FORMS:
        g = getattr(grad, name)(xp.asarray(z), xp.asarray(y, "int64"))
        ref.assert_result(xp, g, np.zeros_like(z))


# ---------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------

rows = arrays(np.float64, (3, C), elements=st.floats(-20, 20))
labels = arrays(np.int64, (3,), elements=st.integers(0, C - 1))


@settings(max_examples=25, deadline=None)
@given(z=rows, y=labels, q=st.floats(0.05, 1.0), shift=st.floats(-50, 50))
def test_gce_lies_between_mae_and_ce_and_ignores_a_shift(z, y, q, shift):
    gce = np.asarray(generalized_cross_entropy(z, y, q=q, reduction="none"))
    ce = np.asarray(softmax_cross_entropy(z, y, reduction="none"))
    mae = np.asarray(generalized_cross_entropy(z, y, q=1.0, reduction="none"))
    assert np.all(gce <= ce * (1 + 1e-12) + 1e-15)
    assert np.all(gce >= mae * (1 - 1e-12) - 1e-15)
    assert np.all(mae <= 1.0)
    shifted = np.asarray(generalized_cross_entropy(z + shift, y, q=q, reduction="none"))
    np.testing.assert_allclose(shifted, gce, rtol=1e-9, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(z=rows, y=labels, epsilon=st.floats(-1, 5))
def test_poly1_minus_ce_is_epsilon_times_one_minus_p_t(z, y, epsilon):
    poly = np.asarray(poly1_cross_entropy(z, y, epsilon=epsilon, reduction="none"))
    ce = np.asarray(softmax_cross_entropy(z, y, reduction="none"))
    p_t = np.exp(z - z.max(-1, keepdims=True))
    p_t = (p_t / p_t.sum(-1, keepdims=True))[np.arange(3), y]
    np.testing.assert_allclose(poly - ce, epsilon * (1 - p_t), rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(z=rows, y=labels, alpha=st.floats(0, 2), beta=st.floats(0, 2), a=st.floats(-10, -0.5))
def test_sce_reverse_term_is_bounded_by_minus_log_zero(z, y, alpha, beta, a):
    sce = np.asarray(
        symmetric_cross_entropy(z, y, alpha=alpha, beta=beta, log_zero=a, reduction="none")
    )
    ce = np.asarray(softmax_cross_entropy(z, y, reduction="none"))
    rce = sce - alpha * ce
    assert np.all(rce >= -1e-9) and np.all(rce <= -a * beta * (1 + 1e-12) + 1e-12)


@settings(max_examples=20, deadline=None)
@given(z=rows, y=labels, t1=st.floats(0.0, 0.99), t2=st.floats(1.0, 3.0))
def test_bi_tempered_is_bounded_for_t1_below_one(z, y, t1, t2):
    loss = np.asarray(bi_tempered_logistic_loss(z, y, t1=t1, t2=t2, reduction="none"))
    assert np.all(np.isfinite(loss)) and np.all(loss <= 1 / (1 - t1) + 1 / (2 - t1) + 1e-9)


def test_gce_tends_to_ce_as_q_tends_to_zero():
    z, y = logits_of(17), index_targets(18)
    ce = float(softmax_cross_entropy(z, y))
    assert float(generalized_cross_entropy(z, y, q=1e-7)) == pytest.approx(ce, rel=1e-5)


# ---------------------------------------------------------------------------------------
# Closed-form gradients: finite differences, torch autograd, jax.grad
# ---------------------------------------------------------------------------------------

GRAD_CASES = [
    ("generalized_cross_entropy", {"q": 0.7}),
    ("generalized_cross_entropy", {"q": 0.2, "weight": WEIGHT}),
    ("poly1_cross_entropy", {"epsilon": 2.0, "label_smoothing": 0.1}),
    ("poly1_cross_entropy", {"epsilon": -0.5, "weight": WEIGHT}),
    ("symmetric_cross_entropy", {}),
    ("symmetric_cross_entropy", {"alpha": 0.7, "beta": 0.4, "log_zero": -6.0, "weight": WEIGHT}),
]


@pytest.mark.parametrize("kind", ["indices", "probs"])
@pytest.mark.parametrize(("name", "kwargs"), GRAD_CASES)
def test_closed_form_gradient_matches_finite_differences(name, kwargs, kind):
    z = logits_of(19)
    y = index_targets(20) if kind == "indices" else prob_targets(20)
    loss, closed = getattr(__import__("crossent"), name), getattr(grad, name)
    for reduction in REDUCTIONS:
        g = closed(z, y, reduction=reduction, **kwargs)
        numeric = ref.numerical_gradient(
            lambda x, r=reduction: loss(x, y, reduction=r, **kwargs), z
        )
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("name", "kwargs"), GRAD_CASES)
def test_closed_form_gradient_matches_torch_autograd(name, kwargs):
    torch = pytest.importorskip("torch")
    z, y = logits_of(21, (N, C, 2)), np.random.default_rng(22).integers(0, C, size=(N, 2))
    y[0, 0] = -100
    kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    zt = torch.tensor(z, requires_grad=True)
    getattr(__import__("crossent"), name)(zt, torch.tensor(y), axis=1, **kwargs).backward()
    closed = getattr(grad, name)(torch.tensor(z), torch.tensor(y), axis=1, **kwargs)
    assert isinstance(closed, torch.Tensor) and closed.dtype == torch.float64
    torch.testing.assert_close(closed, zt.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("name", "kwargs"), GRAD_CASES[::2])
def test_closed_form_gradient_matches_jax_grad(name, kwargs):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z, y = jnp.asarray(logits_of(23)), jnp.asarray(prob_targets(24))
    loss = getattr(__import__("crossent"), name)
    expected = jax.grad(lambda x: loss(x, y, **kwargs))(z)
    closed = getattr(grad, name)(z, y, **kwargs)
    assert isinstance(closed, jax.Array)
    np.testing.assert_allclose(np.asarray(closed), np.asarray(expected), rtol=1e-12, atol=1e-14)


def test_bi_tempered_autograd_tends_to_the_authors_closed_form():
    """At a converged normaliser, autograd of the loss is Amid et al.'s gradient
    ``(ŷ − y) ŷ^{t2−t1} − e Σ_c (ŷ_c − y_c) ŷ_c^{t2−t1}`` with escorts ``e ∝ ŷ^{t2}``."""
    torch = pytest.importorskip("torch")
    z, y = logits_of(25), prob_targets(26)
    t1, t2 = 0.7, 1.4
    zt = torch.tensor(z, requires_grad=True)
    bi_tempered_logistic_loss(
        zt, torch.tensor(y), t1=t1, t2=t2, num_iters=80, reduction="sum"
    ).backward()
    y_hat = np.array([tempered_softmax(row, t2, 80) for row in z])
    forget = (y_hat - y) * y_hat ** (t2 - t1)
    escorts = y_hat**t2 / np.sum(y_hat**t2, axis=-1, keepdims=True)
    expected = forget - escorts * forget.sum(-1, keepdims=True)
    np.testing.assert_allclose(zt.grad.numpy(), expected, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------------------------
# Extremes and half precision
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LOSSES))
def test_logits_of_1e4_give_finite_values_and_gradients(name):
    torch = pytest.importorskip("torch")
    z = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, -1e4]], requires_grad=True)
    y = torch.tensor([1, 0, 2])  # every sample confidently wrong
    out = LOSSES[name](z, y)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(z.grad).all()
    if name in CLOSED_FORMS:
        torch.testing.assert_close(getattr(grad, name)(z.detach(), y), z.grad)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_half_precision_runs_in_float32_and_keeps_dtype(name, dtype):
    torch = pytest.importorskip("torch")
    from conftest import _torch_lib

    lib = _torch_lib()
    z, y = logits_of(27), index_targets(28)
    rounded = lib.asarray(z, dtype).double().numpy()
    out = LOSSES[name](lib.asarray(z, dtype), torch.tensor(y), reduction="none")
    expected = LOSSES[name](rounded, y, reduction="none")
    ref.assert_result(lib, out, expected, dtype=dtype)


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------

BAD_OPTIONS = [
    (generalized_cross_entropy, {"q": 0.0}, r"`q` must be in \(0\.0, 1\.0\]; got q=0\.0\."),
    (generalized_cross_entropy, {"q": 1.5}, r"`q` must be in \(0\.0, 1\.0\]; got q=1\.5\."),
    (
        poly1_cross_entropy,
        {"epsilon": -2.0},
        r"`epsilon` must be in \[-1\.0, inf\); got epsilon=-2\.0\.",
    ),
    (poly1_cross_entropy, {"label_smoothing": 1.5}, r"`label_smoothing` must be in"),
    (symmetric_cross_entropy, {"alpha": -0.1}, r"`alpha` must be non-negative; got alpha=-0\.1\."),
    (
        symmetric_cross_entropy,
        {"log_zero": 0.0},
        r"`log_zero` must be in \(-inf, 0\.0\); got log_zero=0\.0\.",
    ),
    (bi_tempered_logistic_loss, {"t1": 1.2}, r"`t1` must be in \[0\.0, 1\.0\]; got t1=1\.2\."),
    (bi_tempered_logistic_loss, {"t2": 0.8}, r"`t2` must be in \[1\.0, inf\); got t2=0\.8\."),
    (
        bi_tempered_logistic_loss,
        {"num_iters": 0},
        r"`num_iters` must be at least 1; got num_iters=0\.",
    ),
]


@pytest.mark.parametrize(("fn", "kwargs", "message"), BAD_OPTIONS)
def test_bad_options_are_refused_with_the_argument_named(fn, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fn(logits_of(29), index_targets(30), **kwargs)


def test_wrong_types_and_labels_are_refused():
    z = logits_of(31)
    with pytest.raises(TypeError, match="`q` must be a number"):
        generalized_cross_entropy(z, index_targets(32), q="0.7")
    with pytest.raises(TypeError, match="`num_iters` must be an integer"):
        bi_tempered_logistic_loss(z, index_targets(32), num_iters=2.5)
    with pytest.raises(ValueError, match="class index 7 is out of range for 4 classes"):
        symmetric_cross_entropy(z, np.array([0, 1, 2, 3, 7, 0]))
    with pytest.raises(TypeError, match="`logits` must be a floating-point array"):
        poly1_cross_entropy(np.zeros((2, C), dtype=np.int64), np.array([0, 1]))
