"""Run the benchmark cases, one process each, and present them as ratios.

Every case is a workload of :mod:`crossent.bench.workloads` run in a fresh Python process
(so that peak memory is that variant's alone), with warm-up runs first and the median of
the timed repeats reported. Cases of one group run back to back in the same invocation,
so their ratios compare runs made under the same machine load.

``device="cuda"`` runs the GPU tables instead (:func:`cuda_cases`): the same workloads on
CUDA tensors, timed with CUDA events, against Liger-Kernel and Cut Cross-Entropy where they
are installed; ``dry_run=True`` runs them on CPU tensors (the Triton kernels in Triton's
interpreter) to exercise that code where there is no GPU. No GPU target is stated.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

MIB = 1 << 20
FLOAT32_BYTES = 4
CASE_TIMEOUT_S = 900
"""A case that runs longer than this is reported as failed (not waited for)."""

TORCH_OPS_ENV = {"CROSSENT_KERNEL": "torch"}
TRITON_ENV = {"CROSSENT_KERNEL": "triton"}
DRY_RUN_ENV = {"TRITON_INTERPRET": "1"}
"""Set in a dry run's processes, so that the Triton kernels run on CPU tensors."""

GROUPS = ("ce", "lce", "numpy", "sweep", "vp")
"""The tables of ``crossent bench`` (``--only``); a case's group is one of them, the
sweep's as ``sweep-ce`` / ``sweep-lce``."""

VP_RANKS = 2
"""Processes of the vocabulary-parallel cases (one per core on a 2-core machine)."""


@dataclass
class Case:
    group: str  # "ce" | "lce" | "numpy" | "sweep-ce" | "sweep-lce" | "vp"
    label: str
    workload: str
    params: dict[str, int]
    env: dict[str, str] = field(default_factory=dict)
    warmup: int = 1
    repeats: int = 5
    ranks: int = 1  # > 1: started with torch.distributed.run, gloo; rank 0 reports
    device: str = "cpu"  # "cuda": timed with CUDA events (see crossent.bench.workloads)


@dataclass
class Result:
    case: Case
    status: str  # "ok", or why there is no measurement
    times: list[float] = field(default_factory=list)
    peak_extra: list[int] = field(default_factory=list)
    value: float | None = None
    kernel: str | None = None
    wall: float = 0.0  # seconds the whole process took
    collective_bytes: int | None = None  # per rank and repeat, for the "vp" group

    @property
    def time(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def memory(self) -> float:
        return float(statistics.median(self.peak_extra)) if self.peak_extra else float("nan")


@dataclass
class Sizes:
    ce: tuple[int, int]  # N, C
    lce: tuple[int, int, int]  # N, D, V
    numpy: tuple[int, int]  # N, C
    sweep_ce_v: tuple[int, ...]
    sweep_ce_n: tuple[int, ...]
    sweep_lce_v: tuple[int, ...]
    sweep_lce_d: int
    repeats: int
    sweep_repeats: int
    fallback: bool = True  # also time the composed-torch fallback of crossent's kernels
    vp: tuple[int, int, int] | None = None  # N, D, V of the vocabulary-parallel cases
    distill: tuple[int, int, int] | None = None  # N, D, V of linear distillation ("lce" table)


FULL = Sizes(
    ce=(4096, 32768),
    lce=(2048, 1024, 32768),
    numpy=(10**6, 10),
    sweep_ce_v=(8192, 32768, 131072),
    sweep_ce_n=(1024, 4096, 8192),
    sweep_lce_v=(8192, 32768, 131072),
    sweep_lce_d=256,
    repeats=5,
    sweep_repeats=3,
    vp=(4096, 256, 32768),
    distill=(2048, 1024, 32768),
)
"""The reference sizes, at which the targets are stated: CE on [4096, 32768], linear CE
at N=2048, D=1024, V=32768, NumPy on [10^6, 10]."""

QUICK = Sizes(
    ce=(1024, 32768),
    lce=(512, 512, 16384),
    numpy=(2 * 10**5, 10),
    sweep_ce_v=(8192, 32768),
    sweep_ce_n=(),
    sweep_lce_v=(8192, 32768),
    sweep_lce_d=128,
    repeats=3,
    sweep_repeats=2,
    fallback=False,
    vp=(1024, 128, 16384),
    distill=(512, 512, 16384),
)
"""Smaller sizes for ``--quick`` (a few minutes), without the fallback runs."""

DRY_RUN = Sizes(
    ce=(64, 1000),
    lce=(64, 32, 1000),
    numpy=(200, 10),
    sweep_ce_v=(),
    sweep_ce_n=(),
    sweep_lce_v=(),
    sweep_lce_d=32,
    repeats=2,
    sweep_repeats=1,
)
"""The sizes of a dry run of the CUDA tables on CPU (the Triton interpreter is slow)."""


def cases(sizes: Sizes) -> list[Case]:
    n, c = sizes.ce
    ce = {"n": n, "c": c}
    r = sizes.repeats
    out = [
        Case("ce", "F.cross_entropy", "ce_torch", ce, repeats=r),
        Case("ce", "crossent cross_entropy", "ce_crossent", ce, repeats=r),
        Case("ce", "crossent cross_entropy, in place", "ce_crossent_inplace", ce, repeats=r),
        Case(
            "ce",
            "crossent in place, torch ops",
            "ce_crossent_inplace",
            ce,
            TORCH_OPS_ENV,
            repeats=r,
        ),
        Case("ce", "floor: 1 read + 1 read-write pass", "ce_floor", ce, repeats=r),
    ]
    n, d, v = sizes.lce
    lce = {"n": n, "d": d, "v": v}
    out += [
        Case("lce", "naive F.cross_entropy(h @ W.T, y)", "lce_naive", lce, repeats=r),
        Case("lce", "F.linear_cross_entropy", "lce_torch", lce, repeats=r),
        Case("lce", "Cut Cross-Entropy, torch_compile", "lce_cce", lce, warmup=2, repeats=r),
        Case("lce", "crossent linear_cross_entropy", "lce_crossent", lce, repeats=r),
        Case("lce", "crossent linear CE, torch ops", "lce_crossent", lce, TORCH_OPS_ENV, repeats=r),
        Case("lce", "floor: the three matmuls", "lce_floor", lce, repeats=r),
    ]
    n, c = sizes.numpy
    np_params = {"n": n, "c": c}
    out += [
        Case(
            "numpy", "crossent softmax_cross_entropy (logits)", "np_crossent", np_params, repeats=r
        ),
        Case(
            "numpy",
            "crossent categorical_cross_entropy (probs)",
            "np_crossent_probs",
            np_params,
            repeats=r,
        ),
        Case("numpy", "sklearn.metrics.log_loss (probs)", "np_sklearn", np_params, repeats=r),
    ]
    s = sizes.sweep_repeats
    ce_points = [(sizes.ce[0], v) for v in sizes.sweep_ce_v]
    ce_points += [(n, sizes.ce[1]) for n in sizes.sweep_ce_n if (n, sizes.ce[1]) not in ce_points]
    for n, v in ce_points:
        for label, workload in (
            ("crossent in place", "ce_crossent_inplace"),
            ("F.cross_entropy", "ce_torch"),
        ):
            out.append(Case("sweep-ce", label, workload, {"n": n, "c": v}, repeats=s))
    for v in sizes.sweep_lce_v:
        p = {"n": sizes.lce[0], "d": sizes.sweep_lce_d, "v": v}
        out.append(Case("sweep-lce", "crossent linear CE", "lce_crossent", p, repeats=s))
        out.append(Case("sweep-lce", "naive", "lce_naive", p, repeats=s))
    if sizes.vp is not None:
        n, d, v = sizes.vp
        vp = {"n": n, "d": d, "v": v}
        out += [
            Case("vp", label, workload, vp, repeats=r, ranks=VP_RANKS)
            for label, workload in (
                ("all-gather logits + F.cross_entropy", "vp_gather"),
                ("crossent vocab_parallel_cross_entropy", "vp_crossent"),
                ("crossent vocab_parallel_cross_entropy, in place", "vp_crossent_inplace"),
                ("crossent vocab_parallel_linear_cross_entropy", "vp_crossent_linear"),
            )
        ]
    out += distillation_cases(sizes)
    if not sizes.fallback:
        out = [case for case in out if case.env != TORCH_OPS_ENV]
    return out


DISTILL_GROUP = "lce-distill"
"""The group of the linear-distillation cases: run with ``--only lce``, in a table of its own."""

DISTILL_SMALL_CHUNK = 128
"""Rows per chunk of the second crossent variant: the memory end of the trade-off."""


def distillation_cases(sizes: Sizes) -> list[Case]:
    """Fused linear distillation against the naive two-logits loss and the four-matmul
    floor (student and teacher logits, the student's two gradients)."""
    if sizes.distill is None:
        return []
    n, d, v = sizes.distill
    p = {"n": n, "d": d, "v": v}
    r = sizes.repeats
    return [
        Case(DISTILL_GROUP, "naive: both logits + F.kl_div", "ld_naive", p, repeats=r),
        Case(DISTILL_GROUP, "crossent linear_distillation_loss", "ld_crossent", p, repeats=r),
        Case(
            DISTILL_GROUP,
            f"crossent linear_distillation_loss, {DISTILL_SMALL_CHUNK}-row chunks",
            "ld_crossent",
            {**p, "chunk": DISTILL_SMALL_CHUNK},
            repeats=r,
        ),
        Case(DISTILL_GROUP, "floor: the four matmuls", "ld_floor", p, repeats=r),
    ]


def cuda_cases(sizes: Sizes) -> list[Case]:
    """The GPU tables: fused CE and linear CE against PyTorch, Liger-Kernel and Cut
    Cross-Entropy (each where installed), crossent on its Triton kernels and on composed
    torch ops, and the same floors as on CPU."""
    n, c = sizes.ce
    ce = {"n": n, "c": c}
    r = sizes.repeats
    out = [
        Case("ce-cuda", label, workload, ce, dict(env), repeats=r, device="cuda")
        for label, workload, env in (
            ("F.cross_entropy", "ce_torch", {}),
            ("crossent cross_entropy, Triton", "ce_crossent", TRITON_ENV),
            ("crossent cross_entropy, in place, Triton", "ce_crossent_inplace", TRITON_ENV),
            ("crossent in place, torch ops", "ce_crossent_inplace", TORCH_OPS_ENV),
            ("Liger-Kernel LigerCrossEntropyLoss", "ce_liger", {}),
            ("floor: 1 read + 1 read-write pass", "ce_floor", {}),
        )
    ]
    n, d, v = sizes.lce
    lce = {"n": n, "d": d, "v": v}
    out += [
        Case("lce-cuda", label, workload, lce, dict(env), repeats=r, device="cuda")
        for label, workload, env in (
            ("naive F.cross_entropy(h @ W.T, y)", "lce_naive", {}),
            ("F.linear_cross_entropy", "lce_torch", {}),
            ("Cut Cross-Entropy", "lce_cce", {}),
            ("Liger-Kernel LigerFusedLinearCrossEntropyLoss", "lce_liger", {}),
            ("crossent linear_cross_entropy, Triton", "lce_crossent", TRITON_ENV),
            ("crossent linear CE, torch ops", "lce_crossent", TORCH_OPS_ENV),
            ("floor: the three matmuls", "lce_floor", {}),
        )
    ]
    return out


def run_case(case: Case, python: str = sys.executable, dry_run: bool = False) -> Result:
    """Run one case in its own process (``dry_run``: a CUDA case on CPU tensors)."""
    spec = json.dumps(
        {
            "workload": case.workload,
            "params": case.params,
            "env": {**case.env, **DRY_RUN_ENV} if dry_run else case.env,
            "warmup": case.warmup,
            "repeats": case.repeats,
            "device": case.device,
            "dry_run": dry_run,
        }
    )
    launcher = [python]
    if case.ranks > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone"]
        launcher += ["--nproc-per-node", str(case.ranks)]
    try:
        proc = subprocess.run(
            [*launcher, "-m", "crossent.bench.workloads", spec],
            capture_output=True,
            text=True,
            timeout=CASE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Result(case, f"timed out after {CASE_TIMEOUT_S} s")
    except OSError as exc:
        return Result(case, f"failed: {exc}")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        if "ModuleNotFoundError" in last or "has no attribute" in last:
            return Result(case, f"not available: {last.split(': ', 1)[-1]}")
        return Result(case, f"failed: {last}")
    data = json.loads(lines[-1])
    return Result(
        case,
        "ok",
        data["times"],
        data["peak_extra"],
        data["value"],
        data.get("kernel"),
        collective_bytes=data.get("collective_bytes"),
    )


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for package in ("torch", "numpy", "scikit-learn", "cut-cross-entropy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "versions": versions,
        "load_at_start": load,
    }


# ---------------------------------------------------------------------------------------
# Presentation
# ---------------------------------------------------------------------------------------


def _find(
    results: Sequence[Result], workload: str, env: dict[str, str] | None = None
) -> Result | None:
    for r in results:
        if r.case.workload == workload and (env is None or r.case.env == env) and r.status == "ok":
            return r
    return None


def _ratio(a: Result | None, b: Result | None) -> str:
    if a is None or b is None or not b.time:
        return "—"
    return f"{a.time / b.time:.2f}"


def _mib(value: float) -> str:
    return "—" if value != value else f"{value / MIB:.1f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _value(r: Result) -> str:
    return "—" if r.value is None else f"{r.value:.6f}"


def render(results: Sequence[Result]) -> tuple[str, list[dict[str, Any]]]:
    """Markdown tables of the results and the performance targets, met or missed."""
    out: list[str] = []
    goals: list[dict[str, Any]] = []

    def goal(text: str, value: float | None, limit: float, at_most: bool = True) -> None:
        ok = (
            None
            if value is None or value != value
            else (value <= limit if at_most else value >= limit)
        )
        goals.append({"goal": text, "measured": value, "limit": limit, "met": ok})

    ce = [r for r in results if r.case.group == "ce"]
    if ce:
        n, c = ce[0].case.params["n"], ce[0].case.params["c"]
        logits_bytes = n * c * FLOAT32_BYTES
        torch_ce, floor = _find(ce, "ce_torch"), _find(ce, "ce_floor")
        rows = []
        for r in ce:
            if r.status != "ok":
                rows.append([r.case.label, r.status, "", "", "", "", ""])
                continue
            rows.append(
                [
                    r.case.label,
                    f"{r.time:.3f}",
                    _ratio(r, torch_ce),
                    _ratio(r, floor),
                    _mib(r.memory),
                    f"{r.memory / logits_bytes:.3f}",
                    _value(r),
                ]
            )
        out.append(
            f"### Cross-entropy on logits [{n}, {c}] float32, forward + backward\n\n"
            f"Logits: {logits_bytes / MIB:.0f} MiB.\n"
        )
        out.append(
            _table(
                [
                    "variant",
                    "time (s)",
                    "× F.cross_entropy",
                    "× floor",
                    "peak extra (MiB)",
                    "extra / logits",
                    "loss",
                ],
                rows,
            )
        )
        ours = _find(ce, "ce_crossent_inplace", {})
        if ours is not None:
            goal("fused CE time ≤ 0.5 × F.cross_entropy", _num(_ratio(ours, torch_ce)), 0.5)
            goal("fused CE time ≤ 2 × bandwidth floor", _num(_ratio(ours, floor)), 2.0)
            goal("fused CE in-place extra memory ≤ 5% of logits", ours.memory / logits_bytes, 0.05)
    lce = [r for r in results if r.case.group == "lce"]
    if lce:
        p = lce[0].case.params
        logits_bytes = p["n"] * p["v"] * FLOAT32_BYTES
        grads_bytes = (p["n"] + p["v"]) * p["d"] * FLOAT32_BYTES
        naive, torch_lce = _find(lce, "lce_naive"), _find(lce, "lce_torch")
        cce, floor = _find(lce, "lce_cce"), _find(lce, "lce_floor")
        rows = []
        for r in lce:
            if r.status != "ok":
                rows.append([r.case.label, r.status, "", "", "", "", "", "", ""])
                continue
            beyond = (
                (r.memory - grads_bytes) / logits_bytes
                if r.case.workload != "lce_floor"
                else float("nan")
            )
            rows.append(
                [
                    r.case.label,
                    f"{r.time:.3f}",
                    _ratio(r, naive),
                    _ratio(r, torch_lce),
                    _ratio(r, cce),
                    _ratio(r, floor),
                    _mib(r.memory),
                    "—" if beyond != beyond else f"{beyond:.3f}",
                    _value(r),
                ]
            )
        out.append(
            f"\n### Linear + cross-entropy, N={p['n']}, D={p['d']}, V={p['v']} float32, "
            "forward + backward\n\n"
            f"Logits: {logits_bytes / MIB:.0f} MiB; gradients of hidden and weight: "
            f"{grads_bytes / MIB:.0f} MiB (counted in peak extra, subtracted in "
            '"beyond grads"). The floor is a compute floor; its memory is not one.\n'
        )
        out.append(
            _table(
                [
                    "variant",
                    "time (s)",
                    "× naive",
                    "× F.linear_ce",
                    "× CCE",
                    "× matmul floor",
                    "peak extra (MiB)",
                    "beyond grads / logits",
                    "loss",
                ],
                rows,
            )
        )
        ours = _find(lce, "lce_crossent", {})
        if ours is not None:
            goal("linear CE time ≤ 0.8 × naive", _num(_ratio(ours, naive)), 0.8)
            goal(
                "linear CE time ≤ 0.7 × F.linear_cross_entropy", _num(_ratio(ours, torch_lce)), 0.7
            )
            goal(
                "linear CE time ≤ 1.0 × Cut Cross-Entropy torch_compile",
                _num(_ratio(ours, cce)),
                1.0,
            )
            goal("linear CE time ≤ 1.15 × three-matmul floor", _num(_ratio(ours, floor)), 1.15)
            goal(
                "linear CE extra memory beyond grads ≤ 5% of logits",
                (ours.memory - grads_bytes) / logits_bytes,
                0.05,
            )
    npr = [r for r in results if r.case.group == "numpy"]
    if npr:
        p = npr[0].case.params
        sk = _find(npr, "np_sklearn")
        rows = []
        for r in npr:
            if r.status != "ok":
                rows.append([r.case.label, r.status, "", "", ""])
                continue
            speedup = "—" if sk is None else f"{sk.time / r.time:.2f}"
            rows.append([r.case.label, f"{r.time:.4f}", speedup, _mib(r.memory), _value(r)])
        out.append(
            f"\n### NumPy core against scikit-learn on [{p['n']}, {p['c']}] float64\n\n"
            "log_loss takes probabilities, so it gets them precomputed (untimed).\n"
        )
        out.append(
            _table(
                ["variant", "time (s)", "speed-up over log_loss", "peak extra (MiB)", "loss"], rows
            )
        )
        ours = _find(npr, "np_crossent")
        if ours is not None and sk is not None:
            goal(
                "NumPy softmax_cross_entropy ≥ 3 × faster than log_loss",
                sk.time / ours.time,
                3.0,
                at_most=False,
            )
            diff = abs((ours.value or 0.0) - (sk.value or 0.0))
            goal("... at equal results (|difference| ≤ 1e-9)", diff, 1e-9)
    out += _vp_table(results)
    out += _distillation_table(results, goal)
    out += _cuda_tables(results)
    sweep = [r for r in results if r.case.group.startswith("sweep")]
    if sweep:
        rows = []
        for r in sweep:
            p = r.case.params
            v = p.get("c", p.get("v", 0))
            if r.status != "ok":
                rows.append(
                    [r.case.group[6:], r.case.label, str(p["n"]), str(v), r.status, "", "", ""]
                )
                continue
            per = r.time / (p["n"] * v) * 1e9
            grads = (p["n"] + p["v"]) * p["d"] * FLOAT32_BYTES if "d" in p else 0
            rows.append(
                [
                    r.case.group[6:],
                    r.case.label,
                    str(p["n"]),
                    str(v),
                    f"{r.time:.3f}",
                    f"{per:.2f}",
                    _mib(r.memory),
                    _mib(r.memory - grads),
                ]
            )
        d = next((r.case.params["d"] for r in sweep if "d" in r.case.params), None)
        out.append(
            "\n### Scaling: time per logit should stay flat; linear CE's memory beyond "
            f"its gradients should not grow with V (linear CE at D={d})\n"
        )
        out.append(
            _table(
                [
                    "",
                    "variant",
                    "N",
                    "V",
                    "time (s)",
                    "ns per logit",
                    "peak extra (MiB)",
                    "beyond grads (MiB)",
                ],
                rows,
            )
        )
    if goals:
        rows = [
            [
                g["goal"],
                "—" if g["measured"] is None else f"{g['measured']:.3g}",
                {True: "met", False: "MISSED", None: "not measured"}[g["met"]],
            ]
            for g in goals
        ]
        out.append("\n### Targets\n")
        out.append(_table(["goal", "measured", "verdict"], rows))
    return "\n".join(out) + "\n", goals


def _vp_table(results: Sequence[Result]) -> list[str]:
    """The vocabulary-parallel cases: rank 0's time and memory, each rank's bytes."""
    vp = [r for r in results if r.case.group == "vp"]
    if not vp:
        return []
    p = vp[0].case.params
    gather = _find(vp, "vp_gather")
    rows = []
    for r in vp:
        if r.status != "ok":
            rows.append([r.case.label, r.status, "", "", "", ""])
            continue
        sent = "—" if r.collective_bytes is None else f"{r.collective_bytes:,}"
        rows.append(
            [r.case.label, f"{r.time:.3f}", _ratio(r, gather), _mib(r.memory), sent, _value(r)]
        )
    ranks = vp[0].case.ranks
    return [
        f"\n### Vocabulary-parallel cross-entropy over {ranks} gloo processes, "
        f"N={p['n']}, D={p['d']}, V={p['v']} float32, forward + backward\n\n"
        f"Each rank holds {p['v'] // ranks} rows of the output weight and computes the "
        "gradient of its shard (the hidden states are fixed). Time and peak extra memory "
        "are rank 0's; collective bytes are what each rank's collectives return to it (the "
        "all-gathered logits, or the all-reduced row statistics) per forward + backward.\n",
        _table(
            [
                "variant",
                "time (s)",
                "× all-gather",
                "peak extra (MiB)",
                "collective bytes / rank",
                "loss",
            ],
            rows,
        ),
    ]


def _distillation_table(
    results: Sequence[Result], goal: Callable[[str, float | None, float], None]
) -> list[str]:
    """Fused linear distillation against the naive two-logits loss; the targets of linear
    CE (memory beyond the gradients, time against the matmul floor) for crossent's default
    chunk."""
    cases = [r for r in results if r.case.group == DISTILL_GROUP]
    if not cases:
        return []
    p = cases[0].case.params
    logits_bytes = p["n"] * p["v"] * FLOAT32_BYTES
    grads_bytes = (p["n"] + p["v"]) * p["d"] * FLOAT32_BYTES
    naive, floor = _find(cases, "ld_naive"), _find(cases, "ld_floor")
    rows = []
    for r in cases:
        if r.status != "ok":
            rows.append([r.case.label, r.status, "", "", "", "", ""])
            continue
        beyond = (
            (r.memory - grads_bytes) / logits_bytes
            if r.case.workload != "ld_floor"
            else float("nan")
        )
        rows.append(
            [
                r.case.label,
                f"{r.time:.3f}",
                _ratio(r, naive),
                _ratio(r, floor),
                _mib(r.memory),
                "—" if beyond != beyond else f"{beyond:.3f}",
                _value(r),
            ]
        )
    ours = next(
        (r for r in cases if r.case.workload == "ld_crossent" and "chunk" not in r.case.params),
        None,
    )
    if ours is not None and ours.status == "ok":
        goal("linear distillation time ≤ 1.15 × four-matmul floor", _num(_ratio(ours, floor)), 1.15)
        goal(
            "linear distillation extra memory beyond grads ≤ 5% of logits",
            (ours.memory - grads_bytes) / logits_bytes,
            0.05,
        )
    return [
        f"\n### Fused linear distillation vs naive two-logits, N={p['n']}, D={p['d']}, "
        f"V={p['v']} float32, forward KL, forward + backward\n\n"
        f"Student and teacher of the same sizes; the student's hidden states and weight get "
        f"gradients. Logits: {logits_bytes / MIB:.0f} MiB per model; gradients: "
        f'{grads_bytes / MIB:.0f} MiB (counted in peak extra, subtracted in "beyond grads", '
        "which is divided by one model's logits). The floor is the four matrix products "
        "(both models' logits, the student's two gradients); its memory is not a floor.\n",
        _table(
            [
                "variant",
                "time (s)",
                "× naive",
                "× matmul floor",
                "peak extra (MiB)",
                "beyond grads / logits",
                "loss",
            ],
            rows,
        ),
    ]


def _cuda_tables(results: Sequence[Result]) -> list[str]:
    """The GPU tables: times and peak memory as ratios to PyTorch and to the floor; no
    targets (nothing is claimed for a GPU until it is measured on one)."""
    out: list[str] = []
    for group, baseline, what in (
        ("ce-cuda", "ce_torch", "Cross-entropy on logits [{n}, {c}]"),
        ("lce-cuda", "lce_naive", "Linear + cross-entropy, N={n}, D={d}, V={v}"),
    ):
        rs = [r for r in results if r.case.group == group]
        if not rs:
            continue
        base = _find(rs, baseline)
        floor = _find(rs, "ce_floor" if group == "ce-cuda" else "lce_floor")
        rows = []
        for r in rs:
            if r.status != "ok":
                rows.append([r.case.label, r.status, "", "", "", "", ""])
                continue
            rows.append(
                [
                    r.case.label,
                    r.kernel or "",
                    f"{r.time:.4f}",
                    _ratio(r, base),
                    _ratio(r, floor),
                    _mib(r.memory),
                    _value(r),
                ]
            )
        out.append(
            f"\n### {what.format(**rs[0].case.params)} float32 on CUDA, forward + backward\n\n"
            "Time between CUDA events; peak extra: `torch.cuda.max_memory_allocated()` above "
            "the allocation when the repeat began. No target is stated for a GPU.\n"
        )
        ratio = "× F.cross_entropy" if group == "ce-cuda" else "× naive"
        headers = ["variant", "kernel", "time (s)", ratio, "× floor", "peak extra (MiB)", "loss"]
        out.append(_table(headers, rows))
    return out


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def run(
    quick: bool = False,
    json_path: str | os.PathLike[str] | None = None,
    *,
    sizes: Sizes | None = None,
    selected: Callable[[Case], bool] | None = None,
    progress: Callable[[str], None] | None = None,
    device: str = "cpu",
    dry_run: bool = False,
) -> dict[str, Any]:
    """Run every case (``quick``: the small sizes), render the tables, optionally save JSON.

    Args:
        quick: use :data:`QUICK` instead of :data:`FULL`. Default: ``False``.
        json_path: where to write the results as JSON; ``None`` writes nothing.
            Default: ``None``.
        sizes: other sizes than both (tests). Default: ``None``.
        selected: run only the cases it returns True for. Default: ``None`` (all).
        progress: called with one line before each case. Default: ``None``.
        device: ``"cpu"`` (the CPU tables) or ``"cuda"`` (the GPU tables, :func:`cuda_cases`).
            Default: ``"cpu"``.
        dry_run: run the GPU tables on CPU tensors at :data:`DRY_RUN` sizes (unless
            ``sizes`` is given), Triton in its interpreter: their code is exercised, and
            the numbers measure nothing. Default: ``False``.

    Returns:
        The JSON-able results: ``command``, ``machine``, ``seconds``, ``cases`` (each with
        its raw times, peak extra memory and loss value), ``goals`` and the rendered
        Markdown ``table``.
    """
    if sizes is None:
        sizes = DRY_RUN if dry_run else QUICK if quick else FULL
    all_cases = cuda_cases(sizes) if device == "cuda" else cases(sizes)
    todo = [c for c in all_cases if selected is None or selected(c)]
    info = machine()
    if device == "cuda" and not dry_run:
        import torch

        info["gpu"] = torch.cuda.get_device_name()
    started = time.time()
    results = []
    for i, case in enumerate(todo, 1):
        if progress is not None:
            progress(f"[{i}/{len(todo)}] {case.group}: {case.label} {case.params}")
        began = time.perf_counter()
        result = run_case(case, dry_run=dry_run)
        result.wall = time.perf_counter() - began
        results.append(result)
    table, goals = render(results)
    if dry_run:
        table = (
            "_Dry run: the CUDA tables' code on CPU tensors (the Triton kernels in Triton's "
            "interpreter); these numbers measure nothing._\n\n" + table
        )
    elif sizes is not FULL:
        table = (
            "_Smaller sizes than the targets are stated for: the verdicts below are "
            "indicative only; run `crossent bench` for the real ones._\n\n" + table
        )
    report = {
        "command": "crossent bench"
        + (" --quick" if quick else "")
        + (" --device cuda" if device == "cuda" else "")
        + (" --dry-run" if dry_run else ""),
        "machine": info,
        "seconds": round(time.time() - started, 1),
        "cases": [
            {
                **asdict(r.case),
                "status": r.status,
                "times": r.times,
                "peak_extra": r.peak_extra,
                "median_time": r.time if r.times else None,
                "median_peak_extra": r.memory if r.peak_extra else None,
                "value": r.value,
                "kernel": r.kernel,
                "collective_bytes": r.collective_bytes,
                "process_seconds": round(r.wall, 2),
            }
            for r in results
        ],
        "goals": goals,
        "table": table,
    }
    if json_path is not None:
        write_json(Path(json_path), report)
    return report


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write to a temporary file and rename, so an interrupted run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, default=float)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
