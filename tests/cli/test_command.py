"""The ``crossent`` command: explain, eval and advise, with good and broken files.

Exit codes: 0 success, 2 bad usage or bad input with a one-line reason on
stderr and never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.lib import format as npy_format

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
    np.save(paths["cube"], np.zeros((N, 2, 2)))
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
    names = [line.split()[0] for line in lines[4:9]]
    assert names == ["cross_entropy", "accuracy", "auroc", "ece", "prediction_entropy"]
    assert lines[9].startswith("calibration (15 bins")


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
        ("logits", "bad_csv", [], "row 3, column 1: 'seven' is not a number"),
        ("not_npy", "labels", [], "is not a NumPy .npy file"),
        ("object_npy", "labels", [], "holds Python objects"),
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
        ("bad_csv", [], "target file"),
        ("not_npy", [], "is not a NumPy .npy file"),
        ("nan_npy", [], "contains NaN or infinite values"),
        ("strings", [], "must hold numbers"),
        ("cube", [], f"got shape ({N}, 2, 2)"),
        ("labels", ["--pred", "bad_csv"], "prediction file"),
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
    assert bad.stderr.startswith("crossent eval: error: target file")
    assert "row 3, column 1: 'seven' is not a number" in bad.stderr


# ---------------------------------------------------------------------------------------
# Hostile files: never exit 1, never a traceback, at most one line on stderr
# ---------------------------------------------------------------------------------------


def run_quietly(*argv: str) -> tuple[int, str, str]:
    """``main`` in-process with its output captured (usable inside hypothesis tests)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def valid_file(suffix: str) -> bytes:
    """A good file of each format: the seed that hostile bytes are mutated from."""
    labels = np.arange(12) % 3
    if suffix == ".csv":
        return b"\xef\xbb\xbflabel\n" + "\n".join(map(str, labels)).encode() + b"\n"
    buffer = io.BytesIO()
    if suffix == ".npy":
        np.save(buffer, labels)
    else:
        np.savez_compressed(buffer, labels=labels)
    return buffer.getvalue()


@st.composite
def hostile_bytes(draw: st.DrawFn, suffix: str) -> bytes:
    """Arbitrary bytes, or a good file truncated, extended or with bytes overwritten."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    data = bytearray(valid_file(suffix))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=20))


def assert_clean_exit(code: int, err: str) -> None:
    assert code in (0, 2), err
    assert len(err.splitlines()) <= 1, err
    assert "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_arbitrary_bytes_never_exit_1(suffix, data):
    content = data.draw(hostile_bytes(suffix))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"file{suffix}"
        path.write_bytes(content)
        labels = Path(folder) / "labels.npy"
        np.save(labels, np.arange(12) % 3)
        for argv in (["advise", str(path)], ["eval", str(path), str(labels)]):
            assert_clean_exit(*run_quietly(*argv)[::2])


def test_arbitrary_bytes_exit_path_in_a_process(tmp_path):
    """The real exit path: the interpreter's exit code and stderr, for a few damaged files."""
    cases = {
        "short.npz": valid_file(".npz")[:40],
        "forged.npy": valid_file(".npy")[:60] + b"\0",
        "noise.csv": bytes(range(256)),
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        done = subprocess.run(
            [sys.executable, "-m", "crossent.cli", "advise", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, (name, done.stderr)
        assert len(done.stderr.splitlines()) == 1, (name, done.stderr)
        assert done.stdout == ""


# ---------------------------------------------------------------------------------------
# CSV rows are never lost: a BOM or a typo in row 0 is not a header; row counts must match
# ---------------------------------------------------------------------------------------


def test_eval_csv_with_a_byte_order_mark_keeps_its_first_row(capsys, tmp_path):
    z = RNG.normal(size=N)
    y = (RNG.random(N) < 0.5).astype(np.int64)
    pred = tmp_path / "pred.csv"
    pred.write_bytes(b"\xef\xbb\xbf" + "\n".join(repr(float(v)) for v in z).encode())
    target = tmp_path / "target.csv"
    target.write_bytes(b"\xef\xbb\xbf" + "\n".join(str(v) for v in y).encode())
    code, out, err = run(capsys, "eval", str(pred), str(target), "--json")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["n"] == N
    expected = np.mean(np.logaddexp(0, z) - y * z)  # BCE with logits, from its definition
    np.testing.assert_allclose(result["metrics"]["cross_entropy"], expected, rtol=1e-12)


def test_eval_typo_in_row_0_is_an_error_not_a_header(capsys, tmp_path):
    pred = tmp_path / "pred.csv"
    pred.write_text("2.O\n" + "\n".join(repr(float(v)) for v in RNG.normal(size=N - 1)) + "\n")
    target = tmp_path / "target.npy"
    np.save(target, np.arange(N) % 2)
    code, out, err = run(capsys, "eval", str(pred), str(target))
    assert_bad_input(code, out, err, "eval", "row 1, column 1: '2.O' is not a number")


@pytest.mark.parametrize("command", ["eval", "advise"])
def test_row_counts_of_pred_and_target_must_match(capsys, tmp_path, command):
    pred = tmp_path / "pred.csv"
    pred.write_text("score\n" + "\n".join(repr(float(v)) for v in RNG.normal(size=N - 1)) + "\n")
    target = tmp_path / "target.npy"
    np.save(target, np.arange(N) % 2)
    argv = [str(pred), str(target)] if command == "eval" else [str(target), "--pred", str(pred)]
    code, out, err = run(capsys, command, *argv)
    assert_bad_input(code, out, err, command, f"has {N - 1} rows but target file")


# ---------------------------------------------------------------------------------------
# Damaged files and impossible labels: exit 2 with one line
# ---------------------------------------------------------------------------------------


def test_damaged_archives_exit_2(capsys, tmp_path, files):
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(Path(files["class_logits_npz"]).read_bytes()[:100])
    not_array = tmp_path / "not_array.npz"
    with zipfile.ZipFile(not_array, "w") as archive:
        archive.writestr("logits.npy", b"just text")
    huge = tmp_path / "huge.npy"
    huge.write_bytes(npy_header_claiming(10**13))
    for path, match in [
        (truncated, "cannot read prediction file"),
        (not_array, "is not a NumPy array"),
        (huge, "is damaged: its header describes shape (10000000000000,)"),
    ]:
        code, out, err = run(capsys, "eval", str(path), files["labels"])
        assert_bad_input(code, out, err, "eval", match)


def npy_header_claiming(n: int) -> bytes:
    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": (n,)}
    )
    return buffer.getvalue() + b"\0" * 64


@pytest.mark.parametrize("label", [1e20, 2.0**63, 2.0**53])
def test_advise_label_too_large_for_a_class_index_exits_2_with_one_line(tmp_path, label):
    path = tmp_path / "labels.npy"
    np.save(path, np.array([0.0, 1.0, 2.0, label]))
    done = subprocess.run(
        [sys.executable, "-m", "crossent.cli", "advise", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"crossent advise: error: `targets`: {label!r} is too large to be a class index "
        f"(at most {2**53 - 1})."
    ]


# ---------------------------------------------------------------------------------------
# Broken pipes, full disks, closed output
# ---------------------------------------------------------------------------------------


def crossent_command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "crossent.cli", *argv]


def test_broken_pipe_ends_quietly(files):
    # The reader is gone before the command writes: every write meets EPIPE.
    process = subprocess.Popen(
        crossent_command("eval", files["class_logits_npz"], files["classes_csv"], "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    with process.stderr:
        err = process.stderr.read().decode()
    code = process.wait(timeout=120)
    assert code in (0, 141)
    assert err == ""


def test_broken_pipe_through_head(files):
    shell = (
        f"{' '.join(crossent_command('explain'))} | head -1; "
        f"{' '.join(crossent_command('eval', files['logits'], files['labels'], '--json'))}"
        " | head -1"
    )
    done = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0
    assert done.stderr == ""
    assert done.stdout.splitlines()[1] == "{"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_full_disk_exits_1_with_the_reason(files):
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            crossent_command("eval", files["logits"], files["labels"], "--json"),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "crossent eval: cannot write output: No space left on device"
    ]


def test_closed_stdout_exits_1_with_the_reason(files):
    command = " ".join(crossent_command("eval", files["logits"], files["labels"]))
    done = subprocess.run(
        ["sh", "-c", f"exec {command} >&-"],
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["crossent: cannot write output: Bad file descriptor"]


# ---------------------------------------------------------------------------------------
# Logits or probabilities: never a quiet guess
# ---------------------------------------------------------------------------------------


def test_rounded_probabilities_are_not_read_as_logits(capsys, tmp_path):
    z = RNG.normal(size=(N, 10)) * 3
    q = np.round(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), 2)
    assert not np.all(np.abs(q.sum(axis=1) - 1) < 0.005)  # the data of the case
    pred, target = tmp_path / "probs.csv", tmp_path / "labels.npy"
    np.savetxt(pred, q, fmt="%.2f", delimiter=",")
    np.save(target, RNG.integers(0, 10, N))
    code, out, err = run(capsys, "eval", str(pred), str(target))
    assert_bad_input(code, out, err, "eval", "cannot tell whether the predictions are probabi")
    assert "--probs" in err and "--from-logits" in err


def test_one_dimensional_values_in_the_unit_interval_are_a_stated_guess(capsys, tmp_path):
    # Logits that happen to lie in [0, 1], narrowly enough for the guardrails to accept them.
    z = 0.3 + 0.4 * RNG.random(N)
    y = (RNG.random(N) < 0.5).astype(np.int64)
    pred, target = tmp_path / "z.npy", tmp_path / "y.npy"
    np.save(pred, z)
    np.save(target, y)
    code, out, err = run(capsys, "eval", str(pred), str(target), "--json")
    assert code == 0
    assert err.splitlines() == [
        f"crossent eval: warning: treating {pred} as probabilities (every value lies in "
        "[0, 1]); pass --probs or --from-logits to say which."
    ]
    assert json.loads(out)["input_guess"] == "every value lies in [0, 1]"
    code, out, err = run(capsys, "eval", str(pred), str(target), "--json", "--from-logits")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["input"] == "logits"
    expected = np.mean(np.logaddexp(0, z) - y * z)
    np.testing.assert_allclose(result["metrics"]["cross_entropy"], expected, rtol=1e-12)


# ---------------------------------------------------------------------------------------
# A stray huge label
# ---------------------------------------------------------------------------------------


def test_advise_summarises_a_stray_huge_label(capsys, tmp_path):
    labels = np.concatenate([np.arange(200) % 10, [200000]])
    path = tmp_path / "labels.npy"
    np.save(path, labels)
    code, out, err = run(capsys, "advise", str(path), "--json")
    assert code == 0 and err == ""
    assert len(out) < 5000
    balance = json.loads(out)["balance"]
    assert balance["counts"] == [20] * 10
    assert balance["suspect"] == {
        "labels": [200000],
        "n_labels": 1,
        "samples": 1,
        "usual_range": [0, 9],
    }
    code, out, err = run(capsys, "advise", str(path))
    assert code == 0 and err == ""
    assert len(out.splitlines()) < 40
    assert "note: suspect: label 200000 (1 sample) far beyond the others (0..9)" in out


# ---------------------------------------------------------------------------------------
# Extreme but valid numbers: strict JSON, at most one line on stderr
# ---------------------------------------------------------------------------------------


def strict_json(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_eval_of_overflowing_logits_prints_only_finite_metrics(capsys, tmp_path):
    pred, target = tmp_path / "z.npy", tmp_path / "y.npy"
    np.save(pred, np.full(4, 8.98846567e307))
    np.save(target, np.zeros(4))
    code, out, err = run(capsys, "eval", str(pred), str(target), "--json")
    assert code == 0
    assert len(err.splitlines()) <= 1 and "Traceback" not in err
    result = strict_json(out)
    assert all(np.isfinite(v) for v in result["metrics"].values())
    # The BCE of these logits is ~9e307 each: either its mean is computed, or it is
    # omitted with a note, never printed as inf.
    assert "cross_entropy" in result["metrics"] or any(
        n.startswith("cross_entropy omitted: it is not finite") for n in result["notes"]
    )


def test_warnings_during_a_run_are_one_line(capsys, monkeypatch, files):
    import crossent.cli.explain as explain_module

    def noisy() -> list:
        import warnings

        for i in range(3):
            warnings.warn(f"first line {i}\nsecond line", RuntimeWarning, stacklevel=1)
        return []

    monkeypatch.setitem(explain_module.TOPICS, "core", ("noisy", noisy))
    code, out, err = run(capsys, "explain")
    assert (code, out) == (0, "")
    assert err.splitlines() == ["crossent explain: warning: first line 0 (and 2 more)"]


@pytest.mark.parametrize(
    ("target", "empty"),
    [([0.0, 1e-310, 0.0, 0.0], "1"), ([1.0, 1.0, 1.0, 1.0], "0"), ([0.0, 0.0, 1e-310, 1.0], None)],
)
def test_advise_tiny_soft_counts_give_strict_json(capsys, tmp_path, target, empty):
    path = tmp_path / "soft.npy"
    np.save(path, np.array(target))
    code, out, err = run(capsys, "advise", str(path), "--json")
    assert code == 0 and err == ""
    balance = strict_json(out)["balance"]
    if empty is None:  # both classes have a real count
        assert balance["empty"] == [] and np.isfinite(balance["imbalance_ratio"])
    else:
        assert balance["empty"] == [empty] and balance["imbalance_ratio"] is None


EXTREME = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 0.5, 1.0, 3.0, 1e-310, 2.0**63, 1e308, -1e308]),
)
SHAPES = st.one_of(st.tuples(st.integers(1, 6)), st.tuples(st.integers(1, 6), st.integers(1, 7)))


@settings(max_examples=40, deadline=None)
@given(
    pred=arrays(np.float64, SHAPES, elements=EXTREME),
    target=arrays(np.float64, SHAPES, elements=EXTREME),
    options=st.sampled_from([[], ["--probs"], ["--from-logits"], ["--task", "soft"]]),
)
def test_any_finite_numbers_give_exit_0_or_2_and_strict_json(pred, target, options):
    with tempfile.TemporaryDirectory() as folder:
        pred_path, target_path = Path(folder) / "p.npy", Path(folder) / "t.npy"
        np.save(pred_path, pred)
        np.save(target_path, target)
        for argv in (
            ["eval", str(pred_path), str(target_path), "--json", *options],
            ["advise", str(target_path), "--pred", str(pred_path), "--json"],
        ):
            code, out, err = run_quietly(*argv)
            assert_clean_exit(code, err)
            if code == 0:
                strict_json(out)
