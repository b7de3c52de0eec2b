"""The 128-byte tensor map of ``cp.async.bulk.tensor``, as the interpreter reads it.

The real ``CUtensorMap`` layout is opaque (only ``cuTensorMapEncodeTiled`` writes
it), so the emulated driver encodes the same arguments into the 128 bytes in this
documented form, and the TMA instructions decode them from the kernel parameter:

=======  ==========================================================
bytes    field
=======  ==========================================================
0-3      magic ``b"TLTM"``
4, 5     data type (``CU_TENSOR_MAP_DATA_TYPE_*`` value), rank
6        swizzle (0 none, 1: 32B, 2: 64B, 3: 128B: the CUDA enum)
7        element size in bytes
8-15     global address
16-55    globalDim[0..4] (u64 each, innermost first)
56-87    globalStrides[0..3] in bytes (of dimensions 1..rank-1)
88-97    boxDim[0..4] (u16 each)
98-107   elementStrides[0..4] (u16)
=======  ==========================================================
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tilelang.emulator.ptx.errors import PtxError

MAGIC = b"TLTM"
_FMT = "<4sBBBBQ5Q4Q5H5H"
SWIZZLE_BYTES = {0: 0, 1: 32, 2: 64, 3: 128}


@dataclass(frozen=True)
class TensorMap:
    """A decoded map: all lists innermost dimension first."""

    data_type: int
    itemsize: int
    address: int
    dims: tuple[int, ...]
    strides: tuple[int, ...]     # bytes, of dimensions 1..rank-1
    box: tuple[int, ...]
    element_strides: tuple[int, ...]
    swizzle: int                 # bytes: 0, 32, 64 or 128


def encode_tiled(data_type: int, itemsize: int, rank: int, address: int, dims: list[int],
                 strides: list[int], box: list[int], element_strides: list[int],
                 swizzle: int) -> bytes:
    """The 128 bytes for ``cuTensorMapEncodeTiled``'s arguments (``swizzle``: the enum)."""
    if not 1 <= rank <= 5 or len(dims) != rank or len(box) != rank or \
            len(strides) != rank - 1:
        raise PtxError(f"tensor map: rank {rank} with dims {dims}, strides {strides}, box {box}")
    pad = lambda xs, n: list(xs) + [0] * (n - len(xs))
    raw = struct.pack(_FMT, MAGIC, data_type, rank, swizzle, itemsize, address,
                      *pad(dims, 5), *pad(strides, 4), *pad(box, 5), *pad(element_strides, 5))
    return raw + bytes(128 - len(raw))


def decode(raw: bytes) -> TensorMap:
    """The map in ``raw``; a ``PtxError`` if it was not written by ``encode_tiled``."""
    if len(raw) < 128 or raw[:4] != MAGIC:
        raise PtxError("cp.async.bulk.tensor: the tensor-map operand does not point at a "
                       "tensor map encoded at launch",
                       hint="a wrong tensor-map address in the emitted code")
    f = struct.unpack_from(_FMT, raw)
    _, dtype, rank, swz, isz, addr = f[:6]
    dims, strides = f[6:11], f[11:15]
    box, estr = f[15:20], f[20:25]
    return TensorMap(dtype, isz, addr, tuple(dims[:rank]), tuple(strides[:rank - 1]),
                     tuple(box[:rank]), tuple(estr[:rank]), SWIZZLE_BYTES[swz])


__all__ = ["MAGIC", "SWIZZLE_BYTES", "TensorMap", "decode", "encode_tiled"]
