"""Recognize array arguments (numpy, torch, DLPack, array interfaces) and their dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np

from tilelang.ir import types as t
from tilelang.ir.lowbit import PackedArray
from tilelang.ir.numpy_dtypes import from_numpy

_TORCH_NAMES = {
    "float16": t.f16, "bfloat16": t.bf16, "float32": t.f32, "float64": t.f64,
    "float8_e4m3fn": t.f8e4m3, "float8_e5m2": t.f8e5m2, "int8": t.i8, "int16": t.i16,
    "int32": t.i32, "int64": t.i64, "uint8": t.u8, "uint16": t.u16, "uint32": t.u32,
    "uint64": t.u64, "bool": t.bool_,
}


def is_array(x: Any) -> bool:
    """Whether ``x`` is something a tensor parameter accepts."""
    return isinstance(x, (np.ndarray, PackedArray)) or hasattr(x, "__dlpack__") or \
        hasattr(x, "__cuda_array_interface__") or hasattr(x, "__array_interface__")


def array_dtype_name(x: Any) -> str:
    """The array's own name for its dtype (for error messages)."""
    return str(getattr(x, "dtype", type(x).__name__))


def array_dtype(x: Any) -> t.DType | None:
    """The tilelang dtype of an array's elements, or ``None`` if it has none."""
    if isinstance(x, np.ndarray):
        return from_numpy(x.dtype)
    if isinstance(x, PackedArray):
        return x.dtype
    dt = getattr(x, "dtype", None)
    if dt is not None:
        name = str(dt).rsplit(".", 1)[-1]
        if name in _TORCH_NAMES:
            return _TORCH_NAMES[name]
        try:
            return from_numpy(np.dtype(dt))
        except TypeError:
            return None
    iface = getattr(x, "__cuda_array_interface__", None) or getattr(x, "__array_interface__", None)
    if iface:
        return from_numpy(np.dtype(iface["typestr"]))
    return None


def array_rank(x: Any) -> int:
    shape = getattr(x, "shape", None)
    if shape is None:
        iface = getattr(x, "__cuda_array_interface__", None) or \
            getattr(x, "__array_interface__", {})
        shape = iface.get("shape", ())
    return len(shape)


def as_host_numpy(x: Any) -> np.ndarray | None:
    """A numpy view of a host array (sharing memory), or ``None`` if ``x`` is not on the host."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "__cuda_array_interface__"):
        return None
    if hasattr(x, "__array_interface__"):
        return np.asarray(x)
    if hasattr(x, "__dlpack__"):
        try:
            return np.from_dlpack(x)
        except (TypeError, RuntimeError, BufferError):
            return None
    return None
