"""Warp specialization in the NVIDIA code: the branch on %tid.x into the consumer and
producer regions, setmaxnreg and named barriers in PTX, ``.minnctapersm 1`` so ptxas
honours setmaxnreg (USETMAXREG in SASS, no C7508), and the errors on targets
without it (sm_80, HIP).

The kernel is hand-written thread IR (``tests/emulator/irkit.py``): 384 threads,
256 consumer threads that raise their registers to 232, meet at named barrier 1 and
store ``tid`` to ``out``, and 128 producer threads that drop to 40 registers and
arrive once on an mbarrier.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable

import pytest

from tests.codegen.nvidia.test_sass import require_tools
from tests.emulator.irkit import FILE, T
from tilelang.codegen.nvidia import ptxas
from tilelang.codegen.nvidia import sass
from tilelang.codegen.amd.hip import emit_hip
from tilelang.codegen.nvidia.ptx import emit_llvm, emit_ptx
from tilelang.errors import CompileError, SourceLoc
from tilelang.ir import ops as o
from tilelang.ir import role_ops as ro
from tilelang.ir import tma_ops as tma
from tilelang.ir.types import f32
from tilelang.ir.values import Block, Function

LINES: dict[str, int] = {}   # op -> its line in tkern.py (filled by build)


def _region(t: T, fill: Callable[[], None]) -> Block:
    t.b.push()
    fill()
    t.line += 1
    t.b.emit(o.YieldOp(loc=SourceLoc(FILE, t.line)))
    return t.b.pop()


def build(*, consumer_regs: int = 232, producer_regs: int = 40, threads: int = 384,
          tail_barrier: bool = False, name: str = "ws") -> Function:
    """The module docstring's kernel; ``tail_barrier`` ends both regions with the same
    ``th.bar_sync 2, 128`` (which LLVM must not merge into one after the branch)."""
    t = T(name, threads=threads, shared=16)
    out = t.tensor(f32, 1, "out")
    tid = t.tid()
    bar = t.const(0)
    t.emit(tma.MbarrierInitOp, count=1, bar=bar, pred=t.bin("eq", tid, 0))
    t.emit(tma.FenceMbarrierInitOp)
    t.barrier()

    def consumer() -> None:
        t.emit(ro.SetMaxNRegOp, regs=consumer_regs, inc=True)
        LINES["inc"] = t.line
        t.emit(ro.BarSyncOp, id=1, threads=256)
        LINES["bar"] = t.line
        t.st_global(t.gaddr(out, tid, 4), [t.cast(tid, f32)])
        if tail_barrier:
            t.emit(ro.BarSyncOp, id=2, threads=128)

    def producer() -> None:
        t.emit(ro.SetMaxNRegOp, regs=producer_regs, inc=False)
        LINES["dec"] = t.line
        t.emit(tma.MbarrierArriveOp, bar=bar, pred=t.bin("eq", tid, 256))
        if tail_barrier:
            t.emit(ro.BarSyncOp, id=2, threads=128)

    c, p = _region(t, consumer), _region(t, producer)
    t.line += 1
    LINES["ws"] = t.line
    t.b.emit(ro.WarpSpecializeOp(consumer_threads=256, producer_threads=128,
                                 consumer_regs=consumer_regs, producer_regs=producer_regs,
                                 consumer=c, producer=p, loc=SourceLoc(FILE, t.line)))
    return t.build()


def _loc_of(ptx: str, instruction: str) -> int:
    """The line of the last ``.loc`` before the first line containing ``instruction``."""
    line = None
    for text in ptx.splitlines():
        m = re.match(r"\s*\.loc\s+\d+\s+(\d+)\s+\d+", text)
        if m:
            line = int(m.group(1))
        elif instruction in text:
            assert line is not None, instruction
            return line
    raise AssertionError(f"{instruction!r} not in the PTX")


# -- PTX --------------------------------------------------------------------------------

def test_ptx_branches_on_the_warp_uniform_warpgroup_index_into_the_two_regions():
    ptx = emit_ptx(build(), "sm_90a")
    # warpgroup = tid.x >> 7 as lane 0 has it; < 2 (LLVM prints > 1 branching to the
    # producer)
    tid = re.search(r"mov\.u32\s+(%r\d+), %tid\.x;", ptx)
    shr = re.search(rf"shr\.u32\s+(%r\d+), {re.escape(tid.group(1))}, 7;", ptx)
    shfl = re.search(rf"shfl\.sync\.idx\.b32\s+(%r\d+), {re.escape(shr.group(1))}, 0, 31, -1;",
                     ptx)
    assert shfl, ptx
    cmp = re.search(rf"setp\.(lt|gt)\.u32\s+(%p\d+), {re.escape(shfl.group(1))}, (2|1);", ptx)
    assert cmp, ptx
    assert re.search(rf"@{re.escape(cmp.group(2))} bra\s+\$L__BB0_\d+;", ptx)
    inc = ptx.index("setmaxnreg.inc.sync.aligned.u32 232;")
    dec = ptx.index("setmaxnreg.dec.sync.aligned.u32 40;")
    barrier = ptx.index("bar.sync 1, 256;")
    store = ptx.index("st.global")
    arrive = ptx.index("mbarrier.arrive.shared::cta.b64")
    # one region after the other, each in program order; the consumer comes first
    assert cmp.start() < inc < barrier < store < dec < arrive
    assert ptx.count("setmaxnreg") == 2 and ptx.count("bar.sync 1, 256;") == 1


def test_setmaxnreg_kernels_declare_min_ctas_per_sm():
    ptx = emit_ptx(build(), "sm_90a")
    assert re.search(r"\.maxntid 384(, 1, 1)?\s*\n\s*\.minnctapersm 1\b", ptx), ptx
    llvm = emit_llvm(build(), "sm_90a")
    assert '"nvvm.minctasm"="1"' in llvm            # what LLVM >= 20 reads
    assert '!"minctasm", i32 1' in llvm             # what older LLVMs read
    assert "ws.consumer:" in llvm and "ws.producer:" in llvm and "ws.end:" in llvm


def test_kernels_without_setmaxnreg_leave_occupancy_alone():
    t = T("plain", threads=128)
    out = t.tensor(f32, 1, "out")
    tid = t.tid()
    t.st_global(t.gaddr(out, tid, 4), [t.cast(tid, f32)])
    ptx = emit_ptx(t.build(), "sm_90a")
    assert ".maxntid 128" in ptx and ".minnctapersm" not in ptx


def test_line_info_names_each_op_and_the_branch():
    ptx = emit_ptx(build(), "sm_90a")
    assert _loc_of(ptx, "setmaxnreg.inc") == LINES["inc"]
    assert _loc_of(ptx, "setmaxnreg.dec") == LINES["dec"]
    assert _loc_of(ptx, "bar.sync 1, 256") == LINES["bar"]
    assert _loc_of(ptx, "bra ") == LINES["ws"]        # the branch is the op's own line


def test_identical_barriers_of_both_regions_stay_in_their_regions():
    # Merging the two into one after the branch would make all 384 threads arrive at a
    # 128-thread barrier.
    ptx = emit_ptx(build(tail_barrier=True), "sm_90a")
    assert ptx.count("bar.sync 2, 128;") == 2
    end = ptx.rindex("bar.sync 2, 128;")
    assert ptx.index("setmaxnreg.dec") < end      # the second is the producer's own


# -- errors -----------------------------------------------------------------------------

def test_sm80_rejects_warp_specialization():
    with pytest.raises(CompileError, match=r"kernel 'ws' at tkern\.py:\d+: "
                                           r"tl\.warp_specialize .*needs sm_90a.*sm_80"):
        emit_ptx(build(), "sm_80")


def test_thread_counts_must_add_up_to_the_block():
    fn = build()
    with pytest.raises(CompileError, match=r"256 consumer \+ 128 producer threads, but the "
                                           r"block has 512") as err:
        emit_ptx(replace(fn, attrs=(("num_threads", 512), ("shared_bytes", 16))), "sm_90a")
    assert err.value.loc == SourceLoc(FILE, LINES["ws"])


def test_register_counts_must_fit_the_register_file():
    with pytest.raises(CompileError, match=r"256 x 248 \+ 128 x 40 = 68608 registers"):
        emit_ptx(build(consumer_regs=248), "sm_90a")


def test_hip_rejects_warp_specialization_with_the_op_location():
    with pytest.raises(CompileError, match=r"kernel 'ws' at tkern\.py:\d+: tl\.warp_specialize "
                                           r"\(warp specialization\) is NVIDIA sm_90a only") \
            as err:
        emit_hip(build(), "gfx90a")
    assert err.value.loc == SourceLoc(FILE, LINES["ws"])
    assert "warp_specialize=False" in err.value.hint


@pytest.mark.parametrize("op_cls, kw, name", [
    (ro.SetMaxNRegOp, {"regs": 40, "inc": False}, "th.setmaxnreg"),
    (ro.BarSyncOp, {"id": 1, "threads": 64}, "th.bar_sync"),
])
def test_hip_rejects_role_ops_outside_a_warp_specialize(op_cls, kw, name):
    t = T("roles", threads=128, warp_size=64)
    t.emit(op_cls, **kw)
    line = t.line
    with pytest.raises(CompileError, match=rf"kernel 'roles' at tkern\.py:{line}: "
                                           rf"{re.escape(name)} .*NVIDIA sm_90a only"):
        emit_hip(t.build(), "gfx942")


# -- ptxas and SASS ---------------------------------------------------------------------

def test_ptxas_honours_setmaxnreg():
    require_tools()
    result = ptxas.assemble(emit_ptx(build(), "sm_90a"), "sm_90a", verbose=True)
    assert "C7508" not in result.log and "'setmaxnreg' ignored" not in result.log, result.log
    assert result.spill_bytes == 0, result.log
    text = sass.disassemble(result.cubin)
    # setmaxnreg.inc waits for registers from the CTA's pool, .dec returns them to it
    assert sass.count(text, "USETMAXREG.TRY_ALLOC") == 1, sass.histogram(text)
    assert sass.count(text, "USETMAXREG.DEALLOC") == 1, sass.histogram(text)
    assert sass.count(text, "BAR.SYNC") >= 2, sass.histogram(text)   # bar 0 and bar 1


def test_ignored_setmaxnreg_is_a_compile_error():
    require_tools()
    ptx = emit_ptx(build(), "sm_90a").replace(".minnctapersm 1", "")
    with pytest.raises(CompileError, match=r"kernel 'ws': ptxas ignored setmaxnreg for sm_90a: "
                                           r"\(C7508\).*unable to determine register count"):
        ptxas.assemble(ptx, "sm_90a")


@pytest.mark.slow
def test_the_warp_specialized_matmul_keeps_its_register_handoff():
    # The pass's output end to end: pipeline-tma splits the sm_90a matmul into a producer
    # warpgroup and consumers with setmaxnreg; ptxas must honour both (assemble raises
    # on C7508) and keep the named barriers.
    require_tools()
    from tests.codegen.nvidia.test_tma_codegen import compiled
    c = compiled("matmul-default")
    if "setmaxnreg" not in c.ptx:
        pytest.skip("the default sm_90a matmul is not warp-specialized with setmaxnreg")
    assert ".minnctapersm 1" in c.ptx
    result = ptxas.assemble(c.ptx, "sm_90a", verbose=True)
    assert result.spill_bytes == 0, result.log
    text = sass.disassemble(result.cubin)
    assert sass.count(text, "USETMAXREG.TRY_ALLOC") >= 1, sass.histogram(text)
    assert sass.count(text, "USETMAXREG.DEALLOC") >= 1, sass.histogram(text)
    assert sass.count(text, "HGMMA") > 0 and sass.count(text, "UTMALDG") > 0
