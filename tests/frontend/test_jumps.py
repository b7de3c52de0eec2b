"""``break`` and ``continue`` in runtime and unrolled loops (``while`` loops are in
``test_while.py``): the same answers as Python
on the interpreter and the thread emulator of every GPU target, the flags in the IR
(a break flag is loop-carried, a continue flag is not), ptxas/hipcc compile checks
and the errors for what the lowering cannot keep uniform."""

from __future__ import annotations

import numpy as np
import pytest

import tilelang as tl
from tilelang.frontend.kernel_def import ParamSpec
from tilelang.ir import ops

N = 64


@tl.kernel(num_warps=2)
def early_exit(X, Y, n, lim, N: tl.constexpr = N):
    acc = tl.zeros((N,), tl.f32)
    count = 0
    for i in range(n):
        x = tl.load(X, (i * N,), (N,))
        if i % 3 == 1:
            continue
        if tl.sum(x) > lim:   # a block-uniform scalar: every thread leaves together
            break
        acc += x
        count += 1
        tl.barrier()          # barriers stay legal: the guards are uniform
    tl.store(Y, (0,), acc)
    tl.store(Y, (N,), tl.full((N,), count, tl.f32))
    for j in tl.static_range(4):
        if j == 2:            # a compile-time break drops the later unrolled iterations
            break
        tl.store(Y, (2 * N + j * N,), acc * 2.0)


def early_exit_reference(x, n, lim):
    y = np.zeros(6 * N, np.float32)
    acc = np.zeros(N, np.float32)
    count = 0
    for i in range(n):
        xi = x[i * N:(i + 1) * N]
        if i % 3 == 1:
            continue
        if xi.sum(dtype=np.float32) > lim:
            break
        acc += xi
        count += 1
    y[:N], y[N:2 * N] = acc, count
    for j in range(4):
        if j == 2:
            break
        y[(2 + j) * N:(3 + j) * N] = acc * 2
    return y


@pytest.mark.parametrize("target", ["interp", "emulate:sm_80", "emulate:sm_90a",
                                    "emulate:gfx942"])
@pytest.mark.parametrize("lim", [1e9, 5.0, 0.0, -1e9])
def test_break_and_continue_match_python(target, lim):
    x = np.random.default_rng(0).standard_normal(10 * N).astype(np.float32)
    y = np.zeros(6 * N, np.float32)
    early_exit[(1,)](x, y, 10, lim, target=target)
    np.testing.assert_allclose(y, early_exit_reference(x, 10, lim), rtol=1e-5, atol=1e-5)


def _trace(kernel, *params):
    return kernel.trace(kernel.make_specialization(tuple(params), {})).functions[0]


def test_break_flag_is_carried_and_continue_flag_is_not():
    fn = _trace(early_exit, ParamSpec("X", tl.f32, 1), ParamSpec("Y", tl.f32, 1),
                ParamSpec("n", tl.i32, None), ParamSpec("lim", tl.f32, None))
    (loop,) = [op for op in ops.walk(fn.body) if isinstance(op, ops.ForOp)]
    carried = [a.name for a in loop.body.args[1:]]
    assert any(n.startswith("__tl_break_") for n in carried)
    assert not any(n.startswith("__tl_continue_") for n in carried)
    assert len(carried) == 3  # the break flag, acc and count


@pytest.mark.parametrize("target", ["sm_80", "sm_90a", "gfx90a", "gfx942"])
def test_compiles_for_every_gpu_target(target):
    c = early_exit.compile("X=f32[1],Y=f32[1],n=i32,lim=f32", target=target)
    binary = c.cubin if target.startswith("sm") else c.code_object
    if binary is not None:  # ptxas / hipcc found
        assert binary[:4] == b"\x7fELF"
    assert (c.ptx or c.hip)


@tl.kernel
def break_in_pipeline(X, n):
    for i in tl.pipeline(n, stages=2):
        if i > 3:
            break


@tl.kernel
def break_on_a_tile(X, n):
    for i in range(n):
        x = tl.load(X, (i * 4,), (4,))
        if x > 0:
            break


def test_unsupported_jumps_are_located_compile_errors():
    x = np.zeros(64, np.float32)
    with pytest.raises(tl.CompileError, match="tl.pipeline loop is not supported") as e:
        break_in_pipeline[(1,)](x, 4, target="interp")
    assert "range(n)" in e.value.hint
    with pytest.raises(tl.CompileError, match="condition must be a scalar") as e:
        break_on_a_tile[(1,)](x, 4, target="interp")
    assert "test_jumps.py" in str(e.value)


