"""The Keras tests run once per backend, each in its own process.

Keras reads ``KERAS_BACKEND`` when it is first imported, so one process serves one
backend: ``make test`` runs ``KERAS_BACKEND=<backend> python -m pytest tests/keras
src/crossent/keras`` for tensorflow, jax and torch. The main test run, where
``KERAS_BACKEND`` is not set, does not collect these tests.
"""

from __future__ import annotations

import os

if "KERAS_BACKEND" not in os.environ:
    collect_ignore_glob = ["test_*.py"]
