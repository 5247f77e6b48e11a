"""Every ```python example of every documentation page runs.

Each page's blocks run in order in one fresh namespace (a later block may use what an
earlier one defined), so a page reads as one session. A block whose fence says
``title="not run"`` is left out; the pages keep install commands in shell blocks instead.
A block that imports TensorFlow or Keras runs alone in a process of its own (with the
TensorFlow backend): TensorFlow must not load in the test process, where Triton does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


OWN_PROCESS = re.compile(r"^\s*(?:import|from)\s+(?:tensorflow|keras)\b", re.MULTILINE)
"""A block that imports TensorFlow or Keras: it runs in a subprocess of its own."""


def run_alone(code: str, where: Path) -> None:
    """Run ``code`` in a fresh Python with the TensorFlow backend of Keras; fail on error."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=where, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]


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
        if OWN_PROCESS.search(code):
            run_alone(code, tmp_path)
            continue
        exec(compile(code, f"{page.name}, block {i + 1}", "exec"), namespace)


def test_tensorflow_and_keras_blocks_are_told_apart() -> None:
    assert OWN_PROCESS.search("import numpy as np\nimport tensorflow as tf\n")
    assert OWN_PROCESS.search("from keras import layers\n")
    assert not OWN_PROCESS.search("import numpy as np\n# keras is not imported here\n")
