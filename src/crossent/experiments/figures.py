"""Plots as inline SVG: matplotlib's SVG backend, text drawn as paths (no fonts to load).

:func:`figure` opens a figure in the report's style; :func:`to_svg` closes it and returns
markup that scales to its container (``viewBox``, no fixed size) and carries no metadata,
external reference or date, so that two runs write the same bytes.
"""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib

matplotlib.use("svg")

import matplotlib.pyplot as plt

__all__ = ["COLORS", "figure", "legend_above", "to_svg"]

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


def figure(ncols: int = 1, *, height: float = 3.2, **kwargs: Any) -> tuple[Any, Any]:
    """A figure with ``ncols`` panels side by side, in the report's style.

    The style is applied when the figure is made and again when it is saved
    (:func:`to_svg`), so that text added in between is styled too.
    """
    plt.rcParams.update(_STYLE)
    return plt.subplots(1, ncols, figsize=(WIDTH_INCHES, height), **kwargs)


def legend_above(fig: Any, ax: Any) -> None:
    """One legend for all panels, in a row above them, from ``ax``'s labelled lines."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(labels), fontsize=9
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
