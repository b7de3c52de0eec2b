"""Element dtypes and the types of IR values.

Four value types exist in the tile IR:

* ``ScalarType``  a single value (``i32``), e.g. a program id or a loop counter;
* ``TileType``    a register tile with a static shape (``tile<64x32xbf16>``);
* ``SharedType``  a shared-memory buffer with a static shape (``shared<64x32xbf16>``);
* ``TensorType``  a kernel argument in global memory: element dtype and rank,
  shape and strides are runtime values (``tensor<bf16, 2>``), plus the
  alignment and contiguity facts it was specialized on
  (``tensor<bf16, 2, aligned, unit_stride, divisible>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class DType:
    """An element type: its name in the language, width in bits and kind."""

    name: str
    bits: int
    kind: str  # "float" | "int" | "uint" | "bool"
    # a float's exponent and mantissa widths (sign + exp + man == bits); 0 for the rest
    exp: int = 0
    man: int = 0

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_int(self) -> bool:
        """Signed or unsigned integer (not bool)."""
        return self.kind in ("int", "uint")

    @property
    def is_signed(self) -> bool:
        return self.kind == "int"

    @property
    def is_bool(self) -> bool:
        return self.kind == "bool"

    @property
    def is_lowbit(self) -> bool:
        """A storage format (``docs/lowbit.md``): an integer under 8 bits or a float
        of at most 8. Tensors of it are packed in memory; tiles of it are loaded,
        stored, reshaped and converted, and arithmetic happens after a ``.to()``."""
        return (self.is_int and self.bits < 8) or (self.is_float and self.bits <= 8)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"tl.{self.name}"


f16 = DType("f16", 16, "float")
bf16 = DType("bf16", 16, "float")
f32 = DType("f32", 32, "float")
f64 = DType("f64", 64, "float")
f8e4m3 = DType("f8e4m3", 8, "float", 4, 3)
f8e5m2 = DType("f8e5m2", 8, "float", 5, 2)
i4 = DType("i4", 4, "int")
i8 = DType("i8", 8, "int")
i16 = DType("i16", 16, "int")
i32 = DType("i32", 32, "int")
i64 = DType("i64", 64, "int")
u4 = DType("u4", 4, "uint")
u8 = DType("u8", 8, "uint")
u16 = DType("u16", 16, "uint")
u32 = DType("u32", 32, "uint")
u64 = DType("u64", 64, "uint")
bool_ = DType("bool", 1, "bool")

# every low-bit format: integers of 1..7 bits, floats of sign + exp + man = 3..8 bits
# (exp >= 1, man >= 1); f8e4m3, f8e5m2, i4 and u4 above are four of them
_NAMED = {d.name: d for d in (f8e4m3, f8e5m2, i4, u4)}
LOWBIT_INTS: tuple[DType, ...] = tuple(
    _NAMED.get(f"{p}{b}") or DType(f"{p}{b}", b, kind)
    for kind, p in (("int", "i"), ("uint", "u")) for b in range(1, 8))
LOWBIT_FLOATS: tuple[DType, ...] = tuple(
    _NAMED.get(f"f{1 + e + m}e{e}m{m}") or DType(f"f{1 + e + m}e{e}m{m}", 1 + e + m, "float", e, m)
    for e in range(1, 7) for m in range(1, 7) if 3 <= 1 + e + m <= 8)
f6e3m2, f6e2m3, f4e2m1 = (next(d for d in LOWBIT_FLOATS if d.name == n)
                          for n in ("f6e3m2", "f6e2m3", "f4e2m1"))

ALL_DTYPES: tuple[DType, ...] = tuple(dict.fromkeys((
    f16, bf16, f32, f64, f8e4m3, f8e5m2,
    i4, i8, i16, i32, i64, u4, u8, u16, u32, u64, bool_) + LOWBIT_INTS + LOWBIT_FLOATS))
DTYPES_BY_NAME: dict[str, DType] = {d.name: d for d in ALL_DTYPES}


def int_type(bits: int, signed: bool = True) -> DType:
    """``tl.int(bits)`` / ``tl.uint(bits)``: two's-complement or unsigned integers of
    1 to 8 bits (and the usual 16, 32, 64)."""
    if not isinstance(bits, int) or isinstance(bits, bool) or \
            not (1 <= bits <= 8 or bits in (16, 32, 64)):
        raise ValueError(f"integer width must be 1..8, 16, 32 or 64 bits, got {bits!r}")
    return DTYPES_BY_NAME[f"{'i' if signed else 'u'}{bits}"]


def float_type(exp: int, man: int) -> DType:
    """``tl.float(exp, man)``: the float format with a sign bit, ``exp`` exponent bits and
    ``man`` mantissa bits, 3 to 8 bits in all (rules in ``docs/lowbit.md``); also the
    usual f16 (5, 10), bf16 (8, 7), f32 (8, 23) and f64 (11, 52)."""
    usual = {(5, 10): f16, (8, 7): bf16, (8, 23): f32, (11, 52): f64}
    if (exp, man) in usual:
        return usual[(exp, man)]
    name = f"f{1 + exp + man}e{exp}m{man}" if isinstance(exp, int) and isinstance(man, int) \
        else ""
    if name not in DTYPES_BY_NAME:
        raise ValueError(f"no float format with {exp!r} exponent and {man!r} mantissa bits: "
                         "sign + exponent + mantissa must be 3..8 bits with at least one "
                         "of each (or f16, bf16, f32, f64)")
    return DTYPES_BY_NAME[name]


def dtype_from_name(name: str) -> DType:
    """The dtype called ``name`` (``"bf16"``); ``KeyError`` if there is none."""
    return DTYPES_BY_NAME[name]


@dataclass(frozen=True)
class ScalarType:
    """One value of ``dtype``."""

    dtype: DType

    def __str__(self) -> str:
        return self.dtype.name


@dataclass(frozen=True)
class TileType:
    """A register tile: a static ``shape`` of ``dtype`` elements.

    ``layout`` is an annotation set by the ``assign-layouts`` pass: the register
    layout expression (``tilelang.ir.layouts``) that spreads the tile over a
    block's threads, or ``""`` for the default blocked layout. It prints in the
    IR but is not part of the type's identity (equality and hashing ignore it):
    the layout says where elements live, not what the values are.
    """

    shape: tuple[int, ...]
    dtype: DType
    layout: str = field(default="", compare=False)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def __str__(self) -> str:
        lay = f", {self.layout}" if self.layout else ""
        return f"tile<{_shape_str(self.shape, self.dtype)}{lay}>"


@dataclass(frozen=True)
class SharedType:
    """A shared-memory buffer: a static ``shape`` of ``dtype`` elements.

    ``swizzle`` is an annotation (``"Swizzle(bits, base, shift)"`` of
    ``tilelang.ir.shared_layouts``, ``""`` for none): the buffer is row-major with
    that XOR permutation of its 16-byte chunks, chosen so the accesses the
    lowering makes (``ldmatrix`` rows, 16-byte copies) hit distinct banks. Like a
    tile's layout it says where elements live, so equality ignores it.
    """

    shape: tuple[int, ...]
    dtype: DType
    swizzle: str = field(default="", compare=False)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        swz = f", {self.swizzle}" if self.swizzle else ""
        return f"shared<{_shape_str(self.shape, self.dtype)}{swz}>"


# The facts a tensor argument may be specialized on (DESIGN §6), in text order;
# ``:16`` in a signature claims the three alignment facts.
TENSOR_FACTS: tuple[str, ...] = ("aligned", "unit_stride", "divisible", "wide")
ALIGNMENT_FACTS: tuple[str, ...] = TENSOR_FACTS[:3]
# a dim or stride from this magnitude on needs the ``wide`` specialization
WIDE_INDEX = 1 << 31
VECTOR_BYTES = 16  # the widest global and shared access (ld.global.v4.b32)


@dataclass(frozen=True)
class TensorType:
    """A tensor in global memory: ``dtype`` and ``rank`` are static, shape and strides not.

    Facts the kernel was specialized on (each ``False`` when unknown):

    * ``aligned``: the address of element 0 is a multiple of 16 bytes;
    * ``unit_stride``: ``stride(rank - 1) == 1`` (rows are contiguous);
    * ``divisible``: ``shape[rank - 1]`` and every ``stride(d)`` with
      ``d < rank - 1`` are multiples of ``elements_per_16_bytes`` (so every row
      starts 16-byte aligned when the tensor is, and a 16-byte-aligned vector
      of at most 16 bytes along the last axis is wholly inside a row or wholly
      past its end);
    * ``wide``: some dim or stride (in elements) is at least ``2**31``: shapes,
      strides and element indices are i64 (``index_dtype``), else i32.
    """

    dtype: DType
    rank: int
    aligned: bool = False
    unit_stride: bool = False
    divisible: bool = False
    wide: bool = False

    @property
    def index_dtype(self) -> DType:
        """The dtype of the tensor's shape, strides and element indices."""
        return i64 if self.wide else i32

    @property
    def facts(self) -> tuple[str, ...]:
        """The names of the facts that hold, in ``TENSOR_FACTS`` order."""
        return tuple(f for f in TENSOR_FACTS if getattr(self, f))

    @property
    def elements_per_16_bytes(self) -> int:
        """How many elements fill 16 bytes; for a packed low-bit tensor, of its
        narrowest plane (``tilelang.ir.lowbit``): 8 * 16 / that plane's width."""
        bits = self.dtype.bits
        if self.dtype.is_lowbit and bits < 8:
            return 8 * VECTOR_BYTES // (bits & -bits)
        return VECTOR_BYTES // max(1, bits // 8)

    def __str__(self) -> str:
        facts = "".join(f", {f}" for f in self.facts)
        return f"tensor<{self.dtype.name}, {self.rank}{facts}>"


Type = Union[ScalarType, TileType, SharedType, TensorType]


def _shape_str(shape: tuple[int, ...], dtype: DType) -> str:
    return "x".join([str(s) for s in shape] + [dtype.name])


def element_type(t: Type) -> DType:
    """The element dtype of any value type."""
    return t.dtype


def with_dtype(t: ScalarType | TileType, dtype: DType) -> ScalarType | TileType:
    """``t`` with its element dtype replaced (same shape)."""
    if isinstance(t, TileType):
        return TileType(t.shape, dtype)
    return ScalarType(dtype)


def shape_of(t: Type) -> tuple[int, ...]:
    """Static shape of a scalar (``()``), tile or shared buffer."""
    if isinstance(t, ScalarType):
        return ()
    if isinstance(t, (TileType, SharedType)):
        return t.shape
    raise TypeError(f"{t} has no static shape")
