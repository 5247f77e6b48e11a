"""Class-balanced weights: Cui et al.'s formula, limits, dtypes, errors."""

from __future__ import annotations

import decimal

import numpy as np
import pytest

import reference as ref
import reference_imbalance as refi
from crossent import class_balanced_weights, softmax_cross_entropy, softmax_focal_loss

COUNTS = [5000, 1200, 300, 40, 7]


@pytest.mark.parametrize("beta", [0.9, 0.99, 0.999, 0.9999])
@pytest.mark.parametrize("dtype", ["int64", "float64"])
def test_matches_cui_et_al(xp, beta, dtype):
    out = class_balanced_weights(xp.asarray(COUNTS, dtype), beta=beta)
    # integer counts give the library's default float: float32 for torch
    out_dtype = "float32" if dtype == "int64" and xp.name == "torch" else "float64"
    ref.assert_result(
        xp, out, refi.cui_class_balanced_weights(COUNTS, beta), dtype=out_dtype, scale=100
    )
    assert float(xp.to_numpy(out).sum()) == pytest.approx(len(COUNTS))


def test_default_beta_and_list_input():
    out = class_balanced_weights(COUNTS)
    np.testing.assert_allclose(out, refi.cui_class_balanced_weights(COUNTS, 0.999), rtol=1e-12)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64


def test_beta_zero_is_no_reweighting(xp):
    ref.assert_result(
        xp, class_balanced_weights(xp.asarray(COUNTS, "float64"), beta=0.0), np.ones(5)
    )


def test_beta_one_is_inverse_frequency_and_the_limit_of_beta_to_one(xp):
    inverse = 1 / np.array(COUNTS, dtype=np.float64)
    expected = inverse / inverse.sum() * len(COUNTS)
    ref.assert_result(xp, class_balanced_weights(xp.asarray(COUNTS, "float64"), beta=1.0), expected)
    near = xp.to_numpy(class_balanced_weights(xp.asarray(COUNTS, "float64"), beta=1 - 1e-9))
    np.testing.assert_allclose(near, expected, rtol=1e-5)


def test_is_exact_for_beta_near_one():
    # 1 - β^n by expm1; Cui et al.'s float64 `1 - beta ** n` loses ~8 digits here
    counts = [10, 1000]
    beta = 1 - 1e-9
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        b = decimal.Decimal(beta)  # the float β exactly
        inverse = [(1 - b) / (1 - b**n) for n in counts]
        expected = [float(v / sum(inverse) * 2) for v in inverse]
    w = np.asarray(class_balanced_weights(np.array(counts), beta=beta))
    np.testing.assert_allclose(w, expected, rtol=1e-13)
    naive = refi.cui_class_balanced_weights(counts, beta)
    assert np.max(np.abs(naive / expected - 1)) > 1e-10


def test_float32_counts_keep_their_dtype_and_integer_counts_get_the_default_float():
    torch = pytest.importorskip("torch")
    assert class_balanced_weights(torch.tensor(COUNTS, dtype=torch.float32)).dtype == torch.float32
    assert class_balanced_weights(torch.tensor(COUNTS)).dtype == torch.get_default_dtype()


def test_ready_for_weight_and_alpha(xp):
    w = class_balanced_weights(xp.asarray(COUNTS, "int64"))
    logits = xp.asarray(np.random.default_rng(0).standard_normal((6, 5)))
    labels = xp.asarray([0, 1, 2, 3, 4, 4], "int64")
    ce = softmax_cross_entropy(logits, labels, weight=w, reduction="sum")
    focal = softmax_focal_loss(logits, labels, alpha=w, gamma=0.0, reduction="sum")
    ref.assert_result(xp, focal, xp.to_numpy(ce))


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_zero_count():
    with pytest.raises(
        ValueError, match=r"`counts` must be positive and finite: class 2 has count 0.0 \(a class"
    ):
        class_balanced_weights(np.array([10, 3, 0, 5]))


def test_negative_count():
    with pytest.raises(
        ValueError, match=r"`counts` must be positive and finite: class 0 has count -1.0"
    ):
        class_balanced_weights(np.array([-1.0, 3.0]))


def test_infinite_count():
    with pytest.raises(
        ValueError, match=r"`counts` must be positive and finite: class 1 has count inf"
    ):
        class_balanced_weights(np.array([1.0, np.inf]))


def test_counts_must_be_one_dimensional():
    with pytest.raises(
        ValueError,
        match=r"`counts` must hold one count per class, shape \[C\] with C >= 1; got shape \(2, 2\).",
    ):
        class_balanced_weights(np.ones((2, 2)))


def test_counts_must_not_be_empty():
    with pytest.raises(
        ValueError,
        match=r"`counts` must hold one count per class, shape \[C\] with C >= 1; got shape \(0,\).",
    ):
        class_balanced_weights(np.array([], dtype=np.float64))


def test_counts_must_be_numeric():
    with pytest.raises(
        TypeError, match=r"`counts` must be an integer or floating-point array; got dtype bool."
    ):
        class_balanced_weights(np.array([True, False]))


def test_beta_out_of_range():
    with pytest.raises(ValueError, match=r"`beta` must be in \[0.0, 1.0\]; got beta=1.5."):
        class_balanced_weights([1, 2], beta=1.5)


def test_beta_not_a_number():
    with pytest.raises(TypeError, match=r"`beta` must be a number; got beta=None."):
        class_balanced_weights([1, 2], beta=None)
