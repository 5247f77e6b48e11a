"""C16: combining task losses — the plain sum, tuned weights, and learned weightings (seed 003).

Two tasks share a trunk: classify the digit (softmax cross-entropy, a loss of order 1) and
regress the share of the image covered by ink, in percent (squared error, a loss of order
100 — the units make it so, as units do in practice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from crossent import multitask as mt
from crossent import softmax_cross_entropy
from crossent.experiments import figures
from crossent.experiments.models import HIDDEN, TwoHeads
from crossent.experiments.registry import Claim, Context, Figure, Result, Table, verdict
from crossent.experiments.training import deterministic

__all__ = ["CLAIMS"]

INK_LEVEL = 0.5
"""A pixel is inked when its intensity is above half the maximum."""

PERCENT = 100.0

BATCH, LR, EVAL_EVERY = 128, 1e-3, 25
QUICK_STEPS, FULL_STEPS = 300, 600
MAX_TRAIN_QUICK, MAX_TRAIN_FULL, MAX_TEST = 3000, 10000, 2000

WEIGHT_GRID = (1.0, 1e-1, 1e-2, 1e-3, 1e-4)
"""Weights tried for the ink task (the digit task's weight is 1): the tuning a weighted sum
needs, by powers of ten; 1 is the plain sum."""

UW_LR = 0.05
"""Adam rate for the log-variances of uncertainty weighting: they must travel about
ln(100) ≈ 5 — the log of the ratio of the two loss scales — within the run, which the
network's rate of 1e-3 would take thousands of steps to do."""

UW_FACTOR = (2.0, 1.0)
"""Kendall et al.'s objectives: 1/σ² for the classification loss, 1/(2σ²) for the regression."""

DWA_TEMPERATURE = 2.0
GRADNORM_ALPHA, GRADNORM_LR = 1.5, 0.005
"""A small rate for GradNorm's weights: it drives the ink task's weight towards 0, and a
step past 0 would switch the task off or reverse it (the smallest weight is reported)."""

SPREAD_FOR_LOG = 10.0
"""A panel of weights gets a log scale when they spread over more than this factor."""

SYMLOG_FLOOR = 1e-3
"""Below this the weight plot is linear, so that weights at or below 0 stay visible."""

DOMINANCE_SHARE = 0.9
"""The ink task dominates the sum when it makes up at least this share of it at the start."""

HARM = 0.05
"""The plain sum harms the digit task when its accuracy falls this far below single-task."""

TUNING_SPREAD = 0.05
"""Weights need tuning when the best and worst of the grid differ this much in score."""

NO_TUNING_TOLERANCE = 0.02
"""Uncertainty weighting needs no tuning when its score is within this of the grid's best."""


def _ink_percent(x: np.ndarray) -> np.ndarray:
    """The share of pixels above :data:`INK_LEVEL` (features are intensities in [0, 1])."""
    return (PERCENT * np.mean(x > INK_LEVEL, axis=1, keepdims=True)).astype(np.float32)


@dataclass
class Trajectory:
    """One multi-task run: the weights over steps and the final held-out metrics."""

    steps: list[int] = field(default_factory=list)
    weights: list[list[float]] = field(default_factory=list)
    accuracy: float = float("nan")
    rmse: float = float("nan")
    start_losses: tuple[float, float] = (float("nan"), float("nan"))


Weighting = Callable[[list[torch.Tensor], int], torch.Tensor]


def _run(
    ctx: Context,
    data: Any,
    method: str,
    *,
    steps: int,
    fixed: tuple[float, float] | None = None,
) -> Trajectory:
    """Train the two-headed model with one way of combining the losses.

    ``method``: ``"digit only"``, ``"ink only"``, ``"weighted"`` (``fixed`` weights),
    ``"uncertainty"``, ``"dwa"`` or ``"gradnorm"``.
    """
    seed = ctx.seed * 1000
    deterministic(seed)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    ink = torch.from_numpy(_ink_percent(data.x_train))
    n_classes = int(data.y_train.max()) + 1
    model = TwoHeads(data.n_features, (n_classes, 1), seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    uw = mt.UncertaintyWeighting(2, factor=UW_FACTOR)
    uw_opt = torch.optim.Adam(uw.parameters(), lr=UW_LR)
    dwa = mt.DynamicWeightAverage(2, temperature=DWA_TEMPERATURE)
    dwa_weights, window = np.ones(2), []
    gradnorm = mt.GradNorm(2, alpha=GRADNORM_ALPHA)
    gn_opt = torch.optim.Adam(gradnorm.parameters(), lr=GRADNORM_LR)
    generator = torch.Generator().manual_seed(seed)
    out = Trajectory()

    def current_weights() -> list[float]:
        if method == "uncertainty":
            return [float(w) for w in uw.weights()]
        if method == "dwa":
            return [float(w) for w in dwa_weights]
        if method == "gradnorm":
            return [float(w) for w in gradnorm.weights()]
        if method == "weighted" and fixed is not None:
            return list(fixed)
        return [1.0, 0.0] if method == "digit only" else [0.0, 1.0]

    for step in range(steps + 1):
        idx = torch.randint(0, len(y), (BATCH,), generator=generator)
        logits, ink_hat = model(x[idx])
        losses = [softmax_cross_entropy(logits, y[idx]), torch.mean((ink_hat - ink[idx]) ** 2)]
        if step == 0:
            out.start_losses = (float(losses[0].detach()), float(losses[1].detach()))
        if step % EVAL_EVERY == 0:
            out.steps.append(step)
            out.weights.append(current_weights())
        if step == steps:
            break
        opt.zero_grad()
        if method == "digit only":
            total = losses[0]
        elif method == "ink only":
            total = losses[1]
        elif method == "weighted":
            total = mt.combine(losses, list(fixed or (1.0, 1.0)))
        elif method == "uncertainty":
            uw_opt.zero_grad()
            total = uw(losses)
        elif method == "dwa":
            total = mt.combine(losses, dwa_weights)
            window.append([float(v.detach()) for v in losses])
            if len(window) == EVAL_EVERY:  # DWA's "epoch": the mean loss of a window of steps
                dwa_weights = dwa.update(np.mean(window, axis=0))
                window = []
        else:
            gn_opt.zero_grad()
            balance = gradnorm.gradnorm_loss(losses, model.trunk[0].weight)
            total = gradnorm(losses) + balance
        total.backward()
        opt.step()
        if method == "uncertainty":
            uw_opt.step()
        if method == "gradnorm":
            gn_opt.step()
            gradnorm.renormalize()
        ctx.progress.advance()
    model.eval()
    with torch.no_grad():
        logits, ink_hat = model(torch.from_numpy(data.x_test))
    out.accuracy = float((logits.argmax(dim=1).numpy() == data.y_test).mean())
    out.rmse = float(np.sqrt(np.mean((ink_hat.numpy() - _ink_percent(data.x_test)) ** 2)))
    return out


def c16(ctx: Context) -> Result:
    data = ctx.multiclass()
    n_train = ctx.size(quick=MAX_TRAIN_QUICK, full=MAX_TRAIN_FULL)
    if len(data.y_train) > n_train:  # MNIST: a subset is plenty for a few hundred steps
        data = data.subset(n_train, MAX_TEST, np.random.default_rng(ctx.seed))
    steps = ctx.size(quick=QUICK_STEPS, full=FULL_STEPS)
    methods: dict[str, tuple[str, tuple[float, float] | None]] = {
        "digit only": ("digit only", None),
        "ink only": ("ink only", None),
        **{f"weighted 1 : {w:g}": ("weighted", (1.0, w)) for w in WEIGHT_GRID},
        "uncertainty weighting": ("uncertainty", None),
        "dynamic weight average": ("dwa", None),
        "GradNorm": ("gradnorm", None),
    }
    ctx.progress.expect(len(methods) * steps)
    runs = {name: _run(ctx, data, m, steps=steps, fixed=f) for name, (m, f) in methods.items()}
    acc_single, rmse_single = runs["digit only"].accuracy, runs["ink only"].rmse

    def score(t: Trajectory) -> float:
        """Each task's result relative to its single-task model, averaged (1 = both as good)."""
        return 0.5 * (t.accuracy / acc_single + rmse_single / t.rmse)

    grid = {name: runs[name] for name in methods if name.startswith("weighted")}
    plain = runs["weighted 1 : 1"]
    start_ce, start_mse = plain.start_losses
    share = start_mse / (start_ce + start_mse)
    grid_scores = {name: score(t) for name, t in grid.items()}
    best = max(grid_scores, key=lambda k: grid_scores[k])
    uw = runs["uncertainty weighting"]
    measured: dict[str, Any] = {
        "data": data.name,
        "start_loss_digit": start_ce,
        "start_loss_ink": start_mse,
        "ink_share_of_sum_at_start": share,
        "single_task_accuracy": acc_single,
        "single_task_rmse": rmse_single,
        "results": {
            n: {
                "accuracy": t.accuracy,
                "rmse": t.rmse,
                "score": score(t),
                "final_weights": t.weights[-1],
            }
            for n, t in runs.items()
        },
        "best_grid_weighting": best,
        "grid_score_spread": max(grid_scores.values()) - min(grid_scores.values()),
        "smallest_gradnorm_weight": float(np.min(runs["GradNorm"].weights)),
        "uncertainty_score": score(uw),
    }
    dominated = share >= DOMINANCE_SHARE and plain.accuracy <= acc_single - HARM
    needs_tuning = measured["grid_score_spread"] >= TUNING_SPREAD
    no_tuning = score(uw) >= grid_scores[best] - NO_TUNING_TOLERANCE
    fig, axes = figures.figure(3, height=3.0)
    for ax, name in zip(
        axes, ("uncertainty weighting", "dynamic weight average", "GradNorm"), strict=True
    ):
        w = np.array(runs[name].weights)
        ax.plot(runs[name].steps, w[:, 0], color=figures.COLORS[0], label="digit (CE)")
        ax.plot(runs[name].steps, w[:, 1], color=figures.COLORS[1], label="ink (MSE)")
        ax.set(title=name, xlabel="step")
        if np.max(np.abs(w)) > SPREAD_FOR_LOG * np.min(np.abs(w)):
            ax.set_yscale("symlog", linthresh=SYMLOG_FLOOR)  # linear near 0: a weight ≤ 0 shows
    axes[0].set_ylabel("task weight")
    figures.legend_above(fig, axes[0])
    rows = [
        [
            n,
            f"{t.accuracy:.3f}",
            f"{t.rmse:.2f}",
            f"{score(t):.3f}",
            " : ".join(f"{v:.3g}" for v in t.weights[-1]),
        ]
        for n, t in runs.items()
    ]
    return Result(
        verdict(dominated and needs_tuning and no_tuning),
        f"The ink loss is ≥ {DOMINANCE_SHARE:.0%} of the plain sum at the start and the sum leaves "
        f"the digit accuracy ≥ {HARM} below the single-task model's; over the weight grid "
        f"{', '.join(f'{w:g}' for w in WEIGHT_GRID)} the score (each task's metric relative to its "
        f"single-task model, averaged) spreads by ≥ {TUNING_SPREAD}; uncertainty weighting scores "
        f"within {NO_TUNING_TOLERANCE} of the best grid weight.",
        measured,
        f"{data.name}: a shared hidden layer of {HIDDEN} and two heads — the digit (softmax CE) and "
        f"the share of inked pixels in percent (squared error). Adam (rate {LR:g}), batch {BATCH}, "
        f"{steps} steps, one seed per method. Uncertainty weighting (Kendall et al. 2018, factors "
        f"{UW_FACTOR}) trains its log-variances at rate {UW_LR}; dynamic weight average (T = "
        f"{DWA_TEMPERATURE:g}) updates every {EVAL_EVERY} steps from the window's mean losses; "
        f"GradNorm (α = {GRADNORM_ALPHA}) balances gradients at the shared layer, weights at rate "
        f"{GRADNORM_LR}.",
        f"At the start the ink loss is {start_mse:.0f} against the digit's {start_ce:.2f} "
        f"({share:.1%} of the sum). Digit accuracy: single-task {acc_single:.3f}, plain sum "
        f"{plain.accuracy:.3f}. The best fixed weight is {best} (score {grid_scores[best]:.3f}); "
        f"the grid's scores spread by {measured['grid_score_spread']:.3f}. Uncertainty weighting, "
        f"untuned: accuracy {uw.accuracy:.3f}, ink error {uw.rmse:.2f} points, score {score(uw):.3f}"
        f"{'' if no_tuning else ' — short of the tuned weight'}. GradNorm pushes the ink weight "
        f"to {runs['GradNorm'].weights[-1][1]:.2g} (smallest on the way "
        f"{measured['smallest_gradnorm_weight']:.2g}); dynamic weight average, which follows how "
        f"fast each loss falls rather than its scale, ends at "
        f"{' : '.join(f'{w:.2f}' for w in runs['dynamic weight average'].weights[-1])}.",
        figures=[
            Figure(
                "Task weights during training",
                figures.to_svg(fig, "c16"),
                "Panels whose weights spread over more than a factor 10 are on a log scale "
                "(linear below 10⁻³, so a weight at or below 0 shows). Uncertainty weighting and "
                "GradNorm set the weights from the losses; dynamic weight average from how fast "
                "each loss falls, not from its scale.",
            )
        ],
        tables=[
            Table(
                "Held-out results per way of combining the losses",
                [
                    "combination",
                    "digit accuracy",
                    "ink RMSE (points)",
                    "score",
                    "final weights digit : ink",
                ],
                rows,
            )
        ],
        headline=f"digit accuracy: single-task {acc_single:.3f}, sum {plain.accuracy:.3f}, best weight {grid[best].accuracy:.3f}, uncertainty weighting {uw.accuracy:.3f}",
    )


CLAIMS = [
    Claim(
        "C16",
        "Summing task losses lets the task with the largest loss scale dominate; a weighted "
        "sum needs its weights tuned; a learned weighting (uncertainty weighting, Kendall et al. "
        "2018) needs no tuning.",
        "seed 003",
        c16,
    ),
]
