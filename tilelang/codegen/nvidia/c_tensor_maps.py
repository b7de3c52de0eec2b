"""The AOT C launcher's TMA tensor maps: C code that fills a ``CUtensorMap`` with
``cuTensorMapEncodeTiled`` from the launch function's tensor arguments.

The same arguments as the Python runtime's (``runtime/tensor_maps.py``): dims
innermost first, byte strides of dimensions 1..rank-1, the compiled box and
swizzle, no interleave, 128-byte L2 promotion, zero fill out of bounds. Encoding
is a host-only computation (no device round trip), so the C launcher encodes on
every launch rather than keeping a cache that threads would have to share.
"""

from __future__ import annotations

from typing import Any

# CUtensorMapDataType member per tilelang dtype name (raw bits for types TMA lacks)
DATA_TYPES: dict[str, str] = {
    "u8": "UINT8", "i8": "UINT8", "bool": "UINT8", "f8e4m3": "UINT8", "f8e5m2": "UINT8",
    "u16": "UINT16", "i16": "UINT16", "f16": "FLOAT16", "bf16": "BFLOAT16",
    "u32": "UINT32", "i32": "INT32", "f32": "FLOAT32",
    "u64": "UINT64", "i64": "INT64", "f64": "FLOAT64",
}
SWIZZLES: dict[int, str] = {0: "NONE", 32: "32B", 64: "64B", 128: "128B"}


def encode_lines(tensor: str, dtype: str, itemsize: int, rank: int, box: tuple[int, ...],
                 swizzle: int, var: str) -> list[str]:
    """C statements declaring ``CUtensorMap var`` and encoding it for the tensor whose
    launch parameters are ``tensor`` (the pointer), ``tensor_dim<d>`` and
    ``tensor_stride<d>``; on failure the launch function returns the error."""
    dims = ", ".join(f"(cuuint64_t){tensor}_dim{d}" for d in reversed(range(rank)))
    strides = ", ".join(f"(cuuint64_t){tensor}_stride{d} * {itemsize}"
                        for d in reversed(range(rank - 1))) or "0"
    boxes = ", ".join(str(b) for b in reversed(box))
    ones = ", ".join("1" for _ in range(rank))
    return [
        f"    CUtensorMap {var};",
        "    {",
        f"        cuuint64_t dims[{rank}] = {{{dims}}};",
        f"        cuuint64_t strides[{max(rank - 1, 1)}] = {{{strides}}};",
        f"        cuuint32_t box[{rank}] = {{{boxes}}};",
        f"        cuuint32_t elem[{rank}] = {{{ones}}};",
        f"        CUresult e = cuTensorMapEncodeTiled(&{var}, "
        f"CU_TENSOR_MAP_DATA_TYPE_{DATA_TYPES[dtype]}, {rank},",
        f"            (void *){tensor}, dims, strides, box, elem, "
        "CU_TENSOR_MAP_INTERLEAVE_NONE,",
        f"            CU_TENSOR_MAP_SWIZZLE_{SWIZZLES[swizzle]}, "
        "CU_TENSOR_MAP_L2_PROMOTION_L2_128B,",
        "            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);",
        "        if (e != CUDA_SUCCESS)",
        "            return e;",
        "    }",
    ]


def launcher_lines(fn: Any, params: Any) -> list[str]:
    """The encoding statements for every ``tmap`` parameter among ``params`` (CParams)."""
    from tilelang.codegen.abi import tma_boxes
    boxes = tma_boxes(fn)
    types = {p.name: p.type for p in fn.params}
    out: list[str] = []
    for c in params:
        if c.role != "tmap":
            continue
        t = types[c.source]
        box, swizzle = boxes[c.source]
        out += encode_lines(c.source, t.dtype.name, max(1, t.dtype.bits // 8), t.rank, box,
                            swizzle, c.name)
    return out


__all__ = ["DATA_TYPES", "SWIZZLES", "encode_lines", "launcher_lines"]
