r"""Layer 2 of the fused losses: host functions that validate the inputs and allocate.

Targets are validated with the core's rules (:func:`crossent.losses.categorical.prepare_targets`)
and turned into the sparse coefficients of :func:`crossent.grad.softmax_index_coefficients`;
the loss of each row comes from its row statistics (:func:`rows_loss`, by
:func:`crossent.losses._rows.loss_from_row_stats`) and its gradient's
row factors from :func:`crossent.losses._rows.softmax_gradient_row_scale` (:func:`gradient_rows`);
:func:`linear_chunks` runs :func:`crossent.torch.fused.kernels.row_stats` and
:func:`~crossent.torch.fused.kernels.apply_gradient` over chunks of ``hidden @ weight.T``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from crossent import _checks, _reduce, grad
from crossent._array import asarray_in, namespace
from crossent.losses._rows import loss_from_row_stats, softmax_gradient_row_scale
from crossent.losses.categorical import (
    SoftmaxTargets,
    check_softmax_options,
    mean_divisor,
    prepare_targets,
    row_weight,
)
from crossent.torch.fused.kernels import XP, RowStats, apply_gradient, row_stats, stats_dtype

CHUNK_BYTES = 64 << 20
"""Default logits chunk of :func:`linear_cross_entropy`: at most 64 MiB of float32 logits
(512 rows at V = 32768). Each row chunk streams all of ``weight`` twice and all of its
gradient once, so small chunks make the matrix products slow (``benchmarks/README.md``
measures 512, 256 and 128 rows). Pass ``chunk_size`` to trade time for memory."""

MIN_CHUNK_ROWS = 128
"""Fewest rows in a default chunk; wider vocabularies are split into column chunks instead."""


@dataclass
class Options:
    ignore_index: int | None
    label_smoothing: float
    z_loss: float
    logit_softcap: float | None
    reduction: str


@dataclass
class Rows:
    """Validated class-index targets of ``N`` rows over ``C`` classes, flattened, with the
    sparse coefficients :math:`a_{ij} = h_i [j = y_i] + u_i` and the ``"mean"`` divisor."""

    indices: torch.Tensor  # int64 [N], ignored rows -> 0
    row_weight: torch.Tensor  # [N], r_i, in the compute dtype
    coef: grad.IndexCoefficients
    divisor: Any
    n_classes: int

    def slice(self, r0: int, r1: int) -> Rows:
        """Rows ``r0:r1`` (the divisor stays the whole batch's)."""
        c = self.coef
        coef = grad.IndexCoefficients(c.target[r0:r1], c.smooth[r0:r1], c.total[r0:r1])
        return Rows(self.indices[r0:r1], self.row_weight[r0:r1], coef, self.divisor, self.n_classes)


def check_options(
    ignore_index: Any, label_smoothing: Any, z_loss: Any, logit_softcap: Any, reduction: Any
) -> Options:
    _checks.reduction(reduction)
    smoothing, z, cap = check_softmax_options(label_smoothing, z_loss, logit_softcap)
    if ignore_index is not None:
        ignore_index = _checks.integer("ignore_index", ignore_index)
    return Options(ignore_index, smoothing, z, cap, reduction)


def check_tensor(name: str, x: Any) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor; got {type(x).__name__}.")


def prepare_rows(
    targets: Any,
    batch_shape: tuple[int, ...],
    n_classes: int,
    opts: Options,
    device: Any,
    dtype: torch.dtype = torch.float32,
    caller: str = "the fused kernels",
    weight: Any = None,
) -> Rows:
    """Validate class-index ``targets`` of shape ``batch_shape`` (and the per-class
    ``weight``) with the core's rules; row vectors in ``dtype`` (the :func:`stats_dtype`
    of the logits). ``caller`` names the function in the errors."""
    check_index_targets(targets, caller)
    if weight is not None:
        weight = class_weight(weight, opts, targets, device, caller)
    xp = namespace(targets)
    t = prepare_targets(
        xp,
        targets.to(device),
        pred_shape=(*batch_shape, n_classes),
        axis=len(batch_shape),
        dtype=dtype,
        weight=weight,
        ignore_index=opts.ignore_index,
        label_smoothing=opts.label_smoothing,
    )
    t = flatten_targets(t)
    rw = row_weight(xp, t, dtype)
    return Rows(
        indices=t.indices.to(torch.int64),
        row_weight=rw,
        coef=grad.softmax_index_coefficients(xp, t, dtype),
        divisor=mean_divisor(xp, t, rw),
        n_classes=n_classes,
    )


def check_index_targets(targets: Any, caller: str) -> None:
    """``targets`` must be a tensor of integer class indices (not bool, not floating)."""
    check_tensor("targets", targets)
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(
            f"`targets` of {caller} must be integer class indices; got dtype "
            f"{str(targets.dtype).rsplit('.', 1)[-1]} (for probability targets use "
            "crossent.softmax_cross_entropy)."
        )


def class_weight(
    weight: Any, opts: Options, like: torch.Tensor, device: Any, caller: str
) -> torch.Tensor:
    """Per-class weights as a tensor on ``device`` (the core validates shape and values);
    a list of numbers is taken as ``like``'s library, an array of another library refused.

    The kernels' sparse coefficients carry the class weight in the target term
    (:math:`h_i = w_{y_i}`); the smoothing term's per-class weights (:math:`u_i w_j`)
    would need a weighted row sum inside the kernel, so the two are refused together.
    """
    if opts.label_smoothing:
        raise ValueError(
            f"`weight` together with `label_smoothing` is not supported by {caller}; use "
            "crossent.softmax_cross_entropy for both, or one of them here."
        )
    weight = asarray_in(XP, weight, "weight")
    namespace(like, weight)  # the core's rule: one array library (no NumPy weight here)
    return weight.to(device)


def flatten_targets(t: SoftmaxTargets) -> SoftmaxTargets:
    t.indices = t.indices.reshape(-1)
    t.valid = t.valid.reshape(-1)
    return t


def rows_loss(rows: Rows, stats: RowStats, opts: Options) -> torch.Tensor:
    r"""Per-row loss from the row statistics,
    :math:`h_i (s_i - z'_{iy_i}) + u_i (C s_i - \sum_j z'_{ij}) + \lambda_z r_i s_i^2`
    (:func:`crossent.losses._rows.loss_from_row_stats`)."""
    c = rows.coef
    smooth: dict[str, Any] = {}
    if opts.label_smoothing:
        smooth = {
            "smooth_coef": c.smooth,
            "weight_sum": rows.n_classes,
            "weighted_logit_sum": stats.total,
        }
    return loss_from_row_stats(
        XP,
        stats.lse,
        c.target,
        stats.target,
        z_loss=opts.z_loss,
        row_weight=rows.row_weight,
        **smooth,
    )


def gradient_lse(lse: torch.Tensor) -> torch.Tensor:
    r"""The row log-sum-exp as the gradient pass uses it: :math:`-\infty` (a row whose
    logits are all :math:`-\infty`) becomes 0, so that :math:`q = e^{z - s} = 0` on every
    class instead of :math:`e^{-\infty + \infty}` = NaN. Such a row can only carry a zero
    target (an ignored row), whose gradient is then exactly 0 (the 0·log 0 = 0 rule)."""
    return torch.where(lse == -math.inf, torch.zeros_like(lse), lse)


def gradient_rows(
    rows: Rows, lse: torch.Tensor, opts: Options, scale: torch.Tensor | float | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""``(lse, k, u, h)`` of :func:`apply_gradient`: :func:`gradient_lse` of the row
    log-sum-exp and the closed form's row factors, scaled by the reduction (``"mean"``:
    divided by its divisor) and by ``scale`` (the incoming gradient)."""
    c = rows.coef
    lse = gradient_lse(lse)
    k = softmax_gradient_row_scale(
        XP, c.total, z_loss=opts.z_loss, row_weight=rows.row_weight, lse=lse
    )
    parts = []
    for v in (k, c.smooth, c.target):
        v = _reduce.scale_gradient(XP, v, opts.reduction, rows.divisor)
        if scale is not None:
            v = v * scale
        parts.append(v.to(lse.dtype).contiguous())
    return lse, parts[0], parts[1], parts[2]


def reduce_loss(loss_rows: torch.Tensor, rows: Rows, opts: Options, batch_shape: Any) -> Any:
    if opts.reduction == "none":
        return loss_rows.reshape(batch_shape)
    return _reduce.reduce(XP, loss_rows, opts.reduction, rows.divisor)


def check_logits(logits: Any, name: str = "logits", axis: str = "a class axis") -> None:
    """A floating tensor with at least one dimension (its last the classes)."""
    check_tensor(name, logits)
    _checks.floating(XP, name, logits)
    if logits.ndim == 0:
        raise ValueError(f"`{name}` must have {axis} (shape [..., C]); got a 0-d tensor.")


def as_rows(logits: torch.Tensor) -> torch.Tensor | None:
    """``logits`` as an ``[N, C]`` view with unit column stride, or None."""
    c = logits.shape[-1]
    try:
        x = logits.view(row_count(logits), c)
    except RuntimeError:
        return None
    return x if x.stride(-1) == 1 or c == 1 else None


def prepare_logits(logits: torch.Tensor) -> torch.Tensor:
    """``logits`` as an ``[N, C]`` view with unit column stride (a contiguous copy when that
    is impossible; :func:`check_inplace` refuses such logits for the in-place gradient)."""
    x = as_rows(logits)
    if x is None:
        return logits.reshape(row_count(logits), logits.shape[-1]).contiguous()
    return x


def row_count(x: torch.Tensor) -> int:
    """``N``, the number of rows of ``x`` ``[..., C]`` (the product of its batch dimensions).

    Spelled out rather than ``reshape(-1, C)``, which is ambiguous when ``C = 0``.
    """
    return math.prod(x.shape[:-1])


def check_inplace(logits: torch.Tensor, name: str = "logits") -> None:
    """Refuse to overwrite logits that autograd needs elsewhere, or that cannot be written
    as ``[N, C]`` rows.

    Two cases of need are visible now and raise here: a leaf that requires grad (the user's
    own tensor, whose ``.grad`` autograd would fill), and logits that the op which produced
    them saved for its own backward (``tanh``, ``exp``, ``softmax``, ... save their result;
    checked on the view's base too). Every other autograd user that saved the logits or a
    view of them is caught by PyTorch's version counter, which the in-place write bumps: its
    backward raises "modified by an inplace operation" instead of computing with the
    overwritten values.
    """
    if as_rows(logits) is None:
        raise ValueError(
            f"`{name}` must be viewable as [N, C] with contiguous classes for "
            f"inplace_backward=True; got shape {tuple(logits.shape)} with strides "
            f"{tuple(logits.stride())} (pass {name}.contiguous() or inplace_backward=False)."
        )
    if logits.is_leaf and logits.requires_grad:
        raise ValueError(
            f"`{name}` is a leaf tensor that requires grad; inplace_backward=True would "
            "overwrite it with its own gradient (use inplace_backward=False)."
        )
    storage = logits.untyped_storage().data_ptr()
    nodes = [logits.grad_fn]
    if logits._base is not None:
        nodes.append(logits._base.grad_fn)
    for node in nodes:
        if node is None:
            continue
        for attr in dir(node):
            if not attr.startswith("_saved_"):
                continue
            try:
                saved = getattr(node, attr)
            except RuntimeError:
                continue
            if isinstance(saved, torch.Tensor) and saved.untyped_storage().data_ptr() == storage:
                raise ValueError(
                    f"`{name}` are needed by {node.name()} (as {attr[len('_saved_') :]}) for "
                    "its backward; inplace_backward=True would overwrite them "
                    "(use inplace_backward=False)."
                )


def row_scale_from_grad_output(
    grad_output: torch.Tensor, reduction: str, dtype: torch.dtype
) -> Any:
    """The incoming gradient in ``dtype`` as a scale of each row's coefficients (None when
    it is 1)."""
    if reduction == "none":
        return grad_output.reshape(-1).to(dtype)
    if grad_output.device.type == "cpu" and float(grad_output) == 1.0:
        return None
    return grad_output.to(dtype)


# ---------------------------------------------------------------------------------------
@dataclass
class Chunking:
    rows: int
    cols: int


def check_chunk_size(chunk_size: Any) -> tuple[int, int | None] | None:
    """``chunk_size`` as ``(rows, classes)`` (``classes`` None: the whole vocabulary), or
    None for the default; refuses anything but positive ints."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, tuple) and len(chunk_size) == 2:
        rows, cols = chunk_size
    else:
        rows, cols = chunk_size, None
    for value in (rows, cols) if cols is not None else (rows,):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                "`chunk_size` must be None, an int (rows) or a tuple of two ints (rows, "
                f"classes); got chunk_size={chunk_size!r}."
            )
        if value < 1:
            raise ValueError(f"`chunk_size` must be positive; got chunk_size={chunk_size!r}.")
    return rows, cols


def chunking(chunk_size: Any, n: int, v: int) -> Chunking:
    """Rows (and vocabulary columns) per chunk of :func:`linear_cross_entropy`."""
    checked = check_chunk_size(chunk_size)
    if checked is None:
        rows = max(1, min(n, max(MIN_CHUNK_ROWS, CHUNK_BYTES // (4 * max(v, 1)))))
        cols = v if rows * v * 4 <= CHUNK_BYTES else max(1, CHUNK_BYTES // (4 * rows))
        return Chunking(rows, cols)
    chunk_rows, chunk_cols = checked
    if chunk_cols is None:
        return Chunking(chunk_rows, v)
    return Chunking(chunk_rows, min(chunk_cols, v) if v else chunk_cols)


@dataclass
class LinearGrads:
    hidden: torch.Tensor | None
    weight: torch.Tensor | None
    bias: torch.Tensor | None


def linear_chunks(
    h: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    rows: Rows,
    opts: Options,
    chunks: Chunking,
    *,
    want: tuple[bool, bool, bool] | None,
    scale: torch.Tensor | None = None,
    combine: Callable[[RowStats], RowStats] | None = None,
    known: RowStats | None = None,
) -> tuple[RowStats, LinearGrads | None]:
    """Row statistics of ``h @ weight.T + bias`` chunk by chunk and, if ``want`` names any
    of (hidden, weight, bias), their gradients, accumulated in float32 for half inputs.

    With the vocabulary in one column chunk each row chunk costs the three matrix products
    ``z = h_c W^T``, ``dh_c = g W`` and ``dW += g^T h_c``, ``g`` overwriting ``z``. With
    several column chunks the statistics are merged across them with an online
    log-sum-exp first, and ``z`` is recomputed for the gradient (four products).

    ``combine`` turns each row chunk's statistics over ``weight``'s rows into those over
    the whole vocabulary before the chunk's gradient is formed (the vocabulary-parallel
    all-reduces); every rank must then use the same row chunks. ``known`` supplies the
    statistics of every row (a backward pass): only the gradient pass runs.
    """
    n, v = h.shape[0], weight.shape[0]
    acc = torch.float32 if h.dtype in (torch.float16, torch.bfloat16) else h.dtype
    if known is None:
        dt = stats_dtype(h)
        stats = RowStats(*(torch.empty(n, dtype=dt, device=h.device) for _ in range(3)))
    else:
        stats = known
    grads = None
    if want is not None:
        # Every gradient is written by its first row (or column) chunk; with no rows or no
        # columns there is no chunk, and the gradient is a sum of nothing: zeros.
        alloc = torch.zeros if n == 0 or v == 0 else torch.empty
        grads = LinearGrads(
            alloc(n, h.shape[1], dtype=h.dtype, device=h.device) if want[0] else None,
            alloc(weight.shape, dtype=acc, device=h.device) if want[1] else None,
            alloc(v, dtype=acc, device=h.device) if want[2] and bias is not None else None,
        )
    buf = torch.empty(min(chunks.rows, n) * min(chunks.cols, v), dtype=h.dtype, device=h.device)
    col_ranges = [(c0, min(v, c0 + chunks.cols)) for c0 in range(0, v, chunks.cols)]
    for r0 in range(0, n, chunks.rows):
        r1 = min(n, r0 + chunks.rows)
        hc, yc = h[r0:r1], rows.indices[r0:r1]

        def logits(c0: int, c1: int, hc: torch.Tensor = hc) -> torch.Tensor:
            z = buf[: hc.shape[0] * (c1 - c0)].view(hc.shape[0], c1 - c0)
            if bias is None:
                return torch.mm(hc, weight[c0:c1].T, out=z)
            return torch.addmm(bias[c0:c1], hc, weight[c0:c1].T, out=z)

        if known is None:
            chunk_stats(
                stats,
                r0,
                r1,
                [row_stats(logits(c0, c1), yc - c0, opts.logit_softcap) for c0, c1 in col_ranges],
                combine,
            )
        if grads is None:
            continue
        chunk_rows = rows.slice(r0, r1)
        row_scale = scale[r0:r1] if scale is not None and scale.ndim == 1 else scale
        lse, k, u, hh = gradient_rows(chunk_rows, stats.lse[r0:r1], opts, row_scale)
        reuse = known is None and len(col_ranges) == 1
        for c0, c1 in col_ranges:
            z = last_logits(buf, hc, c1) if reuse else logits(c0, c1)
            apply_gradient(z, z, yc - c0, opts.logit_softcap, lse, k, u, hh)
            accumulate(grads, z, hc, weight, r0, r1, c0, c1, first_col=c0 == 0, first_row=r0 == 0)
    return stats, grads


def chunk_stats(
    stats: RowStats,
    r0: int,
    r1: int,
    parts: list[RowStats],
    combine: Callable[[RowStats], RowStats] | None,
) -> None:
    """Write rows ``r0:r1`` of ``stats`` from the column chunks' ``parts``, merged with an
    online log-sum-exp (Milakov and Gimelshein 2018), then passed through ``combine``."""
    lse, target, total = parts[0].lse, parts[0].target, parts[0].total
    for part in parts[1:]:
        lse = torch.logaddexp(lse, part.lse)
        target = target + part.target
        total = total + part.total
    merged = RowStats(lse, target, total)
    if combine is not None:
        merged = combine(merged)
    stats.lse[r0:r1], stats.target[r0:r1], stats.total[r0:r1] = (
        merged.lse,
        merged.target,
        merged.total,
    )


def last_logits(buf: torch.Tensor, hc: torch.Tensor, v: int) -> torch.Tensor:
    """The single column chunk's logits, still in ``buf`` from the statistics pass."""
    return buf[: hc.shape[0] * v].view(hc.shape[0], v)


def accumulate(
    grads: LinearGrads,
    g: torch.Tensor,
    hc: torch.Tensor,
    weight: torch.Tensor,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    *,
    first_col: bool,
    first_row: bool,
) -> None:
    """``dh_c += g W_c``, ``dW_c += g^T h_c``, ``db_c += Σ_rows g`` (the first touch writes)."""
    if grads.hidden is not None:
        dh = grads.hidden[r0:r1]
        if first_col:
            torch.mm(g, weight[c0:c1], out=dh)
        else:
            dh.addmm_(g, weight[c0:c1])
    if grads.weight is not None:
        dw = grads.weight[c0:c1]
        gt, hf = (g.T, hc) if dw.dtype == g.dtype else (g.T.to(dw.dtype), hc.to(dw.dtype))
        if first_row:
            torch.mm(gt, hf, out=dw)
        else:
            dw.addmm_(gt, hf)
    if grads.bias is not None:
        db = grads.bias[c0:c1]
        col_sum = g.sum(dim=0, dtype=db.dtype)
        if first_row:
            db.copy_(col_sum)
        else:
            db.add_(col_sum)


def check_linear(
    hidden: Any, weight: Any, bias: Any, names: tuple[str, str, str] = ("hidden", "weight", "bias")
) -> None:
    """Types, shapes and dtypes of a linear layer's input, weight ``[V, D]`` and bias ``[V]``;
    ``names`` are the caller's argument names, for the errors."""
    nh, nw, nb = names
    check_tensor(nh, hidden)
    check_tensor(nw, weight)
    xp = XP
    _checks.floating(xp, nh, hidden)
    _checks.floating(xp, nw, weight)
    if hidden.ndim < 1 or weight.ndim != 2 or weight.shape[1] != hidden.shape[-1]:
        raise ValueError(
            f"`{nw}` must have shape [V, D] with D = {nh}.shape[-1]; got {nh} of shape "
            f"{tuple(hidden.shape)} and {nw} of shape {tuple(weight.shape)}."
        )
    if weight.dtype != hidden.dtype:
        raise TypeError(
            f"`{nw}` must have the dtype of `{nh}`; got {weight.dtype} and {hidden.dtype}."
        )
    if bias is not None:
        check_tensor(nb, bias)
        if tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(
                f"`{nb}` must have shape ({weight.shape[0]},); got {tuple(bias.shape)}."
            )
        if bias.dtype != hidden.dtype:
            raise TypeError(
                f"`{nb}` must have the dtype of `{nh}`; got {bias.dtype} and {hidden.dtype}."
            )


def inplace_decision(logits: torch.Tensor, inplace_backward: Any, name: str) -> bool:
    """Whether the gradient goes into ``logits`` during the forward pass (checked here:
    ``needs_input_grad`` inside ``forward`` ignores ``torch.no_grad()``)."""
    if not isinstance(inplace_backward, bool):
        raise TypeError(
            f"`inplace_backward` must be a bool; got inplace_backward={inplace_backward!r}."
        )
    inplace = inplace_backward and torch.is_grad_enabled() and logits.requires_grad
    if inplace:
        check_inplace(logits, name)
    return inplace


# ---------------------------------------------------------------------------------------
# The passes of each loss, shared by the autograd functions and the custom ops.
# ---------------------------------------------------------------------------------------


def logits_loss(
    logits: torch.Tensor,
    rows: Rows,
    opts: Options,
    merge: Callable[[RowStats], RowStats] | None = None,
) -> tuple[torch.Tensor, RowStats, torch.Tensor]:
    """The forward pass on ``[..., C]`` logits: their ``[N, C]`` rows, the row statistics
    (through ``merge``, the vocabulary-parallel all-reduces, when given) and the reduced
    loss in the logits' dtype."""
    x = prepare_logits(logits)
    stats = row_stats(x, rows.indices, opts.logit_softcap)
    if merge is not None:
        stats = merge(stats)
    loss = reduce_loss(rows_loss(rows, stats, opts), rows, opts, tuple(logits.shape[:-1]))
    return x, stats, loss.to(logits.dtype)


def logits_gradient(
    x: torch.Tensor,
    out: torch.Tensor,
    rows: Rows,
    opts: Options,
    lse: torch.Tensor,
    scale: torch.Tensor | None,
) -> None:
    """Write the gradient of the loss with respect to the rows ``x`` into ``out`` (which
    may be ``x``), times ``scale`` (the incoming gradient; None: 1)."""
    lse, k, u, h = gradient_rows(rows, lse, opts, scale)
    apply_gradient(x, out, rows.indices, opts.logit_softcap, lse, k, u, h)


def hidden_rows(hidden: torch.Tensor) -> torch.Tensor:
    """``hidden`` ``[..., D]`` as ``[N, D]``."""
    return hidden.reshape(row_count(hidden), hidden.shape[-1])


def scale_grads(
    grads: LinearGrads, scale: torch.Tensor | None, dtypes: tuple[Any, ...]
) -> list[torch.Tensor | None]:
    """(hidden, weight, bias) gradients times ``scale`` (None: 1), in ``dtypes``; the
    inputs are left as they are (a retained graph may need them again)."""
    out: list[torch.Tensor | None] = []
    for g, dtype in zip((grads.hidden, grads.weight, grads.bias), dtypes, strict=True):
        if g is not None and scale is not None:
            g = g * scale
        out.append(None if g is None else g.to(dtype))
    return out


def upstream_scale(grad_output: torch.Tensor, reduction: str, dtype: torch.dtype) -> Any:
    """:func:`row_scale_from_grad_output`, except that under ``torch.compile`` a scalar
    incoming gradient is always applied (its value is not known while tracing)."""
    if reduction != "none" and torch.compiler.is_compiling():
        return grad_output.to(dtype)
    return row_scale_from_grad_output(grad_output, reduction, dtype)
