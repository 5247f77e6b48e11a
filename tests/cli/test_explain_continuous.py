"""``crossent explain continuous``: the KL integral of two Gaussians, closed form against
its Monte-Carlo estimates."""

from __future__ import annotations

import math

from crossent.cli import main
from crossent.cli.explain import GAUSSIAN_P, GAUSSIAN_Q, SAMPLE_SIZES, gaussian_kl_by_sampling


def test_closed_form_and_estimates_agree_within_four_standard_errors():
    (mp, vp), (mq, vq) = GAUSSIAN_P, GAUSSIAN_Q
    values = gaussian_kl_by_sampling().values
    textbook = 0.5 * (math.log(vq / vp) + (vp + (mp - mq) ** 2) / vq - 1)
    assert math.isclose(values["exact"], textbook, rel_tol=1e-12)
    for n in SAMPLE_SIZES:
        for k in ("1", "3"):
            estimate, se = values[f"k{k}_{n}"], values[f"se{k}_{n}"]
            assert se > 0 and abs(estimate - textbook) < 4 * se, (n, k, estimate, se)
    # the standard error shrinks as 1/sqrt(n): a factor 10 per factor 100 of samples
    small, large = SAMPLE_SIZES[1], SAMPLE_SIZES[2]
    assert 5 < values[f"se1_{small}"] / values[f"se1_{large}"] < 20


def test_command_prints_the_table(capsys):
    code = main(["explain", "continuous"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "KL(p‖q) = ∫ p log(p/q) dx" in out
    assert "1,000,000 samples from p" in out
    # seeded: the same table every run
    main(["explain", "continuous"])
    assert capsys.readouterr().out == out
