"""The documentation site: it builds with ``--strict``, loads nothing from the network,
references every public name, and carries the math, plots and command reference that its
hooks make while it builds."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="the docs extra is not installed")
pytest.importorskip("latex2mathml", reason="the docs extra is not installed")

ROOT = Path(__file__).resolve().parents[2]

REFERENCED_MODULES = [
    "crossent",
    "crossent.info",
    "crossent.grad",
    "crossent.task",
    "crossent.multitask",
    "crossent.calibration",
    "crossent.torch",
]
"""Modules whose ``__all__`` the API reference must cover."""

LATER_MODULES = ["crossent.keras"]
"""Public modules that join the reference once they are part of the package."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for this module with ``mkdocs build --strict``."""
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "embed": "src"}
"""Tag → the attribute holding a URL the browser fetches when it shows the page."""


class AssetCollector(HTMLParser):
    """The URLs a page loads by itself: scripts, styles, fonts, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag in LOADS and values.get(LOADS[tag]):
            self.urls.append(values[LOADS[tag]])
        if tag == "object" and values.get("data"):
            self.urls.append(values["data"])
        if tag == "link" and values.get("href"):
            rel = values.get("rel", "").split()
            if {"stylesheet", "preload", "prefetch", "preconnect", "icon", "modulepreload"} & set(
                rel
            ) or "font" in values.get("as", ""):
                self.urls.append(values["href"])
        if values.get("style"):
            self.inline_styles.append(values["style"])
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.inline_styles.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False


REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
CSS_REMOTE = re.compile(r"(?:url\(\s*['\"]?|@import\s+['\"])\s*(?:https?:)?//", re.IGNORECASE)


def test_build_writes_the_home_page(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "crossent" in index
    # Every page of the navigation was written (use_directory_urls: false → NAME.html).
    for name in ["getting-started", "concepts", "api-notes", "verdicts", "reference/torch"]:
        assert (site / f"{name}.html").is_file(), name


def test_no_page_loads_anything_from_the_network(site: Path) -> None:
    offenders = []
    for page in pages(site):
        collector = AssetCollector()
        collector.feed(page.read_text(encoding="utf-8"))
        offenders += [(page.name, url) for url in collector.urls if REMOTE.match(url)]
        offenders += [(page.name, s[:80]) for s in collector.inline_styles if CSS_REMOTE.search(s)]
    for sheet in [*site.rglob("*.css"), *site.rglob("*.js")]:
        text = sheet.read_text(encoding="utf-8", errors="replace")
        if sheet.suffix == ".css" and CSS_REMOTE.search(text):
            offenders.append((sheet.name, CSS_REMOTE.search(text).group(0)))  # type: ignore[union-attr]
    assert offenders == []


def test_the_asset_check_sees_remote_scripts_styles_and_fonts() -> None:
    collector = AssetCollector()
    collector.feed(
        '<script src="https://cdn.example/x.js"></script>'
        '<link rel="stylesheet" href="//fonts.example/css">'
        '<style>@font-face { src: url("https://fonts.example/a.woff2") }</style>'
        '<a href="https://arxiv.org/abs/1708.02002">paper</a>'
    )
    assert [url for url in collector.urls if REMOTE.match(url)] == [
        "https://cdn.example/x.js",
        "//fonts.example/css",
    ]
    assert any(CSS_REMOTE.search(s) for s in collector.inline_styles)


def public_modules() -> list[str]:
    later = [m for m in LATER_MODULES if importlib.util.find_spec(m) is not None]
    return REFERENCED_MODULES + later


@pytest.mark.parametrize("module_name", public_modules())
def test_every_public_name_has_a_reference_entry(site: Path, module_name: str) -> None:
    module = importlib.import_module(module_name)
    html = "\n".join(p.read_text(encoding="utf-8") for p in (site / "reference").glob("*.html"))
    anchors = set(re.findall(r'id="([A-Za-z_][\w.]*)"', html))
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if type(obj).__name__ == "module":  # crossent.grad, ...: named in the reference
            if obj.__name__ not in html:
                missing.append(name)
            continue
        # A name re-exported on first access (crossent.multitask.GradNorm) is documented
        # where it is defined.
        home = getattr(obj, "__module__", None)
        if f"{module_name}.{name}" not in anchors and f"{home}.{name}" not in anchors:
            missing.append(name)
    assert missing == []


def test_math_is_mathml_written_at_build_time(site: Path) -> None:
    concepts = (site / "concepts.html").read_text(encoding="utf-8")
    assert concepts.count("<math") >= 10
    for page in pages(site):
        text = page.read_text(encoding="utf-8")
        assert 'class="arithmatex"' not in text, page.name
        assert ":math:`" not in text and ".. math::" not in text, page.name
    focal = (site / "reference" / "crossent.html").read_text(encoding="utf-8")
    assert "<math" in focal  # the docstrings' math too


def test_imbalance_plots_are_drawn_and_shown(site: Path) -> None:
    imbalance = (site / "imbalance.html").read_text(encoding="utf-8")
    for name in ["alpha", "class-balanced", "focal", "ghm", "mining", "ohem", "asl"]:
        svg = site / "img" / "plots" / f"{name}.svg"
        assert svg.is_file() and b"<svg" in svg.read_bytes()[:2000], name
        assert f"img/plots/{name}.svg" in imbalance, name


def test_command_line_reference_comes_from_the_parser(site: Path) -> None:
    from crossent.cli import COMMANDS

    cli = (site / "cli.html").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"usage: crossent {name}" in cli, name
    assert "--from-logits" in cli and "--quick" in cli


def test_noisy_label_plot_is_drawn_and_shown(site: Path) -> None:
    svg = site / "img" / "plots" / "robust.svg"
    assert svg.is_file() and b"<svg" in svg.read_bytes()[:2000]
    assert "img/plots/robust.svg" in (site / "distillation.html").read_text(encoding="utf-8")
