"""Vocabulary-parallel cross-entropy: 2 gloo processes on loopback against one process.

One job for the whole module: the parent writes every case (full float64 logits — or the
hidden states and the full output weight — targets, shard sizes, options) to a file,
starts this file as a script on 2 ranks, and each rank runs every case on its own shard
and saves its loss, its gradients, the bytes it passed to collectives, or the exception it
raised. The tests then compare each rank's numbers with the single-process core loss and
with a naive reference built from ``torch.nn.functional.cross_entropy``.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import crossent
from crossent.torch import (
    VocabParallelLinearCrossEntropy,
    fused,
    vocab_parallel_cross_entropy,
    vocab_parallel_linear_cross_entropy,
)
from crossent.torch.distributed import COMMUNICATION, communication_bytes
from crossent.torch.fused import host

WORLD_SIZE = 2
JOB_TIMEOUT_S = 240


def _case(
    sizes: list[int],
    batch: tuple[int, ...],
    *,
    seed: int,
    targets: Any = None,
    dtype: torch.dtype = torch.float64,
    logit_scale: float = 3.0,
    grad_scale: float = 1.0,
    **options: Any,
) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)
    v = sum(sizes)
    logits = (torch.randn((*batch, v), generator=g, dtype=torch.float64) * logit_scale).to(dtype)
    if targets is None:
        targets = torch.randint(0, max(v, 1), batch, generator=g)
    targets = torch.as_tensor(targets, dtype=torch.int64)
    upstream = grad_scale * torch.ones(())
    if options.get("reduction") == "none":
        upstream = torch.rand(batch, generator=g, dtype=torch.float64) + 0.5
    return {
        "sizes": sizes,
        "logits": logits,
        "targets": targets,
        "options": options,
        "upstream": upstream,
    }


ALL_OPTIONS: dict[str, Any] = {"label_smoothing": 0.15, "z_loss": 0.05}

CASES: dict[str, dict[str, Any]] = {
    "even": _case([4, 4], (6,), seed=0),
    "uneven": _case([3, 6], (7,), seed=1, targets=[0, 8, -100, 3, 2, -100, 5]),
    "uneven_reversed": _case([6, 3], (7,), seed=2, label_smoothing=0.1, reduction="sum"),
    "one_column_shard": _case([1, 8], (5,), seed=3, targets=[0, 0, 8, -100, 1], **ALL_OPTIONS),
    "z_loss_batch_2d": _case([5, 2], (2, 3), seed=4, z_loss=0.05, reduction="none"),
    "targets_on_rank_1": _case([4, 4], (5,), seed=5, targets=[4, 5, 6, 7, 7], label_smoothing=0.2),
    "ignore_custom": _case([4, 4], (6,), seed=6, targets=[5, 1, 5, 7, 0, 2], ignore_index=5),
    "ignore_none": _case([4, 3], (6,), seed=7, ignore_index=None, label_smoothing=0.1),
    "extreme_logits": _case([4, 4], (6,), seed=8, logit_scale=300.0, **ALL_OPTIONS),
    "upstream_scale": _case([3, 5], (6,), seed=9, grad_scale=2.5, **ALL_OPTIONS),
    "wide_vocabulary": _case([40, 60], (6,), seed=10),
    "float32": _case([4, 4], (6,), seed=11, dtype=torch.float32, label_smoothing=0.1),
    "bfloat16": _case([4, 4], (6,), seed=17, dtype=torch.bfloat16, **ALL_OPTIONS),
    **{
        f"reduction_{r}": _case(
            [3, 6],
            (8,),
            seed=12,
            targets=[0, 8, -100, 3, 2, 4, -100, 6],
            reduction=r,
            **ALL_OPTIONS,
        )
        for r in ("mean", "sum", "none")
    },
    **{
        f"all_ignored_{r}": _case(
            [3, 5], (4,), seed=13, targets=[-100] * 4, reduction=r, **ALL_OPTIONS
        )
        for r in ("mean", "sum", "none")
    },
    # Errors, raised on every rank after the shard sizes are exchanged.
    "empty_shard": _case([8, 0], (3,), seed=14),
    "out_of_range": _case([4, 5], (3,), seed=15, targets=[0, 9, 2]),
    "bad_target_shape": _case([4, 4], (3,), seed=16, targets=[[0, 1, 2]]),
}
# Masked vocabulary (-inf logits, as a language model masks tokens): row 0 has rank 1's
# whole shard masked, so that rank's log-sum-exp is -inf; rows 1-2 mask single columns.
MASKED = _case([3, 4], (4,), seed=18, targets=[1, 4, 6, -100], z_loss=0.02)
MASKED["logits"][0, 3:] = -torch.inf
MASKED["logits"][1, 0] = MASKED["logits"][2, 5] = -torch.inf
CASES["masked_logits"] = MASKED
# The gradient written into the logits during the forward pass.
CASES["inplace_uneven"] = _case(
    [3, 6], (7,), seed=19, targets=[0, 8, -100, 3, 2, -100, 5], inplace_backward=True, **ALL_OPTIONS
)
CASES["inplace_none"] = _case(
    [5, 2], (2, 3), seed=20, reduction="none", z_loss=0.05, inplace_backward=True
)
CASES["inplace_float32"] = _case(
    [4, 4], (6,), seed=21, dtype=torch.float32, label_smoothing=0.1, inplace_backward=True
)


def _soft_case(
    sizes: list[int], batch: tuple[int, ...], *, seed: int, **options: Any
) -> dict[str, Any]:
    """A case with probability targets over the whole vocabulary (some entries exactly 0);
    each rank passes its columns of them."""
    case = _case(sizes, batch, seed=seed, targets=0, **options)
    g = torch.Generator().manual_seed(seed + 1000)
    p = torch.softmax(2 * torch.randn(case["logits"].shape, generator=g, dtype=torch.float64), -1)
    p = torch.where(torch.rand(p.shape, generator=g, dtype=torch.float64) < 0.2, 0.0, p)
    case["targets"] = (p / p.sum(-1, keepdim=True)).to(case["logits"].dtype)
    return case


SOFT_CASES = {
    "soft_even": _soft_case([4, 4], (6,), seed=30),
    "soft_uneven_options": _soft_case(
        [3, 6], (5,), seed=31, logit_softcap=2.0, reduction="sum", **ALL_OPTIONS
    ),
    "soft_batch_2d_none": _soft_case([5, 2], (2, 3), seed=32, reduction="none", z_loss=0.05),
    "soft_float32": _soft_case([4, 4], (6,), seed=33, dtype=torch.float32, label_smoothing=0.1),
    "soft_bfloat16": _soft_case([4, 4], (6,), seed=34, dtype=torch.bfloat16),
}
CASES.update(SOFT_CASES)
# Invalid probabilities on rank 1's columns only: both ranks must raise the same error.
CASES["soft_outside_unit"] = _soft_case([4, 4], (3,), seed=35)
CASES["soft_outside_unit"]["targets"][1] = torch.tensor([0, 0, 0, 0, 0, 1.5, -0.5, 0])
CASES["soft_bad_sum"] = _soft_case([4, 4], (3,), seed=36)
CASES["soft_bad_sum"]["targets"][2] *= 0.9
# Empty batches: no rows, a zero loss and empty gradients (the core's numbers).
CASES["empty_batch"] = _case([4, 4], (0,), seed=40, **ALL_OPTIONS)
CASES["empty_batch_2d_none"] = _case([3, 5], (2, 0), seed=41, reduction="none")
CASES["soft_empty_batch"] = _soft_case([4, 4], (0,), seed=42)
WEIGHT_9 = torch.linspace(0.25, 2.0, 9, dtype=torch.float64)
CASES["weighted"] = _case(
    [3, 6], (8,), seed=22, targets=[0, 8, -100, 3, 2, 4, -100, 6], weight=WEIGHT_9, z_loss=0.05
)
CASES["weighted_none"] = _case(
    [3, 6], (8,), seed=23, weight=WEIGHT_9, reduction="none", inplace_backward=True
)
ERROR_CASES = [
    "empty_shard",
    "out_of_range",
    "bad_target_shape",
    "soft_outside_unit",
    "soft_bad_sum",
]
VALUE_CASES = [name for name in CASES if name not in ERROR_CASES]


def _value_cases() -> list[str]:
    """The cases whose numbers the core loss gives (the masked soft cases have their own
    reference, :func:`_naive_soft_masked`)."""
    return [name for name in VALUE_CASES if name not in MASKED_SOFT_CASES]


def _linear_case(
    sizes: list[int],
    batch: tuple[int, ...],
    *,
    seed: int,
    hidden_size: int = 5,
    bias: bool = False,
    targets: Any = None,
    dtype: torch.dtype = torch.float64,
    chunk_bytes: int | None = None,
    hidden_grad: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """Hidden states, the full output weight (and bias) of ``sum(sizes)`` rows, targets."""
    g = torch.Generator().manual_seed(seed)
    v = sum(sizes)
    f64 = {"generator": g, "dtype": torch.float64}
    if targets is None:
        targets = torch.randint(0, max(v, 1), batch, generator=g)
    upstream = torch.ones(()) * 1.5
    if options.get("reduction") == "none":
        upstream = torch.rand(batch, **f64) + 0.5
    return {
        "kind": "linear",
        "sizes": sizes,
        "hidden": torch.randn((*batch, hidden_size), **f64).to(dtype),
        "weight": torch.randn((v, hidden_size), **f64).to(dtype),
        "bias": torch.randn((v,), **f64).to(dtype) if bias else None,
        "targets": torch.as_tensor(targets, dtype=torch.int64),
        "options": options,
        "upstream": upstream,
        "chunk_bytes": chunk_bytes,  # replaces host.CHUNK_BYTES on the ranks for this case
        "hidden_grad": hidden_grad,
    }


ROWS_10 = [0, 11, -100, 3, 2, 4, -100, 6, 9, 1]  # over 12 classes, rows 2 and 6 ignored

LINEAR_CASES: dict[str, dict[str, Any]] = {
    "linear_even": _linear_case([6, 6], (10,), seed=20),
    "linear_uneven_bias": _linear_case(
        [3, 9], (10,), seed=21, bias=True, targets=ROWS_10, **ALL_OPTIONS
    ),
    "linear_row_chunks": _linear_case(
        [5, 7], (10,), seed=22, bias=True, targets=ROWS_10, chunk_size=3, label_smoothing=0.1
    ),
    "linear_column_chunks": _linear_case(
        [5, 7], (10,), seed=23, targets=ROWS_10, chunk_size=(4, 2), **ALL_OPTIONS
    ),
    "linear_softcap": _linear_case([4, 8], (10,), seed=24, logit_softcap=1.5, z_loss=0.01),
    "linear_batch_2d_none": _linear_case(
        [7, 2], (2, 3), seed=25, bias=True, reduction="none", chunk_size=4, **ALL_OPTIONS
    ),
    "linear_sum": _linear_case([3, 9], (10,), seed=26, targets=ROWS_10, reduction="sum"),
    "linear_ignore_none": _linear_case(
        [4, 3], (6,), seed=27, ignore_index=None, label_smoothing=0.1
    ),
    "linear_ignore_custom": _linear_case(
        [4, 4], (6,), seed=28, targets=[5, 1, 5, 7, 0, 2], ignore_index=5
    ),
    "linear_hidden_not_reduced": _linear_case(
        [3, 9], (10,), seed=29, bias=True, targets=ROWS_10, reduce_hidden_grad=False, **ALL_OPTIONS
    ),
    "linear_hidden_frozen": _linear_case([3, 9], (10,), seed=30, hidden_grad=False),
    "linear_float32": _linear_case(
        [6, 10], (12,), seed=31, dtype=torch.float32, bias=True, **ALL_OPTIONS
    ),
    "linear_bfloat16": _linear_case(
        [6, 10], (12,), seed=32, dtype=torch.bfloat16, label_smoothing=0.1
    ),
    # 300 rows: rank 1's 50 columns give chunks of 150 rows under a 30 000-byte budget;
    # rank 0's 2 columns alone would give one chunk, and the collectives would not pair.
    "linear_default_chunks_uneven": _linear_case(
        [2, 50], (300,), seed=33, chunk_bytes=4 * 150 * 50, hidden_size=3, label_smoothing=0.1
    ),
    **{
        f"linear_all_ignored_{r}": _linear_case(
            [3, 5], (4,), seed=34, bias=True, targets=[-100] * 4, reduction=r, **ALL_OPTIONS
        )
        for r in ("mean", "sum", "none")
    },
    "linear_empty_batch": _linear_case([3, 5], (0,), seed=39, bias=True, **ALL_OPTIONS),
    "linear_empty_batch_2d_none": _linear_case(
        [4, 4], (2, 0), seed=40, bias=True, reduction="none", chunk_size=(2, 3)
    ),
    "linear_empty_shard": _linear_case([8, 0], (3,), seed=35),
    "linear_out_of_range": _linear_case([4, 5], (3,), seed=36, targets=[0, 9, 2]),
}
LM_HEAD = (4096, 131072)
"""N and V of the communication volume the closing note of issue 8 asks for."""
LINEAR_CASES["linear_lm_head"] = _linear_case(
    [LM_HEAD[1] // 2] * 2,
    (LM_HEAD[0],),
    seed=37,
    hidden_size=8,
    dtype=torch.float32,
)
# The nn.Module: VocabParallelLinearCrossEntropy.from_linear of the whole layer, whose
# even split of 11 classes over 2 ranks is 6 + 5.
LINEAR_CASES["module_from_linear"] = {
    **_linear_case([6, 5], (7,), seed=38, bias=True, chunk_size=3, **ALL_OPTIONS),
    "kind": "module",
}
LINEAR_ERROR_CASES = ["linear_empty_shard", "linear_out_of_range"]
LINEAR_VALUE_CASES = [
    name for name in LINEAR_CASES if name not in [*LINEAR_ERROR_CASES, "linear_lm_head"]
]
# Backward twice through a retained graph: each rank's gradients are twice one backward's
# (the hidden gradient's all-reduce must not be applied to a sum already reduced).
LINEAR_TWICE = {
    f"linear_twice_{r}": {
        **_linear_case(
            [3, 9], (10,), seed=41, bias=True, targets=ROWS_10, reduction=r, **ALL_OPTIONS
        ),
        "twice": True,
    }
    for r in ("mean", "none")
}
LINEAR_CASES.update(LINEAR_TWICE)
# Masked logits (-inf) on classes whose target probability is 0: 0 · log 0 = 0. Row 0 is
# [-inf, 0, 0] against [0, .5, .5] (loss log 2), row 1 [-inf, 0, -inf] against [0, 1, 0]
# (loss 0); rank 0 holds the first column only, so its shard of row 1 is all -inf.
SOFT_MASKED = _case([1, 2], (2,), seed=43, targets=0, reduction="none")
SOFT_MASKED["logits"] = torch.tensor([[-torch.inf, 0.0, 0.0], [-torch.inf, 0.0, -torch.inf]])
SOFT_MASKED["logits"] = SOFT_MASKED["logits"].double()
SOFT_MASKED["targets"] = torch.tensor([[0.0, 0.5, 0.5], [0.0, 1.0, 0.0]], dtype=torch.float64)
SOFT_MASKED["upstream"] = torch.tensor([1.0, 1.0], dtype=torch.float64)
CASES["soft_masked"] = SOFT_MASKED
# Random probability targets with zeros, the logits -inf wherever the target is 0.
SOFT_MASKED_RANDOM = _soft_case([4, 5], (6,), seed=44, z_loss=0.05)
SOFT_MASKED_RANDOM["logits"][SOFT_MASKED_RANDOM["targets"] == 0] = -torch.inf
CASES["soft_masked_random"] = SOFT_MASKED_RANDOM
MASKED_SOFT_CASES = ["soft_masked", "soft_masked_random"]


# ---------------------------------------------------------------------------------------
# The job: this file run as a script on each rank.
# ---------------------------------------------------------------------------------------


def _run_rank(rank: int, port: int, cases_path: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE
    )
    cases = torch.load(cases_path, weights_only=False)
    results: dict[str, Any] = {"module_default": _run_module_default()}
    for name, case in cases.items():
        if case.get("kind") in ("linear", "module"):
            results[name] = _run_linear(rank, case)
            continue
        offset = sum(case["sizes"][:rank])
        shard = case["logits"][..., offset : offset + case["sizes"][rank]].clone()
        targets = case["targets"]
        if targets.is_floating_point():  # probability targets: this rank's columns
            targets = targets[..., offset : offset + case["sizes"][rank]].clone()
        shard.requires_grad_(True)
        # in place: the logits must be a non-leaf, as a model's output is
        logits = shard * 1 if case["options"].get("inplace_backward") else shard
        before = COMMUNICATION.bytes, COMMUNICATION.calls
        try:
            loss = vocab_parallel_cross_entropy(logits, targets, **case["options"])
        except (ValueError, TypeError) as exc:
            results[name] = {"error": exc}
            continue
        forward = COMMUNICATION.bytes - before[0], COMMUNICATION.calls - before[1]
        (loss * case["upstream"].to(loss.dtype)).sum().backward()
        results[name] = {
            "loss": loss.detach(),
            "grad": shard.grad,
            "bytes": forward[0],
            "calls": forward[1],
            "backward_bytes": COMMUNICATION.bytes - before[0] - forward[0],
        }
    torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    dist.destroy_process_group()


def _run_linear(rank: int, case: dict[str, Any]) -> dict[str, Any]:
    """One linear case on this rank: its rows of the weight and bias, the whole hidden."""
    lo = sum(case["sizes"][:rank])
    hi = lo + case["sizes"][rank]
    hidden = case["hidden"].clone().requires_grad_(case["hidden_grad"])
    weight = case["weight"][lo:hi].clone().requires_grad_(True)
    bias = None if case["bias"] is None else case["bias"][lo:hi].clone().requires_grad_(True)
    default_chunk_bytes = host.CHUNK_BYTES
    if case["chunk_bytes"] is not None:
        host.CHUNK_BYTES = case["chunk_bytes"]
    if case["kind"] == "module":
        v, d = case["weight"].shape
        full = nn.Linear(d, v, bias=bias is not None, dtype=case["weight"].dtype)
        with torch.no_grad():
            full.weight.copy_(case["weight"])
            if bias is not None:
                full.bias.copy_(case["bias"])
        head = VocabParallelLinearCrossEntropy.from_linear(full, **case["options"])
        weight, bias = head.weight, head.bias
    before = COMMUNICATION.bytes, COMMUNICATION.calls
    try:
        if case["kind"] == "module":
            loss = head(hidden, case["targets"])
        else:
            loss = vocab_parallel_linear_cross_entropy(
                hidden, weight, case["targets"], local_bias=bias, **case["options"]
            )
    except (ValueError, TypeError) as exc:
        return {"error": exc}
    finally:
        host.CHUNK_BYTES = default_chunk_bytes
    forward = COMMUNICATION.bytes - before[0], COMMUNICATION.calls - before[1]
    total = (loss * case["upstream"].to(loss.dtype)).sum()
    if case.get("twice"):
        total.backward(retain_graph=True)
    total.backward()
    return {
        "loss": loss.detach(),
        "grad_hidden": hidden.grad,
        "grad_weight": weight.grad,
        "grad_bias": None if bias is None else bias.grad,
        "bytes": forward[0],
        "calls": forward[1],
        "backward_bytes": COMMUNICATION.bytes - before[0] - forward[0],
        "backward_calls": COMMUNICATION.calls - before[1] - forward[1],
    }


def _run_module_default() -> dict[str, Any]:
    """A freshly initialised head's layout, and the refusal of fewer classes than ranks."""
    torch.manual_seed(100 + dist.get_rank())
    head = VocabParallelLinearCrossEntropy(9, 11, bias=True, label_smoothing=0.1)
    try:
        VocabParallelLinearCrossEntropy(9, 1)
    except ValueError as exc:
        error: Exception | None = exc
    else:
        error = None
    return {
        "bounds": (head.vocab_start, head.vocab_end),
        "weight": head.weight.detach().clone(),
        "bias": head.bias.detach().clone(),
        "repr": repr(head),
        "error": error,
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Each rank's results of every case, from one 2-process job (once per pytest-xdist
    worker that runs tests of this module: `make test` passes ``--dist loadfile`` so that
    one worker runs them all)."""
    root = tmp_path_factory.mktemp("vocab_parallel")
    cases_path = root / "cases.pt"
    torch.save({**CASES, **LINEAR_CASES}, cases_path)
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(rank), str(port), str(cases_path), str(root)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for rank in range(WORLD_SIZE)
    ]
    outputs = []
    try:
        for p in procs:
            raw, _ = p.communicate(timeout=JOB_TIMEOUT_S)
            outputs.append(raw.decode(errors="replace"))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, text in zip(procs, outputs, strict=True):
        assert p.returncode == 0, text
    return [torch.load(root / f"rank{r}.pt", weights_only=False) for r in range(WORLD_SIZE)]


# ---------------------------------------------------------------------------------------
# References: one process on the concatenated logits.
# ---------------------------------------------------------------------------------------


def _core(case: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and gradient of :func:`crossent.softmax_cross_entropy` on the full logits."""
    full = case["logits"].clone().requires_grad_(True)
    opts = {k: v for k, v in case["options"].items() if k != "inplace_backward"}
    loss = crossent.softmax_cross_entropy(full, case["targets"], **opts)
    (loss * case["upstream"].to(loss.dtype)).sum().backward()
    assert full.grad is not None
    return loss.detach(), full.grad


def _naive_loss(full: torch.Tensor, y: torch.Tensor, opts: dict[str, Any]) -> torch.Tensor:
    """PyTorch's ``cross_entropy`` of the soft-capped logits plus ``z_loss * logsumexp²`` per
    counted row, reduced over the counted rows."""
    cap = opts.get("logit_softcap")
    z = full if cap is None else cap * torch.tanh(full / cap)
    weight = opts.get("weight")
    if y.is_floating_point():  # probability targets: every row counts
        valid = torch.ones(y.shape[:-1], dtype=torch.bool)
        target = y.double().movedim(-1, 1) if y.ndim > 2 else y.double()
        row_w = valid.double()
    else:
        ignore = opts.get("ignore_index", -100)
        valid = torch.ones_like(y, dtype=torch.bool) if ignore is None else y != ignore
        target = torch.where(valid, y, 0)
        row_w = valid.double() if weight is None else weight.double()[target] * valid
    rows = F.cross_entropy(
        z.movedim(-1, 1) if z.ndim > 2 else z,
        target,
        weight=None if weight is None else weight.double(),
        reduction="none",
        label_smoothing=opts.get("label_smoothing", 0.0),
    )
    # crossent's z-loss term is scaled by the row's class weight, like its cross-entropy
    rows = rows + opts.get("z_loss", 0.0) * row_w * torch.logsumexp(z, dim=-1) ** 2
    rows = torch.where(valid, rows, 0.0)
    reduction = opts.get("reduction", "mean")
    if reduction == "none":
        return rows
    if reduction == "sum":
        return rows.sum()
    return rows.sum() / (row_w.sum() if bool(row_w.sum() > 0) else 1.0)


def _naive(case: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and gradient of :func:`_naive_loss` on the full logits."""
    full = case["logits"].double().clone().requires_grad_(True)
    loss = _naive_loss(full, case["targets"], case["options"])
    (loss * case["upstream"]).sum().backward()
    assert full.grad is not None
    return loss.detach(), full.grad


LINEAR_ONLY = ("chunk_size", "reduce_hidden_grad")


def _linear_reference(
    case: dict[str, Any], naive: bool
) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """Loss and gradients (hidden, weight, bias) in float64 of the materialised logits
    ``hidden @ weight.T + bias``: the core loss, or :func:`_naive_loss`."""
    leaves = [case[k].double().clone().requires_grad_() for k in ("hidden", "weight")]
    bias = None if case["bias"] is None else case["bias"].double().clone().requires_grad_()
    logits = leaves[0] @ leaves[1].T + (0 if bias is None else bias)
    opts = {k: v for k, v in case["options"].items() if k not in LINEAR_ONLY}
    if naive:
        loss = _naive_loss(logits, case["targets"], opts)
    else:
        loss = crossent.softmax_cross_entropy(logits, case["targets"], **opts)
    (loss * case["upstream"]).sum().backward()
    return loss.detach(), [leaves[0].grad, leaves[1].grad, None if bias is None else bias.grad]


TOLERANCE: dict[torch.dtype, dict[str, Any]] = {
    torch.float64: {"rtol": 1e-12, "atol": 1e-13},
    torch.float32: {"rtol": 1e-5, "atol": 1e-6},
    torch.bfloat16: {"rtol": 2e-2, "atol": 5e-3},  # bf16 keeps 8 bits of mantissa
}

LINEAR_TOLERANCE: dict[torch.dtype, dict[str, Any]] = {
    torch.float64: {"rtol": 1e-12, "atol": 1e-12},
    torch.float32: {"rtol": 2e-5, "atol": 2e-6},  # float32 products of length D
    # bf16 products: the logits and the gradients are rounded to 8 bits before the
    # float64 reference's exact sums, as for the single-process linear loss
    torch.bfloat16: {"rtol": 6e-2, "atol": 3e-2},
}


def _tolerance(dtype: torch.dtype) -> dict[str, Any]:
    return TOLERANCE[dtype]


# ---------------------------------------------------------------------------------------
# Tests.
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", _value_cases())
def test_loss_and_gradient_match_one_process(name: str, results: list[dict[str, Any]]) -> None:
    case = CASES[name]
    dtype = case["logits"].dtype
    core_loss, core_grad = _core(case)
    naive_loss, naive_grad = _naive(case)
    tol = _tolerance(dtype)
    torch.testing.assert_close(core_loss.double(), naive_loss, **tol)
    torch.testing.assert_close(core_grad.double(), naive_grad, **tol)
    if dtype == torch.bfloat16:
        # Both compute in float32 and round once to bf16: at most one bf16 ulp apart.
        tol = {"rtol": 2**-7, "atol": 0.0}
    shards = core_grad.split(case["sizes"], dim=-1)
    for rank, res in enumerate(results):
        r = res[name]
        assert "error" not in r, r.get("error")
        assert isinstance(r["loss"], torch.Tensor) and r["loss"].dtype == dtype
        assert r["loss"].shape == core_loss.shape
        torch.testing.assert_close(r["loss"], core_loss, **tol)
        assert r["grad"].dtype == dtype and r["grad"].shape == shards[rank].shape
        torch.testing.assert_close(r["grad"], shards[rank], **tol)
    # Every rank holds the same loss, bit for bit: the all-reduces give each the same sums.
    assert torch.equal(results[0][name]["loss"], results[1][name]["loss"])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", ["", "linear_"])
def test_all_ignored_batch_is_zero_with_zero_gradients(
    kind: str, reduction: str, results: list[dict[str, Any]]
) -> None:
    for res in results:
        r = res[f"{kind}all_ignored_{reduction}"]
        assert torch.equal(r["loss"], torch.zeros_like(r["loss"]))
        grads = [k for k in r if k.startswith("grad")]
        assert grads == (["grad_hidden", "grad_weight", "grad_bias"] if kind else ["grad"])
        for key in grads:
            assert torch.equal(r[key], torch.zeros_like(r[key]))


def test_extreme_logits_stay_finite(results: list[dict[str, Any]]) -> None:
    for res in results:
        r = res["extreme_logits"]
        assert torch.isfinite(r["loss"]).all() and torch.isfinite(r["grad"]).all()


@pytest.mark.parametrize("name", VALUE_CASES)
def test_bytes_communicated_match_the_formula(name: str, results: list[dict[str, Any]]) -> None:
    case = CASES[name]
    n = case["logits"].numel() // sum(case["sizes"])
    smoothing = case["options"].get("label_smoothing", 0.0)
    soft = case["targets"].is_floating_point()
    expected = communication_bytes(
        n, case["logits"].dtype, label_smoothing=smoothing, probability_targets=soft
    )
    width = max(case["logits"].element_size(), 4)  # fp16/bf16 are reduced in float32
    # per row: maximum, sum of exponentials, target logit (probabilities: Σ p z, Σ p and
    # the count of entries outside [0, 1]), and with smoothing the row sum of logits
    assert expected == 8 + (3 + 2 * soft + (smoothing > 0)) * n * width
    for res in results:
        r = res[name]
        assert r["bytes"] == expected
        assert r["calls"] == 3  # all-gather of the sizes, all-reduce MAX, all-reduce SUM
        assert r["backward_bytes"] == 0


def test_bytes_do_not_depend_on_the_vocabulary(results: list[dict[str, Any]]) -> None:
    assert sum(CASES["wide_vocabulary"]["sizes"]) > 10 * sum(CASES["even"]["sizes"])
    for res in results:
        assert res["wide_vocabulary"]["bytes"] == res["even"]["bytes"] == 8 + 3 * 6 * 8


def test_communication_volume_for_a_language_model_head() -> None:
    n, v = 4096, 131072
    assert communication_bytes(n, torch.float32) == 49160
    assert communication_bytes(n, torch.float32, label_smoothing=0.1) == 65544
    assert communication_bytes(n, torch.bfloat16) == 49160  # computed in float32
    all_gather = n * v * 4  # 2 GiB: the float32 logits an all-gather delivers to each rank
    assert all_gather // communication_bytes(n, torch.float32) == 43_683  # ≈ V / 3


def test_empty_shard_is_refused_on_every_rank(results: list[dict[str, Any]]) -> None:
    for res in results:
        with pytest.raises(
            ValueError,
            match=r"at least one vocabulary column on every rank; got shard sizes \[8, 0\] \(empty on rank 1\)",
        ):
            raise res["empty_shard"]["error"]


def test_out_of_range_target_uses_the_core_message(results: list[dict[str, Any]]) -> None:
    for res in results:
        with pytest.raises(ValueError, match=r"class index 9 is out of range for 9 classes"):
            raise res["out_of_range"]["error"]


def test_invalid_probabilities_on_one_rank_raise_on_every_rank(
    results: list[dict[str, Any]],
) -> None:
    for res in results:
        with pytest.raises(
            ValueError,
            match=r"must hold probabilities in \[0, 1\]; found 2 entries outside it",
        ):
            raise res["soft_outside_unit"]["error"]
        with pytest.raises(ValueError, match=r"must sum to 1; found a sum of 0\.(9|8999)"):
            raise res["soft_bad_sum"]["error"]


def test_probability_targets_at_the_index_agree_with_class_indices() -> None:
    """One-hot probability targets are the class-index loss (single process, 1 rank
    groups are covered by the doctest; here the two formulas of the loss meet)."""
    case = SOFT_CASES["soft_even"]
    index = case["targets"].argmax(-1)
    onehot = F.one_hot(index, sum(case["sizes"])).double()
    a = crossent.softmax_cross_entropy(case["logits"], onehot)
    b = crossent.softmax_cross_entropy(case["logits"], index)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_target_shape_uses_the_core_message(results: list[dict[str, Any]]) -> None:
    for res in results:
        with pytest.raises(ValueError, match=r"`targets` must have shape \(3,\)"):
            raise res["bad_target_shape"]["error"]


@pytest.mark.parametrize(
    ("logits", "targets", "options", "error", "match"),
    [
        ([[0.0, 1.0]], torch.tensor([0]), {}, TypeError, "`local_logits` must be a torch.Tensor"),
        (torch.zeros(2, 3, dtype=torch.int64), torch.tensor([0, 1]), {}, TypeError, "local_logits"),
        (torch.zeros(()), torch.tensor(0), {}, ValueError, "must have a vocabulary axis"),
        (
            torch.zeros(2, 3),
            torch.zeros(2),
            {},
            ValueError,
            r"must be this rank's shard .* got \(2,\)",
        ),
        (torch.zeros(2, 3), [0, 1], {}, TypeError, "`targets` must be a torch.Tensor"),
        (torch.zeros(2, 3), torch.tensor([0, 1]), {"reduction": "avg"}, ValueError, "reduction"),
        (torch.zeros(2, 3), torch.tensor([0, 1]), {"z_loss": -1.0}, ValueError, "`z_loss`"),
        (
            torch.zeros(2, 3),
            torch.tensor([0, 1]),
            {"label_smoothing": 1.5},
            ValueError,
            "`label_smoothing`",
        ),
        (
            torch.zeros(2, 3, requires_grad=True),
            torch.tensor([0, 1]),
            {"inplace_backward": True},
            ValueError,
            "`local_logits` is a leaf tensor that requires grad",
        ),
        (
            (torch.zeros(3, 2, requires_grad=True) * 1).T,
            torch.tensor([0, 1]),
            {"inplace_backward": True},
            ValueError,
            r"`local_logits` must be viewable as \[N, C\]",
        ),
        (torch.zeros(2, 3), torch.tensor([0, 1]), {"inplace_backward": 1}, TypeError, "bool"),
        (torch.zeros(2, 3), torch.zeros(2, 4), {}, ValueError, "shard of the target distributions"),
        (
            torch.zeros(2, 3),
            torch.full((2, 3), 1 / 3),
            {"weight": torch.ones(3)},
            ValueError,
            "`weight` needs class-index targets",
        ),
        (
            torch.zeros(2, 3),
            torch.full((2, 3), 1 / 3, requires_grad=True),
            {},
            ValueError,
            "targets.detach",
        ),
        (
            torch.zeros(2, 3, requires_grad=True) * 1,
            torch.full((2, 3), 1 / 3),
            {"inplace_backward": True},
            ValueError,
            "needs class-index targets",
        ),
        (torch.zeros(2, 3), torch.tensor([0, 1]), {}, RuntimeError, "init_process_group"),
    ],
)
def test_errors_before_any_communication(
    logits: Any, targets: Any, options: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        vocab_parallel_cross_entropy(logits, targets, **options)


# ---------------------------------------------------------------------------------------
# vocab_parallel_linear_cross_entropy.
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LINEAR_VALUE_CASES)
def test_linear_loss_and_gradients_match_one_process(
    name: str, results: list[dict[str, Any]]
) -> None:
    case = LINEAR_CASES[name]
    dtype = case["hidden"].dtype
    core_loss, core_grads = _linear_reference(case, naive=False)
    naive_loss, naive_grads = _linear_reference(case, naive=True)
    torch.testing.assert_close(core_loss, naive_loss, rtol=1e-12, atol=1e-12)
    for a, b in zip(core_grads, naive_grads, strict=True):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    tol = LINEAR_TOLERANCE[dtype]
    reduce_hidden = case["options"].get("reduce_hidden_grad", True)
    hidden_sum = torch.zeros_like(core_grads[0])
    for rank, res in enumerate(results):
        r = res[name]
        assert "error" not in r, r.get("error")
        assert r["loss"].dtype == dtype and r["loss"].shape == core_loss.shape
        torch.testing.assert_close(r["loss"].double(), core_loss, **tol)
        lo = sum(case["sizes"][:rank])
        hi = lo + case["sizes"][rank]
        assert r["grad_weight"].dtype == dtype
        torch.testing.assert_close(r["grad_weight"].double(), core_grads[1][lo:hi], **tol)
        if case["bias"] is not None:
            torch.testing.assert_close(r["grad_bias"].double(), core_grads[2][lo:hi], **tol)
        if not case["hidden_grad"]:
            assert r["grad_hidden"] is None
            continue
        assert r["grad_hidden"].dtype == dtype
        if reduce_hidden:
            torch.testing.assert_close(r["grad_hidden"].double(), core_grads[0], **tol)
        hidden_sum += r["grad_hidden"].double()
    if case["hidden_grad"] and not reduce_hidden:
        # Each rank kept its own term G^(r) W^(r); their sum is the whole gradient.
        assert not torch.allclose(results[0][name]["grad_hidden"].double(), core_grads[0])
        torch.testing.assert_close(hidden_sum, core_grads[0], **tol)
    assert torch.equal(results[0][name]["loss"], results[1][name]["loss"])


@pytest.mark.parametrize("name", list(LINEAR_TWICE))
def test_linear_backward_twice_doubles_every_gradient(
    name: str, results: list[dict[str, Any]]
) -> None:
    case = LINEAR_CASES[name]
    _, core_grads = _linear_reference(case, naive=False)
    tol = LINEAR_TOLERANCE[torch.float64]
    for rank, res in enumerate(results):
        r = res[name]
        assert "error" not in r, r.get("error")
        lo = sum(case["sizes"][:rank])
        hi = lo + case["sizes"][rank]
        torch.testing.assert_close(r["grad_hidden"], 2 * core_grads[0], **tol)
        torch.testing.assert_close(r["grad_weight"], 2 * core_grads[1][lo:hi], **tol)
        torch.testing.assert_close(r["grad_bias"], 2 * core_grads[2][lo:hi], **tol)
        assert r["backward_calls"] == 2  # one all-reduce of the hidden gradient each time


def _naive_soft_masked(case: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row loss ``-Σ_c p_c log q_c + λ s²`` and its gradient ``(q Σ_c p_c + 2 λ s q - p)``
    (times the upstream gradient) in float64 with ``0 · log 0 = 0``: terms with ``p_c = 0``
    are left out, whatever the logit."""
    z, p = case["logits"].double(), case["targets"].double()
    lam = case["options"].get("z_loss", 0.0)
    s = torch.logsumexp(z, dim=-1)
    log_q = z - s[:, None]
    terms = torch.where(p > 0, -p * torch.where(p > 0, log_q, 0.0), 0.0)
    loss = terms.sum(-1) + lam * s**2
    q = torch.exp(log_q)
    grad = q * (p.sum(-1) + 2 * lam * s)[:, None] - p
    upstream = case["upstream"].double()
    if case["options"].get("reduction", "mean") == "mean":
        return loss.mean(), grad * upstream / z.shape[0]
    return loss, grad * upstream.reshape(-1, 1)


@pytest.mark.parametrize("name", MASKED_SOFT_CASES)
def test_masked_logits_with_zero_target_probability_follow_0_log_0(
    name: str, results: list[dict[str, Any]]
) -> None:
    case = CASES[name]
    want_loss, want_grad = _naive_soft_masked(case)
    assert torch.isfinite(want_loss).all() and torch.isfinite(want_grad).all()
    if name == "soft_masked":
        torch.testing.assert_close(want_loss, torch.tensor([math.log(2), 0.0], dtype=torch.float64))
    shards = want_grad.split(case["sizes"], dim=-1)
    for rank, res in enumerate(results):
        r = res[name]
        assert "error" not in r, r.get("error")
        torch.testing.assert_close(r["loss"], want_loss, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(r["grad"], shards[rank], rtol=1e-12, atol=1e-12)


def _expected_row_chunks(name: str) -> int:
    """Row chunks of a linear case: each costs two all-reduces."""
    case = LINEAR_CASES[name]
    n = case["targets"].numel()
    if name == "linear_default_chunks_uneven":
        return 2  # 300 rows in chunks of 150, set by the widest shard
    if name == "linear_lm_head":
        return 16  # 64 MiB chunks: 256 rows of 65 536 float32 logits
    if n == 0:
        return 0  # no row chunk, no all-reduce
    size = case["options"].get("chunk_size", n)
    rows = size[0] if isinstance(size, tuple) else size
    return -(-n // rows)


@pytest.mark.parametrize("name", [*LINEAR_VALUE_CASES, "linear_lm_head"])
def test_linear_bytes_communicated_match_the_formula(
    name: str, results: list[dict[str, Any]]
) -> None:
    case = LINEAR_CASES[name]
    n, d = case["targets"].numel(), case["hidden"].shape[-1]
    dtype = case["hidden"].dtype
    smoothing = case["options"].get("label_smoothing", 0.0)
    reduced = case["hidden_grad"] and case["options"].get("reduce_hidden_grad", True)
    forward = communication_bytes(n, dtype, label_smoothing=smoothing)
    total = communication_bytes(
        n, dtype, label_smoothing=smoothing, hidden_size=d if reduced else 0
    )
    assert total - forward == (n * d * case["hidden"].element_size() if reduced else 0)
    for res in results:
        r = res[name]
        assert r["bytes"] == forward
        assert r["calls"] == 1 + 2 * _expected_row_chunks(name)
        assert r["backward_bytes"] == total - forward
        assert r["backward_calls"] == int(reduced)


def test_language_model_head_volume_measured(results: list[dict[str, Any]]) -> None:
    """N = 4096 rows, V = 131 072 classes in two shards, D = 8, float32: the bytes each rank
    passed to collectives, against an all-gather of the logits."""
    case = LINEAR_CASES["linear_lm_head"]
    n, v = LM_HEAD
    assert case["targets"].shape == (n,) and sum(case["sizes"]) == v
    all_gather = n * v * 4  # the float32 logits an all-gather delivers to each rank
    for res in results:
        r = res["linear_lm_head"]
        assert r["bytes"] == 8 + 3 * n * 4 == 49_160
        assert r["backward_bytes"] == n * 8 * 4 == 131_072  # the hidden gradient, [N, D]
        assert all_gather / r["bytes"] > 43_000  # against 2 GiB
    # The loss itself, against the single-process fused loss on the whole weight.
    want = fused.linear_cross_entropy(case["hidden"], case["weight"], case["targets"])
    torch.testing.assert_close(results[0]["linear_lm_head"]["loss"], want, rtol=1e-5, atol=0.0)


def test_module_shards_the_vocabulary_evenly_and_initialises_like_linear(
    results: list[dict[str, Any]],
) -> None:
    infos = [res["module_default"] for res in results]
    assert [info["bounds"] for info in infos] == [(0, 6), (6, 11)]
    bound = 1 / 9**0.5  # nn.Linear's uniform bound for in_features = 9
    for info, rows in zip(infos, (6, 5), strict=True):
        assert info["weight"].shape == (rows, 9) and info["bias"].shape == (rows,)
        assert info["weight"].abs().max() <= bound and info["bias"].abs().max() <= bound
        assert info["weight"].std() > bound / 3  # drawn, not zeros
        assert "classes=[" in info["repr"] and "label_smoothing=0.1" in info["repr"]
        with pytest.raises(
            ValueError, match=r"`num_classes` must be at least the number of ranks \(2\)"
        ):
            raise info["error"]
    assert not torch.equal(infos[0]["weight"][:5], infos[1]["weight"])


@pytest.mark.parametrize(
    ("args", "options", "error", "match"),
    [
        ((4, 10), {"label_smoothing": 2.0}, ValueError, "label_smoothing"),
        ((4, 10), {"chunk_size": 0}, ValueError, "chunk_size"),
        ((4, 10), {"reduce_hidden_grad": "yes"}, TypeError, "reduce_hidden_grad"),
        ((4, 10), {"weight": None}, TypeError, "unexpected keyword 'weight'"),
        ((4, 10), {}, RuntimeError, "init_process_group"),
    ],
)
def test_module_errors_without_communication(
    args: tuple[int, int], options: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        VocabParallelLinearCrossEntropy(*args, **options)


def test_vocab_shard_bounds_split_like_tensor_split() -> None:
    from crossent.torch.distributed import vocab_shard_bounds

    for v, r in [(11, 2), (12, 3), (7, 7), (100, 8)]:
        bounds = vocab_shard_bounds(v, r)
        sizes = [len(part) for part in torch.arange(v).tensor_split(r)]
        assert [b - a for a, b in itertools.pairwise(bounds)] == sizes
        assert bounds[0] == 0 and bounds[-1] == v


def test_linear_errors_after_the_size_exchange(results: list[dict[str, Any]]) -> None:
    for res in results:
        with pytest.raises(
            ValueError,
            match=r"`local_weight` must hold at least one vocabulary column on every rank; "
            r"got shard sizes \[8, 0\]",
        ):
            raise res["linear_empty_shard"]["error"]
        with pytest.raises(ValueError, match=r"class index 9 is out of range for 9 classes"):
            raise res["linear_out_of_range"]["error"]


H, W = torch.zeros(3, 4), torch.zeros(5, 4)


@pytest.mark.parametrize(
    ("args", "options", "error", "match"),
    [
        (([[0.0]], W, torch.tensor([0])), {}, TypeError, "`hidden` must be a torch.Tensor"),
        ((H, W.T, torch.tensor([0, 1, 2])), {}, ValueError, "`local_weight` must have shape"),
        ((H, W.double(), torch.tensor([0, 1, 2])), {}, TypeError, "dtype of `hidden`"),
        (
            (H, W, torch.tensor([0, 1, 2])),
            {"local_bias": torch.zeros(4)},
            ValueError,
            r"`local_bias` must have shape \(5,\)",
        ),
        ((H, W, torch.zeros(3)), {}, TypeError, "must be integer class indices"),
        (
            (H, W, torch.tensor([0, 1, 2])),
            {"reduce_hidden_grad": 1},
            TypeError,
            "reduce_hidden_grad",
        ),
        ((H, W, torch.tensor([0, 1, 2])), {"chunk_size": 0}, ValueError, "chunk_size"),
        ((H, W, torch.tensor([0, 1, 2])), {"logit_softcap": 0.0}, ValueError, "logit_softcap"),
        ((H, W, torch.tensor([0, 1, 2])), {}, RuntimeError, "init_process_group"),
    ],
)
def test_linear_errors_before_any_communication(
    args: tuple[Any, ...], options: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        vocab_parallel_linear_cross_entropy(*args, **options)


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vocab_parallel.py"


@pytest.mark.parametrize("flags", [[], ["--linear"]])
def test_example_trains_like_one_process(flags: list[str]) -> None:
    """``torchrun --nproc-per-node 2 examples/vocab_parallel.py [--linear]``: float32
    losses and the trained head agree with one process."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            str(WORLD_SIZE),
            str(EXAMPLE),
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    steps = [r for r in rows if len(r) == 4 and r[0].isdigit()]  # step, sharded, single, diff
    assert len(steps) == 10
    sharded = [float(s[1]) for s in steps]
    single = [float(s[2]) for s in steps]
    assert sharded[-1] < sharded[0] - 0.5  # it trains
    for a, b in zip(sharded, single, strict=True):
        assert abs(a - b) <= 1e-5 * abs(b)
    drift = float(out.stdout.rsplit("=", 1)[1])
    assert drift <= 1e-5


if __name__ == "__main__":
    _run_rank(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
