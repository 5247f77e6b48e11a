"""Reading saved arrays for the command line: ``.npy``, ``.npz`` and ``.csv``.

Files are read with ``allow_pickle=False``. Every failure raises :class:`InputError`
with a one-line reason, which the command turns into exit code 2.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np


class InputError(Exception):
    """Bad usage or a bad input file: the command exits 2 with this message."""


def load_array(spec: str, *, what: str) -> np.ndarray:
    """Load the array named by ``spec``: ``file.npy``, ``file.csv``, ``file.npz`` or ``file.npz:KEY``.

    A ``.npz`` with several arrays needs ``:KEY``. CSV files are numeric, comma-separated,
    with an optional header row and one sample per row (a single column is a vector). Floats that are all whole numbers stay floats; callers
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
    if path.stat().st_size == 0:
        raise InputError(f"{what} file {path_text!r} is empty.")
    _check_magic(path, suffix, what)
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


_MAGIC = {".npy": b"\x93NUMPY", ".npz": b"PK"}


def _check_magic(path: Path, suffix: str, what: str) -> None:
    """Refuse a file whose first bytes are not those of its format (NumPy would guess)."""
    magic = _MAGIC.get(suffix)
    if magic is None:
        return
    with open(path, "rb") as fh:
        head = fh.read(len(magic))
    if head != magic:
        kind = "a NumPy .npy file" if suffix == ".npy" else "a NumPy .npz (zip) archive"
        raise InputError(f"{what} file {str(path)!r} is not {kind}.")


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
    # A file with no data rows is reported by the caller as empty, not as NumPy's warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            table = np.loadtxt(path, delimiter=",", ndmin=2)
        except ValueError:
            # One header row is allowed; anything else non-numeric is an error.
            table = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)
    # Rows are samples: one column is a vector of labels or scores.
    return table[:, 0] if table.shape[1:] == (1,) else table


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # mkstemp makes the file private (0600); the result is an ordinary file, 0666 less umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
