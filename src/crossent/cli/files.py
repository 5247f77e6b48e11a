"""Reading the files the commands are given: saved arrays in ``.npy``, ``.npz`` and ``.csv``.

Files are read with ``allow_pickle=False``, and nothing in a file is trusted before it is
checked: a ``.npy`` header must describe exactly the bytes that follow it (so a damaged
header cannot ask for terabytes), a ``.npz`` member must be an array, a CSV field must be
a number. Every failure raises :class:`InputError` with a one-line reason naming the
file, which the command turns into exit code 2.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import IO, cast

import numpy as np
from numpy.lib import format as npy_format


class InputError(Exception):
    """Bad usage or a bad input file: the command exits 2 with this message."""


# Errors a damaged or hostile file can raise inside NumPy's and zipfile's readers.
_READ_ERRORS = (
    ValueError,
    OSError,
    EOFError,
    OverflowError,
    MemoryError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
)


def load_array(spec: str, *, what: str) -> np.ndarray:
    """Load the array named by ``spec``: ``file.npy``, ``file.csv``, ``file.npz`` or ``file.npz:KEY``.

    A ``.npz`` with several arrays needs ``:KEY``. CSV files are numeric, comma-separated,
    one sample per row (a single column is a vector); see :func:`parse_csv` for the header
    rule. Floats that are all whole numbers stay floats; callers decide whether they are
    class indices.

    Args:
        spec: the path, with ``:KEY`` for one array of a ``.npz``.
        what: what the file holds (``"prediction"``, ``"target"``), for the messages.

    Returns:
        The array, of a boolean, integer or floating dtype, non-empty and finite.

    Raises:
        InputError: a missing, empty, damaged or non-numeric file, with a one-line reason.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
        >>> _ = path.write_text("label\\n1\\n0\\n")
        >>> load_array(str(path), what="target")
        array([1., 0.])
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
    if suffix not in (".npy", ".npz", ".csv"):
        raise InputError(
            f"{what} file {path_text!r} must be .npy, .npz or .csv; got {suffix or 'no extension'!r}."
        )
    try:
        if path.stat().st_size == 0:
            raise InputError(f"{what} file {path_text!r} is empty.")
        _check_magic(path, suffix, what)
        if suffix == ".npy":
            arr = _load_npy(path, what)
        elif suffix == ".npz":
            arr = _load_npz(path, key, what)
        else:
            arr = parse_csv(path.read_bytes(), name=f"{what} file {path_text!r}")
    except InputError:
        raise
    except _READ_ERRORS as exc:
        raise InputError(f"cannot read {what} file {path_text!r}: {_reason(exc)}") from exc
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{what} file {path_text!r} must hold numbers; got dtype {arr.dtype}.")
    if arr.size == 0:
        raise InputError(f"{what} file {path_text!r} is empty.")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InputError(f"{what} file {path_text!r} contains NaN or infinite values.")
    return arr


def _reason(exc: BaseException) -> str:
    """The first line of an exception's message, or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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


def _npy_header(fh: IO[bytes], data_bytes: int, name: str) -> None:
    """Read a ``.npy`` header from ``fh`` and check it against the ``data_bytes`` stored after it.

    ``data_bytes`` is the stream's length less the header's (the caller gives the whole
    length; the header's own length is subtracted here).

    Raises:
        InputError: an unknown format version, Python objects (which would need
            unpickling), or a shape whose size is not the bytes that follow.
    """
    start = fh.tell()
    version = npy_format.read_magic(fh)
    readers = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
    if version not in readers:
        raise InputError(f"{name} has .npy format version {version!r}, which is not read.")
    try:
        shape, _, dtype = readers[version](fh)
    except (zipfile.BadZipFile, zlib.error):
        raise
    except Exception as exc:
        # NumPy parses the header as a Python literal: damaged text can raise anything a
        # tokenizer or literal_eval raises, and all of it means the header is damaged.
        raise InputError(f"{name} has a damaged .npy header: {_reason(exc)}") from exc
    if dtype.hasobject:
        raise InputError(f"{name} holds Python objects, which are not read (no unpickling).")
    # Python integers: a hostile shape cannot overflow the product.
    expected = math.prod(int(n) for n in shape) * dtype.itemsize
    stored = data_bytes - (fh.tell() - start)
    if expected != stored:
        raise InputError(
            f"{name} is damaged: its header describes shape {tuple(shape)} of {dtype} "
            f"({expected} bytes) but {stored} bytes follow it."
        )


def _load_npy(path: Path, what: str) -> np.ndarray:
    name = f"{what} file {str(path)!r}"
    with open(path, "rb") as fh:
        _npy_header(fh, path.stat().st_size, name)
        fh.seek(0)
        return np.asarray(npy_format.read_array(fh, allow_pickle=False))


# Deflate cannot expand data by more than about 1032:1; a member claiming more is damaged
# (checked before decompressing, so that a forged size cannot exhaust memory).
_MAX_DEFLATE_RATIO = 1100


def _load_npz(path: Path, key: str, what: str) -> np.ndarray:
    name = f"{what} file {str(path)!r}"
    with zipfile.ZipFile(path) as archive:
        members = {
            (info.filename[:-4] if info.filename.endswith(".npy") else info.filename): info
            for info in archive.infolist()
            if not info.is_dir()
        }
        keys = list(members)
        if key:
            if key not in members:
                raise InputError(f"{name} has no array {key!r}; it has {keys}.")
        elif len(keys) != 1:
            raise InputError(f"{name} holds {len(keys)} arrays {keys}; name one as {path}:KEY.")
        else:
            key = keys[0]
        info = members[key]
        member = f"{name} (array {key!r})"
        if info.file_size > max(info.compress_size, 1) * _MAX_DEFLATE_RATIO:
            raise InputError(f"{member} is damaged: its stored sizes are impossible.")
        with archive.open(info) as fh:
            if fh.read(6) != _MAGIC[".npy"]:
                raise InputError(f"{member} is not a NumPy array.")
        with archive.open(info) as fh:
            _npy_header(fh, info.file_size, member)
        with archive.open(info) as fh:
            return np.asarray(npy_format.read_array(fh, allow_pickle=False))


def _number(field: str) -> float | None:
    """The field as a float, or ``None`` (Python's digit separators ``1_000`` are not numbers here)."""
    if "_" in field:
        return None
    try:
        return float(field)
    except ValueError:
        return None


def _is_name(field: str) -> bool:
    """A header field: text that is not a number and does not start like one (``2.O`` is a
    damaged number, not a column name)."""
    return bool(field) and field[0] not in "0123456789+-." and _number(field) is None


def _parse_fields(lines: list[tuple[int, str]], width: int, name: str) -> list[list[float]]:
    """Each numbered line's comma-separated numbers; ``width`` columns each (0: as the first).

    Raises:
        InputError: a row of another width, or a field that is not a number, by row and column.
    """
    rows: list[list[float]] = []
    for number, line in lines:
        fields = [f.strip() for f in line.split(",")]
        width = width or len(fields)
        if len(fields) != width:
            raise InputError(f"{name}: row {number} has {len(fields)} columns, not {width}.")
        values = [_number(f) for f in fields]
        if None in values:
            column = values.index(None)
            raise InputError(
                f"{name}: row {number}, column {column + 1}: {fields[column]!r} is not a number."
            )
        rows.append(cast(list[float], values))
    return rows


def parse_csv(data: bytes, *, name: str = "CSV file") -> np.ndarray:
    """Parse comma-separated numbers: rows are samples, a single column gives a vector.

    The first row is a header only when *every* one of its fields is non-numeric text that
    does not start like a number (``label`` or ``p0,p1``, not ``2.O``); any other field that is not a number is an error naming its
    row and column, never a row silently dropped. A UTF-8 byte-order mark is removed, blank
    lines and lines starting with ``#`` (NumPy's ``savetxt`` comments) are skipped, and
    every row must have as many columns as the first. Rows are numbered as the file's lines,
    from 1.

    Args:
        data: the file's bytes, UTF-8.
        name: how messages call the file. Default: ``"CSV file"``.

    Returns:
        ``[N]`` float64 for one column, else ``[N, C]``; ``[0]`` when there are no data rows.

    Raises:
        InputError: text that is not UTF-8, a field that is not a number, ragged rows.

    Example:
        >>> parse_csv(b"\\xef\\xbb\\xbfp0,p1\\n0.25,0.75\\n1,0\\n")
        array([[0.25, 0.75],
               [1.  , 0.  ]])
        >>> parse_csv(b"0.1\\n2.O\\n")
        Traceback (most recent call last):
        ...
        crossent.cli.files.InputError: CSV file: row 2, column 1: '2.O' is not a number.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name} is not UTF-8 text (byte {exc.start}).") from exc
    lines = [
        (number, stripped)
        for number, line in enumerate(text.splitlines(), start=1)
        if (stripped := line.strip()) and not stripped.startswith("#")
    ]
    width = 0
    if lines and all(_is_name(f.strip()) for f in lines[0][1].split(",")):
        width = len(lines[0][1].split(","))
        lines = lines[1:]
    if not lines:
        return np.zeros(0)
    try:
        # NumPy's parser is fast and at least as strict as the rule here; a failure is
        # located (or, for what only Python reads, e.g. other scripts' digits, parsed)
        # field by field.
        table = np.loadtxt([line for _, line in lines], delimiter=",", comments=None, ndmin=2)
        if not width or table.shape[1] == width:
            return table[:, 0] if table.shape[1] == 1 else table
    except ValueError:
        pass
    table = np.array(_parse_fields(lines, width, name), dtype=np.float64)
    return table[:, 0] if table.shape[1] == 1 else table


def same_samples(pred: np.ndarray, target: np.ndarray, pred_name: str, target_name: str) -> None:
    """Predictions and targets read from two files must be the same samples: as many rows.

    Args:
        pred: the predictions as read.
        target: the targets as read.
        pred_name: the predictions' file, for the message.
        target_name: the targets' file, for the message.

    Raises:
        InputError: different numbers of rows (e.g. a header row read as data in one).

    Example:
        >>> import numpy as np
        >>> same_samples(np.zeros((3, 2)), np.zeros(3), "p.npy", "y.npy")
        >>> same_samples(np.zeros(3), np.zeros(4), "p.npy", "y.npy")
        Traceback (most recent call last):
        ...
        crossent.cli.files.InputError: prediction file 'p.npy' has 3 rows but target file 'y.npy' has 4: they must be the same samples.
    """
    if pred.ndim >= 1 and target.ndim >= 1 and pred.shape[0] != target.shape[0]:
        raise InputError(
            f"prediction file {pred_name!r} has {pred.shape[0]} rows but target file "
            f"{target_name!r} has {target.shape[0]}: they must be the same samples."
        )
