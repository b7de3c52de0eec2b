"""Tensor facts read off arrays at launch, and their place in the specialization key."""

from __future__ import annotations

import numpy as np
import pytest

import tilelang as tl
from tilelang.runtime.facts import array_facts, facts_of
from tilelang.runtime.launcher import bind_arguments

ALL = ("aligned", "unit_stride", "divisible")


def at_offset(shape, dtype, misalign_bytes):
    """A C-contiguous array whose first element is ``misalign_bytes`` past a 64-byte
    boundary (numpy itself promises no alignment)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    raw = np.zeros(n + 128, np.uint8)
    start = (-raw.ctypes.data) % 64 + misalign_bytes
    return raw[start:start + n].view(dtype).reshape(shape)


@pytest.mark.parametrize("address, shape, strides, itemsize, facts", [
    (0x1000, (8, 16), (16, 1), 4, ALL),
    (0x1004, (8, 16), (16, 1), 4, ("unit_stride", "divisible")),
    (0x1000, (8, 18), (18, 1), 4, ("aligned", "unit_stride")),     # 18 % 4 != 0
    (0x1000, (8, 16), (1, 8), 4, ("aligned",)),                    # transposed
    (0x1000, (8, 16), (20, 1), 2, ("aligned", "unit_stride")),     # 20 % 8 != 0
    (0x1000, (16,), (1,), 8, ALL),
    (0x1000, (), (), 4, ("aligned",)),
])
def test_facts_of(address, shape, strides, itemsize, facts):
    assert facts_of(address, shape, strides, itemsize) == facts


def test_numpy_arrays_aligned_sliced_and_transposed():
    a = at_offset((8, 32), np.float32, 0)
    assert array_facts(a, tl.f32) == ALL
    assert array_facts(at_offset((8, 32), np.float32, 4), tl.f32) == ("unit_stride", "divisible")
    assert array_facts(a[:, 1:], tl.f32) == ("unit_stride",)      # offset by one element
    assert array_facts(a[:, 4:], tl.f32) == ALL                   # 28 columns, 16 bytes in
    assert array_facts(a[:, 2:], tl.f32) == ("unit_stride",)      # 30 columns, 8 bytes in
    assert array_facts(a.T, tl.f32) == ("aligned",)
    assert array_facts(a[:, ::2], tl.f32) == ("aligned", "divisible")


def test_array_interface_objects_without_numpy_type():
    a = at_offset((4, 8), np.float32, 0)

    class Iface:
        __array_interface__ = a.__array_interface__
    assert array_facts(Iface(), tl.f32) == ALL


@tl.kernel
def k_copy(X: tl.Tensor, Y: tl.Tensor, BLOCK: tl.constexpr = 64):
    tl.store(Y, (0,), tl.load(X, (0,), (BLOCK,)))


def test_bind_arguments_puts_facts_in_the_param_specs():
    x = at_offset((64,), np.float32, 0)
    y = at_offset((65,), np.float32, 0)[1:]
    params, _, _ = bind_arguments(k_copy, (x, y), {})
    assert [p.facts for p in params] == [ALL, ("unit_stride", "divisible")]
    assert k_copy.make_specialization(params, {}) != \
        k_copy.make_specialization(bind_arguments(k_copy, (x, x), {})[0], {})


def test_aligned_and_unaligned_launches_compile_twice_and_both_are_right():
    x = at_offset((65,), np.float32, 0)
    x[:] = np.arange(65)
    for target in ("interp", "emulate:sm_80"):
        k_copy.__dict__.pop("_compiled", None)
        for src in (x[:64], x[1:]):
            y = np.zeros(64, np.float32)
            k_copy[(1,)](src, y, target=target)
            np.testing.assert_array_equal(y, src)
        assert len(k_copy._compiled) == 2
