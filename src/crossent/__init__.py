"""crossent: the cross-entropy family of losses on NumPy, PyTorch and JAX.

The losses and information measures are importable from here; the submodules
(``crossent.task``, ``crossent.multitask``, ``crossent.torch``, ...) are attributes of the
package, loaded on first use (PEP 562), so that ``import crossent`` needs NumPy only and
imports neither PyTorch nor JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

from crossent._checks import get_validation, set_validation, validation
from crossent.info import (
    binary_entropy,
    cross_entropy,
    entropy,
    gaussian_cross_entropy,
    gaussian_entropy,
    gaussian_kl_divergence,
    js_divergence,
    kl_divergence,
    monte_carlo_kl,
    mvn_cross_entropy,
    mvn_entropy,
    mvn_kl_divergence,
    perplexity,
    self_information,
)
from crossent.losses import (
    GHMC,
    asymmetric_loss,
    bi_tempered_logistic_loss,
    binary_cross_entropy,
    categorical_cross_entropy,
    class_balanced_weights,
    distillation_loss,
    generalized_cross_entropy,
    ghm_classification_loss,
    hard_negative_mining,
    ohem,
    poly1_cross_entropy,
    sigmoid_binary_cross_entropy,
    sigmoid_focal_loss,
    softmax_cross_entropy,
    softmax_focal_loss,
    symmetric_cross_entropy,
)

__version__ = "0.1.0"

SUBMODULES = ("calibration", "grad", "info", "keras", "losses", "multitask", "task", "torch")
"""The public submodules, reachable as attributes of the package (loaded on first use)."""

__all__ = [
    "GHMC",
    "asymmetric_loss",
    "bi_tempered_logistic_loss",
    "binary_cross_entropy",
    "binary_entropy",
    "categorical_cross_entropy",
    "class_balanced_weights",
    "cross_entropy",
    "distillation_loss",
    "entropy",
    "gaussian_cross_entropy",
    "gaussian_entropy",
    "gaussian_kl_divergence",
    "generalized_cross_entropy",
    "get_validation",
    "ghm_classification_loss",
    "grad",
    "hard_negative_mining",
    "info",
    "js_divergence",
    "kl_divergence",
    "losses",
    "monte_carlo_kl",
    "multitask",
    "mvn_cross_entropy",
    "mvn_entropy",
    "mvn_kl_divergence",
    "ohem",
    "perplexity",
    "poly1_cross_entropy",
    "self_information",
    "set_validation",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_cross_entropy",
    "softmax_focal_loss",
    "symmetric_cross_entropy",
    "task",
    "validation",
]


def __getattr__(name: str) -> Any:
    """``crossent.<submodule>`` without importing it first: imported here on first access."""
    if name in SUBMODULES:
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":  # not part of this version of crossent
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
            raise  # the submodule needs a package that is not installed: say which
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(SUBMODULES))
