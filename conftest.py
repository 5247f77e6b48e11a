"""Test collection: TensorFlow and Keras are tested in processes of their own.

TensorFlow must not load in the main test process: a process that imports TensorFlow and
then Triton (which ``torch.compile`` imports) aborts, as both register LLVM's command-line
options. So unless ``CROSSENT_KERAS_TESTS`` is set, neither the TensorFlow and Keras tests
nor the modules that import TensorFlow or Keras (for their doctests) are collected.
``make test`` runs them with ``CROSSENT_KERAS_TESTS=1``, once per Keras backend:
``KERAS_BACKEND`` is read when Keras is first imported.
"""

from __future__ import annotations

import os

# Triton builds its language for its CPU interpreter or for GPUs when it is first imported,
# and several modules import it (torch.compile among them): the interpreter is chosen here,
# before any test module, so that the Triton kernels' tests and doctests run on CPU tensors.
# (Triton's tests of a missing interpreter run in subprocesses of their own.)
os.environ.setdefault("TRITON_INTERPRET", "1")

if not os.environ.get("CROSSENT_KERAS_TESTS"):
    collect_ignore = [
        "src/crossent/_tensorflow.py",
        "src/crossent/keras",
        "tests/tf",
        "tests/keras",
    ]
