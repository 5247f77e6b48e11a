"""crossent: the cross-entropy family of losses on NumPy, PyTorch and JAX."""

from crossent import grad, info, losses
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
    binary_cross_entropy,
    categorical_cross_entropy,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
)

__version__ = "0.1.0"

__all__ = [
    "binary_cross_entropy",
    "binary_entropy",
    "categorical_cross_entropy",
    "cross_entropy",
    "entropy",
    "grad",
    "info",
    "js_divergence",
    "kl_divergence",
    "losses",
    "perplexity",
    "self_information",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
]
