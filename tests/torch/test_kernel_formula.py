"""The compiled kernel (``_kernel.c``, the only other statement of the softmax
cross-entropy) against the one Python formula of ``crossent.losses._rows``.

Every option the kernel serves — ignored rows (one of them all ``-inf``), label smoothing,
z-loss, soft-capping, class weights, each reduction, and each storage dtype it has a
function for — goes through :func:`crossent.torch.cross_entropy` with
``CROSSENT_KERNEL=c``; the reference evaluates :func:`loss_from_row_stats` and
:func:`block_gradient` in float64 NumPy on the row statistics of the same input values.
The kernel takes class-index targets only (probability targets run on composed ops).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import torch

from crossent.losses._rows import block_gradient, loss_from_row_stats, softmax_gradient_row_scale
from crossent.torch import cross_entropy
from crossent.torch.fused import kernels

pytestmark = pytest.mark.skipif(
    not kernels.kernel_status()[0], reason="the compiled kernel extension was not built"
)

N, C, IGNORE = 7, 37, -100
TOL = {
    torch.float32: {"rtol": 2e-5, "atol": 2e-5},
    torch.bfloat16: {"rtol": 2**-7, "atol": 2e-3},
    torch.float16: {"rtol": 2**-10, "atol": 2e-4},
}
OPTIONS = [
    {"label_smoothing": eps, "z_loss": lam, "logit_softcap": cap, "weighted": weighted}
    for eps, lam, cap, weighted in itertools.product((0.0, 0.1), (0.0, 0.01), (None, 5.0), (0, 1))
    if not (eps and weighted)  # the fused losses refuse weight with smoothing (tested elsewhere)
]


def inputs(dtype: torch.dtype, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = (4 * torch.randn(N, C, generator=gen)).to(dtype)
    x[1, 3] = -float("inf")  # a masked class of a counted row
    x[2] = -float("inf")  # an ignored row masked whole (padding)
    y = torch.randint(0, C, (N,), generator=gen)
    y[1] = 0
    y[2] = y[5] = IGNORE
    w = 0.5 + torch.rand(C, generator=gen)
    return x, y, w


def reference(
    x: torch.Tensor, y: torch.Tensor, w: np.ndarray | None, opts: dict[str, Any], reduction: str
) -> tuple[np.ndarray, np.ndarray]:
    """Loss (reduced) and gradient of the loss's sum of ``upstream``-weighted rows
    (``"none"``) or of the reduced loss, in float64, from the row statistics."""
    eps, lam, cap = opts["label_smoothing"], opts["z_loss"], opts["logit_softcap"]
    z = x.double().numpy()
    if cap is not None:
        z = cap * np.tanh(z / cap)
    yy = y.numpy()
    valid = yy != IGNORE
    idx = np.where(valid, yy, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.max(z, axis=1)
        m_safe = np.where(np.isfinite(m), m, 0.0)
        lse = m_safe + np.log(np.sum(np.exp(z - m_safe[:, None]), axis=1))
        target = z[np.arange(N), idx]
        total = z.sum(axis=1)
        r = valid * (1.0 if w is None else w[idx])
        h, u = (1 - eps) * r, valid * eps / C
        smooth = {} if not eps else {"smooth_coef": u, "weight_sum": C, "weighted_logit_sum": total}
        rows = loss_from_row_stats(np, lse, h, target, z_loss=lam, row_weight=r, **smooth)
    # A row of all -inf logits has its gradient taken with s = 0 (host.gradient_lse).
    lse_g = np.where(lse == -np.inf, 0.0, lse)
    k = softmax_gradient_row_scale(np, h + u * C, z_loss=lam, row_weight=r, lse=lse_g)
    g = block_gradient(np, z, lse_g, k, smooth_coef=u, target_coef=h, indices=idx, cap=cap)
    divisor = r.sum() if r.sum() > 0 else 1.0
    if reduction == "none":
        return rows, g * upstream()[:, None]
    if reduction == "mean":
        return np.array(rows.sum() / divisor), g / divisor
    return np.array(rows.sum()), g


def upstream() -> np.ndarray:
    return np.linspace(0.5, 2.0, N)


def kernel_run(
    x: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor | None,
    opts: dict[str, Any],
    reduction: str,
    inplace: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = x.clone().requires_grad_(True)
    logits = leaf * 1  # non-leaf, so that the in-place gradient may overwrite it
    options = {k: v for k, v in opts.items() if k != "weighted"}
    loss = cross_entropy(
        logits, y, weight=w, reduction=reduction, inplace_backward=inplace, **options
    )
    seed = torch.from_numpy(upstream()).to(loss.dtype) if reduction == "none" else None
    loss.backward(seed)
    assert leaf.grad is not None
    return loss.detach(), leaf.grad


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_the_c_kernel_computes_the_python_formula(
    monkeypatch: pytest.MonkeyPatch, dtype: torch.dtype, reduction: str
) -> None:
    monkeypatch.setenv(kernels.KERNEL_ENV, "c")
    x, y, w = inputs(dtype, seed=len(reduction))
    if kernels._c_function(x, x, "apply") is None:
        pytest.skip(f"this build of the kernel has no {dtype} functions")
    for opts, inplace in itertools.product(OPTIONS, (False, True)):
        weight = w if opts["weighted"] else None
        loss, grad = kernel_run(x, y, weight, opts, reduction, inplace)
        ref_loss, ref_grad = reference(
            x, y, None if weight is None else weight.double().numpy(), opts, reduction
        )
        where = f"{opts}, inplace={inplace}"
        assert loss.dtype == dtype and grad.dtype == dtype, where
        np.testing.assert_allclose(
            loss.double().numpy(), ref_loss, **TOL[dtype], err_msg=f"loss: {where}"
        )
        np.testing.assert_allclose(
            grad.double().numpy(), ref_grad, **TOL[dtype], err_msg=f"gradient: {where}"
        )
        assert not grad[2].any(), where  # the ignored row of -inf: 0, not NaN
