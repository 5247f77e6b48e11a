"""``crossent eval``: score saved predictions against targets.

:func:`evaluate` takes NumPy arrays and returns a plain dictionary of metrics, which the
command prints as a table or as JSON. The losses are crossent's own functions; the task
comes from :func:`crossent.task.infer_task` unless given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from crossent.info import binary_entropy, entropy, kl_divergence
from crossent.losses import (
    binary_cross_entropy,
    categorical_cross_entropy,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
)
from crossent.task import TASKS, infer_task


def _softmax(z: np.ndarray) -> np.ndarray:
    from crossent._array import namespace, softmax

    return np.asarray(softmax(namespace(z), z, axis=-1))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    from crossent._array import namespace, sigmoid

    return np.asarray(sigmoid(namespace(z), z))


def looks_like_probabilities(pred: np.ndarray, task: str) -> bool:
    """Whether ``pred`` could be probabilities for ``task`` (else they are taken as logits)."""
    if np.any(pred < 0) or np.any(pred > 1):
        return False
    if task in ("multiclass", "soft") and pred.ndim == 2:
        return bool(np.allclose(pred.sum(axis=1), 1.0, atol=1e-3))
    return True


def evaluate(
    pred: np.ndarray, targets: np.ndarray, *, from_logits: bool | None = None, task: str = "auto"
) -> dict[str, Any]:
    """Score predictions ``pred`` against ``targets``.

    Args:
        pred: logits or probabilities: ``[N]`` or ``[N, 1]`` for a binary task, ``[N, C]``
            otherwise.
        targets: ``[N]`` labels, or ``[N, C]`` one-hot, multi-hot or probability rows.
        from_logits: ``True`` for logits, ``False`` for probabilities, ``None`` to decide from
            the values (probabilities when all lie in [0, 1] and, for multi-class, rows sum
            to 1).
        task: ``"auto"`` or one of :data:`crossent.task.TASKS`.

    Returns:
        ``{"task", "input", "n", "metrics": {name: value}}``.

    Raises:
        ValueError: for shapes that do not fit the task, labels out of range, and the
            losses' own input errors.
    """
    if task not in ("auto", *TASKS):
        raise ValueError(f"`task` must be 'auto' or one of {TASKS}; got task={task!r}.")
    pred = np.asarray(pred, dtype=np.float64)
    n_outputs = 1 if pred.ndim == 1 else pred.shape[-1]
    if task == "auto":
        task = infer_task(targets, n_outputs=n_outputs)
    if pred.shape[0] != targets.shape[0]:
        raise ValueError(
            f"predictions have {pred.shape[0]} rows but targets have {targets.shape[0]}."
        )
    if from_logits is None:
        from_logits = not looks_like_probabilities(pred, task)
    scorer = {"binary": _binary, "multiclass": _multiclass, "multilabel": _multilabel, "soft": _soft}
    metrics = scorer[task](pred, targets, from_logits)
    return {
        "task": task,
        "input": "logits" if from_logits else "probabilities",
        "n": int(pred.shape[0]),
        "metrics": {k: float(v) for k, v in metrics.items()},
    }


def _binary(pred: np.ndarray, targets: np.ndarray, from_logits: bool) -> dict[str, float]:
    z = pred.reshape(-1) if pred.ndim == 2 and pred.shape[1] == 1 else pred
    y = np.asarray(targets, dtype=np.float64).reshape(-1)
    if z.ndim != 1:
        raise ValueError(f"a binary task needs predictions of shape [N] or [N, 1]; got {pred.shape}.")
    if from_logits:
        loss = sigmoid_binary_cross_entropy(z, y)
        p = _sigmoid(z)
    else:
        loss = binary_cross_entropy(z, y)
        p = z
    return {
        "cross_entropy": float(loss),
        "accuracy": float(np.mean((p > 0.5) == (y > 0.5))),
        "prediction_entropy": float(np.mean(binary_entropy(p))),
    }


def _class_indices(targets: np.ndarray, n_classes: int) -> np.ndarray:
    if targets.ndim == 2:
        if targets.shape[1] != n_classes:
            raise ValueError(
                f"one-hot targets have {targets.shape[1]} columns but predictions have {n_classes}."
            )
        return np.argmax(targets, axis=1)
    if not np.all(targets == np.round(targets)):
        raise ValueError("multi-class targets must be whole-number class indices.")
    return targets.astype(np.int64)


def _multiclass(pred: np.ndarray, targets: np.ndarray, from_logits: bool) -> dict[str, float]:
    if pred.ndim != 2:
        raise ValueError(f"a multi-class task needs predictions of shape [N, C]; got {pred.shape}.")
    y = _class_indices(targets, pred.shape[1])
    if from_logits:
        loss = float(softmax_cross_entropy(pred, y))
        q = _softmax(pred)
    else:
        loss = float(categorical_cross_entropy(pred, y))
        q = pred
    return {
        "cross_entropy": loss,
        "accuracy": float(np.mean(np.argmax(q, axis=1) == y)),
        "perplexity": math.exp(loss) if loss < 700 else math.inf,
        "prediction_entropy": float(np.mean(entropy(q))),
    }


def _multilabel(pred: np.ndarray, targets: np.ndarray, from_logits: bool) -> dict[str, float]:
    y = np.asarray(targets, dtype=np.float64)
    if pred.shape != y.shape:
        raise ValueError(f"multi-label predictions {pred.shape} and targets {y.shape} must match.")
    if from_logits:
        loss = sigmoid_binary_cross_entropy(pred, y)
        p = _sigmoid(pred)
    else:
        loss = binary_cross_entropy(pred, y)
        p = pred
    hits = (p > 0.5) == (y > 0.5)
    return {
        "cross_entropy": float(loss),
        "label_accuracy": float(np.mean(hits)),
        "exact_match": float(np.mean(np.all(hits, axis=1))),
        "prediction_entropy": float(np.mean(binary_entropy(p))),
    }


def _soft(pred: np.ndarray, targets: np.ndarray, from_logits: bool) -> dict[str, float]:
    t = np.asarray(targets, dtype=np.float64)
    if pred.shape != t.shape:
        raise ValueError(f"predictions {pred.shape} and target distributions {t.shape} must match.")
    if from_logits:
        loss = float(softmax_cross_entropy(pred, t))
        q = _softmax(pred)
    else:
        loss = float(categorical_cross_entropy(pred, t))
        q = pred
    return {
        "cross_entropy": loss,
        "kl_divergence": float(np.mean(kl_divergence(t, q))),
        "accuracy": float(np.mean(np.argmax(q, axis=1) == np.argmax(t, axis=1))),
        "target_entropy": float(np.mean(entropy(t))),
        "prediction_entropy": float(np.mean(entropy(q))),
    }
