"""Every validation message of crossent._checks, one test per message."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from crossent import _array, _checks

N, C = 6, 4


def ns(x):
    return _array.namespace(x)


def test_reduction():
    for value in ("none", "mean", "sum"):
        assert _checks.reduction(value) == value
    with pytest.raises(
        ValueError,
        match=r"^`reduction` must be one of 'none', 'mean', 'sum'; got reduction='avg'\.$",
    ):
        _checks.reduction("avg")


@pytest.mark.parametrize("value", [None, 2, 10, 3.5, math.e])
def test_base_accepts(value):
    _checks.base(value)


@pytest.mark.parametrize("value", [1, 1.0, 0, -2, "2", True, math.nan])
def test_base_rejects(value):
    expected = (
        "`base` must be None (nats), 2 (bits), 10 or another positive number other than 1; "
        f"got base={value!r}."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        _checks.base(value)


def test_number_in():
    assert _checks.number_in("label_smoothing", 0.5, 0.0, 1.0) == 0.5
    assert _checks.number_in("label_smoothing", 1, 0.0, 1.0) == 1.0
    with pytest.raises(
        ValueError, match=r"^`label_smoothing` must be in \[0.0, 1.0\]; got label_smoothing=1.5\.$"
    ):
        _checks.number_in("label_smoothing", 1.5, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"^`eps` must be in \[0.0, 1.0\); got eps=1.0\.$"):
        _checks.number_in("eps", 1.0, 0.0, 1.0, high_open=True)
    with pytest.raises(ValueError, match=r"^`eps` must be in \(0.0, 1.0\); got eps=0.0\.$"):
        _checks.number_in("eps", 0.0, 0.0, 1.0, low_open=True, high_open=True)


@pytest.mark.parametrize("check", ["number_in", "non_negative", "positive"])
@pytest.mark.parametrize("value", ["0.1", None, True, np.bool_(True), np.zeros(1)])
def test_numbers_must_be_numbers(check, value):
    with pytest.raises(TypeError, match=r"^`gamma` must be a number; got gamma="):
        if check == "number_in":
            _checks.number_in("gamma", value, 0.0, 1.0)
        else:
            getattr(_checks, check)("gamma", value)


def test_non_negative():
    assert _checks.non_negative("gamma", 0) == 0.0
    with pytest.raises(ValueError, match=r"^`gamma` must be non-negative; got gamma=-1.0\.$"):
        _checks.non_negative("gamma", -1.0)


def test_positive():
    assert _checks.positive("logit_softcap", 30) == 30.0
    with pytest.raises(
        ValueError, match=r"^`logit_softcap` must be positive; got logit_softcap=0\.$"
    ):
        _checks.positive("logit_softcap", 0)


def test_integer():
    assert _checks.integer("ignore_index", -100) == -100
    for value in (1.0, True, "1", None):
        with pytest.raises(
            TypeError, match=r"^`ignore_index` must be an integer; got ignore_index="
        ):
            _checks.integer("ignore_index", value)


def test_floating(xp):
    _checks.floating(ns(xp.asarray(np.zeros(2))), "logits", xp.asarray(np.zeros(2)))
    x = xp.asarray(np.zeros(2), "int32")
    with pytest.raises(
        TypeError, match=r"^`logits` must be a floating-point array; got dtype int32\.$"
    ):
        _checks.floating(ns(x), "logits", x)


def test_bfloat16_is_floating():
    torch = pytest.importorskip("torch")
    x = torch.zeros(2, dtype=torch.bfloat16)
    _checks.floating(ns(x), "logits", x)


def test_axis():
    assert _checks.axis("axis", -1, 4) == 3
    assert _checks.axis("axis", 1, 4) == 1
    with pytest.raises(
        ValueError, match=r"^`axis` must be in \[-4, 3\] for a 4-d input; got axis=-5\.$"
    ):
        _checks.axis("axis", -5, 4)
    with pytest.raises(
        ValueError, match=r"^`axis`: the input is a scalar, it has no class axis\.$"
    ):
        _checks.axis("axis", -1, 0)
    with pytest.raises(TypeError, match=r"^`axis` must be an integer; got axis=None\.$"):
        _checks.axis("axis", None, 2)


def test_same_shape():
    _checks.same_shape("targets", (N,), (N,), "class indices")
    with pytest.raises(
        ValueError, match=r"^`targets` must have shape \(6,\) \(class indices\); got \(6, 1\)\.$"
    ):
        _checks.same_shape("targets", (N, 1), (N,), "class indices")


def test_broadcastable():
    for shape in [(), (C,), (1, C), (N, 1), (N, C)]:
        _checks.broadcastable("weight", shape, (N, C))
    for shape in [(N,), (2, N, C), (C, N)]:
        with pytest.raises(
            ValueError,
            match=r"^`weight` of shape .* does not broadcast to the input's shape \(6, 4\)\.$",
        ):
            _checks.broadcastable("weight", shape, (N, C))


def test_class_weight(xp):
    w = xp.asarray(np.ones(C))
    _checks.class_weight(ns(w), w, C)
    with pytest.raises(
        ValueError, match=r"^`weight` must have one entry per class, shape \(4,\); got \(1, 4\)\.$"
    ):
        _checks.class_weight(ns(w), xp.asarray(np.ones((1, C))), C)
    with pytest.raises(
        ValueError, match=r"^`weight` must be non-negative and finite; got weight\[1\]=-0.5\.$"
    ):
        _checks.class_weight(ns(w), xp.asarray([1.0, -0.5, 1.0, 1.0]), C)
    with pytest.raises(
        TypeError, match=r"^`weight` must be a floating-point array; got dtype int64\.$"
    ):
        _checks.class_weight(ns(w), xp.asarray(np.ones(C), "int64"), C)


def test_class_indices(xp):
    y = xp.asarray(np.array([0, 3, -100, 1, 2, 0]), "int64")
    _checks.class_indices(ns(y), "targets", y, C, -100)
    with pytest.raises(
        ValueError,
        match=r"^`targets`: class index -100 is out of range for 4 classes \(expected 0..3\)\.$",
    ):
        _checks.class_indices(ns(y), "targets", y, C, None)
    bad = xp.asarray(np.array([0, 4, 5, 1, 2, 0]), "int64")
    with pytest.raises(
        ValueError,
        match=r"^`targets`: class index 4 is out of range for 4 classes \(expected 0..3 or ignore_index=-100\)\.$",
    ):
        _checks.class_indices(ns(y), "targets", bad, C, -100)
    floats = xp.asarray(np.zeros(N))
    with pytest.raises(
        TypeError, match=r"^`targets` with class indices must have an integer dtype; got float64\.$"
    ):
        _checks.class_indices(ns(y), "targets", floats, C, -100)
    _checks.class_indices(ns(y), "targets", xp.asarray(np.zeros(0), "int64"), C, -100)


def test_in_unit_interval(xp):
    p = xp.asarray(np.linspace(0, 1, N))
    _checks.in_unit_interval(ns(p), "targets", p)
    with pytest.raises(
        ValueError, match=r"^`targets` must hold probabilities in \[0, 1\]; got -0.25\.$"
    ):
        _checks.in_unit_interval(ns(p), "targets", xp.asarray([0.5, -0.25, 2.0]))
    with pytest.raises(
        ValueError,
        match=r"^`probs` must hold probabilities in \[0, 1\]; got nan \(did you pass logits\? "
        r"use the logits version of this loss\)\.$",
    ):
        _checks.in_unit_interval(ns(p), "probs", xp.asarray([0.5, math.nan]))


def test_rows_sum_to_one(xp):
    t = np.full((N, C), 1 / C)
    _checks.rows_sum_to_one(ns(xp.asarray(t)), "targets", xp.asarray(t), axis=1)
    t[4] *= 1.01
    with pytest.raises(
        ValueError,
        match=r"^`targets`: each distribution along axis 1 must sum to 1; found a sum of 1.01",
    ):
        _checks.rows_sum_to_one(ns(xp.asarray(t)), "targets", xp.asarray(t), axis=1)
    with pytest.raises(
        ValueError, match=r"each distribution along axis 0 must sum to 1; found a sum of 1.5"
    ):
        _checks.rows_sum_to_one(ns(xp.asarray(t)), "targets", xp.asarray(t), axis=0)


def test_rows_sum_to_one_tolerance_scales_with_dtype(xp):
    # float16 rounding of 1/3 does not sum to 1 exactly; the half-precision tolerance allows it.
    t = xp.asarray(np.full((N, 3), 1 / 3), "float16")
    _checks.rows_sum_to_one(ns(t), "targets", t)
    off = xp.asarray(np.full((N, C), 1 / C + 1e-5))
    with pytest.raises(ValueError, match=r"must sum to 1"):
        _checks.rows_sum_to_one(ns(off), "targets", off)
    _checks.rows_sum_to_one(
        ns(off), "targets", xp.asarray(np.full((N, C), 1 / C + 1e-5), "float32")
    )


@pytest.mark.parametrize("library", ["torch", "jax"])
def test_rows_sum_to_one_accepts_bfloat16_rounding(library):
    # These rows sum to 1 exactly; rounded to bfloat16 they sum to 0.99744 (NumPy has no bf16).
    lib = pytest.importorskip(library)
    rows = np.tile([0.017, 0.186, 0.509, 0.288], (N, 1))
    if library == "torch":
        t, off = lib.tensor(rows, dtype=lib.bfloat16), lib.tensor(rows * 0.95, dtype=lib.bfloat16)
    else:
        jnp = lib.numpy
        t, off = jnp.asarray(rows, dtype=jnp.bfloat16), jnp.asarray(rows * 0.95, dtype=jnp.bfloat16)
    _checks.rows_sum_to_one(ns(t), "targets", t)
    with pytest.raises(ValueError, match=r"must sum to 1; found a sum of 0.95"):
        _checks.rows_sum_to_one(ns(off), "targets", off)


def test_value_checks_are_skipped_for_jax_tracers():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def checked(y, p):
        _checks.class_indices(ns(y), "targets", y, C, None)
        _checks.in_unit_interval(ns(p), "probs", p)
        _checks.rows_sum_to_one(ns(p), "probs", p)
        return p

    out = jax.jit(checked)(jnp.asarray([7, -3]), jnp.asarray([[2.0, 3.0]]))
    np.testing.assert_array_equal(np.asarray(out), [[2.0, 3.0]])
