"""What a claim is, what checking it produces, and the rule that turns numbers into a verdict.

A :class:`Claim` pairs the text of CLAIMS.md with a function that runs the experiment and
returns a :class:`Result`: the setting it chose, the criterion, the measured numbers, the
verdict computed from them by :func:`verdict`, and the figures and tables that show it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crossent.experiments import datasets
from crossent.experiments.stats import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    INCONCLUSIVE,
    VERDICTS,
    Evidence,
    verdict,
)
from crossent.experiments.training import NoProgress, Progress, deterministic

__all__ = [
    "DOES_NOT_HOLD",
    "HOLDS",
    "HOLDS_WITH_CORRECTION",
    "INCONCLUSIVE",
    "VERDICTS",
    "Claim",
    "Context",
    "Evidence",
    "Figure",
    "Options",
    "Result",
    "Table",
    "verdict",
]


@dataclass(frozen=True)
class Figure:
    """A plot as inline SVG markup, with a caption saying what to look at."""

    title: str
    svg: str
    caption: str = ""


@dataclass(frozen=True)
class Table:
    """A small table of the report: a title, column headers and rows of text."""

    title: str
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Result:
    """What checking one claim found.

    Attributes:
        verdict: one of :data:`VERDICTS`, from :func:`verdict`.
        criterion: the test applied, with its thresholds, in words.
        measured: the numbers the verdict was computed from (JSON-serialisable).
        setting: what was run and why that setting (the seed's or the paper's).
        finding: what the numbers say, in a sentence or two.
        headline: the key numbers in one short line, for the summaries.
        figures, tables: what the report shows.
        evidence: for a trained comparison, the repeats, the sweep over the claim's regime
            with intervals, the ceiling or reference and the design's power; None for a
            computed claim.
        published: the source papers' own numbers, each table beside the analogous
            measurement of ours.
    """

    verdict: str
    criterion: str
    measured: dict[str, Any]
    setting: str
    finding: str
    headline: str = ""
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    evidence: Evidence | None = None
    published: list[Table] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    """The user's choices for one run of ``crossent reproduce``."""

    quick: bool = False
    seed: int = 0
    mnist: Path | None = None
    imdb: Path | None = None


DRAW_TRAIN, DRAW_TEST = 5000, 2000
"""Rows of a user's data file in each draw of :meth:`Context.draws`: enough for the small
models, and five stacked draws of MNIST stay under 100 MB."""


class Context:
    """What an experiment may use: the options, shared data (loaded once) and progress."""

    def __init__(self, options: Options, progress: Progress | None = None):
        # Seeded, deterministic, one torch thread: on a shared machine more threads only
        # contend (a tiny matmul goes from microseconds to milliseconds).
        deterministic(options.seed)
        self.options = options
        self.progress: Progress = progress or NoProgress()
        self.store: dict[str, Any] = {}
        """Results shared between experiments (a model trained for one claim, reused by another)."""

    @property
    def quick(self) -> bool:
        return self.options.quick

    @property
    def seed(self) -> int:
        return self.options.seed

    def size(self, *, quick: int, full: int) -> int:
        """``quick`` under ``--quick``, else ``full``."""
        return quick if self.options.quick else full

    def multiclass(self) -> datasets.Split:
        """The seeds' MNIST when ``--mnist`` was given, else scikit-learn's digits."""
        if "multiclass" not in self.store:
            path = self.options.mnist
            self.store["multiclass"] = (
                datasets.load_mnist(path) if path else datasets.digits(self.seed)
            )
        split: datasets.Split = self.store["multiclass"]
        return split

    def binary(self) -> datasets.Split:
        """The seeds' IMDB when ``--imdb`` was given, else scikit-learn's breast cancer."""
        if "binary" not in self.store:
            path = self.options.imdb
            self.store["binary"] = (
                datasets.load_imdb(path) if path else datasets.breast_cancer(self.seed)
            )
        split: datasets.Split = self.store["binary"]
        return split

    def draws(self, kind: str, repeats: int) -> list[datasets.Split]:
        """``repeats`` independent draws of the real data set ``kind`` (``"multiclass"`` or
        ``"binary"``), one per repeat of a trained comparison.

        The bundled sets are split afresh with seeds ``seed, seed + 1, …`` (the first draw is
        :meth:`multiclass` / :meth:`binary`'s split); a user's file, whose split is fixed, is
        subsampled instead: :data:`DRAW_TRAIN` training and :data:`DRAW_TEST` test rows at
        most, a different subsample per repeat. Every draw has the same sizes, so that the
        repeats stack into one batched model.

        Raises:
            ValueError: ``kind`` is neither, or ``repeats`` < 1.
        """
        if kind not in ("multiclass", "binary"):
            raise ValueError(f"`kind` must be 'multiclass' or 'binary'; got kind={kind!r}.")
        if repeats < 1:
            raise ValueError(f"`repeats` must be at least 1; got repeats={repeats!r}.")
        user = self.options.mnist if kind == "multiclass" else self.options.imdb
        if user is None:
            make = datasets.digits if kind == "multiclass" else datasets.breast_cancer
            return [make(self.seed + r) for r in range(repeats)]
        base = self.multiclass() if kind == "multiclass" else self.binary()
        n_train = min(len(base.y_train), DRAW_TRAIN)
        n_test = min(len(base.y_test), DRAW_TEST)
        return [
            base.subset(n_train, n_test, np.random.default_rng([self.seed, r]))
            for r in range(repeats)
        ]


@dataclass(frozen=True)
class Claim:
    """One claim of CLAIMS.md and the experiment that checks it.

    Attributes:
        id: the stable identifier (``"C6"``).
        claim: the claim in a sentence.
        source: where it comes from (``"seed 002"``, ``"seeds 001, 003"``).
        run: the experiment.
    """

    id: str
    claim: str
    source: str
    run: Callable[[Context], Result]
