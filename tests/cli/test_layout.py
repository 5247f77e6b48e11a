"""The command sits on top of the library: nothing below ``crossent.cli`` imports it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import crossent

SRC = Path(crossent.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every ``crossent…`` module a file imports, at any depth (function bodies too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] == "crossent"}


def test_no_library_module_imports_the_command():
    offenders = {
        str(path.relative_to(SRC)): sorted(
            n for n in imported_modules(path) if n.startswith("crossent.cli")
        )
        for path in SRC.rglob("*.py")
        if "cli" not in path.relative_to(SRC).parts
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_whole_file_writer_depends_on_nothing_of_crossent():
    assert imported_modules(SRC / "_io.py") == set()


def test_import_crossent_does_not_load_the_command():
    code = "import sys, crossent; print(any(m.startswith('crossent.cli') for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_python_dash_m_runs_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "crossent.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"crossent {crossent.__version__}"
