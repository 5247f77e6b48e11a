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
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cuda: the CE and linear CE tables on a GPU, timed with CUDA events (default: cpu)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="with --device cuda: run the GPU tables' code on CPU tensors at tiny sizes "
        "(Triton in its interpreter); the numbers measure nothing",
    )


def run(args: argparse.Namespace) -> int:
    """Run the benchmarks, progress on stderr, the table on stdout.

    Returns:
        The exit code, 0.

    Raises:
        InputError: ``--json`` naming a folder, unknown tables in ``--only``, ``--dry-run``
            without ``--device cuda``, ``--device cuda`` where torch sees no GPU.
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
    if args.dry_run and args.device != "cuda":
        raise InputError("`--dry-run` goes with `--device cuda`; got --device cpu.")
    if args.device == "cuda" and not args.dry_run:
        import torch

        if not torch.cuda.is_available():
            raise InputError(
                "`--device cuda` needs a CUDA GPU, and torch finds none "
                "(torch.cuda.is_available() is False); `--dry-run` runs the GPU tables' "
                "code on CPU."
            )
    report = run_benchmarks(
        quick=args.quick,
        device=args.device,
        dry_run=args.dry_run,
        json_path=args.json,
        selected=lambda case: case.group.split("-")[0] in groups,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(report["table"], end="")
    return 0
