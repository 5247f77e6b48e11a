r"""The two passes of the fused losses as Triton kernels: CUDA tensors, or CPU tensors under
Triton's interpreter (``TRITON_INTERPRET=1``).

The same arithmetic as ``_kernel.c`` and the composed-torch pass of
:mod:`crossent.torch.fused.kernels`, on a block of rows per program, with
:math:`z' = c \tanh(z / c)` under a soft cap:

* :func:`row_stats` (the read pass) walks each row's column tiles once with an online
  log-sum-exp (Milakov and Gimelshein 2018) and gives the row log-sum-exp of :math:`z'`,
  the target logit :math:`z'_{iy_i}` (0 when :math:`y_i` is not a column) and the row sum
  :math:`\sum_j z'_{ij}`;
* :func:`apply_gradient` (the read-write pass) writes
  :math:`\partial z'/\partial z \cdot (e^{z' - s} k - u - h [j = y])` into ``out``, which
  may be the logits themselves (the in-place gradient).

Both are one jitted function, :func:`_rows_pass`, specialised by the compile-time flag
``GRADIENT``: the soft cap is written once. The row factors :math:`k, u, h`, the loss and
the reductions stay in the host code (:mod:`crossent.torch.fused.host`). Logits of float32,
float16 or bfloat16 are loaded and computed in float32 (the interpreter's bfloat16
arithmetic is not exact; the kernels never compute in it), and the gradient is stored in
the logits' dtype.

Triton is imported, and the kernel jitted, on first use: :mod:`crossent.torch.fused.kernels`
imports this module only when the Triton kernels are chosen, and importing it imports no
triton. Triton builds its standard library for the interpreter or for GPUs when it is
first imported, so on CPU tensors ``TRITON_INTERPRET=1`` must be set before that
(:func:`interpreter_unavailable` says when it was not).

References:
    Tillet, Kung and Cox. "Triton: an intermediate language and compiler for tiled neural
    network computations." MAPL 2019.
    Milakov and Gimelshein. "Online normalizer calculation for softmax." 2018.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

import torch

from crossent.torch.fused.stats import RowStats

__all__ = ["DTYPES", "apply_gradient", "interpreter_unavailable", "row_stats"]

tl: Any = None
"""``triton.language``, bound by :func:`_jitted` on first use (the kernel's globals)."""

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
"""Logits dtypes the kernels load (computed in float32)."""

TILE_ELEMENTS = 4096
"""Elements of one ``[BLOCK_R, BLOCK_C]`` tile of a compiled launch (registers per program)."""

INTERPRETED_TILE_ELEMENTS = 1 << 16
"""Elements of one tile under the interpreter, where each program is a NumPy loop: fewer,
larger programs are faster there."""

MAX_BLOCK_COLS = 4096
"""Widest column tile; a wider row is walked in several tiles (the online log-sum-exp)."""


def interpreter_unavailable() -> str | None:
    """Why Triton's interpreter cannot run the kernels on CPU tensors now, or None when it can.

    Example:
        >>> reason = interpreter_unavailable()
        >>> reason is None or "TRITON_INTERPRET=1" in reason
        True
    """
    # the values triton's own reading of the variable takes as on
    env_on = os.environ.get("TRITON_INTERPRET", "").lower() in ("1", "true", "on")
    if not env_on:
        return "Triton compiles for GPUs, and runs CPU tensors only in its interpreter (set TRITON_INTERPRET=1 before triton is imported)"
    if "triton" in sys.modules:
        import triton.language
        from triton.runtime.interpreter import InterpretedFunction

        if not isinstance(triton.language.sum, InterpretedFunction):
            return "TRITON_INTERPRET=1 was set after triton was imported, which then built its kernels for GPUs (set it before triton is imported)"
    return None


def _rows_pass(
    x_ptr,
    x_stride,
    out_ptr,
    out_stride,
    y_ptr,
    lse_ptr,
    zy_ptr,
    zsum_ptr,
    k_ptr,
    u_ptr,
    h_ptr,
    n_rows,
    n_cols,
    cap,
    SOFTCAP: tl.constexpr,
    GRADIENT: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """One program: rows ``[pid·BLOCK_R, (pid+1)·BLOCK_R)``, their columns in tiles of
    ``BLOCK_C``. ``GRADIENT=False`` writes ``lse``, ``zy``, ``zsum``; ``GRADIENT=True``
    reads ``lse``, ``k``, ``u``, ``h`` and writes ``out``."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_ok = rows < n_rows
    rows64 = rows.to(tl.int64)  # row offsets of [N, V] logits pass 2**31 at large V
    y = tl.load(y_ptr + rows, mask=row_ok, other=-1)
    if GRADIENT:
        lse = tl.load(lse_ptr + rows, mask=row_ok, other=0.0)
        k = tl.load(k_ptr + rows, mask=row_ok, other=0.0)
        u = tl.load(u_ptr + rows, mask=row_ok, other=0.0)
        h = tl.load(h_ptr + rows, mask=row_ok, other=0.0)
    else:
        m = tl.full([BLOCK_R], float("-inf"), tl.float32)
        s = tl.zeros([BLOCK_R], tl.float32)
        total = tl.zeros([BLOCK_R], tl.float32)
        target = tl.zeros([BLOCK_R], tl.float32)
    for c0 in range(0, n_cols, BLOCK_C):
        cols = c0 + tl.arange(0, BLOCK_C)
        mask = row_ok[:, None] & (cols < n_cols)[None, :]
        x = tl.load(x_ptr + rows64[:, None] * x_stride + cols[None, :], mask=mask, other=0.0).to(
            tl.float32
        )
        if SOFTCAP:
            # tanh as _kernel.c computes it: Cephes' odd polynomial below 0.625, else
            # 1 - 2 / (e^{2|a|} + 1) (|a| capped at 44, where tanh is 1 in float32)
            a = x / cap
            aa = tl.abs(a)
            a2 = a * a
            small = (
                (
                    ((-5.70498872745e-3 * a2 + 2.06390887954e-2) * a2 - 5.37397155531e-2) * a2
                    + 1.33314422036e-1
                )
                * a2
                - 3.33332819422e-1
            ) * a2 * a + a
            big = 1.0 - 2.0 / (tl.exp(2.0 * tl.minimum(aa, 44.0)) + 1.0)
            big = tl.where(a < 0.0, -big, big)
            z = cap * tl.where(aa < 0.625, small, big)
        else:
            z = x
        is_target = cols[None, :] == y[:, None]
        if GRADIENT:
            g = tl.exp(z - lse[:, None]) * k[:, None] - u[:, None]
            g = g - tl.where(is_target, h[:, None], 0.0)
            if SOFTCAP:
                c = z / cap
                g = g * (1.0 - c * c)
            out = out_ptr + rows64[:, None] * out_stride + cols[None, :]
            tl.store(out, g.to(out_ptr.dtype.element_ty), mask=mask)
        else:
            zm = tl.where(mask, z, float("-inf"))
            m_new = tl.maximum(m, tl.max(zm, axis=1))
            # a row still all -inf so far is shifted by 0, not by -inf (no -inf + inf = NaN)
            shift = tl.where(m_new == float("-inf"), 0.0, m_new)
            s = s * tl.exp(m - shift) + tl.sum(tl.exp(zm - shift[:, None]), axis=1)
            m = m_new
            total += tl.sum(tl.where(mask, z, 0.0), axis=1)
            target += tl.sum(tl.where(is_target & mask, z, 0.0), axis=1)
    if not GRADIENT:
        empty = m == float("-inf")  # every logit -inf: s = 0, and log(0) is not taken
        row_lse = tl.where(empty, m, m + tl.log(tl.where(empty, 1.0, s)))
        tl.store(lse_ptr + rows, row_lse, mask=row_ok)
        tl.store(zy_ptr + rows, target, mask=row_ok)
        tl.store(zsum_ptr + rows, total, mask=row_ok)


@functools.cache
def _jitted(interpret: bool) -> Any:
    """:func:`_rows_pass` jitted for compiled (``False``) or interpreted (``True``) launches
    (``triton.jit`` reads ``TRITON_INTERPRET`` when it wraps, so each is wrapped under its
    own setting), with ``tl`` bound for its body."""
    del interpret  # the cache key; triton.jit reads the setting itself
    global tl
    import triton
    import triton.language

    tl = triton.language
    return triton.jit(_rows_pass)


def _power_of_2(n: int) -> int:
    """The smallest power of two ``>= n`` (1 for ``n <= 1``)."""
    return 1 << max(0, n - 1).bit_length()


def _blocks(n: int, c: int, interpret: bool) -> tuple[int, int]:
    """``(BLOCK_R, BLOCK_C)``: powers of two, the tile at most the launch's element budget.

    Example:
        >>> _blocks(64, 1000, interpret=False), _blocks(64, 1000, interpret=True)
        ((4, 1024), (64, 1024))
    """
    budget = INTERPRETED_TILE_ELEMENTS if interpret else TILE_ELEMENTS
    block_c = min(_power_of_2(c), MAX_BLOCK_COLS)
    block_r = max(1, min(_power_of_2(n), budget // block_c))
    return block_r, block_c


def _launch(
    x: torch.Tensor,
    out: torch.Tensor,
    y: torch.Tensor,
    cap: float | None,
    vectors: tuple[torch.Tensor, ...],
    gradient: bool,
) -> None:
    n, c = x.shape
    if n == 0 or c == 0:
        return
    interpret = x.device.type == "cpu"
    block_r, block_c = _blocks(n, c, interpret)
    kernel = _jitted(interpret)
    kernel[(-(-n // block_r),)](
        x,
        x.stride(0),
        out,
        out.stride(0),
        y,
        *vectors,
        n,
        c,
        1.0 if cap is None else float(cap),
        SOFTCAP=cap is not None,
        GRADIENT=gradient,
        BLOCK_R=block_r,
        BLOCK_C=block_c,
        num_warps=4 if block_r * block_c <= 2048 else 8,
    )


def _check(x: torch.Tensor, y: torch.Tensor, *vectors: torch.Tensor) -> torch.Tensor:
    """Refuse what the kernels cannot take (the host code never passes it); ``y`` contiguous."""
    n = x.shape[0]
    if x.dtype not in DTYPES or x.ndim != 2 or (x.shape[1] > 1 and x.stride(1) != 1):
        raise RuntimeError(
            "internal: the Triton kernels take [N, C] float32/float16/bfloat16 logits with "
            f"unit column stride; got {x.dtype} of shape {tuple(x.shape)}, strides "
            f"{tuple(x.stride())}."
        )
    for v in vectors:
        if v.dtype != torch.float32 or v.shape != (n,) or not v.is_contiguous():
            raise RuntimeError(
                f"internal: a Triton row vector must be contiguous float32 of shape ({n},); "
                f"got {v.dtype} of shape {tuple(v.shape)}."
            )
    if y.dtype != torch.int64 or y.shape != (n,) or y.device != x.device:
        raise RuntimeError(
            f"internal: Triton class indices must be int64 of shape ({n},) on {x.device}; "
            f"got {y.dtype} of shape {tuple(y.shape)} on {y.device}."
        )
    return y.contiguous()


def row_stats(x: torch.Tensor, y: torch.Tensor, cap: float | None) -> RowStats:
    """The read pass of :func:`crossent.torch.fused.kernels.row_stats` as a Triton kernel.

    Args:
        x: ``[N, C]`` logits, float32, float16 or bfloat16, unit column stride.
        y: int64 ``[N]`` class indices; outside ``[0, C)`` the target logit is 0.
        cap: the soft cap ``c``, or None.

    Returns:
        :class:`~crossent.torch.fused.stats.RowStats` in float32, on ``x``'s device.

    Raises:
        RuntimeError: inputs that the host code never passes.

    Example:
        >>> import os, torch
        >>> os.environ["TRITON_INTERPRET"] = "1"  # CPU tensors run in the interpreter
        >>> s = row_stats(torch.zeros(1, 4), torch.tensor([2]), None)
        >>> round(float(s.lse), 4), float(s.target), float(s.total)
        (1.3863, 0.0, 0.0)
    """
    y = _check(x, y)
    n = x.shape[0]
    stats = RowStats(*(torch.zeros(n, dtype=torch.float32, device=x.device) for _ in range(3)))
    if x.shape[1] == 0:
        stats.lse.fill_(float("-inf"))  # logsumexp of no columns
    _launch(x, x, y, cap, (stats.lse, stats.target, stats.total, x, x, x), gradient=False)
    return stats


def apply_gradient(
    x: torch.Tensor,
    out: torch.Tensor,
    y: torch.Tensor,
    cap: float | None,
    lse: torch.Tensor,
    k: torch.Tensor,
    u: torch.Tensor,
    h: torch.Tensor,
) -> None:
    r"""The read-write pass of :func:`crossent.torch.fused.kernels.apply_gradient` as a
    Triton kernel: ``out[i, j] = ∂z'/∂z · (exp(z'_ij − lse_i)·k_i − u_i − h_i[j = y_i])``.

    Args:
        x: ``[N, C]`` logits, float32, float16 or bfloat16, unit column stride.
        out: where the gradient goes, ``x``'s shape and dtype; may be ``x`` itself.
        y: int64 ``[N]`` class indices (outside ``[0, C)``: no target column).
        cap: the soft cap ``c``, or None.
        lse: float32 ``[N]`` row log-sum-exps (finite).
        k: float32 ``[N]`` row factors of the softmax term.
        u: float32 ``[N]`` row factors of the uniform (smoothing) term.
        h: float32 ``[N]`` row factors of the target term.

    Raises:
        RuntimeError: inputs that the host code never passes.

    Example:
        >>> import os, torch
        >>> os.environ["TRITON_INTERPRET"] = "1"
        >>> x, g = torch.zeros(1, 2), torch.empty(1, 2)
        >>> one, half = torch.ones(1), torch.tensor([0.6931472])
        >>> apply_gradient(x, g, torch.tensor([0]), None, half, one, 0 * one, one)
        >>> g
        tensor([[-0.5000,  0.5000]])
    """
    y = _check(x, y, lse, k, u, h)
    if out.shape != x.shape or out.dtype != x.dtype or (out.shape[1] > 1 and out.stride(1) != 1):
        raise RuntimeError(
            f"internal: the Triton gradient goes into a {x.dtype} tensor of shape "
            f"{tuple(x.shape)} with unit column stride; got {out.dtype} of shape "
            f"{tuple(out.shape)}."
        )
    _launch(x, out, y, cap, (lse, x, x, k, u, h), gradient=True)
