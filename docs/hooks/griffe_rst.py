"""Griffe extension: the reStructuredText of crossent's docstrings, read as Markdown.

The docstrings are Google-style with a few reST constructs (the style that doctest, IDEs
and Sphinx users read): ``.. math::`` blocks, ``:math:`…``` and the cross-reference roles
``:func:``, ``:class:``, ``:mod:``, ``:data:``, ``:meth:``, ``:attr:``. mkdocstrings
renders docstrings as Markdown, so before it does, this extension rewrites

* ``.. math:: TeX`` (on the line, or as an indented block after it) into ``\\[ … \\]`` and
  ``:math:`TeX``` into ``\\( … \\)``, which ``pymdownx.arithmatex`` picks up (and the hook
  ``mathml.py`` turns into MathML);
* ``Example:`` into ``Examples:``, the section whose ``>>>`` lines become code;
* a role into the name in code, linked to its reference entry when the site has one
  (an *optional* autoref: a name the reference does not document stays plain code).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

MATH_ROLE = re.compile(r":math:`(?P<tex>[^`]+)`")
XREF_ROLE = re.compile(r":(?:func|class|mod|data|meth|attr|exc|obj):`(?P<name>[^`]+)`")
MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)$")
# Google style spells the section "Examples"; the singular would render as an admonition
# whose ">>>" lines Markdown reads as block quotes.
EXAMPLE_SECTION = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", re.MULTILINE)


def math_blocks(text: str) -> str:
    """``.. math::`` directives → display math ``\\[ … \\]`` at the directive's indent.

    Args:
        text: a docstring.

    Returns:
        The docstring with each directive and its indented body replaced.
    """
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = MATH_DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent = match["indent"]
        body = [match["first"]] if match["first"].strip() else []
        i += 1
        # The body: following lines indented deeper than the directive (blank lines inside).
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)
        ):
            if lines[i].strip() or body:
                body.append(lines[i].strip())
            i += 1
        while body and not body[-1]:
            body.pop()
        out += [f"{indent}\\[", *(f"{indent}{line}" for line in body if line), f"{indent}\\]"]
        if i < len(lines):
            out.append("")
    return "\n".join(out)


def xref(match: re.Match[str], context: str) -> str:
    """A cross-reference role → the name in code, as an optional autoref.

    ``~a.b.c`` shows ``c``; a name without a dot is looked up beside the documented object.
    """
    name = match["name"].strip()
    shown = name.lstrip("~")
    target = shown.rstrip("()")
    if name.startswith("~"):
        shown = shown.rsplit(".", 1)[-1]
    if "." not in target and context:
        target = f"{context}.{target}"
    return (
        f'<autoref identifier="{html.escape(target)}" optional>'
        f"<code>{html.escape(shown)}</code></autoref>"
    )


def to_markdown(text: str, context: str) -> str:
    """A docstring's reST constructs → Markdown (see the module docstring)."""
    text = EXAMPLE_SECTION.sub(lambda m: f"{m['indent']}Examples:", text)
    text = math_blocks(text)
    text = MATH_ROLE.sub(lambda m: f"\\({m['tex']}\\)", text)
    return XREF_ROLE.sub(lambda m: xref(m, context), text)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring once griffe has loaded its object."""

    def on_instance(self, *, obj: griffe.Object, **_: Any) -> None:
        """Rewrite ``obj``'s docstring in place."""
        if obj.docstring is None:
            return
        context = obj.path if obj.kind in (griffe.Kind.MODULE, griffe.Kind.CLASS) else ""
        if not context and obj.parent is not None:
            context = obj.parent.path
        obj.docstring.value = to_markdown(obj.docstring.value, context)
