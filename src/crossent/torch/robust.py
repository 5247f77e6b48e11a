"""``torch.nn.Module`` wrappers of the noise-robust cross-entropies, class dim 1.

Each drops in for ``nn.CrossEntropyLoss`` (``[N, C]``, ``[N, C, d1, ...]`` or an
unbatched ``[C]``; class indices or probability targets) and calls the one functional
implementation of :mod:`crossent.losses.robust`.
"""

from __future__ import annotations

import torch

from crossent.losses.robust import (
    bi_tempered_logistic_loss,
    generalized_cross_entropy,
    poly1_cross_entropy,
    symmetric_cross_entropy,
)
from crossent.torch.modules import FunctionalLoss

__all__ = [
    "BiTemperedLogisticLoss",
    "GeneralizedCrossEntropy",
    "Poly1CrossEntropy",
    "SymmetricCrossEntropy",
]


class GeneralizedCrossEntropy(FunctionalLoss):
    """:func:`crossent.generalized_cross_entropy` as a module, class dim 1.

    Args:
        q: the exponent in (0, 1]. Default: ``0.7``.
        weight: per-class weights ``[C]``. Default: ``None``.
        ignore_index: Default: ``-100``.
        reduction: Default: ``"mean"`` (over non-ignored samples).

    Shape:
        input ``[N, C]``, ``[N, C, d1, ...]`` or ``[C]``; targets class indices
        ``[N, d1, ...]`` or probabilities of the input's shape.

    Example:
        >>> import torch
        >>> from crossent.torch import GeneralizedCrossEntropy
        >>> loss = GeneralizedCrossEntropy(q=1.0)
        >>> round(loss(torch.zeros(2, 4), torch.tensor([0, 3])).item(), 4)  # 1 - 1/4
        0.75
    """

    loss_fn = staticmethod(generalized_cross_entropy)
    class_axis = True

    def __init__(
        self,
        q: float = 0.7,
        *,
        weight: torch.Tensor | None = None,
        ignore_index: int | None = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            buffers={"weight": weight}, q=q, ignore_index=ignore_index, reduction=reduction
        )


class Poly1CrossEntropy(FunctionalLoss):
    """:func:`crossent.poly1_cross_entropy` as a module, class dim 1.

    Args:
        epsilon: Default: ``1.0``.
        label_smoothing: Default: ``0.0``.
        weight: per-class weights ``[C]``. Default: ``None``.
        ignore_index: Default: ``-100``.
        reduction: Default: ``"mean"`` (over non-ignored samples).

    Shape:
        as :class:`GeneralizedCrossEntropy`.

    Example:
        >>> import torch
        >>> from crossent.torch import Poly1CrossEntropy
        >>> x, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
        >>> bool(torch.isclose(Poly1CrossEntropy(epsilon=0.0)(x, y), torch.nn.CrossEntropyLoss()(x, y)))
        True
    """

    loss_fn = staticmethod(poly1_cross_entropy)
    class_axis = True

    def __init__(
        self,
        epsilon: float = 1.0,
        *,
        label_smoothing: float = 0.0,
        weight: torch.Tensor | None = None,
        ignore_index: int | None = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            buffers={"weight": weight},
            epsilon=epsilon,
            label_smoothing=label_smoothing,
            ignore_index=ignore_index,
            reduction=reduction,
        )


class SymmetricCrossEntropy(FunctionalLoss):
    """:func:`crossent.symmetric_cross_entropy` as a module, class dim 1.

    Args:
        alpha: weight of the cross-entropy. Default: ``0.1``.
        beta: weight of the reverse cross-entropy. Default: ``1.0``.
        log_zero: the value of log 0, negative. Default: ``-4.0``.
        weight: per-class weights ``[C]``. Default: ``None``.
        ignore_index: Default: ``-100``.
        reduction: Default: ``"mean"`` (over non-ignored samples).

    Shape:
        as :class:`GeneralizedCrossEntropy`.

    Example:
        >>> import torch
        >>> from crossent.torch import SymmetricCrossEntropy
        >>> loss = SymmetricCrossEntropy(alpha=0.0, beta=1.0)
        >>> round(loss(torch.zeros(1, 4), torch.tensor([2])).item(), 4)  # -A (1 - 1/4)
        3.0
    """

    loss_fn = staticmethod(symmetric_cross_entropy)
    class_axis = True

    def __init__(
        self,
        alpha: float = 0.1,
        beta: float = 1.0,
        *,
        log_zero: float = -4.0,
        weight: torch.Tensor | None = None,
        ignore_index: int | None = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            buffers={"weight": weight},
            alpha=alpha,
            beta=beta,
            log_zero=log_zero,
            ignore_index=ignore_index,
            reduction=reduction,
        )


class BiTemperedLogisticLoss(FunctionalLoss):
    """:func:`crossent.bi_tempered_logistic_loss` as a module, class dim 1 (gradient by autograd).

    Args:
        t1: temperature of the log, in [0, 1]. Default: ``0.8``.
        t2: temperature of the exp, ≥ 1. Default: ``1.2``.
        label_smoothing: Default: ``0.0``.
        num_iters: fixed-point iterations of the normaliser. Default: ``5``.
        weight: per-class weights ``[C]``. Default: ``None``.
        ignore_index: Default: ``-100``.
        reduction: Default: ``"mean"`` (over non-ignored samples).

    Shape:
        as :class:`GeneralizedCrossEntropy`.

    Example:
        >>> import torch
        >>> from crossent.torch import BiTemperedLogisticLoss
        >>> x, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
        >>> loss = BiTemperedLogisticLoss(t1=1.0, t2=1.0)
        >>> bool(torch.isclose(loss(x, y), torch.nn.CrossEntropyLoss()(x, y)))
        True
    """

    loss_fn = staticmethod(bi_tempered_logistic_loss)
    class_axis = True

    def __init__(
        self,
        t1: float = 0.8,
        t2: float = 1.2,
        *,
        label_smoothing: float = 0.0,
        num_iters: int = 5,
        weight: torch.Tensor | None = None,
        ignore_index: int | None = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            buffers={"weight": weight},
            t1=t1,
            t2=t2,
            label_smoothing=label_smoothing,
            num_iters=num_iters,
            ignore_index=ignore_index,
            reduction=reduction,
        )
