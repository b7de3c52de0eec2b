"""Hopper wgmma thread-IR ops: verification, descriptor encoding and the text round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tilelang.errors import IRError
from tilelang.ir import hopper_ops as hp, ops
from tilelang.ir.builder import Builder
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.types import ScalarType, bf16, f16, f32, i32, i64
from tilelang.ir.values import Function, Module
from tilelang.ir.verifier import verify_module


def S(dtype):
    return ScalarType(dtype)


def build(n: int = 16, swizzle: int = 128, reg_a: bool = False, pending: int = 0,
          dtype=bf16, scale_d: bool = True) -> Module:
    """A thread-IR kernel that uses every wgmma op once."""
    b = Builder()

    def emit(cls, types=(), **kw):
        return b.emit(cls(results=tuple(b.fresh(t) for t in types), **kw))

    off = emit(ops.ConstantOp, (S(i32),), value=1024).result
    da = emit(hp.WgmmaDescOp, (S(i64),), lbo=16, sbo=8 * swizzle or 128, swizzle=swizzle,
              addr=off).result
    db = emit(hp.WgmmaDescOp, (S(i64),), lbo=256, sbo=128, swizzle=0, addr=off).result
    zero = emit(ops.ConstantOp, (S(f32),), value=0.0).result
    x = emit(ops.ConstantOp, (S(dtype),), value=1.0).result
    emit(hp.FenceProxyAsyncOp)
    emit(ops.BarrierOp)
    emit(hp.WgmmaFenceOp)
    kw = dict(a=(x,) * 8) if reg_a else dict(a_desc=da)
    d = emit(hp.WgmmaOp, (S(f32),) * (n // 2), n=n, dtype=dtype, scale_d=scale_d,
             b_desc=db, c=(zero,) * (n // 2), **kw).results
    emit(hp.WgmmaCommitOp)
    emit(hp.WgmmaWaitOp, (S(f32),) * len(d), pending=pending, values=d)
    emit(ops.ReturnOp)
    fn = Function("k", (), b.pop(()), (("num_threads", 128), ("shared_bytes", 4096)))
    return Module((fn,))


def test_every_hopper_op_is_used_and_registered():
    used = {type(op) for op in ops.walk(build().functions[0].body)}
    assert set(hp.HOPPER_OPS) <= used
    assert all(ops.OPS_BY_NAME[cls.NAME] is cls for cls in hp.HOPPER_OPS)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([8, 16, 64, 256]), st.sampled_from([0, 32, 64, 128]), st.booleans(),
       st.integers(0, 7), st.sampled_from([bf16, f16]), st.booleans())
def test_hopper_ir_round_trips(n, swizzle, reg_a, pending, dtype, scale_d):
    m = build(n, swizzle, reg_a, pending, dtype, scale_d)
    verify_module(m)
    text = print_module(m)
    assert parse_module(text) == m
    assert print_module(parse_module(text)) == text


def test_printed_wgmma_names_its_shape():
    text = print_module(build(n=64))
    assert "th.wgmma(a_desc = %" in text and "n = 64" in text
    assert "th.wgmma_desc(addr = %" in text and "swizzle = 128" in text
    assert "th.wgmma_wait(values = [" in text


@given(st.integers(0, (1 << 14) - 1), st.integers(0, (1 << 14) - 1),
       st.integers(0, (1 << 14) - 1), st.sampled_from([0, 32, 64, 128]))
def test_descriptor_encoding_round_trips(start, lbo, sbo, swizzle):
    desc = hp.encode_descriptor(start << 4, lbo << 4, sbo << 4, swizzle)
    assert 0 <= desc < 1 << 64
    assert hp.decode_descriptor(desc) == (start << 4, lbo << 4, sbo << 4, swizzle)


def test_descriptor_fields_sit_where_the_ptx_isa_puts_them():
    desc = hp.encode_descriptor(0x1230, 0x40, 0x400, 128)
    assert desc & 0x3FFF == 0x123 and (desc >> 16) & 0x3FFF == 4
    assert (desc >> 32) & 0x3FFF == 0x40 and desc >> 62 == 1
    assert hp.encode_descriptor(0, 0, 0, 64) >> 62 == 2
    assert hp.encode_descriptor(0, 0, 0, 32) >> 62 == 3


@pytest.mark.parametrize("bad, message", [
    (lambda b, x: hp.WgmmaDescOp(results=(b.fresh(S(i64)),), swizzle=16, addr=x["i32"]),
     "swizzle must be"),
    (lambda b, x: hp.WgmmaDescOp(results=(b.fresh(S(i64)),), sbo=24, addr=x["i32"]),
     "multiple of 16"),
    (lambda b, x: hp.WgmmaDescOp(results=(b.fresh(S(i32)),), addr=x["i32"]), "one i64"),
    (lambda b, x: hp.WgmmaOp(results=(b.fresh(S(f32)),) * 4, n=12, a_desc=x["i64"],
                             b_desc=x["i64"], c=(x["f32"],) * 6), "multiple of 8"),
    (lambda b, x: hp.WgmmaOp(results=(b.fresh(S(f32)),) * 4, n=8, a=(x["bf16"],) * 4,
                             b_desc=x["i64"], c=(x["f32"],) * 4), "8 registers|8 bf16"),
    (lambda b, x: hp.WgmmaOp(results=(b.fresh(S(f32)),) * 4, n=8, a_desc=x["i64"],
                             b_desc=x["i64"], c=(x["f32"],) * 3), "4 f32 accumulator"),
    (lambda b, x: hp.WgmmaOp(results=(b.fresh(S(f32)),) * 4, n=8, dtype=f32,
                             a_desc=x["i64"], b_desc=x["i64"], c=(x["f32"],) * 4), "bf16 or f16"),
    (lambda b, x: hp.WgmmaWaitOp(results=(b.fresh(S(f32)),), pending=8, values=(x["f32"],)),
     "pending"),
    (lambda b, x: hp.WgmmaWaitOp(results=(), pending=0, values=(x["f32"],)), "must match"),
])
def test_hopper_op_verification(bad, message):
    b = Builder()
    x = {"i32": b.fresh(S(i32)), "i64": b.fresh(S(i64)), "bf16": b.fresh(S(bf16)),
         "f32": b.fresh(S(f32))}
    with pytest.raises(IRError, match=message):
        bad(b, x).verify()
