"""Fused kernels: the same numbers as the core loss, its closed-form gradient and PyTorch.

Every case runs on both kernels — the compiled C kernel (when it builds here) and the
composed-torch fallback — so the fallback is known to give the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import crossent
import reference as ref
from crossent import grad
from crossent._array import namespace
from crossent.losses.categorical import coefficients, prepare_targets
from crossent.torch import LinearCrossEntropy, cross_entropy, fused, linear_cross_entropy
from crossent.torch.fused import host

BACKENDS = ["torch"] + (["c"] if fused.kernel_backend() == "c" else [])

TOL = {
    torch.float64: (1e-12, 1e-13),
    torch.float32: (2e-5, 2e-6),
    torch.float16: (5e-3, 5e-3),
    torch.bfloat16: (3e-2, 3e-2),
}

OPTIONS = [
    {},
    {"label_smoothing": 0.1},
    {"z_loss": 1e-2},
    {"logit_softcap": 3.0},
    {"ignore_index": None},
    {"label_smoothing": 0.2, "z_loss": 0.05, "logit_softcap": 2.5, "reduction": "sum"},
    {"reduction": "none", "label_smoothing": 0.3},
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(fused.KERNEL_ENV, "torch" if request.param == "torch" else "auto")
    assert fused.kernel_backend() == request.param
    return str(request.param)


def make_batch(
    shape: tuple[int, ...], n_classes: int, seed: int = 0, ignored: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn((*shape, n_classes), generator=gen, dtype=torch.float64)
    targets = torch.randint(0, n_classes, shape, generator=gen)
    flat = targets.view(-1)
    flat[: min(ignored, flat.numel() - 1)] = -100
    return logits, targets


def core_loss_and_grad(
    logits: torch.Tensor, targets: torch.Tensor, grad_out: torch.Tensor | None = None, **kw: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and gradient of the core loss in float64 under autograd (an independent path)."""
    z = logits.detach().to(torch.float64).requires_grad_()
    loss = crossent.softmax_cross_entropy(z, targets, **kw)
    loss.backward(torch.ones_like(loss) if grad_out is None else grad_out.to(torch.float64))
    assert z.grad is not None
    return loss.detach(), z.grad


def assert_close(out: torch.Tensor, expected: Any, dtype: torch.dtype, scale: float = 1.0) -> None:
    assert isinstance(out, torch.Tensor)
    assert out.dtype == dtype, (out.dtype, dtype)
    expected = torch.as_tensor(expected, dtype=torch.float64)
    assert tuple(out.shape) == tuple(expected.shape)
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(
        out.detach().to(torch.float64).numpy(),
        expected.numpy(),
        rtol=rtol * scale,
        atol=atol * scale,
    )


# ---------------------------------------------------------------------------------------
# cross_entropy
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("inplace", [False, True])
def test_cross_entropy_equals_core(
    backend: str, options: dict[str, Any], dtype: torch.dtype, inplace: bool
) -> None:
    base, targets = make_batch((9,), 37)
    if options.get("ignore_index", -100) is None:
        targets = targets.clamp(min=0)
    x = base.to(dtype)
    leaf = x.clone().requires_grad_()
    logits = leaf * 1  # a non-leaf, as a model's output is
    loss = cross_entropy(logits, targets, inplace_backward=inplace, **options)
    grad_out = torch.linspace(0.5, 2.0, loss.numel(), dtype=dtype).reshape(loss.shape)
    loss.backward(grad_out)
    want_loss, want_grad = core_loss_and_grad(x, targets, grad_out, **options)
    assert_close(loss, want_loss, dtype)
    assert leaf.grad is not None
    assert_close(leaf.grad, want_grad, dtype)
    # the closed form of crossent.grad (for a unit incoming gradient) is the same tensor
    if loss.numel() == 1:
        closed = grad.softmax_cross_entropy(x, targets, **options) * grad_out.to(torch.float32)
        assert_close(leaf.grad, closed.to(torch.float64), dtype)


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("inplace", [False, True])
def test_float64_logits_are_computed_in_float64(options: dict[str, Any], inplace: bool) -> None:
    base, targets = make_batch((9,), 37, seed=3)
    if options.get("ignore_index", -100) is None:
        targets = targets.clamp(min=0)
    leaf = base.clone().requires_grad_()
    loss = cross_entropy(leaf * 1, targets, inplace_backward=inplace, **options)
    grad_out = torch.linspace(0.5, 2.0, loss.numel(), dtype=torch.float64).reshape(loss.shape)
    loss.backward(grad_out)
    want_loss, want_grad = core_loss_and_grad(base, targets, grad_out, **options)
    assert_close(loss, want_loss, torch.float64)
    assert leaf.grad is not None
    assert_close(leaf.grad, want_grad, torch.float64)


WEIGHTED_OPTIONS = [
    {},
    {"ignore_index": 3},
    {"z_loss": 0.05, "logit_softcap": 2.5},
    {"reduction": "sum"},
    {"reduction": "none", "z_loss": 0.01},
]


@pytest.mark.parametrize("options", WEIGHTED_OPTIONS)
@pytest.mark.parametrize("inplace", [False, True])
def test_class_weights_equal_core_and_torch(
    backend: str, options: dict[str, Any], inplace: bool
) -> None:
    base, targets = make_batch((12,), 7, seed=5, ignored=2)
    if "ignore_index" in options:
        targets = torch.where(targets == -100, options["ignore_index"], targets)
    weight = torch.linspace(0.2, 3.0, 7)
    x = base.to(torch.float32)
    leaf = x.clone().requires_grad_()
    loss = cross_entropy(leaf * 1, targets, weight=weight, inplace_backward=inplace, **options)
    grad_out = torch.linspace(0.5, 2.0, loss.numel()).reshape(loss.shape)
    loss.backward(grad_out)
    want_loss, want_grad = core_loss_and_grad(
        x, targets, grad_out, weight=weight.double(), **options
    )
    assert_close(loss, want_loss, torch.float32)
    assert leaf.grad is not None
    assert_close(leaf.grad, want_grad, torch.float32)
    if not options.get("z_loss") and not options.get("logit_softcap"):
        torch_opts = {k: v for k, v in options.items() if k != "ignore_index"}
        torch_opts["ignore_index"] = options.get("ignore_index", -100)
        theirs = F.cross_entropy(x.double(), targets, weight=weight.double(), **torch_opts)
        assert_close(loss, theirs, torch.float32)


def test_class_weight_errors() -> None:
    logits, targets = torch.zeros(2, 3), torch.tensor([0, 2])
    with pytest.raises(ValueError, match="`weight` together with `label_smoothing`"):
        cross_entropy(logits, targets, weight=torch.ones(3), label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"`weight` must have one entry per class, shape \(3,\)"):
        cross_entropy(logits, targets, weight=torch.ones(4))
    with pytest.raises(ValueError, match="`weight` must be non-negative"):
        cross_entropy(logits, targets, weight=[1.0, -1.0, 1.0])
    with pytest.raises(TypeError, match="`weight` must be an array"):
        cross_entropy(logits, targets, weight="heavy")


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}])
@pytest.mark.parametrize("inplace", [False, True])
def test_cross_entropy_equals_torch(backend: str, options: dict[str, Any], inplace: bool) -> None:
    base, targets = make_batch((6, 5), 11, seed=1, ignored=4)
    x = base.to(torch.float32)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = cross_entropy(a * 1, targets, inplace_backward=inplace, **options)
    theirs = F.cross_entropy(b.reshape(-1, 11), targets.reshape(-1), **options)
    ours.backward()
    theirs.backward()
    assert_close(ours, theirs.detach().to(torch.float64), torch.float32)
    assert a.grad is not None and b.grad is not None
    assert_close(a.grad, b.grad.to(torch.float64), torch.float32)


def test_cross_entropy_equals_naive_reference(backend: str) -> None:
    base, targets = make_batch((4,), 6, seed=2)
    kw = {"label_smoothing": 0.1, "z_loss": 0.01, "logit_softcap": 4.0, "reduction": "none"}
    out = cross_entropy(base.to(torch.float32), targets, **kw)
    assert_close(out, ref.softmax_cross_entropy(base.numpy(), targets.numpy(), **kw), torch.float32)


@pytest.mark.parametrize("inplace", [False, True])
def test_cross_entropy_one_row_and_3d(backend: str, inplace: bool) -> None:
    for shape in [(1,), (2, 3), ()]:
        base, targets = make_batch(shape, 5, seed=3, ignored=0)
        leaf = base.to(torch.float32).requires_grad_()
        loss = cross_entropy(leaf * 1, targets, inplace_backward=inplace)
        loss.backward()
        want_loss, want_grad = core_loss_and_grad(base, targets)
        assert_close(loss, want_loss, torch.float32)
        assert leaf.grad is not None
        assert_close(leaf.grad, want_grad, torch.float32)


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("options", [{}, {"z_loss": 0.1, "label_smoothing": 0.2}])
def test_all_ignored_is_zero_not_nan(backend: str, inplace: bool, options: dict[str, Any]) -> None:
    leaf = torch.randn(4, 7).requires_grad_()
    targets = torch.full((4,), -100)
    loss = cross_entropy(leaf * 1, targets, inplace_backward=inplace, **options)
    loss.backward()
    assert loss.item() == 0.0
    assert leaf.grad is not None
    assert torch.equal(leaf.grad, torch.zeros(4, 7))


def test_extreme_and_masked_logits_stay_finite(backend: str) -> None:
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        x = torch.tensor([[1e4, -1e4, 0.0, -torch.inf], [-1e4, 1e4, 3.0, 2.0]], dtype=dtype)
        targets = torch.tensor([1, 0])
        leaf = x.clone().requires_grad_()
        loss = cross_entropy(leaf * 1, targets, reduction="none")
        loss.sum().backward()
        want_loss, want_grad = core_loss_and_grad(x, targets, reduction="none")
        assert torch.isfinite(loss).all() and leaf.grad is not None
        assert torch.isfinite(leaf.grad).all()
        assert_close(loss, want_loss, dtype)
        assert_close(leaf.grad, want_grad, dtype)
        assert leaf.grad[0, 3] == 0  # a masked class gets no gradient


def test_no_grad_and_eval_compute_the_loss_only(backend: str) -> None:
    base, targets = make_batch((5,), 8, seed=4)
    x = base.to(torch.float32)
    before = x.clone()
    loss = cross_entropy(x, targets, inplace_backward=True)  # does not require grad
    assert torch.equal(x, before)
    with torch.no_grad():
        loss2 = cross_entropy(x.clone().requires_grad_(), targets, inplace_backward=True)
    assert_close(loss, core_loss_and_grad(base, targets)[0], torch.float32)
    assert torch.equal(loss, loss2)


# ---------------------------------------------------------------------------------------
# The in-place gradient: its documented state, and the refusals
# ---------------------------------------------------------------------------------------


def test_inplace_state_and_gradient_flow(backend: str) -> None:
    gen = torch.Generator().manual_seed(5)
    hidden = torch.randn(6, 4, generator=gen, requires_grad=True)
    weight = torch.randn(10, 4, generator=gen, requires_grad=True)
    targets = torch.tensor([1, 2, -100, 9, 0, 3])
    logits = hidden @ weight.T
    snapshot = logits.detach().clone()
    ptr, version = logits.data_ptr(), logits._version
    loss = cross_entropy(logits, targets, inplace_backward=True)
    _, want_grad = core_loss_and_grad(snapshot, targets)
    # after forward: the logits' own storage holds dL/dlogits, and its version moved on
    assert logits.data_ptr() == ptr and logits._version > version
    assert_close(logits.detach(), want_grad, torch.float32)
    (3 * loss).backward()
    # after backward: scaled by the incoming gradient, and it reached hidden and weight
    assert_close(logits.detach(), 3 * want_grad, torch.float32)
    assert hidden.grad is not None and weight.grad is not None
    assert_close(hidden.grad, 3 * want_grad @ weight.detach().double(), torch.float32)
    assert_close(weight.grad, 3 * want_grad.T @ hidden.detach().double(), torch.float32)


def test_inplace_refuses_a_leaf() -> None:
    leaf = torch.randn(3, 4, requires_grad=True)
    with pytest.raises(ValueError, match="`logits` is a leaf tensor that requires grad"):
        cross_entropy(leaf, torch.tensor([0, 1, 2]), inplace_backward=True)


def test_inplace_refuses_logits_their_producer_saved() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    capped = torch.tanh(x)  # TanhBackward saves its result
    with pytest.raises(ValueError, match=r"`logits` are needed by TanhBackward0 \(as result\)"):
        cross_entropy(capped, torch.tensor([0, 1, 2]), inplace_backward=True)
    with pytest.raises(ValueError, match="needed by TanhBackward0"):
        cross_entropy(capped.view(3, 4), torch.tensor([0, 1, 2]), inplace_backward=True)
    assert torch.equal(capped, torch.tanh(x))  # refused before anything was written


def test_inplace_with_a_saved_view_raises_in_backward(backend: str) -> None:
    x = torch.randn(3, 4, requires_grad=True)
    logits = x * 2
    aux = logits[:, :2].pow(2).sum()  # PowBackward holds a view of the logits
    loss = cross_entropy(logits, torch.tensor([0, 1, 2]), inplace_backward=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (loss + aux).backward()


def test_inplace_refuses_logits_not_viewable_as_rows() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    logits = (x * 1).T  # [3, 4] with strided classes
    with pytest.raises(ValueError, match="`logits` must be viewable as \\[N, C\\]"):
        cross_entropy(logits, torch.tensor([0, 1, 2]), inplace_backward=True)
    # without the in-place gradient a copy is made and the numbers are right
    loss = cross_entropy(logits, torch.tensor([0, 1, 2]))
    assert_close(
        loss, core_loss_and_grad(logits.detach(), torch.tensor([0, 1, 2]))[0], torch.float32
    )


def test_inplace_on_a_padded_vocabulary_view(backend: str) -> None:
    x = torch.randn(5, 12, requires_grad=True)
    padded = x * 1
    logits = padded[:, :9]  # rows with stride 12: written in place, padding untouched
    targets = torch.tensor([0, 8, 3, -100, 1])
    _, want_grad = core_loss_and_grad(logits.detach(), targets)
    loss = cross_entropy(logits, targets, inplace_backward=True)
    loss.backward()
    assert x.grad is not None
    assert_close(x.grad[:, :9], want_grad, torch.float32)
    assert torch.equal(x.grad[:, 9:], torch.zeros(5, 3))


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_cross_entropy_errors() -> None:
    x = torch.randn(3, 4)
    with pytest.raises(
        TypeError, match=r"`targets` of crossent\.torch\.cross_entropy must be integer"
    ):
        cross_entropy(x, torch.softmax(x, -1))
    with pytest.raises(ValueError, match="`targets`: class index 4 is out of range for 4"):
        cross_entropy(x, torch.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match="`targets` must have shape \\(3,\\)"):
        cross_entropy(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="`reduction` must be one of"):
        cross_entropy(x, torch.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match="`z_loss` must be non-negative"):
        cross_entropy(x, torch.tensor([0, 1, 2]), z_loss=-1.0)
    with pytest.raises(ValueError, match="`logit_softcap` must be positive"):
        cross_entropy(x, torch.tensor([0, 1, 2]), logit_softcap=0.0)
    with pytest.raises(TypeError, match=r"`logits` must be a torch\.Tensor"):
        cross_entropy(np.zeros((3, 4)), torch.tensor([0, 1, 2]))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`logits` must be a floating-point array"):
        cross_entropy(torch.zeros(3, 4, dtype=torch.int64), torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="`inplace_backward` must be a bool"):
        cross_entropy(x, torch.tensor([0, 1, 2]), inplace_backward=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`logits` must have a class axis"):
        cross_entropy(torch.tensor(1.0), torch.tensor(0))


# ---------------------------------------------------------------------------------------
# linear_cross_entropy
# ---------------------------------------------------------------------------------------


def linear_reference(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    grad_out: torch.Tensor | None = None,
    **kw: Any,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The core loss of the materialised logits, in float64 under autograd."""
    leaves = [t.detach().to(torch.float64).requires_grad_() for t in (hidden, weight)]
    b = None if bias is None else bias.detach().to(torch.float64).requires_grad_()
    logits = leaves[0] @ leaves[1].T + (0 if b is None else b)
    loss = crossent.softmax_cross_entropy(logits, targets, **kw)
    loss.backward(torch.ones_like(loss) if grad_out is None else grad_out.to(torch.float64))
    grads = [t.grad for t in [*leaves, *([b] if b is not None else [])]]
    return loss.detach(), grads  # type: ignore[return-value]


def make_linear(
    n: int, d: int, v: int, dtype: torch.dtype, seed: int = 0, bias: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, d, generator=gen).to(dtype)
    weight = torch.randn(v, d, generator=gen).to(dtype)
    b = torch.randn(v, generator=gen).to(dtype) if bias else None
    targets = torch.randint(0, v, (n,), generator=gen)
    targets[::4] = -100
    return hidden, weight, b, targets


@pytest.mark.parametrize("chunk_size", [None, 3, 100, (3, 5), (4, 13), (1, 1)])
@pytest.mark.parametrize("options", OPTIONS)
def test_linear_equals_core(backend: str, chunk_size: Any, options: dict[str, Any]) -> None:
    hidden, weight, bias, targets = make_linear(10, 6, 13, torch.float32)
    if options.get("ignore_index", -100) is None:
        targets = targets.clamp(min=0)
    leaves = [t.clone().requires_grad_() for t in (hidden, weight, bias) if t is not None]
    loss = linear_cross_entropy(
        leaves[0], leaves[1], targets, bias=leaves[2], chunk_size=chunk_size, **options
    )
    grad_out = torch.linspace(0.5, 2.0, loss.numel()).reshape(loss.shape)
    loss.backward(grad_out)
    want_loss, want_grads = linear_reference(hidden, weight, bias, targets, grad_out, **options)
    assert_close(loss, want_loss, torch.float32, scale=4)
    for leaf, want in zip(leaves, want_grads, strict=True):
        assert leaf.grad is not None
        assert_close(leaf.grad, want, torch.float32, scale=4)


@pytest.mark.parametrize("chunk_size", [None, 3, (4, 5)])
@pytest.mark.parametrize("options", OPTIONS)
def test_linear_float64_is_computed_in_float64(chunk_size: Any, options: dict[str, Any]) -> None:
    hidden, weight, bias, targets = make_linear(10, 6, 13, torch.float64, seed=4)
    if options.get("ignore_index", -100) is None:
        targets = targets.clamp(min=0)
    leaves = [t.clone().requires_grad_() for t in (hidden, weight, bias) if t is not None]
    loss = linear_cross_entropy(
        leaves[0], leaves[1], targets, bias=leaves[2], chunk_size=chunk_size, **options
    )
    grad_out = torch.linspace(0.5, 2.0, loss.numel(), dtype=torch.float64).reshape(loss.shape)
    loss.backward(grad_out)
    want_loss, want_grads = linear_reference(hidden, weight, bias, targets, grad_out, **options)
    assert_close(loss, want_loss, torch.float64)
    for leaf, want in zip(leaves, want_grads, strict=True):
        assert leaf.grad is not None
        assert_close(leaf.grad, want, torch.float64)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_linear_half_precision(backend: str, dtype: torch.dtype) -> None:
    hidden, weight, bias, targets = make_linear(9, 8, 21, dtype, seed=1)
    leaves = [t.clone().requires_grad_() for t in (hidden, weight, bias) if t is not None]
    loss = linear_cross_entropy(
        leaves[0], leaves[1], targets, bias=leaves[2], chunk_size=(4, 8), label_smoothing=0.1
    )
    loss.backward()
    # the reference multiplies the same half inputs in float64: allow the half matmul's rounding
    want_loss, want_grads = linear_reference(hidden, weight, bias, targets, label_smoothing=0.1)
    assert_close(loss, want_loss, dtype, scale=4)
    for leaf, want in zip(leaves, want_grads, strict=True):
        assert leaf.grad is not None and leaf.grad.dtype == dtype
        assert_close(leaf.grad, want, dtype, scale=4)


def test_linear_partial_requires_grad_and_3d(backend: str) -> None:
    hidden, weight, _, targets = make_linear(12, 4, 7, torch.float32, seed=2, bias=False)
    w = weight.clone().requires_grad_()
    loss = linear_cross_entropy(hidden.view(3, 4, 4), w, targets.view(3, 4), chunk_size=5)
    loss.backward()
    _, want = linear_reference(hidden, weight, None, targets)
    assert w.grad is not None
    assert_close(w.grad, want[1], torch.float32)
    out = linear_cross_entropy(hidden.view(3, 4, 4), weight, targets.view(3, 4), reduction="none")
    assert out.shape == (3, 4) and out.dtype == torch.float32
    assert_close(
        out,
        linear_reference(hidden, weight, None, targets, reduction="none")[0].view(3, 4),
        torch.float32,
    )


def test_linear_one_row_and_all_ignored(backend: str) -> None:
    hidden, weight, bias, _ = make_linear(1, 3, 5, torch.float32, seed=3)
    leaves = [t.clone().requires_grad_() for t in (hidden, weight, bias) if t is not None]
    loss = linear_cross_entropy(leaves[0], leaves[1], torch.tensor([4]), bias=leaves[2])
    loss.backward()
    want_loss, want_grads = linear_reference(hidden, weight, bias, torch.tensor([4]))
    assert_close(loss, want_loss, torch.float32)
    for leaf, want in zip(leaves, want_grads, strict=True):
        assert leaf.grad is not None
        assert_close(leaf.grad, want, torch.float32)
    h = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(5, 3, requires_grad=True)
    loss = linear_cross_entropy(h, w, torch.full((4,), -100), z_loss=0.1)
    loss.backward()
    assert loss.item() == 0.0
    assert h.grad is not None and w.grad is not None
    assert torch.equal(h.grad, torch.zeros(4, 3)) and torch.equal(w.grad, torch.zeros(5, 3))


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 9),
    v=st.integers(2, 11),
    rows=st.integers(1, 10),
    cols=st.integers(1, 12),
    seed=st.integers(0, 100),
)
def test_linear_any_chunking_gives_the_same_numbers(
    n: int, v: int, rows: int, cols: int, seed: int
) -> None:
    hidden, weight, bias, targets = make_linear(n, 3, v, torch.float32, seed=seed)
    leaves = [t.clone().requires_grad_() for t in (hidden, weight, bias) if t is not None]
    loss = linear_cross_entropy(
        leaves[0], leaves[1], targets, bias=leaves[2], chunk_size=(rows, cols), z_loss=0.01
    )
    loss.backward()
    want_loss, want_grads = linear_reference(hidden, weight, bias, targets, z_loss=0.01)
    assert_close(loss, want_loss, torch.float32, scale=4)
    for leaf, want in zip(leaves, want_grads, strict=True):
        assert leaf.grad is not None
        assert_close(leaf.grad, want, torch.float32, scale=4)


def test_linear_default_chunking_splits_wide_vocabularies() -> None:
    assert host.chunking(None, 2048, 32768) == host.Chunking(512, 32768)
    wide = host.chunking(None, 1000, 10**6)
    assert wide.rows == host.MIN_CHUNK_ROWS and wide.cols * wide.rows * 4 <= host.CHUNK_BYTES
    assert host.chunking(None, 3, 10) == host.Chunking(3, 10)


def test_linear_errors() -> None:
    h, w, y = torch.randn(3, 4), torch.randn(5, 4), torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="`weight` must have shape \\[V, D\\]"):
        linear_cross_entropy(h, torch.randn(5, 3), y)
    with pytest.raises(TypeError, match="`weight` must have the dtype of `hidden`"):
        linear_cross_entropy(h, w.double(), y)
    with pytest.raises(ValueError, match="`bias` must have shape \\(5,\\)"):
        linear_cross_entropy(h, w, y, bias=torch.zeros(4))
    with pytest.raises(ValueError, match="`chunk_size` must be positive"):
        linear_cross_entropy(h, w, y, chunk_size=0)
    with pytest.raises(TypeError, match="`chunk_size` must be None, an int"):
        linear_cross_entropy(h, w, y, chunk_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`targets`: class index 5 is out of range"):
        linear_cross_entropy(h, w, torch.tensor([0, 1, 5]))
    with pytest.raises(TypeError, match=r"`hidden` must be a torch\.Tensor"):
        linear_cross_entropy([[1.0]], w, y)  # type: ignore[arg-type]


def test_linear_module_matches_functional() -> None:
    torch.manual_seed(0)
    head = LinearCrossEntropy(6, 11, bias=True, label_smoothing=0.1, chunk_size=4)
    hidden = torch.randn(2, 5, 6)
    targets = torch.randint(0, 11, (2, 5))
    loss = head(hidden, targets)
    loss.backward()
    want_loss, want_grads = linear_reference(
        hidden.view(10, 6), head.weight, head.bias, targets.view(10), label_smoothing=0.1
    )
    assert_close(loss, want_loss, torch.float32)
    assert head.weight.grad is not None and head.bias is not None and head.bias.grad is not None
    assert_close(head.weight.grad, want_grads[1], torch.float32)
    assert_close(head.bias.grad, want_grads[2], torch.float32)
    assert "num_classes=11" in repr(head)
    with pytest.raises(ValueError, match="`label_smoothing` must be in"):
        LinearCrossEntropy(6, 11, label_smoothing=2.0)


# ---------------------------------------------------------------------------------------
# The shared closed form
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_coefficients_equal_the_dense_ones(smoothing: float, weighted: bool) -> None:
    targets = torch.tensor([0, 3, -100, 2, 3])
    weight = torch.tensor([0.5, 1.0, 2.0, 3.0]) if weighted else None
    xp = namespace(targets)
    t = prepare_targets(
        xp,
        targets,
        pred_shape=(5, 4),
        axis=1,
        dtype=torch.float64,
        weight=weight,
        ignore_index=-100,
        label_smoothing=smoothing,
    )
    dense = coefficients(xp, t, torch.float64)
    sparse = grad.softmax_index_coefficients(xp, t, torch.float64)
    w = torch.ones(4, dtype=torch.float64) if weight is None else weight.double()
    rebuilt = sparse.smooth[:, None] * w + sparse.target[:, None] * F.one_hot(t.indices, 4).double()
    torch.testing.assert_close(rebuilt, dense)
    torch.testing.assert_close(sparse.total, dense.sum(-1))
