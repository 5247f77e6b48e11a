"""The nn.Module wrappers drop in for torch.nn's losses (class dim 1)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from crossent.torch import (  # noqa: E402
    BinaryCrossEntropyLoss,
    CategoricalCrossEntropyLoss,
    SigmoidBinaryCrossEntropyLoss,
    SoftmaxCrossEntropyLoss,
)


def _assert_same(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert isinstance(ours, torch.Tensor)
    assert ours.dtype == theirs.dtype
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5, 2), (4,)])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_softmax_cross_entropy_module_matches_torch(shape, reduction, smoothing):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(shape, dtype=torch.float64, generator=gen)
    n_classes = shape[1] if len(shape) > 1 else shape[0]
    target_shape = (shape[0], *shape[2:]) if len(shape) > 1 else ()
    targets = torch.randint(0, n_classes, target_shape, generator=gen)
    if len(shape) > 1:
        targets.view(-1)[0] = -100
    weight = torch.rand(n_classes, dtype=torch.float64, generator=gen) + 0.5
    ours_in = logits.clone().requires_grad_()
    theirs_in = logits.clone().requires_grad_()
    ours = SoftmaxCrossEntropyLoss(weight, label_smoothing=smoothing, reduction=reduction)(
        ours_in, targets
    )
    theirs = torch.nn.CrossEntropyLoss(weight, label_smoothing=smoothing, reduction=reduction)(
        theirs_in, targets
    )
    _assert_same(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(ours_in.grad, theirs_in.grad, rtol=1e-12, atol=1e-12)


def test_softmax_cross_entropy_module_probability_targets():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 3, 4, dtype=torch.float64, generator=gen)
    targets = torch.softmax(torch.randn(5, 3, 4, dtype=torch.float64, generator=gen), dim=1)
    ours = SoftmaxCrossEntropyLoss(label_smoothing=0.1)(logits, targets)
    theirs = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(logits, targets)
    _assert_same(ours, theirs)


def test_weight_is_a_buffer_that_moves_with_the_module():
    module = SoftmaxCrossEntropyLoss(torch.tensor([1.0, 2.0, 3.0]))
    assert "weight" in dict(module.named_buffers())
    module = module.to(torch.float64)
    assert module.weight.dtype == torch.float64
    assert "weight" in module.state_dict()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_sigmoid_binary_cross_entropy_module_matches_torch(reduction):
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(8, 3, dtype=torch.float64, generator=gen)
    targets = torch.randint(0, 2, (8, 3), generator=gen).to(torch.float64)
    weight = torch.rand(8, 1, dtype=torch.float64, generator=gen)
    pos_weight = torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)
    ours = SigmoidBinaryCrossEntropyLoss(weight, pos_weight=pos_weight, reduction=reduction)(
        logits, targets
    )
    theirs = torch.nn.BCEWithLogitsLoss(weight, pos_weight=pos_weight, reduction=reduction)(
        logits, targets
    )
    _assert_same(ours, theirs)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_module_matches_torch(reduction):
    gen = torch.Generator().manual_seed(3)
    probs = torch.rand(10, dtype=torch.float64, generator=gen)
    probs[0], probs[1] = 0.0, 1.0  # both clamps: log p >= -100
    targets = torch.rand(10, dtype=torch.float64, generator=gen)
    weight = torch.rand(10, dtype=torch.float64, generator=gen)
    ours = BinaryCrossEntropyLoss(weight, reduction=reduction)(probs, targets)
    theirs = torch.nn.BCELoss(weight, reduction=reduction)(probs, targets)
    _assert_same(ours, theirs)


def test_categorical_cross_entropy_module_is_nll_of_log_probs():
    gen = torch.Generator().manual_seed(4)
    probs = torch.softmax(torch.randn(6, 5, 2, dtype=torch.float64, generator=gen), dim=1)
    targets = torch.randint(0, 5, (6, 2), generator=gen)
    weight = torch.rand(5, dtype=torch.float64, generator=gen)
    ours = CategoricalCrossEntropyLoss(weight)(probs, targets)
    theirs = torch.nn.NLLLoss(weight)(torch.log(probs), targets)
    _assert_same(ours, theirs)


def test_module_repr_lists_options():
    text = repr(SoftmaxCrossEntropyLoss(label_smoothing=0.1, z_loss=1e-4))
    assert "label_smoothing=0.1" in text
    assert "z_loss=0.0001" in text


def test_module_errors_name_the_argument():
    with pytest.raises(ValueError, match="`reduction`"):
        SoftmaxCrossEntropyLoss(reduction="avg")(torch.zeros(2, 3), torch.tensor([0, 1]))
