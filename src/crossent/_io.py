"""Reading saved arrays for the command line: ``.npy``, ``.npz`` and ``.csv``.

Files are read with ``allow_pickle=False``. Every failure raises :class:`InputError`
with a one-line reason, which the command turns into exit code 2.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


class InputError(Exception):
    """Bad usage or a bad input file: the command exits 2 with this message."""


def load_array(spec: str, *, what: str) -> np.ndarray:
    """Load the array named by ``spec``: ``file.npy``, ``file.csv``, ``file.npz`` or ``file.npz:KEY``.

    A ``.npz`` with several arrays needs ``:KEY``. CSV files are numeric, comma-separated,
    with an optional header row. Floats that are all whole numbers stay floats; callers
    decide whether they are class indices.
    """
    path_text, _, key = (
        spec.partition(":") if spec.count(":") == 1 and not os.path.exists(spec) else (spec, "", "")
    )
    path = Path(path_text)
    if not path.exists():
        raise InputError(f"{what} file {path_text!r} does not exist.")
    if path.is_dir():
        raise InputError(f"{what} path {path_text!r} is a directory, not a file.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            arr = _load_npz(path, key, what)
        elif suffix == ".csv":
            arr = _load_csv(path)
        else:
            raise InputError(
                f"{what} file {path_text!r} must be .npy, .npz or .csv; got {suffix or 'no extension'!r}."
            )
    except InputError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read {what} file {path_text!r}: {reason}") from exc
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{what} file {path_text!r} must hold numbers; got dtype {arr.dtype}.")
    if arr.size == 0:
        raise InputError(f"{what} file {path_text!r} is empty.")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InputError(f"{what} file {path_text!r} contains NaN or infinite values.")
    return arr


def _load_npz(path: Path, key: str, what: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as data:
        keys = list(data.keys())
        if key:
            if key not in keys:
                raise InputError(f"{what} file {str(path)!r} has no array {key!r}; it has {keys}.")
            return data[key]
        if len(keys) != 1:
            raise InputError(
                f"{what} file {str(path)!r} holds {len(keys)} arrays {keys}; name one as {path}:KEY."
            )
        return data[keys[0]]


def _load_csv(path: Path) -> np.ndarray:
    try:
        return np.loadtxt(path, delimiter=",", ndmin=1)
    except ValueError:
        # One header row is allowed; anything else non-numeric is an error.
        return np.loadtxt(path, delimiter=",", ndmin=1, skiprows=1)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
