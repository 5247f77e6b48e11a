"""PyTorch front end: ``nn.Module`` wrappers (class dim 1, as ``torch.nn``) and fused kernels.

Importing this package needs PyTorch (``pip install crossent[torch]``).
"""

from crossent.torch.modules import (
    BinaryCrossEntropyLoss,
    CategoricalCrossEntropyLoss,
    SigmoidBinaryCrossEntropyLoss,
    SoftmaxCrossEntropyLoss,
)

__all__ = [
    "BinaryCrossEntropyLoss",
    "CategoricalCrossEntropyLoss",
    "SigmoidBinaryCrossEntropyLoss",
    "SoftmaxCrossEntropyLoss",
]
