"""The ``crossent`` command.

Exit codes (DESIGN.md): 0 success, 1 an internal failure, 2 bad usage or bad input, with
the reason on one line of stderr. Each subcommand is a ``(add_arguments, run)`` pair in
:data:`COMMANDS`; ``run`` returns the exit code and raises
:class:`crossent._io.InputError` for bad input.
"""

from __future__ import annotations

import argparse
import json
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


def _eval_run(args: argparse.Namespace) -> int:
    from crossent.evaluate import evaluate

    pred = load_array(args.pred, what="prediction")
    target = load_array(args.target, what="target")
    try:
        result = evaluate(pred, target, from_logits=args.from_logits, task=args.task)
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc)) from exc
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"task: {result['task']}   input: {result['input']}   samples: {result['n']}")
    rows = [[name, f"{value:.6g}"] for name, value in result["metrics"].items()]
    print(format_table(["metric", "value"], rows))
    return 0


COMMANDS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {
    "explain": ("the seeds' worked examples, computed live", _explain_args, _explain_run),
    "eval": ("score saved predictions (.npy/.npz/.csv)", _eval_args, _eval_run),
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with usage on bad arguments
    try:
        code: Any = args.run(args)
    except InputError as exc:
        print(f"crossent {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"crossent {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal failure: say so, exit 1
        print(
            f"crossent {args.command}: internal error: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
