"""``crossent calibrate``: fit on validation logits, report, write calibrated probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from crossent.cli import main


def _sampled(rng: np.random.Generator, n: int, scale: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    z = rng.standard_normal((n, 4)) * 1.5
    p = softmax(z, axis=1)
    y = np.minimum((p.cumsum(axis=1) < rng.uniform(size=(n, 1))).sum(axis=1), 3)
    return scale * z, y


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    rng = np.random.default_rng(21)
    out = {}
    for split in ("val", "test"):
        z, y = _sampled(rng, 600)
        np.save(tmp_path / f"{split}_logits.npy", z)
        np.save(tmp_path / f"{split}_labels.npy", y)
        out[split], out[f"{split}_y"] = (
            str(tmp_path / f"{split}_logits.npy"),
            str(tmp_path / f"{split}_labels.npy"),
        )
    out["dir"] = str(tmp_path)
    return out


def _nll(z: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(log_softmax(z, axis=1)[np.arange(len(y)), y]))


def test_temperature_json_and_out(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    out = str(Path(files["dir"]) / "calibrated.npy")
    code = main(
        [
            "calibrate",
            files["val"],
            files["val_y"],
            "--apply",
            files["test"],
            "--test-target",
            files["test_y"],
            "--out",
            out,
            "--json",
        ]
    )
    stdout, err = capsys.readouterr()
    assert code == 0 and err == ""
    result = json.loads(stdout)
    zv, yv = np.load(files["val"]), np.load(files["val_y"])
    zt, yt = np.load(files["test"]), np.load(files["test_y"])
    brute = minimize_scalar(
        lambda t: _nll(zv / t, yv), bounds=(0.01, 100), method="bounded", options={"xatol": 1e-9}
    ).x
    temperature = result["state"]["temperature"]
    assert abs(temperature - brute) < 1e-4
    assert result["validation"]["before"]["nll"] == pytest.approx(_nll(zv, yv), abs=1e-9)
    assert result["test"]["after"]["nll"] == pytest.approx(_nll(zt / temperature, yt), abs=1e-9)
    assert result["test"]["after"]["nll"] < result["test"]["before"]["nll"]
    assert result["test"]["after"]["ece"] < result["test"]["before"]["ece"]
    assert result["test"]["after"]["accuracy"] == result["test"]["before"]["accuracy"]
    written = np.load(out)
    np.testing.assert_allclose(written, softmax(zt / temperature, axis=1), atol=1e-12)


@pytest.mark.parametrize("method", ["vector", "matrix"])
def test_table_output(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], method: str
) -> None:
    code = main(["calibrate", files["val"], files["val_y"], "--method", method])
    stdout, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert f"{method} scaling over 4 classes" in stdout
    assert "validation  before" in stdout and "\ntest " not in stdout


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--out", "x.npy"], "need --apply"),
        (["--apply", "TEST", "--out", "x.txt"], "--out must name a .npy file"),
        (["--method", "platt"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], extra: list[str], match: str
) -> None:
    extra = [files["test"] if a == "TEST" else a for a in extra]
    with pytest.raises(SystemExit) if match == "invalid choice" else _no_raise() as caught:
        code = main(["calibrate", files["val"], files["val_y"], *extra])
    code = caught.value.code if match == "invalid choice" else code
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and match in err
    assert not list(Path(files["dir"]).glob("x.*"))


def test_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path
) -> None:
    np.save(tmp_path / "three.npy", np.zeros((600, 3)))
    np.save(tmp_path / "bad_labels.npy", np.full(600, 7))
    cases = [
        ([files["val_y"], files["val_y"]], "must hold logits [N, C]"),
        ([files["val"], str(tmp_path / "bad_labels.npy")], "class index 7 is out of range"),
        (
            [
                files["val"],
                files["val_y"],
                "--apply",
                str(tmp_path / "three.npy"),
                "--out",
                str(tmp_path / "o.npy"),
            ],
            "must hold logits [M, 4]",
        ),
    ]
    for argv, match in cases:
        code = main(["calibrate", *argv])
        out, err = capsys.readouterr()
        assert code == 2 and out == "" and match in err and err.count("\n") == 1
    assert not (tmp_path / "o.npy").exists()


class _no_raise:
    def __enter__(self) -> _no_raise:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False


def test_probabilities_are_calibrated_through_their_logarithms(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    """``--probs``: softmax(log p / T) ∝ p^(1/T), so the fitted T equals the one fitted on the
    logits that gave p (softmax is invariant to the per-row shift log-sum-exp)."""
    d = Path(files["dir"])
    for split in ("val", "test"):
        np.save(d / f"{split}_probs.npy", softmax(np.load(files[split]), axis=1))
    out = str(d / "from_probs.npy")
    args = ["calibrate", str(d / "val_probs.npy"), files["val_y"], "--json"]
    assert main([*args, "--probs", "--apply", str(d / "test_probs.npy"), "--out", out]) == 0
    from_probs = json.loads(capsys.readouterr().out)
    assert main(["calibrate", files["val"], files["val_y"], "--json"]) == 0
    from_logits = json.loads(capsys.readouterr().out)
    t_probs = from_probs["state"]["temperature"]
    assert t_probs == pytest.approx(from_logits["state"]["temperature"], rel=1e-6)
    expected = softmax(np.load(files["test"]) / t_probs, axis=1)
    np.testing.assert_allclose(np.load(out), expected, atol=1e-9)


def test_probabilities_without_the_flag_are_refused(
    capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    d = Path(files["dir"])
    np.save(d / "val_probs.npy", softmax(np.load(files["val"]), axis=1))
    assert main(["calibrate", str(d / "val_probs.npy"), files["val_y"]]) == 2
    err = capsys.readouterr().err
    assert "looks like probabilities" in err and "--probs" in err
    assert main(["calibrate", files["val"], files["val_y"], "--probs"]) == 2
    assert "must hold probabilities" in capsys.readouterr().err
