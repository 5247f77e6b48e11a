"""``crossent explain robust``: each noise-robust loss and its gradient weight against p_y,
checked against the papers' formulas."""

from __future__ import annotations

import math

import pytest

from crossent.cli import main
from crossent.cli.explain import ROBUST_PY, robust_losses_against_p_y

Q, EPSILON, ALPHA, BETA, A, T1 = 0.7, 1.0, 0.1, 1.0, -4.0, 0.8


def test_values_and_weights_follow_the_papers_formulas():
    v = robust_losses_against_p_y().values
    for p in ROBUST_PY:
        assert v[f"CE/loss/{p:g}"] == pytest.approx(-math.log(p), rel=1e-12)
        assert v[f"CE/weight/{p:g}"] == pytest.approx(1.0, rel=1e-12)
        assert v[f"GCE q=0.7/loss/{p:g}"] == pytest.approx((1 - p**Q) / Q, rel=1e-12)
        assert v[f"GCE q=0.7/weight/{p:g}"] == pytest.approx(p**Q, rel=1e-9)
        assert v[f"poly-1 ε=1/loss/{p:g}"] == pytest.approx(-math.log(p) + EPSILON * (1 - p))
        assert v[f"poly-1 ε=1/weight/{p:g}"] == pytest.approx(1 + EPSILON * p, rel=1e-9)
        sce = -ALPHA * math.log(p) - BETA * A * (1 - p)
        assert v[f"SCE α=0.1 β=1/loss/{p:g}"] == pytest.approx(sce, rel=1e-12)
        assert v[f"SCE α=0.1 β=1/weight/{p:g}"] == pytest.approx(ALPHA - BETA * A * p, rel=1e-9)
        # bounded: -log_t1 p_y ≤ 1/(1 − t1), plus the mass term below 1/(2 − t1)
        assert 0 < v[f"bi-tempered 0.8/1.2/loss/{p:g}"] < 1 / (1 - T1) + 1 / (2 - T1)
    # the robust losses weigh a confident mistake (p_y = 0.001) less than CE; poly-1 does not
    for name in ("GCE q=0.7", "SCE α=0.1 β=1", "bi-tempered 0.8/1.2"):
        assert v[f"{name}/weight/0.001"] < 0.2
    assert v["poly-1 ε=1/weight/0.001"] > 1


def test_command_prints_the_table(capsys):
    assert main(["explain", "robust"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "Noise-robust losses: loss / gradient weight against p_y" in out
    assert "GCE q=0.7" in out and "bi-tempered 0.8/1.2" in out
    assert "0.001  6.908 / 1.000" in out
