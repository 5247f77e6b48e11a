"""Keras 3 losses of crossent, for the TensorFlow, JAX and PyTorch backends.

``model.compile(loss=crossent.keras.SoftmaxCrossEntropy())``: each class computes its
per-sample losses with crossent's functional core on the backend's tensors and lets
``keras.losses.Loss`` weight, mask and reduce them (:mod:`crossent.keras.losses`). The
classes are registered as Keras serializables of the package ``"crossent"``, so models
compiled with them save to ``.keras`` files and load back once ``crossent.keras`` is
imported. Importing this module imports Keras (``pip install "crossent[keras]"``).
"""

from crossent.keras.losses import (
    AsymmetricLoss,
    BinaryCrossEntropy,
    CategoricalCrossEntropy,
    SigmoidBinaryCrossEntropy,
    SigmoidFocalLoss,
    SoftmaxCrossEntropy,
    SoftmaxFocalLoss,
)

__all__ = [
    "AsymmetricLoss",
    "BinaryCrossEntropy",
    "CategoricalCrossEntropy",
    "SigmoidBinaryCrossEntropy",
    "SigmoidFocalLoss",
    "SoftmaxCrossEntropy",
    "SoftmaxFocalLoss",
]
