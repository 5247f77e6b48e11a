"""The loss functions, one module per family (DESIGN.md, layout).

A new loss goes in the module of its family, with its closed-form gradient in
:mod:`crossent.grad`, its ``nn.Module`` in :mod:`crossent.torch`, and its name here.
"""

from crossent.losses.binary import binary_cross_entropy, sigmoid_binary_cross_entropy
from crossent.losses.categorical import categorical_cross_entropy, softmax_cross_entropy
from crossent.losses.distillation import distillation_loss
from crossent.losses.focal import asymmetric_loss, sigmoid_focal_loss, softmax_focal_loss
from crossent.losses.ghm import GHMC, ghm_classification_loss
from crossent.losses.mining import hard_negative_mining, ohem
from crossent.losses.robust import (
    bi_tempered_logistic_loss,
    generalized_cross_entropy,
    poly1_cross_entropy,
    symmetric_cross_entropy,
)
from crossent.losses.weights import class_balanced_weights

__all__ = [
    "GHMC",
    "asymmetric_loss",
    "bi_tempered_logistic_loss",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "class_balanced_weights",
    "distillation_loss",
    "generalized_cross_entropy",
    "ghm_classification_loss",
    "hard_negative_mining",
    "ohem",
    "poly1_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_cross_entropy",
    "softmax_focal_loss",
    "symmetric_cross_entropy",
]
