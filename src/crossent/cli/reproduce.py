"""``crossent reproduce``: train real models, check every claim, write an HTML report.

The work is :func:`crossent.experiments.runner.reproduce`'s; this module reads the
options. PyTorch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .files import InputError

__all__ = ["HELP", "add_arguments", "run"]

HELP = "train real models, check every claim, write an HTML report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``crossent reproduce``: size, claims, report folder, data, seed."""
    parser.add_argument("--quick", action="store_true", help="smaller runs (under two minutes)")
    parser.add_argument("--only", metavar="IDS", help="only these claims, e.g. C6,C13")
    parser.add_argument("--out", default="report", help="report folder (default: report/)")
    parser.add_argument("--mnist", metavar="PATH", help="MNIST: a folder of IDX files or mnist.npz")
    parser.add_argument("--imdb", metavar="PATH", help="IMDB: Keras' imdb.npz")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def run(args: argparse.Namespace) -> int:
    """Run the experiments and write the report.

    Returns:
        The exit code, 0 (a claim found false is a result, not a failure).

    Raises:
        InputError: a negative seed, an unknown claim in ``--only``, a data file that
            cannot be used.
    """
    from crossent.experiments.registry import Options
    from crossent.experiments.runner import reproduce

    if args.seed < 0:
        raise InputError(f"`--seed` must be non-negative; got {args.seed!r}.")
    options = Options(
        quick=args.quick,
        seed=args.seed,
        mnist=Path(args.mnist) if args.mnist else None,
        imdb=Path(args.imdb) if args.imdb else None,
    )
    try:
        reproduce(options, only=args.only, out=Path(args.out))
    except ValueError as exc:  # a bad --only, or a data file that cannot be used
        raise InputError(str(exc)) from exc
    return 0
