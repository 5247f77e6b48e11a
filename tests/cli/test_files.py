"""``crossent.cli.files``: reading saved arrays, and refusing every damaged or hostile file."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib import format as npy_format

from crossent.cli.files import InputError, load_array, parse_csv


def test_npy_round_trip(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(6.0).reshape(2, 3))
    arr = load_array(str(path), what="prediction")
    assert arr.dtype == np.float64
    np.testing.assert_array_equal(arr, np.arange(6.0).reshape(2, 3))


def test_npz_single_array_and_key(tmp_path):
    one = tmp_path / "one.npz"
    np.savez(one, x=np.array([1, 2, 3]))
    np.testing.assert_array_equal(load_array(str(one), what="target"), [1, 2, 3])
    two = tmp_path / "two.npz"
    np.savez(two, pred=np.zeros(2), labels=np.ones(2))
    np.testing.assert_array_equal(load_array(f"{two}:labels", what="target"), [1.0, 1.0])
    with pytest.raises(InputError, match=r"holds 2 arrays .* name one as"):
        load_array(str(two), what="target")
    with pytest.raises(InputError, match=r"has no array 'nope'"):
        load_array(f"{two}:nope", what="target")


def test_csv_with_and_without_header(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("0.1,0.9\n0.8,0.2\n")
    assert load_array(str(plain), what="prediction").shape == (2, 2)
    header = tmp_path / "header.csv"
    header.write_text("a,b\n0.1,0.9\n")
    np.testing.assert_allclose(load_array(str(header), what="prediction"), [[0.1, 0.9]])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n0.1,x\n")
    with pytest.raises(
        InputError, match=r"prediction file .*: row 2, column 2: 'x' is not a number"
    ):
        load_array(str(bad), what="prediction")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.npy", b"", "is empty"),
        ("junk.npy", b"\x00\x01 not numpy", r"is not a NumPy \.npy file"),
        ("junk.npz", b"not a zip", r"is not a NumPy \.npz"),
        ("header_only.csv", b"a,b\n", "is empty"),
        ("data.txt", b"1,2", r"must be \.npy, \.npz or \.csv"),
    ],
)
def test_bad_files_raise_one_line(tmp_path, recwarn, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_array(str(path), what="target")
    assert "\n" not in str(info.value)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_array(str(tmp_path / "missing.npy"), what="target")
    with pytest.raises(InputError, match="is a directory"):
        load_array(str(tmp_path), what="target")


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="holds Python objects, which are not read"):
        load_array(str(path), what="target")


def test_non_finite_and_non_numeric_values(tmp_path):
    path = tmp_path / "nan.npy"
    np.save(path, np.array([0.1, np.nan]))
    with pytest.raises(InputError, match="NaN or infinite"):
        load_array(str(path), what="prediction")
    strings = tmp_path / "s.npy"
    np.save(strings, np.array(["a", "b"]))
    with pytest.raises(InputError, match="must hold numbers"):
        load_array(str(strings), what="prediction")


# ---------------------------------------------------------------------------------------
# CSV: a header only when every field is text; anything else that is not a number is an
# error at its row and column, never a silently dropped row
# ---------------------------------------------------------------------------------------


def write(tmp_path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def test_csv_byte_order_mark_is_removed_and_the_first_row_kept(tmp_path):
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbf0.25,0.75\n0.5,0.5\n")
    np.testing.assert_array_equal(load_array(path, what="prediction"), [[0.25, 0.75], [0.5, 0.5]])
    with_header = write(tmp_path, "bom_header.csv", b"\xef\xbb\xbflabel\n1\n0\n")
    np.testing.assert_array_equal(load_array(with_header, what="target"), [1.0, 0.0])


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (b"2.O\n1\n0\n", "row 1, column 1: '2.O'"),
        (b"0.1,O.9\n0.8,0.2\n", "row 1, column 2: 'O.9'"),
        (b"label,0.5\n1,0.5\n", "row 1, column 1: 'label'"),
        (b"a,b\n0.1,0.9\n0.2,x\n", "row 3, column 2: 'x'"),
        (b"1\n\n2\n1_000\n", "row 4, column 1: '1_000'"),
        (b"0.1,0.9\n0.2,\n", "row 2, column 2: ''"),
    ],
    ids=["typo in row 0", "typo in row 0 col 2", "half a header", "later row", "blank", "empty"],
)
def test_csv_field_that_is_not_a_number_is_named(tmp_path, content, where):
    path = write(tmp_path, "pred.csv", content)
    with pytest.raises(InputError) as info:
        load_array(path, what="prediction")
    message = str(info.value)
    assert message.startswith(f"prediction file {path!r}: ")
    assert f"{where} is not a number" in message
    assert "\n" not in message


def test_csv_ragged_rows_and_non_utf8_are_refused(tmp_path):
    ragged = write(tmp_path, "ragged.csv", b"0.1,0.9\n0.2,0.3,0.5\n")
    with pytest.raises(InputError, match="row 2 has 3 columns, not 2"):
        load_array(ragged, what="prediction")
    latin = write(tmp_path, "latin.csv", b"caf\xe9\n1\n")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        load_array(latin, what="target")


def test_csv_comments_and_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "saved.csv"
    np.savetxt(path, np.array([[0.5, 1.5], [2.0, 3.0]]), delimiter=",", header="p0,p1")
    text = path.read_text() + "\n\n"
    assert text.startswith("# p0,p1")  # NumPy's own header style
    path.write_text(text)
    np.testing.assert_array_equal(load_array(str(path), what="x"), [[0.5, 1.5], [2.0, 3.0]])


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=3, max_size=3),
        min_size=1,
        max_size=8,
    ),
    header=st.booleans(),
    bom=st.booleans(),
)
def test_csv_round_trip_keeps_every_row(values, header, bom):
    body = "\n".join(",".join(repr(v) for v in row) for row in values)
    text = ("a,b,c\n" if header else "") + body + "\n"
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    np.testing.assert_array_equal(parse_csv(data), np.array(values))


# ---------------------------------------------------------------------------------------
# .npy and .npz that lie about their contents
# ---------------------------------------------------------------------------------------


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def forged_npy(shape: tuple[int, ...], payload: bytes = b"\0" * 16) -> bytes:
    """A well-formed header for ``shape`` float64, followed by ``payload`` only."""
    buffer = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    npy_format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + payload


@pytest.mark.parametrize(
    "content",
    [
        forged_npy((10**13,)),
        forged_npy((2**40, 2**40)),
        npy_bytes(np.arange(100.0))[:-8],
        npy_bytes(np.arange(100.0)) + b"\0" * 8,
    ],
    ids=["1e13 elements", "product beyond int64", "truncated", "trailing bytes"],
)
def test_npy_header_must_match_the_file_size(tmp_path, content):
    path = write(tmp_path, "big.npy", content)
    with pytest.raises(InputError, match=r"is damaged: its header describes shape") as info:
        load_array(path, what="prediction")
    assert "\n" not in str(info.value)


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def damaged_crc() -> bytes:
    data = bytearray(zip_bytes({"x.npy": npy_bytes(np.arange(50.0))}))
    # The last byte of the member's data lies just before the central directory.
    offset = data.rindex(b"PK\x01\x02") - 1
    data[offset] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (zip_bytes({"x.npy": npy_bytes(np.arange(50.0))})[:60], "cannot read"),
        (damaged_crc(), "Bad CRC-32"),
        (zip_bytes({"notes.txt": b"hello"}), "(array 'notes.txt') is not a NumPy array"),
        (zip_bytes({"x.npy": forged_npy((10**13,))}), "is damaged"),
        (
            zip_bytes({"x.npy": npy_bytes(np.zeros(10**5))}, zipfile.ZIP_DEFLATED),
            None,
        ),
    ],
    ids=["truncated", "crc", "not an array", "forged header", "deflated is fine"],
)
def test_damaged_npz(tmp_path, content, message):
    path = write(tmp_path, "data.npz", content)
    if message is None:
        assert load_array(path, what="target").shape == (10**5,)
        return
    with pytest.raises(InputError, match=re.escape(message)) as info:
        load_array(path, what="target")
    assert "\n" not in str(info.value)


def csv_by_the_rule(text: str) -> np.ndarray | None:
    """The CSV rule written out naively: ``None`` where it refuses the text."""

    def number(field: str) -> float | None:
        try:
            return None if "_" in field else float(field)
        except ValueError:
            return None

    lines = [line.strip() for line in text.splitlines()]
    rows = [[f.strip() for f in line.split(",")] for line in lines if line and line[0] != "#"]
    if not rows:
        return np.zeros(0)
    first = rows[0]
    if all(f and f[0] not in "0123456789+-." and number(f) is None for f in first):
        width, rows = len(first), rows[1:]
    else:
        width = len(first)
    if not rows:
        return np.zeros(0)
    values = [[number(f) for f in row] for row in rows]
    if any(len(row) != width or None in row for row in values):
        return None
    table = np.array(values, dtype=np.float64)
    return table[:, 0] if table.shape[1] == 1 else table


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet="0123456789.,-+eE \n#nafi_x", max_size=60))
def test_csv_fast_path_follows_the_rule(text):
    """Whatever NumPy's parser accepts, the rule accepts with the same numbers, and what
    the rule refuses is refused."""
    expected = csv_by_the_rule(text)
    if expected is None:
        with pytest.raises(InputError):
            parse_csv(text.encode())
    else:
        np.testing.assert_array_equal(parse_csv(text.encode()), expected)
