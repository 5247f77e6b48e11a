"""The small PyTorch models the experiments train: a linear layer or a one-hidden-layer MLP."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["HIDDEN", "TwoHeads", "mlp"]

HIDDEN = 64
"""Width of the hidden layer: enough for the digits and a bag of words, fast on a CPU."""


def mlp(
    in_features: int, out_features: int, *, seed: int, hidden: int | None = HIDDEN
) -> nn.Module:
    """``Linear → ReLU → Linear`` (or one ``Linear`` when ``hidden`` is None), seeded.

    The output is logits: the activation belongs to the loss.
    """
    torch.manual_seed(seed)
    if hidden is None:
        return nn.Linear(in_features, out_features)
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, out_features))


class TwoHeads(nn.Module):
    """A shared trunk and one linear head per task (the multi-task model of C16)."""

    def __init__(
        self, in_features: int, head_sizes: tuple[int, ...], *, seed: int, hidden: int = HIDDEN
    ):
        super().__init__()
        torch.manual_seed(seed)
        self.trunk = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(hidden, size) for size in head_sizes)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        shared = self.trunk(x)
        return [head(shared) for head in self.heads]
