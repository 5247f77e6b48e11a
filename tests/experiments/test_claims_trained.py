"""The trained claims (C8–C13, C15, C16) in a reduced size, and on the seeds' own data formats.

Training budgets are shrunk so the file runs in seconds; what is asserted is what does not
depend on the budget: the mechanisms (zero gradients, a collapse, a refusal), the records
the report needs, and that the verdict is one of the three.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from experiment_data import fake_mnist, ragged

from crossent.experiments.claims import by_id, imbalance, multitask, tasks
from crossent.experiments.registry import VERDICTS, Context, Options, Result


@pytest.fixture(autouse=True)
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "REPEATS", 1)
    monkeypatch.setattr(tasks, "C8_STEPS", 20)
    monkeypatch.setattr(tasks, "C9_STEPS", 20)
    monkeypatch.setattr(tasks, "C9_LONG", 40)
    monkeypatch.setattr(imbalance, "TEST_IMAGES", 10)
    monkeypatch.setattr(
        imbalance, "_setting", lambda ctx: imbalance.Setting(images=12, steps=20, repeats=2)
    )
    monkeypatch.setattr(multitask, "QUICK_STEPS", 30)


def run(claim_id: str, **options: object) -> Result:
    result = by_id()[claim_id].run(Context(Options(quick=True, **options)))  # type: ignore[arg-type]
    assert result.verdict in VERDICTS
    assert result.criterion and result.setting and result.finding and result.headline
    json.dumps(result.measured)
    for fig in result.figures:
        assert fig.svg.startswith("<svg")
    return result


def test_c8_mechanisms() -> None:
    m = run("C8").measured
    assert m["ce_max_abs_gradient_on_negatives"] == 0.0  # −y log a: nothing for the negatives
    assert m["keras_max_abs_gradient"] == 0.0  # Keras' one-unit categorical CE: nothing at all
    assert m["keras_loss_relative_error"] < 0.01  # ... and it reproduces the seed's 5.9557e-08
    assert m["softmax_one_unit_loss"] == 0.0 and m["softmax_one_unit_max_abs_gradient"] == 0.0
    assert m["guardrail_refuses"] and "single output unit" in m["guardrail_message"]


def test_c9_reads_accuracies_at_both_step_counts() -> None:
    m = run("C9").measured
    for key in ("softmax_ce_accuracy_at_20", "sigmoid_bce_accuracy_at_40", "gap_at_40"):
        assert 0.0 <= m[key] <= 1.0


def test_c10_ce_over_sigmoids_predicts_every_label() -> None:
    m = run("C10").measured
    assert m["ce_positive_share"] == 1.0
    assert m["ce_hamming_accuracy"] == pytest.approx(m["label_density"])


@pytest.mark.parametrize("claim_id", ["C11", "C12", "C13", "C15"])
def test_imbalance_claims_run(claim_id: str) -> None:
    result = run(claim_id)
    assert result.tables  # the per-loss metrics table


def test_c15_density_and_weights_are_recorded() -> None:
    m = run("C15").measured
    assert len(m["bin_counts"]) == imbalance.GHM_BINS
    assert sum(m["bin_counts"]) == 12 * imbalance.ANCHORS
    assert m["bin_counts"][0] == max(m["bin_counts"])  # the crowd of easy anchors


def test_c16_runs_and_the_sum_is_dominated_by_the_ink_loss() -> None:
    m = run("C16").measured
    assert m["ink_share_of_sum_at_start"] > 0.9
    assert set(m["results"]) >= {"digit only", "ink only", "uncertainty weighting", "GradNorm"}


def test_the_same_claims_run_on_the_seeds_mnist_and_imdb(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    (x_tr, y_tr), (x_te, y_te) = fake_mnist(rng, 300), fake_mnist(rng, 60)
    np.savez(tmp_path / "mnist.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    words = [list(rng.integers(1, 60, 20)) for _ in range(80)]
    np.savez(
        tmp_path / "imdb.npz",
        x_train=ragged(words[:60]),
        y_train=rng.integers(0, 2, 60),
        x_test=ragged(words[60:]),
        y_test=rng.integers(0, 2, 20),
    )
    c9 = run("C9", mnist=tmp_path / "mnist.npz")
    assert c9.measured["data"].startswith("MNIST")
    c8 = run("C8", imdb=tmp_path / "imdb.npz")
    assert c8.measured["data"].startswith("IMDB")
    assert c8.measured["ce_max_abs_gradient_on_negatives"] == 0.0
