"""C20: noise-robust cross-entropies under symmetric label noise — trained on real digits.

Beyond the articles: generalized cross-entropy (Zhang & Sabuncu 2018), symmetric
cross-entropy (Wang et al. 2019) and the bi-tempered logistic loss (Amid et al. 2019) are
built to keep a model from fitting wrong labels. The experiment trains the same small MLP
under CE and under each of them on scikit-learn's digits whose *training* labels were
corrupted by symmetric noise (each label replaced, with probability η, by one of the other
nine classes at random), and scores every model on the clean held-out labels. Every
(loss, noise rate, repeat) is one member of a single stacked model
(:mod:`~crossent.experiments.stacked`): repeat ``r`` of every loss and rate starts from
the same weights and sees the same split, and at a given rate the same corrupted labels,
which pairs the losses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from crossent import (
    bi_tempered_logistic_loss,
    generalized_cross_entropy,
    softmax_cross_entropy,
    symmetric_cross_entropy,
)
from crossent.experiments.models import HIDDEN
from crossent.experiments.registry import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    INCONCLUSIVE,
    Claim,
    Context,
    Evidence,
    Result,
    Table,
)
from crossent.experiments.stacked import (
    MemberLoss,
    StackedMLP,
    stack,
    stacked_outputs,
    train_stacked,
)
from crossent.experiments.stats import Interval, SweepPoint, sweep_point, sweep_verdict

__all__ = ["CLAIMS"]

RATES_QUICK, RATES_FULL = (0.0, 0.2, 0.4), (0.0, 0.1, 0.2, 0.3, 0.4)
"""Symmetric noise rates swept: the share of training labels replaced by another class."""

REPEATS_QUICK, REPEATS_FULL = 5, 8
"""Independent repeats (split, noise draw and initialisation) per loss and rate, paired."""

STEPS_QUICK, STEPS_FULL = 250, 800
"""Adam steps of batch :data:`BATCH`: about 24 and 76 epochs of the 1,347 training digits,
long enough for CE to fit part of the wrong labels."""

BATCH, LR = 128, 1e-2

MEANINGFUL = 0.02
"""Two points of held-out accuracy: the smallest gain a user would switch losses for."""

CE = "CE"
GCE = "GCE (q = 0.7)"
SCE = "SCE (α = 0.1, β = 1)"
BI_TEMPERED = "bi-tempered (t1 = 0.8, t2 = 1.2)"
ROBUST = (GCE, SCE, BI_TEMPERED)
CLEAN = "CE on clean labels"
"""The reference at every rate: the same model under CE trained on the uncorrupted labels."""


def _mean_loss(elementwise: torch.Tensor) -> torch.Tensor:
    """Each member's mean over its batch: ``[M, batch]`` → ``[M]``."""
    return elementwise.mean(dim=1)


def _losses() -> dict[str, MemberLoss]:
    """Each loss at its paper's setting, as a per-member mean over the batch."""
    return {
        CE: lambda z, y: _mean_loss(softmax_cross_entropy(z, y, reduction="none")),
        GCE: lambda z, y: _mean_loss(generalized_cross_entropy(z, y, q=0.7, reduction="none")),
        SCE: lambda z, y: _mean_loss(
            symmetric_cross_entropy(z, y, alpha=0.1, beta=1.0, reduction="none")
        ),
        BI_TEMPERED: lambda z, y: _mean_loss(
            bi_tempered_logistic_loss(z, y, t1=0.8, t2=1.2, reduction="none")
        ),
    }


def symmetric_noise(
    rng: np.random.Generator, labels: np.ndarray, rate: float, n_classes: int
) -> np.ndarray:
    """``labels`` with each one replaced, with probability ``rate``, by one of the other
    ``n_classes − 1`` classes chosen uniformly (symmetric label noise).

    Raises:
        ValueError: ``rate`` outside [0, 1] or fewer than 2 classes.

    Example:
        >>> import numpy as np
        >>> y = np.zeros(10_000, dtype=np.int64)
        >>> noisy = symmetric_noise(np.random.default_rng(0), y, 0.3, 10)
        >>> round(float(np.mean(noisy != y)), 2), int(noisy.max()) <= 9
        (0.3, True)
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"`rate` must be in [0, 1]; got rate={rate!r}.")
    if n_classes < 2:
        raise ValueError(f"`n_classes` must be at least 2; got n_classes={n_classes!r}.")
    flip = rng.random(labels.shape) < rate
    # An offset of 1..C−1 classes: uniform over the other classes, never the label itself.
    offset = rng.integers(1, n_classes, size=labels.shape)
    return np.where(flip, (labels + offset) % n_classes, labels).astype(labels.dtype)


@dataclass
class Runs:
    """Held-out accuracy per loss (and the clean reference), rate and repeat."""

    rates: tuple[float, ...]
    repeats: int
    accuracy: dict[str, dict[float, np.ndarray]]
    noise_share: dict[float, float]  # realised share of corrupted training labels
    n_classes: int
    data: str


def train_under_noise(ctx: Context, rates: Sequence[float], repeats: int, steps: int) -> Runs:
    """Train every loss at every rate on every repeat, as one stacked model."""
    draws = ctx.draws("multiclass", repeats)
    n_classes = int(max(d.y_train.max() for d in draws)) + 1
    losses = _losses()
    # One data set per (rate, repeat): the repeat's split, its labels corrupted at the rate.
    labels, inputs, tests, shares = [], [], [], {}
    for k, rate in enumerate(rates):
        realised = []
        for r, d in enumerate(draws):
            rng = np.random.default_rng([ctx.seed, r, k])
            noisy = symmetric_noise(rng, d.y_train, rate, n_classes)
            realised.append(float(np.mean(noisy != d.y_train)))
            labels.append(noisy)
            inputs.append(d.x_train)
            tests.append(d.x_test)
        shares[rate] = float(np.mean(realised))
    y_test = np.stack([d.y_test for d in draws])
    sets = len(rates) * repeats
    data_of = torch.arange(len(losses) * sets) % sets
    seeds = [ctx.seed * 1000 + r for r in range(repeats)] * (len(rates) * len(losses))
    model = StackedMLP(seeds, draws[0].n_features, n_classes)
    fns = list(losses.values())

    def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        parts = zip(fns, out.split(sets), target.split(sets), strict=True)
        return torch.cat([fn(o, t) for fn, o, t in parts])

    x_test = stack(tests)

    def evaluate(m: StackedMLP) -> dict[str, np.ndarray]:
        predicted = stacked_outputs(m, x_test, data_of).argmax(axis=-1)
        truth = np.tile(y_test, (len(rates) * len(losses), 1))
        return {"accuracy": np.mean(predicted == truth, axis=1)}

    history = train_stacked(
        model,
        loss_fn,
        stack(inputs),
        stack(labels),
        steps=steps,
        batch_size=BATCH,
        lr=LR,
        seed=ctx.seed,
        evaluate=evaluate,
        eval_at=(),
        progress=ctx.progress,
        optimizer="adam",
        data_of=data_of,
    )
    final = history.final("accuracy").reshape(len(losses), len(rates), repeats)
    accuracy = {
        name: {rate: final[i, k] for k, rate in enumerate(rates)} for i, name in enumerate(losses)
    }
    accuracy[CLEAN] = {rate: final[0, 0] for rate in rates} if rates[0] == 0.0 else {}
    return Runs(tuple(rates), repeats, accuracy, shares, n_classes, draws[0].name)


# ----------------------------------------------------------------------------- the claim


def _interval(iv: Interval) -> str:
    return f"{iv.mean:.3f} [{iv.lo:.3f}, {iv.hi:.3f}]"


def _signed(iv: Interval) -> str:
    return f"{iv.mean:+.3f} [{iv.lo:+.3f}, {iv.hi:+.3f}]"


@dataclass
class Comparison:
    """One robust loss against CE over the swept noise rates."""

    loss: str
    points: list[SweepPoint]
    detectable: float
    verdict: str


def _compare(runs: Runs, loss: str) -> Comparison:
    """The loss minus CE at every rate (all methods recorded, for the plot), and its verdict."""
    names = [CE, *ROBUST, CLEAN]
    points = [
        sweep_point(
            "symmetric label noise (share of training labels)",
            rate,
            {n: runs.accuracy[n][rate] for n in names if rate in runs.accuracy[n]},
            claimed=loss,
            baseline=CE,
            metric="held-out accuracy",
        )
        for rate in runs.rates
    ]
    detectable = max(p.detectable or 0.0 for p in points)
    verdict = sweep_verdict([p.difference for p in points], detectable, meaningful=MEANINGFUL)
    return Comparison(loss, points, detectable, verdict)


def overall_verdict(verdicts: Mapping[str, str]) -> str:
    """The claim is about every robust loss: it holds when each one holds; it holds with a
    correction when only some do (the correction names which); otherwise it does not hold
    when none shows the effect with the power to see it, and is inconclusive else.

    Example:
        >>> overall_verdict({"a": "holds", "b": "inconclusive"})
        'holds with a correction'
        >>> overall_verdict({"a": "does not hold", "b": "inconclusive"})
        'inconclusive'
    """
    held = [v == HOLDS for v in verdicts.values()]
    if all(held):
        return HOLDS
    if any(held):
        return HOLDS_WITH_CORRECTION
    if all(v == DOES_NOT_HOLD for v in verdicts.values()):
        return DOES_NOT_HOLD
    return INCONCLUSIVE


def _where(c: Comparison) -> str:
    """Where the loss beats CE, where CE beats it, and where the interval includes 0."""
    parts: dict[str, list[str]] = {"above": [], "below": [], "open": []}
    for p in c.points:
        d = p.difference
        key = "above" if d.lo > 0 else "below" if d.hi < 0 else "open"
        parts[key].append(f"{p.value:g} ({_signed(d)})")
    text = []
    if parts["above"]:
        text.append("above CE at " + ", ".join(parts["above"]))
    if parts["below"]:
        text.append("below CE at " + ", ".join(parts["below"]))
    if parts["open"]:
        text.append("undecided at " + ", ".join(parts["open"]))
    return "; ".join(text)


def _table(runs: Runs, comparisons: Sequence[Comparison]) -> Table:
    """Per rate: every method's accuracy and each robust loss minus CE, with 95% intervals."""
    first = comparisons[0].points
    rows = []
    for k, rate in enumerate(runs.rates):
        methods = first[k].methods
        rows.append(
            [
                f"{rate:g} ({runs.noise_share[rate]:.3f})",
                *(_interval(methods[n]) for n in (CE, *ROBUST)),
                *(_signed(c.points[k].difference) for c in comparisons),
                _interval(methods[CLEAN]) if CLEAN in methods else "—",
            ]
        )
    return Table(
        "Held-out accuracy after training on noisy labels (mean [95% interval] over repeats)",
        [
            "noise rate (realised)",
            CE,
            *ROBUST,
            *(f"{c.loss} − CE" for c in comparisons),
            f"reference: {CLEAN}",
        ],
        rows,
    )


def c20(ctx: Context) -> Result:
    rates = RATES_QUICK if ctx.quick else RATES_FULL
    repeats = ctx.size(quick=REPEATS_QUICK, full=REPEATS_FULL)
    steps = ctx.size(quick=STEPS_QUICK, full=STEPS_FULL)
    ctx.progress.expect(steps)
    runs = train_under_noise(ctx, rates, repeats, steps)
    comparisons = [_compare(runs, loss) for loss in ROBUST]
    verdicts = {c.loss: c.verdict for c in comparisons}
    result_verdict = overall_verdict(verdicts)
    # The plotted comparison: the first robust loss that holds, else the first.
    shown = next((c for c in comparisons if c.verdict == HOLDS), comparisons[0])
    held = [c.loss for c in comparisons if c.verdict == HOLDS]
    not_held = [f"{c.loss} ({c.verdict})" for c in comparisons if c.verdict != HOLDS]
    top = max(runs.rates)
    measured: dict[str, Any] = {
        "data": runs.data,
        "repeats": repeats,
        "steps": steps,
        "rates": list(runs.rates),
        "realised_noise": {f"{r:g}": runs.noise_share[r] for r in runs.rates},
        "meaningful_difference": MEANINGFUL,
        "verdicts": verdicts,
        "accuracy": {
            name: {f"{r:g}": float(np.mean(v)) for r, v in acc.items()}
            for name, acc in runs.accuracy.items()
        },
        "difference_from_ce": {
            c.loss: {f"{p.value:g}": p.difference.as_dict() for p in c.points} for c in comparisons
        },
        "detectable_difference": {c.loss: c.detectable for c in comparisons},
    }
    at_top = {c.loss: c.points[-1].difference for c in comparisons}
    ce_drop = float(np.mean(runs.accuracy[CE][0.0]) - np.mean(runs.accuracy[CE][top]))
    correction = (
        f" Correction: not every robust loss shows it — {', '.join(held)} "
        f"{'does' if len(held) == 1 else 'do'}; {', '.join(not_held)} not."
        if result_verdict == HOLDS_WITH_CORRECTION
        else ""
    )
    power = " ".join(
        f"{c.loss}: with {repeats} repeats the design detects differences of "
        f"{c.detectable:.3f} (95%, 80% power; {MEANINGFUL:g} would matter)."
        for c in comparisons
        if c.verdict == INCONCLUSIVE
    )
    return Result(
        result_verdict,
        f"{repeats} repeats (split, noise draw and initialisation), paired across losses; clean "
        f"held-out accuracy after {steps} steps at noise rates {', '.join(f'{r:g}' for r in rates)}. "
        "For each robust loss, the mean paired difference from CE with its 95% t interval per "
        "rate: it keeps more accuracy where an interval lies above 0, does not where every "
        "interval lies below 0 or below the smallest difference the design detects (95%, 80% "
        f"power) while that is at most {MEANINGFUL:g}, and is undecided otherwise. The claim "
        "holds when every robust loss keeps more accuracy at some rate, holds with a correction "
        "when only some do, does not hold when none does with the power to see it, and is "
        "inconclusive otherwise.",
        measured,
        f"{runs.data}, {runs.n_classes} classes. Training labels corrupted by symmetric noise: "
        f"each replaced with probability η by one of the other {runs.n_classes - 1} classes "
        "uniformly; test labels clean. An MLP (one hidden layer of "
        f"{HIDDEN}), Adam (rate {LR:g}), batch {BATCH}, {steps} steps, under CE and under "
        f"{GCE} (Zhang & Sabuncu 2018), {SCE} with log 0 := −4 (Wang et al. 2019) and "
        f"{BI_TEMPERED} (Amid et al. 2019), each at its paper's setting. {repeats} repeats per "
        "loss and rate, all trained at once as one stacked model. Reference: the same model "
        "under CE on the clean labels (the noise-0 point)."
        + (" Quick run: fewer rates and steps." if ctx.quick else ""),
        f"From noise 0 to {top:g}, CE loses {ce_drop:.3f} of held-out accuracy. "
        + " ".join(f"{c.loss} − CE: {_where(c)}." for c in comparisons)
        + correction
        + (f" {power}" if power else ""),
        headline=f"at noise {top:g}: "
        + ", ".join(
            f"{loss.split(' (')[0]} − CE {d.mean:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}]"
            for loss, d in at_top.items()
        ),
        tables=[_table(runs, comparisons)],
        evidence=Evidence(
            "held-out accuracy",
            repeats,
            shown.points,
            shown.detectable,
            reference=f"the same MLP under CE trained on the clean labels ({CLEAN})",
            claimed=shown.loss,
            baseline=CE,
            quick=ctx.quick,
        ),
    )


CLAIMS = [
    Claim(
        "C20",
        "Under symmetric label noise, the robust losses (generalized CE, symmetric CE, the "
        "bi-tempered logistic loss) keep more test accuracy than CE.",
        "beyond the articles: Zhang & Sabuncu 2018; Wang et al. 2019; Amid et al. 2019",
        c20,
    ),
]
