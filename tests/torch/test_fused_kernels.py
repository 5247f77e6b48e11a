"""The compiled kernel as a component: its C source, how it is built and loaded, what
the loader refuses, the kernel choice, and the checks at the C boundary.

The library under test is the installed extension when there is one, and otherwise a
copy compiled here from ``_kernel.c`` with the flags of ``setup.py``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

import crossent
from crossent.torch import cross_entropy, fused
from crossent.torch.fused import kernels

SOURCE = kernels.SOURCE
TOL: dict[torch.dtype, dict[str, float]] = {
    torch.float32: {"rtol": 2e-5, "atol": 1e-4},
    torch.bfloat16: {"rtol": 2**-7, "atol": 1e-3},
    torch.float16: {"rtol": 2**-10, "atol": 1e-4},
}
COMPILER = shutil.which("cc") or shutil.which("gcc")
needs_compiler = pytest.mark.skipif(COMPILER is None, reason="no C compiler on this machine")


def compile_kernel(
    out: Path, *flags: str, digest: str | None = None, python_module: bool = False
) -> subprocess.CompletedProcess[str]:
    """Compile ``_kernel.c`` into ``out`` with warnings as errors and ``flags``."""
    assert COMPILER is not None
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest() if digest is None else digest
    cmd = [
        COMPILER,
        "-O2",
        "-std=gnu11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-fPIC",
        "-shared",
        f'-DCROSSENT_SOURCE_SHA256="{digest}"',
        *flags,
        str(SOURCE),
        "-o",
        str(out),
        "-lm",
    ]
    if python_module:
        cmd[1:1] = ["-DCROSSENT_PYTHON_MODULE", f"-I{sysconfig.get_paths()['include']}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernel library compiled from this source (OpenMP, as setup.py's first choice)."""
    if COMPILER is None:
        pytest.skip("no C compiler on this machine")
    out = tmp_path_factory.mktemp("kernel") / "kernel.so"
    result = compile_kernel(out, "-fopenmp")
    assert result.returncode == 0, result.stderr
    return out


@needs_compiler
@pytest.mark.parametrize(
    ("flags", "python_module"),
    [
        (["-fopenmp"], True),
        (["-fopenmp-simd"], False),
        (["-fopenmp", "-DCROSSENT_NO_CLONES"], False),
    ],
)
def test_source_compiles_with_warnings_as_errors(
    tmp_path: Path, flags: list[str], python_module: bool
) -> None:
    """The flag sets setup.py tries (and the build without per-CPU clones) compile with
    -Wall -Wextra -Werror, and export every function the loader declares."""
    out = tmp_path / "kernel.so"
    result = compile_kernel(out, *flags, python_module=python_module)
    assert result.returncode == 0, result.stderr
    lib = kernels.KernelLibrary(path=out)
    assert lib.get() is not None, lib.error
    assert lib.lib.crossent_dtypes >= {"f32", "bf16"}
    assert lib.openmp == ("-fopenmp" in flags)


def test_installed_kernel_matches_its_source_or_is_reported_missing() -> None:
    """Either the extension is installed, built from this very source, or the loader says
    it is not installed; nothing in between is used silently."""
    available, reason = fused.kernel_status()
    installed = list(SOURCE.parent.glob("_kernel*.so")) + list(SOURCE.parent.glob("_kernel*.pyd"))
    if installed:
        assert available, reason
        assert reason is None
    else:
        assert not available
        assert reason is not None and "not installed" in reason


@needs_compiler
def test_the_compiled_kernel_and_the_torch_ops_agree(built: Path) -> None:
    """Both passes, every storage dtype, with and without a soft cap, targets outside the
    block, rows that are views of a wider buffer, and the gradient written in place."""
    lib = kernels.KernelLibrary(path=built)
    assert lib.get() is not None, lib.error
    gen = torch.Generator().manual_seed(7)
    wide = 4 * torch.randn(6, 5200, generator=gen)
    y = torch.tensor([0, 4999, -100, 5000, 17, 123])
    k, u, h = (torch.rand(6, generator=gen) for _ in range(3))
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        x = wide.to(dtype)[:, :5000]  # rows of a wider buffer
        assert x.stride() == (5200, 1)
        for cap in (None, 30.0):
            results = []
            for use_c in (True, False):
                with pytest.MonkeyPatch.context() as mp:
                    mp.setattr(kernels, "_KERNEL", lib)
                    mp.setenv(kernels.KERNEL_ENV, "c" if use_c else "torch")
                    stats = kernels.row_stats(x, y, cap)
                    out = torch.empty_like(x)
                    kernels.apply_gradient(x, out, y, cap, stats.lse, k, u, h)
                    inplace = x.clone()
                    kernels.apply_gradient(inplace, inplace, y, cap, stats.lse, k, u, h)
                    results.append((stats.lse, stats.target, stats.total, out, inplace))
            z = x.double() if cap is None else cap * torch.tanh(x.double() / cap)
            torch.testing.assert_close(
                results[0][0].double(), torch.logsumexp(z, -1), rtol=1e-6, atol=1e-5
            )
            for a, b in zip(results[0], results[1], strict=True):
                # float32 sums in another order; half outputs at most one rounding apart
                torch.testing.assert_close(a, b, **TOL[a.dtype])
            assert torch.equal(results[0][3], results[0][4])


@needs_compiler
@pytest.mark.parametrize("size", [0, 100, 1000, 4096, 20000, "half"])
def test_truncated_or_empty_library_is_refused_without_crashing(
    built: Path, tmp_path: Path, size: Any
) -> None:
    """A library cut short would make the dynamic loader fault (SIGBUS) on first access;
    the loader reads the ELF headers first and refuses it, in a child process that must
    exit normally."""
    data = built.read_bytes()
    cut = tmp_path / "cut.so"
    cut.write_bytes(data[: len(data) // 2 if size == "half" else size])
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from crossent.torch.fused.kernels import KernelLibrary
        lib = KernelLibrary(path=Path({str(cut)!r}))
        assert lib.get() is None
        print(lib.error)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "truncated" in out.stdout or "not a" in out.stdout or "ELF" in out.stdout


@needs_compiler
def test_library_built_from_other_source_is_refused(built: Path, tmp_path: Path) -> None:
    """A library whose recorded source hash is not that of the source beside it (a stale
    in-place build after the C file changed) is not used."""
    edited = tmp_path / "_kernel.c"
    edited.write_bytes(SOURCE.read_bytes() + b"\n/* edited */\n")
    lib = kernels.KernelLibrary(path=built, source=edited)
    assert lib.get() is None
    assert lib.error is not None and "built from another version of _kernel.c" in lib.error
    assert kernels.KernelLibrary(path=built).get() is not None


def test_missing_extension_falls_back_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = kernels.KernelLibrary(module="crossent.torch.fused._no_such_kernel")
    monkeypatch.setattr(kernels, "_KERNEL", missing)
    monkeypatch.setenv(kernels.KERNEL_ENV, "auto")
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(1), requires_grad=True)
    y = torch.tensor([0, 5, -100, 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fused.kernel_backend() == "torch"
        loss = cross_entropy(x, y)
        loss.backward()
        cross_entropy(x.detach(), y)
    unavailable = [w for w in caught if issubclass(w.category, fused.KernelUnavailableWarning)]
    assert len(unavailable) == 1, [str(w.message) for w in caught]
    assert "not installed" in str(unavailable[0].message)
    assert "composed torch ops" in str(unavailable[0].message)
    torch.testing.assert_close(loss, crossent.softmax_cross_entropy(x.detach(), y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CROSSENT_KERNEL=torch is a choice: no warning
        monkeypatch.setattr(kernels, "_KERNEL", kernels.KernelLibrary(module="nope._kernel"))
        monkeypatch.setenv(kernels.KERNEL_ENV, "torch")
        cross_entropy(x.detach(), y)


def test_kernel_choice_c_without_the_kernel_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "_KERNEL", kernels.KernelLibrary(module="nope._kernel"))
    monkeypatch.setenv(kernels.KERNEL_ENV, "c")
    with pytest.raises(RuntimeError, match="CROSSENT_KERNEL=c asks for the compiled CPU kernel"):
        cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]))


@pytest.mark.parametrize("value", ["bogus", "C", "", "Triton"])
def test_unknown_kernel_choice_is_an_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(kernels.KERNEL_ENV, value)
    with pytest.raises(ValueError, match="`CROSSENT_KERNEL` must be one of 'auto', 'c', 'torch'"):
        cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=f"got CROSSENT_KERNEL={value!r}"):
        fused.kernel_backend()


@needs_compiler
def test_the_c_boundary_takes_only_checked_tensors(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Strided columns and float64 go to the composed ops (same numbers); row vectors of
    another dtype or length never reach the C code."""
    lib = kernels.KernelLibrary(path=built)
    monkeypatch.setattr(kernels, "_KERNEL", lib)
    monkeypatch.setenv(kernels.KERNEL_ENV, "c")
    base = torch.randn(3, 10, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 3, 4])
    strided = base[:, ::2]
    assert kernels._c_function(strided, None, "stats") is None
    assert kernels._c_function(base.double(), None, "stats") is None
    assert kernels._c_function(base, base.double(), "apply") is None
    assert kernels._c_function(base, None, "stats") is not None
    got = kernels.row_stats(strided, y, None)
    torch.testing.assert_close(got.lse, torch.logsumexp(strided, -1))
    ones = torch.ones(3)
    with pytest.raises(RuntimeError, match="internal: a kernel row vector"):
        kernels.apply_gradient(base, base.clone(), y, None, ones.double(), ones, ones, ones)
    with pytest.raises(RuntimeError, match="internal: a kernel row vector"):
        kernels.apply_gradient(base, base.clone(), y, None, ones[:2], ones, ones, ones)
    with pytest.raises(RuntimeError, match="internal: kernel class indices"):
        kernels.row_stats(base, y.int(), None)
    # a non-contiguous index vector is made contiguous, not read with the wrong stride
    y_strided = torch.tensor([0, 9, 3, 9, 4, 9])[::2]
    torch.testing.assert_close(
        kernels.row_stats(base, y_strided, None).target, base.gather(1, y[:, None])[:, 0]
    )
