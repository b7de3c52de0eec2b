"""The numpy dtype that holds each tilelang dtype on the host (``ml_dtypes`` for those numpy
lacks), and the dtype arithmetic on it is carried out in.

Low-bit formats ml_dtypes lacks (``i3``, ``f5e2m2``, ...) have no numpy dtype of
their own: their host tensors are ``PackedArray`` objects (``tilelang.ir.lowbit``),
and ``to_numpy`` gives ``uint8``, the dtype their codes are held in.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from tilelang.ir import types as t

_TO_NUMPY: dict[t.DType, np.dtype] = {
    t.f16: np.dtype(np.float16),
    t.bf16: np.dtype(ml_dtypes.bfloat16),
    t.f32: np.dtype(np.float32),
    t.f64: np.dtype(np.float64),
    t.f8e4m3: np.dtype(ml_dtypes.float8_e4m3fn),
    t.f8e5m2: np.dtype(ml_dtypes.float8_e5m2),
    t.i4: np.dtype(ml_dtypes.int4),
    t.i8: np.dtype(np.int8),
    t.i16: np.dtype(np.int16),
    t.i32: np.dtype(np.int32),
    t.i64: np.dtype(np.int64),
    t.u4: np.dtype(ml_dtypes.uint4),
    t.u8: np.dtype(np.uint8),
    t.u16: np.dtype(np.uint16),
    t.u32: np.dtype(np.uint32),
    t.u64: np.dtype(np.uint64),
    t.bool_: np.dtype(np.bool_),
    t.int_type(1): np.dtype(ml_dtypes.int1),
    t.int_type(2): np.dtype(ml_dtypes.int2),
    t.int_type(1, False): np.dtype(ml_dtypes.uint1),
    t.int_type(2, False): np.dtype(ml_dtypes.uint2),
    t.f4e2m1: np.dtype(ml_dtypes.float4_e2m1fn),
    t.f6e2m3: np.dtype(ml_dtypes.float6_e2m3fn),
    t.f6e3m2: np.dtype(ml_dtypes.float6_e3m2fn),
}
_FROM_NUMPY: dict[np.dtype, t.DType] = {v: k for k, v in _TO_NUMPY.items()}
_CODES = np.dtype(np.uint8)


def to_numpy(dtype: t.DType) -> np.dtype:
    """The numpy dtype holding values of ``dtype`` (``uint8`` codes for a low-bit
    format ml_dtypes lacks)."""
    return _TO_NUMPY.get(dtype, _CODES) if dtype.is_lowbit else _TO_NUMPY[dtype]


def from_numpy(dtype: np.dtype) -> t.DType | None:
    """The tilelang dtype of a numpy dtype, or ``None`` when it has none."""
    return _FROM_NUMPY.get(np.dtype(dtype))


def compute_dtype(dtype: t.DType) -> np.dtype:
    """The numpy dtype arithmetic on ``dtype`` is carried out in.

    Narrow floats (f16, bf16, f8) compute in f32 and round to their storage
    dtype after every op, as GPUs do; the others compute in themselves.
    """
    if dtype.is_float and dtype.bits < 32:
        return np.dtype(np.float32)
    return _TO_NUMPY[dtype]
