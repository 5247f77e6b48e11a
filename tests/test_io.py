"""``crossent._io``: whole-file writes (a temporary file and a rename)."""

from __future__ import annotations

import os

import pytest

from crossent._io import atomic_write_text


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
    target = tmp_path / "claims.json"
    atomic_write_text(target, "{}")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
