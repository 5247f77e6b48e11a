"""Focal losses and the asymmetric loss: peers' formulas, properties, gradients, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import crossent
import reference as ref
import reference_imbalance as refi
from crossent import (
    asymmetric_loss,
    grad,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    softmax_cross_entropy,
    softmax_focal_loss,
)
from crossent.cli.explain import TOPICS, focal_four_kinds

N, C = 6, 4
REDUCTIONS = ["none", "mean", "sum"]
GAMMAS = [0.0, 0.5, 1.0, 2.0, 5.0]
EXTREME_GAMMAS = [0.0, 0.5, 2.0]


def logits_of(seed: int, shape: tuple[int, ...] = (N, C), scale: float = 3.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(shape)


def binary_targets(seed: int, shape: tuple[int, ...] = (N, C)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=shape).astype(np.float64)


def soft_targets(seed: int, shape: tuple[int, ...] = (N, C)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape)


def index_targets(seed: int, n: int = N, n_classes: int = C) -> np.ndarray:
    y = np.random.default_rng(seed).integers(0, n_classes, size=n)
    y[1] = -100
    return y


def prob_targets(seed: int, shape: tuple[int, ...] = (N, C)) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(shape[-1]), size=shape[:-1])


def reduced(losses: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return losses
    return np.asarray(losses.sum() if reduction == "sum" else losses.mean())


def torch_autograd(fn, z: np.ndarray, *args, dtype: str = "float64", **kwargs):
    """``(loss, d loss / d z)`` of a crossent loss under torch autograd."""
    torch = pytest.importorskip("torch")
    zt = torch.tensor(z, dtype=getattr(torch, dtype), requires_grad=True)
    targs = [torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    out = fn(zt, *targs, **kwargs)
    out.sum().backward()
    return out, zt.grad


# ---------------------------------------------------------------------------------------
# Sigmoid focal loss against torchvision's, optax's and kornia's definitions
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("alpha", [None, 0.25, 0.75])
def test_sigmoid_focal_matches_torchvision(xp, alpha, gamma):
    z, y = logits_of(0), binary_targets(1)
    out = sigmoid_focal_loss(
        xp.asarray(z), xp.asarray(y), alpha=alpha, gamma=gamma, reduction="none"
    )
    expected = refi.torchvision_sigmoid_focal_loss(
        z, y, alpha=-1.0 if alpha is None else alpha, gamma=gamma
    )
    ref.assert_result(xp, out, expected, scale=10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_focal_reductions_match_torchvision(xp, reduction):
    z, y = logits_of(0), binary_targets(1)
    alpha, gamma = 0.25, 2.0
    out = sigmoid_focal_loss(
        xp.asarray(z), xp.asarray(y), alpha=alpha, gamma=gamma, reduction=reduction
    )
    expected = refi.torchvision_sigmoid_focal_loss(
        z, y, alpha=-1.0 if alpha is None else alpha, gamma=gamma, reduction=reduction
    )
    ref.assert_result(xp, out, expected, scale=10)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_focal_soft_targets_match_torchvision_and_optax(xp, gamma):
    z, y = logits_of(2), soft_targets(3)
    out = sigmoid_focal_loss(
        xp.asarray(z), xp.asarray(y), alpha=None, gamma=gamma, reduction="none"
    )
    ref.assert_result(
        xp, out, refi.optax_sigmoid_focal_loss(z, y, alpha=None, gamma=gamma), scale=10
    )
    out = sigmoid_focal_loss(xp.asarray(z), xp.asarray(y), alpha=0.3, gamma=gamma, reduction="none")
    ref.assert_result(
        xp, out, refi.torchvision_sigmoid_focal_loss(z, y, alpha=0.3, gamma=gamma), scale=10
    )


@pytest.mark.parametrize("gamma", GAMMAS)
def test_sigmoid_focal_matches_kornia_on_binary_targets(gamma):
    z, y = logits_of(4), binary_targets(5)
    out = sigmoid_focal_loss(z, y, alpha=0.25, gamma=gamma, reduction="none")
    ref.assert_result(
        ref_numpy(), out, refi.kornia_binary_focal_loss_with_logits(z, y, 0.25, gamma), scale=10
    )


def ref_numpy():
    from conftest import _numpy_lib

    return _numpy_lib()


def test_sigmoid_focal_weight_scales_terms_not_the_mean(xp):
    z, y = logits_of(6), binary_targets(7)
    w = np.linspace(0.0, 2.0, C)
    out = sigmoid_focal_loss(xp.asarray(z), xp.asarray(y), weight=xp.asarray(w))
    expected = (refi.torchvision_sigmoid_focal_loss(z, y) * w).mean()
    ref.assert_result(xp, out, expected, scale=10)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_sigmoid_focal_low_precision_keeps_dtype(dtype):
    torch = pytest.importorskip("torch")
    from conftest import _torch_lib

    lib = _torch_lib()
    z, y = logits_of(8), binary_targets(9)
    out = sigmoid_focal_loss(lib.asarray(z, dtype), lib.asarray(y, dtype), reduction="none")
    expected = refi.torchvision_sigmoid_focal_loss(
        torch.tensor(z).to(getattr(torch, dtype)).double().numpy(), y
    )
    ref.assert_result(lib, out, expected, dtype=dtype)


# ---------------------------------------------------------------------------------------
# Properties (torchvision's TestFocalLoss)
# ---------------------------------------------------------------------------------------

finite_logits = arrays(np.float64, (8,), elements=st.floats(-30, 30))
unit_targets = arrays(np.float64, (8,), elements=st.sampled_from([0.0, 1.0]))


@settings(max_examples=40, deadline=None)
@given(
    z=finite_logits,
    y=unit_targets,
    gamma=st.floats(0, 5),
    alpha=st.one_of(st.none(), st.floats(0, 1, allow_subnormal=False)),
)
def test_focal_is_at_most_cross_entropy_and_their_ratio_is_the_modulating_factor(
    z, y, gamma, alpha
):
    focal = np.asarray(sigmoid_focal_loss(z, y, alpha=alpha, gamma=gamma, reduction="none"))
    ce = np.asarray(sigmoid_binary_cross_entropy(z, y, reduction="none"))
    assert np.all(focal <= ce * (1 + 1e-12))
    p, one_minus_p = 1 / (1 + np.exp(-z)), 1 / (1 + np.exp(z))
    one_minus_p_t = y * one_minus_p + (1 - y) * p  # not 1 - p_t: that cancels
    alpha_t = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    factor = alpha_t * one_minus_p_t**gamma
    counted = ce > 1e-8  # the ratio is defined where CE is not ~0
    np.testing.assert_allclose(
        focal[counted] / ce[counted],
        np.broadcast_to(factor, z.shape)[counted],
        rtol=1e-9,
        atol=1e-300,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gamma_zero_without_alpha_is_bce_including_gradients(reduction):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z, y = logits_of(10), soft_targets(11)
    out, g = torch_autograd(sigmoid_focal_loss, z, y, alpha=None, gamma=0.0, reduction=reduction)
    zt = torch.tensor(z, requires_grad=True)
    expected = F.binary_cross_entropy_with_logits(zt, torch.tensor(y), reduction=reduction)
    expected.sum().backward()
    assert torch.equal(out, expected.detach()) or torch.allclose(
        out, expected.detach(), rtol=1e-15, atol=0
    )
    torch.testing.assert_close(g, zt.grad, rtol=1e-14, atol=1e-16)
    closed = grad.sigmoid_focal_loss(
        torch.tensor(z), torch.tensor(y), alpha=None, gamma=0.0, reduction=reduction
    )
    torch.testing.assert_close(closed, zt.grad, rtol=1e-14, atol=1e-16)


def test_gamma_zero_is_alpha_balanced_bce_including_gradients():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z, y = logits_of(12), binary_targets(13)
    out, g = torch_autograd(sigmoid_focal_loss, z, y, alpha=0.25, gamma=0.0)
    zt = torch.tensor(z, requires_grad=True)
    alpha_t = torch.tensor(0.25 * y + 0.75 * (1 - y))
    expected = F.binary_cross_entropy_with_logits(zt, torch.tensor(y), weight=alpha_t)
    expected.backward()
    torch.testing.assert_close(out, expected.detach(), rtol=1e-14, atol=0)
    torch.testing.assert_close(g, zt.grad, rtol=1e-14, atol=1e-16)


# ---------------------------------------------------------------------------------------
# Gradients: closed form against autograd and finite differences; saturated logits
# ---------------------------------------------------------------------------------------

SIGMOID_CASES = [
    (sigmoid_focal_loss, grad.sigmoid_focal_loss, {"alpha": 0.25, "gamma": 2.0}),
    (sigmoid_focal_loss, grad.sigmoid_focal_loss, {"alpha": None, "gamma": 0.5}),
    (
        sigmoid_focal_loss,
        grad.sigmoid_focal_loss,
        {"alpha": 0.6, "gamma": 1.5, "weight": np.linspace(0, 1, C)},
    ),
    (asymmetric_loss, grad.asymmetric_loss, {}),
    (asymmetric_loss, grad.asymmetric_loss, {"gamma_pos": 1.0, "gamma_neg": 0.5, "clip": 0.2}),
    (asymmetric_loss, grad.asymmetric_loss, {"gamma_pos": 0.5, "gamma_neg": 3.0, "clip": None}),
    (asymmetric_loss, grad.asymmetric_loss, {"gamma_pos": 0.0, "gamma_neg": 0.0, "clip": 0.1}),
]


def case_id(case) -> str:
    return (
        case[0].__name__
        + "-"
        + ",".join(f"{k}={'arr' if isinstance(v, np.ndarray) else v}" for k, v in case[2].items())
    )


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", SIGMOID_CASES, ids=case_id)
def test_sigmoid_family_gradient_matches_autograd(case, reduction, soft):
    torch = pytest.importorskip("torch")
    loss_fn, grad_fn, options = case
    z = logits_of(14)
    y = soft_targets(15) if soft else binary_targets(15)
    options = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    _, g = torch_autograd(loss_fn, z, y, reduction=reduction, **options)
    closed = grad_fn(torch.tensor(z), torch.tensor(y), reduction=reduction, **options)
    torch.testing.assert_close(closed, g, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", SIGMOID_CASES, ids=case_id)
def test_sigmoid_family_gradient_matches_finite_differences(xp, case):
    loss_fn, grad_fn, options = case
    z, y = logits_of(16, scale=2.0), binary_targets(17)
    wrapped = {k: xp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    closed = grad_fn(xp.asarray(z), xp.asarray(y), **wrapped)
    numeric = ref.numerical_gradient(lambda x: loss_fn(x, y, **options), z)
    assert (
        xp.is_native(closed)
        and closed.dtype == xp.dtype("float64")
        and tuple(closed.shape) == z.shape
    )
    np.testing.assert_allclose(xp.to_numpy(closed), numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("gamma", EXTREME_GAMMAS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_saturated_logits_give_finite_gradients_under_torch(gamma, dtype):
    z = np.array([[1e4, -1e4, 1e4, -1e4, 0.0, 50.0]])
    y = np.array([[1.0, 1.0, 0.0, 0.0, 1.0, 0.0]])
    for loss_fn, grad_fn, options in [
        (sigmoid_focal_loss, grad.sigmoid_focal_loss, {"gamma": gamma}),
        (asymmetric_loss, grad.asymmetric_loss, {"gamma_pos": gamma, "gamma_neg": gamma}),
        (
            asymmetric_loss,
            grad.asymmetric_loss,
            {"gamma_pos": gamma, "gamma_neg": gamma, "clip": None},
        ),
    ]:
        out, g = torch_autograd(loss_fn, z, y, dtype=dtype, reduction="none", **options)
        closed = grad_fn(g.new_tensor(z), g.new_tensor(y), reduction="none", **options)
        assert (
            bool(out.isfinite().all())
            and bool(g.isfinite().all())
            and bool(closed.isfinite().all())
        )
        np.testing.assert_allclose(
            closed.double().numpy(), g.double().numpy(), rtol=1e-6, atol=1e-30
        )
    # the hard positive at -1e4 has loss 1e4 (exact log space) and the easy ones 0
    out, _ = torch_autograd(
        sigmoid_focal_loss, z, y, dtype=dtype, alpha=None, gamma=gamma, reduction="none"
    )
    assert out[0, 1].item() == pytest.approx(1e4) and out[0, 0].item() == 0.0


@pytest.mark.parametrize("gamma", EXTREME_GAMMAS)
def test_saturated_logits_give_finite_gradients_under_jax(gamma):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z = jnp.asarray([[1e4, -1e4, 1e4, -1e4, 0.0]], dtype=jnp.float32)
    y = jnp.asarray([[1.0, 1.0, 0.0, 0.0, 1.0]], dtype=jnp.float32)
    for fn, options in [
        (sigmoid_focal_loss, {"gamma": gamma}),
        (asymmetric_loss, {"gamma_pos": gamma, "gamma_neg": gamma}),
    ]:
        g = jax.jit(jax.grad(lambda x, fn=fn, options=options: fn(x, y, **options)))(z)
        assert bool(jnp.all(jnp.isfinite(g)))
    labels = jnp.asarray([0, 1])
    zs = jnp.asarray([[1e4, 0.0, -1e4], [1e4, 0.0, -1e4]], dtype=jnp.float32)
    g = jax.jit(jax.grad(lambda x: softmax_focal_loss(x, labels, gamma=gamma)))(zs)
    assert bool(jnp.all(jnp.isfinite(g)))


# ---------------------------------------------------------------------------------------
# Softmax focal loss
# ---------------------------------------------------------------------------------------


ALPHAS = [None, 0.5, [0.1, 0.2, 0.3, 0.4]]


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", ALPHAS, ids=["none", "scalar", "vector"])
def test_softmax_focal_matches_reference(xp, alpha, gamma):
    z, y = logits_of(20), index_targets(21)
    a = xp.asarray(alpha) if isinstance(alpha, list) else alpha
    out = softmax_focal_loss(
        xp.asarray(z), xp.asarray(y, "int64"), alpha=a, gamma=gamma, reduction="none"
    )
    expected = refi.softmax_focal_loss(z, y, alpha=alpha, gamma=gamma, reduction="none")
    ref.assert_result(xp, out, expected, scale=10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_softmax_focal_reductions_match_reference(xp, reduction):
    z, y = logits_of(20), index_targets(21)
    alpha, gamma = [0.1, 0.2, 0.3, 0.4], 2.0
    a = xp.asarray(alpha) if isinstance(alpha, list) else alpha
    out = softmax_focal_loss(
        xp.asarray(z), xp.asarray(y, "int64"), alpha=a, gamma=gamma, reduction=reduction
    )
    expected = refi.softmax_focal_loss(z, y, alpha=alpha, gamma=gamma, reduction=reduction)
    ref.assert_result(xp, out, expected, scale=10)


@pytest.mark.parametrize("gamma", [0.0, 2.0])
@pytest.mark.parametrize("alpha", ALPHAS, ids=["none", "scalar", "vector"])
def test_softmax_focal_probability_targets_match_reference(xp, alpha, gamma):
    z, t = logits_of(22), prob_targets(23)
    a = xp.asarray(alpha) if isinstance(alpha, list) else alpha
    out = softmax_focal_loss(xp.asarray(z), xp.asarray(t), alpha=a, gamma=gamma, reduction="none")
    ref.assert_result(
        xp, out, refi.softmax_focal_loss(z, t, alpha=alpha, gamma=gamma, reduction="none"), scale=10
    )


def test_softmax_focal_class_axis_one_matches_kornia(xp):
    # kornia >= 0.7 weighs class 0 by 1 - alpha and the others by alpha: crossent's vector
    # alpha=[1 - a, a, ..., a]. (At a = 0.5 both readings agree, which hid the difference.)
    z = logits_of(24, (2, C, 3, 2))
    y = np.random.default_rng(25).integers(0, C, size=(2, 3, 2))
    a = 0.25
    alpha = xp.asarray([1 - a] + [a] * (C - 1))
    out = softmax_focal_loss(
        xp.asarray(z), xp.asarray(y, "int64"), alpha=alpha, gamma=2.0, axis=1, reduction="none"
    )
    ref.assert_result(xp, out, refi.kornia_focal_loss(z, y, alpha=a, gamma=2.0), scale=10)
    scalar = softmax_focal_loss(
        xp.asarray(z), xp.asarray(y, "int64"), alpha=a, gamma=2.0, axis=1, reduction="none"
    )
    assert not np.allclose(xp.to_numpy(scalar), refi.kornia_focal_loss(z, y, alpha=a, gamma=2.0))


def test_softmax_focal_gamma_zero_is_softmax_cross_entropy(xp):
    z, y = logits_of(26), index_targets(27)
    w = [0.5, 2.0, 1.0, 3.0]
    zx, yx = xp.asarray(z), xp.asarray(y, "int64")
    ref.assert_result(
        xp, softmax_focal_loss(zx, yx, gamma=0.0), xp.to_numpy(softmax_cross_entropy(zx, yx))
    )
    # with per-class alpha: the same terms as class-weighted CE; "sum" agrees, "mean" does not
    # divide by Σ α_y (DESIGN.md: only softmax CE with `weight` follows PyTorch's weighted mean)
    summed = softmax_focal_loss(zx, yx, alpha=xp.asarray(w), gamma=0.0, reduction="sum")
    ref.assert_result(
        xp,
        summed,
        xp.to_numpy(softmax_cross_entropy(zx, yx, weight=xp.asarray(w), reduction="sum")),
    )
    mean = softmax_focal_loss(zx, yx, alpha=xp.asarray(w), gamma=0.0)
    ref.assert_result(xp, mean, xp.to_numpy(summed) / 5)  # 6 samples, one ignored


def test_softmax_focal_mean_divides_by_non_ignored_and_all_ignored_is_zero(xp):
    torch = pytest.importorskip("torch")
    z = logits_of(28)
    y = np.full(N, -100)
    y[:2] = [1, 2]
    out = softmax_focal_loss(xp.asarray(z), xp.asarray(y, "int64"))
    expected = refi.softmax_focal_loss(z, y, reduction="sum") / 2
    ref.assert_result(xp, out, expected, scale=10)
    ignored = np.full(N, -100)
    ref.assert_result(xp, softmax_focal_loss(xp.asarray(z), xp.asarray(ignored, "int64")), 0.0)
    zt = torch.tensor(z, requires_grad=True)
    softmax_focal_loss(zt, torch.tensor(ignored)).backward()
    assert bool((zt.grad == 0).all())


def test_softmax_focal_single_class_is_zero_with_finite_gradient():
    torch = pytest.importorskip("torch")
    for gamma in EXTREME_GAMMAS:
        out, g = torch_autograd(
            softmax_focal_loss, np.array([[3.0], [-2.0]]), np.array([0, 0]), gamma=gamma
        )
        assert out.item() == 0.0 and bool((g == 0).all())
        closed = grad.softmax_focal_loss(
            torch.tensor([[3.0], [-2.0]]), torch.tensor([0, 0]), gamma=gamma
        )
        assert bool((closed == 0).all())


SOFTMAX_CASES = [
    {"gamma": 2.0},
    {"gamma": 0.5, "alpha": 0.25},
    {"gamma": 1.0, "alpha": [0.1, 0.2, 0.3, 0.4]},
    {"gamma": 0.0, "alpha": [0.1, 0.2, 0.3, 0.4]},
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("probability_targets", [False, True])
@pytest.mark.parametrize("options", SOFTMAX_CASES, ids=str)
def test_softmax_focal_gradient_matches_autograd(options, probability_targets, reduction):
    torch = pytest.importorskip("torch")
    z = logits_of(30)
    y = prob_targets(31) if probability_targets else index_targets(31)
    _, g = torch_autograd(softmax_focal_loss, z, y, reduction=reduction, **options)
    closed = grad.softmax_focal_loss(
        torch.tensor(z), torch.as_tensor(y), reduction=reduction, **options
    )
    torch.testing.assert_close(closed, g, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("options", SOFTMAX_CASES, ids=str)
def test_softmax_focal_gradient_matches_finite_differences(xp, options):
    z, y = (
        logits_of(32, (N, C, 2), scale=2.0),
        np.random.default_rng(33).integers(0, C, size=(N, 2)),
    )
    a = options.get("alpha")
    wrapped = {**options, "alpha": xp.asarray(a)} if isinstance(a, list) else options
    closed = grad.softmax_focal_loss(xp.asarray(z), xp.asarray(y, "int64"), axis=1, **wrapped)
    numeric = ref.numerical_gradient(lambda x: softmax_focal_loss(x, y, axis=1, **options), z)
    assert (
        xp.is_native(closed)
        and closed.dtype == xp.dtype("float64")
        and tuple(closed.shape) == z.shape
    )
    np.testing.assert_allclose(xp.to_numpy(closed), numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("gamma", EXTREME_GAMMAS)
def test_softmax_focal_saturated_logits_give_finite_gradients(gamma):
    torch = pytest.importorskip("torch")
    z = np.array([[1e4, 0.0, -1e4], [1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]])
    for y in [np.array([0, 1, 0]), np.array([[1.0, 0.0, 0.0], [0.2, 0.8, 0.0], [0.0, 0.5, 0.5]])]:
        out, g = torch_autograd(
            softmax_focal_loss, z, y, dtype="float32", gamma=gamma, reduction="none"
        )
        closed = grad.softmax_focal_loss(
            torch.tensor(z, dtype=torch.float32), torch.as_tensor(y), gamma=gamma, reduction="none"
        )
        assert (
            bool(out.isfinite().all())
            and bool(g.isfinite().all())
            and bool(closed.isfinite().all())
        )
        torch.testing.assert_close(closed, g, rtol=1e-5, atol=1e-30)


# ---------------------------------------------------------------------------------------
# Asymmetric loss
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05},
        {"gamma_pos": 0.5, "gamma_neg": 2.0, "clip": None},
        {"gamma_pos": 0.0, "gamma_neg": 0.0, "clip": 0.3},
    ],
    ids=str,
)
def test_asymmetric_matches_the_paper(xp, options, reduction):
    z, y = logits_of(40), binary_targets(41)
    out = asymmetric_loss(xp.asarray(z), xp.asarray(y), reduction=reduction, **options)
    ref.assert_result(xp, out, refi.asymmetric_loss(z, y, reduction=reduction, **options), scale=10)


def test_asymmetric_matches_timm_on_moderate_logits():
    z, y = logits_of(42), binary_targets(43)  # |z| < 18.4: timm's 1e-8 clamp does not bite
    out = asymmetric_loss(z, y, gamma_pos=1.0, gamma_neg=4.0, clip=0.05, reduction="sum")
    assert float(out) == pytest.approx(refi.timm_asymmetric_loss(z, y), rel=1e-12)


def test_asymmetric_is_exact_where_timm_clamps():
    z, y = np.array([-30.0]), np.array([1.0])
    out = float(asymmetric_loss(z, y, gamma_pos=0.0, reduction="sum"))
    assert out == pytest.approx(30.0, rel=1e-12)  # -log σ(-30)
    assert refi.timm_asymmetric_loss(z, y, gamma_pos=0.0) == pytest.approx(-math.log(1e-8))


def test_asymmetric_without_focusing_or_clip_is_bce(xp):
    z, y = logits_of(44), soft_targets(45)
    out = asymmetric_loss(xp.asarray(z), xp.asarray(y), gamma_pos=0.0, gamma_neg=0.0, clip=None)
    ref.assert_result(
        xp, out, xp.to_numpy(sigmoid_binary_cross_entropy(xp.asarray(z), xp.asarray(y)))
    )


def test_asymmetric_negatives_below_the_clip_count_nothing():
    z = np.array([-4.0, -3.0, math.log(0.05 / 0.95) - 1e-9, 0.0])  # p ≤ 0.05 for the first three
    out, g = torch_autograd(
        asymmetric_loss, z, np.zeros(4), gamma_neg=0.0, clip=0.05, reduction="none"
    )
    assert out[:3].tolist() == [0.0, 0.0, 0.0] and g[:3].tolist() == [0.0, 0.0, 0.0]
    assert out[3].item() == pytest.approx(-math.log(1 - 0.45))
    # and a negative's loss never exceeds -log(clip), however confident the wrong logit
    big = float(
        asymmetric_loss(np.array([1e4]), np.array([0.0]), gamma_neg=0.0, clip=0.05, reduction="sum")
    )
    assert big == pytest.approx(-math.log(0.05))


# ---------------------------------------------------------------------------------------
# Errors: one test per message
# ---------------------------------------------------------------------------------------


def test_sigmoid_focal_alpha_out_of_range():
    with pytest.raises(ValueError, match=r"`alpha` must be in \[0.0, 1.0\]; got alpha=1.5."):
        sigmoid_focal_loss(np.zeros(2), np.zeros(2), alpha=1.5)


def test_sigmoid_focal_alpha_not_a_number():
    with pytest.raises(TypeError, match=r"`alpha` must be a number; got alpha='0.25'."):
        sigmoid_focal_loss(np.zeros(2), np.zeros(2), alpha="0.25")


@pytest.mark.parametrize("fn", [sigmoid_focal_loss, softmax_focal_loss])
def test_negative_gamma(fn):
    targets = np.zeros(2) if fn is sigmoid_focal_loss else np.array([0])
    logits = np.zeros(2) if fn is sigmoid_focal_loss else np.zeros((1, 2))
    with pytest.raises(ValueError, match=r"`gamma` must be non-negative; got gamma=-1.0."):
        fn(logits, targets, gamma=-1.0)


def test_softmax_focal_negative_scalar_alpha():
    with pytest.raises(ValueError, match=r"`alpha` must be non-negative; got alpha=-0.5."):
        softmax_focal_loss(np.zeros((1, 3)), np.array([0]), alpha=-0.5)


def test_softmax_focal_alpha_vector_of_wrong_length():
    with pytest.raises(
        ValueError, match=r"`alpha` must have one entry per class, shape \(3,\); got \(2,\)."
    ):
        softmax_focal_loss(np.zeros((1, 3)), np.array([0]), alpha=[0.5, 0.5])


def test_softmax_focal_negative_alpha_vector():
    with pytest.raises(
        ValueError, match=r"`alpha` must be non-negative and finite; got alpha\[1\]=-1.0."
    ):
        softmax_focal_loss(np.zeros((1, 3)), np.array([0]), alpha=np.array([1.0, -1.0, 1.0]))


def test_softmax_focal_integer_alpha_vector():
    with pytest.raises(
        TypeError, match=r"`alpha` must be a floating-point array; got dtype int64."
    ):
        softmax_focal_loss(np.zeros((1, 3)), np.array([0]), alpha=np.array([1, 2, 3]))


def test_softmax_focal_alpha_from_another_library():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"all array arguments must come from one array library"):
        softmax_focal_loss(np.zeros((1, 3)), np.array([0]), alpha=torch.ones(3))


def test_softmax_focal_target_out_of_range_uses_the_shared_check():
    with pytest.raises(ValueError, match=r"`targets`: class index 3 is out of range for 3 classes"):
        softmax_focal_loss(np.zeros((1, 3)), np.array([3]))


@pytest.mark.parametrize("name", ["gamma_pos", "gamma_neg"])
def test_asymmetric_negative_gamma(name):
    with pytest.raises(ValueError, match=rf"`{name}` must be non-negative; got {name}=-2.0."):
        asymmetric_loss(np.zeros(2), np.zeros(2), **{name: -2.0})


def test_asymmetric_clip_out_of_range():
    with pytest.raises(ValueError, match=r"`clip` must be in \[0.0, 1.0\); got clip=1.0."):
        asymmetric_loss(np.zeros(2), np.zeros(2), clip=1.0)


@pytest.mark.parametrize("fn", [sigmoid_focal_loss, asymmetric_loss])
def test_sigmoid_family_bad_reduction(fn):
    with pytest.raises(
        ValueError, match=r"`reduction` must be one of 'none', 'mean', 'sum'; got reduction='avg'."
    ):
        fn(np.zeros(2), np.zeros(2), reduction="avg")


# ---------------------------------------------------------------------------------------
# `crossent explain focal`: C13 and C14, computed live
# ---------------------------------------------------------------------------------------


def test_explain_focal_weights_follow_the_formula_and_both_orders():
    section = focal_four_kinds()
    v = section.values
    assert v["paper_weight/hard positive"] == pytest.approx(0.25 * 0.9**2)
    assert v["paper_weight/hard negative"] == pytest.approx(0.75 * 0.9**2)
    assert v["paper_weight/easy positive"] == pytest.approx(0.25 * 0.1**2)
    assert v["article_weight/easy negative"] == pytest.approx(0.25 * 0.1**2)
    assert (
        "hard negative > hard positive > easy negative > easy positive (not the article's"
        in section.note
    )
    assert (
        "hard positive > hard negative > easy positive > easy negative (the article's stated"
        in section.note
    )


def test_explain_focal_command_prints_the_tables(capsys):
    from crossent.cli import main

    assert set(TOPICS) >= {"focal", "ghm"}
    assert main(["explain", "focal"]) == 0
    out = capsys.readouterr().out
    assert "C14" in out and "C13" in out and "hard negative" in out and "γ = 0.5" in out
    assert crossent.sigmoid_focal_loss is sigmoid_focal_loss


# check=True on the focal family runs the same guardrails as the core losses


@pytest.mark.parametrize(
    "fn",
    [
        crossent.sigmoid_focal_loss,
        crossent.asymmetric_loss,
        crossent.ghm_classification_loss,
    ],
)
def test_check_refuses_class_indices_for_sigmoid_family(fn):
    logits = np.zeros((6, 3))
    labels = np.array([[0, 2, 1, 2, 0, 1]]).T * np.ones((1, 3))  # class indices as rows
    fn(logits, np.eye(3)[[0, 1, 2, 0, 1, 2]], check=True)  # multi-hot 0/1 rows pass
    with pytest.raises(ValueError, match="Fix:"):
        fn(logits, labels, check=True)


def test_check_refuses_softmax_focal_on_one_unit():
    with pytest.raises(ValueError, match="single output unit"):
        crossent.softmax_focal_loss(np.zeros((4, 1)), np.zeros(4, dtype=np.int64), check=True)
    crossent.softmax_focal_loss(np.zeros((4, 3)), np.array([0, 1, 2, 0]), check=True)
