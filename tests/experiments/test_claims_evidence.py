"""The trained claims of the verdict standard (C5, C6, C8–C10, C16a–c, C19) end to end in a tiny
size: each writes a ``claims.json`` record that meets the contract (repeats, sweep, intervals,
signs, ceiling or reference, power), and the mechanisms each verdict rests on hold.

Budgets are shrunk through the modules' constants so the file runs in seconds; what is
asserted does not depend on the budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from experiment_data import fake_mnist, ragged

from crossent.experiments import report
from crossent.experiments.claims import by_id, calibration, definitions, gradients, multitask, tasks
from crossent.experiments.registry import VERDICTS, Context, Options, Result
from crossent.experiments.stats import is_lower_better

EVIDENCE_CLAIMS = ["C5", "C6", "C8", "C9", "C10", "C16a", "C16b", "C16c", "C19"]


@pytest.fixture(autouse=True)
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(definitions, "C5_SIZES_QUICK", (20, 40, 60))
    monkeypatch.setattr(definitions, "CONTINUOUS_SIZES_QUICK", (10, 20, 30))
    monkeypatch.setattr(gradients, "SATURATION_QUICK", (1.0, 2.0, 4.0))
    monkeypatch.setattr(gradients, "C6_REPEATS_QUICK", 5)
    monkeypatch.setattr(tasks, "C8_STEPS", 10)
    monkeypatch.setattr(tasks, "C8_BUDGETS_QUICK", (5, 10, 20))
    monkeypatch.setattr(tasks, "C9_STEPS", 10)
    monkeypatch.setattr(tasks, "C9_BUDGETS_QUICK", (5, 10, 20))
    monkeypatch.setattr(tasks, "C10_BUDGETS_QUICK", (5, 10, 20))
    monkeypatch.setattr(tasks, "REFERENCE_STEPS", 10)
    monkeypatch.setattr(multitask, "QUICK_STEPS", 12)
    monkeypatch.setattr(calibration, "BUDGETS_QUICK", (5, 10, 20))
    monkeypatch.setattr(calibration, "WIDTH", 16)
    monkeypatch.setattr(calibration, "FLOOR_DRAWS", 2)


def run(claim_id: str, ctx: Context | None = None, **options: object) -> Result:
    ctx = ctx or Context(Options(quick=True, **options))  # type: ignore[arg-type]
    result = by_id()[claim_id].run(ctx)
    assert result.verdict in VERDICTS
    assert result.criterion and result.setting and result.finding and result.headline
    for fig in result.figures:
        assert fig.svg.startswith("<svg")
    return result


def record_of(claim_id: str, result: Result) -> dict[str, object]:
    outcome = report.Outcome(by_id()[claim_id], result, 1.0)
    records: list[dict[str, object]] = json.loads(report.claims_json([outcome]))
    return records[0]


@pytest.mark.parametrize("claim_id", EVIDENCE_CLAIMS)
def test_claims_json_record_meets_the_contract(claim_id: str) -> None:
    result = run(claim_id)
    record = record_of(claim_id, result)
    assert record["id"] == claim_id and record["verdict"] in VERDICTS and record["measured"]
    assert isinstance(record["repeats"], int) and record["repeats"] >= 5
    metric = record["metric"]
    assert isinstance(metric, str) and metric
    sweep = record["sweep"]
    assert isinstance(sweep, list) and len(sweep) >= 3
    claimed, baseline = record["claimed"], record["baseline"]
    sign = -1.0 if is_lower_better(metric) else 1.0
    for point in sweep:
        assert isinstance(point["variable"], str) and isinstance(point["value"], (int, float))
        assert {claimed, baseline} <= set(point["methods"])
        for iv in (*point["methods"].values(), point["difference"]):
            lo, hi = iv["ci"]
            assert lo <= iv["mean"] <= hi
        # Paired: the mean difference is the difference of the means, signed so that the
        # claim predicts a positive value.
        means = {name: iv["mean"] for name, iv in point["methods"].items()}
        expected = sign * (means[claimed] - means[baseline])
        assert point["difference"]["mean"] == pytest.approx(expected, abs=1e-9)
    assert len({p["variable"] for p in sweep}) == 1
    values = [p["value"] for p in sweep]
    assert values == sorted(values) and len(set(values)) == len(values)
    ceiling = record["ceiling"]
    assert isinstance(ceiling, list) and len(ceiling) == len(sweep)
    if all(c is None for c in ceiling):
        assert isinstance(record["reference"], str) and record["reference"]
    detectable = record["detectable_difference"]
    assert isinstance(detectable, float) and detectable >= 0.0
    assert record["quick"] is True


def test_the_three_statements_of_c16_are_full_records_from_one_experiment() -> None:
    ctx = Context(Options(quick=True))
    records = [record_of(cid, run(cid, ctx)) for cid in ("C16a", "C16b", "C16c")]
    assert [r["id"] for r in records] == ["C16a", "C16b", "C16c"]
    assert len({json.dumps(r["sweep"][0]["value"]) for r in records}) == 1  # one experiment
    ratios = [p["value"] for p in records[0]["sweep"]]
    # The ink loss grows with the square of its unit: the swept ratios span decades.
    assert ratios[-1] / ratios[0] > 1e3
    c16a = records[0]
    assert c16a["claimed"] == "digit only" and c16a["baseline"] == "plain sum"
    c16c = records[2]
    assert c16c["margin"] == multitask.NO_TUNING_TOLERANCE
    assert "Kendall" in run("C16c", ctx).published[0].title


def test_c16_tuned_weight_is_chosen_without_the_repeat_it_scores() -> None:
    grid = (1.0, 0.1, 0.01)
    names = multitask._method_names(grid)
    run_ = multitask.ScaleRuns(
        1.0,
        grid,
        np.ones(3),
        {n: np.full(3, 0.9) for n in names},
        {n: np.full(3, 2.0) for n in names},
        np.ones((3, 2)),
        ([0], np.ones((1, 2))),
    )
    # Weight 0.1 is best on repeat 0 only (by far); on the others weight 0.01 is.
    run_.accuracy[multitask._weighted(0.1)] = np.array([1.8, 0.9, 0.9])
    run_.accuracy[multitask._weighted(0.01)] = np.array([0.9, 1.0, 1.0])
    tuned, picked = multitask._tuned(run_)
    assert picked[0] == multitask._weighted(0.01)  # repeat 0 cannot pick its own lucky winner
    assert picked[1] == picked[2] == multitask._weighted(0.1)  # mean over repeats 0 and 2 wins
    assert tuned[0] == pytest.approx(0.5 * (0.9 / 0.9 + 1.0))


def test_c8_mechanisms() -> None:
    m = run("C8").measured
    assert m["ce_max_abs_gradient_on_negatives"] == 0.0  # −y log a: nothing for the negatives
    assert m["keras_max_abs_gradient"] == 0.0  # Keras' one-unit categorical CE: nothing at all
    assert m["keras_loss_relative_error"] < 0.01  # ... and it reproduces the seed's 5.9557e-08
    assert m["softmax_one_unit_loss"] == 0.0 and m["softmax_one_unit_max_abs_gradient"] == 0.0
    assert m["guardrail_refuses"] and "single output unit" in m["guardrail_message"]
    assert 0.9 <= m["reference_accuracy"] <= 1.0  # logistic regression on breast cancer


def test_c9_records_the_margin_and_accuracies_at_each_budget() -> None:
    result = run("C9")
    m = result.measured
    for b in (5, 10, 20):
        assert 0.0 <= m[f"softmax_ce_accuracy_at_{b}"] <= 1.0
        lo, hi = m[f"gap_ci_at_{b}"]
        assert lo <= m[f"gap_at_{b}"] <= hi
    assert result.evidence is not None and result.evidence.margin == tasks.CLOSE_ACCURACY


def test_c10_ce_over_sigmoids_predicts_every_label() -> None:
    m = run("C10").measured
    assert m["ce_positive_share"] == 1.0
    assert m["ce_hamming_accuracy"] == pytest.approx(m["label_density"])


def test_draws_are_paired_sized_alike_and_distinct() -> None:
    ctx = Context(Options(seed=4))
    draws = ctx.draws("multiclass", 3)
    assert np.array_equal(draws[0].x_train, ctx.multiclass().x_train)
    assert len({d.x_train.shape for d in draws}) == 1
    assert not np.array_equal(draws[0].y_train, draws[1].y_train)
    with pytest.raises(ValueError, match="`kind` must be 'multiclass' or 'binary'"):
        ctx.draws("images", 2)
    with pytest.raises(ValueError, match="`repeats` must be at least 1"):
        ctx.draws("binary", 0)


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


def test_c19_scores_one_network_before_and_after_its_temperature() -> None:
    result = run("C19")
    m = result.measured
    assert m["predictions_changed_by_scaling"] == 0 and m["largest_accuracy_change"] == 0.0
    assert m["repeats"] == 5 and m["budgets"] == [5, 10, 20]
    assert m["training_rows"] + m["validation_rows"] + m["test_rows"] == 1797
    ev = result.evidence
    assert ev is not None and ev.claimed == calibration.SCALED
    assert ev.baseline == calibration.UNCALIBRATED and ev.margin is None
    for p in ev.sweep:  # the floor stands beside the two, below what a trained model reaches
        assert set(p.methods) == {calibration.UNCALIBRATED, calibration.SCALED, calibration.FLOOR}
        assert 0 < p.methods[calibration.FLOOR].mean < p.methods[calibration.UNCALIBRATED].mean
    assert len(result.figures) == 2 and "c19-reliability" in result.figures[0].svg
