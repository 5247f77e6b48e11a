r"""Vocabulary-parallel softmax cross-entropy over ``torch.distributed``.

When the output layer is split by vocabulary over the ranks of a process group (a
tensor-parallel language-model head), rank ``r`` holds the logits
:math:`z_{i,\,o_r : o_r + V_r}` of its contiguous shard only (or the rows
:math:`W_{o_r : o_r + V_r}` of the output weight). Gathering the full ``[N, V]`` logits
would undo the split; instead, as in Megatron-LM, the loss needs a few numbers per row.
Each rank computes them over its own columns with the fused kernels of
:mod:`crossent.torch.fused` — the shard's log-sum-exp :math:`s^{(r)}_i`, its target logit
(0 when :math:`y_i` is another rank's class) and, with label smoothing, its row sum
:math:`T^{(r)}_i` — and two all-reduces merge them:

.. math:: m_i = \max_r s^{(r)}_i, \qquad
    s_i = m_i + \log \sum_r e^{s^{(r)}_i - m_i}, \qquad
    z_{iy_i} = \sum_r [y_i \in r]\, z_{iy_i}, \qquad
    T_i = \sum_r T^{(r)}_i .

With the sparse target coefficients :math:`a_{ij} = h_i [j = y_i] + u_i` of
:func:`crossent.grad.softmax_index_coefficients` the loss of
:func:`crossent.softmax_cross_entropy` is
:math:`\ell_i = h_i (s_i - z_{iy_i}) + u_i (V s_i - T_i) + \lambda_z r_i s_i^2`
(:func:`crossent.losses._rows.loss_from_row_stats`), and its closed-form gradient
:math:`q_{ij} k_i - a_{ij}` (:func:`crossent.grad.softmax_cross_entropy`) restricted to a
shard needs only :math:`s_i` and the targets, which every rank has: the logits' gradient
needs no communication. :func:`vocab_parallel_linear_cross_entropy` runs the chunked
:func:`crossent.torch.fused.linear_cross_entropy` on the weight shard, merging each row
chunk's statistics before its gradient is formed, and sums the hidden states' gradient
over the ranks in backward. Probability targets (each rank its columns) replace the target
logit by :math:`\sum_{c \in r} p_{ic} z_{ic}` and add the target mass and a count of
invalid entries, which validate the targets on numbers every rank has.

References:
    Shoeybi et al. "Megatron-LM: Training Multi-Billion Parameter Language Models Using
    Model Parallelism." 2019. https://arxiv.org/abs/1909.08053
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from crossent import _checks, _reduce
from crossent._array import softcap
from crossent.losses._rows import (
    block_gradient,
    loss_from_row_stats,
    softmax_gradient_row_scale,
    weighted_term,
)
from crossent.torch.fused.functions import (
    CrossEntropyFunction,
    LinearCrossEntropyFunction,
    first_derivative_only,
)
from crossent.torch.fused.host import (
    Chunking,
    Options,
    Rows,
    check_chunk_size,
    check_index_targets,
    check_linear,
    check_logits,
    check_options,
    check_tensor,
    chunking,
    gradient_lse,
    inplace_decision,
    prepare_rows,
    upstream_scale,
)
from crossent.torch.fused.kernels import XP, RowStats, stats_dtype

__all__ = [
    "VocabParallelLinearCrossEntropy",
    "communication_bytes",
    "vocab_parallel_cross_entropy",
    "vocab_parallel_linear_cross_entropy",
    "vocab_shard_bounds",
]

SIZE_BYTES = 8
"""Bytes each rank contributes to the exchange of shard sizes: one int64."""


@dataclass
class CommunicationLog:
    """Bytes this process has passed to collectives, and how many collective calls.

    Each collective adds the size of the buffer the rank contributes (for an all-reduce
    that is also the size of its result). Kept for tests, which check the count against
    :func:`communication_bytes`.
    """

    bytes: int = 0
    calls: int = 0


COMMUNICATION = CommunicationLog()
"""The running :class:`CommunicationLog` of this process."""


def _record(x: torch.Tensor) -> None:
    COMMUNICATION.bytes += x.numel() * x.element_size()
    COMMUNICATION.calls += 1


def _all_reduce(x: torch.Tensor, op: Any, group: Any) -> None:
    _record(x)
    dist.all_reduce(x, op=op, group=group)


def communication_bytes(
    n_rows: int,
    dtype: torch.dtype,
    *,
    label_smoothing: float = 0.0,
    hidden_size: int = 0,
    probability_targets: bool = False,
) -> int:
    r"""Bytes each rank contributes to the collectives of one vocabulary-parallel loss.

    .. math:: 8 + (3 + 2 [\text{probabilities}] + [\varepsilon > 0])\, N\, b
        \;+\; N D\, b_h

    8 bytes for the shard sizes (an all-gather of one int64), then ``N`` numbers of ``b``
    bytes (the compute dtype: float32 for fp16/bf16, float64 for float64) for the row
    maximum of the shards' log-sum-exps (all-reduce MAX) and for the sum of exponentials,
    the target logit and, with label smoothing ε, the row sum of logits (all-reduce SUM).
    Probability targets replace the target logit by :math:`\sum_c p_c z_c` and add the
    target mass :math:`\sum_c p_c` and the count of entries outside [0, 1], which validate
    the targets across the shards.
    Independent of the vocabulary size and of the number of ranks. The gradient of the
    logits needs no communication; :func:`vocab_parallel_linear_cross_entropy` adds, in
    backward, the all-reduce of the ``[N, D]`` hidden-state gradient in ``dtype``
    (``b_h`` bytes a number) when ``hidden_size`` ``D`` is given.

    Args:
        n_rows: ``N``, the number of rows (the product of the batch dimensions).
        dtype: dtype of the logits (of ``hidden`` for the linear loss).
        label_smoothing: ε. Default: ``0.0``.
        hidden_size: ``D``, to count the hidden gradient's all-reduce; 0 leaves it out.
            Default: ``0``.
        probability_targets: the loss has probability targets. Default: ``False``.

    Returns:
        The number of bytes, an ``int``.

    Example:
        >>> import torch
        >>> from crossent.torch.distributed import communication_bytes
        >>> communication_bytes(4096, torch.float32)  # 3 x 4096 float32 + one int64
        49160
    """
    width = stats_dtype(torch.empty(0, dtype=dtype)).itemsize
    hidden = n_rows * hidden_size * dtype.itemsize
    rows = 3 + 2 * int(probability_targets) + int(label_smoothing > 0)
    return SIZE_BYTES + rows * n_rows * width + hidden


# ---------------------------------------------------------------------------------------
# Host functions: the shard layout, targets in local columns, merging row statistics.
# ---------------------------------------------------------------------------------------


@dataclass
class Shard:
    """Where this rank's columns sit in the vocabulary."""

    offset: int  # o_r, global index of the first local column
    size: int  # V_r
    sizes: list[int]  # every rank's V_r, in rank order

    @property
    def n_classes(self) -> int:
        """``V``, the whole vocabulary."""
        return sum(self.sizes)


def _shard(v_local: int, name: str, device: Any, group: Any) -> Shard:
    """Every rank's ``V_r``: one all-gather of one int64 per rank. An empty shard anywhere
    raises on every rank (every rank sees every size)."""
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "vocabulary-parallel cross-entropy needs an initialised torch.distributed process "
            "group; call torch.distributed.init_process_group first."
        )
    mine = torch.tensor([v_local], dtype=torch.int64, device=device)
    gathered = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
    _record(mine)
    dist.all_gather(gathered, mine, group=group)
    sizes = [int(s) for s in gathered]
    empty = [r for r, s in enumerate(sizes) if s == 0]
    if empty:
        raise ValueError(
            f"`{name}` must hold at least one vocabulary column on every rank; got shard "
            f"sizes {sizes} (empty on rank {empty[0]})."
        )
    rank = dist.get_rank(group)
    return Shard(offset=sum(sizes[:rank]), size=sizes[rank], sizes=sizes)


def _local_rows(
    targets: Any,
    batch_shape: tuple[int, ...],
    shard: Shard,
    opts: Options,
    like: torch.Tensor,
    weight: Any = None,
) -> Rows:
    """Targets validated against the whole vocabulary with the core's rules, then renumbered
    to this shard's columns: indices outside ``[0, V_r)`` belong to other ranks, and the
    kernels give them no target logit."""
    rows = prepare_rows(
        targets,
        batch_shape,
        shard.n_classes,
        opts,
        like.device,
        stats_dtype(like),
        caller="vocabulary-parallel cross-entropy",
        weight=weight,
    )
    rows.indices = rows.indices - shard.offset
    return rows


def _all_reduce_rows(
    local_lse: torch.Tensor, rows: list[torch.Tensor], group: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The whole vocabulary's row log-sum-exp from the shards' :math:`s^{(r)}`, and the
    sum over ranks of each of ``rows``: an all-reduce MAX of :math:`s^{(r)}` (``m``), then
    one all-reduce SUM of :math:`e^{s^{(r)} - m}` stacked with ``rows``."""
    m = local_lse.clone()
    _all_reduce(m, dist.ReduceOp.MAX, group)
    # A row that is -inf everywhere has m = -inf: shift by 0 instead, and s = -inf follows.
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    sums = torch.stack([torch.exp(local_lse - m), *rows])
    _all_reduce(sums, dist.ReduceOp.SUM, group)
    return m + torch.log(sums[0]), sums[1:]


def _merge(local: RowStats, opts: Options, group: Any) -> RowStats:
    """Whole-vocabulary :class:`RowStats` from this shard's: the target logits and (with
    label smoothing) the row sums travel in the log-sum-exp's SUM all-reduce."""
    extra = [local.target, local.total] if opts.label_smoothing else [local.target]
    lse, sums = _all_reduce_rows(local.lse, extra, group)
    total = sums[1] if opts.label_smoothing else torch.zeros_like(lse)
    return RowStats(lse=lse, target=sums[0], total=total)


# ---------------------------------------------------------------------------------------
# Probability targets: each rank holds its shard of the target distributions too.
# ---------------------------------------------------------------------------------------


@dataclass
class SoftStats:
    """Whole-vocabulary row quantities for probability targets ``p`` (float ``[N]``)."""

    lse: torch.Tensor  # s_i = logsumexp_c z'_ic
    dot: torch.Tensor  # Σ_c p_ic z'_ic
    mass: torch.Tensor  # Σ_c p_ic, 1 for valid targets
    total: torch.Tensor  # Σ_c z'_ic (label smoothing only; else 0)


def _check_soft_targets(targets: torch.Tensor, local_logits: torch.Tensor, inplace: bool) -> None:
    """What each rank can check of its probability-target shard before communicating."""
    if tuple(targets.shape) != tuple(local_logits.shape):
        raise ValueError(
            "probability `targets` must be this rank's shard of the target distributions, "
            f"the shape of `local_logits` {tuple(local_logits.shape)}; got "
            f"{tuple(targets.shape)}."
        )
    if targets.requires_grad:
        raise ValueError(
            "gradients with respect to probability `targets` are not computed; pass "
            "targets.detach()."
        )
    if inplace:
        raise ValueError("`inplace_backward=True` needs class-index targets.")


def _soft_stats(z: torch.Tensor, p: torch.Tensor, opts: Options, group: Any) -> SoftStats:
    r"""Merge each shard's :math:`\log\sum e^{z'}`, :math:`\sum p z'`, :math:`\sum p`, count
    of entries outside [0, 1] and (label smoothing) :math:`\sum z'` with an all-reduce MAX
    and one all-reduce SUM, then validate the targets on the merged numbers, which every
    rank has: a bad entry on one rank raises the same error on all."""
    outside = ((p < 0) | (p > 1) | torch.isnan(p)).sum(dim=1).to(z.dtype)
    parts = [weighted_term(XP, p, z).sum(dim=1), p.sum(dim=1), outside]
    if opts.label_smoothing:
        parts.append(z.sum(dim=1))
    lse, sums = _all_reduce_rows(torch.logsumexp(z, dim=1), parts, group)
    outside_count = int(sums[2].sum())
    if outside_count:
        entries = "entry" if outside_count == 1 else "entries"
        raise ValueError(
            "`targets` must hold probabilities in [0, 1]; found "
            f"{outside_count} {entries} outside it (or NaN) across the ranks."
        )
    return SoftStats(
        lse=lse,
        dot=sums[0],
        mass=sums[1],
        total=sums[3] if opts.label_smoothing else torch.zeros_like(lse),
    )


def _soft_rows_loss(stats: SoftStats, opts: Options, n_classes: int) -> torch.Tensor:
    r"""Per row :math:`-\sum_c a_c \log q_c + \lambda_z s^2` with
    :math:`a = (1-\varepsilon) p + \varepsilon / V`:
    :math:`(1-\varepsilon)(s \sum p - \sum p z') + \tfrac{\varepsilon}{V} (V s - \sum z') + \lambda_z s^2`
    (:func:`crossent.losses._rows.loss_from_row_stats`)."""
    eps, s = opts.label_smoothing, stats.lse
    smooth: dict[str, Any] = {}
    if eps:
        smooth = {
            "smooth_coef": torch.full_like(s, eps / n_classes),
            "weight_sum": n_classes,
            "weighted_logit_sum": stats.total,
        }
    target = torch.full_like(s, 1 - eps)
    return loss_from_row_stats(
        XP, s, target, stats.dot, target_mass=stats.mass, z_loss=opts.z_loss, **smooth
    )


class VocabParallelSoftTargetsFunction(torch.autograd.Function):
    """Vocabulary-parallel softmax cross-entropy with probability targets; see
    :func:`vocab_parallel_cross_entropy`."""

    @staticmethod
    def forward(
        ctx: Any,
        local_logits: torch.Tensor,
        targets: torch.Tensor,
        opts: Options,
        group: Any,
        n_classes: int,
    ) -> torch.Tensor:
        dt = stats_dtype(local_logits)
        v_r = local_logits.shape[-1]
        z = softcap(XP, local_logits.reshape(-1, v_r).to(dt), opts.logit_softcap)
        p = targets.reshape(-1, v_r).to(dt)
        stats = _soft_stats(z, p, opts, group)
        _checks.row_sums_are_one(XP, "targets", stats.mass, n_classes, targets.dtype)
        rows = _soft_rows_loss(stats, opts, n_classes)
        n = rows.shape[0]
        if opts.reduction == "none":
            loss = rows.reshape(local_logits.shape[:-1])
        else:
            loss = _reduce.reduce(XP, rows, opts.reduction, n)
        ctx.save_for_backward(local_logits, targets)
        ctx.opts, ctx.stats, ctx.n_classes, ctx.n = opts, stats, n_classes, n
        return loss.to(local_logits.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, None, None, None, None]:
        with torch.no_grad():
            g = VocabParallelSoftTargetsFunction._logits_grad(ctx, grad_output)
        (g,) = first_derivative_only((g,), "crossent.torch.vocab_parallel_cross_entropy")
        return g, None, None, None, None

    @staticmethod
    def _logits_grad(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        r""":math:`\partial \ell / \partial z = (q k - a)\, \partial z' / \partial z`, with
        :math:`k = \sum_c a_c + 2 \lambda_z s`, by :func:`crossent.losses._rows.block_gradient`."""
        local_logits, targets = ctx.saved_tensors
        opts, stats, n_classes = ctx.opts, ctx.stats, ctx.n_classes
        eps, lse = opts.label_smoothing, gradient_lse(stats.lse)
        v_r = local_logits.shape[-1]
        z = softcap(XP, local_logits.reshape(-1, v_r).to(lse.dtype), opts.logit_softcap)
        k = softmax_gradient_row_scale(
            XP,
            (1 - eps) * stats.mass + eps,
            z_loss=opts.z_loss,
            row_weight=torch.ones_like(lse),
            lse=lse,
        )
        g = block_gradient(
            XP,
            z,
            lse,
            k,
            coef=(1 - eps) * targets.reshape(-1, v_r).to(lse.dtype),
            smooth_coef=torch.full_like(lse, eps / n_classes) if eps else None,
            cap=opts.logit_softcap,
        )
        g = _reduce.scale_gradient(XP, g, opts.reduction, ctx.n)
        scale = upstream_scale(grad_output, opts.reduction, lse.dtype)
        if scale is not None:
            g = g * (scale[:, None] if scale.ndim == 1 else scale)
        return g.to(local_logits.dtype).reshape(local_logits.shape)


# ---------------------------------------------------------------------------------------
# Public API.
# ---------------------------------------------------------------------------------------


def vocab_parallel_cross_entropy(
    local_logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    group: Any = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
    reduction: str = "mean",
    inplace_backward: bool = False,
    weight: Any = None,
) -> torch.Tensor:
    r"""Softmax cross-entropy of logits split by vocabulary over the ranks of ``group``.

    Rank ``r`` passes its contiguous shard ``[..., V_r]`` of the logits, the shards in rank
    order (sizes may differ); ``targets`` are global class indices, the same on every rank,
    or — for soft targets such as a teacher's distribution — this rank's shard
    ``[..., V_r]`` of probability targets, the same columns as its logits. Every rank
    returns the loss of :func:`crossent.softmax_cross_entropy` on the concatenated logits
    :math:`z = [z^{(0)}, \dots, z^{(R-1)}]` (and targets), class axis last:

    .. math:: \ell_i = -\sum_c a_{ic} \log q_{ic} + \lambda_z\, r_i\, s_i^2, \qquad
        s_i = \mathrm{logsumexp}_c\, z'_{ic},

    with :math:`z' = c \tanh(z / c)` under ``logit_softcap=c``,
    :math:`a_{ic} = (1-\varepsilon)[c = y_i] + \varepsilon / V` (0 for ignored rows) or
    :math:`(1-\varepsilon) p_{ic} + \varepsilon / V` for probability targets, and
    :math:`r_i = 1` for counted rows, 0 for ignored ones. ``"mean"`` divides the sum by
    the number of non-ignored targets (every row for probability targets); an all-ignored
    batch gives 0 (not NaN). Probability targets must lie in [0, 1] and each row must sum
    to 1 over the whole vocabulary; both are checked on all-reduced numbers, so every rank
    raises the same error. Backward gives
    each rank exactly its shard :math:`\partial L / \partial z^{(r)}` of the full gradient,
    without communication. With ``inplace_backward=True`` that gradient is written into
    ``local_logits``' own storage during the forward pass, as in
    :func:`crossent.torch.cross_entropy` (same rules and state afterwards), so that no
    second shard-sized tensor is needed.

    Communication per call and rank: an all-gather of one int64 (the shard sizes), an
    all-reduce MAX of ``N`` numbers (the shards' row log-sum-exps) and one all-reduce SUM
    of ``2 N`` numbers (rescaled sums of exponentials, target logit), ``3 N`` with label
    smoothing (the row sum of logits) — :func:`crossent.torch.distributed.communication_bytes`:
    :math:`8 + (3 + [\varepsilon > 0]) N b` bytes for ``b``-byte floats, e.g. 49 160 bytes
    for ``N = 4096`` float32 rows at any vocabulary size, where an all-gather of the
    ``V = 131072`` logits would deliver :math:`N V b` = 2 GiB to each rank. Probability
    targets send :math:`2 N` numbers more (the target mass and a validity count).

    The gradient reaches only ``local_logits``: in a tensor-parallel head the hidden states
    that feed every shard need an all-reduce of their gradient (Megatron's
    ``copy_to_tensor_model_parallel_region``; see ``examples/vocab_parallel.py``), which
    :func:`vocab_parallel_linear_cross_entropy` does itself. Class ``weight`` (the whole
    vocabulary's ``[V]``, the same on every rank) multiplies each row by :math:`w_{y_i}`
    and ``"mean"`` then divides by their sum, as in PyTorch; it needs class-index targets
    and no label smoothing.

    Args:
        local_logits: this rank's logits shard, floating, shape ``[..., V_r]`` with
            ``V_r ≥ 1``; the batch dimensions ``...`` the same on every rank.
        targets: integer class indices in ``[0, V)`` (or ``ignore_index``), shape ``[...]``,
            the same on every rank; or floating probability targets, this rank's shard of
            shape ``[..., V_r]`` (no gradient flows to them).
        group: the process group the vocabulary is split over. Default: ``None`` (the
            default group).
        ignore_index: class index whose rows count for nothing (class indices only);
            ``None`` disables it. Default: ``-100``.
        label_smoothing: ε in [0, 1], PyTorch's rule. Default: ``0.0``.
        z_loss: coefficient :math:`\lambda_z` of the squared log-normaliser. Default: ``0.0``.
        logit_softcap: ``c > 0`` soft-caps the logits at ±c; ``None`` is off. Default: ``None``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        inplace_backward: write the gradient into ``local_logits`` during the forward pass
            (class-index targets). Default: ``False``.
        weight: non-negative per-class weights of shape ``[V]``, the same on every rank, or
            ``None`` (class-index targets, no label smoothing). Default: ``None``.

    Returns:
        0-d tensor for ``"mean"``/``"sum"``, else the per-row losses of shape ``[...]``; in
        ``local_logits``' dtype (fp16/bf16 computed in float32), equal on every rank.

    Raises:
        ValueError: a rank with an empty shard (raised on every rank), targets of the wrong
            shape or out of range for the whole vocabulary, an unknown ``reduction``,
            out-of-range options; with ``inplace_backward=True``, logits that autograd
            still needs (checked before any communication); probability targets of
            another shape than ``local_logits``, that require grad, outside [0, 1] or whose
            rows do not sum to 1 (the last two on every rank).
        TypeError: non-tensor inputs, non-floating ``local_logits``.
        RuntimeError: no initialised ``torch.distributed`` process group.

    References:
        Shoeybi et al. "Megatron-LM: Training Multi-Billion Parameter Language Models Using
        Model Parallelism." 2019. https://arxiv.org/abs/1909.08053

    Example:
        >>> import torch
        >>> import torch.distributed as dist
        >>> from crossent.torch import vocab_parallel_cross_entropy
        >>> dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
        >>> logits = torch.log(torch.tensor([[0.2, 0.7, 0.1]], dtype=torch.float64))
        >>> round(float(vocab_parallel_cross_entropy(logits, torch.tensor([1]))), 4)
        0.3567
        >>> dist.destroy_process_group()
    """
    check_logits(local_logits, "local_logits", "a vocabulary axis")
    opts = check_options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)
    inplace = inplace_decision(local_logits, inplace_backward, "local_logits")
    check_tensor("targets", targets)
    if targets.is_floating_point():
        if weight is not None:
            raise ValueError("`weight` needs class-index targets here.")
        _check_soft_targets(targets, local_logits, inplace)
        shard = _shard(local_logits.shape[-1], "local_logits", local_logits.device, group)
        soft: torch.Tensor = VocabParallelSoftTargetsFunction.apply(
            local_logits, targets.to(local_logits.device), opts, group, shard.n_classes
        )
        return soft
    shard = _shard(local_logits.shape[-1], "local_logits", local_logits.device, group)
    rows = _local_rows(targets, tuple(local_logits.shape[:-1]), shard, opts, local_logits, weight)
    merge = functools.partial(_merge, opts=opts, group=group)
    loss: torch.Tensor = CrossEntropyFunction.apply(local_logits, rows, opts, inplace, merge)
    return loss


def vocab_parallel_linear_cross_entropy(
    hidden: torch.Tensor,
    local_weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    local_bias: torch.Tensor | None = None,
    group: Any = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    logit_softcap: float | None = None,
    reduction: str = "mean",
    chunk_size: int | tuple[int, int] | None = None,
    reduce_hidden_grad: bool = True,
) -> torch.Tensor:
    r"""Softmax cross-entropy of ``hidden @ W.T + b`` with ``W`` split by rows over the ranks.

    Rank ``r`` holds the contiguous rows :math:`W^{(r)} = W_{o_r : o_r + V_r}` of the output
    weight (``[V_r, D]``, in rank order, sizes may differ) and the same ``hidden`` and
    ``targets`` (global class indices) as every other rank. Every rank returns the loss of
    :func:`crossent.softmax_cross_entropy` on the full logits
    :math:`z = h W^\top + b` — the loss of :func:`vocab_parallel_cross_entropy` — while
    neither the full nor the local logits are ever held: the shard runs the chunked
    :func:`crossent.torch.linear_cross_entropy`, each row chunk's statistics are merged
    over the ranks by two all-reduces before its gradient is formed, and the chunk's
    logits are overwritten by that gradient. Memory beyond the inputs: the gradients plus
    one chunk (``chunk_size``).

    Gradients, on every rank: ``local_weight.grad`` (and ``local_bias.grad``) is exactly this
    rank's rows of the full :math:`\partial L / \partial W = G^\top h`. ``hidden.grad`` is the
    full :math:`\partial L / \partial h = \sum_r G^{(r)} W^{(r)}`: each rank computes its
    term and backward all-reduces their sum (``N × D`` numbers in ``hidden``'s dtype). Pass
    ``reduce_hidden_grad=False`` when ``hidden`` already enters through an operator whose
    backward does that all-reduce (Megatron's ``copy_to_tensor_model_parallel_region``):
    reducing twice would multiply the gradient by the number of ranks.

    Communication per call and rank: the shard sizes (one int64, all-gathered), then for
    each row chunk an all-reduce MAX of its rows' log-sum-exps and an all-reduce SUM of 2
    (3 with label smoothing) numbers per row — in all the
    :math:`8 + (3 + [\varepsilon > 0]) N b` bytes of :func:`vocab_parallel_cross_entropy`,
    in ``2 ⌈N / \text{rows}⌉ + 1`` calls — and in backward the :math:`N D b_h` bytes of the
    hidden gradient (:func:`crossent.torch.distributed.communication_bytes` with
    ``hidden_size=D``). All ranks must call with the same batch shape, ``chunk_size``,
    options, and ``hidden.requires_grad``: a collective that one rank skips waits forever.

    Args:
        hidden: ``[..., D]`` float tensor, the same on every rank.
        local_weight: ``[V_r, D]``, this rank's rows of the output weight, ``V_r ≥ 1``, the
            dtype of ``hidden``.
        targets: integer class indices in ``[0, V)`` of shape ``hidden.shape[:-1]``, the
            same on every rank.
        local_bias: ``[V_r]``, this rank's slice of the bias, or ``None``. Default: ``None``.
        group: the process group the vocabulary is split over. Default: ``None``.
        ignore_index: target value that counts for nothing; ``None`` disables it.
            Default: ``-100``.
        label_smoothing: ε in [0, 1]. Default: ``0.0``.
        z_loss: coefficient of the squared log-normaliser. Default: ``0.0``.
        logit_softcap: ``c > 0`` soft-caps the logits at ±c; ``None`` is off. Default: ``None``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.
        chunk_size: rows per chunk, or ``(rows, classes)`` to split the shard's columns as
            well; ``None`` picks chunks of at most 64 MiB of float32 logits for the largest
            shard, so that every rank uses the same rows. Default: ``None``.
        reduce_hidden_grad: all-reduce the gradient of ``hidden`` in backward.
            Default: ``True``.

    Returns:
        0-d tensor for ``"mean"``/``"sum"``, ``hidden.shape[:-1]`` for ``"none"``; in
        ``hidden``'s dtype, equal on every rank.

    Raises:
        ValueError: a rank with an empty shard (raised on every rank), mismatched shapes,
            class indices out of range for the whole vocabulary, bad options.
        TypeError: non-tensor inputs, mismatched or non-floating dtypes, non-integer targets.
        RuntimeError: no initialised ``torch.distributed`` process group.

    References:
        Shoeybi et al. "Megatron-LM." 2019. https://arxiv.org/abs/1909.08053;
        Wijmans et al. "Cut Your Losses in Large-Vocabulary Language Models." ICLR 2025.

    Example:
        >>> import torch
        >>> import torch.distributed as dist
        >>> from crossent.torch import vocab_parallel_linear_cross_entropy
        >>> dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
        >>> hidden = torch.eye(2, dtype=torch.float64)
        >>> weight = torch.log(torch.tensor([[0.2, 0.5], [0.7, 0.4], [0.1, 0.1]], dtype=torch.float64))
        >>> loss = vocab_parallel_linear_cross_entropy(hidden, weight, torch.tensor([1, 0]), reduction="none")
        >>> [round(v, 4) for v in loss.tolist()]
        [0.3567, 0.6931]
        >>> dist.destroy_process_group()
    """
    opts = check_options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)
    check_linear(hidden, local_weight, local_bias, ("hidden", "local_weight", "local_bias"))
    if not isinstance(reduce_hidden_grad, bool):
        raise TypeError(
            f"`reduce_hidden_grad` must be a bool; got reduce_hidden_grad={reduce_hidden_grad!r}."
        )
    check_index_targets(targets, "vocab_parallel_linear_cross_entropy")
    batch_shape = tuple(hidden.shape[:-1])
    n = math.prod(batch_shape)
    check_chunk_size(chunk_size)  # before any communication
    shard = _shard(local_weight.shape[0], "local_weight", hidden.device, group)
    # Row chunks from the widest shard, the same on every rank (they meet in collectives).
    common = chunking(chunk_size, n, max(shard.sizes))
    chunks = Chunking(common.rows, min(common.cols, shard.size))
    rows = _local_rows(targets, batch_shape, shard, opts, hidden)
    merge = functools.partial(_merge, opts=opts, group=group)

    def reduce_hidden(g: torch.Tensor) -> None:
        _all_reduce(g, dist.ReduceOp.SUM, group)

    loss: torch.Tensor = LinearCrossEntropyFunction.apply(
        hidden,
        local_weight,
        local_bias,
        rows,
        opts,
        chunks,
        torch.is_grad_enabled(),
        merge,
        reduce_hidden if reduce_hidden_grad else None,
    )
    return loss


def vocab_shard_bounds(num_classes: int, world_size: int) -> list[int]:
    """Boundaries of ``world_size`` contiguous vocabulary shards as even as possible: rank
    ``r`` holds classes ``[b[r], b[r + 1])``, the first ``V mod R`` shards one class more
    (the split of :func:`torch.tensor_split`).

    Example:
        >>> from crossent.torch.distributed import vocab_shard_bounds
        >>> vocab_shard_bounds(11, 2)
        [0, 6, 11]
    """
    size, extra = divmod(num_classes, world_size)
    return [r * size + min(r, extra) for r in range(world_size + 1)]


class VocabParallelLinearCrossEntropy(nn.Module):
    r"""This rank's rows of an output layer ``nn.Linear(D, V)`` and its vocabulary-parallel loss.

    Holds ``weight`` ``[V_r, D]`` (and ``bias`` ``[V_r]``), rank ``r``'s contiguous share of the
    classes (:func:`vocab_shard_bounds`: as even as possible), and computes
    :func:`vocab_parallel_linear_cross_entropy` of its input. Parameters are initialised as
    ``nn.Linear`` initialises the whole layer (uniform on :math:`\pm 1/\sqrt{D}`, which
    depends only on ``D``), each rank drawing its own rows; :meth:`from_linear` instead
    takes this rank's rows of an existing layer, to shard a trained model or to start every
    rank from one seed.

    Args:
        in_features: ``D``.
        num_classes: ``V``, at least the number of ranks.
        bias: learn a bias. Default: ``False``.
        group: the process group the vocabulary is split over. Default: ``None``.
        device: Default: ``None``.
        dtype: Default: ``None``.
        **options: the keywords of :func:`vocab_parallel_linear_cross_entropy`
            (``ignore_index``, ``label_smoothing``, ``z_loss``, ``logit_softcap``,
            ``reduction``, ``chunk_size``, ``reduce_hidden_grad``).

    Shape:
        - hidden: ``[..., D]``; targets: ``[...]`` global class indices, the same on every
          rank; output: scalar, or ``[...]`` for ``"none"``.

    Example:
        >>> import torch
        >>> import torch.distributed as dist
        >>> from crossent.torch import VocabParallelLinearCrossEntropy
        >>> dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
        >>> head = VocabParallelLinearCrossEntropy(8, 100)
        >>> head.vocab_start, head.vocab_end, tuple(head.weight.shape)
        (0, 100, (100, 8))
        >>> head(torch.randn(4, 8), torch.tensor([1, 2, 3, -100])).backward()
        >>> dist.destroy_process_group()
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        bias: bool = False,
        group: Any = None,
        device: Any = None,
        dtype: Any = None,
        **options: Any,
    ) -> None:
        super().__init__()
        unknown = sorted(set(options) - set(_MODULE_OPTIONS))
        if unknown:
            raise TypeError(
                f"VocabParallelLinearCrossEntropy got unexpected keyword {unknown[0]!r}; "
                f"expected one of {', '.join(_MODULE_OPTIONS)}."
            )
        check_options(
            options.get("ignore_index", -100),
            options.get("label_smoothing", 0.0),
            options.get("z_loss", 0.0),
            options.get("logit_softcap"),
            options.get("reduction", "mean"),
        )
        check_chunk_size(options.get("chunk_size"))
        if not isinstance(options.get("reduce_hidden_grad", True), bool):
            raise TypeError(
                "`reduce_hidden_grad` must be a bool; got "
                f"reduce_hidden_grad={options['reduce_hidden_grad']!r}."
            )
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "VocabParallelLinearCrossEntropy needs an initialised torch.distributed "
                "process group; call torch.distributed.init_process_group first."
            )
        world = dist.get_world_size(group)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int):
            raise TypeError(f"`num_classes` must be an int; got num_classes={num_classes!r}.")
        if num_classes < world:
            raise ValueError(
                f"`num_classes` must be at least the number of ranks ({world}) so that every "
                f"rank holds a class; got num_classes={num_classes}."
            )
        bounds = vocab_shard_bounds(num_classes, world)
        rank = dist.get_rank(group)
        self.vocab_start, self.vocab_end = bounds[rank], bounds[rank + 1]
        self.num_classes, self.group, self.options = num_classes, group, options
        linear = nn.Linear(
            in_features, self.vocab_end - self.vocab_start, bias=bias, device=device, dtype=dtype
        )
        self.weight = linear.weight
        self.bias = linear.bias

    @classmethod
    def from_linear(
        cls, linear: nn.Linear, *, group: Any = None, **options: Any
    ) -> VocabParallelLinearCrossEntropy:
        """This rank's rows of ``linear`` (``nn.Linear(D, V)``), copied."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"`linear` must be a torch.nn.Linear; got {type(linear).__name__}.")
        w = linear.weight
        head = cls(
            w.shape[1],
            w.shape[0],
            bias=linear.bias is not None,
            group=group,
            device=w.device,
            dtype=w.dtype,
            **options,
        )
        with torch.no_grad():
            head.weight.copy_(w[head.vocab_start : head.vocab_end])
            if linear.bias is not None:
                head.bias.copy_(linear.bias[head.vocab_start : head.vocab_end])
        return head

    def forward(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return vocab_parallel_linear_cross_entropy(
            hidden, self.weight, targets, local_bias=self.bias, group=self.group, **self.options
        )

    def extra_repr(self) -> str:
        d = self.weight.shape[1]
        head = (
            f"in_features={d}, num_classes={self.num_classes}, "
            f"classes=[{self.vocab_start}, {self.vocab_end}), bias={self.bias is not None}"
        )
        return ", ".join([head, *(f"{k}={v!r}" for k, v in self.options.items())])


_MODULE_OPTIONS = (
    "ignore_index",
    "label_smoothing",
    "z_loss",
    "logit_softcap",
    "reduction",
    "chunk_size",
    "reduce_hidden_grad",
)
"""The loss keywords :class:`VocabParallelLinearCrossEntropy` passes on."""
