"""The pipelined examples on real tools: their PTX issues cp.async and waits on groups,
ptxas assembles it, and the SASS has LDGSTS (cp.async) next to LDSM and HMMA.

The signatures state 16-byte-aligned tensors (``:16``): a bf16 cp.async chunk needs
at least 4 bytes, which the vectorize pass proves only from alignment facts;
without them the copies stay synchronous loads and stores (correct, not LDGSTS).
"""

from __future__ import annotations

import functools

import pytest

from tests.codegen.nvidia.test_sass import require_tools
from tests.examples.test_examples import load_example
from tilelang.codegen.nvidia import ptxas
from tilelang.codegen.nvidia import sass
from tilelang.errors import CompileError

ARCHS = ["sm_80", "sm_90a"]
EXAMPLES = {
    "matmul": ("matmul", "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16", {}),
    "flash_attention": ("flash_attention", "Q=bf16[4]:16,K=bf16[4]:16,V=bf16[4]:16,"
                        "O=bf16[4]:16,sm_scale=f32", {"HEAD_DIM": 64}),
}


@functools.lru_cache(maxsize=None)
def compiled(name: str, arch: str):
    kernel, signature, constexprs = EXAMPLES[name]
    return getattr(load_example(name), kernel).compile(signature, target=arch, **constexprs)


def _have_ptxas() -> bool:
    try:
        return ptxas.find_ptxas() is not None
    except CompileError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_pipelined_ptx_issues_cp_async_and_assembles(name, arch):
    ptx = compiled(name, arch).ptx
    if "cp.async.bulk.tensor" in ptx:   # sm_90a: TMA on mbarriers (pipeline-tma)
        assert arch == "sm_90a" and "mbarrier.try_wait.parity" in ptx
    else:
        assert "cp.async.cg.shared.global" in ptx or "cp.async.ca.shared.global" in ptx
        assert "cp.async.commit_group" in ptx and "cp.async.wait_group" in ptx
    if not _have_ptxas():
        pytest.skip("ptxas not found: pip install nvidia-cuda-nvcc (the test extra)")
    assert ptxas.assemble(ptx, arch).cubin


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_pipelined_sass_has_ldgsts(name, arch):
    require_tools()
    c = compiled(name, arch)
    cubin = c.cubin if c.cubin is not None else ptxas.assemble(c.ptx, arch).cubin
    text = sass.disassemble(cubin)
    # sm_90a loads what TMA can through UTMALDG (pipeline-tma), the rest with LDGSTS
    assert sass.count(text, "LDGSTS") + sass.count(text, "UTMALDG") > 0, sass.histogram(text)
    if arch == "sm_90a":   # the stages feed warpgroup MMA directly (lower_wgmma)
        assert sass.count(text, "HGMMA") > 0, sass.histogram(text)
    else:
        assert sass.count(text, "LDSM") > 0 and sass.count(text, "HMMA") > 0, \
            sass.histogram(text)
