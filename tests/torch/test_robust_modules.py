"""nn.Module wrappers of the noise-robust losses: the functions' numbers in torch's layout."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import crossent  # noqa: E402
from crossent import grad  # noqa: E402
from crossent.torch import (  # noqa: E402
    BiTemperedLogisticLoss,
    GeneralizedCrossEntropy,
    Poly1CrossEntropy,
    SymmetricCrossEntropy,
)

WEIGHT = torch.tensor([0.5, 2.0, 1.0, 0.25], dtype=torch.float64)
MODULES = [
    (GeneralizedCrossEntropy(0.4, weight=WEIGHT), "generalized_cross_entropy", {"q": 0.4}),
    (
        Poly1CrossEntropy(2.0, label_smoothing=0.1, weight=WEIGHT),
        "poly1_cross_entropy",
        {"epsilon": 2.0, "label_smoothing": 0.1},
    ),
    (
        SymmetricCrossEntropy(0.5, 0.8, log_zero=-6.0, weight=WEIGHT),
        "symmetric_cross_entropy",
        {"alpha": 0.5, "beta": 0.8, "log_zero": -6.0},
    ),
    (
        BiTemperedLogisticLoss(0.6, 1.3, num_iters=4, weight=WEIGHT),
        "bi_tempered_logistic_loss",
        {"t1": 0.6, "t2": 1.3, "num_iters": 4},
    ),
]


@pytest.mark.parametrize(("module", "name", "options"), MODULES)
def test_module_is_the_function_with_class_dim_one(module, name, options):
    rng = np.random.default_rng(0)
    z = torch.tensor(2 * rng.standard_normal((3, 4, 5)), requires_grad=True)
    y = torch.tensor(rng.integers(0, 4, size=(3, 5)))
    y[0, 0] = -100
    out = module(z, y)
    out.backward()
    fn = getattr(crossent, name)
    expected = fn(z.detach().movedim(1, -1), y, weight=WEIGHT, **options)
    torch.testing.assert_close(out.detach(), expected)
    assert "weight" in module.state_dict() and "ignore_index=-100" in repr(module)
    if hasattr(grad, name):
        torch.testing.assert_close(
            z.grad, getattr(grad, name)(z.detach(), y, axis=1, weight=WEIGHT, **options)
        )
    else:
        assert name == "bi_tempered_logistic_loss" and torch.isfinite(z.grad).all()


def test_modules_take_an_unbatched_input_and_probability_targets():
    z = torch.tensor([1.0, 2.0, 0.5])
    t = torch.tensor([0.2, 0.7, 0.1])
    for module, name in (
        (GeneralizedCrossEntropy(), "generalized_cross_entropy"),
        (SymmetricCrossEntropy(), "symmetric_cross_entropy"),
        (BiTemperedLogisticLoss(), "bi_tempered_logistic_loss"),
        (Poly1CrossEntropy(), "poly1_cross_entropy"),
    ):
        torch.testing.assert_close(
            module(z, torch.tensor(1)), getattr(crossent, name)(z, torch.tensor(1))
        )
        torch.testing.assert_close(module(z, t), getattr(crossent, name)(z, t))


def test_poly1_module_at_epsilon_zero_drops_in_for_cross_entropy():
    rng = np.random.default_rng(1)
    z = torch.tensor(rng.standard_normal((6, 5)), requires_grad=True)
    y = torch.tensor(rng.integers(0, 5, size=6))
    out = Poly1CrossEntropy(0.0, label_smoothing=0.1)(z, y)
    expected = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(z, y)
    torch.testing.assert_close(out, expected)
    assert "epsilon=0.0" in repr(Poly1CrossEntropy(0.0))
