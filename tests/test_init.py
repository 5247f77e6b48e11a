"""The package: public submodules as attributes, loaded lazily; ``import crossent`` stays light."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import crossent

SRC = str(Path(crossent.__file__).resolve().parent.parent)


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter (nothing imported yet); it prints one JSON line."""
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_crossent_imports_neither_torch_nor_jax():
    out = _fresh(
        "import json, sys, crossent\n"
        "print(json.dumps({m: m in sys.modules for m in ('torch', 'jax', 'jaxlib')}))"
    )
    assert out == {"torch": False, "jax": False, "jaxlib": False}


def test_every_public_submodule_is_an_attribute_after_import_crossent():
    names = ["task", "multitask", "grad", "info", "losses"]
    out = _fresh(
        "import json, sys, crossent\n"
        "import numpy as np\n"
        "crossent.task.check(np.zeros((2, 3)), np.array([0, 2]), loss='softmax_cross_entropy')\n"
        f"mods = {{n: getattr(crossent, n).__name__ for n in {names!r}}}\n"
        "mods['torch_loaded'] = 'torch' in sys.modules\n"
        "print(json.dumps(mods))"
    )
    assert out == {**{n: f"crossent.{n}" for n in names}, "torch_loaded": False}


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs PyTorch")
def test_torch_submodule_is_loaded_on_first_access():
    out = _fresh(
        "import json, sys, crossent\n"
        "before = 'torch' in sys.modules\n"
        "name = crossent.torch.__name__\n"
        "fused = crossent.torch.cross_entropy.__module__.startswith('crossent.torch.fused')\n"
        "print(json.dumps([before, name, fused, 'torch' in sys.modules]))"
    )
    assert out == [False, "crossent.torch", True, True]


def test_dir_lists_the_submodules():
    listed = dir(crossent)
    for name in ("task", "multitask", "grad", "info", "losses", "torch", "softmax_cross_entropy"):
        assert name in listed


@pytest.mark.parametrize("name", ["calibration", "keras"])
def test_submodules_still_to_come_are_attributes_exactly_when_they_exist(name):
    exists = importlib.util.find_spec(f"crossent.{name}") is not None
    assert hasattr(crossent, name) == exists


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nonexistent'"):
        _ = crossent.nonexistent
