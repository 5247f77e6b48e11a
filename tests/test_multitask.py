"""Multi-task losses: exact sums, learned weightings against the papers' formulas, errors."""

from __future__ import annotations

import copy
import math
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import crossent
import reference as ref
from crossent import multitask
from crossent.multitask import (
    DynamicWeightAverage,
    GradNorm,
    UncertaintyWeighting,
    combine,
    uncertainty_weighted_sum,
)

# ---------------------------------------------------------------------------------------
# Naive float64 references, written from the papers' formulas.
# ---------------------------------------------------------------------------------------


def naive_weighted_sum(losses, weights):
    total = np.zeros_like(np.asarray(losses[0], dtype=np.float64))
    for loss, w in zip(losses, weights, strict=True):
        total = total + w * np.asarray(loss, dtype=np.float64)
    return total


def naive_uncertainty(losses, log_vars, factor):
    """Σ_i c_i exp(-s_i) L_i + s_i, term by term."""
    total = np.zeros_like(np.asarray(losses[0], dtype=np.float64))
    for loss, s, c in zip(losses, log_vars, factor, strict=True):
        total = total + c * math.exp(-s) * np.asarray(loss, dtype=np.float64) + s
    return total


def naive_dwa(history, temperature):
    """Liu et al.: w_k = K exp(r_k/T) / Σ_i exp(r_i/T), r_k = L_k(t-1)/L_k(t-2)."""
    k = len(history[-1])
    if len(history) < 2:
        return [1.0] * k
    ratios = [history[-1][i] / history[-2][i] for i in range(k)]
    exps = [math.exp(r / temperature) for r in ratios]
    return [k * e / sum(exps) for e in exps]


# ---------------------------------------------------------------------------------------
# combine
# ---------------------------------------------------------------------------------------

DYADIC = [0.5, 2.25, 8.0]
"""Losses and weights that are exact in binary: sums and products have no rounding."""


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_combine_sum_is_exact(xp, dtype):
    out = combine([xp.asarray(v, dtype) for v in DYADIC])
    ref.assert_result(xp, out, 10.75, dtype=dtype)
    assert float(out) == 10.75


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_combine_weighted_sum_is_exact(xp, dtype):
    losses = [xp.asarray(v, dtype) for v in DYADIC]
    for weights in ([0.25, 1.0, 2.0], np.array([0.25, 1.0, 2.0]), xp.asarray([0.25, 1.0, 2.0])):
        out = combine(losses, weights)
        ref.assert_result(xp, out, 18.375, dtype=dtype)
        assert float(out) == 18.375


def test_combine_matches_naive_reference(xp):
    rng = np.random.default_rng(0)
    losses = [rng.random(5) * scale for scale in (1.0, 10.0, 100.0, 0.1)]
    weights = rng.random(4)
    expected = naive_weighted_sum(losses, weights)
    out = combine([xp.asarray(v) for v in losses], weights=xp.asarray(weights))
    ref.assert_result(xp, out, expected)
    # one array whose first axis indexes the tasks gives the same
    stacked = combine(xp.asarray(np.stack(losses)), weights=weights)
    ref.assert_result(xp, stacked, expected)
    ref.assert_result(
        xp, combine([xp.asarray(v) for v in losses]), naive_weighted_sum(losses, [1] * 4)
    )


def test_combine_numbers_mixed_with_arrays(xp):
    out = combine([xp.asarray(1.5), 2.0], [2.0, 0.5])
    ref.assert_result(xp, out, 4.0)


def test_combine_of_numbers_is_a_numpy_float64():
    out = combine([0.5, 2.0])
    assert isinstance(out, (np.ndarray, np.generic))
    assert out.dtype == np.float64
    assert out.shape == ()
    assert float(out) == 2.5


def test_combine_half_precision_returns_the_input_dtype():
    losses = [torch.tensor(v, dtype=torch.float16) for v in DYADIC]
    out = combine(losses, [0.25, 1.0, 2.0])
    assert out.dtype == torch.float16
    assert float(out) == 18.375


def test_combine_gradients_torch():
    losses = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in DYADIC]
    weights = torch.tensor([0.25, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    combine(losses, weights).backward()
    assert [float(loss.grad) for loss in losses] == [0.25, 1.0, 2.0]
    assert weights.grad.tolist() == DYADIC


def test_combine_gradients_jax():
    import jax
    import jax.numpy as jnp

    losses = jnp.asarray(DYADIC)
    weights = jnp.asarray([0.25, 1.0, 2.0])
    grad_losses, grad_weights = jax.grad(lambda ls, w: combine(ls, w), argnums=(0, 1))(
        losses, weights
    )
    np.testing.assert_array_equal(np.asarray(grad_losses), [0.25, 1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(grad_weights), DYADIC)
    jitted = jax.jit(lambda ls, w: combine([ls[0], ls[1], ls[2]], w))(losses, weights)
    assert float(jitted) == 18.375


@pytest.mark.parametrize(
    ("losses", "weights", "error", "match"),
    [
        ([], None, ValueError, r"`losses` must hold at least one task; got none\."),
        ([1.0, 2.0], [1.0], ValueError, r"`weights` must hold one entry per task \(2\); got 1\."),
        ([1.0, 2.0], [1.0, 2.0, 3.0], ValueError, r"one entry per task \(2\); got 3\."),
        (
            [1.0, 2.0],
            [1.0, -0.5],
            ValueError,
            r"`weights` must be non-negative; got weights\[1\]=-0\.5\.",
        ),
        ([1.0, 2.0], [math.nan, 1.0], ValueError, r"non-negative; got weights\[0\]=nan\."),
        (
            [1.0, 2.0],
            [[1.0, 2.0]],
            TypeError,
            r"`weights\[0\]` must be an array or a number; got list\.",
        ),
        (
            [1.0, 2.0],
            np.ones((2, 2)),
            ValueError,
            r"one number per task, shape \(2,\); got \(2, 2\)\.",
        ),
        (
            [np.ones(2), np.ones(3)],
            None,
            ValueError,
            r"`losses`: every task's entry must have one shape",
        ),
        (np.array(1.0), None, ValueError, r"`losses` must be a list with one entry per task"),
        ({"a": 1.0}, None, TypeError, r"`losses` must be a list or tuple .*; got dict\."),
        ([1.0, "2"], None, TypeError, r"`losses\[1\]` must be an array or a number; got str\."),
        ([1.0, True], None, TypeError, r"`losses\[1\]` must be an array or a number; got bool\."),
        (
            np.array([1, 2]),
            None,
            TypeError,
            r"`losses` must be a floating-point array; got dtype int64\.",
        ),
        ([1.0, 2.0], np.array([1, 2]), TypeError, r"`weights` must be a floating-point array"),
        ([np.array(1.0), torch.tensor(1.0)], None, TypeError, r"one array library"),
        (
            [torch.tensor(1.0), torch.tensor(2.0)],
            [torch.tensor(1.0), np.array(1.0)],
            TypeError,
            r"one array library",
        ),
    ],
)
def test_combine_errors(losses, weights, error, match):
    with pytest.raises(error, match=match):
        combine(losses, weights)


def test_combine_negative_weights_raise_on_every_library(xp):
    with pytest.raises(
        ValueError, match=r"`weights` must be non-negative; got weights\[2\]=-1\.0\."
    ):
        combine([xp.asarray(v) for v in DYADIC], xp.asarray([1.0, 0.0, -1.0]))


# ---------------------------------------------------------------------------------------
# Uncertainty weighting (Kendall et al. 2018)
# ---------------------------------------------------------------------------------------


def test_uncertainty_weighted_sum_matches_formula(xp):
    rng = np.random.default_rng(1)
    losses = rng.random(3) * [1.0, 10.0, 100.0] + 0.1
    log_vars = rng.normal(size=3)
    for factor in (1.0, [1.0, 2.0, 0.5]):
        factors = [factor] * 3 if isinstance(factor, float) else factor
        out = uncertainty_weighted_sum(xp.asarray(losses), xp.asarray(log_vars), factor=factor)
        ref.assert_result(xp, out, naive_uncertainty(losses, log_vars, factors))
    # losses of one common shape: every element gets the sum of the log-variances
    batched = [rng.random(4) for _ in range(3)]
    out = uncertainty_weighted_sum([xp.asarray(v) for v in batched], log_vars.tolist())
    ref.assert_result(xp, out, naive_uncertainty(batched, log_vars, [1.0] * 3))


def test_uncertainty_gradient_and_minimum_torch():
    losses = torch.tensor([0.7, 3.0, 40.0], dtype=torch.float64)
    factor = [1.0, 2.0, 1.0]
    s = torch.tensor([0.3, -0.2, 1.0], dtype=torch.float64, requires_grad=True)
    uncertainty_weighted_sum(losses, s, factor=factor).backward()
    # d/ds_i [c_i e^{-s_i} L_i + s_i] = 1 - c_i e^{-s_i} L_i
    expected = 1 - torch.tensor(factor, dtype=torch.float64) * torch.exp(-s.detach()) * losses
    torch.testing.assert_close(s.grad, expected)
    # the minimum: s_i = log(c_i L_i), where the effective weight c_i e^{-s_i} is 1 / L_i
    s_star = torch.log(torch.tensor(factor, dtype=torch.float64) * losses).requires_grad_(True)
    uncertainty_weighted_sum(losses, s_star, factor=factor).backward()
    torch.testing.assert_close(s_star.grad, torch.zeros(3, dtype=torch.float64))


def test_uncertainty_functional_trains_under_jax():
    import jax
    import jax.numpy as jnp

    losses = jnp.asarray([1.0, 100.0])
    step = jax.jit(lambda s: s - 0.1 * jax.grad(lambda s: uncertainty_weighted_sum(losses, s))(s))
    s = jnp.zeros(2)
    for _ in range(300):
        s = step(s)
    weights = np.exp(-np.asarray(s))
    np.testing.assert_allclose(weights, [1.0, 0.01], rtol=1e-6)


@pytest.mark.parametrize("factor", [1.0, [1.0, 2.0]])
def test_uncertainty_weighting_learns_inverse_loss_scales(factor):
    """Constant losses of scales 1 and 100: the learned weights end up 100 : 1."""
    torch.manual_seed(0)
    weighting = UncertaintyWeighting(2, factor=factor)
    optimizer = torch.optim.Adam(weighting.parameters(), lr=0.2)
    losses = [torch.tensor(1.0), torch.tensor(100.0)]
    factors = [factor] * 2 if isinstance(factor, float) else factor
    first = float(weighting.weights()[0] / weighting.weights()[1])
    for _ in range(500):
        optimizer.zero_grad()
        weighting(losses).backward()
        optimizer.step()
    weights = weighting.weights()
    assert first == factors[0] / factors[1]  # log-variances start at 0
    assert float(weights[0] / weights[1]) == pytest.approx(100.0, rel=0.01)
    np.testing.assert_allclose(weights.numpy(), [1.0, 0.01], rtol=0.01)
    np.testing.assert_allclose(
        weighting.log_vars.detach().numpy(), np.log(np.multiply(factors, [1.0, 100.0])), atol=0.01
    )


def test_uncertainty_weighting_learns_with_sgd_on_a_real_loss_pair():
    """SGD on the log-variances, with losses of two scales that a model produces."""
    torch.manual_seed(0)
    weighting = UncertaintyWeighting(2)
    optimizer = torch.optim.SGD(weighting.parameters(), lr=0.05)
    logits = torch.randn(256, 5)
    targets = torch.randint(0, 5, (256,))
    cross_entropy = crossent.softmax_cross_entropy(logits, targets)
    squared_error = 100 * cross_entropy.detach()  # a second task 100 times larger
    for _ in range(600):
        optimizer.zero_grad()
        weighting([cross_entropy, squared_error]).backward()
        optimizer.step()
    weights = weighting.weights()
    assert float(weights[0] / weights[1]) == pytest.approx(100.0, rel=0.01)


def test_uncertainty_weighting_is_a_module_and_matches_the_functional_form():
    weighting = UncertaintyWeighting(3, factor=[1.0, 2.0, 1.0])
    assert isinstance(weighting, torch.nn.Module)
    assert isinstance(weighting, UncertaintyWeighting)
    assert repr(weighting) == "UncertaintyWeighting(n_tasks=3)"
    assert [name for name, _ in weighting.named_parameters()] == ["log_vars"]
    with torch.no_grad():
        weighting.log_vars.copy_(torch.tensor([0.5, -1.0, 2.0]))
    losses = [torch.tensor(0.3), torch.tensor(2.0), torch.tensor(9.0)]
    out = weighting(losses)
    assert out.dtype == torch.float32 and out.shape == ()
    expected = naive_uncertainty([0.3, 2.0, 9.0], [0.5, -1.0, 2.0], [1.0, 2.0, 1.0])
    np.testing.assert_allclose(float(out.detach()), expected, rtol=1e-6)
    weights = weighting.weights()
    assert not weights.requires_grad and weights.shape == (3,)
    np.testing.assert_allclose(
        weights.numpy(), [math.exp(-0.5), 2 * math.exp(1.0), math.exp(-2.0)], rtol=1e-6
    )
    # pickling, deep copies, state_dict and dtype moves behave as for any module
    clone = pickle.loads(pickle.dumps(weighting))
    torch.testing.assert_close(clone.log_vars, weighting.log_vars)
    assert type(copy.deepcopy(weighting)) is type(weighting)
    fresh = UncertaintyWeighting(3, factor=[1.0, 2.0, 1.0])
    fresh.load_state_dict(weighting.state_dict())
    torch.testing.assert_close(fresh(losses), out)
    assert weighting.double()(losses).dtype == torch.float32  # result in the losses' dtype


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_tasks": 0}, ValueError, r"`n_tasks` must be at least 1; got n_tasks=0\."),
        ({"n_tasks": 2.0}, TypeError, r"`n_tasks` must be an integer; got n_tasks=2\.0\."),
        (
            {"n_tasks": 2, "factor": 0.0},
            ValueError,
            r"`factor` must be positive; got factor=0\.0\.",
        ),
        ({"n_tasks": 2, "factor": [1.0, -2.0]}, ValueError, r"`factor\[1\]` must be positive"),
        (
            {"n_tasks": 2, "factor": [1.0]},
            ValueError,
            r"`factor` must hold one number per task \(2\); got 1\.",
        ),
    ],
)
def test_uncertainty_weighting_construction_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        UncertaintyWeighting(**kwargs)


def test_uncertainty_weighting_call_errors():
    weighting = UncertaintyWeighting(2)
    with pytest.raises(ValueError, match=r"`losses` must hold one entry per task \(2\); got 3\."):
        weighting([torch.tensor(1.0)] * 3)
    with pytest.raises(ValueError, match=r"`log_vars` must hold one entry per task \(3\); got 2\."):
        uncertainty_weighted_sum(np.ones(3), np.zeros(2))


# ---------------------------------------------------------------------------------------
# Dynamic weight average (Liu et al. 2019)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.5, 2.0, 10.0])
def test_dwa_matches_formula_over_a_recorded_history(temperature):
    rng = np.random.default_rng(2)
    history = [list(rng.random(3) * [1.0, 10.0, 0.1] + 0.01) for _ in range(8)]
    dwa = DynamicWeightAverage(3, temperature=temperature)
    np.testing.assert_array_equal(dwa.weights(), [1.0, 1.0, 1.0])
    for t, losses in enumerate(history):
        weights = dwa.update(losses)
        assert isinstance(weights, np.ndarray)
        assert weights.dtype == np.float64 and weights.shape == (3,)
        expected = naive_dwa(history[: t + 1], temperature)
        np.testing.assert_allclose(weights, expected, rtol=1e-12)
        np.testing.assert_allclose(dwa.weights(), expected, rtol=1e-12)
        if t == 0:
            np.testing.assert_array_equal(weights, [1.0, 1.0, 1.0])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(1e-3, 1e3), min_size=4, max_size=4),
    st.lists(st.floats(1e-3, 1e3), min_size=4, max_size=4),
    st.floats(0.1, 100.0),
)
def test_dwa_weights_sum_to_k_and_follow_the_ratios(before, after, temperature):
    dwa = DynamicWeightAverage(4, temperature=temperature)
    dwa.update(before)
    weights = dwa.update(after)
    ratios = np.asarray(after) / np.asarray(before)
    # softmax normalises in log space: its rounding grows with |r / T| (r up to 1e6 here)
    rtol = 16 * np.finfo(np.float64).eps * max(1.0, float(ratios.max()) / temperature)
    np.testing.assert_allclose(weights.sum(), 4.0, rtol=rtol)
    order = np.argsort(ratios, kind="stable")
    assert np.all(np.diff(weights[order]) >= -4 * rtol)  # the slower a loss falls, the more weight


def test_dwa_reads_values_from_any_library(xp):
    import jax.numpy as jnp

    dwa_numbers = DynamicWeightAverage(2)
    dwa_arrays = DynamicWeightAverage(2)
    for losses in ([2.0, 4.0], [1.0, 3.0], [0.9, 1.0]):
        expected = dwa_numbers.update(losses)
        as_arrays = [xp.asarray(v) for v in losses]
        if xp.name == "torch":
            as_arrays = [a.requires_grad_(True) * 1 for a in as_arrays]
        got = dwa_arrays.update(as_arrays if xp.name != "jax" else jnp.asarray(losses))
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_tasks": 0}, ValueError, r"`n_tasks` must be at least 1; got n_tasks=0\."),
        ({"n_tasks": "2"}, TypeError, r"`n_tasks` must be an integer"),
        (
            {"n_tasks": 2, "temperature": 0.0},
            ValueError,
            r"`temperature` must be positive; got temperature=0\.0\.",
        ),
        (
            {"n_tasks": 2, "temperature": -1.0},
            ValueError,
            r"`temperature` must be positive; got temperature=-1\.0\.",
        ),
        (
            {"n_tasks": 2, "temperature": None},
            TypeError,
            r"`temperature` must be a number; got temperature=None\.",
        ),
    ],
)
def test_dwa_construction_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        DynamicWeightAverage(**kwargs)


@pytest.mark.parametrize(
    ("losses", "error", "match"),
    [
        ([1.0], ValueError, r"`losses` must hold one entry per task \(2\); got 1\."),
        (
            [1.0, 0.0],
            ValueError,
            r"`losses` must be positive and finite .*; got losses\[1\]=0\.0\.",
        ),
        ([-1.0, 1.0], ValueError, r"got losses\[0\]=-1\.0\."),
        ([1.0, math.inf], ValueError, r"got losses\[1\]=inf\."),
        ([math.nan, 1.0], ValueError, r"got losses\[0\]=nan\."),
        (
            np.ones((2, 3)),
            ValueError,
            r"`losses` must hold one scalar loss per task; got shape \(2, 3\)\.",
        ),
    ],
)
def test_dwa_update_errors(losses, error, match):
    dwa = DynamicWeightAverage(2)
    dwa.update([1.0, 1.0])
    with pytest.raises(error, match=match):
        dwa.update(losses)
    np.testing.assert_array_equal(dwa.weights(), [1.0, 1.0])  # a rejected step is not recorded


# ---------------------------------------------------------------------------------------
# GradNorm (Chen et al. 2018)
# ---------------------------------------------------------------------------------------


class TwoHeads(torch.nn.Module):
    """A shared trunk and two regression heads; task 1's targets are ``scale`` times larger."""

    def __init__(self, seed: int = 0, scale: float = 10.0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.trunk = torch.nn.Linear(4, 16)
        self.heads = torch.nn.ModuleList([torch.nn.Linear(16, 1), torch.nn.Linear(16, 1)])
        self.x = torch.randn(64, 4, generator=generator)
        self.targets = [
            self.x @ torch.randn(4, 1, generator=generator),
            scale * self.x @ torch.randn(4, 1, generator=generator),
        ]

    def losses(self) -> list[torch.Tensor]:
        features = torch.tanh(self.trunk(self.x))
        return [
            torch.nn.functional.mse_loss(head(features), y)
            for head, y in zip(self.heads, self.targets, strict=True)
        ]


def reference_gradnorm_loss(losses, weights, shared, initial, alpha):
    """Chen et al.'s L_grad written literally: G_i = ||∇_W (w_i L_i)|| by double backprop."""
    norms = torch.stack(
        [
            torch.linalg.vector_norm(
                torch.autograd.grad(w * loss, shared, create_graph=True, retain_graph=True)[0]
            )
            for w, loss in zip(weights, losses, strict=True)
        ]
    )
    loss_ratios = torch.stack([loss.detach() for loss in losses]) / initial
    inverse_rates = loss_ratios / loss_ratios.mean()
    target = (norms.mean() * inverse_rates**alpha).detach()
    return torch.sum(torch.abs(norms - target))


@pytest.mark.parametrize("alpha", [0.0, 0.12, 1.5])
def test_gradnorm_loss_matches_the_papers_formula(alpha):
    model = TwoHeads(seed=3)
    gradnorm = GradNorm(2, alpha=alpha)
    with torch.no_grad():
        gradnorm.task_weights.copy_(torch.tensor([0.7, 1.3]))
    first = model.losses()
    gradnorm.gradnorm_loss(first, model.trunk.weight)  # records L_i(0)
    initial = torch.stack([loss.detach() for loss in first])
    torch.testing.assert_close(gradnorm.initial_losses, initial)
    with torch.no_grad():  # a later step: other losses, other loss ratios
        model.trunk.weight.mul_(0.8)
    later = model.losses()
    ours = gradnorm.gradnorm_loss(later, model.trunk.weight)
    (ours_grad,) = torch.autograd.grad(ours, gradnorm.task_weights)
    weights = gradnorm.task_weights.detach().clone().requires_grad_(True)
    expected = reference_gradnorm_loss(later, weights, model.trunk.weight, initial, alpha)
    (expected_grad,) = torch.autograd.grad(expected, weights)
    assert ours.shape == () and ours.dtype == torch.float32
    torch.testing.assert_close(ours, expected)
    torch.testing.assert_close(ours_grad, expected_grad)
    torch.testing.assert_close(gradnorm.initial_losses, initial)  # recorded once


def test_gradnorm_loss_over_several_shared_tensors_uses_their_joint_norm():
    model = TwoHeads(seed=4)
    gradnorm = GradNorm(2, alpha=0.0, initial_losses=[1.0, 1.0])
    shared = [model.trunk.weight, model.trunk.bias]
    losses = model.losses()
    ours = gradnorm.gradnorm_loss(losses, shared)
    norms = [
        torch.linalg.vector_norm(
            torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, shared, retain_graph=True)])
        )
        for loss in losses
    ]
    expected = abs(norms[0] - norms[1])  # two tasks, alpha 0: each is |G_i - mean| = half the gap
    torch.testing.assert_close(ours, expected)


def test_gradnorm_network_loss_holds_the_weights_fixed():
    model = TwoHeads(seed=5)
    gradnorm = GradNorm(2)
    with torch.no_grad():
        gradnorm.task_weights.copy_(torch.tensor([0.25, 1.75]))
    losses = model.losses()
    total = gradnorm(losses)
    assert total.shape == () and total.dtype == torch.float32
    torch.testing.assert_close(total, 0.25 * losses[0] + 1.75 * losses[1])
    total.backward()
    assert gradnorm.task_weights.grad is None
    assert model.trunk.weight.grad is not None


def test_gradnorm_loss_reaches_the_weights_only():
    model = TwoHeads(seed=6)
    gradnorm = GradNorm(2)
    gradnorm.gradnorm_loss(model.losses(), model.trunk.weight).backward()
    assert gradnorm.task_weights.grad is not None
    assert all(p.grad is None for p in model.parameters())


def weighted_gradient_norm_ratio(model, gradnorm):
    """G_1 / G_0: the weighted gradient norms of the two tasks at the shared layer."""
    losses = model.losses()
    norms = [
        torch.linalg.vector_norm(
            torch.autograd.grad(loss, model.trunk.weight, retain_graph=True)[0]
        )
        for loss in losses
    ]
    w = gradnorm.weights()
    return float(w[1] * norms[1] / (w[0] * norms[0]))


def test_gradnorm_moves_weights_toward_equal_gradient_norms():
    model = TwoHeads(seed=0, scale=10.0)
    gradnorm = GradNorm(2, alpha=0.0)  # alpha 0: the target is the mean gradient norm
    model_opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    weight_opt = torch.optim.Adam(gradnorm.parameters(), lr=0.02)
    before = weighted_gradient_norm_ratio(model, gradnorm)
    for _ in range(100):
        losses = model.losses()
        total = gradnorm(losses)
        balance = gradnorm.gradnorm_loss(losses, model.trunk.weight)
        model_opt.zero_grad()
        weight_opt.zero_grad()
        (total + balance).backward()
        model_opt.step()
        weight_opt.step()
        gradnorm.renormalize()
        assert float(gradnorm.weights().sum()) == pytest.approx(2.0, rel=1e-6)
    after = weighted_gradient_norm_ratio(model, gradnorm)
    weights = gradnorm.weights()
    assert before > 3.0  # the large-scale task dominates the shared layer at first
    assert 0.8 < after < 1.25  # ... and not after GradNorm
    assert float(weights[0]) > 1.5 > 0.5 > float(weights[1]) > 0.0


def test_gradnorm_renormalize_and_state():
    gradnorm = GradNorm(3, alpha=0.5, initial_losses=[1.0, 2.0, 3.0])
    assert isinstance(gradnorm, torch.nn.Module)
    assert repr(gradnorm) == "GradNorm(n_tasks=3, alpha=0.5)"
    with torch.no_grad():
        gradnorm.task_weights.copy_(torch.tensor([1.0, 2.0, 5.0]))
    gradnorm.renormalize()
    torch.testing.assert_close(gradnorm.weights(), torch.tensor([0.375, 0.75, 1.875]))
    state = gradnorm.state_dict()
    assert set(state) == {"task_weights", "initial_losses"}
    torch.testing.assert_close(state["initial_losses"], torch.tensor([1.0, 2.0, 3.0]))
    clone = pickle.loads(pickle.dumps(gradnorm))
    torch.testing.assert_close(clone.weights(), gradnorm.weights())
    # given initial losses are kept, not overwritten by the first call
    model = TwoHeads(seed=7)
    two = GradNorm(2, initial_losses=[1.0, 4.0])
    two.gradnorm_loss(model.losses(), model.trunk.weight)
    torch.testing.assert_close(two.initial_losses, torch.tensor([1.0, 4.0]))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_tasks": 0}, ValueError, r"`n_tasks` must be at least 1; got n_tasks=0\."),
        ({"n_tasks": 1.5}, TypeError, r"`n_tasks` must be an integer; got n_tasks=1\.5\."),
        (
            {"n_tasks": 2, "alpha": -0.5},
            ValueError,
            r"`alpha` must be non-negative; got alpha=-0\.5\.",
        ),
        (
            {"n_tasks": 2, "initial_losses": [1.0, 0.0]},
            ValueError,
            r"`initial_losses\[1\]` must be positive",
        ),
        (
            {"n_tasks": 2, "initial_losses": [1.0]},
            ValueError,
            r"`initial_losses` must hold one number per task \(2\); got 1\.",
        ),
    ],
)
def test_gradnorm_construction_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        GradNorm(**kwargs)


def test_gradnorm_call_errors():
    model = TwoHeads(seed=8)
    gradnorm = GradNorm(2)
    losses = model.losses()
    with pytest.raises(ValueError, match=r"`losses` must hold one entry per task \(2\); got 1\."):
        gradnorm(losses[:1])
    with pytest.raises(TypeError, match=r"`losses` must be torch tensors for GradNorm; got numpy"):
        gradnorm.gradnorm_loss([1.0, 2.0], model.trunk.weight)
    with pytest.raises(ValueError, match=r"one scalar loss per task; got shape \(2, 3\)\."):
        gradnorm(torch.ones(2, 3))
    unrelated = torch.nn.Parameter(torch.ones(3))
    with pytest.raises(
        ValueError, match=r"`shared_parameters`: task loss 0 does not depend on them"
    ):
        gradnorm.gradnorm_loss(losses, unrelated)
    only_head_1 = model.heads[1].weight
    with pytest.raises(ValueError, match=r"task loss 0 does not depend on them"):
        gradnorm.gradnorm_loss(losses, only_head_1)
    with pytest.raises(
        TypeError, match=r"`shared_parameters` must be a tensor or an iterable of tensors"
    ):
        gradnorm.gradnorm_loss(losses, [])


# ---------------------------------------------------------------------------------------
# Packaging: NumPy is the only hard dependency; docstrings carry formula, paper, example.
# ---------------------------------------------------------------------------------------


def test_import_without_torch():
    script = textwrap.dedent(
        """
        import sys

        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {name!r}")
                return None

        sys.meta_path.insert(0, NoTorch())
        from crossent import multitask
        assert float(multitask.combine([1.0, 2.0], [0.5, 0.25])) == 1.0
        assert multitask.DynamicWeightAverage(2).update([1.0, 2.0]).tolist() == [1.0, 1.0]
        assert "torch" not in sys.modules
        try:
            multitask.UncertaintyWeighting(2)
        except ImportError as exc:
            print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "`UncertaintyWeighting` is a torch.nn.Module and needs PyTorch" in result.stdout


@pytest.mark.parametrize("cls", [UncertaintyWeighting, DynamicWeightAverage, GradNorm])
def test_class_docstrings_carry_formula_reference_and_example(cls):
    doc = cls.__doc__
    assert ".. math::" in doc and "References:" in doc and ">>>" in doc
    assert cls.__name__ in multitask.__all__
    assert crossent.multitask is multitask


def test_torch_weightings_are_real_classes_of_crossent_torch_re_exported_here():
    import crossent.torch.multitask as torch_multitask

    for name in ("UncertaintyWeighting", "GradNorm"):
        cls = getattr(multitask, name)
        assert cls is getattr(torch_multitask, name)
        assert cls.__module__ == "crossent.torch.multitask" and cls.__qualname__ == name
        assert torch.nn.Module in cls.__bases__
        assert name in dir(multitask)
    # names that earlier versions wrote into pickles still resolve
    assert multitask._TorchGradNorm is torch_multitask.GradNorm
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = multitask.Nope


def test_pickled_weightings_load_in_a_fresh_interpreter():
    weighting = UncertaintyWeighting(2)
    with torch.no_grad():
        weighting.log_vars.copy_(torch.tensor([0.25, -0.5]))
    gradnorm = GradNorm(2, alpha=0.5, initial_losses=[1.0, 2.0])
    blob = pickle.dumps((weighting, gradnorm))
    script = textwrap.dedent(
        """
        import pickle, sys
        weighting, gradnorm = pickle.loads(sys.stdin.buffer.read())
        print(type(weighting).__module__, weighting.log_vars.tolist(), gradnorm.alpha,
              gradnorm.initial_losses.tolist())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(crossent.__file__).resolve().parent.parent)}
    done = subprocess.run(
        [sys.executable, "-c", script], input=blob, capture_output=True, check=True, env=env
    )
    assert done.stdout.decode().split() == [
        "crossent.torch.multitask",
        "[0.25,",
        "-0.5]",
        "0.5",
        "[1.0,",
        "2.0]",
    ]
