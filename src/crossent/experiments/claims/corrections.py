"""C17–C18: two formulas in the seeds that are wrong, next to the right ones, on the same inputs."""

from __future__ import annotations

import numpy as np

from crossent import binary_cross_entropy, sigmoid_binary_cross_entropy, softmax_cross_entropy
from crossent.experiments import figures
from crossent.experiments.registry import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    Claim,
    Context,
    Figure,
    Result,
    Table,
)

__all__ = ["CLAIMS"]

EXACT = 1e-12
"""Float64 agreement expected between two exact formulas for the same number."""

ROWS, LABELS = 256, 5


def _outcome(seed_is_right: bool, library_is_right: bool) -> str:
    """Holds when the seed's formula is the right one; with a correction when it is not but
    crossent computes the right one; otherwise it does not hold."""
    if seed_is_right:
        return HOLDS
    return HOLDS_WITH_CORRECTION if library_is_right else DOES_NOT_HOLD


# ------------------------------------------------------------------------------- C17


def c17(ctx: Context) -> Result:
    ctx.progress.expect(1)
    rng = np.random.default_rng(ctx.seed)
    q = rng.uniform(0.01, 0.99, size=(ROWS, LABELS))
    y = (rng.random((ROWS, LABELS)) < 0.4).astype(np.float64)
    # The log-likelihood of independent labels, term by term.
    correct = y * np.log(q) + (1 - y) * np.log(1 - q)
    seed_000 = y * np.log(q) + (1 - y) * (1 - np.log(q))
    crossent_ll = -np.asarray(binary_cross_entropy(q, y, reduction="none"))
    seed_gap = float(np.max(np.abs(seed_000 - correct)))
    library_gap = float(np.max(np.abs(crossent_ll - correct)))
    # A log-likelihood is a log of probabilities: never positive. The seed's term is.
    seed_max = float(seed_000.max())
    tiny_q = 1e-12
    seed_unbounded = 1 - np.log(tiny_q)  # the seed's y = 0 term as q → 0: grows without bound
    measured = {
        "max_abs_seed_minus_correct": seed_gap,
        "max_abs_crossent_minus_correct": library_gap,
        "largest_seed_term": seed_max,
        "largest_correct_term": float(correct.max()),
        "seed_negative_term_at_q_1e-12": float(seed_unbounded),
    }
    grid = np.linspace(0.001, 0.999, 400)
    fig, ax = figures.figure(1)
    ax.plot(grid, np.log(1 - grid), color=figures.COLORS[0], label="correct: log(1 − q)")
    ax.plot(grid, 1 - np.log(grid), color=figures.COLORS[1], label="seed 000: 1 − log q")
    ax.axhline(0, color=figures.COLORS[5], linewidth=0.8)
    ax.set(
        xlabel="q, predicted probability of the label",
        ylabel="log-likelihood term for y = 0",
        ylim=(-7, 8),
    )
    ax.legend()
    ctx.progress.advance()
    return Result(
        _outcome(seed_gap <= EXACT, library_gap <= EXACT),
        f"On {ROWS}×{LABELS} random probabilities and labels: the seed's term equals the correct "
        f"(1 − y) log(1 − q) to {EXACT:g} (then it holds as written); otherwise it holds with a "
        f"correction when crossent's binary_cross_entropy is minus the correct log-likelihood to "
        f"{EXACT:g}.",
        measured,
        "Seed 000's multi-label log-likelihood Σ [y log q + (1 − y)(1 − log q)] against "
        "Σ [y log q + (1 − y) log(1 − q)], term by term, in float64; q uniform in [0.01, 0.99], "
        "labels 1 with probability 0.4.",
        f"They differ by up to {seed_gap:.2f} per term. The seed's term reaches {seed_max:.2f} — "
        f"positive, so it is not the log of a probability — and for a negative label it grows "
        f"without bound as q → 0 ({seed_unbounded:.1f} at q = 10⁻¹²), so its “maximum "
        f"likelihood” has no maximum. The correct term is log P(label absent) = log(1 − q); "
        f"crossent computes it (gap {library_gap:.1e}).",
        figures=[
            Figure(
                "The term for a label that is absent (y = 0)",
                figures.to_svg(fig, "c17"),
                "The correct term is a log-probability: ≤ 0 and maximal (0) at q = 0. "
                "The seed's is positive and unbounded.",
            )
        ],
        headline=f"seed − correct up to {seed_gap:.2f}; crossent − correct {library_gap:.1e}",
    )


# ------------------------------------------------------------------------------- C18

CLASSES = 10


def c18(ctx: Context) -> Result:
    ctx.progress.expect(1)
    rng = np.random.default_rng(ctx.seed)
    z = rng.normal(scale=2.0, size=(ROWS, CLASSES))
    labels = rng.integers(0, CLASSES, ROWS)
    y = np.eye(CLASSES)[labels]

    def seed_ce(f: np.ndarray) -> np.ndarray:
        """Seed 004's CE(x) = −Σ_i [y_i log f_i + (1 − y_i) log(1 − f_i)]."""
        return -np.sum(y * np.log(f) + (1 - y) * np.log1p(-f), axis=1)

    sigmoid = 1 / (1 + np.exp(-z))
    soft = np.exp(z - z.max(axis=1, keepdims=True))
    soft /= soft.sum(axis=1, keepdims=True)
    softmax_ce = np.asarray(softmax_cross_entropy(z, labels, reduction="none"))
    bce_sum = np.asarray(sigmoid_binary_cross_entropy(z, y, reduction="none")).sum(axis=1)
    bce_softmax_sum = np.asarray(binary_cross_entropy(soft, y, reduction="none")).sum(axis=1)
    seed_sig, seed_soft = seed_ce(sigmoid), seed_ce(soft)
    gaps = {
        "max_abs_seed_ce_sigmoid_minus_softmax_ce": float(np.max(np.abs(seed_sig - softmax_ce))),
        "max_abs_seed_ce_softmax_minus_softmax_ce": float(np.max(np.abs(seed_soft - softmax_ce))),
        "max_abs_seed_ce_sigmoid_minus_bce_sum": float(np.max(np.abs(seed_sig - bce_sum))),
        "max_abs_seed_ce_softmax_minus_bce_on_softmax_sum": float(
            np.max(np.abs(seed_soft - bce_softmax_sum))
        ),
        "mean_extra_term_on_softmax": float(np.mean(seed_soft - softmax_ce)),
    }
    is_softmax_ce = (
        min(
            gaps["max_abs_seed_ce_sigmoid_minus_softmax_ce"],
            gaps["max_abs_seed_ce_softmax_minus_softmax_ce"],
        )
        <= EXACT
    )
    is_bce_sum = (
        gaps["max_abs_seed_ce_sigmoid_minus_bce_sum"] <= EXACT
        and gaps["max_abs_seed_ce_softmax_minus_bce_on_softmax_sum"] <= EXACT
    )
    ctx.progress.advance()
    first = [
        ["seed's CE(x) with f = σ(z)", f"{seed_sig[0]:.4f}"],
        ["Σ sigmoid_binary_cross_entropy (crossent)", f"{bce_sum[0]:.4f}"],
        ["seed's CE(x) with f = softmax(z)", f"{seed_soft[0]:.4f}"],
        ["Σ binary_cross_entropy(softmax) (crossent)", f"{bce_softmax_sum[0]:.4f}"],
        ["softmax_cross_entropy = −log softmax(z)_y (crossent)", f"{softmax_ce[0]:.4f}"],
    ]
    return Result(
        _outcome(is_softmax_ce, is_bce_sum),
        f"On {ROWS} random {CLASSES}-class logit rows: the seed's CE(x) equals softmax CE to "
        f"{EXACT:g} (then it holds as written); otherwise it holds with a correction when it "
        f"equals BCE summed over the classes, to {EXACT:g}, for f = σ(z) and for f = softmax(z).",
        {"rows": ROWS, "classes": CLASSES, **gaps},
        "Seed 004's CE(x) written out in NumPy on logits from N(0, 2²) with one-hot labels, against "
        "crossent's softmax_cross_entropy, sigmoid_binary_cross_entropy and binary_cross_entropy.",
        f"The seed's CE(x) {'is' if is_bce_sum else 'is not even'} BCE summed over the classes (gap "
        f"{gaps['max_abs_seed_ce_sigmoid_minus_bce_sum']:.1e}), not softmax cross-entropy (gap up "
        f"to {gaps['max_abs_seed_ce_sigmoid_minus_softmax_ce']:.2f}). Even on softmax outputs it "
        f"adds −Σ_(i≠y) log(1 − f_i), {gaps['mean_extra_term_on_softmax']:.3f} nats on average here. "
        "Softmax CE is −Σ y_i log f_i alone: the softmax already ties the classes together.",
        tables=[Table("The first row (nats)", ["quantity", "value"], first)],
        headline=f"seed's CE(x) − Σ BCE {gaps['max_abs_seed_ce_sigmoid_minus_bce_sum']:.1e}; − softmax CE up to {gaps['max_abs_seed_ce_sigmoid_minus_softmax_ce']:.2f}",
    )


CLAIMS = [
    Claim(
        "C17",
        "Seed 000's multi-label log-likelihood writes (1−y)(1 − log q); the correct term is "
        "(1−y) log(1−q). crossent implements the correct one and the two differ.",
        "seed 000",
        c17,
    ),
    Claim(
        "C18",
        "Seed 004's “CE(x)” with the (1−y) log(1−f) term summed over classes is BCE summed "
        "over classes, not softmax CE.",
        "seed 004",
        c18,
    ),
]
