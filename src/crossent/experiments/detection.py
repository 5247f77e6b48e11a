"""The detection-like harness of the imbalance claims: stacked training, metrics, ceilings.

The claims about imbalance (α-balancing, hard negative mining, focal loss, GHM-C) compare
losses on the same per-anchor classifier. Each comparison needs many small models — every
loss times every independent repeat — so they are trained at once as one stacked model
(:class:`StackedMLP`: batched matrix products over a leading member axis). Member ``m`` is
exactly the :func:`crossent.experiments.models.mlp` that its seed makes, trained alone
with Adam on its repeat's batches: Adam is elementwise and the members' losses are summed,
so stacking changes the speed, not the numbers.

Metrics are weighted (:func:`average_precision`): the held-out sample holds as many
anchors of each kind as needed for a stable estimate, and importance weights from the
generator's known densities bring it back to the generator's own positive rate. The ceiling of a generated set is the same metric of the
true posterior (:func:`bayes_average_precision`), computed in float64.

References:
    Lin, Goyal, Girshick, He, Dollár. "Focal Loss for Dense Object Detection." ICCV 2017.
    https://arxiv.org/abs/1708.02002
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from crossent import (
    GHMC,
    hard_negative_mining,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
)
from crossent.experiments.datasets import AnchorMixture, Anchors
from crossent.experiments.models import mlp
from crossent.experiments.training import NoProgress, Progress, deterministic

__all__ = [
    "PRIOR",
    "Method",
    "StackedMLP",
    "Trained",
    "alpha_balanced",
    "average_precision",
    "bayes_average_precision",
    "bayes_recall",
    "bayes_scores",
    "bce",
    "focal",
    "ghm",
    "mined",
    "precision",
    "prior_bias",
    "random_negatives",
    "recall",
    "train_stacked",
]

PRIOR = 0.01
"""RetinaNet initialises the output bias to −log((1 − π)/π), π = 0.01, so that training
starts from "everything is background" rather than from a flood of positive predictions."""

MemberLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""Logits and targets ``[K, images, anchors]`` of K members → each member's loss ``[K]``."""

Method = Callable[[int, int], MemberLoss]
"""A training loss for K members: ``method(K, seed)`` makes the loss (and any state it keeps)."""


def prior_bias(prior: float = PRIOR) -> float:
    """The output bias ``−log((1 − π)/π)`` at which σ(bias) = π.

    Example:
        >>> from crossent.experiments.detection import prior_bias
        >>> round(prior_bias(0.01), 4)
        -4.5951
    """
    return -math.log((1 - prior) / prior)


def _linear(model: nn.Module, index: int) -> nn.Linear:
    layer = model[index] if isinstance(model, nn.Sequential) else None
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"`model` must be mlp()'s Linear → ReLU → Linear; got {model!r}.")
    return layer


class StackedMLP(nn.Module):
    """Many ``Linear → ReLU → Linear(1)`` classifiers as one module with a member axis.

    Member ``m`` starts as ``mlp(in_features, 1, seed=seeds[m], hidden=hidden)`` with its
    output bias at :func:`prior_bias`; ``forward`` maps ``x [M, N, D]`` to logits ``[M, N]``
    with two batched matrix products.

    Example:
        >>> import torch
        >>> from crossent.experiments.detection import StackedMLP
        >>> net = StackedMLP([0, 1, 2], in_features=4, hidden=8)
        >>> net(torch.zeros(3, 5, 4)).shape
        torch.Size([3, 5])
    """

    def __init__(
        self, seeds: Sequence[int], *, in_features: int, hidden: int, prior: float = PRIOR
    ):
        super().__init__()
        members = [mlp(in_features, 1, seed=s, hidden=hidden) for s in seeds]
        first = [_linear(m, 0) for m in members]
        last = [_linear(m, 2) for m in members]
        with torch.no_grad():
            self.w1 = nn.Parameter(torch.stack([layer.weight.T for layer in first]))
            self.b1 = nn.Parameter(torch.stack([layer.bias[None, :] for layer in first]))
            self.w2 = nn.Parameter(torch.stack([layer.weight.T for layer in last]))
            self.b2 = nn.Parameter(torch.full((len(members), 1, 1), prior_bias(prior)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(torch.baddbmm(self.b1, x, self.w1))
        out: torch.Tensor = torch.baddbmm(self.b2, hidden, self.w2)[..., 0]
        return out


# ----------------------------------------------------------------------------- losses


def _per_positive(total: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """RetinaNet's and SSD's normalisation: each member's summed loss over its positives."""
    return total / torch.clamp(y.sum(dim=(1, 2)), min=1.0)


def bce() -> Method:
    """Sigmoid BCE on every anchor, summed and divided by the number of positives."""

    def make(members: int, seed: int) -> MemberLoss:
        def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            each = sigmoid_binary_cross_entropy(z, y, reduction="none")
            return _per_positive(each.sum(dim=(1, 2)), y)

        return loss

    return make


def focal(gamma: float, alpha: float | None) -> Method:
    """crossent's sigmoid focal loss, summed and divided by the number of positives."""

    def make(members: int, seed: int) -> MemberLoss:
        def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            each = sigmoid_focal_loss(z, y, alpha=alpha, gamma=gamma, reduction="none")
            return _per_positive(each.sum(dim=(1, 2)), y)

        return loss

    return make


def alpha_balanced(alpha: float) -> Method:
    """α-balanced BCE: focal loss with γ = 0 (α on the positive term, 1 − α on the negative)."""
    return focal(0.0, alpha)


def _kept_bce(z: torch.Tensor, y: torch.Tensor, score: torch.Tensor, ratio: float) -> torch.Tensor:
    """BCE over the positives and, per image, the ``ratio · n₊`` negatives of highest ``score``."""
    each = sigmoid_binary_cross_entropy(z, y, reduction="none")
    keep = hard_negative_mining(score, y > 0, neg_pos_ratio=ratio)
    return _per_positive((each * keep).sum(dim=(1, 2)), y)


def mined(ratio: float = 3) -> Method:
    """SSD's hard negative mining: the positives and the highest-loss negatives at ``ratio``:1."""

    def make(members: int, seed: int) -> MemberLoss:
        def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            score = sigmoid_binary_cross_entropy(z.detach(), y, reduction="none")
            return _kept_bce(z, y, score, ratio)

        return loss

    return make


def random_negatives(ratio: float = 3) -> Method:
    """As :func:`mined`, with as many negatives chosen at random: the control for mining."""

    def make(members: int, seed: int) -> MemberLoss:
        generator = torch.Generator().manual_seed(seed)

        def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return _kept_bce(z, y, torch.rand(z.shape, generator=generator), ratio)

        return loss

    return make


def ghm(bins: int = 10, momentum: float = 0.75) -> Method:
    """crossent's stateful GHM-C, one running density per member."""

    def make(members: int, seed: int) -> MemberLoss:
        states = [GHMC(bins=bins, momentum=momentum) for _ in range(members)]

        def loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.stack([state(z[k], y[k]) for k, state in enumerate(states)])

        return loss

    return make


# --------------------------------------------------------------------------- training


@dataclass
class Trained:
    """The stacked model after training, and who each member is."""

    model: StackedMLP
    methods: list[str]
    repeats: int

    def member(self, method: str, repeat: int) -> int:
        """Index of ``method``'s member for ``repeat`` (methods outer, repeats inner)."""
        return self.methods.index(method) * self.repeats + repeat

    def member_logits(self, method: str, repeat: int, x: np.ndarray) -> np.ndarray:
        """One member's logits on ``x [n, D]``, float64."""
        m = self.member(method, repeat)
        p = self.model
        xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
        with torch.no_grad():
            hidden = torch.relu(xt @ p.w1[m] + p.b1[m])
            return (hidden @ p.w2[m] + p.b2[m])[:, 0].double().numpy()

    def scores(self, x: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Each method's logits ``[repeats, n]`` (float64) on repeat ``r``'s rows ``x[r]``."""
        xt = torch.from_numpy(np.stack([np.asarray(a, dtype=np.float32) for a in x]))
        with torch.no_grad():
            z = self.model(xt.repeat(len(self.methods), 1, 1)).double().numpy()
        return {m: z[i * self.repeats : (i + 1) * self.repeats] for i, m in enumerate(self.methods)}


def train_stacked(
    data: Sequence[Anchors],
    methods: dict[str, Method],
    *,
    steps: int,
    batch_images: int,
    lr: float,
    seed: int,
    hidden: int,
    progress: Progress | None = None,
) -> Trained:
    """Train one member per method and repeat, all at once, with Adam.

    Repeat ``r`` trains on ``data[r]`` from the initialisation seeded ``seed + r`` with
    batches of ``batch_images`` images drawn epoch by epoch from a permutation seeded the
    same way; every method sees the same start and the same batches in a repeat, so the
    methods' results are paired.

    Args:
        data: one training set per repeat, all of the same shape ``[images, anchors, D]``.
        methods: the losses by name (:data:`Method` factories).
        steps: optimiser steps.
        batch_images: images per step.
        lr: Adam's learning rate.
        seed: the first repeat's seed.
        hidden: hidden width of every member.
        progress: advanced once per step.

    Returns:
        :class:`Trained`.
    """
    deterministic(seed)
    progress = progress or NoProgress()
    names, repeats = list(methods), len(data)
    x = torch.from_numpy(np.stack([d.x for d in data]))  # [R, images, anchors, D]
    y = torch.from_numpy(np.stack([d.y for d in data]))
    n_images, anchors, features = x.shape[1], x.shape[2], x.shape[3]
    seeds = [seed + r for r in range(repeats)]
    model = StackedMLP(seeds * len(names), in_features=features, hidden=hidden)
    losses = [methods[n](repeats, seed + 7919 * (i + 1)) for i, n in enumerate(names)]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    orders = [torch.randperm(n_images, generator=g) for g in generators]
    cursor = 0
    for _ in range(steps):
        if cursor + batch_images > n_images:
            orders = [torch.randperm(n_images, generator=g) for g in generators]
            cursor = 0
        idx = torch.stack([o[cursor : cursor + batch_images] for o in orders])  # [R, B]
        cursor += batch_images
        xb = x[torch.arange(repeats)[:, None], idx]  # [R, B, A, D]
        yb = y[torch.arange(repeats)[:, None], idx]
        z = model(xb.reshape(repeats, -1, features).repeat(len(names), 1, 1))
        z = z.reshape(len(names), repeats, batch_images, anchors)
        total = sum(loss(z[i], yb).sum() for i, loss in enumerate(losses))
        opt.zero_grad()
        total.backward()  # type: ignore[union-attr]
        opt.step()
        progress.advance()
    return Trained(model, names, repeats)


# ---------------------------------------------------------------------------- metrics


def average_precision(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> float:
    r"""Average precision where each row counts as a positive with mass ``positive`` and as a
    negative with mass ``negative`` (scikit-learn's step-wise AP, with masses).

    .. math::

        \mathrm{AP} = \sum_n (R_n - R_{n-1})\, P_n,

    over the distinct scores from the highest down, with recall :math:`R_n` and precision
    :math:`P_n` counting the masses of the rows scored at least the n-th. 0/1 labels are
    ``positive = y``, ``negative = 1 − y``; the masses of
    :meth:`~crossent.experiments.datasets.AnchorMixture.evaluation_sample` estimate the AP
    at the generator's priors.

    Example:
        >>> import numpy as np
        >>> from crossent.experiments.detection import average_precision
        >>> y = np.array([1.0, 0.0, 1.0])
        >>> average_precision(np.array([0.9, 0.8, 0.1]), y, 1 - y)  # (1 + 2/3) / 2
        0.8333333333333333
    """
    order = np.argsort(-scores.ravel(), kind="stable")
    s = scores.ravel()[order]
    tp = np.cumsum(positive.ravel()[order])
    fp = np.cumsum(negative.ravel()[order])
    # One threshold per distinct score: the last row of each run of ties.
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
    tp, fp = tp[last], fp[last]
    detected = tp + fp
    precision = np.divide(tp, detected, out=np.ones_like(tp), where=detected > 0)
    recall_steps = np.diff(np.r_[0.0, tp]) / tp[-1]
    return float(np.sum(recall_steps * precision))


def recall(logits: np.ndarray, positive: np.ndarray, threshold: float = 0.0) -> float:
    """Share of the positive mass whose logit exceeds ``threshold`` (0: σ(z) > 0.5).

    Example:
        >>> import numpy as np
        >>> from crossent.experiments.detection import recall
        >>> recall(np.array([2.0, -1.0, 3.0]), np.array([1.0, 1.0, 0.0]))
        0.5
    """
    z, w = logits.ravel(), positive.ravel()
    return float(np.sum(w[z > threshold]) / np.sum(w))


def precision(
    logits: np.ndarray, positive: np.ndarray, negative: np.ndarray, threshold: float = 0.0
) -> float:
    """Share of positive mass among the rows whose logit exceeds ``threshold`` (1.0 when
    none does: no false detection).

    Example:
        >>> import numpy as np
        >>> from crossent.experiments.detection import precision
        >>> precision(np.array([2.0, 1.0, -3.0]), np.array([1.0, 0, 1]), np.array([0, 3.0, 0]))
        0.25
    """
    detected = logits.ravel() > threshold
    tp = float(np.sum(positive.ravel()[detected]))
    total = tp + float(np.sum(negative.ravel()[detected]))
    return tp / total if total > 0 else 1.0


def bayes_scores(
    mixture: AnchorMixture, *, per_kind: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The true posterior log-odds of a fresh float64
    :meth:`~crossent.experiments.datasets.AnchorMixture.evaluation_sample` of ``per_kind``
    anchors of each kind, with the rows' positive and negative masses: what every
    Bayes-optimal metric of ``mixture`` is computed from.
    """
    x, positive, negative = mixture.evaluation_sample(np.random.default_rng(seed), per_kind)
    return mixture.log_odds(x), positive, negative


def bayes_average_precision(mixture: AnchorMixture, *, per_kind: int, seed: int = 0) -> float:
    """The Bayes-optimal average precision of ``mixture``: the AP of its true posterior.

    Ranking by the posterior log-odds maximises AP, so no classifier trained on this
    generator can do better in expectation. Computed from :func:`bayes_scores`.

    Example:
        >>> from crossent.experiments.datasets import AnchorMixture
        >>> from crossent.experiments.detection import bayes_average_precision
        >>> far = AnchorMixture(0.01, 0.0, features=2, separation=12.0, hard_offset=1.0)
        >>> round(bayes_average_precision(far, per_kind=20_000), 3)
        1.0
    """
    return average_precision(*bayes_scores(mixture, per_kind=per_kind, seed=seed))


def bayes_recall(
    mixture: AnchorMixture, *, threshold: float, per_kind: int, seed: int = 0
) -> float:
    """Recall of the rule "true posterior log-odds > ``threshold``", from :func:`bayes_scores`.

    At ``threshold = log((1 − α)/α)`` this is the recall that α-balanced BCE approaches
    with unlimited data and capacity (its minimiser is the posterior reweighted by α).
    """
    log_odds, positive, _ = bayes_scores(mixture, per_kind=per_kind, seed=seed)
    return recall(log_odds, positive, threshold)
