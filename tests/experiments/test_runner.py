"""``crossent reproduce`` end to end on cheap claims, and its exit codes for bad usage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crossent.cli import main


def test_reproduce_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert main(["reproduce", "--quick", "--only", "c3,C1", "--out", str(out), "--seed", "2"]) == 0
    records = json.loads((out / "claims.json").read_text(encoding="utf-8"))
    assert [r["id"] for r in records] == ["C1", "C3"]
    assert all(r["verdict"] == "holds" for r in records)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'id="C1"' in page and 'id="C3"' in page
    assert 'id="C2"' not in page
    printed = capsys.readouterr().out
    assert "C1" in printed and "holds" in printed
    assert f"Report: {(out / 'index.html').resolve()}" in printed.replace("\n", "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "C99"], "`--only` must list claim ids"),
        (["--seed", "-1"], "`--seed` must be non-negative"),
        (
            ["--mnist", "/nonexistent/mnist.npz"],
            "MNIST path '/nonexistent/mnist.npz' does not exist",
        ),
        (["--imdb", "/nonexistent/imdb.npz"], "IMDB file '/nonexistent/imdb.npz' does not exist"),
    ],
)
def test_bad_usage_exits_2_with_the_reason(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reproduce", "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crossent reproduce: error: ") and message in err
    assert not (tmp_path / "r").exists()  # nothing written


def test_a_bad_data_file_exits_2_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "imdb.npz"
    np.savez(bad, x_train=np.zeros((2, 3)))
    assert main(["reproduce", "--imdb", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "lacks ['y_train', 'x_test', 'y_test']" in capsys.readouterr().err


def test_unparseable_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--seed", "x"])
    assert exc.value.code == 2
    assert "invalid int value" in capsys.readouterr().err
