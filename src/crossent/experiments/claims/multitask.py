"""C16: combining task losses — the plain sum, tuned weights, and learned weightings (seed 003).

Two tasks share a trunk: classify the digit (softmax cross-entropy, a loss of order 1) and
regress the share of the image covered by ink (squared error). The ink's unit sets its loss
scale — as a fraction, in percent, in per mille — as units do in practice; the regime of
the claim is the ratio of the two losses' scales, swept by changing that unit. The claim is
three statements, each judged on its own (C16a, C16b, C16c), from one experiment: every way
of combining the losses, at every scale, on the same repeats (data split and
initialisation), all stacked in one batched model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from crossent import multitask as mt
from crossent import softmax_cross_entropy
from crossent.experiments import figures
from crossent.experiments.models import HIDDEN
from crossent.experiments.registry import Claim, Context, Evidence, Figure, Result, Table
from crossent.experiments.stacked import StackedMLP, stack, stacked_outputs
from crossent.experiments.stats import (
    SweepPoint,
    equivalence_verdict,
    mean_interval,
    sweep_point,
    sweep_verdict,
    values_where,
    where_and_where_not,
)
from crossent.experiments.training import deterministic

__all__ = ["CLAIMS"]

INK_LEVEL = 0.5
"""A pixel is inked when its intensity is above half the maximum."""

PERCENT = 100.0

BATCH, LR, EVAL_EVERY = 128, 1e-3, 25
QUICK_STEPS, FULL_STEPS = 300, 600

WEIGHT_GRID_QUICK = (1.0, 1e-1, 1e-2, 1e-3, 1e-4)
WEIGHT_GRID_FULL = (10.0, 1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
"""Weights tried for the ink task (the digit task's weight is 1): the tuning a weighted sum
needs, by powers of ten, wide enough for every scale of the sweep; 1 is the plain sum."""

INK_SCALES_QUICK, INK_SCALES_FULL = (5.0, 100.0, 1000.0), (5.0, 30.0, 100.0, 1000.0)
"""Units of the ink target: its share of the image times this (100: percent). The squared
error grows with the square of the unit, so these put the ink loss at about 1, 35, 400 and
40,000 times the digit loss at the start."""

MT_REPEATS_QUICK, MT_REPEATS_FULL = 5, 8
"""Repeats (data split and initialisation) of every method at every scale, paired."""

PERCENT_SCALE = 100.0
"""The scale at which the published numbers are compared and the weights are plotted."""

UW_LR = 0.05
"""Adam rate for the log-variances of uncertainty weighting: they must travel about
ln(100) ≈ 5 — the log of the ratio of the two loss scales — within the run, which the
network's rate of 1e-3 would take thousands of steps to do."""

UW_FACTOR = (2.0, 1.0)
"""Kendall et al.'s objectives: 1/σ² for the classification loss, 1/(2σ²) for the regression."""


SPREAD_FOR_LOG = 10.0
"""A panel of weights gets a log scale when they spread over more than this factor."""

SYMLOG_FLOOR = 1e-3
"""Below this the weight plot is linear, so that weights at or below 0 stay visible."""


NO_TUNING_TOLERANCE = 0.02
"""Uncertainty weighting needs no tuning when its score is within this of the grid's best."""


def _ink_percent(x: np.ndarray) -> np.ndarray:
    """The share of pixels above :data:`INK_LEVEL` (features are intensities in [0, 1])."""
    return (PERCENT * np.mean(x > INK_LEVEL, axis=1, keepdims=True)).astype(np.float32)


KENDALL_TABLE_1 = (
    ("single-task models", "59.4%", "4.61", "0.640"),
    ("unweighted sum of losses (0.333 each)", "50.1%", "3.79", "0.592"),
    ("approx. optimal weights (0.89, 0.01, 0.1)", "62.8%", "3.61", "0.549"),
    ("3-task uncertainty weighting", "63.4%", "3.50", "0.522"),
)
"""Kendall, Gal & Cipolla (2018), Table 1: Tiny CityScapes (128 × 256), semantic IoU,
instance mean error (px) and inverse-depth mean error (px)."""


@dataclass
class ScaleRuns:
    """Every method's held-out results at one ink scale, per repeat."""

    scale: float
    grid: tuple[float, ...]
    """The fixed ink weights tried."""
    ratio: np.ndarray
    """Ink loss over digit loss at step 0 of the plain sum, per repeat."""
    accuracy: dict[str, np.ndarray]
    rmse: dict[str, np.ndarray]
    """Ink error in percentage points, whatever the unit trained in."""
    uw_weights: np.ndarray
    """Uncertainty weighting's final effective weights, ``[repeats, 2]``."""
    uw_trace: tuple[list[int], np.ndarray]
    """Uncertainty weighting's effective weights during training on the first repeat: the
    steps and ``[steps, 2]``."""


def _method_names(grid: tuple[float, ...]) -> list[str]:
    return ["digit only", "ink only", *(_weighted(w) for w in grid), UW]


def _weighted(w: float) -> str:
    return f"weighted 1 : {w:g}"


UW = "uncertainty weighting"
PLAIN = _weighted(1.0)


def _train_scale(
    ctx: Context,
    draws: list[Any],
    scale: float,
    steps: int,
    n_classes: int,
    grid: tuple[float, ...],
) -> ScaleRuns:
    """Train every method on every draw at one ink scale, as one stacked model: member
    ``(method k, repeat r)`` starts from repeat ``r``'s seed and trains on draw ``r``."""
    names, repeats = _method_names(grid), len(draws)
    members = len(names) * repeats
    draw_of = torch.arange(members) % repeats
    x = stack([d.x_train for d in draws])
    y = stack([d.y_train for d in draws])
    ink = stack([_ink_percent(d.x_train)[:, 0] for d in draws]) * (scale / PERCENT)
    seeds = [ctx.seed * 1000 + r for r in range(repeats)] * len(names)
    deterministic(ctx.seed)
    model = StackedMLP(seeds, draws[0].n_features, n_classes + 1)
    weights = {"digit only": (1.0, 0.0), "ink only": (0.0, 1.0)}
    weights.update({_weighted(w): (1.0, w) for w in grid})
    coef = torch.tensor(
        [weights.get(n, (0.0, 0.0)) for n in names for _ in range(repeats)], dtype=torch.float32
    )
    uw_first = names.index(UW) * repeats
    uws = [mt.UncertaintyWeighting(2, factor=UW_FACTOR) for _ in range(repeats)]
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    uw_opt = torch.optim.Adam([p for u in uws for p in u.parameters()], lr=UW_LR)
    generator = torch.Generator().manual_seed(ctx.seed)
    n = x.shape[1]
    ratio = np.full(repeats, np.nan)
    plain = names.index(PLAIN) * repeats
    trace_steps: list[int] = []
    trace: list[list[float]] = []
    for step in range(steps):
        if step % EVAL_EVERY == 0:
            trace_steps.append(step)
            trace.append([float(w) for w in uws[0].weights()])
        idx = torch.randint(0, n, (BATCH,), generator=generator)
        out = model(x[:, idx][draw_of])
        yb, inkb = y[:, idx][draw_of], ink[:, idx][draw_of]
        ce = softmax_cross_entropy(out[..., :n_classes], yb, reduction="none").mean(dim=1)
        se = ((out[..., n_classes] - inkb) ** 2).mean(dim=1)
        if step == 0:
            ratio = (se[plain : plain + repeats] / ce[plain : plain + repeats]).detach().numpy()
        fixed = (coef[:, 0] * ce + coef[:, 1] * se).sum()
        learned = sum(
            (uw([ce[uw_first + r], se[uw_first + r]]) for r, uw in enumerate(uws)),
            torch.zeros(()),
        )
        opt.zero_grad()
        uw_opt.zero_grad()
        (fixed + learned).backward()
        opt.step()
        uw_opt.step()
        ctx.progress.advance()
    with torch.no_grad():
        out = stacked_outputs(model, stack([d.x_test for d in draws]), draw_of)
        y_test = np.stack([d.y_test for d in draws])[draw_of.numpy()]
        ink_test = np.stack([_ink_percent(d.x_test)[:, 0] for d in draws])[draw_of.numpy()]
        correct = out[..., :n_classes].argmax(axis=-1) == y_test
        ink_hat = out[..., n_classes] * (PERCENT / scale)
        rmse = np.sqrt(np.mean((ink_hat - ink_test) ** 2, axis=1))
        uw_weights = np.array([[float(w) for w in u.weights()] for u in uws])
    part = {n: slice(k * repeats, (k + 1) * repeats) for k, n in enumerate(names)}
    return ScaleRuns(
        scale,
        grid,
        ratio,
        {n: correct.mean(axis=1)[s] for n, s in part.items()},
        {n: rmse[s] for n, s in part.items()},
        uw_weights,
        (trace_steps, np.array(trace)),
    )


def _score(run: ScaleRuns, method: str) -> np.ndarray:
    """Each task's result relative to its single-task model on the same repeat, averaged
    (1 = both as good as alone; higher is better)."""
    return 0.5 * (
        run.accuracy[method] / run.accuracy["digit only"] + run.rmse["ink only"] / run.rmse[method]
    )


def _tuned(run: ScaleRuns) -> tuple[np.ndarray, list[str]]:
    """The score of the tuned weighted sum, per repeat, and the weight each repeat got.

    The weight for repeat ``r`` is the grid's best by mean score over the *other* repeats:
    tuning on the repeat being scored would let its noise pick the winner.
    """
    names = [_weighted(w) for w in run.grid]
    scores = np.stack([_score(run, n) for n in names])  # [grid, repeats]
    repeats = scores.shape[1]
    picked = [
        names[int(np.argmax(np.delete(scores, r, axis=1).mean(axis=1)))] for r in range(repeats)
    ]
    return np.array([_score(run, n)[r] for r, n in enumerate(picked)]), picked


def _experiment(ctx: Context) -> dict[str, Any]:
    """Run (once per context) the whole multi-task experiment the three statements share."""
    if "c16" in ctx.store:
        stored: dict[str, Any] = ctx.store["c16"]
        return stored
    repeats = ctx.size(quick=MT_REPEATS_QUICK, full=MT_REPEATS_FULL)
    scales = INK_SCALES_QUICK if ctx.quick else INK_SCALES_FULL
    steps = ctx.size(quick=QUICK_STEPS, full=FULL_STEPS)
    draws = ctx.draws("multiclass", repeats)
    n_classes = int(max(d.y_train.max() for d in draws)) + 1
    ctx.progress.expect(len(scales) * steps)
    grid = WEIGHT_GRID_QUICK if ctx.quick else WEIGHT_GRID_FULL
    runs = [_train_scale(ctx, draws, s, steps, n_classes, grid) for s in scales]
    stored = {
        "runs": runs,
        "repeats": repeats,
        "steps": steps,
        "data": draws[0].name,
    }
    ctx.store["c16"] = stored
    return stored


def _ratio_value(run: ScaleRuns) -> float:
    return float(np.mean(run.ratio))


VARIABLE = "ink loss / digit loss at the start"


def _setting(exp: dict[str, Any]) -> str:
    scales = ", ".join(f"{r.scale:g}" for r in exp["runs"])
    return (
        f"{exp['data']}: a shared hidden layer of {HIDDEN} and two heads — the digit (softmax "
        f"CE) and the share of inked pixels (squared error) in units of 1/{PERCENT:g} × "
        f"{{{scales}}} (percent at 100), which sets the ratio of the two losses. Adam (rate "
        f"{LR:g}), batch {BATCH}, {exp['steps']} steps, {exp['repeats']} repeats (split and "
        f"initialisation) per method and scale, paired. Fixed ink weights "
        f"{', '.join(f'{w:g}' for w in exp['runs'][0].grid)} (digit weight 1; 1 : 1 is the plain "
        "sum); "
        f"uncertainty weighting (Kendall et al. 2018, factors {UW_FACTOR}) trains its "
        f"log-variances at rate {UW_LR}. Score: each task's held-out metric relative to its "
        "single-task model on the same repeat, averaged (1 = both tasks as good as alone)."
    )


def _published(exp: dict[str, Any]) -> Table:
    run = min(exp["runs"], key=lambda r: abs(np.log(r.scale / PERCENT_SCALE)))
    _, picked = _tuned(run)
    chosen = max(set(picked), key=picked.count)

    def ours(method: str, rmse_from: str | None = None) -> list[str]:
        acc = mean_interval(run.accuracy[method])
        err = mean_interval(run.rmse[rmse_from or method])
        return [f"{acc.mean:.1%}", f"{err.mean:.2f}"]

    rows = [
        [KENDALL_TABLE_1[0][0], *KENDALL_TABLE_1[0][1:], *ours("digit only", "ink only")],
        [KENDALL_TABLE_1[1][0], *KENDALL_TABLE_1[1][1:], *ours(PLAIN)],
        [KENDALL_TABLE_1[2][0] + f"; ours: {chosen}", *KENDALL_TABLE_1[2][1:], *ours(chosen)],
        [KENDALL_TABLE_1[3][0] + "; ours: 2 tasks", *KENDALL_TABLE_1[3][1:], *ours(UW)],
    ]
    return Table(
        "Published: Kendall et al. 2018, Table 1 (Tiny CityScapes) beside ours (ink in percent, "
        f"loss ratio ≈ {_ratio_value(run):.0f}; mean over repeats)",
        [
            "method",
            "paper: semantic IoU",
            "paper: instance error (px)",
            "paper: depth error (px)",
            "ours: digit accuracy",
            "ours: ink RMSE (points)",
        ],
        rows,
    )


def c16a(ctx: Context) -> Result:
    exp = _experiment(ctx)
    runs: list[ScaleRuns] = exp["runs"]
    metric = "held-out digit accuracy"
    points = [
        sweep_point(
            VARIABLE,
            _ratio_value(r),
            {
                "digit only": r.accuracy["digit only"],
                "plain sum": r.accuracy[PLAIN],
                UW: r.accuracy[UW],
            },
            claimed="digit only",
            baseline="plain sum",
            metric=metric,
        )
        for r in runs
    ]
    detectable = max(p.detectable or 0.0 for p in points)
    result_verdict = sweep_verdict([p.difference for p in points], detectable)
    share = [float(np.mean(r.ratio / (1 + r.ratio))) for r in runs]
    harmed = where_and_where_not(points, lambda d: d.lo > 0)
    percent = min(runs, key=lambda r: abs(np.log(r.scale / PERCENT_SCALE)))
    lost_here = float(np.mean(percent.accuracy["digit only"] - percent.accuracy[PLAIN]))
    return Result(
        result_verdict,
        "Per scale, the digit accuracy the plain sum loses against the digit task trained "
        "alone (paired over repeats). Holds where its 95% interval lies above 0 — the larger "
        "loss dominating the sum and harming the other task; does not hold where every "
        "interval lies below the detectable difference.",
        {
            "loss_ratio_at_start": [p.value for p in points],
            "ink_share_of_sum_at_start": share,
            "accuracy_lost_by_plain_sum": [p.difference.mean for p in points],
        },
        _setting(exp),
        f"At start-of-training loss ratios {', '.join(f'{p.value:.3g}' for p in points)} (the ink "
        f"making {', '.join(f'{s:.0%}' for s in share)} of the sum), the plain sum loses "
        + ", ".join(
            f"{p.difference.mean:+.3f} [{p.difference.lo:+.3f}, {p.difference.hi:+.3f}]"
            for p in points
        )
        + f" of digit accuracy: the harm is shown (interval above 0) {harmed}, and it grows "
        "with the ratio. The shape agrees with Kendall et al.'s Table 1, where the unweighted "
        "sum lost 9.3 points of segmentation IoU against the single-task model (50.1% vs "
        f"59.4%); with the ink in percent (ratio ≈ {_ratio_value(percent):.0f}) the plain sum "
        f"loses {lost_here:.1%} of digit accuracy here.",
        headline="digit accuracy lost by the plain sum: "
        + ", ".join(f"{p.difference.mean:+.3f} at ×{p.value:.3g}" for p in points),
        evidence=Evidence(
            metric,
            exp["repeats"],
            points,
            detectable,
            reference="the digit task trained alone (same repeats)",
            claimed="digit only",
            baseline="plain sum",
            quick=ctx.quick,
        ),
        published=[_published(exp)],
    )


SCORE = "joint score (1 = both tasks as good as alone)"


def _grid_table(runs: list[ScaleRuns]) -> Table:
    return Table(
        "Score of each fixed ink weight at each scale (mean over repeats)",
        ["ink weight", *(f"ratio ≈ {_ratio_value(r):.3g}" for r in runs)],
        [
            [
                f"{w:g}" + (" (plain sum)" if w == 1 else ""),
                *(f"{float(np.mean(_score(r, _weighted(w)))):.3f}" for r in runs),
            ]
            for w in runs[0].grid
        ],
    )


def c16b(ctx: Context) -> Result:
    exp = _experiment(ctx)
    runs: list[ScaleRuns] = exp["runs"]
    points, picks = [], []
    for r in runs:
        tuned, picked = _tuned(r)
        picks.append(max(set(picked), key=picked.count))
        points.append(
            sweep_point(
                VARIABLE,
                _ratio_value(r),
                {"tuned weight": tuned, "plain sum": _score(r, PLAIN)},
                claimed="tuned weight",
                baseline="plain sum",
                metric=SCORE,
            )
        )
    detectable = max(p.detectable or 0.0 for p in points)
    result_verdict = sweep_verdict([p.difference for p in points], detectable)
    spread = [float(np.ptp([np.mean(_score(r, _weighted(w))) for w in r.grid])) for r in runs]
    return Result(
        result_verdict,
        "Per scale, the score of the tuned weighted sum (the grid's best weight, chosen on the "
        "other repeats) minus the plain sum's, paired over repeats. Holds where its 95% "
        "interval lies above 0 — tuning the weight pays; does not hold where every interval "
        "lies below the detectable difference.",
        {
            "loss_ratio_at_start": [p.value for p in points],
            "tuned_weight": picks,
            "gain_of_tuning": [p.difference.mean for p in points],
            "grid_score_spread": spread,
        },
        _setting(exp),
        "Tuning the ink weight gains "
        + ", ".join(
            f"{p.difference.mean:+.3f} [{p.difference.lo:+.3f}, {p.difference.hi:+.3f}] at ratio "
            f"{p.value:.3g} (best {w})"
            for p, w in zip(points, picks, strict=True)
        )
        + f" over the plain sum; the grid's scores spread by {', '.join(f'{s:.2f}' for s in spread)}. "
        f"Tuning pays (interval above 0) {where_and_where_not(points, lambda d: d.lo > 0)}; the "
        "best weight moves with the scale, so it must be tuned again whenever a unit changes "
        "(Kendall et al. tuned theirs by grid search to 0.89 : 0.01 : 0.1).",
        headline="score gained by tuning the weight: "
        + ", ".join(f"{p.difference.mean:+.3f} at ×{p.value:.3g}" for p in points),
        tables=[_grid_table(runs)],
        evidence=Evidence(
            SCORE,
            exp["repeats"],
            points,
            detectable,
            reference="each task trained alone (the score's denominator, same repeats)",
            claimed="tuned weight",
            baseline="plain sum",
            quick=ctx.quick,
        ),
    )


def c16c(ctx: Context) -> Result:
    exp = _experiment(ctx)
    runs: list[ScaleRuns] = exp["runs"]
    points: list[SweepPoint] = []
    for r in runs:
        tuned, _ = _tuned(r)
        points.append(
            sweep_point(
                VARIABLE,
                _ratio_value(r),
                {UW: _score(r, UW), "tuned weight": tuned, "plain sum": _score(r, PLAIN)},
                claimed=UW,
                baseline="tuned weight",
                metric=SCORE,
            )
        )
    detectable = max(p.detectable or 0.0 for p in points)
    diffs = [p.difference for p in points]
    result_verdict = equivalence_verdict(diffs, NO_TUNING_TOLERANCE, non_inferiority=True)
    fig, ax = figures.figure(1)
    for i, r in enumerate(runs):
        steps_, w = r.uw_trace
        ax.plot(
            steps_,
            w[:, 1] / w[:, 0],
            color=figures.COLORS[i % len(figures.COLORS)],
            label=f"ratio ≈ {_ratio_value(r):.3g}",
        )
    ax.set(xlabel="training step", ylabel="learned ink weight / digit weight", yscale="log")
    ax.legend(title="loss ratio at start", fontsize=8)
    uw_ratio = [float(np.mean(r.uw_weights[:, 1] / r.uw_weights[:, 0])) for r in runs]
    short = values_where(points, lambda d: d.hi < -NO_TUNING_TOLERANCE)
    within = values_where(points, lambda d: d.lo > -NO_TUNING_TOLERANCE)
    tuned_weights = []
    for r in runs:
        _, picked = _tuned(r)
        tuned_weights.append(max(set(picked), key=picked.count).split(" : ")[1])
    return Result(
        result_verdict,
        "Per scale, uncertainty weighting's score minus the tuned weighted sum's (best grid "
        f"weight chosen on the other repeats), paired over repeats. A claim of no shortfall: "
        f"holds when at every scale the 95% interval lies above −{NO_TUNING_TOLERANCE}; does "
        f"not hold when somewhere it lies wholly below −{NO_TUNING_TOLERANCE}; inconclusive "
        "otherwise.",
        {
            "loss_ratio_at_start": [p.value for p in points],
            "uw_minus_tuned": [p.difference.mean for p in points],
            "uw_learned_ink_over_digit_weight": uw_ratio,
            "margin": NO_TUNING_TOLERANCE,
        },
        _setting(exp),
        "Untuned, uncertainty weighting scores "
        + ", ".join(
            f"{p.difference.mean:+.3f} [{p.difference.lo:+.3f}, {p.difference.hi:+.3f}] against the "
            f"tuned weight at ratio {p.value:.3g}"
            for p in points
        )
        + f". Within the {exp['steps']} steps it moves the ink : digit weight to "
        f"{', '.join(f'{w:.2g}' for w in uw_ratio)} against the tuned "
        f"{', '.join(tuned_weights)}: it follows the scale, but from its 1 : 2 start it has not "
        "got there, and until it does the larger loss dominates as in the plain sum. Shown "
        f"short by more than {NO_TUNING_TOLERANCE} (interval wholly below) at ratios {short}; "
        f"within the margin at {within}. Kendall et al. found their learned weighting beat their "
        "best hand-tuned weights (63.4% vs 62.8% IoU) after 50,000 iterations, a budget at "
        "which the weights have long settled; a longer run here would test that regime.",
        headline="uncertainty weighting minus tuned weight (score): "
        + ", ".join(f"{p.difference.mean:+.3f} at ×{p.value:.3g}" for p in points),
        figures=[
            Figure(
                "The weight uncertainty weighting learns, at each scale (first repeat)",
                figures.to_svg(fig, "c16"),
                "It starts at ink : digit = 1 : 2 (Kendall et al.'s factors) at every scale and "
                "moves the ink weight as the ratio of the current losses dictates: up where the "
                "ink task is easy, down where its loss is large — towards the tuned weight, at "
                "the pace of its log-variances' learning rate.",
            )
        ],
        evidence=Evidence(
            SCORE,
            exp["repeats"],
            points,
            detectable,
            reference="each task trained alone (the score's denominator), and the best fixed "
            "weight of the grid",
            claimed=UW,
            baseline="tuned weight",
            margin=NO_TUNING_TOLERANCE,
            quick=ctx.quick,
        ),
        published=[_published(exp)],
    )


SOURCE = "seed 003; Kendall et al. 2018"

CLAIMS = [
    Claim(
        "C16a",
        "Summing task losses lets the task with the largest loss scale dominate.",
        SOURCE,
        c16a,
    ),
    Claim("C16b", "A weighted sum of task losses needs its weights tuned.", SOURCE, c16b),
    Claim(
        "C16c",
        "A learned weighting (uncertainty weighting, Kendall et al. 2018) needs no tuning: "
        "untuned, it does as well as the tuned weighted sum.",
        SOURCE,
        c16c,
    ),
]
