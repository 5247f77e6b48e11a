"""One seeded, deterministic training loop and the metrics the claims are judged by."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn

__all__ = [
    "THREADS",
    "History",
    "Progress",
    "accuracy",
    "average_precision",
    "deterministic",
    "train",
]

THREADS = 1
"""Torch threads: one per experiment keeps runs reproducible and the machine shared."""


class Progress(Protocol):
    """Where an experiment reports its work: ``expect`` units, then ``advance`` through them."""

    def expect(self, units: int) -> None: ...

    def advance(self, units: int = 1) -> None: ...


class NoProgress:
    """A :class:`Progress` that shows nothing (tests, library use)."""

    def expect(self, units: int) -> None:
        pass

    def advance(self, units: int = 1) -> None:
        pass


def deterministic(seed: int) -> None:
    """Seed torch, use deterministic kernels and :data:`THREADS` threads."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(THREADS)


@dataclass
class History:
    """What a training run recorded at each evaluation: the step, the mean training loss
    since the previous evaluation, and each metric on the held-out data."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)

    def final(self, name: str) -> float:
        """The last recorded value of metric ``name`` (``"train_loss"`` for the loss)."""
        return self.at(self.steps[-1], name)

    def at(self, step: int, name: str) -> float:
        """Metric ``name`` as recorded at ``step`` (which must be an evaluation step)."""
        values = self.train_loss if name == "train_loss" else self.metrics[name]
        return values[self.steps.index(step)]


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Evaluate = Callable[[nn.Module], dict[str, float]]


def train(
    model: nn.Module,
    loss_fn: LossFn,
    x: np.ndarray,
    y: np.ndarray,
    *,
    steps: int,
    batch_size: int | None,
    lr: float,
    seed: int,
    evaluate: Evaluate,
    eval_every: int,
    progress: Progress,
    optimizer: str = "adam",
) -> History:
    """Train ``model`` on ``(x, y)`` for ``steps`` mini-batch steps; evaluate as it goes.

    Batches are drawn epoch by epoch from a permutation seeded by ``seed``
    (``batch_size=None``: the whole set each step). ``evaluate(model)`` runs under
    ``torch.no_grad`` and in eval mode at step 0, every ``eval_every`` steps and at the end.

    Args:
        optimizer: ``"adam"``, ``"adadelta"`` (Keras' ρ = 0.95, ε = 1e-7) or ``"sgd"``
            (plain gradient descent, no momentum).
    """
    deterministic(seed)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    n = len(xt)
    opt = _optimizer(optimizer, model, lr)
    generator = torch.Generator().manual_seed(seed)
    order, cursor = torch.randperm(n, generator=generator), 0
    history = History()
    running: list[float] = []

    def record(step: int) -> None:
        model.eval()
        with torch.no_grad():
            values = evaluate(model)
        model.train()
        history.steps.append(step)
        history.train_loss.append(float(np.mean(running)) if running else float("nan"))
        for name, value in values.items():
            history.metrics.setdefault(name, []).append(float(value))
        running.clear()

    record(0)
    for step in range(1, steps + 1):
        if batch_size is None:
            xb, yb = xt, yt
        else:
            if cursor + batch_size > n:
                order, cursor = torch.randperm(n, generator=generator), 0
            idx = order[cursor : cursor + batch_size]
            cursor += batch_size
            xb, yb = xt[idx], yt[idx]
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running.append(float(loss.detach()))
        progress.advance()
        if step % eval_every == 0 or step == steps:
            record(step)
    return history


KERAS_ADADELTA_RHO, KERAS_EPSILON = 0.95, 1e-7


def _optimizer(name: str, model: nn.Module, lr: float) -> torch.optim.Optimizer:
    params = model.parameters()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, rho=KERAS_ADADELTA_RHO, eps=KERAS_EPSILON)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ValueError(f"`optimizer` must be 'adam', 'adadelta' or 'sgd'; got optimizer={name!r}.")


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The model's outputs on ``x`` as float64 NumPy, without gradients."""
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(x)))
    model.train()
    return out.double().numpy()


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Share of equal entries (elementwise for multi-label rows: the Hamming accuracy)."""
    return float(np.mean(predicted == labels))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the precision–recall curve (scikit-learn's step-wise AP)."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(labels.ravel(), scores.ravel()))
