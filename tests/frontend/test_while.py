"""``while`` loops on runtime conditions (``tl.while``), with ``break``/``continue``:
the same answers as Python on the interpreter, the thread emulator of every GPU
target and the HIP C++ run on the host; the IR; ptxas/hipcc compile checks; errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tilelang as tl
from tests.codegen.amd.hip_host import find_clangxx
from tilelang.frontend.kernel_def import ParamSpec
from tilelang.ir import ops
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module
from tilelang.ir.while_ops import WhileOp

N = 64


@tl.kernel(num_warps=2)
def scan_until(X, Y, n, lim, N: tl.constexpr = N):
    acc = tl.zeros((N,), tl.f32)
    i = 0
    while i < n and tl.sum(acc) < lim:   # scalars: the whole block decides together
        x = tl.load(X, (i * N,), (N,))
        i += 1
        if i == 3:
            continue
        acc += x
        tl.barrier()
        if tl.max(acc) > 100.0:
            break
    tl.store(Y, (0,), acc)
    tl.store(Y, (N,), tl.full((N,), i, tl.f32))


def scan_until_reference(x, n, lim):
    y = np.zeros(2 * N, np.float32)
    acc = np.zeros(N, np.float32)
    i = 0
    while i < n and acc.sum(dtype=np.float32) < lim:
        xi = x[i * N:(i + 1) * N]
        i += 1
        if i == 3:
            continue
        acc = acc + xi
        if acc.max() > 100.0:
            break
    y[:N], y[N:] = acc, i
    return y


def _x():
    return np.abs(np.random.default_rng(0).standard_normal(12 * N)).astype(np.float32)


@pytest.mark.parametrize("target", ["interp", "emulate:sm_80", "emulate:sm_90a",
                                    "emulate:gfx942"])
@pytest.mark.parametrize("n, lim", [(10, 1e9), (10, 80.0), (10, 0.0), (0, 1e9), (12, 150.0)])
def test_while_matches_python(target, n, lim):
    x = _x()
    y = np.zeros(2 * N, np.float32)
    scan_until[(1,)](x, y, n, lim, target=target)
    np.testing.assert_allclose(y, scan_until_reference(x, n, lim), rtol=1e-5)


@tl.kernel(num_warps=1)
def while_true(X, Y, n, N: tl.constexpr = 8):
    k = 0
    while True:
        k += 2
        if k >= n:
            break
    tl.store(Y, (0,), tl.full((N,), k, tl.i32))


@pytest.mark.parametrize("target", ["interp", "emulate:sm_80"])
def test_while_true_with_break(target):
    y = np.zeros(8, np.int32)
    while_true[(1,)](np.zeros(8, np.float32), y, 7, target=target)
    assert (y == 8).all()


SIG = "X=f32[1],Y=f32[1],n=i32,lim=f32"


def test_ir_carries_the_live_names_and_round_trips():
    spec = scan_until.make_specialization(
        (ParamSpec("X", tl.f32, 1), ParamSpec("Y", tl.f32, 1), ParamSpec("n", tl.i32, None),
         ParamSpec("lim", tl.f32, None)), {})
    m = scan_until.trace(spec)
    (loop,) = [op for op in ops.walk(m.functions[0].body) if isinstance(op, WhileOp)]
    names = sorted(re.sub(r"\d+$", "", a.name) for a in loop.body.args)
    assert [n for n in names if not n.startswith("__tl_")] == ["acc", "i"]  # x is local
    assert any(n.startswith("__tl_break_") for n in names)
    assert not any(n.startswith("__tl_continue_") for n in names)
    text = print_module(m)
    assert "tl.while(inits = [" in text and parse_module(text) == m
    thread = scan_until.compile(SIG, target="emulate:sm_80").module
    assert parse_module(print_module(thread)) == thread


@pytest.mark.parametrize("target", ["sm_80", "sm_90a", "gfx90a", "gfx942"])
def test_compiles_for_every_gpu_target(target):
    c = scan_until.compile(SIG, target=target)
    if target.startswith("sm"):
        assert re.search(r"\bbra(\.uni)?\s", c.ptx)  # the loop's back edge
        if c.cubin is not None:
            assert c.cubin[:4] == b"\x7fELF"
    else:
        assert "while (true) {" in c.hip
        if c.code_object is not None:
            assert c.code_object[:4] == b"\x7fELF"


@pytest.mark.skipif(find_clangxx() is None, reason="clang++ not found")
@pytest.mark.slow
def test_hip_source_on_the_host_matches_python():
    from tests.codegen.amd.hip_host_block import registered
    with registered("gfx942"):
        x = _x()
        for n, lim in [(10, 1e9), (10, 80.0), (0, 1.0)]:
            y = np.zeros(2 * N, np.float32)
            scan_until[(1,)](x, y, n, lim, target="hiphost:gfx942")
            np.testing.assert_allclose(y, scan_until_reference(x, n, lim), rtol=1e-5)


@tl.kernel
def endless(X):
    while True:
        tl.store(X, (0,), tl.zeros((4,), tl.f32))


@tl.kernel
def tile_condition(X):
    x = tl.load(X, (0,), (4,))
    while x < 3.0:
        x = x + 1.0


def test_errors_name_the_line_and_what_to_do():
    x = np.zeros(16, np.float32)
    with pytest.raises(tl.CompileError, match="always true and the loop has no `break`") as e:
        endless[(1,)](x, target="interp")
    assert "test_while.py" in str(e.value)
    with pytest.raises(tl.CompileError, match="condition must be a scalar") as e:
        tile_condition[(1,)](x, target="interp")
    assert "test_while.py" in str(e.value)
