"""Vectorized accesses end to end: lowering to vector th ops, the emulator's alignment
checks against the arrays' real addresses, and aligned/unaligned specializations."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.emulator.irkit import T
from tests.runtime.test_facts import at_offset
from tilelang.errors import KernelError
from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.ir.parser import parse_module
from tilelang.ir.types import f32, i64
from tilelang.passes import pipeline, run_pipeline
from tilelang.emulator.emulator import run_threads

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import softmax  # noqa: E402

ALIGNED = "aligned, unit_stride, divisible"


def lowered(text: str):
    module = parse_module(textwrap.dedent(text))
    return run_pipeline(module, pipeline("gpu")).module.functions[0]


def thread_ops(fn, cls):
    return [op for op in o.walk(fn.body) if isinstance(op, cls)]


def staged_copy(facts: str, dtype: str = "f32", async_: bool = True) -> str:
    """Rows m0..m0+31 of A through shared memory (optionally cp.async) into Y."""
    return f"""
    module {{
      func @stage(%A: tensor<{dtype}, 2{facts}>, %Y: tensor<{dtype}, 2{facts}>)
          attributes {{num_warps = 4}} {{
        %pid = tl.program_id() {{axis = 0}} : i32
        %c0 = tl.constant() {{value = 0}} : i32
        %c32 = tl.constant() {{value = 32}} : i32
        %m0 = tl.binary(lhs = %pid, rhs = %c32) {{fn = "mul"}} : i32
        %s = tl.alloc_shared() : shared<32x64x{dtype}>
        tl.copy(tensor = %A, offsets = [%m0, %c0], dst = %s) {{is_async = {str(async_).lower()}}}
        tl.async_commit()
        tl.async_wait() {{pending = 0}}
        tl.barrier()
        %t = tl.shared_load(src = %s) : tile<32x64x{dtype}>
        tl.store(tensor = %Y, offsets = [%m0, %c0], value = %t)
        tl.return()
      }}
    }}"""


def test_aligned_async_copy_is_16_byte_cp_async_and_vector_shared_and_global_ops():
    fn = lowered(staged_copy(", " + ALIGNED))
    copies = thread_ops(fn, th.CpAsyncOp)
    assert copies and {c.bytes for c in copies} == {16}
    assert not thread_ops(fn, th.LdGlobalOp)
    assert {op.vec for op in thread_ops(fn, th.LdSharedOp)} == {4}
    assert {len(op.values) for op in thread_ops(fn, th.StGlobalOp)} == {4}


def test_unaligned_tensors_keep_element_accesses_cp_async_of_4_bytes_still_works():
    fn = lowered(staged_copy(""))
    assert {c.bytes for c in thread_ops(fn, th.CpAsyncOp)} == {4}
    assert {len(op.values) for op in thread_ops(fn, th.StGlobalOp)} == {1}
    # shared memory is always aligned: its side stays vectorized
    assert {op.vec for op in thread_ops(fn, th.LdSharedOp)} == {4}


def test_copies_below_4_bytes_or_not_async_load_and_store():
    fn = lowered(staged_copy("", dtype="f16"))               # 2-byte elements, no facts
    assert not thread_ops(fn, th.CpAsyncOp)
    assert {op.vec for op in thread_ops(fn, th.LdGlobalOp)} == {1}
    fn = lowered(staged_copy(", " + ALIGNED, async_=False))
    assert not thread_ops(fn, th.CpAsyncOp)
    assert {op.vec for op in thread_ops(fn, th.LdGlobalOp)} == {4}
    assert {len(op.values) for op in thread_ops(fn, th.StSharedOp)} >= {4}


@pytest.mark.parametrize("facts", ["", ", " + ALIGNED])
@pytest.mark.parametrize("async_", [True, False])
@pytest.mark.parametrize("cols", [64, 60])       # 60: the last group of each row is outside
def test_staged_copies_are_exact_in_the_emulator(facts, async_, cols):
    fn = lowered(staged_copy(facts, async_=async_))
    a = at_offset((70, cols), np.float32, 0)
    a[:] = np.arange(a.size, dtype=np.float32).reshape(a.shape)
    y = at_offset((70, cols), np.float32, 0)
    y[:] = -1
    run_threads(fn, (3,), [a, y])
    np.testing.assert_array_equal(y, a)


def test_emulator_reports_a_vector_access_on_a_misaligned_array():
    k = T("mis", 32)
    X = k.tensor(f32, 1, "X")
    k.ld_global(f32, k.gaddr(X, k.mul(k.tid(), 4), 4), vec=4)   # 16-byte aligned offsets
    fn = k.build()
    run_threads(fn, (1,), [at_offset((128,), np.float32, 0)])
    with pytest.raises(KernelError, match="misaligned th.ld_global: 16-byte access at byte "
                                          "offset 0 of tensor 'X', whose array starts 4 bytes "
                                          "past a 16-byte boundary") as info:
        run_threads(fn, (1,), [at_offset((128,), np.float32, 4)])
    assert "aligned arrays" in info.value.hint


def test_cp_async_source_alignment_follows_the_real_address():
    k = T("cpmis", 32, shared=512)
    X = k.tensor(f32, 1, "X")
    dst = k.mul(k.tid(), 16)
    k.cp_async(dst, k.gaddr(X, k.mul(k.tid(), 4), 4), k.const(16), 16)
    k.commit()
    k.wait()
    fn = k.build()
    run_threads(fn, (1,), [at_offset((128,), np.float32, 0)])
    with pytest.raises(KernelError, match="misaligned th.cp_async source read"):
        run_threads(fn, (1,), [at_offset((128,), np.float32, 8)])


def test_code_for_aligned_arrays_run_on_a_misaligned_one_is_reported():
    compiled = softmax.softmax.compile("X=f32[2]:16,Y=f32[2]:16", target="emulate:sm_80")
    x = at_offset((8, 1024), np.float32, 4)
    y = at_offset((8, 1024), np.float32, 0)
    with pytest.raises(KernelError, match="misaligned th.ld_global"):
        run_threads(compiled.function, (2,), [x, y])


def test_softmax_on_a_slice_offset_by_one_element_gets_its_own_scalar_code():
    rng = np.random.default_rng(0)
    base = at_offset((9, 201), np.float32, 0)
    base[:] = rng.standard_normal(base.shape)
    kernel = softmax.softmax
    kernel.__dict__.pop("_compiled", None)
    for x in (base[:, :200], base[:, 1:]):               # aligned rows, then shifted by 4 bytes
        y = np.zeros((9, 200), np.float32)
        kernel[(3,)](x, y, BN=256, target="emulate:sm_80")
        np.testing.assert_allclose(y, softmax.reference(x), rtol=1e-5, atol=1e-6)
    specs = [spec for (_, spec) in kernel._compiled]
    assert [p.facts for p in specs[0].params] == [("aligned", "unit_stride"),
                                                  ("aligned", "unit_stride", "divisible")]
    assert [p.facts for p in specs[1].params][0] == ("unit_stride",)
    vecs = [{op.vec for op in thread_ops(c.function, th.LdGlobalOp)}
            for c in kernel._compiled.values()]
    assert vecs == [{1}, {1}]     # 201-float rows: no divisible fact for X either way


def test_softmax_with_aligned_rows_runs_vectorized_in_the_emulator():
    rng = np.random.default_rng(1)
    x = at_offset((9, 256), np.float32, 0)
    x[:] = rng.standard_normal(x.shape)
    y = at_offset((9, 256), np.float32, 0)
    kernel = softmax.softmax
    kernel.__dict__.pop("_compiled", None)
    kernel[(3,)](x, y, BN=256, target="emulate:sm_80")
    np.testing.assert_allclose(y, softmax.reference(x), rtol=1e-5, atol=1e-6)
    (compiled,) = kernel._compiled.values()
    assert {op.vec for op in thread_ops(compiled.function, th.LdGlobalOp)} == {4}
