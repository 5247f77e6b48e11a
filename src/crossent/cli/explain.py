"""``crossent explain``: the articles' worked examples, computed live by the library.

Each topic is a function returning :class:`Section` s — a title, a table and a note — so
that the command can print them and tests can check the numbers. Every number in a
table is computed here by crossent's own functions, never typed in; the ``expected``
column quotes what the source article prints, for comparison.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crossent import grad
from crossent.info import (
    binary_entropy,
    cross_entropy,
    entropy,
    gaussian_kl_divergence,
    kl_divergence,
    monte_carlo_kl,
    self_information,
)
from crossent.losses import categorical_cross_entropy, softmax_cross_entropy
from crossent.losses.binary import sigmoid_binary_cross_entropy
from crossent.losses.focal import sigmoid_focal_loss
from crossent.losses.ghm import ghm_forward, ghm_weights
from crossent.losses.robust import (
    bi_tempered_logistic_loss,
    generalized_cross_entropy,
    poly1_cross_entropy,
    symmetric_cross_entropy,
)

from .table import format_table


@dataclass
class Section:
    """One table of ``crossent explain``."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    values: dict[str, float] = field(default_factory=dict)


def _f(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}"


def kl_and_cross_entropy() -> Section:
    """C1: ``KL(p‖q) = H(p,q) − H(p)``; for one-hot ``p`` KL equals the cross-entropy."""
    p, q = np.array([1.0, 0.0, 0.0]), np.array([0.7, 0.2, 0.1])
    kl, h_pq, h_p = (float(kl_divergence(p, q)), float(cross_entropy(p, q)), float(entropy(p)))
    return Section(
        "C1  KL divergence and cross-entropy  (the articles)",
        ["quantity", "p = [1, 0, 0], q = [0.7, 0.2, 0.1]", "article prints"],
        [
            ["KL(p‖q) = Σ p log(p/q)", _f(kl), "0.36"],
            ["H(p, q) = −Σ p log q", _f(h_pq), ""],
            ["H(p)", _f(h_p), ""],
            ["H(p, q) − H(p)", _f(h_pq - h_p), "= KL"],
        ],
        "One-hot p has zero entropy, so minimising cross-entropy is minimising KL.",
        {"kl": kl, "cross_entropy": h_pq, "entropy": h_p},
    )


def worked_losses() -> Section:
    """C2 and C3: single-sample and batch cross-entropy from the articles' tables."""
    pred = np.array([[0.2, 0.7, 0.1]])
    c2 = float(categorical_cross_entropy(pred, np.array([1])))
    c3 = float(categorical_cross_entropy(np.array([[0.5, 0.4, 0.1]]), np.array([0])))
    batch_pred = np.array([[0.2, 0.7, 0.1], [0.5, 0.4, 0.1]])
    batch_y = np.array([1, 0])
    batch_sum = float(categorical_cross_entropy(batch_pred, batch_y, reduction="sum"))
    batch_mean = float(categorical_cross_entropy(batch_pred, batch_y))
    from_logits = float(softmax_cross_entropy(np.log(pred), np.array([1])))
    return Section(
        "C2, C3  Cross-entropy loss of a prediction  (the articles)",
        ["example", "loss (nats)", "article prints"],
        [
            ["label dog [0,1,0], pred [0.2,0.7,0.1]", _f(c2), "0.36"],
            ["label [1,0,0], pred [0.5,0.4,0.1]", _f(c3), "ln 2 = 0.6931"],
            ["batch of both: sum", _f(batch_sum), ""],
            ["batch of both: mean", _f(batch_mean), ""],
            ["same as softmax_cross_entropy(log pred)", _f(from_logits), ""],
        ],
        "Only the true class's term survives: loss = −log q[y].",
        {"c2": c2, "c3": c3, "batch_sum": batch_sum, "batch_mean": batch_mean},
    )


def information() -> Section:
    """C4: self-information, entropy as its expectation, the binary entropy curve."""
    probs = [1.0, 0.5, 0.25, 0.01]
    rows = [
        [
            f"I(x), P(x) = {p}",
            _f(float(self_information(np.array(p)))),
            _f(float(self_information(np.array(p), base=2))),
        ]
        for p in probs
    ]
    grid = np.linspace(0.0, 1.0, 101)
    hb = np.asarray(binary_entropy(grid))
    peak = float(grid[int(np.argmax(hb))])
    rows += [
        [
            "H(fair coin)",
            _f(float(entropy(np.array([0.5, 0.5])))),
            _f(float(entropy(np.array([0.5, 0.5]), base=2))),
        ],
        [
            "H(certain event)",
            _f(float(entropy(np.array([1.0, 0.0])))),
            _f(float(entropy(np.array([1.0, 0.0]), base=2))),
        ],
        [
            f"max of binary entropy, at p = {peak}",
            _f(float(hb.max())),
            _f(float(hb.max()) / math.log(2)),
        ],
    ]
    return Section(
        "C4  Information and entropy  (the articles)",
        ["quantity", "nats", "bits"],
        rows,
        "Rarer events carry more information; entropy is its expectation and peaks at p = 0.5.",
        {"binary_entropy_peak_p": peak, "binary_entropy_max": float(hb.max())},
    )


def softmax_gradient() -> Section:
    """C7: the gradient of softmax + CE is ``a − y``, checked against finite differences."""
    z = np.array([[1.0, 2.0, 0.5]])
    y = np.array([1])
    closed = np.asarray(grad.softmax_cross_entropy(z, y))[0]
    step = 1e-6
    numeric = np.empty(3)
    for j in range(3):
        e = np.zeros_like(z)
        e[0, j] = step
        numeric[j] = (
            float(softmax_cross_entropy(z + e, y)) - float(softmax_cross_entropy(z - e, y))
        ) / (2 * step)
    a = np.exp(z[0] - z[0].max())
    a /= a.sum()
    rows = [
        [f"z{j + 1}", _f(z[0, j], 2), _f(a[j]), str(int(j == y[0])), _f(closed[j]), _f(numeric[j])]
        for j in range(3)
    ]
    return Section(
        "C7  Gradient of softmax + cross-entropy  (the articles)",
        ["logit", "z", "a = softmax(z)", "y", "∂L/∂z closed form", "finite difference"],
        rows,
        "∂L/∂z_j = a_j − y_j: no softmax-derivative factor survives, so no vanishing gradient.",
        {"max_abs_difference": float(np.max(np.abs(closed - numeric)))},
    )


TOPICS: dict[str, tuple[str, Callable[[], list[Section]]]] = {
    "core": (
        "the worked examples of the definitions and gradients (C1–C4, C7)",
        lambda: [kl_and_cross_entropy(), worked_losses(), information(), softmax_gradient()],
    ),
}
"""``crossent explain TOPIC``: name → (one-line description, sections)."""


# ---------------------------------------------------------------------------------------
# Imbalanced and hard examples: focal loss and GHM-C
# ---------------------------------------------------------------------------------------

PAPER_ALPHA, PAPER_GAMMA = 0.25, 2.0
"""RetinaNet's best setting (Lin et al. 2017, Table 1a); α multiplies the positive term."""

EASY_PT, HARD_PT = 0.9, 0.1
"""Probability of the true outcome that the tables call an easy and a hard example."""

ARTICLE_ORDER = ["hard positive", "hard negative", "easy positive", "easy negative"]
"""The order of attention an article states for focal loss: 正难 > 负难 > 正易 > 负易."""


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _ordering(names: list[str], values: list[float]) -> str:
    ranked = sorted(zip(values, names, strict=True), key=lambda pair: -pair[0])
    return " > ".join(name for _, name in ranked)


def focal_four_kinds() -> Section:
    """C14: the weight focal loss gives hard/easy positives/negatives, under both α conventions."""
    kinds = [  # (name, target, p_t)
        ("hard positive", 1.0, HARD_PT),
        ("hard negative", 0.0, HARD_PT),
        ("easy positive", 1.0, EASY_PT),
        ("easy negative", 0.0, EASY_PT),
    ]
    y = np.array([k[1] for k in kinds])
    # p_t is the probability of the true outcome: p = p_t for positives, 1 - p_t for negatives.
    z = np.array([_logit(pt) if t == 1 else -_logit(pt) for _, t, pt in kinds])
    ce = np.asarray(sigmoid_binary_cross_entropy(z, y, reduction="none"))
    paper = np.asarray(
        sigmoid_focal_loss(z, y, alpha=PAPER_ALPHA, gamma=PAPER_GAMMA, reduction="none")
    )
    # The article's table attenuates the *negatives* by α: in the paper's parametrisation
    # that is alpha = 1 - 0.25 on the positive term.
    article = np.asarray(
        sigmoid_focal_loss(z, y, alpha=1 - PAPER_ALPHA, gamma=PAPER_GAMMA, reduction="none")
    )
    names = [k[0] for k in kinds]
    rows = [
        [
            name,
            str(int(t)),
            _f(pt, 2),
            _f(ce[i]),
            _f(paper[i] / ce[i]),
            _f(paper[i]),
            _f(article[i] / ce[i]),
            _f(article[i]),
        ]
        for i, (name, t, pt) in enumerate(kinds)
    ]
    paper_order = _ordering(names, list(paper))
    article_order = _ordering(names, list(article))
    stated = " > ".join(ARTICLE_ORDER)

    def verdict(order: str) -> str:
        return "the article's stated order" if order == stated else "not the article's stated order"

    return Section(
        f"C14  Focal loss on the four kinds of example  (an article's table; γ = {PAPER_GAMMA:g}, α = {PAPER_ALPHA:g})",
        [
            "example",
            "y",
            "p_t",
            "CE",
            "weight (paper)",
            "FL (paper)",
            "weight (article)",
            "FL (article)",
        ],
        rows,
        "weight = FL / CE = α_t (1 − p_t)^γ. Paper: α multiplies positives, 1 − α negatives; "
        "the article: α multiplies negatives.\n"
        f"Order under the paper's convention: {paper_order} ({verdict(paper_order)}).\n"
        f"Order under the article's convention:  {article_order} ({verdict(article_order)}).",
        {
            **{f"paper_weight/{n}": float(paper[i] / ce[i]) for i, n in enumerate(names)},
            **{f"article_weight/{n}": float(article[i] / ce[i]) for i, n in enumerate(names)},
        },
    )


def focal_gamma_curve() -> Section:
    """C13: focal loss against p_t for γ ∈ {0, 0.5, 1, 2, 5} (α off), with CE as γ = 0."""
    gammas = [0.0, 0.5, 1.0, 2.0, 5.0]
    pts = [0.1, 0.5, 0.9, 0.99]
    z = np.array([_logit(pt) for pt in pts])
    y = np.ones_like(z)
    table = {
        g: np.asarray(sigmoid_focal_loss(z, y, alpha=None, gamma=g, reduction="none"))
        for g in gammas
    }
    rows = [[_f(pt, 2), *[_f(float(table[g][i])) for g in gammas]] for i, pt in enumerate(pts)]
    return Section(
        "C13  Focal loss −(1 − p_t)^γ log p_t against p_t  (Lin et al. 2017, Figure 1)",
        ["p_t", *[f"γ = {g:g}" for g in gammas]],
        rows,
        "γ = 0 is cross-entropy; larger γ shrinks the loss of well-classified examples "
        f"(at γ = 2: ×{float(table[2.0][2] / table[0.0][2]):.2f} for p_t = 0.9) far more than "
        f"that of hard ones (×{float(table[2.0][0] / table[0.0][0]):.2f} for p_t = 0.1).",
        {f"gamma={g:g}/p_t={pt}": float(table[g][i]) for g in gammas for i, pt in enumerate(pts)},
    )


def ghm_weights_by_kind() -> Section:
    """C15: GHM-C weights against focal weights on a batch with easy crowds and outliers."""
    groups = [  # (name, count, target, predicted probability p)
        ("easy negative", 800, 0.0, 0.02),
        ("easy positive", 60, 1.0, 0.95),
        ("hard negative", 20, 0.0, 0.60),
        ("hard positive", 20, 1.0, 0.45),
        ("outlier (mislabelled positive)", 100, 1.0, 0.02),
    ]
    bins = 10
    z = np.concatenate([np.full(n, _logit(p)) for _, n, _, p in groups])
    y = np.concatenate([np.full(n, t) for _, n, t, _ in groups])
    beta = np.asarray(ghm_weights(z, y, bins=bins))
    index = np.asarray(ghm_forward(z, y, bins=bins, weight=None, reduction="none").index)
    focal = np.asarray(
        sigmoid_focal_loss(z, y, alpha=PAPER_ALPHA, gamma=PAPER_GAMMA, reduction="none")
    )
    focal_weight = focal / np.asarray(sigmoid_binary_cross_entropy(z, y, reduction="none"))
    starts = np.cumsum([0] + [n for _, n, _, _ in groups])
    rows, values = [], {"weight_sum": float(beta.sum()), "n": float(len(z))}
    for (name, n, t, p), i in zip(groups, starts[:-1], strict=True):
        g = abs(p - t)
        rows.append(
            [
                name,
                str(n),
                _f(p, 2),
                str(int(t)),
                _f(g, 2),
                str(int(index[i])),
                _f(float(beta[i])),
                _f(float(focal_weight[i])),
            ]
        )
        values[f"ghm/{name}"] = float(beta[i])
        values[f"focal/{name}"] = float(focal_weight[i])
    outlier = groups[-1][0]
    ghm_rank = 1 + sum(values[f"ghm/{k[0]}"] > values[f"ghm/{outlier}"] for k in groups)
    focal_rank = 1 + sum(values[f"focal/{k[0]}"] > values[f"focal/{outlier}"] for k in groups)
    return Section(
        f"C15  GHM-C weights by gradient norm g = |p − y|  (Li et al. 2019; {bins} bins, batch of {len(z)})",
        ["example", "count", "p", "y", "g", "bin", "GHM weight", "focal weight"],
        rows,
        "GHM weight = N / (count in the bin × non-empty bins): crowded bins are down-weighted at both "
        "ends — the easy examples near g = 0 and the outliers near g = 1. Of the five kinds, "
        f"the outliers get the #{focal_rank} weight under focal loss (α_t (1 − p_t)^γ, paper's α) "
        f"and the #{ghm_rank} under GHM-C. GHM weights sum to N: {beta.sum():.1f} = {len(z)}.",
        values,
    )


TOPICS["focal"] = (
    "focal loss on easy/hard positives/negatives and against p_t (C13, C14)",
    lambda: [focal_four_kinds(), focal_gamma_curve()],
)
TOPICS["ghm"] = (
    "GHM-C weights against focal weights by gradient norm (C15)",
    lambda: [ghm_weights_by_kind()],
)


# ---------------------------------------------------------------------------------------
# Noise-robust cross-entropies: value and gradient weight against p_y
# ---------------------------------------------------------------------------------------

ROBUST_CLASSES = 10
"""Classes of the ``explain robust`` example (digits): the mass 1 − p_y is spread evenly
over the other nine."""

ROBUST_PY = (0.001, 0.01, 0.1, 0.5, 0.9, 0.99)
"""Probabilities of the labelled class; small p_y on a confident model is a likely wrong label."""


def _robust_losses() -> dict[str, Callable[..., Any]]:
    """Each loss at its paper's default, as ``(logits, targets, reduction)`` → losses."""
    return {
        "CE": softmax_cross_entropy,
        "GCE q=0.7": generalized_cross_entropy,
        "poly-1 ε=1": poly1_cross_entropy,
        "SCE α=0.1 β=1": symmetric_cross_entropy,
        "bi-tempered 0.8/1.2": bi_tempered_logistic_loss,
    }


def _target_gradient(loss: Callable[..., Any], z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``∂ℓ/∂z_y`` per row: the closed form of :mod:`crossent.grad` where there is one, else
    a central difference (the bi-tempered loss)."""
    closed = getattr(grad, loss.__name__, None)
    rows = np.arange(len(y))
    if closed is not None:
        return np.asarray(closed(z, y, reduction="sum"))[rows, y]
    step = 1e-6
    bump = np.zeros_like(z)
    bump[rows, y] = step
    up = np.asarray(loss(z + bump, y, reduction="none"))
    down = np.asarray(loss(z - bump, y, reduction="none"))
    return (up - down) / (2 * step)


def robust_losses_against_p_y() -> Section:
    """Each noise-robust loss's value and gradient weight against the labelled class's p_y."""
    p_y = np.array(ROBUST_PY)
    others = (1 - p_y) / (ROBUST_CLASSES - 1)
    z = np.log(np.concatenate([p_y[:, None], np.repeat(others[:, None], 9, axis=1)], axis=1))
    y = np.zeros(len(p_y), dtype=np.int64)
    values: dict[str, float] = {}
    columns: list[list[str]] = []
    for name, loss in _robust_losses().items():
        value = np.asarray(loss(z, y, reduction="none"))
        # The weight of the example relative to CE, whose ∂ℓ/∂z_y is p_y − 1.
        weight = _target_gradient(loss, z, y) / (p_y - 1)
        columns.append([f"{v:.3f} / {w:.3f}" for v, w in zip(value, weight, strict=True)])
        for p, v, w in zip(ROBUST_PY, value, weight, strict=True):
            values[f"{name}/loss/{p:g}"] = float(v)
            values[f"{name}/weight/{p:g}"] = float(w)
    rows = [[f"{p:g}", *(col[i] for col in columns)] for i, p in enumerate(ROBUST_PY)]
    gce_ratio = values["GCE q=0.7/weight/0.001"] / values["GCE q=0.7/weight/0.99"]
    return Section(
        f"Noise-robust losses: loss / gradient weight against p_y  ({ROBUST_CLASSES} classes)",
        ["p_y", *_robust_losses()],
        rows,
        "gradient weight = (∂ℓ/∂z_y) / (p_y − 1), CE's gradient on the labelled logit: 1 for CE. "
        "A confident model with a small p_y most likely sees a wrong label: CE's loss grows "
        f"without bound there ({values['CE/loss/0.001']:.2f} at p_y = 0.001) and keeps full "
        "weight; GCE (Zhang & Sabuncu 2018) weighs an example by p_y^q "
        f"(×{gce_ratio:.3f} at p_y = 0.001 against 0.99), SCE (Wang et al. 2019) by "
        "α − β·A·p_y, and both stay bounded. Poly-1 (Leng et al. 2022) weighs by 1 + ε·p_y: it "
        "raises the weight of easy examples and is not a noise-robust loss. The bi-tempered "
        "loss (Amid et al. 2019) is bounded for t1 < 1; its weight is a central difference.",
        values,
    )


TOPICS["robust"] = (
    "noise-robust losses (GCE, poly-1, SCE, bi-tempered) against p_y",
    lambda: [robust_losses_against_p_y()],
)


# ---------------------------------------------------------------------------------------
# Continuous distributions: KL as an integral
# ---------------------------------------------------------------------------------------

GAUSSIAN_P, GAUSSIAN_Q = (0.0, 1.0), (0.5, 1.0)
"""(mean, variance) of the two Gaussians of ``explain continuous``."""

SAMPLE_SIZES = (10**2, 10**4, 10**6)
EXPLAIN_SEED = 0


def _gaussian_log_density(x: np.ndarray, mean: float, var: float) -> np.ndarray:
    r""":math:`\log \mathcal N(x; \mu, \sigma^2)`, the integrand's logarithm at the samples."""
    return -0.5 * ((x - mean) ** 2 / var + math.log(2 * math.pi * var))


def gaussian_kl_by_sampling() -> Section:
    """The KL integral of two Gaussians in closed form beside its k1/k3 estimates."""
    (mp, vp), (mq, vq) = GAUSSIAN_P, GAUSSIAN_Q
    exact = float(gaussian_kl_divergence(mp, vp, mq, vq))
    rng = np.random.default_rng(EXPLAIN_SEED)
    rows = [["closed form ½[r − 1 − log r + Δμ²/σ_q²]", _f(exact, 5), "", "", ""]]
    values = {"exact": exact}
    for n in SAMPLE_SIZES:
        x = rng.normal(mp, math.sqrt(vp), size=n)
        log_p, log_q = _gaussian_log_density(x, mp, vp), _gaussian_log_density(x, mq, vq)
        k1, se1 = (float(v) for v in monte_carlo_kl(log_p, log_q, estimator="k1"))
        k3, se3 = (float(v) for v in monte_carlo_kl(log_p, log_q, estimator="k3"))
        rows.append([f"{n:,} samples from p", _f(k1, 5), _f(se1, 5), _f(k3, 5), _f(se3, 5)])
        values |= {f"k1_{n}": k1, f"se1_{n}": se1, f"k3_{n}": k3, f"se3_{n}": se3}
    return Section(
        f"KL(p‖q) = ∫ p log(p/q) dx,  p = N({mp}, {vp}), q = N({mq}, {vq})  (the articles)",
        ["", "k1 = mean log(p/q)", "± s.e.", "k3 = mean (r − 1 − log r)", "± s.e."],
        rows,
        "The integral is an expectation under p: sampling estimates it, with an error that "
        "shrinks as 1/√n. k3 (r = q/p) is never negative per sample and, for q near p, "
        "varies less than k1.",
        values,
    )


TOPICS["continuous"] = (
    "the KL integral of two Gaussians: closed form against Monte-Carlo estimates",
    lambda: [gaussian_kl_by_sampling()],
)


# ---------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------

HELP = "the articles' worked examples, computed live"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``crossent explain``: an optional topic."""
    parser.add_argument(
        "topic",
        nargs="?",
        default="core",
        choices=sorted(TOPICS),
        help="what to explain (default: core). "
        + "; ".join(f"{k}: {v[0]}" for k, v in sorted(TOPICS.items())),
    )


def run(args: argparse.Namespace) -> int:
    """Print each section of the topic: title, table, note. Returns the exit code, 0."""
    for section in TOPICS[args.topic][1]():
        print(section.title)
        print(format_table(section.headers, section.rows))
        if section.note:
            print(section.note)
        print()
    return 0
