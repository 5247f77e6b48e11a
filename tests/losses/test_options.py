"""Options of every loss: NumPy scalars, NaN and inf, and 0-d arrays traced by JAX or torch."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crossent
import reference as ref
from crossent import grad
from crossent.losses.ghm import ghm_weights

HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None

RNG = np.random.default_rng(0)
Z = 2.0 * RNG.standard_normal((6, 4))
Y_INDEX = np.array([0, 3, 1, -100, 2, 2])
Y_PROB = RNG.dirichlet(np.ones(4), size=6)
Y_BIN = RNG.integers(0, 2, size=(6, 4)).astype(np.float64)
P = 1 / (1 + np.exp(-Z))
Q = np.exp(Z) / np.exp(Z).sum(-1, keepdims=True)
LOSSES = np.abs(Z)


@dataclass(frozen=True)
class Option:
    """One option of one function: ``call(**{name: value})``, values drawn in [low, high]."""

    call: Callable[..., Any]
    name: str
    low: float
    high: float
    integral: bool = False

    def __repr__(self) -> str:  # readable test ids
        return f"{getattr(self.call, '__name__', 'call')}-{self.name}"


def _named(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    fn.__name__ = name
    return fn


SCE = _named("softmax_cross_entropy", lambda **o: crossent.softmax_cross_entropy(Z, Y_INDEX, **o))
SCE_P = _named(
    "softmax_cross_entropy_probs", lambda **o: crossent.softmax_cross_entropy(Z, Y_PROB, **o)
)
GSCE = _named("grad.softmax_cross_entropy", lambda **o: grad.softmax_cross_entropy(Z, Y_INDEX, **o))
CCE = _named(
    "categorical_cross_entropy", lambda **o: crossent.categorical_cross_entropy(Q, Y_INDEX, **o)
)
GCCE = _named(
    "grad.categorical_cross_entropy", lambda **o: grad.categorical_cross_entropy(Q, Y_PROB, **o)
)
SBCE = _named(
    "sigmoid_binary_cross_entropy", lambda **o: crossent.sigmoid_binary_cross_entropy(Z, Y_BIN, **o)
)
GSBCE = _named(
    "grad.sigmoid_binary_cross_entropy",
    lambda **o: grad.sigmoid_binary_cross_entropy(Z, Y_BIN, **o),
)
BCE = _named("binary_cross_entropy", lambda **o: crossent.binary_cross_entropy(P, Y_BIN, **o))
GBCE = _named("grad.binary_cross_entropy", lambda **o: grad.binary_cross_entropy(P, Y_BIN, **o))
SFL = _named("sigmoid_focal_loss", lambda **o: crossent.sigmoid_focal_loss(Z, Y_BIN, **o))
GSFL = _named("grad.sigmoid_focal_loss", lambda **o: grad.sigmoid_focal_loss(Z, Y_BIN, **o))
SMFL = _named("softmax_focal_loss", lambda **o: crossent.softmax_focal_loss(Z, Y_INDEX, **o))
GSMFL = _named("grad.softmax_focal_loss", lambda **o: grad.softmax_focal_loss(Z, Y_PROB, **o))
ASL = _named("asymmetric_loss", lambda **o: crossent.asymmetric_loss(Z, Y_BIN, **o))
GASL = _named("grad.asymmetric_loss", lambda **o: grad.asymmetric_loss(Z, Y_BIN, **o))
GHM = _named("ghm_classification_loss", lambda **o: crossent.ghm_classification_loss(Z, Y_BIN, **o))
GHMW = _named("ghm_weights", lambda **o: ghm_weights(Z, Y_BIN, **o))
GHMC = _named("GHMC", lambda **o: crossent.GHMC(**o)(Z, Y_BIN))
HNM = _named(
    "hard_negative_mining", lambda **o: crossent.hard_negative_mining(LOSSES, Y_BIN > 0, **o)
)
OHEM = _named("ohem", lambda **o: crossent.ohem(LOSSES, **o))
CBW = _named(
    "class_balanced_weights",
    lambda **o: crossent.class_balanced_weights(np.array([900, 90, 9]), **o),
)
ENT = _named("entropy", lambda **o: crossent.entropy(Q, **o))
KL = _named("kl_divergence", lambda **o: crossent.kl_divergence(Y_PROB, Q, **o))

OPTIONS = [
    Option(SCE, "label_smoothing", 0.0, 1.0),
    Option(SCE, "z_loss", 0.0, 1.0),
    Option(SCE, "logit_softcap", 0.5, 50.0),
    Option(SCE, "ignore_index", -100, -100, integral=True),
    Option(SCE, "axis", -1, -1, integral=True),
    Option(SCE, "axis", 1, 1, integral=True),
    Option(SCE_P, "label_smoothing", 0.0, 1.0),
    Option(GSCE, "label_smoothing", 0.0, 1.0),
    Option(GSCE, "z_loss", 0.0, 1.0),
    Option(GSCE, "logit_softcap", 0.5, 50.0),
    Option(GSCE, "ignore_index", -100, -100, integral=True),
    Option(CCE, "eps", 1e-12, 0.5),
    Option(CCE, "ignore_index", -100, -100, integral=True),
    Option(GCCE, "eps", 1e-12, 0.5),
    Option(SBCE, "label_smoothing", 0.0, 1.0),
    Option(GSBCE, "label_smoothing", 0.0, 1.0),
    Option(BCE, "eps", 1e-12, 0.5),
    Option(GBCE, "eps", 1e-12, 0.5),
    Option(SFL, "alpha", 0.0, 1.0),
    Option(SFL, "gamma", 0.0, 5.0),
    Option(GSFL, "alpha", 0.0, 1.0),
    Option(GSFL, "gamma", 0.0, 5.0),
    Option(SMFL, "alpha", 0.0, 3.0),
    Option(SMFL, "gamma", 0.0, 5.0),
    Option(SMFL, "ignore_index", -100, -100, integral=True),
    Option(GSMFL, "alpha", 0.0, 3.0),
    Option(GSMFL, "gamma", 0.0, 5.0),
    Option(ASL, "gamma_pos", 0.0, 5.0),
    Option(ASL, "gamma_neg", 0.0, 5.0),
    Option(ASL, "clip", 0.0, 0.9),
    Option(GASL, "gamma_pos", 0.0, 5.0),
    Option(GASL, "gamma_neg", 0.0, 5.0),
    Option(GASL, "clip", 0.0, 0.9),
    Option(GHM, "bins", 1, 30, integral=True),
    Option(GHMW, "bins", 1, 30, integral=True),
    Option(GHMC, "bins", 1, 30, integral=True),
    Option(GHMC, "momentum", 0.0, 0.99),
    Option(HNM, "neg_pos_ratio", 0.0, 5.0),
    Option(HNM, "min_negatives", 0, 4, integral=True),
    Option(OHEM, "k", 0, 4, integral=True),
    Option(OHEM, "fraction", 0.01, 1.0),
    Option(CBW, "beta", 0.0, 1.0),
    Option(ENT, "base", 1.5, 10.0),
    Option(KL, "base", 1.5, 10.0),
]

FLOAT_TYPES = [np.float16, np.float32, np.float64]
INT_TYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16]


def _as_numpy(value: float | int, numpy_type: type) -> Any:
    return numpy_type(value)


@pytest.mark.parametrize("option", OPTIONS, ids=repr)
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_a_numpy_scalar_option_gives_the_python_scalar_result(option, data):
    if option.integral:
        value = data.draw(st.integers(int(option.low), int(option.high)))
        kinds = [t for t in INT_TYPES if value >= 0 or np.issubdtype(t, np.signedinteger)]
        numpy_value = _as_numpy(value, data.draw(st.sampled_from(kinds)))
        python_value: Any = int(numpy_value)
    else:
        value = data.draw(st.floats(option.low, option.high))
        numpy_value = _as_numpy(value, data.draw(st.sampled_from(FLOAT_TYPES)))
        python_value = float(numpy_value)
        if not option.low <= python_value <= option.high:  # float16 rounding left the range
            return
    expected = option.call(**{option.name: python_value})
    got = option.call(**{option.name: numpy_value})
    assert type(got) is type(expected) and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


FLOAT_OPTIONS = [o for o in OPTIONS if not o.integral]


@pytest.mark.parametrize("option", FLOAT_OPTIONS, ids=repr)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinite_options_are_value_errors(option, bad):
    with pytest.raises(ValueError, match=rf"^`{option.name}` must be .*; got {option.name}="):
        option.call(**{option.name: bad})


@pytest.mark.parametrize("option", OPTIONS, ids=repr)
@pytest.mark.parametrize("bad", [True, np.bool_(False), "0.1"])
def test_booleans_and_strings_are_type_errors(option, bad):
    if option.name == "base" and isinstance(bad, (bool, np.bool_, str)):
        with pytest.raises(ValueError, match="`base` must be None"):
            option.call(**{option.name: bad})
        return
    with pytest.raises(TypeError, match=rf"^`{option.name}` must be"):
        option.call(**{option.name: bad})


def test_z_loss_nan_and_label_smoothing_nan_are_value_errors():
    with pytest.raises(ValueError, match=r"^`z_loss` must be non-negative; got z_loss=nan\.$"):
        crossent.softmax_cross_entropy(Z, Y_INDEX, z_loss=math.nan)
    with pytest.raises(ValueError, match=r"^`z_loss` must be finite; got z_loss=inf\.$"):
        crossent.softmax_cross_entropy(Z, Y_INDEX, z_loss=math.inf)
    with pytest.raises(
        ValueError, match=r"^`label_smoothing` must be in \[0.0, 1.0\]; got label_smoothing=nan\.$"
    ):
        crossent.softmax_cross_entropy(Z, Y_INDEX, label_smoothing=math.nan)


WEIGHTED = [
    ("weight", lambda w: crossent.softmax_cross_entropy(Z, Y_INDEX, weight=w)),
    ("weight", lambda w: crossent.softmax_cross_entropy(Z, Y_PROB, weight=w)),
    ("weight", lambda w: crossent.categorical_cross_entropy(Q, Y_INDEX, weight=w)),
    ("weight", lambda w: grad.softmax_cross_entropy(Z, Y_INDEX, weight=w)),
    ("alpha", lambda w: crossent.softmax_focal_loss(Z, Y_INDEX, alpha=w)),
    ("alpha", lambda w: grad.softmax_focal_loss(Z, Y_INDEX, alpha=w)),
    ("pos_weight", lambda w: crossent.sigmoid_binary_cross_entropy(Z, Y_BIN, pos_weight=w)),
    ("pos_weight", lambda w: grad.sigmoid_binary_cross_entropy(Z, Y_BIN, pos_weight=w)),
]


@pytest.mark.parametrize(("name", "call"), WEIGHTED)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_class_weights_must_be_finite_and_non_negative(name, call, bad):
    w = np.array([1.0, 2.0, bad, 1.0])
    with pytest.raises(
        ValueError, match=rf"^`{name}` must be non-negative and finite; got {name}\[2\]="
    ):
        call(w)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_class_weights_are_checked_on_every_library(xp, bad):
    w = xp.asarray([1.0, bad, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"`weight` must be non-negative and finite"):
        crossent.softmax_cross_entropy(xp.asarray(Z), xp.asarray(Y_INDEX, "int64"), weight=w)


# ---------------------------------------------------------------------------------------
# 0-d arrays: hyper-parameters traced by jax.jit / jax.grad, tensors that require grad
# ---------------------------------------------------------------------------------------

TRACEABLE = [o for o in FLOAT_OPTIONS if o.call not in (GHMC, OHEM, CBW, HNM, ENT, KL)]


@pytest.mark.skipif(not HAS_JAX, reason="needs JAX")
@pytest.mark.parametrize("option", TRACEABLE, ids=repr)
def test_a_hyper_parameter_traced_by_jit_gives_the_eager_result(option):
    import jax

    value = option.low + 0.37 * (option.high - option.low)
    expected = np.asarray(option.call(**{option.name: value}))
    jitted = jax.jit(lambda v: _jax_call(option, v))
    np.testing.assert_allclose(np.asarray(jitted(value)), expected, rtol=1e-12, atol=1e-14)


def _jax_call(option: Option, value: Any) -> Any:
    """``option.call`` on JAX copies of the module's NumPy inputs."""
    import jax.numpy as jnp

    name = option.call.__name__
    fn = {
        "softmax_cross_entropy": lambda **o: crossent.softmax_cross_entropy(
            jnp.asarray(Z), jnp.asarray(Y_INDEX), **o
        ),
        "softmax_cross_entropy_probs": lambda **o: crossent.softmax_cross_entropy(
            jnp.asarray(Z), jnp.asarray(Y_PROB), **o
        ),
        "grad.softmax_cross_entropy": lambda **o: grad.softmax_cross_entropy(
            jnp.asarray(Z), jnp.asarray(Y_INDEX), **o
        ),
        "categorical_cross_entropy": lambda **o: crossent.categorical_cross_entropy(
            jnp.asarray(Q), jnp.asarray(Y_INDEX), **o
        ),
        "grad.categorical_cross_entropy": lambda **o: grad.categorical_cross_entropy(
            jnp.asarray(Q), jnp.asarray(Y_PROB), **o
        ),
        "sigmoid_binary_cross_entropy": lambda **o: crossent.sigmoid_binary_cross_entropy(
            jnp.asarray(Z), jnp.asarray(Y_BIN), **o
        ),
        "grad.sigmoid_binary_cross_entropy": lambda **o: grad.sigmoid_binary_cross_entropy(
            jnp.asarray(Z), jnp.asarray(Y_BIN), **o
        ),
        "binary_cross_entropy": lambda **o: crossent.binary_cross_entropy(
            jnp.asarray(P), jnp.asarray(Y_BIN), **o
        ),
        "grad.binary_cross_entropy": lambda **o: grad.binary_cross_entropy(
            jnp.asarray(P), jnp.asarray(Y_BIN), **o
        ),
        "sigmoid_focal_loss": lambda **o: crossent.sigmoid_focal_loss(
            jnp.asarray(Z), jnp.asarray(Y_BIN), **o
        ),
        "grad.sigmoid_focal_loss": lambda **o: grad.sigmoid_focal_loss(
            jnp.asarray(Z), jnp.asarray(Y_BIN), **o
        ),
        "softmax_focal_loss": lambda **o: crossent.softmax_focal_loss(
            jnp.asarray(Z), jnp.asarray(Y_INDEX), **o
        ),
        "grad.softmax_focal_loss": lambda **o: grad.softmax_focal_loss(
            jnp.asarray(Z), jnp.asarray(Y_PROB), **o
        ),
        "asymmetric_loss": lambda **o: crossent.asymmetric_loss(
            jnp.asarray(Z), jnp.asarray(Y_BIN), **o
        ),
        "grad.asymmetric_loss": lambda **o: grad.asymmetric_loss(
            jnp.asarray(Z), jnp.asarray(Y_BIN), **o
        ),
    }[name]
    return fn(**{option.name: value})


@pytest.mark.skipif(not HAS_JAX, reason="needs JAX")
@pytest.mark.parametrize("option", TRACEABLE, ids=repr)
def test_a_hyper_parameter_at_zero_or_its_bound_under_jit(option):
    # A traced option can be 0 without the code knowing: the general path must agree there.
    import jax

    jitted = jax.jit(lambda v: _jax_call(option, v))
    for value in (option.low, option.high):
        expected = np.asarray(option.call(**{option.name: value}))
        np.testing.assert_allclose(np.asarray(jitted(value)), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(not HAS_JAX, reason="needs JAX")
@pytest.mark.parametrize(
    ("fn", "name", "at"),
    [
        (lambda v: _jax_call(Option(SFL, "gamma", 0, 5), v), "gamma", 2.0),
        (lambda v: _jax_call(Option(SFL, "gamma", 0, 5), v), "gamma", 0.0),
        (lambda v: _jax_call(Option(SFL, "alpha", 0, 1), v), "alpha", 0.25),
        (lambda v: _jax_call(Option(SMFL, "gamma", 0, 5), v), "gamma", 2.0),
        (lambda v: _jax_call(Option(ASL, "gamma_neg", 0, 5), v), "gamma_neg", 4.0),
        (lambda v: _jax_call(Option(SCE, "label_smoothing", 0, 1), v), "label_smoothing", 0.1),
        (lambda v: _jax_call(Option(SCE, "z_loss", 0, 1), v), "z_loss", 0.01),
        (lambda v: _jax_call(Option(SCE, "logit_softcap", 0.5, 50), v), "logit_softcap", 3.0),
    ],
)
def test_jax_grad_with_respect_to_a_hyper_parameter_matches_finite_differences(fn, name, at):
    import jax

    derivative = float(jax.grad(fn)(at))
    h = 1e-6
    if at == 0.0:  # one-sided at the bound
        numeric = (float(fn(at + h)) - float(fn(at))) / h
        np.testing.assert_allclose(derivative, numeric, rtol=1e-4, atol=1e-6)
    else:
        numeric = (float(fn(at + h)) - float(fn(at - h))) / (2 * h)
        np.testing.assert_allclose(derivative, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.skipif(not HAS_JAX, reason="needs JAX")
def test_jax_grad_with_respect_to_gamma_matches_the_closed_form():
    # d/dγ of -α_t (1 - p_t)^γ log p_t is -α_t (1 - p_t)^γ log(1 - p_t) log p_t (binary targets).
    import jax

    p_t = np.where(Y_BIN == 1, P, 1 - P)
    alpha_t = np.where(Y_BIN == 1, 0.25, 0.75)
    closed = np.mean(-alpha_t * (1 - p_t) ** 2 * np.log1p(-p_t) * np.log(p_t))
    derivative = jax.grad(lambda g: _jax_call(Option(SFL, "gamma", 0, 5), g))(2.0)
    np.testing.assert_allclose(float(derivative), closed, rtol=1e-10)


@pytest.mark.skipif(not HAS_TORCH, reason="needs PyTorch")
def test_torch_gamma_tensor_that_requires_grad_gets_its_gradient():
    import torch

    z, y = torch.tensor(Z), torch.tensor(Y_BIN)
    gamma = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    loss = crossent.sigmoid_focal_loss(z, y, gamma=gamma)
    loss.backward()
    assert gamma.grad is not None
    h = 1e-6
    numeric = (
        float(crossent.sigmoid_focal_loss(z, y, gamma=2.0 + h))
        - float(crossent.sigmoid_focal_loss(z, y, gamma=2.0 - h))
    ) / (2 * h)
    np.testing.assert_allclose(float(gamma.grad), numeric, rtol=1e-6)


def test_a_0d_array_option_equals_the_number(xp):
    z, y = xp.asarray(Z), xp.asarray(Y_INDEX, "int64")
    for name, value in [("label_smoothing", 0.2), ("z_loss", 0.01), ("logit_softcap", 4.0)]:
        with_array = crossent.softmax_cross_entropy(z, y, **{name: xp.asarray(value)})
        ref.assert_result(
            xp, with_array, xp.to_numpy(crossent.softmax_cross_entropy(z, y, **{name: value}))
        )
    focal = crossent.softmax_focal_loss(z, y, alpha=xp.asarray(0.5), gamma=xp.asarray(1.5))
    ref.assert_result(
        xp, focal, xp.to_numpy(crossent.softmax_focal_loss(z, y, alpha=0.5, gamma=1.5))
    )


def test_a_0d_array_option_is_checked_where_its_value_is_known(xp):
    z, y = xp.asarray(Z), xp.asarray(Y_INDEX, "int64")
    with pytest.raises(
        ValueError, match=r"^`label_smoothing` must be in \[0.0, 1.0\]; got label_smoothing=1.5\.$"
    ):
        crossent.softmax_cross_entropy(z, y, label_smoothing=xp.asarray(1.5))
    with pytest.raises(ValueError, match=r"^`gamma` must be non-negative; got gamma=-1.0\.$"):
        crossent.softmax_focal_loss(z, y, gamma=xp.asarray(-1.0))
    with pytest.raises(
        ValueError,
        match=r"^`z_loss` must be a number or a 0-d array; got an array of shape \(2,\)\.$",
    ):
        crossent.softmax_cross_entropy(z, y, z_loss=xp.asarray([0.1, 0.2]))
    with pytest.raises(
        TypeError, match=r"^`gamma` must be a real number; got an array of dtype bool\.$"
    ):
        crossent.sigmoid_focal_loss(
            xp.asarray(Z), xp.asarray(Y_BIN), gamma=xp.asarray(True, "bool")
        )


@pytest.mark.skipif(not HAS_TORCH, reason="needs PyTorch")
def test_a_0d_array_of_another_library_is_a_type_error():
    import torch

    with pytest.raises(
        TypeError,
        match=r"^`gamma` must be a number or a 0-d array of the inputs' array library; got torch.Tensor\.$",
    ):
        crossent.sigmoid_focal_loss(Z, Y_BIN, gamma=torch.tensor(2.0))
