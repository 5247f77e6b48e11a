r"""``crossent eval``: score saved predictions against targets, with the metrics of each task.

:func:`evaluate` takes NumPy arrays and returns a plain dictionary, which the command
prints as a table or as JSON. The task comes from :func:`crossent.task.infer_task` unless
given; the loss is the one :func:`crossent.task.loss_for` names for it (its probability
version when the predictions are probabilities), after :func:`crossent.task.check` has
refused the classic mistakes.

========== ==================================================================================
task       metrics
========== ==================================================================================
binary     ``cross_entropy`` (BCE), ``accuracy``, ``auroc``, ``ece``, ``prediction_entropy``
multiclass ``cross_entropy``, ``accuracy`` (top-1), ``top5_accuracy``, ``perplexity``, ``ece``,
           ``prediction_entropy``
multilabel ``cross_entropy`` (mean BCE over all labels), ``label_accuracy``, ``exact_match``,
           ``micro_f1``, ``macro_f1``, ``ece``, ``prediction_entropy``
soft       ``cross_entropy``, ``kl_divergence``, ``accuracy`` (argmax agreement), ``ece``,
           ``target_entropy``, ``prediction_entropy``
========== ==================================================================================

AUROC and F1 come from :mod:`sklearn.metrics`, which is in the ``report`` and ``test``
extras but not a core dependency: without scikit-learn they are left out, and the result's
``notes`` say so (they are not re-implemented here). Expected calibration error has no
scikit-learn function; :func:`expected_calibration_error` is its NumPy implementation.
A metric that is undefined for the data (AUROC with one class present, top-5 accuracy with
five classes or fewer, F1 on soft targets) is left out with a note too.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crossent._array import namespace, sigmoid, softmax
from crossent._checks import sums_to_one
from crossent.info import binary_entropy, entropy, kl_divergence
from crossent.task import ROW_SUM_TOLERANCE, TASKS, check, infer_task, loss_for

from .files import InputError, load_array, same_samples
from .table import format_table

__all__ = [
    "CALIBRATION_BINS",
    "MAX_CLASS_INDEX",
    "TOP_K",
    "InputReading",
    "class_indices",
    "evaluate",
    "expected_calibration_error",
    "read_input_kind",
]

CALIBRATION_BINS = 15
"""Equal-width confidence bins of :func:`expected_calibration_error` (Guo et al., 2017)."""

TOP_K = 5
"""``k`` of the multi-class top-k accuracy."""

_SKLEARN_MISSING = "scikit-learn is not installed (pip install 'crossent[report]')"


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, *, bins: int = CALIBRATION_BINS
) -> float:
    r"""Expected calibration error of top-label confidences.

    With the predictions split into ``bins`` equal-width confidence bins
    :math:`B_b = \{i : c_i \in (\tfrac{b}{M}, \tfrac{b+1}{M}]\}` (a confidence of 0 goes in
    the first bin),

    .. math:: \mathrm{ECE} = \sum_{b} \frac{|B_b|}{N}\,
        \big|\mathrm{acc}(B_b) - \mathrm{conf}(B_b)\big|
        = \frac{1}{N} \sum_b \Big|\sum_{i \in B_b} (\mathbb{1}[\text{correct}_i] - c_i)\Big|

    where :math:`\mathrm{acc}` and :math:`\mathrm{conf}` are the bin's mean correctness and
    mean confidence. 0 is perfectly calibrated; the largest value is 1.

    Args:
        confidence: ``[N]`` probability of each predicted label, in [0, 1].
        correct: ``[N]`` whether each prediction was right (booleans or 0/1).
        bins: number of bins ``M``. Default: :data:`CALIBRATION_BINS` (15).

    Returns:
        The ECE, a float in [0, 1].

    Raises:
        ValueError: mismatched or empty inputs, confidences outside [0, 1], ``bins < 1``.

    References:
        Guo, Pleiss, Sun, Weinberger. "On Calibration of Modern Neural Networks." ICML 2017.
        Naeini, Cooper, Hauskrecht. "Obtaining Well Calibrated Probabilities Using Bayesian
        Binning." AAAI 2015.

    Example:
        >>> import numpy as np
        >>> from crossent.cli.evaluate import expected_calibration_error
        >>> conf = np.array([0.9, 0.9, 0.6, 0.6])
        >>> round(expected_calibration_error(conf, np.array([1, 1, 1, 0])), 4)
        0.1
    """
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    hit = np.asarray(correct, dtype=np.float64).reshape(-1)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"`bins` must be a positive integer; got bins={bins!r}.")
    if conf.shape != hit.shape or conf.size == 0:
        raise ValueError(
            f"`confidence` and `correct` must be non-empty and of one length; got "
            f"{conf.size} and {hit.size}."
        )
    if np.any((conf < 0) | (conf > 1)):
        raise ValueError(
            f"`confidence` must lie in [0, 1]; got values from {float(conf.min())!r} to {float(conf.max())!r}."
        )
    index = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    gap = np.bincount(index, weights=hit - conf, minlength=bins)
    return float(np.sum(np.abs(gap)) / conf.size)


@dataclass(frozen=True)
class InputReading:
    """What :func:`read_input_kind` made of predictions whose kind was not given.

    Attributes:
        from_logits: ``True`` when they are read as logits.
        guess: ``None`` when the values leave no doubt, else why the reading is only a
            guess (to be shown to the user, who can then say which).
    """

    from_logits: bool
    guess: str | None


def read_input_kind(pred: np.ndarray, task: str) -> InputReading:
    """Decide whether ``pred`` holds logits or probabilities for ``task``, and how surely.

    * A value outside [0, 1]: logits, surely.
    * ``"multiclass"``/``"soft"`` with ``[N, C]`` rows in [0, 1]: probabilities, surely, when
      every row sums to 1 within the tolerance of :func:`crossent.task.check` (the one an
      explicit ``from_logits=False`` must pass, so both readings agree); otherwise
      refused, since such rows are as likely rounded probabilities as logits.
    * Otherwise (sigmoid tasks, or a width that the task's check will refuse anyway) with
      every value in [0, 1]: probabilities, as a guess.

    Args:
        pred: ``[N]`` or ``[N, C]`` predictions, finite.
        task: one of :data:`crossent.task.TASKS`.

    Returns:
        The reading, with ``guess`` set when it is not certain.

    Raises:
        ValueError: softmax rows in [0, 1] that do not sum to 1 (pass ``from_logits``).

    Example:
        >>> import numpy as np
        >>> read_input_kind(np.array([[0.2, 0.8], [0.5, 0.5]]), "multiclass")
        InputReading(from_logits=False, guess=None)
        >>> read_input_kind(np.array([0.3, 0.9]), "binary").guess
        'every value lies in [0, 1]'
    """
    if np.any(pred < 0) or np.any(pred > 1):
        return InputReading(from_logits=True, guess=None)
    if task not in ("multiclass", "soft") or pred.ndim != 2 or pred.shape[1] < 2:
        return InputReading(from_logits=False, guess="every value lies in [0, 1]")
    xp = namespace(pred)
    if bool(np.all(sums_to_one(xp, pred, axis=-1, tol=ROW_SUM_TOLERANCE))):
        return InputReading(from_logits=False, guess=None)
    sums = pred.sum(axis=1)
    raise ValueError(
        f"cannot tell whether the predictions are probabilities or logits: every value lies "
        f"in [0, 1], but rows sum to {float(sums.min()):.6g}..{float(sums.max()):.6g}, not to "
        "1 as probabilities must (rounded to too few decimals?). Say which: "
        "logits (`from_logits=True`, --from-logits), or probabilities saved with more digits "
        "(`from_logits=False`, --probs)."
    )


def evaluate(
    pred: np.ndarray, targets: np.ndarray, *, from_logits: bool | None = None, task: str = "auto"
) -> dict[str, Any]:
    """Score predictions ``pred`` against ``targets`` with the metrics of the task.

    Args:
        pred: logits or probabilities: ``[N]`` or ``[N, 1]`` for a binary task, ``[N, C]``
            otherwise.
        targets: ``[N]`` labels, or ``[N, C]`` one-hot, multi-hot or probability rows.
            Whole-number floats (e.g. read from CSV) are accepted as class indices.
        from_logits: ``True`` for logits, ``False`` for probabilities, ``None`` to decide from
            the values by :func:`read_input_kind`. Default: ``None``.
        task: ``"auto"`` (:func:`crossent.task.infer_task` with the predictions' width) or
            one of :data:`crossent.task.TASKS`. Default: ``"auto"``.

    Returns:
        ``{"task", "input", "input_guess", "n", "loss", "metrics": {name: float},
        "notes": [str]}``; ``input`` is ``"logits"`` or ``"probabilities"``,
        ``input_guess`` ``None`` or why that reading is only a guess (see
        :func:`read_input_kind`), ``loss`` the name of the loss behind ``cross_entropy``,
        ``notes`` says why a metric is missing (undefined for the data, scikit-learn not
        installed, or a value that overflows float64); every metric is finite.

    Raises:
        ValueError: shapes that do not fit the task, labels out of range, predictions
            whose kind cannot be told (see :func:`read_input_kind`), the mistakes
            :func:`crossent.task.check` refuses (e.g. a multi-class task on one output),
            and the losses' own input errors.
        TypeError: targets that are not numbers.

    Example:
        >>> import numpy as np
        >>> from crossent.cli.evaluate import evaluate
        >>> result = evaluate(np.array([2.0, -1.0, 0.5, -3.0]), np.array([1, 0, 0, 0]))
        >>> result["task"], result["input"], result["metrics"]["accuracy"]
        ('binary', 'logits', 0.75)
    """
    if task not in ("auto", *TASKS):
        raise ValueError(f"`task` must be 'auto' or one of {TASKS}; got task={task!r}.")
    pred = np.asarray(pred, dtype=np.float64)
    targets = np.asarray(targets)
    if targets.dtype.kind not in "biuf":
        raise TypeError(f"`targets` must hold numbers; got dtype {targets.dtype}.")
    if pred.ndim not in (1, 2) or targets.ndim not in (1, 2):
        raise ValueError(
            f"predictions and targets must be [N] or [N, C]; got shapes {pred.shape} and "
            f"{targets.shape}."
        )
    if pred.shape[0] != targets.shape[0]:
        raise ValueError(
            f"predictions have {pred.shape[0]} rows but targets have {targets.shape[0]}."
        )
    n_outputs = 1 if pred.ndim == 1 else pred.shape[1]
    if task == "auto":
        task = infer_task(targets, n_outputs=n_outputs)
    guess = None
    if from_logits is None:
        reading = read_input_kind(pred, task)
        from_logits, guess = reading.from_logits, reading.guess
    choice = loss_for(task)
    loss = choice.loss if from_logits else choice.probability_loss
    scorer = {"binary": _binary, "multiclass": _multiclass, "multilabel": _multilabel}
    metrics, notes = scorer.get(task, _soft)(pred, targets, from_logits, loss)
    for name in [k for k, v in metrics.items() if not math.isfinite(v)]:
        # A value that overflowed float64 is not the metric: say so rather than print inf.
        notes.append(f"{name} omitted: it is not finite in float64 ({metrics.pop(name)!r})")
    calibration = None
    if task in CALIBRATED_TASKS:
        scored, labels = calibration_inputs(pred, targets, from_logits, task)
        # soft binary targets (the AUROC note already says so) have no hit to bin
        if task == "multiclass" or np.all((labels == 0) | (labels == 1)):
            calibration = calibration_summary(scored, labels, from_logits=from_logits)
            calibration["nll"] = float(metrics.get("cross_entropy", math.nan))
            for name in [k for k, v in calibration.items() if not math.isfinite(v)]:
                value = calibration.pop(name)
                notes.append(f"calibration {name} omitted: it is not finite in float64 ({value!r})")
    return {
        "task": task,
        "input": "logits" if from_logits else "probabilities",
        "input_guess": guess,
        "n": int(pred.shape[0]),
        "loss": loss.__name__,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "calibration": calibration,
        "notes": notes,
    }


CALIBRATED_TASKS = ("binary", "multiclass")
"""Tasks with a calibration block: one forecast per sample (top label, or the positive class)."""

CALIBRATION_BINS = 15
"""Bins of the calibration block and the reliability diagram (Guo et al., 2017)."""


def calibration_inputs(
    pred: np.ndarray, targets: np.ndarray, from_logits: bool, task: str
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and labels as :mod:`crossent.calibration` takes them, for a task of
    :data:`CALIBRATED_TASKS` whose inputs :func:`evaluate` has accepted.

    Binary: ``[N]`` predictions and 0/1 labels. Multi-class: ``[N, C]`` predictions (rows
    of probabilities renormalised: a CSV rounds them within the task's tolerance) and
    ``[N]`` class indices (one-hot rows become their index).
    """
    if task == "binary":
        y = targets.reshape(-1).astype(np.float64)
        return pred.reshape(-1), y
    labels = np.argmax(targets, axis=1) if targets.ndim == 2 else class_indices(targets)
    if not from_logits:
        pred = pred / np.sum(pred, axis=1, keepdims=True)
    return pred, labels


def calibration_summary(
    pred: np.ndarray, labels: np.ndarray, *, from_logits: bool
) -> dict[str, float]:
    """ECE, MCE, adaptive (equal-mass) ECE, Brier score and Murphy's decomposition.

    Args:
        pred: ``[N]`` (binary) or ``[N, C]`` predictions, as :func:`calibration_inputs` gives.
        labels: ``[N]`` 0/1 or class indices.
        from_logits: whether ``pred`` holds logits.

    Returns:
        ``{"ece", "mce", "adaptive_ece", "brier", "brier_reliability", "brier_resolution",
        "brier_uncertainty"}`` with :data:`CALIBRATION_BINS` bins.

    Example:
        >>> import numpy as np
        >>> summary = calibration_summary(np.array([0.2, 0.9]), np.array([0.0, 1.0]), from_logits=False)
        >>> round(summary["brier"], 3)
        0.025
    """
    from crossent import calibration as cal

    bins = CALIBRATION_BINS
    parts = cal.brier_decomposition(pred, labels, from_logits=from_logits, n_bins=bins)
    values = {
        "ece": cal.calibration_error(pred, labels, from_logits=from_logits, n_bins=bins),
        "mce": cal.calibration_error(
            pred, labels, from_logits=from_logits, n_bins=bins, norm="max"
        ),
        "adaptive_ece": cal.calibration_error(
            pred, labels, from_logits=from_logits, n_bins=bins, binning="quantile"
        ),
        "brier": cal.brier_score(pred, labels, from_logits=from_logits),
        "brier_reliability": parts.reliability,
        "brier_resolution": parts.resolution,
        "brier_uncertainty": parts.uncertainty,
    }
    return {k: float(v) for k, v in values.items()}


PLOT_FORMATS = (".svg", ".png")


def plot_reliability(
    path: Path, pred: np.ndarray, labels: np.ndarray, *, from_logits: bool, title: str
) -> None:
    """Draw the reliability diagram (the report's :func:`crossent.experiments.figures.reliability`)
    and write it to ``path`` (``.svg`` or ``.png``) whole or not at all.

    Raises:
        InputError: matplotlib is not installed.
    """
    import io

    from crossent import calibration as cal
    from crossent._io import atomic_write_bytes

    try:
        import matplotlib.pyplot as plt

        from crossent.experiments import figures
    except ImportError as exc:
        raise InputError("--plot needs matplotlib: pip install 'crossent[report]'.") from exc
    d = cal.reliability_diagram(pred, labels, from_logits=from_logits, n_bins=CALIBRATION_BINS)
    ece = float(
        cal.calibration_error(pred, labels, from_logits=from_logits, n_bins=CALIBRATION_BINS)
    )
    fig, ax = figures.figure(1, width=4.5, height=4.5)
    figures.reliability(ax, d, title=title, ece=ece)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix[1:], bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


Scores = tuple[dict[str, float], list[str]]


def _sklearn_metrics() -> Any:
    """:mod:`sklearn.metrics`, or ``None`` when scikit-learn is not installed."""
    try:
        from sklearn import metrics
    except ImportError:
        return None
    return metrics


def _probabilities(pred: np.ndarray, from_logits: bool, activation: str) -> np.ndarray:
    if not from_logits:
        return pred
    xp = namespace(pred)
    return np.asarray(softmax(xp, pred, axis=-1) if activation == "softmax" else sigmoid(xp, pred))


def _binary_calibration(p: np.ndarray, y: np.ndarray) -> float:
    """Top-label ECE of independent binary decisions: confidence ``max(p, 1 − p)``."""
    return expected_calibration_error(np.maximum(p, 1 - p), (p > 0.5) == (y > 0.5))


def _binary(pred: np.ndarray, targets: np.ndarray, from_logits: bool, loss: Any) -> Scores:
    if pred.ndim == 2 and pred.shape[1] != 1:
        raise ValueError(
            f"a binary task needs predictions of shape [N] or [N, 1]; got {pred.shape} "
            "(for two softmax units pass --task multiclass)."
        )
    z = pred.reshape(-1)
    y = targets.reshape(-1) if targets.ndim == 2 and targets.shape[1] == 1 else targets
    check(z, y, loss=loss)
    y = y.astype(np.float64)
    p = _probabilities(z, from_logits, "sigmoid")
    metrics = {
        "cross_entropy": float(loss(z, y)),
        "accuracy": float(np.mean((p > 0.5) == (y > 0.5))),
    }
    notes = []
    hard = bool(np.all((y == 0) | (y == 1)))
    sk = _sklearn_metrics()
    if not hard:
        notes.append("auroc omitted: it needs 0/1 targets, these are soft")
    elif np.unique(y).size < 2:
        notes.append("auroc omitted: only one class is present in the targets")
    elif sk is None:
        notes.append(f"auroc omitted: {_SKLEARN_MISSING}")
    else:
        # Ranking by the raw scores: the sigmoid is monotone, and logits keep the order of
        # predictions that saturate to the same probability.
        metrics["auroc"] = float(sk.roc_auc_score(y, z))
    metrics["ece"] = _binary_calibration(p, y)
    metrics["prediction_entropy"] = float(np.mean(binary_entropy(p)))
    return metrics, notes


MAX_CLASS_INDEX = 2**53
"""Labels from this value on are refused as class indices: floats no longer hold every
whole number there, so a label read from a file could not be told from its neighbours."""


def class_indices(targets: np.ndarray) -> np.ndarray:
    """``[N]`` whole-number labels as int64 (they may come from a CSV file as floats).

    Args:
        targets: ``[N]`` labels, integers or whole-number floats.

    Returns:
        The labels as int64, unchanged in value.

    Raises:
        ValueError: a label that is not a whole number, or of :data:`MAX_CLASS_INDEX` or
            more in magnitude (a cast would wrap it to another class).

    Example:
        >>> import numpy as np
        >>> class_indices(np.array([2.0, 0.0, 1.0]))
        array([2, 0, 1])
    """
    if targets.dtype.kind == "f" and not np.all(targets == np.round(targets)):
        raise ValueError("`targets`: class indices must be whole numbers.")
    # Compared as floats, so that an inf or a float beyond int64 cannot overflow a cast.
    huge = ~(np.abs(targets.astype(np.float64)) < MAX_CLASS_INDEX)
    if np.any(huge):
        first = targets[huge][0].item()
        raise ValueError(
            f"`targets`: {first!r} is too large to be a class index (at most "
            f"{MAX_CLASS_INDEX - 1})."
        )
    return targets.astype(np.int64)


def _multiclass(pred: np.ndarray, targets: np.ndarray, from_logits: bool, loss: Any) -> Scores:
    if pred.ndim != 2:
        raise ValueError(f"a multi-class task needs predictions of shape [N, C]; got {pred.shape}.")
    y = targets if targets.ndim == 2 else class_indices(targets)
    check(pred, y if y.ndim == 1 else y.astype(np.float64), loss=loss, ignore_index=None)
    if y.ndim == 2:
        y = np.argmax(y, axis=1)  # one-hot rows, as check has just made sure
    q = _probabilities(pred, from_logits, "softmax")
    cross_entropy = float(loss(pred, y, ignore_index=None))
    n_classes = pred.shape[1]
    metrics = {
        "cross_entropy": cross_entropy,
        "accuracy": float(np.mean(np.argmax(q, axis=1) == y)),
    }
    notes = []
    if n_classes > TOP_K:
        top = np.argpartition(-pred, TOP_K - 1, axis=1)[:, :TOP_K]
        metrics[f"top{TOP_K}_accuracy"] = float(np.mean(np.any(top == y[:, None], axis=1)))
    else:
        notes.append(f"top{TOP_K}_accuracy omitted: there are only {n_classes} classes")
    if cross_entropy < math.log(np.finfo(np.float64).max):
        metrics["perplexity"] = math.exp(cross_entropy)
    else:
        notes.append("perplexity omitted: exp(cross_entropy) overflows")
    metrics["ece"] = expected_calibration_error(np.max(q, axis=1), np.argmax(q, axis=1) == y)
    metrics["prediction_entropy"] = float(np.mean(entropy(q)))
    return metrics, notes


def _multilabel(pred: np.ndarray, targets: np.ndarray, from_logits: bool, loss: Any) -> Scores:
    y = targets.astype(np.float64) if targets.dtype.kind != "f" else targets
    check(pred, y, loss=loss)
    p = _probabilities(pred, from_logits, "sigmoid")
    hits = (p > 0.5) == (y > 0.5)
    metrics = {
        "cross_entropy": float(loss(pred, y)),
        "label_accuracy": float(np.mean(hits)),
        "exact_match": float(np.mean(np.all(hits, axis=-1))),
    }
    notes = []
    sk = _sklearn_metrics()
    if not bool(np.all((y == 0) | (y == 1))):
        notes.append("micro_f1, macro_f1 omitted: they need 0/1 targets, these are soft")
    elif sk is None:
        notes.append(f"micro_f1, macro_f1 omitted: {_SKLEARN_MISSING}")
    else:
        truth, guess = y.astype(np.int64), (p > 0.5).astype(np.int64)
        for average in ("micro", "macro"):
            # A label with no true and no predicted positive scores 0 (scikit-learn's
            # default, made explicit to silence its warning).
            score = sk.f1_score(truth, guess, average=average, zero_division=0.0)
            metrics[f"{average}_f1"] = float(score)
    metrics["ece"] = _binary_calibration(p, y)
    metrics["prediction_entropy"] = float(np.mean(binary_entropy(p)))
    return metrics, notes


def _soft(pred: np.ndarray, targets: np.ndarray, from_logits: bool, loss: Any) -> Scores:
    t = targets.astype(np.float64)
    check(pred, t, loss=loss)
    q = _probabilities(pred, from_logits, "softmax")
    hit = np.argmax(q, axis=1) == np.argmax(t, axis=1)
    metrics = {
        "cross_entropy": float(loss(pred, t)),
        "kl_divergence": float(np.mean(kl_divergence(t, q))),
        "accuracy": float(np.mean(hit)),
        "ece": expected_calibration_error(np.max(q, axis=1), hit),
        "target_entropy": float(np.mean(entropy(t))),
        "prediction_entropy": float(np.mean(entropy(q))),
    }
    return metrics, []


# ---------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------

HELP = "score saved predictions (.npy/.npz/.csv)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``crossent eval``: PRED, TARGET, the input kind, the task, --json."""
    parser.add_argument("pred", help="predictions: .npy, .npz (FILE.npz:KEY) or .csv")
    parser.add_argument(
        "target", help="targets: labels [N], or one-hot / multi-hot / probability rows [N, C]"
    )
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument(
        "--from-logits",
        dest="from_logits",
        action="store_true",
        default=None,
        help="predictions are logits",
    )
    kind.add_argument(
        "--probs", dest="from_logits", action="store_false", help="predictions are probabilities"
    )
    parser.add_argument(
        "--task",
        default="auto",
        choices=["auto", *TASKS],
        help="the task (default: inferred from the targets)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--plot", metavar="FILE.svg|png", help="write the reliability diagram (binary, multi-class)"
    )


def run(args: argparse.Namespace) -> int:
    """Score the files and print the metrics; a guessed input kind is a warning on stderr.

    Returns:
        The exit code, 0.

    Raises:
        InputError: unreadable files, files of different lengths, inputs :func:`evaluate`
            refuses.
    """
    plot = getattr(args, "plot", None)
    if plot is not None and Path(plot).suffix not in PLOT_FORMATS:
        raise InputError(f"--plot must name a .svg or .png file; got {plot!r}.")
    pred = load_array(args.pred, what="prediction")
    target = load_array(args.target, what="target")
    same_samples(pred, target, args.pred, args.target)
    try:
        result = evaluate(pred, target, from_logits=args.from_logits, task=args.task)
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc)) from exc
    if plot is not None:
        if result["calibration"] is None:
            raise InputError(
                f"--plot needs a binary or multi-class task; got task {result['task']!r}."
            )
        from_logits = result["input"] == "logits"
        scored, labels = calibration_inputs(
            np.asarray(pred, dtype=np.float64), np.asarray(target), from_logits, result["task"]
        )
        plot_reliability(
            Path(plot), scored, labels, from_logits=from_logits, title=Path(args.pred).name
        )
    if result["input_guess"]:
        print(
            f"crossent eval: warning: treating {args.pred} as {result['input']} "
            f"({result['input_guess']}); pass --probs or --from-logits to say which.",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"task: {result['task']}   input: {result['input']}   samples: {result['n']}")
    print(f"loss: {result['loss']}")
    rows = [[name, f"{value:.6g}"] for name, value in result["metrics"].items()]
    print(format_table(["metric", "value"], rows))
    if result["calibration"] is not None:
        rows = [[name, f"{value:.6g}"] for name, value in result["calibration"].items()]
        print(f"calibration ({CALIBRATION_BINS} bins; adaptive: equal mass):")
        print(format_table(["measure", "value"], rows))
    if plot is not None:
        print(f"reliability diagram written to {plot}")
    for note in result["notes"]:
        print(f"note: {note}")
    return 0
