"""Plain-text tables for the commands' output."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_table"]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns under a rule: numbers right-aligned, text left-aligned.

    Args:
        headers: the column titles.
        rows: the cells, as many per row as there are headers (converted with ``str``).

    Returns:
        The table, one line per row, without a trailing newline or trailing spaces.

    Raises:
        ValueError: a row with a different number of cells than ``headers``.

    Example:
        >>> print(format_table(["name", "value"], [["alpha", "0.25"], ["gamma", "2"]]))
        name   value
        ─────  ─────
        alpha   0.25
        gamma      2
    """
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(
                f"`rows`: each row needs {len(headers)} cells, one per header; got {list(row)!r}."
            )
    table = [list(headers), *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if _is_number(c) else c.ljust(w) for c, w in zip(cells, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("─" * w for w in widths)
    return "\n".join([line(table[0]), rule, *[line(r) for r in table[1:]]])
