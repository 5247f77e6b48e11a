"""``crossent bench``: speed and peak memory next to peers, as ratios.

The work is :mod:`crossent.bench`'s; this module reads the options. PyTorch is imported
only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .files import InputError

__all__ = ["HELP", "add_arguments", "run"]

HELP = "speed and peak memory next to peers, as ratios"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``crossent bench``: size, a JSON file, the tables to run."""
    parser.add_argument("--quick", action="store_true", help="smaller sizes (under two minutes)")
    parser.add_argument(
        "--json", metavar="FILE", help="also write every measurement to FILE as JSON"
    )
    parser.add_argument(
        "--only",
        metavar="GROUPS",
        help="comma-separated tables to run: ce, lce, numpy, sweep, vp (default: all)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the benchmarks, progress on stderr, the table on stdout.

    Returns:
        The exit code, 0.

    Raises:
        InputError: ``--json`` naming a folder, unknown tables in ``--only``.
    """
    from crossent.bench import run as run_benchmarks
    from crossent.bench.harness import GROUPS

    if args.json is not None and Path(args.json).is_dir():
        raise InputError(f"`--json` must be a file path; got the directory {args.json!r}.")
    groups = set(GROUPS)
    if args.only is not None:
        groups = {g.strip() for g in args.only.split(",") if g.strip()}
        unknown = sorted(groups - set(GROUPS))
        if unknown or not groups:
            raise InputError(
                f"`--only` takes a comma-separated list of {', '.join(GROUPS)}; got {args.only!r}."
            )
    report = run_benchmarks(
        quick=args.quick,
        json_path=args.json,
        selected=lambda case: case.group.split("-")[0] in groups,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(report["table"], end="")
    return 0
