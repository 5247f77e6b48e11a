"""The README's Keras example runs on this backend (see the root conftest.py)."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from crossent.keras import SoftmaxCrossEntropy  # noqa: E402
from readme_blocks import python_block  # noqa: E402


def test_readme_keras_example_runs_and_saves_its_loss(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(python_block("Keras 3"), ns)
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.loss, SoftmaxCrossEntropy)
    assert loaded.loss.get_config()["label_smoothing"] == 0.1
