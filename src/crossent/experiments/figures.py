"""Plots as inline SVG: matplotlib's SVG backend, text drawn as paths (no fonts to load).

:func:`figure` opens a figure in the report's style; :func:`to_svg` closes it and returns
markup that scales to its container (``viewBox``, no fixed size) and carries no metadata,
external reference or date, so that two runs write the same bytes.
"""

from __future__ import annotations

import io
import re
import textwrap
from typing import Any

import matplotlib

matplotlib.use("svg")

import matplotlib.pyplot as plt
import numpy as np

from crossent.experiments.stats import Evidence, SweepPoint

__all__ = ["COLORS", "figure", "legend_above", "reliability", "sweep", "to_svg"]

COLORS = ("#1f6fb4", "#d1495b", "#2e8b57", "#e08e0b", "#6a4c93", "#5c5c5c")
"""Line colours, distinguishable in colour and in greyscale print."""

WIDTH_INCHES = 7.0
"""Figure width; the SVG scales to the page, so this only sets the text-to-plot ratio."""

_STYLE: Any = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "svg.fonttype": "path",
    "lines.linewidth": 1.8,
}


LEGEND_COLUMNS = 4
"""Entries per row of a legend above the panels; more wrap to a new row."""


def figure(
    ncols: int = 1, *, height: float = 3.2, width: float = WIDTH_INCHES, **kwargs: Any
) -> tuple[Any, Any]:
    """A figure with ``ncols`` panels side by side, in the report's style.

    The style is applied when the figure is made and again when it is saved
    (:func:`to_svg`), so that text added in between is styled too.

    Args:
        ncols: panels side by side. Default: 1.
        height, width: the figure's size in inches. Default: 3.2 and :data:`WIDTH_INCHES`.
        kwargs: passed to :func:`matplotlib.pyplot.subplots`.
    """
    plt.rcParams.update(_STYLE)
    return plt.subplots(1, ncols, figsize=(width, height), **kwargs)


def legend_above(fig: Any, ax: Any) -> None:
    """One legend for all panels, in a row above them, from ``ax``'s labelled lines."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=min(len(labels), LEGEND_COLUMNS),
        fontsize=9,
    )


def to_svg(fig: Any, key: str) -> str:
    """The figure as an ``<svg>`` element, then closed.

    Args:
        key: a name unique in the report; it salts the ids of clip paths so that several
            inline SVGs on one page never share an id.
    """
    buffer = io.StringIO()
    with plt.rc_context({**_STYLE, "svg.hashsalt": key}):
        fig.tight_layout()
        # "tight" keeps a figure legend placed above the panels (see :func:`legend_above`).
        fig.savefig(
            buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None}
        )
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # drop the XML declaration and DOCTYPE
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    # Let CSS size the plot: keep the viewBox, drop the fixed width and height.
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", text, count=1)
    # matplotlib numbers its ids per figure (``axes_1``, glyphs ``DejaVuSans-48``): prefix
    # every id, and every reference to one, so that ids stay unique on the page.
    prefix = re.sub(r"[^A-Za-z0-9_-]", "", key)
    text = re.sub(r' id="([^"]*)"', rf' id="{prefix}-\1"', text)
    text = re.sub(r'href="#([^"]*)"', rf'href="#{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]*)\)", rf"url(#{prefix}-\1)", text)
    return text.strip()


def reliability(ax: Any, diagram: Any, *, title: str, ece: float | None = None) -> None:
    """Draw a reliability diagram on ``ax``: for each non-empty bin a bar of its accuracy
    over the bin's width and a dot at its mean confidence, with the diagonal of perfect
    calibration — bars below the diagonal are over-confidence, above it under-confidence.

    Args:
        ax: a matplotlib ``Axes``.
        diagram: the data, a :class:`crossent.calibration.ReliabilityDiagram` (of any array
            library on the CPU; read as NumPy).
        title: the panel's title; with ``ece`` given, a second line says it.
        ece: the calibration error to print under the title. Default: None.

    Example:
        >>> import numpy as np
        >>> from crossent.calibration import reliability_diagram
        >>> from crossent.experiments import figures
        >>> d = reliability_diagram(np.array([0.2, 0.4, 0.9]), np.array([0, 1, 1]), n_bins=2)
        >>> fig, ax = figures.figure(1, width=4.5, height=4.5)
        >>> figures.reliability(ax, d, title="three forecasts")
        >>> len(ax.patches), figures.to_svg(fig, "doc").startswith("<svg")
        (2, True)
    """
    edges, count = np.asarray(diagram.edges, float), np.asarray(diagram.count, float)
    accuracy, confidence = (
        np.asarray(diagram.accuracy, float),
        np.asarray(diagram.confidence, float),
    )
    filled = count > 0
    ax.bar(
        edges[:-1][filled],
        accuracy[filled],
        width=np.diff(edges)[filled],
        align="edge",
        color=COLORS[0],
        alpha=0.75,
        edgecolor="black",
        linewidth=0.6,
        label="accuracy",
    )
    ax.plot(
        [0, 1], [0, 1], linestyle="--", color=COLORS[5], linewidth=1.2, label="perfect calibration"
    )
    ax.plot(
        confidence[filled],
        accuracy[filled],
        "o",
        color="black",
        markersize=3,
        label="mean confidence",
    )
    heading = title if ece is None else f"{title}\nECE = {ece:.4f}"
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy", title=heading)
    # Framed: the legend sits over the low-confidence bars, which may be tall.
    ax.legend(loc="upper left", fontsize="small", frameon=True, framealpha=0.9)


LOG_SPAN = 20.0
"""A swept variable spanning more than this factor (all positive) is plotted on a log axis."""

OFFSET = 0.012
"""Horizontal nudge between methods' error bars at one sweep point, as a share of the axis
(of a decade on a log axis), so that overlapping intervals stay readable."""


def sweep(evidence: Evidence, key: str) -> str:
    """The sweep plot of a trained claim, as SVG: each method's mean with its 95% interval
    against the swept variable (the ceiling as a dashed line where known), and beside it the
    paired difference with its interval, with 0 and the detectable difference (or, for a
    claim of no difference, ± the margin) marked.

    Args:
        evidence: the claim's evidence, with at least one sweep point.
        key: unique in the report (see :func:`to_svg`).

    Only the points of the first swept variable share the axes; points of another variable
    (a second condition, a real-data point) are not on its scale and stay in the table.
    """
    points = plotted_points(evidence)
    x = np.array([p.value for p in points], dtype=float)
    log = bool(np.all(x > 0) and x.max() / x.min() > LOG_SPAN)
    fig, (left, right) = figure(2, height=3.3)
    names = list(dict.fromkeys(n for p in points for n in p.methods))
    for i, name in enumerate(names):
        shift = (i - (len(names) - 1) / 2) * OFFSET
        xs, means, lo, hi = [], [], [], []
        for p in points:
            if name in p.methods:
                iv = p.methods[name]
                xs.append(p.value * 10**shift if log else p.value + shift * _span(x))
                means.append(iv.mean)
                lo.append(iv.mean - iv.lo)
                hi.append(iv.hi - iv.mean)
        left.errorbar(
            xs,
            means,
            yerr=[lo, hi],
            color=COLORS[i % len(COLORS)],
            marker="o",
            markersize=4,
            capsize=3,
            label=name,
        )
    ceilings = [(p.value, p.ceiling) for p in points if p.ceiling is not None]
    if ceilings:
        cx, cy = zip(*ceilings, strict=True)
        left.plot(cx, cy, color="black", linestyle="--", linewidth=1.2, label="Bayes-optimal")
    left.set(xlabel=points[0].variable, ylabel=_wrap(evidence.metric), title="each method")
    diff = [p.difference for p in points]
    right.errorbar(
        x,
        [d.mean for d in diff],
        yerr=[[d.mean - d.lo for d in diff], [d.hi - d.mean for d in diff]],
        color=COLORS[0],
        marker="o",
        markersize=4,
        capsize=3,
    )
    right.axhline(0.0, color=COLORS[5], linewidth=1)
    if evidence.margin is not None:
        for level in (-evidence.margin, evidence.margin):
            right.axhline(level, color=COLORS[1], linestyle=":", linewidth=1.2)
        band = f"dotted: ± margin {evidence.margin:g}"
    elif all(p.detectable is not None for p in points):
        # Each point's own detectable difference: noisy points must not hide quiet ones.
        right.plot(x, [p.detectable for p in points], color=COLORS[1], linestyle=":", linewidth=1.2)
        band = "dotted: detectable at each point"
    else:
        right.axhline(evidence.detectable_difference, color=COLORS[1], linestyle=":", linewidth=1.2)
        band = f"dotted: detectable {evidence.detectable_difference:.3g}"
    who = (
        f"{evidence.claimed} − {evidence.baseline}"
        if evidence.claimed and evidence.baseline
        else "claimed − baseline"
    )
    right.set(
        xlabel=points[0].variable,
        ylabel="difference (claim's direction > 0)",
        title=f"{who}\n({band})",
    )
    right.title.set_fontsize(9)
    for ax in (left, right):
        if log:
            ax.set_xscale("log")
    every = np.array([iv.mean for p in points for iv in p.methods.values()])
    if np.all(every > 0) and every.max() / every.min() > LOG_SPAN**2:
        left.set_yscale("log")  # e.g. steps from tens to thousands: the small ones stay visible
    legend_above(fig, left)
    return to_svg(fig, key)


def plotted_points(evidence: Evidence) -> list[SweepPoint]:
    """The sweep points drawn on the sweep plot's axes: those of the first swept variable."""
    first = evidence.sweep[0].variable
    return [p for p in evidence.sweep if p.variable == first]


LABEL_CHARACTERS = 30
"""An axis label longer than this wraps onto more lines (it must fit beside the axis)."""


def _wrap(label: str) -> str:
    return "\n".join(textwrap.wrap(label, LABEL_CHARACTERS))


def _span(x: np.ndarray) -> float:
    width = float(x.max() - x.min())
    return width if width > 0 else 1.0
