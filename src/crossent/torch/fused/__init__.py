r"""Fused low-memory softmax cross-entropy: on logits, and on ``hidden @ weight.T`` without them.

For a language model the logits ``[N, V]`` dominate memory. ``F.cross_entropy`` keeps
the log-softmax for its backward and writes a separate gradient (about three times the
logits at its peak); ``F.cross_entropy(hidden @ weight.T, targets)``
materialises the logits outright. Liger-Kernel (Hsu et al. 2024) and Cut Cross-Entropy
(Wijmans et al. 2025) fix this on GPUs; this module does it on any device PyTorch runs
on, with a compiled CPU kernel where a C compiler is available.

Every loss here is the core :func:`crossent.softmax_cross_entropy` with class-index
targets (class axis last), and its gradient is the closed form of
:mod:`crossent.grad`. Both need only three numbers per row of the (soft-capped) logits
:math:`z'`:

.. math:: s_i = \operatorname{logsumexp}_j z'_{ij}, \qquad z'_{i y_i}, \qquad \sum_j z'_{ij},

because with the sparse target coefficients :math:`a_{ij} = h_i [j = y_i] + u_i`
(:func:`crossent.grad.softmax_index_coefficients`) the loss is
:math:`\ell_i = \sum_j a_{ij} (s_i - z'_{ij}) + \lambda_z r_i s_i^2
= h_i (s_i - z'_{iy_i}) + u_i (C s_i - \sum_j z'_{ij}) + \lambda_z r_i s_i^2`, and the
gradient is :math:`\partial L / \partial z_{ij} = \sigma_i \big(q_{ij} k_i - a_{ij}\big)
\cdot \partial z'_{ij} / \partial z_{ij}` with :math:`q = e^{z' - s}`, the row factor
:math:`k_i` of :func:`crossent.losses._rows.softmax_gradient_row_scale` and :math:`\sigma_i`
the reduction's scale times the incoming gradient. Both formulas are those of
:mod:`crossent.losses._rows` (:func:`~crossent.losses._rows.loss_from_row_stats`,
:func:`~crossent.losses._rows.block_gradient`), which the core losses and gradients use
too; ``_kernel.c`` is their only other statement.

So the kernel is two passes over the logits — a *read* pass for the row statistics and a
*read-write* pass that evaluates the gradient — which is exactly the memory-traffic floor
of a loss whose gradient is written in place. Layers, as in Liger-Kernel, one module each:

1. :mod:`~crossent.torch.fused.kernels` — :func:`~crossent.torch.fused.kernels.row_stats`
   and :func:`~crossent.torch.fused.kernels.apply_gradient`: the C kernel ``_kernel.c``
   (built at install time as an optional extension, with code for several CPU generations
   chosen when it loads; called through :mod:`ctypes` on CPU tensors) or the same two
   passes in composed torch ops over blocks of rows (any device; where the extension is
   not installed, with one warning; ``CROSSENT_KERNEL=torch`` forces them). Both compute
   in float32 (float64 logits, which only the composed torch ops take, in float64).
2. :mod:`~crossent.torch.fused.host` — validation, targets and allocation
   (:func:`~crossent.torch.fused.host.prepare_rows`,
   :func:`~crossent.torch.fused.host.linear_chunks`), and the loss from row statistics.
3. :mod:`~crossent.torch.fused.functions` — the ``torch.library`` custom ops (with fake
   implementations, so that ``torch.compile(fullgraph=True)`` traces them) and the
   autograd functions of the in-place and vocabulary-parallel paths.
4. :mod:`~crossent.torch.fused.api` — :func:`cross_entropy`, :func:`linear_cross_entropy`
   and the ``nn.Module`` :class:`LinearCrossEntropy`.

Why two passes in C rather than composed ops or ``torch.compile`` of ``F.cross_entropy``,
and how the chunk size trades time for memory, is measured by ``crossent bench`` and
recorded in ``benchmarks/README.md``. On CUDA tensors the two passes run as Triton kernels
(:mod:`~crossent.torch.fused.triton_kernels`, chosen by ``kernel="auto"`` or
``"triton"``, or ``CROSSENT_KERNEL``), which are tested for correctness on CPU under
Triton's interpreter; no GPU performance is claimed.

References:
    Hsu et al. "Liger Kernel: Efficient Triton Kernels for LLM Training." 2024.
    Wijmans et al. "Cut Your Losses in Large-Vocabulary Language Models." ICLR 2025.
    Milakov and Gimelshein. "Online normalizer calculation for softmax." 2018.
"""

from crossent.torch.fused.api import LinearCrossEntropy, cross_entropy, linear_cross_entropy
from crossent.torch.fused.kernels import (
    KERNEL_ENV,
    KernelUnavailableWarning,
    kernel_backend,
    kernel_status,
)

__all__ = [
    "KERNEL_ENV",
    "KernelUnavailableWarning",
    "LinearCrossEntropy",
    "cross_entropy",
    "kernel_backend",
    "kernel_status",
    "linear_cross_entropy",
]
