"""The stacked repeats: one batched model trains each member exactly as if it were alone."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crossent import sigmoid_binary_cross_entropy
from crossent.experiments.stacked import StackedMLP, stack, stacked_outputs, train_stacked
from crossent.experiments.training import NoProgress


def member_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return sigmoid_binary_cross_entropy(out[..., 0], y, reduction="none").mean(dim=1)


def data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.normal(size=40) > 0).astype(np.float32)
    return x, y


def evaluate(model: StackedMLP) -> dict[str, np.ndarray]:
    return {"w_norm": model.weights[0].detach().flatten(1).norm(dim=1).double().numpy()}


@pytest.mark.parametrize("optimizer", ["adam", "adadelta", "sgd"])
def test_each_member_trains_as_if_alone(optimizer: str) -> None:
    draws = [data(s) for s in (0, 1, 2)]
    seeds = [10, 11, 10]  # members 0 and 2 start alike: same seed, different data
    x, y = stack([d[0] for d in draws]), stack([d[1] for d in draws])
    together = StackedMLP(seeds, 5, 1, hidden=8)
    assert torch.equal(together.weights[0][0], together.weights[0][2])
    train_stacked(
        together,
        member_loss,
        x,
        y,
        steps=15,
        batch_size=16,
        lr=0.05,
        seed=3,
        evaluate=evaluate,
        eval_at=[5],
        progress=NoProgress(),
        optimizer=optimizer,
    )
    for m, seed in enumerate(seeds):
        alone = StackedMLP([seed], 5, 1, hidden=8)
        train_stacked(
            alone,
            member_loss,
            x[m : m + 1],
            y[m : m + 1],
            steps=15,
            batch_size=16,
            lr=0.05,
            seed=3,
            evaluate=evaluate,
            eval_at=[5],
            progress=NoProgress(),
            optimizer=optimizer,
        )
        for p_all, p_one in zip(together.parameters(), alone.parameters(), strict=True):
            torch.testing.assert_close(p_all[m], p_one[0], rtol=1e-5, atol=1e-6)


def test_forward_is_the_member_mlp() -> None:
    model = StackedMLP([0, 1], 3, 2, hidden=4)
    x = torch.randn(2, 6, 3)
    out = model(x)
    assert out.shape == (2, 6, 2) and out.dtype == torch.float32
    w1, w2 = model.weights
    b1, b2 = model.biases
    for m in range(2):
        expected = torch.relu(x[m] @ w1[m] + b1[m]) @ w2[m] + b2[m]
        torch.testing.assert_close(out[m], expected)
    linear = StackedMLP([0], 3, 2, hidden=None)
    assert len(linear.weights) == 1


def test_initialisation_is_pytorch_linear_default() -> None:
    model = StackedMLP(list(range(20)), 50, 30, hidden=None)
    w, b = model.weights[0].detach(), model.biases[0].detach()
    bound = 1 / math.sqrt(50)
    assert float(w.abs().max()) <= bound and float(b.abs().max()) <= bound
    # Uniform on ±bound: variance bound²/3.
    assert float(w.var()) == pytest.approx(bound**2 / 3, rel=0.05)
    assert not torch.equal(w[0], w[1])


def test_history_records_every_evaluation_per_member() -> None:
    x, y = data(0)
    xs, ys = stack([x, x]), stack([y, y])
    history = train_stacked(
        StackedMLP([0, 1], 5, 1, hidden=8),
        member_loss,
        xs,
        ys,
        steps=10,
        batch_size=100,
        lr=0.1,
        seed=0,
        evaluate=evaluate,
        eval_at=[4],
        progress=NoProgress(),
    )
    assert history.steps == [0, 4, 10]
    assert np.isnan(history.at(0, "train_loss")).all()
    assert history.final("train_loss").shape == (2,)
    assert history.curve("w_norm").shape == (3, 2)


def test_stack_refuses_ragged_members() -> None:
    with pytest.raises(ValueError, match="`arrays` must share one shape to stack"):
        stack([np.zeros((3, 2)), np.zeros((4, 2))])


def test_members_can_share_a_draw_without_copying_it() -> None:
    draws = [data(s) for s in (0, 1)]
    x, y = stack([d[0] for d in draws]), stack([d[1] for d in draws])
    data_of = torch.tensor([0, 1, 0, 1])
    shared = StackedMLP([5, 6, 5, 6], 5, 1, hidden=8)
    copied = StackedMLP([5, 6, 5, 6], 5, 1, hidden=8)
    common = {"steps": 8, "batch_size": 16, "lr": 0.05, "seed": 1, "evaluate": evaluate}
    train_stacked(
        shared, member_loss, x, y, eval_at=[], progress=NoProgress(), data_of=data_of, **common
    )  # type: ignore[arg-type]
    train_stacked(
        copied, member_loss, x[data_of], y[data_of], eval_at=[], progress=NoProgress(), **common
    )  # type: ignore[arg-type]
    for a, b in zip(shared.parameters(), copied.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    out = stacked_outputs(shared, x, data_of)
    assert out.shape == (4, 40, 1) and out.dtype == np.float64
    with torch.no_grad():
        np.testing.assert_allclose(out, shared(x[data_of]).double().numpy(), rtol=1e-6)
