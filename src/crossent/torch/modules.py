"""``torch.nn.Module`` wrappers of the functional losses.

Each module stores its options (array options such as ``weight`` as buffers, so that
``.to(device)`` moves them) and calls the one functional implementation. Modules whose
loss has a class axis put it at dim 1, as ``torch.nn`` does, so that they drop in for
``torch.nn.CrossEntropyLoss``, ``BCEWithLogitsLoss`` and ``BCELoss``: ``[N, C]``,
``[N, C, d1, ...]`` or an unbatched ``[C]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from crossent.losses import (
    GHMC,
    asymmetric_loss,
    binary_cross_entropy,
    categorical_cross_entropy,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    softmax_cross_entropy,
    softmax_focal_loss,
)
from crossent.losses.categorical import DEFAULT_EPS

__all__ = [
    "AsymmetricLoss",
    "BinaryCrossEntropyLoss",
    "CategoricalCrossEntropyLoss",
    "GHMClassificationLoss",
    "SigmoidBinaryCrossEntropyLoss",
    "SigmoidFocalLoss",
    "SoftmaxCrossEntropyLoss",
    "SoftmaxFocalLoss",
]


def torch_class_axis(prediction: torch.Tensor) -> int:
    """``torch.nn``'s class dimension: 1 for batched inputs, 0 for an unbatched ``[C]``."""
    return 1 if prediction.ndim >= 2 else 0


class FunctionalLoss(nn.Module):
    """Base of the wrappers: a functional loss with fixed keyword options.

    Tensor options are registered as buffers; ``class_axis=True`` passes ``axis`` in
    ``torch.nn``'s layout.
    """

    loss_fn: Callable[..., Any]
    class_axis: bool = False

    def __init__(self, *, buffers: dict[str, torch.Tensor | None], **options: Any) -> None:
        super().__init__()
        self._buffer_names = tuple(buffers)
        for name, value in buffers.items():
            self.register_buffer(name, value)
        self.options = options

    def forward(self, prediction: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        kwargs = dict(self.options)
        kwargs.update({name: getattr(self, name) for name in self._buffer_names})
        if self.class_axis:
            kwargs["axis"] = torch_class_axis(prediction)
        return type(self).loss_fn(prediction, targets, **kwargs)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())


class SoftmaxCrossEntropyLoss(FunctionalLoss):
    """:func:`crossent.softmax_cross_entropy` as a module; drops in for ``nn.CrossEntropyLoss``.

    Args:
        weight: per-class weights ``[C]``. Default: ``None``.
        ignore_index: Default: ``-100``.
        label_smoothing: Default: ``0.0``.
        z_loss: Default: ``0.0``.
        logit_softcap: Default: ``None``.
        reduction: Default: ``"mean"``.

    Shape:
        input ``[N, C]``, ``[N, C, d1, ...]`` or ``[C]``; targets class indices ``[N, d1, ...]``
        or probabilities of the input's shape.

    Example:
        >>> import torch
        >>> from crossent.torch import SoftmaxCrossEntropyLoss
        >>> loss = SoftmaxCrossEntropyLoss(label_smoothing=0.1)
        >>> x = torch.zeros(2, 3, requires_grad=True)
        >>> out = loss(x, torch.tensor([0, 2]))
        >>> out.backward()
        >>> round(out.item(), 4)
        1.0986
    """

    loss_fn = staticmethod(softmax_cross_entropy)
    class_axis = True

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        *,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
        logit_softcap: float | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            buffers={"weight": weight},
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            z_loss=z_loss,
            logit_softcap=logit_softcap,
            reduction=reduction,
        )


class CategoricalCrossEntropyLoss(FunctionalLoss):
    """:func:`crossent.categorical_cross_entropy` (probabilities in) as a module, class dim 1.

    Args:
        weight: per-class weights ``[C]``. Default: ``None``.
        ignore_index: Default: ``-100``.
        eps: Default: ``exp(-100)``.
        reduction: Default: ``"mean"``.
    """

    loss_fn = staticmethod(categorical_cross_entropy)
    class_axis = True

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        *,
        ignore_index: int | None = -100,
        eps: float = DEFAULT_EPS,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            buffers={"weight": weight}, ignore_index=ignore_index, eps=eps, reduction=reduction
        )


class SigmoidBinaryCrossEntropyLoss(FunctionalLoss):
    """:func:`crossent.sigmoid_binary_cross_entropy` as a module; drops in for ``nn.BCEWithLogitsLoss``.

    Args:
        weight: elementwise weight broadcastable to the input. Default: ``None``.
        pos_weight: weight of positives, broadcastable to the input (e.g. ``[L]``). Default: ``None``.
        label_smoothing: Default: ``0.0``.
        reduction: Default: ``"mean"``.

    Shape:
        input any shape; targets the same shape, in [0, 1].
    """

    loss_fn = staticmethod(sigmoid_binary_cross_entropy)

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        *,
        pos_weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            buffers={"weight": weight, "pos_weight": pos_weight},
            label_smoothing=label_smoothing,
            reduction=reduction,
        )


class BinaryCrossEntropyLoss(FunctionalLoss):
    """:func:`crossent.binary_cross_entropy` (probabilities in) as a module; drops in for ``nn.BCELoss``.

    Args:
        weight: elementwise weight broadcastable to the input. Default: ``None``.
        eps: Default: ``exp(-100)`` (``log p ≥ -100``, as ``nn.BCELoss``).
        reduction: Default: ``"mean"``.
    """

    loss_fn = staticmethod(binary_cross_entropy)

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        *,
        eps: float = DEFAULT_EPS,
        reduction: str = "mean",
    ) -> None:
        super().__init__(buffers={"weight": weight}, eps=eps, reduction=reduction)


class SigmoidFocalLoss(FunctionalLoss):
    """:func:`crossent.sigmoid_focal_loss` as a module (torchvision's ``sigmoid_focal_loss``).

    Args:
        alpha: weight of positives in [0, 1]; ``None`` is off. Default: ``0.25``.
        gamma: Default: ``2.0``.
        weight: elementwise weight broadcastable to the input. Default: ``None``.
        reduction: Default: ``"mean"`` (over elements).

    Shape:
        input any shape; targets the same shape, in [0, 1].

    Example:
        >>> import torch
        >>> from crossent.torch import SigmoidFocalLoss
        >>> loss = SigmoidFocalLoss(gamma=0.0, alpha=None)
        >>> round(loss(torch.zeros(2, 3), torch.ones(2, 3)).item(), 4)
        0.6931
    """

    loss_fn = staticmethod(sigmoid_focal_loss)

    def __init__(
        self,
        *,
        alpha: float | None = 0.25,
        gamma: float = 2.0,
        weight: torch.Tensor | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(buffers={"weight": weight}, alpha=alpha, gamma=gamma, reduction=reduction)


class SoftmaxFocalLoss(FunctionalLoss):
    """:func:`crossent.softmax_focal_loss` as a module, class dim 1 (as ``nn.CrossEntropyLoss``).

    Args:
        alpha: ``None``, a number, or per-class weights ``[C]`` (a tensor or a list; kept
            as a buffer). Default: ``None``.
        gamma: Default: ``2.0``.
        ignore_index: Default: ``-100``.
        reduction: Default: ``"mean"`` (over non-ignored samples).

    Shape:
        input ``[N, C]``, ``[N, C, d1, ...]`` or ``[C]``; targets class indices
        ``[N, d1, ...]`` or probabilities of the input's shape.

    Example:
        >>> import torch
        >>> from crossent.torch import SoftmaxFocalLoss
        >>> loss = SoftmaxFocalLoss(alpha=[1.0, 2.0, 1.0], gamma=0.0)
        >>> round(loss(torch.zeros(2, 3), torch.tensor([1, 1])).item(), 4)
        2.1972
    """

    loss_fn = staticmethod(softmax_focal_loss)
    class_axis = True

    def __init__(
        self,
        *,
        alpha: torch.Tensor | list[float] | float | None = None,
        gamma: float = 2.0,
        ignore_index: int | None = -100,
        reduction: str = "mean",
    ) -> None:
        options: dict[str, Any] = {
            "gamma": gamma,
            "ignore_index": ignore_index,
            "reduction": reduction,
        }
        if isinstance(alpha, (list, tuple)):
            alpha = torch.tensor(alpha, dtype=torch.get_default_dtype())
        if isinstance(alpha, torch.Tensor):
            super().__init__(buffers={"alpha": alpha}, **options)
        else:
            super().__init__(buffers={}, alpha=alpha, **options)


class AsymmetricLoss(FunctionalLoss):
    """:func:`crossent.asymmetric_loss` as a module (multi-label; timm's ``AsymmetricLossMultiLabel``).

    Args:
        gamma_pos: Default: ``0.0``.
        gamma_neg: Default: ``4.0``.
        clip: Default: ``0.05``; ``None`` is off.
        weight: elementwise weight broadcastable to the input. Default: ``None``.
        reduction: Default: ``"mean"`` (timm returns the sum: use ``"sum"`` to match).

    Shape:
        input ``[N, L]`` (any shape); targets the same shape, in [0, 1].
    """

    loss_fn = staticmethod(asymmetric_loss)

    def __init__(
        self,
        *,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float | None = 0.05,
        weight: torch.Tensor | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            buffers={"weight": weight},
            gamma_pos=gamma_pos,
            gamma_neg=gamma_neg,
            clip=clip,
            reduction=reduction,
        )


class GHMClassificationLoss(nn.Module):
    """GHM-C (:class:`crossent.GHMC`) as a module: mmdetection's ``GHMC`` with a ``reduction``.

    With ``momentum > 0`` the running bin counts are the buffer ``density`` (in the
    ``state_dict``, moved by ``.to(device)``), updated in place on every forward call and
    kept in the buffer's dtype (float32, as mmdetection's ``acc_sum``; ``.double()`` keeps
    it in float64); ``momentum=0`` keeps no state and is
    :func:`crossent.ghm_classification_loss`.

    Args:
        bins: Default: ``10``.
        momentum: Default: ``0.75``.
        reduction: Default: ``"mean"`` (over valid elements).

    Shape:
        input any shape (``[N, C]``); targets the same shape, in [0, 1]; ``weight``
        (mmdetection's ``label_weight``, 0 = ignored) broadcastable to the input.

    Example:
        >>> import torch
        >>> from crossent.torch import GHMClassificationLoss
        >>> loss = GHMClassificationLoss(bins=2, momentum=0.5)
        >>> round(loss(torch.tensor([-5.0, -5.0, -5.0, 0.0]), torch.zeros(4)).item(), 4)
        0.6999
        >>> loss.density
        tensor([1.5000, 0.5000])
    """

    density: torch.Tensor | None

    def __init__(self, bins: int = 10, *, momentum: float = 0.75, reduction: str = "mean") -> None:
        super().__init__()
        self.ghmc = GHMC(bins, momentum=momentum)
        self.reduction = reduction
        self.register_buffer("density", torch.zeros(bins) if self.ghmc.momentum else None)

    def forward(
        self, logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        self.ghmc.density = self.density
        loss = self.ghmc(logits, targets, weight=weight, reduction=self.reduction)
        if self.density is not None:
            with torch.no_grad():
                self.density.copy_(self.ghmc.density)
        return loss

    def extra_repr(self) -> str:
        return f"bins={self.ghmc.bins}, momentum={self.ghmc.momentum}, reduction={self.reduction!r}"
