"""The Python blocks of README.md, by section, for the tests that run them."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(heading: str) -> str:
    """The first ```python block under the README section whose title starts with ``heading``."""
    text = README.read_text(encoding="utf-8")
    section = re.search(rf"^## {re.escape(heading)}.*?(?=^## |\Z)", text, re.M | re.S)
    assert section is not None, f"README has no section {heading!r}"
    block = re.search(r"^```python\n(.*?)^```", section.group(0), re.M | re.S)
    assert block is not None, f"README section {heading!r} has no python block"
    return block.group(1)
