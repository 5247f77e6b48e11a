"""Closed-form gradients against finite differences, torch autograd and jax.grad."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import crossent
import reference as ref
from crossent import grad

N, C = 6, 4
IMAGE = (2, C, 3, 2)
REDUCTIONS = ["none", "mean", "sum"]
WEIGHT = np.array([0.5, 2.0, 1.0, 0.25])
POS_WEIGHT = np.array([3.0, 0.5, 1.0, 10.0])
SAMPLE_WEIGHT = np.linspace(0.5, 2.0, N)[:, None] * np.ones((N, C))
FD_TOL = {"rtol": 1e-6, "atol": 1e-8}
"""Central differences with step 1e-6 in float64 are good to about 1e-9."""
AUTOGRAD_TOL = {"rtol": 1e-11, "atol": 1e-13}


def logits_of(seed: int, shape: tuple[int, ...] = (N, C)) -> np.ndarray:
    return 2.0 * np.random.default_rng(seed).standard_normal(shape)


def labels_of(seed: int, shape: tuple[int, ...] = (N,), ignored: int = 2) -> np.ndarray:
    y = np.random.default_rng(seed).integers(0, C, size=shape)
    y.reshape(-1)[:ignored] = -100
    return y


def dirichlet_of(seed: int, shape: tuple[int, ...] = (N, C), axis: int = -1) -> np.ndarray:
    t = np.random.default_rng(seed).dirichlet(np.ones(shape[axis]), size=np.delete(shape, axis))
    return np.moveaxis(t, -1, axis)


SOFTMAX_OPTIONS = [
    dict(zip(("weight", "label_smoothing", "z_loss", "logit_softcap"), combo, strict=True))
    for combo in itertools.product([None, WEIGHT], [0.0, 0.2], [0.0, 1e-2], [None, 3.0])
]
SIGMOID_OPTIONS = [
    dict(zip(("weight", "pos_weight", "label_smoothing"), combo, strict=True))
    for combo in itertools.product([None, SAMPLE_WEIGHT, WEIGHT], [None, POS_WEIGHT], [0.0, 0.1])
]


def option_id(options: dict) -> str:
    parts = []
    for key, value in options.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{key}{list(value.shape)}")
        elif value:
            parts.append(f"{key}={value}")
    return "-".join(parts) or "plain"


def in_lib(xp, options: dict) -> dict:
    return {k: xp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}


def softmax_case(targets: str, layout: str):
    """Logits, targets (indices with some ignored, or probabilities) and the class axis."""
    shape, axis = ((N, C), -1) if layout == "flat" else (IMAGE, 1)
    z = logits_of(0, shape)
    if targets == "indices":
        y = labels_of(1, shape[:1] + shape[2:])
    else:
        y = dirichlet_of(1, shape, axis)
    return z, y, axis


def target_in(xp, y: np.ndarray):
    return xp.asarray(y, "int64") if np.issubdtype(y.dtype, np.integer) else xp.asarray(y)


# ---------------------------------------------------------------------------------------
# softmax_cross_entropy
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", SOFTMAX_OPTIONS, ids=option_id)
@pytest.mark.parametrize("targets", ["indices", "probabilities"])
def test_softmax_grad_vs_finite_differences(xp, options, targets):
    z, y, _ = softmax_case(targets, "flat")
    for reduction in REDUCTIONS:
        g = grad.softmax_cross_entropy(
            xp.asarray(z), target_in(xp, y), **in_lib(xp, options), reduction=reduction
        )
        fd = ref.numerical_gradient(
            lambda v, reduction=reduction: ref.softmax_cross_entropy(
                v, y, **options, reduction=reduction
            ),
            z,
        )
        assert xp.is_native(g) and g.dtype == xp.dtype("float64") and tuple(g.shape) == z.shape
        np.testing.assert_allclose(xp.to_numpy(g), fd, **FD_TOL)


@pytest.mark.parametrize("targets", ["indices", "probabilities"])
def test_softmax_grad_segmentation_layout_vs_finite_differences(xp, targets):
    z, y, axis = softmax_case(targets, "image")
    options = {"weight": WEIGHT, "label_smoothing": 0.1, "z_loss": 1e-2, "logit_softcap": 3.0}
    for reduction in REDUCTIONS:
        g = grad.softmax_cross_entropy(
            xp.asarray(z), target_in(xp, y), axis=axis, **in_lib(xp, options), reduction=reduction
        )
        fd = ref.numerical_gradient(
            lambda v, reduction=reduction: ref.softmax_cross_entropy(
                v, y, axis=axis, **options, reduction=reduction
            ),
            z,
        )
        assert xp.is_native(g) and tuple(g.shape) == z.shape
        np.testing.assert_allclose(xp.to_numpy(g), fd, **FD_TOL)


@pytest.mark.parametrize("options", SOFTMAX_OPTIONS, ids=option_id)
@pytest.mark.parametrize("layout", ["flat", "image"])
@pytest.mark.parametrize("targets", ["indices", "probabilities"])
def test_softmax_grad_vs_torch_autograd(options, layout, targets):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z_np, y_np, axis = softmax_case(targets, layout)
    y = torch.tensor(y_np)
    opts = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    for reduction in REDUCTIONS:
        z = torch.tensor(z_np, requires_grad=True)
        loss = crossent.softmax_cross_entropy(z, y, axis=axis, **opts, reduction=reduction)
        (autograd,) = torch.autograd.grad(loss.sum(), z)
        closed = grad.softmax_cross_entropy(z.detach(), y, axis=axis, **opts, reduction=reduction)
        torch.testing.assert_close(closed, autograd, **AUTOGRAD_TOL)
        if options["z_loss"] == 0 and options["logit_softcap"] is None:
            # The same gradient from PyTorch's own cross_entropy (class dim 1).
            z_torch = torch.tensor(z_np, requires_grad=True)
            torch_loss = F.cross_entropy(
                z_torch,
                y,
                weight=opts["weight"],
                label_smoothing=options["label_smoothing"],
                reduction=reduction,
            )
            (torch_grad,) = torch.autograd.grad(torch_loss.sum(), z_torch)
            torch.testing.assert_close(closed, torch_grad, **AUTOGRAD_TOL)


@pytest.mark.parametrize("options", SOFTMAX_OPTIONS[::3], ids=option_id)
@pytest.mark.parametrize("targets", ["indices", "probabilities"])
def test_softmax_grad_vs_jax_grad(options, targets):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z_np, y_np, axis = softmax_case(targets, "image")
    y = jnp.asarray(y_np)
    opts = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    for reduction in REDUCTIONS:

        def total(z, reduction=reduction):
            return jnp.sum(
                crossent.softmax_cross_entropy(z, y, axis=axis, **opts, reduction=reduction)
            )

        by_jax = jax.grad(total)(jnp.asarray(z_np))
        closed = grad.softmax_cross_entropy(
            jnp.asarray(z_np), y, axis=axis, **opts, reduction=reduction
        )
        np.testing.assert_allclose(np.asarray(closed), np.asarray(by_jax), **AUTOGRAD_TOL)


def test_claim_c7_softmax_grad_is_q_minus_y(xp):
    z, y = logits_of(2), labels_of(3, ignored=0)
    q = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    g = grad.softmax_cross_entropy(xp.asarray(z), xp.asarray(y, "int64"), reduction="sum")
    ref.assert_result(xp, g, q - np.eye(C)[y], scale=10)


def test_categorical_grad_chained_through_softmax_is_softmax_grad():
    z, y = logits_of(4), labels_of(5)
    q = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    dq = grad.categorical_cross_entropy(q, y, weight=WEIGHT)
    # Jacobian of the softmax: dq_j/dz_k = q_j (δ_jk - q_k)
    dz = q * (dq - np.sum(dq * q, axis=-1, keepdims=True))
    np.testing.assert_allclose(
        dz, grad.softmax_cross_entropy(z, y, weight=WEIGHT), rtol=1e-12, atol=1e-14
    )


# ---------------------------------------------------------------------------------------
# categorical_cross_entropy (gradient with respect to the probabilities)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [None, WEIGHT], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("targets", ["indices", "probabilities"])
def test_categorical_grad_vs_finite_differences_and_autograd(xp, weight, targets):
    probs = dirichlet_of(6) * 0.98 + 0.005  # away from 0 and 1, so steps stay in [0, 1]
    y = labels_of(7) if targets == "indices" else dirichlet_of(8)
    w_in = None if weight is None else xp.asarray(weight)
    for reduction in REDUCTIONS:
        g = grad.categorical_cross_entropy(
            xp.asarray(probs), target_in(xp, y), weight=w_in, reduction=reduction
        )
        fd = ref.numerical_gradient(
            lambda p, reduction=reduction: ref.categorical_cross_entropy(
                p, y, weight=weight, reduction=reduction
            ),
            probs,
        )
        assert xp.is_native(g) and g.dtype == xp.dtype("float64") and tuple(g.shape) == probs.shape
        np.testing.assert_allclose(xp.to_numpy(g), fd, **FD_TOL)


def test_categorical_grad_class_axis_1_vs_finite_differences():
    probs, y = dirichlet_of(31, IMAGE, 1) * 0.98 + 0.005, labels_of(32, (2, 3, 2))
    for reduction in REDUCTIONS:
        g = grad.categorical_cross_entropy(probs, y, axis=1, weight=WEIGHT, reduction=reduction)
        fd = ref.numerical_gradient(
            lambda p, reduction=reduction: ref.categorical_cross_entropy(
                p, y, axis=1, weight=WEIGHT, reduction=reduction
            ),
            probs,
        )
        np.testing.assert_allclose(g, fd, **FD_TOL)


def test_categorical_grad_vs_torch_and_jax():
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    probs_np, y_np = dirichlet_of(9), labels_of(10)
    for reduction in REDUCTIONS:
        p = torch.tensor(probs_np, requires_grad=True)
        loss = crossent.categorical_cross_entropy(
            p, torch.tensor(y_np), weight=torch.tensor(WEIGHT), reduction=reduction
        )
        (autograd,) = torch.autograd.grad(loss.sum(), p)
        closed = grad.categorical_cross_entropy(
            p.detach(), torch.tensor(y_np), weight=torch.tensor(WEIGHT), reduction=reduction
        )
        torch.testing.assert_close(closed, autograd, **AUTOGRAD_TOL)
        by_jax = jax.grad(
            lambda q, reduction=reduction: jnp.sum(
                crossent.categorical_cross_entropy(
                    q,
                    jnp.asarray(y_np),
                    weight=jnp.asarray(WEIGHT),
                    reduction=reduction,
                )
            )
        )(jnp.asarray(probs_np))
        np.testing.assert_allclose(np.asarray(by_jax), autograd.numpy(), **AUTOGRAD_TOL)


def test_categorical_grad_is_zero_in_the_clamped_region(xp):
    probs = np.tile([[0.0, 1.0, 0.0, 0.0], [1e-50, 1.0 - 1e-50, 0.0, 0.0]], (N // 2, 1))
    y = np.tile([0, 1], N // 2)
    g = grad.categorical_cross_entropy(xp.asarray(probs), xp.asarray(y, "int64"), reduction="sum")
    ref.assert_result(xp, g, np.tile([[0.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0]], (N // 2, 1)))


# ---------------------------------------------------------------------------------------
# sigmoid_binary_cross_entropy and binary_cross_entropy
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", SIGMOID_OPTIONS, ids=option_id)
def test_sigmoid_grad_vs_finite_differences(xp, options):
    z, y = logits_of(11), np.random.default_rng(12).random((N, C))
    for reduction in REDUCTIONS:
        g = grad.sigmoid_binary_cross_entropy(
            xp.asarray(z), xp.asarray(y), **in_lib(xp, options), reduction=reduction
        )
        fd = ref.numerical_gradient(
            lambda v, reduction=reduction: ref.sigmoid_binary_cross_entropy(
                v, y, **options, reduction=reduction
            ),
            z,
        )
        assert xp.is_native(g) and g.dtype == xp.dtype("float64") and tuple(g.shape) == z.shape
        np.testing.assert_allclose(xp.to_numpy(g), fd, **FD_TOL)


@pytest.mark.parametrize("options", SIGMOID_OPTIONS, ids=option_id)
def test_sigmoid_grad_vs_torch_and_jax(options):
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    jnp, F = jax.numpy, torch.nn.functional
    z_np, y_np = logits_of(13), np.random.default_rng(14).random((N, C))
    y = torch.tensor(y_np)
    opts = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    opts_jax = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    for reduction in REDUCTIONS:
        z = torch.tensor(z_np, requires_grad=True)
        loss = crossent.sigmoid_binary_cross_entropy(z, y, **opts, reduction=reduction)
        (autograd,) = torch.autograd.grad(loss.sum(), z)
        closed = grad.sigmoid_binary_cross_entropy(z.detach(), y, **opts, reduction=reduction)
        torch.testing.assert_close(closed, autograd, **AUTOGRAD_TOL)
        if options["label_smoothing"] == 0:
            z_torch = torch.tensor(z_np, requires_grad=True)
            torch_loss = F.binary_cross_entropy_with_logits(
                z_torch,
                y,
                weight=opts["weight"],
                pos_weight=opts["pos_weight"],
                reduction=reduction,
            )
            (torch_grad,) = torch.autograd.grad(torch_loss.sum(), z_torch)
            torch.testing.assert_close(closed, torch_grad, **AUTOGRAD_TOL)
        by_jax = jax.grad(
            lambda v, reduction=reduction: jnp.sum(
                crossent.sigmoid_binary_cross_entropy(
                    v,
                    jnp.asarray(y_np),
                    **opts_jax,
                    reduction=reduction,
                )
            )
        )(jnp.asarray(z_np))
        np.testing.assert_allclose(np.asarray(by_jax), closed.numpy(), **AUTOGRAD_TOL)


def test_sigmoid_grad_is_sigmoid_minus_y(xp):
    z, y = logits_of(15), np.random.default_rng(16).integers(0, 2, (N, C)).astype(np.float64)
    g = grad.sigmoid_binary_cross_entropy(xp.asarray(z), xp.asarray(y), reduction="sum")
    ref.assert_result(xp, g, 1 / (1 + np.exp(-z)) - y, scale=10)


@pytest.mark.parametrize("weight", [None, SAMPLE_WEIGHT, WEIGHT], ids=["none", "full", "per-label"])
def test_bce_grad_vs_finite_differences(xp, weight):
    p, y = (
        np.random.default_rng(17).uniform(0.01, 0.99, (N, C)),
        np.random.default_rng(18).random((N, C)),
    )
    w_in = None if weight is None else xp.asarray(weight)
    for reduction in REDUCTIONS:
        g = grad.binary_cross_entropy(
            xp.asarray(p), xp.asarray(y), weight=w_in, reduction=reduction
        )
        fd = ref.numerical_gradient(
            lambda v, reduction=reduction: ref.binary_cross_entropy(
                v, y, weight=weight, reduction=reduction
            ),
            p,
        )
        assert xp.is_native(g) and g.dtype == xp.dtype("float64") and tuple(g.shape) == p.shape
        np.testing.assert_allclose(xp.to_numpy(g), fd, **FD_TOL)


def test_bce_grad_vs_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    p_np = np.random.default_rng(19).uniform(0.01, 0.99, (N, C))
    y, w = torch.tensor(np.random.default_rng(20).random((N, C))), torch.tensor(SAMPLE_WEIGHT)
    for reduction in REDUCTIONS:
        p = torch.tensor(p_np, requires_grad=True)
        (torch_grad,) = torch.autograd.grad(
            F.binary_cross_entropy(p, y, weight=w, reduction=reduction).sum(), p
        )
        closed = grad.binary_cross_entropy(p.detach(), y, weight=w, reduction=reduction)
        torch.testing.assert_close(closed, torch_grad, **AUTOGRAD_TOL)


def test_bce_grad_is_zero_in_the_clamped_region(xp):
    p = np.tile([0.0, 1.0, 1e-50, 0.5], (N, 1))
    y = np.tile([1.0, 0.0, 1.0, 1.0], (N, 1))
    g = grad.binary_cross_entropy(xp.asarray(p), xp.asarray(y), reduction="sum")
    ref.assert_result(xp, g, np.tile([0.0, 0.0, 0.0, -2.0], (N, 1)))


# ---------------------------------------------------------------------------------------
# All-ignored batches, extreme logits, half precision
# ---------------------------------------------------------------------------------------


def test_all_ignored_gradient_is_zero(xp):
    z, y = logits_of(21), np.full(N, -100)
    for weight in (None, WEIGHT):
        w_in = None if weight is None else xp.asarray(weight)
        g = grad.softmax_cross_entropy(
            xp.asarray(z), xp.asarray(y, "int64"), weight=w_in, label_smoothing=0.1, z_loss=1e-2
        )
        ref.assert_result(xp, g, np.zeros((N, C)))
        g_cat = grad.categorical_cross_entropy(
            xp.asarray(dirichlet_of(22)), xp.asarray(y, "int64"), weight=w_in
        )
        ref.assert_result(xp, g_cat, np.zeros((N, C)))


def test_all_ignored_autograd_is_zero_not_nan():
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    z_np, y_np = logits_of(23), np.full(N, -100)
    z = torch.tensor(z_np, requires_grad=True)
    crossent.softmax_cross_entropy(z, torch.tensor(y_np), label_smoothing=0.1).backward()
    assert z.grad is not None and bool((z.grad == 0).all())
    g = jax.grad(lambda v: crossent.softmax_cross_entropy(v, jax.numpy.asarray(y_np), z_loss=1e-2))(
        jax.numpy.asarray(z_np)
    )
    np.testing.assert_array_equal(np.asarray(g), np.zeros((N, C)))


EXTREME = np.array(
    [
        [1e4, -1e4, 0.0, 5.0],
        [-1e4, -1e4, -1e4, 1e4],
        [-1e4, 1e4, 1e4, -1e4],
        [1e4, 1e4, 1e4, 1e4],
        [-1e4, -1e4, -1e4, -1e4],
        [0.0, 1e4, -1e4, 0.0],
    ]
)
"""Logits of ±1e4, shaped like the other tests' logits (JAX compiles once per shape)."""
EXTREME_LABELS = np.array([1, 3, 0, 2, 0, 2])
EXTREME_TARGETS = np.array(
    [
        [1.0, 1.0, 0.0, 0.0],
        [1.0, 0.0, 0.5, 1.0],
        [0.0, 0.0, 1.0, 1.0],
        [1.0, 0.0, 1.0, 0.0],
        [0.0, 1.0, 0.0, 1.0],
        [0.5, 1.0, 1.0, 0.0],
    ]
)


@pytest.mark.parametrize("options", SOFTMAX_OPTIONS[::5], ids=option_id)
def test_extreme_logits_give_finite_gradients(xp, options):
    y = EXTREME_LABELS
    g = grad.softmax_cross_entropy(
        xp.asarray(EXTREME), xp.asarray(y, "int64"), **in_lib(xp, options)
    )
    assert np.isfinite(xp.to_numpy(g)).all()
    fd = ref.numerical_gradient(
        lambda v: ref.softmax_cross_entropy(v, y, **options), EXTREME, step=1e-3
    )
    np.testing.assert_allclose(xp.to_numpy(g), fd, rtol=1e-5, atol=1e-7)
    y_bin = EXTREME_TARGETS
    g_bin = grad.sigmoid_binary_cross_entropy(
        xp.asarray(EXTREME),
        xp.asarray(y_bin),
        pos_weight=xp.asarray(POS_WEIGHT),
        label_smoothing=0.1,
    )
    expected = ref.numerical_gradient(
        lambda v: ref.sigmoid_binary_cross_entropy(
            v, y_bin, pos_weight=POS_WEIGHT, label_smoothing=0.1
        ),
        EXTREME,
        step=1e-3,
    )
    ref.assert_result(xp, g_bin, expected, scale=1e5)


def test_extreme_logits_autograd_is_finite():
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    y = EXTREME_LABELS
    options = {"label_smoothing": 0.1, "z_loss": 1e-4, "logit_softcap": 30.0}
    z = torch.tensor(EXTREME, requires_grad=True)
    crossent.softmax_cross_entropy(
        z, torch.tensor(y), weight=torch.tensor(WEIGHT), **options
    ).backward()
    assert z.grad is not None and bool(torch.isfinite(z.grad).all())
    g = jax.grad(lambda v: crossent.softmax_cross_entropy(v, jnp.asarray(y), **options))(
        jnp.asarray(EXTREME)
    )
    assert bool(jnp.isfinite(g).all())
    g_bin = jax.grad(lambda v: crossent.sigmoid_binary_cross_entropy(v, jnp.ones_like(v)))(
        jnp.asarray(EXTREME)
    )
    assert bool(jnp.isfinite(g_bin).all())
    for dtype in (torch.float16, torch.bfloat16):
        z_half = torch.tensor(EXTREME, dtype=dtype, requires_grad=True)
        crossent.softmax_cross_entropy(z_half, torch.tensor(y), z_loss=1e-4).backward()
        assert z_half.grad is not None and z_half.grad.dtype == dtype
        assert bool(torch.isfinite(z_half.grad).all())


def test_half_precision_gradients(xp):
    # NumPy has no bfloat16.
    dtypes = ["float16"] + ([] if xp.name == "numpy" else ["bfloat16"])
    z, y = logits_of(24), labels_of(25, ignored=1)
    yb = np.random.default_rng(26).random((N, C))
    options = {"weight": WEIGHT, "label_smoothing": 0.1, "z_loss": 1e-2, "logit_softcap": 3.0}
    for dtype in dtypes:
        z_in = xp.asarray(z, dtype)
        z_seen = xp.to_numpy(z_in)
        g = grad.softmax_cross_entropy(z_in, xp.asarray(y, "int64"), **in_lib(xp, options))
        expected = grad.softmax_cross_entropy(z_seen, y, **options)  # float64 on the rounded input
        ref.assert_result(xp, g, expected, dtype=dtype)
        g_bin = grad.sigmoid_binary_cross_entropy(
            z_in, xp.asarray(yb, dtype), pos_weight=xp.asarray(POS_WEIGHT)
        )
        expected_bin = grad.sigmoid_binary_cross_entropy(
            z_seen, xp.to_numpy(xp.asarray(yb, dtype)), pos_weight=POS_WEIGHT
        )
        ref.assert_result(xp, g_bin, expected_bin, dtype=dtype)


# ---------------------------------------------------------------------------------------
# The gradient functions validate like the losses
# ---------------------------------------------------------------------------------------


def test_grad_errors_match_the_losses():
    with pytest.raises(ValueError, match=r"`targets`: class index 9 is out of range for 4 classes"):
        grad.softmax_cross_entropy(logits_of(0), np.array([0, 1, 9, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"`reduction` must be one of"):
        grad.sigmoid_binary_cross_entropy(logits_of(0), np.zeros((N, C)), reduction="avg")
    with pytest.raises(ValueError, match=r"`probs` must hold probabilities in \[0, 1\]; got 1.5"):
        grad.binary_cross_entropy(np.array([1.5]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"`eps` must be in \(0.0, 1.0\); got eps=2.0"):
        grad.binary_cross_entropy(np.array([0.5]), np.array([1.0]), eps=2.0)
    with pytest.raises(ValueError, match=r"`probs` must hold probabilities in \[0, 1\]; got -0.5"):
        grad.categorical_cross_entropy(np.array([[-0.5, 1.5]]), np.array([0]))
    with pytest.raises(TypeError, match=r"`logits` must be a floating-point array"):
        grad.softmax_cross_entropy(np.zeros((N, C), dtype=np.int64), labels_of(0))


def test_public_names():
    core = {
        "softmax_cross_entropy",
        "categorical_cross_entropy",
        "sigmoid_binary_cross_entropy",
        "binary_cross_entropy",
    }
    assert core <= set(grad.__all__)
