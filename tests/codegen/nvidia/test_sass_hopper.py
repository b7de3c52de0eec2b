"""SASS checks of the sm_90a wgmma lowering: HGMMA in the matmul and attention
cubins, no spills at the examples' default configurations, and the mma.sync
fallback where wgmma does not apply. Skipped without ptxas and a disassembler."""

from __future__ import annotations

import functools

import pytest

from tests.codegen.nvidia.test_sass import require_tools
from tests.examples.test_examples import load_example
from tilelang.codegen.nvidia import ptxas
from tilelang.codegen.nvidia import sass

FA_SIG = "Q=bf16[4]:16,K=bf16[4]:16,V=bf16[4]:16,O=bf16[4]:16,sm_scale=f32"
CASES = {
    "matmul": ("matmul", "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16", {}, 2),
    "attention-d64": ("flash_attention", FA_SIG, {"HEAD_DIM": 64}, 8),
    "attention-d128": ("flash_attention", FA_SIG, {"HEAD_DIM": 128}, 12),
}


@functools.lru_cache(maxsize=None)
def _assembled(case: str, **extra: int) -> tuple[str, ptxas.AssembleResult]:
    file, sig, constexprs, _ = CASES[case]
    kernel = getattr(load_example(file), file)
    ptx = kernel.compile(sig, target="sm_90a", **constexprs, **extra).ptx
    result = ptxas.assemble(ptx, "sm_90a", verbose=True)
    return sass.disassemble(result.cubin), result


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_hgmma_in_the_cubin_without_spills(case):
    require_tools()
    text, result = _assembled(case)
    # one HGMMA per k16 step of each tl.dot in the loop body (twice where LLVM peels
    # the first iteration of matmul's loop, which has no stage to release yet)
    per_body = CASES[case][3]
    assert sass.count(text, "HGMMA") in (per_body, 2 * per_body), sass.histogram(text)
    assert sass.count(text, "HMMA") == 0
    assert result.spill_bytes == 0, result.log
    assert 0 < result.registers <= 255


@pytest.mark.slow
def test_one_warpgroup_with_two_m64_blocks_has_no_spills():
    require_tools()
    text, result = _assembled("matmul", BM=128, BN=128, num_warps=4)
    # (twice where LLVM peels the loop's first iteration)
    assert sass.count(text, "HGMMA") in (4, 8) and result.spill_bytes == 0, result.log


@pytest.mark.slow
def test_fallback_shapes_keep_hmma_on_sm90a():
    require_tools()
    text, _ = _assembled("matmul", BM=64, BN=64)
    assert sass.count(text, "HGMMA") == 0 and sass.count(text, "HMMA") > 0


@pytest.mark.slow
def test_head_dim_128_on_one_warpgroup_has_no_spills():
    # Q, K and V read in place as 128-byte column blocks leave no staging addresses
    # live beside the 128 accumulator registers of O
    require_tools()
    text, result = _assembled("attention-d128", BM=128)
    assert sass.count(text, "HGMMA") == 24 and sass.count(text, "UTMALDG") > 0
    assert sass.count(text, "LDGSTS") == 0 and result.spill_bytes == 0, result.log


@pytest.mark.slow
@pytest.mark.parametrize("case, extra", [("matmul", {}),
                                         ("attention-d64", {"num_warps": 8, "BM": 128}),
                                         ("attention-d128", {"num_warps": 8, "BM": 128})])
def test_warp_specialized_cubins_hand_registers_to_the_consumers(case, extra):
    # two consumer warpgroups (matmul's default 8 warps): the producer warpgroup's TMA
    # loads (UTMALDG), the consumers' HGMMA, the register handoff, no spills
    require_tools()
    text, result = _assembled(case, **extra)
    assert sass.count(text, "UTMALDG") > 0 and sass.count(text, "LDGSTS") == 0
    assert sass.count(text, "HGMMA") > 0 and result.spill_bytes == 0, result.log
    assert sass.count(text, "USETMAXREG") == 2, sass.histogram(text)
    assert "setmaxnreg' ignored" not in result.log


@pytest.mark.slow
def test_persistent_warp_specialized_128x256_tile_has_no_spills():
    # the persistent, grouped 128x256x64 matmul of the benchmark: both roles walk the
    # tiles; three stages fit beside the epilogue's exchange
    require_tools()
    import tilelang as tl
    k = tl.kernel(load_example("matmul").matmul.fn, num_warps=8, persistent=True, group_m=8)
    c = k.compile(CASES["matmul"][1], target="sm_90a", BN=256, BK=64, STAGES=3)
    assert c.function.attr("num_threads") == 384
    result = ptxas.assemble(c.ptx, "sm_90a", verbose=True)
    text = sass.disassemble(result.cubin)
    assert sass.count(text, "USETMAXREG") == 2 and sass.count(text, "UTMALDG") > 0
    # four m64n256k16 per K tile, twice where LLVM peels the first iteration
    assert sass.count(text, "HGMMA") in (4, 8) and result.spill_bytes == 0, result.log
