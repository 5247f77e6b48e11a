"""The detection-like harness: the generator's posterior and Bayes ceiling against independent
computations, weighted metrics, and stacked training against one model trained alone."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from crossent import GHMC, hard_negative_mining, sigmoid_binary_cross_entropy, sigmoid_focal_loss
from crossent.experiments import detection
from crossent.experiments.datasets import AnchorMixture, Anchors
from crossent.experiments.models import mlp

# ------------------------------------------------------------------ posterior and ceiling


def test_log_odds_match_the_posterior_of_three_gaussians() -> None:
    m = AnchorMixture(0.05, 0.3, features=4, separation=3.0, hard_offset=1.5)
    x = np.random.default_rng(0).normal(size=(50, 4)) * 2
    mu = m.centres()
    # The centres written from the docstring, and densities from SciPy.
    np.testing.assert_allclose(mu[2], [1.5, 0, 0, 0])
    np.testing.assert_allclose(mu[0], [-1.5, 0, 0, 0])
    np.testing.assert_allclose(mu[1], [1.5, 1.5, 0, 0])
    pdf = [stats.multivariate_normal(mean=c, cov=np.eye(4)).pdf(x) for c in mu]
    priors = [0.95 * 0.7, 0.95 * 0.3, 0.05]
    posterior = priors[2] * pdf[2] / sum(p * f for p, f in zip(priors, pdf, strict=True))
    out = m.log_odds(x)
    assert out.dtype == np.float64 and out.shape == (50,)
    np.testing.assert_allclose(out, np.log(posterior / (1 - posterior)), rtol=1e-9, atol=1e-9)


def _population_ap_1d(rate: float, separation: float) -> float:
    """∫ precision dRecall for two unit Gaussians ±s/2 on a line, ranked by x (quadrature)."""
    half = separation / 2

    def precision(t: float) -> float:
        tp = rate * stats.norm.sf(t - half)
        fp = (1 - rate) * stats.norm.sf(t + half)
        return tp / (tp + fp)

    value, _ = integrate.quad(lambda t: precision(t) * stats.norm.pdf(t - half), -12, 12, limit=200)
    return float(value)


@pytest.mark.parametrize("rate", [0.1, 0.01, 0.001])
def test_bayes_average_precision_matches_the_integral_in_one_dimension(rate: float) -> None:
    # Without hard negatives the posterior is monotone in x₁, so the Bayes AP is an integral
    # over Gaussian tails.
    m = AnchorMixture(rate, 0.0, features=3, separation=3.0, hard_offset=1.0)
    expected = _population_ap_1d(rate, 3.0)
    got = detection.bayes_average_precision(m, per_kind=200_000, seed=1)
    assert abs(got - expected) < 0.01, (got, expected)


def test_weighted_ceiling_matches_an_unweighted_sample_at_the_priors() -> None:
    m = AnchorMixture(0.1, 0.2, features=3, separation=3.0, hard_offset=1.5)
    rng = np.random.default_rng(2)
    kinds = rng.choice(3, size=300_000, p=m.priors())
    x = m.sample(rng, kinds)
    from sklearn.metrics import average_precision_score

    plain = average_precision_score(kinds == 2, m.log_odds(x))
    weighted = detection.bayes_average_precision(m, per_kind=100_000, seed=3)
    assert abs(plain - weighted) < 0.01, (plain, weighted)


def test_no_classifier_beats_the_bayes_ceiling() -> None:
    m = AnchorMixture(0.01, 0.1, features=3, separation=4.0, hard_offset=2.0)
    x, positive, negative = m.evaluation_sample(np.random.default_rng(4), 50_000)
    ceiling = detection.average_precision(m.log_odds(x), positive, negative)
    for direction in ([1.0, 0, 0], [1.0, -0.5, 0], [1.0, 0.3, 0.2]):
        score = x @ np.array(direction)
        assert detection.average_precision(score, positive, negative) < ceiling


def test_evaluation_masses_estimate_the_priors_and_the_tails() -> None:
    m = AnchorMixture(0.001, 0.05, features=2, separation=5.0, hard_offset=2.5)
    x, positive, negative = m.evaluation_sample(np.random.default_rng(0), 100_000)
    assert x.shape == (300_000, 2) and positive.shape == negative.shape == (300_000,)
    assert positive.dtype == np.float64
    assert np.sum(positive) == pytest.approx(0.001, rel=0.02)
    assert np.sum(negative) == pytest.approx(0.999, rel=0.02)
    # The negative mass beyond x₁ > 3 against its closed form: easy N(−2.5, 1) and hard
    # N(2.5, 1) tails, weighted by their priors.
    tail = x[:, 0] > 3.0
    expected = 0.999 * (0.95 * stats.norm.sf(5.5) + 0.05 * stats.norm.sf(0.5))
    assert np.sum(negative[tail]) == pytest.approx(expected, rel=0.02)


def test_images_draw_kinds_at_the_priors() -> None:
    m = AnchorMixture(0.01, 0.1, features=2, separation=5.0, hard_offset=2.5)
    a = m.images(np.random.default_rng(0), images=40, anchors=1000)
    assert a.x.shape == (40, 1000, 2) and a.x.dtype == np.float32
    assert a.y.mean() == pytest.approx(0.01, abs=0.002)
    assert a.hard.mean() == pytest.approx(0.099, abs=0.006)
    assert not np.any(a.hard & (a.y == 1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"positive_rate": 0.0}, "`positive_rate` must be in \\(0, 1\\); got positive_rate=0.0."),
        ({"hard_share": 1.5}, "`hard_share` must be in \\[0, 1\\]; got hard_share=1.5."),
        ({"features": 1}, "`features` must be at least 2; got features=1."),
    ],
)
def test_mixture_rejects_bad_settings(kwargs: dict[str, float], match: str) -> None:
    settings = {"positive_rate": 0.1, "hard_share": 0.1, "features": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        AnchorMixture(**settings, separation=1.0, hard_offset=1.0)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- metrics


def test_weighted_average_precision_equals_repeating_rows() -> None:
    rng = np.random.default_rng(5)
    scores, labels = rng.normal(size=30), (rng.random(30) < 0.3).astype(float)
    counts = rng.integers(1, 4, size=30)
    from sklearn.metrics import average_precision_score

    expected = average_precision_score(np.repeat(labels, counts), np.repeat(scores, counts))
    got = detection.average_precision(scores, labels * counts, (1 - labels) * counts)
    assert got == pytest.approx(expected)


def test_average_precision_matches_scikit_learn_with_ties_and_weights() -> None:
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(6)
    scores = np.round(rng.normal(size=200), 1)  # many ties
    labels = (rng.random(200) < 0.2).astype(float)
    weight = rng.random(200) + 0.1
    expected = average_precision_score(labels, scores, sample_weight=weight)
    got = detection.average_precision(scores, labels * weight, (1 - labels) * weight)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-12)


def test_recall_and_precision_count_by_hand() -> None:
    z = np.array([3.0, -1.0, 0.5, 2.0, -2.0])
    y = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
    w = np.array([1.0, 1.0, 2.0, 1.0, 1.0])
    assert detection.recall(z, y) == pytest.approx(1 / 3)
    assert detection.precision(z, y * w, (1 - y) * w) == pytest.approx(1 / 4)
    assert detection.precision(z, y, 1 - y, threshold=10.0) == 1.0


def test_bayes_recall_of_two_gaussians_is_a_normal_tail() -> None:
    m = AnchorMixture(0.1, 0.0, features=2, separation=2.0, hard_offset=1.0)
    # log-odds = s·x₁ + log(ρ/(1−ρ)) > t  ⇔  x₁ > (t − log(ρ/(1−ρ)))/s, x₁ ~ N(1, 1).
    cut = (0.0 - math.log(0.1 / 0.9)) / 2.0
    expected = stats.norm.sf(cut - 1.0)
    assert detection.bayes_recall(m, threshold=0.0, per_kind=200_000) == pytest.approx(
        expected, abs=0.005
    )


# ------------------------------------------------------------------------------ training


def _alone(
    data: Anchors,
    loss_of: str,
    *,
    seed: int,
    steps: int,
    batch_images: int,
    lr: float,
    hidden: int,
) -> torch.nn.Module:
    """One model trained by hand as the harness documents it: mlp(seed) with the prior bias,
    Adam, batches drawn epoch by epoch from permutations seeded ``seed``."""
    model = mlp(data.x.shape[-1], 1, seed=seed, hidden=hidden)
    with torch.no_grad():
        model[2].bias.fill_(-math.log(99.0))  # type: ignore[index]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n = data.x.shape[0]
    order, cursor = torch.randperm(n, generator=g), 0
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    ghm = GHMC(bins=10, momentum=0.75)
    for _ in range(steps):
        if cursor + batch_images > n:
            order, cursor = torch.randperm(n, generator=g), 0
        idx = order[cursor : cursor + batch_images]
        cursor += batch_images
        z, t = model(x[idx])[..., 0], y[idx]
        n_pos = torch.clamp(t.sum(), min=1.0)
        if loss_of == "bce":
            loss = sigmoid_binary_cross_entropy(z, t, reduction="sum") / n_pos
        elif loss_of == "focal":
            loss = sigmoid_focal_loss(z, t, alpha=0.25, gamma=2.0, reduction="sum") / n_pos
        elif loss_of == "mined":
            each = sigmoid_binary_cross_entropy(z, t, reduction="none")
            keep = hard_negative_mining(each.detach(), t > 0, neg_pos_ratio=3)
            loss = (each * keep).sum() / n_pos
        else:
            loss = ghm(z, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def test_stacked_training_equals_each_model_trained_alone() -> None:
    mixture = AnchorMixture(0.05, 0.1, features=3, separation=3.0, hard_offset=1.5)
    data = [mixture.images(np.random.default_rng(r), images=10, anchors=40) for r in range(2)]
    methods = {
        "bce": detection.bce(),
        "focal": detection.focal(2.0, 0.25),
        "mined": detection.mined(3),
        "ghm": detection.ghm(10, 0.75),
    }
    settings = {"steps": 12, "batch_images": 4, "lr": 1e-2, "hidden": 8}
    trained = detection.train_stacked(data, methods, seed=30, **settings)  # type: ignore[arg-type]
    x = np.random.default_rng(9).normal(size=(25, 3))
    for name in methods:
        for r in range(2):
            alone = _alone(data[r], name, seed=30 + r, **settings)  # type: ignore[arg-type]
            with torch.no_grad():
                expected = alone(torch.from_numpy(x.astype(np.float32)))[:, 0].double().numpy()
            got = trained.member_logits(name, r, x)
            assert got.dtype == np.float64 and got.shape == (25,)
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
            # The batched scores agree with the member's own.
            batched = trained.scores([x, x])[name][r]
            np.testing.assert_allclose(batched, got, rtol=1e-5, atol=1e-6)


def test_training_moves_the_members_and_keeps_the_pairs_apart() -> None:
    mixture = AnchorMixture(0.05, 0.1, features=3, separation=3.0, hard_offset=1.5)
    data = [mixture.images(np.random.default_rng(r), images=6, anchors=40) for r in range(2)]
    before = detection.StackedMLP([5, 6], in_features=3, hidden=8)
    trained = detection.train_stacked(
        data, {"bce": detection.bce()}, steps=5, batch_images=2, lr=1e-2, seed=5, hidden=8
    )
    assert not torch.allclose(trained.model.w1, before.w1)
    # Each repeat starts from its own seed: the members differ.
    assert not torch.allclose(trained.model.w1[0], trained.model.w1[1])
    assert torch.sigmoid(before.b2).flatten().tolist() == pytest.approx([0.01, 0.01])
