"""The report: one self-contained ``index.html`` and ``claims.json``.

The page carries everything inline — the style sheet, the plots as SVG — and loads
nothing: no script, font, image or style sheet from anywhere. It reads on a phone (one
column, tables that scroll sideways, plots that scale) and in print (no colours needed:
every verdict is also written out).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossent._io import atomic_write_text
from crossent.experiments import figures
from crossent.experiments.registry import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    INCONCLUSIVE,
    VERDICTS,
    Claim,
    Options,
    Result,
    Table,
)
from crossent.experiments.stats import Evidence, Interval, is_lower_better

__all__ = ["Outcome", "claims_json", "render_html", "write"]


@dataclass(frozen=True)
class Outcome:
    """A claim, what checking it found, and how long that took."""

    claim: Claim
    result: Result
    seconds: float


_CSS = """
:root { --ink: #1b1b1b; --muted: #5a5a5a; --rule: #d8d8d8; --bg: #ffffff;
        --holds: #1d6b3a; --fix: #8a5a00; --fails: #a4262c; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 62rem; padding: 1rem; color: var(--ink); background: var(--bg);
       font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0.5rem 0; }
h2 { font-size: 1.25rem; margin: 0 0 0.5rem; display: flex; flex-wrap: wrap; gap: 0.5rem;
     align-items: baseline; }
p, dd { overflow-wrap: anywhere; }
a { color: inherit; }
.lead { color: var(--muted); }
.verdict { display: inline-block; padding: 0.05rem 0.5rem; border-radius: 0.3rem; font-weight: 600;
           font-size: 0.9rem; border: 1px solid currentColor; white-space: nowrap; }
.v-holds { color: var(--holds); }
.v-fix { color: var(--fix); }
.v-fails { color: var(--fails); }
.v-open { color: var(--muted); border-style: dashed; }
section.claim { border-top: 2px solid var(--rule); padding: 1rem 0; }
blockquote { margin: 0.5rem 0; padding: 0.25rem 0.75rem; border-left: 4px solid var(--rule);
             font-style: italic; }
dl { display: grid; grid-template-columns: 8rem 1fr; gap: 0.35rem 1rem; margin: 0.75rem 0; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0; }
figure { margin: 1rem 0; break-inside: avoid; page-break-inside: avoid; }
figure svg { display: block; width: 100%; height: auto; max-width: 48rem; }
figcaption { color: var(--muted); font-size: 0.9rem; }
.scroll { overflow-x: auto; margin: 0.75rem 0; }
table { border-collapse: collapse; font-size: 0.9rem; min-width: 50%; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
th, td { border-bottom: 1px solid var(--rule); padding: 0.3rem 0.6rem; text-align: left;
         vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.measured { table-layout: fixed; width: 100%; max-width: 46rem; }
table.measured th:first-child { width: 40%; }
table.measured td { text-align: left; white-space: normal; overflow-wrap: anywhere; }
.counts { display: flex; flex-wrap: wrap; gap: 0.5rem 1.5rem; margin: 0.5rem 0 1rem; }
footer { border-top: 2px solid var(--rule); margin-top: 1rem; padding-top: 0.5rem;
         color: var(--muted); font-size: 0.9rem; }
code { font-size: 0.9em; }
.quick { border: 2px dashed var(--fix); padding: 0.4rem 0.75rem; border-radius: 0.3rem; }
.evidence { background: #f6f6f6; border-radius: 0.3rem; padding: 0.1rem 0.75rem; }
.evidence dl { grid-template-columns: 10rem 1fr; }
@media (max-width: 40rem) {
  body { padding: 0.6rem; font-size: 15px; }
  dl, .evidence dl { grid-template-columns: 1fr; }
  dt { margin-top: 0.4rem; }
  .verdict { white-space: normal; }
}
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  a { text-decoration: none; }
  section.claim { break-before: auto; }
  .scroll { overflow: visible; }
  h2, figure, table { break-inside: avoid; page-break-inside: avoid; }
}
"""

_VERDICT_CLASS = {
    HOLDS: "v-holds",
    HOLDS_WITH_CORRECTION: "v-fix",
    DOES_NOT_HOLD: "v-fails",
    INCONCLUSIVE: "v-open",
}

SIGNIFICANT = 4
"""Significant digits of the numbers in the measured-values tables."""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _badge(verdict: str) -> str:
    return f'<span class="verdict {_VERDICT_CLASS[verdict]}">{_e(verdict)}</span>'


def _format(value: Any) -> str:
    """A measured value, compactly: floats to :data:`SIGNIFICANT` digits, lists and dicts inline."""
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "—"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{SIGNIFICANT}g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    if isinstance(value, dict):
        if any(isinstance(v, dict) for v in value.values()):
            return "(a table of tables: see claims.json)"
        return "; ".join(f"{k}: {_format(v)}" for k, v in value.items())
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("%").replace(",", ""))
    except ValueError:
        return False
    return True


_INTERVAL = re.compile(r"^\S+ \[\S+, \S+\]$")
"""A cell ``mean [lo, hi]``: set like a number, on one line."""


def _table(table: Table, css_class: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(c)}</td>'
            if _is_number(c) or _INTERVAL.match(c)
            else f"<td>{_e(c)}</td>"
            for c in row
        )
        + "</tr>"
        for row in table.rows
    )
    return (
        f'<div class="scroll"><table class="{css_class}"><caption>{_e(table.title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _measured_table(measured: dict[str, Any]) -> str:
    rows = [[key.replace("_", " "), _format(value)] for key, value in measured.items()]
    return _table(Table("Measured", ["quantity", "value"], rows), "measured")


def _section(o: Outcome) -> str:
    r = o.result
    parts = [
        f'<section class="claim" id="{_e(o.claim.id)}">',
        f"<h2>{_e(o.claim.id)} {_badge(r.verdict)}</h2>",
        f"<blockquote>{_e(o.claim.claim)}</blockquote>",
        "<dl>",
        f"<dt>Source</dt><dd>{_e(o.claim.source)}</dd>",
        f"<dt>Measured</dt><dd>{_e(r.headline)}</dd>",
        f"<dt>Setting</dt><dd>{_e(r.setting)}</dd>",
        f"<dt>Criterion</dt><dd>{_e(r.criterion)}</dd>",
        f"<dt>Finding</dt><dd>{_e(r.finding)}</dd>",
        f"<dt>Verdict</dt><dd>{_badge(r.verdict)} <small>({o.seconds:.1f} s)</small></dd>",
        "</dl>",
    ]
    if r.evidence is not None:
        parts.append(_evidence(o.claim.id, r.evidence))
    for fig in r.figures:
        caption = f"<strong>{_e(fig.title)}.</strong> {_e(fig.caption)}"
        parts.append(
            f'<figure role="img" aria-label="{_e(fig.title)}">{fig.svg}'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    parts.extend(_table(t) for t in r.tables)
    parts.extend(_table(t, "published") for t in r.published)
    parts.append(_measured_table(r.measured))
    parts.append("</section>")
    return "\n".join(parts)


def _number(value: float) -> str:
    """A number of a sweep table: 3 significant digits, whole numbers from 1000 up."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _interval(iv: Interval) -> str:
    return f"{_number(iv.mean)} [{_number(iv.lo)}, {_number(iv.hi)}]"


def _sweep_table(ev: Evidence) -> Table:
    """One row per sweep point: each method's mean [95% interval], the paired difference,
    and, on generated data, the ceiling and the best method's gap to it."""
    names = list(dict.fromkeys(n for p in ev.sweep for n in p.methods))
    lower = is_lower_better(ev.metric)
    has_ceiling = any(p.ceiling is not None for p in ev.sweep)
    mixed = len({p.variable for p in ev.sweep}) > 1
    headers = ["point" if mixed else ev.sweep[0].variable, *names, "difference [95% CI]"]
    if has_ceiling:
        headers += ["Bayes-optimal", "best method's gap"]
    rows = []
    for p in ev.sweep:
        row = [f"{p.variable} {_number(p.value)}" if mixed else _number(p.value)]
        row += [_interval(p.methods[n]) if n in p.methods else "—" for n in names]
        row.append(_interval(p.difference))
        if has_ceiling:
            if p.ceiling is None:
                row += ["—", "—"]
            else:
                means = [iv.mean for iv in p.methods.values()]
                best = min(means) if lower else max(means)
                row += [_number(p.ceiling), _number(abs(p.ceiling - best))]
        rows.append(row)
    return Table(f"{ev.metric} at each point of the sweep (mean [95% interval])", headers, rows)


def _evidence(claim_id: str, ev: Evidence) -> str:
    """The sweep plot, the power and the ceiling or reference, and the sweep table."""
    direction = "lower" if is_lower_better(ev.metric) else "higher"
    pair = (
        f"{_e(ev.claimed)} − {_e(ev.baseline)}, paired over repeats, signed so that "
        "the claim predicts a positive value"
        if ev.claimed and ev.baseline
        else "claimed method − baseline, paired over repeats, positive in the claim's direction"
    )
    if ev.margin is not None:
        rule = (
            f"a claim of no difference: it holds where the whole 95% interval of the difference "
            f"lies within ± {ev.margin:g}"
        )
    else:
        rule = (
            "holds where a 95% interval lies above 0; does not hold where every interval lies "
            "below 0 or below the detectable difference; inconclusive otherwise"
        )
    generated = any(p.ceiling is not None for p in ev.sweep)
    ceiling = (
        "the Bayes-optimal value of the metric on the generator (dashed line, table)"
        if generated
        else f"no Bayes-optimal value here; reference: {_e(ev.reference or 'none')}"
    )
    quick = " (quick run: fewer points and repeats)" if ev.quick else ""
    svg = figures.sweep(ev, f"{claim_id}-sweep")
    title = f"{ev.metric} against {ev.sweep[0].variable}"
    caption = (
        "Left: each method's mean with its 95% interval over the repeats. Right: the paired "
        "difference with its 95% interval; grey line 0, dotted "
        + (
            "± the margin."
            if ev.margin is not None
            else "the smallest difference each point's repeats could detect."
        )
    )
    others = len(ev.sweep) - len(figures.plotted_points(ev))
    if others:
        caption += (
            f" {others} point{'s' if others > 1 else ''} of another condition (see the table's "
            f"first column) {'are' if others > 1 else 'is'} not on this axis and not drawn."
        )
    return "\n".join(
        [
            '<div class="evidence">',
            "<dl>",
            f"<dt>Metric</dt><dd>{_e(ev.metric)} ({direction} is better)</dd>",
            f"<dt>Repeats</dt><dd>{ev.repeats} per method and point (data draw and "
            f"initialisation){_e(quick)}</dd>",
            f"<dt>Difference</dt><dd>{pair}</dd>",
            f"<dt>Power</dt><dd>detectable difference {_number(ev.detectable_difference)} "
            "(95% level, 80% power; the largest over the sweep)</dd>",
            f"<dt>Ceiling</dt><dd>{ceiling}</dd>",
            f"<dt>Rule</dt><dd>{_e(rule)}</dd>",
            "</dl>",
            f'<figure role="img" aria-label="{_e(title)}">{svg}'
            f"<figcaption><strong>{_e(title)}.</strong> {_e(caption)}</figcaption></figure>",
            _table(_sweep_table(ev)),
            "</div>",
        ]
    )


def _data_note(options: Options) -> str:
    multiclass = (
        f"MNIST from {options.mnist}"
        if options.mnist
        else ("scikit-learn's digits in place of MNIST")
    )
    binary = (
        f"IMDB from {options.imdb}"
        if options.imdb
        else ("scikit-learn's breast-cancer set in place of IMDB")
    )
    return f"{multiclass}; {binary}"


def render_html(
    outcomes: Sequence[Outcome], options: Options, *, seconds: float, versions: str
) -> str:
    """The whole page as one string."""
    counts = {v: sum(o.result.verdict == v for o in outcomes) for v in VERDICTS}
    summary_rows = "".join(
        f'<tr><td><a href="#{_e(o.claim.id)}">{_e(o.claim.id)}</a></td>'
        f"<td>{_badge(o.result.verdict)}</td><td>{_e(o.result.headline)}</td></tr>"
        for o in outcomes
    )
    mode = "quick run (--quick)" if options.quick else "full run"
    count_html = "".join(f"<span>{_badge(v)} × {counts[v]}</span>" for v in VERDICTS)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>crossent reproduce — the claims, checked</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            "<header>",
            "<h1>Cross-entropy: the claims of the seed articles, checked</h1>",
            '<p class="lead">Each claim below was tested by computing or by training real models '
            "(PyTorch, CPU, seeded). The verdict is computed from the measured numbers against the "
            "stated criterion. A trained claim is run on at least 5 paired repeats (data draw and "
            "initialisation) at each of at least 3 settings of the condition it hinges on, and judged "
            "on the 95% interval of the paired difference: <em>holds</em> (the interval lies on the "
            "claimed side of 0 somewhere in the claim's regime; the finding says where), "
            "<em>holds with a correction</em> (it holds once the seed's statement is corrected as the "
            "finding says), <em>does not hold</em> (the intervals exclude the claimed effect, or any "
            "effect as large as the experiment could detect, across the regime), or "
            "<em>inconclusive</em> (the experiment cannot decide: the finding says why). Each such "
            "claim shows its sweep, its ceiling (the Bayes-optimal value on generated data) or a "
            "strong reference (on real data), and the smallest difference it could detect.</p>",
            *(
                [
                    '<p class="quick"><strong>Quick run.</strong> Fewer sweep points, repeats and '
                    "training steps than the full run: the intervals are wider and a verdict may "
                    "differ from the full run's. Run <code>crossent reproduce</code> without "
                    "<code>--quick</code> for the report's standard.</p>"
                ]
                if options.quick
                else []
            ),
            f"<p>{_e(mode)}, seed {options.seed}, {len(outcomes)} claims in {seconds:.0f} s. "
            f"Data: {_e(_data_note(options))}. {_e(versions)}.</p>",
            f'<div class="counts">{count_html}</div>',
            '<div class="scroll"><table><caption>Summary</caption><thead><tr><th>claim</th>'
            "<th>verdict</th><th>measured</th></tr></thead>"
            f"<tbody>{summary_rows}</tbody></table></div>",
            "</header>",
            "<main>",
            *[_section(o) for o in outcomes],
            "</main>",
            "<footer>Written by <code>crossent reproduce</code>"
            + (" --quick" if options.quick else "")
            + f" --seed {options.seed}. The numbers behind every verdict are in claims.json next to "
            "this file.</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )


def claims_json(outcomes: Sequence[Outcome]) -> str:
    """``claims.json``: a list of ``{id, claim, source, verdict, criterion, measured, ...}``."""
    records = [
        {
            "id": o.claim.id,
            "claim": o.claim.claim,
            "source": o.claim.source,
            "verdict": o.result.verdict,
            "criterion": o.result.criterion,
            "measured": _finite(o.result.measured),
            "headline": o.result.headline,
            "setting": o.result.setting,
            "finding": o.result.finding,
            "seconds": round(o.seconds, 2),
            **(_finite(o.result.evidence.as_dict()) if o.result.evidence else {}),
        }
        for o in outcomes
    ]
    return (
        json.dumps(records, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default)
        + "\n"
    )


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # NumPy scalars and arrays
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to claims.json")


def write(
    outcomes: Sequence[Outcome], options: Options, out: Path, *, seconds: float, versions: str
) -> Path:
    """Write ``index.html`` and ``claims.json`` into ``out`` (each via a temporary file and a
    rename); return the path of ``index.html``."""
    data = claims_json(outcomes)  # first: a value it cannot write fails before any file is touched
    page = render_html(outcomes, options, seconds=seconds, versions=versions)
    for name, text in (("claims.json", data), ("index.html", page)):
        atomic_write_text(out / name, text)
    return out / "index.html"
