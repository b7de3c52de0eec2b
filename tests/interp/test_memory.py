"""The reference interpreter's memory ops: bounds-safe windows, masks, shared buffers,
atomics, strided arguments, and the matmul it must run fast."""

from __future__ import annotations

import time

import ml_dtypes
import numpy as np
import pytest

from tests.interp.irkit import FILE, K
from tilelang.errors import KernelError
from tilelang.ir.types import bf16, bool_, f32, i32
from tilelang.interp.interpreter import prepare, run_kernel

BF16 = ml_dtypes.bfloat16


def window_reference(x: np.ndarray, offs: tuple[int, int], shape: tuple[int, int],
                     other: float) -> np.ndarray:
    """``x[o0:o0+s0, o1:o1+s1]`` with ``other`` outside ``x`` (by padding, not clipping)."""
    pad = max(shape) + max(abs(o) for o in offs)
    big = np.pad(x.astype(np.float64), pad, constant_values=other)
    return big[pad + offs[0]: pad + offs[0] + shape[0], pad + offs[1]: pad + offs[1] + shape[1]]


def load_window_fn(shape: tuple[int, int], with_other: bool):
    k = K("win")
    x, out = k.tensor(f32, 2, "X"), k.tensor(f32, 2, "Out")
    o0, o1 = k.scalar(i32, "o0"), k.scalar(i32, "o1")
    other = k.const(-1.5, f32) if with_other else None
    z = k.const(0)
    k.store(out, (z, z), k.load(x, (o0, o1), shape, other=other))
    return k.build()


@pytest.mark.parametrize("offs", [(0, 0), (-2, -3), (3, 5), (-4, 6), (5, 0), (-9, 2), (9, 9),
                                  (0, -8)])
@pytest.mark.parametrize("with_other", [False, True])
def test_load_window_at_any_offset(offs, with_other):
    x = np.arange(5 * 7, dtype=np.float32).reshape(5, 7) + 1
    shape = (4, 6)
    out = np.zeros(shape, np.float32)
    run_kernel(load_window_fn(shape, with_other), (1, 1, 1), [x, out, *offs])
    want = window_reference(x, offs, shape, -1.5 if with_other else 0.0)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("offs", [(-2, -3), (3, 5), (9, 0), (1, 1)])
def test_store_window_skips_out_of_bounds(offs):
    k = K("st")
    out = k.tensor(f32, 2, "Out")
    o0, o1 = k.scalar(i32, "o0"), k.scalar(i32, "o1")
    tile = k.cast(k.reshape(k.arange(0, 12), (3, 4)), f32)
    k.store(out, (o0, o1), tile)
    res = np.full((5, 6), -1.0, np.float32)
    run_kernel(k.build(), (1, 1, 1), [res, *offs])
    big = np.full((5 + 24, 6 + 24), -1.0)  # Out padded by 12 on every side
    big[12 + offs[0]: 15 + offs[0], 12 + offs[1]: 16 + offs[1]] = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(res, big[12:17, 12:18])


def test_strided_views_and_tensor_dims():
    k = K("strided")
    x, out = k.tensor(f32, 2, "X"), k.tensor(i32, 1, "Out")
    z = k.const(0)
    k.store(out, (z,), k.splat(k.dim(x, 0), (1,)))
    k.store(out, (k.const(1),), k.splat(k.stride(x, 0), (1,)))
    k.store(out, (k.const(2),), k.splat(k.stride(x, 1), (1,)))
    tile = k.load(x, (z, z), (3, 2))
    k.store(x, (z, z), k.bin("mul", tile, k.full((3, 2), 2.0, f32)))
    base = np.arange(48, dtype=np.float32).reshape(6, 8)
    view = base[::2, 1::3].T  # shape (3, 3), strides (3, 16) elements
    expect = base.copy()
    expect[0:4:2, 1:8:3] *= 2  # view[i, j] is base[2j, 1 + 3i]: the (3, 2) corner
    res = np.zeros(3, np.int32)
    run_kernel(k.build(), (1, 1, 1), [view, res])
    np.testing.assert_array_equal(res, [3, 3, 16])
    np.testing.assert_array_equal(base, expect)


def masked_fn(name: str = "masked"):
    """Out[o : o+8] = X[o : o+8] where (arange < limit), other=7, with a masked store."""
    k = K(name)
    x, out = k.tensor(i32, 1, "X"), k.tensor(i32, 1, "Out")
    off, limit = k.scalar(i32, "off"), k.scalar(i32, "limit")
    mask = k.bin("lt", k.arange(0, 8), k.splat(limit, (8,)))
    v = k.load(x, (off,), (8,), mask=mask, other=k.const(7))
    k.store(out, (off,), v, mask=mask)
    return k.build()


def test_masked_load_and_store():
    x = np.arange(10, dtype=np.int32) * 10
    out = np.full(10, -1, np.int32)
    run_kernel(masked_fn(), (1, 1, 1), [x, out, 2, 5])
    np.testing.assert_array_equal(out, [-1, -1, 20, 30, 40, 50, 60, -1, -1, -1])
    out[:] = -1
    run_kernel(masked_fn(), (1, 1, 1), [x, out, 8, 2])  # the mask hides indices 10..15
    np.testing.assert_array_equal(out, [-1] * 8 + [80, 90])
    run_kernel(masked_fn(), (1, 1, 1), [x, out, -20, 0])  # all masked: nothing to check
    np.testing.assert_array_equal(out, [-1] * 8 + [80, 90])


def test_mask_letting_out_of_bounds_through_is_an_error():
    x = np.arange(10, dtype=np.int32)
    out = np.zeros(10, np.int32)
    with pytest.raises(KernelError) as err:
        run_kernel(masked_fn("leaky"), (1, 1, 1), [x, out, 6, 6])  # index 10, 11 pass
    e = err.value
    text = str(e)
    assert "leaky" in text and "program_id=(0, 0, 0)" in text
    assert "tl.load reads X[10] outside its shape (10,) where the mask is true" in text
    assert f"{FILE}:" in text and e.hint and "mask" in e.hint


def test_masked_store_out_of_bounds_names_store_line():
    k = K("leaky_store")
    out = k.tensor(i32, 2, "Out")
    p = k.pid(0)
    ones = k.full((2, 2), True, bool_)
    k.line = 99
    k.store(out, (p, k.const(-1)), k.full((2, 2), 1, i32), mask=ones)
    out_arr = np.zeros((3, 3), np.int32)
    with pytest.raises(KernelError) as err:
        run_kernel(k.build(), (2, 1, 1), [out_arr])
    assert str(err.value.loc) == f"{FILE}:103"  # const(-1), const(1), splat, then the store
    assert "tl.store writes Out[0, -1] outside its shape (3, 3)" in str(err.value)
    assert err.value.program_id == (0, 0, 0)


def test_vector_add_with_explicit_mask_and_tail():
    k = K("vadd_mask")
    x, out = k.tensor(f32, 1, "X"), k.tensor(f32, 1, "Out")
    n = k.dim(x, 0)
    off = k.bin("mul", k.pid(0), k.const(16))
    idx = k.bin("add", k.splat(off, (16,)), k.arange(0, 16))
    mask = k.bin("lt", idx, k.splat(n, (16,)))
    v = k.load(x, (off,), (16,), mask=mask)
    k.store(out, (off,), k.bin("add", v, v), mask=mask)
    xs = np.linspace(0, 1, 37, dtype=np.float32)
    res = np.zeros(37, np.float32)
    run_kernel(k.build(), (3, 1, 1), [xs, res])
    np.testing.assert_array_equal(res, xs + xs)


def test_atomic_add_rounds_to_bf16_and_respects_bounds():
    k = K("atomic")
    out = k.tensor(bf16, 1, "Out")
    k.atomic_add(out, (k.const(-2),), k.full((8,), 2.0 ** -9, bf16))
    res = np.ones(4, BF16)
    run_kernel(k.build(), (4, 1, 1), [res])  # four adds of a quarter-ulp each: stays 1
    np.testing.assert_array_equal(res.astype(np.float32), 1.0)
    k = K("atomic_f32")
    out = k.tensor(f32, 1, "Out")
    mask = k.bin("ne", k.arange(0, 4), k.splat(k.pid(0), (4,)))
    k.atomic_add(out, (k.const(0),), k.full((4,), 1.0, f32), mask=mask)
    res = np.zeros(4, np.float32)
    run_kernel(k.build(), (3, 1, 1), [res])
    np.testing.assert_array_equal(res, [2, 2, 2, 3])


def test_copy_into_shared_zero_fills_and_shared_store():
    k = K("smem")
    x, out = k.tensor(f32, 2, "X"), k.tensor(f32, 2, "Out")
    buf = k.alloc((4, 4), f32)
    o = k.const(-1)
    k.copy(x, (o, k.const(1)), buf)
    k.barrier()
    tile = k.sload(buf)
    k.sstore(buf, k.bin("add", tile, tile))
    z = k.const(0)
    k.store(out, (z, z), k.sload(buf))
    xs = np.arange(9, dtype=np.float32).reshape(3, 3) + 1
    res = np.zeros((4, 4), np.float32)
    run_kernel(k.build(), (1, 1, 1), [xs, res])
    want = 2 * window_reference(xs, (-1, 1), (4, 4), 0.0)
    np.testing.assert_array_equal(res, want)


def test_reading_never_written_shared_memory_is_an_error():
    k = K("uninit")
    out = k.tensor(f32, 2, "Out")
    buf = k.alloc((2, 2), f32)
    p = k.pid(0)

    def then():
        k.sstore(buf, k.full((2, 2), 1.0, f32))
        return []
    k.if_(k.bin("eq", p, k.const(0)), then, lambda: [])
    tile = k.sload(buf)
    line = k.line
    z = k.const(0)
    k.store(out, (z, z), tile)
    res = np.zeros((2, 2), np.float32)
    with pytest.raises(KernelError) as err:
        run_kernel(k.build(), (3, 1, 1), [res])  # instance 1 has its own, unwritten buffer
    e = err.value
    assert e.program_id == (1, 0, 0) and str(e.loc) == f"{FILE}:{line}"
    assert "reads shared memory that was never written" in str(e)


# -- matmul: correctness against float64 and the interpreter's speed -----------------------

def matmul_fn(bm: int = 64, bn: int = 64, bk: int = 32):
    k = K("matmul")
    a, b, c = (k.tensor(bf16, 2, n) for n in ("A", "B", "C"))
    kdim = k.dim(a, 1)
    m0 = k.bin("mul", k.pid(0), k.const(bm))
    n0 = k.bin("mul", k.pid(1), k.const(bn))
    bk_v = k.const(bk)
    nk = k.bin("floordiv", k.bin("add", kdim, k.const(bk - 1)), bk_v)

    def body(kk, acc):
        ko = k.bin("mul", kk, bk_v)
        ta, tb = k.load(a, (m0, ko), (bm, bk)), k.load(b, (ko, n0), (bk, bn))
        return [k.dot(ta, tb, acc)]
    (acc,) = k.for_(k.const(0), nk, k.const(1), [k.full((bm, bn), 0.0, f32)], body,
                    kind="pipeline")
    k.store(c, (m0, n0), k.cast(acc, bf16))
    return k.build()


def _matmul_inputs(m: int, n: int, kd: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, kd)).astype(BF16)
    b = rng.standard_normal((kd, n)).astype(BF16)
    return a, b, np.zeros((m, n), BF16)


def test_dot_bf16_accumulates_in_f32_ragged_shapes():
    a, b, c = _matmul_inputs(100, 72, 50)
    run_kernel(matmul_fn(32, 32, 16), (4, 3, 1), [a, b, c])
    want = a.astype(np.float64) @ b.astype(np.float64)
    # f32 accumulation, then one bf16 rounding of the result
    np.testing.assert_allclose(c.astype(np.float64), want, rtol=2 ** -8, atol=1e-3)


def test_matmul_512_runs_fast():
    fn = matmul_fn()
    a, b, c = _matmul_inputs(512, 512, 512)
    prepare(fn)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        run_kernel(fn, (8, 8, 1), [a, b, c])
        best = min(best, time.perf_counter() - start)
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c.astype(np.float64), want, rtol=2 ** -8, atol=1e-2)
    assert best < 1.0, f"512^3 bf16 matmul took {best:.3f} s in the interpreter"
