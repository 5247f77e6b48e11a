"""C11–C15: imbalance and hard examples (seed 003) — α-balancing, mining, focal loss, GHM-C.

C11–C13 and C15 train a small per-anchor classifier on a detection-like generator whose
posterior is known (:class:`crossent.experiments.datasets.AnchorMixture`): positives,
hard negatives beside them and easy background, at positive rates from 1:10 to
RetinaNet's 1:1000. Every loss trains on the same independent repeats (data draw and
initialisation), all at once as one stacked model (:mod:`crossent.experiments.detection`),
with a budget short enough that optimisation, not the Bayes limit, decides; each method's
gap to the Bayes-optimal value is shown. One point of every sweep is real data:
scikit-learn's digits, one digit against the rest, made as rare as the sweep needs.
The verdict follows :func:`crossent.experiments.stats.sweep_verdict` over the sweep.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from crossent import sigmoid_binary_cross_entropy, sigmoid_focal_loss
from crossent.experiments import datasets, detection, figures
from crossent.experiments.registry import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    INCONCLUSIVE,
    Claim,
    Context,
    Figure,
    Result,
    Table,
)
from crossent.experiments.stats import (
    Evidence,
    Interval,
    SweepPoint,
    detectable_difference,
    mean_interval,
    paired_difference,
    sweep_verdict,
)
from crossent.losses.ghm import ghm_weights

__all__ = ["CLAIMS"]

# The generator: unit-variance Gaussian kinds in 8 features; positives 5 from the background
# and hard negatives 2.5 from the positives, off the line between them (a curved boundary).
ANCHORS = 1000
"""Anchors per training image."""
FEATURES = 8
SEPARATION = 5.0
HARD_OFFSET = 2.5
HARD_SHARE = 0.01
"""Share of the negatives that are hard: overwhelmingly easy background, RetinaNet's regime."""

TEST_IMAGES = 12
"""Held-out images of :data:`ANCHORS` anchors per repeat, each kind in equal shares and
weighted back to the generator's priors (a stable AP even at 1:1000; see
:meth:`~crossent.experiments.datasets.AnchorMixture.evaluation_sample`)."""
CEILING_PER_KIND = 50_000
"""Anchors of each kind in the fresh float64 sample that scores the true posterior."""

# Training: Adam, a batch of images per step, RetinaNet's prior on the output bias.
HIDDEN = 16
BATCH_IMAGES = 8
LR = 3e-3

ALPHA, GAMMA = 0.25, 2.0
"""The RetinaNet paper's best focal-loss setting."""
NEG_POS_RATIO = 3
"""SSD's ratio of negatives to positives for hard negative mining."""
GHM_BINS, GHM_MOMENTUM = 10, 0.75
"""mmdetection's GHM-C setting for RetinaNet."""
NOISE_SHARE = 0.2
"""C15's density plot is shown at the generated point whose noise is nearest this, and the
real-data point has this noise."""
THRESHOLD = 0.5
"""Decision threshold on σ(z) for recall and precision."""

DIGIT = 8
"""The real-data point: this digit of scikit-learn's digits against the other nine."""
DIGIT_RATE = 0.05
"""Its training positives are subsampled to this rate (1:20; the data have only 1,347
training negatives, so 1:1000 would leave one positive and 1:100 thirteen)."""
DIGIT_ANCHORS = 50
"""Rows per pseudo-image of the digits."""

MEANINGFUL_AP = 0.02
"""The smallest difference in average precision that would matter for a loss choice."""
MEANINGFUL_RECALL = 0.05
"""... and in recall."""

GRID_GAMMAS = (0.0, 0.5, 1.0, 2.0, 5.0)
GRID_ALPHAS = (0.25, 0.5, 0.75)

PAPER_TABLE_1A = ((0.25, 10.8), (0.5, 30.2), (0.75, 31.1), (0.9, 30.8), (0.99, 28.7), (0.999, 25.1))
"""Lin et al. 2017, Table 1a: (α, COCO AP) of α-balanced CE (γ = 0), RetinaNet ResNet-50."""
PAPER_TABLE_1B = (
    (0.0, 0.75, 31.1),
    (0.1, 0.75, 31.4),
    (0.2, 0.75, 31.9),
    (0.5, 0.5, 32.9),
    (1.0, 0.25, 33.7),
    (2.0, 0.25, 34.0),
    (5.0, 0.25, 32.2),
)
"""Lin et al. 2017, Table 1b: (γ, the best α for that γ, COCO AP) of focal loss."""
PAPER_GHM = (("GHM-C + GHM-R", 41.6), ("FL + smooth L1", 40.8))
"""Li, Liu, Wang 2019 (abstract): COCO test-dev AP of the GHM detector and of the focal-loss
one it surpasses by 0.8 (both with a ResNeXt-101 backbone)."""

BCE, BALANCED, RANDOM, MINED, GHM = (
    "BCE",
    "α-balanced BCE",
    "BCE, random negatives 3:1",
    "BCE, hard negatives 3:1",
    "GHM-C",
)
FOCAL = f"focal γ={GAMMA:g}, α={ALPHA}"


@dataclass(frozen=True)
class Setting:
    """Training images per repeat, optimiser steps and repeats of every point."""

    images: int
    steps: int
    repeats: int


def _setting(ctx: Context) -> Setting:
    return Setting(
        images=ctx.size(quick=100, full=200),
        steps=ctx.size(quick=80, full=200),
        repeats=5,
    )


RATE, HARD, NOISE = "positive rate", "hard share", "label noise"
"""The swept variables: the share of positives among the anchors, the share of the
negatives that are hard, the share of the training positives mislabelled."""
ON_DIGITS = ", real digits"
"""Appended to the variable of a real-data point, so that a plot by variable keeps it apart
from the generated points."""


@dataclass(frozen=True)
class Point:
    """One setting of a sweep: the swept variable and its value, and the data they make
    (generated by :class:`~crossent.experiments.datasets.AnchorMixture`, or real digits)."""

    variable: str
    value: float
    positive_rate: float
    hard_share: float = HARD_SHARE
    noise: float = 0.0
    digits: bool = False

    @property
    def key(self) -> str:
        kind = "digits" if self.digits else "generated"
        return f"{kind}/rate={self.positive_rate:g}/hard={self.hard_share:g}/noise={self.noise:g}"

    def mixture(self) -> datasets.AnchorMixture:
        return datasets.AnchorMixture(
            self.positive_rate,
            self.hard_share,
            features=FEATURES,
            separation=SEPARATION,
            hard_offset=HARD_OFFSET,
        )

    def label(self) -> str:
        """How the report names the point: ``positive rate 1:1000``, ``hard share 0.2
        (1:1000)``, ``noise 0.2 (1:100)``, ``digits 8 vs rest, 1:20``."""
        rate = f"1:{round(1 / self.positive_rate)}"
        if self.digits:
            noise = f", noise {self.noise:g}" if self.noise else ""
            return f"digits {DIGIT} vs rest, {rate}{noise}"
        if self.variable == NOISE:
            return f"noise {self.noise:g} ({rate})"
        if self.variable == HARD:
            return f"hard share {self.hard_share:g} ({rate})"
        return f"positive rate {rate}"


def _imbalance_points(ctx: Context) -> list[Point]:
    """C11–C13: the positive rate from 1:10 to 1:1000, more hard negatives, real digits."""
    rates = (0.01, 0.001) if ctx.quick else (0.1, 0.01, 0.001)
    return [
        *(Point(RATE, r, r) for r in rates),
        Point(HARD, 0.2, 0.001, hard_share=0.2),
        Point(RATE + ON_DIGITS, DIGIT_RATE, DIGIT_RATE, digits=True),
    ]


def _noise_points(ctx: Context) -> list[Point]:
    """C15: the share of mislabelled positives at 1:100, and on real digits."""
    noises = (0.0, 0.4) if ctx.quick else (0.0, 0.1, 0.2, 0.4)
    return [
        *(Point(NOISE, n, 0.01, noise=n) for n in noises),
        Point(NOISE + ON_DIGITS, NOISE_SHARE, DIGIT_RATE, noise=NOISE_SHARE, digits=True),
    ]


# ---------------------------------------------------------------------- training a point


@dataclass
class Measured:
    """Every method's held-out metrics at one point, one value per repeat.

    Attributes:
        values: ``values[method][metric]`` of shape ``[repeats]``; metrics ``"ap"``,
            ``"recall"`` and ``"precision"`` (at σ(z) > :data:`THRESHOLD`).
        ceiling: for generated data, the Bayes-optimal ``"ap"``, the recall of the true
            posterior at σ > 0.5 (``"recall"``, plain BCE's limit) and at α-balanced BCE's
            threshold (``"recall_balanced"``); None for real data.
        reference: for real data, :data:`REFERENCES`' ``"ap"`` and ``"recall"``.
        density: C15's gradient-norm histogram of the BCE model over its training anchors.
    """

    point: Point
    values: dict[str, dict[str, np.ndarray]]
    ceiling: dict[str, float] | None = None
    reference: dict[str, float] | None = None
    density: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Data:
    train: list[datasets.Anchors]
    x_test: list[np.ndarray]
    positive: list[np.ndarray]
    negative: list[np.ndarray]


def _rng(ctx: Context, point: Point, repeat: int) -> np.random.Generator:
    return np.random.default_rng((ctx.seed, repeat, zlib.crc32(point.key.encode())))


def _data(ctx: Context, point: Point, images: int, repeats: int) -> _Data:
    train, xs, positives, negatives = [], [], [], []
    for r in range(repeats):
        rng = _rng(ctx, point, r)
        if point.digits:
            if "imbalance/digits" not in ctx.store:
                ctx.store["imbalance/digits"] = datasets.digits(ctx.seed)
            seed = int(rng.integers(2**31))
            anchors, x, positive, negative = datasets.one_digit_anchors(
                ctx.store["imbalance/digits"],
                DIGIT,
                point.positive_rate,
                anchors=DIGIT_ANCHORS,
                seed=seed,
            )
        else:
            mixture = point.mixture()
            anchors = mixture.images(rng, images=images, anchors=ANCHORS)
            x, positive, negative = mixture.evaluation_sample(rng, TEST_IMAGES * ANCHORS // 3)
        if point.noise:
            anchors = datasets.Anchors(
                anchors.x, datasets.mislabel_positives(rng, anchors.y, point.noise), anchors.hard
            )
        train.append(anchors)
        xs.append(x)
        positives.append(positive)
        negatives.append(negative)
    return _Data(train, xs, positives, negatives)


def _ceiling(ctx: Context, point: Point) -> dict[str, float]:
    """The Bayes-optimal metrics of the point's generator (cached: points share generators)."""
    key = f"imbalance/ceiling/rate={point.positive_rate:g}/hard={point.hard_share:g}"
    if key not in ctx.store:
        rate = point.positive_rate
        log_odds, positive, negative = detection.bayes_scores(
            point.mixture(), per_kind=CEILING_PER_KIND, seed=ctx.seed
        )
        # α-balanced BCE with α = 1 − ρ is minimised by the posterior with odds scaled by
        # α/(1 − α): it predicts positive where the true log-odds exceed log(ρ/(1 − ρ)).
        ctx.store[key] = {
            "ap": detection.average_precision(log_odds, positive, negative),
            "recall": detection.recall(log_odds, positive, 0.0),
            "recall_balanced": detection.recall(log_odds, positive, math.log(rate / (1 - rate))),
        }
    ceiling: dict[str, float] = ctx.store[key]
    return ceiling


REFERENCES = {
    "ap": "logistic regression fitted to convergence on the same rows",
    "recall": "class-balanced logistic regression (the α-balanced rule) fitted on the same rows",
}
"""The strong reference on real data, by metric."""


def _logistic_reference(data: _Data) -> dict[str, float]:
    """:data:`REFERENCES` fitted on the first repeat's training rows and scored on the test
    rows: the AP of a logistic regression, the recall of a class-balanced one."""
    from sklearn.linear_model import LogisticRegression

    features = data.train[0].x.reshape(-1, data.train[0].x.shape[-1])
    labels = data.train[0].y.ravel()
    x, positive, negative = data.x_test[0], data.positive[0], data.negative[0]
    plain = LogisticRegression(max_iter=5000).fit(features, labels)
    balanced = LogisticRegression(max_iter=5000, class_weight="balanced").fit(features, labels)
    return {
        "ap": detection.average_precision(plain.decision_function(x), positive, negative),
        "recall": detection.recall(balanced.decision_function(x), positive),
    }


def _density(trained: detection.Trained, train: datasets.Anchors) -> dict[str, list[float]]:
    """GHM-C's view of the BCE model of the first repeat: anchors and mean weight per bin of
    the gradient norm ``g = |σ(z) − y|`` over its (noisy) training anchors."""
    x = train.x.reshape(-1, train.x.shape[-1])
    z = trained.member_logits(BCE, 0, x)
    y = train.y.ravel().astype(np.float64)
    g = np.abs(1 / (1 + np.exp(-z)) - y)
    counts, _ = np.histogram(g, bins=np.linspace(0.0, 1.0, GHM_BINS + 1))
    weights = np.asarray(ghm_weights(z, y, bins=GHM_BINS))
    bin_of = np.minimum((g * GHM_BINS).astype(int), GHM_BINS - 1)
    mean_weight = [
        float(weights[bin_of == k].mean()) if np.any(bin_of == k) else math.nan
        for k in range(GHM_BINS)
    ]
    return {"counts": [float(c) for c in counts], "weights": mean_weight}


def _metrics(z: np.ndarray, data: _Data, repeat: int) -> dict[str, float]:
    """Held-out AP, and recall and precision at σ(z) > :data:`THRESHOLD`, of one repeat."""
    threshold = math.log(THRESHOLD / (1 - THRESHOLD))
    positive, negative = data.positive[repeat], data.negative[repeat]
    return {
        "ap": detection.average_precision(z, positive, negative),
        "recall": detection.recall(z, positive, threshold),
        "precision": detection.precision(z, positive, negative, threshold),
    }


def _run(
    ctx: Context,
    point: Point,
    methods: dict[str, detection.Method],
    tag: str,
    *,
    density: bool = False,
) -> Measured:
    """Train ``methods`` on ``point``'s repeats (cached in the context under ``tag``)."""
    key = f"imbalance/{tag}/{point.key}"
    cached: Measured | None = ctx.store.get(key)
    if cached is not None:
        return cached
    s = _setting(ctx)
    data = _data(ctx, point, s.images, s.repeats)
    trained = detection.train_stacked(
        data.train,
        methods,
        steps=s.steps,
        batch_images=BATCH_IMAGES,
        lr=LR,
        seed=ctx.seed * 1000 + zlib.crc32(point.key.encode()) % 997,
        hidden=HIDDEN,
        progress=ctx.progress,
    )
    scores = trained.scores(data.x_test)
    values = {}
    for name, z in scores.items():
        per_repeat = [_metrics(z[r], data, r) for r in range(s.repeats)]
        values[name] = {
            metric: np.array([m[metric] for m in per_repeat]) for metric in per_repeat[0]
        }
    measured = Measured(
        point,
        values,
        ceiling=None if point.digits else _ceiling(ctx, point),
        reference=_logistic_reference(data) if point.digits else None,
        density=_density(trained, data.train[0]) if density else {},
    )
    ctx.store[key] = measured
    return measured


def _expect(ctx: Context, points: Sequence[Point], tag: str) -> None:
    todo = [p for p in points if f"imbalance/{tag}/{p.key}" not in ctx.store]
    ctx.progress.expect(max(1, len(todo) * _setting(ctx).steps))


def _imbalance_methods(point: Point) -> dict[str, detection.Method]:
    return {
        BCE: detection.bce(),
        # α for the positives at the inverse class frequency: α·ρ = (1 − α)·(1 − ρ).
        BALANCED: detection.alpha_balanced(1 - point.positive_rate),
        RANDOM: detection.random_negatives(NEG_POS_RATIO),
        MINED: detection.mined(NEG_POS_RATIO),
        FOCAL: detection.focal(GAMMA, ALPHA),
    }


def _imbalance_runs(ctx: Context) -> list[Measured]:
    points = _imbalance_points(ctx)
    _expect(ctx, points, "imbalance")
    return [_run(ctx, p, _imbalance_methods(p), "imbalance") for p in points]


def _noise_runs(ctx: Context) -> list[Measured]:
    points = _noise_points(ctx)
    _expect(ctx, points, "noise")
    methods = {
        BCE: detection.bce(),
        FOCAL: detection.focal(GAMMA, ALPHA),
        GHM: detection.ghm(GHM_BINS, GHM_MOMENTUM),
    }
    generated = [p for p in points if not p.digits]
    shown = min(generated, key=lambda p: abs(p.noise - NOISE_SHARE))
    return [_run(ctx, p, methods, "noise", density=p == shown) for p in points]


# ------------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class Comparison:
    """One claimed-versus-baseline comparison over a sweep."""

    evidence: Evidence
    verdict: str
    detectable: list[float]


def _compare(
    runs: Sequence[Measured],
    metric: str,
    label: str,
    claimed: str,
    baseline: str,
    shown: Sequence[str],
    *,
    meaningful: float,
    ceiling: str | None = None,
) -> Comparison:
    """The sweep of ``claimed − baseline`` in ``metric`` with every shown method's interval,
    the Bayes ceiling (``ceiling`` names its key) and the verdict of the sweep rule."""
    points, detectable = [], []
    for m in runs:
        diff = m.values[claimed][metric] - m.values[baseline][metric]
        detectable.append(detectable_difference(diff))
        points.append(
            SweepPoint(
                m.point.variable,
                m.point.value,
                {name: mean_interval(m.values[name][metric]) for name in shown},
                paired_difference(m.values[claimed][metric], m.values[baseline][metric]),
                None if m.ceiling is None else m.ceiling[ceiling or metric],
            )
        )
    references = [
        f"{m.point.label()}: {REFERENCES[metric]}, {label} {m.reference[metric]:.3f}"
        for m in runs
        if m.reference is not None and metric in m.reference
    ]
    worst = max(detectable)
    evidence = Evidence(
        label, len(runs[0].values[claimed][metric]), points, worst, "; ".join(references) or None
    )
    return Comparison(
        evidence,
        sweep_verdict([p.difference for p in points], worst, meaningful=meaningful),
        detectable,
    )


def _where(runs: Sequence[Measured], evidence: Evidence) -> str:
    """Where the claim holds (interval above 0), fails (below 0) and is undecided, with numbers."""
    parts: dict[str, list[str]] = {"holds": [], "reversed": [], "undecided": []}
    for m, p in zip(runs, evidence.sweep, strict=True):
        d = p.difference
        text = f"{m.point.label()} ({d.mean:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}])"
        parts["holds" if d.lo > 0 else "reversed" if d.hi < 0 else "undecided"].append(text)
    out = []
    if parts["holds"]:
        out.append("in the claimed direction at " + ", ".join(parts["holds"]))
    if parts["reversed"]:
        out.append("the other way at " + ", ".join(parts["reversed"]))
    if parts["undecided"]:
        out.append("undecided at " + ", ".join(parts["undecided"]))
    return "; ".join(out) + "."


def _undecided(runs: Sequence[Measured], c: Comparison, meaningful: float) -> str:
    """For an inconclusive verdict: why the design cannot decide, and what would."""
    if c.verdict != INCONCLUSIVE:
        return ""
    open_points = [
        m.point.label()
        for m, p in zip(runs, c.evidence.sweep, strict=True)
        if p.difference.lo <= 0 <= p.difference.hi
    ]
    worst = c.evidence.detectable_difference
    # The detectable difference shrinks about as 1/√n: n·(worst/meaningful)² repeats.
    needed = (
        f"about {math.ceil(c.evidence.repeats * (worst / meaningful) ** 2)}"
        if math.isfinite(worst)
        else "more"
    )
    return (
        f" Inconclusive: no interval lies above 0, the interval includes 0 at "
        f"{', '.join(open_points) or 'no point'}, and with {c.evidence.repeats} repeats the "
        f"design detects only differences of {worst:.3f} (at its least powerful point), more "
        f"than the {meaningful:g} that would matter; {needed} repeats would decide."
    )


def _interval(iv: Interval) -> str:
    return f"{iv.mean:.3f} [{iv.lo:.3f}, {iv.hi:.3f}]"


def _sweep_table(runs: Sequence[Measured], c: Comparison, title: str) -> Table:
    """Each point: every method's mean [95% CI], the ceiling or reference, and the gaps."""
    names = list(c.evidence.sweep[0].methods)
    rows = []
    for m, p, det in zip(runs, c.evidence.sweep, c.detectable, strict=True):
        if p.ceiling is not None:
            top = f"{p.ceiling:.3f} (Bayes)"
            gaps = ", ".join(f"{p.ceiling - p.methods[n].mean:.3f}" for n in names)
        else:
            ref = m.reference or {}
            metric = "recall" if "recall" in c.evidence.metric else "ap"
            top = f"{ref[metric]:.3f} (logistic regression)" if metric in ref else "—"
            gaps = "—"
        rows.append(
            [
                m.point.label(),
                *(_interval(p.methods[n]) for n in names),
                _interval(p.difference),
                f"{det:.3f}",
                top,
                gaps,
            ]
        )
    return Table(
        title,
        [
            "point",
            *names,
            "difference (claimed − baseline)",
            "detectable",
            "ceiling / reference",
            "gap to ceiling, per method",
        ],
        rows,
    )


def _setting_text(ctx: Context, points: Sequence[Point]) -> str:
    s = _setting(ctx)
    return (
        f"A detection-like generator with a known posterior: images of {ANCHORS} anchors, "
        f"each a positive, a hard negative or an easy negative, unit-variance Gaussians in "
        f"{FEATURES} features (positives {SEPARATION:g} from the background; hard negatives "
        f"{HARD_OFFSET:g} from the positives, off the line between them, so the best boundary is "
        f"curved). {s.images} training images per repeat; the held-out set has "
        f"{TEST_IMAGES * ANCHORS // 3} anchors of each kind, weighted back to the generator's "
        f"priors. Points: {'; '.join(p.label() for p in points)}. Real data: scikit-learn's "
        f"digits, {DIGIT} against the rest, training positives subsampled to the point's rate, "
        f"in pseudo-images of {DIGIT_ANCHORS} rows, test weighted to that rate. A per-anchor MLP "
        f"(hidden {HIDDEN}) with RetinaNet's prior bias (π = {detection.PRIOR}), Adam (rate "
        f"{LR:g}), {BATCH_IMAGES} images per step, {s.steps} steps — short enough that "
        f"optimisation, not the Bayes limit, decides; losses summed and divided by the number "
        f"of positives (RetinaNet, SSD). {s.repeats} independent repeats (data draw and "
        "initialisation) per point, the same for every loss, all trained at once as one "
        "stacked model." + (" Quick run: fewer points, images and steps." if ctx.quick else "")
    )


def _criterion(what: str, meaningful: float) -> str:
    return (
        f"{what}. Per point, the mean paired difference over the repeats with its 95% t "
        "interval; the claim holds where an interval lies above 0, does not hold if every "
        "interval lies below 0 or below the smallest difference the design detects (95%, 80% "
        f"power, at its least powerful point) while that is at most {meaningful:g}, and is "
        "inconclusive otherwise."
    )


_ORDER = {DOES_NOT_HOLD: 0, INCONCLUSIVE: 1, HOLDS_WITH_CORRECTION: 2, HOLDS: 3}


def _weaker(*verdicts: str) -> str:
    """The least favourable of several verdicts (a claim of "beats A and B" needs both)."""
    return min(verdicts, key=_ORDER.__getitem__)


def _measured(c: Comparison, runs: Sequence[Measured], metric: str) -> dict[str, object]:
    """The per-repeat values behind a comparison, for ``claims.json``."""
    return {
        "points": [m.point.label() for m in runs],
        "values": {
            m.point.label(): {name: m.values[name][metric].tolist() for name in m.values}
            for m in runs
        },
        "detectable_per_point": c.detectable,
        "sweep_verdict": c.verdict,
    }


# ------------------------------------------------------------------------------- C11


def c11(ctx: Context) -> Result:
    runs = _imbalance_runs(ctx)
    c = _compare(
        runs,
        "recall",
        f"recall at σ(z) > {THRESHOLD}",
        BALANCED,
        BCE,
        [BCE, BALANCED],
        meaningful=MEANINGFUL_RECALL,
        ceiling="recall_balanced",
    )
    precision = {
        m.point.label(): {
            name: float(m.values[name]["precision"].mean()) for name in (BCE, BALANCED)
        }
        for m in runs
    }
    first, last = c.evidence.sweep[0], c.evidence.sweep[-3]
    return Result(
        c.verdict,
        _criterion(
            f"α-balanced BCE (α = 1 − ρ on the positives, inverse class frequency) raises the "
            f"held-out recall at σ(z) > {THRESHOLD} over plain BCE",
            MEANINGFUL_RECALL,
        ),
        {
            **_measured(c, runs, "recall"),
            "weighted_precision": precision,
            "ceiling_recall_plain_bce": [
                None if m.ceiling is None else m.ceiling["recall"] for m in runs
            ],
        },
        _setting_text(ctx, [m.point for m in runs])
        + " α = 1 − ρ on the positive term and ρ on the negative, as crossent.sigmoid_focal_loss "
        "with γ = 0. The ceiling is the recall of the Bayes rule that α-balanced BCE approaches "
        "(true log-odds above log(ρ/(1 − ρ))).",
        "Recall rises "
        + _where(runs, c.evidence)
        + _undecided(runs, c, MEANINGFUL_RECALL)
        + f" Precision pays for it: at {runs[-3].point.label()} it falls from "
        f"{precision[runs[-3].point.label()][BCE]:.3f} to {precision[runs[-3].point.label()][BALANCED]:.3f}.",
        tables=[_sweep_table(runs, c, "Recall over the sweep (mean [95% CI] over repeats)")],
        headline=(
            f"recall BCE → α-balanced: {first.methods[BCE].mean:.2f} → "
            f"{first.methods[BALANCED].mean:.2f} at {runs[0].point.label()}, "
            f"{last.methods[BCE].mean:.2f} → {last.methods[BALANCED].mean:.2f} at {runs[-3].point.label()}"
        ),
        evidence=c.evidence,
    )


# ------------------------------------------------------------------------------- C12


def c12(ctx: Context) -> Result:
    runs = _imbalance_runs(ctx)
    shown = [BCE, RANDOM, MINED]
    vs_all = _compare(runs, "ap", "average precision", MINED, BCE, shown, meaningful=MEANINGFUL_AP)
    vs_random = _compare(
        runs, "ap", "average precision", MINED, RANDOM, shown, meaningful=MEANINGFUL_AP
    )
    verdict = _weaker(vs_all.verdict, vs_random.verdict)
    return Result(
        verdict,
        _criterion(
            "BCE on the positives and, per image, the highest-loss negatives at 3:1 "
            "(crossent.hard_negative_mining) beats BCE on all anchors (the recorded difference) "
            "and BCE on as many random negatives (judged alike, in measured); the verdict is "
            "the weaker of the two",
            MEANINGFUL_AP,
        ),
        {
            **_measured(vs_all, runs, "ap"),
            "versus_random": {
                "verdict": vs_random.verdict,
                "difference": [p.difference.as_dict() for p in vs_random.evidence.sweep],
                "detectable_difference": vs_random.evidence.detectable_difference,
            },
            "verdict_versus_all": vs_all.verdict,
        },
        _setting_text(ctx, [m.point for m in runs])
        + " Mining, as SSD: per image, all positives and the 3·n₊ negatives of highest loss; "
        "the random control keeps as many negatives, chosen at random.",
        f"Against all negatives ({vs_all.verdict}): "
        + _where(runs, vs_all.evidence)
        + _undecided(runs, vs_all, MEANINGFUL_AP)
        + f" Against random negatives at 3:1 ({vs_random.verdict}): "
        + _where(runs, vs_random.evidence)
        + _undecided(runs, vs_random, MEANINGFUL_AP),
        tables=[
            _sweep_table(runs, vs_all, "Average precision: mining − all negatives"),
            _sweep_table(runs, vs_random, "Average precision: mining − random negatives"),
        ],
        headline=(
            f"AP − all negatives: {vs_all.evidence.sweep[-3].difference.mean:+.3f} at "
            f"{runs[-3].point.label()}; − random: "
            f"{vs_random.evidence.sweep[-3].difference.mean:+.3f}"
        ),
        evidence=vs_all.evidence,
    )


# ------------------------------------------------------------------------------- C13

FOCAL_GAMMAS = (0.0, 0.5, 1.0, 2.0, 5.0)
"""The paper's Figure 1."""


def _focal_curve_svg() -> str:
    p_t = np.linspace(0.001, 0.999, 500)
    z = np.log(p_t) - np.log1p(-p_t)  # the logit of p_t, with target 1
    fig, ax = figures.figure(1)
    for i, gamma in enumerate(FOCAL_GAMMAS):
        loss = np.asarray(
            sigmoid_focal_loss(z, np.ones_like(z), alpha=None, gamma=gamma, reduction="none")
        )
        ax.plot(
            p_t,
            loss,
            color=figures.COLORS[i],
            label=f"γ = {gamma:g}" + (" (CE)" if gamma == 0 else ""),
        )
    ax.axvspan(0.6, 1.0, color=figures.COLORS[5], alpha=0.08)
    ax.text(0.8, 4.4, "well-classified", ha="center", fontsize=9)
    ax.set(xlabel="probability of the ground-truth class, p_t", ylabel="loss", ylim=(0, 5))
    ax.legend()
    return figures.to_svg(fig, "c13-curve")


GRID_POINT = Point(RATE, 0.001, 0.001)
"""The γ × α grid runs in RetinaNet's regime: 1:1000, overwhelmingly easy negatives."""


def _grid_name(gamma: float, alpha: float) -> str:
    return f"γ={gamma:g}, α={alpha:g}"


def _grid(ctx: Context) -> Measured:
    gammas = (0.0, 1.0, 2.0, 5.0) if ctx.quick else GRID_GAMMAS
    alphas = (0.25, 0.75) if ctx.quick else GRID_ALPHAS
    methods = {_grid_name(g, a): detection.focal(g, a) for g in gammas for a in alphas}
    _expect(ctx, [GRID_POINT], "grid")
    return _run(ctx, GRID_POINT, methods, "grid")


def _best_alpha(ap: dict[tuple[float, float], Interval], gamma: float) -> float:
    return max((a for g, a in ap if g == gamma), key=lambda a: ap[gamma, a].mean)


@dataclass(frozen=True)
class GridSummary:
    """The γ × α grid's average precision and where its best cells fall."""

    ap: dict[tuple[float, float], Interval]
    best_alpha: dict[float, float]
    best: tuple[float, float]

    @property
    def alphas(self) -> list[float]:
        return sorted({a for _, a in self.ap})

    @classmethod
    def of(cls, grid: Measured) -> GridSummary:
        ap = {
            (g, a): mean_interval(grid.values[_grid_name(g, a)]["ap"])
            for g in GRID_GAMMAS
            for a in GRID_ALPHAS
            if _grid_name(g, a) in grid.values
        }
        gammas = sorted({g for g, _ in ap})
        best_alpha = {g: _best_alpha(ap, g) for g in gammas}
        return cls(ap, best_alpha, max(ap, key=lambda cell: ap[cell].mean))

    def gain(self) -> float:
        """Relative gain of focal (γ = 2, α = 0.25) over the best α-balanced CE (γ = 0): the
        paper's headline comparison, 34.0 against 31.1 in its Table 1."""
        balanced = self.ap[0.0, self.best_alpha[0.0]].mean
        return self.ap[GAMMA, ALPHA].mean / balanced - 1


PAPER_GAIN = PAPER_TABLE_1B[5][2] / PAPER_TABLE_1B[0][2] - 1
"""The paper's focal (γ = 2, α = 0.25) over α-balanced CE (γ = 0, α = 0.75): 34.0 / 31.1 − 1."""


def _grid_table(summary: GridSummary) -> Table:
    """Our AP for every (γ, α) beside the paper's Table 1b (the best α per γ)."""
    paper = {g: (a, v) for g, a, v in PAPER_TABLE_1B}
    rows = []
    for g, best in summary.best_alpha.items():
        cell = paper.get(g)
        rows.append(
            [
                f"{g:g}",
                *(_interval(summary.ap[g, a]) for a in summary.alphas),
                f"{best:g}",
                f"{cell[0]:g}" if cell else "—",
                f"{cell[1]:.1f}" if cell else "—",
            ]
        )
    return Table(
        f"Focal loss γ × α at {GRID_POINT.label()}: our AP (mean [95% CI]) beside Lin et al. "
        "2017 Table 1b (COCO AP with the best α for each γ)",
        [
            "γ",
            *(f"α = {a:g}" for a in summary.alphas),
            "our best α",
            "paper's best α",
            "paper's AP",
        ],
        rows,
    )


def _grid_figure(summary: GridSummary, ceiling: float | None) -> str:
    """Left: our AP against γ for each α, with intervals; right: the paper's Table 1b."""
    fig, (ours, paper) = figures.figure(2)
    gammas = list(summary.best_alpha)
    at = np.arange(len(gammas))
    for i, a in enumerate(summary.alphas):
        ivs = [summary.ap[g, a] for g in gammas]
        means = np.array([iv.mean for iv in ivs])
        err = np.array([[iv.mean - iv.lo for iv in ivs], [iv.hi - iv.mean for iv in ivs]])
        ours.errorbar(
            at + (i - 1) * 0.08,
            means,
            yerr=err,
            color=figures.COLORS[i],
            marker="o",
            capsize=3,
            label=f"α = {a:g}",
        )
    if ceiling is not None:
        ours.axhline(ceiling, color=figures.COLORS[5], linestyle="--", label="Bayes ceiling")
    ours.set(
        xticks=at,
        xticklabels=[f"{g:g}" for g in gammas],
        xlabel="γ",
        ylabel="average precision",
        title=f"crossent, {GRID_POINT.label()}",
    )
    ours.legend(fontsize=8)
    paper_at = np.arange(len(PAPER_TABLE_1B))
    paper.plot(paper_at, [v for _, _, v in PAPER_TABLE_1B], marker="o", color=figures.COLORS[3])
    for x, (_, a, v) in zip(paper_at, PAPER_TABLE_1B, strict=True):
        paper.annotate(
            f"α={a:g}", (x, v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8
        )
    paper.set(
        xticks=paper_at,
        xticklabels=[f"{g:g}" for g, _, _ in PAPER_TABLE_1B],
        xlabel="γ",
        ylabel="COCO AP",
        title="Lin et al. 2017, Table 1b (best α)",
    )
    return figures.to_svg(fig, "c13-grid")


def _grid_finding(summary: GridSummary) -> str:
    paper = {g: a for g, a, _ in PAPER_TABLE_1B}
    agree = [g for g, a in summary.best_alpha.items() if paper.get(g) == a]
    differ = [g for g, a in summary.best_alpha.items() if g in paper and paper[g] != a]
    g, a = summary.best
    text = (
        f"The γ × α grid's best cell is γ = {g:g}, α = {a:g} (the paper's: γ = 2, α = 0.25). "
        f"Focal at γ = 2, α = 0.25 is {summary.gain():+.0%} over the best α-balanced CE "
        f"(the paper: {PAPER_GAIN:+.0%}, 34.0 against 31.1)."
    )
    if agree:
        text += " The best α agrees with the paper's Table 1b at γ = " + ", ".join(
            f"{x:g}" for x in agree
        )
    if differ:
        text += (
            ("; it differs" if agree else " The best α differs from the paper's")
            + " at γ = "
            + ", ".join(f"{x:g} (ours {summary.best_alpha[x]:g})" for x in differ)
        )
    return text + "."


def c13(ctx: Context) -> Result:
    runs = _imbalance_runs(ctx)
    grid = _grid(ctx)
    c = _compare(
        runs, "ap", "average precision", FOCAL, BCE, [BCE, FOCAL], meaningful=MEANINGFUL_AP
    )
    summary = GridSummary.of(grid)
    # How much the focal term shrinks an easy and a hard example's loss, from the loss itself.
    shrink = {}
    for label, p in (("easy_p_t_0.9", 0.9), ("hard_p_t_0.1", 0.1)):
        z = np.array([math.log(p / (1 - p))])
        fl = float(sigmoid_focal_loss(z, np.ones(1), alpha=None, gamma=GAMMA))
        ce = float(sigmoid_binary_cross_entropy(z, np.ones(1)))
        shrink[f"focal_over_ce_{label}"] = fl / ce
    return Result(
        c.verdict,
        _criterion(
            f"Focal loss (γ = {GAMMA:g}, α = {ALPHA}) beats plain BCE on held-out average precision",
            MEANINGFUL_AP,
        ),
        {
            **_measured(c, runs, "ap"),
            **shrink,
            "grid": {
                "point": GRID_POINT.label(),
                "ap": {_grid_name(*cell): iv.as_dict() for cell, iv in summary.ap.items()},
                "best_alpha_per_gamma": {f"{g:g}": a for g, a in summary.best_alpha.items()},
                "best_cell": _grid_name(*summary.best),
                "relative_gain_focal_over_balanced_ce": summary.gain(),
                "paper_relative_gain": PAPER_GAIN,
                "paper_table_1a": [list(r) for r in PAPER_TABLE_1A],
                "paper_table_1b": [list(r) for r in PAPER_TABLE_1B],
                "ceiling": None if grid.ceiling is None else grid.ceiling["ap"],
            },
        },
        _setting_text(ctx, [m.point for m in runs])
        + f" Focal loss with the paper's best γ = {GAMMA:g}, α = {ALPHA}; the γ × α grid at "
        f"{GRID_POINT.label()} with the same budget and repeats.",
        f"At γ = {GAMMA:g} an easy example (p_t = 0.9) keeps "
        f"{shrink['focal_over_ce_easy_p_t_0.9']:.2%} of its CE loss, a hard one (p_t = 0.1) "
        f"{shrink['focal_over_ce_hard_p_t_0.1']:.0%}. Focal minus BCE: "
        + _where(runs, c.evidence)
        + _undecided(runs, c, MEANINGFUL_AP)
        + " "
        + _grid_finding(summary)
        + " The paper's AP is COCO box AP of a ResNet detector, ours a per-anchor AP: only the "
        "shape of the grid compares.",
        figures=[
            Figure(
                "Focal loss against the probability of the true class",
                _focal_curve_svg(),
                "As in the paper's Figure 1 (α off): γ > 0 flattens the loss of well-classified "
                "examples; γ = 0 is cross-entropy.",
            ),
            Figure(
                "Focal loss γ × α: ours beside the paper's",
                _grid_figure(summary, None if grid.ceiling is None else grid.ceiling["ap"]),
                "Left: held-out AP on the generator at 1:1000 (mean and 95% interval over the "
                "repeats; dashed: the Bayes-optimal AP). Right: the paper's COCO AP with the "
                "best α for each γ. Only the shapes compare: where the best α and γ fall.",
            ),
        ],
        tables=[
            _sweep_table(runs, c, "Average precision over the sweep (mean [95% CI] over repeats)"),
            _grid_table(summary),
            Table(
                "Lin et al. 2017 Table 1a: α-balanced CE (γ = 0), COCO AP",
                ["α", *(f"{a:g}" for a, _ in PAPER_TABLE_1A)],
                [["AP", *(f"{v:.1f}" for _, v in PAPER_TABLE_1A)]],
            ),
        ],
        headline=(
            f"AP focal − BCE: {c.evidence.sweep[0].difference.mean:+.3f} at "
            f"{runs[0].point.label()}, {c.evidence.sweep[-3].difference.mean:+.3f} at "
            f"{runs[-3].point.label()}"
        ),
        evidence=c.evidence,
    )


# ------------------------------------------------------------------------------- C14

HARD_P_T, EASY_P_T = 0.1, 0.9
"""p_t of a hard example (confidently wrong) and of an easy one (confidently right)."""

SEED_ORDER = ("hard positive", "hard negative", "easy positive", "easy negative")
"""Seed 003: 正难 > 负难 > 正易 > 负易."""

SEED_TABLE = {
    "hard positive": "—",
    "hard negative": "α-decayed",
    "easy positive": "γ-decayed",
    "easy negative": "α- and γ-decayed",
}
"""What seed 003's table says the focal loss does to each kind."""


def _kind_weights(alpha: float) -> dict[str, float]:
    """FL / BCE = α_t (1 − p_t)^γ for each kind, from crossent's focal loss and BCE."""
    out = {}
    for kind in SEED_ORDER:
        positive = kind.endswith("positive")
        p_t = HARD_P_T if kind.startswith("hard") else EASY_P_T
        y = np.array([1.0 if positive else 0.0])
        p = p_t if positive else 1 - p_t
        z = np.array([math.log(p / (1 - p))])
        fl = float(sigmoid_focal_loss(z, y, alpha=alpha, gamma=GAMMA))
        out[kind] = fl / float(sigmoid_binary_cross_entropy(z, y))
    return out


def _short(order: tuple[str, ...]) -> str:
    """``hard positive > easy negative`` as ``HP > EN``."""
    return " > ".join("".join(w[0].upper() for w in kind.split()) for kind in order)


def _order(weights: dict[str, float]) -> tuple[str, ...]:
    return tuple(sorted(weights, key=lambda k: -weights[k]))


def c14(ctx: Context) -> Result:
    ctx.progress.expect(1)
    paper = _kind_weights(ALPHA)  # α multiplies the positive term (Lin et al., torchvision)
    seed_convention = _kind_weights(1 - ALPHA)  # the seed's table: α shrinks the negatives
    paper_order, seed_convention_order = _order(paper), _order(seed_convention)
    if paper_order == SEED_ORDER:
        outcome = HOLDS
    elif seed_convention_order == SEED_ORDER:
        outcome = HOLDS_WITH_CORRECTION
    else:
        outcome = DOES_NOT_HOLD
    measured = {
        "hard_p_t": HARD_P_T,
        "easy_p_t": EASY_P_T,
        "alpha": ALPHA,
        "gamma": GAMMA,
        "weights_paper_convention": paper,
        "weights_seed_convention": seed_convention,
        "order_paper_convention": list(paper_order),
        "order_seed_convention": list(seed_convention_order),
        "seed_order": list(SEED_ORDER),
    }
    p_t = np.linspace(0.0, 1.0, 201)
    fig, axes = figures.figure(2, sharey=True)
    for ax, (title, a_pos) in zip(
        axes,
        (("paper: α = 0.25 on positives", ALPHA), ("seed: α = 0.25 on negatives", 1 - ALPHA)),
        strict=True,
    ):
        ax.plot(p_t, a_pos * (1 - p_t) ** GAMMA, color=figures.COLORS[0], label="positives")
        ax.plot(p_t, (1 - a_pos) * (1 - p_t) ** GAMMA, color=figures.COLORS[1], label="negatives")
        weights = _kind_weights(a_pos)
        for kind, w in weights.items():
            x = HARD_P_T if kind.startswith("hard") else EASY_P_T
            ax.plot([x], [w], "o", color=figures.COLORS[0 if kind.endswith("positive") else 1])
        ax.set(title=title, xlabel="p_t")
    axes[0].set_ylabel("weight α_t (1 − p_t)^γ")
    axes[0].legend()
    ctx.progress.advance()
    rows = [
        [
            kind,
            f"{HARD_P_T if kind.startswith('hard') else EASY_P_T}",
            f"{paper[kind]:.4f}",
            str(paper_order.index(kind) + 1),
            f"{seed_convention[kind]:.4f}",
            str(seed_convention_order.index(kind) + 1),
            SEED_TABLE[kind],
        ]
        for kind in SEED_ORDER
    ]
    return Result(
        outcome,
        f"Rank the four kinds by the weight focal loss gives them, FL/BCE = α_t(1 − p_t)^γ at "
        f"γ = {GAMMA:g}, α = {ALPHA}, p_t = {HARD_P_T} (hard) and {EASY_P_T} (easy). Holds if the "
        "paper's convention gives the seed's order; holds with a correction if only the seed's "
        "convention (α on the negatives) gives it.",
        measured,
        "Weights computed with crossent.sigmoid_focal_loss and sigmoid_binary_cross_entropy: "
        f"the paper's convention is alpha={ALPHA}; the seed's is alpha={1 - ALPHA} (α = {ALPHA} on "
        "the negative term).",
        f"Under the paper's convention the order is {' > '.join(paper_order)}: with α = {ALPHA} on "
        f"the positives, a negative weighs 3× a positive of the same p_t. The seed's order "
        f"{' > '.join(SEED_ORDER)} "
        + (
            "holds there too."
            if paper_order == SEED_ORDER
            else "holds only when α multiplies the negatives, as the seed's table assumes."
        )
        + (
            " In both conventions the two hard kinds come first: γ's hard–easy split outweighs "
            "α's positive–negative split."
            if set(paper_order[:2])
            == set(seed_convention_order[:2])
            == {"hard positive", "hard negative"}
            else ""
        ),
        figures=[
            Figure(
                "The weight focal loss gives each kind of example",
                figures.to_svg(fig, "c14"),
                f"Dots: the four kinds at p_t = {HARD_P_T} and {EASY_P_T}.",
            )
        ],
        tables=[
            Table(
                "The four kinds (weight = FL / BCE)",
                [
                    "kind",
                    "p_t",
                    "weight, paper",
                    "rank",
                    "weight, seed's α",
                    "rank",
                    "seed's table",
                ],
                rows,
            )
        ],
        headline=f"paper's α: {_short(paper_order)}; seed's α: {_short(seed_convention_order)}",
    )


# ------------------------------------------------------------------------------- C15


def _density_figure(density: dict[str, list[float]]) -> str:
    edges = np.linspace(0.0, 1.0, GHM_BINS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig, (left, right) = figures.figure(2)
    left.bar(centres, density["counts"], width=1 / GHM_BINS * 0.9, color=figures.COLORS[0])
    left.set(yscale="log", xlabel="gradient norm g = |p − p*|", ylabel="anchors", title="density")
    right.bar(centres, density["weights"], width=1 / GHM_BINS * 0.9, color=figures.COLORS[1])
    right.set(
        yscale="log", xlabel="gradient norm g", ylabel="GHM-C weight", title="weight = 1 / density"
    )
    return figures.to_svg(fig, "c15")


def c15(ctx: Context) -> Result:
    runs = _noise_runs(ctx)
    plotted = next(m for m in runs if m.density)
    density = plotted.density
    counts = np.array(density["counts"])
    weights = np.array(density["weights"])
    u_shaped = bool(counts[0] == counts.max() and counts[-1] > np.median(counts[1:-1]))
    middle = weights[1:-1][~np.isnan(weights[1:-1])]
    down_weighted = bool(middle.size and weights[0] < middle.max() and weights[-1] < middle.max())
    shown = [BCE, FOCAL, GHM]
    vs_focal = _compare(
        runs, "ap", "average precision", GHM, FOCAL, shown, meaningful=MEANINGFUL_AP
    )
    vs_bce = _compare(runs, "ap", "average precision", GHM, BCE, shown, meaningful=MEANINGFUL_AP)
    verdict = vs_focal.verdict if u_shaped and down_weighted else DOES_NOT_HOLD
    return Result(
        verdict,
        f"The density of g over {GHM_BINS} bins is U-shaped (the first bin holds the most anchors "
        "and the last more than the median interior bin) and GHM-C's weights are below the "
        "largest interior weight at both ends; and "
        + _criterion(
            "GHM-C beats focal loss on clean held-out average precision after training on "
            "noisy labels (GHM-C against plain BCE is judged alike, in measured)",
            MEANINGFUL_AP,
        ),
        {
            **_measured(vs_focal, runs, "ap"),
            "bin_counts": [int(c) for c in counts],
            "bin_weights": [None if np.isnan(w) else float(w) for w in weights],
            "u_shaped": u_shaped,
            "both_ends_down_weighted": down_weighted,
            "density_noise": plotted.point.noise,
            "versus_bce": {
                "verdict": vs_bce.verdict,
                "difference": [p.difference.as_dict() for p in vs_bce.evidence.sweep],
                "detectable_difference": vs_bce.evidence.detectable_difference,
            },
        },
        _setting_text(ctx, [m.point for m in runs])
        + " Label noise: the given share of the training positives relabelled background and as "
        "many background anchors relabelled positive (the positive rate is unchanged); test "
        f"labels are clean. GHM-C as mmdetection's RetinaNet setting ({GHM_BINS} bins, momentum "
        f"{GHM_MOMENTUM}); focal loss γ = {GAMMA:g}, α = {ALPHA}. The density is that of the "
        f"first repeat's BCE model over its training anchors at noise {plotted.point.noise:g}.",
        f"Anchors per bin: {[int(c) for c in counts]}: "
        + ("U-shaped. " if u_shaped else "not U-shaped. ")
        + "GHM-C minus focal: "
        + _where(runs, vs_focal.evidence)
        + _undecided(runs, vs_focal, MEANINGFUL_AP)
        + " GHM-C minus BCE: "
        + _where(runs, vs_bce.evidence)
        + f" The paper reports {PAPER_GHM[0][0]} at {PAPER_GHM[0][1]} COCO AP against "
        f"{PAPER_GHM[1][0]} at {PAPER_GHM[1][1]} (a full detector with clean labels; only the "
        "direction compares).",
        figures=[
            Figure(
                "GHM-C: gradient-norm density and weights",
                _density_figure(density),
                "Log scales. GHM-C divides by the density, so both the easy crowd at g ≈ 0 "
                "and the outliers at g ≈ 1 are down-weighted.",
            )
        ],
        tables=[
            _sweep_table(runs, vs_focal, "Average precision after noisy training: GHM-C − focal"),
            _sweep_table(runs, vs_bce, "Average precision after noisy training: GHM-C − BCE"),
            Table(
                "Li et al. 2019 (abstract): COCO test-dev AP",
                ["detector", "AP"],
                [[name, f"{ap:.1f}"] for name, ap in PAPER_GHM],
            ),
        ],
        headline=(
            f"density {'U-shaped' if u_shaped else 'not U-shaped'}; AP GHM-C − focal "
            + ", ".join(
                f"{p.difference.mean:+.3f} at noise {p.value:g}"
                for p, m in zip(vs_focal.evidence.sweep, runs, strict=True)
                if not m.point.digits
            )
        ),
        evidence=vs_focal.evidence,
    )


CLAIMS = [
    Claim(
        "C11",
        "α-weighted CE raises minority-class recall over plain CE on imbalanced data.",
        "seed 003",
        c11,
    ),
    Claim(
        "C12",
        "Hard negative mining (SSD): keep all positives and the highest-loss negatives at "
        "neg:pos = 3:1; it beats training on all negatives or on random negatives at the same "
        "ratio.",
        "seed 003",
        c12,
    ),
    Claim(
        "C13",
        "Focal loss FL = −α_t (1−p_t)^γ log p_t down-weights easy examples; γ = 2, α = 0.25 "
        "was best in the RetinaNet paper. On data with many easy negatives, focal beats plain CE "
        "on average precision.",
        "seed 003",
        c13,
    ),
    Claim(
        "C14",
        "Focal loss weighs the four kinds of example as hard positive > hard negative > "
        "easy positive > easy negative.",
        "seed 003",
        c14,
    ),
    Claim(
        "C15",
        "GHM-C: the gradient norm g = |p − p*| has a U-shaped density; weighting by inverse "
        "density down-weights both easy examples and outliers. With label noise, GHM-C is more "
        "robust than focal loss.",
        "seed 003",
        c15,
    ),
]
