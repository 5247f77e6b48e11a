"""The site's build hooks on small inputs: reST in docstrings to Markdown, TeX to MathML."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("griffe", reason="the docs extra is not installed")
pytest.importorskip("latex2mathml", reason="the docs extra is not installed")

HOOKS = Path(__file__).resolve().parents[2] / "docs" / "hooks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"crossent_docs_{name}", HOOKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_math_directive_on_its_line_and_as_a_block() -> None:
    rst = load("griffe_rst")
    text = "Loss.\n\n.. math:: \\ell = -\\log p_t\n\nMore.\n\n  .. math::\n\n      a = b\n      c\n\n  After."
    assert rst.math_blocks(text).splitlines() == [
        "Loss.",
        "",
        "\\[",
        "\\ell = -\\log p_t",
        "\\]",
        "",
        "More.",
        "",
        "  \\[",
        "  a = b",
        "  c",
        "  \\]",
        "",
        "  After.",
    ]


def test_roles_become_inline_math_and_optional_links() -> None:
    rst = load("griffe_rst")
    out = rst.to_markdown(
        "With :math:`p_t` see :func:`crossent.entropy` and :class:`~crossent.task.LossChoice`"
        " and :data:`TASKS`.\n\nExample:\n    >>> 1\n    1",
        "crossent.task",
    )
    assert "\\(p_t\\)" in out
    assert '<autoref identifier="crossent.entropy" optional><code>crossent.entropy</code>' in out
    assert '<autoref identifier="crossent.task.LossChoice" optional><code>LossChoice</code>' in out
    assert '<autoref identifier="crossent.task.TASKS" optional>' in out
    assert "\nExamples:\n" in out and "Example:" not in out.replace("Examples:", "")


def test_tex_becomes_mathml_and_bad_tex_is_an_error() -> None:
    mathml = load("mathml")
    html = '<p>a <span class="arithmatex">\\(p &lt; q\\)</span></p>'
    out = mathml.on_page_content(html, page=None)
    assert out.startswith("<p>a <math") and "<mo>&#x0003C;</mo>" in out and "arithmatex" not in out
    block = '<div class="arithmatex">\\[\\frac{1}{2}\\]</div>'
    out = mathml.on_page_content(block, page=None)
    assert '<div class="math-block"><math' in out and "<mfrac>" in out
    with pytest.raises(ValueError, match="cannot convert"):
        mathml.to_mathml("\\frac{1}{", display="inline")


@pytest.mark.parametrize("tex", ["\\foo x", "a &= b"])
def test_tex_that_would_show_raw_is_an_error(tex: str) -> None:
    with pytest.raises(ValueError, match="unknown command"):
        load("mathml").to_mathml(tex, display="block")


def test_a_function_name_is_followed_by_a_thin_space_unless_a_parenthesis_follows() -> None:
    mathml = load("mathml")
    assert '<mi>log</mi><mspace width="0.167em" /><mi>p</mi>' in mathml.to_mathml(
        "-\\log p", display="inline"
    )
    assert "<mspace" not in mathml.to_mathml("\\log(1 - p)", display="inline")
