"""GHM-C: mmdetection's formula (with and without momentum), properties, gradients, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import reference as ref
import reference_imbalance as refi
from crossent import GHMC, ghm_classification_loss, grad
from crossent.cli.explain import ghm_weights_by_kind
from crossent.losses.ghm import ghm_weights

N, C = 8, 5


def logits_of(seed: int, shape: tuple[int, ...] = (N, C), scale: float = 3.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(shape)


def targets_of(seed: int, shape: tuple[int, ...] = (N, C)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=shape).astype(np.float64)


def label_weight_of(seed: int, shape: tuple[int, ...] = (N, C)) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) > 0.2).astype(np.float64)


# ---------------------------------------------------------------------------------------
# Against mmdetection's GHMC
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bins", [1, 3, 10, 30])
def test_matches_mmdetection_without_momentum(xp, bins):
    z, y, lw = logits_of(0), targets_of(1), label_weight_of(2)
    out = ghm_classification_loss(xp.asarray(z), xp.asarray(y), bins=bins, weight=xp.asarray(lw))
    expected, _, weights = refi.mmdet_ghmc(z, y, lw, bins=bins)
    ref.assert_result(xp, out, expected, scale=10)
    beta = ghm_weights(xp.asarray(z), xp.asarray(y), bins=bins, weight=xp.asarray(lw))
    ref.assert_result(xp, beta, weights.reshape(z.shape), scale=10)


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_reductions(xp, reduction):
    z, y, lw = logits_of(3), targets_of(4), label_weight_of(5)
    _, _, weights = refi.mmdet_ghmc(z, y, lw)
    bce = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    losses = weights.reshape(z.shape) * bce
    expected = losses if reduction == "none" else losses.sum()
    out = ghm_classification_loss(
        xp.asarray(z), xp.asarray(y), weight=xp.asarray(lw), reduction=reduction
    )
    ref.assert_result(xp, out, expected, scale=10)


def test_ghmc_with_momentum_matches_mmdetection_over_batches(xp):
    ghm = GHMC(bins=10, momentum=0.75)
    acc = None
    for step in range(4):
        z, y, lw = (
            logits_of(10 + step, scale=1.0 + step),
            targets_of(20 + step),
            label_weight_of(30 + step),
        )
        out = ghm(xp.asarray(z), xp.asarray(y), weight=xp.asarray(lw))
        expected, acc, _ = refi.mmdet_ghmc(z, y, lw, bins=10, momentum=0.75, acc_sum=acc)
        ref.assert_result(xp, out, expected, scale=10)
        ref.assert_result(xp, ghm.density, acc, scale=10)
    ghm.reset()
    assert ghm.density is None


def test_ghmc_without_momentum_is_the_function_and_keeps_no_state(xp):
    z, y = xp.asarray(logits_of(40)), xp.asarray(targets_of(41))
    ghm = GHMC(bins=7, momentum=0.0)
    ref.assert_result(xp, ghm(z, y), xp.to_numpy(ghm_classification_loss(z, y, bins=7)))
    assert ghm.density is None
    assert repr(ghm) == "GHMC(bins=7, momentum=0.0)"


def test_density_argument_is_what_ghmc_passes(xp):
    z, y = xp.asarray(logits_of(42)), xp.asarray(targets_of(43))
    ghm = GHMC(bins=10, momentum=0.5)
    ghm(xp.asarray(logits_of(44)), y)
    out = ghm(z, y)
    ref.assert_result(xp, out, xp.to_numpy(ghm_classification_loss(z, y, density=ghm.density)))


def test_weights_with_a_density_are_n_over_density_times_non_empty_bins(xp):
    z, y = logits_of(45), targets_of(46)
    density = np.linspace(0.5, 5.0, 10)
    beta = ghm_weights(xp.asarray(z), xp.asarray(y), density=xp.asarray(density))
    g = np.abs(1 / (1 + np.exp(-z)) - y)
    index = np.minimum((g * 10).astype(int), 9)  # no g of these logits sits on an edge
    ref.assert_result(xp, beta, z.size / (density[index] * len(np.unique(index))))


# ---------------------------------------------------------------------------------------
# Properties and edge cases
# ---------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    z=arrays(np.float64, (12,), elements=st.floats(-20, 20)),
    y=arrays(np.float64, (12,), elements=st.sampled_from([0.0, 1.0])),
    valid=arrays(np.float64, (12,), elements=st.sampled_from([0.0, 1.0, 2.0])),
    bins=st.integers(1, 40),
)
def test_weights_sum_to_the_valid_count_over_the_non_empty_bins(z, y, valid, bins):
    beta = np.asarray(ghm_weights(z, y, bins=bins, weight=valid))
    n_valid = int((valid > 0).sum())
    assert beta.sum() == pytest.approx(n_valid, rel=1e-12, abs=1e-12)
    assert np.all(beta[valid == 0] == 0) and np.all(beta[valid > 0] > 0)


def test_bin_edges_follow_mmdetection():
    # g = 0.5 lies on an edge and goes to the upper bin; g = 1 goes to the last bin
    z = np.array([0.0, 0.0, -1e4, 1e4, 0.0])
    y = np.array([0.0, 1.0, 1.0, 1.0, 0.5])  # g = 0.5, 0.5, 1, 0, 0
    beta = np.asarray(ghm_weights(z, y, bins=2))
    _, _, weights = refi.mmdet_ghmc(z, y, np.ones(5), bins=2)
    np.testing.assert_allclose(beta, weights)
    np.testing.assert_allclose(beta, [5 / (3 * 2)] * 3 + [5 / (2 * 2)] * 2)


def test_all_ignored_batch_is_zero_with_zero_gradient():
    torch = pytest.importorskip("torch")
    z = torch.tensor(logits_of(50), requires_grad=True)
    out = ghm_classification_loss(
        z, torch.tensor(targets_of(51)), weight=torch.zeros(C, dtype=torch.float64)
    )
    out.backward()
    assert out.item() == 0.0 and bool((z.grad == 0).all())


def test_works_under_jax_jit():
    jax = pytest.importorskip("jax")
    z, y = jax.numpy.asarray(logits_of(52)), jax.numpy.asarray(targets_of(53))
    jitted = jax.jit(lambda a, b: ghm_classification_loss(a, b, bins=10))
    assert float(jitted(z, y)) == pytest.approx(
        refi.mmdet_ghmc(logits_of(52), targets_of(53), np.ones((N, C)))[0]
    )


def test_half_precision_is_computed_in_float32_and_returned_in_its_dtype():
    pytest.importorskip("torch")
    from conftest import _torch_lib

    lib = _torch_lib()
    z, y = logits_of(54), targets_of(55)
    out = ghm_classification_loss(lib.asarray(z, "float16"), lib.asarray(y, "float16"))
    z16 = z.astype(np.float16).astype(np.float64)
    ref.assert_result(lib, out, refi.mmdet_ghmc(z16, y, np.ones_like(z))[0], dtype="float16")


# ---------------------------------------------------------------------------------------
# Gradient: the GHM weights are constants (mmdetection detaches g)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gradient_matches_autograd(reduction):
    torch = pytest.importorskip("torch")
    z, y, lw = logits_of(60), targets_of(61), label_weight_of(62) * 1.5
    zt = torch.tensor(z, requires_grad=True)
    ghm_classification_loss(
        zt, torch.tensor(y), weight=torch.tensor(lw), reduction=reduction
    ).sum().backward()
    closed = grad.ghm_classification_loss(
        torch.tensor(z), torch.tensor(y), weight=torch.tensor(lw), reduction=reduction
    )
    torch.testing.assert_close(closed, zt.grad, rtol=1e-13, atol=1e-16)


def test_gradient_matches_finite_differences(xp):
    z, y = logits_of(63), targets_of(64)
    density = np.linspace(1.0, 5.0, 10)
    closed = grad.ghm_classification_loss(xp.asarray(z), xp.asarray(y), density=xp.asarray(density))
    # a step of 1e-6 moves no g across a bin edge for these logits, so the weights stay put
    numeric = ref.numerical_gradient(lambda x: ghm_classification_loss(x, y, density=density), z)
    assert (
        xp.is_native(closed)
        and closed.dtype == xp.dtype("float64")
        and tuple(closed.shape) == z.shape
    )
    np.testing.assert_allclose(xp.to_numpy(closed), numeric, rtol=1e-6, atol=1e-10)


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_bins_must_be_positive():
    with pytest.raises(ValueError, match=r"`bins` must be positive; got bins=0."):
        ghm_classification_loss(np.zeros(2), np.zeros(2), bins=0)


def test_bins_must_be_an_integer():
    with pytest.raises(TypeError, match=r"`bins` must be an integer; got bins=10.0."):
        GHMC(bins=10.0)


def test_momentum_must_be_below_one():
    with pytest.raises(ValueError, match=r"`momentum` must be in \[0.0, 1.0\); got momentum=1.0."):
        GHMC(momentum=1.0)


def test_density_shape():
    with pytest.raises(
        ValueError, match=r"`density` must have shape \(10,\) \(one entry per bin\); got \(3,\)."
    ):
        ghm_classification_loss(np.zeros(2), np.zeros(2), density=np.ones(3))


def test_density_dtype():
    with pytest.raises(
        TypeError, match=r"`density` must be a floating-point array; got dtype int64."
    ):
        ghm_classification_loss(
            np.zeros(2), np.zeros(2), bins=2, density=np.ones(2, dtype=np.int64)
        )


def test_density_zero_in_an_occupied_bin():
    with pytest.raises(
        ValueError,
        match=r"`density` must be positive in every bin that holds elements; bin 1 holds 2.0",
    ):
        ghm_classification_loss(np.zeros(2), np.zeros(2), bins=2, density=np.array([1.0, 0.0]))


# ---------------------------------------------------------------------------------------
# `crossent explain ghm`
# ---------------------------------------------------------------------------------------


def test_explain_ghm_down_weights_both_crowds(capsys):
    section = ghm_weights_by_kind()
    v = section.values
    assert v["weight_sum"] == pytest.approx(v["n"])
    assert (
        v["ghm/easy negative"] < 1
        and v["ghm/outlier (mislabelled positive)"] < v["ghm/hard negative"]
    )
    assert v["focal/outlier (mislabelled positive)"] > v["focal/hard positive"]
    from crossent.cli import main

    assert main(["explain", "ghm"]) == 0
    assert "C15" in capsys.readouterr().out
