r"""Layer 4 of the fused losses: the public functions and the ``nn.Module``."""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

import torch
from torch import nn

from crossent.torch.fused.functions import (
    CE_CALLER,
    LCE_CALLER,
    CrossEntropyFunction,
    check_targets_on_device,
    cross_entropy_op,
    linear_cross_entropy_op,
)
from crossent.torch.fused.host import (
    check_index_targets,
    check_linear,
    check_logits,
    check_options,
    chunking,
    class_weight,
    inplace_decision,
    prepare_rows,
    row_count,
)
from crossent.torch.fused.kernels import check_kernel, kernel_backend, kernel_scope, stats_dtype

__all__ = ["LinearCrossEntropy", "cross_entropy", "linear_cross_entropy"]

# Layer 4: public API.
# ---------------------------------------------------------------------------------------


def _require_kernel(kernel: Any, x: torch.Tensor) -> str | None:
    """``kernel``, checked, and refused now (before any work) when it cannot run on ``x``.

    Raises:
        TypeError, ValueError: ``kernel`` is not None or one of the choices.
        RuntimeError: ``"c"`` without the compiled kernel, ``"triton"`` where Triton cannot
            run on ``x``'s device.
    """
    kernel = check_kernel(kernel)
    if not torch.compiler.is_compiling():  # the ops check again when they run
        with kernel_scope(kernel):
            kernel_backend(x.device)
    return kernel


def cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
    reduction: str = "mean",
    inplace_backward: bool = False,
    weight: Any = None,
    kernel: str | None = None,
) -> torch.Tensor:
    r"""Softmax cross-entropy on ``[..., C]`` logits in two fused passes, gradient optionally in place.

    The same numbers as :func:`crossent.softmax_cross_entropy` with class-index targets and
    the class axis last:

    .. math:: \ell_i = -\sum_c a_{ic} \log \mathrm{softmax}(z'_i)_c
        + \lambda_z r_i \big(\operatorname{logsumexp}_c z'_{ic}\big)^2,

    :math:`z' = c \tanh(z / c)` under ``logit_softcap=c``, :math:`a_{ic} = (1-\varepsilon)
    [c = y_i] + \varepsilon / C` (0 for ignored rows), times :math:`w_{y_i}` with class
    ``weight`` (which also scales the z-loss term). ``"mean"`` divides by the number of
    non-ignored rows (with ``weight``: by :math:`\sum_i w_{y_i}` over them, PyTorch's rule);
    an all-ignored batch gives 0 with a zero gradient (PyTorch: NaN).
    The forward pass reads the logits once (row log-sum-exp and target logit) and the
    backward pass writes :math:`\partial L / \partial z` of :mod:`crossent.grad` in one
    read-write pass; fp16/bf16 are accumulated in float32.

    With ``inplace_backward=True`` (and ``logits.requires_grad`` under grad mode) the
    gradient of the returned loss is written into ``logits``' own storage during the forward
    pass, so forward + backward need O(rows) memory beyond the logits instead of a second
    logits-sized tensor. **State afterwards**: ``logits`` holds
    :math:`\partial L / \partial z` (in its dtype), multiplied in place by the incoming
    gradient when backward runs, and it *is* the gradient handed to the op that produced
    the logits; its old values are gone. Logits that do not require grad (or under
    ``torch.no_grad()``) are left untouched.

    Args:
        logits: float tensor ``[..., C]`` (e.g. ``[N, C]`` or ``[B, T, V]``), classes last.
        targets: integer class indices of shape ``logits.shape[:-1]``.
        ignore_index: target value that counts for nothing; ``None`` disables it.
            Default: ``-100``.
        label_smoothing: ε in [0, 1]. Default: ``0.0``.
        z_loss: coefficient :math:`\lambda_z` of the squared log-normaliser. Default: ``0.0``.
        logit_softcap: ``c > 0`` soft-caps the logits at ±c; ``None`` is off. Default: ``None``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        inplace_backward: write the gradient into ``logits`` during the forward pass.
            Default: ``False``.
        weight: non-negative per-class weights, shape ``[C]``, or ``None``; not together
            with ``label_smoothing``. Default: ``None``.
        kernel: which implementation runs the two passes: ``"auto"`` (Triton kernels on
            CUDA tensors when triton is installed, the compiled C kernel on CPU tensors,
            composed torch ops elsewhere), ``"c"`` (the compiled CPU kernel; an error where
            it is not built), ``"torch"`` (composed torch ops) or ``"triton"`` (Triton
            kernels: CUDA tensors, or CPU tensors under ``TRITON_INTERPRET=1``; an error
            elsewhere); ``None`` follows ``CROSSENT_KERNEL`` (itself ``"auto"`` when unset).
            Float64 logits always use the composed ops. Default: ``None``.

    Returns:
        0-d tensor for ``"mean"``/``"sum"``, ``logits.shape[:-1]`` for ``"none"``; in
        ``logits``' dtype.

    Raises:
        ValueError: bad shapes, class indices out of range, out-of-range options; with
            ``inplace_backward=True``, logits that autograd still needs (a leaf that
            requires grad, the result saved by the op that made them, or logits not
            viewable as ``[N, C]``). Other saved uses make PyTorch's backward raise
            ``RuntimeError`` (modified by an inplace operation).
        TypeError: non-tensor inputs, non-floating ``logits``, non-integer ``targets``.
        RuntimeError: ``kernel="c"`` where the compiled kernel is not built,
            ``kernel="triton"`` where Triton cannot run (no triton; a CPU tensor without
            ``TRITON_INTERPRET=1``); with the Triton kernels, class indices out of range
            that the validation policy did not read on the host (on CUDA a device-side
            assert).

    References:
        Hsu et al. "Liger Kernel: Efficient Triton Kernels for LLM Training." 2024.

    Example:
        >>> import torch
        >>> from crossent.torch import cross_entropy
        >>> logits = torch.log(torch.tensor([[0.2, 0.7, 0.1]])).requires_grad_()
        >>> loss = cross_entropy(logits, torch.tensor([1]))
        >>> round(loss.item(), 4)
        0.3567
        >>> loss.backward()
        >>> logits.grad
        tensor([[ 0.2000, -0.3000,  0.1000]])
    """
    opts = check_options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)
    check_logits(logits)
    kernel = _require_kernel(kernel, logits)
    if inplace_decision(logits, inplace_backward, "logits"):
        # forward writes the gradient too: both passes run here, under `kernel`
        with kernel_scope(kernel):
            rows = prepare_rows(
                targets,
                tuple(logits.shape[:-1]),
                logits.shape[-1],
                opts,
                logits.device,
                stats_dtype(logits),
                caller=CE_CALLER,
                weight=weight,
            )
            check_targets_on_device(rows, logits)
            result: torch.Tensor = CrossEntropyFunction.apply(logits, rows, opts, True)
        return result
    check_index_targets(targets, CE_CALLER)
    if weight is not None:
        weight = class_weight(weight, opts, targets, logits.device, CE_CALLER)
    loss, _ = cross_entropy_op(logits, targets, weight, *astuple(opts), kernel)
    return loss


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
    reduction: str = "mean",
    chunk_size: int | tuple[int, int] | None = None,
    kernel: str | None = None,
) -> torch.Tensor:
    r"""Softmax cross-entropy of ``hidden @ weight.T + bias`` without materialising the logits.

    Equal to ``cross_entropy(hidden @ weight.T + bias, targets, ...)`` (and to the core
    :func:`crossent.softmax_cross_entropy`), but the ``[N, V]`` logits exist only one chunk
    at a time: for each chunk of rows the logits are computed, reduced to their row
    statistics, overwritten by the closed-form gradient of :mod:`crossent.grad`, and turned
    into the chunk's contributions to the gradients of ``hidden``, ``weight`` and ``bias``:

    .. math:: \frac{\partial L}{\partial h} = G W, \qquad
        \frac{\partial L}{\partial W} = G^\top h, \qquad
        \frac{\partial L}{\partial b} = \textstyle\sum_i G_{i\cdot},

    with :math:`G = \partial L / \partial z`. For ``"mean"``/``"sum"`` this happens during
    the forward pass (three matrix products in all, like the naive loss, and no logits kept);
    memory beyond the inputs is the gradients plus one chunk. When a row of logits alone is
    wider than the chunk budget, the vocabulary is split too, with an online log-sum-exp,
    and the logits are recomputed for the gradient (four products).

    Args:
        hidden: ``[..., D]`` float tensor (e.g. ``[B, T, D]`` hidden states).
        weight: ``[V, D]``, the output projection (``nn.Linear(D, V).weight``), same dtype.
        targets: integer class indices of shape ``hidden.shape[:-1]``.
        bias: ``[V]`` or ``None``. Default: ``None``.
        ignore_index: target value that counts for nothing; ``None`` disables it.
            Default: ``-100``.
        label_smoothing: ε in [0, 1]. Default: ``0.0``.
        z_loss: coefficient of the squared log-normaliser. Default: ``0.0``.
        logit_softcap: ``c > 0`` soft-caps the logits at ±c; ``None`` is off. Default: ``None``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        chunk_size: rows per chunk, or ``(rows, classes)`` to split the vocabulary as well;
            ``None`` picks chunks of at most 64 MiB of float32 logits (:data:`CHUNK_BYTES`).
            Default: ``None``.
        kernel: the implementation of the row passes between the matrix products (which
            are torch's): ``"auto"``, ``"c"``, ``"torch"``, ``"triton"`` or ``None``
            (``CROSSENT_KERNEL``), as in :func:`cross_entropy`. Default: ``None``.

    Returns:
        0-d tensor for ``"mean"``/``"sum"``, ``hidden.shape[:-1]`` for ``"none"``; in
        ``hidden``'s dtype.

    Raises:
        ValueError: mismatched shapes, class indices out of range, bad options.
        TypeError: non-tensor inputs, mismatched or non-floating dtypes, non-integer targets.
        RuntimeError: a ``kernel`` that cannot run here, as in :func:`cross_entropy`.

    References:
        Wijmans et al. "Cut Your Losses in Large-Vocabulary Language Models." ICLR 2025.

    Example:
        >>> import torch
        >>> from crossent.torch import linear_cross_entropy
        >>> hidden, weight = torch.eye(2), torch.log(torch.tensor([[0.2, 0.5], [0.7, 0.4], [0.1, 0.1]]))
        >>> loss = linear_cross_entropy(hidden, weight, torch.tensor([1, 0]), reduction="none")
        >>> [round(v, 4) for v in loss.tolist()]
        [0.3567, 0.6931]
    """
    opts = check_options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)
    check_linear(hidden, weight, bias)
    check_index_targets(targets, LCE_CALLER)
    kernel = _require_kernel(kernel, hidden)
    chunks = chunking(chunk_size, row_count(hidden), weight.shape[0])
    grad = torch.is_grad_enabled()
    want = [grad and t is not None and t.requires_grad for t in (hidden, weight, bias)]
    loss, *_ = linear_cross_entropy_op(
        hidden, weight, bias, targets, *astuple(opts), chunks.rows, chunks.cols, want, kernel
    )
    return loss


class LinearCrossEntropy(nn.Module):
    r"""An output layer and its softmax cross-entropy in one: ``nn.Linear`` + loss, no logits.

    Holds ``weight`` ``[num_classes, in_features]`` (and ``bias``) initialised as
    ``nn.Linear`` does, and computes :func:`linear_cross_entropy` of its input. To tie the
    weights to an embedding, assign ``module.weight = embedding.weight``.

    Args:
        in_features: D, the size of each hidden vector.
        num_classes: V, the number of classes (vocabulary size).
        bias: learn a bias. Default: ``False``.
        ignore_index: as :func:`linear_cross_entropy`. Default: ``-100``.
        label_smoothing: Default: ``0.0``.
        z_loss: Default: ``0.0``.
        logit_softcap: Default: ``None``.
        reduction: Default: ``"mean"``.
        chunk_size: Default: ``None``.
        kernel: as :func:`linear_cross_entropy`. Default: ``None``.
        device: Default: ``None``.
        dtype: Default: ``None``.

    Shape:
        - hidden: ``[..., D]``; targets: ``[...]``; output: scalar, or ``[...]`` for ``"none"``.

    Example:
        >>> import torch
        >>> from crossent.torch import LinearCrossEntropy
        >>> _ = torch.manual_seed(0)
        >>> head = LinearCrossEntropy(8, 100)
        >>> loss = head(torch.randn(4, 8), torch.tensor([1, 2, 3, -100]))
        >>> loss.backward()
        >>> head.weight.grad.shape
        torch.Size([100, 8])
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        bias: bool = False,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
        logit_softcap: float | None = None,
        reduction: str = "mean",
        chunk_size: int | tuple[int, int] | None = None,
        kernel: str | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        check_options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)
        check_kernel(kernel)
        linear = nn.Linear(in_features, num_classes, bias=bias, device=device, dtype=dtype)
        self.weight = linear.weight
        self.bias = linear.bias
        self.options: dict[str, Any] = {
            "ignore_index": ignore_index,
            "label_smoothing": label_smoothing,
            "z_loss": z_loss,
            "logit_softcap": logit_softcap,
            "reduction": reduction,
            "chunk_size": chunk_size,
            "kernel": kernel,
        }

    def forward(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return linear_cross_entropy(hidden, self.weight, targets, bias=self.bias, **self.options)

    def extra_repr(self) -> str:
        d, v = self.weight.shape[1], self.weight.shape[0]
        return f"in_features={d}, num_classes={v}, bias={self.bias is not None}, " + ", ".join(
            f"{k}={val!r}" for k, val in self.options.items()
        )
