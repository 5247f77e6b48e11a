r"""Knowledge distillation in PyTorch: the module, and the fused loss of two output layers.

:class:`DistillationLoss` is :func:`crossent.distillation_loss` as an ``nn.Module`` (class
dim 1, as ``torch.nn``). :func:`linear_distillation_loss` is the same loss of
``student_hidden @ student_weight.T`` against ``teacher_hidden @ teacher_weight.T`` for
language-model heads, where the two ``[N, V]`` logits matrices dominate memory: it works
through chunks of rows, and for each chunk computes both models' logits, the loss of each
row (:func:`crossent.losses.distillation.rows_loss`) and its closed-form gradient with
respect to the student's logits (:func:`crossent.grad.distillation_rows_gradient`), and
turns that gradient into the chunk's share of the gradients of ``student_hidden`` and
``student_weight`` at once — the chunking of :func:`crossent.torch.linear_cross_entropy`.
Neither model's logits are ever held whole.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from crossent import _reduce
from crossent.grad import distillation_rows_gradient
from crossent.losses.distillation import (
    DistillationOptions,
    check_options,
    check_targets,
    distillation_loss,
    row_log_probs,
    row_mask,
    rows_loss,
)
from crossent.torch.fused.host import (
    CHUNK_BYTES,
    check_chunk_size,
    check_linear,
    check_tensor,
    chunking,
    hidden_rows,
    row_count,
)
from crossent.torch.fused.kernels import XP
from crossent.torch.modules import torch_class_axis

__all__ = [
    "DistillationLoss",
    "LinearDistillationLoss",
    "linear_distillation_loss",
]

CALLER = "crossent.torch.linear_distillation_loss"

WORKING_ARRAYS = 16
"""How many ``[rows, V]`` float arrays one chunk may hold at its peak — both models' logits,
their log-probabilities, the divergence's elementwise terms and the gradient — for the
default chunk: :data:`~crossent.torch.fused.host.CHUNK_BYTES` (64 MiB) covers them all, not
just one logits matrix as in :func:`crossent.torch.linear_cross_entropy`."""

STUDENT_NAMES = ("student_hidden", "student_weight", "student_bias")
TEACHER_NAMES = ("teacher_hidden", "teacher_weight", "teacher_bias")


class DistillationLoss(nn.Module):
    r""":func:`crossent.distillation_loss` as a module, class dim 1 (as ``torch.nn``).

    ``forward(student_logits, teacher_logits, targets=None)``; the teacher's logits are
    detached, so no gradient reaches the teacher.

    Args:
        temperature: Default: ``1.0``.
        divergence: ``"kl"`` | ``"reverse_kl"`` | ``"jsd"``. Default: ``"kl"``.
        beta: β of ``"jsd"`` (TRL's convention). Default: ``0.5``.
        ignore_index: Default: ``-100``.
        hard_weight: weight α of the cross-entropy with the targets. Default: ``0.0``.
        reduction: Default: ``"mean"`` (the mean over rows of the per-row divergence:
            PyTorch's ``batchmean``).

    Shape:
        logits ``[N, C]``, ``[N, C, d1, ...]`` or ``[C]`` (both alike); targets class
        indices ``[N, d1, ...]``; output scalar, or ``[N, d1, ...]`` for ``"none"``.

    Example:
        >>> import torch
        >>> from crossent.torch import DistillationLoss
        >>> loss = DistillationLoss(temperature=2.0)
        >>> student = torch.zeros(2, 3, requires_grad=True)
        >>> teacher = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], requires_grad=True)
        >>> out = loss(student, teacher)
        >>> out.backward()
        >>> round(out.item(), 4), teacher.grad is None
        (0.2466, True)
    """

    def __init__(
        self,
        *,
        temperature: float = 1.0,
        divergence: str = "kl",
        beta: float = 0.5,
        ignore_index: int | None = -100,
        hard_weight: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        options: dict[str, Any] = {
            "temperature": temperature,
            "divergence": divergence,
            "beta": beta,
            "ignore_index": ignore_index,
            "hard_weight": hard_weight,
            "reduction": reduction,
        }
        check_options(**options)
        self.options = options

    def forward(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        result: torch.Tensor = distillation_loss(
            student_logits,
            teacher_logits.detach(),
            targets=targets,
            axis=torch_class_axis(student_logits),
            **self.options,
        )
        return result

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())


# ---------------------------------------------------------------------------------------
# Fused: two output layers and their divergence, chunk by chunk
# ---------------------------------------------------------------------------------------


def chunk_rows(chunk_size: Any, n: int, v: int) -> int:
    """Rows per chunk: ``chunk_size``, or as many as keep :data:`WORKING_ARRAYS` float32
    arrays ``[rows, V]`` within :data:`~crossent.torch.fused.host.CHUNK_BYTES` (e.g. 32
    rows at V = 32768), at least one.

    Raises:
        ValueError: a ``(rows, classes)`` pair (the vocabulary is not split here), or a
            non-positive size.
        TypeError: anything but an int or None.
    """
    checked = check_chunk_size(chunk_size)
    if checked is not None and checked[1] is not None:
        raise ValueError(
            f"`chunk_size` of {CALLER} must be an int (rows per chunk; the vocabulary is "
            f"not split); got chunk_size={chunk_size!r}."
        )
    if checked is None:
        return max(1, min(n, CHUNK_BYTES // (4 * WORKING_ARRAYS * max(v, 1))))
    return chunking(chunk_size, n, v).rows


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """float32 for half-precision inputs, else their own dtype."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def linear_distillation_chunks(
    hs: torch.Tensor,
    ws: torch.Tensor,
    ht: torch.Tensor,
    wt: torch.Tensor,
    targets: torch.Tensor | None,
    opts: DistillationOptions,
    rows: int,
    *,
    want: tuple[bool, bool],
    divisor: Any,
    row_scale: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    r"""Per-row losses of ``[N, D]`` rows and, for the students' hidden rows and weight
    named by ``want``, the gradients of the reduced loss (``"mean"`` divided by
    ``divisor``), each row's times ``row_scale`` when given (``"none"``).

    Each chunk costs four matrix products — :math:`z^s = h^s_c W_s^\top`,
    :math:`z^t = h^t_c W_t^\top`, :math:`dh_c = G W_s`, :math:`dW_s \mathrel{+}= G^\top h^s_c`
    — and holds a few ``[rows, V]`` arrays, never ``[N, V]``.
    """
    n = hs.shape[0]
    dtype = compute_dtype(hs)
    acc = compute_dtype(ws)
    loss = torch.empty(n, dtype=dtype, device=hs.device)
    dh = torch.zeros(hs.shape, dtype=hs.dtype, device=hs.device) if want[0] else None
    dw = torch.zeros(ws.shape, dtype=acc, device=hs.device) if want[1] else None
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        hc = hs[r0:r1]
        zs = torch.mm(hc, ws.T).to(dtype)
        zt = torch.mm(ht[r0:r1], wt.T).to(dtype)
        yc = None if targets is None else targets[r0:r1]
        lp = None
        if opts.hard_weight < 1:
            lp = row_log_probs(XP, zs, zt, row_mask(XP, yc, opts.ignore_index), opts)
        loss[r0:r1] = rows_loss(XP, zs, zt, yc, opts, lp)
        if dh is None and dw is None:
            continue
        g = distillation_rows_gradient(XP, zs, zt, yc, opts, lp)
        g = _reduce.scale_gradient(XP, g, opts.reduction, divisor)
        if row_scale is not None:
            g = g * row_scale[r0:r1, None].to(dtype)
        del zs, zt, lp
        if dh is not None:
            torch.mm(g.to(hs.dtype), ws, out=dh[r0:r1])
        if dw is not None:
            dw.addmm_(g.T.to(acc), hc.to(acc))
    return loss, dh, dw


class LinearDistillationFunction(torch.autograd.Function):
    """Autograd of :func:`linear_distillation_loss`: for ``"mean"``/``"sum"`` the gradients
    are formed during the forward pass (no logits kept) and scaled by the incoming gradient
    in backward; for ``"none"`` backward runs the chunks again with each row's incoming
    gradient."""

    @staticmethod
    def forward(
        ctx: Any,
        student_hidden: torch.Tensor,
        student_weight: torch.Tensor,
        teacher_hidden: torch.Tensor,
        teacher_weight: torch.Tensor,
        targets: torch.Tensor | None,
        opts: DistillationOptions,
        rows: int,
        want: tuple[bool, bool],
    ) -> torch.Tensor:
        hs, ht = hidden_rows(student_hidden), hidden_rows(teacher_hidden)
        valid = row_mask(XP, targets, opts.ignore_index)
        divisor = hs.shape[0] if valid is None else _reduce.count(XP, valid)
        early = want if opts.reduction != "none" else (False, False)
        loss_rows, dh, dw = linear_distillation_chunks(
            hs, student_weight, ht, teacher_weight, targets, opts, rows, want=early, divisor=divisor
        )
        batch_shape = tuple(student_hidden.shape[:-1])
        ctx.opts, ctx.rows, ctx.want, ctx.divisor = opts, rows, want, divisor
        ctx.shapes = (student_hidden.shape, student_hidden.dtype, student_weight.dtype)
        if opts.reduction == "none":
            ctx.save_for_backward(hs, student_weight, ht, teacher_weight, targets)
            return loss_rows.reshape(batch_shape).to(student_hidden.dtype)
        ctx.grads = (dh, dw)
        loss = _reduce.reduce(XP, loss_rows, opts.reduction, divisor)
        return loss.to(student_hidden.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[Any, ...]:
        shape, hidden_dtype, weight_dtype = ctx.shapes
        if ctx.opts.reduction == "none":
            hs, ws, ht, wt, targets = ctx.saved_tensors
            _, dh, dw = linear_distillation_chunks(
                hs,
                ws,
                ht,
                wt,
                targets,
                ctx.opts,
                ctx.rows,
                want=ctx.want,
                divisor=ctx.divisor,
                row_scale=grad_loss.reshape(-1),
            )
        else:
            dh, dw = ctx.grads
            # An incoming gradient of 1 (loss.backward()) needs no scaled copies of the
            # gradients; the ones formed in the forward pass are kept for a retained graph.
            if grad_loss.device.type != "cpu" or float(grad_loss) != 1.0:
                scale = grad_loss.to(compute_dtype(grad_loss))
                dh = None if dh is None else dh * scale
                dw = None if dw is None else dw * scale
        return (
            None if dh is None else dh.reshape(shape).to(hidden_dtype),
            None if dw is None else dw.to(weight_dtype),
            None,
            None,
            None,
            None,
            None,
            None,
        )


def linear_distillation_loss(
    student_hidden: torch.Tensor,
    student_weight: torch.Tensor,
    teacher_hidden: torch.Tensor,
    teacher_weight: torch.Tensor,
    *,
    targets: torch.Tensor | None = None,
    temperature: float = 1.0,
    divergence: str = "kl",
    beta: float = 0.5,
    ignore_index: int | None = -100,
    hard_weight: float = 0.0,
    reduction: str = "mean",
    chunk_size: int | None = None,
) -> torch.Tensor:
    r"""Distillation loss of two output layers without materialising either model's logits.

    Equal to :func:`crossent.distillation_loss` of ``student_hidden @ student_weight.T``
    against ``teacher_hidden @ teacher_weight.T`` (classes last; same options and meaning:
    :math:`(1-\alpha) T^2 D(P, Q) + \alpha\, \mathrm{CE}`, ``"mean"`` over the rows that
    count), but the ``[N, V]`` logits of each model exist one chunk of rows at a time. For
    each chunk both models' logits are computed, each row's loss and its closed-form
    gradient :math:`G = \partial L / \partial z^s` (:mod:`crossent.grad`) are evaluated, and
    the chunk's shares :math:`\partial L / \partial h^s = G W_s` and
    :math:`\partial L / \partial W_s = G^\top h^s` are accumulated — during the forward pass
    for ``"mean"``/``"sum"`` (four matrix products per chunk, like the naive loss's forward
    and backward), again in backward for ``"none"``. The teacher's hidden states and
    weight get no gradient. Memory beyond the inputs is the student's gradients plus a few
    ``[rows, V]`` arrays of one chunk.

    **Vocabulary-parallel teachers.** Where the vocabulary is sharded over ranks (each rank
    holds ``[..., V_r]`` of both models' logits), forward KL needs no fused kernel of its
    own: :func:`crossent.torch.vocab_parallel_cross_entropy` of the student's shard
    ``s_r / T`` against the probability targets ``softmax(t / T)``'s shard ``P_r`` gives
    the cross-entropy :math:`H(P, Q) = \mathrm{KL}(P \,\|\, Q) + H(P)`, i.e. forward KL up
    to the teacher's entropy — a constant for the student, so the gradient is that of KL.
    Multiply by :math:`T^2`, and subtract the mean :math:`H(P)` if the value itself is
    wanted. The teacher's shard of ``softmax(t / T)`` needs its log-normaliser over the
    whole vocabulary: all-reduce the shards' ``logsumexp`` (MAX of the row maxima, then
    SUM of the rescaled exponentials). Probability targets have no ``ignore_index``: drop
    ignored rows first.

    Args:
        student_hidden: ``[..., D_s]`` float tensor.
        student_weight: ``[V, D_s]``, the student's output projection, ``student_hidden``'s
            dtype.
        teacher_hidden: ``[..., D_t]``, the same batch shape.
        teacher_weight: ``[V, D_t]``, ``teacher_hidden``'s dtype.
        targets: integer class indices of the batch shape, or ``None``. Default: ``None``.
        temperature: ``T > 0``. Default: ``1.0``.
        divergence: ``"kl"`` | ``"reverse_kl"`` | ``"jsd"``. Default: ``"kl"``.
        beta: β in (0, 1) of ``"jsd"`` (TRL's convention). Default: ``0.5``.
        ignore_index: Default: ``-100``.
        hard_weight: α in [0, 1]. Default: ``0.0``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        chunk_size: rows per chunk; ``None`` keeps a chunk's whole working set (about
            :data:`WORKING_ARRAYS` ``[rows, V]`` float32 arrays) within 64 MiB, e.g. 32 rows at
            V = 32768. Larger chunks make fewer passes over the weights (faster matrix
            products) at the price of memory. Default: ``None``.

    Returns:
        0-d tensor for ``"mean"``/``"sum"``, the batch shape for ``"none"``; in
        ``student_hidden``'s dtype (computed in float32 for fp16/bf16).

    Raises:
        ValueError: mismatched shapes or vocabularies, class indices out of range, bad
            options, a ``(rows, classes)`` ``chunk_size``.
        TypeError: non-tensor inputs, non-floating or mismatched dtypes within a model,
            non-integer targets.

    References:
        Hinton, Vinyals and Dean. "Distilling the Knowledge in a Neural Network." 2015.
        Hsu et al. "Liger Kernel: Efficient Triton Kernels for LLM Training." 2024 (fused
        linear JSD).

    Example:
        >>> import torch
        >>> from crossent.torch import linear_distillation_loss
        >>> _ = torch.manual_seed(0)
        >>> hs, ws = torch.randn(6, 4, requires_grad=True), torch.randn(10, 4, requires_grad=True)
        >>> ht, wt = torch.randn(6, 8), torch.randn(10, 8)
        >>> loss = linear_distillation_loss(hs, ws, ht, wt, temperature=2.0, chunk_size=4)
        >>> naive = torch.nn.functional.kl_div(
        ...     torch.log_softmax(hs @ ws.T / 2, -1), torch.log_softmax(ht @ wt.T / 2, -1),
        ...     log_target=True, reduction="batchmean") * 4
        >>> torch.allclose(loss, naive)
        True
    """
    opts = check_options(
        temperature=temperature,
        divergence=divergence,
        beta=beta,
        hard_weight=hard_weight,
        ignore_index=ignore_index,
        reduction=reduction,
    )
    check_linear(student_hidden, student_weight, None, STUDENT_NAMES)
    check_linear(teacher_hidden, teacher_weight, None, TEACHER_NAMES)
    batch_shape = tuple(student_hidden.shape[:-1])
    if tuple(teacher_hidden.shape[:-1]) != batch_shape:
        raise ValueError(
            f"`teacher_hidden` must have the batch shape of `student_hidden`, {batch_shape}; "
            f"got {tuple(teacher_hidden.shape[:-1])}."
        )
    v = student_weight.shape[0]
    if teacher_weight.shape[0] != v:
        raise ValueError(
            f"`teacher_weight` must have the student's vocabulary, {v} rows; got "
            f"{teacher_weight.shape[0]}."
        )
    if targets is not None:
        check_tensor("targets", targets)
    targets = check_targets(
        XP, targets, pred_shape=(*batch_shape, v), axis=len(batch_shape), opts=opts
    )
    if targets is not None:
        targets = targets.reshape(-1).to(student_hidden.device)
    rows = chunk_rows(chunk_size, row_count(student_hidden), v)
    grad = torch.is_grad_enabled()
    want = (grad and student_hidden.requires_grad, grad and student_weight.requires_grad)
    result: torch.Tensor = LinearDistillationFunction.apply(
        student_hidden,
        student_weight,
        teacher_hidden.detach(),
        teacher_weight.detach(),
        targets,
        opts,
        rows,
        want,
    )
    return result


class LinearDistillationLoss(nn.Module):
    r"""The student's output layer and its distillation loss in one, without logits.

    Holds the student's ``weight`` ``[num_classes, in_features]`` (initialised as
    ``nn.Linear``, no bias) and computes :func:`linear_distillation_loss` of its input
    against a teacher's hidden states and output weight, passed to ``forward``:
    ``forward(hidden, teacher_hidden, teacher_weight, targets=None)``. To tie the weight to
    an embedding, assign ``module.weight = embedding.weight``.

    Args:
        in_features: D, the size of the student's hidden vectors.
        num_classes: V, the vocabulary.
        temperature, divergence, beta, ignore_index, hard_weight, reduction, chunk_size:
            as :func:`linear_distillation_loss`. Defaults: ``1.0``, ``"kl"``, ``0.5``,
            ``-100``, ``0.0``, ``"mean"``, ``None``.
        device: Default: ``None``.
        dtype: Default: ``None``.

    Shape:
        hidden ``[..., D]``, teacher_hidden ``[..., D_t]``, teacher_weight ``[V, D_t]``,
        targets ``[...]``; output scalar, or ``[...]`` for ``"none"``.

    Example:
        >>> import torch
        >>> from crossent.torch import LinearDistillationLoss
        >>> _ = torch.manual_seed(0)
        >>> head = LinearDistillationLoss(8, 100, temperature=2.0)
        >>> loss = head(torch.randn(4, 8), torch.randn(4, 16), torch.randn(100, 16))
        >>> loss.backward()
        >>> head.weight.grad.shape
        torch.Size([100, 8])
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        temperature: float = 1.0,
        divergence: str = "kl",
        beta: float = 0.5,
        ignore_index: int | None = -100,
        hard_weight: float = 0.0,
        reduction: str = "mean",
        chunk_size: int | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        check_options(
            temperature=temperature,
            divergence=divergence,
            beta=beta,
            hard_weight=hard_weight,
            ignore_index=ignore_index,
            reduction=reduction,
        )
        check_chunk_size(chunk_size)
        linear = nn.Linear(in_features, num_classes, bias=False, device=device, dtype=dtype)
        self.weight = linear.weight
        self.options: dict[str, Any] = {
            "temperature": temperature,
            "divergence": divergence,
            "beta": beta,
            "ignore_index": ignore_index,
            "hard_weight": hard_weight,
            "reduction": reduction,
            "chunk_size": chunk_size,
        }

    def forward(
        self,
        hidden: torch.Tensor,
        teacher_hidden: torch.Tensor,
        teacher_weight: torch.Tensor,
        targets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return linear_distillation_loss(
            hidden, self.weight, teacher_hidden, teacher_weight, targets=targets, **self.options
        )

    def extra_repr(self) -> str:
        d, v = self.weight.shape[1], self.weight.shape[0]
        return f"in_features={d}, num_classes={v}, " + ", ".join(
            f"{k}={val!r}" for k, val in self.options.items()
        )
