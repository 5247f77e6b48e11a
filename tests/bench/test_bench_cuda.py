"""``crossent bench --device cuda``: refused without a GPU; its dry run exercises the GPU
tables' code on CPU (crossent's Triton kernels in Triton's interpreter). Structure, not
timing."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from crossent import cli
from crossent.bench import harness, workloads

pytest.importorskip("triton")

DRY_CASES = {"ce_crossent_inplace", "lce_crossent"}


def test_dry_run_runs_the_gpu_tables_on_the_triton_kernels() -> None:
    lines: list[str] = []
    report = harness.run(
        device="cuda",
        dry_run=True,
        progress=lines.append,
        selected=lambda c: c.workload in DRY_CASES and c.env == harness.TRITON_ENV,
    )
    assert report["command"] == "crossent bench --device cuda --dry-run"
    cases = {c["workload"]: c for c in report["cases"]}
    assert set(cases) == DRY_CASES and len(lines) == 2
    for case in cases.values():
        assert case["status"] == "ok", case
        assert case["device"] == "cuda" and case["kernel"] == "triton"
        assert len(case["times"]) == case["repeats"] == harness.DRY_RUN.repeats
        assert all(t > 0 for t in case["times"]) and case["peak_extra"] == [0, 0]
    # the loss each process reports is PyTorch's on the same inputs
    n, c = harness.DRY_RUN.ce
    fresh, _ = workloads._logits_source(n, c)
    logits, targets = fresh()
    want = F.cross_entropy(logits.detach(), targets).item()
    assert math.isclose(cases["ce_crossent_inplace"]["value"], want, rel_tol=1e-5)
    table = report["table"]
    assert table.startswith("_Dry run:")
    assert f"### Cross-entropy on logits [{n}, {c}] float32 on CUDA" in table
    assert "### Linear + cross-entropy, N=64, D=32, V=1000 float32 on CUDA" in table
    assert "| crossent cross_entropy, in place, Triton | triton |" in table
    assert report["goals"] == []  # nothing is claimed for a GPU


def test_gpu_tables_list_the_peers() -> None:
    cases = harness.cuda_cases(harness.FULL)
    assert {c.device for c in cases} == {"cuda"}
    workloads_run = {c.workload for c in cases}
    assert {"ce_torch", "ce_liger", "lce_torch", "lce_cce", "lce_liger"} <= workloads_run
    assert set(workloads_run) <= set(workloads.WORKLOADS)


def test_missing_peer_is_a_row_of_the_gpu_table() -> None:
    """A peer that is not installed is a row saying so, not an error."""
    case = harness.Case("ce-cuda", "Liger", "ce_liger", {"n": 2, "c": 3}, repeats=1, device="cuda")
    table, _ = harness.render([harness.Result(case, "not available: No module named 'x'")])
    assert "| Liger | not available: No module named 'x' |" in table


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--device", "cuda"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "`--device cuda` needs a CUDA GPU" in err[0]


def test_dry_run_without_cuda_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--dry-run"]) == 2
    assert "`--dry-run` goes with `--device cuda`" in capsys.readouterr().err
