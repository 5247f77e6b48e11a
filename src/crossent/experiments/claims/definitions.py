"""C1–C5: the definitions and worked numbers, computed by crossent and checked independently.

Each worked example is computed by crossent and compared with the formula written out
with :mod:`math` (an independent reference), and with the number the seed prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from crossent import (
    binary_entropy,
    categorical_cross_entropy,
    cross_entropy,
    entropy,
    gaussian_cross_entropy,
    kl_divergence,
    mvn_cross_entropy,
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
    start = INIT_SCALE * torch.randn(*shape, generator=gen, dtype=torch.float64)
    return _minimise(objective, start, tolerance_grad=1e-8)


def _minimise(objective: object, start: torch.Tensor, *, tolerance_grad: float) -> torch.Tensor:
    """Minimise ``objective(w)`` with L-BFGS (strong Wolfe line search) from ``start``, until
    the largest gradient entry is below ``tolerance_grad`` or :data:`LBFGS_ITERATIONS`."""
    w = start.clone().requires_grad_()
    opt = torch.optim.LBFGS(
        [w],
        lr=1,
        max_iter=LBFGS_ITERATIONS,
        tolerance_grad=tolerance_grad,
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


# ------------------------------------------------------------ C5, the continuous half

GAUSSIAN_MEAN, GAUSSIAN_STD = 3.0, 0.5
"""The 1-D generator N(3, 0.5²) the samples of the continuous half are drawn from."""

MVN_MEAN = (2.0, -1.0)
MVN_COV = ((1.5, 0.9), (0.9, 1.0))
"""The 2-D generator: correlated (ρ ≈ 0.73), so that the off-diagonal entry is fitted too."""

START_MLE = (0.0, 1.0)
START_CE = (-5.0, 25.0)
"""The two fits' starts, far from the answer and from each other: every mean at the first
number, every variance at the second (a diagonal covariance)."""

CONTINUOUS_TOLERANCE = 1e-5
"""Largest difference between two Gaussians' parameters that counts as none, on the data's
scale: means in units of the sample standard deviation, covariance entries in units of
``√(S_jj S_kk)`` (:func:`_moment_gap`). L-BFGS in float64 stops where its line search can no
longer resolve a decrease of the objective, with parameters right to about 1e-8–1e-7: well
inside. The nearest wrong answer, the 1/(N − 1) covariance, differs from the 1/N one by
1/(N − 1) ≥ 1e-4 at every sample size used: well outside."""

CONTINUOUS_GRADIENT = 1e-10
"""L-BFGS also stops when the largest gradient entry is below this (nats per parameter)."""

BRIDGE_TOLERANCE = 1e-10
"""Largest |H(p̂, q) − mean NLL| (nats) at random parameters: the rounding of a mean over up to
10⁴ samples."""

CONTINUOUS_SIZES_QUICK, CONTINUOUS_SIZES_FULL = (10, 100, 1000), (10, 100, 1000, 10_000)
"""Samples per fit: the regime is again the sample size (the 1/N and 1/(N − 1) covariances
are far apart at 10 and close at 10⁴)."""

SHOWN_SIZE = 100
"""The sample size whose first draw's numbers the report shows in full (the smallest of the
sweep when it is not one of them)."""


def _moment_gap(
    mean: torch.Tensor, cov: torch.Tensor, mean_ref: torch.Tensor, cov_ref: torch.Tensor
) -> torch.Tensor:
    """Per draw, the largest difference of two Gaussians' parameters on the reference's scale.

    .. math:: \\max\\Big(\\max_j \\frac{|\\mu_j - m_j|}{\\sqrt{S_{jj}}},\\;
        \\max_{jk} \\frac{|\\Sigma_{jk} - S_{jk}|}{\\sqrt{S_{jj} S_{kk}}}\\Big)

    Args:
        mean, cov: ``[R, D]`` and ``[R, D, D]``, the Gaussian compared.
        mean_ref, cov_ref: the reference (``m``, ``S``), same shapes.

    Returns:
        ``[R]``, dimensionless.
    """
    scale = torch.sqrt(torch.diagonal(cov_ref, dim1=-2, dim2=-1))
    mean_gap = torch.amax(torch.abs(mean - mean_ref) / scale, dim=-1)
    cov_gap = torch.amax(
        torch.abs(cov - cov_ref) / (scale[..., :, None] * scale[..., None, :]), dim=(-2, -1)
    )
    return torch.maximum(mean_gap, cov_gap)


def _unpack(theta: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[R, D + D²]`` unconstrained parameters → means ``[R, D]`` and the lower Cholesky
    factor ``[R, D, D]`` of the covariance (its diagonal through ``exp``, so positive; the
    upper triangle is unused)."""
    mean, raw = theta[:, :d], theta[:, d:].reshape(-1, d, d)
    factor = torch.tril(raw, -1) + torch.diag_embed(
        torch.exp(torch.diagonal(raw, dim1=-2, dim2=-1))
    )
    return mean, factor


def _start(repeats: int, d: int, at: tuple[float, float]) -> torch.Tensor:
    """Packed parameters (:func:`_unpack`) of ``N(at[0]·1, at[1]·I)`` for every draw."""
    mean = torch.full((repeats, d), at[0], dtype=torch.float64)
    raw = torch.diag_embed(torch.full((repeats, d), 0.5 * math.log(at[1]), dtype=torch.float64))
    return torch.cat([mean, raw.reshape(repeats, d * d)], dim=1)


def _gaussian_nll(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per draw, −(1/N) Σ log q(xᵢ) under ``q`` = the Gaussian of ``theta``: ``[R]``.

    One dimension: ``torch.distributions.Normal``; more: ``MultivariateNormal``.
    """
    d = int(x.shape[-1])
    mean, factor = _unpack(theta, d)
    if d == 1:
        q1 = torch.distributions.Normal(mean[:, 0], factor[:, 0, 0], validate_args=False)
        return -q1.log_prob(x[..., 0].T).mean(dim=0)  # samples on the first axis: [N, R]
    qd = torch.distributions.MultivariateNormal(
        mean[:, None, :], scale_tril=factor[:, None], validate_args=False
    )
    return -qd.log_prob(x).mean(dim=1)


def _empirical_cross_entropy(
    theta: torch.Tensor, sample_mean: torch.Tensor, sample_cov: torch.Tensor
) -> torch.Tensor:
    """Per draw, crossent's cross-entropy H(p̂, q) of the Gaussian ``q`` of ``theta``
    relative to the empirical distribution ``p̂`` of the samples: ``[R]``.

    ``−log q(x)`` of a Gaussian is a quadratic in ``x``, so its expectation under ``p̂``
    depends on ``p̂`` only through the sample mean and the 1/N covariance: H(p̂, q) =
    H(N(x̄, S), q), which ``gaussian_cross_entropy`` (one dimension) or
    ``mvn_cross_entropy`` gives in closed form.
    """
    d = int(sample_mean.shape[-1])
    mean, factor = _unpack(theta, d)
    if d == 1:
        value: torch.Tensor = gaussian_cross_entropy(
            sample_mean[:, 0], sample_cov[:, 0, 0], mean[:, 0], factor[:, 0, 0] ** 2
        )
        return value
    value = mvn_cross_entropy(sample_mean, sample_cov, mean, None, scale_tril_q=factor)
    return value


@dataclass(frozen=True)
class _ContinuousFit:
    """One model (1-D or 2-D Gaussian) at one sample size, over the draws: the largest
    parameter gaps (:func:`_moment_gap`) and the first draw's numbers."""

    model: str
    size: int
    mle_vs_ce: float
    mle_vs_moments: float
    ce_vs_moments: float
    unbiased_vs_moments: float
    bridge: float
    shown: dict[str, list[float]]


def _draw_gaussian(ctx: Context, d: int, n: int, repeats: int) -> torch.Tensor:
    """``[R, N, D]`` samples of the 1-D or the 2-D generator, one seeded draw per repeat."""
    mean = np.array([GAUSSIAN_MEAN]) if d == 1 else np.array(MVN_MEAN)
    cov = np.array([[GAUSSIAN_STD**2]]) if d == 1 else np.array(MVN_COV)
    draws = [
        np.random.default_rng([ctx.seed, d, n, r]).multivariate_normal(mean, cov, size=n)
        for r in range(repeats)
    ]
    return torch.from_numpy(np.stack(draws)).double()


def _fit_gaussians(ctx: Context, d: int, n: int, repeats: int) -> _ContinuousFit:
    """Fit the Gaussian of dimension ``d`` to ``repeats`` draws of ``n`` samples both ways."""
    x = _draw_gaussian(ctx, d, n, repeats)
    sample_mean = x.mean(dim=1)
    centred = x - sample_mean[:, None, :]
    sample_cov = centred.transpose(1, 2) @ centred / n  # the 1/N (biased) covariance
    # The draws are independent problems: their sum is minimised by minimising each.
    mle = _minimise(
        lambda t: _gaussian_nll(t, x).sum(),
        _start(repeats, d, START_MLE),
        tolerance_grad=CONTINUOUS_GRADIENT,
    )
    ce = _minimise(
        lambda t: _empirical_cross_entropy(t, sample_mean, sample_cov).sum(),
        _start(repeats, d, START_CE),
        tolerance_grad=CONTINUOUS_GRADIENT,
    )
    with torch.no_grad():
        (m_mle, l_mle), (m_ce, l_ce) = _unpack(mle, d), _unpack(ce, d)
        cov_mle, cov_ce = l_mle @ l_mle.transpose(1, 2), l_ce @ l_ce.transpose(1, 2)
        probes = torch.randn(repeats, d + d * d, dtype=torch.float64)
        bridge = torch.abs(
            _gaussian_nll(probes, x) - _empirical_cross_entropy(probes, sample_mean, sample_cov)
        )
        unbiased = sample_cov * n / (n - 1)

        def entries(mean: torch.Tensor, cov: torch.Tensor) -> list[float]:
            rows, cols = torch.tril_indices(d, d)
            return [*mean[0].tolist(), *cov[0][rows, cols].tolist()]

        return _ContinuousFit(
            "1-D Gaussian" if d == 1 else f"{d}-D Gaussian, full covariance",
            n,
            float(_moment_gap(m_mle, cov_mle, m_ce, cov_ce).max()),
            float(_moment_gap(m_mle, cov_mle, sample_mean, sample_cov).max()),
            float(_moment_gap(m_ce, cov_ce, sample_mean, sample_cov).max()),
            float(_moment_gap(sample_mean, unbiased, sample_mean, sample_cov).min()),
            float(bridge.max()),
            {
                "sample moments (1/N)": entries(sample_mean, sample_cov),
                "1/(N − 1) covariance": entries(sample_mean, unbiased),
                "maximum likelihood": entries(m_mle, cov_mle),
                "minimum cross-entropy": entries(m_ce, cov_ce),
            },
        )


def _parameter_names(d: int) -> list[str]:
    """``μ``, ``σ²`` (one dimension) or ``μ1, μ2, Σ11, Σ21, Σ22`` (lower triangle, row-major)."""
    if d == 1:
        return ["μ", "σ²"]
    means = [f"μ{j + 1}" for j in range(d)]
    return means + [f"Σ{j + 1}{k + 1}" for j in range(d) for k in range(j + 1)]


@dataclass(frozen=True)
class _ContinuousHalf:
    """What the continuous half of C5 found: its verdict, texts, tables and numbers."""

    verdict: str
    fits: list[_ContinuousFit]
    worst: float
    bridge: float
    tables: list[Table]
    measured: dict[str, object]


def _continuous_half(ctx: Context, repeats: int) -> _ContinuousHalf:
    """Fit a 1-D Gaussian and a 2-D full-covariance Gaussian by maximum likelihood and by
    minimum cross-entropy to the empirical distribution, at each sample size."""
    sizes = CONTINUOUS_SIZES_QUICK if ctx.quick else CONTINUOUS_SIZES_FULL
    fits = []
    for d in (1, 2):
        for n in sizes:
            fits.append(_fit_gaussians(ctx, d, n, repeats))
            ctx.progress.advance()
    worst = max(max(f.mle_vs_ce, f.mle_vs_moments, f.ce_vs_moments) for f in fits)
    bridge = max(f.bridge for f in fits)
    holds = worst <= CONTINUOUS_TOLERANCE and bridge <= BRIDGE_TOLERANCE
    gap_rows = [
        [
            f.model,
            str(f.size),
            f"{f.mle_vs_ce:.1e}",
            f"{f.mle_vs_moments:.1e}",
            f"{f.ce_vs_moments:.1e}",
            f"{f.unbiased_vs_moments:.1e}",
        ]
        for f in fits
    ]
    shown_size = SHOWN_SIZE if SHOWN_SIZE in sizes else sizes[0]
    shown_rows = []
    for d in (1, 2):
        f = next(f for f in fits if f.size == shown_size and f.model.startswith(f"{d}-D"))
        truth = [GAUSSIAN_MEAN, GAUSSIAN_STD**2] if d == 1 else [*MVN_MEAN, 1.5, 0.9, 1.0]
        for i, name in enumerate(_parameter_names(d)):
            shown_rows.append(
                [f"{d}-D {name}", f"{truth[i]:g}", *(f"{v[i]:.9f}" for v in f.shown.values())]
            )
    tables = [
        Table(
            "Continuous half: largest parameter gap over the draws, on the data's scale "
            f"(tolerance {CONTINUOUS_TOLERANCE:g})",
            [
                "model",
                "samples",
                "MLE vs min-CE",
                "MLE vs sample moments",
                "min-CE vs sample moments",
                "1/(N − 1) vs 1/N covariance (smallest)",
            ],
            gap_rows,
        ),
        Table(
            f"Continuous half: the first draw of {shown_size} samples, every parameter",
            ["parameter", "generator", *fits[0].shown],
            shown_rows,
        ),
    ]
    measured: dict[str, object] = {
        "continuous_sample_sizes": list(sizes),
        "continuous_max_parameter_gap": worst,
        "continuous_tolerance": CONTINUOUS_TOLERANCE,
        "continuous_max_objective_difference": bridge,
        "continuous_smallest_unbiased_gap": min(f.unbiased_vs_moments for f in fits),
    }
    return _ContinuousHalf(verdict(holds), fits, worst, bridge, tables, measured)


def c5(ctx: Context) -> Result:
    deterministic(ctx.seed)
    data = ctx.multiclass()
    sizes = C5_SIZES_QUICK if ctx.quick else C5_SIZES_FULL
    repeats = ctx.size(quick=C5_REPEATS_QUICK, full=C5_REPEATS_FULL)
    k = int(data.y_train.max()) + 1
    shape = (repeats, data.n_features + 1, k)
    continuous_sizes = CONTINUOUS_SIZES_QUICK if ctx.quick else CONTINUOUS_SIZES_FULL
    ctx.progress.expect(2 * len(sizes) + 1 + 2 * len(continuous_sizes))

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
        discrete_verdict = HOLDS
    elif same_minimum == DOES_NOT_HOLD or different_parameters or objective_gap > EXACT:
        discrete_verdict = DOES_NOT_HOLD
    else:
        discrete_verdict = INCONCLUSIVE
    continuous = _continuous_half(ctx, repeats)
    # One claim, two halves: it holds where both do, and the weaker half decides otherwise.
    halves = {discrete_verdict, continuous.verdict}
    result_verdict = next(v for v in (DOES_NOT_HOLD, INCONCLUSIVE, HOLDS) if v in halves)
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
        "discrete_verdict": discrete_verdict,
        "continuous_verdict": continuous.verdict,
        **continuous.measured,
    }
    return Result(
        result_verdict,
        f"{repeats} draws per sample size ({', '.join(map(str, sizes))} images), each fitted both "
        f"ways from different random starts. Holds when, at every size, the 95% interval of the "
        f"difference of the two fits' penalised NLL lies within ± {OBJECTIVE_TOLERANCE:g} (the "
        f"optimiser's tolerance: the same minimum), the upper end of the interval of their "
        f"largest relative parameter difference is ≤ {PARAMETER_TOLERANCE:g} (the same "
        f"parameters), and the two objectives agree to {EXACT:g} at random parameters. "
        f"Continuous half: at every sample size ({', '.join(map(str, continuous_sizes))}) and "
        f"draw, the two Gaussian fits, and each fit and the sample mean and 1/N covariance, "
        f"differ by at most {CONTINUOUS_TOLERANCE:g} on the data's scale (means in sample "
        "standard deviations, covariances in units of √(S_jj S_kk)), and the two objectives "
        f"agree to {BRIDGE_TOLERANCE:g} nats at random parameters. The claim holds when both "
        "halves hold; otherwise the weaker half's verdict.",
        measured,
        f"Multinomial logistic regression on random subsets of {data.name}, fitted twice with "
        "L-BFGS in float64 from different random starts: by maximising the likelihood "
        "∏ q(yᵢ|xᵢ) (torch.distributions.Categorical) and by minimising crossent's mean "
        f"softmax_cross_entropy. Both carry the same ridge penalty λ = {L2:g} on every parameter: the "
        "data are linearly separable and softmax is unchanged by a common shift of the "
        "logits, so without it neither objective has a unique minimiser. The draws of one size "
        "are fitted together as one separable problem. Continuous half: "
        f"{repeats} draws per size of N(μ = {GAUSSIAN_MEAN:g}, σ = {GAUSSIAN_STD:g}) and of a "
        f"2-D Gaussian (mean {MVN_MEAN}, covariance {MVN_COV}), each fitted with L-BFGS in "
        "float64 (means free, covariance through a Cholesky factor with a log-diagonal) by "
        "maximising the likelihood of the samples (torch.distributions Normal and "
        "MultivariateNormal) from N(0, I), and by minimising crossent's "
        "gaussian_cross_entropy / mvn_cross_entropy of the model relative to the empirical "
        "distribution from N(−5, 25·I). For a Gaussian model −log q(x) is quadratic in x, so "
        "that cross-entropy depends on the samples only through their mean and 1/N covariance "
        "(checked against the mean NLL at random parameters).",
        f"At every sample size the two fits reach the same penalised NLL (largest |difference| "
        f"{max(max(abs(p.difference.lo), abs(p.difference.hi)) for p in points):.1e} nats, margin "
        f"{OBJECTIVE_TOLERANCE:g}) and parameters that agree to {worst:.1e} (upper 95% bound, "
        f"relative); the objectives are the same function (difference {objective_gap:.1e})."
        + f" Continuous half ({continuous.verdict}): the Gaussian fits by maximum likelihood and by "
        f"minimum cross-entropy agree with each other and with the sample mean and the 1/N "
        f"covariance to {continuous.worst:.1e} at every size and draw (the 1/(N − 1) "
        f"covariance is {continuous.measured['continuous_smallest_unbiased_gap']:.1e} away "
        f"even at {max(continuous_sizes)} samples); the two objectives agree to "
        f"{continuous.bridge:.1e} nats."
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
            ),
            *continuous.tables,
        ],
        headline=f"MLE and min-CE fits agree to {worst:.1e} (relative parameters, upper 95%) at "
        f"{len(sizes)} sample sizes × {repeats} draws; Gaussian fits (1-D, 2-D) equal the sample "
        f"mean and 1/N covariance to {continuous.worst:.1e}",
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
        "log-likelihood and by minimising mean cross-entropy gives the same parameters; for a "
        "Gaussian (1-D, and 2-D with a full covariance) both equal the sample mean and the "
        "biased (1/N) sample covariance.",
        "seeds 000, 002",
        c5,
    ),
]
