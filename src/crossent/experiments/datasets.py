"""The data the experiments train on.

Real data first: scikit-learn's bundled ``load_digits`` stands in for the seeds' MNIST and
``load_breast_cancer`` for their IMDB (both ship inside scikit-learn, so no download), and
:func:`load_mnist` / :func:`load_imdb` read the seeds' own files when the user has them.
Generated data only where a claim needs a controlled setting: :func:`detection_anchors`
(few positives among many easy negatives, as in one-stage detection), :func:`flip_labels`
(label noise) and :func:`digit_attributes` (independent labels of real images).

Every function takes a :class:`numpy.random.Generator` or a seed and is deterministic.
Readers raise :class:`DataError` with a one-line reason for a file they cannot use.
"""

from __future__ import annotations

import gzip
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Anchors",
    "DataError",
    "Split",
    "breast_cancer",
    "detection_anchors",
    "digit_attributes",
    "digits",
    "flip_labels",
    "load_imdb",
    "load_mnist",
    "read_idx",
]

TEST_FRACTION = 0.25
"""Share of a bundled data set held out for testing (scikit-learn's default split)."""

IMDB_VOCABULARY = 1000
"""Words kept for the IMDB bag of words: the most frequent ones (Keras' ``num_words``)."""

IMDB_FIRST_WORD = 3
"""Keras' ``index_from``: indices 0–2 mean padding, start and out-of-vocabulary."""

ATTRIBUTES = ("even", "greater than 4", "prime", "multiple of 3")
"""The independent labels of :func:`digit_attributes`."""


class DataError(ValueError):
    """A data file that cannot be used, with the reason."""


@dataclass(frozen=True)
class Split:
    """A train/test split: float32 features ``[N, D]`` and integer or 0/1 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def subset(self, n_train: int, n_test: int, rng: np.random.Generator) -> Split:
        """At most ``n_train`` / ``n_test`` rows of each part, drawn without replacement."""
        tr = _choose(rng, len(self.y_train), n_train)
        te = _choose(rng, len(self.y_test), n_test)
        return Split(
            self.name, self.x_train[tr], self.y_train[tr], self.x_test[te], self.y_test[te]
        )


def _choose(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return np.sort(rng.choice(n, size=k, replace=False)) if k < n else np.arange(n)


def _split(name: str, x: np.ndarray, y: np.ndarray, seed: int) -> Split:
    """Shuffle with ``seed`` and hold out :data:`TEST_FRACTION`, stratified by label."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        test[idx[: round(len(idx) * TEST_FRACTION)]] = True
    train_idx, test_idx = rng.permutation(np.flatnonzero(~test)), np.flatnonzero(test)
    return Split(name, x[train_idx], y[train_idx], x[test_idx], y[test_idx])


def _standardize(split: Split) -> Split:
    """Scale each feature by the training part's mean and standard deviation."""
    mean = split.x_train.mean(axis=0)
    std = split.x_train.std(axis=0)
    std[std == 0] = 1.0
    return Split(
        split.name,
        ((split.x_train - mean) / std).astype(np.float32),
        split.y_train,
        ((split.x_test - mean) / std).astype(np.float32),
        split.y_test,
    )


# ----------------------------------------------------------------------- bundled stand-ins


def digits(seed: int = 0) -> Split:
    """scikit-learn's handwritten digits (1,797 images of 8×8 pixels, 10 classes), in [0, 1].

    The stand-in for MNIST: the same task at a size a CPU trains in seconds.
    """
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    pixels_max = 16.0  # the digits' pixel values run 0..16
    return _split(
        "scikit-learn digits (8×8, stand-in for MNIST)",
        (x / pixels_max).astype(np.float32),
        y.astype(np.int64),
        seed,
    )


def breast_cancer(seed: int = 0) -> Split:
    """scikit-learn's Wisconsin breast cancer set (569 tumours, 30 features), standardized.

    The stand-in for IMDB: a real binary task. Label 1 is benign (63% of the samples).
    """
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    split = _split(
        "scikit-learn breast cancer (stand-in for IMDB)",
        x.astype(np.float32),
        y.astype(np.int64),
        seed,
    )
    return _standardize(split)


# --------------------------------------------------------------------------------- MNIST

_IDX_DTYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (the MNIST format), plain or gzipped.

    The header is two zero bytes, a type code, the number of dimensions, then each
    dimension as a big-endian 32-bit integer; the data follow.

    Raises:
        DataError: a file that is not IDX or is truncated.
    """
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    header = 4
    if len(raw) < header or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{str(path)!r} is not an IDX file (bad magic number).")
    ndim = raw[3]
    end = header + 4 * ndim
    if len(raw) < end:
        raise DataError(f"{str(path)!r} is truncated: its header is incomplete.")
    shape = tuple(int(d) for d in np.frombuffer(raw[header:end], dtype=">u4"))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    count = int(np.prod(shape)) if shape else 1
    if len(raw) - end != count * dtype.itemsize:
        raise DataError(
            f"{str(path)!r} holds {len(raw) - end} data bytes; its header {shape} needs "
            f"{count * dtype.itemsize}."
        )
    return np.frombuffer(raw[end:], dtype=dtype).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (
        stem,
        f"{stem}.gz",
        stem.replace("-idx", ".idx"),
        f"{stem.replace('-idx', '.idx')}.gz",
    ):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"MNIST folder {str(folder)!r} has no {stem!r} (or {stem}.gz).")


def load_mnist(path: str | Path) -> Split:
    """The real MNIST: a folder of the four IDX files (plain or ``.gz``) or Keras' ``mnist.npz``.

    Pixels are scaled to [0, 1] and flattened to 784 features.

    Raises:
        DataError: a missing file, a file in another format, or inconsistent arrays.
    """
    path = Path(path)
    if path.is_dir():
        arrays = {key: read_idx(_find_idx(path, stem)) for key, stem in _MNIST_FILES.items()}
    elif path.is_file():
        arrays = _read_npz(path, tuple(_MNIST_FILES))
    else:
        raise DataError(f"MNIST path {str(path)!r} does not exist.")
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
            raise DataError(
                f"MNIST {part} images {x.shape} and labels {y.shape} do not match "
                "(expected [N, 28, 28] and [N])."
            )
    pixel_max = 255.0
    x_train, x_test = (
        (arrays[k].reshape(len(arrays[k]), -1) / pixel_max).astype(np.float32)
        for k in ("x_train", "x_test")
    )
    return Split(
        f"MNIST ({path.name})",
        x_train,
        arrays["y_train"].astype(np.int64),
        x_test,
        arrays["y_test"].astype(np.int64),
    )


# ---------------------------------------------------------------------------------- IMDB


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles NumPy object arrays of lists of ints, and nothing else.

    Keras' ``imdb.npz`` stores each review as a Python list inside an object array, which
    NumPy can only read by unpickling. This unpickler allows only the globals such an
    array needs (array and dtype reconstruction, NumPy integer scalars), so a crafted file
    cannot run code.
    """

    _ALLOWED = frozenset(
        {
            (module, name)
            for module in ("numpy.core.multiarray", "numpy._core.multiarray")
            for name in ("_reconstruct", "scalar")
        }
        | {("numpy", "ndarray"), ("numpy", "dtype")}
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise DataError(f"refusing to unpickle {module}.{name}: only arrays of lists are read.")
        return super().find_class(module, name)


def _read_npy(raw: bytes, where: str) -> np.ndarray:
    """One ``.npy`` member: plain arrays by NumPy, object arrays by the safe unpickler."""
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        shape, _, dtype = (
            np.lib.format.read_array_header_1_0(stream)
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0(stream)
        )
    except ValueError as exc:
        raise DataError(f"{where} is not a NumPy array: {exc}") from exc
    if not dtype.hasobject:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    try:
        array = _ArrayUnpickler(stream).load()
    except DataError:
        raise
    except Exception as exc:  # a broken pickle stream: any of several exception types
        raise DataError(f"{where} cannot be read: {type(exc).__name__}: {exc}") from exc
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise DataError(f"{where} does not hold the array its header describes.")
    return array


def _read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = {n.removesuffix(".npy"): n for n in archive.namelist()}
            missing = [k for k in keys if k not in names]
            if missing:
                raise DataError(f"{str(path)!r} lacks {missing}; it has {sorted(names)}.")
            return {k: _read_npy(archive.read(names[k]), f"{path.name}:{k}") for k in keys}
    except zipfile.BadZipFile as exc:
        raise DataError(f"{str(path)!r} is not an .npz archive.") from exc


def _bag_of_words(sequences: np.ndarray, vocabulary: int, where: str) -> np.ndarray:
    """0/1 presence of each of the ``vocabulary`` most frequent words, per review."""
    rows = np.zeros((len(sequences), vocabulary), dtype=np.float32)
    for i, seq in enumerate(sequences):
        words = np.asarray(seq)
        if words.dtype.kind not in "iu":
            raise DataError(f"{where}: review {i} is not a sequence of word indices.")
        words = words[(words >= IMDB_FIRST_WORD) & (words < IMDB_FIRST_WORD + vocabulary)]
        rows[i, words - IMDB_FIRST_WORD] = 1.0
    return rows


def load_imdb(path: str | Path, *, vocabulary: int = IMDB_VOCABULARY) -> Split:
    """The real IMDB reviews from Keras' ``imdb.npz``, as a bag of words.

    Each review (a sequence of word indices, Keras' ``index_from=3`` convention, or rows of
    a padded integer matrix with 0 as padding) becomes the 0/1 presence of the
    ``vocabulary`` most frequent words.

    Args:
        path: the ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``.
        vocabulary: words kept. Default: :data:`IMDB_VOCABULARY`.

    Raises:
        DataError: a missing file or array, or arrays that are not reviews and 0/1 labels.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IMDB file {str(path)!r} does not exist.")
    arrays = _read_npz(path, ("x_train", "y_train", "x_test", "y_test"))
    parts = {}
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if y.ndim != 1 or len(x) != len(y) or not np.isin(y, (0, 1)).all():
            raise DataError(f"{path.name}: y_{part} must be 0/1 labels, one per review.")
        parts[part] = (_bag_of_words(x, vocabulary, f"{path.name}:x_{part}"), y.astype(np.int64))
    return Split(
        f"IMDB ({path.name}, {vocabulary}-word bag of words)", *parts["train"], *parts["test"]
    )


# ------------------------------------------------------------------------ generated data


@dataclass(frozen=True)
class Anchors:
    """A detection-like set: ``x [images, anchors, D]``, ``y [images, anchors]`` 0/1, kinds."""

    x: np.ndarray
    y: np.ndarray
    hard: np.ndarray  # True for the hard negatives (near a positive)


def detection_anchors(
    rng: np.random.Generator,
    *,
    images: int,
    anchors: int,
    positive_rate: float,
    hard_negative_rate: float,
    features: int,
    separation: float,
) -> Anchors:
    """Anchors of a one-stage detector, as labelled feature vectors.

    Positives are drawn around ``+μ``, easy negatives (background) around ``−μ``, hard
    negatives (boxes half on an object) around ``+μ/2``, all with unit variance, where
    ``μ = separation / (2√D)`` per feature so that the centres of positives and easy
    negatives are ``separation`` apart. Each image has ``round(positive_rate·anchors)``
    positives (at least one).
    """
    n_pos = max(1, round(positive_rate * anchors))
    mu = np.full(features, separation / (2 * np.sqrt(features)), dtype=np.float64)
    y = np.zeros((images, anchors), dtype=np.float32)
    y[:, :n_pos] = 1.0
    u = rng.random((images, anchors))
    hard = (y == 0) & (u < hard_negative_rate)
    centre = np.where(y[..., None] == 1, mu, np.where(hard[..., None], mu / 2, -mu))
    x = centre + rng.standard_normal((images, anchors, features))
    order = np.argsort(rng.random((images, anchors)), axis=1)  # shuffle anchors in each image
    take = np.take_along_axis
    return Anchors(
        take(x, order[..., None], axis=1).astype(np.float32),
        take(y, order, axis=1),
        take(hard, order, axis=1),
    )


def flip_labels(rng: np.random.Generator, y: np.ndarray, rate: float) -> np.ndarray:
    """Binary labels with each one flipped with probability ``rate`` (symmetric label noise)."""
    flip = rng.random(y.shape) < rate
    return np.where(flip, 1 - y, y).astype(y.dtype)


def digit_attributes(labels: np.ndarray) -> np.ndarray:
    """Four independent 0/1 attributes of a digit (:data:`ATTRIBUTES`), ``[N, 4]`` float32.

    A multi-label task on real images: a 6 is even, greater than 4 and a multiple of 3; a
    1 has none of the four.

    Example:
        >>> import numpy as np
        >>> from crossent.experiments.datasets import digit_attributes
        >>> digit_attributes(np.array([6, 1, 7]))
        array([[1., 1., 0., 1.],
               [0., 0., 0., 0.],
               [0., 1., 1., 0.]], dtype=float32)
    """
    digit = np.asarray(labels)
    return np.stack(
        [digit % 2 == 0, digit > 4, np.isin(digit, (2, 3, 5, 7)), digit % 3 == 0], axis=1
    ).astype(np.float32)
