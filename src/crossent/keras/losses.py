"""Keras 3 ``Loss`` classes over crossent's functional losses, for every Keras backend.

Each class computes per-sample losses with the one functional implementation of
:mod:`crossent.losses`, called on the backend's own tensors (TensorFlow, JAX or PyTorch),
and leaves weighting by ``sample_weight``, masks and the reduction to Keras'
``keras.losses.Loss`` base, so that everything Keras users expect holds: the argument
order ``loss(y_true, y_pred, sample_weight=None)``, ``reduction="sum_over_batch_size"``
and the other Keras reductions, ``name``, ``dtype``, masks, ``get_config`` /
``from_config`` and saving in ``.keras`` files.

Per-sample losses follow Keras' own losses, so that the numbers agree with them:

* softmax family (:class:`SoftmaxCrossEntropy`, :class:`CategoricalCrossEntropy`,
  :class:`SoftmaxFocalLoss`): one loss per sample, the class axis removed. Targets are
  class indices when they have one dimension fewer than ``y_pred`` or a class axis of
  size 1 (Keras' sparse labels ``[N, 1]``), else probabilities of ``y_pred``'s shape.
  Samples whose index is ``ignore_index`` are masked, so that ``"sum_over_batch_size"``
  averages over the others (Keras' ``ignore_class``).
* sigmoid family (:class:`SigmoidBinaryCrossEntropy`, :class:`BinaryCrossEntropy`,
  :class:`SigmoidFocalLoss`, :class:`AsymmetricLoss`): the elementwise losses averaged
  over the last axis (Keras' ``BinaryCrossentropy`` rule); labels ``[N]`` for outputs
  ``[N, 1]`` are expanded to match.

``check=True`` (the default) runs :func:`crossent.task.check` on every call: its shape
checks always (a softmax over one output unit is refused, where Keras only warns), its
value checks where values exist — eagerly, not while ``tf.function`` or ``jax.jit`` trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from crossent.losses import (
    asymmetric_loss,
    binary_cross_entropy,
    categorical_cross_entropy,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    softmax_cross_entropy,
    softmax_focal_loss,
)
from crossent.losses.categorical import DEFAULT_EPS
from keras import ops

__all__ = [
    "AsymmetricLoss",
    "BinaryCrossEntropy",
    "CategoricalCrossEntropy",
    "SigmoidBinaryCrossEntropy",
    "SigmoidFocalLoss",
    "SoftmaxCrossEntropy",
    "SoftmaxFocalLoss",
]

_TENSOR_OPTIONS = ("weight", "pos_weight", "alpha")
"""Options that may be arrays: converted to the backend's tensors at each call."""


def _set_keras_mask(x: Any, mask: Any) -> None:
    # Keras' own losses mark ignored samples this way (``ignore_class``); the helper is
    # not exported under keras.*, so it is imported from where they import it.
    from keras.src.backend import set_keras_mask

    set_keras_mask(x, mask)


def _plain(value: Any) -> Any:
    """A config value JSON can hold: arrays and tensors become (nested) lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return ops.convert_to_numpy(value).tolist()


class CrossEntropyLoss(keras.losses.Loss):
    """Base of the classes: a functional crossent loss with fixed keyword options.

    Subclasses set :attr:`loss_fn` and :attr:`family` and pass their options to
    ``__init__``; :meth:`call` gives the per-sample losses that Keras then reduces.
    """

    loss_fn: Callable[..., Any]
    family: str  # "softmax" or "sigmoid"

    def __init__(
        self,
        *,
        check: bool,
        reduction: str | None,
        name: str | None,
        dtype: Any,
        **options: Any,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not isinstance(check, bool):
            raise TypeError(f"`check` must be True or False; got check={check!r}.")
        self.check = check
        self.options = options

    def _tensor_options(self, like: Any) -> dict[str, Any]:
        """The options, array ones as tensors of the backend in ``like``'s dtype."""
        out = dict(self.options)
        for key in _TENSOR_OPTIONS:
            value = out.get(key)
            if value is not None and not isinstance(value, (int, float)):
                out[key] = ops.convert_to_tensor(value, dtype=like.dtype)
        return out

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Per-sample losses of ``y_pred`` against ``y_true`` (see the module docstring)."""
        options = self._tensor_options(y_pred)
        if self.family == "softmax":
            return self._softmax_call(y_true, y_pred, options)
        if len(y_true.shape) == len(y_pred.shape) - 1 and y_pred.shape[-1] == 1:
            y_true = ops.expand_dims(y_true, -1)
        losses = type(self).loss_fn(y_pred, y_true, reduction="none", check=self.check, **options)
        return ops.mean(losses, axis=-1)

    def _softmax_call(self, y_true: Any, y_pred: Any, options: dict[str, Any]) -> Any:
        axis = options.get("axis", -1)
        ndim = len(y_pred.shape)
        class_axis = axis % ndim if ndim else axis
        indices = len(y_true.shape) == ndim - 1
        if (
            not indices
            and len(y_true.shape) == ndim
            and y_true.shape[class_axis] == 1
            and y_pred.shape[class_axis] != 1
        ):
            y_true, indices = ops.squeeze(y_true, axis=class_axis), True
        if indices:
            y_true = ops.cast(y_true, "int32")
        losses = type(self).loss_fn(y_pred, y_true, reduction="none", check=self.check, **options)
        ignore_index = options.get("ignore_index")
        if indices and ignore_index is not None:
            _set_keras_mask(losses, ops.not_equal(y_true, ignore_index))
        return losses

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(dtype=self.dtype, check=self.check)
        config.update({key: _plain(value) for key, value in self.options.items()})
        return config


@keras.saving.register_keras_serializable(package="crossent")
class SoftmaxCrossEntropy(CrossEntropyLoss):
    r"""Keras loss: cross-entropy of softmax(``y_pred``), class indices or probabilities.

    The per-sample loss of :func:`crossent.softmax_cross_entropy` (reduction ``"none"``):
    :math:`-\sum_c a_{ic} \log \mathrm{softmax}(z_i)_c`, with label smoothing, class
    weights, ignored samples, z-loss and logit soft-capping as there. Keras' reduction
    then weights by ``sample_weight``, applies masks and reduces; the default
    ``"sum_over_batch_size"`` divides by the number of samples that are not masked or
    ignored (so with class ``weight`` it differs from the functional ``"mean"``, which
    divides by the sum of the weights).

    Args:
        axis: the class axis of ``y_pred``. Default: ``-1``.
        weight: per-class weights, shape ``[C]`` (a list or an array). Default: ``None``.
        ignore_index: class index whose samples are masked out; ``None`` for none.
            Default: ``-100``.
        label_smoothing: ε in [0, 1]: targets ``(1-ε) y + ε/C``. Default: ``0.0``.
        z_loss: coefficient of the squared log-normaliser. Default: ``0.0``.
        logit_softcap: soft-cap ``c > 0`` of the logits, or ``None``. Default: ``None``.
        check: refuse the classic mistakes (:func:`crossent.task.check`). Default: ``True``.
        reduction: a Keras reduction: ``"sum_over_batch_size"``, ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"``, ``"none"`` or ``None``.
            Default: ``"sum_over_batch_size"``.
        name: the loss's name. Default: ``"softmax_cross_entropy"``.
        dtype: the dtype of the computation; ``None`` is ``keras.backend.floatx()``.
            Default: ``None``.

    Raises:
        ValueError: at call, bad shapes (a softmax over one output unit with
            ``check=True``), class indices out of range, bad options.

    Example:
        >>> import numpy as np
        >>> from crossent.keras import SoftmaxCrossEntropy
        >>> loss = SoftmaxCrossEntropy()
        >>> logits = np.log(np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]], dtype="float32"))
        >>> round(float(loss(np.array([1, 0]), logits)), 4)  # (-log 0.7 - log 0.5) / 2
        0.5249
    """

    loss_fn = staticmethod(softmax_cross_entropy)
    family = "softmax"

    def __init__(
        self,
        *,
        axis: int = -1,
        weight: Any = None,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
        logit_softcap: float | None = None,
        check: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "softmax_cross_entropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            check=check,
            reduction=reduction,
            name=name,
            dtype=dtype,
            axis=axis,
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            z_loss=z_loss,
            logit_softcap=logit_softcap,
        )


@keras.saving.register_keras_serializable(package="crossent")
class CategoricalCrossEntropy(CrossEntropyLoss):
    r"""Keras loss: cross-entropy of predicted probabilities against class indices or probabilities.

    The per-sample loss of :func:`crossent.categorical_cross_entropy`:
    :math:`-\sum_c a_{ic} \log \max(q_{ic}, \epsilon)`, for a model whose last layer is a
    softmax. Prefer :class:`SoftmaxCrossEntropy` on logits, which needs no clamp.

    Args:
        axis: the class axis of ``y_pred``. Default: ``-1``.
        weight: per-class weights, shape ``[C]``. Default: ``None``.
        ignore_index: class index whose samples are masked out; ``None`` for none.
            Default: ``-100``.
        eps: the floor of the probabilities inside the log. Default: ``exp(-100)``.
        check: refuse the classic mistakes (e.g. rows that do not sum to 1).
            Default: ``True``.
        reduction: a Keras reduction. Default: ``"sum_over_batch_size"``.
        name: the loss's name. Default: ``"categorical_cross_entropy"``.
        dtype: the dtype of the computation. Default: ``None`` (``floatx``).

    Raises:
        ValueError: at call, bad shapes, probabilities outside [0, 1] (eagerly).

    Example:
        >>> import numpy as np
        >>> from crossent.keras import CategoricalCrossEntropy
        >>> probs = np.array([[0.2, 0.7, 0.1]], dtype="float32")
        >>> round(float(CategoricalCrossEntropy()(np.array([1]), probs)), 4)  # -log 0.7
        0.3567
    """

    loss_fn = staticmethod(categorical_cross_entropy)
    family = "softmax"

    def __init__(
        self,
        *,
        axis: int = -1,
        weight: Any = None,
        ignore_index: int | None = -100,
        eps: float = DEFAULT_EPS,
        check: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "categorical_cross_entropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            check=check,
            reduction=reduction,
            name=name,
            dtype=dtype,
            axis=axis,
            weight=weight,
            ignore_index=ignore_index,
            eps=eps,
        )


@keras.saving.register_keras_serializable(package="crossent")
class SigmoidBinaryCrossEntropy(CrossEntropyLoss):
    r"""Keras loss: binary cross-entropy on logits, binary and multi-label.

    The elementwise loss of :func:`crossent.sigmoid_binary_cross_entropy`,
    :math:`-w[p_w y \log\sigma(z) + (1-y)\log\sigma(-z)]` with ``y ↦ y(1-ε) + ε/2``,
    averaged over the last axis (as Keras' ``BinaryCrossentropy(from_logits=True)``).

    Args:
        weight: elementwise weights, broadcastable to ``y_pred`` (e.g. one per label).
            Default: ``None``.
        pos_weight: weight of the positive term, broadcastable to ``y_pred``.
            Default: ``None``.
        label_smoothing: ε in [0, 1]. Default: ``0.0``.
        check: refuse the classic mistakes. Default: ``True``.
        reduction: a Keras reduction. Default: ``"sum_over_batch_size"``.
        name: the loss's name. Default: ``"sigmoid_binary_cross_entropy"``.
        dtype: the dtype of the computation. Default: ``None`` (``floatx``).

    Raises:
        ValueError: at call, mismatched shapes, targets outside [0, 1] (eagerly).

    Example:
        >>> import numpy as np
        >>> from crossent.keras import SigmoidBinaryCrossEntropy
        >>> logits = np.array([[0.0], [0.0]], dtype="float32")
        >>> round(float(SigmoidBinaryCrossEntropy()(np.array([1.0, 0.0]), logits)), 4)  # log 2
        0.6931
    """

    loss_fn = staticmethod(sigmoid_binary_cross_entropy)
    family = "sigmoid"

    def __init__(
        self,
        *,
        weight: Any = None,
        pos_weight: Any = None,
        label_smoothing: float = 0.0,
        check: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "sigmoid_binary_cross_entropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            check=check,
            reduction=reduction,
            name=name,
            dtype=dtype,
            weight=weight,
            pos_weight=pos_weight,
            label_smoothing=label_smoothing,
        )


@keras.saving.register_keras_serializable(package="crossent")
class BinaryCrossEntropy(CrossEntropyLoss):
    r"""Keras loss: binary cross-entropy of probabilities (a sigmoid output layer).

    The elementwise loss of :func:`crossent.binary_cross_entropy`,
    :math:`-w[y \log\max(p,\epsilon) + (1-y)\log\max(1-p,\epsilon)]`, averaged over the
    last axis. Prefer :class:`SigmoidBinaryCrossEntropy` on logits.

    Args:
        weight: elementwise weights, broadcastable to ``y_pred``. Default: ``None``.
        eps: the floor of the probabilities inside the logs. Default: ``exp(-100)``.
        check: refuse the classic mistakes (e.g. logits given as probabilities).
            Default: ``True``.
        reduction: a Keras reduction. Default: ``"sum_over_batch_size"``.
        name: the loss's name. Default: ``"binary_cross_entropy"``.
        dtype: the dtype of the computation. Default: ``None`` (``floatx``).

    Raises:
        ValueError: at call, mismatched shapes, values outside [0, 1] (eagerly).

    Example:
        >>> import numpy as np
        >>> from crossent.keras import BinaryCrossEntropy
        >>> probs = np.array([[0.5], [0.5]], dtype="float32")
        >>> round(float(BinaryCrossEntropy()(np.array([1.0, 0.0]), probs)), 4)  # log 2
        0.6931
    """

    loss_fn = staticmethod(binary_cross_entropy)
    family = "sigmoid"

    def __init__(
        self,
        *,
        weight: Any = None,
        eps: float = DEFAULT_EPS,
        check: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "binary_cross_entropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            check=check, reduction=reduction, name=name, dtype=dtype, weight=weight, eps=eps
        )


@keras.saving.register_keras_serializable(package="crossent")
class SigmoidFocalLoss(CrossEntropyLoss):
    r"""Keras loss: the focal loss on logits (Lin et al.), binary and multi-label.

    The elementwise loss of :func:`crossent.sigmoid_focal_loss`,
    :math:`-\alpha_t (1-p_t)^\gamma \log p_t`, averaged over the last axis; equal to Keras'
    ``BinaryFocalCrossentropy(apply_class_balancing=True, from_logits=True)`` with the same
    ``alpha`` and ``gamma``. ``alpha=None`` turns α-balancing off; ``gamma=0`` gives the
    α-balanced binary cross-entropy.

    Args:
        alpha: weight of the positives in [0, 1], or ``None``. Default: ``0.25``.
        gamma: focusing exponent γ ≥ 0. Default: ``2.0``.
        weight: elementwise weights, broadcastable to ``y_pred``. Default: ``None``.
        check: refuse the classic mistakes. Default: ``True``.
        reduction: a Keras reduction. Default: ``"sum_over_batch_size"``.
        name: the loss's name. Default: ``"sigmoid_focal_loss"``.
        dtype: the dtype of the computation. Default: ``None`` (``floatx``).

    Raises:
        ValueError: at call, mismatched shapes, targets outside [0, 1] (eagerly), bad
            ``alpha``/``gamma``.

    References:
        Lin et al. "Focal Loss for Dense Object Detection." ICCV 2017.
        https://arxiv.org/abs/1708.02002

    Example:
        >>> import numpy as np
        >>> from crossent.keras import SigmoidFocalLoss
        >>> logits = np.array([[0.0]], dtype="float32")
        >>> round(float(SigmoidFocalLoss(alpha=None, gamma=1.0)(np.array([1.0]), logits)), 4)
        0.3466
    """

    loss_fn = staticmethod(sigmoid_focal_loss)
    family = "sigmoid"

    def __init__(
        self,
        *,
        alpha: float | None = 0.25,
        gamma: float = 2.0,
        weight: Any = None,
        check: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "sigmoid_focal_loss",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            check=check,
            reduction=reduction,
            name=name,
            dtype=dtype,
            alpha=alpha,
            gamma=gamma,
            weight=weight,
        )


@keras.saving.register_keras_serializable(package="crossent")
class SoftmaxFocalLoss(CrossEntropyLoss):
    r"""Keras loss: the multi-class focal loss on logits.

    The per-sample loss of :func:`crossent.softmax_focal_loss`,
    :math:`-\alpha_{y}(1-q_{y})^\gamma \log q_{y}` (or the sum over classes for
    probability targets); targets as :class:`SoftmaxCrossEntropy`.

    Args:
        alpha: ``None`` (off), a number, or one weight per class. Default: ``None``.
        gamma: focusing exponent γ ≥ 0. Default: ``2.0``.
        axis: the class axis of ``y_pred``. Default: ``-1``.
        ignore_index: class index whose samples are masked out; ``None`` for none.
            Default: ``-100``.
        check: refuse the classic mistakes. Default: ``True``.
        reduction: a Keras reduction. Default: ``"sum_over_batch_size"``.
        name: the loss's name. Default: ``"softmax_focal_loss"``.
        dtype: the dtype of the computation. Default: ``None`` (``floatx``).

    Raises:
        ValueError: at call, bad shapes, class indices out of range (eagerly), bad options.

    References:
        Lin et al. "Focal Loss for Dense Object Detection." ICCV 2017.
        https://arxiv.org/abs/1708.02002

    Example:
        >>> import numpy as np
        >>> from crossent.keras import SoftmaxFocalLoss
        >>> logits = np.log(np.array([[0.5, 0.5]], dtype="float32"))
        >>> round(float(SoftmaxFocalLoss(gamma=1.0)(np.array([0]), logits)), 4)  # 0.5 log 2
        0.3466
    """

    loss_fn = staticmethod(softmax_focal_loss)
    family = "softmax"

    def __init__(
        self,
        *,
        alpha: Any = None,
        gamma: float = 2.0,
        axis: int = -1,
        ignore_index: int | None = -100,
        check: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "softmax_focal_loss",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            check=check,
            reduction=reduction,
            name=name,
            dtype=dtype,
            alpha=alpha,
            gamma=gamma,
            axis=axis,
            ignore_index=ignore_index,
        )


@keras.saving.register_keras_serializable(package="crossent")
class AsymmetricLoss(CrossEntropyLoss):
    r"""Keras loss: the asymmetric loss for multi-label classification (Ridnik et al.).

    The elementwise loss of :func:`crossent.asymmetric_loss` — focusing ``gamma_pos`` on
    positives, ``gamma_neg`` on negatives whose probability is shifted down by ``clip`` —
    averaged over the last axis.

    Args:
        gamma_pos: focusing exponent of the positives. Default: ``0.0``.
        gamma_neg: focusing exponent of the negatives. Default: ``4.0``.
        clip: probability margin ``m`` of the negatives, or ``None``. Default: ``0.05``.
        weight: elementwise weights, broadcastable to ``y_pred``. Default: ``None``.
        check: refuse the classic mistakes. Default: ``True``.
        reduction: a Keras reduction. Default: ``"sum_over_batch_size"``.
        name: the loss's name. Default: ``"asymmetric_loss"``.
        dtype: the dtype of the computation. Default: ``None`` (``floatx``).

    Raises:
        ValueError: at call, mismatched shapes, targets outside [0, 1] (eagerly), bad
            options.

    References:
        Ridnik et al. "Asymmetric Loss For Multi-Label Classification." ICCV 2021.
        https://arxiv.org/abs/2009.14119

    Example:
        >>> import numpy as np
        >>> from crossent.keras import AsymmetricLoss
        >>> logits = np.array([[0.0, 0.0]], dtype="float32")
        >>> loss = AsymmetricLoss(gamma_neg=0.0, clip=None)
        >>> round(float(loss(np.array([[1.0, 0.0]]), logits)), 4)  # log 2 for each label
        0.6931
    """

    loss_fn = staticmethod(asymmetric_loss)
    family = "sigmoid"

    def __init__(
        self,
        *,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float | None = 0.05,
        weight: Any = None,
        check: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "asymmetric_loss",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            check=check,
            reduction=reduction,
            name=name,
            dtype=dtype,
            gamma_pos=gamma_pos,
            gamma_neg=gamma_neg,
            clip=clip,
            weight=weight,
        )
