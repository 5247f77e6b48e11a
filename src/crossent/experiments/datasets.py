"""The data the experiments train on.

Real data first: scikit-learn's bundled ``load_digits`` stands in for the seeds' MNIST and
``load_breast_cancer`` for their IMDB (both ship inside scikit-learn, so no download), and
:func:`load_mnist` / :func:`load_imdb` read the seeds' own files when the user has them.
Generated data only where a claim needs a controlled setting: :func:`detection_anchors`
(few positives among many easy negatives, as in one-stage detection), :class:`AnchorMixture`
(the same with a known posterior, so that the best possible score is computable),
:func:`flip_labels` (label noise) and :func:`digit_attributes` (independent labels of real
images); :func:`one_digit_anchors` makes real digits as imbalanced as the generator.

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
    "AnchorMixture",
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
    "mislabel_positives",
    "one_digit_anchors",
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


KINDS = ("easy negative", "hard negative", "positive")
"""The three kinds of anchor of :class:`AnchorMixture`, in the order of its arrays."""

EASY, HARD, POSITIVE = 0, 1, 2


@dataclass(frozen=True)
class AnchorMixture:
    r"""A detection-like generator whose posterior is known: three Gaussian kinds of anchor.

    Every anchor is an easy negative (background), a hard negative (a box half on an object)
    or a positive, with prior probabilities

    .. math::

        \pi_+ = \rho, \qquad \pi_{\text{hard}} = (1-\rho)\,h, \qquad
        \pi_{\text{easy}} = (1-\rho)(1-h),

    (``ρ`` = ``positive_rate``, ``h`` = ``hard_share``) and features
    :math:`x \sim \mathcal N(\mu_k, I_D)`. The centres are :math:`\mu_+ = \tfrac s2 e_1`,
    :math:`\mu_{\text{easy}} = -\tfrac s2 e_1` and :math:`\mu_{\text{hard}} = \tfrac s2 e_1 +
    \delta e_2` (``s`` = ``separation``, ``δ`` = ``hard_offset``): hard negatives sit
    ``δ`` from the positives, off the line that separates positives from background, so the
    best boundary is curved; the other ``D − 2`` features are noise. The posterior
    log-odds of a positive is

    .. math::

        \log\frac{P(+\mid x)}{P(-\mid x)} = \log \pi_+ - \tfrac12\lVert x-\mu_+\rVert^2
        - \log \sum_{k \in \{\text{easy},\,\text{hard}\}} \pi_k\,
        e^{-\lVert x-\mu_k\rVert^2/2}.

    Args:
        positive_rate: ρ in (0, 1).
        hard_share: h in [0, 1], the share of the negatives that are hard.
        features: D ≥ 2.
        separation: s, distance between the positive and easy centres.
        hard_offset: δ, distance between the positive and hard centres.

    Example:
        >>> import numpy as np
        >>> from crossent.experiments.datasets import AnchorMixture
        >>> m = AnchorMixture(0.5, 0.0, features=2, separation=2.0, hard_offset=1.0)
        >>> m.priors().tolist()
        [0.5, 0.0, 0.5]
        >>> m.log_odds(np.array([[0.0, 0.0], [1.0, 0.0]])).tolist()  # 0 midway; s·x₁ in general
        [0.0, 2.0]
    """

    positive_rate: float
    hard_share: float
    features: int
    separation: float
    hard_offset: float

    def __post_init__(self) -> None:
        if not 0.0 < self.positive_rate < 1.0:
            raise ValueError(
                f"`positive_rate` must be in (0, 1); got positive_rate={self.positive_rate!r}."
            )
        if not 0.0 <= self.hard_share <= 1.0:
            raise ValueError(f"`hard_share` must be in [0, 1]; got hard_share={self.hard_share!r}.")
        if self.features < 2:
            raise ValueError(f"`features` must be at least 2; got features={self.features!r}.")

    def priors(self) -> np.ndarray:
        """``[π_easy, π_hard, π_+]``, float64, in the order of :data:`KINDS`."""
        rho, h = self.positive_rate, self.hard_share
        return np.array([(1 - rho) * (1 - h), (1 - rho) * h, rho])

    def centres(self) -> np.ndarray:
        """``[3, D]`` float64: the centres of the kinds, in the order of :data:`KINDS`."""
        mu = np.zeros((3, self.features))
        mu[EASY, 0], mu[POSITIVE, 0] = -self.separation / 2, self.separation / 2
        mu[HARD, 0], mu[HARD, 1] = self.separation / 2, self.hard_offset
        return mu

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """``−‖x − μ_k‖²/2`` for each kind, ``[..., 3]`` float64: the log density of each kind
        up to the Gaussians' common constant, which every ratio of densities cancels."""
        x = np.asarray(x, dtype=np.float64)
        out: np.ndarray = -0.5 * np.sum((x[..., None, :] - self.centres()) ** 2, axis=-1)
        return out

    def log_joint(self, x: np.ndarray) -> np.ndarray:
        """``log π_k`` plus :meth:`log_density` (−inf for a kind of prior 0)."""
        with np.errstate(divide="ignore"):
            log_prior = np.log(self.priors())
        out: np.ndarray = log_prior + self.log_density(x)
        return out

    def log_odds(self, x: np.ndarray) -> np.ndarray:
        """The true posterior log-odds of a positive at each row of ``x [..., D]``, float64."""
        joint = self.log_joint(x)
        out: np.ndarray = joint[..., POSITIVE] - np.logaddexp(joint[..., EASY], joint[..., HARD])
        return out

    def sample(self, rng: np.random.Generator, kinds: np.ndarray) -> np.ndarray:
        """Features ``[..., D]`` (float64) for an array of kind indices."""
        return self.centres()[kinds] + rng.standard_normal((*kinds.shape, self.features))

    def images(self, rng: np.random.Generator, *, images: int, anchors: int) -> Anchors:
        """Training images: every anchor's kind drawn from the priors, then its features.

        Returns:
            :class:`Anchors` with ``x [images, anchors, D]`` float32, ``y`` 0/1 float32 and
            ``hard`` marking the hard negatives.
        """
        kinds = rng.choice(3, size=(images, anchors), p=self.priors())
        return Anchors(
            self.sample(rng, kinds).astype(np.float32),
            (kinds == POSITIVE).astype(np.float32),
            kinds == HARD,
        )

    def evaluation_sample(
        self, rng: np.random.Generator, per_kind: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""An evaluation sample with class masses that estimate any metric at the priors.

        ``per_kind`` anchors of each kind present are drawn, so the rows come from
        :math:`q = \frac1K \sum_k p_k`. Each row then counts as a positive with mass
        :math:`\pi_+ p_+(x) / (n\,q(x))` and as a negative with mass
        :math:`\sum_{k\,\text{neg}} \pi_k p_k(x) / (n\,q(x))` (importance weights, using
        the known densities instead of the sampled kinds): summed over rows with a score
        above a threshold they estimate the true- and false-positive rates times the priors,
        without bias, and with low variance even far in the tail where at 1:1000 the few
        negatives that outscore positives decide the precision.

        Returns:
            ``(x [n, D], positive_mass [n], negative_mass [n])``, float64; the masses sum
            to about ρ and 1 − ρ.
        """
        present = np.flatnonzero(self.priors() > 0)
        kinds = np.repeat(present, per_kind)
        x = self.sample(rng, kinds)
        joint = self.log_joint(x)
        log_q = np.logaddexp.reduce(self.log_density(x)[:, present], axis=-1) - np.log(len(present))
        negative = np.logaddexp(joint[:, EASY], joint[:, HARD])
        return (
            x,
            np.exp(joint[:, POSITIVE] - log_q) / len(x),
            np.exp(negative - log_q) / len(x),
        )


def mislabel_positives(rng: np.random.Generator, y: np.ndarray, share: float) -> np.ndarray:
    """Label noise that keeps the positive rate: ``round(share · n₊)`` positives become
    negatives and as many negatives become positives, chosen at random.

    Example:
        >>> import numpy as np
        >>> from crossent.experiments.datasets import mislabel_positives
        >>> y = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
        >>> noisy = mislabel_positives(np.random.default_rng(0), y, 0.5)
        >>> float(noisy.sum()), int(np.sum(noisy != y))
        (2.0, 2)
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"`share` must be in [0, 1]; got share={share!r}.")
    flat = y.ravel().copy()
    pos, neg = np.flatnonzero(flat == 1), np.flatnonzero(flat == 0)
    k = min(round(share * len(pos)), len(neg))
    flat[rng.choice(pos, k, replace=False)] = 0
    flat[rng.choice(neg, k, replace=False)] = 1
    return flat.reshape(y.shape)


def one_digit_anchors(
    split: Split, digit: int, positive_rate: float, *, anchors: int, seed: int
) -> tuple[Anchors, np.ndarray, np.ndarray, np.ndarray]:
    """Real digits made as imbalanced as the generator: ``digit`` against the rest.

    Every negative of the training part is kept and positives are subsampled to
    ``positive_rate`` (at least one); the rows are shuffled into pseudo-images of
    ``anchors`` rows (the last, incomplete one dropped). The test part is kept whole and
    weighted so that its positives weigh ``positive_rate`` of the total, in the form of
    :meth:`AnchorMixture.evaluation_sample`.

    Returns:
        ``(train, x_test, positive_mass, negative_mass)``: training :class:`Anchors`
        (``hard`` all False), then the test features and each test row's mass as a positive
        and as a negative (float64; one of the two is 0).
    """
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(split.y_train == digit)
    neg = np.flatnonzero(split.y_train != digit)
    n_pos = min(len(pos), max(1, round(positive_rate / (1 - positive_rate) * len(neg))))
    rows = rng.permutation(np.concatenate([rng.choice(pos, n_pos, replace=False), neg]))
    n_images = len(rows) // anchors
    rows = rows[: n_images * anchors].reshape(n_images, anchors)
    train = Anchors(
        split.x_train[rows].astype(np.float32),
        (split.y_train[rows] == digit).astype(np.float32),
        np.zeros(rows.shape, dtype=bool),
    )
    y_test = (split.y_test == digit).astype(np.float64)
    n_test_pos = float(y_test.sum())
    positive = y_test * positive_rate / n_test_pos
    negative = (1 - y_test) * (1 - positive_rate) / (len(y_test) - n_test_pos)
    return train, split.x_test.astype(np.float64), positive, negative
