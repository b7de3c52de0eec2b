"""The thread-level emulator: global memory, values, control flow, errors, API."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from tests.emulator.irkit import FILE, T
from tilelang.errors import IRError, KernelError, LaunchError
from tilelang.ir.types import bf16, f16, f32, i32, i64
from tilelang.ir.verifier import verify_module
from tilelang.emulator.emulator import prepare_threads, run_threads

BF16 = ml_dtypes.bfloat16


def vector_copy_kernel(threads: int = 32, vec: int = 8):
    """Y = X (1-D bf16): full vectors of ``vec`` with one access, the ragged tail
    element by element; each block copies ``threads * vec`` elements."""
    k = T("vcopy", threads)
    X, Y = k.tensor(bf16, 1, "X"), k.tensor(bf16, 1, "Y")
    n = k.dim(X, 0)
    base = k.add(k.mul(k.pid(), threads * vec), k.mul(k.tid(), vec))
    full = k.bin("le", k.add(base, vec), n)
    vals = k.ld_global(bf16, k.gaddr(X, base, 2), vec=vec, pred=full)
    k.st_global(k.gaddr(Y, base, 2), vals, pred=full)
    partial = k.bin("and", k.un("not", full), k.bin("lt", base, n))
    for j in range(vec):
        e = k.add(base, j)
        ok = k.bin("and", partial, k.bin("lt", e, n))
        (v,) = k.ld_global(bf16, k.gaddr(X, e, 2), pred=ok)
        k.st_global(k.gaddr(Y, e, 2), [v], pred=ok)
    return k.build()


@pytest.mark.parametrize("n", [600, 597, 5, 256])
def test_vectorized_copy_with_ragged_predicate(n):
    fn = vector_copy_kernel()
    x = (np.random.default_rng(n).standard_normal(n) * 10).astype(BF16)
    y = np.full(n, -1, BF16)
    blocks = -(-n // 256)
    prepare_threads(fn).run((blocks, 1, 1), [x, y])
    np.testing.assert_array_equal(y.view(np.uint16), x.view(np.uint16))


def test_prepare_is_cached_per_function():
    fn = vector_copy_kernel()
    assert prepare_threads(fn) is prepare_threads(fn)
    assert prepare_threads(vector_copy_kernel()) is not prepare_threads(fn)


def transpose_copy_kernel(threads: int = 64):
    """Y[i, j] = X[i, j] for any strides of X and Y, one element per thread."""
    k = T("tcopy", threads)
    X, Y = k.tensor(f32, 2, "X"), k.tensor(f32, 2, "Y")
    m, n = k.dim(X, 0), k.dim(X, 1)
    e = k.add(k.mul(k.pid(), threads), k.tid())
    i, j = k.bin("floordiv", e, n), k.bin("mod", e, n)
    ok = k.bin("lt", e, k.mul(m, n))

    def offset(t):
        return k.add(k.mul(i, k.stride(t, 0)), k.mul(j, k.stride(t, 1)))
    (v,) = k.ld_global(f32, k.gaddr(X, offset(X), 4), pred=ok)
    k.st_global(k.gaddr(Y, offset(Y), 4), [v], pred=ok)
    return k.build()


def test_strided_transposed_tensors():
    fn = transpose_copy_kernel()
    a = np.arange(7 * 9, dtype=np.float32).reshape(9, 7)
    x = a.T                                     # (7, 9), strides (4, 28)
    y = np.zeros((9, 7), np.float32).T          # written through a transposed view too
    run_threads(fn, (-(-63 // 64),), [x, y])
    np.testing.assert_array_equal(y, x)
    big = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)[::2, 1::3]  # gaps
    out = np.zeros((10, 10), np.float32)
    run_threads(fn, (2,), [big, out])
    np.testing.assert_array_equal(out, big)


def test_address_between_elements_of_a_strided_view_is_caught():
    k = T("gap", 32)
    X, Y = k.tensor(f32, 2, "X"), k.tensor(f32, 1, "Y")
    tid = k.tid()
    (v,) = k.ld_global(f32, k.gaddr(X, tid, 4))  # flat positions 0..31 of a view with gaps
    k.st_global(k.gaddr(Y, tid, 4), [v])
    fn = k.build()
    x = np.zeros((8, 16), np.float32)[:, ::2]    # (8, 8), every other float
    with pytest.raises(KernelError, match=r"outside tensor 'X' .* at byte offset 4 ") as e:
        run_threads(fn, (1,), [x, np.zeros(32, np.float32)])
    assert "thread 1 (warp 0, lane 1)" in str(e.value)


def test_out_of_bounds_address_is_caught_with_line_and_threads():
    k = T("oob", 32)
    X, Y = k.tensor(f32, 1, "X"), k.tensor(f32, 1, "Y")
    e = k.add(k.mul(k.pid(), 32), k.tid())
    (v,) = k.ld_global(f32, k.gaddr(X, e, 4))   # no bounds predicate: a lowering bug
    line = k.line
    k.st_global(k.gaddr(Y, e, 4), [v])
    fn = k.build()
    with pytest.raises(KernelError) as info:
        run_threads(fn, (2,), [np.zeros(40, np.float32), np.zeros(64, np.float32)])
    err = info.value
    text = str(err)
    assert "global access outside tensor 'X'" in text and "at byte offset 160" in text
    assert f"{FILE}:{line}" in text and "program_id=(1, 0, 0)" in text
    assert "thread 8 (warp 0, lane 8) and 23 other threads (9, 10, 11, 12, ...)" in text
    assert err.hint and err.program_id == (1, 0, 0)


def test_negative_offset_names_the_tensor_it_precedes():
    k = T("neg", 32)
    X = k.tensor(f32, 1, "X")
    addr = k.add(k.ptr(X), k.const(-8, i64))
    k.ld_global(f32, addr)
    with pytest.raises(KernelError, match="outside tensor 'X'.*byte offset -8"):
        run_threads(k.build(), (1,), [np.zeros(4, np.float32)])


def test_address_in_no_tensor_is_caught():
    k = T("wild", 32)
    k.tensor(f32, 1, "X")
    k.ld_global(f32, k.const(12345, i64))
    with pytest.raises(KernelError, match="in no tensor argument"):
        run_threads(k.build(), (1,), [np.zeros(4, np.float32)])


def test_misaligned_vector_access_is_caught():
    k = T("mis", 32)
    X = k.tensor(f32, 1, "X")
    e = k.add(k.mul(k.tid(), 4), 1)              # 4-float vectors starting at 1, 5, ...
    k.ld_global(f32, k.gaddr(X, e, 4), vec=4)
    line = k.line
    with pytest.raises(KernelError, match="misaligned") as info:
        run_threads(k.build(), (1,), [np.zeros(256, np.float32)])
    assert f"{FILE}:{line}" in str(info.value)


def test_vector_must_cover_consecutive_elements():
    k = T("cross", 32)
    X = k.tensor(f32, 2, "X")
    k.ld_global(f32, k.gaddr(X, k.mul(k.tid(), 2), 4), vec=2)
    x = np.zeros((32, 4), np.float32)[:, :3]     # rows of 3 in a row pitch of 4
    with pytest.raises(KernelError, match="element 1 of a 2-element vector"):
        run_threads(k.build(), (1,), [x])


def test_predicated_off_threads_touch_nothing_and_read_other():
    k = T("pred", 32)
    X, Y = k.tensor(i32, 1, "X"), k.tensor(i32, 1, "Y")
    tid = k.tid()
    ok = k.bin("lt", tid, 4)
    garbage = k.where(ok, k.gaddr(X, tid, 4), k.const(-77, i64))
    (v,) = k.ld_global(i32, garbage, pred=ok, other=k.const(-1))
    k.st_global(k.gaddr(Y, tid, 4), [v])
    per_thread = k.bin("sub", k.const(0), tid)     # `other` may differ between threads
    (w,) = k.ld_global(i32, garbage, pred=ok, other=per_thread)
    k.st_global(k.gaddr(Y, k.add(tid, 32), 4), [w])
    y = np.zeros(64, np.int32)
    run_threads(k.build(), (1,), [np.arange(10, 14, dtype=np.int32), y])
    np.testing.assert_array_equal(y[:32], [10, 11, 12, 13] + [-1] * 28)
    np.testing.assert_array_equal(y[32:], [10, 11, 12, 13] + list(range(-4, -32, -1)))


def test_atomic_add_applies_threads_in_order_with_rounding():
    k = T("atom", 64)
    X = k.tensor(bf16, 1, "X")
    V = k.tensor(bf16, 1, "V")
    tid = k.tid()
    (v,) = k.ld_global(bf16, k.gaddr(V, tid, 2))
    k.atomic_add(k.gaddr(X, k.bin("mod", tid, 3), 2), v, pred=k.bin("lt", tid, 50))
    vals = np.random.default_rng(1).standard_normal(64).astype(BF16)
    x = np.array([256, 1, -3], BF16)
    run_threads(k.build(), (1,), [x, vals])
    want = np.array([256, 1, -3], BF16)
    for t in range(50):  # one add at a time in f32, rounded to bf16, in thread order
        want[t % 3] = BF16(np.float32(want[t % 3]) + np.float32(vals[t]))
    np.testing.assert_array_equal(x.view(np.uint16), want.view(np.uint16))


def test_atomic_add_f32_accumulates_over_blocks():
    k = T("atom32", 32)
    X = k.tensor(f32, 1, "X")
    k.atomic_add(k.gaddr(X, k.const(0), 4), k.cast(k.tid(), f32))
    x = np.zeros(1, np.float32)
    run_threads(k.build(), (3, 2), [x])
    assert x[0] == 6 * sum(range(32))


def test_write_to_read_only_array_is_a_kernel_error():
    k = T("ro", 32)
    X = k.tensor(f32, 1, "X")
    k.st_global(k.gaddr(X, k.tid(), 4), [k.const(1.0, f32)])
    x = np.zeros(32, np.float32)
    x.flags.writeable = False
    with pytest.raises(KernelError, match="read-only"):
        run_threads(k.build(), (1,), [x])


def test_scalar_ops_share_the_interpreters_numerics():
    k = T("arith", 32)
    X, Y = k.tensor(f16, 1, "X"), k.tensor(f16, 1, "Y")
    s = k.scalar(f16, "s")
    tid = k.tid()
    (x,) = k.ld_global(f16, k.gaddr(X, tid, 2))
    y = k.bin("mul", k.bin("add", x, s), x)
    y = k.un("exp", y)
    neg = k.bin("lt", x, k.const(0.0, f16))
    y = k.where(neg, k.const(0.0, f16), y)       # per-thread cond, uniform branch
    k.st_global(k.gaddr(Y, tid, 2), [y])
    x = np.linspace(-3, 3, 32).astype(np.float16)
    out = np.zeros(32, np.float16)
    run_threads(k.build(), (1,), [x, out, 0.5])
    want = ((x.astype(np.float32) + np.float32(np.float16(0.5))).astype(np.float16)
            .astype(np.float32) * x.astype(np.float32)).astype(np.float16)
    want = np.exp(want.astype(np.float32)).astype(np.float16)
    want[x < 0] = 0
    np.testing.assert_array_equal(out, want)


def test_integer_wrap_and_c_division_like_the_interpreter():
    k = T("ints", 32)
    Y = k.tensor(i32, 1, "Y")
    tid = k.tid()
    big = k.add(k.const(2**31 - 16), tid)        # wraps for tid >= 16
    q = k.bin("floordiv", k.bin("sub", k.const(0), tid), 3)  # C truncation
    k.st_global(k.gaddr(Y, tid, 4), [k.add(big, q)])
    y = np.zeros(32, np.int32)
    run_threads(k.build(), (1,), [y])
    t = np.arange(32, dtype=np.int64)
    want = ((2**31 - 16 + t + 2**31) % 2**32 - 2**31) + -(t // 3)
    np.testing.assert_array_equal(y, ((want + 2**31) % 2**32 - 2**31).astype(np.int32))


def test_program_ids_grid_and_uniform_loop():
    k = T("grid", 32)
    Y = k.tensor(i32, 3, "Y")
    x, y, z = k.pid(0), k.pid(1), k.pid(2)
    e = k.add(k.mul(k.add(k.mul(z, k.dim(Y, 1)), y), k.dim(Y, 2)), x)
    def body(iv):
        # store the loop counter's last value: a uniform loop over a runtime bound
        k.st_global(k.gaddr(Y, e, 4), [k.add(k.mul(iv, 1000), e)],
                    pred=k.bin("eq", k.tid(), 0))
    k.for_(k.const(0), k.nprog(0), k.const(1), body)
    fn = k.build()
    out = np.zeros((2, 3, 4), np.int32)
    run_threads(fn, (4, 3, 2), [out])
    flat = np.arange(24).reshape(2, 3, 4)
    np.testing.assert_array_equal(out, 3000 + flat)


def test_non_uniform_if_is_caught():
    k = T("branchy", 64)
    Y = k.tensor(i32, 1, "Y")
    tid = k.tid()
    cond = k.bin("lt", tid, 40)
    k.if_(cond, lambda: k.st_global(k.gaddr(Y, tid, 4), [tid]))
    line = k.line
    with pytest.raises(KernelError, match="non-uniform control flow") as info:
        run_threads(k.build(), (1,), [np.zeros(64, np.int32)])
    text = str(info.value)
    assert f"{FILE}:{line}" in text and "thread 40 (warp 1, lane 8)" in text


def test_non_uniform_loop_bound_is_caught():
    k = T("loopy", 32)
    k.tensor(i32, 1, "Y")
    k.for_(k.const(0), k.tid(), k.const(1), lambda iv: None)
    with pytest.raises(KernelError, match="non-uniform control flow: the tl.for upper"):
        run_threads(k.build(), (1,), [np.zeros(1, np.int32)])


def test_uniform_if_on_program_id_runs_one_branch():
    k = T("uif", 32)
    Y = k.tensor(i32, 1, "Y")
    pid, tid = k.pid(), k.tid()
    first = k.bin("eq", pid, 0)
    addr = k.gaddr(Y, k.add(k.mul(pid, 32), tid), 4)
    k.if_(first, lambda: k.st_global(addr, [k.const(7)]),
          lambda: k.st_global(addr, [k.const(9)]))
    y = np.zeros(64, np.int32)
    run_threads(k.build(), (2,), [y])
    np.testing.assert_array_equal(y, [7] * 32 + [9] * 32)


def test_device_assert_names_the_failing_threads(capsys):
    k = T("assert", 32)
    tid = k.tid()
    k.print_("tid:", tid, k.pid())
    k.assert_(k.bin("ne", tid, 17), "tid must not be 17")
    with pytest.raises(KernelError, match=r"tid must not be 17 \(false in thread 17"):
        run_threads(k.build(), (1,), [])
    out = capsys.readouterr().out
    assert out.startswith("[assert pid=(0, 0, 0)] tid: [ 0  1  2") and out.rstrip().endswith("0")


def test_numpy_failure_inside_an_op_becomes_a_kernel_error():
    k = T("pow", 32)
    Y = k.tensor(i32, 1, "Y")
    tid = k.tid()
    k.st_global(k.gaddr(Y, tid, 4), [k.bin("pow", tid, k.const(-1))])
    line = k.line - 1
    with pytest.raises(KernelError, match="tl.binary failed in the emulator") as info:
        run_threads(k.build(), (1,), [np.zeros(32, np.int32)])
    assert f"{FILE}:{line}" in str(info.value)


def test_launch_errors():
    fn = vector_copy_kernel()
    with pytest.raises(LaunchError, match="expected 2 arguments"):
        run_threads(fn, (1,), [np.zeros(8, BF16)])
    with pytest.raises(LaunchError):
        run_threads(fn, (1,), [np.zeros(8, np.float32), np.zeros(8, BF16)])
    with pytest.raises(LaunchError, match="strides"):
        run_threads(fn, (1,), [np.zeros(8, BF16)[::-1], np.zeros(8, BF16)])
    with pytest.raises(LaunchError, match="bad grid"):
        run_threads(fn, (1.5,), [np.zeros(8, BF16), np.zeros(8, BF16)])


def test_tile_ir_and_bad_attributes_are_rejected():
    k = T("nothreads", 48)
    k.tensor(f32, 1, "X")
    with pytest.raises(IRError, match="multiple of 32"):
        prepare_threads(k.build())
    try:
        from interp_irkit import K
    except ImportError:
        from tests.interp.irkit import K
    t = K("tile")
    X = t.tensor(f32, 1, "X")
    t.store(X, [t.const(0)], t.splat(t.const(1.0, f32), (8,)))
    fn = t.build()
    from dataclasses import replace
    fn = replace(fn, attrs=(("num_threads", 32), ("shared_bytes", 0)))
    with pytest.raises(IRError, match="thread IR"):
        prepare_threads(fn)


def test_the_hand_built_kernel_using_every_thread_op_is_accepted():
    try:
        from tests.ir.test_thread_ops import build
    except ImportError:  # pragma: no cover - tests/ not importable as a package
        pytest.skip("tests.ir is not importable")
    for kw in ({}, {"vec": 4, "num": 2, "trans": True, "pending": 0}, {"wave64": True}):
        m = build(**kw)
        verify_module(m)
        kernel = prepare_threads(m.functions[0])
        assert kernel.num_threads == 128 and kernel.shared_bytes == 4096
