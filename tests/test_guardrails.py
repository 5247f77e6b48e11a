"""The guardrails' module and the layering of the core: no import cycle, hidden or not."""

from __future__ import annotations

import ast
from pathlib import Path

import crossent
from crossent import _guardrails, task

PACKAGE = Path(crossent.__file__).resolve().parent
CORE = [
    "_array",
    "_checks",
    "_reduce",
    "_guardrails",
    "info",
    "grad",
    "task",
    "multitask",
    "losses",
    *(
        f"losses.{p.stem}"
        for p in sorted((PACKAGE / "losses").glob("*.py"))
        if p.stem != "__init__"
    ),
]


def _path(module: str) -> Path:
    parts = module.split(".")
    candidate = PACKAGE.joinpath(*parts).with_suffix(".py")
    return candidate if candidate.exists() else PACKAGE.joinpath(*parts, "__init__.py")


def _imports(module: str) -> set[str]:
    """Every crossent module ``module`` imports, at the top or inside a function."""
    tree = ast.parse(_path(module).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("crossent."):
                sub = name[len("crossent.") :]
                if _path(sub).exists():
                    found.add(sub)
    return found - {module}


def test_check_is_re_exported_by_task():
    assert task.check is _guardrails.check
    assert task.LOSS_KINDS is _guardrails.LOSS_KINDS


def test_guardrails_import_only_the_array_layer_and_the_checks():
    assert _imports("_guardrails") == {"_array", "_checks"}


def test_checks_no_longer_import_the_guardrails_or_task():
    assert _imports("_checks") == {"_array"}
    # The array layer's only crossent import is its TensorFlow namespace adapter, which
    # imports nothing of crossent.
    assert _imports("_array") <= {"_tensorflow"}
    assert _imports("_tensorflow") == set()


def test_binary_does_not_import_its_sibling_categorical():
    assert "losses.categorical" not in _imports("losses.binary")


def test_the_core_import_graph_has_no_cycle():
    graph = {m: {d for d in _imports(m) if d in CORE} for m in CORE}
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                raise AssertionError(f"import cycle: {' -> '.join([*path, node, dep])}")
            if dep not in state:
                visit(dep, [*path, node])
        state[node] = "done"

    for module in CORE:
        if module not in state:
            visit(module, [])
