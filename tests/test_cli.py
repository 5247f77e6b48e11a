"""The ``crossent`` command: explain, eval and advise, with good and broken files.

Exit codes (DESIGN.md): 0 success, 2 bad usage or bad input with a one-line reason on
stderr and never a traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crossent.cli import main

RNG = np.random.default_rng(11)
N = 120


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_bad_input(code: int, out: str, err: str, command: str, match: str) -> None:
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"crossent {command}: error: ")
    assert match in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Good and broken input files, by role."""
    y = (RNG.random(N) < 0.2).astype(np.int64)
    z = np.where(y == 1, 1.0, -1.0) + RNG.normal(size=N)
    yc = RNG.integers(0, 7, N)
    zc = RNG.normal(size=(N, 7))
    zc[np.arange(N), yc] += 2
    paths = {
        "labels": tmp_path / "labels.npy",
        "logits": tmp_path / "logits.npy",
        "logits_col": tmp_path / "logits_col.npy",
        "classes_csv": tmp_path / "classes.csv",
        "class_logits_npz": tmp_path / "out.npz",
        "probs_csv": tmp_path / "probs.csv",
        "multi_hot": tmp_path / "multi_hot.npy",
        "bad_csv": tmp_path / "bad.csv",
        "not_npy": tmp_path / "garbage.npy",
        "object_npy": tmp_path / "object.npy",
        "nan_npy": tmp_path / "nan.npy",
        "empty_csv": tmp_path / "empty.csv",
        "two_arrays": tmp_path / "two.npz",
        "text": tmp_path / "labels.txt",
        "strings": tmp_path / "strings.npy",
        "cube": tmp_path / "cube.npy",
    }
    np.save(paths["labels"], y)
    np.save(paths["logits"], z)
    np.save(paths["logits_col"], z[:, None])
    np.savetxt(paths["classes_csv"], yc, fmt="%d", header="label", comments="")
    np.savez(paths["class_logits_npz"], logits=zc)
    q = np.exp(zc) / np.exp(zc).sum(axis=1, keepdims=True)
    np.savetxt(paths["probs_csv"], q, fmt="%.6f", delimiter=",")
    np.save(paths["multi_hot"], (RNG.random((N, 7)) < 0.3).astype(np.float32))
    paths["bad_csv"].write_text("label\n1\nseven\n")
    paths["not_npy"].write_bytes(b"this is not a numpy file")
    np.save(paths["object_npy"], np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(paths["nan_npy"], np.array([0.0, np.nan, 1.0]))
    paths["empty_csv"].write_text("")
    np.savez(paths["two_arrays"], a=y, b=z)
    paths["text"].write_text("0\n1\n")
    np.save(paths["strings"], np.array(["cat", "dog"]))
    np.save(paths["cube"], np.zeros((4, 2, 2)))
    return {k: str(v) for k, v in paths.items()}


# ---------------------------------------------------------------------------------------
# explain
# ---------------------------------------------------------------------------------------


def test_explain(capsys):
    code, out, err = run(capsys, "explain")
    assert code == 0 and err == ""
    assert "0.3567" in out  # C1/C2: -ln 0.7


def test_usage_errors_exit_2(capsys):
    for argv in (["explain", "nonsense"], ["frobnicate"], [], ["advise"], ["eval", "x.npy"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "usage: crossent" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# eval
# ---------------------------------------------------------------------------------------


def test_eval_table(capsys, files):
    code, out, err = run(capsys, "eval", files["logits"], files["labels"])
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"task: binary   input: logits   samples: {N}"
    assert lines[1] == "loss: sigmoid_binary_cross_entropy"
    names = [line.split()[0] for line in lines[4:]]
    assert names == ["cross_entropy", "accuracy", "auroc", "ece", "prediction_entropy"]


@pytest.mark.parametrize(
    ("pred", "target", "extra", "task", "input_kind"),
    [
        ("logits_col", "labels", [], "binary", "logits"),
        ("class_logits_npz", "classes_csv", [], "multiclass", "logits"),
        (
            "class_logits_npz",
            "classes_csv",
            ["--from-logits", "--task", "multiclass"],
            "multiclass",
            "logits",
        ),
        ("probs_csv", "classes_csv", [], "multiclass", "probabilities"),
    ],
)
def test_eval_json(capsys, files, pred, target, extra, task, input_kind):
    code, out, err = run(capsys, "eval", files[pred], files[target], "--json", *extra)
    assert code == 0 and err == ""
    result = json.loads(out)
    assert (result["task"], result["input"], result["n"]) == (task, input_kind, N)
    assert all(isinstance(v, float) for v in result["metrics"].values())
    assert isinstance(result["notes"], list)


def test_eval_npz_key(capsys, files):
    code, out, _ = run(
        capsys, "eval", files["two_arrays"] + ":b", files["two_arrays"] + ":a", "--json"
    )
    assert code == 0
    assert json.loads(out)["task"] == "binary"


@pytest.mark.parametrize(
    ("pred", "target", "extra", "match"),
    [
        ("logits", "missing", [], "does not exist"),
        ("logits", "bad_csv", [], "cannot read target file"),
        ("not_npy", "labels", [], "is not a NumPy .npy file"),
        ("object_npy", "labels", [], "cannot read prediction file"),
        ("nan_npy", "labels", [], "contains NaN or infinite values"),
        ("logits", "empty_csv", [], "target file"),
        ("two_arrays", "labels", [], "holds 2 arrays"),
        ("logits", "text", [], "must be .npy, .npz or .csv"),
        ("logits", "strings", [], "must hold numbers"),
        ("logits", "classes_csv", [], "the model has one output unit"),
        ("logits_col", "labels", ["--task", "multiclass"], "single output unit"),
        ("probs_csv", "classes_csv", ["--from-logits"], "double softmax"),
        ("class_logits_npz", "multi_hot", ["--task", "multiclass"], "multi-hot"),
        ("class_logits_npz", "classes_csv", ["--probs"], "look like logits"),
        ("cube", "labels", [], "must be [N] or [N, C]"),
    ],
)
def test_eval_bad_input(capsys, files, pred, target, extra, match):
    paths = {**files, "missing": files["labels"] + ".missing.npy"}
    code, out, err = run(capsys, "eval", paths[pred], paths[target], *extra)
    assert_bad_input(code, out, err, "eval", match)


# ---------------------------------------------------------------------------------------
# advise
# ---------------------------------------------------------------------------------------


def test_advise_text(capsys, files):
    code, out, err = run(capsys, "advise", files["labels"], "--pred", files["logits_col"])
    assert code == 0 and err == ""
    assert out.splitlines()[1] == "task: binary"
    assert "recommended: sigmoid + sigmoid_binary_cross_entropy" in out
    assert "no problems found" in out


def test_advise_flags_the_keras_trap(capsys, files):
    code, out, err = run(
        capsys,
        "advise",
        files["labels"],
        "--pred",
        files["logits_col"],
        "--loss",
        "softmax_cross_entropy",
    )
    assert code == 0 and err == ""
    assert "problem: softmax_cross_entropy over a single output unit" in out


def test_advise_json(capsys, files):
    code, out, err = run(
        capsys, "advise", files["classes_csv"], "--pred", files["class_logits_npz"], "--json"
    )
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["task"] == "multiclass"
    assert result["recommendation"]["loss"] == "softmax_cross_entropy"
    assert sum(result["balance"]["counts"]) == N
    assert result["predictions"]["problems"] == []


def test_advise_multi_hot_with_categorical(capsys, files):
    sigmoid_rows = Path(files["multi_hot"]).with_name("sigmoid_rows.npy")
    np.save(sigmoid_rows, 1 / (1 + np.exp(-RNG.normal(size=(N, 7)))))
    code, out, _ = run(
        capsys,
        "advise",
        files["multi_hot"],
        "--pred",
        str(sigmoid_rows),
        "--loss",
        "categorical_cross_entropy",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["task"] == "multilabel"
    assert "multi-hot" in result["predictions"]["problems"][0]


@pytest.mark.parametrize(
    ("target", "extra", "match"),
    [
        ("missing", [], "does not exist"),
        ("bad_csv", [], "cannot read target file"),
        ("not_npy", [], "is not a NumPy .npy file"),
        ("nan_npy", [], "contains NaN or infinite values"),
        ("strings", [], "must hold numbers"),
        ("cube", [], "got shape (4, 2, 2)"),
        ("labels", ["--pred", "bad_csv"], "cannot read prediction file"),
    ],
)
def test_advise_bad_input(capsys, files, target, extra, match):
    paths = {**files, "missing": files["labels"] + ".missing.npy"}
    extra = [paths.get(a, a) for a in extra]
    code, out, err = run(capsys, "advise", paths[target], *extra)
    assert_bad_input(code, out, err, "advise", match)


def test_advise_unknown_loss_is_a_usage_error(files):
    with pytest.raises(SystemExit) as exc:
        main(["advise", files["labels"], "--loss", "mse"])
    assert exc.value.code == 2


# ---------------------------------------------------------------------------------------
# The installed entry point
# ---------------------------------------------------------------------------------------


def test_installed_entry_point(files):
    exe = Path(sys.executable).with_name("crossent")
    command = str(exe) if exe.exists() else shutil.which("crossent")
    assert command, "the `crossent` entry point is not installed"
    good = subprocess.run(
        [command, "advise", files["labels"], "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["task"] == "binary"
    bad = subprocess.run(
        [command, "eval", files["logits"], files["bad_csv"]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("crossent eval: error: cannot read target file")
