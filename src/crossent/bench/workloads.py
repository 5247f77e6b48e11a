"""The measured workloads, run one per process by :mod:`crossent.bench.harness`.

``python -m crossent.bench.workloads SPEC`` (``SPEC`` a JSON object: ``workload``,
``params``, ``warmup``, ``repeats``) prints one JSON line: the wall time of each repeat,
the peak memory each repeat added, and the loss value (to check that the variants agree).

How memory is measured: before each repeat the inputs are made (untimed), the kernel's
peak-RSS mark is reset (``/proc/self/clear_refs``, value 5) and the current RSS read;
after the repeat the peak RSS (``VmHWM``) minus that RSS is the repeat's *peak extra
memory*: every page the workload touched beyond its inputs, whatever allocated it
(PyTorch, NumPy, the C kernel, compiled code). Free memory the allocator kept from earlier
repeats is handed back first (glibc ``malloc_trim``), so that reused pages count too. Where ``/proc`` cannot be reset, the
``getrusage`` peak is used, which is only a bound.

On CUDA (``"device": "cuda"`` in the spec) each repeat is timed with CUDA events and its
peak extra memory is ``torch.cuda.max_memory_allocated()`` above what was allocated when
it began (:class:`CudaClock`). A dry run (``"dry_run": true``) runs the same workloads on
CPU tensors, with wall time in place of the events and no memory figure
(:class:`DryClock`): it exercises the CUDA benchmark's code where there is no GPU.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import json
import re
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

Prepare = Callable[[], Any]
Run = Callable[[Any], float]

_KIB = 1024


def _status() -> dict[str, int]:
    with open("/proc/self/status", encoding="ascii") as f:
        text = f.read()
    return {
        key: int(match.group(1)) * _KIB
        for key in ("VmRSS", "VmHWM")
        if (match := re.search(rf"{key}:\s+(\d+)", text))
    }


def _release_free_memory() -> None:
    """Hand the allocator's free pages back to the kernel (glibc ``malloc_trim``), so that a
    run's allocations show up as new resident pages instead of reusing freed ones."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def measure(prepare: Prepare, run: Run, warmup: int, repeats: int) -> dict[str, Any]:
    """Time ``run(prepare())`` ``repeats`` times after ``warmup`` untimed calls."""
    times, peaks, value = [], [], float("nan")
    for i in range(warmup + repeats):
        state = prepare()
        gc.collect()
        _release_free_memory()
        exact = _reset_peak()
        before = (
            _status()["VmRSS"]
            if exact
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _KIB
        )
        start = time.perf_counter()
        value = run(state)
        elapsed = time.perf_counter() - start
        after = (
            _status()["VmHWM"]
            if exact
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _KIB
        )
        del state
        if i >= warmup:
            times.append(elapsed)
            peaks.append(max(0, after - before))
    return {"times": times, "peak_extra": peaks, "value": value, "exact_memory": exact}


class CudaClock:
    """One repeat on the GPU: CUDA events around it, the allocator's peak above its start."""

    def __init__(self) -> None:
        import torch

        self._cuda = torch.cuda
        self._start: Any = None
        self._base = 0

    def begin(self) -> None:
        cuda = self._cuda
        cuda.synchronize()
        cuda.reset_peak_memory_stats()
        self._base = cuda.memory_allocated()
        self._start = cuda.Event(enable_timing=True)
        self._start.record()

    def end(self) -> tuple[float, int]:
        """Seconds between the events and the peak bytes allocated beyond the start."""
        cuda = self._cuda
        stop = cuda.Event(enable_timing=True)
        stop.record()
        cuda.synchronize()
        seconds = self._start.elapsed_time(stop) / 1000  # elapsed_time is in milliseconds
        return seconds, max(0, cuda.max_memory_allocated() - self._base)


class DryClock:
    """:class:`CudaClock`'s stand-in in a dry run on CPU: wall time, and no memory figure."""

    def __init__(self) -> None:
        self._start = 0.0

    def begin(self) -> None:
        self._start = time.perf_counter()

    def end(self) -> tuple[float, int]:
        return time.perf_counter() - self._start, 0


def measure_device(
    prepare: Prepare, run: Run, warmup: int, repeats: int, clock: CudaClock | DryClock
) -> dict[str, Any]:
    """:func:`measure` on a GPU: ``clock`` times each repeat and reads its peak memory."""
    times, peaks, value = [], [], float("nan")
    for i in range(warmup + repeats):
        state = prepare()
        clock.begin()
        value = run(state)
        elapsed, peak = clock.end()
        del state
        if i >= warmup:
            times.append(elapsed)
            peaks.append(peak)
    return {"times": times, "peak_extra": peaks, "value": value, "exact_memory": True}


# ---------------------------------------------------------------------------------------
# Cross-entropy on logits [N, C]
# ---------------------------------------------------------------------------------------


def _logits_source(n: int, c: int, device: str = "cpu") -> tuple[Callable[[], Any], Any]:
    """Fresh logits for each repeat, as the output of an autograd op that ends the graph.

    The logits are a non-leaf tensor that requires grad (as a model's output is), and their
    gradient is consumed and dropped by that op's backward, so no variant keeps it.
    """
    import torch

    gen = torch.Generator().manual_seed(0)
    master = torch.randn(n, c, generator=gen).to(device)
    targets = torch.randint(0, c, (n,), generator=gen).to(device)

    class Source(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, anchor: Any) -> Any:
            return master.clone()

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return torch.zeros(())

    def fresh() -> Any:
        return Source.apply(torch.zeros((), requires_grad=True)), targets

    return fresh, targets


def ce_workload(name: str, n: int, c: int, device: str = "cpu", **_: Any) -> tuple[Prepare, Run]:
    import torch
    import torch.nn.functional as F

    fresh, _targets = _logits_source(n, c, device)
    if name == "ce_floor":

        def prepare_floor() -> Any:
            return fresh()[0].detach()

        def floor(x: Any) -> float:
            total = x.sum(dim=1)  # one read pass
            x.mul_(0.5)  # one read-write pass
            return float(total[0])

        return prepare_floor, floor

    liger: Any = None
    if name == "ce_liger":
        from liger_kernel.transformers import LigerCrossEntropyLoss

        liger = LigerCrossEntropyLoss()

    def loss_fn(logits: Any, targets: Any) -> Any:
        if name == "ce_torch":
            return F.cross_entropy(logits, targets)
        if liger is not None:
            return liger(logits, targets)
        from crossent.torch import cross_entropy

        return cross_entropy(logits, targets, inplace_backward=name.endswith("inplace"))

    def run(state: Any) -> float:
        logits, targets = state
        loss = loss_fn(logits, targets)
        loss.backward()
        return float(loss.detach())

    torch.manual_seed(0)
    return fresh, run


# ---------------------------------------------------------------------------------------
# Linear + cross-entropy: hidden [N, D], weight [V, D]
# ---------------------------------------------------------------------------------------


def naive_linear_cross_entropy(hidden: Any, weight: Any, targets: Any) -> Any:
    """The logits materialised, then ``F.cross_entropy``: what most training code does."""
    import torch.nn.functional as F

    return F.cross_entropy(hidden @ weight.T, targets)


def lce_workload(
    name: str, n: int, d: int, v: int, device: str = "cpu", **_: Any
) -> tuple[Prepare, Run]:
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(n, d, generator=gen).to(device).requires_grad_()
    weight = (torch.randn(v, d, generator=gen) / d**0.5).to(device).requires_grad_()
    targets = torch.randint(0, v, (n,), generator=gen).to(device)

    def prepare() -> Any:
        hidden.grad = None
        weight.grad = None
        return hidden, weight, targets

    if name == "lce_floor":

        def floor(state: Any) -> float:
            h, w, _ = state
            with torch.no_grad():
                z = h @ w.T
                dh = z @ w
                dw = z.T @ h
            return float(dh[0, 0] + dw[0, 0])

        return prepare, floor

    fn: Callable[..., Any]
    if name == "lce_naive":
        fn = naive_linear_cross_entropy
    elif name == "lce_torch":
        fn = F.linear_cross_entropy
    elif name == "lce_cce":
        from cut_cross_entropy import linear_cross_entropy as cce

        # its Triton kernels on a GPU, its torch.compile path on CPU
        fn = cce if device == "cuda" else functools.partial(cce, impl="torch_compile")
    elif name == "lce_liger":
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        liger = LigerFusedLinearCrossEntropyLoss()

        def fn(h: Any, w: Any, y: Any) -> Any:
            return liger(w, h, y)  # Liger takes the weight first
    else:
        from crossent.torch import linear_cross_entropy

        fn = linear_cross_entropy

    def run(state: Any) -> float:
        h, w, y = state
        loss = fn(h, w, y)
        loss.backward()
        return float(loss.detach())

    return prepare, run


# ---------------------------------------------------------------------------------------
# Linear distillation: student hidden [N, D] and weight [V, D] against a fixed teacher's
# ---------------------------------------------------------------------------------------


def naive_linear_distillation(hs: Any, ws: Any, ht: Any, wt: Any) -> Any:
    """Both models' logits materialised, then forward KL by ``F.kl_div`` (batchmean)."""
    import torch
    import torch.nn.functional as F

    log_q = F.log_softmax(hs @ ws.T, dim=-1)
    with torch.no_grad():
        log_p = F.log_softmax(ht @ wt.T, dim=-1)
    return F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")


def ld_workload(name: str, n: int, d: int, v: int, chunk: int = 0, **_: Any) -> tuple[Prepare, Run]:
    """The student's hidden states and weight get gradients; the teacher (same sizes) is
    fixed. ``chunk`` > 0 sets crossent's rows per chunk (0: its default)."""
    import torch

    gen = torch.Generator().manual_seed(0)
    hs = torch.randn(n, d, generator=gen).requires_grad_()
    ws = (torch.randn(v, d, generator=gen) / d**0.5).requires_grad_()
    ht = torch.randn(n, d, generator=gen)
    wt = torch.randn(v, d, generator=gen) / d**0.5

    def prepare() -> Any:
        hs.grad = None
        ws.grad = None
        return hs, ws, ht, wt

    if name == "ld_floor":

        def floor(state: Any) -> float:
            h, w, h_t, w_t = state
            with torch.no_grad():
                z = h @ w.T
                z_t = h_t @ w_t.T
                dh = z @ w
                dw = z.T @ h
            return float(dh[0, 0] + dw[0, 0] + z_t[0, 0])

        return prepare, floor

    fn: Callable[..., Any]
    if name == "ld_naive":
        fn = naive_linear_distillation
    else:
        from crossent.torch import linear_distillation_loss

        fn = functools.partial(linear_distillation_loss, chunk_size=chunk or None)

    def run(state: Any) -> float:
        loss = fn(*state)
        loss.backward()
        return float(loss.detach())

    return prepare, run


# ---------------------------------------------------------------------------------------
# NumPy core against scikit-learn's log_loss
# ---------------------------------------------------------------------------------------


def numpy_workload(name: str, n: int, c: int, **_: Any) -> tuple[Prepare, Run]:
    import numpy as np

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((n, c))
    targets = rng.integers(0, c, n)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    del shifted

    if name == "np_sklearn":
        from sklearn.metrics import log_loss

        labels = np.arange(c)

        def run(_: Any) -> float:
            return float(log_loss(targets, probs, labels=labels))
    elif name == "np_crossent_probs":
        from crossent import categorical_cross_entropy

        def run(_: Any) -> float:
            return float(categorical_cross_entropy(probs, targets))
    else:
        from crossent import softmax_cross_entropy

        def run(_: Any) -> float:
            return float(softmax_cross_entropy(logits, targets))

    return lambda: None, run


# ---------------------------------------------------------------------------------------
# Vocabulary-parallel cross-entropy, one process per rank (started by torch.distributed.run)
# ---------------------------------------------------------------------------------------

COLLECTIVE_BYTES: dict[str, int] = {"last": 0}
"""Bytes the collectives of the last vocabulary-parallel run returned to this rank."""


def vp_workload(name: str, n: int, d: int, v: int, **_: Any) -> tuple[Prepare, Run]:
    """Rank ``r`` holds rows ``[r V / R, (r + 1) V / R)`` of the output weight; every rank
    has the same hidden states and targets, and computes its shard's weight gradient."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    from crossent.torch import vocab_parallel_cross_entropy, vocab_parallel_linear_cross_entropy
    from crossent.torch.distributed import COMMUNICATION

    rank, world = dist.get_rank(), dist.get_world_size()
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(n, d, generator=gen)
    weight = torch.randn(v, d, generator=gen) / d**0.5
    targets = torch.randint(0, v, (n,), generator=gen)
    lo, hi = rank * v // world, (rank + 1) * v // world
    local = weight[lo:hi].clone().requires_grad_()
    del weight

    class GatherColumns(torch.autograd.Function):
        """All-gather of the logits shards along the classes. Every rank then computes the
        same loss, so its gradient is each rank's own columns of the full one."""

        @staticmethod
        def forward(ctx: Any, z: Any) -> Any:
            parts = [torch.empty_like(z) for _ in range(world)]
            dist.all_gather(parts, z.contiguous())
            COLLECTIVE_BYTES["last"] = sum(t.numel() * t.element_size() for t in parts)
            return torch.cat(parts, dim=1)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return grad[:, lo:hi]

    def loss_of(w: Any) -> Any:
        if name == "vp_gather":
            return F.cross_entropy(GatherColumns.apply(hidden @ w.T), targets)
        if name == "vp_crossent":
            return vocab_parallel_cross_entropy(hidden @ w.T, targets)
        if name == "vp_crossent_inplace":
            return vocab_parallel_cross_entropy(hidden @ w.T, targets, inplace_backward=True)
        return vocab_parallel_linear_cross_entropy(hidden, w, targets)

    def prepare() -> Any:
        local.grad = None
        return local

    def run(w: Any) -> float:
        before = COMMUNICATION.bytes
        loss = loss_of(w)
        loss.backward()
        if name != "vp_gather":
            COLLECTIVE_BYTES["last"] = COMMUNICATION.bytes - before
        return float(loss.detach())

    return prepare, run


WORKLOADS: dict[str, Callable[..., tuple[Prepare, Run]]] = {
    **{
        k: ce_workload
        for k in ("ce_torch", "ce_crossent", "ce_crossent_inplace", "ce_floor", "ce_liger")
    },
    **{
        k: lce_workload
        for k in ("lce_naive", "lce_torch", "lce_cce", "lce_crossent", "lce_floor", "lce_liger")
    },
    **{k: numpy_workload for k in ("np_crossent", "np_crossent_probs", "np_sklearn")},
    **{k: ld_workload for k in ("ld_naive", "ld_crossent", "ld_floor")},
    **{
        k: vp_workload
        for k in ("vp_gather", "vp_crossent", "vp_crossent_inplace", "vp_crossent_linear")
    },
}
"""Workload name → factory of ``(prepare, run)`` from the spec's params."""


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    import os

    for key, value in spec.get("env", {}).items():
        os.environ[key] = value
    name = spec["workload"]
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        import torch
        import torch.distributed as dist

        torch.set_num_threads(1)  # one rank per core
        dist.init_process_group("gloo")
    device, dry_run = spec.get("device", "cpu"), bool(spec.get("dry_run", False))
    tensors_on = "cpu" if dry_run else device
    prepare, run = WORKLOADS[name](name, device=tensors_on, **spec["params"])
    if device == "cuda":
        clock = DryClock() if dry_run else CudaClock()
        result = measure_device(prepare, run, spec["warmup"], spec["repeats"], clock)
    else:
        result = measure(prepare, run, spec["warmup"], spec["repeats"])
    if name.startswith(("ce_crossent", "lce_crossent", "vp_crossent")):
        from crossent.torch.fused import kernel_backend

        result["kernel"] = kernel_backend(tensors_on)
    if distributed:
        result["collective_bytes"] = COLLECTIVE_BYTES["last"]
        rank = dist.get_rank()
        dist.destroy_process_group()
        if rank != 0:
            return 0
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
