"""Shared-memory reuse: each exchange's scratch is placed by liveness beside the
buffers, so the epilogue reuses the dead pipeline ring and the tile
configurations people tune for fit their targets (and run race-free)."""

from __future__ import annotations

import textwrap

import ml_dtypes
import numpy as np
import pytest

import tilelang as tl
from tests.examples.test_examples import load_example
from tests.passes.gpu.shared_reuse_kernels import bias_gelu_reference, matmul_bias_gelu
from tilelang.cli.main import main
from tilelang.hardware import max_shared_bytes
from tilelang.ir import ops
from tilelang.ir.parser import parse_module
from tilelang.passes import PASSES
from tilelang.passes.gpu.allocate_shared import Interval, place
from tilelang.passes.gpu.shared_area import DOT_SCRATCH_ALIGN, SCRATCH_ATTR

MATMUL = load_example("matmul").matmul
MM_SIG = "A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16"
BG_SIG = "A=bf16[2]:16,B=bf16[2]:16,Bias=bf16[1]:16,C=bf16[2]:16"

# (kernel, target, tiles): the standard configurations, each of which asked for
# more than its target's shared memory while scratch sat beside the dead ring
CONFIGS = {
    "matmul-sm_80-128x128x64x3": (MATMUL, "sm_80", dict(BM=128, BN=128, BK=64, STAGES=3)),
    "matmul-sm_80-128x128x64x4": (MATMUL, "sm_80", dict(BM=128, BN=128, BK=64, STAGES=4)),
    "matmul-sm_90a-128x256x64x3-ws": (MATMUL, "sm_90a", dict(BM=128, BN=256, BK=64,
                                                               STAGES=3)),
    "matmul-sm_90a-128x256x64x4-ws": (MATMUL, "sm_90a", dict(BM=128, BN=256, BK=64,
                                                               STAGES=4)),
    "matmul-gfx942-128x128x64": (MATMUL, "gfx942", dict(BM=128, BN=128, BK=64)),
    "matmul-gfx942-256x256x64": (MATMUL, "gfx942", dict(BM=256, BN=256, BK=64)),
    "bias_gelu-gfx942-128x128x64": (matmul_bias_gelu, "gfx942", dict(BM=128, BN=128, BK=64)),
    "bias_gelu-gfx942-256x256x64": (matmul_bias_gelu, "gfx942", dict(BM=256, BN=256, BK=64)),
    "bias_gelu-sm_80-128x128x64x3": (matmul_bias_gelu, "sm_80", dict(BM=128, BN=128, BK=64,
                                                                     STAGES=3)),
    "bias_gelu-sm_90a-128x256x64x3-ws": (matmul_bias_gelu, "sm_90a", dict(BM=128, BN=256,
                                                                          BK=64, STAGES=3)),
}


def _compiled(case: str):
    kernel, target, tiles = CONFIGS[case]
    sig = MM_SIG if kernel is MATMUL else BG_SIG
    return kernel.compile(sig, target=target, **tiles).function


@pytest.mark.parametrize("case", list(CONFIGS))
def test_standard_configurations_fit_their_target(case):
    fn = _compiled(case)
    target = CONFIGS[case][1]
    assert fn.attr("max_shared_bytes") == max_shared_bytes(target)
    assert 0 < fn.attr("shared_bytes") <= max_shared_bytes(target)


@pytest.mark.parametrize("case, expected", [
    ("matmul-sm_80-128x128x64x3", 98304),     # the ring alone (was 196608: rejected)
    ("matmul-sm_80-128x128x64x4", 131072),    # (was 229376: rejected)
    # the ring and the mbarriers: wgmma reads A and B in place, so nothing is staged
    ("matmul-sm_90a-128x256x64x3-ws", 3 * 49152 + 1056),
    ("matmul-sm_90a-128x256x64x4-ws", 4 * 49152 + 1056),   # (was 263200: rejected)
])
def test_the_epilogue_adds_nothing_on_top_of_the_ring(case, expected):
    assert _compiled(case).attr("shared_bytes") == expected


def test_the_epilogue_exchange_lies_on_the_dead_ring():
    kernel, target, tiles = CONFIGS["matmul-sm_80-128x128x64x3"]
    c = kernel.compile(MM_SIG, target=target, **tiles)
    tile_ir = parse_module(c.ir["allocate-shared"]).functions[0]
    rings = [(op.offset, op.offset + np.prod(op.result.type.shape) * 2)
             for op in ops.walk(tile_ir.body) if isinstance(op, ops.AllocSharedOp)]
    (number, name, offset, size), = tile_ir.attr(SCRATCH_ATTR)
    assert name == "tl.convert_layout" and size == 128 * 128 * 2
    assert any(lo < offset + size and offset < hi for lo, hi in rings)


# -- the emulator proves each reuse race-free (barrier before reuse) ------------------

def run_gemm(kernel, target: str, tiles: dict, M: int, N: int, K: int, grid, seed: int = 1):
    """``kernel`` (matmul, or the bias+GELU one) on random bf16 inputs in the emulator;
    the relative max error against float64 numpy."""
    rng = np.random.default_rng(seed)
    bf16 = ml_dtypes.bfloat16
    a = rng.standard_normal((M, K)).astype(bf16)
    b = rng.standard_normal((K, N)).astype(bf16)
    c = np.zeros((M, N), bf16)
    if kernel.fn is MATMUL.fn:
        kernel[grid](a, b, c, target=f"emulate:{target}", **tiles)
        ref = a.astype(np.float64) @ b.astype(np.float64)
    else:
        bias = rng.standard_normal(N).astype(bf16)
        kernel[grid](a, b, bias, c, target=f"emulate:{target}", **tiles)
        ref = bias_gelu_reference(a, b, bias)
    return np.abs(c.astype(np.float64) - ref).max() / np.abs(ref).max()


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CONFIGS))
def test_standard_configurations_run_in_the_emulator(case):
    kernel, target, tiles = CONFIGS[case]
    # five K steps: the ring wraps around before the epilogue reuses it
    assert run_gemm(kernel, target, tiles, tiles["BM"], tiles["BN"], 5 * tiles["BK"],
                    (1, 1)) < 1e-2


@pytest.mark.slow
def test_persistent_warp_specialized_tiles_keep_the_ring_and_run_race_free():
    # both roles walk the tiles, so the ring is live across the consumer's epilogue:
    # nothing of it is reused, and two tiles in one program run without a race
    k = tl.kernel(MATMUL.fn, num_warps=8, persistent=1, group_m=8)
    tiles = dict(BM=128, BN=256, BK=64, STAGES=3)
    fn = k.compile(MM_SIG, target="sm_90a", **tiles).function
    assert fn.attr("shared_bytes") <= max_shared_bytes("sm_90a")
    assert run_gemm(k, "sm_90a", tiles, 256, 256, 128, (2, 1), seed=2) < 1e-2


# -- placement rules -------------------------------------------------------------------

def test_an_exchange_takes_the_space_of_a_buffer_dead_before_it():
    module = parse_module(textwrap.dedent("""
    module {
      func @k(%X: tensor<f32, 1>, %Y: tensor<f32, 1>) attributes {num_warps = 4} {
        %c0 = tl.constant() {value = 0} : i32
        %a = tl.alloc_shared() : shared<1024xf32>
        tl.copy(tensor = %X, offsets = [%c0], dst = %a)
        %t = tl.shared_load(src = %a) : tile<1024xf32>
        %s = tl.reduce(value = %t) {axis = 0, fn = "sum"} : f32
        %u = tl.splat(value = %s) : tile<1024xf32>
        tl.store(tensor = %Y, offsets = [%c0], value = %u)
        tl.return()
      }
    }"""))
    fn = PASSES["allocate-shared"](module).functions[0]
    (number, name, offset, size), = fn.attr(SCRATCH_ATTR)
    assert (name, offset, size) == ("tl.reduce", 0, 4096)      # on the dead %a
    assert fn.attr("shared_user_bytes") == 4096
    assert list(ops.walk(fn.body))[number].NAME == "tl.reduce"


def test_the_two_roles_of_a_warp_specialize_never_share_bytes():
    # program order says the producer's range ends before the consumer's begins, but
    # the roles run at the same time
    producer = Interval("p", 2, 3, 1024, role=(1, 0))
    consumer = Interval("c", 5, 6, 1024, role=(1, 1), op="tl.convert_layout")
    later = Interval("d", 7, 8, 1024, role=(1, 1), op="tl.reduce")
    offsets = place([producer, consumer, later])
    assert offsets["p"] != offsets["c"]
    assert offsets["c"] == offsets["d"]          # one role: program order holds


def test_a_dot_s_scratch_is_aligned_for_wgmma_swizzles():
    small = Interval("b", 0, 10, 128)
    dot = Interval("scratch@3", 3, 4, 2048, op="tl.dot", align=DOT_SCRATCH_ALIGN)
    assert place([small, dot])["scratch@3"] % DOT_SCRATCH_ALIGN == 0


@tl.kernel(num_warps=4)
def transpose(X: tl.Tensor, Y: tl.Tensor, B: tl.constexpr = 256):
    tl.store(Y, (0, 0), tl.trans(tl.load(X, (0, 0), (B, B))))


def test_over_budget_names_the_exchange_that_does_not_fit():
    # one 256x256 f32 transpose goes through 256 KiB of scratch: more than a CDNA
    # block has
    with pytest.raises(tl.CompileError) as e:
        transpose.compile("X=f32[2],Y=f32[2]", target="gfx942")
    text = str(e.value)
    assert "transpose" in text and "allows 65536" in text
    assert "the scratch of tl.trans at" in text and "262144 bytes" in text


def test_a_bias_row_is_converted_not_the_accumulator():
    # the broadcast is redone in the accumulator's layout from the converted row: the
    # largest exchange is the 1 KiB f32 row, not the 256 KiB f32 tile
    c = matmul_bias_gelu.compile(BG_SIG, target="gfx942", BM=256, BN=256, BK=64)
    exchanges = c.function.attr(SCRATCH_ATTR)
    assert max(size for *_, size in exchanges) == 256 * 4
    assert {name for _, name, _, _ in exchanges} == {"tl.convert_layout", "tl.broadcast"}


# -- the figure is shown ---------------------------------------------------------------

def test_tilelang_ir_prints_the_shared_memory_figure(capsys):
    path = load_example("matmul").__file__
    assert main(["ir", f"{path}:matmul", "-s", MM_SIG, "--target", "sm_80",
                 "-D", "BM=128", "-D", "BN=128", "-D", "BK=64", "-D", "STAGES=3"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "// shared memory: 98304 bytes per block (target limit 166912)"


@pytest.mark.slow
def test_a_persistent_loop_s_epilogue_does_not_lend_the_ring_to_the_next_tile():
    # the ring is allocated inside the loop over tiles and filled by cp.async, whose
    # issue (not only its wait) writes: the epilogue's exchange must keep off it, or the
    # next tile's prologue copies land on bytes other threads are still reading
    k = tl.kernel(MATMUL.fn, num_warps=8, persistent=1)      # one program, two tiles
    tiles = dict(BM=128, BN=128, BK=64, STAGES=3)
    assert run_gemm(k, "sm_80", tiles, 256, 128, 256, (2, 1), seed=3) < 1e-2
