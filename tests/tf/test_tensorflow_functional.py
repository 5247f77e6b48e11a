"""TensorFlow tensors through the functional API: tf.Tensor in, tf.Tensor out.

Values are checked against the naive float64 formulas of ``tests/reference*.py`` and
against TensorFlow's own ``tf.nn`` losses; gradients from ``tf.GradientTape`` against
``crossent.grad`` and against the gradients of the ``tf.nn`` losses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import crossent  # noqa: E402
import reference as ref  # noqa: E402
import reference_imbalance as ref_imb  # noqa: E402
from crossent import calibration, grad  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")
RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(6, 4)) * 2
LABELS = np.array([0, 3, 1, 2, 2, 0])
MULTI = (RNG.random((6, 4)) > 0.5).astype(np.float64)
SOFT = np.exp(RNG.normal(size=(6, 4)))
SOFT /= SOFT.sum(axis=-1, keepdims=True)


def t64(a):
    return tf.constant(np.asarray(a), dtype=tf.float64)


def assert_tf(out, value, *, dtype=tf.float64, shape=None, atol=1e-10):
    """``out`` is a tf.Tensor of ``dtype`` (and ``shape``) equal to ``value``."""
    assert isinstance(out, tf.Tensor)
    assert out.dtype == dtype
    assert tuple(out.shape) == (np.shape(value) if shape is None else shape)
    np.testing.assert_allclose(out.numpy().astype(np.float64), value, rtol=atol, atol=atol)


# (crossent function, targets, options, reference function)
LOSSES = {
    "softmax_cross_entropy": (
        lambda: tf.constant(LABELS),
        {"weight": [1.0, 2.0, 0.5, 1.5], "label_smoothing": 0.1, "z_loss": 1e-3},
        lambda z, y, **kw: ref.softmax_cross_entropy(z, LABELS, **kw),
    ),
    "softmax_cross_entropy_soft": (
        lambda: t64(SOFT),
        {"label_smoothing": 0.2},
        lambda z, y, **kw: ref.softmax_cross_entropy(z, SOFT, **kw),
    ),
    "sigmoid_binary_cross_entropy": (
        lambda: t64(MULTI),
        {"pos_weight": 2.0, "label_smoothing": 0.1},
        lambda z, y, **kw: ref.sigmoid_binary_cross_entropy(z, MULTI, **kw),
    ),
    "sigmoid_focal_loss": (
        lambda: t64(MULTI),
        {"alpha": 0.25, "gamma": 2.0},
        lambda z, y, reduction, **kw: ref_imb.torchvision_sigmoid_focal_loss(
            z, MULTI, reduction=reduction, **kw
        ),
    ),
    "softmax_focal_loss": (
        lambda: tf.constant(LABELS),
        {"alpha": [0.25, 0.5, 1.0, 0.75], "gamma": 2.0},
        lambda z, y, **kw: ref_imb.softmax_focal_loss(z, LABELS, **kw),
    ),
    "asymmetric_loss": (
        lambda: t64(MULTI),
        {"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05},
        lambda z, y, **kw: ref_imb.asymmetric_loss(z, MULTI, **kw),
    ),
}


def _function(name):
    return getattr(crossent, name.removesuffix("_soft"))


def _grad(name):
    return getattr(grad, name.removesuffix("_soft"))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_of_tf_tensors_is_a_tf_tensor_equal_to_the_reference(name, reduction):
    targets, options, reference = LOSSES[name]
    out = _function(name)(t64(LOGITS), targets(), reduction=reduction, **options)
    expected = reference(LOGITS, None, reduction=reduction, **options)
    assert_tf(out, expected)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_tape_gradient_equals_the_closed_form(name):
    targets, options, _ = LOSSES[name]
    z = tf.Variable(LOGITS)
    with tf.GradientTape() as tape:
        loss = _function(name)(z, targets(), **options)
    autograd = tape.gradient(loss, z)
    closed = _grad(name)(t64(LOGITS), targets(), **options)
    assert isinstance(closed, tf.Tensor) and closed.dtype == tf.float64
    np.testing.assert_allclose(autograd.numpy(), closed.numpy(), rtol=1e-9, atol=1e-12)


def test_sparse_softmax_cross_entropy_equals_tf_nn_with_gradients():
    z, y = tf.constant(LOGITS, tf.float32), tf.constant(LABELS, tf.int32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        ours = crossent.softmax_cross_entropy(z, y, reduction="none")
        theirs = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z)
    assert_tf(ours, theirs.numpy(), dtype=tf.float32, atol=1e-6)
    np.testing.assert_allclose(tape.gradient(ours, z), tape.gradient(theirs, z), atol=1e-6)


def test_dense_softmax_cross_entropy_equals_tf_nn_with_gradients():
    z, y = tf.constant(LOGITS, tf.float32), tf.constant(SOFT, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        ours = crossent.softmax_cross_entropy(z, y, reduction="none")
        theirs = tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=z)
    assert_tf(ours, theirs.numpy(), dtype=tf.float32, atol=1e-6)
    np.testing.assert_allclose(tape.gradient(ours, z), tape.gradient(theirs, z), atol=1e-6)


def test_sigmoid_binary_cross_entropy_equals_tf_nn_with_gradients():
    z, y = tf.constant(LOGITS, tf.float32), tf.constant(MULTI, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        ours = crossent.sigmoid_binary_cross_entropy(z, y, reduction="none")
        theirs = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z)
        ours_w = crossent.sigmoid_binary_cross_entropy(z, y, pos_weight=3.0, reduction="none")
        theirs_w = tf.nn.weighted_cross_entropy_with_logits(labels=y, logits=z, pos_weight=3.0)
    assert_tf(ours, theirs.numpy(), dtype=tf.float32, atol=1e-6)
    assert_tf(ours_w, theirs_w.numpy(), dtype=tf.float32, atol=1e-5)
    np.testing.assert_allclose(tape.gradient(ours, z), tape.gradient(theirs, z), atol=1e-6)
    np.testing.assert_allclose(tape.gradient(ours_w, z), tape.gradient(theirs_w, z), atol=1e-6)


def test_probability_losses_take_tf_tensors():
    p = tf.nn.softmax(t64(LOGITS))
    out = crossent.categorical_cross_entropy(p, tf.constant(LABELS), reduction="none")
    assert_tf(out, ref.categorical_cross_entropy(p.numpy(), LABELS, reduction="none"))
    q = tf.sigmoid(t64(LOGITS))
    out = crossent.binary_cross_entropy(q, t64(MULTI), weight=t64(MULTI + 1))
    assert_tf(out, ref.binary_cross_entropy(q.numpy(), MULTI, weight=MULTI + 1))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_inside_tf_function_with_an_unknown_batch_dimension(jit_compile):
    spec = [tf.TensorSpec([None, 4], tf.float32), tf.TensorSpec([None], tf.int32)]

    @tf.function(input_signature=spec, jit_compile=jit_compile)
    def step(z, y):
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = crossent.softmax_cross_entropy(
                z, y, weight=[1.0, 2.0, 0.5, 1.5], label_smoothing=0.1
            ) + crossent.softmax_focal_loss(z, y, alpha=[0.25, 0.5, 1.0, 0.75])
        return loss, tape.gradient(loss, z)

    z, y = tf.constant(LOGITS, tf.float32), tf.constant(LABELS, tf.int32)
    loss, g = step(z, y)
    kw = {"weight": [1.0, 2.0, 0.5, 1.5], "label_smoothing": 0.1}
    expected = ref.softmax_cross_entropy(LOGITS, LABELS, **kw) + ref_imb.softmax_focal_loss(
        LOGITS, LABELS, alpha=[0.25, 0.5, 1.0, 0.75]
    )
    assert_tf(loss, expected, dtype=tf.float32, atol=1e-5)
    closed = grad.softmax_cross_entropy(z, y, **kw) + grad.softmax_focal_loss(
        z, y, alpha=[0.25, 0.5, 1.0, 0.75]
    )
    np.testing.assert_allclose(g.numpy(), closed.numpy(), atol=1e-6)


@pytest.mark.parametrize("name", ["sigmoid_binary_cross_entropy", "softmax_cross_entropy_soft"])
def test_mean_over_an_unknown_batch_dimension_under_xla(name):
    targets, options, reference = LOSSES[name]
    y = tf.cast(targets(), tf.float32)
    spec = [tf.TensorSpec([None, 4], tf.float32), tf.TensorSpec([None, 4], tf.float32)]
    fn = tf.function(lambda z, y: _function(name)(z, y, **options), input_signature=spec)
    out = tf.function(fn, jit_compile=True)(tf.constant(LOGITS, tf.float32), y)
    assert_tf(
        out, reference(LOGITS, None, reduction="mean", **options), dtype=tf.float32, atol=1e-5
    )


def test_value_checks_run_eagerly_and_are_skipped_in_graphs():
    z = tf.constant(LOGITS, tf.float32)
    bad = tf.constant([0, 7, 1, 2, 2, 0])
    with pytest.raises(ValueError, match="class index 7 is out of range for 4 classes"):
        crossent.softmax_cross_entropy(z, bad)
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        crossent.sigmoid_binary_cross_entropy(z, tf.constant(MULTI * 2, tf.float32))
    graph = tf.function(lambda z, y: crossent.softmax_cross_entropy(z, y, reduction="none"))
    out = graph(z, tf.constant([0, 3, 1, 2, 2, 0]))  # traced: no values to read, no check
    assert out.shape == (6,)
    with crossent.validation(False):
        crossent.softmax_cross_entropy(z, tf.constant([0, 3, 1, 2, 2, 0]))


def test_shape_checks_run_in_graphs():
    graph = tf.function(lambda z, y: crossent.softmax_cross_entropy(z, y))
    with pytest.raises(ValueError, match="`targets` must have shape"):
        graph(tf.zeros((6, 4)), tf.zeros((5,), tf.int32))


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_precision_is_computed_in_float32_and_returned_in_its_dtype(half):
    dtype = getattr(tf, half)
    z = tf.cast(tf.constant(LOGITS), dtype)
    y = tf.constant(LABELS)
    out = crossent.softmax_cross_entropy(z, y, reduction="none")
    as_f32 = tf.cast(z, tf.float32)
    expected = crossent.softmax_cross_entropy(as_f32, y, reduction="none")
    assert out.dtype == dtype
    np.testing.assert_allclose(
        tf.cast(out, tf.float32).numpy(),
        expected.numpy(),
        rtol=1e-2 if half == "bfloat16" else 1e-3,
    )
    extreme = tf.cast(tf.constant([[1e4, -1e4, 0.0]]), dtype)
    with tf.GradientTape() as tape:
        tape.watch(extreme)
        loss = crossent.softmax_cross_entropy(extreme, tf.constant([1]))
    g = tape.gradient(loss, extreme)
    assert loss.dtype == dtype and g.dtype == dtype
    assert np.isfinite(float(loss)) and np.all(np.isfinite(tf.cast(g, tf.float32).numpy()))
    np.testing.assert_allclose(float(loss), 2e4, rtol=1e-2)


def test_information_measures_take_tf_tensors():
    p = tf.nn.softmax(t64(LOGITS))
    q = tf.nn.softmax(t64(LOGITS[::-1].copy()))
    pn, qn = p.numpy(), q.numpy()
    assert_tf(crossent.entropy(p, base=2), ref.entropy(pn, base=2))
    assert_tf(crossent.cross_entropy(p, q), ref.cross_entropy(pn, qn))
    assert_tf(crossent.kl_divergence(p, q), ref.kl_divergence(pn, qn))
    assert_tf(crossent.js_divergence(p, q), ref.js_divergence(pn, qn))
    assert_tf(crossent.binary_entropy(p), ref.binary_entropy(pn))
    assert_tf(crossent.self_information(p), ref.self_information(pn))
    assert_tf(crossent.perplexity(p), np.exp(ref.entropy(pn).mean()))


def test_continuous_information_measures_take_tf_tensors():
    mean_p, var_p = np.array([0.0, 1.0]), np.array([1.0, 0.5])
    mean_q, var_q = np.array([1.0, -1.0]), np.array([2.0, 1.5])
    out = crossent.gaussian_kl_divergence(t64(mean_p), t64(var_p), t64(mean_q), t64(var_q))
    assert_tf(out, ref.gaussian_kl(mean_p, var_p, mean_q, var_q))
    assert_tf(crossent.gaussian_entropy(t64(var_p)), ref.gaussian_entropy(var_p))
    cov_p, cov_q = np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([[1.0, -0.2], [-0.2, 0.8]])
    out = crossent.mvn_kl_divergence(t64(mean_p), t64(cov_p), t64(mean_q), t64(cov_q))
    assert_tf(out, ref.mvn_kl(mean_p, cov_p, mean_q, cov_q))
    out = crossent.mvn_cross_entropy(t64(mean_p), t64(cov_p), t64(mean_q), t64(cov_q))
    assert_tf(out, ref.mvn_cross_entropy(mean_p, cov_p, mean_q, cov_q))


def test_calibration_measures_take_tf_tensors():
    p = tf.nn.softmax(t64(LOGITS))
    pn = p.numpy()
    y = tf.constant(LABELS)
    onehot = np.eye(4)[LABELS]
    assert_tf(calibration.brier_score(p, y), np.mean(np.sum((pn - onehot) ** 2, axis=-1)))
    # one bin: |mean confidence - accuracy| over all samples
    conf, hit = pn.max(axis=-1), (pn.argmax(axis=-1) == LABELS)
    assert_tf(calibration.calibration_error(p, y, n_bins=1), abs(conf.mean() - hit.mean()))
    diagram = calibration.reliability_diagram(p, y, n_bins=1)
    assert isinstance(diagram.confidence, tf.Tensor)
    np.testing.assert_allclose(diagram.confidence.numpy(), [conf.mean()])


def test_mixing_tensorflow_with_numpy_is_refused():
    with pytest.raises(TypeError, match="one array library"):
        crossent.softmax_cross_entropy(tf.constant(LOGITS), LABELS)


def test_import_crossent_does_not_import_tensorflow():
    code = (
        "import json, sys, crossent, crossent.losses, crossent.grad\n"
        "print(json.dumps('tensorflow' in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) is False


def _naive_hard_negatives(losses, positives, ratio):
    """Each row: every positive, and the ``floor(ratio · n+)`` negatives of highest loss."""
    keep = positives.copy()
    for row, (row_losses, p) in enumerate(zip(losses, positives, strict=True)):
        k = min(int(np.floor(ratio * p.sum())), int((~p).sum()))
        negatives = np.flatnonzero(~p)
        keep[row, negatives[np.argsort(-row_losses[negatives])[:k]]] = True
    return keep


def test_mining_and_distillation_take_tf_tensors():
    losses = RNG.random((4, 9))
    positives = RNG.random((4, 9)) > 0.7
    mask = crossent.hard_negative_mining(t64(losses), tf.constant(positives), neg_pos_ratio=2)
    assert isinstance(mask, tf.Tensor)
    np.testing.assert_array_equal(mask.numpy(), _naive_hard_negatives(losses, positives, 2))
    hardest = crossent.ohem(t64(losses), k=3).numpy()
    np.testing.assert_array_equal(hardest.sum(axis=-1), 3)
    assert np.all(losses[hardest].reshape(4, 3).min(axis=-1) >= np.sort(losses, axis=-1)[:, -3])
    student, teacher = LOGITS, LOGITS[::-1].copy()
    p = np.exp(teacher - teacher.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    log_q = student - np.log(np.exp(student).sum(-1, keepdims=True))
    kl = np.mean(np.sum(p * (np.log(p) - log_q), axis=-1))
    assert_tf(crossent.distillation_loss(t64(student), t64(teacher)), kl)
