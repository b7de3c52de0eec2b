"""Thread-IR ops: verification and the text-format round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tilelang.errors import IRError
from tilelang.ir import ops, thread_ops as th
from tilelang.ir.builder import Builder
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.types import ScalarType, TensorType, bf16, bool_, f32, i32, i64
from tilelang.ir.values import Function, Module
from tilelang.ir.verifier import verify_module


def S(dtype):
    return ScalarType(dtype)


def build(vec: int = 8, num: int = 4, trans: bool = False, pending: int = 1,
          wave64: bool = False) -> Module:
    """A thread-IR kernel that uses every thread op once: the NVIDIA ones with
    32-lane warps, or (``wave64``) ``th.mfma`` instead of ``ldmatrix``/``mma`` with
    64-lane wavefronts."""
    b = Builder()
    A = b.fresh(TensorType(bf16, 2), "A")
    C = b.fresh(TensorType(f32, 2), "C")

    def emit(cls, types=(), **kw):
        return b.emit(cls(results=tuple(b.fresh(t) for t in types), **kw))

    tid = emit(th.ThreadIdOp, (S(i32),)).result
    base = emit(th.TensorPtrOp, (S(i64),), tensor=A).result
    cbase = emit(th.TensorPtrOp, (S(i64),), tensor=C).result
    c16 = emit(ops.ConstantOp, (S(i32),), value=16).result
    off = emit(ops.BinaryOp, (S(i32),), fn="mul", lhs=tid, rhs=c16).result
    off64 = emit(ops.CastOp, (S(i64),), value=off).result
    addr = emit(ops.BinaryOp, (S(i64),), fn="add", lhs=base, rhs=off64).result
    n = emit(ops.TensorDimOp, (S(i32),), tensor=A, dim=0).result
    pred = emit(ops.BinaryOp, (S(bool_),), fn="lt", lhs=tid, rhs=n).result
    zero = emit(ops.ConstantOp, (S(bf16),), value=0.0).result
    vals = emit(th.LdGlobalOp, (S(bf16),) * vec, dtype=bf16, vec=vec, addr=addr, pred=pred,
                other=zero).results
    emit(th.StSharedOp, addr=off, values=vals, pred=pred)
    emit(th.CpAsyncOp, bytes=16, dst=off, src=addr, src_bytes=c16)
    emit(th.CpAsyncCommitOp)
    emit(th.CpAsyncWaitOp, pending=pending)
    emit(ops.BarrierOp)
    acc0 = emit(ops.ConstantOp, (S(f32),), value=0.0).result
    if wave64:
        a = emit(th.LdSharedOp, (S(bf16),) * 8, dtype=bf16, vec=8, addr=off).results
        d = emit(th.MfmaOp, (S(f32),) * 4, shape="16x16x16", a=a[:4], b=a[4:],
                 c=(acc0,) * 4).results
        emit(th.MfmaOp, (S(f32),) * 16, shape="32x32x8", a=a[4:], b=a[:4], c=(d[0],) * 16)
    else:
        frag = emit(th.LdMatrixOp, (S(bf16),) * (2 * num), dtype=bf16, num=num, trans=trans,
                    addr=off).results
        a = (frag * 2)[:8]
        d = emit(th.MmaOp, (S(f32),) * 4, a=a, b=a[:4], c=(acc0,) * 4).results
    lane = emit(ops.ConstantOp, (S(i32),), value=1).result
    s = emit(th.ShflOp, (S(f32),), mode="bfly", value=d[0], lane=lane).result
    emit(th.AtomicAddGlobalOp, addr=cbase, value=s, pred=pred)
    emit(th.StGlobalOp, addr=cbase, values=tuple(d), pred=None)
    more = emit(th.LdSharedOp, (S(f32),) * 2, dtype=f32, vec=2, addr=off).results
    emit(th.StGlobalOp, addr=cbase, values=tuple(more))
    emit(ops.ReturnOp)
    body = b.pop((A, C))
    attrs = (("num_threads", 128), ("shared_bytes", 4096)) + ((("warp_size", 64),) if wave64
                                                               else ())
    fn = Function("k", (A, C), body, attrs)
    return Module((fn,))


def test_every_thread_op_is_used_and_registered():
    used = {type(op) for m in (build(), build(wave64=True)) for op in ops.walk(m.functions[0].body)}
    assert set(th.THREAD_OPS) <= used
    assert all(ops.OPS_BY_NAME[cls.NAME] is cls for cls in th.THREAD_OPS)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([1, 2, 4, 8]), st.sampled_from([2, 4]), st.booleans(),
       st.integers(0, 3), st.booleans())
def test_thread_ir_round_trips(vec, num, trans, pending, wave64):
    m = build(vec=vec, num=num, trans=trans, pending=pending, wave64=wave64)
    verify_module(m)
    text = print_module(m)
    assert parse_module(text) == m
    assert print_module(parse_module(text)) == text


def test_printed_thread_ir_reads_like_the_hardware():
    text = print_module(build())
    assert "th.ldmatrix(addr = %" in text and "{dtype = bf16, num = 4, trans = false}" in text
    assert 'th.mma(a = [' in text and '{shape = "m16n8k16"}' in text
    text = print_module(build(wave64=True))
    assert 'th.mfma(a = [' in text and '{shape = "32x32x8"}' in text and "warp_size = 64" in text


@pytest.mark.parametrize("bad, message", [
    (lambda b, x: th.CpAsyncOp(bytes=12, dst=x["i32"], src=x["i64"], src_bytes=x["i32"]),
     "4, 8 or 16 bytes"),
    (lambda b, x: th.LdMatrixOp(results=(b.fresh(S(f32)),) * 8, dtype=f32, num=4,
                                addr=x["i32"]), "16-bit"),
    (lambda b, x: th.LdGlobalOp(results=(b.fresh(S(bf16)),), dtype=bf16, vec=1,
                                addr=x["i32"]), "addr must be an i64"),
    (lambda b, x: th.ShflOp(results=(b.fresh(S(i64)),), mode="bfly", value=x["i64"],
                            lane=x["i32"]), "at most 32 bits"),
    (lambda b, x: th.MmaOp(results=(b.fresh(S(f32)),) * 4, a=(x["bf16"],) * 4,
                           b=(x["bf16"],) * 4, c=(x["f32"],) * 4), "8 A, 4 B and 4 C"),
    (lambda b, x: th.MfmaOp(results=(b.fresh(S(f32)),) * 4, shape="32x32x8",
                            a=(x["bf16"],) * 4, b=(x["bf16"],) * 4, c=(x["f32"],) * 4),
     "4 A, 4 B and 16 C"),
    (lambda b, x: th.MfmaOp(results=(b.fresh(S(f32)),) * 4, shape="16x16x16",
                            a=(x["f32"],) * 4, b=(x["f32"],) * 4, c=(x["f32"],) * 4),
     "f16 or bf16"),
    (lambda b, x: th.MfmaOp(results=(b.fresh(S(f32)),) * 4, shape="4x4x4",
                            a=(x["bf16"],) * 4, b=(x["bf16"],) * 4, c=(x["f32"],) * 4),
     "unknown mfma shape"),
    (lambda b, x: th.MfmaOp(results=(b.fresh(S(bf16)),) * 4, shape="16x16x16",
                            a=(x["bf16"],) * 4, b=(x["bf16"],) * 4, c=(x["bf16"],) * 4),
     "C elements must be f32"),
])
def test_thread_op_verification(bad, message):
    b = Builder()
    x = {"i32": b.fresh(S(i32)), "i64": b.fresh(S(i64)), "bf16": b.fresh(S(bf16)),
         "f32": b.fresh(S(f32))}
    with pytest.raises(IRError, match=message):
        bad(b, x).verify()
