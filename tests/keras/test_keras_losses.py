"""crossent.keras on the Keras backend named by ``KERAS_BACKEND`` (see the root conftest.py).

Values are compared with Keras' own losses where Keras has the same loss, else with the
naive formulas of ``tests/reference_imbalance.py``; reductions, masks and sample weights
with Keras' ``SparseCategoricalCrossentropy`` on the same inputs.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import crossent.keras as ck  # noqa: E402
import reference_imbalance as ref_imb  # noqa: E402
from keras import ops  # noqa: E402

BACKEND = keras.backend.backend()
RNG = np.random.default_rng(0)
N, C = 6, 4
LOGITS = (RNG.normal(size=(N, C)) * 2).astype("float32")
LABELS = np.array([0, 3, 1, 2, 2, 0])
ONE_HOT = np.eye(C, dtype="float32")[LABELS]
MULTI = (RNG.random((N, C)) > 0.5).astype("float32")
SAMPLE_WEIGHT = np.array([1.0, 0.5, 2.0, 0.0, 1.0, 3.0], dtype="float32")


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def value(x):
    return ops.convert_to_numpy(x).astype("float64")


def close(ours, theirs, atol=1e-5):
    np.testing.assert_allclose(value(ours), value(theirs), rtol=1e-5, atol=atol)


def test_the_backend_is_the_one_asked_for():
    assert BACKEND == os.environ.get("KERAS_BACKEND", "tensorflow")


@pytest.mark.parametrize("labels", [LABELS, LABELS[:, None]], ids=["N", "N1"])
def test_softmax_cross_entropy_equals_sparse_categorical_crossentropy(labels):
    ours = ck.SoftmaxCrossEntropy()(labels, LOGITS, sample_weight=SAMPLE_WEIGHT)
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        labels, LOGITS, sample_weight=SAMPLE_WEIGHT
    )
    assert ops.is_tensor(ours) and ops.dtype(ours) == "float32" and tuple(ours.shape) == ()
    close(ours, theirs)


def test_ignore_index_equals_keras_ignore_class():
    labels = np.array([0, 3, -1, 2, -1, 0])
    ours = ck.SoftmaxCrossEntropy(ignore_index=-1)(labels, LOGITS)
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)(
        labels, LOGITS
    )
    close(ours, theirs)


def test_label_smoothing_equals_categorical_crossentropy():
    ours = ck.SoftmaxCrossEntropy(label_smoothing=0.1)(ONE_HOT, LOGITS, SAMPLE_WEIGHT)
    theirs = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(
        ONE_HOT, LOGITS, SAMPLE_WEIGHT
    )
    close(ours, theirs)


def test_probability_inputs_equal_keras_probability_losses():
    probs = softmax(LOGITS.astype("float64")).astype("float32")
    close(
        ck.CategoricalCrossEntropy()(LABELS, probs),
        keras.losses.SparseCategoricalCrossentropy()(LABELS, probs),
    )
    close(
        ck.CategoricalCrossEntropy()(ONE_HOT, probs),
        keras.losses.CategoricalCrossentropy()(ONE_HOT, probs),
    )
    p = sigmoid(LOGITS.astype("float64")).astype("float32")
    close(ck.BinaryCrossEntropy()(MULTI, p), keras.losses.BinaryCrossentropy()(MULTI, p))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_sigmoid_binary_cross_entropy_equals_binary_crossentropy(smoothing):
    ours = ck.SigmoidBinaryCrossEntropy(label_smoothing=smoothing)
    theirs = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=smoothing)
    close(ours(MULTI, LOGITS, SAMPLE_WEIGHT), theirs(MULTI, LOGITS, SAMPLE_WEIGHT))
    # one logit per sample, labels without the unit axis
    close(ours(MULTI[:, 0], LOGITS[:, :1]), theirs(MULTI[:, 0], LOGITS[:, :1]))


def test_sigmoid_focal_loss_equals_binary_focal_crossentropy():
    ours = ck.SigmoidFocalLoss(alpha=0.25, gamma=2.0)(MULTI, LOGITS, SAMPLE_WEIGHT)
    theirs = keras.losses.BinaryFocalCrossentropy(
        apply_class_balancing=True, alpha=0.25, gamma=2.0, from_logits=True
    )(MULTI, LOGITS, SAMPLE_WEIGHT)
    close(ours, theirs)


def test_softmax_focal_and_asymmetric_losses_equal_the_reference():
    alpha = [0.25, 0.5, 1.0, 0.75]
    ours = ck.SoftmaxFocalLoss(alpha=alpha, gamma=2.0, reduction="none")(LABELS, LOGITS)
    expected = ref_imb.softmax_focal_loss(LOGITS, LABELS, alpha=alpha, reduction="none")
    close(ours, expected)
    asl = ck.AsymmetricLoss(gamma_pos=1.0, gamma_neg=4.0, clip=0.05, reduction="none")
    expected = ref_imb.asymmetric_loss(
        LOGITS, MULTI, gamma_pos=1.0, gamma_neg=4.0, clip=0.05, reduction="none"
    )
    close(asl(MULTI, LOGITS), expected.mean(axis=-1))


@pytest.mark.parametrize(
    "reduction", ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]
)
def test_every_keras_reduction_is_keras_own(reduction):
    ours = ck.SoftmaxCrossEntropy(reduction=reduction)(LABELS, LOGITS, SAMPLE_WEIGHT)
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)(
        LABELS, LOGITS, SAMPLE_WEIGHT
    )
    assert tuple(ours.shape) == tuple(theirs.shape)
    close(ours, theirs)


def test_a_keras_mask_on_the_predictions_is_honoured():
    from keras.src.backend import set_keras_mask

    mask = ops.convert_to_tensor(np.array([True, True, False, True, False, True]))
    logits = ops.convert_to_tensor(LOGITS)
    set_keras_mask(logits, mask)
    ours = ck.SoftmaxCrossEntropy()(LABELS, logits)
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS, logits)
    close(ours, theirs)
    unmasked = ck.SoftmaxCrossEntropy()(LABELS, LOGITS)
    assert abs(float(value(ours)) - float(value(unmasked))) > 1e-3


@pytest.mark.parametrize("reduction", ["none", "sum_over_batch_size"])
def test_dtype_sets_the_computation_dtype_as_in_keras_own_losses(reduction):
    loss = ck.SoftmaxCrossEntropy(dtype="float64", reduction=reduction)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, dtype="float64", reduction=reduction
    )
    ours, theirs = loss(LABELS, LOGITS), keras_loss(LABELS, LOGITS)
    assert ops.dtype(ours) == ops.dtype(theirs)
    close(ours, theirs)
    per_sample = loss.call(ops.convert_to_tensor(LABELS), ops.convert_to_tensor(LOGITS, "float64"))
    assert ops.dtype(per_sample) == "float64"


CONFIGURED = [
    ck.SoftmaxCrossEntropy(weight=[1.0, 2.0, 0.5, 1.5], label_smoothing=0.1, name="ce"),
    ck.CategoricalCrossEntropy(ignore_index=None, reduction="sum"),
    ck.SigmoidBinaryCrossEntropy(pos_weight=2.0, label_smoothing=0.05),
    ck.BinaryCrossEntropy(weight=np.array([1.0, 2.0, 1.0, 1.0])),
    ck.SigmoidFocalLoss(alpha=None, gamma=1.5),
    ck.SoftmaxFocalLoss(alpha=[0.25, 0.5, 1.0, 0.75], gamma=1.0, check=False),
    ck.AsymmetricLoss(gamma_pos=1.0, clip=None),
]


@pytest.mark.parametrize("loss", CONFIGURED, ids=lambda loss: type(loss).__name__)
def test_config_round_trips_through_keras_serialization(loss):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()
    softmax_family = type(loss).__name__.startswith(("Softmax", "Categorical"))
    targets = LABELS if softmax_family else MULTI
    pred = LOGITS
    if isinstance(loss, ck.CategoricalCrossEntropy):
        pred = softmax(LOGITS.astype("float64")).astype("float32")
    elif isinstance(loss, ck.BinaryCrossEntropy):
        pred = sigmoid(LOGITS.astype("float64")).astype("float32")
    close(restored(targets, pred), loss(targets, pred))


def _data(loss):
    """Inputs, targets and the output layer a model trained with ``loss`` needs."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 5)).astype("float32")
    scores = x @ rng.normal(size=(5, 3))
    if type(loss).__name__.startswith(("Softmax", "Categorical")):
        y = scores.argmax(axis=-1)
        activation = "softmax" if isinstance(loss, ck.CategoricalCrossEntropy) else None
    else:
        y = (scores > 0).astype("float32")
        activation = "sigmoid" if isinstance(loss, ck.BinaryCrossEntropy) else None
    return x, y, keras.layers.Dense(3, activation=activation)


LOSS_CLASSES = [
    ck.SoftmaxCrossEntropy,
    ck.CategoricalCrossEntropy,
    ck.SigmoidBinaryCrossEntropy,
    ck.BinaryCrossEntropy,
    ck.SigmoidFocalLoss,
    ck.SoftmaxFocalLoss,
    ck.AsymmetricLoss,
]


@pytest.mark.parametrize("cls", LOSS_CLASSES, ids=lambda cls: cls.__name__)
def test_fit_lowers_the_loss_and_the_model_saves_and_loads(cls, tmp_path):
    keras.utils.set_random_seed(0)
    loss = cls()
    x, y, head = _data(loss)
    model = keras.Sequential([keras.Input((5,)), head])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss)
    # 30 samples in batches of 8: the last batch is smaller (an unknown batch dimension)
    history = model.fit(x, y, batch_size=8, epochs=4, verbose=0).history["loss"]
    assert history[-1] < 0.9 * history[0]
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.loss) is cls and loaded.loss.get_config() == loss.get_config()
    before = model.evaluate(x, y, batch_size=8, verbose=0)
    np.testing.assert_allclose(loaded.evaluate(x, y, batch_size=8, verbose=0), before, rtol=1e-5)


def test_softmax_over_one_output_unit_is_refused_in_calls_and_in_fit():
    labels = np.array([[1.0], [0.0], [1.0], [0.0]], dtype="float32")
    with pytest.raises(ValueError, match="single output unit"):
        ck.SoftmaxCrossEntropy()(labels, np.zeros((4, 1), dtype="float32"))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=ck.SoftmaxCrossEntropy())
    with pytest.raises(ValueError, match="single output unit"):
        model.fit(np.zeros((4, 2), dtype="float32"), labels, verbose=0)


def test_value_checks_run_on_eager_calls():
    with pytest.raises(ValueError, match="class index 7 is out of range for 4 outputs"):
        ck.SoftmaxCrossEntropy()(np.array([0, 7, 1, 2, 2, 0]), LOGITS)
    with pytest.raises(ValueError, match="look like probabilities, not logits"):
        ck.SoftmaxCrossEntropy()(LABELS, softmax(LOGITS.astype("float64")).astype("float32"))
    # check=False leaves only the loss's own validation: probabilities pass as logits
    ck.SoftmaxCrossEntropy(check=False)(LABELS, softmax(LOGITS).astype("float32"))


def test_check_must_be_a_bool():
    with pytest.raises(TypeError, match="`check` must be True or False"):
        ck.SoftmaxCrossEntropy(check="yes")  # type: ignore[arg-type]
