"""Information measures: naive references, SciPy, properties, autograd and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.special
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import crossent
import reference as ref
from crossent import info

LN2 = math.log(2)
BASES = [None, 2, 10]
SHAPE = (6, 4)
"""One shape for most tests: JAX compiles each operation once per shape."""


def distributions(rng: np.random.Generator, shape: tuple[int, ...], *, zeros: bool = True):
    """Random distributions along the last axis, some entries exactly 0."""
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    if zeros:
        p = np.where(rng.random(p.shape) < 0.2, 0.0, p)
        p[..., 0] += 1e-3  # every row keeps some mass
        p /= p.sum(axis=-1, keepdims=True)
    return p


def pair(seed: int, axis: int, *, zeros_in_q: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``p`` (with zeros) and ``q`` of shape SHAPE, distributions along ``axis`` (-1 or 0)."""
    rng = np.random.default_rng(seed)
    shape = SHAPE if axis == -1 else SHAPE[::-1]
    p, q = distributions(rng, shape), distributions(rng, shape, zeros=zeros_in_q)
    return (p, q) if axis == -1 else (p.T, q.T)


# ---------------------------------------------------------------------------------------
# Values against the naive reference, on every array library
# ---------------------------------------------------------------------------------------


def test_self_information(xp):
    p = distributions(np.random.default_rng(0), SHAPE, zeros=False)
    p[0, :2] = [1.0, 1e-300]
    for base in BASES:
        out = crossent.self_information(xp.asarray(p), base=base)
        ref.assert_result(xp, out, ref.self_information(p, base=base))


def test_self_information_of_impossible_and_certain_events(xp):
    p = np.tile([0.0, 1.0, 0.5, 0.25], (SHAPE[0], 1))
    out = info.self_information(xp.asarray(p), base=2)
    ref.assert_result(xp, out, np.tile([math.inf, 0.0, 1.0, 2.0], (SHAPE[0], 1)))


@pytest.mark.parametrize("axis", [-1, 0])
def test_entropy(xp, axis):
    p = distributions(np.random.default_rng(0), SHAPE)
    if axis == 0:
        p = distributions(np.random.default_rng(0), SHAPE[::-1]).T
    for base in BASES:
        out = crossent.entropy(xp.asarray(p), axis=axis, base=base)
        ref.assert_result(xp, out, ref.entropy(p, axis=axis, base=base))


def test_entropy_of_a_3d_array_along_the_middle_axis(xp):
    p = np.moveaxis(distributions(np.random.default_rng(0), (2, 3, 5)), -1, 1)
    out = crossent.entropy(xp.asarray(p), axis=1, base=2)
    ref.assert_result(xp, out, ref.entropy(p, axis=1, base=2))


def test_entropy_zero_log_zero_is_zero(xp):
    p = np.array(
        [[1, 0, 0, 0], [0.5, 0.5, 0, 0], [0, 0.5, 0, 0.5], [0.25] * 4, [0, 0, 0, 1], [0, 1, 0, 0]]
    )
    out = info.entropy(xp.asarray(p), base=2)
    ref.assert_result(xp, out, [0.0, 1.0, 1.0, 2.0, 0.0, 0.0])


def test_binary_entropy(xp):
    p = np.random.default_rng(0).random(SHAPE)
    p[0] = [0.0, 1e-12, 0.5, 1.0]
    for base in BASES:
        out = crossent.binary_entropy(xp.asarray(p), base=base)
        ref.assert_result(xp, out, ref.binary_entropy(p, base=base))


def test_binary_entropy_peaks_at_one_half():
    p = np.linspace(0, 1, 101)
    out = info.binary_entropy(p, base=2)
    assert int(np.argmax(out)) == 50
    assert out[50] == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("axis", [-1, 0])
def test_cross_entropy(xp, axis):
    p, q = pair(1, axis)
    for base in BASES:
        out = crossent.cross_entropy(xp.asarray(p), xp.asarray(q), axis=axis, base=base)
        ref.assert_result(xp, out, ref.cross_entropy(p, q, axis=axis, base=base))


@pytest.mark.parametrize("axis", [-1, 0])
def test_kl_divergence(xp, axis):
    p, q = pair(2, axis)
    for base in BASES:
        out = crossent.kl_divergence(xp.asarray(p), xp.asarray(q), axis=axis, base=base)
        ref.assert_result(xp, out, ref.kl_divergence(p, q, axis=axis, base=base))


@pytest.mark.parametrize("axis", [-1, 0])
def test_js_divergence(xp, axis):
    p, q = pair(3, axis, zeros_in_q=True)
    for base in BASES:
        out = crossent.js_divergence(xp.asarray(p), xp.asarray(q), axis=axis, base=base)
        ref.assert_result(xp, out, ref.js_divergence(p, q, axis=axis, base=base))


def test_q_zero_where_p_positive_is_inf(xp):
    rows = SHAPE[0] // 2
    p = np.tile([[0.5, 0.5, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]], (rows, 1))
    q = np.tile([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]], (rows, 1))
    inf_then_zero = np.tile([math.inf, 0.0], rows)
    ref.assert_result(xp, info.cross_entropy(xp.asarray(p), xp.asarray(q)), inf_then_zero)
    ref.assert_result(xp, info.kl_divergence(xp.asarray(p), xp.asarray(q)), inf_then_zero)
    # JS stays finite: the mixture m is positive wherever p or q is.
    js = info.js_divergence(xp.asarray(p), xp.asarray(q))
    ref.assert_result(xp, js, np.tile([ref.js_divergence(p[0], q[0]), 0.0], rows))


def test_js_of_disjoint_supports_is_one_bit(xp):
    p = np.tile([0.5, 0.5, 0.0, 0.0], (SHAPE[0], 1))
    out = info.js_divergence(xp.asarray(p), xp.asarray(p[:, ::-1].copy()), base=2)
    ref.assert_result(xp, out, np.ones(SHAPE[0]))


def test_perplexity(xp):
    rng = np.random.default_rng(4)
    p = np.eye(SHAPE[1])[rng.integers(0, SHAPE[1], size=SHAPE[0])]
    q = distributions(rng, SHAPE, zeros=False)
    out = crossent.perplexity(xp.asarray(p), xp.asarray(q))
    ref.assert_result(xp, out, np.exp(np.mean(ref.cross_entropy(p, q))))
    die = crossent.perplexity(xp.asarray(np.full(6, 1 / 6)))
    ref.assert_result(xp, die, 6.0)


def test_claim_c1_worked_example():
    p, q = np.array([1.0, 0.0, 0.0]), np.array([0.7, 0.2, 0.1])
    assert float(info.kl_divergence(p, q)) == pytest.approx(-math.log(0.7), rel=1e-15)
    assert float(info.cross_entropy(p, q)) == pytest.approx(-math.log(0.7), rel=1e-15)


def test_integer_probabilities_are_accepted(xp):
    # One-hot integer arrays are probabilities too, computed in the library's default float
    # (torch: float32; JAX: float64 here, as conftest enables x64).
    p = np.eye(SHAPE[1], dtype=np.int64)[np.arange(SHAPE[0]) % SHAPE[1]]
    out = info.entropy(xp.asarray(p, "int64"))
    default_float = "float32" if xp.name == "torch" else "float64"
    ref.assert_result(xp, out, np.zeros(SHAPE[0]), dtype=default_float)


# ---------------------------------------------------------------------------------------
# Half precision: computed in float32, returned in the input dtype
# ---------------------------------------------------------------------------------------


def test_low_precision_keeps_dtype(xp):
    # NumPy has no bfloat16.
    for dtype in ["float32", "float16"] + ([] if xp.name == "numpy" else ["bfloat16"]):
        check_low_precision(xp, dtype)


def check_low_precision(xp, dtype):
    rng = np.random.default_rng(5)
    p = distributions(rng, SHAPE)
    q = distributions(rng, SHAPE, zeros=False)
    # The reference is computed on the values the library actually sees (rounded inputs).
    p_in, q_in = xp.asarray(p, dtype), xp.asarray(q, dtype)
    p_seen, q_seen = xp.to_numpy(p_in), xp.to_numpy(q_in)
    cases = [
        (info.entropy(p_in), ref.entropy(p_seen)),
        (info.cross_entropy(p_in, q_in), ref.cross_entropy(p_seen, q_seen)),
        (info.kl_divergence(p_in, q_in), ref.kl_divergence(p_seen, q_seen)),
        (info.js_divergence(p_in, q_in), ref.js_divergence(p_seen, q_seen)),
        (info.binary_entropy(p_in), ref.binary_entropy(p_seen)),
        (info.self_information(q_in), ref.self_information(q_seen)),
    ]
    for out, expected in cases:
        ref.assert_result(xp, out, expected, dtype=dtype)


# ---------------------------------------------------------------------------------------
# Cross-checks with SciPy
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("base", BASES)
def test_entropy_matches_scipy(base):
    p = distributions(np.random.default_rng(6), (7, 9))
    expected = scipy.stats.entropy(p, base=base, axis=-1)
    np.testing.assert_allclose(info.entropy(p, base=base), expected, rtol=1e-14, atol=1e-15)
    entr = scipy.special.entr(p).sum(axis=-1) / ref._log_base(base)
    np.testing.assert_allclose(info.entropy(p, base=base), entr, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("base", BASES)
def test_kl_and_cross_entropy_match_scipy(base):
    rng = np.random.default_rng(7)
    p, q = distributions(rng, (7, 9)), distributions(rng, (7, 9), zeros=False)
    kl = info.kl_divergence(p, q, base=base)
    rel_entr = scipy.special.rel_entr(p, q).sum(axis=-1) / ref._log_base(base)
    np.testing.assert_allclose(kl, rel_entr, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(
        kl, scipy.stats.entropy(p, q, base=base, axis=-1), rtol=1e-12, atol=1e-15
    )
    h = info.cross_entropy(p, q, base=base)
    np.testing.assert_allclose(
        h, scipy.stats.entropy(p, base=base, axis=-1) + rel_entr, rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize("base", BASES)
def test_js_matches_scipy_jensenshannon_squared(base):
    rng = np.random.default_rng(8)
    p, q = distributions(rng, (6, 5)), distributions(rng, (6, 5))
    distance = scipy.spatial.distance.jensenshannon(p, q, axis=-1, base=base)
    np.testing.assert_allclose(info.js_divergence(p, q, base=base), distance**2, rtol=1e-12)


def test_kl_equals_cross_entropy_for_one_hot_p():
    rng = np.random.default_rng(9)
    p, q = np.eye(4)[rng.integers(0, 4, 10)], distributions(rng, (10, 4), zeros=False)
    np.testing.assert_allclose(info.kl_divergence(p, q), info.cross_entropy(p, q), rtol=1e-15)


# ---------------------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------------------


@st.composite
def distribution_pairs(draw, *, zeros_in_q: bool = False):
    n = draw(st.integers(2, 6))
    raw = st.floats(0.0, 1.0, allow_nan=False)
    p = draw(arrays(np.float64, n, elements=raw))
    q = draw(arrays(np.float64, n, elements=raw))
    p = p + 1e-3 * (p.sum() == 0)
    q = q + (1e-3 if zeros_in_q else 1e-6)
    return p / p.sum(), q / q.sum()


@settings(max_examples=60, deadline=None)
@given(distribution_pairs())
def test_kl_non_negative_and_zero_only_at_p(pq):
    p, q = pq
    assert float(info.kl_divergence(p, q)) >= -1e-15
    assert float(info.kl_divergence(p, p)) == 0.0
    if np.max(np.abs(p - q)) > 1e-3:
        assert float(info.kl_divergence(p, q)) > 0


@settings(max_examples=60, deadline=None)
@given(distribution_pairs())
def test_cross_entropy_is_entropy_plus_kl(pq):
    p, q = pq
    h_pq = float(info.cross_entropy(p, q))
    h_p, kl = float(info.entropy(p)), float(info.kl_divergence(p, q))
    assert h_pq == pytest.approx(h_p + kl, rel=1e-12, abs=1e-12)
    assert h_pq >= h_p - 1e-12


@settings(max_examples=60, deadline=None)
@given(distribution_pairs(zeros_in_q=True))
def test_js_symmetric_and_bounded(pq):
    p, q = pq
    js_pq, js_qp = float(info.js_divergence(p, q)), float(info.js_divergence(q, p))
    assert js_pq == pytest.approx(js_qp, rel=1e-12, abs=1e-15)
    assert -1e-15 <= js_pq <= LN2 + 1e-12
    assert float(info.js_divergence(p, q, base=2)) <= 1 + 1e-12


@settings(max_examples=30, deadline=None)
@given(distribution_pairs(), st.sampled_from([2, 10, 3.5]))
def test_base_is_a_change_of_unit(pq, base):
    p, q = pq
    for f in (info.kl_divergence, info.cross_entropy, info.js_divergence):
        assert float(f(p, q, base=base)) == pytest.approx(
            float(f(p, q)) / math.log(base), rel=1e-12, abs=1e-15
        )


# ---------------------------------------------------------------------------------------
# Autograd and jit
# ---------------------------------------------------------------------------------------


def test_torch_autograd_through_kl():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    p, q = distributions(rng, SHAPE), distributions(rng, SHAPE, zeros=False)
    q_t = torch.tensor(q, requires_grad=True)
    info.kl_divergence(torch.tensor(p), q_t).sum().backward()
    assert q_t.grad is not None
    # d/dq Σ p log(p/q) = -p/q
    np.testing.assert_allclose(q_t.grad.numpy(), -p / q, rtol=1e-12)


def test_torch_autograd_entropy_with_zeros_is_finite():
    torch = pytest.importorskip("torch")
    p = torch.tensor([0.0, 0.25, 0.75], dtype=torch.float64, requires_grad=True)
    info.entropy(p).backward()
    assert p.grad is not None
    assert bool(torch.isfinite(p.grad[1:]).all())


def test_autograd_where_p_and_q_are_both_zero_is_not_nan():
    torch = pytest.importorskip("torch")
    p = torch.tensor([0.0, 0.5, 0.5, 0.0], dtype=torch.float64)
    q = torch.tensor([0.0, 0.25, 0.75, 0.0], dtype=torch.float64, requires_grad=True)
    (info.kl_divergence(p, q) + info.cross_entropy(p, q)).backward()
    assert q.grad is not None
    np.testing.assert_allclose(q.grad.numpy(), [0.0, -4.0, -4 / 3, 0.0], rtol=1e-14)


def test_jax_grad_and_jit_through_measures():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    rng = np.random.default_rng(11)
    p, q = distributions(rng, SHAPE), distributions(rng, SHAPE, zeros=False)
    g = jax.grad(lambda q_: jnp.sum(info.kl_divergence(jnp.asarray(p), q_)))(jnp.asarray(q))
    np.testing.assert_allclose(np.asarray(g), -p / q, rtol=1e-12)
    jitted = jax.jit(lambda a, b: info.js_divergence(a, b, base=2))
    np.testing.assert_allclose(
        np.asarray(jitted(jnp.asarray(p), jnp.asarray(q))),
        ref.js_divergence(p, q, base=2),
        rtol=1e-12,
    )
    h = jax.jit(info.entropy)(jnp.asarray(p))
    np.testing.assert_allclose(np.asarray(h), ref.entropy(p), rtol=1e-12)


# ---------------------------------------------------------------------------------------
# Errors, one test per message
# ---------------------------------------------------------------------------------------


def test_error_probability_outside_unit_interval(xp):
    with pytest.raises(ValueError, match=r"`p` must hold probabilities in \[0, 1\]; got 1.5"):
        info.entropy(xp.asarray([1.5, -0.5]))
    with pytest.raises(ValueError, match=r"`q` must hold probabilities in \[0, 1\]; got -0.1"):
        info.kl_divergence(xp.asarray([0.5, 0.5]), xp.asarray([-0.1, 1.1]))


def test_error_nan_probability(xp):
    with pytest.raises(ValueError, match=r"`p` must hold probabilities in \[0, 1\]; got nan"):
        info.binary_entropy(xp.asarray([0.5, math.nan]))


def test_error_shape_mismatch(xp):
    with pytest.raises(ValueError, match=r"`q` must have the shape of `p`, \(2, 3\); got \(3,\)"):
        info.cross_entropy(xp.asarray(np.full((2, 3), 1 / 3)), xp.asarray(np.full(3, 1 / 3)))


@pytest.mark.parametrize("base", [1, 0, -2, "2", True])
def test_error_bad_base(base):
    with pytest.raises(ValueError, match=r"`base` must be None \(nats\), 2 \(bits\), 10"):
        info.entropy(np.array([0.5, 0.5]), base=base)


def test_error_bad_axis(xp):
    with pytest.raises(
        ValueError, match=r"`axis` must be in \[-2, 1\] for a 2-d input; got axis=2"
    ):
        info.entropy(xp.asarray(np.full((2, 2), 0.5)), axis=2)


def test_error_axis_not_an_integer():
    with pytest.raises(TypeError, match=r"`axis` must be an integer; got axis=1.0"):
        info.entropy(np.array([0.5, 0.5]), axis=1.0)


def test_error_scalar_has_no_axis(xp):
    with pytest.raises(ValueError, match=r"`axis`: the input is a scalar, it has no class axis"):
        info.entropy(xp.asarray(0.5))


def test_error_non_float_dtype(xp):
    with pytest.raises(TypeError, match=r"`p` must be a floating-point array; got dtype bool"):
        info.entropy(xp.asarray([True, False], "bool"))


def test_error_not_an_array():
    with pytest.raises(TypeError, match=r"`p` must be an array \(NumPy, PyTorch or JAX\)"):
        info.entropy("0.5")


def test_error_mixed_array_libraries():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"all array arguments must come from one array library"):
        info.kl_divergence(np.array([0.5, 0.5]), torch.tensor([0.5, 0.5]))
