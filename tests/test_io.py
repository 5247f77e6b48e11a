"""Loading saved arrays for the command line, and atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

from crossent._io import InputError, atomic_write_text, load_array


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
    with pytest.raises(InputError, match=r"cannot read prediction file"):
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
    with pytest.raises(InputError, match="cannot read target file"):
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


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out" / "report.html"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "report.html"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        atomic_write_text(target, 123)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_atomic_write_gives_an_ordinary_file_mode(tmp_path):
    import os

    target = tmp_path / "claims.json"
    atomic_write_text(target, "{}")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
