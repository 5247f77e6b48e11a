"""Run the selected claims with a progress bar each, print a summary, write the report."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crossent.experiments.registry import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_WITH_CORRECTION,
    INCONCLUSIVE,
    Claim,
    Context,
    Options,
)
from crossent.experiments.report import Outcome, write

__all__ = ["parse_only", "reproduce", "run_claims"]

_STYLE = {
    HOLDS: "green",
    HOLDS_WITH_CORRECTION: "yellow",
    DOES_NOT_HOLD: "red",
    INCONCLUSIVE: "dim",
}


def parse_only(text: str | None, claims: Sequence[Claim]) -> list[Claim]:
    """The claims named in ``--only`` (``"C6,C13"``, any case), in report order; all for None.

    A claim split into lettered statements (``C16a``, ``C16b``, ``C16c``) is selected whole by
    its number (``C16``) or one statement at a time.

    Raises:
        ValueError: an empty list or an identifier that is not a claim.

    Example:
        >>> from crossent.experiments.claims import CLAIMS
        >>> from crossent.experiments.runner import parse_only
        >>> [c.id for c in parse_only("c13,C6", CLAIMS)]
        ['C6', 'C13']
        >>> [c.id for c in parse_only("C16", CLAIMS)]
        ['C16a', 'C16b', 'C16c']
    """
    if text is None:
        return list(claims)
    wanted = {part.strip().upper() for part in text.split(",") if part.strip()}

    def named(claim: Claim, name: str) -> bool:
        cid = claim.id.upper()
        return cid == name or (cid[:-1] == name and cid[-1].isalpha())

    unknown = sorted(w for w in wanted if not any(named(c, w) for c in claims))
    if not wanted or unknown:
        raise ValueError(
            f"`--only` must list claim ids such as C6,C13 (known: {', '.join(c.id for c in claims)}); "
            f"got {text!r}."
        )
    return [c for c in claims if any(named(c, w) for w in wanted)]


class _Bar:
    """A :class:`~crossent.experiments.training.Progress` drawing one rich progress bar."""

    def __init__(self, progress: Any, task: Any):
        self._progress, self._task, self._total = progress, task, 0

    def expect(self, units: int) -> None:
        self._total += units
        self._progress.update(self._task, total=self._total)

    def advance(self, units: int = 1) -> None:
        self._progress.advance(self._task, units)


def run_claims(claims: Sequence[Claim], ctx: Context, *, console: Any = None) -> list[Outcome]:
    """Run each claim's experiment in turn, sharing ``ctx``; a progress bar per claim."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    outcomes = []
    columns = (
        TextColumn("{task.description:<5}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        for claim in claims:
            task = progress.add_task(claim.id, total=None)
            ctx.progress = _Bar(progress, task)
            start = time.perf_counter()
            result = claim.run(ctx)
            done = progress.tasks[task].total or 1
            progress.update(task, total=done, completed=done)
            outcomes.append(Outcome(claim, result, time.perf_counter() - start))
    return outcomes


def _versions() -> str:
    import matplotlib
    import numpy
    import sklearn
    import torch

    from crossent import __version__

    return (
        f"crossent {__version__}, torch {torch.__version__}, NumPy {numpy.__version__}, "
        f"scikit-learn {sklearn.__version__}, matplotlib {matplotlib.__version__}"
    )


def reproduce(options: Options, *, only: str | None = None, out: Path = Path("report")) -> Path:
    """``crossent reproduce``: check the claims, write ``out/index.html`` and ``out/claims.json``.

    Raises:
        ValueError: a bad ``--only``, or (as :class:`~crossent.experiments.datasets.DataError`) a
            ``--mnist``/``--imdb`` file that cannot be used (both read before training).
    """
    from rich.console import Console
    from rich.table import Table

    from crossent.experiments.claims import CLAIMS

    selected = parse_only(only, CLAIMS)
    ctx = Context(options)
    # Read the user's data files first: a bad file fails in a second, not after minutes.
    if options.mnist:
        ctx.multiclass()
    if options.imdb:
        ctx.binary()
    console = Console()
    start = time.perf_counter()
    outcomes = run_claims(selected, ctx, console=console)
    seconds = time.perf_counter() - start
    path = write(outcomes, options, out, seconds=seconds, versions=_versions())
    table = Table(
        title=f"crossent reproduce{' --quick' if options.quick else ''}: "
        f"{len(outcomes)} claims in {seconds:.0f} s"
    )
    for column in ("claim", "verdict", "seconds", "measured"):
        table.add_column(column, no_wrap=column != "measured", overflow="fold")
    for o in outcomes:
        table.add_row(
            o.claim.id,
            f"[{_STYLE[o.result.verdict]}]{o.result.verdict}[/]",
            f"{o.seconds:.1f}",
            o.result.headline,
        )
    console.print(table)
    console.print(f"Report: {path.resolve()}")
    return path
