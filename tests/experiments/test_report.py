"""The report: self-contained, parseable, written atomically; the figures and the verdict rule."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from crossent.experiments import figures, report
from crossent.experiments.registry import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    INCONCLUSIVE,
    Claim,
    Context,
    Figure,
    Options,
    Result,
    Table,
    verdict,
)
from crossent.experiments.runner import parse_only

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}


class TagChecker(HTMLParser):
    """Collects tags and attributes and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.errors: list[str] = []
        self.in_svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()


def sample_svg(key: str) -> str:
    fig, ax = figures.figure(1)
    ax.plot([0, 1, 2], [1, 0, 2], label="line")
    ax.set(xlabel="x", ylabel="y")
    ax.legend()
    return figures.to_svg(fig, key)


def outcomes() -> list[report.Outcome]:
    results = [
        Result(
            HOLDS,
            "x ≤ 1",
            {"x": 0.5, "runs": [1.0, float("nan")], "flag": True},
            "setting",
            "finding <b>",
            headline="x = 0.5",
            figures=[Figure("A plot", sample_svg("t1"), "caption & more")],
            tables=[Table("T", ["a", "b"], [["1.5", "text"], ["2", "<i>"]])],
        ),
        Result(
            HOLDS_WITH_CORRECTION,
            "y",
            {"nested": {"a": np.float64(1.25)}},
            "s",
            "f",
            figures=[Figure("B plot", sample_svg("t2"))],
        ),
        Result(DOES_NOT_HOLD, "z", {"n": np.int64(3)}, "s", "f"),
    ]
    return [
        report.Outcome(claim_returning(f"C{i + 1}", f"claim {i + 1} <&>", f"seed 00{i}", r), r, 1.0)
        for i, r in enumerate(results)
    ]


def claim_returning(claim_id: str, text: str, source: str, result: Result) -> Claim:
    return Claim(claim_id, text, source, lambda ctx: result)


def test_verdict_is_computed_from_the_outcome() -> None:
    assert verdict(True) == HOLDS
    assert verdict(True, correction=True) == HOLDS_WITH_CORRECTION
    assert verdict(False) == DOES_NOT_HOLD
    assert verdict(False, correction=True) == DOES_NOT_HOLD


def test_parse_only() -> None:
    claims = [Claim(f"C{i}", "", "", lambda ctx: None) for i in (1, 6, 13)]  # type: ignore[arg-type,return-value]
    assert [c.id for c in parse_only("c13, C6", claims)] == ["C6", "C13"]
    assert [c.id for c in parse_only(None, claims)] == ["C1", "C6", "C13"]
    with pytest.raises(ValueError, match=r"`--only` must list claim ids .* got 'C6,C99'"):
        parse_only("C6,C99", claims)
    with pytest.raises(ValueError, match="`--only` must list claim ids"):
        parse_only(" , ", claims)


def test_context_sizes_follow_quick() -> None:
    assert Context(Options(quick=True)).size(quick=1, full=2) == 1
    assert Context(Options()).size(quick=1, full=2) == 2


def test_svg_scales_and_keeps_ids_apart() -> None:
    a, b = sample_svg("first"), sample_svg("second")
    for svg in (a, b):
        assert svg.startswith("<svg") and svg.endswith("</svg>")
        root = ET.fromstring(svg)
        assert "viewBox" in root.attrib and "width" not in root.attrib
        assert "<metadata" not in svg and "<?xml" not in svg and "DOCTYPE" not in svg
    ids_a = {e.get("id") for e in ET.fromstring(a).iter() if e.get("id")}
    ids_b = {e.get("id") for e in ET.fromstring(b).iter() if e.get("id")}
    assert ids_a and ids_b and not ids_a & ids_b
    assert sample_svg("first") == a  # deterministic: same figure, same bytes


def test_html_is_self_contained_and_parses() -> None:
    page = report.render_html(outcomes(), Options(quick=True, seed=3), seconds=12.0, versions="v")
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert "script" not in checker.tags and "link" not in checker.tags and "img" not in checker.tags
    for name, value in checker.attributes:
        if name in ("src", "href", "xlink:href"):
            assert value is not None and value.startswith("#"), (name, value)
    assert "@import" not in page
    assert all(ref.startswith("url(#") for ref in re.findall(r"url\([^)]*\)", page))
    assert checker.tags.count("svg") == 2
    assert "@media print" in page and 'name="viewport"' in page
    # Text is escaped; every verdict is written out, not only coloured.
    assert "finding &lt;b&gt;" in page and "claim 1 &lt;&amp;&gt;" in page
    for v in (HOLDS, HOLDS_WITH_CORRECTION, DOES_NOT_HOLD):
        assert f">{v}</span>" in page
    assert "--quick" in page and "seed 3" in page


def test_write_puts_both_files_atomically(tmp_path: Path) -> None:
    out = tmp_path / "report"
    path = report.write(outcomes(), Options(), out, seconds=1.0, versions="v")
    assert path == out / "index.html"
    assert sorted(p.name for p in out.iterdir()) == ["claims.json", "index.html"]
    records = json.loads((out / "claims.json").read_text(encoding="utf-8"))
    assert [r["id"] for r in records] == ["C1", "C2", "C3"]
    for r in records:
        assert {"id", "claim", "source", "verdict", "criterion", "measured"} <= set(r)
    assert records[0]["measured"]["runs"] == [1.0, None]  # NaN is not JSON
    assert records[1]["measured"]["nested"]["a"] == 1.25
    assert records[2]["measured"]["n"] == 3
    mode = os.stat(out / "index.html").st_mode & 0o777
    assert mode & 0o444 == 0o444 & ~current_umask()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failed_write_leaves_the_previous_report(tmp_path: Path) -> None:
    report.write(outcomes(), Options(), tmp_path, seconds=1.0, versions="v")
    before = (tmp_path / "claims.json").read_text(encoding="utf-8")
    broken = outcomes()
    broken[0].result.measured["bad"] = object()
    with pytest.raises(TypeError, match=r"cannot write object to claims\.json"):
        report.write(broken, Options(), tmp_path, seconds=1.0, versions="v")
    assert (tmp_path / "claims.json").read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.json", "index.html"]


def evidence_outcome(verdict_: str = INCONCLUSIVE, *, quick: bool = True) -> report.Outcome:
    from crossent.experiments.stats import Evidence, sweep_point

    rng = np.random.default_rng(0)
    points = [
        sweep_point(
            "positive rate",
            rate,
            {"focal": rng.normal(0.5, 0.02, 5), "BCE": rng.normal(0.49, 0.02, 5)},
            claimed="focal",
            baseline="BCE",
            metric="average precision",
            ceiling=0.6,
        )
        for rate in (0.1, 0.01, 0.001)
    ]
    evidence = Evidence(
        "average precision", 5, points, 0.03, claimed="focal", baseline="BCE", quick=quick
    )
    result = Result(
        verdict_,
        "criterion",
        {"x": 1.0},
        "setting",
        "finding",
        headline="h",
        evidence=evidence,
        published=[Table("Published: a paper's Table 1", ["method", "AP"], [["focal", "34.0"]])],
    )
    return report.Outcome(
        claim_returning("C13", "focal beats BCE", "seed 003", result), result, 2.0
    )


def test_evidence_renders_sweep_plot_table_power_and_published_numbers() -> None:
    outcome = evidence_outcome()
    page = report.render_html([outcome], Options(quick=True), seconds=1.0, versions="v")
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert checker.tags.count("svg") == 1  # the sweep plot, made by the report
    assert f">{INCONCLUSIVE}</span>" in page and "<em>inconclusive</em>" in page
    assert "× 1" in page  # the inconclusive count in the summary
    assert 'class="quick"' in page and "Quick run." in page
    ev = outcome.result.evidence
    assert ev is not None
    assert "detectable difference 0.03" in page
    assert "5 per method and point" in page
    # One row per sweep point with each method's interval, the difference and the ceiling gap.
    first = ev.sweep[0]
    assert (
        f"{first.difference.mean:.3g} [{first.difference.lo:.3g}, {first.difference.hi:.3g}]"
        in page
    )
    best = max(iv.mean for iv in first.methods.values())
    assert f'<td class="num">{0.6 - best:.3g}</td>' in page
    assert "Published: a paper&#x27;s Table 1" in page and "34.0" in page
    # The plot marks the ceiling.
    assert "Bayes-optimal" in page


def test_a_full_run_is_not_marked_quick() -> None:
    page = report.render_html(
        [evidence_outcome(HOLDS, quick=False)], Options(), seconds=1.0, versions="v"
    )
    assert 'class="quick"' not in page and "quick run:" not in page


def test_claims_json_carries_the_evidence_contract() -> None:
    record = json.loads(report.claims_json([evidence_outcome()]))[0]
    assert record["verdict"] == INCONCLUSIVE
    assert record["metric"] == "average precision" and record["repeats"] == 5
    assert len(record["sweep"]) == 3 and record["ceiling"] == [0.6, 0.6, 0.6]
    for point in record["sweep"]:
        assert {"variable", "value", "methods", "difference"} <= set(point)
        assert set(point["methods"]) == {"focal", "BCE"}
        lo, hi = point["difference"]["ci"]
        assert lo <= point["difference"]["mean"] <= hi
    assert record["detectable_difference"] == 0.03 and record["quick"] is True


def test_parse_only_selects_a_split_claim_whole_or_in_part() -> None:
    claims = [Claim(i, "", "", lambda ctx: None) for i in ("C6", "C16a", "C16b", "C16c")]  # type: ignore[arg-type,return-value]
    assert [c.id for c in parse_only("C16", claims)] == ["C16a", "C16b", "C16c"]
    assert [c.id for c in parse_only("c16b,C6", claims)] == ["C6", "C16b"]
    with pytest.raises(ValueError, match="`--only` must list claim ids"):
        parse_only("C1", claims)


def test_a_sweep_mixing_conditions_draws_only_the_first_and_tables_them_all():
    """A point of another condition (a second variable, real data) is not on the first
    variable's axis: the plot leaves it out and says so; the table names each point."""
    from crossent.experiments import figures
    from crossent.experiments.report import _evidence
    from crossent.experiments.stats import Evidence, Interval, SweepPoint

    iv = Interval(0.5, 0.4, 0.6, 5)
    points = [
        SweepPoint("positive rate", 0.01, {"a": iv, "b": iv}, iv, ceiling=0.9),
        SweepPoint("positive rate", 0.001, {"a": iv, "b": iv}, iv, ceiling=0.8),
        SweepPoint("hard share", 0.2, {"a": iv, "b": iv}, iv, ceiling=0.3),
    ]
    ev = Evidence("average precision", 5, points, 0.1)
    assert [p.value for p in figures.plotted_points(ev)] == [0.01, 0.001]
    html = _evidence("C0", ev)
    assert "1 point of another condition" in html
    assert "hard share 0.2" in html and "positive rate 0.001" in html
