"""Distillation in PyTorch: the module, the fused linear loss against the naive two-logits
computation (value and every gradient), and the vocabulary-parallel forward-KL recipe."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

import reference_distillation as refd
from crossent import distillation_loss
from crossent.torch import (
    DistillationLoss,
    LinearDistillationLoss,
    linear_distillation_loss,
    vocab_parallel_cross_entropy,
)

N, DS, DT, V = 7, 5, 6, 11
DIVERGENCES = ["kl", "reverse_kl", "jsd"]
TARGETS = torch.tensor([3, -100, 0, 10, -100, 4, 7])
TOL = {torch.float64: {"rtol": 1e-10, "atol": 1e-12}, torch.float32: {"rtol": 2e-5, "atol": 2e-6}}


def inputs(
    seed: int, dtype: torch.dtype = torch.float64, batch: tuple[int, ...] = (N,)
) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    return {
        "hs": randn(*batch, DS).requires_grad_(),
        "ws": randn(V, DS, scale=1.5).requires_grad_(),
        "ht": randn(*batch, DT),
        "wt": randn(V, DT, scale=1.5),
    }


def naive(x: dict[str, torch.Tensor], **options: Any) -> torch.Tensor:
    """Both logits materialised, then the core loss; autograd for the gradients."""
    return distillation_loss(x["hs"] @ x["ws"].T, x["ht"] @ x["wt"].T, **options)


def fused(x: dict[str, torch.Tensor], **options: Any) -> torch.Tensor:
    return linear_distillation_loss(x["hs"], x["ws"], x["ht"], x["wt"], **options)


def value_and_grads(
    fn: Any, x: dict[str, torch.Tensor], upstream: torch.Tensor | None = None, **options: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    loss = fn(x, **options)
    hs_grad, ws_grad = torch.autograd.grad(
        loss, (x["hs"], x["ws"]), grad_outputs=upstream if upstream is not None else None
    )
    return loss.detach(), hs_grad, ws_grad


OPTIONS = [
    {},
    {"targets": TARGETS, "temperature": 2.0},
    {"targets": TARGETS, "hard_weight": 0.4, "temperature": 0.5, "beta": 0.3},
]


@pytest.mark.parametrize("divergence", DIVERGENCES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", range(len(OPTIONS)))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_equals_naive_value_and_gradients(divergence, reduction, case, dtype):
    x = inputs(case, dtype)
    options = {**OPTIONS[case], "divergence": divergence, "reduction": reduction}
    upstream = None
    if reduction == "none":
        upstream = torch.rand(N, generator=torch.Generator().manual_seed(9), dtype=dtype) + 0.5
    expected = value_and_grads(naive, x, upstream, **options)
    got = value_and_grads(fused, x, upstream, chunk_size=3, **options)
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == dtype and a.shape == b.shape
        torch.testing.assert_close(a, b, **TOL[dtype])


def test_fused_matches_the_naive_float64_reference_in_every_chunking():
    x = inputs(3)
    zs, zt = (x["hs"] @ x["ws"].T).detach(), x["ht"] @ x["wt"].T
    expected = refd.distillation_loss(
        zs, zt, divergence="jsd", beta=0.7, temperature=1.7, targets=TARGETS, reduction="none"
    )
    for chunk in (1, 2, N, 100, None):
        out = fused(
            x,
            divergence="jsd",
            beta=0.7,
            temperature=1.7,
            targets=TARGETS,
            reduction="none",
            chunk_size=chunk,
        )
        np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-14)


def test_batch_dimensions_are_flattened():
    x = inputs(4, batch=(2, 3))
    y = torch.tensor([[1, 2, -100], [0, 10, 5]])
    options = {"targets": y, "hard_weight": 0.2, "divergence": "reverse_kl", "chunk_size": 4}
    got = value_and_grads(fused, x, **options)
    expected = value_and_grads(naive, x, **{k: v for k, v in options.items() if k != "chunk_size"})
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    out = fused(x, targets=y, reduction="none")
    assert out.shape == (2, 3) and out[0, 2] == 0


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_all_ignored_batch_is_zero_with_zero_gradients(divergence):
    x = inputs(5)
    y = torch.full((N,), -100)
    loss, dh, dw = value_and_grads(fused, x, targets=y, divergence=divergence, hard_weight=0.5)
    assert loss == 0 and not dh.any() and not dw.any()


def test_empty_batch():
    x = inputs(6, batch=(0,))
    for reduction in ("mean", "sum"):
        loss, dh, dw = value_and_grads(fused, x, reduction=reduction)
        assert loss == 0 and dh.shape == (0, DS) and dw.shape == (V, DS) and not dw.any()
    assert fused(x, reduction="none").shape == (0,)


def test_teacher_gets_no_gradient_and_only_the_wanted_ones_are_formed():
    x = inputs(7)
    x["ht"].requires_grad_()
    x["wt"].requires_grad_()
    fused(x, divergence="jsd").backward()
    assert x["ht"].grad is None and x["wt"].grad is None
    assert x["hs"].grad is not None and x["ws"].grad is not None
    frozen = {k: v.detach() for k, v in x.items()}
    frozen["ws"].requires_grad_()
    fused(frozen).backward()
    expected = inputs(7)
    (dw,) = torch.autograd.grad(naive(expected), expected["ws"])
    torch.testing.assert_close(frozen["ws"].grad, dw, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        assert not fused(x).requires_grad


def test_backward_scales_by_the_incoming_gradient():
    x = inputs(8)
    (dh,) = torch.autograd.grad(3.0 * fused(x, divergence="reverse_kl"), x["hs"])
    (dh1,) = torch.autograd.grad(fused(x, divergence="reverse_kl"), x["hs"])
    torch.testing.assert_close(dh, 3 * dh1, rtol=1e-12, atol=1e-14)


def test_bfloat16_is_computed_in_float32():
    x = inputs(9, torch.bfloat16)
    loss, dh, dw = value_and_grads(fused, x, divergence="jsd", temperature=2.0)
    assert loss.dtype == dh.dtype == dw.dtype == torch.bfloat16
    x32 = {k: v.detach().float().requires_grad_(v.requires_grad) for k, v in x.items()}
    expected = value_and_grads(naive, x32, divergence="jsd", temperature=2.0)
    for a, b in zip((loss, dh, dw), expected, strict=True):
        torch.testing.assert_close(a.float(), b, rtol=3e-2, atol=3e-2)


def test_module_matches_the_function():
    torch.manual_seed(0)
    head = LinearDistillationLoss(
        DS, V, temperature=2.0, divergence="jsd", chunk_size=2, dtype=torch.float64
    )
    x = inputs(10)
    loss = head(x["hs"], x["ht"], x["wt"], TARGETS)
    loss.backward()
    ws = head.weight.detach().clone().requires_grad_()
    expected = linear_distillation_loss(
        x["hs"].detach(), ws, x["ht"], x["wt"], targets=TARGETS, temperature=2.0, divergence="jsd"
    )
    expected.backward()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(head.weight.grad, ws.grad)
    assert "num_classes=11" in repr(head) and "divergence='jsd'" in repr(head)


def test_distillation_module_uses_class_dim_1_and_detaches_the_teacher():
    g = torch.Generator().manual_seed(11)
    s = torch.randn(2, 4, 3, generator=g, requires_grad=True)
    t = torch.randn(2, 4, 3, generator=g, requires_grad=True)
    y = torch.tensor([[0, 1, -100], [3, 2, 1]])
    module = DistillationLoss(temperature=2.0, hard_weight=0.5, divergence="reverse_kl")
    out = module(s, t, y)
    out.backward()
    expected = distillation_loss(
        s.detach(),
        t.detach(),
        targets=y,
        axis=1,
        temperature=2.0,
        hard_weight=0.5,
        divergence="reverse_kl",
    )
    torch.testing.assert_close(out.detach(), expected)
    assert t.grad is None and s.grad is not None
    assert "temperature=2.0" in repr(module)
    # kl_div(batchmean) of torch.nn on [N, C]: the drop-in case
    s2, t2 = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    kl = F.kl_div(
        F.log_softmax(s2, 1), F.log_softmax(t2, 1), log_target=True, reduction="batchmean"
    )
    torch.testing.assert_close(DistillationLoss()(s2, t2), kl)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda x: fused(x, chunk_size=(2, 4)),
            ValueError,
            r"`chunk_size` of crossent.torch.linear_distillation_loss must be an int",
        ),
        (lambda x: fused(x, chunk_size=0), ValueError, r"`chunk_size` must be positive"),
        (
            lambda x: fused({**x, "ht": x["ht"][:3]}),
            ValueError,
            r"`teacher_hidden` must have the batch shape of `student_hidden`, \(7,\); got \(3,\)",
        ),
        (
            lambda x: fused({**x, "wt": x["wt"][:4]}),
            ValueError,
            r"`teacher_weight` must have the student's vocabulary, 11 rows; got 4",
        ),
        (
            lambda x: fused({**x, "wt": x["wt"].float()}),
            TypeError,
            r"`teacher_weight` must have the dtype of `teacher_hidden`",
        ),
        (
            lambda x: fused({**x, "ws": x["ws"][:, :2]}),
            ValueError,
            r"`student_weight` must have shape \[V, D\]",
        ),
        (
            lambda x: fused(x, targets=TARGETS.double()),
            TypeError,
            r"`targets` of a distillation loss must be integer",
        ),
        (
            lambda x: fused(x, targets=TARGETS.tolist()),
            TypeError,
            r"`targets` must be a torch.Tensor",
        ),
        (
            lambda x: fused(x, targets=torch.full((N,), V)),
            ValueError,
            r"class index 11 is out of range for 11 classes",
        ),
        (
            lambda x: fused(x, hard_weight=0.5),
            ValueError,
            r"`targets` are required when `hard_weight` > 0",
        ),
        (lambda x: fused(x, divergence="kld"), ValueError, r"`divergence` must be one of"),
        (
            lambda x: LinearDistillationLoss(2, 3, temperature=-1.0),
            ValueError,
            r"`temperature` must be positive",
        ),
        (lambda x: DistillationLoss(beta=0.0), ValueError, r"`beta` must be in \(0.0, 1.0\)"),
    ],
)
def test_errors_name_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make(inputs(12))


# ---------------------------------------------------------------------------------------
# The vocabulary-parallel recipe: forward KL from probability targets
# ---------------------------------------------------------------------------------------


@pytest.fixture
def single_rank_group():
    """A gloo process group of one rank, in this process (the recipe needs a group)."""
    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_vocab_parallel_cross_entropy_gives_forward_kl_up_to_the_teachers_entropy(
    single_rank_group, temperature
):
    g = torch.Generator().manual_seed(13)
    s = (3 * torch.randn(N, V, generator=g, dtype=torch.float64)).requires_grad_()
    t = 3 * torch.randn(N, V, generator=g, dtype=torch.float64)
    p = torch.softmax(t / temperature, dim=-1)
    teacher_entropy = -(p * torch.log_softmax(t / temperature, dim=-1)).sum(-1).mean()
    ce = vocab_parallel_cross_entropy(s / temperature, p) * temperature**2
    (recipe_grad,) = torch.autograd.grad(ce, s)
    kl = distillation_loss(s, t, temperature=temperature)
    (kl_grad,) = torch.autograd.grad(kl, s)
    torch.testing.assert_close(ce - temperature**2 * teacher_entropy, kl, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(recipe_grad, kl_grad, rtol=1e-10, atol=1e-12)


def test_default_chunk_keeps_the_working_set_within_the_budget():
    from crossent.torch.distillation import WORKING_ARRAYS, chunk_rows
    from crossent.torch.fused.host import CHUNK_BYTES

    assert chunk_rows(None, 4096, 32768) == 32  # 16 arrays of [32, 32768] float32 = 64 MiB
    for v in (10, 1000, 50257, 262144, 10**7):
        rows = chunk_rows(None, 10**6, v)
        assert rows >= 1 and (rows == 1 or rows * v * 4 * WORKING_ARRAYS <= CHUNK_BYTES)
    assert chunk_rows(None, 3, 10) == 3 and chunk_rows(None, 0, 10) == 1
    assert chunk_rows(5, 100, 10) == 5


def test_backward_twice_with_a_retained_graph_doubles_the_gradients():
    x = inputs(14)
    loss = fused(x, divergence="jsd", targets=TARGETS)
    loss.backward(retain_graph=True)
    once = (x["hs"].grad.clone(), x["ws"].grad.clone())
    loss.backward()
    torch.testing.assert_close(x["hs"].grad, 2 * once[0], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(x["ws"].grad, 2 * once[1], rtol=1e-12, atol=1e-14)
