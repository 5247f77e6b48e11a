"""crossent: the cross-entropy family of losses on NumPy, PyTorch and JAX."""

from crossent import grad, info, losses, multitask
from crossent.info import (
    binary_entropy,
    cross_entropy,
    entropy,
    js_divergence,
    kl_divergence,
    perplexity,
    self_information,
)
from crossent.losses import (
    GHMC,
    asymmetric_loss,
    binary_cross_entropy,
    categorical_cross_entropy,
    class_balanced_weights,
    ghm_classification_loss,
    hard_negative_mining,
    ohem,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    softmax_cross_entropy,
    softmax_focal_loss,
)

__version__ = "0.1.0"

__all__ = [
    "GHMC",
    "asymmetric_loss",
    "binary_cross_entropy",
    "binary_entropy",
    "categorical_cross_entropy",
    "class_balanced_weights",
    "cross_entropy",
    "entropy",
    "ghm_classification_loss",
    "grad",
    "hard_negative_mining",
    "info",
    "js_divergence",
    "kl_divergence",
    "losses",
    "multitask",
    "ohem",
    "perplexity",
    "self_information",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_cross_entropy",
    "softmax_focal_loss",
]
