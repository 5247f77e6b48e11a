"""The row statistics that every kernel of the fused losses returns, and their dtype.

The lowest module of :mod:`crossent.torch.fused`: the composed-torch and C kernels
(:mod:`~crossent.torch.fused.kernels`) and the Triton kernels
(:mod:`~crossent.torch.fused.triton_kernels`) both build :class:`RowStats`, and the host
code turns them into losses with :func:`crossent.losses._rows.loss_from_row_stats`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["RowStats", "stats_dtype"]


@dataclass
class RowStats:
    """Per-row statistics of the soft-capped logits ``z'``, shape ``[N]``, in the compute
    dtype (:func:`stats_dtype`)."""

    lse: torch.Tensor  # logsumexp_j z'_ij
    target: torch.Tensor  # z'_{i, y_i}, 0 where y_i is not a column of the block
    total: torch.Tensor  # sum_j z'_ij


def stats_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype the kernels compute in: float64 for float64 input, else float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32
