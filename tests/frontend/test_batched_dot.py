"""``tl.dot`` on 3-D tiles (``[B, M, K] @ [B, K, N]``) equals numpy's batched matmul on
the interpreter and the emulators (B 2-D dots, tensor cores where the 2-D dot has
them), and its PTX and HIP compile."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.errors import CompileError


@tl.kernel(num_warps=4)
def bmm(A: tl.Tensor, B: tl.Tensor, C: tl.Tensor, NB: tl.constexpr, M: tl.constexpr,
        N: tl.constexpr, K: tl.constexpr, ACC: tl.constexpr = False):
    a = tl.load(A, (0, 0, 0), (NB, M, K))
    b = tl.load(B, (0, 0, 0), (NB, K, N))
    if ACC:
        c = tl.dot(a, b, tl.load(C, (0, 0, 0), (NB, M, N)))
    else:
        c = tl.dot(a, b)
    tl.store(C, (0, 0, 0), c.to(C.dtype))


def _run(a, b, c0, target, acc=False):
    c = c0.copy()
    nb, m, k = a.shape
    bmm[(1,)](a, b, c, NB=nb, M=m, N=b.shape[2], K=k, ACC=acc, target=target)
    return c


@pytest.mark.parametrize("target", ["interp", "emulate:sm_80", "emulate:gfx942"])
@settings(max_examples=4, deadline=None)
@given(nb=st.sampled_from([1, 2, 3]), dims=st.sampled_from([(16, 16, 16), (8, 32, 16)]),
       acc=st.booleans(), seed=st.integers(0, 2**16))
def test_batched_dot_matches_numpy_f32(nb, dims, acc, seed, target):
    m, n, k = dims
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((nb, m, k)).astype(np.float32)
    b = rng.standard_normal((nb, k, n)).astype(np.float32)
    c0 = rng.standard_normal((nb, m, n)).astype(np.float32)
    got = _run(a, b, c0, target, acc)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64)) + (c0 if acc else 0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("target", ["interp", "emulate:sm_80", "emulate:sm_90a",
                                    "emulate:gfx942", "emulate-ptx:sm_80", "emulate-ptx:sm_90a"])
def test_batched_dot_bf16_uses_the_2d_dot(target):
    import ml_dtypes
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 32, 32)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((2, 32, 32)).astype(ml_dtypes.bfloat16)
    got = _run(a, b, np.zeros((2, 32, 32), np.float32), target)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_special_values_stay_in_their_batch():
    a = np.ones((2, 16, 16), np.float32)
    b = np.ones((2, 16, 16), np.float32)
    a[1, 0, 0] = np.nan
    a[0, 3, :] = -0.0
    b[0] = 0.0
    got = _run(a, b, np.zeros((2, 16, 16), np.float32), "interp")
    assert np.isnan(got[1, 0]).all() and not np.isnan(got[0]).any()
    assert (got[0] == 0).all() and (got[1, 1:] == 16).all()


@tl.kernel
def bmm_mismatch(A: tl.Tensor, C: tl.Tensor):
    a = tl.load(A, (0, 0, 0), (2, 16, 16))
    b = tl.load(A, (0, 0, 0), (4, 16, 16))
    tl.store(C, (0, 0, 0), tl.dot(a, b))


def test_batch_mismatch_is_a_compile_error():
    with pytest.raises(CompileError, match="batch sizes differ") as e:
        bmm_mismatch[(1,)](np.zeros((4, 16, 16), np.float32), np.zeros((2, 16, 16), np.float32),
                           target="interp")
    assert "test_batched_dot.py" in str(e.value)


def _fn(arch):
    return bmm.compile("A=bf16[3]:16,B=bf16[3]:16,C=f32[3]:16", target=f"emulate:{arch}",
                       NB=2, M=32, N=32, K=32).function


@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
def test_ptx_assembles(arch):
    from tilelang.codegen.nvidia import ptxas
    from tilelang.codegen.nvidia.ptx import emit_ptx
    ptx = emit_ptx(_fn(arch), arch)
    assert "mma.sync" in ptx or "wgmma" in ptx, "each batch takes the tensor-core 2-D dot"
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    assert ptxas.assemble(ptx, arch).cubin[:4] == b"\x7fELF"


@pytest.mark.parametrize("arch", ["gfx90a", "gfx942"])
def test_hip_compiles(arch):
    from tests.codegen.amd.test_hip import _compile
    from tilelang.codegen.amd import hipcc
    try:
        hipcc.find_hipcc()
    except CompileError:
        pytest.skip("hipcc not found")
    _compile(_fn(arch), arch)
