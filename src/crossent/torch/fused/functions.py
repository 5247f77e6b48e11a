r"""Layer 3 of the fused losses: autograd functions and ``torch.library`` custom ops.

The default paths of :func:`crossent.torch.cross_entropy` and
:func:`crossent.torch.linear_cross_entropy` are custom ops (``crossent::cross_entropy``,
``crossent::linear_cross_entropy`` and their backward ops) with fake implementations
(shapes and dtypes only) and registered autograd, so that ``torch.compile(fullgraph=True)``
traces a model that calls them, each op an opaque node that runs the kernels of
:mod:`crossent.torch.fused.kernels`. Their arguments are tensors and plain options; the
targets are validated inside the op, on real tensors.

Two paths hold Python state that a custom op cannot take and stay autograd functions
(eager mode): the gradient written into the logits during the forward pass
(``inplace_backward=True``, :class:`CrossEntropyFunction`) and the vocabulary-parallel
losses, whose row statistics pass through collectives (:mod:`crossent.torch.distributed`).

Each op takes the ``kernel`` choice of the public functions as an argument and runs its
passes under it (:func:`~crossent.torch.fused.kernels.kernel_scope`), backward included,
so that one op serves every kernel.

Every backward is a closed form computed without autograd; under ``create_graph=True``
its result carries a node that refuses a second derivative with a message naming
:func:`crossent.softmax_cross_entropy` (:func:`first_derivative_only`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from crossent.torch.fused.host import (
    Chunking,
    LinearGrads,
    Options,
    Rows,
    hidden_rows,
    linear_chunks,
    logits_gradient,
    logits_loss,
    prepare_logits,
    prepare_rows,
    reduce_loss,
    row_count,
    rows_loss,
    scale_grads,
    upstream_scale,
)
from crossent.torch.fused.kernels import RowStats, kernel_scope, stats_dtype, uses_triton

__all__ = [
    "CrossEntropyFunction",
    "LinearCrossEntropyFunction",
    "cross_entropy_op",
    "first_derivative_only",
    "linear_cross_entropy_op",
]

SECOND_DERIVATIVE_MESSAGE = (
    "{caller} computes its gradient in closed form and has no second derivative (a "
    "gradient penalty or Hessian through it); use crossent.softmax_cross_entropy, which "
    "supports double backward."
)
"""The error raised when a second derivative is taken through a fused loss."""


def first_derivative_only(grads: tuple[Any, ...], caller: str) -> tuple[Any, ...]:
    """``grads`` from a backward pass that has no derivative of its own.

    Under ``create_graph=True`` (grad mode on inside backward) each gradient becomes a
    tensor that requires grad and whose own backward raises
    :data:`SECOND_DERIVATIVE_MESSAGE`: a gradient penalty then fails with that message
    instead of silently treating the gradient as a constant (what a gradient computed
    under ``no_grad`` would be). This is ``torch.autograd.function.once_differentiable``
    with a message that says what to use instead.

    Raises:
        RuntimeError: later, when the returned gradients are differentiated.
    """
    if not torch.is_grad_enabled() or torch.compiler.is_compiling():
        return grads
    present = [g for g in grads if g is not None]
    if not present:
        return grads
    message = SECOND_DERIVATIVE_MESSAGE.format(caller=caller).encode()
    err_fn = torch._C._functions.DelayedError(message, len(present))
    detached = [g.detach().requires_grad_(True) for g in present]
    result = err_fn(*detached)
    wrapped = iter((result,) if isinstance(result, torch.Tensor) else result)
    return tuple(None if g is None else next(wrapped) for g in grads)


def _options(
    ignore_index: int | None,
    label_smoothing: float,
    z_loss: float,
    logit_softcap: float | None,
    reduction: str,
) -> Options:
    return Options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)


def _rows(
    targets: torch.Tensor,
    batch_shape: tuple[int, ...],
    n_classes: int,
    opts: Options,
    like: torch.Tensor,
    caller: str,
    weight: torch.Tensor | None = None,
) -> Rows:
    rows = prepare_rows(
        targets,
        batch_shape,
        n_classes,
        opts,
        like.device,
        stats_dtype(like),
        caller=caller,
        weight=weight,
    )
    check_targets_on_device(rows, like)
    return rows


def check_targets_on_device(rows: Rows, like: torch.Tensor) -> None:
    """On the Triton kernels' path, class indices out of range stop the computation on the
    device without a host synchronisation (``torch._assert_async``: on CUDA a device-side
    assert, on CPU a ``RuntimeError``). The host reads the targets only under the
    validation policy, which is off on accelerators by default; the kernels themselves take
    indices outside the columns as another column chunk's."""
    if not uses_triton(like) or rows.indices.numel() == 0:
        return
    idx = rows.indices
    torch._assert_async(
        ((idx >= 0) & (idx < rows.n_classes)).all(),
        f"`targets`: a class index is out of range for {rows.n_classes} classes "
        "(checked on the device).",
    )


# ---------------------------------------------------------------------------------------
# crossent::cross_entropy
# ---------------------------------------------------------------------------------------

CE_CALLER = "crossent.torch.cross_entropy"
LCE_CALLER = "crossent.torch.linear_cross_entropy"


@torch.library.custom_op("crossent::cross_entropy", mutates_args=())
def cross_entropy_op(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor | None,
    ignore_index: int | None,
    label_smoothing: float,
    z_loss: float,
    logit_softcap: float | None,
    reduction: str,
    kernel: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss (reduced) and the row log-sum-exps ``[N]`` of :func:`crossent.torch.cross_entropy`."""
    opts = _options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)
    with kernel_scope(kernel):
        rows = _rows(
            targets, tuple(logits.shape[:-1]), logits.shape[-1], opts, logits, CE_CALLER, weight
        )
        _, stats, loss = logits_loss(logits, rows, opts)
    return loss, stats.lse


@cross_entropy_op.register_fake
def _cross_entropy_fake(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor | None,
    ignore_index: int | None,
    label_smoothing: float,
    z_loss: float,
    logit_softcap: float | None,
    reduction: str,
    kernel: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    shape = tuple(logits.shape[:-1]) if reduction == "none" else ()
    lse = logits.new_empty((row_count(logits),), dtype=stats_dtype(logits))
    return logits.new_empty(shape), lse


@torch.library.custom_op("crossent::cross_entropy_backward", mutates_args=())
def cross_entropy_backward_op(
    grad_loss: torch.Tensor,
    logits: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor | None,
    lse: torch.Tensor,
    ignore_index: int | None,
    label_smoothing: float,
    z_loss: float,
    logit_softcap: float | None,
    reduction: str,
    kernel: str | None = None,
) -> torch.Tensor:
    """``grad_loss · ∂loss/∂logits`` of :func:`cross_entropy_op` from its row log-sum-exps."""
    opts = _options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)
    with kernel_scope(kernel):
        rows = _rows(
            targets, tuple(logits.shape[:-1]), logits.shape[-1], opts, logits, CE_CALLER, weight
        )
        x = prepare_logits(logits)
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        scale = upstream_scale(grad_loss, reduction, lse.dtype)
        logits_gradient(x, out, rows, opts, lse, scale)
    return out.view(logits.shape)


@cross_entropy_backward_op.register_fake
def _cross_entropy_backward_fake(
    grad_loss: torch.Tensor,
    logits: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor | None,
    lse: torch.Tensor,
    ignore_index: int | None,
    label_smoothing: float,
    z_loss: float,
    logit_softcap: float | None,
    reduction: str,
    kernel: str | None = None,
) -> torch.Tensor:
    return logits.new_empty(logits.shape)


def _cross_entropy_setup(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    logits, targets, weight, *options = inputs
    ctx.mark_non_differentiable(output[1])
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(logits, targets, weight, output[1])
    ctx.options = tuple(options)


def _cross_entropy_backward(ctx: Any, grad_loss: torch.Tensor, _grad_lse: Any) -> tuple[Any, ...]:
    logits, targets, weight, lse = ctx.saved_tensors
    with torch.no_grad():
        g = cross_entropy_backward_op(grad_loss, logits, targets, weight, lse, *ctx.options)
    (g,) = first_derivative_only((g,), CE_CALLER)
    return (g, *[None] * 8)


cross_entropy_op.register_autograd(_cross_entropy_backward, setup_context=_cross_entropy_setup)


# ---------------------------------------------------------------------------------------
# crossent::linear_cross_entropy
# ---------------------------------------------------------------------------------------


def _linear_grad_shapes(
    hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, want: list[bool]
) -> list[tuple[torch.Tensor, tuple[int, ...]]]:
    """(template, shape) of the three gradient outputs; ``(0,)`` for the ones not wanted.
    The weight and bias gradients are accumulated in float32 for half inputs."""
    acc = torch.float32 if hidden.dtype in (torch.float16, torch.bfloat16) else hidden.dtype
    shapes = [
        tuple(hidden.shape) if want[0] else (0,),
        tuple(weight.shape) if want[1] else (0,),
        (weight.shape[0],) if want[2] and bias is not None else (0,),
    ]
    return [
        (hidden.new_empty((0,), dtype=d), s)
        for d, s in zip((hidden.dtype, acc, acc), shapes, strict=True)
    ]


def _linear_outputs(
    grads: LinearGrads | None,
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    want: list[bool],
) -> list[torch.Tensor]:
    """The three gradient outputs of the op: each computed gradient, else an empty tensor."""
    got = [None, None, None] if grads is None else [grads.hidden, grads.weight, grads.bias]
    out = []
    for g, (template, shape) in zip(
        got, _linear_grad_shapes(hidden, weight, bias, want), strict=True
    ):
        out.append(template.new_empty(shape) if g is None else g.view(shape))
    return out


@torch.library.custom_op("crossent::linear_cross_entropy", mutates_args=())
def linear_cross_entropy_op(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    ignore_index: int | None,
    label_smoothing: float,
    z_loss: float,
    logit_softcap: float | None,
    reduction: str,
    chunk_rows: int,
    chunk_cols: int,
    want: list[bool],
    kernel: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss, the row log-sum-exps ``[N]`` and — for ``"mean"``/``"sum"``, when ``want``
    names them — the gradients of (hidden, weight, bias) for an incoming gradient of 1,
    computed during the forward pass (empty tensors otherwise)."""
    opts = _options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)
    batch_shape = tuple(hidden.shape[:-1])
    now = any(want) and reduction != "none"
    with kernel_scope(kernel):
        rows = _rows(targets, batch_shape, weight.shape[0], opts, hidden, LCE_CALLER)
        stats, grads = linear_chunks(
            hidden_rows(hidden),
            weight,
            bias,
            rows,
            opts,
            Chunking(chunk_rows, chunk_cols),
            want=(want[0], want[1], want[2]) if now else None,
        )
    loss = reduce_loss(rows_loss(rows, stats, opts), rows, opts, batch_shape).to(hidden.dtype)
    dh, dw, db = _linear_outputs(grads, hidden, weight, bias, want if now else [False] * 3)
    return loss, stats.lse, dh, dw, db


@linear_cross_entropy_op.register_fake
def _linear_cross_entropy_fake(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    ignore_index: int | None,
    label_smoothing: float,
    z_loss: float,
    logit_softcap: float | None,
    reduction: str,
    chunk_rows: int,
    chunk_cols: int,
    want: list[bool],
    kernel: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    shape = tuple(hidden.shape[:-1]) if reduction == "none" else ()
    lse = hidden.new_empty((row_count(hidden),), dtype=stats_dtype(hidden))
    now = want if reduction != "none" else [False, False, False]
    dh, dw, db = (t.new_empty(s) for t, s in _linear_grad_shapes(hidden, weight, bias, now))
    return hidden.new_empty(shape), lse, dh, dw, db


@torch.library.custom_op("crossent::linear_cross_entropy_backward", mutates_args=())
def linear_cross_entropy_backward_op(
    grad_loss: torch.Tensor,
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    lse: torch.Tensor,
    ignore_index: int | None,
    label_smoothing: float,
    z_loss: float,
    logit_softcap: float | None,
    reduction: str,
    chunk_rows: int,
    chunk_cols: int,
    want: list[bool],
    kernel: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The gradients of (hidden, weight, bias) times ``grad_loss``, recomputing the logits
    chunk by chunk from the row log-sum-exps (empty tensors for those not in ``want``)."""
    opts = _options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)
    n = row_count(hidden)
    known = RowStats(lse, lse.new_zeros(n), lse.new_zeros(n))
    with kernel_scope(kernel):
        rows = _rows(targets, tuple(hidden.shape[:-1]), weight.shape[0], opts, hidden, LCE_CALLER)
        scale = upstream_scale(grad_loss, reduction, rows.row_weight.dtype)
        _, grads = linear_chunks(
            hidden_rows(hidden),
            weight,
            bias,
            rows,
            opts,
            Chunking(chunk_rows, chunk_cols),
            want=(want[0], want[1], want[2]),
            scale=scale,
            known=known,
        )
    dtypes = _backward_dtypes(hidden, weight, bias)
    got = scale_grads(grads or LinearGrads(None, None, None), None, dtypes)
    if got[0] is not None:
        got[0] = got[0].view(hidden.shape)
    dh, dw, db = (
        hidden.new_empty((0,), dtype=d) if g is None else g
        for g, d in zip(got, dtypes, strict=True)
    )
    return dh, dw, db


def _backward_dtypes(
    hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> tuple[torch.dtype, torch.dtype, torch.dtype]:
    return hidden.dtype, weight.dtype, hidden.dtype if bias is None else bias.dtype


@linear_cross_entropy_backward_op.register_fake
def _linear_cross_entropy_backward_fake(
    grad_loss: torch.Tensor,
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    lse: torch.Tensor,
    ignore_index: int | None,
    label_smoothing: float,
    z_loss: float,
    logit_softcap: float | None,
    reduction: str,
    chunk_rows: int,
    chunk_cols: int,
    want: list[bool],
    kernel: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    shapes = [s for _, s in _linear_grad_shapes(hidden, weight, bias, want)]
    dtypes = _backward_dtypes(hidden, weight, bias)
    dh, dw, db = (hidden.new_empty(s, dtype=d) for s, d in zip(shapes, dtypes, strict=True))
    return dh, dw, db


def _linear_setup(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    hidden, weight, bias, targets, *options = inputs
    want, reduction = options[7], options[4]  # the op's `want` and `reduction`
    ctx.now = any(want) and reduction != "none"
    ctx.want, ctx.reduction, ctx.options = want, reduction, tuple(options)
    ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
    ctx.hidden_shape = tuple(hidden.shape)
    ctx.mark_non_differentiable(*output[1:])
    # Backward receives an incoming gradient for every output; the others' would be
    # materialised as zeros of their shape (the size of the weight gradient).
    ctx.set_materialize_grads(False)
    if ctx.now:
        # Saved, not kept on ctx: autograd frees them after a backward that does not
        # retain the graph (and then refuses a second one with its own error).
        ctx.save_for_backward(*output[2:])
    else:
        ctx.save_for_backward(hidden, weight, bias, targets, output[1])


def _linear_backward(ctx: Any, grad_loss: torch.Tensor, *_unused: Any) -> tuple[Any, ...]:
    want = ctx.want
    with torch.no_grad():
        if ctx.now:
            dh, dw, db = ctx.saved_tensors
            acc = torch.float64 if ctx.dtypes[0] == torch.float64 else torch.float32
            scale = upstream_scale(grad_loss, ctx.reduction, acc)
            raw = LinearGrads(
                dh if want[0] else None,
                dw if want[1] else None,
                db if want[2] and ctx.dtypes[2] is not None else None,
            )
            grads = scale_grads(raw, scale, ctx.dtypes)
            if grads[0] is not None:
                grads[0] = grads[0].view(ctx.hidden_shape)
        else:
            hidden, weight, bias, targets, lse = ctx.saved_tensors
            out = linear_cross_entropy_backward_op(
                grad_loss, hidden, weight, bias, targets, lse, *ctx.options
            )
            grads = [g if w else None for g, w in zip(out, want, strict=True)]
            if bias is None:
                grads[2] = None
    dh, dw, db = first_derivative_only(tuple(grads), LCE_CALLER)
    return (dh, dw, db, *[None] * 10)


linear_cross_entropy_op.register_autograd(_linear_backward, setup_context=_linear_setup)


# ---------------------------------------------------------------------------------------
# Autograd functions: the in-place gradient and the vocabulary-parallel losses.
# ---------------------------------------------------------------------------------------


class CrossEntropyFunction(torch.autograd.Function):
    """Fused softmax cross-entropy on logits with Python-side state; see
    :func:`crossent.torch.cross_entropy`.

    ``rows`` are the validated targets (:func:`~crossent.torch.fused.host.prepare_rows`);
    ``inplace`` (already checked by :func:`~crossent.torch.fused.host.check_inplace`)
    writes the gradient into the logits during the forward pass. The vocabulary-parallel
    caller (:mod:`crossent.torch.distributed`) passes a shard of the logits, ``rows`` in
    local column numbers and a ``merge`` that turns the shard's row statistics into the
    whole vocabulary's.
    """

    @staticmethod
    def forward(
        ctx: Any,
        logits: torch.Tensor,
        rows: Rows,
        opts: Options,
        inplace: bool,
        merge: Callable[[RowStats], RowStats] | None = None,
    ) -> torch.Tensor:
        needs_grad = bool(ctx.needs_input_grad[0])
        write_now = inplace and needs_grad
        x, stats, loss = logits_loss(logits, rows, opts, merge)
        if write_now:
            logits_gradient(x, x, rows, opts, stats.lse, None)
            torch.autograd.graph.increment_version(logits)
            ctx.gradient = x
        elif needs_grad:
            ctx.save_for_backward(x)
        ctx.opts, ctx.rows, ctx.lse, ctx.inplace = opts, rows, stats.lse, write_now
        ctx.logits_shape = tuple(logits.shape)
        ctx.caller = CE_CALLER if merge is None else "crossent.torch.vocab_parallel_cross_entropy"
        return loss

    @staticmethod
    def backward(
        ctx: Any, grad_output: torch.Tensor
    ) -> tuple[torch.Tensor | None, None, None, None, None]:
        with torch.no_grad():
            g = CrossEntropyFunction._logits_grad(ctx, grad_output)
        (g,) = first_derivative_only((g,), ctx.caller)
        return g, None, None, None, None

    @staticmethod
    def _logits_grad(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        opts, rows = ctx.opts, ctx.rows
        scale = upstream_scale(grad_output, opts.reduction, ctx.lse.dtype)
        if ctx.inplace:
            g = ctx.gradient
            if g is None:
                # The gradient lives in the logits' storage and the first backward scaled it
                # in place: it cannot be handed out again.
                raise RuntimeError(
                    "Trying to backward through the graph a second time: with "
                    "inplace_backward=True the gradient is written into the logits and "
                    "consumed by the first backward (use inplace_backward=False to "
                    "backpropagate twice)."
                )
            ctx.gradient = None
            if scale is not None:
                g.mul_(scale[:, None] if scale.ndim == 1 else scale)
            return g.view(ctx.logits_shape)
        (x,) = ctx.saved_tensors
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        logits_gradient(x, out, rows, opts, ctx.lse, scale)
        return out.view(ctx.logits_shape)


class LinearCrossEntropyFunction(torch.autograd.Function):
    """Softmax cross-entropy of ``hidden @ weight.T + bias`` with Python-side state: the
    vocabulary-parallel linear loss (:mod:`crossent.torch.distributed`).

    For ``"mean"`` and ``"sum"`` the gradients are computed during the forward pass (the
    incoming gradient is a scalar that scales them in backward), so the logits are made
    once. For ``"none"`` the incoming gradient differs per row and is only known in
    backward, which recomputes the logits chunk by chunk (the row statistics are kept).

    ``rows`` are the validated targets with the targets in local column numbers,
    ``combine`` merges each row chunk's statistics over the ranks
    (:func:`~crossent.torch.fused.host.linear_chunks`), and ``reduce_hidden`` sums the
    hidden gradient over the ranks in place.
    """

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        rows: Rows,
        opts: Options,
        chunks: Chunking,
        grad_enabled: bool,
        combine: Callable[[RowStats], RowStats] | None = None,
        reduce_hidden: Callable[[torch.Tensor], None] | None = None,
    ) -> torch.Tensor:
        want = tuple(grad_enabled and bool(w) for w in ctx.needs_input_grad[:3])
        now = any(want) and opts.reduction != "none"
        stats, grads = linear_chunks(
            hidden_rows(hidden),
            weight,
            bias,
            rows,
            opts,
            chunks,
            want=want if now else None,  # type: ignore[arg-type]
            combine=combine,
        )
        loss = reduce_loss(rows_loss(rows, stats, opts), rows, opts, tuple(hidden.shape[:-1]))
        ctx.opts, ctx.rows, ctx.chunks, ctx.want = opts, rows, chunks, want
        ctx.reduce_hidden = reduce_hidden
        ctx.hidden_shape = tuple(hidden.shape)
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        ctx.done = grads is not None
        ctx.caller = "crossent.torch.vocab_parallel_linear_cross_entropy"
        if grads is not None:
            # Saved, not kept on ctx: autograd frees them after a backward that does not
            # retain the graph (and then refuses a second one with its own error).
            ctx.save_for_backward(grads.hidden, grads.weight, grads.bias)
        elif any(want):
            ctx.save_for_backward(hidden, weight, bias)
            ctx.stats = stats
        return loss.to(hidden.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
        with torch.no_grad():
            grads = LinearCrossEntropyFunction._grads(ctx, grad_output)
        dh, dw, db = first_derivative_only(grads, ctx.caller)
        return dh, dw, db, None, None, None, None, None, None

    @staticmethod
    def _grads(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """The gradients of (hidden, weight, bias) times ``grad_output``; the saved ones are
        left as they are, so that a retained graph can be backpropagated again."""
        opts = ctx.opts
        scale = upstream_scale(grad_output, opts.reduction, ctx.rows.row_weight.dtype)
        if ctx.done:
            grads = LinearGrads(*ctx.saved_tensors)
        else:
            hidden, weight, bias = ctx.saved_tensors
            _, computed = linear_chunks(
                hidden_rows(hidden),
                weight,
                bias,
                ctx.rows,
                opts,
                ctx.chunks,
                want=ctx.want,
                scale=scale,
                known=ctx.stats,
            )
            grads = computed if computed is not None else LinearGrads(None, None, None)
            scale = None
        out = scale_grads(grads, scale, ctx.dtypes)
        if out[0] is not None and ctx.reduce_hidden is not None:
            if ctx.done and out[0] is grads.hidden:
                out[0] = out[0].clone()  # the all-reduce is in place; the saved sum stays
            ctx.reduce_hidden(out[0])
        if out[0] is not None:
            out[0] = out[0].view(ctx.hidden_shape)
        return tuple(out)
