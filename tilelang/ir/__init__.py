"""The tile IR: types, values, ops, builder, verifier, printer and parser."""

from tilelang.ir.builder import Builder
from tilelang.ir.ops import ALL_OPS, OPS_BY_NAME, FieldKind, Op, Trait, op_fields, walk
from tilelang.ir.types import (
    DType, ScalarType, SharedType, TensorType, TileType, Type, dtype_from_name,
)
from tilelang.ir.values import Block, Function, Loc, Module, Value
from tilelang.ir.verifier import verify_module
from tilelang.ir import thread_ops  # noqa: F401  (registers the thread-IR ops by name)
from tilelang.ir import hopper_ops  # noqa: F401  (registers the wgmma thread-IR ops)
from tilelang.ir import tma_ops  # noqa: F401  (registers the mbarrier/TMA thread-IR ops)
from tilelang.ir import tma_staging_ops  # noqa: F401  (tile-IR TMA pipeline ops)
from tilelang.ir import role_ops  # noqa: F401  (warp specialization)
from tilelang.ir import math_ops  # noqa: F401  (tl.fma)
from tilelang.ir import while_ops  # noqa: F401  (tl.while)
from tilelang.ir import scan_ops  # noqa: F401  (argmax/argmin, cumsum/cumprod)
from tilelang.ir import gather_ops  # noqa: F401  (gather/scatter)

__all__ = [
    "ALL_OPS", "OPS_BY_NAME", "Block", "Builder", "DType", "FieldKind", "Function", "Loc",
    "Module", "Op", "ScalarType", "SharedType", "TensorType", "TileType", "Trait", "Type",
    "Value", "dtype_from_name", "op_fields", "verify_module", "walk",
]

# The text format: print_module / parse_module round-trip every well-formed module.
from tilelang.ir.parser import IRParseError, parse_module, parse_type  # noqa: E402
from tilelang.ir.printer import print_module, print_op, print_type  # noqa: E402

__all__ += ["IRParseError", "parse_module", "parse_type", "print_module", "print_op", "print_type"]
