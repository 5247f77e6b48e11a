"""The fused losses under ``torch.compile(fullgraph=True)``: registered custom ops with
fake implementations, traced without graph breaks, giving eager's numbers.

The ``aot_eager`` backend runs the whole tracing stack (Dynamo, fake tensors,
AOTAutograd) without generating code; one case also compiles with Inductor.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from crossent.torch import cross_entropy, linear_cross_entropy
from crossent.torch.fused import functions


class Head(nn.Module):
    """A small model whose loss is one of the fused losses."""

    def __init__(self, loss: str, **options: Any) -> None:
        super().__init__()
        self.body = nn.Linear(5, 8)
        self.out = nn.Linear(8, 11)
        self.loss, self.options = loss, options

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.body(x))
        if self.loss == "cross_entropy":
            return cross_entropy(self.out(h), y, **self.options)
        return linear_cross_entropy(h, self.out.weight, y, bias=self.out.bias, **self.options)


def eager_and_compiled(model: nn.Module, backend: str, *inputs: torch.Tensor) -> list[Any]:
    """Loss and parameter gradients, eager then compiled with ``fullgraph=True``."""
    results = []
    for run in (model, torch.compile(model, fullgraph=True, backend=backend)):
        model.zero_grad()
        loss = run(*inputs)
        upstream = torch.linspace(0.5, 1.5, loss.numel()).reshape(loss.shape)
        (loss * upstream).sum().backward()
        results.append([loss.detach(), *(p.grad.clone() for p in model.parameters())])
    return results


BATCH = (torch.randn(7, 5, generator=torch.Generator().manual_seed(0)),)
TARGETS = torch.tensor([0, 10, -100, 3, 3, 7, 1])


@pytest.mark.parametrize("loss", ["cross_entropy", "linear_cross_entropy"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"reduction": "none", "label_smoothing": 0.1},
        {"reduction": "sum", "z_loss": 0.01, "logit_softcap": 3.0},
    ],
)
def test_fullgraph_compile_gives_eager_numbers(loss: str, options: dict[str, Any]) -> None:
    torch._dynamo.reset()
    torch.manual_seed(1)
    model = Head(loss, **options)
    eager, compiled = eager_and_compiled(model, "aot_eager", BATCH[0], TARGETS)
    for a, b in zip(eager, compiled, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_fullgraph_compile_with_class_weights_and_chunks() -> None:
    torch._dynamo.reset()
    torch.manual_seed(2)
    weight = torch.linspace(0.5, 2.0, 11)
    for model, targets in (
        (Head("cross_entropy", weight=weight), TARGETS),
        (
            Head("linear_cross_entropy", chunk_size=(3, 4), ignore_index=3),
            torch.tensor([0, 10, 3, 3, 4, 7, 1]),
        ),
    ):
        eager, compiled = eager_and_compiled(model, "aot_eager", BATCH[0], targets)
        for a, b in zip(eager, compiled, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_inductor_compiles_the_fused_loss() -> None:
    torch._dynamo.reset()
    torch.manual_seed(3)
    model = Head("cross_entropy", label_smoothing=0.1)
    eager, compiled = eager_and_compiled(model, "inductor", BATCH[0], TARGETS)
    for a, b in zip(eager, compiled, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def _op_cases() -> list[tuple[Any, tuple[Any, ...]]]:
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(4, 6, generator=gen, requires_grad=True)
    hidden = torch.randn(4, 3, generator=gen, requires_grad=True)
    weight = torch.randn(6, 3, generator=gen, requires_grad=True)
    bias = torch.randn(6, generator=gen, requires_grad=True)
    y = torch.tensor([0, 5, -100, 2])
    opts = (-100, 0.1, 0.01, None)
    lse = torch.logsumexp(logits.detach(), -1)
    return [
        (functions.cross_entropy_op, (logits, y, None, *opts, "mean")),
        (functions.cross_entropy_op, (logits, y, torch.rand(6), -100, 0.0, 0.0, 2.0, "none")),
        (
            functions.cross_entropy_backward_op,
            (torch.tensor(1.0), logits.detach(), y, None, lse, *opts, "mean"),
        ),
        (
            functions.linear_cross_entropy_op,
            (hidden, weight, bias, y, *opts, "mean", 2, 6, [True, True, True]),
        ),
        (
            functions.linear_cross_entropy_op,
            (hidden, weight, None, y, *opts, "none", 4, 3, [True, True, False]),
        ),
        (
            functions.linear_cross_entropy_backward_op,
            (
                torch.rand(4),
                hidden.detach(),
                weight.detach(),
                bias.detach(),
                y,
                lse,
                *opts,
                "none",
                4,
                6,
                [True, False, True],
            ),
        ),
    ]


@pytest.mark.parametrize("case", range(6))
def test_custom_ops_pass_torch_library_opcheck(case: int) -> None:
    """Schema, fake implementation (shapes, dtypes, strides) and autograd registration
    agree with the real implementation (``torch.library.opcheck``)."""
    op, args = _op_cases()[case]
    torch.library.opcheck(op, args, test_utils=("test_schema", "test_faketensor"))
