"""``crossent eval``'s calibration block and ``--plot`` reliability diagram."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sklearn.metrics
from scipy.special import softmax

from crossent.cli import main


def _naive_ece(conf: np.ndarray, hit: np.ndarray, edges: np.ndarray) -> tuple[float, float]:
    """ECE and MCE over bins ``(e_k, e_k+1]`` (the first closed on the left too)."""
    idx = np.searchsorted(edges[1:-1], conf)
    ece, mce = 0.0, 0.0
    for k in range(len(edges) - 1):
        inside = idx == k
        if inside.any():
            gap = abs(conf[inside].mean() - hit[inside].mean())
            ece += inside.mean() * gap
            mce = max(mce, gap)
    return ece, mce


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(31)
    z = 2.0 * rng.standard_normal((500, 3))
    y = rng.integers(0, 3, 500)
    p = rng.uniform(0.01, 0.99, 300)
    b = (rng.uniform(size=300) < p).astype(np.int64)
    paths = {name: tmp_path / f"{name}.npy" for name in ("logits", "labels", "p", "b")}
    for name, value in zip(paths, (z, y, p, b), strict=True):
        np.save(paths[name], value)
    np.save(tmp_path / "multi.npy", (rng.uniform(size=(500, 3)) < 0.5).astype(np.int64))
    paths["multi"] = tmp_path / "multi.npy"
    paths["dir"] = tmp_path
    return paths


def test_multiclass_block(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    assert (
        main(["eval", str(files["logits"]), str(files["labels"]), "--from-logits", "--json"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    block = result["calibration"]
    z, y = np.load(files["logits"]), np.load(files["labels"])
    q = softmax(z, axis=1)
    conf, hit = q.max(1), (q.argmax(1) == y).astype(float)
    ece, mce = _naive_ece(conf, hit, np.linspace(0, 1, 16))
    adaptive, _ = _naive_ece(conf, hit, np.percentile(conf, np.linspace(0, 100, 16)))
    assert block["ece"] == pytest.approx(ece, abs=1e-12)
    assert block["mce"] == pytest.approx(mce, abs=1e-12)
    assert block["adaptive_ece"] == pytest.approx(adaptive, abs=1e-12)
    assert block["brier"] == pytest.approx(np.mean(np.sum((q - np.eye(3)[y]) ** 2, 1)), abs=1e-12)
    assert block["nll"] == pytest.approx(sklearn.metrics.log_loss(y, q), abs=1e-9)
    base = np.bincount(y, minlength=3) / len(y)
    assert block["brier_uncertainty"] == pytest.approx(np.sum(base * (1 - base)), abs=1e-12)


def test_binary_block_and_table(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    assert main(["eval", str(files["p"]), str(files["b"]), "--probs", "--json"]) == 0
    block = json.loads(capsys.readouterr().out)["calibration"]
    p, b = np.load(files["p"]), np.load(files["b"])
    assert block["brier"] == pytest.approx(sklearn.metrics.brier_score_loss(b, p), abs=1e-12)
    assert block["ece"] == pytest.approx(
        _naive_ece(p, b.astype(float), np.linspace(0, 1, 16))[0], abs=1e-12
    )
    assert main(["eval", str(files["p"]), str(files["b"]), "--probs"]) == 0
    out = capsys.readouterr().out
    assert "calibration (15 bins" in out and "adaptive_ece" in out and "brier_resolution" in out


def test_multilabel_has_no_block(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    z = np.load(files["logits"])
    np.save(files["dir"] / "ml_logits.npy", z)
    assert (
        main(
            [
                "eval",
                str(files["dir"] / "ml_logits.npy"),
                str(files["multi"]),
                "--from-logits",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["calibration"] is None


@pytest.mark.parametrize(("suffix", "magic"), [(".svg", b"<svg"), (".png", b"\x89PNG")])
def test_plot_writes_the_diagram(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], suffix: str, magic: bytes
) -> None:
    target = files["dir"] / "plots" / f"reliability{suffix}"
    assert (
        main(
            [
                "eval",
                str(files["logits"]),
                str(files["labels"]),
                "--from-logits",
                "--plot",
                str(target),
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert f"reliability diagram written to {target}" in out and err == ""
    data = target.read_bytes()
    assert magic in data[:400]
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left


def test_plot_bad_input_exits_2(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    bad = files["dir"] / "diagram.pdf"
    assert main(["eval", str(files["logits"]), str(files["labels"]), "--plot", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--plot must name a .svg or .png file" in err
    assert not bad.exists()
    svg = files["dir"] / "ml.svg"
    code = main(
        ["eval", str(files["logits"]), str(files["multi"]), "--from-logits", "--plot", str(svg)]
    )
    out, err = capsys.readouterr()
    assert code == 2 and "needs a binary or multi-class task" in err and not svg.exists()
