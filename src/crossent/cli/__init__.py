"""The ``crossent`` command: the front ends of the library on the command line.

``crossent COMMAND …`` runs one of :data:`COMMANDS`, each a module of this package with
``HELP``, ``add_arguments(parser)`` and ``run(args) -> exit code``:

=========== ==================================================================
explain     :mod:`crossent.cli.explain`: the articles' worked examples, computed live
eval        :mod:`crossent.cli.evaluate`: score saved predictions
calibrate   :mod:`crossent.cli.calibrate`: fit a calibrator by NLL on validation logits
advise      :mod:`crossent.cli.advise`: which loss for saved targets, and why
reproduce   :mod:`crossent.cli.reproduce`: train real models, write the report
bench       :mod:`crossent.cli.bench`: speed and memory next to peers
=========== ==================================================================

Files are read by :mod:`crossent.cli.files`, tables formatted by
:mod:`crossent.cli.table`.

Exit codes: 0 success, 1 an internal failure or output that cannot be written (a full
disk, a closed standard output: the OS's reason on one line of stderr), 2 bad usage or
bad input, with the reason on one line of stderr. Warnings that the libraries raise during a
successful run are summed up in one line of stderr. A reader that goes away (``crossent
eval … | head -1``) ends the command quietly with 141, as the shell reports a process
ended by SIGPIPE. ``run`` raises :class:`crossent.cli.files.InputError` for bad input.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from crossent import __version__

from . import advise, bench, calibrate, evaluate, explain, reproduce
from .files import InputError

__all__ = ["COMMANDS", "SIGPIPE_EXIT", "build_parser", "main"]

COMMANDS: dict[str, ModuleType] = {
    "explain": explain,
    "eval": evaluate,
    "calibrate": calibrate,
    "advise": advise,
    "reproduce": reproduce,
    "bench": bench,
}
"""Subcommand name → its module (``HELP``, ``add_arguments``, ``run``)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``crossent``, one subparser per entry of :data:`COMMANDS`.

    Returns:
        The parser; ``parse_args`` gives a namespace with ``command`` and ``run``.

    Example:
        >>> args = build_parser().parse_args(["eval", "p.npy", "y.npy", "--probs"])
        >>> args.command, args.from_logits, args.task
        ('eval', False, 'auto')
    """
    parser = argparse.ArgumentParser(
        prog="crossent",
        description="The cross-entropy family of losses: explain, evaluate, advise, reproduce, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"crossent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        run: Callable[[argparse.Namespace], int] = module.run
        command.set_defaults(run=run)
    return parser


SIGPIPE_EXIT = 141
"""Exit code when the reader of standard output went away: 128 + SIGPIPE, as a shell
reports a process that SIGPIPE ended."""


def _silence_stdout() -> None:
    """Point standard output at ``/dev/null``, so that the interpreter's last flush of what
    could not be written neither fails nor prints a second error (Python's "Note on
    SIGPIPE" in the ``signal`` docs)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (e.g. captured by a test): nothing will flush to it
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line: its first line, or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``crossent`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Args:
        argv: the arguments after the program name, or ``None`` for the process's own.
            Default: ``None``.

    Returns:
        The exit code (see the module docstring); argparse exits 2 itself on bad usage.

    Example:
        >>> main(["explain"]) == 0  # doctest: +ELLIPSIS
        C1  ...
        True
    """
    if sys.stdout is None:  # started with standard output closed (`crossent … >&-`)
        print(f"crossent: cannot write output: {os.strerror(errno.EBADF)}", file=sys.stderr)
        return 1
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with usage on bad arguments
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code: Any = args.run(args)
        sys.stdout.flush()  # a failed write surfaces here, not at exit
        if caught:
            # One line however many warnings the libraries raised (never their two-line form).
            more = f" (and {len(caught) - 1} more)" if len(caught) > 1 else ""
            message = _one_line(caught[0].message)  # type: ignore[arg-type]
            print(f"crossent {args.command}: warning: {message}{more}", file=sys.stderr)
    except InputError as exc:
        print(f"crossent {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _silence_stdout()
        return SIGPIPE_EXIT
    except KeyboardInterrupt:
        print(f"crossent {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # A write that failed (a full disk, a closed or revoked output): the OS's reason.
        _silence_stdout()
        reason = exc.strerror or _one_line(exc)
        where = f"use {exc.filename!r}" if exc.filename else "write output"
        print(f"crossent {args.command}: cannot {where}: {reason}", file=sys.stderr)
        return 1
    except Exception as exc:  # an internal failure: say so, exit 1
        print(
            f"crossent {args.command}: internal error: {type(exc).__name__}: {_one_line(exc)}",
            file=sys.stderr,
        )
        return 1
    return int(code)
