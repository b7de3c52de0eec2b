"""allocate-shared: liveness of shared buffers, placement with reuse, the target's budget."""

from __future__ import annotations

import inspect
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.hardware import max_shared_bytes
from tilelang.ir import ops
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.verifier import verify_module
from tilelang.passes import PASSES, run_pipeline
from tilelang.passes.gpu.allocate_shared import BUFFER_ALIGN, Interval, place, with_shared_limit

THIS_FILE = __file__


def apply(text: str) -> str:
    module = parse_module(textwrap.dedent(text))
    verify_module(module)
    out = PASSES["allocate-shared"](module)
    verify_module(out)
    return print_module(out)


def norm(text: str) -> str:
    return print_module(parse_module(textwrap.dedent(text)))


def offsets(text: str) -> dict[str, int]:
    fn = parse_module(text).functions[0]
    return {op.result.name: op.offset for op in ops.walk(fn.body)
            if isinstance(op, ops.AllocSharedOp)}


def test_a_dead_buffer_s_space_is_reused():
    before = """
    module {
      func @k(%X: tensor<f32, 1>) attributes {num_warps = 4} {
        %c0 = tl.constant() {value = 0} : i32
        %a = tl.alloc_shared() : shared<64xf32>
        tl.copy(tensor = %X, offsets = [%c0], dst = %a)
        %t = tl.shared_load(src = %a) : tile<64xf32>
        %b = tl.alloc_shared() : shared<16x8xf32>
        %s = tl.shared_load(src = %b) : tile<16x8xf32>
        tl.shared_store(dst = %b, value = %s)
        tl.return()
      }
    }"""
    # %a's last use comes before %b is allocated: %b takes offset 0 too
    after = """
    module {
      func @k(%X: tensor<f32, 1>) attributes {num_warps = 4, shared_user_bytes = 512} {
        %c0 = tl.constant() {value = 0} : i32
        %a = tl.alloc_shared() {offset = 0} : shared<64xf32>
        tl.copy(tensor = %X, offsets = [%c0], dst = %a)
        %t = tl.shared_load(src = %a) : tile<64xf32>
        %b = tl.alloc_shared() {offset = 0} : shared<16x8xf32>
        %s = tl.shared_load(src = %b) : tile<16x8xf32>
        tl.shared_store(dst = %b, value = %s)
        tl.return()
      }
    }"""
    assert apply(before) == norm(after)


def test_buffers_live_together_get_disjoint_aligned_space():
    before = """
    module {
      func @k(%X: tensor<f16, 1>) {
        %c0 = tl.constant() {value = 0} : i32
        %a = tl.alloc_shared() : shared<100xf16>
        %b = tl.alloc_shared() : shared<300xf16>
        %c = tl.alloc_shared() : shared<7xi8>
        tl.copy(tensor = %X, offsets = [%c0], dst = %a)
        tl.copy(tensor = %X, offsets = [%c0], dst = %b)
        %t = tl.shared_load(src = %a) : tile<100xf16>
        %u = tl.shared_load(src = %b) : tile<300xf16>
        %v = tl.shared_load(src = %c) : tile<7xi8>
        tl.return()
      }
    }"""
    out = apply(before)
    # largest first: %b (600 B) at 0, %a (200 B) at 640, %c (7 B) at 896
    assert offsets(out) == {"b": 0, "a": 640, "c": 896}
    assert parse_module(out).functions[0].attr("shared_user_bytes") == 903


LOOP = """
module {
  func @k(%X: tensor<f32, 1>, %n: i32) {
    %c0 = tl.constant() {value = 0} : i32
    %c1 = tl.constant() {value = 1} : i32
    %outer = tl.alloc_shared() : shared<32xf32>
    tl.copy(tensor = %X, offsets = [%c0], dst = %outer)
    tl.for(lower = %c0, upper = %n, step = %c1) (body: ^(%i: i32) {
      %t = tl.shared_load(src = %outer) : tile<32xf32>
      %first = tl.alloc_shared() : shared<32xf32>
      tl.shared_store(dst = %first, value = %t)
      %u = tl.shared_load(src = %first) : tile<32xf32>
      %second = tl.alloc_shared() : shared<32xf32>
      tl.shared_store(dst = %second, value = %u)
      tl.yield()
    })
    %after = tl.alloc_shared() : shared<32xf32>
    tl.copy(tensor = %X, offsets = [%c0], dst = %after)
    tl.return()
  }
}
"""


def test_a_buffer_used_in_a_loop_stays_live_over_the_whole_loop():
    got = offsets(apply(LOOP))
    # %outer is read at the top of every iteration, so nothing in the body may take its
    # space, although its last use comes first; %first dies before %second is allocated
    # (each iteration allocates both afresh); %after comes when the loop is done.
    assert got["outer"] != got["first"] and got["outer"] != got["second"]
    assert got["first"] == got["second"]
    assert got["after"] == 0 and got["outer"] == 0
    assert parse_module(apply(LOOP)).functions[0].attr("shared_user_bytes") == 128 + 128


def test_a_use_in_a_nested_region_counts_at_the_enclosing_op():
    text = """
    module {
      func @k(%X: tensor<f32, 1>, %p: bool) {
        %c0 = tl.constant() {value = 0} : i32
        %a = tl.alloc_shared() : shared<32xf32>
        tl.copy(tensor = %X, offsets = [%c0], dst = %a)
        %b = tl.alloc_shared() : shared<32xf32>
        tl.copy(tensor = %X, offsets = [%c0], dst = %b)
        tl.if(cond = %p) (then: {
          %t = tl.shared_load(src = %a) : tile<32xf32>
          tl.yield()
        }, orelse: {
          tl.yield()
        })
        tl.return()
      }
    }"""
    got = offsets(apply(text))
    assert got["a"] != got["b"]


def test_a_buffer_that_escapes_through_a_yield_is_live_to_the_end():
    text = """
    module {
      func @k(%X: tensor<f32, 1>, %p: bool) {
        %c0 = tl.constant() {value = 0} : i32
        %a = tl.alloc_shared() : shared<32xf32>
        %r = tl.if(cond = %p) : shared<32xf32> (then: {
          tl.yield(values = [%a])
        }, orelse: {
          tl.yield(values = [%a])
        })
        %b = tl.alloc_shared() : shared<32xf32>
        tl.copy(tensor = %X, offsets = [%c0], dst = %b)
        tl.copy(tensor = %X, offsets = [%c0], dst = %r)
        tl.return()
      }
    }"""
    got = offsets(apply(text))
    assert got["a"] != got["b"]


def test_a_loaded_tile_that_a_dot_reads_in_place_keeps_its_buffer_live():
    text = """
    module {
      func @k(%X: tensor<bf16, 2>, %Y: tensor<f32, 2>) attributes {num_warps = 1} {
        %c0 = tl.constant() {value = 0} : i32
        %a = tl.alloc_shared() : shared<16x16xbf16>
        tl.copy(tensor = %X, offsets = [%c0, %c0], dst = %a)
        %ta = tl.shared_load(src = %a) : tile<16x16xbf16>
        %b = tl.alloc_shared() : shared<16x8xbf16>
        tl.copy(tensor = %X, offsets = [%c0, %c0], dst = %b)
        %tb = tl.shared_load(src = %b) : tile<16x8xbf16>
        %z = tl.constant() {value = 0.0} : f32
        %acc = tl.splat(value = %z) : tile<16x8xf32>
        %d = tl.dot(a = %ta, b = %tb, acc = %acc) : tile<16x8xf32>
        tl.store(tensor = %Y, offsets = [%c0, %c0], value = %d)
        tl.return()
      }
    }"""
    # ldmatrix reads %a where the dot is, after %b has been filled: no sharing
    got = offsets(apply(text))
    assert got["a"] != got["b"]


def test_offsets_print_and_parse_back():
    out = apply(LOOP)
    assert "{offset = 128}" in out and "shared_user_bytes = 256" in out
    assert print_module(parse_module(out)) == out


def test_the_pass_is_idempotent():
    once = apply(LOOP)
    assert apply(once) == once


# -- placement property ------------------------------------------------------------------

@st.composite
def lifetimes(draw: st.DrawFn) -> list[Interval]:
    out = []
    for k in range(draw(st.integers(1, 12))):
        start = draw(st.integers(0, 30))
        out.append(Interval(f"b{k}", start, start + draw(st.integers(1, 15)),
                            draw(st.integers(1, 5000))))
    return out


@settings(max_examples=300, deadline=None)
@given(lifetimes())
def test_buffers_live_at_once_never_overlap_and_all_are_aligned(intervals):
    got = place(intervals)
    assert set(got) == {i.name for i in intervals}
    for i in intervals:
        assert got[i.name] % BUFFER_ALIGN == 0 and got[i.name] >= 0
    for i in intervals:
        for j in intervals:
            if i is not j and i.overlaps(j):
                lo_i, lo_j = got[i.name], got[j.name]
                assert lo_i + i.size <= lo_j or lo_j + j.size <= lo_i, (i, j, got)
    # never worse than giving every buffer its own aligned slot
    top = max(got[i.name] + i.size for i in intervals)
    assert top <= sum(-(-i.size // BUFFER_ALIGN) * BUFFER_ALIGN for i in intervals)


# -- liveness property, against an execution trace ---------------------------------------------

@st.composite
def programs(draw: st.DrawFn) -> list:
    """Items: ("alloc", k), ("use", k) of a buffer in scope, ("loop", items)."""
    return _items(draw, 0, [], [], [0])


def _items(draw: st.DrawFn, depth: int, scope: list[int], items: list, counter: list[int]):
    scope = list(scope)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["alloc", "use", "use", "loop"] if depth < 2 else
                                    ["alloc", "use", "use"]))
        if kind == "alloc":
            items.append(("alloc", counter[0]))
            scope.append(counter[0])
            counter[0] += 1
        elif kind == "use" and scope:
            items.append(("use", draw(st.sampled_from(scope))))
        elif kind == "loop":
            items.append(("loop", _items(draw, depth + 1, scope, [], counter)))
    return items


def _program_text(items: list) -> str:
    lines: list[str] = []
    loops = [0]

    def emit(items: list, indent: str) -> None:
        for kind, x in items:
            if kind == "alloc":
                lines.append(f"{indent}%s{x} = tl.alloc_shared() : shared<{(x % 5 + 1) * 24}xf32>")
            elif kind == "use":
                lines.append(f"{indent}tl.copy(tensor = %X, offsets = [%c0], dst = %s{x})")
            else:
                loops[0] += 1
                lines.append(f"{indent}tl.for(lower = %c0, upper = %n, step = %c1) "
                             f"(body: ^(%i{loops[0]}: i32) {{")
                emit(x, indent + "  ")
                lines.append(f"{indent}  tl.yield()")
                lines.append(f"{indent}}})")
    emit(items, "    ")
    return ("module {\n  func @k(%X: tensor<f32, 1>, %n: i32) {\n"
            "    %c0 = tl.constant() {value = 0} : i32\n"
            "    %c1 = tl.constant() {value = 1} : i32\n"
            + "\n".join(lines) + "\n    tl.return()\n  }\n}\n")


def _trace(items: list, out: list) -> None:
    """Run the program with every loop iterating twice: a list of (kind, buffer)."""
    for kind, x in items:
        if kind == "loop":
            for _ in range(2):
                _trace(x, out)
        else:
            out.append((kind, x))


@settings(max_examples=200, deadline=None)
@given(programs())
def test_no_two_buffer_instances_live_at_once_share_memory(items):
    module = parse_module(_program_text(items))
    verify_module(module)
    got = offsets(print_module(PASSES["allocate-shared"](module)))
    events: list = []
    _trace(items, events)
    # each execution of an alloc is a new buffer instance, live until its last use
    live: list[tuple[int, int, int]] = []  # buffer, first step, last step
    current: dict[int, int] = {}
    for step, (kind, x) in enumerate(events):
        if kind == "alloc":
            current[x] = len(live)
            live.append((x, step, step))
        else:
            k = current[x]
            live[k] = (x, live[k][1], step)
    for a, a0, a1 in live:
        for b, b0, b1 in live:
            if a < b and a0 <= b1 and b0 <= a1:
                size_a, size_b = (a % 5 + 1) * 96, (b % 5 + 1) * 96
                assert got[f"s{a}"] + size_a <= got[f"s{b}"] or \
                    got[f"s{b}"] + size_b <= got[f"s{a}"], (a, b, got)


# -- lowering honours the offsets --------------------------------------------------------

@tl.kernel(num_warps=2)
def twice_through_shared(X, Y, N: tl.constexpr = 64):
    a = tl.alloc_shared((N,), tl.f32)
    tl.copy(X, (0,), a)
    t = a.load()
    b = tl.alloc_shared((N,), tl.f32)      # a is dead here: b takes its space
    b.store(t * 2)
    u = b.load()
    c = tl.alloc_shared((N,), tl.f32)
    c.store(u + 1)
    tl.store(Y, (0,), c.load())


@pytest.mark.parametrize("target", ["emulate:sm_80", "emulate:sm_90a"])
def test_reused_space_runs_in_the_emulator_without_races(target):
    x = np.arange(64, dtype=np.float32)
    y = np.zeros_like(x)
    twice_through_shared[(1,)](x, y, target=target)
    np.testing.assert_array_equal(y, x * 2 + 1)
    fn = twice_through_shared.compile("X=f32[1],Y=f32[1]", target=target).function
    assert fn.attr("shared_user_bytes") == 256     # three 256-byte buffers in one slot
    assert fn.attr("shared_bytes") == 256


def test_lower_to_threads_alone_places_buffers_one_after_another():
    tile_ir = twice_through_shared.compile("X=f32[1],Y=f32[1]", target="interp").module
    fn = run_pipeline(tile_ir, [("lower-to-threads", PASSES["lower-to-threads"])]).module
    assert fn.functions[0].attr("shared_bytes") == 3 * 256


# -- the target's budget --------------------------------------------------------------------

@tl.kernel(num_warps=4)
def too_big(X, Y, BM: tl.constexpr = 256, BK: tl.constexpr = 256):
    small = tl.alloc_shared((1, 64), tl.f32)
    tl.copy(X, (0, 0), small)
    big = tl.alloc_shared((BM, BK), tl.f32)   # never used, but its space is reserved
    tl.store(Y, (0, 0), small.load())


def _line_of(kernel, needle: str) -> int:
    lines, first = inspect.getsourcelines(kernel.fn)
    return first + next(i for i, text in enumerate(lines) if needle in text)


def test_over_the_budget_is_a_compile_error_naming_the_buffer_and_the_fix():
    with pytest.raises(tl.CompileError) as e:
        too_big.compile("X=f32[2],Y=f32[2]", target="sm_80")
    text = str(e.value)
    assert "too_big" in text
    assert f"{THIS_FILE}:{_line_of(too_big, 'big = tl.alloc_shared')}" in text
    assert str(max_shared_bytes("sm_80")) in text and "166912" in text
    assert "262144" in text                 # the 256x256 f32 buffer
    assert "shared<256x256xf32>" in text
    assert "smaller tiles" in e.value.hint and "pipeline stages" in e.value.hint


def test_the_budget_is_the_target_s():
    # 192 KiB fits an sm_90a block (227 KiB) but not an sm_80 one (163 KiB)
    sig = "X=f32[2],Y=f32[2]"
    fn = too_big.compile(sig, target="emulate:sm_90a", BM=192, BK=256).function
    assert fn.attr("max_shared_bytes") == 232448
    with pytest.raises(tl.CompileError, match="allows 166912"):
        too_big.compile(sig, target="emulate:sm_80", BM=192, BK=256)


def test_without_a_limit_nothing_is_checked():
    module = too_big.compile("X=f32[2],Y=f32[2]", target="interp").module
    assert PASSES["allocate-shared"](module).functions[0].attr("shared_user_bytes") > 166912
    with pytest.raises(tl.CompileError):
        PASSES["allocate-shared"](with_shared_limit(module, 1024))
