"""crossent.calibration against torchmetrics, scikit-learn and naive formulas."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossent import calibration as cal


def _multiclass(seed: int, n: int = 400, c: int = 5, scale: float = 3.0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((n, c))
    labels = rng.integers(0, c, n)
    return logits, labels


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _naive_ece(conf: np.ndarray, hit: np.ndarray, n_bins: int) -> float:
    """Loop over bins ``(k/B, (k+1)/B]`` written from the definition."""
    total = 0.0
    for k in range(n_bins):
        lo, hi = k / n_bins, (k + 1) / n_bins
        inside = (conf > lo) & (conf <= hi) if k else (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(conf[inside].mean() - hit[inside].mean())
    return total


# --- agreement with torchmetrics -------------------------------------------------------


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("n_bins", [5, 15])
def test_multiclass_matches_torchmetrics(norm: str, n_bins: int) -> None:
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.classification")
    logits, labels = _multiclass(0)
    probs = _softmax(logits)
    expected = tm.multiclass_calibration_error(
        torch.tensor(probs), torch.tensor(labels), num_classes=5, n_bins=n_bins, norm=norm
    )
    got = cal.calibration_error(probs, labels, n_bins=n_bins, norm=norm)
    assert isinstance(got, (np.ndarray, np.generic)) and got.shape == () and got.dtype == np.float64
    assert abs(float(got) - float(expected)) < 1e-6
    from_logits = cal.calibration_error(logits, labels, from_logits=True, n_bins=n_bins, norm=norm)
    assert abs(float(from_logits) - float(expected)) < 1e-6


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_binary_matches_torchmetrics(norm: str) -> None:
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.classification")
    rng = np.random.default_rng(1)
    p = rng.uniform(0.001, 0.999, 500)
    y = (rng.uniform(size=500) < p**1.5).astype(np.int64)
    expected = tm.binary_calibration_error(torch.tensor(p), torch.tensor(y), n_bins=10, norm=norm)
    got = cal.calibration_error(p, y, n_bins=10, norm=norm)
    assert abs(float(got) - float(expected)) < 1e-6


def test_confidence_one_falls_in_last_bin() -> None:
    # torchmetrics opens an extra bin for 1.0; the closed-right bins put it with (0.9, 1].
    conf = np.array([1.0, 0.95, 0.05])
    y = np.array([0, 1, 0])
    d = cal.reliability_diagram(conf, y, n_bins=10)
    assert d.count[-1] == 2 and d.count[0] == 1
    assert float(d.confidence[-1]) == pytest.approx(0.975)
    assert float(d.accuracy[-1]) == pytest.approx(0.5)
    assert float(cal.calibration_error(conf, y, n_bins=10)) == pytest.approx(
        _naive_ece(conf, y.astype(float), 10)
    )


def test_edge_values_go_to_the_bin_they_close() -> None:
    d = cal.reliability_diagram(np.array([0.0, 0.5, 0.25]), np.array([0, 1, 1]), n_bins=2)
    np.testing.assert_array_equal(d.count, [3.0, 0.0])


# --- agreement with scikit-learn -------------------------------------------------------


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_diagram_matches_calibration_curve(strategy: str) -> None:
    sk = pytest.importorskip("sklearn.calibration")
    rng = np.random.default_rng(2)
    p = rng.beta(2, 3, 300)
    y = (rng.uniform(size=300) < p).astype(np.int64)
    prob_true, prob_pred = sk.calibration_curve(y, p, n_bins=8, strategy=strategy)
    d = cal.reliability_diagram(p, y, n_bins=8, binning=strategy)
    filled = d.count > 0
    np.testing.assert_allclose(d.accuracy[filled], prob_true, atol=1e-12)
    np.testing.assert_allclose(d.confidence[filled], prob_pred, atol=1e-12)
    assert d.count.sum() == 300 and d.edges.shape == (9,)
    if strategy == "quantile":
        np.testing.assert_allclose(d.edges, np.percentile(p, np.linspace(0, 100, 9)))


def test_brier_matches_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    p = rng.uniform(size=200)
    y = rng.integers(0, 2, 200)
    assert abs(float(cal.brier_score(p, y)) - metrics.brier_score_loss(y, p)) < 1e-12
    logits, labels = _multiclass(4)
    probs = _softmax(logits)
    naive = np.mean(np.sum((probs - np.eye(5)[labels]) ** 2, axis=1))
    assert abs(float(cal.brier_score(logits, labels, from_logits=True)) - naive) < 1e-12


def test_quantile_ece_matches_naive_equal_mass() -> None:
    logits, labels = _multiclass(5, n=300)
    probs = _softmax(logits)
    conf, hit = probs.max(1), (probs.argmax(1) == labels).astype(float)
    edges = np.percentile(conf, np.linspace(0, 100, 11))
    idx = np.searchsorted(edges[1:-1], conf)
    naive = sum(
        (idx == k).mean() * abs(conf[idx == k].mean() - hit[idx == k].mean())
        for k in range(10)
        if (idx == k).any()
    )
    got = cal.calibration_error(probs, labels, n_bins=10, binning="quantile")
    assert abs(float(got) - naive) < 1e-12


def test_classwise_is_mean_of_one_vs_rest() -> None:
    logits, labels = _multiclass(6, c=4)
    probs = _softmax(logits)
    per_class = [_naive_ece(probs[:, c], (labels == c).astype(float), 15) for c in range(4)]
    got = cal.calibration_error(probs, labels, classwise=True)
    assert abs(float(got) - np.mean(per_class)) < 1e-12


def test_class_axis_moves() -> None:
    logits, labels = _multiclass(7, n=60)
    moved = np.moveaxis(logits.reshape(6, 10, 5), -1, 1)
    expected = cal.calibration_error(logits, labels, from_logits=True, norm="l2")
    got = cal.calibration_error(moved, labels.reshape(6, 10), from_logits=True, axis=1, norm="l2")
    assert float(got) == pytest.approx(float(expected), abs=1e-12)


# --- every array library, jit ----------------------------------------------------------


def test_same_library_out(xp: Any) -> None:
    logits, labels = _multiclass(8, n=100)
    z, y = xp.asarray(logits), xp.asarray(labels, "int64")
    for fn in (cal.calibration_error, cal.brier_score):
        got = fn(z, y, from_logits=True)
        assert xp.is_native(got) and tuple(got.shape) == ()
        assert got.dtype == xp.dtype("float64")
        assert float(xp.to_numpy(got)) == pytest.approx(float(fn(logits, labels, from_logits=True)))
    d = cal.reliability_diagram(z, y, from_logits=True, binning="quantile")
    ref = cal.reliability_diagram(logits, labels, from_logits=True, binning="quantile")
    for a, b in zip(d, ref, strict=True):
        assert xp.is_native(a)
        np.testing.assert_allclose(xp.to_numpy(a), b, atol=1e-12)
    dec = cal.brier_decomposition(z, y, from_logits=True)
    ref_dec = cal.brier_decomposition(logits, labels, from_logits=True)
    for a, b in zip(dec, ref_dec, strict=True):
        assert float(xp.to_numpy(a)) == pytest.approx(float(b), abs=1e-12)


def test_float32_stays_float32(xp: Any) -> None:
    logits, labels = _multiclass(9, n=50)
    got = cal.calibration_error(
        xp.asarray(logits, "float32"), xp.asarray(labels, "int64"), from_logits=True
    )
    assert got.dtype == xp.dtype("float32")


@pytest.mark.parametrize("binning", ["uniform", "quantile"])
def test_jit_on_jax(binning: str) -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    logits, labels = _multiclass(10, n=120)
    z, y = jnp.asarray(logits, dtype=jnp.float32), jnp.asarray(labels)

    @jax.jit
    def metrics(z: Any, y: Any) -> Any:
        return (
            cal.calibration_error(z, y, from_logits=True, binning=binning),
            cal.calibration_error(z, y, from_logits=True, norm="max", classwise=True),
            cal.brier_decomposition(z, y, from_logits=True, binning=binning).reliability,
            cal.reliability_diagram(z, y, from_logits=True, binning=binning).count,
        )

    got = metrics(z, y)
    z32 = logits.astype(np.float32)
    assert float(got[0]) == pytest.approx(
        float(cal.calibration_error(z32, labels, from_logits=True, binning=binning)), abs=1e-6
    )
    assert float(got[1]) == pytest.approx(
        float(cal.calibration_error(z32, labels, from_logits=True, norm="max", classwise=True)),
        abs=1e-6,
    )
    assert float(got[3].sum()) == 120


# --- properties ------------------------------------------------------------------------


@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 60),
    c=st.integers(2, 6),
    n_bins=st.integers(1, 20),
    norm=st.sampled_from(["l1", "l2", "max"]),
    binning=st.sampled_from(["uniform", "quantile"]),
)
def test_error_in_unit_interval(
    seed: int, n: int, c: int, n_bins: int, norm: str, binning: str
) -> None:
    logits, labels = _multiclass(seed, n=n, c=c, scale=5.0)
    e = float(
        cal.calibration_error(
            logits, labels, from_logits=True, n_bins=n_bins, norm=norm, binning=binning
        )
    )
    assert 0.0 <= e <= 1.0
    l1 = float(
        cal.calibration_error(logits, labels, from_logits=True, n_bins=n_bins, binning=binning)
    )
    mce = float(
        cal.calibration_error(
            logits, labels, from_logits=True, n_bins=n_bins, norm="max", binning=binning
        )
    )
    assert l1 <= e + 1e-12 if norm != "l1" else True
    assert l1 <= mce + 1e-12


@given(seed=st.integers(0, 2**16))
def test_calibrated_forecaster_has_small_error(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=20000)
    y = (rng.uniform(size=20000) < p).astype(np.int64)
    assert float(cal.calibration_error(p, y, n_bins=10)) < 0.03
    over = np.clip(p + 0.2 * (p > 0.5) - 0.2 * (p <= 0.5), 0, 1)  # an over-confident one
    assert float(cal.calibration_error(over, y, n_bins=10)) > 0.1


@given(seed=st.integers(0, 2**16), n_bins=st.integers(2, 10))
def test_decomposition_exact_for_bin_constant_forecasts(seed: int, n_bins: int) -> None:
    rng = np.random.default_rng(seed)
    centres = (np.arange(n_bins) + 0.5) / n_bins  # one forecast value per bin
    p = centres[rng.integers(0, n_bins, 300)]
    y = (rng.uniform(size=300) < p**2).astype(np.int64)
    rel, res, unc = cal.brier_decomposition(p, y, n_bins=n_bins)
    assert float(rel - res + unc) == pytest.approx(float(cal.brier_score(p, y)), abs=1e-12)
    base = y.mean()
    assert float(unc) == pytest.approx(base * (1 - base), abs=1e-12)


def test_decomposition_multiclass_bin_constant() -> None:
    rng = np.random.default_rng(11)
    rows = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4]])
    probs = rows[rng.integers(0, 3, 200)]
    labels = rng.integers(0, 3, 200)
    # with 100 bins every distinct forecast value of a class has a bin of its own
    rel, res, unc = cal.brier_decomposition(probs, labels, n_bins=100)
    assert float(rel - res + unc) == pytest.approx(float(cal.brier_score(probs, labels)), abs=1e-12)


# --- errors ----------------------------------------------------------------------------


def test_errors() -> None:
    probs = np.array([[0.5, 0.5], [0.2, 0.8]])
    labels = np.array([0, 1])
    with pytest.raises(ValueError, match="`n_bins` must be a positive integer; got n_bins=0"):
        cal.calibration_error(probs, labels, n_bins=0)
    with pytest.raises(TypeError, match="`n_bins` must be an integer"):
        cal.calibration_error(probs, labels, n_bins=2.5)
    with pytest.raises(ValueError, match="`norm` must be one of"):
        cal.calibration_error(probs, labels, norm="l3")
    with pytest.raises(ValueError, match="`binning` must be one of"):
        cal.reliability_diagram(probs, labels, binning="equal")
    with pytest.raises(ValueError, match="`labels`: class index 2 is out of range"):
        cal.calibration_error(probs, np.array([0, 2]))
    with pytest.raises(ValueError, match="`pred` must hold probabilities"):
        cal.brier_score(np.array([1.5, 0.2]), np.array([1, 0]))
    with pytest.raises(ValueError, match="must be 0 or 1"):
        cal.brier_score(np.array([0.5, 0.2]), np.array([2, 0]))
    with pytest.raises(ValueError, match="`labels` must have shape"):
        cal.calibration_error(probs, np.array([0, 1, 1]))
    with pytest.raises(TypeError, match="`pred` must be a floating-point array"):
        cal.calibration_error(np.array([[1, 0]]), np.array([0]))
    with pytest.raises(ValueError, match="must sum to 1"):
        cal.calibration_error(np.array([[0.5, 0.9]]), np.array([0]))
    assert not math.isnan(
        float(cal.calibration_error(np.array([[0.5, 0.9]]), np.array([0]), validate=False))
    )


# --- calibrators -----------------------------------------------------------------------


def _sampled(seed: int, n: int = 1500, c: int = 4, scale: float = 2.5) -> tuple[Any, Any]:
    """Logits ``scale`` times sharper than the distribution the labels are drawn from."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c)) * 1.5
    p = _softmax(z)
    y = (p.cumsum(axis=1) < rng.uniform(size=(n, 1))).sum(axis=1)
    return scale * z, np.minimum(y, c - 1)


def _nll(z: np.ndarray, y: np.ndarray) -> float:
    from scipy.special import log_softmax

    return float(-np.mean(log_softmax(z, axis=1)[np.arange(len(y)), y]))


@pytest.mark.parametrize("scale", [0.4, 1.0, 2.5])
def test_fitted_temperature_matches_brute_force(scale: float) -> None:
    optimize = pytest.importorskip("scipy.optimize")
    z, y = _sampled(12, scale=scale)
    brute = optimize.minimize_scalar(
        lambda t: _nll(z / t, y), bounds=(0.01, 100.0), method="bounded", options={"xatol": 1e-9}
    ).x
    t = cal.fit_temperature(z, y)
    assert abs(t - brute) < 1e-4
    assert abs(t - scale) < 0.25 * scale  # the labels were drawn at temperature `scale`


def test_fit_temperature_every_library_and_axis(xp: Any) -> None:
    z, y = _sampled(13, n=300)
    expected = cal.fit_temperature(z, y)
    got = cal.fit_temperature(
        xp.asarray(np.moveaxis(z.reshape(3, 100, 4), -1, 0)),
        xp.asarray(y.reshape(3, 100), "int64"),
        axis=0,
    )
    assert isinstance(got, float) and got == pytest.approx(expected, rel=1e-9)


def test_temperature_bounds_on_degenerate_data() -> None:
    z = np.array([[3.0, 0.0], [0.0, 3.0]])
    assert cal.fit_temperature(z, np.array([0, 1])) == pytest.approx(1e-4)  # separable
    assert cal.fit_temperature(z, np.array([1, 0])) == pytest.approx(1e4)  # always wrong


def test_temperature_scaling_lowers_nll_and_keeps_argmax(xp: Any) -> None:
    z, y = _sampled(14)
    ts = cal.TemperatureScaling().fit(xp.asarray(z), xp.asarray(y, "int64"))
    out = ts(xp.asarray(z, "float32"))
    assert xp.is_native(out) and out.dtype == xp.dtype("float32")
    calibrated = xp.to_numpy(out)
    np.testing.assert_array_equal(calibrated.argmax(1), z.argmax(1))
    assert _nll(calibrated, y) < _nll(z, y) - 0.05
    before = float(cal.calibration_error(z, y, from_logits=True))
    after = float(cal.calibration_error(calibrated, y, from_logits=True))
    assert after < before / 2


@given(seed=st.integers(0, 2**16), scale=st.floats(0.05, 20.0))
def test_temperature_never_changes_argmax(seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    z = scale * rng.standard_normal((40, 5))
    y = rng.integers(0, 5, 40)
    ts = cal.TemperatureScaling().fit(z, y)
    assert ts.temperature > 0
    np.testing.assert_array_equal(ts(z).argmax(1), z.argmax(1))


def test_vector_scaling_can_change_argmax() -> None:
    vs = cal.VectorScaling().load_state_dict(
        {"method": "vector", "weight": [[1.0, 0.0], [0.0, 3.0]], "bias": [0.0, 0.0]}
    )
    assert vs(np.array([[2.0, 1.0]])).argmax() == 1


def test_nested_calibrators_fit_at_least_as_well() -> None:
    z, y = _sampled(15, n=800)
    t = _nll(cal.TemperatureScaling().fit(z, y)(z), y)
    vector = cal.VectorScaling().fit(z, y)
    v = _nll(vector(z), y)
    matrix = cal.MatrixScaling().fit(z, y)
    m = _nll(matrix(z), y)
    assert m <= v + 1e-7 <= t + 2e-7
    # at the optimum the gradient of the mean NLL in the bias is the mean residual: 0
    residual = _softmax(matrix(z)) - np.eye(4)[y]
    np.testing.assert_allclose(residual.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(residual.T @ z / len(y), 0.0, atol=1e-6)


def test_matrix_regularisation_pulls_off_diagonal_to_zero() -> None:
    z, y = _sampled(16, n=300)
    free = cal.MatrixScaling().fit(z, y).weight
    tied = cal.MatrixScaling(off_diagonal_l2=1e3, bias_l2=1e3).fit(z, y)
    off = ~np.eye(4, dtype=bool)
    assert np.abs(tied.weight[off]).max() < 0.1 * np.abs(free[off]).max()
    assert np.abs(tied.bias).max() < 0.05


def test_state_dict_round_trip(xp: Any) -> None:
    import json

    z, y = _sampled(17, n=300)
    for cls in (cal.TemperatureScaling, cal.VectorScaling, cal.MatrixScaling):
        fitted = cls().fit(z, y)
        restored = cls().load_state_dict(json.loads(json.dumps(fitted.state_dict())))
        out = restored(xp.asarray(z))
        assert xp.is_native(out)
        np.testing.assert_allclose(xp.to_numpy(out), fitted(z), atol=1e-12)


def test_calibrator_errors() -> None:
    with pytest.raises(ValueError, match="is not fitted"):
        cal.MatrixScaling()(np.zeros((1, 2)))
    with pytest.raises(
        ValueError, match="`state` must be a vector scaling state; got method='matrix'"
    ):
        cal.VectorScaling().load_state_dict({"method": "matrix"})
    with pytest.raises(ValueError, match="`temperature` must be positive"):
        cal.TemperatureScaling().load_state_dict({"method": "temperature", "temperature": 0.0})
    with pytest.raises(ValueError, match="`off_diagonal_l2` must be non-negative"):
        cal.MatrixScaling(off_diagonal_l2=-1.0)
    with pytest.raises(ValueError, match="`logits` must have a class axis"):
        cal.fit_temperature(np.array([0.5, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="`logits` must be finite"):
        cal.fit_temperature(np.array([[np.nan, 0.0]]), np.array([0]))
    fitted = cal.VectorScaling().fit(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1]))
    with pytest.raises(ValueError, match="`logits` must have 2 classes along axis -1"):
        fitted(np.zeros((1, 3)))
