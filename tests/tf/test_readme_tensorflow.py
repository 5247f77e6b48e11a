"""The README's TensorFlow example runs, and its comments hold."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import crossent  # noqa: E402
from readme_blocks import python_block  # noqa: E402


def test_readme_tensorflow_example_runs_and_its_comments_hold():
    ns: dict = {}
    exec(python_block("TensorFlow"), ns)
    logits, labels = ns["logits"], ns["labels"]
    np.testing.assert_allclose(
        crossent.softmax_cross_entropy(logits, labels, reduction="none"),
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits),
        atol=1e-6,
    )
    ones = tf.ones_like(logits)
    np.testing.assert_allclose(
        crossent.sigmoid_binary_cross_entropy(logits, ones, reduction="none"),
        tf.nn.sigmoid_cross_entropy_with_logits(ones, logits),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        ns["grads"],
        crossent.grad.sigmoid_focal_loss(logits, ones),
        atol=1e-7,
    )
