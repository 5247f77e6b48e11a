"""Generalized cross-entropy against Keras' ``CategoricalGeneralizedCrossEntropy``.

In a file of its own: Keras reads ``KERAS_BACKEND`` once, at its first import, so the
backend is chosen here before anything imports it (the NumPy backend needs no framework).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from crossent import generalized_cross_entropy

os.environ.setdefault("KERAS_BACKEND", "numpy")
keras = pytest.importorskip("keras")


@pytest.mark.parametrize("q", [0.1, 0.5, 0.7, 0.99])  # Keras takes q in (0, 1)
def test_gce_equals_keras_on_the_softmax_at_the_same_q(q):
    rng = np.random.default_rng(0)
    z = 3 * rng.standard_normal((8, 5))
    y = rng.integers(0, 5, size=8)
    probs = np.exp(z - z.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    loss = keras.losses.CategoricalGeneralizedCrossEntropy(q=q, reduction=None)
    expected = np.asarray(loss(y, probs), dtype=np.float64)
    out = generalized_cross_entropy(z, y, q=q, reduction="none")
    assert out.dtype == np.float64 and out.shape == (8,)
    # Keras computes in its floatx, float32
    np.testing.assert_allclose(out, expected, rtol=2e-6, atol=2e-7)
    mean = keras.losses.CategoricalGeneralizedCrossEntropy(q=q)(y, probs)
    np.testing.assert_allclose(float(generalized_cross_entropy(z, y, q=q)), float(mean), rtol=2e-6)
