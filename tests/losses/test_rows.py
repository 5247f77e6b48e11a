"""The row-statistics form of the softmax cross-entropy (``crossent.losses._rows``)
against the loss and gradient written out from their definitions: ``-Σ a log q +
λ r s²`` and its finite differences, with dense coefficients built naively."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from crossent._array import namespace
from crossent.losses._rows import (
    block_gradient,
    loss_from_row_stats,
    softmax_gradient_row_scale,
    weighted_term,
)
from reference import assert_result, numerical_gradient

N, C = 4, 5


def case(seed: int, cap: float | None) -> dict[str, Any]:
    """Random logits, targets ``y``, target coefficients ``h``, smoothing coefficients
    ``u``, class weights ``w``, row weights ``r`` and a z-loss coefficient, in float64."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(scale=3.0, size=(N, C)),
        "y": rng.integers(0, C, size=N),
        "h": np.array([0.0, *rng.uniform(0.2, 2.0, size=N - 1)]),  # row 0 ignored
        "u": np.array([0.0, *rng.uniform(0.0, 0.3, size=N - 1)]),
        "w": rng.uniform(0.5, 2.0, size=C),
        "r": rng.uniform(0.5, 2.0, size=N),
        "lam": 0.1,
        "cap": cap,
    }


def capped(x: np.ndarray, cap: float | None) -> np.ndarray:
    return x if cap is None else cap * np.tanh(x / cap)


def dense_coefficients(c: dict[str, Any]) -> np.ndarray:
    """``a_ij = h_i [j = y_i] + u_i w_j``, built entry by entry."""
    a = np.zeros((N, C))
    for i in range(N):
        for j in range(C):
            a[i, j] = c["h"][i] * (j == c["y"][i]) + c["u"][i] * c["w"][j]
    return a


def naive_loss(x: np.ndarray, c: dict[str, Any]) -> np.ndarray:
    """``-Σ_j a_ij log q_ij + λ r_i s_i²`` from the definition, one row at a time."""
    a, out = dense_coefficients(c), np.zeros(N)
    for i in range(N):
        z = capped(x[i], c["cap"])
        s = np.log(np.sum(np.exp(z)))
        out[i] = -np.sum(a[i] * (z - s)) + c["lam"] * c["r"][i] * s**2
    return out


def stats_loss(xp: Any, lib: Any, x: np.ndarray, c: dict[str, Any]) -> Any:
    z = capped(x, c["cap"])
    arr = lib.asarray
    return loss_from_row_stats(
        xp,
        arr(np.log(np.exp(z).sum(axis=1))),
        arr(c["h"]),
        arr(z[np.arange(N), c["y"]]),
        smooth_coef=arr(c["u"]),
        weight_sum=arr(c["w"].sum()),
        weighted_logit_sum=arr(z @ c["w"]),
        z_loss=c["lam"],
        row_weight=arr(c["r"]),
    )


@pytest.mark.parametrize("cap", [None, 4.0])
def test_loss_from_row_stats_is_the_cross_entropy_of_the_coefficients(xp, cap):
    c = case(0, cap)
    xpn = namespace(xp.asarray([0.0]))
    assert_result(xp, stats_loss(xpn, xp, c["x"], c), naive_loss(c["x"], c))


def test_probability_targets_use_their_mass_and_dot():
    rng = np.random.default_rng(1)
    z, t = rng.normal(size=(N, C)), rng.dirichlet(np.ones(C), size=N) * 0.7  # mass 0.7
    s = np.log(np.exp(z).sum(axis=1))
    expected = -np.sum(t * (z - s[:, None]), axis=1)
    got = loss_from_row_stats(
        namespace(z), s, np.ones(N), np.sum(t * z, axis=1), target_mass=t.sum(axis=1)
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_log_probability_statistics_need_no_lse():
    log_q = np.log(np.array([[0.2, 0.7, 0.1]]))
    got = loss_from_row_stats(namespace(log_q), None, np.ones(1), log_q[:, 1])
    np.testing.assert_allclose(got, [-np.log(0.7)], rtol=1e-12)
    with pytest.raises(ValueError, match="z-loss"):
        loss_from_row_stats(namespace(log_q), None, np.ones(1), log_q[:, 1], z_loss=0.1)


def test_a_zero_coefficient_hides_infinite_statistics():
    """An ignored row of masked logits: s = -inf, target logit -inf; its loss is 0."""
    lse = np.array([-np.inf, 1.0])
    with np.errstate(invalid="ignore"):
        got = loss_from_row_stats(
            namespace(lse),
            lse,
            np.array([0.0, 1.0]),
            np.array([-np.inf, 0.5]),
            smooth_coef=np.array([0.0, 0.1]),
            weight_sum=2,
            weighted_logit_sum=np.array([-np.inf, 1.0]),
            z_loss=0.5,
            row_weight=np.array([0.0, 1.0]),
        )
    np.testing.assert_allclose(got, [0.0, 0.5 + 0.1 * (2 - 1.0) + 0.5])


def test_weighted_term_has_no_nan_gradient_at_a_zero_coefficient():
    torch = pytest.importorskip("torch")
    value = torch.tensor([float("inf"), 3.0], requires_grad=True)
    out = weighted_term(namespace(value), torch.tensor([0.0, 2.0]), value)
    out.sum().backward()
    assert out.tolist() == [0.0, 6.0]
    assert value.grad is not None and value.grad.tolist() == [0.0, 2.0]


@pytest.mark.parametrize("cap", [None, 4.0])
@pytest.mark.parametrize("sparse", [True, False])
def test_block_gradient_is_the_derivative_of_the_loss(xp, cap, sparse):
    c = case(2, cap)
    z = capped(c["x"], cap)
    s = np.log(np.exp(z).sum(axis=1))
    a = dense_coefficients(c)
    k = softmax_gradient_row_scale(np, a.sum(axis=1), z_loss=c["lam"], row_weight=c["r"], lse=s)
    arr = xp.asarray
    xpn = namespace(arr(z))
    if sparse:  # the one-hot part sparse; u_i w_j is dense with class weights
        coefs: dict[str, Any] = {
            "coef": arr(c["u"][:, None] * c["w"]),
            "target_coef": arr(c["h"]),
            "indices": xp.asarray(c["y"], "int64"),
        }
    else:
        coefs = {"coef": arr(a)}
    g = block_gradient(xpn, arr(z), arr(s), arr(k), cap=cap, **coefs)
    expected = numerical_gradient(lambda v: naive_loss(v, c), c["x"])
    assert_result(xp, g, expected, scale=1e5)  # central differences: about 1e-7


def test_block_gradient_of_column_blocks_is_the_row_gradient():
    """Two blocks of columns, each with its own renumbered class index, one row-wide
    ``lse`` and ``k``: the concatenation is the gradient of the whole row; ``out`` is
    written in place (the fused kernels' in-place gradient)."""
    c = case(3, None)
    z, y, h = c["x"], c["y"], c["h"]
    u = c["u"]
    s = np.log(np.exp(z).sum(axis=1))
    k = h + u * C
    xpn = namespace(z)
    whole = block_gradient(xpn, z, s, k, smooth_coef=u, target_coef=h, indices=y)
    out = z.copy()
    for c0, c1 in ((0, 2), (2, C)):
        block = out[:, c0:c1]
        got = block_gradient(
            xpn, block, s, k, smooth_coef=u, target_coef=h, indices=y - c0, out=block
        )
        assert got is block
    np.testing.assert_allclose(out, whole, rtol=1e-12, atol=1e-15)
    q = np.exp(z - s[:, None])
    onehot = np.eye(C)[y]
    np.testing.assert_allclose(whole, q * k[:, None] - u[:, None] - h[:, None] * onehot, atol=1e-15)
