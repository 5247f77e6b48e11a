"""``crossent advise``: which activation and loss fit saved targets, and why.

:func:`advise` reads the targets (NumPy arrays, as :func:`crossent.cli.files.load_array` gives
them) and returns a plain dictionary: the task (:func:`crossent.task.infer_task`), the
recommended activation and loss with the reason (:func:`crossent.task.loss_for`), the class
balance and, when the imbalance is strong, what to do about it. Given the model's outputs
too, it reports what :func:`crossent.task.check` finds wrong with the pairing.
:func:`render` turns the dictionary into the text the command prints.
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

import numpy as np

from crossent.task import LOSS_KINDS, check, infer_task, loss_for

from .evaluate import class_indices, read_input_kind
from .files import InputError, load_array, same_samples
from .table import format_table

__all__ = [
    "MAX_CLASSES",
    "STRAY_LABEL_FACTOR",
    "STRONG_IMBALANCE",
    "advise",
    "render",
    "stray_label_cutoff",
]

STRONG_IMBALANCE = 10.0
"""Imbalance ratio (largest count / smallest count) from which :func:`advise` suggests a fix.

Ten is the mildest imbalance factor of the long-tailed CIFAR benchmarks of Cui et al.
("Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019), where
re-weighting starts to pay.
"""

MAX_LISTED_CLASSES = 20
"""Classes listed one by one in the text output; beyond this only a summary."""

STRAY_LABEL_FACTOR = 10
"""How far beyond the others a label must lie to be suspect (see :func:`stray_label_cutoff`)."""

MAX_CLASSES = 2**20
"""Most classes :func:`advise` counts; labels implying more are refused as class indices."""


def advise(
    targets: np.ndarray, pred: np.ndarray | None = None, *, loss: str | None = None
) -> dict[str, Any]:
    """Advise on the loss for ``targets`` and check ``pred`` against them.

    Args:
        targets: ``[N]`` labels, or ``[N, C]`` one-hot, multi-hot or probability rows.
        pred: the model's outputs for the same samples (logits or probabilities), or
            ``None``. Default: ``None``.
        loss: the loss the outputs are meant for, by name (one of
            :data:`crossent.task.LOSS_KINDS`), or ``None`` for the recommended one, in its
            probability version when ``pred`` looks like probabilities. Default: ``None``.

    Returns:
        ``{"task", "n", "recommendation": {"activation", "loss", "probability_loss",
        "reason"}, "balance": {"of", "names", "counts", "imbalance_ratio", "strong",
        "empty", "notes", "suspect"}, "suggestions": [str], "predictions": None | {"shape",
        "input", "input_guess", "task", "loss", "problems": [str]}}``.
        ``imbalance_ratio`` is ``None`` when some class has no samples. ``suspect`` is
        ``None``, or ``{"labels", "n_labels", "samples", "usual_range"}`` for class
        indices far beyond the others (:func:`stray_label_cutoff`), which are left out of
        the counts. ``input_guess`` says why the predictions' kind is only a guess
        (:func:`crossent.cli.evaluate.read_input_kind`). Mistakes in ``pred`` are reported in
        ``problems``, not raised.

    Raises:
        ValueError: targets from which no task can be read (see
            :func:`crossent.task.infer_task`), class indices too large to count (see
            :func:`crossent.cli.evaluate.class_indices` and :data:`MAX_CLASSES`), an unknown
            ``loss``.

    Example:
        >>> import numpy as np
        >>> from crossent.cli.advise import advise
        >>> result = advise(np.array([0] * 95 + [1] * 5))
        >>> result["task"], result["recommendation"]["loss"], result["balance"]["imbalance_ratio"]
        ('binary', 'sigmoid_binary_cross_entropy', 19.0)
    """
    if loss is not None and loss not in LOSS_KINDS:
        raise ValueError(f"`loss` must be one of {sorted(LOSS_KINDS)}; got loss={loss!r}.")
    targets = np.asarray(targets)
    task = infer_task(targets)
    choice = loss_for(task)
    balance = _balance(task, targets, None if pred is None else _width(np.asarray(pred)))
    return {
        "task": task,
        "n": int(targets.shape[0]),
        "recommendation": {
            "activation": choice.activation,
            "loss": choice.name,
            "probability_loss": choice.probability_loss.__name__,
            "reason": choice.reason,
        },
        "balance": balance,
        "suggestions": _suggestions(task, balance, int(targets.shape[0])),
        "predictions": None if pred is None else _check_predictions(targets, pred, loss),
    }


def _width(pred: np.ndarray) -> int | None:
    if pred.ndim == 1:
        return 1
    return int(pred.shape[1]) if pred.ndim == 2 else None


# ---------------------------------------------------------------------------------------
# Class balance
# ---------------------------------------------------------------------------------------


def _balance(task: str, targets: np.ndarray, n_outputs: int | None) -> dict[str, Any]:
    """Counts per class (positives per label for multi-label) and the imbalance ratio."""
    y = targets.reshape(-1) if targets.ndim == 2 and targets.shape[1] == 1 else targets
    y = y.astype(np.float64)
    suspect = None
    if task == "binary":
        counts = np.array([np.sum(1 - y), np.sum(y)])  # soft targets give expected counts
        of, names = "classes", ["0", "1"]
    elif task == "multiclass":
        if y.ndim == 2:
            counts = y.sum(axis=0)
        else:
            labels = class_indices(y)
            cutoff = stray_label_cutoff(labels, n_outputs)
            if cutoff is not None:
                suspect = _suspect(labels, cutoff)
                labels = labels[labels < cutoff]
            counts = _class_counts(labels, n_outputs)
        of, names = "classes", [str(c) for c in range(counts.size)]
    elif task == "soft":
        counts = y.sum(axis=0)  # expected counts: the probability mass of each class
        of, names = "classes", [str(c) for c in range(counts.size)]
    else:
        counts = y.sum(axis=0)
        of, names = "positives per label", [str(c) for c in range(counts.size)]
    notes = []
    if task == "multilabel":
        # What matters per label is negatives per positive: the pos_weight of BCE.
        empty, ratio = _imbalance(y.shape[0] - counts, counts, names)
        if empty:
            notes.append(f"labels {_list(empty)} have no positive sample")
    else:
        empty, ratio = _imbalance(counts.max(), counts, names)
        if empty:
            notes.append(f"classes {_list(empty)} have no sample")
    if suspect is not None:
        notes.insert(0, suspect["note"])
    return {
        "of": of,
        "names": names,
        "counts": [_number(c) for c in counts],
        "imbalance_ratio": ratio,
        "strong": ratio is None or ratio >= STRONG_IMBALANCE,
        "empty": empty,
        "notes": notes,
        "suspect": None if suspect is None else {k: v for k, v in suspect.items() if k != "note"},
    }


def _imbalance(
    numerator: np.ndarray | float, counts: np.ndarray, names: list[str]
) -> tuple[list[str], float | None]:
    """The classes too empty to divide by, and the largest ``numerator / count`` otherwise.

    A count of 0, or one so small (a soft target of 1e-310) that the ratio overflows,
    makes the class empty and the ratio ``None``: an infinite ratio has no use, and JSON
    has no infinity.
    """
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        ratios = np.asarray(numerator / counts, dtype=np.float64)
    empty = [names[i] for i in np.flatnonzero(~np.isfinite(ratios))]
    return empty, (None if empty else float(ratios.max()))


def stray_label_cutoff(labels: np.ndarray, n_outputs: int | None = None) -> int | None:
    r"""Where class indices stop being plausible: the labels from the returned value up are suspect.

    With the distinct labels sorted, :math:`u_1 < \dots < u_k`, the first gap with
    :math:`u_{i+1} + 1 > f\,(u_i + 1)` (``f`` = :data:`STRAY_LABEL_FACTOR`) and wider than
    :data:`MAX_LISTED_CLASSES` separates the labels in use from strays such as a typo
    (``200000`` among ``0..9``) or a padding value: counting classes up to such a label
    would invent a multitude of empty classes. Labels below the model's output width are
    never suspect (the width vouches for them).

    Args:
        labels: ``[N]`` non-negative class indices.
        n_outputs: the model's output width, or ``None``. Default: ``None``.

    Returns:
        The first suspect label value, or ``None`` when no label is suspect.

    Example:
        >>> import numpy as np
        >>> stray_label_cutoff(np.array([0, 1, 2, 3, 200000, 1]))
        200000
        >>> stray_label_cutoff(np.array([0, 5, 30, 90])) is None
        True
    """
    distinct = np.unique(labels)
    below = distinct[:-1].astype(np.float64) + 1
    above = distinct[1:].astype(np.float64) + 1
    far = (above > STRAY_LABEL_FACTOR * below) & (above - below > MAX_LISTED_CLASSES)
    if n_outputs is not None:
        far &= distinct[1:] >= n_outputs
    if not np.any(far):
        return None
    return int(distinct[1:][np.argmax(far)])


def _suspect(labels: np.ndarray, cutoff: int) -> dict[str, Any]:
    """The summary of the labels from ``cutoff`` up, and a note saying why they are left out."""
    stray = labels[labels >= cutoff]
    values = np.unique(stray)
    shown = [int(v) for v in values[:MAX_LISTED_CLASSES]]
    usual = labels[labels < cutoff]
    span = f"{int(usual.min())}..{int(usual.max())}"
    listed = ", ".join(map(str, shown)) + (", …" if values.size > len(shown) else "")
    noun = "label" if values.size == 1 else f"{values.size} labels"
    note = (
        f"suspect: {noun} {listed} ({stray.size} sample{'s' if stray.size != 1 else ''}) "
        f"far beyond the others ({span}), a typo or a padding value? Left out of the counts."
    )
    return {
        "labels": shown,
        "n_labels": int(values.size),
        "samples": int(stray.size),
        "usual_range": [int(usual.min()), int(usual.max())],
        "note": note,
    }


def _class_counts(labels: np.ndarray, n_outputs: int | None) -> np.ndarray:
    """Samples per class ``0..max(label, n_outputs − 1)``, as floats.

    Raises:
        ValueError: labels that would make more than :data:`MAX_CLASSES` classes.
    """
    width = max(int(labels.max()) + 1, n_outputs or 0)
    if width > MAX_CLASSES:
        raise ValueError(
            f"`targets`: labels up to {int(labels.max())!r} would make {width} classes, more "
            f"than crossent advise counts ({MAX_CLASSES}); are these class indices?"
        )
    return np.bincount(labels, minlength=width).astype(np.float64)


def _list(names: list[str]) -> str:
    """Names in a note, shortened to the first :data:`MAX_LISTED_CLASSES`."""
    if len(names) <= MAX_LISTED_CLASSES:
        return str(names)
    return f"{names[:MAX_LISTED_CLASSES]} and {len(names) - MAX_LISTED_CLASSES} more"


def _number(value: float) -> float | int:
    """Whole counts as ints (JSON ``12``, not ``12.0``); expected counts stay floats."""
    return int(value) if float(value).is_integer() else float(value)


def _class_balanced_weights(counts: list[float]) -> list[float] | None:
    """``crossent.class_balanced_weights(counts)`` when that function exists, else ``None``."""
    try:
        module = importlib.import_module("crossent.losses.weights")
    except ImportError:
        return None
    function = getattr(module, "class_balanced_weights", None)
    if function is None or min(counts) <= 0:
        return None
    return [float(w) for w in np.asarray(function(np.asarray(counts, dtype=np.float64)))]


def _suggestions(task: str, balance: dict[str, Any], n: int) -> list[str]:
    if not balance["strong"]:
        return []
    counts = balance["counts"]
    ratio = balance["imbalance_ratio"]
    strength = "some class has no sample" if ratio is None else f"imbalance ratio {ratio:.3g}"
    if task == "binary":
        negatives, positives = counts
        if balance["empty"]:
            return [f"only one class is present ({strength}): a classifier cannot learn the other"]
        alpha = negatives / (negatives + positives)
        return [
            f"{strength}: weight the positive term, sigmoid_binary_cross_entropy(..., "
            f"pos_weight={negatives / positives:.3g}) (negatives / positives), or α-balance "
            f"it with sigmoid_focal_loss(..., alpha={alpha:.3g}, gamma=0.0)",
            "if most samples are easy (e.g. dense detection), sigmoid_focal_loss(..., "
            "alpha=0.25, gamma=2.0) down-weights them (Lin et al. 2017, RetinaNet)",
        ]
    if task == "multilabel":
        positives = np.asarray(counts, dtype=np.float64)
        if balance["empty"]:
            return [
                f"{strength}: a label with no positive sample cannot be learned; drop it or "
                "collect positives"
            ]
        pos_weight = (n - positives) / positives
        values = (
            f"[{', '.join(f'{w:.3g}' for w in pos_weight)}]"
            if pos_weight.size <= MAX_LISTED_CLASSES
            else "negatives / positives per label"
        )
        return [
            f"{strength} (negatives per positive, worst label): weight each label's positive "
            f"term, sigmoid_binary_cross_entropy(..., pos_weight={values})",
            "with many easy negatives per label, asymmetric_loss (Ridnik et al. 2021) or "
            "sigmoid_focal_loss(..., gamma=2.0) down-weight them",
        ]
    if ratio is None:
        return [
            f"{strength}: classes {balance['empty']} cannot be learned from these targets; "
            "check the labels, or drop those classes from the outputs"
        ]
    weights = _class_balanced_weights(counts)
    values = "" if weights is None else f" = [{', '.join(f'{w:.3g}' for w in weights)}]"
    return [
        f"{strength}: weight the classes, softmax_cross_entropy(..., "
        f"weight=class_balanced_weights(counts, beta=0.999){values}) (Cui et al. 2019)",
        "if most samples are easy, softmax_focal_loss(..., gamma=2.0) down-weights them "
        "(Lin et al. 2017)",
    ]


# ---------------------------------------------------------------------------------------
# Predictions
# ---------------------------------------------------------------------------------------


def _check_predictions(targets: np.ndarray, pred: Any, loss: str | None) -> dict[str, Any]:
    pred = np.asarray(pred, dtype=np.float64)
    report: dict[str, Any] = {
        "shape": list(pred.shape),
        "input": None,
        "input_guess": None,
        "task": None,
        "loss": loss,
        "problems": [],
    }
    problems: list[str] = report["problems"]
    if pred.ndim not in (1, 2):
        problems.append(f"predictions must be [N] or [N, C]; got shape {pred.shape}.")
        return report
    if pred.shape[0] != targets.shape[0]:
        problems.append(
            f"predictions have {pred.shape[0]} rows but targets have {targets.shape[0]}: "
            "they are not the same samples."
        )
        return report
    width = 1 if pred.ndim == 1 else pred.shape[1]
    try:
        task = infer_task(targets, n_outputs=width)
    except ValueError as exc:
        problems.append(str(exc))
        if loss is None:
            return report
        task = infer_task(targets)
    report["task"] = task
    try:
        reading = read_input_kind(pred, task)
    except ValueError as exc:
        if loss is None:  # no loss to check them with: the kind is needed to choose one
            problems.append(str(exc))
            return report
        probabilities = LOSS_KINDS[loss].takes == "probs"
    else:
        probabilities = not reading.from_logits
        report["input_guess"] = reading.guess
    report["input"] = "probabilities" if probabilities else "logits"
    y = targets
    if loss is None:
        choice = loss_for(task)
        loss = choice.probability_loss.__name__ if probabilities else choice.name
        report["loss"] = loss
        if task == "binary" and pred.ndim == 2 and y.ndim == 1:
            pred = pred[:, 0]  # one unit saved as [N, 1]: the pairing we recommend is [N]
        if task == "binary" and y.ndim == 2 and pred.ndim == 1:
            y = y[:, 0]
    if LOSS_KINDS[loss].family == "softmax" and y.ndim == 1 and _whole(y):
        y = class_indices(y)  # class indices read from a CSV file come as floats
    elif y.dtype.kind != "f" and y.ndim == 2:
        y = y.astype(np.float64)  # integer one-hot or multi-hot rows
    try:
        check(pred, y, loss=loss)
    except (ValueError, TypeError) as exc:
        problems.append(str(exc))
    return report


def _whole(y: np.ndarray) -> bool:
    return y.dtype.kind in "biu" or bool(np.all(y == np.round(y)))


# ---------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------


def render(result: dict[str, Any], *, target_name: str = "targets", pred_name: str = "") -> str:
    """The text ``crossent advise`` prints for a result of :func:`advise`."""
    rec = result["recommendation"]
    balance = result["balance"]
    lines = [
        f"targets: {target_name} ({result['n']} samples)",
        f"task: {result['task']}",
        f"recommended: {rec['activation']} + {rec['loss']}  "
        f"(on probabilities: {rec['probability_loss']})",
        f"why: {rec['reason']}",
        "",
        f"balance ({balance['of']}):",
    ]
    counts = balance["counts"]
    total = sum(counts) if balance["of"] == "classes" else result["n"]
    rows = [
        [name, _format_count(c), f"{c / total:.3f}" if total else "nan"]
        for name, c in zip(balance["names"], counts, strict=True)
    ]
    if len(rows) > MAX_LISTED_CLASSES:
        order = np.argsort(counts, kind="stable")
        shown = [rows[i] for i in order[: MAX_LISTED_CLASSES // 2]]
        shown += [["…", "", ""]] + [rows[i] for i in order[-(MAX_LISTED_CLASSES // 2) :]]
        rows = shown
    share = "share" if balance["of"] == "classes" else "of samples"
    lines.append(
        format_table(["class" if balance["of"] == "classes" else "label", "count", share], rows)
    )
    ratio = balance["imbalance_ratio"]
    ratio_text = "undefined" if ratio is None else f"{ratio:.3g}"
    what = (
        "negatives per positive, worst label"
        if result["task"] == "multilabel"
        else "largest / smallest"
    )
    lines.append(
        f"imbalance ratio ({what}): {ratio_text}"
        + (" — strong" if balance["strong"] else f" — below {STRONG_IMBALANCE:g}, no change needed")
    )
    lines += [f"note: {n}" for n in balance["notes"]]
    if result["suggestions"]:
        lines += ["", "suggestions:"] + [f"  - {s}" for s in result["suggestions"]]
    pred = result["predictions"]
    if pred is not None:
        lines += ["", f"predictions: {pred_name or 'outputs'} (shape {tuple(pred['shape'])})"]
        if pred["input"] is not None:
            guess = f" (a guess: {pred['input_guess']})" if pred["input_guess"] else ""
            lines.append(
                f"  read as {pred['input']}{guess} for a {pred['task']} task; checked with "
                f"{pred['loss']}"
            )
        if pred["problems"]:
            lines += [f"  problem: {p}" for p in pred["problems"]]
        else:
            lines.append("  no problems found")
    return "\n".join(lines)


def _format_count(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4g}"


# ---------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------

HELP = "which loss for saved targets, and why; flags mistakes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``crossent advise``: TARGET, --pred, --loss, --json."""
    parser.add_argument(
        "target", help="targets: labels [N], or one-hot / multi-hot / probability rows [N, C]"
    )
    parser.add_argument("--pred", help="the model's outputs (logits or probabilities), to check")
    parser.add_argument(
        "--loss",
        choices=sorted(LOSS_KINDS),
        help="the loss the outputs are for (default: the recommended one)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    """Advise on the targets (and check the predictions); print text or JSON.

    Returns:
        The exit code, 0 (problems found in the predictions are output, not failures).

    Raises:
        InputError: unreadable files, files of different lengths, targets :func:`advise`
            refuses.
    """
    target = load_array(args.target, what="target")
    pred = None if args.pred is None else load_array(args.pred, what="prediction")
    if pred is not None:
        same_samples(pred, target, args.pred, args.target)
    try:
        result = advise(target, pred, loss=args.loss)
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc)) from exc
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render(result, target_name=args.target, pred_name=args.pred or ""))
    return 0
