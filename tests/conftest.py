"""Shared fixtures: every core test runs on each installed array library."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (`make test` gates landing on main, so a
# rare draw must not turn it red at random); HYPOTHESIS_PROFILE=explore draws afresh.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

# `from reference import ...` (tests/reference.py) from any test directory.
sys.path.insert(0, str(Path(__file__).parent))

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None

if HAS_JAX:
    import jax

    jax.config.update("jax_enable_x64", True)


def _numpy_lib() -> SimpleNamespace:
    return SimpleNamespace(
        name="numpy",
        asarray=lambda a, dtype="float64": np.asarray(a, dtype=dtype),
        to_numpy=lambda a: np.asarray(a),
        is_native=lambda a: isinstance(a, (np.ndarray, np.generic)),
        dtype=lambda name: np.dtype(name),
    )


def _torch_lib() -> SimpleNamespace:
    import torch

    def asarray(a: Any, dtype: str = "float64") -> Any:
        return torch.as_tensor(np.asarray(a), dtype=getattr(torch, dtype))

    return SimpleNamespace(
        name="torch",
        asarray=asarray,
        to_numpy=lambda a: (
            a.detach().to(torch.float64 if a.is_floating_point() else a.dtype).cpu().numpy()
        ),
        is_native=lambda a: isinstance(a, torch.Tensor),
        dtype=lambda name: getattr(torch, name),
    )


def _jax_lib() -> SimpleNamespace:
    import jax.numpy as jnp

    def to_numpy(a: Any) -> np.ndarray:
        arr = np.asarray(a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a)
        return arr

    return SimpleNamespace(
        name="jax",
        asarray=lambda a, dtype="float64": jnp.asarray(np.asarray(a), dtype=getattr(jnp, dtype)),
        to_numpy=to_numpy,
        is_native=lambda a: isinstance(a, jax.Array),
        dtype=lambda name: jnp.dtype(name),
    )


_LIBS = ["numpy"] + (["torch"] if HAS_TORCH else []) + (["jax"] if HAS_JAX else [])


@pytest.fixture(params=_LIBS)
def xp(request: pytest.FixtureRequest) -> SimpleNamespace:
    """An array library adapter: ``asarray(data, dtype)``, ``to_numpy``, ``is_native``, ``dtype``.

    ``xp.asarray(a, "int64")`` builds integer class indices; ``xp.dtype("float16")`` the
    library's dtype object, to compare with a result's ``.dtype``.
    """
    return {"numpy": _numpy_lib, "torch": _torch_lib, "jax": _jax_lib}[request.param]()
