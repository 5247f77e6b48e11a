r"""Layer 1 of the fused losses: the two passes over blocks of logits rows.

:func:`row_stats` (the read pass) gives per row of the soft-capped logits :math:`z'`
the log-sum-exp, the target logit and the row sum; :func:`apply_gradient` (the read-write
pass) writes :math:`\partial z'/\partial z \cdot (e^{z' - s} k - u - h [j = y])`. Each has
two implementations that give the same numbers:

* the compiled CPU kernel, ``_kernel.c`` beside this file, built at install time as the
  optional extension ``crossent.torch.fused._kernel`` and called through :mod:`ctypes`
  on CPU tensors of float32, bfloat16 or float16 with unit column stride (its rows spread
  over OpenMP threads, or over a small thread pool when it was built without OpenMP);
* composed torch ops over blocks of rows (:func:`crossent.losses._rows.block_gradient`,
  the formula the core's gradient uses): any device and dtype (float64 logits are
  computed in float64), and wherever the compiled kernel is not installed.

A third implementation, :mod:`crossent.torch.fused.triton_kernels`, runs the two passes as
Triton kernels on CUDA tensors (and on CPU tensors under ``TRITON_INTERPRET=1``).

``CROSSENT_KERNEL``, or the ``kernel`` keyword of the fused losses (which sets it for one
call, :func:`kernel_scope`), chooses: ``auto`` (the default: Triton on CUDA tensors when
triton is installed, the compiled kernel on CPU tensors), ``c`` (the compiled kernel, an
error where it is not installed), ``torch`` (always the composed ops) or ``triton`` (the
Triton kernels, an error where they cannot run). Float64 logits, which neither compiled
kernel takes, always use the composed ops. When ``auto`` finds no usable compiled CPU
kernel, one warning per process says why (:class:`KernelUnavailableWarning`).

Nothing is compiled or written at run time. The loaded library is checked before use: its
ABI version, and the SHA-256 of the source it was built from against ``_kernel.c`` (so a
stale in-place build is refused, not run).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import torch

from crossent._array import namespace, softcap
from crossent.losses._rows import block_gradient
from crossent.torch.fused.stats import RowStats, stats_dtype

__all__ = [
    "KERNEL_ENV",
    "KERNEL_MODULE",
    "KernelLibrary",
    "KernelUnavailableWarning",
    "RowStats",
    "apply_gradient",
    "check_shared_object",
    "kernel_backend",
    "kernel_scope",
    "kernel_status",
    "row_stats",
    "stats_dtype",
]

KERNEL_ENV = "CROSSENT_KERNEL"
"""Environment variable choosing the kernel: ``auto`` (default), ``c``, ``torch`` or ``triton``."""

KERNEL_CHOICES = ("auto", "c", "torch", "triton")

TRITON_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
"""Logits dtypes the Triton kernels take (computed in float32)."""

_scoped_kernel: ContextVar[str | None] = ContextVar("crossent_kernel", default=None)

KERNEL_MODULE = "crossent.torch.fused._kernel"
"""The optional extension that holds the compiled kernel."""

KERNEL_ABI = 2
"""The ``CROSSENT_KERNEL_ABI`` of ``_kernel.c`` that this module calls."""

SOURCE = Path(__file__).with_name("_kernel.c")

BLOCK_BYTES = 4 << 20
"""Rows per block of the composed-torch kernel: about 1 MiB of float32, so that the block's
several passes stay in the L2 cache and the temporaries are O(block), not O(logits)."""

PARALLEL_MIN_ELEMENTS = 1 << 16
"""Below this many logits the compiled kernel runs in the calling thread (no pool hand-off)."""

XP = namespace(torch.empty(0))
"""The array API namespace of torch tensors, for the core helpers."""

_DTYPE_NAMES = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}


class KernelUnavailableWarning(UserWarning):
    """The compiled CPU kernel is not installed or not usable; the fused losses run on
    composed torch ops (same numbers, slower)."""


class KernelLibrary:
    """The compiled library, loaded on first use; ``lib`` is None where it cannot be.

    Args:
        module: the extension module to find. Default: :data:`KERNEL_MODULE`.
        source: the C source it must have been built from. Default: ``_kernel.c`` here.
        path: load this file instead of finding ``module``. Default: ``None``.
    """

    def __init__(
        self, module: str = KERNEL_MODULE, source: Path = SOURCE, path: Path | None = None
    ) -> None:
        self._module, self._source, self._path = module, source, path
        self._lock = threading.Lock()
        self._loaded = False
        self._warned = False
        self.lib: Any = None
        self.error: str | None = None
        self.openmp = False
        self._pool: ThreadPoolExecutor | None = None
        self._pool_key = (0, 0)

    def get(self) -> Any:
        """The library, or None (``error`` says why)."""
        with self._lock:
            if not self._loaded:
                self._loaded = True
                try:
                    self.lib = self._load()
                except (OSError, ImportError, RuntimeError, AttributeError) as exc:
                    self.lib, self.error = None, str(exc)
        return self.lib

    def _locate(self) -> str:
        if self._path is not None:
            return str(self._path)
        spec = importlib.util.find_spec(self._module)
        if spec is None or spec.origin is None:
            raise RuntimeError(
                f"the optional extension {self._module} is not installed (crossent was "
                "installed without a working C compiler; reinstall with one, or run "
                "`python setup.py build_ext --inplace` in a source checkout)"
            )
        return spec.origin

    def _load(self) -> Any:
        origin = self._locate()
        check_shared_object(origin)
        lib = ctypes.CDLL(origin)
        abi = _declare(lib)
        if abi != KERNEL_ABI:
            raise RuntimeError(
                f"{origin} has kernel ABI {abi}, this crossent needs {KERNEL_ABI} "
                "(rebuild the extension)"
            )
        built_from = lib.crossent_kernel_source_sha256().decode()
        if self._source.exists():
            expected = hashlib.sha256(self._source.read_bytes()).hexdigest()
            if built_from != expected:
                raise RuntimeError(
                    f"{origin} was built from another version of {self._source.name} "
                    "(rebuild the extension: `python setup.py build_ext --inplace`)"
                )
        self.openmp = bool(lib.crossent_openmp())
        return lib

    def warn_once(self) -> None:
        """One :class:`KernelUnavailableWarning` per process, with the reason."""
        with self._lock:
            if self._warned:
                return
            self._warned = True
        warnings.warn(
            f"crossent's compiled CPU kernel is unavailable ({self.error}); the fused "
            f"cross-entropy uses composed torch ops instead (same numbers, slower). Set "
            f"{KERNEL_ENV}=torch to choose them and silence this warning.",
            KernelUnavailableWarning,
            stacklevel=4,
        )

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


ELF_MAGIC = b"\x7fELF"


def check_shared_object(path: str) -> None:
    """Refuse an ELF shared object whose headers point past the end of the file.

    The dynamic loader maps the segments that the program headers name; a file cut short
    (an interrupted copy or install) makes that mapping reach beyond the end of the file,
    and the first access kills the process with SIGBUS instead of raising. Reading the
    64-bit ELF headers first turns that into an :class:`OSError`. Other formats
    (Mach-O, PE) are left to the platform's loader.

    Raises:
        OSError: the file is unreadable, or an ELF file that is truncated.
    """
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(ELF_MAGIC):
        if len(data) < 64:
            raise OSError(f"{path} is {len(data)} bytes long, not a shared library")
        return
    size = len(data)
    if size < 64 or data[4] != 2:  # ELFCLASS64; the kernel is only built 64-bit
        raise OSError(f"{path} is not a complete 64-bit ELF file ({size} bytes)")
    little = data[5] == 1

    def word(offset: int, width: int) -> int:
        return int.from_bytes(data[offset : offset + width], "little" if little else "big")

    phoff, shoff = word(32, 8), word(40, 8)
    phentsize, phnum, shentsize, shnum = word(54, 2), word(56, 2), word(58, 2), word(60, 2)
    if phoff + phentsize * phnum > size or shoff + shentsize * shnum > size:
        raise OSError(f"{path} is truncated ({size} bytes): its ELF headers lie past the end")
    for i in range(phnum):
        entry = phoff + i * phentsize
        offset, filesz = word(entry + 8, 8), word(entry + 32, 8)
        if word(entry, 4) == 1 and offset + filesz > size:  # PT_LOAD
            raise OSError(
                f"{path} is truncated ({size} bytes): a segment ends at byte {offset + filesz}"
            )


def _declare(lib: Any) -> int:
    """Set the argument types of the exported functions; the library's ABI version."""
    ptr, i64, f32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float
    lib.crossent_kernel_abi.restype = ctypes.c_int
    lib.crossent_kernel_abi.argtypes = []
    abi = int(lib.crossent_kernel_abi())
    if abi != KERNEL_ABI:
        return abi
    lib.crossent_kernel_source_sha256.restype = ctypes.c_char_p
    lib.crossent_kernel_source_sha256.argtypes = []
    lib.crossent_openmp.restype = ctypes.c_int
    lib.crossent_has_f16.restype = ctypes.c_int
    names = ["f32", "bf16"] + (["f16"] if lib.crossent_has_f16() else [])
    for name in names:
        stats = getattr(lib, f"crossent_stats_{name}")
        stats.restype = None
        stats.argtypes = [ptr, i64, i64, i64, ptr, f32, ptr, ptr, ptr]
        apply = getattr(lib, f"crossent_apply_{name}")
        apply.restype = None
        apply.argtypes = [ptr, i64, ptr, i64, i64, i64, ptr, f32, ptr, ptr, ptr, ptr]
    lib.crossent_dtypes = frozenset(names)
    return abi


_KERNEL = KernelLibrary()


def check_kernel(kernel: Any) -> str | None:
    """The ``kernel`` keyword of the fused losses, checked: None (``CROSSENT_KERNEL``) or one
    of :data:`KERNEL_CHOICES`.

    Raises:
        TypeError: neither None nor a string.
        ValueError: another string.
    """
    if kernel is not None and not isinstance(kernel, str):
        raise TypeError(
            f"`kernel` must be None or one of 'auto', 'c', 'torch', 'triton'; got kernel={kernel!r}."
        )
    if kernel is not None and kernel not in KERNEL_CHOICES:
        raise ValueError(
            f"`kernel` must be one of 'auto', 'c', 'torch', 'triton' or None; got kernel={kernel!r}."
        )
    return kernel


@contextmanager
def kernel_scope(kernel: str | None) -> Iterator[None]:
    """A block in which the kernels run as ``kernel`` chooses (None: ``CROSSENT_KERNEL``).

    Local to the thread or task that enters it: the fused ops enter it themselves, forward
    and backward, with the ``kernel`` they are given.

    Raises:
        TypeError, ValueError: as :func:`check_kernel`.
    """
    token = _scoped_kernel.set(check_kernel(kernel))
    try:
        yield
    finally:
        _scoped_kernel.reset(token)


def kernel_choice() -> str:
    """The choice in force: that of the innermost :func:`kernel_scope`, else
    ``CROSSENT_KERNEL``, checked (``auto`` when unset).

    Raises:
        ValueError: ``CROSSENT_KERNEL`` holds another value.
    """
    scoped = _scoped_kernel.get()
    if scoped is not None:
        return scoped
    value = os.environ.get(KERNEL_ENV, "auto")
    if value not in KERNEL_CHOICES:
        raise ValueError(
            f"`{KERNEL_ENV}` must be one of 'auto', 'c', 'torch', 'triton'; got "
            f"{KERNEL_ENV}={value!r}."
        )
    return value


def _asked(choice: str) -> str:
    """How the choice in force was made, for the errors: the keyword or the variable."""
    if _scoped_kernel.get() is not None:
        return f"`kernel`={choice!r}"
    return f"{KERNEL_ENV}={choice}"


def _library() -> Any:
    """The compiled library under the current choice, or None for the composed ops."""
    choice = kernel_choice()
    if choice in ("torch", "triton"):
        return None
    lib = _KERNEL.get()
    if lib is None:
        if choice == "c":
            raise RuntimeError(
                f"{_asked(choice)} asks for the compiled CPU kernel, which is unavailable: "
                f"{_KERNEL.error}."
            )
        _KERNEL.warn_once()
    return lib


def triton_unavailable(device: torch.device | str) -> str | None:
    """Why the Triton kernels cannot run on tensors of ``device`` now, or None when they can."""
    if importlib.util.find_spec("triton") is None:
        return "the triton package is not installed (pip install 'crossent[gpu]')"
    device_type = torch.device(device).type
    if device_type == "cuda":
        return None
    if device_type == "cpu":
        from crossent.torch.fused import triton_kernels

        return triton_kernels.interpreter_unavailable()
    return f"Triton kernels run on CUDA tensors (or on CPU under TRITON_INTERPRET=1), not {device_type}"


def uses_triton(x: torch.Tensor) -> bool:
    """Whether the passes over ``x`` run as Triton kernels under the choice in force.

    Raises:
        RuntimeError: ``triton`` is chosen and cannot run on ``x``'s device.
    """
    return _triton_for(x.device, x.dtype)


def _triton_for(device: torch.device | str, dtype: torch.dtype) -> bool:
    choice = kernel_choice()
    device = torch.device(device)
    if choice == "triton":
        reason = triton_unavailable(device)
        if reason is not None:
            raise RuntimeError(f"{_asked(choice)} cannot run on a {device.type} tensor: {reason}.")
        return dtype in TRITON_DTYPES
    if choice == "auto" and device.type == "cuda" and dtype in TRITON_DTYPES:
        return importlib.util.find_spec("triton") is not None
    return False


def kernel_backend(device: torch.device | str = "cpu") -> str:
    """The kernel that runs the passes on float32 tensors of ``device`` under the choice in
    force: ``"triton"``, ``"c"`` (the compiled CPU kernel) or ``"torch"`` (composed ops).

    Args:
        device: where the tensors are. Default: ``"cpu"``.

    Raises:
        ValueError: ``CROSSENT_KERNEL`` is not ``auto``, ``c``, ``torch`` or ``triton``.
        RuntimeError: ``c`` is chosen and the compiled kernel is unavailable, or ``triton``
            and Triton cannot run on ``device``.

    Example:
        >>> from crossent.torch.fused import kernel_backend
        >>> kernel_backend() in ("c", "torch")
        True
    """
    if _triton_for(device, torch.float32):
        return "triton"
    on_cpu = torch.device(device).type == "cpu"
    if not on_cpu and kernel_choice() != "c":  # `c` refuses a missing kernel everywhere
        return "torch"
    return "c" if _library() is not None and on_cpu else "torch"


def kernel_status() -> tuple[bool, str | None]:
    """Whether the compiled kernel is installed and usable, and if not, why."""
    return _KERNEL.get() is not None, _KERNEL.error


def _c_function(x: torch.Tensor, out: torch.Tensor | None, kind: str) -> Any:
    """The compiled function for ``x`` (``kind`` = ``stats`` | ``apply``), or None where
    the composed ops must run: another device or dtype, or rows whose columns are not
    contiguous. These are the only tensors whose pointers the C code is given."""
    if x.device.type != "cpu" or x.dtype not in _DTYPE_NAMES or x.ndim != 2:
        return None
    if x.shape[1] > 1 and x.stride(1) != 1:
        return None
    if out is not None and (
        out.device.type != "cpu"
        or out.dtype != x.dtype
        or out.shape != x.shape
        or (out.shape[1] > 1 and out.stride(1) != 1)
    ):
        return None
    lib = _library()
    if lib is None or _DTYPE_NAMES[x.dtype] not in lib.crossent_dtypes:
        return None
    return getattr(lib, f"crossent_{kind}_{_DTYPE_NAMES[x.dtype]}")


def _check_row_vectors(n: int, *vectors: torch.Tensor) -> None:
    """Row vectors handed to the C code: contiguous float32 ``[n]`` on the CPU."""
    for v in vectors:
        if (
            v.dtype != torch.float32
            or v.shape != (n,)
            or not v.is_contiguous()
            or v.device.type != "cpu"
        ):
            raise RuntimeError(
                f"internal: a kernel row vector must be contiguous float32 of shape ({n},); "
                f"got {v.dtype} of shape {tuple(v.shape)}."
            )


def _indices(n: int, y: torch.Tensor) -> torch.Tensor:
    """Class indices handed to the C code: int64 ``[n]`` on the CPU, contiguous."""
    if y.dtype != torch.int64 or y.shape != (n,) or y.device.type != "cpu":
        raise RuntimeError(
            f"internal: kernel class indices must be int64 of shape ({n},) on the CPU; got "
            f"{y.dtype} of shape {tuple(y.shape)} on {y.device}."
        )
    return y.contiguous()


def _block_rows(cols: int) -> int:
    return max(1, BLOCK_BYTES // (4 * max(cols, 1)))


def row_stats(x: torch.Tensor, y: torch.Tensor, cap: float | None) -> RowStats:
    """The read pass: :class:`RowStats` of ``x`` (``[N, C]``).

    ``y`` (int64 ``[N]``) may hold indices outside ``[0, C)`` (another column chunk's, or
    an ignored row's): their target logit is 0.

    Example:
        >>> import torch
        >>> s = row_stats(torch.zeros(1, 4), torch.tensor([2]), None)
        >>> round(float(s.lse), 4), float(s.target), float(s.total)
        (1.3863, 0.0, 0.0)
    """
    if uses_triton(x):
        from crossent.torch.fused import triton_kernels

        return triton_kernels.row_stats(x, y, cap)
    n, c = x.shape
    dt = stats_dtype(x)
    out = RowStats(*(torch.empty(n, dtype=dt, device=x.device) for _ in range(3)))
    fn = _c_function(x, None, "stats")
    if fn is not None:
        y = _indices(n, y)
        cap_c = 0.0 if cap is None else float(cap)
        elem, stride = x.element_size(), x.stride(0)

        def call(f: Any, r0: int, r1: int) -> None:
            f(
                x.data_ptr() + r0 * stride * elem,
                stride,
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
        z = softcap(XP, x[r0 : r0 + step].to(dt), cap)
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

    Example:
        >>> import torch
        >>> x, g = torch.zeros(1, 2), torch.empty(1, 2)
        >>> one, half = torch.ones(1), torch.tensor([0.6931472])
        >>> apply_gradient(x, g, torch.tensor([0]), None, half, one, 0 * one, one)
        >>> g
        tensor([[-0.5000,  0.5000]])
    """
    if uses_triton(x):
        from crossent.torch.fused import triton_kernels

        triton_kernels.apply_gradient(x, out, y, cap, lse, k, u, h)
        return
    n, c = x.shape
    fn = _c_function(x, out, "apply")
    if fn is not None:
        y = _indices(n, y)
        _check_row_vectors(n, lse, k, u, h)
        cap_c = 0.0 if cap is None else float(cap)
        elem, xs, os_ = x.element_size(), x.stride(0), out.stride(0)

        def call(f: Any, r0: int, r1: int) -> None:
            f(
                x.data_ptr() + r0 * xs * elem,
                xs,
                out.data_ptr() + r0 * os_ * elem,
                os_,
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
        block_gradient(
            XP,
            softcap(XP, x[r0:r1].to(lse.dtype), cap),
            lse[r0:r1],
            k[r0:r1],
            smooth_coef=u[r0:r1],
            target_coef=h[r0:r1],
            indices=y[r0:r1],
            cap=cap,
            out=out[r0:r1],
        )
