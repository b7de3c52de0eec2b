"""mbarrier and TMA thread-IR ops: verification and the text-format round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tilelang.errors import IRError
from tilelang.ir import hopper_ops as hop, ops, thread_ops as th, tma_ops as tma
from tilelang.ir.builder import Builder
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.types import ScalarType, TensorType, bf16, bool_, f32, i32
from tilelang.ir.values import Function, Module
from tilelang.ir.verifier import verify_module


def S(dtype):
    return ScalarType(dtype)


def build(box=(64, 32), swizzle=64, count=1, nbytes=4096, rank=2) -> Module:
    """A thread-IR kernel that uses every mbarrier/TMA op once."""
    b = Builder()
    A = b.fresh(TensorType(bf16, rank, aligned=True, unit_stride=True, divisible=True), "A")

    def emit(cls, types=(), **kw):
        return b.emit(cls(results=tuple(b.fresh(t) for t in types), **kw))

    tid = emit(th.ThreadIdOp, (S(i32),)).result
    zero = emit(ops.ConstantOp, (S(i32),), value=0).result
    bar = emit(ops.ConstantOp, (S(i32),), value=8192).result
    elect = emit(ops.BinaryOp, (S(bool_),), fn="eq", lhs=tid, rhs=zero).result
    emit(tma.MbarrierInitOp, count=count, bar=bar, pred=elect)
    emit(tma.FenceMbarrierInitOp)
    emit(hop.FenceProxyAsyncOp)
    emit(tma.MbarrierExpectTxOp, bytes=nbytes, bar=bar, pred=elect)
    emit(tma.TmaLoadOp, box=box, swizzle=swizzle, tensor=A, dst=zero, bar=bar,
         coords=(zero,) * rank, pred=elect)
    emit(tma.MbarrierArriveOp, bar=bar, pred=None)
    emit(tma.MbarrierWaitOp, bar=bar, parity=zero)
    emit(tma.MbarrierInvalOp, bar=bar, pred=elect)
    emit(tma.TmaStoreOp, box=box, swizzle=swizzle, tensor=A, src=zero,
         coords=(zero,) * rank, pred=elect)
    emit(tma.BulkCommitOp, pred=elect)
    emit(tma.BulkWaitReadOp, pending=0, pred=elect)
    emit(ops.ReturnOp)
    body = b.pop((A,))
    return Module((Function("k", (A,), body, (("num_threads", 128),
                                                ("shared_bytes", 16384))),))


def test_every_tma_op_is_used_and_registered():
    used = {type(op) for op in ops.walk(build().functions[0].body)}
    assert set(tma.TMA_OPS) <= used
    assert all(ops.OPS_BY_NAME[cls.NAME] is cls for cls in tma.TMA_OPS)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([(64, 32), (8, 16, 64), (128, 8)]), st.sampled_from([0, 128]),
       st.integers(1, 300), st.integers(0, 70000))
def test_tma_ir_round_trips(box, swizzle, count, nbytes):
    if swizzle and box[-1] * 2 > swizzle:
        swizzle = 0
    m = build(box=box, swizzle=swizzle, count=count, nbytes=nbytes, rank=len(box))
    verify_module(m)
    text = print_module(m)
    assert parse_module(text) == m
    assert print_module(parse_module(text)) == text


def test_printed_tma_ir_names_box_and_swizzle():
    text = print_module(build())
    assert "th.tma_load(tensor = %A" in text and "{box = [64, 32], swizzle = 64}" in text
    assert "th.mbarrier_expect_tx(bar = %" in text and "{bytes = 4096}" in text


def test_tma_load_counts_its_transaction_bytes():
    op = next(op for op in ops.walk(build(box=(8, 16, 64), swizzle=128, rank=3)
                                    .functions[0].body) if isinstance(op, tma.TmaLoadOp))
    assert op.bytes == 8 * 16 * 64 * 2


@pytest.mark.parametrize("box, swizzle, rank, message", [
    ((64, 32), 48, 2, "swizzle must be one of"),
    ((64, 128), 128, 2, "at most that many bytes"),
    ((64, 4), 0, 2, "multiple of 16"),
    ((512, 32), 0, 2, r"in \[1, 256\]"),
    ((64,), 0, 2, "one entry per tensor dimension"),
])
def test_tma_load_verification(box, swizzle, rank, message):
    b = Builder()
    A = b.fresh(TensorType(bf16, rank), "A")
    x = b.fresh(S(i32))
    with pytest.raises(IRError, match=message):
        tma.TmaLoadOp(box=box, swizzle=swizzle, tensor=A, dst=x, bar=x,
                      coords=(x,) * rank).verify()


def test_mbarrier_verification():
    b = Builder()
    x, f = b.fresh(S(i32)), b.fresh(S(f32))
    with pytest.raises(IRError, match="count must be"):
        tma.MbarrierInitOp(count=0, bar=x).verify()
    with pytest.raises(IRError, match="i32 shared offset"):
        tma.MbarrierArriveOp(bar=f).verify()
    with pytest.raises(IRError, match="parity must be"):
        tma.MbarrierWaitOp(bar=x, parity=f).verify()
    with pytest.raises(IRError, match="pred must be"):
        tma.MbarrierExpectTxOp(bytes=16, bar=x, pred=x).verify()
