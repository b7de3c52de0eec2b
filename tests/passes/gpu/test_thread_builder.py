"""ThreadBuilder shares identical pure scalar ops as it emits them, within scope."""

from __future__ import annotations

from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.ir.builder import Builder
from tilelang.ir.types import ScalarType, f32, i32
from tilelang.passes.gpu.thread_builder import ThreadBuilder


def test_identical_pure_ops_are_emitted_once():
    b = ThreadBuilder(Builder())
    tid = b.emit1(th.ThreadIdOp, ScalarType(i32))
    x = b.add(tid, b.const(4, i32))
    y = b.add(tid, b.const(4, i32))
    assert x is y
    assert b.add(tid, b.const(5, i32)) is not x
    assert sum(isinstance(op, o.BinaryOp) for op in b.builder.current_ops) == 2


def test_zero_and_negative_zero_stay_two_constants():
    b = ThreadBuilder(Builder())
    assert b.const(0.0, f32) is not b.const(-0.0, f32)
    assert b.const(1.5, f32) is b.const(1.5, f32)


def test_values_of_an_enclosing_block_are_shared_and_of_a_closed_one_are_not():
    b = ThreadBuilder(Builder())
    tid = b.emit1(th.ThreadIdOp, ScalarType(i32))
    outer = b.mul(tid, b.const(2, i32))
    b.builder.push()
    assert b.mul(tid, b.const(2, i32)) is outer          # visible inside the region
    inner = b.mul(tid, b.const(3, i32))
    b.builder.pop()
    b.builder.push()
    again = b.mul(tid, b.const(3, i32))                   # the closed region's is gone
    assert again is not inner
    b.builder.pop()
    assert b.mul(tid, b.const(3, i32)) is not inner


def test_convergent_and_memory_ops_are_always_emitted():
    b = ThreadBuilder(Builder())
    v = b.const(1.0, f32)
    lane = b.const(1, i32)
    s1 = b.emit1(th.ShflOp, ScalarType(f32), mode="bfly", value=v, lane=lane)
    s2 = b.emit1(th.ShflOp, ScalarType(f32), mode="bfly", value=v, lane=lane)
    assert s1 is not s2
    addr = b.const(0, i32)
    l1 = b.emit1(th.LdSharedOp, ScalarType(f32), dtype=f32, vec=1, addr=addr)
    l2 = b.emit1(th.LdSharedOp, ScalarType(f32), dtype=f32, vec=1, addr=addr)
    assert l1 is not l2
