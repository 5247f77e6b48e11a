"""The pages' own text: numbers they quote from elsewhere in the repository match it."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BENCHMARK_FIGURES = [
    "0.2 MiB",
    "1.5 GiB",
    "0.17×",
    "25% of the logits",
    "2.5×",
    "0.90×",
    "1.13×",
    "49 160 bytes",
    "0.24–0.30×",
]
"""What the large-vocabularies page quotes from the latest `crossent bench` run."""


@pytest.mark.parametrize("figure", BENCHMARK_FIGURES)
def test_quoted_benchmark_figures_are_those_of_the_benchmarks_file(figure: str) -> None:
    page = (ROOT / "docs" / "large-vocabularies.md").read_text(encoding="utf-8")
    measured = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    assert figure in page
    assert figure in measured, f"benchmarks/README.md no longer says {figure!r}: update the page"
