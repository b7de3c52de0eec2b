"""The specialization facts of a tensor argument (``TensorType``'s ``aligned``,
``unit_stride``, ``divisible``, ``wide``), read off the array at launch.

``wide`` is the one fact that makes code more general rather than faster: an
array with a dim or stride of ``2**31`` elements or more gets the kernel
specialized on 64-bit shapes, strides and indices; every other array the i32 one.

A fact is claimed only when it certainly holds; an array whose address or
strides cannot be read cheaply (a DLPack capsule without an array interface)
gets none, which only costs vectorization. This runs on every launch, so each
kind of array is read through its cheapest attribute: numpy's ``ctypes.data``,
torch's ``data_ptr()``/``stride()``, cupy's ``data.ptr``, else the array
interface dictionaries.
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np

from tilelang.ir.lowbit import PackedArray
from tilelang.ir.types import TENSOR_FACTS, VECTOR_BYTES, WIDE_INDEX, DType, TensorType

NO_FACTS: tuple[str, ...] = ()
# every combination, built once: the launch path only indexes this table
_TABLE = {flags: tuple(f for f, on in zip(TENSOR_FACTS, flags) if on)
          for flags in itertools.product((False, True), repeat=len(TENSOR_FACTS))}


def is_wide(shape: Sequence[int], strides: Sequence[int]) -> bool:
    """Whether a dim or an element stride needs more than 31 bits."""
    return bool(shape) and (max(shape) >= WIDE_INDEX or max(strides) >= WIDE_INDEX or
                            min(strides) <= -WIDE_INDEX)


def facts_of(address: int, shape: Sequence[int], strides: Sequence[int],
             itemsize: int, per: int | None = None) -> tuple[str, ...]:
    """The facts (``TENSOR_FACTS`` order) of a tensor at byte ``address`` with element
    ``strides``, whose elements fill ``itemsize`` bytes each in the kernel's view
    (``per``: how many elements 16 bytes hold, when that is not ``16 / itemsize``)."""
    per = per or VECTOR_BYTES // itemsize
    unit = divisible = False
    if shape:
        unit = strides[-1] == 1
        divisible = shape[-1] % per == 0
        for s in strides[:-1]:
            if s % per:
                divisible = False
                break
    return _TABLE[address % VECTOR_BYTES == 0, unit, divisible, is_wide(shape, strides)]


def array_facts(x: Any, dtype: DType) -> tuple[str, ...]:
    """The facts of array argument ``x`` whose elements are of ``dtype``."""
    itemsize = max(1, dtype.bits // 8)
    if isinstance(x, np.ndarray):
        return _numpy_facts(x, itemsize)
    if isinstance(x, PackedArray):
        return packed_facts(x)
    data_ptr = getattr(x, "data_ptr", None)
    if callable(data_ptr) and callable(getattr(x, "stride", None)):  # torch.Tensor
        return facts_of(data_ptr(), tuple(x.shape), tuple(x.stride()), itemsize)
    data = getattr(x, "data", None)
    if hasattr(data, "ptr") and hasattr(x, "strides"):               # cupy.ndarray
        return _from_bytes(data.ptr, tuple(x.shape), tuple(x.strides), itemsize)
    iface = getattr(x, "__cuda_array_interface__", None) or \
        getattr(x, "__array_interface__", None)
    if isinstance(iface, dict) and iface.get("data"):
        shape = tuple(iface.get("shape", ()))
        strides = iface.get("strides")
        if strides is None:  # C-contiguous
            strides, acc = [], itemsize
            for n in reversed(shape):
                strides.append(acc)
                acc *= max(n, 1)
            strides = tuple(reversed(strides))
        return _from_bytes(int(iface["data"][0]), shape, tuple(strides), itemsize)
    return NO_FACTS


def packed_facts(x: PackedArray) -> tuple[str, ...]:
    """A packed low-bit tensor's facts: its strides are in elements, and 16 bytes of its
    narrowest plane hold ``TensorType.elements_per_16_bytes`` of them."""
    d = x.data
    if isinstance(d, np.ndarray):
        address = d.ctypes.data
    elif callable(getattr(d, "data_ptr", None)):
        address = d.data_ptr()
    else:
        iface = getattr(d, "__cuda_array_interface__", None) or {}
        address = int(iface.get("data", (1,))[0])
    per = TensorType(x.dtype, x.ndim).elements_per_16_bytes
    return facts_of(address, x.shape, x.strides, 1, per=per)


def _numpy_facts(x: np.ndarray, itemsize: int) -> tuple[str, ...]:
    """``facts_of`` for a numpy array, on byte strides (the common, hot case)."""
    if x.itemsize != itemsize:
        return NO_FACTS
    shape, strides = x.shape, x.strides
    unit = divisible = False
    if shape:
        unit = strides[-1] == itemsize
        divisible = shape[-1] % (VECTOR_BYTES // itemsize) == 0
        for s in strides[:-1]:
            if s % VECTOR_BYTES:   # a multiple of 16 bytes' worth of elements
                divisible = False
                break
    # (one C-level max/min per tuple: this runs on every launch)
    wide = bool(shape) and (max(shape) >= WIDE_INDEX or
                            max(strides) >= WIDE_INDEX * itemsize or
                            min(strides) <= -WIDE_INDEX * itemsize)
    return _TABLE[x.ctypes.data % VECTOR_BYTES == 0, unit, divisible, wide]


def _from_bytes(address: int, shape: tuple[int, ...], byte_strides: tuple[int, ...],
                itemsize: int) -> tuple[str, ...]:
    if any(s % itemsize for s in byte_strides):
        return NO_FACTS
    return facts_of(address, shape, [s // itemsize for s in byte_strides], itemsize)


__all__ = ["array_facts", "facts_of", "is_wide", "NO_FACTS"]
