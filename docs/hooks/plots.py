"""MkDocs hook: the plots of the imbalance and noisy-label pages, drawn while the site builds.

Each plot shows the weight a method gives an example against :math:`p_t`, the probability
the model gives the true outcome. The weight is read off the library: a loss divided by
the plain sigmoid cross-entropy of the same logits (α, focal, ASL), or the weights and
masks the library returns (class-balanced, GHM-C, mining, OHEM). The SVGs are added to
the site as generated files (``img/plots/NAME.svg``), so pages link them like any image.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display while building

import matplotlib.pyplot as plt
import numpy as np
from mkdocs.structure.files import File, Files

import crossent as ce
from crossent.losses.ghm import ghm_weights

PT = np.linspace(0.005, 0.995, 199)
"""The p_t axis of every curve."""


def logits_for(pt: np.ndarray, target: float) -> np.ndarray:
    """Logits whose sigmoid gives the true outcome ``target`` probability ``pt``."""
    p = pt if target == 1.0 else 1.0 - pt
    return np.log(p) - np.log1p(-p)


def weight_of(loss: Callable[..., Any], pt: np.ndarray, target: float, **options: Any) -> Any:
    """A loss's weight against plain sigmoid cross-entropy at each ``pt``: loss / CE."""
    z = logits_for(pt, target)
    y = np.full_like(z, target)
    plain = ce.sigmoid_binary_cross_entropy(z, y, reduction="none")
    return np.asarray(loss(z, y, reduction="none", **options)) / plain


def axes(title: str) -> tuple[Any, Any]:
    """A figure with the common p_t axis."""
    fig, ax = plt.subplots(figsize=(6.0, 3.4), layout="constrained")
    ax.set_xlabel("$p_t$, the probability of the true outcome")
    ax.set_ylabel("weight (loss / cross-entropy)")
    ax.set_title(title, fontsize=10)
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3)
    return fig, ax


def alpha_plot() -> Any:
    """α-balanced cross-entropy: α on positives, 1 − α on negatives, flat in p_t."""
    fig, ax = axes("α-balanced cross-entropy, α = 0.25 (sigmoid_focal_loss, γ = 0)")
    for target, name in ((1.0, "positives (α)"), (0.0, "negatives (1 − α)")):
        ax.plot(PT, weight_of(ce.sigmoid_focal_loss, PT, target, alpha=0.25, gamma=0.0), label=name)
    ax.set_ylim(0, 1)
    ax.legend()
    return fig


def class_balanced_plot() -> Any:
    """Class-balanced weights: one flat level per class, higher for rarer classes."""
    counts = np.array([5000.0, 500.0, 50.0, 5.0])
    weights = np.asarray(ce.class_balanced_weights(counts, beta=0.999))
    fig, ax = axes("class_balanced_weights(counts, beta=0.999): one level per class")
    for n, w in zip(counts, weights, strict=True):
        ax.plot(PT, np.full_like(PT, w), label=f"class with {int(n)} samples: {w:.2f}")
    ax.set_ylim(0, weights.max() * 1.15)
    ax.legend(fontsize=8)
    return fig


def focal_plot() -> Any:
    """Focal loss: (1 − p_t)^γ for the γ of Lin et al.'s Figure 1."""
    fig, ax = axes("focal loss weight (1 − p_t)^γ (sigmoid_focal_loss, alpha=None)")
    for gamma in (0.0, 0.5, 1.0, 2.0, 5.0):
        w = weight_of(ce.sigmoid_focal_loss, PT, 1.0, alpha=None, gamma=gamma)
        ax.plot(PT, w, label=f"γ = {gamma:g}")
    ax.set_ylim(0, 1.05)
    ax.legend()
    return fig


def ghm_plot() -> Any:
    """GHM-C: the inverse density of g = 1 − p_t in one batch; crowded bins weigh less."""
    rng = np.random.default_rng(0)
    # A detector's batch: a crowd of easy examples, fewer medium ones, a bump of outliers.
    pt = np.concatenate(
        [rng.beta(30, 1.5, 3000), rng.uniform(0.05, 0.95, 400), rng.beta(1.5, 30, 300)]
    )
    pt = np.clip(pt, 1e-4, 1 - 1e-4)
    z = logits_for(pt, 1.0)
    w = np.asarray(ghm_weights(z, np.ones_like(z), bins=10))
    order = np.argsort(pt)
    fig, ax = axes("GHM-C weights (ghm_weights, 10 bins) for a batch of 3700")
    ax.step(pt[order], w[order], where="mid", label="GHM-C weight")
    share = ax.twinx()
    share.hist(pt, bins=40, range=(0, 1), color="grey", alpha=0.3)
    share.set_ylabel("examples in the batch")
    ax.set_zorder(share.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.legend(loc="upper center")
    return fig


def mining_batch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row of 400 anchors, 20 of them positive; returns (p_t, positives, losses)."""
    rng = np.random.default_rng(1)
    pt = rng.uniform(0.02, 0.999, 400)
    positives = np.zeros(400, dtype=bool)
    positives[:20] = True
    y = positives.astype(float)
    z = np.where(positives, logits_for(pt, 1.0), logits_for(pt, 0.0))
    losses = np.asarray(ce.sigmoid_binary_cross_entropy(z, y, reduction="none"))
    return pt, positives, losses


def mining_plot() -> Any:
    """SSD's hard negative mining: every positive, and the 3:1 hardest negatives."""
    pt, positives, losses = mining_batch()
    keep = np.asarray(ce.hard_negative_mining(losses[None], positives[None]))[0]
    fig, ax = axes("hard_negative_mining(neg_pos_ratio=3): 20 positives, 380 negatives")
    ax.scatter(pt[~positives], keep[~positives], s=8, label="negatives")
    ax.scatter(pt[positives], keep[positives], s=14, marker="x", label="positives")
    ax.set_ylim(-0.1, 1.1)
    ax.set_ylabel("weight (1 kept, 0 dropped)")
    ax.legend(loc="center right")
    return fig


def ohem_plot() -> Any:
    """Online hard example mining: the k highest losses, whatever their class."""
    pt, positives, losses = mining_batch()
    keep = np.asarray(ce.ohem(losses[None], k=100))[0]
    fig, ax = axes("ohem(losses, k=100): the 100 highest losses of 400")
    ax.scatter(pt[~positives], keep[~positives], s=8, label="negatives")
    ax.scatter(pt[positives], keep[positives], s=14, marker="x", label="positives")
    ax.set_ylim(-0.1, 1.1)
    ax.set_ylabel("weight (1 kept, 0 dropped)")
    ax.legend(loc="center right")
    return fig


def asl_plot() -> Any:
    """Asymmetric loss: negatives shifted by the margin and focused with γ₋; positives plain."""
    fig, ax = axes("asymmetric_loss(gamma_pos=0, gamma_neg=4, clip=0.05)")
    ax.plot(PT, weight_of(ce.asymmetric_loss, PT, 1.0), label="positives (γ₊ = 0)")
    ax.plot(PT, weight_of(ce.asymmetric_loss, PT, 0.0), label="negatives (γ₋ = 4, margin 0.05)")
    focal = weight_of(ce.sigmoid_focal_loss, PT, 0.0, alpha=None, gamma=4.0)
    ax.plot(PT, focal, linestyle=":", label="focal, γ = 4, for comparison")
    ax.set_ylim(0, 1.05)
    ax.legend()
    return fig


def robust_plot() -> Any:
    """Noise-robust losses against p_y, the probability of the given label (2 classes)."""
    p_y = PT
    # Two classes, label 0: the logits [log p_y, log(1 − p_y)] give softmax p_y for it.
    logits = np.stack([np.log(p_y), np.log1p(-p_y)], axis=-1)
    labels = np.zeros(len(p_y), dtype=np.int64)
    curves = {
        "cross-entropy": ce.softmax_cross_entropy(logits, labels, reduction="none"),
        "generalized CE, q = 0.7": ce.generalized_cross_entropy(
            logits, labels, q=0.7, reduction="none"
        ),
        "poly-1, ε = 1": ce.poly1_cross_entropy(logits, labels, epsilon=1.0, reduction="none"),
        "symmetric CE, α = 0.1, β = 1": ce.symmetric_cross_entropy(
            logits, labels, reduction="none"
        ),
        "bi-tempered, t₁ = 0.8, t₂ = 1.2": ce.bi_tempered_logistic_loss(
            logits, labels, reduction="none"
        ),
    }
    fig, ax = axes("noise-robust losses against the probability of the given label")
    for name, loss in curves.items():
        ax.plot(p_y, np.asarray(loss), label=name)
    ax.set_xlabel("$p_y$, the probability the model gives the label")
    ax.set_ylabel("loss")
    ax.set_ylim(0, 5)
    ax.legend(fontsize=8)
    return fig


PLOTS: dict[str, Callable[[], Any]] = {
    "alpha": alpha_plot,
    "class-balanced": class_balanced_plot,
    "focal": focal_plot,
    "ghm": ghm_plot,
    "mining": mining_plot,
    "ohem": ohem_plot,
    "asl": asl_plot,
    "robust": robust_plot,
}
"""Plot name → function drawing it; written to ``img/plots/NAME.svg``."""


def svg(fig: Any) -> bytes:
    """The figure as a self-contained SVG (glyphs as paths, no fonts to load)."""
    out = io.BytesIO()
    with plt.rc_context({"svg.fonttype": "path", "svg.hashsalt": "crossent"}):
        fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return out.getvalue()


def on_files(files: Files, config: Any, **_: Any) -> Files:
    """Add one generated SVG per entry of :data:`PLOTS` to the site's files."""
    for name, draw in PLOTS.items():
        files.append(File.generated(config, f"img/plots/{name}.svg", content=svg(draw())))
    return files
