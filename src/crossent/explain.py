"""``crossent explain``: the seeds' worked examples, computed live by the library.

Each topic is a function returning :class:`Section` s — a title, a table and a note — so
that the command can print them and tests can check the numbers. Every number in a
table is computed here by crossent's own functions, never typed in; the ``expected``
column quotes what the source article prints, for comparison.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from crossent import grad
from crossent.info import (
    binary_entropy,
    cross_entropy,
    entropy,
    kl_divergence,
    self_information,
)
from crossent.losses import categorical_cross_entropy, softmax_cross_entropy


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
        "C1  KL divergence and cross-entropy  (seeds 001, 003)",
        ["quantity", "p = [1, 0, 0], q = [0.7, 0.2, 0.1]", "seed prints"],
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
    """C2 and C3: single-sample and batch cross-entropy from the seeds' tables."""
    pred = np.array([[0.2, 0.7, 0.1]])
    c2 = float(categorical_cross_entropy(pred, np.array([1])))
    c3 = float(categorical_cross_entropy(np.array([[0.5, 0.4, 0.1]]), np.array([0])))
    batch_pred = np.array([[0.2, 0.7, 0.1], [0.5, 0.4, 0.1]])
    batch_y = np.array([1, 0])
    batch_sum = float(categorical_cross_entropy(batch_pred, batch_y, reduction="sum"))
    batch_mean = float(categorical_cross_entropy(batch_pred, batch_y))
    from_logits = float(softmax_cross_entropy(np.log(pred), np.array([1])))
    return Section(
        "C2, C3  Cross-entropy loss of a prediction  (seeds 001, 003)",
        ["example", "loss (nats)", "seed prints"],
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
        "C4  Information and entropy  (seeds 001, 003)",
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
        "C7  Gradient of softmax + cross-entropy  (seed 002)",
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
