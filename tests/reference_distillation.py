"""Naive float64 references of the distillation divergences, written from the formulas.

Row by row, from probabilities, with Python's ``math``: independent of crossent's
log-space, vectorised code. The generalised JSD is TRL's ``generalized_jsd_loss``
(``beta * KL(P || M) + (1 - beta) * KL(Q || M)``, ``M = beta * P + (1 - beta) * Q``, P the
teacher's distribution) written out. Nothing here imports crossent.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def softmax_row(z: np.ndarray) -> list[float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    total = sum(e)
    return [v / total for v in e]


def kl(p: list[float], q: list[float]) -> float:
    """``Σ p log(p / q)`` with ``0 log 0 = 0``."""
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


def generalized_jsd(p: list[float], q: list[float], beta: float) -> float:
    """TRL's generalized JSD of teacher ``p`` and student ``q``."""
    m = [beta * a + (1 - beta) * b for a, b in zip(p, q, strict=True)]
    return beta * kl(p, m) + (1 - beta) * kl(q, m)


def cross_entropy_row(z: np.ndarray, y: int) -> float:
    top = max(z)
    return top + math.log(sum(math.exp(v - top) for v in z)) - z[y]


def distillation_loss(
    student: Any,
    teacher: Any,
    *,
    temperature: float = 1.0,
    divergence: str = "kl",
    beta: float = 0.5,
    targets: Any = None,
    ignore_index: int = -100,
    hard_weight: float = 0.0,
    reduction: str = "mean",
) -> np.ndarray:
    """``(1 - α) T² D(P, Q) + α CE(s, y)`` per row (classes last), then reduced;
    ``"mean"`` divides by the rows whose target is not ``ignore_index`` (0 when none)."""
    s = np.asarray(student, dtype=np.float64)
    t = np.asarray(teacher, dtype=np.float64)
    rows_s, rows_t = s.reshape(-1, s.shape[-1]), t.reshape(-1, t.shape[-1])
    ys = None if targets is None else np.asarray(targets).reshape(-1)
    out, counted = [], 0
    for i in range(rows_s.shape[0]):
        if ys is not None and ys[i] == ignore_index:
            out.append(0.0)
            continue
        counted += 1
        p = softmax_row(rows_t[i] / temperature)
        q = softmax_row(rows_s[i] / temperature)
        d = {
            "kl": lambda p=p, q=q: kl(p, q),
            "reverse_kl": lambda p=p, q=q: kl(q, p),
            "jsd": lambda p=p, q=q: generalized_jsd(p, q, beta),
        }[divergence]()
        loss = (1 - hard_weight) * temperature**2 * d
        if hard_weight:
            assert ys is not None
            loss += hard_weight * cross_entropy_row(rows_s[i], int(ys[i]))
        out.append(loss)
    losses = np.array(out).reshape(s.shape[:-1])
    if reduction == "none":
        return losses
    if reduction == "sum":
        return np.array(losses.sum())
    return np.array(losses.sum() / counted if counted else 0.0)
