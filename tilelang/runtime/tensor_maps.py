"""TMA tensor maps: the 128-byte ``CUtensorMap`` a kernel's TMA loads read, built at
launch with ``cuTensorMapEncodeTiled`` and passed as a grid-constant kernel
parameter (``codegen/nvidia/llvm_tma.py`` explains the parameter).

A map describes one tensor argument: its element type, address, shape and
strides (which change per launch) and the box and swizzle (fixed by the
compiled kernel: ``codegen.abi.tma_boxes``). Encoding asks the driver, so each
``TensorMapCache`` keeps the encoded bytes per ``(address, shape, strides)``:
a launch with the same arrays pays one dict lookup. The cache is bounded (the
oldest maps are dropped first), since every new array is a new address.

Arguments of ``cuTensorMapEncodeTiled`` (CUDA driver API) are listed innermost
dimension first: ``globalDim`` in elements, ``globalStrides`` in bytes for
dimensions 1..rank-1 (dimension 0 is contiguous), ``boxDim`` in elements,
``elementStrides`` all 1; no interleave; the swizzle mode of the box; L2
promotion of 128 bytes; out-of-bounds elements filled with zeros
(``CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE``), which is what ``tl.load`` promises.
The driver requires a 16-byte-aligned address and byte strides that are
multiples of 16 and below 2**40; the kernel was specialized on those facts
(``aligned``, ``divisible``), so a violation is a ``LaunchError``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from tilelang.codegen.nvidia.c_tensor_maps import DATA_TYPES, SWIZZLES
from tilelang.errors import LaunchError

MAX_CACHED = 256


@dataclass(frozen=True)
class TmaBox:
    """What a compiled kernel fixes about one tensor's map."""

    tensor: str
    dtype: str            # tilelang dtype name
    itemsize: int
    box: tuple[int, ...]  # in the tensor's dimension order
    swizzle: int          # 0, 32, 64 or 128


def encode_arguments(cu: Any, spec: TmaBox, address: int, shape: tuple[int, ...],
                     strides: tuple[int, ...], kernel: str = "") -> tuple:
    """The positional arguments of ``cuTensorMapEncodeTiled`` for ``spec`` on an array at
    ``address`` with ``shape`` and element ``strides`` (dimension order); a
    ``LaunchError`` naming the kernel and tensor where TMA cannot address it."""
    rank = len(shape)
    isz = spec.itemsize
    where = f"argument '{spec.tensor}'"
    hint = ("pass a contiguous array whose start and row pitch are multiples of 16 bytes, "
            "or launch on a target without TMA (sm_80)")
    if rank != len(spec.box) or len(strides) != rank:
        raise LaunchError(f"{where} has rank {rank}; the kernel's TMA box is {spec.box}",
                          kernel=kernel)
    if address % 16:
        raise LaunchError(f"{where} starts at {address:#x}, not 16-byte aligned, but the "
                          f"kernel reads it with TMA", kernel=kernel, hint=hint)
    if rank and strides[-1] != 1 and shape[-1] > 1:
        raise LaunchError(f"{where} has inner stride {strides[-1]}; TMA needs 1",
                          kernel=kernel, hint=hint)
    for d in range(rank - 1):
        b = strides[d] * isz
        if shape[d] > 1 and (b % 16 or not 0 < b < 1 << 40):
            raise LaunchError(f"{where} has stride {strides[d]} ({b} bytes) in dimension "
                              f"{d}; TMA needs a positive multiple of 16 bytes below 2**40",
                              kernel=kernel, hint=hint)
    if any(not 0 < n < 1 << 32 for n in shape):
        raise LaunchError(f"{where} has shape {shape}; TMA needs every dimension in "
                          f"[1, 2**32)", kernel=kernel,
                          hint="skip the launch for empty tensors")
    dims = [int(n) for n in reversed(shape)]
    # a size-1 dimension may have any stride; give it the dense one the driver accepts
    byte_strides = []
    for d in range(rank - 2, -1, -1):
        b = strides[d] * isz
        if shape[d] == 1 or b <= 0:
            b = (byte_strides[-1] * shape[d + 1]) if byte_strides else shape[-1] * isz
            b = -(-b // 16) * 16
        byte_strides.append(int(b))
    enum = cu.CUtensorMapDataType
    return (
        getattr(enum, f"CU_TENSOR_MAP_DATA_TYPE_{DATA_TYPES[spec.dtype]}"),
        rank, address, dims, byte_strides, [int(b) for b in reversed(spec.box)], [1] * rank,
        cu.CUtensorMapInterleave.CU_TENSOR_MAP_INTERLEAVE_NONE,
        getattr(cu.CUtensorMapSwizzle, f"CU_TENSOR_MAP_SWIZZLE_{SWIZZLES[spec.swizzle]}"),
        cu.CUtensorMapL2promotion.CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
        cu.CUtensorMapFloatOOBfill.CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
    )


def map_bytes(tensor_map: Any) -> bytes:
    """The 128 bytes of a ``CUtensorMap`` (cuda-python exposes them as 16 u64 words)."""
    words = getattr(tensor_map, "opaque", tensor_map)
    if isinstance(words, (bytes, bytearray)):
        return bytes(words)
    return b"".join(int(w).to_bytes(8, "little") for w in words)


class TensorMapCache:
    """Encoded maps of one tensor of one compiled kernel, per (address, shape, strides)."""

    def __init__(self, driver: Any, spec: TmaBox, kernel: str = "") -> None:
        self.driver, self.spec, self.kernel = driver, spec, kernel
        self.maps: OrderedDict[tuple, bytes] = OrderedDict()

    def get(self, address: int, shape: Any, strides: Any) -> bytes:
        # device views carry tuples already: the hit costs one dict lookup
        key = (address, shape, strides)
        try:
            m = self.maps.get(key)
        except TypeError:                       # lists: make the key hashable
            key = (address, tuple(shape), tuple(strides))
            m = self.maps.get(key)
        if m is not None:
            return m
        m = self.encode(address, tuple(key[1]), tuple(key[2]))
        self.maps[key] = m
        if len(self.maps) > MAX_CACHED:
            self.maps.popitem(last=False)
        return m

    def encode(self, address: int, shape: tuple[int, ...], strides: tuple[int, ...]) -> bytes:
        cu = self.driver.raw
        args = encode_arguments(cu, self.spec, address, shape, strides, self.kernel)
        tensor_map = self.driver.check(cu.cuTensorMapEncodeTiled(*args),
                                       "cuTensorMapEncodeTiled")
        return map_bytes(tensor_map)


def tma_specs(fn: Any) -> dict[str, TmaBox]:
    """``tensor name -> TmaBox`` for the tensors ``fn`` (thread IR) TMA-loads."""
    from tilelang.codegen.abi import tma_boxes
    types = {p.name: p.type for p in fn.params}
    return {name: TmaBox(name, types[name].dtype.name, max(1, types[name].dtype.bits // 8),
                         box, swizzle)
            for name, (box, swizzle) in tma_boxes(fn).items()}


__all__ = ["DATA_TYPES", "MAX_CACHED", "SWIZZLES", "TensorMapCache", "TmaBox",
           "encode_arguments", "map_bytes", "tma_specs"]
