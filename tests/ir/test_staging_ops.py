"""The staging ops (tl.shared_slice, tl.async_commit, tl.async_wait) and tl.copy's
is_async: text round trip, verify() and the interpreter's meaning."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from tilelang.errors import IRError, KernelError
from tilelang.ir import ops
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.staging_ops import AsyncCommitOp, AsyncWaitOp, SharedSliceOp
from tilelang.ir.verifier import verify_module
from tilelang.interp.interpreter import run_kernel

RING = """
module {
  func @ring(%X: tensor<f32, 2>, %Y: tensor<f32, 2>, %i: i32) {
    %z = tl.constant() {value = 0} : i32
    %one = tl.constant() {value = 1} : i32
    %four = tl.constant() {value = 4} : i32
    %buf = tl.alloc_shared() : shared<2x4x4xf32>
    %s0 = tl.shared_slice(src = %buf, index = %z) : shared<4x4xf32>
    %s1 = tl.shared_slice(src = %buf, index = %i) : shared<4x4xf32>
    tl.copy(tensor = %X, offsets = [%z, %z], dst = %s0) {is_async = true}
    tl.async_commit()
    tl.copy(tensor = %X, offsets = [%four, %z], dst = %s1) {is_async = true}
    tl.async_commit()
    tl.async_wait() {pending = 0}
    tl.barrier()
    %a = tl.shared_load(src = %s0) : tile<4x4xf32>
    %b = tl.shared_load(src = %s1) : tile<4x4xf32>
    %c = tl.binary(lhs = %a, rhs = %b) {fn = "add"} : tile<4x4xf32>
    tl.store(tensor = %Y, offsets = [%z, %z], value = %c)
    tl.return()
  }
}
"""


def ring_module():
    m = parse_module(textwrap.dedent(RING))
    verify_module(m)
    return m


def test_staging_ops_print_and_parse_back():
    m = ring_module()
    assert parse_module(print_module(m)) == m
    found = {type(op) for op in ops.walk(m.functions[0].body)}
    assert {SharedSliceOp, AsyncCommitOp, AsyncWaitOp} <= found
    copies = [op for op in ops.walk(m.functions[0].body) if isinstance(op, ops.CopyOp)]
    assert all(c.is_async for c in copies)
    assert "is_async = true" in print_module(m)


def test_copy_is_synchronous_by_default():
    m = parse_module(RING.replace(" {is_async = true}", ""))
    copies = [op for op in ops.walk(m.functions[0].body) if isinstance(op, ops.CopyOp)]
    assert copies and not any(c.is_async for c in copies)


def test_shared_slice_views_one_stage_of_the_buffer():
    x = np.arange(64, dtype=np.float32).reshape(8, 8)
    y = np.zeros((8, 8), np.float32)
    run_kernel(ring_module().functions[0], (1, 1, 1), [x, y, 1])
    np.testing.assert_array_equal(y[:4, :4], x[:4, :4] + x[4:8, :4])


def test_slice_of_the_same_stage_aliases():
    x = np.arange(64, dtype=np.float32).reshape(8, 8)
    y = np.zeros((8, 8), np.float32)
    # stage 0 is copied twice; the second copy (rows 4..8) wins for both views
    run_kernel(ring_module().functions[0], (1, 1, 1), [x, y, 0])
    np.testing.assert_array_equal(y[:4, :4], 2 * x[4:8, :4])


def test_shared_slice_index_out_of_range_is_a_kernel_error():
    x = np.zeros((8, 8), np.float32)
    with pytest.raises(KernelError, match=r"tl.shared_slice index 2 outside \[0, 2\)"):
        run_kernel(ring_module().functions[0], (1, 1, 1), [x, x.copy(), 2])


def test_reading_an_unwritten_stage_is_reported():
    text = RING.replace("tl.copy(tensor = %X, offsets = [%four, %z], dst = %s1) "
                        "{is_async = true}\n", "")
    m = parse_module(textwrap.dedent(text))
    x = np.zeros((8, 8), np.float32)
    with pytest.raises(KernelError, match="never written"):
        run_kernel(m.functions[0], (1, 1, 1), [x, x.copy(), 1])


@pytest.mark.parametrize("line, message", [
    ("%s = tl.shared_slice(src = %buf, index = %z) : shared<4x8xf32>",
     "result must be shared<4x4xf32>"),
    ("%s = tl.shared_slice(src = %flat, index = %z) : shared<4xf32>",
     "src must be a shared buffer of rank 2 or more"),
    ("%s = tl.shared_slice(src = %buf, index = %f) : shared<4x4xf32>",
     "index must be an integer scalar"),
    ("tl.async_wait() {pending = -1}", "pending must be a non-negative int"),
    ("%s = tl.async_commit() : i32", "expected 0 result"),
])
def test_verify_rejects_malformed_staging_ops(line, message):
    text = f"""
    module {{
      func @k() {{
        %z = tl.constant() {{value = 0}} : i32
        %f = tl.constant() {{value = 0.0}} : f32
        %buf = tl.alloc_shared() : shared<2x4x4xf32>
        %flat = tl.alloc_shared() : shared<4xf32>
        {line}
        tl.return()
      }}
    }}"""
    with pytest.raises(IRError, match=message):
        verify_module(parse_module(textwrap.dedent(text)))
