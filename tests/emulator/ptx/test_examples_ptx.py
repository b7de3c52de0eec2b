"""Every example, and the sm_90a test kernels of wgmma operand forms and TMA stores,
run from their emitted PTX in the interpreter (``emulate-ptx:*``) and match numpy and
the interpreter."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from tests.examples.test_examples import check, load_example
from tests.examples.test_examples_lowered import RUNS

PTX_TARGETS = ["emulate-ptx:sm_80", "emulate-ptx:sm_90a"]


@pytest.mark.slow
@pytest.mark.parametrize("target", PTX_TARGETS)
@pytest.mark.parametrize("name, sizes", RUNS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RUNS)])
def test_example_runs_from_its_ptx(name, sizes, target):
    mod = load_example(name)
    tolerance = mod.TOLERANCE
    if isinstance(tolerance, dict):
        tolerance = tolerance["float32"]
    check(mod.run(target=target, **sizes), tolerance)


@pytest.mark.parametrize("target", PTX_TARGETS)
def test_vector_add_from_ptx_equals_the_interpreter_exactly(target):
    mod = load_example("vector_add")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((2, 777)).astype(np.float32)
    outs = []
    for t in ("interp", target):
        z = np.zeros_like(x)
        mod.vector_add[(mod.tl.cdiv(777, 256),)](x, y, z, BLOCK=256, target=t)
        outs.append(z)
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("target", PTX_TARGETS)
def test_matmul_from_ptx_equals_the_thread_emulator_exactly(target):
    """bf16 inputs, f32 accumulation: the tensor-core sums are exact in both emulators
    up to the final rounding, so the bf16 outputs agree bit for bit."""
    mod = load_example("matmul")
    rng = np.random.default_rng(5)
    a = rng.integers(-4, 5, (70, 50)).astype(ml_dtypes.bfloat16)
    b = rng.integers(-4, 5, (50, 40)).astype(ml_dtypes.bfloat16)
    outs = []
    for t in (target.replace("emulate-ptx", "emulate"), target, "interp"):
        c = np.zeros((70, 40), ml_dtypes.bfloat16)
        mod.matmul[(2, 1)](a, b, c, BM=64, BN=64, target=t)
        outs.append(c.astype(np.float32))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[1], outs[2])


@pytest.mark.slow
@pytest.mark.parametrize("trans_a, n, shift", [
    (False, 64, True), (True, 64, True), (False, 24, False), (True, 40, False)])
def test_wgmma_register_and_transposed_operands_from_ptx(trans_a, n, shift):
    from tests.emulator.ptx.kernels import scaled_dot
    rng = np.random.default_rng(n)
    a = rng.integers(-3, 4, (32, 64) if trans_a else (64, 32)).astype(ml_dtypes.bfloat16)
    b = rng.integers(-3, 4, (32, n)).astype(ml_dtypes.bfloat16)
    c = np.zeros((64, n), np.float32)
    scaled_dot[(1,)](a, b, c, TRANS_A=trans_a, N=n, SHIFT_B=shift,
                      target="emulate-ptx:sm_90a")
    a64 = a.astype(np.float64).T if trans_a else 2 * a.astype(np.float64)
    np.testing.assert_array_equal(c, a64 @ (b.astype(np.float64) + shift))


@pytest.mark.slow
@pytest.mark.parametrize("M, N, K, warps", [(100, 72, 64, 4), (130, 200, 96, 8)])
def test_tma_stores_from_ptx_clip_at_the_edges(M, N, K, warps):
    import tilelang as tl
    from tests.emulator.ptx.kernels import mm
    kern = tl.kernel(mm, num_warps=warps)
    BM = 64 if warps == 4 else 128
    rng = np.random.default_rng(M + N)
    a, b = (rng.standard_normal(s).astype(ml_dtypes.bfloat16) for s in ((M, K), (K, N)))
    outs = []
    for target in ("emulate-ptx:sm_90a", "interp"):
        out = np.full((M + 3, N), 7.0, a.dtype)[:M]          # rows past M hold 7s
        kern[(-(-M // BM), -(-N // 64))](a, b, out, BM=BM, target=target)
        outs.append(out.astype(np.float32))
    ptx = kern.compile("A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16", target="emulate-ptx:sm_90a",
                       BM=BM).ptx
    assert "cp.async.bulk.tensor" in ptx and "wgmma.mma_async" in ptx
    np.testing.assert_allclose(outs[0], outs[1], rtol=2 ** -7, atol=1e-6)
