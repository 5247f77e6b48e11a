r"""Fused low-memory softmax cross-entropy: on logits, and on ``hidden @ weight.T`` without them.

For a language model the logits ``[N, V]`` dominate memory. ``F.cross_entropy`` keeps
the log-softmax for its backward and writes a separate gradient (about three times the
logits at its peak on this machine); ``F.cross_entropy(hidden @ weight.T, targets)``
materialises the logits outright. Liger-Kernel (Hsu et al. 2024) and Cut Cross-Entropy
(Wijmans et al. 2025) fix this on GPUs; this module does it on any device PyTorch runs
on, with a compiled CPU kernel where a C compiler is available.

Every loss here is the core :func:`crossent.softmax_cross_entropy` with class-index
targets (class axis last), and its gradient is the closed form of
:mod:`crossent.grad`. Both need only three numbers per row of the (soft-capped) logits
:math:`z'`:

.. math:: s_i = \operatorname{logsumexp}_j z'_{ij}, \qquad z'_{i y_i}, \qquad \sum_j z'_{ij},

because with the sparse target coefficients :math:`a_{ij} = h_i [j = y_i] + u_i`
(:func:`crossent.grad.softmax_index_coefficients`) the loss is
:math:`\ell_i = \sum_j a_{ij} (s_i - z'_{ij}) + \lambda_z r_i s_i^2
= h_i (s_i - z'_{iy_i}) + u_i (C s_i - \sum_j z'_{ij}) + \lambda_z r_i s_i^2`, and the
gradient is :math:`\partial L / \partial z_{ij} = \sigma_i \big(q_{ij} k_i - a_{ij}\big)
\cdot \partial z'_{ij} / \partial z_{ij}` with :math:`q = e^{z' - s}`, the row factor
:math:`k_i` of :func:`crossent.grad.softmax_gradient_row_scale` and :math:`\sigma_i` the
reduction's scale times the incoming gradient.

So the kernel is two passes over the logits — a *read* pass for the row statistics and a
*read-write* pass that evaluates the gradient — which is exactly the memory-traffic floor
of a loss whose gradient is written in place. Layers, as in Liger-Kernel:

1. **kernels** — :func:`row_stats` and :func:`apply_gradient`: a C kernel (compiled once
   per machine on first use with the system's C compiler into ``~/.cache/crossent``, called
   through :mod:`ctypes` on CPU tensors, its rows spread over the OpenMP threads of
   PyTorch's own runtime, or over a small thread pool when the compiler has no OpenMP), or
   the same two passes in composed torch ops over blocks of rows (any device, or no
   compiler; set ``CROSSENT_KERNEL=torch`` to force it). Both compute in float32 (float64
   logits, which only the composed torch ops take, in float64).
2. **host functions** — validate the inputs and allocate (:func:`prepare_logits`,
   :func:`prepare_rows`, :func:`linear_chunks`).
3. **autograd functions** — :class:`CrossEntropyFunction`, :class:`LinearCrossEntropyFunction`.
4. **public API** — :func:`cross_entropy`, :func:`linear_cross_entropy` and the
   ``nn.Module`` :class:`LinearCrossEntropy`.

The implementation was chosen by measurement (``crossent bench``, ``benchmarks/README.md``):
on [4096, 32768] float32 logits and 2 CPU threads, forward + backward with the gradient in
place took 0.13–0.31× the time of ``F.cross_entropy`` with the C kernel (1.3–3.3× the
memory-bandwidth floor, on a shared machine), 0.44× with the composed torch ops when the
machine was not oversubscribed (far more under load: many small OpenMP ops), and
``torch.compile`` of ``F.cross_entropy`` was about 0.3× after a 15 s compilation, with a
logits-sized gradient. In :func:`linear_cross_entropy` the matrix products dominate. GPU use
goes through the composed torch ops; it is tested for correctness on CPU only and no GPU
performance is claimed.

References:
    Hsu et al. "Liger Kernel: Efficient Triton Kernels for LLM Training." 2024.
    Wijmans et al. "Cut Your Losses in Large-Vocabulary Language Models." ICLR 2025.
    Milakov and Gimelshein. "Online normalizer calculation for softmax." 2018.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import platform
import shutil
import string
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crossent import _checks, _reduce, grad
from crossent._array import asarray_in, namespace
from crossent.losses.categorical import (
    SoftmaxTargets,
    check_softmax_options,
    mean_divisor,
    prepare_targets,
    row_weight,
)

__all__ = ["LinearCrossEntropy", "cross_entropy", "kernel_backend", "linear_cross_entropy"]

BLOCK_BYTES = 4 << 20
"""Rows per block of the composed-torch kernel: about 1 MiB of float32, so that the block's
several passes stay in the L2 cache and the temporaries are O(block), not O(logits)."""

CHUNK_BYTES = 64 << 20
"""Default logits chunk of :func:`linear_cross_entropy`: at most 64 MiB of float32 logits
(512 rows at V = 32768). Each row chunk streams all of ``weight`` twice and all of its
gradient once, so small chunks make the matrix products slow: measured on 2 CPU cores at
N = 2048, D = 1024, V = 32768 (``benchmarks/README.md``), linear CE took about 0.97× the
unchunked three products with 512 rows, 1.07× with 256 and 1.2× with 128. Pass
``chunk_size`` to trade time for memory."""

MIN_CHUNK_ROWS = 128
"""Fewest rows in a default chunk; wider vocabularies are split into column chunks instead."""

PARALLEL_MIN_ELEMENTS = 1 << 16
"""Below this many logits the compiled kernel runs in the calling thread (no pool hand-off)."""

_XP = namespace(torch.empty(0))
"""The array API namespace of torch tensors, for the core helpers."""

KERNEL_ENV = "CROSSENT_KERNEL"
"""Environment variable: ``torch`` forces the composed-torch kernel; ``auto`` (the default)
uses the compiled kernel when it builds."""


# ---------------------------------------------------------------------------------------
# Layer 1: kernels. ``row_stats`` (read pass) and ``apply_gradient`` (read-write pass).
# ---------------------------------------------------------------------------------------

_C_COMMON = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x), accurate to about 1 ulp on [-87.3, 88.3] and exactly 0 below: Cody-Waite
   reduction x = n ln2 + r, |r| <= ln2/2, and Cephes' degree-6 polynomial for e^r. Written
   branch-free so that compilers vectorise the loops that call it. */
static inline float ce_exp(float x) {
    const float lo = -87.33654f, hi = 88.3762626647949f;
    float xc = x < lo ? lo : (x > hi ? hi : x);
    /* round to nearest through the 1.5 * 2^23 shifter; no -ffast-math needed */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < lo ? 0.0f : p * scale;
}

/* tanh(x): Cephes' odd polynomial for |x| < 0.625, else 1 - 2 / (e^{2|x|} + 1). */
static inline float ce_tanh(float x) {
    float ax = x < 0.0f ? -x : x;
    float z = x * x;
    float small = ((((-5.70498872745E-3f * z + 2.06390887954E-2f) * z - 5.37397155531E-2f) * z
                    + 1.33314422036E-1f) * z - 3.33332819422E-1f) * z * x + x;
    float big = 1.0f - 2.0f / (ce_exp(2.0f * (ax > 44.0f ? 44.0f : ax)) + 1.0f);
    big = x < 0.0f ? -big : big;
    return ax < 0.625f ? small : big;
}

static inline float load_f32(const float *p, int64_t j) { return p[j]; }
static inline void store_f32(float *p, int64_t j, float v) { p[j] = v; }

static inline float load_bf16(const uint16_t *p, int64_t j) {
    uint32_t bits = (uint32_t)p[j] << 16;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}
static inline void store_bf16(uint16_t *p, int64_t j, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16; /* nearest, ties even */
    p[j] = (uint16_t)(v != v ? ((bits >> 16) | 0x40u) : rounded);
}

/* 1 when the row loops run on OpenMP threads (those of PyTorch's own runtime, which is
   already loaded under the same soname), 0 when the caller must split the rows. */
int crossent_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

#ifdef __FLT16_MAX__
#define CE_HAS_F16 1
static inline float load_f16(const _Float16 *p, int64_t j) { return (float)p[j]; }
static inline void store_f16(_Float16 *p, int64_t j, float v) { p[j] = (_Float16)v; }
#endif
"""

_C_KERNELS = string.Template(r"""
/* Row statistics of z' = softcap(x) (cap <= 0: no cap) over `cols` columns of `rows` rows:
   lse[i] = logsumexp_j z'_ij, zy[i] = z'_{i,y_i} (0 when y_i is not in [0, cols)),
   zsum[i] = sum_j z'_ij. Two reads of each row; the second comes from cache. */
void crossent_stats_$name(const $T *x, int64_t stride, int64_t rows, int64_t cols,
                          const int64_t *y, float cap, float *lse, float *zy, float *zsum) {
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const $T *row = x + i * stride;
        float m = -INFINITY, total = 0.0f, sum = 0.0f;
        if (cap > 0.0f) {
            #pragma omp simd reduction(max:m) reduction(+:total)
            for (int64_t j = 0; j < cols; j++) {
                float z = cap * ce_tanh(load_$name(row, j) / cap);
                m = z > m ? z : m;
                total += z;
            }
            if (m > -INFINITY) {
                #pragma omp simd reduction(+:sum)
                for (int64_t j = 0; j < cols; j++) sum += ce_exp(cap * ce_tanh(load_$name(row, j) / cap) - m);
            }
        } else {
            #pragma omp simd reduction(max:m) reduction(+:total)
            for (int64_t j = 0; j < cols; j++) {
                float z = load_$name(row, j);
                m = z > m ? z : m;
                total += z;
            }
            if (m > -INFINITY) { /* the row is in cache now: this pass is compute-bound */
                #pragma omp simd reduction(+:sum)
                for (int64_t j = 0; j < cols; j++) sum += ce_exp(load_$name(row, j) - m);
            }
        }
        lse[i] = m > -INFINITY ? m + logf(sum) : m;
        int64_t yi = y[i];
        float target = 0.0f;
        if (yi >= 0 && yi < cols) {
            target = load_$name(row, yi);
            if (cap > 0.0f) target = cap * ce_tanh(target / cap);
        }
        zy[i] = target;
        zsum[i] = total;
    }
}

/* out_ij = dz'/dz_ij * (exp(z'_ij - lse_i) * k_i - u_i - h_i [j == y_i]), with
   dz'/dz = 1 - (z'/cap)^2 under a soft cap and 1 without. `out` may alias `x`. */
void crossent_apply_$name(const $T *x, int64_t xstride, $T *out, int64_t ostride,
                          int64_t rows, int64_t cols, const int64_t *y, float cap,
                          const float *lse, const float *k, const float *u, const float *h) {
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const $T *row = x + i * xstride;
        $T *orow = out + i * ostride;
        const float li = lse[i], ki = k[i], ui = u[i], hi = h[i];
        const int64_t yi = y[i];
        if (cap > 0.0f) {
            #pragma omp simd
            for (int64_t j = 0; j < cols; j++) {
                float z = cap * ce_tanh(load_$name(row, j) / cap);
                float g = ce_exp(z - li) * ki - ui - (j == yi ? hi : 0.0f);
                float c = z / cap;
                store_$name(orow, j, g * (1.0f - c * c));
            }
        } else {
            #pragma omp simd
            for (int64_t j = 0; j < cols; j++) {
                float g = ce_exp(load_$name(row, j) - li) * ki - ui - (j == yi ? hi : 0.0f);
                store_$name(orow, j, g);
            }
        }
    }
}
""")

_C_TYPES = {"f32": "float", "bf16": "uint16_t", "f16": "_Float16"}
_DTYPE_NAMES = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}


def kernel_source() -> str:
    """The C source of the compiled kernel: float32, bfloat16 and (where the compiler has
    ``_Float16``) float16 instantiations of the two passes."""
    parts = [_C_COMMON]
    for name, ctype in _C_TYPES.items():
        body = _C_KERNELS.substitute(name=name, T=ctype)
        parts.append(f"#ifdef CE_HAS_F16\n{body}\n#endif\n" if name == "f16" else body)
    return "\n".join(parts)


_COMPILE_FLAGS = (
    # 512-bit vectors where the CPU has them: the statistics pass is compute-bound (one exp
    # per logit) and ran 1.6x faster with them than with gcc's default 256-bit preference.
    [
        "-O3",
        "-march=native",
        "-mprefer-vector-width=512",
        "-fopenmp",
        "-fno-math-errno",
        "-fno-trapping-math",
    ],
    ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math"],
    ["-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math"],
    ["-O3", "-fno-math-errno", "-fno-trapping-math"],
)


def _cpu_signature() -> str:
    """What the compiled code depends on: the machine, and its instruction-set flags
    (``-march=native``), so that a cache shared between machines is never wrong."""
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    return f"{platform.machine()}|{platform.processor()}|{flags}"


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "crossent"


class _Kernel:
    """The compiled kernel, built on first use; ``lib`` is None where it cannot be built."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False
        self.lib: Any = None
        self.error: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pool_key = (0, 0)
        self.openmp = False

    def get(self) -> Any:
        if os.environ.get(KERNEL_ENV, "auto") == "torch":
            return None
        with self._lock:
            if not self._loaded:
                self._loaded = True
                try:
                    self.lib = self._load()
                except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
                    self.lib, self.error = None, str(exc)
        return self.lib

    def _load(self) -> Any:
        compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if compiler is None or sys.platform == "win32":
            raise RuntimeError("no C compiler found (set CC, or install gcc or clang)")
        source = kernel_source()
        errors = []
        for flags in _COMPILE_FLAGS:
            key = hashlib.sha256(
                "\0".join([source, compiler, *flags, _cpu_signature()]).encode()
            ).hexdigest()[:16]
            target = _cache_dir() / f"kernel-{key}.so"
            if not target.exists():
                try:
                    _compile(compiler, flags, source, target)
                except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
                    errors.append(str(exc))
                    continue
            lib = ctypes.CDLL(str(target))
            _declare(lib)
            self.openmp = bool(lib.crossent_openmp())
            return lib
        raise RuntimeError("; ".join(errors))

    def run(self, fn: Any, rows: int, cols: int, call: Any) -> None:
        """``call(fn, r0, r1)`` over row ranges split across torch's threads (ctypes
        releases the GIL during the foreign call)."""
        n_threads = max(1, min(torch.get_num_threads(), rows))
        if self.openmp or n_threads == 1 or rows * cols < PARALLEL_MIN_ELEMENTS:
            call(fn, 0, rows)
            return
        with self._lock:
            # a forked child inherits the pool object but not its threads: make a new one
            if self._pool is None or self._pool_key != (os.getpid(), n_threads):
                self._pool = ThreadPoolExecutor(n_threads, thread_name_prefix="crossent")
                self._pool_key = (os.getpid(), n_threads)
            pool = self._pool
        bounds = [rows * t // n_threads for t in range(n_threads + 1)]
        futures = [pool.submit(call, fn, bounds[t], bounds[t + 1]) for t in range(n_threads)]
        for future in futures:
            future.result()


def _compile(compiler: str, flags: list[str], source: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / "kernel.c"
        src.write_text(source, encoding="utf-8")
        out = Path(tmp) / "kernel.so"
        result = subprocess.run(
            [compiler, *flags, "-shared", "-fPIC", str(src), "-o", str(out), "-lm"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{compiler} {' '.join(flags)} failed: {result.stderr.strip()[:500]}"
            )
        os.replace(out, target)  # atomic: concurrent first uses never load half a file


def _declare(lib: Any) -> None:
    ptr, i64, f32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float
    for name in _C_TYPES:
        if not hasattr(lib, f"crossent_stats_{name}"):
            continue
        getattr(lib, f"crossent_stats_{name}").argtypes = [
            ptr,
            i64,
            i64,
            i64,
            ptr,
            f32,
            ptr,
            ptr,
            ptr,
        ]
        getattr(lib, f"crossent_apply_{name}").argtypes = [
            ptr,
            i64,
            ptr,
            i64,
            i64,
            i64,
            ptr,
            f32,
            ptr,
            ptr,
            ptr,
            ptr,
        ]


_KERNEL = _Kernel()


def kernel_backend() -> str:
    """``"c"`` when the compiled CPU kernel is in use for CPU tensors, else ``"torch"``.

    Example:
        >>> from crossent.torch.fused import kernel_backend
        >>> kernel_backend() in ("c", "torch")
        True
    """
    return "c" if _KERNEL.get() is not None else "torch"


def _c_function(x: torch.Tensor, kind: str) -> Any:
    """The compiled function for ``x`` (``kind`` = ``stats`` | ``apply``), or None."""
    if x.device.type != "cpu" or x.dtype not in _DTYPE_NAMES or x.stride(-1) != 1:
        return None
    lib = _KERNEL.get()
    if lib is None:
        return None
    return getattr(lib, f"crossent_{kind}_{_DTYPE_NAMES[x.dtype]}", None)


@dataclass
class RowStats:
    """Per-row statistics of the soft-capped logits ``z'``, shape ``[N]``, in the compute
    dtype (:func:`stats_dtype`)."""

    lse: torch.Tensor  # logsumexp_j z'_ij
    target: torch.Tensor  # z'_{i, y_i}, 0 where y_i is not a column of the block
    total: torch.Tensor  # sum_j z'_ij


def stats_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype the kernels compute in: float64 for float64 input, else float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _block_rows(cols: int) -> int:
    return max(1, BLOCK_BYTES // (4 * max(cols, 1)))


def _softcap(z: torch.Tensor, cap: float | None) -> torch.Tensor:
    return z if cap is None else cap * torch.tanh(z / cap)


def row_stats(x: torch.Tensor, y: torch.Tensor, cap: float | None) -> RowStats:
    """The read pass: :class:`RowStats` of ``x`` (``[N, C]``, unit column stride).

    ``y`` (int64 ``[N]``) may hold indices outside ``[0, C)`` (another column chunk's, or
    an ignored row's): their target logit is 0.
    """
    n, c = x.shape
    dt = stats_dtype(x)
    out = RowStats(*(torch.empty(n, dtype=dt, device=x.device) for _ in range(3)))
    fn = _c_function(x, "stats")
    if fn is not None:
        cap_c = 0.0 if cap is None else cap
        elem = x.element_size()

        def call(f: Any, r0: int, r1: int) -> None:
            f(
                x.data_ptr() + r0 * x.stride(0) * elem,
                x.stride(0),
                r1 - r0,
                c,
                y.data_ptr() + 8 * r0,
                cap_c,
                out.lse.data_ptr() + 4 * r0,
                out.target.data_ptr() + 4 * r0,
                out.total.data_ptr() + 4 * r0,
            )

        _KERNEL.run(fn, n, c, call)
        return out
    step = _block_rows(c)
    for r0 in range(0, n, step):
        z = _softcap(x[r0 : r0 + step].to(dt), cap)
        yb = y[r0 : r0 + step]
        inside = (yb >= 0) & (yb < c)
        picked = z.gather(1, torch.where(inside, yb, 0)[:, None])[:, 0]
        out.lse[r0 : r0 + step] = torch.logsumexp(z, dim=1)
        out.target[r0 : r0 + step] = torch.where(inside, picked, 0.0)
        out.total[r0 : r0 + step] = z.sum(dim=1)
    return out


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
    r"""The read-write pass: ``out[i, j] = ∂z'/∂z · (exp(z'_ij − lse_i)·k_i − u_i − h_i[j = y_i])``.

    ``out`` may be ``x`` itself (the in-place gradient). Row vectors are ``[N]`` in
    :func:`stats_dtype` of ``x``; the reduction's scale is already folded into ``k``, ``u``
    and ``h``.
    """
    n, c = x.shape
    fn = _c_function(x, "apply")
    if fn is not None and out.dtype == x.dtype and out.stride(-1) == 1:
        cap_c = 0.0 if cap is None else cap
        elem = x.element_size()

        def call(f: Any, r0: int, r1: int) -> None:
            f(
                x.data_ptr() + r0 * x.stride(0) * elem,
                x.stride(0),
                out.data_ptr() + r0 * out.stride(0) * elem,
                out.stride(0),
                r1 - r0,
                c,
                y.data_ptr() + 8 * r0,
                cap_c,
                lse.data_ptr() + 4 * r0,
                k.data_ptr() + 4 * r0,
                u.data_ptr() + 4 * r0,
                h.data_ptr() + 4 * r0,
            )

        _KERNEL.run(fn, n, c, call)
        return
    step = _block_rows(c)
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        zb = _softcap(x[r0:r1].to(lse.dtype), cap)
        g = torch.exp(zb - lse[r0:r1, None]).mul_(k[r0:r1, None]).sub_(u[r0:r1, None])
        yb = y[r0:r1]
        inside = (yb >= 0) & (yb < c)
        g.scatter_add_(
            1, torch.where(inside, yb, 0)[:, None], torch.where(inside, -h[r0:r1], 0.0)[:, None]
        )
        if cap is not None:
            g.mul_(1 - (zb / cap) ** 2)
        out[r0:r1].copy_(g)


# ---------------------------------------------------------------------------------------
# Layer 2: host functions. Validation, targets, coefficients, chunking.
# ---------------------------------------------------------------------------------------


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


def _check_options(
    ignore_index: Any, label_smoothing: Any, z_loss: Any, logit_softcap: Any, reduction: Any
) -> Options:
    _checks.reduction(reduction)
    smoothing, z, cap = check_softmax_options(label_smoothing, z_loss, logit_softcap)
    if ignore_index is not None:
        ignore_index = _checks.integer("ignore_index", ignore_index)
    return Options(ignore_index, smoothing, z, cap, reduction)


def _check_tensor(name: str, x: Any) -> None:
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
        weight = _class_weight(weight, opts, targets, device, caller)
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
    t = _flatten_targets(t)
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
    _check_tensor("targets", targets)
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(
            f"`targets` of {caller} must be integer class indices; got dtype "
            f"{str(targets.dtype).rsplit('.', 1)[-1]} (for probability targets use "
            "crossent.softmax_cross_entropy)."
        )


def _class_weight(
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
    weight = asarray_in(_XP, weight, "weight")
    namespace(like, weight)  # the core's rule: one array library (no NumPy weight here)
    return weight.to(device)


def _flatten_targets(t: SoftmaxTargets) -> SoftmaxTargets:
    t.indices = t.indices.reshape(-1)
    t.valid = t.valid.reshape(-1)
    return t


def rows_loss(rows: Rows, stats: RowStats, opts: Options) -> torch.Tensor:
    r"""Per-row loss from the row statistics:
    :math:`h_i (s_i - z'_{iy_i}) + u_i (C s_i - \sum_j z'_{ij}) + \lambda_z r_i s_i^2`,
    i.e. :math:`\sum_j a_{ij} (-\log q_{ij})` plus the z-loss."""
    c = rows.coef
    loss = weighted_term(c.target, stats.lse - stats.target)
    if opts.label_smoothing:
        loss = loss + weighted_term(c.smooth, rows.n_classes * stats.lse - stats.total)
    if opts.z_loss:
        loss = loss + weighted_term(opts.z_loss * rows.row_weight, stats.lse**2)
    return loss


def weighted_term(coef: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    r"""``coef * value`` with :math:`0 \cdot v = 0` for every ``v``: a zero target
    coefficient makes its term vanish even where the logits are :math:`-\infty` (the
    0·log 0 = 0 rule of :func:`crossent.cross_entropy`; an ignored row of masked logits
    has :math:`s - z' = -\infty + \infty`).

    Example:
        >>> import torch
        >>> weighted_term(torch.tensor([0.0, 2.0]), torch.tensor([float("nan"), 3.0]))
        tensor([0., 6.])
    """
    return torch.where(coef == 0, torch.zeros_like(value), coef * value)


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
    k = grad.softmax_gradient_row_scale(
        _XP, c.total, z_loss=opts.z_loss, row_weight=rows.row_weight, lse=lse
    )
    parts = []
    for v in (k, c.smooth, c.target):
        v = _reduce.scale_gradient(_XP, v, opts.reduction, rows.divisor)
        if scale is not None:
            v = v * scale
        parts.append(v.to(lse.dtype).contiguous())
    return lse, parts[0], parts[1], parts[2]


def _reduce_loss(loss_rows: torch.Tensor, rows: Rows, opts: Options, batch_shape: Any) -> Any:
    if opts.reduction == "none":
        return loss_rows.reshape(batch_shape)
    return _reduce.reduce(_XP, loss_rows, opts.reduction, rows.divisor)


def check_logits(logits: Any, name: str = "logits", axis: str = "a class axis") -> None:
    """A floating tensor with at least one dimension (its last the classes)."""
    _check_tensor(name, logits)
    _checks.floating(namespace(logits), name, logits)
    if logits.ndim == 0:
        raise ValueError(f"`{name}` must have {axis} (shape [..., C]); got a 0-d tensor.")


def _as_rows(logits: torch.Tensor) -> torch.Tensor | None:
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
    x = _as_rows(logits)
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
    if _as_rows(logits) is None:
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
# Layer 3: autograd functions.
# ---------------------------------------------------------------------------------------


class CrossEntropyFunction(torch.autograd.Function):
    """Fused softmax cross-entropy on logits; see :func:`cross_entropy`.

    ``rows`` are the validated targets (:func:`prepare_rows`); ``inplace`` (already checked
    by :func:`check_inplace`) writes the gradient into the logits during the forward pass.
    The vocabulary-parallel caller (:mod:`crossent.torch.distributed`) passes a shard of
    the logits, ``rows`` in local column numbers and a ``merge`` that turns the shard's row
    statistics into the whole vocabulary's.
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
        x = prepare_logits(logits)
        batch_shape = tuple(logits.shape[:-1])
        stats = row_stats(x, rows.indices, opts.logit_softcap)
        if merge is not None:
            stats = merge(stats)
        if write_now:
            lse, k, u, h = gradient_rows(rows, stats.lse, opts, None)
            apply_gradient(x, x, rows.indices, opts.logit_softcap, lse, k, u, h)
            torch.autograd.graph.increment_version(logits)
            ctx.gradient = x
        elif needs_grad:
            ctx.save_for_backward(x)
        loss = _reduce_loss(rows_loss(rows, stats, opts), rows, opts, batch_shape)
        ctx.opts, ctx.rows, ctx.lse, ctx.inplace = opts, rows, stats.lse, write_now
        ctx.logits_shape = tuple(logits.shape)
        ctx.caller = "crossent.torch." + (
            "cross_entropy" if merge is None else "vocab_parallel_cross_entropy"
        )
        return loss.to(logits.dtype)

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
        scale = row_scale_from_grad_output(grad_output, opts.reduction, ctx.lse.dtype)
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
        lse, k, u, h = gradient_rows(rows, ctx.lse, opts, scale)
        apply_gradient(x, out, rows.indices, opts.logit_softcap, lse, k, u, h)
        return out.view(ctx.logits_shape)


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
    under ``no_grad`` would be), as ``torch.autograd.function.once_differentiable`` does
    with a generic message.

    Raises:
        RuntimeError: later, when the returned gradients are differentiated.
    """
    if not torch.is_grad_enabled():
        return grads
    present = [g for g in grads if g is not None]
    if not present:
        return grads
    message = SECOND_DERIVATIVE_MESSAGE.format(caller=caller).encode()
    err_fn = torch._C._functions.DelayedError(message, len(present))
    detached = []
    for g in present:
        g = g.detach()
        g.requires_grad_(True)
        detached.append(g)
    result = err_fn(*detached)
    wrapped = iter((result,) if isinstance(result, torch.Tensor) else result)
    return tuple(None if g is None else next(wrapped) for g in grads)


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
            _chunk_stats(
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
            z = _last_logits(buf, hc, c1) if reuse else logits(c0, c1)
            apply_gradient(z, z, yc - c0, opts.logit_softcap, lse, k, u, hh)
            _accumulate(grads, z, hc, weight, r0, r1, c0, c1, first_col=c0 == 0, first_row=r0 == 0)
    return stats, grads


def _chunk_stats(
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


def _last_logits(buf: torch.Tensor, hc: torch.Tensor, v: int) -> torch.Tensor:
    """The single column chunk's logits, still in ``buf`` from the statistics pass."""
    return buf[: hc.shape[0] * v].view(hc.shape[0], v)


def _accumulate(
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


def _check_linear(
    hidden: Any, weight: Any, bias: Any, names: tuple[str, str, str] = ("hidden", "weight", "bias")
) -> None:
    """Types, shapes and dtypes of a linear layer's input, weight ``[V, D]`` and bias ``[V]``;
    ``names`` are the caller's argument names, for the errors."""
    nh, nw, nb = names
    _check_tensor(nh, hidden)
    _check_tensor(nw, weight)
    xp = namespace(hidden)
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
        _check_tensor(nb, bias)
        if tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(
                f"`{nb}` must have shape ({weight.shape[0]},); got {tuple(bias.shape)}."
            )
        if bias.dtype != hidden.dtype:
            raise TypeError(
                f"`{nb}` must have the dtype of `{nh}`; got {bias.dtype} and {hidden.dtype}."
            )


class LinearCrossEntropyFunction(torch.autograd.Function):
    """Softmax cross-entropy of ``hidden @ weight.T + bias``; see :func:`linear_cross_entropy`.

    For ``"mean"`` and ``"sum"`` the gradients are computed during the forward pass (the
    incoming gradient is a scalar that scales them in backward), so the logits are made
    once. For ``"none"`` the incoming gradient differs per row and is only known in
    backward, which recomputes the logits chunk by chunk (the row statistics are kept).

    ``rows`` are the validated targets (:func:`prepare_rows`). The vocabulary-parallel
    caller (:mod:`crossent.torch.distributed`) passes a shard of the weight, ``rows``
    with the targets in local column numbers, a ``combine`` for :func:`linear_chunks`,
    and ``reduce_hidden``, which sums the hidden gradient over the ranks in place.
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
        h = hidden.reshape(row_count(hidden), hidden.shape[-1])
        want = tuple(grad_enabled and bool(w) for w in ctx.needs_input_grad[:3])
        now = any(want) and opts.reduction != "none"
        stats, grads = linear_chunks(
            h,
            weight,
            bias,
            rows,
            opts,
            chunks,
            want=want if now else None,  # type: ignore[arg-type]
            combine=combine,
        )
        loss = _reduce_loss(rows_loss(rows, stats, opts), rows, opts, tuple(hidden.shape[:-1]))
        ctx.opts, ctx.rows, ctx.chunks, ctx.want = opts, rows, chunks, want
        ctx.reduce_hidden = reduce_hidden
        ctx.hidden_shape = tuple(hidden.shape)
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        ctx.done = grads is not None
        ctx.caller = "crossent.torch." + (
            "linear_cross_entropy" if combine is None else "vocab_parallel_linear_cross_entropy"
        )
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
        scale = row_scale_from_grad_output(grad_output, opts.reduction, ctx.rows.row_weight.dtype)
        if ctx.done:
            grads = LinearGrads(*ctx.saved_tensors)
        else:
            hidden, weight, bias = ctx.saved_tensors
            h = hidden.reshape(row_count(hidden), hidden.shape[-1])
            _, computed = linear_chunks(
                h,
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
        out: list[torch.Tensor | None] = []
        for g, dtype in zip((grads.hidden, grads.weight, grads.bias), ctx.dtypes, strict=True):
            if g is not None and scale is not None:
                g = g * scale
            out.append(None if g is None else g.to(dtype))
        if out[0] is not None and ctx.reduce_hidden is not None:
            if ctx.done and out[0] is grads.hidden:
                out[0] = out[0].clone()  # the all-reduce is in place; the saved sum stays
            ctx.reduce_hidden(out[0])
        if out[0] is not None:
            out[0] = out[0].view(ctx.hidden_shape)
        return tuple(out)


# ---------------------------------------------------------------------------------------
# Layer 4: public API.
# ---------------------------------------------------------------------------------------


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
    opts = _check_options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)
    check_logits(logits)
    inplace = inplace_decision(logits, inplace_backward, "logits")
    rows = prepare_rows(
        targets,
        tuple(logits.shape[:-1]),
        logits.shape[-1],
        opts,
        logits.device,
        stats_dtype(logits),
        caller="crossent.torch.cross_entropy",
        weight=weight,
    )
    result: torch.Tensor = CrossEntropyFunction.apply(logits, rows, opts, inplace)
    return result


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

    Returns:
        0-d tensor for ``"mean"``/``"sum"``, ``hidden.shape[:-1]`` for ``"none"``; in
        ``hidden``'s dtype.

    Raises:
        ValueError: mismatched shapes, class indices out of range, bad options.
        TypeError: non-tensor inputs, mismatched or non-floating dtypes, non-integer targets.

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
    opts = _check_options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)
    _check_linear(hidden, weight, bias)
    batch_shape = tuple(hidden.shape[:-1])
    chunks = chunking(chunk_size, math.prod(batch_shape), weight.shape[0])
    rows = prepare_rows(
        targets,
        batch_shape,
        weight.shape[0],
        opts,
        hidden.device,
        stats_dtype(hidden),
        caller="crossent.torch.linear_cross_entropy",
    )
    result: torch.Tensor = LinearCrossEntropyFunction.apply(
        hidden, weight, bias, rows, opts, chunks, torch.is_grad_enabled()
    )
    return result


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
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        _check_options(ignore_index, label_smoothing, z_loss, logit_softcap, reduction)
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
        }

    def forward(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return linear_cross_entropy(hidden, self.weight, targets, bias=self.bias, **self.options)

    def extra_repr(self) -> str:
        d, v = self.weight.shape[1], self.weight.shape[0]
        return f"in_features={d}, num_classes={v}, bias={self.bias is not None}, " + ", ".join(
            f"{k}={val!r}" for k, val in self.options.items()
        )
