"""The import graph of the whole package has no cycle, counting every way one module
loads another: imports at the top, imports inside functions (and under
``TYPE_CHECKING``), relative imports, and ``importlib.import_module("crossent....")``.

The graph is read from the source with :mod:`ast`, not by importing, so a cycle hidden
in a function body that no test happens to call is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import crossent

PACKAGE = Path(crossent.__file__).resolve().parent


def module_files() -> dict[str, Path]:
    """Every module under the package by dotted name (a package by its ``__init__``)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = module_files()


def resolve(name: str) -> str | None:
    """The module that loading ``name`` runs last: ``name`` itself, or for an attribute
    (``crossent.losses.softmax_cross_entropy``) the deepest module that holds it."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute module name of ``from <node.module> import ...`` inside ``module``."""
    if node.level == 0:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def is_import_module_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name in ("import_module", "__import__")


def imports(module: str) -> set[str]:
    """The crossent modules that ``module`` loads, anywhere in its source.

    Raises:
        AssertionError: an ``import_module`` call whose crossent target cannot be read
            from the source (a computed name), except in a package's PEP 562
            ``__getattr__``, which loads the package's own submodules.
    """
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = absolute(module, node)
            names.update(f"{source}.{alias.name}" for alias in node.names)
        elif is_import_module_call(node):
            assert isinstance(node, ast.Call)
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
            elif not _in_package_getattr(tree, node, module):
                raise AssertionError(
                    f"{MODULES[module]}:{node.lineno}: import_module with a computed name"
                )
    found = {resolve(n) for n in names if n == "crossent" or n.startswith("crossent.")}
    return {m for m in found if m is not None} - {module}


def _in_package_getattr(tree: ast.Module, call: ast.AST, module: str) -> bool:
    """Whether ``call`` sits in the module-level ``__getattr__`` of a package ``__init__``
    (lazy access to the package's own submodules: a downward edge)."""
    if MODULES[module].name != "__init__.py":
        return False
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef) and fn.name == "__getattr__":
            if any(node is call for node in ast.walk(fn)):
                return True
    return False


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle is not None:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle is not None:
                return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = {m: imports(m) for m in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_graph_sees_every_kind_of_import() -> None:
    """The reader finds imports in function bodies, relative imports and import_module
    strings (the edges a cycle would hide behind)."""
    assert "crossent.losses.categorical" in imports("crossent.grad")  # top of the module
    assert "crossent.torch.multitask" in imports("crossent.multitask")  # TYPE_CHECKING too
    assert "crossent.losses.weights" in imports("crossent.cli.advise")  # import_module
    assert "crossent.calibration" in imports("crossent.cli.calibrate")  # inside a function
    assert len(MODULES) > 40 and "crossent.torch.fused.kernels" in MODULES


def test_find_cycle_reports_the_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        ("crossent.torch.fused.host", "from . import kernels", "crossent.torch.fused.kernels"),
        ("crossent.torch.fused", "from .api import cross_entropy", "crossent.torch.fused.api"),
        ("crossent.torch.fused.host", "from .. import modules", "crossent.torch.modules"),
    ],
)
def test_relative_imports_resolve(module: str, line: str, expected: str) -> None:
    node = ast.parse(line).body[0]
    assert isinstance(node, ast.ImportFrom)
    assert resolve(f"{absolute(module, node)}.{node.names[0].name}") == expected
