"""The ``crossent`` command.

Exit codes: 0 success, 1 an internal failure or output that cannot be written (a full
disk, a closed standard output: the OS's reason on one line of stderr), 2 bad usage or
bad input, with the reason on one line of stderr. A reader that goes away (``crossent
eval … | head -1``) ends the command quietly with 141, as the shell reports a process
ended by SIGPIPE. Each subcommand is a ``(add_arguments, run)`` pair in :data:`COMMANDS`;
``run`` returns the exit code and raises :class:`crossent._io.InputError` for bad input.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from crossent._io import InputError, load_array


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned columns: numbers right-aligned, text left-aligned."""
    table = [list(headers), *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]

    def is_number(text: str) -> bool:
        try:
            float(text)
        except ValueError:
            return False
        return True

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if is_number(c) else c.ljust(w) for c, w in zip(cells, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("─" * w for w in widths)
    return "\n".join([line(table[0]), rule, *[line(r) for r in table[1:]]])


# ---------------------------------------------------------------------------- explain


def _explain_args(p: argparse.ArgumentParser) -> None:
    from crossent.explain import TOPICS

    p.add_argument(
        "topic",
        nargs="?",
        default="core",
        choices=sorted(TOPICS),
        help="what to explain (default: core). "
        + "; ".join(f"{k}: {v[0]}" for k, v in sorted(TOPICS.items())),
    )


def _explain_run(args: argparse.Namespace) -> int:
    from crossent.explain import TOPICS

    for section in TOPICS[args.topic][1]():
        print(section.title)
        print(format_table(section.headers, section.rows))
        if section.note:
            print(section.note)
        print()
    return 0


# ---------------------------------------------------------------------------- eval


def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("pred", help="predictions: .npy, .npz (FILE.npz:KEY) or .csv")
    p.add_argument(
        "target", help="targets: labels [N], or one-hot / multi-hot / probability rows [N, C]"
    )
    kind = p.add_mutually_exclusive_group()
    kind.add_argument(
        "--from-logits",
        dest="from_logits",
        action="store_true",
        default=None,
        help="predictions are logits",
    )
    kind.add_argument(
        "--probs", dest="from_logits", action="store_false", help="predictions are probabilities"
    )
    p.add_argument(
        "--task",
        default="auto",
        choices=["auto", "binary", "multiclass", "multilabel", "soft"],
        help="the task (default: inferred from the targets)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _same_rows(pred: Any, target: Any, pred_name: str, target_name: str) -> None:
    """Predictions and targets are the same samples: as many rows in both files."""
    if pred.ndim >= 1 and target.ndim >= 1 and pred.shape[0] != target.shape[0]:
        raise InputError(
            f"prediction file {pred_name!r} has {pred.shape[0]} rows but target file "
            f"{target_name!r} has {target.shape[0]}: they must be the same samples."
        )


def _eval_run(args: argparse.Namespace) -> int:
    from crossent.evaluate import evaluate

    pred = load_array(args.pred, what="prediction")
    target = load_array(args.target, what="target")
    _same_rows(pred, target, args.pred, args.target)
    try:
        result = evaluate(pred, target, from_logits=args.from_logits, task=args.task)
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc)) from exc
    if result["input_guess"]:
        print(
            f"crossent eval: warning: treating {args.pred} as {result['input']} "
            f"({result['input_guess']}); pass --probs or --from-logits to say which.",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"task: {result['task']}   input: {result['input']}   samples: {result['n']}")
    print(f"loss: {result['loss']}")
    rows = [[name, f"{value:.6g}"] for name, value in result["metrics"].items()]
    print(format_table(["metric", "value"], rows))
    for note in result["notes"]:
        print(f"note: {note}")
    return 0


# ---------------------------------------------------------------------------- advise


def _advise_args(p: argparse.ArgumentParser) -> None:
    from crossent.task import LOSS_KINDS

    p.add_argument(
        "target", help="targets: labels [N], or one-hot / multi-hot / probability rows [N, C]"
    )
    p.add_argument("--pred", help="the model's outputs (logits or probabilities), to check")
    p.add_argument(
        "--loss",
        choices=sorted(LOSS_KINDS),
        help="the loss the outputs are for (default: the recommended one)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _advise_run(args: argparse.Namespace) -> int:
    from crossent.advise import advise, render

    target = load_array(args.target, what="target")
    pred = None if args.pred is None else load_array(args.pred, what="prediction")
    if pred is not None:
        _same_rows(pred, target, args.pred, args.target)
    try:
        result = advise(target, pred, loss=args.loss)
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc)) from exc
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render(result, target_name=args.target, pred_name=args.pred or ""))
    return 0


# ---------------------------------------------------------------------------- reproduce


def _reproduce_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="smaller runs (under two minutes)")
    p.add_argument("--only", metavar="IDS", help="only these claims, e.g. C6,C13")
    p.add_argument("--out", default="report", help="report folder (default: report/)")
    p.add_argument("--mnist", metavar="PATH", help="MNIST: a folder of IDX files or mnist.npz")
    p.add_argument("--imdb", metavar="PATH", help="IMDB: Keras' imdb.npz")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def _reproduce_run(args: argparse.Namespace) -> int:
    from pathlib import Path

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


# ---------------------------------------------------------------------------- bench


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="smaller sizes (under two minutes)")
    p.add_argument("--json", metavar="FILE", help="also write every measurement to FILE as JSON")
    p.add_argument(
        "--only",
        metavar="GROUPS",
        help="comma-separated tables to run: ce, lce, numpy, sweep, vp (default: all)",
    )


def _bench_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from crossent.bench import run
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
    report = run(
        quick=args.quick,
        json_path=args.json,
        selected=lambda case: case.group.split("-")[0] in groups,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(report["table"], end="")
    return 0


COMMANDS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {
    "explain": ("the seeds' worked examples, computed live", _explain_args, _explain_run),
    "eval": ("score saved predictions (.npy/.npz/.csv)", _eval_args, _eval_run),
    "advise": ("which loss for saved targets, and why; flags mistakes", _advise_args, _advise_run),
    "reproduce": (
        "train real models, check every claim, write an HTML report",
        _reproduce_args,
        _reproduce_run,
    ),
    "bench": ("speed and peak memory next to peers, as ratios", _bench_args, _bench_run),
}
"""Subcommand name → (help, add_arguments, run)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossent",
        description="The cross-entropy family of losses: explain, evaluate, advise, reproduce, benchmark.",
    )
    from crossent import __version__

    parser.add_argument("--version", action="version", version=f"crossent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run)
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
    """Run the command; return the exit code (see the module docstring)."""
    if sys.stdout is None:  # started with standard output closed (`crossent … >&-`)
        print(f"crossent: cannot write output: {os.strerror(errno.EBADF)}", file=sys.stderr)
        return 1
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with usage on bad arguments
    try:
        code: Any = args.run(args)
        sys.stdout.flush()  # a failed write surfaces here, not at exit
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


if __name__ == "__main__":
    sys.exit(main())
