"""Low-bit storage formats: what a code means, how values round to it, how tensors pack.

A low-bit dtype (``DType.is_lowbit``: integers of 1..7 bits, floats of 3..8 bits)
has ``2**bits`` *codes*, its bit patterns. ``decode`` maps codes to values and
``encode`` rounds values to codes; both are the reference every tier is checked
against (the interpreter calls them, the GPU lowering reproduces them with
integer bit tricks).

Integers ``tl.int(b)`` / ``tl.uint(b)``: two's complement / unsigned. From an
integer, ``encode`` keeps the low ``b`` bits (wraps, like every integer cast);
from a float it truncates toward zero and saturates to the range, NaN gives 0.

Floats ``tl.float(e, m)``: a sign, ``e`` exponent bits with bias ``2**(e-1) - 1``,
``m`` mantissa bits, subnormals at exponent field 0. Round to nearest, ties to
even. Three rule sets, by format (``float_rules``):

* ``"ieee"`` (f8e5m2): the top exponent field holds inf (mantissa 0) and NaN;
  overflow rounds to inf, NaN stays NaN (code ``0x7e``; a NaN's sign is not kept
  by any format);
* ``"fn"`` (f8e4m3): no inf; only the all-ones magnitude ``0x7f`` is NaN;
  overflow and inf give NaN (as ml_dtypes and the OCP float8 spec's "fn" type);
* ``"finite"`` (every other format, among them the OCP MX types f6e3m2, f6e2m3,
  f4e2m1): every code is a number; overflow and inf saturate to the largest
  magnitude, NaN gives +0.

Packed layout (``pack``/``unpack``): each row (the last axis) of ``C`` elements,
``C`` a multiple of 8, takes ``C * bits / 8`` bytes, split into *planes*: the
binary digits of ``bits`` (widest first, 4, 2, 1; an 8-bit format is one plane
of whole bytes). Plane ``p`` holds bits ``lo_p .. lo_p + w_p - 1`` of every
element of the row, ``8 / w_p`` elements per byte, element ``c`` at bit
``(c * w_p) % 8`` of byte ``c * w_p // 8`` (little-endian within the byte); the
planes follow each other in the row. So every width takes exactly ``bits``
bits per element, no element straddles a byte, and a run of elements of a
plane is a run of whole bytes, loaded as one wide access.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tilelang.ir.types import DType, f8e4m3, f8e5m2


def planes(dt: DType) -> tuple[tuple[int, int], ...]:
    """``(lo bit, width)`` of each plane of ``dt``'s packed rows, in memory order."""
    if dt.bits == 8:
        return ((0, 8),)
    out, lo = [], 0
    for w in (4, 2, 1):
        if dt.bits & w:
            out.append((lo, w))
            lo += w
    return tuple(out)


def float_rules(dt: DType) -> str:
    """``"ieee"``, ``"fn"`` or ``"finite"`` (see the module doc)."""
    return {f8e5m2: "ieee", f8e4m3: "fn"}.get(dt, "finite")


def bias(dt: DType) -> int:
    return (1 << (dt.exp - 1)) - 1


def max_code(dt: DType) -> int:
    """The code of the largest finite positive value of a float format."""
    rules, e, m = float_rules(dt), dt.exp, dt.man
    if rules == "ieee":
        return ((1 << e) - 1 << m) - 1
    top = (1 << (e + m)) - 1
    return top - 1 if rules == "fn" else top


def int_range(dt: DType) -> tuple[int, int]:
    if dt.is_signed:
        return -(1 << (dt.bits - 1)), (1 << (dt.bits - 1)) - 1
    return 0, (1 << dt.bits) - 1


def decode(codes: Any, dt: DType) -> np.ndarray:
    """The values of ``codes`` (int64 for integers, float64 for floats)."""
    c = np.asarray(codes).astype(np.int64) & ((1 << dt.bits) - 1)
    if dt.is_int:
        if dt.is_signed:
            c = np.where(c >= 1 << (dt.bits - 1), c - (1 << dt.bits), c)
        return c
    e, m = dt.exp, dt.man
    sign = c >> (e + m)
    E = (c >> m) & ((1 << e) - 1)
    M = c & ((1 << m) - 1)
    mag = np.where(E == 0, M * 2.0 ** (1 - bias(dt) - m),
                   (M + (1 << m)) * np.exp2((E - bias(dt) - m).astype(np.float64)))
    rules = float_rules(dt)
    if rules == "ieee":
        top = E == (1 << e) - 1
        mag = np.where(top & (M == 0), np.inf, np.where(top, np.nan, mag))
    elif rules == "fn":
        mag = np.where((E == (1 << e) - 1) & (M == (1 << m) - 1), np.nan, mag)
    return np.where(sign == 1, -mag, mag)


def encode(values: Any, dt: DType, from_float: bool | None = None) -> np.ndarray:
    """``values`` rounded to codes of ``dt`` (uint8). ``from_float`` says whether the
    values are floats (by default: whether their numpy dtype is)."""
    x = np.asarray(values)
    if from_float is None:
        from_float = not (x.dtype.kind in "iub" or x.dtype.name.startswith(("int", "uint")))
    if dt.is_int:
        return _encode_int(x, dt, from_float)
    return _encode_float(x.astype(np.float64), dt)


def _encode_int(x: np.ndarray, dt: DType, from_float: bool) -> np.ndarray:
    mask = (1 << dt.bits) - 1
    if from_float:
        f = x.astype(np.float64)
        lo, hi = int_range(dt)
        v = np.clip(np.trunc(np.where(np.isnan(f), 0.0, f)), lo, hi).astype(np.int64)
    else:
        v = x.astype(np.int64)
    return (v & mask).astype(np.uint8)


def _encode_float(x: np.ndarray, dt: DType) -> np.ndarray:
    e, m, rules = dt.exp, dt.man, float_rules(dt)
    b = bias(dt)
    nan = np.isnan(x)
    sign = np.signbit(x) & ~nan         # a NaN's sign is not kept
    a = np.where(nan, 0.0, np.abs(x))
    top_field = (1 << e) - 2 if rules == "ieee" else (1 << e) - 1
    big = 2.0 ** (top_field - b + 1)                  # past every finite value
    a_c = np.minimum(a, big)
    _, k = np.frexp(a_c)                              # a = f * 2**k, f in [0.5, 1)
    E = np.where(a_c == 0, 0, np.clip(k - 1 + b, 0, top_field))
    q = np.exp2((np.maximum(E, 1) - b - m).astype(np.float64))
    n = np.rint(a_c / q).astype(np.int64)             # ties to even
    mag = np.maximum(E - 1, 0) * (1 << m) + n
    if rules == "finite":
        mag = np.minimum(mag, max_code(dt))
        mag = np.where(nan, 0, mag)
    elif rules == "fn":
        mag = np.minimum(mag, max_code(dt) + 1)       # overflow and inf: NaN
        mag = np.where(nan, max_code(dt) + 1, mag)
    else:
        inf_code = ((1 << e) - 1) << m
        mag = np.minimum(mag, inf_code)               # overflow: inf
        mag = np.where(nan, inf_code | (1 << (m - 1)), mag)
    return (mag | (sign.astype(np.int64) << (e + m))).astype(np.uint8)


def quantize(values: Any, dt: DType) -> np.ndarray:
    """``values`` rounded to ``dt`` and decoded again (float64 or int64)."""
    return decode(encode(values, dt), dt)


# -- the packed layout ------------------------------------------------------------------

def row_bytes(dt: DType, n: int) -> int:
    """Bytes of a packed row of ``n`` elements (``n`` a multiple of 8)."""
    return n * dt.bits // 8


def pack(codes: Any, dt: DType) -> np.ndarray:
    """Codes of logical shape ``(..., C)`` (``C`` a multiple of 8) as packed bytes of
    shape ``(..., C * bits / 8)``."""
    c = np.asarray(codes).astype(np.uint8)
    if c.ndim == 0 or c.shape[-1] % 8:
        raise ValueError(f"a packed {dt} tensor needs a last dimension that is a multiple "
                         f"of 8, got shape {c.shape}")
    out = []
    for lo, w in planes(dt):
        per = 8 // w
        part = ((c >> lo) & ((1 << w) - 1)).reshape(c.shape[:-1] + (-1, per))
        shifts = (np.arange(per, dtype=np.uint8) * w).astype(np.uint8)
        out.append(np.bitwise_or.reduce(part << shifts, axis=-1).astype(np.uint8))
    return np.ascontiguousarray(np.concatenate(out, axis=-1))


def unpack(data: Any, dt: DType, n: int) -> np.ndarray:
    """The codes (uint8, shape ``(..., n)``) of packed bytes ``data`` of rows of ``n``."""
    d = np.asarray(data, dtype=np.uint8)
    codes = np.zeros(d.shape[:-1] + (n,), np.uint8)
    at = 0
    for lo, w in planes(dt):
        per, nb = 8 // w, n * w // 8
        part = d[..., at:at + nb, None] >> (np.arange(per, dtype=np.uint8) * w).astype(np.uint8)
        codes |= ((part & ((1 << w) - 1)).reshape(d.shape[:-1] + (n,)) << lo).astype(np.uint8)
        at += nb
    return codes


class PackedArray:
    """A host or device tensor of a low-bit dtype in the packed layout.

    ``data`` is any contiguous byte array (numpy ``uint8``, a torch ``uint8`` tensor,
    anything with ``__cuda_array_interface__``) of ``prod(shape[:-1]) * shape[-1] *
    bits / 8`` bytes. ``shape`` is the logical shape; ``strides`` (in elements, so
    ``itemsize`` is 1) are row-major. Build one with ``tl.pack``.
    """

    itemsize = 1

    def __init__(self, data: Any, shape: tuple[int, ...], dtype: DType) -> None:
        if not isinstance(dtype, DType) or not dtype.is_lowbit:
            raise ValueError(f"a PackedArray holds a low-bit dtype, got {dtype!r}")
        shape = tuple(int(s) for s in shape)
        if not shape or shape[-1] % 8:
            raise ValueError(f"a packed {dtype} tensor needs a last dimension that is a "
                             f"multiple of 8, got shape {shape}")
        self.data, self.shape, self.dtype = data, shape, dtype
        need = int(np.prod(shape[:-1], dtype=np.int64)) * row_bytes(dtype, shape[-1])
        have = int(np.prod(getattr(data, "shape", (0,)), dtype=np.int64))
        if have != need:
            raise ValueError(f"a packed {dtype} tensor of shape {shape} takes {need} bytes; "
                             f"data has {have}")
        strides, acc = [], 1
        for s in reversed(shape):
            strides.append(acc)
            acc *= s
        self.strides = tuple(reversed(strides))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def host_bytes(self) -> np.ndarray:
        """``data`` as a numpy ``uint8`` array of rows (``(..., C * bits / 8)``)."""
        d = self.data
        if not isinstance(d, np.ndarray):
            d = np.asarray(d.cpu() if hasattr(d, "cpu") else d)
        return d.reshape(self.shape[:-1] + (row_bytes(self.dtype, self.shape[-1]),))

    def codes(self) -> np.ndarray:
        """The codes, unpacked (uint8 of ``shape``)."""
        return unpack(self.host_bytes(), self.dtype, self.shape[-1])

    def set_codes(self, codes: np.ndarray) -> None:
        """Write ``codes`` (of ``shape``) back into ``data`` (a host array)."""
        self.host_bytes()[...] = pack(codes, self.dtype)

    def values(self) -> np.ndarray:
        """The values (float64 or int64 of ``shape``)."""
        return decode(self.codes(), self.dtype)

    def __repr__(self) -> str:
        return f"PackedArray(shape={self.shape}, dtype=tl.{self.dtype.name})"


def pack_values(values: Any, dtype: DType) -> PackedArray:
    """``tl.pack``: ``values`` (any numbers, shape ``(..., C)``) rounded to ``dtype`` by
    ``encode`` and packed into a new host ``PackedArray``."""
    v = np.asarray(values)
    return PackedArray(pack(encode(v, dtype), dtype).reshape(-1), v.shape, dtype)


def from_codes(codes: Any, dtype: DType) -> PackedArray:
    """A host ``PackedArray`` holding ``codes`` (bit patterns) as they are."""
    c = np.asarray(codes)
    return PackedArray(pack(c, dtype).reshape(-1), c.shape, dtype)
