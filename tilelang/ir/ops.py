"""The ops of the tile IR.

The op framework (``Op``, traits, field kinds, ``walk``, the registry by name)
is ``op_base.py``; this module re-exports it and defines the scalar, shape,
elementwise, reduction and dot ops; the memory ops (``memory_ops.py``), the debugging and control-flow ops
(``control_ops.py``) and the staging ops (``staging_ops.py``) build on it, and
are all reached as ``tilelang.ir.ops.<Name>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.op_base import (  # noqa: F401  (the framework, reached as ops.<name> too)
    OPS_BY_NAME, FieldKind, Op, Trait, _is_int_scalar, _is_scalar, _is_tile, _is_value, attr,
    op_fields, operand, operands, opt_operand, region, register_ops, walk,
)
from tilelang.ir.types import (
    DType, ScalarType, TensorType, TileType, Type, bool_, i32,
)
from tilelang.ir.values import Value


# ---------------------------------------------------------------------------
# scalars and constants
# ---------------------------------------------------------------------------

def _computable(op: Op, dt: DType) -> None:
    """Low-bit formats are storage types: computing on one needs a ``tl.cast`` first."""
    if dt.is_lowbit:
        op._fail(f"{dt} is a storage format; cast it to a wider dtype to compute")


@dataclass(frozen=True, kw_only=True)
class ConstantOp(Op):
    """A compile-time scalar constant of the result's dtype."""

    NAME: ClassVar[str] = "tl.constant"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    value: int | float | bool = attr()

    def verify(self) -> None:
        self._expect_results(1)
        if not _is_scalar(self.result):
            self._fail("result must be a scalar")
        _computable(self, self.result.type.dtype)
        if isinstance(self.value, float) and not self.result.type.dtype.is_float:
            self._fail("float constant with a non-float dtype")


@dataclass(frozen=True, kw_only=True)
class ProgramIdOp(Op):
    """Index of this program instance along ``axis`` (0, 1 or 2); i32."""

    NAME: ClassVar[str] = "tl.program_id"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    axis: int = attr()

    def verify(self) -> None:
        self._expect_results(1)
        if self.axis not in (0, 1, 2):
            self._fail(f"axis must be 0, 1 or 2, got {self.axis}")
        if self.result.type != ScalarType(i32):
            self._fail("result must be i32")


@dataclass(frozen=True, kw_only=True)
class NumProgramsOp(Op):
    """Number of program instances along ``axis``; i32."""

    NAME: ClassVar[str] = "tl.num_programs"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    axis: int = attr()

    def verify(self) -> None:
        ProgramIdOp.verify(self)  # same invariants


@dataclass(frozen=True, kw_only=True)
class TensorDimOp(Op):
    """``tensor.shape[dim]`` as a runtime value of the tensor's ``index_dtype`` (i32,
    or i64 for a ``wide`` tensor)."""

    NAME: ClassVar[str] = "tl.tensor_dim"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    tensor: Value = operand()
    dim: int = attr()

    def verify(self) -> None:
        self._expect_results(1)
        if not isinstance(self.tensor.type, TensorType):
            self._fail("operand must be a tensor")
        if not 0 <= self.dim < self.tensor.type.rank:
            self._fail(f"dim {self.dim} out of range for rank {self.tensor.type.rank}")
        want = ScalarType(self.tensor.type.index_dtype)
        if self.result.type != want:
            self._fail(f"result must be {want} (the tensor's index dtype)")


@dataclass(frozen=True, kw_only=True)
class TensorStrideOp(Op):
    """``tensor.stride(dim)`` in elements, as a runtime value of the tensor's
    ``index_dtype``."""

    NAME: ClassVar[str] = "tl.tensor_stride"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    tensor: Value = operand()
    dim: int = attr()

    def verify(self) -> None:
        TensorDimOp.verify(self)  # same invariants


# ---------------------------------------------------------------------------
# tile construction and shape ops
# ---------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class SplatOp(Op):
    """A tile of the result's shape with every element equal to a scalar."""

    NAME: ClassVar[str] = "tl.splat"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    value: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        if not _is_scalar(self.value) or not _is_tile(self.result):
            self._fail("splat takes a scalar and gives a tile")
        if self.value.type.dtype != self.result.type.dtype:
            self._fail("splat must not change the dtype")


@dataclass(frozen=True, kw_only=True)
class ArangeOp(Op):
    """The i32 tile ``[start, start+1, ..., stop-1]``."""

    NAME: ClassVar[str] = "tl.arange"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    start: int = attr()
    stop: int = attr()

    def verify(self) -> None:
        self._expect_results(1)
        if self.stop <= self.start:
            self._fail("stop must be greater than start")
        if self.result.type != TileType((self.stop - self.start,), i32):
            self._fail(f"result must be tile<{self.stop - self.start}xi32>")


@dataclass(frozen=True, kw_only=True)
class BroadcastOp(Op):
    """Stretch dimensions of size 1 to the result's shape (same rank)."""

    NAME: ClassVar[str] = "tl.broadcast"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    value: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        src, dst = self.value.type, self.result.type
        if not isinstance(src, TileType) or not isinstance(dst, TileType):
            self._fail("broadcast takes and gives tiles")
        if src.dtype != dst.dtype or src.rank != dst.rank:
            self._fail("broadcast keeps dtype and rank")
        for a, b in zip(src.shape, dst.shape):
            if a != b and a != 1:
                self._fail(f"cannot broadcast {src} to {dst}")


@dataclass(frozen=True, kw_only=True)
class ReshapeOp(Op):
    """Same elements in row-major order, another shape."""

    NAME: ClassVar[str] = "tl.reshape"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    value: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        src, dst = self.value.type, self.result.type
        if not isinstance(src, TileType) or not isinstance(dst, TileType):
            self._fail("reshape takes and gives tiles")
        if src.dtype != dst.dtype or src.numel != dst.numel:
            self._fail(f"cannot reshape {src} to {dst}")


@dataclass(frozen=True, kw_only=True)
class ConvertLayoutOp(Op):
    """The same tile in another register layout (the result type's ``layout``).

    Inserted by ``assign-layouts`` where an op needs its operand spread over the
    threads differently from how the operand's producer left it; lowering moves
    the elements between threads (through shared memory). The values are unchanged.
    """

    NAME: ClassVar[str] = "tl.convert_layout"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    value: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        if not _is_tile(self.value) or self.result.type != self.value.type:
            self._fail("convert_layout keeps the tile's shape and dtype")
        from tilelang.ir.layouts import LayoutError, parse_layout
        text = self.result.type.layout
        try:
            lay = parse_layout(text) if text else None
        except LayoutError as e:
            self._fail(str(e))
        if lay is not None and lay.shape != self.result.type.shape:
            self._fail(f"layout {text} is for shape {lay.shape}, not {self.result.type.shape}")


@dataclass(frozen=True, kw_only=True)
class TransOp(Op):
    """Transpose of a 2-D tile."""

    NAME: ClassVar[str] = "tl.trans"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    value: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        src, dst = self.value.type, self.result.type
        if not isinstance(src, TileType) or src.rank != 2:
            self._fail("trans takes a 2-D tile")
        if dst != TileType((src.shape[1], src.shape[0]), src.dtype):
            self._fail(f"result of trans must be {TileType(src.shape[::-1], src.dtype)}")


# ---------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------

ARITH_FNS = ("add", "sub", "mul", "div", "floordiv", "mod", "maximum", "minimum", "pow")
BITWISE_FNS = ("and", "or", "xor", "shl", "shr")
COMPARE_FNS = ("lt", "le", "gt", "ge", "eq", "ne")
BINARY_FNS = ARITH_FNS + BITWISE_FNS + COMPARE_FNS

UNARY_FNS = ("neg", "not", "invert", "abs", "exp", "exp2", "log", "log2", "sqrt", "rsqrt",
             "sin", "cos", "tanh", "floor", "ceil", "sigmoid", "erf", "log1p", "expm1")
FLOAT_ONLY_UNARY = ("exp", "exp2", "log", "log2", "sqrt", "rsqrt", "sin", "cos", "tanh",
                    "floor", "ceil", "sigmoid", "erf", "log1p", "expm1")


@dataclass(frozen=True, kw_only=True)
class BinaryOp(Op):
    """Elementwise ``fn(lhs, rhs)`` on two values of one type.

    ``div`` is true division (floats only); ``floordiv`` and ``mod`` on integers
    truncate toward zero as in C (floats: floor and Python's modulo sign rule is
    *not* used; ``mod`` is ``fmod``). Comparisons give ``bool``.
    """

    NAME: ClassVar[str] = "tl.binary"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    fn: str = attr()
    lhs: Value = operand()
    rhs: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        if self.fn not in BINARY_FNS:
            self._fail(f"unknown binary fn {self.fn!r}")
        if not _is_value(self.lhs) or self.lhs.type != self.rhs.type:
            self._fail(f"operands must have one type, got {self.lhs.type} and {self.rhs.type}")
        dt = self.lhs.type.dtype
        _computable(self, dt)
        if self.fn == "div" and not dt.is_float:
            self._fail("div needs float operands")
        if self.fn in BITWISE_FNS and dt.is_float:
            self._fail(f"{self.fn} needs integer or bool operands")
        want = bool_ if self.fn in COMPARE_FNS else dt
        rt = self.result.type
        if rt != (TileType(rt.shape, want) if isinstance(rt, TileType) else ScalarType(want)) \
                or getattr(rt, "shape", ()) != getattr(self.lhs.type, "shape", ()):
            self._fail(f"result type {rt} does not match operands {self.lhs.type}")


@dataclass(frozen=True, kw_only=True)
class UnaryOp(Op):
    """Elementwise ``fn(value)``; math functions need a float operand."""

    NAME: ClassVar[str] = "tl.unary"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    fn: str = attr()
    value: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        if self.fn not in UNARY_FNS:
            self._fail(f"unknown unary fn {self.fn!r}")
        if not _is_value(self.value) or self.result.type != self.value.type:
            self._fail("unary keeps its operand's type")
        _computable(self, self.value.type.dtype)
        if self.fn in FLOAT_ONLY_UNARY and not self.value.type.dtype.is_float:
            self._fail(f"{self.fn} needs a float operand")
        if self.fn == "invert" and self.value.type.dtype.is_float:
            self._fail("invert needs an integer or bool operand")


@dataclass(frozen=True, kw_only=True)
class WhereOp(Op):
    """``cond ? x : y`` elementwise; all three of one shape."""

    NAME: ClassVar[str] = "tl.where"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    cond: Value = operand()
    x: Value = operand()
    y: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        if self.x.type != self.y.type or self.result.type != self.x.type:
            self._fail("x, y and result must have one type")
        ct = self.cond.type
        if not isinstance(ct, (ScalarType, TileType)) or ct.dtype != bool_:
            self._fail("cond must be bool")
        if isinstance(ct, TileType) != isinstance(self.x.type, TileType) or \
                getattr(ct, "shape", ()) != getattr(self.x.type, "shape", ()):
            self._fail("cond must have the shape of x and y")


@dataclass(frozen=True, kw_only=True)
class CastOp(Op):
    """Convert elements to the result's dtype (round to nearest even; ints wrap)."""

    NAME: ClassVar[str] = "tl.cast"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    value: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        src, dst = self.value.type, self.result.type
        if type(src) is not type(dst) or not _is_value(self.value):
            self._fail("cast keeps the kind of value")
        if getattr(src, "shape", ()) != getattr(dst, "shape", ()):
            self._fail("cast keeps the shape")


# ---------------------------------------------------------------------------
# reductions and dot
# ---------------------------------------------------------------------------

REDUCE_FNS = ("sum", "max", "min")


@dataclass(frozen=True, kw_only=True)
class ReduceOp(Op):
    """Reduce ``value`` along ``axis`` with ``fn``.

    Keeps the dtype; 16-bit floats accumulate in f32 and round once at the end.
    Without ``keepdims`` the axis disappears (a 1-D tile reduces to a scalar).
    """

    NAME: ClassVar[str] = "tl.reduce"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    fn: str = attr()
    axis: int = attr()
    keepdims: bool = attr(False)
    value: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        src = self.value.type
        if self.fn not in REDUCE_FNS:
            self._fail(f"unknown reduce fn {self.fn!r}")
        if not isinstance(src, TileType) or not 0 <= self.axis < src.rank:
            self._fail(f"axis {self.axis} out of range for {src}")
        _computable(self, src.dtype)
        shape = list(src.shape)
        if self.keepdims:
            shape[self.axis] = 1
        else:
            del shape[self.axis]
        want: Type = TileType(tuple(shape), src.dtype) if shape else ScalarType(src.dtype)
        if self.result.type != want:
            self._fail(f"result must be {want}, got {self.result.type}")


@dataclass(frozen=True, kw_only=True)
class DotOp(Op):
    """``a @ b + acc`` for 2-D tiles, accumulating in ``acc``'s dtype.

    Products of the input dtype are exact in the accumulator (bf16·bf16 in f32).
    """

    NAME: ClassVar[str] = "tl.dot"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    a: Value = operand()
    b: Value = operand()
    acc: Value = operand()

    def verify(self) -> None:
        self._expect_results(1)
        a, b, c = self.a.type, self.b.type, self.acc.type
        if not all(isinstance(t, TileType) and t.rank == 2 for t in (a, b, c)):
            self._fail("dot takes 2-D tiles")
        if a.shape[1] != b.shape[0]:
            self._fail(f"inner dimensions differ: {a} @ {b}")
        if c.shape != (a.shape[0], b.shape[1]):
            self._fail(f"accumulator {c} does not match {a} @ {b}")
        if a.dtype != b.dtype:
            self._fail("a and b must have one dtype")
        if self.result.type != c:
            self._fail("result must have the accumulator's type")


# The memory, debugging and control-flow ops live in memory_ops.py and
# control_ops.py (which build on the definitions above).
from tilelang.ir.control_ops import (  # noqa: E402,F401 (LOOP_KINDS: part of this API)
    LOOP_KINDS, AssertOp, ForOp, IfOp, PrintOp, ReturnOp, YieldOp,
)
from tilelang.ir.memory_ops import (  # noqa: E402
    AllocSharedOp, AtomicAddOp, BarrierOp, CopyOp, LoadOp, SharedLoadOp, SharedStoreOp, StoreOp,
)

ALL_OPS: tuple[type[Op], ...] = (
    ConstantOp, ProgramIdOp, NumProgramsOp, TensorDimOp, TensorStrideOp,
    SplatOp, ArangeOp, BroadcastOp, ReshapeOp, ConvertLayoutOp, TransOp,
    BinaryOp, UnaryOp, WhereOp, CastOp, ReduceOp, DotOp,
    LoadOp, StoreOp, AtomicAddOp,
    AllocSharedOp, CopyOp, SharedLoadOp, SharedStoreOp, BarrierOp,
    PrintOp, AssertOp, ForOp, IfOp, YieldOp, ReturnOp,
)
register_ops(ALL_OPS)


# The ops of shared-memory staging and pipelining (tl.shared_slice, tl.async_commit,
# tl.async_wait) live in their own module; importing it here registers them by name
# wherever the tile IR is loaded.
from tilelang.ir import staging_ops as _staging_ops  # noqa: E402,F401

# Read-modify-write atomics returning old values (tl.atomic_max/min/and/or/xor/xchg/cas).
from tilelang.ir import atomic_ops as _atomic_ops  # noqa: E402,F401
