"""MkDocs hook: the command-line reference, written from ``crossent``'s argument parser.

A page that contains the line ``<!-- crossent-cli-reference -->`` gets, in its place, the
``--help`` of ``crossent`` and of every subcommand, as ``crossent.cli.build_parser()``
formats them — so the page lists exactly the options the installed command accepts.
"""

from __future__ import annotations

import argparse
from typing import Any

from crossent.cli import build_parser

MARKER = "<!-- crossent-cli-reference -->"
WIDTH = 88
"""Columns of the help text (argparse would otherwise read the terminal's)."""


def fixed_width(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` formatting its help at :data:`WIDTH` columns."""
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=WIDTH)
    return parser


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of ``parser``, name → parser, in the order they were added."""
    for action in parser._actions:  # argparse offers no public accessor
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def reference() -> str:
    """Markdown: the top-level help, then one section per subcommand with its help."""
    parser = fixed_width(build_parser())
    parts = ["### `crossent`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in subparsers(parser).items():
        help_text = fixed_width(sub).format_help().rstrip()
        parts += [f"### `crossent {name}`", "", "```text", help_text, "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace the marker line by :func:`reference`."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference())
