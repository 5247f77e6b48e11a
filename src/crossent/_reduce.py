"""Reductions: the one implementation of ``reduction="none" | "mean" | "sum"``.

``"mean"`` has PyTorch's meaning (DESIGN.md): it divides the sum of the per-element
losses by a *divisor* that the loss supplies — ``Σ weight[y_i]`` over the non-ignored
targets for class-index losses with class weights, otherwise the number of elements
that count. When the divisor is 0 (every target ignored, or all weights 0) the mean is
0 with a zero gradient, never NaN; PyTorch returns NaN there, a deliberate difference.
"""

from __future__ import annotations

from typing import Any

from crossent import _checks
from crossent._array import index_dtype, numel, to_float


def safe_divisor(xp: Any, divisor: Any, like: Any) -> Any:
    """``divisor`` with 0 replaced by 1, so that an all-ignored mean is ``0 / 1 = 0``."""
    if isinstance(divisor, (int, float)):
        return divisor if divisor > 0 else 1
    divisor = to_float(xp, divisor, like.dtype)
    return xp.where(divisor > 0, divisor, xp.ones_like(divisor))


def reduce(xp: Any, loss: Any, reduction: str, divisor: Any = None) -> Any:
    """Reduce per-element ``loss`` (ignored elements already 0).

    Args:
        loss: per-element losses.
        reduction: ``"none"`` returns ``loss``; ``"sum"`` its sum; ``"mean"`` its sum
            divided by ``divisor`` (default: the number of elements).
        divisor: what ``"mean"`` divides by; a Python number or a 0-d array.
    """
    _checks.reduction(reduction)
    if reduction == "none":
        return loss
    total = xp.sum(loss)
    if reduction == "sum":
        return total
    if divisor is None:
        divisor = numel(loss)
    return total / safe_divisor(xp, divisor, total)


def scale_gradient(xp: Any, grad: Any, reduction: str, divisor: Any = None) -> Any:
    """The gradient of the reduced loss, from the gradient of each element's own loss.

    For ``"none"`` and ``"sum"`` every element's loss enters with weight 1 (the closed-form
    gradient of ``"none"`` is that of ``sum``, i.e. a vector-Jacobian product with ones);
    ``"mean"`` divides by the same divisor as :func:`reduce`.
    """
    _checks.reduction(reduction)
    if reduction != "mean":
        return grad
    if divisor is None:
        raise ValueError("internal: a mean gradient needs its divisor.")
    return grad / safe_divisor(xp, divisor, grad)


def count(xp: Any, mask: Any) -> Any:
    """Number of ``True`` entries of ``mask``, as a 0-d integer array."""
    return xp.sum(xp.astype(mask, index_dtype(xp)))
