"""The imbalance claims (C11–C13, C15) in a reduced size.

Training budgets are shrunk so the file runs in seconds; what is asserted is what does not
depend on the budget: the mechanisms (zero gradients, a collapse, a refusal), the records
the report needs, and that the verdict is one of the three.
"""

from __future__ import annotations

import json

import pytest

from crossent.experiments.claims import by_id, imbalance
from crossent.experiments.registry import VERDICTS, Context, Options, Result


@pytest.fixture(autouse=True)
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imbalance, "TEST_IMAGES", 10)
    monkeypatch.setattr(
        imbalance, "_setting", lambda ctx: imbalance.Setting(images=12, steps=20, repeats=2)
    )


def run(claim_id: str, **options: object) -> Result:
    result = by_id()[claim_id].run(Context(Options(quick=True, **options)))  # type: ignore[arg-type]
    assert result.verdict in VERDICTS
    assert result.criterion and result.setting and result.finding and result.headline
    json.dumps(result.measured)
    for fig in result.figures:
        assert fig.svg.startswith("<svg")
    return result


@pytest.mark.parametrize("claim_id", ["C11", "C12", "C13", "C15"])
def test_imbalance_claims_run(claim_id: str) -> None:
    result = run(claim_id)
    assert result.tables  # the per-loss metrics table


def test_c15_density_and_weights_are_recorded() -> None:
    m = run("C15").measured
    assert len(m["bin_counts"]) == imbalance.GHM_BINS
    assert sum(m["bin_counts"]) == 12 * imbalance.ANCHORS
    assert m["bin_counts"][0] == max(m["bin_counts"])  # the crowd of easy anchors
