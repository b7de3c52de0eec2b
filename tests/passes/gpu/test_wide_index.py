"""64-bit indexing: a tensor with a dim or stride of 2**31 elements or more gets the
``wide`` specialization (i64 shapes, strides and indices) on every tier, while
every other tensor keeps i32. Huge shapes are strided views of a few real
elements (stride 0 along the huge axis), so nothing large is allocated."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import as_strided

import tilelang as tl
from tests.codegen.amd.test_hip import needs_hipcc
from tilelang.codegen.abi import kernel_abi
from tilelang.codegen.c_host import c_params
from tilelang.codegen.nvidia import ptxas
from tilelang.ir.parser import parse_module
from tilelang.ir.printer import print_module

TIERS = ["emulate:sm_80", "emulate:sm_90a", "emulate:gfx942", "emulate-ptx:sm_80"]
HUGE = 2**31 + 1024
ROWS = 4


def rows_view(n: int = HUGE) -> np.ndarray:
    """A ``ROWS x n`` f32 view whose element ``[r, c]`` is ``r``: 16 real bytes."""
    base = np.arange(ROWS, dtype=np.float32)
    return as_strided(base, shape=(ROWS, n), strides=(4, 0))


@tl.kernel(num_warps=4)
def window(X: tl.Tensor, Y: tl.Tensor, start: tl.i64, W: tl.constexpr = 128):
    # the (ROWS, W) window of X at column `start`; -1 past the end of the row
    tl.store(Y, (0, 0), tl.load(X, (0, start), (4, W), other=-1.0))


@tl.kernel(num_warps=4)
def last_columns(X: tl.Tensor, Y: tl.Tensor, W: tl.constexpr = 128):
    # offsets from the tensor's own (i64) shape, past its end in program 1
    n = X.shape[1]
    tl.store(Y, (0, tl.program_id(0) * W),
             tl.load(X, (0, n - W + tl.program_id(0) * W), (4, W), other=-1.0))


def expected(start: int, w: int = 128, n: int = HUGE) -> np.ndarray:
    cols = start + np.arange(w)
    out = np.broadcast_to(np.arange(ROWS, dtype=np.float32)[:, None], (ROWS, w)).copy()
    out[:, (cols < 0) | (cols >= n)] = -1.0
    return out


def test_the_wide_fact_is_read_off_the_array():
    from tilelang.runtime.facts import array_facts
    assert "wide" in array_facts(rows_view(), tl.f32)
    assert "wide" not in array_facts(rows_view(2**31 - 1), tl.f32)
    assert "wide" not in array_facts(np.zeros((64, 64), np.float32), tl.f32)
    # a stride of 2**31 elements, on a view that is never read
    big_stride = as_strided(np.zeros(1, np.float32), shape=(2, 1), strides=(2**33, 4))
    assert "wide" in array_facts(big_stride, tl.f32)


def test_only_wide_tensors_index_in_64_bits():
    narrow = last_columns.compile("X=f32[2],Y=f32[2]").module
    wide = last_columns.compile("X=f32[2]:wide,Y=f32[2]").module
    assert "tl.tensor_dim(tensor = %X) {dim = 1} : i32" in print_module(narrow)
    text = print_module(wide)
    assert "tensor<f32, 2, wide>" in text and "{dim = 1} : i64" in text
    assert parse_module(text) == wide


def test_signature_facts():
    abi = kernel_abi(last_columns.compile("X=f32[2]:16,Y=f32[2]:aligned+wide",
                                          target="sm_80").function)
    formats = {(p.source, p.role): p.format for p in abi.params if p.role == "dim"}
    assert formats == {("X", "dim"): "i", ("Y", "dim"): "q"}


@pytest.mark.parametrize("target", ["interp", *TIERS])
def test_offsets_past_two_to_the_31_on_every_tier(target):
    x = rows_view()
    y = np.zeros((ROWS, 256), np.float32)
    last_columns[(2,)](x, y, target=target)
    np.testing.assert_array_equal(y[:, :128], expected(HUGE - 128))
    np.testing.assert_array_equal(y[:, 128:], expected(HUGE))


starts = st.integers(2**31 - 300, HUGE + 100) | st.integers(HUGE - 200, HUGE + 10) | \
    st.integers(-200, 100)


@settings(max_examples=20, deadline=None)
@given(start=starts)
def test_the_interpreter_reads_the_numpy_window(start):
    y = np.zeros((ROWS, 128), np.float32)
    window[(1,)](rows_view(), y, start, target="interp")
    np.testing.assert_array_equal(y, expected(start))


@pytest.mark.parametrize("target", TIERS)
@settings(max_examples=4, deadline=None)
@given(start=starts)
def test_the_emulators_equal_the_interpreter(start, target):
    got, want = (np.zeros((ROWS, 128), np.float32) for _ in range(2))
    window[(1,)](rows_view(), got, start, target=target)
    window[(1,)](rows_view(), want, start, target="interp")
    np.testing.assert_array_equal(got, want)


def test_a_launch_picks_the_specialization_by_the_array():
    small = np.arange(ROWS * 256, dtype=np.float32).reshape(ROWS, 256)
    y = np.zeros((ROWS, 256), np.float32)
    last_columns[(2,)](small, y, target="emulate:sm_80")
    np.testing.assert_array_equal(y[:, :128], small[:, 128:])
    last_columns[(2,)](rows_view(), y, target="emulate:sm_80")
    np.testing.assert_array_equal(y[:, 128:], expected(HUGE))


def test_the_c_launcher_takes_64_bit_dims_for_a_wide_tensor():
    fn = last_columns.compile("X=f32[2]:wide,Y=f32[2]", target="sm_80").function
    types = {p.name: p.c_type for p in c_params(fn)}
    assert types["X_dim1"] == "int64_t" and types["X_stride0"] == "int64_t"
    assert types["Y_dim1"] == "int32_t"


SIG = "X=f32[2]:16+wide,Y=f32[2]:16"


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
def test_ptx_assembles(arch):
    if ptxas.find_ptxas() is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc)")
    compiled = last_columns.compile(SIG, target=arch)
    params = [line.strip() for line in compiled.ptx.splitlines() if ".param" in line]
    # X: pointer, two dims and two strides in 64 bits; Y's dims in 32
    assert all(p.startswith(".param .u64") for p in params[:5]), params
    assert params[6].startswith(".param .u32"), params
    assert ptxas.assemble(compiled.ptx, arch).cubin


@needs_hipcc
@pytest.mark.slow
def test_hip_compiles():
    compiled = last_columns.compile(SIG, target="gfx942")
    assert "long long X_shape1" in compiled.hip
    assert compiled.code_object[:4] == b"\x7fELF"


@pytest.mark.slow
def test_hip_source_of_the_wide_code_runs_on_the_host():
    # the 64-bit specialization launched on a small array: its long long shape and
    # stride parameters and i64 index arithmetic give the numpy answer
    from tests.codegen.amd.hip_host import find_clangxx
    if find_clangxx() is None:
        pytest.skip("clang++ not found")
    from tests.codegen.amd.hip_host_block import registered
    with registered("gfx942") as target:
        compiled = last_columns.compile("X=f32[2]:wide,Y=f32[2]", target=target.name)
        x = np.arange(ROWS * 200, dtype=np.float32).reshape(ROWS, 200)
        y = np.zeros((ROWS, 256), np.float32)
        target.launch(compiled, (2, 1, 1), [x, y], last_columns)
        want = np.full((ROWS, 256), -1.0, np.float32)
        want[:, :128] = x[:, 72:]
        np.testing.assert_array_equal(y, want)
