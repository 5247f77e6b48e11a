"""The repeats of a trained comparison as one batched model.

A trained claim runs every method on several independent repeats (data draw and
initialisation). Run one after another, each repeat is a Python loop of tiny matrix
products; stacked, the ``M`` small MLPs are one model whose weights carry a leading member
axis (``[M, in, out]``, applied with :func:`torch.baddbmm`). The training objective is the
sum of the members' losses, so each member's gradient is its own, and Adam, Adadelta and
plain SGD — elementwise updates — move each member exactly as if it were trained alone.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from crossent.experiments.models import HIDDEN
from crossent.experiments.training import Progress, _optimizer, deterministic

__all__ = ["StackedHistory", "StackedMLP", "stack", "stacked_outputs", "train_stacked"]


class StackedMLP(nn.Module):
    """``M`` independent ``Linear → ReLU → Linear`` models (or single ``Linear`` layers when
    ``hidden`` is None), applied to ``[M, batch, in]`` inputs.

    Member ``m`` is initialised like :func:`~crossent.experiments.models.mlp` — PyTorch's
    ``nn.Linear`` default, weights and biases uniform in ``±1/√fan_in`` — from its own seed
    ``seeds[m]``: members with the same seed start identical, which pairs methods trained on
    the same repeat.

    Args:
        seeds: one seed per member.
        in_features, out_features: the sizes of each member.
        hidden: width of the hidden layer, or None for a linear model. Default: 64.
    """

    def __init__(
        self,
        seeds: Sequence[int],
        in_features: int,
        out_features: int,
        *,
        hidden: int | None = HIDDEN,
    ):
        super().__init__()
        sizes = (
            [in_features, out_features] if hidden is None else [in_features, hidden, out_features]
        )
        weights: list[nn.Parameter] = []
        biases: list[nn.Parameter] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1 / math.sqrt(fan_in)
            w = torch.empty(len(seeds), fan_in, fan_out)
            b = torch.empty(len(seeds), fan_out)
            for m, seed in enumerate(seeds):
                # Each layer draws from a generator seeded by the member's seed and the layer,
                # so that a member's start does not depend on which other members are stacked.
                gen = torch.Generator().manual_seed(seed * 7919 + len(weights))
                w[m] = (torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * bound
                b[m] = (torch.rand(fan_out, generator=gen) * 2 - 1) * bound
            weights.append(nn.Parameter(w))
            biases.append(nn.Parameter(b))
        self.weights = nn.ParameterList(weights)
        self.biases = nn.ParameterList(biases)

    @property
    def members(self) -> int:
        return int(self.weights[0].shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[M, batch, in]`` → ``[M, batch, out]`` logits."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b[:, None, :], x, w)
            if i < last:
                x = torch.relu(x)
        return x


def stack(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    """Equal-shaped per-member arrays as one ``[M, ...]`` tensor.

    Raises:
        ValueError: the arrays differ in shape.
    """
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"`arrays` must share one shape to stack; got {sorted(shapes)}.")
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrays)))


EVAL_ROWS = 512
"""Held-out rows per chunk in :func:`stacked_outputs`: bounds the copy of the inputs per
member (MNIST: 40 members × 512 rows × 784 pixels is 64 MB)."""


def stacked_outputs(
    model: StackedMLP, x: torch.Tensor, data_of: torch.Tensor | None = None
) -> np.ndarray:
    """Every member's outputs on its draw's held-out inputs, as float64 NumPy ``[M, N, out]``,
    without gradients, in chunks of :data:`EVAL_ROWS` rows.

    Args:
        model: the stacked members.
        x: ``[R, N, in]`` inputs, one per data draw.
        data_of: ``[M]`` the draw of each member; None: member ``m`` reads draw ``m``.
    """
    chunks = []
    with torch.no_grad():
        for start in range(0, int(x.shape[1]), EVAL_ROWS):
            xb = x[:, start : start + EVAL_ROWS]
            chunks.append(model(xb if data_of is None else xb[data_of]).double().numpy())
    return np.concatenate(chunks, axis=1)


@dataclass
class StackedHistory:
    """What a stacked run recorded at each evaluation: the step, each member's mean training
    loss since the previous evaluation, and each metric per member (arrays of length M)."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[np.ndarray] = field(default_factory=list)
    metrics: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def at(self, step: int, name: str) -> np.ndarray:
        """Metric ``name`` (``"train_loss"`` for the loss) per member at evaluation ``step``."""
        values = self.train_loss if name == "train_loss" else self.metrics[name]
        return values[self.steps.index(step)]

    def final(self, name: str) -> np.ndarray:
        return self.at(self.steps[-1], name)

    def curve(self, name: str) -> np.ndarray:
        """``[evaluations, M]``: metric ``name`` per member over the run."""
        values = self.train_loss if name == "train_loss" else self.metrics[name]
        return np.stack(values)


MemberLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``(outputs [M, batch, ...], targets [M, batch, ...])`` → each member's mean loss, ``[M]``."""


def train_stacked(
    model: StackedMLP,
    loss_fn: MemberLoss,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    evaluate: Callable[[StackedMLP], dict[str, np.ndarray]],
    eval_at: Sequence[int],
    progress: Progress,
    optimizer: str = "adam",
    data_of: torch.Tensor | None = None,
) -> StackedHistory:
    """Train every member of ``model`` on its own data for ``steps`` mini-batch steps.

    Member ``m`` trains on ``x[data_of[m]], y[data_of[m]]`` (``x[m], y[m]`` without
    ``data_of``: then the data are not copied once per member); every member draws the
    same positions each step
    (one permutation per epoch, seeded by ``seed``), so that members sharing a data draw see
    the same batches. ``evaluate(model)`` runs under ``torch.no_grad`` at step 0, at each
    step of ``eval_at`` and at the end.

    Args:
        model: the stacked members.
        loss_fn: each member's mean loss on its batch (:data:`MemberLoss`).
        x, y: ``[R, N, ...]`` training inputs and targets, one per data draw.
        steps: optimiser steps.
        batch_size: rows per step (the whole set when it is at least ``N``).
        lr: learning rate.
        seed: seeds the batch order.
        evaluate: per-member metrics, arrays of length M.
        eval_at: steps at which to evaluate, besides 0 and ``steps``.
        progress: advanced once per step.
        optimizer: ``"adam"``, ``"adadelta"`` or ``"sgd"`` (all elementwise). Default: "adam".
        data_of: ``[M]`` indices into the draws, the draw each member trains on; None: member
            ``m`` trains on draw ``m``. Default: None.

    Returns:
        The :class:`StackedHistory`.
    """
    deterministic(seed)
    n = int(x.shape[1])
    batch = min(batch_size, n)
    opt = _optimizer(optimizer, model, lr)
    generator = torch.Generator().manual_seed(seed)
    order, cursor = torch.randperm(n, generator=generator), 0
    marks = {int(s) for s in eval_at} | {steps}
    history = StackedHistory()
    running: list[np.ndarray] = []

    def record(step: int) -> None:
        with torch.no_grad():
            values = evaluate(model)
        history.steps.append(step)
        history.train_loss.append(
            np.mean(running, axis=0) if running else np.full(model.members, np.nan)
        )
        for name, value in values.items():
            history.metrics.setdefault(name, []).append(np.asarray(value, dtype=np.float64))
        running.clear()

    record(0)
    for step in range(1, steps + 1):
        if cursor + batch > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        idx = order[cursor : cursor + batch]
        cursor += batch
        xb, yb = x[:, idx], y[:, idx]
        if data_of is not None:
            xb, yb = xb[data_of], yb[data_of]
        losses = loss_fn(model(xb), yb)
        opt.zero_grad()
        losses.sum().backward()
        opt.step()
        running.append(losses.detach().double().numpy())
        progress.advance()
        if step in marks:
            record(step)
    return history
