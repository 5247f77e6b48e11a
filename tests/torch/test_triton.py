"""Triton kernels of the fused losses, run on CPU tensors by Triton's interpreter.

Every test sets ``TRITON_INTERPRET=1`` for itself (the kernels are jitted on first use
under the setting in force) and chooses the Triton kernels, and a spy checks that they
did run: a silent fall-back to another kernel would otherwise pass. Expected values come
from the core loss in float64 under autograd, from ``F.cross_entropy`` and from the row
statistics written out in float64 torch ops.
"""

from __future__ import annotations

import os
from typing import Any

# Triton builds its standard library for the interpreter or for GPUs when it is first
# imported: set before then (at collection, which precedes every test of this process).
os.environ["TRITON_INTERPRET"] = "1"

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import crossent
from crossent.torch import cross_entropy, fused, linear_cross_entropy

pytest.importorskip("triton")
triton_kernels = pytest.importorskip("crossent.torch.fused.triton_kernels")

TOL = {
    torch.float32: (1e-5, 1e-6),
    torch.float16: (5e-3, 5e-3),
    torch.bfloat16: (3e-2, 3e-2),
}

N, C, D = 64, 1000, 32


@pytest.fixture(autouse=True)
def interpreter(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Interpreted Triton kernels chosen, and a count of their launches."""
    reason = triton_kernels.interpreter_unavailable()
    if reason is not None:  # triton was imported in this process before this module
        pytest.fail(f"Triton's interpreter is unavailable to these tests: {reason}.")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setenv(fused.KERNEL_ENV, "triton")
    calls = {"stats": 0, "apply": 0}
    stats, apply = triton_kernels.row_stats, triton_kernels.apply_gradient

    def counted_stats(*args: Any) -> Any:
        calls["stats"] += 1
        return stats(*args)

    def counted_apply(*args: Any) -> None:
        calls["apply"] += 1
        apply(*args)

    monkeypatch.setattr(triton_kernels, "row_stats", counted_stats)
    monkeypatch.setattr(triton_kernels, "apply_gradient", counted_apply)
    return calls


def batch(seed: int = 0, ignored: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(N, C, generator=gen, dtype=torch.float64)
    targets = torch.randint(0, C, (N,), generator=gen)
    targets[:ignored] = -100
    return logits, targets


def core_loss_and_grad(
    logits: torch.Tensor, targets: torch.Tensor, grad_out: torch.Tensor, **kw: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """The core loss and its autograd gradient in float64: an independent path."""
    z = logits.detach().to(torch.float64).requires_grad_()
    loss = crossent.softmax_cross_entropy(z, targets, **kw)
    loss.backward(grad_out.to(torch.float64))
    assert z.grad is not None
    return loss.detach(), z.grad


def assert_close(out: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype) -> None:
    assert isinstance(out, torch.Tensor)
    assert out.dtype == dtype, (out.dtype, dtype)
    assert tuple(out.shape) == tuple(expected.shape)
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(
        out.detach().to(torch.float64).numpy(),
        expected.detach().to(torch.float64).numpy(),
        rtol=rtol,
        atol=atol,
    )


# ---------------------------------------------------------------------------------------
# The two passes against their formulas
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("cap", [None, 3.0])
def test_passes_match_their_formulas(dtype: torch.dtype, cap: float | None) -> None:
    gen = torch.Generator().manual_seed(1)
    x = (4 * torch.randn(N, C, generator=gen)).to(dtype)
    # a target outside the columns (another chunk's, or an ignored row's) picks nothing
    y = torch.randint(0, C, (N,), generator=gen)
    y[:2] = torch.tensor([-3, C])
    z = x.to(torch.float64)
    if cap is not None:
        z = cap * torch.tanh(z / cap)
    stats = triton_kernels.row_stats(x, y, cap)
    inside = (y >= 0) & (y < C)
    zy = torch.where(inside, z.gather(1, y.clamp(0, C - 1)[:, None])[:, 0], 0.0)
    for got, want in ((stats.lse, torch.logsumexp(z, 1)), (stats.target, zy)):
        assert got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-5)
    # the row sum adds 1000 terms of |z| ~ 4 in float32
    np.testing.assert_allclose(stats.total.numpy(), z.sum(1).numpy(), rtol=1e-5, atol=2e-4)

    k, u, h = (torch.rand(N, generator=gen) for _ in range(3))
    lse = torch.logsumexp(z, 1).to(torch.float32)
    out = torch.empty_like(x)
    triton_kernels.apply_gradient(x, out, y, cap, lse, k, u, h)
    g = torch.exp(z - lse.double()[:, None]) * k.double()[:, None] - u.double()[:, None]
    g[inside.nonzero()[:, 0], y[inside]] -= h.double()[inside]
    if cap is not None:
        g = g * (1 - (z / cap) ** 2)
    # one rounding to the logits' dtype apart
    rtol, atol = {torch.float32: (1e-5, 1e-6), torch.float16: (1e-3, 1e-6)}.get(dtype, (8e-3, 1e-5))
    assert out.dtype == dtype
    np.testing.assert_allclose(out.double().numpy(), g.numpy(), rtol=rtol, atol=atol)


def test_strided_rows_and_masked_columns() -> None:
    """Rows with a stride wider than the row, a row of -inf (an all-masked row: lse -inf),
    and a width that is not a power of two."""
    wide = torch.randn(5, 40, generator=torch.Generator().manual_seed(2))
    x = wide[:, :37]
    x[1] = -torch.inf
    y = torch.tensor([0, 2, 36, 5, 9])
    stats = triton_kernels.row_stats(x, y, None)
    want = torch.logsumexp(x.double(), 1)
    assert stats.lse[1] == -torch.inf
    np.testing.assert_allclose(stats.lse.numpy(), want.numpy(), rtol=1e-6)
    # written into a strided buffer; row 1 is an ignored row (h = 0) of -inf logits, whose
    # gradient the host makes exactly 0 by passing lse = 0
    out = torch.empty_like(wide)[:, :37]
    ones = torch.ones(5)
    h = torch.tensor([1.0, 0.0, 1.0, 1.0, 1.0])
    triton_kernels.apply_gradient(
        x, out, y, None, stats.lse.nan_to_num(neginf=0.0), ones, 0 * ones, h
    )
    want_grad = torch.softmax(x.double(), 1) - F.one_hot(y, 37)
    want_grad[1] = 0.0
    np.testing.assert_allclose(out.numpy(), want_grad.numpy(), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------
# cross_entropy and linear_cross_entropy on the Triton kernels
# ---------------------------------------------------------------------------------------

OPTIONS = [
    {},
    {"label_smoothing": 0.1},
    {"z_loss": 1e-2},
    {"logit_softcap": 3.0},
    {"ignore_index": None},
    {"weight": "ramp"},
    {"weight": "ramp", "z_loss": 0.05, "logit_softcap": 2.5, "reduction": "sum"},
    {"label_smoothing": 0.2, "z_loss": 0.05, "logit_softcap": 2.5, "reduction": "sum"},
    {"reduction": "none", "label_smoothing": 0.3},
]


def resolve(options: dict[str, Any], targets: torch.Tensor) -> tuple[dict[str, Any], torch.Tensor]:
    options = dict(options)
    if options.get("weight") == "ramp":
        options["weight"] = torch.linspace(0.5, 2.0, C, dtype=torch.float64)
    if options.get("ignore_index", -100) is None:
        targets = targets.clamp(min=0)
    return options, targets


@pytest.mark.parametrize("options", OPTIONS)
def test_cross_entropy_float32_matches_core(
    options: dict[str, Any], interpreter: dict[str, int]
) -> None:
    base, targets = batch()
    options, targets = resolve(options, targets)
    fused_options = dict(options)
    if "weight" in options:
        fused_options["weight"] = options["weight"].to(torch.float32)
    leaf = base.to(torch.float32).requires_grad_()
    loss = cross_entropy(leaf, targets, **fused_options)
    grad_out = torch.linspace(0.5, 2.0, loss.numel()).reshape(loss.shape)
    loss.backward(grad_out)
    assert interpreter == {"stats": 1, "apply": 1}
    want_loss, want_grad = core_loss_and_grad(base, targets, grad_out, **options)
    assert_close(loss, want_loss, torch.float32)
    assert leaf.grad is not None
    assert_close(leaf.grad, want_grad, torch.float32)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"label_smoothing": 0.1, "reduction": "sum"},
        {"weight": "ramp", "reduction": "none"},
        {"logit_softcap": 4.0},
    ],
)
def test_cross_entropy_matches_torch(options: dict[str, Any]) -> None:
    """``F.cross_entropy`` on the (soft-capped) logits: PyTorch's own numbers."""
    base, targets = batch(seed=4)
    options, targets = resolve(options, targets)
    cap = options.pop("logit_softcap", None)
    leaf = base.to(torch.float32).requires_grad_()
    fused_options = {k: v.to(torch.float32) if k == "weight" else v for k, v in options.items()}
    loss = cross_entropy(leaf, targets, logit_softcap=cap, **fused_options)
    loss.sum().backward()
    ref = base.clone().requires_grad_()
    capped = ref if cap is None else cap * torch.tanh(ref / cap)
    want = F.cross_entropy(capped, targets, **options)
    want.sum().backward()
    assert_close(loss, want, torch.float32)
    assert leaf.grad is not None and ref.grad is not None
    assert_close(leaf.grad, ref.grad, torch.float32)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    "options", [{}, {"label_smoothing": 0.1, "z_loss": 1e-2, "logit_softcap": 3.0}]
)
def test_cross_entropy_half_inputs(dtype: torch.dtype, options: dict[str, Any]) -> None:
    """Half logits are loaded into float32; loss and gradient come back in their dtype."""
    base, targets = batch(seed=5)
    x = base.to(dtype)
    leaf = x.clone().requires_grad_()
    loss = cross_entropy(leaf, targets, **options)
    loss.backward()
    want_loss, want_grad = core_loss_and_grad(x, targets, torch.ones(()), **options)
    assert_close(loss, want_loss, dtype)
    assert leaf.grad is not None
    assert_close(leaf.grad, want_grad, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_inplace_gradient(dtype: torch.dtype, interpreter: dict[str, int]) -> None:
    base, targets = batch(seed=6)
    leaf = base.to(dtype).requires_grad_()
    logits = leaf * 1
    loss = cross_entropy(logits, targets, inplace_backward=True, label_smoothing=0.1, z_loss=1e-3)
    assert interpreter == {"stats": 1, "apply": 1}  # both passes ran in the forward pass
    loss.backward(torch.tensor(2.0, dtype=dtype))
    want_loss, want_grad = core_loss_and_grad(
        base.to(dtype), targets, torch.tensor(2.0), label_smoothing=0.1, z_loss=1e-3
    )
    assert_close(loss, want_loss, dtype)
    assert leaf.grad is not None
    assert_close(leaf.grad, want_grad, dtype)
    # the logits' storage holds the gradient, scaled by the incoming 2.0 in backward
    assert torch.equal(logits.detach(), leaf.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_all_ignored_batch_is_zero_with_zero_gradient(reduction: str) -> None:
    base, _ = batch(seed=7)
    targets = torch.full((N,), -100)
    leaf = base.to(torch.float32).requires_grad_()
    loss = cross_entropy(leaf, targets, reduction=reduction, z_loss=1e-2)
    loss.sum().backward()
    assert loss.dtype == torch.float32
    assert torch.equal(loss, torch.zeros(loss.shape))
    assert leaf.grad is not None and torch.equal(leaf.grad, torch.zeros(N, C))


LINEAR_OPTIONS = [
    {},
    {"label_smoothing": 0.1, "z_loss": 1e-2, "reduction": "sum"},
    {"logit_softcap": 3.0, "reduction": "none"},
    {"chunk_size": (16, 300), "z_loss": 1e-2},
    {"chunk_size": (16, 300), "label_smoothing": 0.2, "reduction": "none"},
]


@pytest.mark.parametrize("options", LINEAR_OPTIONS)
def test_linear_cross_entropy_matches_core(
    options: dict[str, Any], interpreter: dict[str, int]
) -> None:
    """Chunked GEMMs in torch, the row passes in Triton; ``(16, 300)`` splits the
    vocabulary into four column chunks merged by the online log-sum-exp."""
    gen = torch.Generator().manual_seed(8)
    h64 = torch.randn(N, D, generator=gen, dtype=torch.float64)
    w64 = torch.randn(C, D, generator=gen, dtype=torch.float64) / 2
    b64 = torch.randn(C, generator=gen, dtype=torch.float64)
    targets = torch.randint(0, C, (N,), generator=gen)
    targets[:3] = -100
    h, w, b = (t.to(torch.float32).requires_grad_() for t in (h64, w64, b64))
    loss = linear_cross_entropy(h, w, targets, bias=b, **options)
    grad_out = torch.linspace(0.5, 2.0, loss.numel()).reshape(loss.shape)
    loss.backward(grad_out)
    assert interpreter["stats"] >= 1 and interpreter["apply"] >= 1
    core = {k: v for k, v in options.items() if k != "chunk_size"}
    refs = [t.clone().requires_grad_() for t in (h64, w64, b64)]
    want = crossent.softmax_cross_entropy(refs[0] @ refs[1].T + refs[2], targets, **core)
    want.backward(grad_out.double())
    assert_close(loss, want, torch.float32)
    for got, ref in zip((h, w, b), refs, strict=True):
        assert got.grad is not None and ref.grad is not None
        assert_close(got.grad, ref.grad, torch.float32)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_linear_cross_entropy_half_inputs(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(9)
    h = torch.randn(N, D, generator=gen).to(dtype)
    w = (torch.randn(C, D, generator=gen) / 2).to(dtype)
    targets = torch.randint(0, C, (N,), generator=gen)
    hl, wl = h.clone().requires_grad_(), w.clone().requires_grad_()
    loss = linear_cross_entropy(hl, wl, targets, label_smoothing=0.1)
    loss.backward()
    refs = [t.double().requires_grad_() for t in (h, w)]
    want = crossent.softmax_cross_entropy(refs[0] @ refs[1].T, targets, label_smoothing=0.1)
    want.backward()
    assert_close(loss, want, dtype)
    for got, ref in zip((hl, wl), refs, strict=True):
        assert got.grad is not None and ref.grad is not None
        assert_close(got.grad, ref.grad, dtype)


# ---------------------------------------------------------------------------------------
# Choosing the kernel
# ---------------------------------------------------------------------------------------


def test_triton_on_cpu_without_the_interpreter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET")
    logits, targets = batch()
    with pytest.raises(RuntimeError, match="CROSSENT_KERNEL=triton cannot run on a cpu tensor"):
        cross_entropy(logits.float(), targets)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        fused.kernel_backend()


def test_float64_logits_use_the_composed_ops(interpreter: dict[str, int]) -> None:
    """The Triton kernels compute in float32; float64 logits keep float64 arithmetic."""
    base, targets = batch(seed=10)
    loss = cross_entropy(base, targets, z_loss=1e-2)
    want, _ = core_loss_and_grad(base, targets, torch.ones(()), z_loss=1e-2)
    assert interpreter == {"stats": 0, "apply": 0}
    np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-12)


# ---------------------------------------------------------------------------------------
# The `kernel` keyword
# ---------------------------------------------------------------------------------------


def test_kernel_keyword_overrides_the_environment(
    monkeypatch: pytest.MonkeyPatch, interpreter: dict[str, int]
) -> None:
    monkeypatch.setenv(fused.KERNEL_ENV, "torch")
    base, targets = batch(seed=11)
    leaf = base.float().requires_grad_()
    loss = cross_entropy(leaf, targets, kernel="triton", z_loss=1e-3)
    loss.backward()  # the backward op runs under the forward's kernel, not the variable
    assert interpreter == {"stats": 1, "apply": 1}
    composed = cross_entropy(base.float(), targets, kernel="torch", z_loss=1e-3)
    assert interpreter == {"stats": 1, "apply": 1}
    want, want_grad = core_loss_and_grad(base, targets, torch.ones(()), z_loss=1e-3)
    assert_close(loss, want, torch.float32)
    assert_close(composed, want, torch.float32)
    assert leaf.grad is not None
    assert_close(leaf.grad, want_grad, torch.float32)


def test_kernel_keyword_on_the_linear_loss_and_module(
    monkeypatch: pytest.MonkeyPatch, interpreter: dict[str, int]
) -> None:
    monkeypatch.setenv(fused.KERNEL_ENV, "auto")  # auto: the C kernel (or composed) on CPU
    head = crossent.torch.LinearCrossEntropy(D, 100, bias=True, kernel="triton", reduction="none")
    hidden = torch.randn(N, D, generator=torch.Generator().manual_seed(12))
    targets = torch.randint(0, 100, (N,), generator=torch.Generator().manual_seed(13))
    loss = head(hidden, targets)
    loss.sum().backward()  # "none": the backward op recomputes the logits, under "triton"
    assert interpreter == {"stats": 1, "apply": 1}
    assert "kernel='triton'" in repr(head)
    w, b = head.weight.detach().double(), head.bias.detach().double()
    ref = w.clone().requires_grad_()
    want = crossent.softmax_cross_entropy(hidden.double() @ ref.T + b, targets, reduction="none")
    want.sum().backward()
    assert_close(loss, want, torch.float32)
    assert head.weight.grad is not None and ref.grad is not None
    assert_close(head.weight.grad, ref.grad, torch.float32)
    linear_cross_entropy(hidden, head.weight.detach(), targets, kernel="auto")
    assert interpreter == {"stats": 1, "apply": 1}  # auto on a CPU tensor: not Triton


def test_kernel_triton_without_the_interpreter_names_the_keyword(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRITON_INTERPRET")
    monkeypatch.setenv(fused.KERNEL_ENV, "auto")
    logits, targets = batch()
    with pytest.raises(RuntimeError, match=r"`kernel`='triton' cannot run on a cpu tensor: Triton"):
        cross_entropy(logits.float(), targets, kernel="triton")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        linear_cross_entropy(torch.zeros(2, 3), torch.zeros(4, 3), targets[:2], kernel="triton")
    with pytest.raises(RuntimeError, match="`kernel`='triton'"):
        crossent.torch.LinearCrossEntropy(3, 4, kernel="triton")(torch.zeros(2, 3), targets[:2])


def test_kernel_c_without_the_compiled_kernel_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from crossent.torch.fused import kernels

    monkeypatch.setattr(kernels, "_KERNEL", kernels.KernelLibrary(module="nope._kernel"))
    with pytest.raises(RuntimeError, match="`kernel`='c' asks for the compiled CPU kernel"):
        cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]), kernel="c")
    with pytest.raises(RuntimeError, match="`kernel`='c' asks for the compiled CPU kernel"):
        linear_cross_entropy(torch.randn(2, 3), torch.randn(4, 3), torch.tensor([0, 1]), kernel="c")


@pytest.mark.parametrize(
    ("kernel", "error", "match"),
    [
        (
            "cuda",
            ValueError,
            r"`kernel` must be one of 'auto', 'c', 'torch', 'triton' or None; got kernel='cuda'\.",
        ),
        (1, TypeError, r"got kernel=1\."),
    ],
)
def test_bad_kernel_values(kernel: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]), kernel=kernel)
    with pytest.raises(error, match=match):
        crossent.torch.LinearCrossEntropy(3, 4, kernel=kernel)


def test_out_of_range_targets_are_caught_without_reading_them_on_the_host() -> None:
    """With value checks off (as on an accelerator by default) the Triton path still stops
    out-of-range targets, by an asynchronous assert (a device-side assert on CUDA)."""
    logits = torch.randn(4, 6)
    targets = torch.tensor([0, 6, -100, 2])
    with pytest.raises(ValueError, match="class index 6 is out of range"):
        cross_entropy(logits, targets)  # CPU default: read on the host
    with crossent.validation(False):
        for inplace in (False, True):
            with pytest.raises(RuntimeError, match="out of range for 6 classes"):
                leaf = logits.clone().requires_grad_()
                cross_entropy(leaf * 1, targets, inplace_backward=inplace)
        with pytest.raises(RuntimeError, match="out of range for 6 classes"):
            linear_cross_entropy(torch.randn(4, 3), torch.randn(6, 3), targets)
        assert torch.isfinite(cross_entropy(logits, targets.clamp(max=5)))


def test_compiled_graph_calls_the_triton_op(interpreter: dict[str, int]) -> None:
    """``torch.compile(fullgraph=True)`` sees one custom op with the kernel as an argument."""
    base, targets = batch(seed=14)

    def loss_fn(z: torch.Tensor) -> torch.Tensor:
        return cross_entropy(z, targets, kernel="triton", label_smoothing=0.1)

    z = base.float().requires_grad_()
    loss = torch.compile(loss_fn, fullgraph=True, backend="aot_eager")(z)
    loss.backward()
    assert interpreter == {"stats": 1, "apply": 1}
    want, want_grad = core_loss_and_grad(base, targets, torch.ones(()), label_smoothing=0.1)
    assert_close(loss, want, torch.float32)
    assert z.grad is not None
    assert_close(z.grad, want_grad, torch.float32)
