"""PyTorch front end: ``nn.Module`` wrappers (class dim 1, as ``torch.nn``) and fused kernels.

Importing this package needs PyTorch (``pip install crossent[torch]``).
"""

from crossent.torch.modules import (
    AsymmetricLoss,
    BinaryCrossEntropyLoss,
    CategoricalCrossEntropyLoss,
    GHMClassificationLoss,
    SigmoidBinaryCrossEntropyLoss,
    SigmoidFocalLoss,
    SoftmaxCrossEntropyLoss,
    SoftmaxFocalLoss,
)

__all__ = [
    "AsymmetricLoss",
    "BinaryCrossEntropyLoss",
    "CategoricalCrossEntropyLoss",
    "GHMClassificationLoss",
    "SigmoidBinaryCrossEntropyLoss",
    "SigmoidFocalLoss",
    "SoftmaxCrossEntropyLoss",
    "SoftmaxFocalLoss",
]

# Fused low-memory kernels.
from crossent.torch.fused import (
    LinearCrossEntropy,
    cross_entropy,
    linear_cross_entropy,
)

__all__ += ["LinearCrossEntropy", "cross_entropy", "linear_cross_entropy"]

# Vocabulary-parallel cross-entropy over torch.distributed.
from crossent.torch.distributed import (  # noqa: E402
    VocabParallelLinearCrossEntropy,
    vocab_parallel_cross_entropy,
    vocab_parallel_linear_cross_entropy,
)

__all__ += [
    "VocabParallelLinearCrossEntropy",
    "vocab_parallel_cross_entropy",
    "vocab_parallel_linear_cross_entropy",
]

# Knowledge distillation: the module, and the fused loss of two output layers.
from crossent.torch.distillation import (  # noqa: E402
    DistillationLoss,
    LinearDistillationLoss,
    linear_distillation_loss,
)

__all__ += ["DistillationLoss", "LinearDistillationLoss", "linear_distillation_loss"]

# Noise-robust cross-entropies.
from crossent.torch.robust import (  # noqa: E402
    BiTemperedLogisticLoss,
    GeneralizedCrossEntropy,
    Poly1CrossEntropy,
    SymmetricCrossEntropy,
)

__all__ += [
    "BiTemperedLogisticLoss",
    "GeneralizedCrossEntropy",
    "Poly1CrossEntropy",
    "SymmetricCrossEntropy",
]
