"""Writing files whole: a temporary file and a rename, so that an interrupted run never
leaves half a file. Used by the report (:mod:`crossent.experiments`), the benchmarks and
the command line; it sits below all of them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "atomic_write_text"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half a file).

    The temporary file is created beside ``path`` (a rename within one file system is
    atomic); the result gets an ordinary file's mode, ``0o666`` less the umask. Missing
    parent folders are created.

    Args:
        path: the file to write.
        text: its whole content, written as UTF-8.

    Raises:
        OSError: the folder cannot be created or written; ``path`` is then unchanged and
            no temporary file is left.

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out" / "note.txt"
        >>> atomic_write_text(target, "done")
        >>> target.read_text()
        'done'
    """
    _atomic_write(path, text, binary=False)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as :func:`atomic_write_text` does (a ``.npy`` file, ...).

    Args:
        path: the file to write.
        data: its whole content.

    Raises:
        OSError: as :func:`atomic_write_text`.

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "data.bin"
        >>> atomic_write_bytes(target, b"\\x00\\x01")
        >>> target.read_bytes()
        b'\\x00\\x01'
    """
    _atomic_write(path, data, binary=True)


def _atomic_write(path: Path, payload: Any, *, binary: bool) -> None:
    """The write of both: ``payload`` is written inside the guard, so that a payload of the
    wrong type (a ``TypeError`` from ``write``) also leaves ``path`` unchanged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(payload)
        # mkstemp makes the file private (0600); the result is an ordinary file, 0666 less umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
