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
from crossent.losses import (
    binary_cross_entropy,
    categorical_cross_entropy,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
)
from crossent.losses.categorical import DEFAULT_EPS
from torch import nn

__all__ = [
    "BinaryCrossEntropyLoss",
    "CategoricalCrossEntropyLoss",
    "SigmoidBinaryCrossEntropyLoss",
    "SoftmaxCrossEntropyLoss",
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
