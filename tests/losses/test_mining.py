"""Hard negative mining (SSD) and OHEM: ssd.pytorch's rule, properties, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import reference_imbalance as refi
from crossent import hard_negative_mining, ohem, softmax_cross_entropy

B, A = 4, 40


def losses_of(seed: int, shape: tuple[int, ...] = (B, A)) -> np.ndarray:
    return np.random.default_rng(seed).exponential(1.0, size=shape) + 1e-3  # distinct, > 0


def positives_of(seed: int, shape: tuple[int, ...] = (B, A), rate: float = 0.1) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) < rate


def assert_mask(lib, out, expected) -> None:
    assert lib.is_native(out), f"expected a {lib.name} array, got {type(out)}"
    assert str(out.dtype).rsplit(".", 1)[-1] == "bool"
    assert tuple(out.shape) == expected.shape
    np.testing.assert_array_equal(lib.to_numpy(out), expected)


# ---------------------------------------------------------------------------------------
# Against ssd.pytorch and the sort-based rule
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [1, 3])
def test_matches_ssd_pytorch(xp, ratio):
    losses, pos = losses_of(0), positives_of(1)
    pos[0, :3] = True  # every row has a positive and enough negatives for the ratio
    out = hard_negative_mining(xp.asarray(losses), xp.asarray(pos, "bool"), neg_pos_ratio=ratio)
    assert_mask(xp, out, refi.ssd_pytorch_mining(losses, pos, ratio))


@pytest.mark.parametrize(
    "options", [{}, {"neg_pos_ratio": 2.5}, {"min_negatives": 5}, {"neg_pos_ratio": 0}], ids=str
)
def test_matches_the_sort_based_rule(xp, options):
    losses = losses_of(2, (2, 3, 16))
    pos = positives_of(3, (2, 3, 16), rate=0.2)
    pos[0, 0] = False  # a row without positives
    out = hard_negative_mining(xp.asarray(losses), xp.asarray(pos, "bool"), **options)
    assert_mask(xp, out, refi.hard_negative_mining(losses, pos, **options))


def test_caps_at_the_row_negatives_where_ssd_pytorch_would_take_a_positive():
    losses = np.array([[0.5, 0.1, 0.2, 0.3]])
    pos = np.array([[True, True, False, False]])  # 2 positives, ratio 3 → 6, only 2 negatives
    out = hard_negative_mining(losses, pos)
    np.testing.assert_array_equal(out, [[True, True, True, True]])
    ssd = refi.ssd_pytorch_mining(losses, pos, 3)  # k = A - 1 = 3: counts the same here
    np.testing.assert_array_equal(ssd, out)


def test_rows_without_positives_get_min_negatives():
    losses = np.array([[0.1, 0.9, 0.5, 0.7, 0.3]])
    pos = np.zeros((1, 5), dtype=bool)
    np.testing.assert_array_equal(hard_negative_mining(losses, pos), [[False] * 5])
    np.testing.assert_array_equal(
        hard_negative_mining(losses, pos, min_negatives=2), [[False, True, False, True, False]]
    )


def test_ties_go_to_the_earlier_anchor(xp):
    losses = np.array([[1.0, 2.0, 2.0, 2.0, 0.0, 5.0]])
    pos = np.array([[False, False, False, False, False, True]])
    out = hard_negative_mining(xp.asarray(losses), xp.asarray(pos, "bool"), neg_pos_ratio=2)
    assert_mask(xp, out, np.array([[False, True, True, False, False, True]]))


def test_mask_composes_with_a_loss_and_carries_its_gradient():
    torch = pytest.importorskip("torch")
    logits = torch.tensor(np.random.default_rng(4).standard_normal((B, A, 3)), requires_grad=True)
    labels = torch.tensor(np.random.default_rng(5).integers(0, 3, size=(B, A)))
    per_anchor = softmax_cross_entropy(logits, labels, reduction="none")
    mask = hard_negative_mining(per_anchor, labels > 0)
    loss = (per_anchor * mask).sum() / mask.sum()
    loss.backward()
    unselected = ~mask
    assert bool((logits.grad[unselected] == 0).all()) and bool(
        (logits.grad[mask].abs().sum(-1) > 0).all()
    )


def test_works_under_jax_jit():
    jax = pytest.importorskip("jax")
    losses, pos = losses_of(6), positives_of(7)
    out = jax.jit(lambda a, b: hard_negative_mining(a, b, min_negatives=1))(
        jax.numpy.asarray(losses), jax.numpy.asarray(pos)
    )
    np.testing.assert_array_equal(
        np.asarray(out), refi.hard_negative_mining(losses, pos, min_negatives=1)
    )


@settings(max_examples=50, deadline=None)
@given(
    losses=arrays(np.float64, (3, 12), elements=st.floats(0, 10)),
    pos=arrays(np.bool_, (3, 12)),
    ratio=st.integers(0, 5),
    min_negatives=st.integers(0, 4),
)
def test_keeps_every_positive_and_the_hardest_negatives(losses, pos, ratio, min_negatives):
    out = np.asarray(
        hard_negative_mining(losses, pos, neg_pos_ratio=ratio, min_negatives=min_negatives)
    )
    assert np.all(out[pos])
    for row_l, row_p, row_m in zip(losses, pos, out, strict=True):
        n_pos, n_neg = int(row_p.sum()), int((~row_p).sum())
        chosen = row_m & ~row_p
        assert chosen.sum() == min(max(ratio * n_pos, min_negatives), n_neg)
        if min_negatives == 0:
            assert chosen.sum() <= ratio * n_pos
        left = ~row_m & ~row_p
        if chosen.any() and left.any():
            assert row_l[chosen].min() >= row_l[left].max()


# ---------------------------------------------------------------------------------------
# OHEM
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 7, A])
def test_ohem_k(xp, k):
    losses = losses_of(8)
    assert_mask(xp, ohem(xp.asarray(losses), k=k), refi.ohem(losses, k))


@pytest.mark.parametrize("fraction", [0.01, 0.25, 1.0])
def test_ohem_fraction_rounds_up(xp, fraction):
    losses = losses_of(9, (A,))
    assert_mask(
        xp, ohem(xp.asarray(losses), fraction=fraction), refi.ohem(losses, math.ceil(fraction * A))
    )


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_positives_must_be_boolean():
    with pytest.raises(
        TypeError,
        match=r"`positives` must be a boolean mask \(e.g. `labels > 0`\); got dtype int64.",
    ):
        hard_negative_mining(np.ones(4), np.array([1, 0, 0, 0]))


def test_positives_shape():
    with pytest.raises(
        ValueError,
        match=r"`positives` must have shape \(2, 4\) \(the shape of `losses`\); got \(4,\).",
    ):
        hard_negative_mining(np.ones((2, 4)), np.zeros(4, dtype=bool))


def test_losses_must_be_floating():
    with pytest.raises(
        TypeError, match=r"`losses` must be a floating-point array; got dtype int64."
    ):
        ohem(np.array([1, 2, 3]), k=1)


def test_losses_need_an_axis():
    with pytest.raises(
        ValueError,
        match=r"`losses` must have at least one axis \(the anchors of a row\); got a 0-d array.",
    ):
        hard_negative_mining(np.float64(1.0), np.bool_(True))


def test_negative_ratio():
    with pytest.raises(
        ValueError, match=r"`neg_pos_ratio` must be non-negative; got neg_pos_ratio=-1."
    ):
        hard_negative_mining(np.ones(4), np.zeros(4, dtype=bool), neg_pos_ratio=-1)


def test_min_negatives_must_be_an_integer():
    with pytest.raises(
        TypeError, match=r"`min_negatives` must be an integer; got min_negatives=1.5."
    ):
        hard_negative_mining(np.ones(4), np.zeros(4, dtype=bool), min_negatives=1.5)


def test_min_negatives_must_be_non_negative():
    with pytest.raises(
        ValueError, match=r"`min_negatives` must be non-negative; got min_negatives=-2."
    ):
        hard_negative_mining(np.ones(4), np.zeros(4, dtype=bool), min_negatives=-2)


@pytest.mark.parametrize("kwargs", [{}, {"k": 1, "fraction": 0.5}])
def test_ohem_needs_exactly_one_of_k_and_fraction(kwargs):
    with pytest.raises(ValueError, match=r"give exactly one of `k` and `fraction`"):
        ohem(np.ones(4), **kwargs)


def test_ohem_k_out_of_range():
    with pytest.raises(
        ValueError, match=r"`k` must be in \[0, 4\] for rows of 4 elements; got k=5."
    ):
        ohem(np.ones(4), k=5)


def test_ohem_k_must_be_an_integer():
    with pytest.raises(TypeError, match=r"`k` must be an integer; got k=2.0."):
        ohem(np.ones(4), k=2.0)


def test_ohem_fraction_zero():
    with pytest.raises(ValueError, match=r"`fraction` must be in \(0, 1\]; got fraction=0.0."):
        ohem(np.ones(4), fraction=0.0)


def test_ohem_fraction_above_one():
    with pytest.raises(ValueError, match=r"`fraction` must be in \[0.0, 1.0\]; got fraction=1.5."):
        ohem(np.ones(4), fraction=1.5)
