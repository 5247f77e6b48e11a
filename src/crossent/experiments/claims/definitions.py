"""C1–C5: the definitions and worked numbers, computed by crossent and checked independently.

Each worked example is computed by crossent and compared with the formula written out
with :mod:`math` (an independent reference), and with the number the seed prints.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from crossent import (
    binary_entropy,
    categorical_cross_entropy,
    cross_entropy,
    entropy,
    kl_divergence,
    self_information,
    softmax_cross_entropy,
)
from crossent.experiments import figures
from crossent.experiments.registry import (
    DOES_NOT_HOLD,
    HOLDS,
    INCONCLUSIVE,
    Claim,
    Context,
    Evidence,
    Figure,
    Result,
    Table,
    verdict,
)
from crossent.experiments.stats import equivalence_verdict, mean_interval, sweep_point
from crossent.experiments.training import deterministic

__all__ = ["CLAIMS"]

EXACT = 1e-12
"""Float64 agreement expected between two exact formulas for the same number."""

SEED_DIGITS = 2
"""The seeds print 0.36: a number agrees with them when it rounds to it."""

RANDOM_CASES = 1000
"""Random distributions on which each identity is checked, beyond the worked example."""

CLASSES = 5
"""Classes of those random distributions."""


def _fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}f}"


def _random_distributions(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.dirichlet(np.ones(CLASSES), RANDOM_CASES), rng.dirichlet(
        np.ones(CLASSES), RANDOM_CASES
    )


# -------------------------------------------------------------------------------- C1


def c1(ctx: Context) -> Result:
    ctx.progress.expect(1)
    p, q = np.array([1.0, 0.0, 0.0]), np.array([0.7, 0.2, 0.1])
    kl, ce, h = float(kl_divergence(p, q)), float(cross_entropy(p, q)), float(entropy(p))
    reference = -math.log(0.7)
    seed_print = 0.36
    rng = np.random.default_rng(ctx.seed)
    pr, qr = _random_distributions(rng)
    identity = float(
        np.max(np.abs(np.asarray(kl_divergence(pr, qr)) - (cross_entropy(pr, qr) - entropy(pr))))
    )
    one_hot = np.eye(CLASSES)[rng.integers(0, CLASSES, RANDOM_CASES)]
    one_hot_gap = float(np.max(np.abs(kl_divergence(one_hot, qr) - cross_entropy(one_hot, qr))))
    measured = {
        "kl": kl,
        "reference_minus_ln_0_7": reference,
        "seed_prints": seed_print,
        "max_identity_residual": identity,
        "max_one_hot_kl_minus_ce": one_hot_gap,
    }
    holds = (
        abs(kl - reference) <= EXACT
        and identity <= EXACT
        and one_hot_gap <= EXACT
        and round(kl, SEED_DIGITS) == seed_print
    )
    ctx.progress.advance()
    return Result(
        verdict(holds),
        f"|KL − (−ln 0.7)| ≤ {EXACT:g}; |KL − (H(p,q) − H(p))| ≤ {EXACT:g} and, for one-hot p, "
        f"|KL − H(p,q)| ≤ {EXACT:g} on {RANDOM_CASES} random {CLASSES}-class pairs; KL rounds "
        f"to the seeds' {seed_print} at {SEED_DIGITS} decimals.",
        measured,
        "The seeds' example p = [1, 0, 0], q = [0.7, 0.2, 0.1], then random Dirichlet(1) "
        "distributions, all in float64 with crossent.kl_divergence, cross_entropy and entropy.",
        f"KL = {kl:.4f} = −ln 0.7; the identity holds to {identity:.1e} and one-hot KL equals "
        f"cross-entropy to {one_hot_gap:.1e}. The seeds' 0.36 is this number rounded.",
        tables=[
            Table(
                "p = [1, 0, 0], q = [0.7, 0.2, 0.1]",
                ["quantity", "crossent", "reference", "seed prints"],
                [
                    ["KL(p‖q)", _fmt(kl), _fmt(reference) + " (−ln 0.7)", "0.36"],
                    ["H(p, q)", _fmt(ce), _fmt(reference), ""],
                    ["H(p)", _fmt(h), "0", ""],
                    ["H(p, q) − H(p)", _fmt(ce - h), "= KL", ""],
                ],
            )
        ],
        headline=f"KL = {kl:.4f} = −ln 0.7; identity residual {identity:.1e}",
    )


# ---------------------------------------------------------------------------- C2, C3


def c2(ctx: Context) -> Result:
    ctx.progress.expect(1)
    loss = float(categorical_cross_entropy(np.array([[0.2, 0.7, 0.1]]), np.array([1])))
    reference = -math.log(0.7)
    seed_print = 0.36
    rng = np.random.default_rng(ctx.seed)
    _, q = _random_distributions(rng)
    labels = rng.integers(0, CLASSES, RANDOM_CASES)
    each = np.asarray(categorical_cross_entropy(q, labels, reduction="none"))
    naive = np.array([-math.log(q[i, labels[i]]) for i in range(RANDOM_CASES)])
    per_sample = float(np.max(np.abs(each - naive)))
    sum_gap = abs(float(categorical_cross_entropy(q, labels, reduction="sum")) - math.fsum(naive))
    mean_gap = abs(float(categorical_cross_entropy(q, labels)) - math.fsum(naive) / RANDOM_CASES)
    measured = {
        "loss": loss,
        "reference_minus_ln_0_7": reference,
        "seed_prints": seed_print,
        "max_per_sample_gap": per_sample,
        "batch_sum_gap": sum_gap,
        "batch_mean_gap": mean_gap,
    }
    holds = (
        abs(loss - reference) <= EXACT
        and round(loss, SEED_DIGITS) == seed_print
        and max(per_sample, sum_gap / RANDOM_CASES, mean_gap) <= EXACT
    )
    ctx.progress.advance()
    return Result(
        verdict(holds),
        f"|loss − (−ln 0.7)| ≤ {EXACT:g} and it rounds to the seed's {seed_print}; on a batch of "
        f"{RANDOM_CASES} random predictions, each loss is −ln q[y] and the batch loss is their "
        f"sum (reduction='sum') or mean (reduction='mean'), to {EXACT:g} per sample.",
        measured,
        "Seed 001's table (label dog = [0, 1, 0], prediction [0.2, 0.7, 0.1]) with "
        "crossent.categorical_cross_entropy, then a random batch against math.log.",
        f"The loss is {loss:.4f} = −ln 0.7 (the seed prints 0.36); batch sum and mean agree "
        f"with the per-sample losses to {max(sum_gap, mean_gap):.1e}. Seed 001 writes the "
        "batch loss as a sum, seed 002 as a mean: both are reductions of the same terms.",
        tables=[
            Table(
                "label [0, 1, 0], prediction [0.2, 0.7, 0.1]",
                ["quantity", "crossent", "reference", "seed prints"],
                [["loss", _fmt(loss), _fmt(reference) + " (−ln 0.7)", "0.36"]],
            )
        ],
        headline=f"loss = {loss:.4f} = −ln 0.7; batch sum and mean exact to {max(sum_gap, mean_gap):.1e}",
    )


def c3(ctx: Context) -> Result:
    ctx.progress.expect(1)
    probs = np.array([[0.5, 0.4, 0.1]])
    loss = float(categorical_cross_entropy(probs, np.array([0])))
    from_logits = float(softmax_cross_entropy(np.log(probs), np.array([0])))
    reference = math.log(2)
    holds = abs(loss - reference) <= EXACT and abs(from_logits - reference) <= EXACT
    ctx.progress.advance()
    return Result(
        verdict(holds),
        f"|H((1,0,0), (0.5,0.4,0.1)) − ln 2| ≤ {EXACT:g}, from probabilities and from their logits.",
        {"loss": loss, "from_logits": from_logits, "ln_2": reference},
        "Seed 003's example with crossent.categorical_cross_entropy, and with "
        "softmax_cross_entropy on log-probabilities as logits.",
        f"Both give {loss:.4f} = ln 2: only the true class's probability 0.5 enters the loss.",
        tables=[
            Table(
                "(1, 0, 0) against (0.5, 0.4, 0.1)",
                ["route", "loss", "ln 2"],
                [
                    ["categorical_cross_entropy(probs)", _fmt(loss), _fmt(reference)],
                    ["softmax_cross_entropy(log probs)", _fmt(from_logits), _fmt(reference)],
                ],
            )
        ],
        headline=f"loss = {loss:.4f} = ln 2",
    )


# -------------------------------------------------------------------------------- C4

GRID = 10_001
"""Points on [0, 1] at which the binary entropy is evaluated to find its peak."""


def c4(ctx: Context) -> Result:
    ctx.progress.expect(1)
    rng = np.random.default_rng(ctx.seed)
    p_grid = np.linspace(0.0, 1.0, GRID)
    interior = p_grid[1:-1]
    info_gap = float(np.max(np.abs(np.asarray(self_information(interior)) + np.log(interior))))
    pr, _ = _random_distributions(rng)
    expectation = np.sum(pr * np.asarray(self_information(pr)), axis=-1)
    expectation_gap = float(np.max(np.abs(np.asarray(entropy(pr)) - expectation)))
    hb = np.asarray(binary_entropy(p_grid))
    peak_p, peak = float(p_grid[int(np.argmax(hb))]), float(hb.max())
    peak_bits = float(binary_entropy(np.array(0.5), base=2))
    certain = float(self_information(np.array(1.0)))
    certain_entropy = float(entropy(np.array([1.0, 0.0])))
    measured = {
        "max_self_information_gap": info_gap,
        "max_entropy_minus_expected_information": expectation_gap,
        "binary_entropy_argmax": peak_p,
        "binary_entropy_max_nats": peak,
        "binary_entropy_max_bits": peak_bits,
        "information_of_certain_event": certain,
        "entropy_of_certain_event": certain_entropy,
    }
    holds = (
        info_gap <= EXACT
        and expectation_gap <= EXACT
        and peak_p == 0.5
        and abs(peak - math.log(2)) <= EXACT
        and abs(peak_bits - 1) <= EXACT
        and certain == 0.0
        and certain_entropy == 0.0
    )
    fig, (left, right) = figures.figure(2)
    left.plot(interior, np.asarray(self_information(interior)), color=figures.COLORS[0])
    left.set(xlabel="P(x)", ylabel="I(x) = −ln P(x)  (nats)", title="information", ylim=(0, 6))
    right.plot(p_grid, hb, color=figures.COLORS[0], label="nats")
    right.plot(
        p_grid, np.asarray(binary_entropy(p_grid, base=2)), color=figures.COLORS[1], label="bits"
    )
    right.axvline(peak_p, color=figures.COLORS[5], linestyle=":", linewidth=1)
    right.set(xlabel="p", ylabel="H(p)", title="binary entropy")
    right.legend(loc="lower center")
    ctx.progress.advance()
    return Result(
        verdict(holds),
        f"I(p) = −ln p to {EXACT:g}; H(p) = Σ p·I(p) to {EXACT:g} on {RANDOM_CASES} random "
        f"distributions; the binary entropy's maximum on a {GRID}-point grid is at p = 0.5 and "
        f"equals ln 2 nats and 1 bit (to {EXACT:g}); a certain event has I = H = 0 exactly.",
        measured,
        "crossent.self_information, entropy and binary_entropy in float64.",
        f"{'All hold' if holds else 'Not all hold'}: the binary entropy peaks at p = {peak_p} with {peak:.4f} nats = "
        f"{peak_bits:.4f} bit, and a certain event carries {certain} nats.",
        figures=[
            Figure(
                "Information and the binary entropy",
                figures.to_svg(fig, "c4"),
                "Left: rarer events carry more information. Right: the entropy of a coin "
                "peaks at a fair coin, ln 2 nats = 1 bit, and is 0 for a certain outcome.",
            )
        ],
        headline=f"binary entropy peaks at p = {peak_p} with {peak:.4f} nats = {peak_bits:.4f} bit; certain event {certain:g}",
    )


# -------------------------------------------------------------------------------- C5

L2 = 1e-2
"""Ridge penalty on every parameter, added identically to both objectives of C5: the digits
are linearly separable, so without it the likelihood has no maximiser, and softmax
logits shifted by a constant give the same likelihood, so without it on the biases too
the maximiser is not unique."""

PARAMETER_TOLERANCE = 1e-4
"""Largest relative difference of the two fits' parameters that counts as agreement."""

OBJECTIVE_TOLERANCE = 1e-9
"""The optimiser's tolerance on the objective, in nats per sample: two fits whose penalised
negative log-likelihoods differ by less reached the same minimum. The margin of C5's claim
of no difference."""

LBFGS_ITERATIONS = 1000

INIT_SCALE = 0.1
"""Standard deviation of the random starts: different for the two fits, and near enough to
the ridge-penalised minimum (parameters of order 0.1–1) that L-BFGS gets there quickly."""

C5_SIZES_QUICK, C5_SIZES_FULL = (40, 120, 360), (50, 150, 500, 1000)
"""Training images per fit: the regime is the sample size (with few samples the ridge
dominates, with many the data do; the claim names no size, so it must hold at every one)."""

C5_REPEATS_QUICK, C5_REPEATS_FULL = 5, 10
"""Data draws (a random subset of the training images) and random starts per size."""


def _fit(objective: object, shape: tuple[int, ...], init_seed: int) -> torch.Tensor:
    """Minimise ``objective(W)`` with L-BFGS in float64 from a seeded random start."""
    gen = torch.Generator().manual_seed(init_seed)
    w = (INIT_SCALE * torch.randn(*shape, generator=gen, dtype=torch.float64)).requires_grad_()
    opt = torch.optim.LBFGS(
        [w],
        lr=1,
        max_iter=LBFGS_ITERATIONS,
        tolerance_grad=1e-8,
        tolerance_change=0,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective(w)  # type: ignore[operator]
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def _penalty(w: torch.Tensor) -> torch.Tensor:
    """The ridge penalty of each stacked draw's parameters ``[R, D + 1, K]`` → ``[R]``."""
    return L2 / 2 * torch.sum(w**2, dim=(1, 2))


def _negative_log_likelihood(w: torch.Tensor, x1: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per draw, −(1/n) log ∏ q(yᵢ|xᵢ) under a categorical model, plus the penalty: ``[R]``."""
    model = torch.distributions.Categorical(logits=x1 @ w, validate_args=False)
    return -model.log_prob(y).mean(dim=1) + _penalty(w)


def _mean_cross_entropy(w: torch.Tensor, x1: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per draw, crossent's mean softmax cross-entropy plus the penalty: ``[R]``."""
    ce: torch.Tensor = softmax_cross_entropy(x1 @ w, y, reduction="none")
    return ce.mean(dim=1) + _penalty(w)


def c5(ctx: Context) -> Result:
    deterministic(ctx.seed)
    data = ctx.multiclass()
    sizes = C5_SIZES_QUICK if ctx.quick else C5_SIZES_FULL
    repeats = ctx.size(quick=C5_REPEATS_QUICK, full=C5_REPEATS_FULL)
    k = int(data.y_train.max()) + 1
    shape = (repeats, data.n_features + 1, k)
    ctx.progress.expect(2 * len(sizes) + 1)

    metric = "penalised training NLL (nats per sample)"
    methods = ("maximum likelihood", "minimum cross-entropy")
    points, gaps, gap_rows = [], [], []
    objective_gap = 0.0
    for n in sizes:
        if n > len(data.y_train):
            raise ValueError(
                f"`n` must be at most {len(data.y_train)} training images; got n={n!r}."
            )
        # Repeat r fits a different random subset (the data draw) from different starts.
        picks = [
            np.random.default_rng([ctx.seed, n, r]).choice(len(data.y_train), n, replace=False)
            for r in range(repeats)
        ]
        x = torch.from_numpy(np.stack([data.x_train[i] for i in picks])).double()
        x1 = torch.cat([x, torch.ones(repeats, n, 1, dtype=torch.float64)], dim=2)
        y = torch.from_numpy(np.stack([data.y_train[i] for i in picks]))

        # The draws are independent problems: their sum is minimised by minimising each.
        w_mle = _fit(lambda w: _negative_log_likelihood(w, x1, y).sum(), shape, ctx.seed * 7 + n)  # noqa: B023
        ctx.progress.advance()
        w_ce = _fit(lambda w: _mean_cross_entropy(w, x1, y).sum(), shape, ctx.seed * 7 + n + 1)  # noqa: B023
        ctx.progress.advance()
        with torch.no_grad():
            values = {
                methods[0]: _negative_log_likelihood(w_mle, x1, y).numpy(),
                methods[1]: _negative_log_likelihood(w_ce, x1, y).numpy(),
            }
            probes = torch.randn(*shape, dtype=torch.float64)
            objective_gap = max(
                objective_gap,
                float(
                    torch.max(
                        torch.abs(
                            _negative_log_likelihood(probes, x1, y)
                            - _mean_cross_entropy(probes, x1, y)
                        )
                    )
                ),
            )
        gap = (
            torch.amax(torch.abs(w_mle - w_ce), dim=(1, 2))
            / torch.amax(torch.abs(w_mle), dim=(1, 2))
        ).numpy()
        gaps.append(mean_interval(gap))
        points.append(
            sweep_point(
                "training images", n, values, claimed=methods[1], baseline=methods[0], metric=metric
            )
        )
        gap_rows.append(
            [
                str(n),
                f"{gaps[-1].mean:.2e} [{gaps[-1].lo:.2e}, {gaps[-1].hi:.2e}]",
                f"{points[-1].difference.mean:.1e} [{points[-1].difference.lo:.1e}, "
                f"{points[-1].difference.hi:.1e}]",
                f"{float(np.mean(values[methods[0]])):.4f}",
            ]
        )
    ctx.progress.advance()
    detectable = max(p.detectable or 0.0 for p in points)
    same_minimum = equivalence_verdict([p.difference for p in points], OBJECTIVE_TOLERANCE)
    same_parameters = all(g.hi <= PARAMETER_TOLERANCE for g in gaps)
    different_parameters = any(g.lo > PARAMETER_TOLERANCE for g in gaps)
    if same_minimum == HOLDS and same_parameters and objective_gap <= EXACT:
        result_verdict = HOLDS
    elif same_minimum == DOES_NOT_HOLD or different_parameters or objective_gap > EXACT:
        result_verdict = DOES_NOT_HOLD
    else:
        result_verdict = INCONCLUSIVE
    worst = max(g.hi for g in gaps)
    measured = {
        "classes": k,
        "parameters": int(np.prod(shape[1:])),
        "sample_sizes": list(sizes),
        "repeats": repeats,
        "max_relative_parameter_difference": max(g.mean for g in gaps),
        "relative_parameter_difference_upper_95": worst,
        "max_objective_difference": objective_gap,
        "l2": L2,
    }
    return Result(
        result_verdict,
        f"{repeats} draws per sample size ({', '.join(map(str, sizes))} images), each fitted both "
        f"ways from different random starts. Holds when, at every size, the 95% interval of the "
        f"difference of the two fits' penalised NLL lies within ± {OBJECTIVE_TOLERANCE:g} (the "
        f"optimiser's tolerance: the same minimum), the upper end of the interval of their "
        f"largest relative parameter difference is ≤ {PARAMETER_TOLERANCE:g} (the same "
        f"parameters), and the two objectives agree to {EXACT:g} at random parameters.",
        measured,
        f"Multinomial logistic regression on random subsets of {data.name}, fitted twice with "
        "L-BFGS in float64 from different random starts: by maximising the likelihood "
        "∏ q(yᵢ|xᵢ) (torch.distributions.Categorical) and by minimising crossent's mean "
        f"softmax_cross_entropy. Both carry the same ridge penalty λ = {L2:g} on every parameter: the "
        "data are linearly separable and softmax is unchanged by a common shift of the "
        "logits, so without it neither objective has a unique minimiser. The draws of one size "
        "are fitted together as one separable problem.",
        f"At every sample size the two fits reach the same penalised NLL (largest |difference| "
        f"{max(max(abs(p.difference.lo), abs(p.difference.hi)) for p in points):.1e} nats, margin "
        f"{OBJECTIVE_TOLERANCE:g}) and parameters that agree to {worst:.1e} (upper 95% bound, "
        f"relative); the objectives are the same function (difference {objective_gap:.1e})."
        + (" Maximum likelihood is minimum cross-entropy." if result_verdict == HOLDS else ""),
        tables=[
            Table(
                "The two fits at each sample size (mean [95% interval] over draws)",
                [
                    "training images",
                    "relative parameter difference",
                    "NLL difference (nats)",
                    "penalised NLL",
                ],
                gap_rows,
            )
        ],
        headline=f"MLE and min-CE fits agree to {worst:.1e} (relative parameters, upper 95%) at "
        f"{len(sizes)} sample sizes × {repeats} draws",
        evidence=Evidence(
            metric,
            repeats,
            points,
            detectable,
            reference="none needed: both fits are judged against each other at the optimiser's "
            "tolerance",
            claimed=methods[1],
            baseline=methods[0],
            margin=OBJECTIVE_TOLERANCE,
            quick=ctx.quick,
        ),
    )


CLAIMS = [
    Claim(
        "C1",
        "KL(p‖q) = H(p,q) − H(p); for one-hot p, KL equals cross-entropy "
        "(p = [1,0,0], q = [0.7,0.2,0.1] → KL = −ln 0.7 = 0.3567; the seeds print 0.36).",
        "seeds 001, 003",
        c1,
    ),
    Claim(
        "C2",
        "Label [0,1,0], prediction [0.2,0.7,0.1] → loss 0.3567; a batch loss is the sum/mean "
        "over samples.",
        "seed 001",
        c2,
    ),
    Claim("C3", "(1,0,0) against (0.5,0.4,0.1) → ln 2 = 0.6931.", "seed 003", c3),
    Claim(
        "C4",
        "Information I(x) = −log P(x); entropy is its expectation; the binary entropy peaks at "
        "p = 0.5 with ln 2 nats = 1 bit; a certain event carries 0.",
        "seeds 001, 003",
        c4,
    ),
    Claim(
        "C5",
        "Maximum likelihood equals minimum cross-entropy: fitting by maximising the "
        "log-likelihood and by minimising mean cross-entropy gives the same parameters.",
        "seeds 000, 002",
        c5,
    ),
]
