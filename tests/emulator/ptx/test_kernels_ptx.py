"""Test kernels beyond the examples on ``emulate-ptx:*``: tile-order options and
persistent launches, a row reduction through shared memory, and the race a lowering
without barriers leaves, seen in its PTX."""

from __future__ import annotations

import copy

import ml_dtypes
import numpy as np
import pytest

import tilelang as tl
from tests.examples.test_examples import load_example
from tilelang.emulator.ptx.errors import PtxError
from tilelang.passes import pipeline, run_pipeline
from tilelang.runtime.targets import get_target

PTX_TARGETS = ["emulate-ptx:sm_80", "emulate-ptx:sm_90a"]


@tl.kernel
def center_rows(X: tl.Tensor, Y: tl.Tensor, BM: tl.constexpr = 4, BN: tl.constexpr = 64):
    m0 = tl.program_id(0) * BM
    x = tl.load(X, (m0, 0), (BM, BN))
    s = tl.sum(x, 1)
    tl.store(Y, (m0, 0), x - tl.reshape(s, (BM, 1)))


@pytest.mark.parametrize("target", PTX_TARGETS)
@pytest.mark.parametrize("M, N", [(10, 50), (8, 64)])
def test_a_shared_memory_reduction_matches_the_interpreter(M, N, target):
    x = np.random.default_rng(M).standard_normal((M, N)).astype(np.float32)
    got, want = np.full_like(x, np.nan), np.full_like(x, np.nan)
    grid = (-(-M // 4),)
    center_rows[grid](x, got, target=target)
    center_rows[grid](x, want, target="interp")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_lowering_without_barriers_is_a_race_in_its_ptx():
    from tilelang.codegen.nvidia.ptx import emit_ptx
    target = "emulate-ptx:sm_80"
    compiled = center_rows.compile("X=f32[2],Y=f32[2]", target=target)
    passes = [p for p in pipeline("gpu") if p[0] != "insert-barriers"]
    from tilelang.hardware import ARCHS
    from tilelang.passes.gpu.target_facts import with_target_facts
    module = with_target_facts(center_rows.trace(compiled.spec), ARCHS["sm_80"])
    fn = run_pipeline(module, passes).module.function()
    bad = copy.copy(compiled)
    bad.artifacts = dict(compiled.artifacts, ptx=emit_ptx(fn, "sm_80"))
    bad.program = None
    assert bad.ptx.count("bar.sync") < compiled.ptx.count("bar.sync")
    x = np.ones((8, 64), np.float32)
    with pytest.raises(PtxError, match="race") as info:
        get_target(target).launch(bad, (2, 1, 1), [x, np.zeros_like(x)], center_rows)
    text = str(info.value)
    assert "center_rows" in text and "program_id=(0, 0, 0)" in text
    # the failing instruction's .loc names the kernel's Python line
    assert f"{__file__}:" in text and info.value.loc.file == __file__


OPTIONS = [{"group_m": 2}, {"persistent": True}, {"persistent": 5, "group_m": 1}]


@pytest.mark.slow
@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("target", PTX_TARGETS)
def test_matmul_tile_orders_and_persistent_launches(target, options):
    mm = load_example("matmul")
    k = tl.kernel(mm.matmul.fn, num_warps=4, **options)
    M, N, K = 150, 100, 70
    rng = np.random.default_rng(1)
    a = rng.standard_normal((M, K)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((K, N)).astype(ml_dtypes.bfloat16)
    c = np.zeros((M, N), ml_dtypes.bfloat16)
    k[(tl.cdiv(M, 32), tl.cdiv(N, 32))](a, b, c, BM=32, BN=32, BK=32, STAGES=2, target=target)
    ref = mm.reference(a, b)
    assert np.max(np.abs(c.astype(np.float64) - ref)) / np.max(np.abs(ref)) <= mm.TOLERANCE


@pytest.mark.parametrize("target", PTX_TARGETS)
@pytest.mark.parametrize("name", ["softmax", "layernorm"])
def test_bf16_row_kernels(name, target):
    mod = load_example(name)
    err, ok = mod.run(target, M=9, N=200, dtype="bfloat16")
    assert ok, err


def _bf16(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape).astype(ml_dtypes.bfloat16)


@pytest.mark.slow
@pytest.mark.parametrize("M, N, K, stages, BM", [
    (128, 64, 256, 3, 128),  # every stage of the ring reused (wgmma)
    (140, 72, 200, 2, 128),  # edge tiles
    (33, 48, 24, 4, 32),     # fewer iterations than stages; mma.sync
])
def test_warp_specialized_matmuls_match_the_interpreter(M, N, K, stages, BM):
    from tests.emulator.ptx.kernels import mm
    kern = tl.kernel(mm, num_warps=8)
    sig = "A=bf16[2]:16,B=bf16[2]:16,C=f32[2]:16"
    assert "tl.warp_specialize" in kern.compile(sig, target="emulate-ptx:sm_90a",
                                                STAGES=stages, BM=BM, BN=64).ir["simplify"]
    rng = np.random.default_rng(M * N + K)
    a, b = _bf16(rng, (M, K)), _bf16(rng, (K, N))
    outs = []
    for target in ("emulate-ptx:sm_90a", "interp"):
        out = np.zeros((M, N), np.float32)
        kern[(-(-M // BM), -(-N // 64))](a, b, out, STAGES=stages, BM=BM, BN=64,
                                        target=target)
        outs.append(out)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("group_m", [None, 2])
def test_persistent_warp_specialized_rings_continue_across_tiles(group_m):
    from tests.emulator.ptx.kernels import mm
    pk = tl.kernel(mm, num_warps=8, persistent=2, group_m=group_m)
    M, N, K = 300, 136, 160
    rng = np.random.default_rng(1)
    a, b = _bf16(rng, (M, K)), _bf16(rng, (K, N))
    got, want = np.zeros((M, N), np.float32), np.zeros((M, N), np.float32)
    grid = (-(-M // 128), -(-N // 64))
    pk[grid](a, b, got, BM=128, BK=32, target="emulate-ptx:sm_90a")
    tl.kernel(mm, num_warps=8)[grid](a, b, want, BM=128, BK=32, target="interp")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_a_128x256x64_wgmma_tile_with_three_stages():
    kern = tl.kernel(load_example("matmul").matmul.fn, num_warps=8)
    consts = {"BM": 128, "BN": 256, "BK": 64, "STAGES": 3}
    rng = np.random.default_rng(11)
    a, b = _bf16(rng, (130, 256)), _bf16(rng, (256, 248))
    outs = []
    for target in ("emulate-ptx:sm_90a", "interp"):
        out = np.zeros((130, 248), a.dtype)
        kern[(2, 1)](a, b, out, target=target, **consts)
        outs.append(out.astype(np.float32))
    np.testing.assert_allclose(outs[0], outs[1], rtol=2 ** -7, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("causal", [False, True])
def test_warp_specialized_attention_with_128_row_blocks(causal):
    fa = load_example("flash_attention")
    kern = tl.kernel(fa.flash_attention.fn, num_warps=8)
    consts = {"HEAD_DIM": 64, "BM": 128, "BN": 64, "CAUSAL": causal}
    rng = np.random.default_rng(7)
    q, k, v = (_bf16(rng, (1, 2, 200, 64)) for _ in range(3))
    o = np.zeros((1, 2, 200, 64), q.dtype)
    kern[(2, 2)](q, k, v, o, 0.125, target="emulate-ptx:sm_90a", **consts)
    ref = fa.reference(q, k, v, 0.125, causal)
    assert np.abs(o.astype(np.float64) - ref).max() <= fa.TOLERANCE * np.abs(ref).max()
