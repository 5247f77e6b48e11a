"""The data loaders on tiny files written here, and the generators' promises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from experiment_data import fake_mnist, ragged, write_idx

from crossent.experiments import datasets
from crossent.experiments.datasets import DataError

# -------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips(tmp_path: Path, compress: bool) -> None:
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(np.uint8)
    out = datasets.read_idx(write_idx(tmp_path / "a-idx3-ubyte", array, compress=compress))
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, array)


def test_read_idx_rejects_a_bad_magic_number(tmp_path: Path) -> None:
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(DataError, match="not an IDX file"):
        datasets.read_idx(path)


def test_read_idx_rejects_a_truncated_file(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "t", np.zeros((4, 2), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataError, match="holds 5 data bytes; its header"):
        datasets.read_idx(path)


# ------------------------------------------------------------------------------ MNIST


def test_load_mnist_reads_a_folder_of_idx_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    (x_tr, y_tr), (x_te, y_te) = fake_mnist(rng, 12), fake_mnist(rng, 5)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", x_tr, compress=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y_tr, compress=True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", x_te)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", y_te)
    split = datasets.load_mnist(tmp_path)
    assert split.x_train.dtype == np.float32 and split.x_train.shape == (12, 784)
    assert split.y_train.dtype == np.int64 and split.y_test.shape == (5,)
    np.testing.assert_allclose(split.x_test, x_te.reshape(5, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(split.y_train, y_tr)


def test_load_mnist_reads_keras_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    (x_tr, y_tr), (x_te, y_te) = fake_mnist(rng, 7), fake_mnist(rng, 3)
    np.savez(tmp_path / "mnist.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    split = datasets.load_mnist(tmp_path / "mnist.npz")
    assert split.x_train.shape == (7, 784) and split.x_test.shape == (3, 784)
    np.testing.assert_allclose(split.x_train, x_tr.reshape(7, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(split.y_test, y_te)


def test_load_mnist_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        datasets.load_mnist(tmp_path / "nowhere")
    with pytest.raises(DataError, match="has no 'train-images-idx3-ubyte'"):
        datasets.load_mnist(tmp_path)
    np.savez(tmp_path / "m.npz", x_train=np.zeros((2, 28, 28)), y_train=np.zeros(2))
    with pytest.raises(DataError, match=r"lacks \['x_test', 'y_test'\]"):
        datasets.load_mnist(tmp_path / "m.npz")
    np.savez(
        tmp_path / "n.npz",
        x_train=np.zeros((2, 28, 28)),
        y_train=np.zeros(3),
        x_test=np.zeros((1, 28, 28)),
        y_test=np.zeros(1),
    )
    with pytest.raises(DataError, match=r"train images .* and labels .* do not match"):
        datasets.load_mnist(tmp_path / "n.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DataError, match=r"is not an \.npz archive"):
        datasets.load_mnist(tmp_path / "junk.npz")


# ------------------------------------------------------------------------------- IMDB


def test_load_imdb_reads_keras_object_arrays_as_bag_of_words(tmp_path: Path) -> None:
    # Keras' index_from=3: word rank r is stored as r + 3; 1 marks the start of a review.
    x_train = ragged([[1, 3, 4, 4, 9], [1, 5], [1, 3, 2000]])
    x_test = ragged([[1, 6, 7, 8]])
    np.savez(
        tmp_path / "imdb.npz",
        x_train=x_train,
        y_train=np.array([1, 0, 1]),
        x_test=x_test,
        y_test=np.array([0]),
    )
    split = datasets.load_imdb(tmp_path / "imdb.npz", vocabulary=5)
    assert split.x_train.dtype == np.float32 and split.x_train.shape == (3, 5)
    expected = np.zeros((3, 5), dtype=np.float32)
    expected[0, [0, 1]] = 1  # words 3, 4 (repeated 4 counts once); 9 is beyond the vocabulary
    expected[1, 2] = 1
    expected[2, 0] = 1  # 2000 is beyond the vocabulary
    np.testing.assert_array_equal(split.x_train, expected)
    np.testing.assert_array_equal(split.x_test, [[0, 0, 0, 1, 1]])
    np.testing.assert_array_equal(split.y_train, [1, 0, 1])
    assert split.y_train.dtype == np.int64


def test_load_imdb_reads_padded_integer_matrices(tmp_path: Path) -> None:
    x = np.array([[0, 0, 3, 5], [0, 4, 4, 6]])
    np.savez(
        tmp_path / "imdb.npz",
        x_train=x,
        y_train=np.array([0, 1]),
        x_test=x[:1],
        y_test=np.array([1]),
    )
    split = datasets.load_imdb(tmp_path / "imdb.npz", vocabulary=4)
    np.testing.assert_array_equal(split.x_train, [[1, 0, 1, 0], [0, 1, 0, 1]])


def test_load_imdb_refuses_pickled_objects_other_than_lists(tmp_path: Path) -> None:
    evil = np.empty(1, dtype=object)
    evil[0] = print  # a global a crafted file could use to run code
    np.savez(
        tmp_path / "imdb.npz",
        x_train=evil,
        y_train=np.array([1]),
        x_test=evil,
        y_test=np.array([1]),
    )
    with pytest.raises(DataError, match=r"refusing to unpickle builtins\.print"):
        datasets.load_imdb(tmp_path / "imdb.npz")


def test_load_imdb_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        datasets.load_imdb(tmp_path / "imdb.npz")
    x = ragged([[1, 3], [1, 4]])
    np.savez(
        tmp_path / "a.npz", x_train=x, y_train=np.array([0, 2]), x_test=x, y_test=np.array([0, 1])
    )
    with pytest.raises(DataError, match="y_train must be 0/1 labels"):
        datasets.load_imdb(tmp_path / "a.npz")
    bad = ragged([["a", "b"], [1]])
    np.savez(
        tmp_path / "b.npz", x_train=bad, y_train=np.array([0, 1]), x_test=x, y_test=np.array([0, 1])
    )
    with pytest.raises(DataError, match="review 0 is not a sequence of word indices"):
        datasets.load_imdb(tmp_path / "b.npz")


# ------------------------------------------------------------------- bundled sets


def test_bundled_stand_ins_are_real_and_split_stratified() -> None:
    d = datasets.digits(0)
    assert d.x_train.dtype == np.float32 and d.x_train.shape[1] == 64
    assert len(d.y_train) + len(d.y_test) == 1797
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert set(np.unique(d.y_test)) == set(range(10))
    b = datasets.breast_cancer(0)
    assert b.x_train.shape[1] == 30 and len(b.y_train) + len(b.y_test) == 569
    np.testing.assert_allclose(b.x_train.mean(axis=0), 0, atol=1e-5)
    assert abs(b.y_test.mean() - b.y_train.mean()) < 0.02  # stratified
    again = datasets.digits(0)
    np.testing.assert_array_equal(again.x_train, d.x_train)  # deterministic


# ------------------------------------------------------------------------ generators


def test_detection_anchors_have_the_requested_composition() -> None:
    rng = np.random.default_rng(0)
    a = datasets.detection_anchors(
        rng,
        images=40,
        anchors=500,
        positive_rate=0.01,
        hard_negative_rate=0.1,
        features=4,
        separation=6.0,
    )
    assert a.x.shape == (40, 500, 4) and a.x.dtype == np.float32
    assert a.y.shape == (40, 500)
    np.testing.assert_array_equal(a.y.sum(axis=1), 5)
    assert not np.any(a.hard & (a.y == 1))
    share = a.hard.sum() / (a.y == 0).sum()
    assert 0.08 < share < 0.12
    # Positives sit `separation` from the easy negatives, a quarter of it from the hard ones.
    pos, easy = a.x[a.y == 1].mean(axis=0), a.x[(a.y == 0) & ~a.hard].mean(axis=0)
    hard = a.x[a.hard].mean(axis=0)
    assert abs(np.linalg.norm(pos - easy) - 6.0) < 0.6
    assert abs(np.linalg.norm(pos - hard) - 1.5) < 0.4


def test_flip_labels_flips_at_the_rate() -> None:
    rng = np.random.default_rng(0)
    y = np.zeros(20000, dtype=np.float32)
    flipped = datasets.flip_labels(rng, y, 0.2)
    assert flipped.dtype == np.float32
    assert abs(flipped.mean() - 0.2) < 0.01


def test_digit_attributes() -> None:
    out = datasets.digit_attributes(np.arange(10))
    assert out.shape == (10, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], [1, 0, 1, 0, 1, 0, 1, 0, 1, 0])  # even
    np.testing.assert_array_equal(out[:, 1], [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])  # > 4
    np.testing.assert_array_equal(out[:, 2], [0, 0, 1, 1, 0, 1, 0, 1, 0, 0])  # prime
    np.testing.assert_array_equal(out[:, 3], [1, 0, 0, 1, 0, 0, 1, 0, 0, 1])  # multiple of 3
