"""Low-bit tensor arguments on the CPU targets.

A tensor of a low-bit dtype (``docs/lowbit.md``) is passed as a ``PackedArray``
(``tl.pack``), or, for the formats ml_dtypes has (int4, float4_e2m1fn, float8...),
as an ml_dtypes numpy array of values. The interpreter runs on the codes
(``as_codes``), the emulator on the packed bytes (``as_packed``); each returns
the arguments to run on and a function that writes what the kernel stored back
into the caller's arrays.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tilelang.ir import lowbit
from tilelang.ir.lowbit import PackedArray

WriteBack = Callable[[], None]


def _nothing() -> None:
    return None


def as_codes(params: Any, args: list[Any]) -> tuple[list[Any], WriteBack]:
    """Low-bit tensor arguments as uint8 arrays of their codes (the interpreter's)."""
    out, backs = list(args), []
    for i, (p, a) in enumerate(zip(params, args)):
        if not p.is_tensor or not p.dtype.is_lowbit:
            continue
        if isinstance(a, PackedArray):
            codes = a.codes()
            backs.append(lambda a=a, c=codes: a.set_codes(c))
        elif isinstance(a, np.ndarray):
            codes = lowbit.encode(a, p.dtype)
            backs.append(lambda a=a, c=codes, dt=p.dtype: _set_values(a, c, dt))
        else:
            continue
        out[i] = codes
    return out, chain(backs)


def as_packed(params: Any, args: list[Any]) -> tuple[list[Any], WriteBack]:
    """Low-bit tensor arguments as host ``PackedArray`` objects (the emulator's)."""
    out, backs = list(args), []
    for i, (p, a) in enumerate(zip(params, args)):
        if p.is_tensor and p.dtype.is_lowbit and isinstance(a, np.ndarray):
            out[i], back = packed_copy(a, p.dtype)
            backs.append(back)
    return out, chain(backs)


def packed_copy(a: np.ndarray, dt: Any) -> tuple[PackedArray, WriteBack]:
    """A packed copy of ``a`` (values of ``dt``) and the function writing the copy's
    values back into ``a``."""
    packed = lowbit.from_codes(lowbit.encode(a, dt), dt)
    return packed, lambda: _set_values(a, packed.codes(), dt)


def _set_values(a: np.ndarray, codes: np.ndarray, dt: Any) -> None:
    a[...] = lowbit.decode(codes, dt).astype(a.dtype)


def chain(backs: list[WriteBack]) -> WriteBack:
    """One function running ``backs`` in order."""
    if not backs:
        return _nothing

    def run() -> None:
        for b in backs:
            b()
    return run
