"""examples/flex_attention.py: every hook on every CPU tier, block sparsity that
really skips blocks, rows that see no key, and the hooked kernels through ptxas
and hipcc."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

import tilelang as tl
from tests.codegen.amd.test_hip import needs_hipcc
from tests.examples.test_examples import check, load_example
from tilelang.codegen.nvidia import ptxas

ex = load_example("flex_attention")


@tl.func
def late_start(b, h, q_idx, kv_idx, aux):
    """The first 40 queries see no key; the others see keys up to themselves."""
    return (q_idx >= 40) & (kv_idx <= q_idx)


def _inputs(seq: int, heads: int = 2, d: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal((1, heads, seq, d)).astype(ml_dtypes.bfloat16)
                 for _ in range(3))


@pytest.mark.parametrize("case", list(ex.CASES))
@pytest.mark.parametrize("seq, BM, BN", [(150, 64, 64), (75, 32, 16)])
def test_every_hook_on_the_interpreter(case, seq, BM, BN):
    check(ex.run("interp", case=case, seq=seq, BM=BM, BN=BN), ex.TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["emulate:sm_80", "emulate:sm_90a", "emulate:gfx942"])
@pytest.mark.parametrize("case", ["sliding window 48", "alibi causal", "softcap 5"])
def test_hooks_in_the_emulator(case, target):
    check(ex.run(target, case=case, seq=80, BM=32, BN=32), ex.TOLERANCE)


def test_the_block_mask_classifies_blocks():
    aux = ex.alibi_slopes(2)
    causal = ex.create_block_mask(ex.causal, 1, 2, 100, 100, aux, 32, 32)
    # query block i sees key blocks 0..i, all but the diagonal one full
    assert causal.num[0, 0].tolist() == [1, 2, 3, 4]
    assert causal.full[0, 0].sum(axis=-1).tolist() == [0, 1, 2, 3]
    assert causal.idx[0, 0, 3].tolist() == [0, 1, 2, 3]
    window = ex.create_block_mask(ex.sliding_window(40), 1, 2, 100, 100, aux, 32, 32)
    assert window.density() < causal.density() < 1.0
    assert window.idx[0, 0, 3, :window.num[0, 0, 3]].tolist() == [1, 2, 3]


def test_skipped_blocks_are_never_read():
    # NaN in the values of every key block a query block does not visit: a kernel
    # that loaded one would spread it through P @ V
    q, k, v = _inputs(128)
    bm = ex.create_block_mask(ex.sliding_window(32), 1, 2, 128, 128, ex.alibi_slopes(2),
                              32, 32)
    poisoned = v.copy()
    poisoned[:, :, :32] = np.nan          # key block 0: only query block 0 visits it
    o = ex.attention(q, k, poisoned, 0.125, mask_mod=ex.sliding_window(32), block_mask=bm)
    assert np.isnan(o[:, :, :32].astype(np.float32)).any()
    assert np.isfinite(o[:, :, 64:].astype(np.float32)).all()
    ref = ex.reference(q, k, v, 0.125, None, ex.np_sliding_window(32), ex.alibi_slopes(2))
    np.testing.assert_allclose(o[:, :, 64:].astype(np.float64), ref[:, :, 64:],
                               atol=ex.TOLERANCE * np.abs(ref).max())


@pytest.mark.parametrize("target", ["interp", "emulate:sm_80"])
def test_rows_that_see_no_key_are_zero(target):
    q, k, v = _inputs(72)
    aux = ex.alibi_slopes(2)
    bm = ex.create_block_mask(late_start, 1, 2, 72, 72, aux, 32, 32, target)
    o = ex.attention(q, k, v, 0.125, mask_mod=late_start, aux=aux, block_mask=bm,
                     target=target).astype(np.float64)
    assert (o[:, :, :40] == 0).all()
    ref = ex.reference(q, k, v, 0.125, None,
                       lambda b, h, qi, ki, a: (qi >= 40) & (ki <= qi), aux)
    assert np.abs(o - ref).max() <= ex.TOLERANCE * np.abs(ref).max()


T = "bf16[4]:16"
SIG = (f"Q={T},K={T},V={T},O={T},AUX=f32[1]:16,KV_NUM=i32[3]:16,KV_IDX=i32[4]:16,"
       f"KV_FULL=i32[4]:16,sm_scale=f32")
HOOKS = ["alibi-causal", "softcap-window"]


def _hooks(name):
    if name == "alibi-causal":
        return dict(SCORE_MOD=ex.alibi, MASK_MOD=ex.causal)
    return dict(SCORE_MOD=ex.softcap(5.0), MASK_MOD=ex.sliding_window(64))


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("hooks", HOOKS)
def test_hooked_kernels_assemble(hooks, arch):
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    compiled = ex.flex_attention.compile(SIG, target=arch, HEAD_DIM=64, **_hooks(hooks))
    result = ptxas.assemble(compiled.ptx, arch, verbose=True)
    assert result.cubin and result.spill_bytes == 0, result.log
    mask = ex.block_mask_kernel.compile("AUX=f32[1]:16,FLAGS=i32[4]:16,SQ=i32,SKV=i32",
                                        target=arch, MASK_MOD=ex.causal)
    assert ptxas.assemble(mask.ptx, arch).cubin


@needs_hipcc
@pytest.mark.slow
@pytest.mark.parametrize("hooks", HOOKS)
def test_hooked_kernels_compile_with_hipcc(hooks):
    compiled = ex.flex_attention.compile(SIG, target="gfx942", HEAD_DIM=64, **_hooks(hooks))
    assert compiled.code_object[:4] == b"\x7fELF"
    assert "warning" not in compiled.artifacts["hipcc_log"]


def test_the_script_prints_ok():
    from tests.examples.test_examples import EXAMPLES, run_script
    proc = run_script(str(EXAMPLES / "flex_attention.py"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAILED" not in proc.stdout and proc.stdout.count("OK") == len(ex.CASES)


def test_a_hook_closure_keeps_its_value_in_the_kernel():
    # two windows, one source: the kernels differ (in memory and in the disk cache)
    q, k, v = _inputs(96, seed=1)
    a = ex.attention(q, k, v, 1 / math.sqrt(64), mask_mod=ex.sliding_window(8))
    b = ex.attention(q, k, v, 1 / math.sqrt(64), mask_mod=ex.sliding_window(64))
    assert np.abs(a.astype(np.float64) - b.astype(np.float64)).max() > 0.1
