"""``tl.argmax`` / ``tl.argmin`` against numpy (first index on ties, the first NaN wins)
on the interpreter and the emulators, and their PTX and HIP compile."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.errors import CompileError


@tl.kernel(num_warps=2)
def arg_rows(X: tl.Tensor, MAX: tl.Tensor, MIN: tl.Tensor, ALL: tl.Tensor,
             R: tl.constexpr, C: tl.constexpr, AXIS: tl.constexpr):
    x = tl.load(X, (0, 0), (R, C), other=0)
    if AXIS == 1:
        tl.store(MAX, (0,), tl.argmax(x, 1))
        tl.store(MIN, (0,), tl.argmin(x, 1))
    else:
        tl.store(MAX, (0,), tl.argmax(x, 0))
        tl.store(MIN, (0,), tl.argmin(x, 0))
    tl.store(ALL, (0,), tl.argmax(x, None, keepdims=True).reshape((1,)))


def _run(x: np.ndarray, axis: int, target: str) -> tuple[np.ndarray, ...]:
    n = x.shape[1 - axis]
    mx, mn, al = np.zeros(n, np.int32), np.zeros(n, np.int32), np.zeros(1, np.int32)
    arg_rows[(1,)](x, mx, mn, al, R=x.shape[0], C=x.shape[1], AXIS=axis, target=target)
    return mx, mn, al


# few distinct values so that ties are common; NaNs and signed zeros included
VALUES = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, np.inf, -np.inf, np.nan])


@st.composite
def tiles(draw, dtype):
    r, c = draw(st.sampled_from([(4, 32), (8, 16), (16, 8)]))
    if dtype == np.float32:
        nan_rate = draw(st.sampled_from([0.0, 0.05]))
        vals = draw(st.lists(VALUES, min_size=r * c, max_size=r * c))
        x = np.array(vals, np.float32)
        if nan_rate == 0.0:
            x[np.isnan(x)] = 3.0
        return x.reshape(r, c)
    vals = draw(st.lists(st.integers(-3, 3), min_size=r * c, max_size=r * c))
    return np.array(vals, dtype).reshape(r, c)


@pytest.mark.parametrize("target", ["interp", "emulate:sm_80", "emulate:gfx942"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@settings(max_examples=8, deadline=None)
@given(data=st.data(), axis=st.sampled_from([0, 1]))
def test_argmax_argmin_match_numpy(data, axis, dtype, target):
    x = data.draw(tiles(dtype))
    mx, mn, al = _run(x, axis, target)
    np.testing.assert_array_equal(mx, np.argmax(x, axis=axis))
    np.testing.assert_array_equal(mn, np.argmin(x, axis=axis))
    assert al[0] == np.argmax(x)


def test_first_nan_and_first_tie_win():
    x = np.zeros((4, 32), np.float32)
    x[0, [3, 7]] = 5.0                 # a tie: the first index
    x[1, [9, 4]] = np.nan              # the first NaN, even below larger values
    x[1, 2] = np.inf
    x[2, :] = -0.0
    x[2, 5] = 0.0                      # -0.0 == 0.0: index 0
    for target in ("interp", "emulate:sm_90a"):
        mx, mn, _ = _run(x, 1, target)
        assert list(mx) == [3, 4, 0, 0] and list(mn) == [0, 4, 0, 0]


@tl.kernel
def arg_of_scalar(OUT: tl.Tensor):
    tl.store(OUT, (0,), tl.argmax(1.0, 0))


def test_argmax_of_a_number_is_a_compile_error():
    with pytest.raises(CompileError, match="tl.argmax needs a tile") as e:
        arg_of_scalar[(1,)](np.zeros(1, np.int32), target="interp")
    assert "test_argreduce.py" in str(e.value)


def _fn(arch: str):
    return arg_rows.compile("X=f32[2]:16,MAX=i32[1]:16,MIN=i32[1]:16,ALL=i32[1]:16",
                            target=f"emulate:{arch}", R=8, C=16, AXIS=1).function


@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
def test_ptx_assembles(arch):
    from tilelang.codegen.nvidia import ptxas
    from tilelang.codegen.nvidia.ptx import emit_ptx
    ptx = emit_ptx(_fn(arch), arch)
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
