"""nn.Module wrappers of the imbalance losses: same numbers as the functions, torch layout, state."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import crossent  # noqa: E402
from crossent import grad  # noqa: E402
from crossent.torch import (  # noqa: E402
    AsymmetricLoss,
    GHMClassificationLoss,
    SigmoidFocalLoss,
    SoftmaxFocalLoss,
)


def logits(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.tensor(3 * np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def binary(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.tensor(np.random.default_rng(seed).integers(0, 2, size=shape), dtype=torch.float64)


def test_sigmoid_focal_module_is_the_function_with_its_gradient():
    z, y, w = logits(5, 3), binary(5, 3), torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    module = SigmoidFocalLoss(alpha=0.4, gamma=1.5, weight=w, reduction="sum")
    out = module(z, y)
    out.backward()
    expected = crossent.sigmoid_focal_loss(
        z.detach(), y, alpha=0.4, gamma=1.5, weight=w, reduction="sum"
    )
    torch.testing.assert_close(out.detach(), expected)
    torch.testing.assert_close(
        z.grad,
        grad.sigmoid_focal_loss(z.detach(), y, alpha=0.4, gamma=1.5, weight=w, reduction="sum"),
    )
    assert "weight" in module.state_dict() and "gamma=1.5" in repr(module)


def test_softmax_focal_module_uses_class_dim_one():
    z = logits(2, 4, 3, 3)
    y = torch.tensor(np.random.default_rng(2).integers(0, 4, size=(2, 3, 3)))
    y[0, 0, 0] = -100
    module = SoftmaxFocalLoss(alpha=[0.1, 0.2, 0.3, 0.4], gamma=2.0)
    out = module(z, y)
    expected = crossent.softmax_focal_loss(
        z.detach().movedim(1, -1), y, alpha=torch.tensor([0.1, 0.2, 0.3, 0.4])
    )
    torch.testing.assert_close(out.detach(), expected)
    assert isinstance(module.alpha, torch.Tensor) and "alpha" in module.state_dict()
    out.backward()
    torch.testing.assert_close(
        z.grad, grad.softmax_focal_loss(z.detach(), y, alpha=module.alpha, axis=1)
    )


def test_softmax_focal_module_scalar_alpha_and_unbatched_input():
    module = SoftmaxFocalLoss(alpha=0.5, gamma=0.0)
    z = torch.tensor([1.0, 2.0, 0.5])
    expected = 0.5 * torch.nn.functional.cross_entropy(z, torch.tensor(1))
    torch.testing.assert_close(module(z, torch.tensor(1)), expected)
    assert "alpha=0.5" in repr(module)


def test_softmax_focal_module_drops_in_for_cross_entropy_at_gamma_zero():
    z = logits(6, 5, seed=3)
    y = torch.tensor(np.random.default_rng(4).integers(0, 5, size=6))
    torch.testing.assert_close(SoftmaxFocalLoss(gamma=0.0)(z, y), torch.nn.CrossEntropyLoss()(z, y))


def test_asymmetric_module_is_the_function():
    z, y = logits(4, 6, seed=5), binary(4, 6, seed=6)
    module = AsymmetricLoss(gamma_pos=1.0, gamma_neg=4.0, clip=0.05, reduction="sum")
    torch.testing.assert_close(
        module(z, y),
        crossent.asymmetric_loss(z, y, gamma_pos=1.0, gamma_neg=4.0, clip=0.05, reduction="sum"),
    )


def test_ghm_module_keeps_the_running_density_in_a_buffer():
    module = GHMClassificationLoss(bins=10, momentum=0.75).double()
    reference = crossent.GHMC(bins=10, momentum=0.75)
    assert torch.equal(module.density, torch.zeros(10, dtype=torch.float64))
    for step in range(3):
        z, y = logits(8, 4, seed=10 + step), binary(8, 4, seed=20 + step)
        label_weight = (
            torch.rand(8, 4, generator=torch.Generator().manual_seed(step)) > 0.2
        ).double()
        out = module(z, y, label_weight)
        torch.testing.assert_close(out, reference(z, y, weight=label_weight))
        torch.testing.assert_close(module.density, reference.density)
    state = module.state_dict()
    assert "density" in state
    restored = GHMClassificationLoss(bins=10, momentum=0.75).double()
    restored.load_state_dict(state)
    torch.testing.assert_close(restored.density, module.density)
    assert repr(module) == "GHMClassificationLoss(bins=10, momentum=0.75, reduction='mean')"


def test_ghm_module_density_keeps_the_buffer_dtype():
    module = GHMClassificationLoss(bins=10, momentum=0.5)
    reference = crossent.GHMC(bins=10, momentum=0.5)
    z, y = logits(8, 4), binary(8, 4)
    torch.testing.assert_close(module(z, y), reference(z, y))  # the first batch's density is exact
    assert module.density.dtype == torch.float32
    torch.testing.assert_close(module.density, reference.density.float())


def test_ghm_module_without_momentum_is_stateless():
    module = GHMClassificationLoss(bins=5, momentum=0.0, reduction="sum")
    z, y = logits(8, 4), binary(8, 4)
    torch.testing.assert_close(
        module(z, y), crossent.ghm_classification_loss(z, y, bins=5, reduction="sum")
    )
    assert module.density is None and "density" not in module.state_dict()
    module(z, y).backward()
    torch.testing.assert_close(
        z.grad, grad.ghm_classification_loss(z.detach(), y, bins=5, reduction="sum")
    )


def test_module_options_are_validated():
    with pytest.raises(ValueError, match=r"`momentum` must be in \[0.0, 1.0\); got momentum=-0.1."):
        GHMClassificationLoss(momentum=-0.1)
    with pytest.raises(ValueError, match=r"`gamma` must be non-negative; got gamma=-1.0."):
        SigmoidFocalLoss(gamma=-1.0)(torch.zeros(2), torch.zeros(2))
