"""lower-to-threads and insert-barriers: structure of the thread IR they produce."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tilelang.ir import ops, thread_ops as th
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.types import ScalarType, TensorType
from tilelang.ir.verifier import verify_module
from tilelang.passes import PASSES, pipeline, run_pipeline
from tilelang.passes.gpu.blocked_layout import blocked

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples"))
import flash_attention, layernorm, matmul, row_sum, softmax, vector_add  # noqa: E402

EXAMPLES = [
    (vector_add.vector_add, "X=f32[1],Y=f32[1],Z=f32[1]", {}),
    (softmax.softmax, "X=f32[2],Y=f32[2]", {}),
    (layernorm.layernorm, "X=f32[2],W=f32[1],B=f32[1],Y=f32[2],eps=f32", {}),
    (row_sum.row_sum, "X=f32[2],OUT=f32[1]", {}),
    (matmul.matmul, "A=bf16[2],B=bf16[2],C=bf16[2]", {}),
    (flash_attention.flash_attention,
     "Q=bf16[4],K=bf16[4],V=bf16[4],O=bf16[4],sm_scale=f32", {"HEAD_DIM": 64}),
]


def lower(kernel, sig, constexprs):
    tile_ir = kernel.compile(sig, target="interp", **constexprs).module
    return run_pipeline(tile_ir, pipeline("gpu")).module.functions[0]


@pytest.mark.parametrize("kernel, sig, constexprs", EXAMPLES, ids=lambda x: getattr(x, "name", ""))
def test_examples_lower_to_scalar_thread_ir_that_round_trips(kernel, sig, constexprs):
    fn = lower(kernel, sig, constexprs)
    assert fn.attr("num_threads") == kernel.num_warps * 32
    for op in ops.walk(fn.body):
        for v in op.results + op.operand_values():
            assert isinstance(v.type, (ScalarType, TensorType)), f"{op.NAME} kept {v.type}"
    module = parse_module(print_module(ops_module(fn)))
    assert module.functions[0] == fn


def ops_module(fn):
    from tilelang.ir.values import Module
    return Module((fn,))


def test_exchanges_are_fenced_by_barriers():
    fn = lower(softmax.softmax, "X=f32[2],Y=f32[2]", {})
    seq = [type(op) for op in ops.walk(fn.body)
           if isinstance(op, (th.StSharedOp, th.LdSharedOp, ops.BarrierOp))]
    # every switch between shared writes and shared reads has a barrier between
    state = None
    for cls in seq:
        if cls is ops.BarrierOp:
            state = None
            continue
        kind = "w" if cls is th.StSharedOp else "r"
        assert state in (None, kind), "a shared read and write meet without a barrier"
        state = kind


def test_global_accesses_are_predicated_on_bounds():
    fn = lower(vector_add.vector_add, "X=f32[1],Y=f32[1],Z=f32[1]", {})
    accesses = [op for op in ops.walk(fn.body) if isinstance(op, (th.LdGlobalOp, th.StGlobalOp))]
    assert accesses and all(op.pred is not None for op in accesses)


def test_blocked_layout_gives_chunks_and_padding():
    lay = blocked(2048, 128)
    assert (lay.vec, lay.slots) == (8, 16)
    small = blocked(64, 128)
    assert (small.vec, small.slots) == (1, 1) and not small.always_valid(0)
    owners = sorted(t * lay.vec + lay.slot_base(r) for t in range(128) for r in range(lay.slots))
    assert owners == list(range(2048))


def barriers(text: str) -> str:
    module = parse_module(textwrap.dedent(text))
    return print_module(PASSES["insert-barriers"](module))


HEAD = """
module {
  func @k(%n: i32) {
    %a = tl.constant() {value = 0} : i32
    %c1 = tl.constant() {value = 1} : i32
"""


def test_barrier_between_write_and_read_but_not_between_writes():
    before = HEAD + """
    th.st_shared(addr = %a, values = [%a])
    th.st_shared(addr = %c1, values = [%a])
    %x = th.ld_shared(addr = %a) {dtype = i32} : i32
    th.st_shared(addr = %a, values = [%x])
    tl.return()
  }
}"""
    text = barriers(before)
    body = [line.strip().split("(")[0].split("= ")[-1] for line in text.splitlines()
            if "th." in line or "tl.barrier" in line]
    assert body == ["th.st_shared", "th.st_shared", "tl.barrier", "th.ld_shared", "tl.barrier",
                    "th.st_shared"]


def test_loop_carried_conflict_gets_a_barrier_at_the_top_of_the_body():
    before = HEAD + """
    tl.for(lower = %a, upper = %n, step = %c1) (body: ^(%i: i32) {
      %x = th.ld_shared(addr = %a) {dtype = i32} : i32
      th.st_shared(addr = %a, values = [%x])
      tl.yield()
    })
    tl.return()
  }
}"""
    text = barriers(before)
    loop = text[text.index("tl.for"):]
    kinds = [line.strip().split("(")[0].split("= ")[-1] for line in loop.splitlines()
             if "th." in line or "tl.barrier" in line]
    assert kinds == ["tl.barrier", "th.ld_shared", "tl.barrier", "th.st_shared"]


def test_16_bit_dot_lowers_to_ldmatrix_and_mma():
    fn = lower(matmul.matmul, "A=bf16[2],B=bf16[2],C=bf16[2]", {})
    kinds = [type(op) for op in ops.walk(fn.body)]
    # 128x128 C over 8 warps as 2x4: a warp owns 64x32 = 4x4 tiles of 16x8; BK=32 is
    # 2 k-steps of 16, so the loop body issues 16 * 2 mma per warp
    assert kinds.count(th.MmaOp) == 32
    assert th.LdMatrixOp in kinds


def test_warp_grid_prefers_fewer_fragment_registers():
    from tilelang.passes.nvidia.lower_mma import warp_grid
    assert warp_grid(128, 128, 8) == (2, 4)
    assert warp_grid(16, 8, 4) is None  # one mma tile cannot feed four warps
    assert warp_grid(64, 64, 4) == (2, 2)
