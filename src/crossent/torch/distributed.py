r"""Vocabulary-parallel softmax cross-entropy over ``torch.distributed``.

When the output layer is split by vocabulary over the ranks of a process group (a
tensor-parallel language-model head), rank ``r`` holds the logits
:math:`z_{i,\,o_r : o_r + V_r}` of its contiguous shard only. Gathering the full ``[N, V]``
logits would undo the split; instead, as in Megatron-LM, the loss needs a few numbers per
row, each the all-reduce of a per-shard partial:

.. math:: m_i = \max_r \max_{j \in r} z_{ij}, \qquad
    S_i = \sum_r \sum_{j \in r} e^{z_{ij} - m_i}, \qquad
    z_{iy_i} = \sum_r [y_i \in r]\, z_{iy_i}, \qquad
    T_i = \sum_r \sum_{j \in r} z_{ij}

(``T`` only with label smoothing), so that :math:`s_i = m_i + \log S_i` is the row's
log-normaliser. With the sparse target coefficients :math:`a_{ij} = h_i [j = y_i] + u_i`
of :func:`crossent.grad.softmax_index_coefficients` the loss of
:func:`crossent.softmax_cross_entropy` is
:math:`\ell_i = h_i (s_i - z_{iy_i}) + u_i (V s_i - T_i) + \lambda_z r_i s_i^2`
(:func:`crossent.torch.fused.rows_loss`), and its closed-form gradient
:math:`q_{ij} k_i - a_{ij}` (:func:`crossent.grad.softmax_cross_entropy`) restricted to a
shard needs only :math:`s_i` and the targets, which every rank has: the backward pass
communicates nothing.

References:
    Shoeybi et al. "Megatron-LM: Training Multi-Billion Parameter Language Models Using
    Model Parallelism." 2019. https://arxiv.org/abs/1909.08053
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from crossent import _checks, _reduce, grad
from crossent._array import compute_dtype, namespace, one_hot_mask
from crossent.losses.categorical import mean_divisor, prepare_targets, row_weight
from crossent.torch.fused import Options, Rows, RowStats, rows_loss

__all__ = ["communication_bytes", "vocab_parallel_cross_entropy"]

_XP = namespace(torch.empty(0))
"""The array API namespace of torch tensors, for the core helpers."""

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


def _shard_sizes(v_local: int, device: Any, group: Any) -> list[int]:
    """Every rank's ``V_local``, in rank order: one all-gather of one int64 per rank."""
    mine = torch.tensor([v_local], dtype=torch.int64, device=device)
    sizes = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
    _record(mine)
    dist.all_gather(sizes, mine, group=group)
    return [int(s) for s in sizes]


def communication_bytes(n_rows: int, dtype: torch.dtype, *, label_smoothing: float = 0.0) -> int:
    r"""Bytes each rank contributes to the collectives of one :func:`vocab_parallel_cross_entropy`.

    .. math:: 8 + (3 + [\varepsilon > 0])\, N\, b

    8 bytes for the shard size (an all-gather of one int64), then ``N`` numbers of ``b``
    bytes (the compute dtype: float32 for fp16/bf16 logits) for the row maximum (all-reduce
    MAX) and for the sum of exponentials, the target logit and, with label smoothing ε, the
    row sum of logits (one all-reduce SUM of the stacked rows). The backward pass
    communicates nothing. Independent of the vocabulary size and of the number of ranks.

    Args:
        n_rows: ``N``, the number of rows (the product of the batch dimensions).
        dtype: dtype of the logits.
        label_smoothing: ε. Default: ``0.0``.

    Returns:
        The number of bytes, an ``int``.

    Example:
        >>> import torch
        >>> from crossent.torch.distributed import communication_bytes
        >>> communication_bytes(4096, torch.float32)  # 3 x 4096 float32 + one int64
        49160
    """
    width = torch.empty((), dtype=compute_dtype(_XP, torch.empty((), dtype=dtype))).element_size()
    return SIZE_BYTES + (3 + int(label_smoothing > 0)) * n_rows * width


# ---------------------------------------------------------------------------------------
# Host function: validation, shard layout, targets.
# ---------------------------------------------------------------------------------------


@dataclass
class Shard:
    """Where this rank's columns sit in the vocabulary."""

    offset: int  # o_r, global index of the first local column
    size: int  # V_r
    n_classes: int  # V, the whole vocabulary


def _shard(local_logits: torch.Tensor, group: Any) -> Shard:
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "`vocab_parallel_cross_entropy` needs an initialised torch.distributed process "
            "group; call torch.distributed.init_process_group first."
        )
    sizes = _shard_sizes(local_logits.shape[-1], local_logits.device, group)
    empty = [r for r, s in enumerate(sizes) if s == 0]
    if empty:
        # Every rank has every size, so every rank raises the same error.
        raise ValueError(
            f"`local_logits` must hold at least one vocabulary column on every rank; got "
            f"shard sizes {sizes} (empty on rank {empty[0]})."
        )
    rank = dist.get_rank(group)
    return Shard(offset=sum(sizes[:rank]), size=sizes[rank], n_classes=sum(sizes))


def _rows(
    targets: torch.Tensor,
    batch_shape: tuple[int, ...],
    shard: Shard,
    opts: Options,
    dtype: torch.dtype,
) -> Rows:
    """Validate global class-index ``targets`` with the core's rules; coefficients in ``dtype``."""
    t = prepare_targets(
        _XP,
        targets,
        pred_shape=(*batch_shape, shard.n_classes),
        axis=len(batch_shape),
        dtype=dtype,
        weight=None,
        ignore_index=opts.ignore_index,
        label_smoothing=opts.label_smoothing,
    )
    t.indices = t.indices.reshape(-1).to(torch.int64)
    t.valid = t.valid.reshape(-1)
    rw = row_weight(_XP, t, dtype)
    return Rows(
        indices=t.indices,
        row_weight=rw,
        coef=grad.softmax_index_coefficients(_XP, t, dtype),
        divisor=mean_divisor(_XP, t, rw),
        n_classes=shard.n_classes,
    )


def _local_targets(rows: Rows, shard: Shard) -> torch.Tensor:
    """Targets in local column numbers; ``-1`` where the target is another rank's."""
    local = rows.indices - shard.offset
    inside = (local >= 0) & (local < shard.size)
    return torch.where(inside, local, torch.full_like(local, -1))


def _row_stats(z: torch.Tensor, local_y: torch.Tensor, opts: Options, group: Any) -> RowStats:
    """The forward's communication: all-reduce MAX of ``m``, then one all-reduce SUM."""
    m = z.amax(dim=1)
    _all_reduce(m, dist.ReduceOp.MAX, group)
    # A row that is -inf everywhere has m = -inf: shift by 0 instead, and s = -inf follows.
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    inside = local_y >= 0
    picked = z.gather(1, torch.where(inside, local_y, 0)[:, None])[:, 0]
    parts = [torch.exp(z - m[:, None]).sum(dim=1), torch.where(inside, picked, 0.0)]
    if opts.label_smoothing:
        parts.append(z.sum(dim=1))
    sums = torch.stack(parts)
    _all_reduce(sums, dist.ReduceOp.SUM, group)
    total = sums[2] if opts.label_smoothing else torch.zeros_like(m)
    return RowStats(lse=m + torch.log(sums[0]), target=sums[1], total=total)


# ---------------------------------------------------------------------------------------
# Autograd function.
# ---------------------------------------------------------------------------------------


class VocabParallelCrossEntropyFunction(torch.autograd.Function):
    """Vocabulary-parallel softmax cross-entropy; see :func:`vocab_parallel_cross_entropy`."""

    @staticmethod
    def forward(
        ctx: Any,
        local_logits: torch.Tensor,
        rows: Rows,
        shard: Shard,
        opts: Options,
        group: Any,
    ) -> torch.Tensor:
        batch_shape = tuple(local_logits.shape[:-1])
        dtype = compute_dtype(_XP, local_logits)
        z = local_logits.reshape(-1, shard.size).to(dtype)
        local_y = _local_targets(rows, shard)
        stats = _row_stats(z, local_y, opts, group)
        loss = rows_loss(rows, stats, opts)
        if opts.reduction == "none":
            loss = loss.reshape(batch_shape)
        else:
            loss = _reduce.reduce(_XP, loss, opts.reduction, rows.divisor)
        ctx.save_for_backward(local_logits)
        ctx.rows, ctx.shard, ctx.opts, ctx.lse, ctx.local_y = rows, shard, opts, stats.lse, local_y
        return loss.to(local_logits.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, None, None, None, None]:
        (local_logits,) = ctx.saved_tensors
        rows, shard, opts, lse = ctx.rows, ctx.shard, ctx.opts, ctx.lse
        z = local_logits.reshape(-1, shard.size).to(lse.dtype)
        c = rows.coef
        # The closed form q_ij k_i − a_ij of crossent.grad.softmax_cross_entropy on this
        # rank's columns: a_ij = h_i [j = y_i] + u_i, whose one-hot part is empty when y_i
        # is another rank's column (local_y = -1 matches no column).
        k = grad.softmax_gradient_row_scale(
            _XP, c.total, z_loss=opts.z_loss, row_weight=rows.row_weight, lse=lse
        )
        onehot = one_hot_mask(_XP, ctx.local_y, shard.size, lse.dtype)
        a = c.target[:, None] * onehot + c.smooth[:, None]
        g = torch.exp(z - lse[:, None]) * k[:, None] - a
        g = _reduce.scale_gradient(_XP, g, opts.reduction, rows.divisor)
        g_out = grad_output.to(lse.dtype)
        g = g * (g_out.reshape(-1, 1) if opts.reduction == "none" else g_out)
        return g.to(local_logits.dtype).reshape(local_logits.shape), None, None, None, None


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
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Softmax cross-entropy of logits split by vocabulary over the ranks of ``group``.

    Rank ``r`` passes its contiguous shard ``[..., V_r]`` of the logits, the shards in rank
    order (sizes may differ); ``targets`` are global class indices, the same on every rank.
    Every rank returns the loss of :func:`crossent.softmax_cross_entropy` on the
    concatenated logits :math:`z = [z^{(0)}, \dots, z^{(R-1)}]` (class axis last):

    .. math:: \ell_i = -\sum_c a_{ic} \log q_{ic} + \lambda_z\, r_i\, s_i^2, \qquad
        s_i = \mathrm{logsumexp}_c\, z_{ic},

    with :math:`a_{ic} = (1-\varepsilon)[c = y_i] + \varepsilon / V` (0 for ignored rows)
    and :math:`r_i = 1` for counted rows, 0 for ignored ones. ``"mean"`` divides the sum by
    the number of non-ignored targets; an all-ignored batch gives 0 (not NaN). Backward gives
    each rank exactly its shard :math:`\partial L / \partial z^{(r)}` of the full gradient,
    without communication.

    Communication per call and rank: an all-gather of one int64 (the shard sizes), an
    all-reduce MAX of ``N`` numbers (the row maximum) and one all-reduce SUM of
    ``2 N`` numbers (sum of exponentials, target logit), ``3 N`` with label smoothing (the row
    sum of logits) — :func:`crossent.torch.distributed.communication_bytes`:
    :math:`8 + (3 + [\varepsilon > 0]) N b` bytes for ``b``-byte floats, e.g. 49 160 bytes
    for ``N = 4096`` float32 rows at any vocabulary size, where an all-gather of the
    ``V = 131072`` logits would deliver :math:`N V b` = 2 GiB to each rank.

    The gradient reaches only ``local_logits``: in a tensor-parallel head the hidden states
    that feed every shard need an all-reduce of their gradient (Megatron's
    ``copy_to_tensor_model_parallel_region``; see ``examples/vocab_parallel.py``). Class
    weights and probability targets are not supported in this version.

    Args:
        local_logits: this rank's logits shard, floating, shape ``[..., V_r]`` with
            ``V_r ≥ 1``; the batch dimensions ``...`` the same on every rank.
        targets: integer class indices in ``[0, V)`` (or ``ignore_index``), shape ``[...]``,
            the same on every rank.
        group: the process group the vocabulary is split over. Default: ``None`` (the
            default group).
        ignore_index: class index whose rows count for nothing; ``None`` disables it.
            Default: ``-100``.
        label_smoothing: ε in [0, 1], PyTorch's rule. Default: ``0.0``.
        z_loss: coefficient :math:`\lambda_z` of the squared log-normaliser. Default: ``0.0``.
        reduction: ``"none"`` | ``"mean"`` | ``"sum"``. Default: ``"mean"``.

    Returns:
        0-d tensor for ``"mean"``/``"sum"``, else the per-row losses of shape ``[...]``; in
        ``local_logits``' dtype (fp16/bf16 computed in float32), equal on every rank.

    Raises:
        ValueError: a rank with an empty shard (raised on every rank), targets of the wrong
            shape or out of range for the whole vocabulary, an unknown ``reduction``,
            out-of-range options.
        TypeError: non-tensor inputs, non-floating ``local_logits``, floating ``targets``.
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
    if not isinstance(local_logits, torch.Tensor):
        raise TypeError(
            f"`local_logits` must be a torch.Tensor; got {type(local_logits).__name__}."
        )
    _checks.floating(_XP, "local_logits", local_logits)
    if local_logits.ndim == 0:
        raise ValueError(
            "`local_logits` must have a vocabulary axis (shape [..., V_local]); got a 0-d tensor."
        )
    _checks.reduction(reduction)
    smoothing = _checks.number_in("label_smoothing", label_smoothing, 0.0, 1.0)
    z = _checks.non_negative("z_loss", z_loss)
    if ignore_index is not None:
        _checks.integer("ignore_index", ignore_index)
    opts = Options(ignore_index, smoothing, z, None, reduction)
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"`targets` must be a torch.Tensor; got {type(targets).__name__}.")
    if targets.is_floating_point():
        raise TypeError(
            "`targets` of vocab_parallel_cross_entropy must be integer class indices; got "
            f"dtype {str(targets.dtype).rsplit('.', 1)[-1]}."
        )
    shard = _shard(local_logits, group)
    dtype = compute_dtype(_XP, local_logits)
    rows = _rows(
        targets.to(local_logits.device), tuple(local_logits.shape[:-1]), shard, opts, dtype
    )
    loss: torch.Tensor = VocabParallelCrossEntropyFunction.apply(
        local_logits, rows, shard, opts, group
    )
    return loss
