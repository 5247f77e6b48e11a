"""C19: cross-entropy training ends over-confident; temperature scaling fixes it — trained.

A claim beyond the articles (Guo et al., 2017): a network trained to minimise cross-entropy
ends over-confident on held-out data, and one temperature fitted by NLL on a validation
split lowers the test NLL and ECE without changing a single prediction. A small MLP is
trained with crossent's softmax cross-entropy on a small training set of real images, so
that it can drive its training loss towards 0, and is evaluated at several training
lengths — the regime: early in training a network is under-confident, and over-confidence
grows as it memorises its training set. At each length every repeat's temperature is fitted
on its validation split (:func:`crossent.calibration.fit_temperature`) and the test set is
scored before and after with :mod:`crossent.calibration`. The repeats (a fresh split and a
fresh initialisation each) are stacked into one batched model.

References:
    Guo, Pleiss, Sun, Weinberger, "On Calibration of Modern Neural Networks", ICML 2017,
    https://arxiv.org/abs/1706.04599.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from crossent import softmax_cross_entropy
from crossent.calibration import (
    brier_score,
    calibration_error,
    fit_temperature,
    reliability_diagram,
)
from crossent.experiments import datasets, figures
from crossent.experiments.registry import (
    DOES_NOT_HOLD,
    HOLDS,
    INCONCLUSIVE,
    Claim,
    Context,
    Evidence,
    Figure,
    Result,
    Table,
)
from crossent.experiments.stacked import StackedMLP, stack, stacked_outputs, train_stacked
from crossent.experiments.stats import (
    Interval,
    SweepPoint,
    mean_interval,
    sweep_point,
    sweep_verdict,
    where_and_where_not,
)

__all__ = ["CLAIMS"]

REPEATS_QUICK, REPEATS_FULL = 5, 10
"""Independent repeats (data split and initialisation), each scored before and after
temperature scaling: the two are paired by construction."""

BUDGETS_QUICK, BUDGETS_FULL = (25, 200, 1000), (25, 100, 400, 1600)
"""Training steps at which the network is scored: the regime. At 25 steps it has not yet
fitted its training set; by 1000 its training loss is near 0."""

FIT_ROWS, VALIDATION_ROWS = 300, 450
"""Rows of each draw's training part that train the network, and the next rows, on which
the temperature is fitted; the rest of the training part joins the test part. A small
training set is one the network can memorise, which is where over-confidence comes from."""

WIDTH = 128
"""Hidden units of the MLP: enough capacity to fit the training set exactly."""

BATCH, LR = 100, 1e-2
"""Adam at a high rate, so that the over-confident regime is reached in a thousand steps."""

BINS = 15
"""Bins of the calibration errors and the reliability diagrams (Guo et al., 2017)."""

FLOOR_DRAWS = 20
"""Simulated outcome sets per repeat and point for the finite-sample floor of the ECE."""

MEANINGFUL_ECE = 0.005
"""The smallest change of test ECE that would matter: half a point of calibration error."""

MEANINGFUL_NLL = 0.01
"""The smallest change of test NLL that would matter, in nats per sample."""

UNCALIBRATED = "cross-entropy training"
SCALED = "+ temperature scaling"
FLOOR = "perfectly calibrated (floor)"
"""The methods of the sweep: the network as trained, the same network's logits divided by
its fitted temperature, and a predictor with the scaled network's confidences whose
outcomes are drawn to match them (its ECE is the floor that sampling noise alone leaves)."""

ECE_METRIC = f"test ECE ({BINS} bins)"
NLL_METRIC = "test NLL (nats per sample)"
VARIABLE = "training steps"


@dataclass(frozen=True)
class _Data:
    """The repeats' splits, stacked: ``[R, N, D]`` inputs and ``[R, N]`` labels."""

    name: str
    x_fit: torch.Tensor
    y_fit: torch.Tensor
    x_val: torch.Tensor
    y_val: np.ndarray
    x_test: torch.Tensor
    y_test: np.ndarray
    classes: int


def _data(draws: Sequence[datasets.Split]) -> _Data:
    """Train, validation and test parts of each draw (see :data:`FIT_ROWS`).

    Raises:
        ValueError: a draw's training part has no rows left for the test part.
    """
    n_train = len(draws[0].y_train)
    if n_train <= FIT_ROWS + VALIDATION_ROWS:
        raise ValueError(
            f"`draws` must hold more than {FIT_ROWS + VALIDATION_ROWS} training rows each; "
            f"got {n_train}."
        )
    cut = FIT_ROWS + VALIDATION_ROWS
    classes = int(max(max(d.y_train.max(), d.y_test.max()) for d in draws)) + 1
    return _Data(
        draws[0].name,
        stack([d.x_train[:FIT_ROWS] for d in draws]),
        stack([d.y_train[:FIT_ROWS] for d in draws]),
        stack([d.x_train[FIT_ROWS:cut] for d in draws]),
        np.stack([d.y_train[FIT_ROWS:cut] for d in draws]),
        stack([np.concatenate([d.x_train[cut:], d.x_test]) for d in draws]),
        np.stack([np.concatenate([d.y_train[cut:], d.y_test]) for d in draws]),
        classes,
    )


def _member_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each member's mean softmax cross-entropy on its batch: ``[M]``."""
    loss: torch.Tensor = softmax_cross_entropy(logits, y, reduction="none")
    return loss.mean(dim=1)


def _floor(confidence: np.ndarray, rng: np.random.Generator) -> float:
    """The mean ECE of a perfectly calibrated predictor with these top-label confidences.

    Its correctness is drawn as Bernoulli(confidence), so it is calibrated by construction;
    what ECE it still shows on ``len(confidence)`` samples is the estimate's own noise and
    bias, the floor no calibration method can go below on a test set of this size.
    """
    values = [
        float(calibration_error(confidence, rng.random(confidence.shape) < confidence, n_bins=BINS))
        for _ in range(FLOOR_DRAWS)
    ]
    return float(np.mean(values))


def _scores(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Test accuracy, NLL, ECE, adaptive ECE, Brier score and mean confidence of logits."""
    confidence = torch.softmax(torch.from_numpy(logits), dim=-1).amax(dim=-1).numpy()
    return {
        "accuracy": float(np.mean(logits.argmax(axis=-1) == labels)),
        "nll": float(softmax_cross_entropy(logits, labels)),
        "ece": float(calibration_error(logits, labels, from_logits=True, n_bins=BINS)),
        "adaptive_ece": float(
            calibration_error(logits, labels, from_logits=True, n_bins=BINS, binning="quantile")
        ),
        "brier": float(brier_score(logits, labels, from_logits=True)),
        "confidence": float(np.mean(confidence)),
    }


def _member_metrics(
    z_val: np.ndarray, y_val: np.ndarray, z_test: np.ndarray, y_test: np.ndarray, seed: int
) -> dict[str, float]:
    """One member's scores before (``*_raw``) and after (``*_scaled``) temperature scaling,
    its temperature, the predictions the scaling changed, and the ECE floor."""
    temperature = fit_temperature(z_val, y_val)
    raw, scaled = _scores(z_test, y_test), _scores(z_test / temperature, y_test)
    changed = int(np.sum(z_test.argmax(axis=-1) != (z_test / temperature).argmax(axis=-1)))
    confidence = torch.softmax(torch.from_numpy(z_test / temperature), dim=-1).amax(dim=-1)
    return {
        **{f"{k}_raw": v for k, v in raw.items()},
        **{f"{k}_scaled": v for k, v in scaled.items()},
        "temperature": temperature,
        "changed": float(changed),
        "floor": _floor(confidence.numpy(), np.random.default_rng(seed)),
    }


@dataclass
class _Run:
    """The stacked training's record: per budget and metric, one value per repeat; and the
    test logits and temperatures of the longest budget, for the reliability diagrams."""

    metrics: dict[int, dict[str, np.ndarray]]
    train_loss: dict[int, np.ndarray]
    final_logits: np.ndarray
    final_temperatures: np.ndarray


def _train(ctx: Context, data: _Data, budgets: Sequence[int], repeats: int) -> _Run:
    """Train the repeats' MLPs together and score every member at each budget."""
    model = StackedMLP(
        [ctx.seed * 1000 + r for r in range(repeats)],
        int(data.x_fit.shape[-1]),
        data.classes,
        hidden=WIDTH,
    )
    last: dict[str, np.ndarray] = {}

    def evaluate(m: StackedMLP) -> dict[str, np.ndarray]:
        z_val, z_test = stacked_outputs(m, data.x_val), stacked_outputs(m, data.x_test)
        rows = [
            _member_metrics(z_val[r], data.y_val[r], z_test[r], data.y_test[r], ctx.seed * 7919 + r)
            for r in range(repeats)
        ]
        last["logits"] = z_test
        last["temperature"] = np.array([row["temperature"] for row in rows])
        return {key: np.array([row[key] for row in rows]) for key in rows[0]}

    history = train_stacked(
        model,
        _member_loss,
        data.x_fit,
        data.y_fit,
        steps=max(budgets),
        batch_size=BATCH,
        lr=LR,
        seed=ctx.seed,
        evaluate=evaluate,
        eval_at=budgets,
        progress=ctx.progress,
    )
    return _Run(
        {b: {k: history.at(b, k) for k in history.metrics} for b in budgets},
        {b: history.at(b, "train_loss") for b in budgets},
        last["logits"],
        last["temperature"],
    )


@dataclass(frozen=True)
class _Sweep:
    """The regime's points: ECE (with the floor) and NLL, and the over-confidence."""

    ece: list[SweepPoint]
    nll: list[SweepPoint]
    over: list[Interval]


def _sweep(run: _Run, budgets: Sequence[int]) -> _Sweep:
    ece, nll, over = [], [], []
    for b in budgets:
        m = run.metrics[b]
        ece.append(
            sweep_point(
                VARIABLE,
                b,
                {UNCALIBRATED: m["ece_raw"], SCALED: m["ece_scaled"], FLOOR: m["floor"]},
                claimed=SCALED,
                baseline=UNCALIBRATED,
                metric=ECE_METRIC,
            )
        )
        nll.append(
            sweep_point(
                VARIABLE,
                b,
                {UNCALIBRATED: m["nll_raw"], SCALED: m["nll_scaled"]},
                claimed=SCALED,
                baseline=UNCALIBRATED,
                metric=NLL_METRIC,
            )
        )
        over.append(mean_interval(m["confidence_raw"] - m["accuracy_raw"]))
    return _Sweep(ece, nll, over)


def _verdict(sweep: _Sweep, changed: int) -> str:
    """The claim is about where training ends: the longest budget decides.

    - **holds**: no prediction changed, and at the longest budget the over-confidence (mean
      confidence − accuracy) and the drops of test NLL and ECE all have 95% intervals above 0;
    - **does not hold**: a prediction changed; or at the longest budget the network is shown
      under-confident (interval below 0), or the NLL or ECE drop lies below 0 or below what the
      design detects while it could detect a change that matters (:func:`sweep_verdict`);
    - **inconclusive**: anything else.
    """
    over, ece, nll = sweep.over[-1], sweep.ece[-1], sweep.nll[-1]
    if changed:
        return DOES_NOT_HOLD
    if over.lo > 0 and ece.difference.lo > 0 and nll.difference.lo > 0:
        return HOLDS
    if over.hi < 0:
        return DOES_NOT_HOLD
    drops = [
        sweep_verdict([p.difference], p.detectable or float("inf"), meaningful=meaningful)
        for p, meaningful in ((ece, MEANINGFUL_ECE), (nll, MEANINGFUL_NLL))
    ]
    return DOES_NOT_HOLD if DOES_NOT_HOLD in drops else INCONCLUSIVE


def _ci(iv: Interval, digits: int = 4) -> str:
    return f"{iv.mean:.{digits}f} [{iv.lo:.{digits}f}, {iv.hi:.{digits}f}]"


def _reliability_svg(run: _Run, data: _Data, steps: int) -> tuple[str, float, float]:
    """Reliability diagrams of the test predictions of all repeats pooled, before and after
    each repeat's temperature; returns the SVG and the pooled ECEs."""
    labels = data.y_test.reshape(-1)
    raw = run.final_logits.reshape(-1, run.final_logits.shape[-1])
    scaled = (run.final_logits / run.final_temperatures[:, None, None]).reshape(raw.shape)
    fig, axes = figures.figure(2, height=3.9)
    eces = []
    for ax, logits, title in (
        (axes[0], raw, f"after {steps} steps"),
        (axes[1], scaled, "after temperature scaling"),
    ):
        d = reliability_diagram(logits, labels, from_logits=True, n_bins=BINS)
        eces.append(float(calibration_error(logits, labels, from_logits=True, n_bins=BINS)))
        figures.reliability(ax, d, title=title, ece=eces[-1])
    return figures.to_svg(fig, "c19-reliability"), eces[0], eces[1]


def _curves_svg(sweep: _Sweep, budgets: Sequence[int]) -> str:
    """ECE (with the floor), NLL and over-confidence against training steps, each with its
    95% interval over the repeats."""
    fig, axes = figures.figure(3, height=3.2)
    x = np.asarray(budgets, dtype=float)
    panels: list[tuple[Any, list[tuple[str, list[Interval], int, str]], str]] = [
        (
            axes[0],
            [
                (name, [p.methods[name] for p in sweep.ece], i, style)
                for name, i, style in ((UNCALIBRATED, 0, "-"), (SCALED, 1, "-"), (FLOOR, 5, "--"))
            ],
            ECE_METRIC,
        ),
        (
            axes[1],
            [
                (name, [p.methods[name] for p in sweep.nll], i, "-")
                for name, i in ((UNCALIBRATED, 0), (SCALED, 1))
            ],
            NLL_METRIC,
        ),
        (axes[2], [("confidence − accuracy", sweep.over, 3, "-")], "mean confidence − accuracy"),
    ]
    for ax, lines, label in panels:
        for name, ivs, color, style in lines:
            ax.errorbar(
                x,
                [iv.mean for iv in ivs],
                yerr=[[iv.mean - iv.lo for iv in ivs], [iv.hi - iv.mean for iv in ivs]],
                color=figures.COLORS[color],
                linestyle=style,
                marker="o",
                markersize=3,
                capsize=3,
                label=name,
            )
        ax.set_xscale("log")
        ax.set(xlabel=VARIABLE, ylabel=label)
    axes[2].axhline(0.0, color=figures.COLORS[5], linewidth=1)
    fig.legend(
        *axes[0].get_legend_handles_labels(),
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=3,
        fontsize=9,
    )
    return figures.to_svg(fig, "c19-curves")


def _table(run: _Run, sweep: _Sweep, budgets: Sequence[int]) -> Table:
    rows = []
    for k, b in enumerate(budgets):
        m = run.metrics[b]
        rows.append(
            [
                str(b),
                f"{float(np.mean(run.train_loss[b])):.4f}",
                f"{float(np.mean(m['accuracy_raw'])):.4f}",
                _ci(sweep.over[k]),
                f"{float(np.mean(m['temperature'])):.3f}",
                f"{float(np.mean(m['nll_raw'])):.4f} → {float(np.mean(m['nll_scaled'])):.4f}",
                f"{float(np.mean(m['ece_raw'])):.4f} → {float(np.mean(m['ece_scaled'])):.4f}",
                f"{float(np.mean(m['adaptive_ece_raw'])):.4f} → "
                f"{float(np.mean(m['adaptive_ece_scaled'])):.4f}",
                f"{float(np.mean(m['brier_raw'])):.4f} → {float(np.mean(m['brier_scaled'])):.4f}",
                f"{float(np.mean(m['floor'])):.4f}",
            ]
        )
    return Table(
        "Test scores before → after temperature scaling (means over repeats; over-confidence "
        "with its 95% interval)",
        [
            VARIABLE,
            "training loss",
            "test accuracy",
            "mean confidence − accuracy",
            "temperature",
            "NLL",
            "ECE",
            "adaptive ECE",
            "Brier",
            "ECE floor",
        ],
        rows,
    )


def c19(ctx: Context) -> Result:
    repeats = ctx.size(quick=REPEATS_QUICK, full=REPEATS_FULL)
    budgets = BUDGETS_QUICK if ctx.quick else BUDGETS_FULL
    data = _data(ctx.draws("multiclass", repeats))
    ctx.progress.expect(max(budgets))
    run = _train(ctx, data, budgets, repeats)
    sweep = _sweep(run, budgets)
    changed = int(sum(np.sum(run.metrics[b]["changed"]) for b in budgets))
    accuracy_change = max(
        float(np.max(np.abs(run.metrics[b]["accuracy_scaled"] - run.metrics[b]["accuracy_raw"])))
        for b in budgets
    )
    result_verdict = _verdict(sweep, changed)
    longest = budgets[-1]
    over, ece, nll = sweep.over[-1], sweep.ece[-1], sweep.nll[-1]
    temperature = mean_interval(run.metrics[longest]["temperature"])
    svg, pooled_raw, pooled_scaled = _reliability_svg(run, data, longest)
    n_test = int(data.y_test.shape[1])
    detectable = max(p.detectable or 0.0 for p in sweep.ece)
    over_at = (
        ", ".join(f"{b}" for b, iv in zip(budgets, sweep.over, strict=True) if iv.lo > 0) or "none"
    )
    under_at = (
        ", ".join(f"{b}" for b, iv in zip(budgets, sweep.over, strict=True) if iv.hi < 0) or "none"
    )
    ece_where = where_and_where_not(sweep.ece, lambda d: d.lo > 0)
    nll_where = where_and_where_not(sweep.nll, lambda d: d.lo > 0)
    measured: dict[str, Any] = {
        "data": data.name,
        "repeats": repeats,
        "training_rows": FIT_ROWS,
        "validation_rows": VALIDATION_ROWS,
        "test_rows": n_test,
        "budgets": list(budgets),
        "predictions_changed_by_scaling": changed,
        "largest_accuracy_change": accuracy_change,
        "over_confidence_at_end": over.mean,
        "over_confidence_ci_at_end": [over.lo, over.hi],
        "temperature_at_end": temperature.mean,
        "ece_drop_at_end": ece.difference.mean,
        "ece_drop_ci_at_end": [ece.difference.lo, ece.difference.hi],
        "nll_drop_at_end": nll.difference.mean,
        "nll_drop_ci_at_end": [nll.difference.lo, nll.difference.hi],
        "pooled_ece_before_after_at_end": [pooled_raw, pooled_scaled],
    }
    for b, p, q in zip(budgets, sweep.ece, sweep.nll, strict=True):
        for name, key in ((UNCALIBRATED, "raw"), (SCALED, "scaled")):
            measured[f"ece_{key}_at_{b}"] = p.methods[name].mean
            measured[f"nll_{key}_at_{b}"] = q.methods[name].mean
        measured[f"ece_floor_at_{b}"] = p.methods[FLOOR].mean
        measured[f"temperature_at_{b}"] = float(np.mean(run.metrics[b]["temperature"]))
    floor = ece.methods[FLOOR]
    return Result(
        result_verdict,
        f"{repeats} repeats (split and initialisation), each scored before and after its own "
        f"temperature, at {', '.join(map(str, budgets))} training steps. The claim is about "
        f"where training ends, so the longest budget ({longest}) decides. Holds when no test "
        "prediction changes, and there the 95% intervals of the over-confidence (mean top-label "
        "confidence − accuracy) and of the drops of test NLL and ECE (before − after, paired) "
        "all lie above 0. Does not hold when a prediction changes, when the network ends "
        "under-confident (interval below 0), or when a drop's interval lies below 0 or below "
        f"the detectable difference while that is under a change that matters ({MEANINGFUL_ECE:g} "
        f"of ECE, {MEANINGFUL_NLL:g} nats of NLL). Inconclusive otherwise.",
        measured,
        f"{data.name}: per repeat, {FIT_ROWS} training images, {VALIDATION_ROWS} validation images "
        f"(the temperature's only data) and {n_test} test images, a fresh split each. An MLP "
        f"(one hidden layer of {WIDTH}) trained with crossent's softmax_cross_entropy, Adam "
        f"(rate {LR:g}), batch {BATCH}, no weight decay, scored at {', '.join(map(str, budgets))} "
        f"steps: the regime, from a network that has not fitted its training set to one whose "
        "training loss is near 0. The temperature is fitted by NLL (crossent.calibration."
        f"fit_temperature); ECE is top-label, {BINS} equal-width bins "
        "(crossent.calibration.calibration_error), as Guo et al. 2017. Floor: the ECE of a "
        "predictor with the scaled network's confidences whose correctness is drawn to match "
        f"them ({FLOOR_DRAWS} draws per repeat): calibrated by construction, its ECE on "
        f"{n_test} test images is what sampling noise alone leaves.",
        f"After {longest} steps the network is over-confident by {_ci(over)} (mean confidence − "
        f"accuracy); the fitted temperature is {temperature.mean:.2f} (> 1: softening). "
        f"Temperature scaling lowers the test NLL by {_ci(nll.difference)} nats and the ECE by "
        f"{_ci(ece.difference)}, to {ece.methods[SCALED].mean:.4f} against a floor of "
        f"{floor.mean:.4f}; it changed {changed} of the test predictions at any budget "
        f"(accuracy unchanged). Over-confident at {over_at} steps, under-confident at "
        f"{under_at}: early in training the network is under-confident, and scaling (T < 1 "
        f"there) sharpens it instead. The ECE drop's interval lies above 0 {ece_where}; the "
        f"NLL drop's {nll_where}.",
        figures=[
            Figure(
                f"Reliability diagrams after {longest} steps, before and after temperature "
                "scaling (test images of all repeats pooled)",
                svg,
                "Bars: the accuracy of each confidence bin; dots: its mean confidence; dashed: "
                "perfect calibration. Bars below the diagonal are over-confidence. The pooled "
                "ECE printed here is of all repeats' test images together; the verdict uses "
                "each repeat's own.",
            ),
            Figure(
                "Calibration against training length (mean and 95% interval over repeats)",
                _curves_svg(sweep, budgets),
                "Left: test ECE before and after scaling, and the floor a perfectly calibrated "
                "predictor shows on this many images. Middle: test NLL. Right: mean confidence "
                "minus accuracy before scaling (above 0: over-confident).",
            ),
        ],
        tables=[_table(run, sweep, budgets)],
        headline=f"after {longest} steps: over-confident by {over.mean:.3f}; temperature "
        f"scaling (T = {temperature.mean:.2f}) ECE {ece.methods[UNCALIBRATED].mean:.4f} → "
        f"{ece.methods[SCALED].mean:.4f} (floor {floor.mean:.4f}), NLL "
        f"{nll.methods[UNCALIBRATED].mean:.3f} → {nll.methods[SCALED].mean:.3f}; "
        f"{changed} predictions changed",
        evidence=Evidence(
            ECE_METRIC,
            repeats,
            sweep.ece,
            detectable,
            reference=f"the floor, the ECE a perfectly calibrated predictor shows on {n_test} "
            "test images (the third method)",
            claimed=SCALED,
            baseline=UNCALIBRATED,
            quick=ctx.quick,
        ),
    )


CLAIMS = [
    Claim(
        "C19",
        "A network trained to minimise cross-entropy ends over-confident on held-out data; "
        "temperature scaling fitted by NLL on a validation split lowers test NLL and ECE and "
        "leaves accuracy unchanged.",
        "beyond the articles: Guo et al., On Calibration of Modern Neural Networks, ICML 2017",
        c19,
    ),
]
