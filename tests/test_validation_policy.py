"""The validation policy: value checks on for NumPy and CPU tensors, off on accelerators and
under tracing, and switchable by keyword, context manager and process-wide setting."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import crossent
from crossent import _checks, grad

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None

RNG = np.random.default_rng(7)
Z = RNG.standard_normal((6, 4))
BAD_ROWS = np.full((6, 4), 0.4)  # probability targets whose rows sum to 1.6: a value error


@pytest.fixture(autouse=True)
def _restore_policy():
    yield
    crossent.set_validation(None)


def _bad_call(xp, **kw):
    return crossent.softmax_cross_entropy(xp.asarray(Z), xp.asarray(BAD_ROWS), **kw)


def test_values_are_checked_by_default_on_numpy_and_cpu_tensors(xp):
    assert crossent.get_validation() is None
    with pytest.raises(ValueError, match="must sum to 1"):
        _bad_call(xp)


def test_the_keyword_turns_value_checks_off_for_one_call(xp):
    out = _bad_call(xp, validate=False)
    # the number computed is the plain formula on the given rows: -Σ t log softmax(z)
    log_q = Z - np.log(np.exp(Z).sum(-1, keepdims=True))
    np.testing.assert_allclose(xp.to_numpy(out), np.mean(-(BAD_ROWS * log_q).sum(-1)))
    with pytest.raises(ValueError, match="must sum to 1"):
        _bad_call(xp)  # the next call is checked again


def test_context_manager_and_process_setting(xp):
    with crossent.validation(False):
        assert crossent.get_validation() is False
        _bad_call(xp)
        with pytest.raises(ValueError, match="must sum to 1"):
            _bad_call(xp, validate=True)  # the keyword wins over the setting in force
        with crossent.validation(None), pytest.raises(ValueError, match="must sum to 1"):
            _bad_call(xp)  # nested blocks: the innermost wins
    with pytest.raises(ValueError, match="must sum to 1"):
        _bad_call(xp)
    crossent.set_validation(False)
    _bad_call(xp)
    grad.softmax_cross_entropy(xp.asarray(Z), xp.asarray(BAD_ROWS))
    with crossent.validation(True), pytest.raises(ValueError, match="must sum to 1"):
        _bad_call(xp)


@pytest.mark.parametrize("mode", ["off", 0, 1.0])
def test_a_mode_other_than_none_true_false_is_a_type_error(mode):
    with pytest.raises(TypeError, match=r"^`mode` must be None \(automatic\), True or False"):
        crossent.set_validation(mode)
    with pytest.raises(TypeError, match=r"^`mode` must be None"):
        with crossent.validation(mode):
            pass
    with pytest.raises(TypeError, match=r"^`validate` must be None"):
        crossent.softmax_cross_entropy(Z, BAD_ROWS, validate=mode)


def test_automatic_policy_is_off_on_an_accelerator(monkeypatch):
    # No accelerator here: stand in for one where the policy asks where the arrays live.
    monkeypatch.setattr(_checks, "on_accelerator", lambda *arrays: True)
    out = crossent.softmax_cross_entropy(Z, BAD_ROWS)  # automatic: no device-to-host read
    assert np.isfinite(out)
    with pytest.raises(ValueError, match="must sum to 1"):
        crossent.softmax_cross_entropy(Z, BAD_ROWS, validate=True)
    with crossent.validation(True), pytest.raises(ValueError, match="must sum to 1"):
        crossent.softmax_cross_entropy(Z, BAD_ROWS)


@pytest.mark.skipif(not HAS_JAX, reason="needs JAX")
def test_automatic_policy_is_off_under_jax_jit_and_on_outside():
    import jax
    import jax.numpy as jnp

    jitted = jax.jit(lambda z, t: crossent.softmax_cross_entropy(z, t))
    assert np.isfinite(float(jitted(jnp.asarray(Z), jnp.asarray(BAD_ROWS))))
    with crossent.validation(True):  # traced values cannot be read, whatever the setting
        assert np.isfinite(float(jitted(jnp.asarray(Z) + 1, jnp.asarray(BAD_ROWS))))
    with pytest.raises(ValueError, match="must sum to 1"):
        crossent.softmax_cross_entropy(jnp.asarray(Z), jnp.asarray(BAD_ROWS))


def _every_core_call(torch: Any) -> list[tuple[str, Callable[[], Any]]]:
    z = torch.randn(6, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, -100, 1])
    p = torch.softmax(z, -1)
    b = (torch.rand(6, 4) > 0.5).double()
    return [
        (
            "softmax_cross_entropy",
            lambda: crossent.softmax_cross_entropy(
                z, y, check=True, label_smoothing=0.1, z_loss=1e-3, weight=torch.ones(4)
            ),
        ),
        ("softmax_cross_entropy probs", lambda: crossent.softmax_cross_entropy(z, p, check=True)),
        ("categorical_cross_entropy", lambda: crossent.categorical_cross_entropy(p, y, check=True)),
        (
            "sigmoid_binary_cross_entropy",
            lambda: crossent.sigmoid_binary_cross_entropy(
                z, b, check=True, pos_weight=torch.ones(4)
            ),
        ),
        (
            "binary_cross_entropy",
            lambda: crossent.binary_cross_entropy(torch.sigmoid(z), b, check=True),
        ),
        (
            "sigmoid_focal_loss",
            lambda: crossent.sigmoid_focal_loss(
                z, b, check=True, gamma=torch.tensor(2.0, dtype=torch.float64)
            ),
        ),
        (
            "softmax_focal_loss",
            lambda: crossent.softmax_focal_loss(
                z, y, check=True, alpha=torch.ones(4, dtype=torch.float64)
            ),
        ),
        ("asymmetric_loss", lambda: crossent.asymmetric_loss(z, b, check=True)),
        ("ghm_classification_loss", lambda: crossent.ghm_classification_loss(z, b, check=True)),
        ("GHMC", lambda: crossent.GHMC(bins=5)(z, b)),
        (
            "grad.softmax_cross_entropy",
            lambda: grad.softmax_cross_entropy(z, y, label_smoothing=0.1),
        ),
        ("grad.softmax_focal_loss", lambda: grad.softmax_focal_loss(z, p)),
        ("grad.sigmoid_binary_cross_entropy", lambda: grad.sigmoid_binary_cross_entropy(z, b)),
        ("grad.binary_cross_entropy", lambda: grad.binary_cross_entropy(torch.sigmoid(z), b)),
        ("entropy", lambda: crossent.entropy(p)),
        ("kl_divergence", lambda: crossent.kl_divergence(p, p)),
        (
            "class_balanced_weights",
            lambda: crossent.class_balanced_weights(torch.tensor([9, 3, 1])),
        ),
        (
            "combine",
            lambda: crossent.multitask.combine(
                [z.sum(), p.sum()], torch.ones(2, dtype=torch.float64)
            ),
        ),
    ]


@pytest.mark.skipif(not HAS_TORCH, reason="needs PyTorch")
def test_with_value_checks_off_no_host_synchronisation_is_reached(monkeypatch):
    import torch

    def sync(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a tensor's value was read on the host")

    calls = _every_core_call(torch)
    for method in ("__bool__", "item", "tolist", "__float__", "__int__", "__index__"):
        monkeypatch.setattr(torch.Tensor, method, sync)
    with crossent.validation(False):
        for _, call in calls:
            out = call()
            assert isinstance(out, torch.Tensor)
    # the same calls read values when the checks are on: the patch does catch them
    with pytest.raises(AssertionError, match="read on the host"):
        calls[0][1]()


@pytest.mark.skipif(not HAS_TORCH, reason="needs PyTorch")
def test_fake_tensors_run_every_core_call_under_the_automatic_policy():
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        for name, call in _every_core_call(torch):
            out = call()
            assert isinstance(out, torch.Tensor), name


@pytest.mark.skipif(not HAS_TORCH, reason="needs PyTorch")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_torch_compile_fullgraph_traces_the_core_losses_and_matches_eager():
    import torch

    torch._dynamo.reset()
    z = torch.randn(6, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, -100, 1])
    b = (torch.rand(6, 4) > 0.5).double()

    def losses(z: Any, y: Any, b: Any) -> Any:
        return torch.stack(
            [
                crossent.softmax_cross_entropy(z, y, label_smoothing=0.1, z_loss=1e-3),
                crossent.softmax_focal_loss(z, y, gamma=2.0),
                crossent.sigmoid_focal_loss(z, b),
            ]
        )

    compiled = torch.compile(losses, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(z, y, b), losses(z, y, b))
