"""Smoke tests of the benchmark harness: structure, not timing."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from crossent import cli
from crossent.bench import harness, workloads

TINY = harness.Sizes(
    ce=(8, 16),
    lce=(6, 4, 16),
    numpy=(200, 10),
    sweep_ce_v=(16,),
    sweep_ce_n=(),
    sweep_lce_v=(),
    sweep_lce_d=4,
    repeats=2,
    sweep_repeats=1,
)
RUN = {
    "ce_torch",
    "ce_crossent_inplace",
    "ce_floor",
    "lce_crossent",
    "lce_floor",
    "np_crossent",
    "np_sklearn",
}


def test_run_structure(tmp_path: Path) -> None:
    lines: list[str] = []
    out = tmp_path / "sub" / "bench.json"
    report = harness.run(
        sizes=TINY,
        json_path=out,
        progress=lines.append,
        selected=lambda c: c.workload in RUN and not c.env,
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(report, default=float))
    assert not list(out.parent.glob("*.tmp"))  # written through a renamed temporary file
    assert report["command"] == "crossent bench"
    assert {"cpu", "cores", "versions"} <= set(report["machine"])
    names = [c["workload"] for c in report["cases"]]
    assert set(names) == RUN and len(lines) == len(names) == 9  # 7 + a sweep point of 2
    for case in report["cases"]:
        assert case["status"] == "ok", case
        assert len(case["times"]) == len(case["peak_extra"]) == case["repeats"]
        assert all(t > 0 for t in case["times"]) and all(m >= 0 for m in case["peak_extra"])
        assert case["median_time"] > 0
    values = {c["workload"]: c["value"] for c in report["cases"] if c["group"] != "sweep-ce"}
    # the variants compute the same loss on the same inputs
    assert math.isclose(values["np_crossent"], values["np_sklearn"], rel_tol=1e-9)
    assert next(c for c in report["cases"] if c["workload"] == "lce_crossent")["kernel"] in (
        "c",
        "torch",
    )
    table = report["table"]
    for heading in (
        "### Cross-entropy on logits [8, 16]",
        "### Linear + cross-entropy",
        "### NumPy core",
        "### Scaling",
        "### Targets",
    ):
        assert heading in table
    goals = {g["goal"]: g for g in report["goals"]}
    assert goals["fused CE time ≤ 0.5 × F.cross_entropy"]["met"] in (True, False)
    # peers that were not run are "not measured", never a verdict
    assert goals["linear CE time ≤ 0.8 × naive"]["met"] is None


def test_vocab_parallel_cases_agree_and_count_bytes() -> None:
    """Two gloo ranks per case: the three variants compute one loss; the all-gather returns
    the whole logits to each rank, crossent's all-reduces three numbers a row."""
    n, d, v = 6, 4, 10
    report = harness.run(
        sizes=dataclasses.replace(TINY, vp=(n, d, v)), selected=lambda c: c.group == "vp"
    )
    cases = {c["workload"]: c for c in report["cases"]}
    assert set(cases) == {"vp_gather", "vp_crossent", "vp_crossent_inplace", "vp_crossent_linear"}
    for case in cases.values():
        assert case["status"] == "ok", case
        assert case["ranks"] == 2 and len(case["times"]) == case["repeats"]
    losses = [c["value"] for c in cases.values()]
    assert max(losses) - min(losses) <= 1e-5 * abs(losses[0])
    assert cases["vp_gather"]["collective_bytes"] == n * v * 4
    for name in ("vp_crossent", "vp_crossent_inplace", "vp_crossent_linear"):
        # one int64 of shard size, then maxima, sums of exponentials and target logits
        assert cases[name]["collective_bytes"] == 8 + 3 * n * 4
    assert "### Vocabulary-parallel cross-entropy over 2 gloo processes" in report["table"]


def test_unavailable_peer_is_reported_not_raised() -> None:
    case = harness.Case("lce", "missing", "lce_cce", {"n": 2, "d": 2, "v": 3}, repeats=1)
    result = harness.run_case(case, python="/definitely/not/python")
    assert result.status.startswith("failed") and result.times == []
    assert math.isnan(result.time)


def test_measure_counts_repeats_and_memory() -> None:
    calls: list[int] = []

    def run(state: int) -> float:
        calls.append(state)
        block = bytearray(b"\x01") * (8 << 20)  # 8 MiB written beyond the inputs
        return float(len(block))

    out = workloads.measure(lambda: 1, run, warmup=2, repeats=3)
    assert len(calls) == 5 and len(out["times"]) == 3 and out["value"] == 8 << 20
    if out["exact_memory"]:
        assert all(m >= 6 << 20 for m in out["peak_extra"])


def test_render_goals_verdicts() -> None:
    params = {"n": 4, "c": 8}
    made = [
        harness.Result(harness.Case("ce", "torch", "ce_torch", params), "ok", [1.0], [100], 0.5),
        harness.Result(
            harness.Case("ce", "ours", "ce_crossent_inplace", params), "ok", [0.4], [0], 0.5
        ),
        harness.Result(harness.Case("ce", "floor", "ce_floor", params), "ok", [0.1], [0], 0.0),
    ]
    table, goals = harness.render(made)
    verdict = {g["goal"]: g["met"] for g in goals}
    assert verdict["fused CE time ≤ 0.5 × F.cross_entropy"] is True
    assert verdict["fused CE time ≤ 2 × bandwidth floor"] is False
    assert verdict["fused CE in-place extra memory ≤ 5% of logits"] is True
    assert "| ours | 0.400 | 0.40 | 4.00 |" in table


def test_cli_bench_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--repeats", "3"])
    assert exc.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
    assert cli.main(["bench", "--json", "."]) == 2
    assert "`--json` must be a file path" in capsys.readouterr().err
    for only in ("gpu", ",", "ce,vp,xyz"):
        assert cli.main(["bench", "--only", only]) == 2
        assert "`--only` takes a comma-separated list of ce, lce, numpy, sweep, vp" in (
            capsys.readouterr().err
        )


def test_linear_distillation_cases_agree_and_render_their_table() -> None:
    """Tiny sizes: the fused loss and the naive two-logits loss compute the same forward KL,
    and the table and its two targets appear; the ``--quick`` plan has the four cases at
    the quick sizes (not run here)."""
    report = harness.run(
        sizes=dataclasses.replace(TINY, distill=(6, 4, 16)),
        selected=lambda c: c.group == harness.DISTILL_GROUP,
    )
    cases = report["cases"]
    assert [c["workload"] for c in cases] == ["ld_naive", "ld_crossent", "ld_crossent", "ld_floor"]
    for case in cases:
        assert case["status"] == "ok", case
        assert len(case["times"]) == case["repeats"] and case["median_time"] > 0
    naive, ours, small = (c["value"] for c in cases[:3])
    assert math.isclose(ours, naive, rel_tol=1e-5) and math.isclose(small, naive, rel_tol=1e-5)
    assert naive > 0
    assert "### Fused linear distillation vs naive two-logits, N=6, D=4, V=16" in report["table"]
    goals = {g["goal"]: g["met"] for g in report["goals"]}
    assert goals["linear distillation time ≤ 1.15 × four-matmul floor"] in (True, False)
    assert "linear distillation extra memory beyond grads ≤ 5% of logits" in goals
    planned = [c for c in harness.cases(harness.QUICK) if c.group == harness.DISTILL_GROUP]
    assert len(planned) == 4
    assert all(c.params["n"] == 512 and c.params["v"] == 16384 for c in planned)
    # run by `crossent bench --only lce`, beside the linear cross-entropy table
    assert all(c.group.split("-")[0] == "lce" for c in planned)


def test_distillation_goals_use_the_default_chunk() -> None:
    params = {"n": 4, "d": 2, "v": 8}
    logits = 4 * 8 * 4
    grads = (4 + 8) * 2 * 4
    group = harness.DISTILL_GROUP
    made = [
        harness.Result(harness.Case(group, "naive", "ld_naive", params), "ok", [2.0], [9999], 1.0),
        harness.Result(
            harness.Case(group, "ours", "ld_crossent", params), "ok", [1.1], [grads + 1], 1.0
        ),
        harness.Result(
            harness.Case(group, "small", "ld_crossent", {**params, "chunk": 1}),
            "ok",
            [9.0],
            [grads + logits],
            1.0,
        ),
        harness.Result(harness.Case(group, "floor", "ld_floor", params), "ok", [1.0], [0], 0.0),
    ]
    table, goals = harness.render(made)
    verdict = {g["goal"]: g for g in goals}
    assert verdict["linear distillation time ≤ 1.15 × four-matmul floor"]["met"] is True
    memory = verdict["linear distillation extra memory beyond grads ≤ 5% of logits"]
    assert memory["met"] is True and math.isclose(memory["measured"], 1 / logits)
    assert "| ours | 1.100 | 0.55 | 1.10 |" in table
