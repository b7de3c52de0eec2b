"""``tl.sort`` (bitonic network along the last axis) against ``np.sort`` on the
interpreter, the emulators and the emitted PTX (emulate-ptx): NaNs last ascending, first descending; PTX and HIP compile."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.errors import CompileError


@tl.kernel(num_warps=2)
def sort_rows(X: tl.Tensor, UP: tl.Tensor, DOWN: tl.Tensor, R: tl.constexpr, C: tl.constexpr):
    x = tl.load(X, (0, 0), (R, C))
    tl.store(UP, (0, 0), tl.sort(x))
    tl.store(DOWN, (0, 0), tl.sort(x, descending=True))


def _run(x: np.ndarray, target: str) -> tuple[np.ndarray, np.ndarray]:
    up, down = np.zeros_like(x), np.zeros_like(x)
    sort_rows[(1,)](x, up, down, R=x.shape[0], C=x.shape[1], target=target)
    return up, down


VALUES = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, -7.0, np.inf, -np.inf, np.nan, 1e-30])


@pytest.mark.parametrize("target", ["interp", "emulate:sm_80", "emulate:gfx942"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@settings(max_examples=5, deadline=None)
@given(data=st.data(), shape=st.sampled_from([(2, 32), (4, 16), (1, 64), (8, 2)]))
def test_sort_matches_numpy(data, shape, dtype, target):
    n = shape[0] * shape[1]
    if dtype == np.float32:
        x = np.array(data.draw(st.lists(VALUES, min_size=n, max_size=n)), np.float32)
    else:
        x = np.array(data.draw(st.lists(st.integers(-2**31, 2**31 - 1), min_size=n,
                                        max_size=n)), np.int32)
    x = x.reshape(shape)
    up, down = _run(x, target)
    want = np.sort(x, axis=-1)
    np.testing.assert_array_equal(up, want)           # NaN positions equal, -0.0 == 0.0
    np.testing.assert_array_equal(down, want[:, ::-1])


@pytest.mark.parametrize("target", ["emulate:sm_80", "emulate:sm_90a", "emulate:gfx942",
                                    "emulate-ptx:sm_80", "emulate-ptx:sm_90a"])
def test_every_tier_gives_the_interpreters_bits(target):
    x = np.random.default_rng(0).choice(np.array([0.0, -0.0, 1.0, np.nan], np.float32),
                                        (4, 32))
    for a, b in zip(_run(x, target), _run(x, "interp")):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


@tl.kernel
def sort_bad(X: tl.Tensor, Y: tl.Tensor, AXIS: tl.constexpr, C: tl.constexpr):
    tl.store(Y, (0, 0), tl.sort(tl.load(X, (0, 0), (4, C)), axis=AXIS))


@pytest.mark.parametrize("axis, c, message", [(0, 16, "last axis only"),
                                              (1, 24, "power-of-two last axis")])
def test_unsupported_sorts_are_compile_errors(axis, c, message):
    with pytest.raises(CompileError, match=message) as e:
        sort_bad[(1,)](np.zeros((4, c), np.float32), np.zeros((4, c), np.float32),
                       AXIS=axis, C=c, target="interp")
    assert "test_sort.py" in str(e.value)


def _fn(arch):
    return sort_rows.compile("X=f32[2]:16,UP=f32[2]:16,DOWN=f32[2]:16",
                             target=f"emulate:{arch}", R=4, C=32).function


@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
def test_ptx_assembles(arch):
    from tilelang.codegen.nvidia import ptxas
    from tilelang.codegen.nvidia.ptx import emit_ptx
    ptx = emit_ptx(_fn(arch), arch)
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    result = ptxas.assemble(ptx, arch)
    assert result.cubin[:4] == b"\x7fELF" and result.spill_bytes == 0


@pytest.mark.parametrize("arch", ["gfx90a", "gfx942"])
def test_hip_compiles(arch):
    from tests.codegen.amd.test_hip import _compile
    from tilelang.codegen.amd import hipcc
    try:
        hipcc.find_hipcc()
    except CompileError:
        pytest.skip("hipcc not found")
    _compile(_fn(arch), arch)
