"""Every ```python example of every documentation page runs.

Each page's blocks run in order in one fresh namespace (a later block may use what an
earlier one defined), so a page reads as one session. A block whose fence says
``title="not run"`` is left out; the pages keep install commands in shell blocks instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```python(?P<info>[^\n]*)\n(?P<code>.*?)^(?P=indent)```[ \t]*$",
    re.DOTALL | re.MULTILINE,
)


def python_blocks(markdown: str) -> list[str]:
    """The code of each ```python block of a page, dedented, in order."""
    blocks = []
    for match in FENCE.finditer(markdown):
        if 'title="not run"' in match["info"]:
            continue
        indent = len(match["indent"])
        blocks.append("".join(line[indent:] for line in match["code"].splitlines(True)))
    return blocks


PAGES = sorted(p for p in DOCS.rglob("*.md") if python_blocks(p.read_text(encoding="utf-8")))


def test_blocks_are_found_in_order_and_not_run_ones_left_out() -> None:
    page = (
        'Text\n\n```python\na = 1\n```\n\n```python title="not run"\nboom()\n```\n\n'
        "- item\n\n    ```python\n    b = a + 1\n    ```\n\n```text\nnot python\n```\n"
    )
    assert python_blocks(page) == ["a = 1\n", "b = a + 1\n"]


def test_the_pages_have_examples() -> None:
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"getting-started.md", "concepts.md", "imbalance.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_examples_run(page: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    namespace: dict[str, object] = {"__name__": "__docs_example__"}
    for i, code in enumerate(python_blocks(page.read_text(encoding="utf-8"))):
        exec(compile(code, f"{page.name}, block {i + 1}", "exec"), namespace)
