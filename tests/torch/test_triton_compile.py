"""The Triton kernels compile for a GPU, on a machine without one.

The interpreter runs the kernels' Python, not Triton's compiler: a construct that the
compiler refuses (a loop-carried value changing type, a name bound in one branch only)
would pass the interpreted tests and fail on the first GPU. Compiling ahead of time for an
NVIDIA target (Ampere, sm_80) down to PTX and a cubin needs no device. It runs in a fresh
process because ``TRITON_INTERPRET=1``, which the interpreted tests set before triton is
imported, builds triton's standard library for the interpreter instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("triton")

SCRIPT = r"""
import json, sys
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from crossent.torch.fused import triton_kernels

kernel = triton_kernels._jitted(False)
vectors = ("lse_ptr", "zy_ptr", "zsum_ptr", "k_ptr", "u_ptr", "h_ptr")
out = {}
for gradient, logits in ((False, "*fp32"), (True, "*bf16")):
    signature = {"x_ptr": logits, "x_stride": "i64", "out_ptr": logits, "out_stride": "i64",
                 "y_ptr": "*i64", **{v: "*fp32" for v in vectors}, "n_rows": "i32",
                 "n_cols": "i32", "cap": "fp32", "SOFTCAP": "constexpr",
                 "GRADIENT": "constexpr", "BLOCK_R": "constexpr", "BLOCK_C": "constexpr"}
    constexprs = {"SOFTCAP": True, "GRADIENT": gradient, "BLOCK_R": 4, "BLOCK_C": 1024}
    compiled = triton.compile(
        ASTSource(fn=kernel, signature=signature, constexprs=constexprs),
        target=GPUTarget("cuda", 80, 32),
    )
    out[str(gradient)] = {"type": type(kernel).__name__, "ptx": compiled.asm["ptx"],
                          "cubin": len(compiled.asm["cubin"])}
import os
os.environ["TRITON_INTERPRET"] = "1"  # too late: triton is imported
out["late"] = triton_kernels.interpreter_unavailable()
print(json.dumps(out))
"""


def test_both_kernels_compile_for_an_nvidia_gpu() -> None:
    pytest.importorskip("triton.backends.nvidia")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for gradient in ("False", "True"):
        ptx = out[gradient]["ptx"]
        assert out[gradient]["type"] == "JITFunction"  # compiled, not interpreted
        assert ".entry _rows_pass" in ptx and ".target sm_80" in ptx
        assert out[gradient]["cubin"] > 0
    # the gradient kernel stores bf16 (converted from float32 by the compiler)
    assert "cvt.rn.bf16" in out["True"]["ptx"]
    assert "TRITON_INTERPRET=1 was set after triton was imported" in out["late"]
