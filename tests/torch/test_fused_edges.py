"""Fused kernels at the edges: empty batches and hidden size 0, backpropagating twice,
second derivatives, masked (-inf) logits where the target is 0, and inputs the core
refuses.

Every case runs on both kernels (the compiled C kernel when it is available, and the
composed torch ops) against autograd of the core loss on materialised logits in float64,
or against PyTorch's own ``F.cross_entropy``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import crossent
from crossent.torch import LinearCrossEntropy, cross_entropy, fused, linear_cross_entropy

BACKENDS = ["torch"] + (["c"] if fused.kernel_backend() == "c" else [])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(fused.KERNEL_ENV, "torch" if request.param == "torch" else "auto")
    assert fused.kernel_backend() == request.param
    return str(request.param)


def core_linear(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    **options: Any,
) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """Loss and gradients (hidden, weight, bias) of the core loss on ``hidden @ weight.T +
    bias`` in float64 under autograd: an independent path to the same numbers."""
    leaves = [t.detach().double().requires_grad_() for t in (hidden, weight)]
    b = None if bias is None else bias.detach().double().requires_grad_()
    logits = leaves[0] @ leaves[1].T
    if b is not None:
        logits = logits + b
    loss = crossent.softmax_cross_entropy(logits, targets, **options)
    loss.sum().backward()
    return loss.detach(), [leaves[0].grad, leaves[1].grad, None if b is None else b.grad]


def assert_equal_f64(out: torch.Tensor | None, want: torch.Tensor | None) -> None:
    assert out is not None and want is not None
    assert out.dtype == torch.float32 and out.shape == want.shape
    np.testing.assert_allclose(out.double().numpy(), want.numpy(), rtol=2e-5, atol=2e-6)


# ---------------------------------------------------------------------------------------
# Empty batches and hidden size 0.
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [(0,), (2, 0)])
def test_linear_empty_batch_gives_zero_loss_and_zero_gradients(
    backend: str, batch: tuple[int, ...]
) -> None:
    """Every gradient buffer is written even when no row chunk runs: ``weight.grad`` and
    ``bias.grad`` are zeros (as ``F.cross_entropy`` gives), not uninitialised memory."""
    gen = torch.Generator().manual_seed(0)
    hidden = torch.zeros((*batch, 4), requires_grad=True)
    weight = torch.randn(5, 4, generator=gen, requires_grad=True)
    bias = torch.randn(5, generator=gen, requires_grad=True)
    targets = torch.zeros(batch, dtype=torch.long)
    # Fill the allocator with garbage of the gradients' sizes, so that an unwritten
    # buffer would show it.
    for _ in range(4):
        torch.full((5, 4), 1e24).add_(1)
    loss = linear_cross_entropy(hidden, weight, targets, bias=bias)
    loss.backward()
    ref = F.cross_entropy(
        (hidden @ weight.T + bias).reshape(-1, 5), targets.reshape(-1), reduction="sum"
    )
    assert loss.item() == 0.0 and ref.item() == 0.0
    assert weight.grad is not None and bias.grad is not None and hidden.grad is not None
    assert torch.equal(weight.grad, torch.zeros(5, 4))
    assert torch.equal(bias.grad, torch.zeros(5))
    assert hidden.grad.shape == (*batch, 4)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_linear_hidden_size_zero_is_the_loss_of_the_bias(
    backend: str, bias: bool, reduction: str
) -> None:
    """``D = 0``: the logits are the bias (or 0), the loss is its cross-entropy (log V
    without bias), and the gradients of the empty ``hidden`` and ``weight`` are empty."""
    hidden = torch.zeros(3, 0, requires_grad=True)
    weight = torch.zeros(5, 0, requires_grad=True)
    b = torch.randn(5, generator=torch.Generator().manual_seed(1), requires_grad=True)
    targets = torch.tensor([1, -100, 4])
    loss = linear_cross_entropy(
        hidden, weight, targets, bias=b if bias else None, reduction=reduction
    )
    loss.sum().backward()
    want, grads = core_linear(hidden, weight, b if bias else None, targets, reduction=reduction)
    assert_equal_f64(loss.detach(), want)
    if not bias:
        expected = torch.tensor([math.log(5), 0.0, math.log(5)], dtype=torch.float64)
        expected = {"none": expected, "sum": expected.sum(), "mean": expected.sum() / 2}
        assert_equal_f64(loss.detach(), expected[reduction])
    assert hidden.grad is not None and hidden.grad.shape == (3, 0)
    assert weight.grad is not None and weight.grad.shape == (5, 0)
    if bias:
        assert_equal_f64(b.grad, grads[2])


@settings(max_examples=40, deadline=None)
@given(
    batch=st.lists(st.integers(0, 3), min_size=1, max_size=2).map(tuple),
    d=st.integers(0, 4),
    v=st.integers(1, 6),
    with_bias=st.booleans(),
    chunk=st.sampled_from([None, 1, 2, (2, 3), (1, 1)]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    options=st.sampled_from([{}, {"label_smoothing": 0.2}, {"z_loss": 0.1, "logit_softcap": 2.0}]),
    kernel=st.sampled_from(BACKENDS),
    seed=st.integers(0, 2**16),
)
def test_any_batch_size_gives_the_gradients_of_the_core_loss(
    batch: tuple[int, ...],
    d: int,
    v: int,
    with_bias: bool,
    chunk: Any,
    reduction: str,
    options: dict[str, Any],
    kernel: str,
    seed: int,
) -> None:
    """Any batch shape (including 0 rows), hidden size (including 0), vocabulary and
    chunking: :func:`linear_cross_entropy` and :func:`cross_entropy` of the materialised
    logits give the loss and gradients of autograd through the core loss."""
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn((*batch, d), generator=gen, requires_grad=True)
    weight = torch.randn(v, d, generator=gen, requires_grad=True)
    bias = torch.randn(v, generator=gen, requires_grad=True) if with_bias else None
    targets = torch.randint(0, v, batch, generator=gen)
    targets.view(-1)[::3] = -100
    opts = {"reduction": reduction, **options}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(fused.KERNEL_ENV, "torch" if kernel == "torch" else "auto")
        loss = linear_cross_entropy(hidden, weight, targets, bias=bias, chunk_size=chunk, **opts)
        loss.sum().backward()
        logits = hidden.detach() @ weight.detach().T + (0 if bias is None else bias.detach())
        logits.requires_grad_()
        fused_loss = cross_entropy(logits, targets, **opts)
        fused_loss.sum().backward()
    want, grads = core_linear(hidden, weight, bias, targets, **opts)
    assert_equal_f64(loss.detach(), want)
    assert_equal_f64(fused_loss.detach(), want)
    for got, expected in zip((hidden.grad, weight.grad), grads[:2], strict=True):
        assert_equal_f64(got, expected)
    if bias is not None:
        assert_equal_f64(bias.grad, grads[2])
    z = logits.detach().double().requires_grad_()
    crossent.softmax_cross_entropy(z, targets, **opts).sum().backward()
    assert_equal_f64(logits.grad, z.grad)


# ---------------------------------------------------------------------------------------
# Backpropagating twice.
# ---------------------------------------------------------------------------------------


def _linear_inputs(bias: bool = True) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(3)
    hidden = torch.randn(6, 4, generator=gen, requires_grad=True)
    weight = torch.randn(7, 4, generator=gen, requires_grad=True)
    b = torch.randn(7, generator=gen, requires_grad=True)
    targets = torch.tensor([0, 6, -100, 3, 2, 5])
    return hidden, weight, b, targets


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("chunk_size", [None, 2, (2, 3)])
def test_linear_backward_twice_with_a_retained_graph(
    backend: str, reduction: str, chunk_size: Any
) -> None:
    hidden, weight, b, targets = _linear_inputs()
    loss = linear_cross_entropy(
        hidden, weight, targets, bias=b, reduction=reduction, chunk_size=chunk_size
    )
    upstream = torch.linspace(0.5, 2.0, 6) if reduction == "none" else torch.tensor(1.5)
    loss.backward(upstream, retain_graph=True)
    first = [t.grad.clone() for t in (hidden, weight, b)]  # type: ignore[union-attr]
    loss.backward(upstream)
    _, grads = core_linear(hidden, weight, b, targets, reduction=reduction)
    if reduction == "none":
        _, grads = _weighted_core_linear(hidden, weight, b, targets, upstream)
    for t, once, want in zip((hidden, weight, b), first, grads, strict=True):
        scale = 1.0 if reduction == "none" else 1.5
        assert_equal_f64(once, scale * want)  # type: ignore[operator]
        assert_equal_f64(t.grad, 2 * scale * want)  # type: ignore[operator]


def _weighted_core_linear(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    targets: torch.Tensor,
    upstream: torch.Tensor,
) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    leaves = [t.detach().double().requires_grad_() for t in (hidden, weight, bias)]
    logits = leaves[0] @ leaves[1].T + leaves[2]
    loss = crossent.softmax_cross_entropy(logits, targets, reduction="none")
    (loss * upstream.double()).sum().backward()
    return loss.detach(), [t.grad for t in leaves]


def test_linear_autograd_grad_then_grad_of_another_input(backend: str) -> None:
    hidden, weight, b, targets = _linear_inputs()
    loss = linear_cross_entropy(hidden, weight, targets, bias=b)
    (dh,) = torch.autograd.grad(loss, hidden, retain_graph=True)
    (dw,) = torch.autograd.grad(loss, weight)
    _, grads = core_linear(hidden, weight, b, targets)
    assert_equal_f64(dh, grads[0])
    assert_equal_f64(dw, grads[1])


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_linear_second_backward_without_retain_graph_is_torchs_error(reduction: str) -> None:
    hidden, weight, b, targets = _linear_inputs()
    loss = linear_cross_entropy(hidden, weight, targets, bias=b, reduction=reduction).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_cross_entropy_backward_twice(backend: str) -> None:
    gen = torch.Generator().manual_seed(4)
    leaf = torch.randn(5, 6, generator=gen, requires_grad=True)
    targets = torch.tensor([1, 0, -100, 5, 2])
    loss = cross_entropy(leaf * 1, targets, label_smoothing=0.1)
    loss.backward(torch.tensor(2.0), retain_graph=True)
    loss.backward(torch.tensor(2.0))
    z = leaf.detach().double().requires_grad_()
    crossent.softmax_cross_entropy(z, targets, label_smoothing=0.1).backward()
    assert z.grad is not None
    assert_equal_f64(leaf.grad, 4 * z.grad)


def test_cross_entropy_inplace_backward_twice_says_the_gradient_was_consumed(
    backend: str,
) -> None:
    leaf = torch.randn(5, 6, generator=torch.Generator().manual_seed(5), requires_grad=True)
    loss = cross_entropy(leaf * 1, torch.tensor([1, 0, -100, 5, 2]), inplace_backward=True)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match=r"backward through the graph a second time.*inplace"):
        loss.backward()


# ---------------------------------------------------------------------------------------
# Second derivatives: refused with a message that names the way out.
# ---------------------------------------------------------------------------------------


def test_gradient_penalty_through_cross_entropy_names_the_core_loss(backend: str) -> None:
    gen = torch.Generator().manual_seed(6)
    z = torch.randn(4, 5, generator=gen, requires_grad=True)
    targets = torch.tensor([0, 4, 2, -100])
    loss = cross_entropy(z, targets)
    (g,) = torch.autograd.grad(loss, z, create_graph=True)
    # The first derivative itself is right under create_graph=True.
    zz = z.detach().double().requires_grad_()
    crossent.softmax_cross_entropy(zz, targets).backward()
    assert zz.grad is not None
    assert_equal_f64(g.detach(), zz.grad)
    assert g.requires_grad
    with pytest.raises(
        RuntimeError,
        match=r"crossent\.torch\.cross_entropy .* no second derivative .*"
        r"crossent\.softmax_cross_entropy, which supports double backward",
    ):
        (loss + (g**2).sum()).backward()
    # The core loss the message points to does compute the penalty's gradient.
    core = crossent.softmax_cross_entropy(z, targets)
    (gc,) = torch.autograd.grad(core, z, create_graph=True)
    (core + (gc**2).sum()).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradient_penalty_through_linear_cross_entropy_is_refused(
    backend: str, reduction: str
) -> None:
    hidden, weight, b, targets = _linear_inputs()
    loss = linear_cross_entropy(hidden, weight, targets, bias=b, reduction=reduction).sum()
    dh, dw = torch.autograd.grad(loss, (hidden, weight), create_graph=True)
    _, grads = core_linear(hidden, weight, b, targets, reduction=reduction)
    assert_equal_f64(dh.detach(), grads[0])
    assert_equal_f64(dw.detach(), grads[1])
    with pytest.raises(
        RuntimeError, match=r"crossent\.torch\.linear_cross_entropy .* no second derivative"
    ):
        (dh.pow(2).sum() + dw.pow(2).sum()).backward()


def test_create_graph_inplace_gradient_is_refused_when_differentiated() -> None:
    leaf = torch.randn(3, 4, generator=torch.Generator().manual_seed(7), requires_grad=True)
    loss = cross_entropy(leaf * 2, torch.tensor([0, 1, 2]), inplace_backward=True)
    (g,) = torch.autograd.grad(loss, leaf, create_graph=True)
    with pytest.raises(RuntimeError, match="no second derivative"):
        g.sum().backward()


# ---------------------------------------------------------------------------------------
# Masked logits (-inf) where the target coefficient is 0: the 0·log 0 = 0 rule.
# ---------------------------------------------------------------------------------------


def naive_index_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
) -> torch.Tensor:
    """Per-row ``-Σ_c a_c log q_c + λ r s²`` in float64, one row at a time, with ``0 · x = 0``
    for a zero coefficient ``a_c`` (or ``r``) whatever ``x`` is (±inf, NaN)."""
    out = []
    n_classes = logits.shape[-1]
    for row, y in zip(logits.double().tolist(), targets.tolist(), strict=True):
        if y == -100:
            out.append(0.0)
            continue
        s = math.log(sum(math.exp(v) for v in row)) if max(row) > -math.inf else -math.inf
        total = 0.0
        for c, v in enumerate(row):
            a = (1 - label_smoothing) * (c == y) + label_smoothing / n_classes
            if a:
                total += a * (s - v)
        out.append(total + (z_loss * s * s if z_loss else 0.0))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}, {"z_loss": 0.05}])
@pytest.mark.parametrize("inplace", [False, True])
def test_ignored_rows_of_masked_logits_count_for_nothing(
    backend: str, options: dict[str, Any], inplace: bool
) -> None:
    """A padding row whose logits are all -inf (or partly), ignored: loss 0 and gradient 0
    in that row, not NaN; the other rows keep their values."""
    inf = math.inf
    leaf = torch.tensor(
        [
            [-inf, -inf, -inf, -inf],
            [-inf, 0.5, -inf, 1.0],
            [0.3, -1.0, 2.0, -inf],
            [1.0, 2.0, 3.0, 4.0],
        ],
        requires_grad=True,
    )
    targets = torch.tensor([-100, -100, 2, 1])
    loss = cross_entropy(leaf * 1, targets, reduction="none", inplace_backward=inplace, **options)
    if options.get("label_smoothing"):
        want = naive_index_loss(leaf.detach(), targets, **options)
        assert want[2] == math.inf  # smoothing puts mass on the masked class of row 2
    else:
        want = naive_index_loss(leaf.detach(), targets, **options)
        assert torch.isfinite(want).all()
    torch.testing.assert_close(loss.detach().double(), want, rtol=2e-6, atol=2e-6)
    loss[[0, 1, 3]].sum().backward()
    assert leaf.grad is not None
    assert torch.equal(leaf.grad[:2], torch.zeros(2, 4))
    assert torch.isfinite(leaf.grad).all()


def test_masked_non_target_classes_match_torch(backend: str) -> None:
    """-inf on classes other than the target: the loss and gradient of F.cross_entropy."""
    inf = math.inf
    x = torch.tensor([[-inf, 0.0, 1.0], [2.0, -inf, -inf], [0.0, 0.0, 0.0]])
    targets = torch.tensor([1, 0, 2])
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    loss = cross_entropy(a, targets, z_loss=0.0)
    want = F.cross_entropy(b, targets)
    loss.backward()
    want.backward()
    torch.testing.assert_close(loss, want)
    torch.testing.assert_close(a.grad, b.grad)


# ---------------------------------------------------------------------------------------
# Inputs the core refuses are refused here too, with its message.
# ---------------------------------------------------------------------------------------


def test_bool_targets_need_integer_class_indices() -> None:
    x, h, w = torch.randn(3, 4), torch.randn(3, 2), torch.randn(4, 2)
    y = torch.tensor([True, False, True])
    with pytest.raises(
        TypeError, match=r"`targets` of crossent\.torch\.cross_entropy must be integer class"
    ):
        cross_entropy(x, y)
    with pytest.raises(TypeError, match=r"linear_cross_entropy must be integer class .* bool"):
        linear_cross_entropy(h, w, y)


def test_numpy_weight_is_refused_as_the_core_refuses_it() -> None:
    x, y = torch.randn(3, 4), torch.tensor([0, 1, 3])
    with pytest.raises(TypeError) as core_error:
        crossent.softmax_cross_entropy(x, y, weight=np.ones(4))
    with pytest.raises(TypeError) as fused_error:
        cross_entropy(x, y, weight=np.ones(4))
    assert str(fused_error.value) == str(core_error.value)
    assert "one array library" in str(fused_error.value)
    # A list of numbers is taken as the logits' library, by both.
    weights = [1.0, 2.0, 0.5, 1.0]
    torch.testing.assert_close(
        cross_entropy(x, y, weight=weights),
        crossent.softmax_cross_entropy(x, y, weight=weights),
    )


def test_module_passes_the_hardened_paths_through() -> None:
    """The module's backward also survives an empty batch (its weight gradient is zeros)."""
    head = LinearCrossEntropy(3, 5, bias=True)
    head(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)).backward()
    assert head.weight.grad is not None and head.bias is not None
    assert torch.equal(head.weight.grad, torch.zeros(5, 3))
    assert torch.equal(head.bias.grad, torch.zeros(5))  # type: ignore[arg-type]
