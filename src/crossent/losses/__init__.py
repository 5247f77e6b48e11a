"""The loss functions, one module per family (DESIGN.md, layout).

A new loss goes in the module of its family, with its closed-form gradient in
:mod:`crossent.grad`, its ``nn.Module`` in :mod:`crossent.torch`, and its name here.
"""

from crossent.losses.binary import binary_cross_entropy, sigmoid_binary_cross_entropy
from crossent.losses.categorical import categorical_cross_entropy, softmax_cross_entropy

__all__ = [
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
]
