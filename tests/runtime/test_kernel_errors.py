"""Errors found while a kernel runs in the interpreter name kernel, program id, file and line."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tilelang as tl

THIS_FILE = __file__


def line_of(kernel, needle: str) -> int:
    lines, first = inspect.getsourcelines(kernel.fn)
    return first + next(i for i, text in enumerate(lines) if needle in text)


@tl.kernel
def k_bad_mask(X, Y, BLOCK: tl.constexpr = 8):
    off = tl.program_id(0) * BLOCK
    idx = off + tl.arange(BLOCK)
    x = tl.load(X, (off,), (BLOCK,), mask=idx < 100)
    tl.store(Y, (off,), x)


def test_mask_that_lets_an_out_of_bounds_index_through():
    x = np.arange(20, dtype=np.float32)
    y = np.zeros_like(x)
    with pytest.raises(tl.KernelError) as e:
        k_bad_mask[(3,)](x, y, target="interp")
    text = str(e.value)
    assert "k_bad_mask" in text and "program_id=(2, 0, 0)" in text
    assert f"{THIS_FILE}:{line_of(k_bad_mask, 'mask=idx < 100')}" in text
    assert "mask" in text and e.value.hint


def test_implicit_bounds_need_no_mask():
    x = np.arange(20, dtype=np.float32)
    y = np.full_like(x, -1)
    k_good[(3,)](x, y, target="interp")
    np.testing.assert_array_equal(y, x)


@tl.kernel
def k_good(X, Y, BLOCK: tl.constexpr = 8):
    off = tl.program_id(0) * BLOCK
    tl.store(Y, (off,), tl.load(X, (off,), (BLOCK,)))


@tl.kernel
def k_uninit_shared(X, Y):
    s = tl.alloc_shared((8,), tl.f32)
    if tl.program_id(0) == 0:
        tl.copy(X, (0,), s)
    tl.store(Y, (0,), s.load())


def test_read_of_never_written_shared_memory():
    x = np.arange(8, dtype=np.float32)
    y = np.zeros_like(x)
    k_uninit_shared[(1,)](x, y, target="interp")  # program 0 writes before reading
    with pytest.raises(tl.KernelError, match="never written") as e:
        k_uninit_shared[(2,)](x, y, target="interp")
    text = str(e.value)
    assert "k_uninit_shared" in text and "program_id=(1, 0, 0)" in text
    assert f"{THIS_FILE}:{line_of(k_uninit_shared, 's.load()')}" in text


@tl.kernel
def k_assert(X, n):
    x = tl.load(X, (0,), (4,))
    tl.device_assert(x < n, "x must stay below n")


def test_failed_device_assert():
    x = np.array([0, 1, 2, 3], np.float32)
    k_assert[(1,)](x, 10, target="interp")
    with pytest.raises(tl.KernelError, match="x must stay below n") as e:
        k_assert[(2, 1, 1)](x, 3, target="interp")
    text = str(e.value)
    assert "k_assert" in text and "program_id=(0, 0, 0)" in text
    assert f"{THIS_FILE}:{line_of(k_assert, 'tl.device_assert')}" in text


def test_tilelang_interpret_env_selects_the_interpreter(monkeypatch):
    monkeypatch.setenv("TILELANG_INTERPRET", "1")
    x = np.arange(20, dtype=np.float32)
    y = np.zeros_like(x)
    k_good[(3,)](x, y)
    np.testing.assert_array_equal(y, x)


@tl.kernel
def k_print(X):
    tl.print("x =", tl.load(X, (0,), (2,)))


def test_print_shows_program_and_values(capsys):
    k_print[(1,)](np.array([1.5, 2.5], np.float32), target="interp")
    out = capsys.readouterr().out
    assert "k_print" in out and "x =" in out and "1.5" in out and "2.5" in out


def test_host_only_targets_reject_device_arrays():
    class DeviceArray:
        __cuda_array_interface__ = {"shape": (4,), "typestr": "<f4", "data": (0, False),
                                    "version": 3}
        shape = (4,)
        dtype = np.dtype(np.float32)

    with pytest.raises(tl.LaunchError, match="not in host memory"):
        k_good[(1,)](DeviceArray(), np.zeros(4, np.float32), target="interp")


def test_gpu_launch_without_a_device_says_what_to_do():
    x = np.zeros(8, np.float32)
    with pytest.raises(tl.LaunchError, match="no CUDA device found") as e:
        k_good[(1,)](x, x.copy(), target="sm_90a")
    assert "emulate:sm_90a" in e.value.hint


def test_amd_launch_without_a_gpu_says_what_to_do():
    from tilelang.runtime import hip_driver
    previous = hip_driver.set_default_driver(None)   # the real one: no hip-python or no GPU
    try:
        x = np.zeros(8, np.float32)
        with pytest.raises(tl.LaunchError, match="no AMD GPU found") as e:
            k_good[(1,)](x, x.copy(), target="gfx942")
        assert "emulate:gfx942" in e.value.hint
    finally:
        hip_driver.set_default_driver(previous)


def test_plain_emulate_means_sm_80():
    x = np.arange(20, dtype=np.float32)
    y = np.zeros_like(x)
    k_good[(3,)](x, y, target="emulate")
    np.testing.assert_array_equal(y, x)
    assert any(key[0] == "emulate:sm_80" for key in k_good._compiled)


def test_compile_for_a_gpu_gives_ptx_without_a_gpu():
    compiled = k_good.compile("X=f32[1],Y=f32[1]", target="sm_80")
    assert ".target sm_80" in compiled.ptx and ".entry k_good" in compiled.ptx
    assert list(compiled.ir)[0] == "input" and "lower-to-threads" in compiled.ir
