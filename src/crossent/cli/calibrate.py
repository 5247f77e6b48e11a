"""``crossent calibrate``: fit a post-hoc calibrator by NLL on validation logits.

``crossent calibrate VAL_PRED VAL_TARGET [--method temperature|vector|matrix]
[--apply TEST_PRED [--test-target TEST_TARGET] [--out FILE.npy]] [--json]`` fits the
calibrator of :mod:`crossent.calibration` on the validation logits ``[N, C]`` and class
labels ``[N]`` (``--probs``: predicted probabilities instead, calibrated through their
logarithms — softmax of ``log p / T`` is the tempered distribution), and reports NLL, ECE (15 uniform bins) and accuracy before and after, on
the validation data and — when ``--test-target`` is given — on ``TEST_PRED``. ``--out``
writes the calibrated probabilities of ``TEST_PRED`` as ``.npy``, whole or not at all.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from crossent._io import atomic_write_bytes

from .evaluate import class_indices
from .files import InputError, load_array, same_samples
from .table import format_table

__all__ = ["HELP", "METHODS", "add_arguments", "calibrate", "run"]

HELP = "fit temperature, vector or matrix scaling by NLL on validation logits"

METHODS = ("temperature", "vector", "matrix")


def _as_logits(pred: np.ndarray, name: str, from_probs: bool) -> np.ndarray:
    r"""``pred`` as float64 logits ``[N, C]``: itself, or :math:`\log p` under ``from_probs``.

    Probabilities are floored at the smallest normal float64 before the log, so a predicted
    0 becomes a logit near −708 (finite for vector and matrix scaling) rather than −∞.
    Logits that look like probabilities (every row in [0, 1], summing to 1) are refused:
    temperature-scaling them would soften an already normalised distribution.
    """
    from crossent._guardrails import sums_to_one

    pred = np.asarray(pred, dtype=np.float64)
    what = "probabilities" if from_probs else "logits"
    if pred.ndim != 2 or pred.shape[1] < 2:
        raise ValueError(
            f"`{name}` must hold {what} [N, C] with C >= 2 classes; got shape {pred.shape}."
        )
    in_unit = bool(np.all((pred >= 0) & (pred <= 1)))
    distributions = in_unit and bool(np.all(sums_to_one(np, pred, loose=True)))
    if from_probs:
        if not distributions:
            raise ValueError(
                f"`{name}` must hold probabilities (rows in [0, 1] summing to 1) with "
                "--probs; drop --probs to pass logits."
            )
        return np.log(np.maximum(pred, np.finfo(np.float64).tiny))
    if distributions and pred.size:
        raise ValueError(
            f"`{name}` looks like probabilities, not logits: every row lies in [0, 1] and sums "
            "to 1. Pass --probs (from_probs=True) to calibrate their logarithms, or pass the "
            "logits (the layer before the softmax)."
        )
    return pred


def _logits_and_labels(
    pred: np.ndarray, target: np.ndarray, name: str, from_probs: bool = False
) -> tuple[Any, Any]:
    pred = _as_logits(pred, name, from_probs)
    if target.ndim != 1:
        raise ValueError(f"targets of `{name}` must be class labels [N]; got shape {target.shape}.")
    return pred, class_indices(target)


def _scores(logits: Any, labels: Any) -> dict[str, float]:
    """NLL, ECE and accuracy of softmax(``logits``) at ``labels``."""
    from crossent import calibration
    from crossent.losses import softmax_cross_entropy

    return {
        "nll": float(softmax_cross_entropy(logits, labels, ignore_index=None)),
        "ece": float(calibration.calibration_error(logits, labels, from_logits=True)),
        "accuracy": float(np.mean(np.argmax(logits, axis=1) == labels)),
    }


def calibrate(
    val_pred: np.ndarray,
    val_target: np.ndarray,
    *,
    method: str = "temperature",
    test_pred: np.ndarray | None = None,
    test_target: np.ndarray | None = None,
    from_probs: bool = False,
) -> tuple[dict[str, Any], np.ndarray | None]:
    r"""Fit ``method`` on the validation logits; score before and after.

    Args:
        val_pred: ``[N, C]`` validation logits.
        val_target: ``[N]`` validation class labels.
        method: ``"temperature"``, ``"vector"`` or ``"matrix"``. Default: ``"temperature"``.
        test_pred: ``[M, C]`` logits to calibrate, or None.
        test_target: ``[M]`` labels of ``test_pred`` to score it, or None.
        from_probs: ``val_pred`` and ``test_pred`` hold probabilities; their logarithms are
            calibrated (:math:`\mathrm{softmax}(\log p / T) \propto p^{1/T}`). Default: False.

    Returns:
        ``({"method", "state", "validation": {"before", "after"}, "test": ... or None},
        calibrated test probabilities [M, C] or None)``.

    Raises:
        ValueError: shapes, labels out of range, non-finite logits, an unknown method.

    Example:
        >>> import numpy as np
        >>> z = np.array([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0], [0.0, 3.0]])
        >>> result, _ = calibrate(z, np.array([0, 1, 1, 1]))
        >>> result["validation"]["after"]["nll"] < result["validation"]["before"]["nll"]
        True
    """
    from crossent import calibration

    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}; got method={method!r}.")
    z, y = _logits_and_labels(val_pred, val_target, "VAL_PRED", from_probs)
    calibrator: Any = {
        "temperature": calibration.TemperatureScaling,
        "vector": calibration.VectorScaling,
        "matrix": calibration.MatrixScaling,
    }[method]()
    calibrator.fit(z, y)
    result: dict[str, Any] = {
        "method": method,
        "state": calibrator.state_dict(),
        "validation": {"n": len(y), "before": _scores(z, y), "after": _scores(calibrator(z), y)},
        "test": None,
    }
    probs = None
    if test_pred is not None:
        t = _as_logits(test_pred, "TEST_PRED", from_probs)
        if t.shape[1] != z.shape[1]:
            raise ValueError(
                f"`TEST_PRED` must hold {'probabilities' if from_probs else 'logits'} "
                f"[M, {z.shape[1]}] like VAL_PRED; got shape {t.shape}."
            )
        calibrated = calibrator(t)
        from crossent._array import namespace, softmax

        probs = np.asarray(softmax(namespace(calibrated), calibrated, axis=-1))
        if test_target is not None:
            tt, ty = _logits_and_labels(t, test_target, "TEST_PRED")
            result["test"] = {
                "n": len(ty),
                "before": _scores(tt, ty),
                "after": _scores(calibrated, ty),
            }
    return result, probs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``crossent calibrate``."""
    parser.add_argument(
        "val_pred", help="validation logits [N, C]: .npy, .npz (FILE.npz:KEY) or .csv"
    )
    parser.add_argument("val_target", help="validation class labels [N]")
    parser.add_argument(
        "--method",
        default="temperature",
        choices=METHODS,
        help="the calibrator (default: temperature)",
    )
    parser.add_argument("--apply", metavar="TEST_PRED", help="logits [M, C] to calibrate")
    parser.add_argument(
        "--probs",
        action="store_true",
        help="VAL_PRED and TEST_PRED hold probabilities: calibrate their logarithms",
    )
    parser.add_argument(
        "--test-target",
        metavar="TEST_TARGET",
        help="labels [M] of TEST_PRED: score it before and after",
    )
    parser.add_argument(
        "--out", metavar="FILE.npy", help="write the calibrated probabilities of TEST_PRED here"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def run(args: argparse.Namespace) -> int:
    """Fit, report, and write ``--out`` when asked.

    Returns:
        The exit code, 0.

    Raises:
        InputError: unreadable files, inconsistent options or shapes, bad labels.
    """
    if (args.test_target or args.out) and not args.apply:
        raise InputError("--test-target and --out need --apply TEST_PRED.")
    if args.out and Path(args.out).suffix != ".npy":
        raise InputError(f"--out must name a .npy file; got {args.out!r}.")
    val_pred = load_array(args.val_pred, what="prediction")
    val_target = load_array(args.val_target, what="target")
    same_samples(val_pred, val_target, args.val_pred, args.val_target)
    test_pred = test_target = None
    if args.apply:
        test_pred = load_array(args.apply, what="prediction")
        if args.test_target:
            test_target = load_array(args.test_target, what="target")
            same_samples(test_pred, test_target, args.apply, args.test_target)
    try:
        result, probs = calibrate(
            val_pred,
            val_target,
            method=args.method,
            test_pred=test_pred,
            test_target=test_target,
            from_probs=args.probs,
        )
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc)) from exc
    if args.out and probs is not None:
        atomic_write_bytes(Path(args.out), _npy_bytes(probs))
        result["out"] = args.out
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    state = result["state"]
    fitted = (
        f"temperature T = {state['temperature']:.6g}"
        if args.method == "temperature"
        else f"{args.method} scaling over {len(state['bias'])} classes"
    )
    print(f"fitted on {args.val_pred} ({result['validation']['n']} samples): {fitted}")
    rows = []
    for split in ("validation", "test"):
        if result[split] is None:
            continue
        for when in ("before", "after"):
            s = result[split][when]
            rows.append([split, when, f"{s['nll']:.6g}", f"{s['ece']:.6g}", f"{s['accuracy']:.6g}"])
    print(format_table(["data", "", "NLL", "ECE", "accuracy"], rows))
    if "out" in result:
        print(f"calibrated probabilities written to {result['out']}")
    return 0
