"""MkDocs hook: TeX math becomes MathML while the site builds, so pages load no renderer.

``pymdownx.arithmatex`` (generic mode) wraps the math of pages and docstrings in
``<span class="arithmatex">\\(…\\)</span>`` and ``<div class="arithmatex">\\[…\\]</div>``;
this hook replaces each wrapper by the MathML that ``latex2mathml`` writes, which
browsers display natively (MathML Core). TeX that cannot be converted stops the build
with the page and the formula, instead of shipping raw TeX.
"""

from __future__ import annotations

import html
import re
from typing import Any

from latex2mathml.converter import convert

INLINE = re.compile(r'<span class="arithmatex">\\\((?P<tex>.*?)\\\)</span>', re.DOTALL)
BLOCK = re.compile(r'<div class="arithmatex">\\\[(?P<tex>.*?)\\\]</div>', re.DOTALL)

UNCONVERTED = re.compile(r"<m[io]>(?:\\|&amp;<|&<)")

# latex2mathml renders these as the wrong glyph or not at all; they are spelled out here
# so that the same TeX works in pages and docstrings.
REPLACEMENTS = {
    r"\sim": r"\thicksim",
    r"\lVert": r"\|",
    r"\rVert": r"\|",
    r"\arg": r"\operatorname{arg}",
}


FUNCTION_NAME = re.compile(
    r"(<mi>(?:log|ln|exp|det|tr|tanh)</mi>|<msub><mi>log</mi><mn>\d+</mn></msub>)"
    r"(?!<mo[^>]*>&#x00028;)"
)
"""A function name not followed by "(": TeX sets a thin space after it, latex2mathml none."""


def to_mathml(tex: str, *, display: str) -> str:
    """MathML for one TeX formula (the text between the delimiters, HTML-escaped).

    Args:
        tex: the formula as arithmatex wrote it (``&lt;`` for ``<``, ...).
        display: ``"inline"`` or ``"block"``.

    Returns:
        A ``<math>`` element.

    Raises:
        ValueError: the formula cannot be converted.
    """
    source = html.unescape(tex).strip()
    for old, new in REPLACEMENTS.items():
        source = re.sub(re.escape(old) + r"(?![A-Za-z])", lambda _m, n=new: n, source)
    try:
        mathml = convert(source, display=display)
    except Exception as exc:  # latex2mathml raises several kinds; all mean "cannot convert"
        raise ValueError(f"cannot convert TeX to MathML: {source!r} ({exc})") from exc
    # latex2mathml keeps a command it does not know, or an alignment "&" outside an
    # array, as an identifier: that would show raw TeX on the page.
    if UNCONVERTED.search(mathml):
        raise ValueError(f"cannot convert TeX to MathML: {source!r} (unknown command or '&')")
    return FUNCTION_NAME.sub(r'\1<mspace width="0.167em" />', mathml)


def on_page_content(html_text: str, page: Any, **_: Any) -> str:
    """Replace every arithmatex wrapper of the page (text and API reference) by MathML."""
    try:
        text = BLOCK.sub(
            lambda m: f'<div class="math-block">{to_mathml(m["tex"], display="block")}</div>',
            html_text,
        )
        return INLINE.sub(lambda m: to_mathml(m["tex"], display="inline"), text)
    except ValueError as exc:
        raise ValueError(f"{page.file.src_uri}: {exc}") from exc
