"""Tier 3 for AMD: every example, lowered for gfx90a and gfx942 (wave64, MFMA for
``tl.dot``), gives HIP C++ that a real hipcc compiles to a code object without
warnings (gfx942 as gfx940 with a hipcc older than ROCm 5.7)."""

from __future__ import annotations

import re

import pytest

from tests.codegen.amd.test_hip import needs_hipcc
from tests.examples.test_examples import load_example
from tests.examples.test_examples_lowered import SIGNATURES
from tilelang.codegen.amd import hipcc

ARCHS = ["gfx90a", "gfx942"]
USES_DOT = ("matmul", "flash_attention")


@needs_hipcc
@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name, kernel, sig, constexprs", SIGNATURES,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SIGNATURES)])
def test_example_hip_compiles(name, kernel, sig, constexprs, arch):
    compiled = getattr(load_example(name), kernel).compile(sig, target=arch, **constexprs)
    fn = compiled.function
    assert fn.attr("warp_size") == 64, "the AMD lowering records wave64"
    src = compiled.hip
    assert f"__launch_bounds__({fn.attr('num_threads')})" in src
    assert re.search(rf'^#line \d+ ".*/{name}\.py"$', src, re.M)
    shuffles = re.findall(r"__shfl\w*\([^;]*?, (\d+)\)", src)
    assert all(w == "64" for w in shuffles), "shuffles span the wavefront"
    if name in USES_DOT:
        assert "__builtin_amdgcn_mfma_f32_" in src
    assert compiled.code_object[:4] == b"\x7fELF"
    assert compiled.artifacts["hsaco_arch"] == hipcc.resolve_arch(arch)
    assert "warning" not in compiled.artifacts["hipcc_log"], compiled.artifacts["hipcc_log"]
