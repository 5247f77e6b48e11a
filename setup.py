"""Build of crossent's optional compiled CPU kernel; everything else is in pyproject.toml.

``crossent.torch.fused._kernel`` is a C library (``src/crossent/torch/fused/_kernel.c``)
that the fused cross-entropy calls through ctypes. It is optional: where no C compiler
works the build goes on without it and the fused losses use composed torch ops (saying so
once per process). Nothing is compiled or loaded from a cache at run time.

Portability: no ``-march=native``. On x86-64 with GCC the row functions are compiled for
several instruction sets at once (``target_clones`` in the source) and the best one for
the running CPU is picked when the library loads; elsewhere the compiler's baseline is
used. Flag sets are tried from the fastest to the plainest (OpenMP SIMD, none), so that a
compiler without OpenMP still builds the kernel; rows are split over threads by crossent's
own thread pool, not by OpenMP (no second OpenMP runtime beside torch's).

For a development checkout: ``python setup.py build_ext --inplace`` (``make test`` runs
``pip install -e``, which builds it too).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL_SOURCE = Path("src/crossent/torch/fused/_kernel.c")

COMMON = ["-O3", "-std=gnu11", "-fno-math-errno", "-fno-trapping-math"]
FLAG_SETS = [
    # OpenMP for SIMD only: the rows are split over threads by crossent's own pool. Linking
    # libgomp would put a second OpenMP runtime beside the one torch bundles, and such a
    # process can abort at exit ("terminate called without an active exception").
    (["-fopenmp-simd"], []),
    ([], []),
]
"""(extra compile args, extra link args), tried in order."""


class OptionalKernel(build_ext):
    """Build the kernel with the first flag set the compiler accepts; if none does, leave
    it out (``Extension(optional=True)``) instead of failing the install."""

    def build_extension(self, ext: Extension) -> None:
        if sys.platform == "win32" or self.compiler.compiler_type == "msvc":
            raise OSError("the kernel needs a GCC- or Clang-compatible compiler")
        digest = hashlib.sha256(KERNEL_SOURCE.read_bytes()).hexdigest()
        base_args = [*COMMON, f'-DCROSSENT_SOURCE_SHA256="{digest}"']
        errors = []
        for compile_args, link_args in FLAG_SETS:
            ext.extra_compile_args = [*base_args, *compile_args]
            ext.extra_link_args = list(link_args)
            try:
                super().build_extension(ext)
                return
            except Exception as exc:  # a compiler or linker failure: try plainer flags
                errors.append(f"{' '.join(compile_args) or 'no extra flags'}: {exc}")
        raise OSError("; ".join(errors))


setup(
    ext_modules=[
        Extension(
            "crossent.torch.fused._kernel",
            sources=[str(KERNEL_SOURCE)],
            define_macros=[("CROSSENT_PYTHON_MODULE", "1")],
            libraries=["m"] if sys.platform != "win32" else [],
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalKernel},
)
