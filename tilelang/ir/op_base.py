"""The op framework of both IRs: traits, field kinds, the ``Op`` base class, walking,
and the registry of op classes by name that the text format reads.

Every op is a frozen, keyword-only dataclass. Its fields are of four kinds,
declared with the helpers below and discovered generically (by the printer,
the parser, the verifier and the interpreter) through ``op_fields``:

* ``operand()``      one ``Value``;
* ``opt_operand()``  a ``Value`` or ``None``;
* ``operands()``     a tuple of ``Value``s;
* ``attr()``         a compile-time attribute (int, float, bool, str, DType, tuple);
* ``region()``       a ``Block``.

``results`` holds the values an op defines, ``loc`` its Python source line.
Analyses ask an op's ``TRAITS``, never its class name. The op modules
(``ops.py``, ``control_ops.py``, ``memory_ops.py``, ``staging_ops.py``,
``thread_ops.py``, ...) define ops on this base and ``register_ops`` them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Iterator

from tilelang.errors import IRError
from tilelang.ir.types import (
    ScalarType, TileType,
)
from tilelang.ir.values import Block, Loc, Value


class Trait(enum.Enum):
    """Properties analyses and passes ask about."""

    PURE = "pure"                    # no side effects; removable when unused
    READS_MEMORY = "reads_memory"
    WRITES_MEMORY = "writes_memory"
    TERMINATOR = "terminator"        # ends a block
    HAS_REGIONS = "has_regions"
    CONVERGENT = "convergent"        # every lane of a warp must execute it together


class FieldKind(enum.Enum):
    OPERAND = "operand"
    OPT_OPERAND = "opt_operand"
    OPERANDS = "operands"
    ATTR = "attr"
    REGION = "region"


def operand() -> Any:
    return field(metadata={"kind": FieldKind.OPERAND})


def opt_operand() -> Any:
    return field(default=None, metadata={"kind": FieldKind.OPT_OPERAND})


def operands() -> Any:
    return field(default=(), metadata={"kind": FieldKind.OPERANDS})


def attr(default: Any = dataclass) -> Any:
    if default is dataclass:
        return field(metadata={"kind": FieldKind.ATTR})
    return field(default=default, metadata={"kind": FieldKind.ATTR})


def region() -> Any:
    return field(metadata={"kind": FieldKind.REGION})


@dataclass(frozen=True, kw_only=True)
class Op:
    """Base of all ops: results, a source location, traits and ``verify()``."""

    NAME: ClassVar[str] = ""
    TRAITS: ClassVar[frozenset[Trait]] = frozenset()

    results: tuple[Value, ...] = ()
    loc: Loc | None = None

    # -- generic structure -------------------------------------------------
    def operand_values(self) -> tuple[Value, ...]:
        """All operand values in field order (optional ones only when set)."""
        out: list[Value] = []
        for f, kind in _operand_fields(type(self)):
            v = getattr(self, f)
            if kind is FieldKind.OPERAND:
                out.append(v)
            elif kind is FieldKind.OPERANDS:
                out.extend(v)
            elif v is not None:
                out.append(v)
        return tuple(out)

    def attributes(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f, k in op_fields(type(self)) if k is FieldKind.ATTR}

    def regions(self) -> tuple[Block, ...]:
        names = _region_fields(type(self))
        return tuple(getattr(self, f) for f in names) if names else ()

    def has_trait(self, trait: Trait) -> bool:
        return trait in self.TRAITS

    @property
    def result(self) -> Value:
        """The single result of a one-result op."""
        if len(self.results) != 1:
            raise IRError(f"{self.NAME} has {len(self.results)} results, not one")
        return self.results[0]

    # -- checking ------------------------------------------------------------
    def verify(self) -> None:
        """Check this op's local invariants; raise ``IRError`` if broken."""

    def _fail(self, message: str) -> None:
        where = f" at {self.loc}" if self.loc else ""
        raise IRError(f"{self.NAME}{where}: {message}")

    def _expect_results(self, n: int) -> None:
        if len(self.results) != n:
            self._fail(f"expected {n} result(s), got {len(self.results)}")


_FIELDS_CACHE: dict[type, tuple[tuple[str, FieldKind], ...]] = {}


def op_fields(cls: type) -> tuple[tuple[str, FieldKind], ...]:
    """``(name, kind)`` of each operand/attribute/region field of an op class."""
    cached = _FIELDS_CACHE.get(cls)
    if cached is None:
        cached = tuple((f.name, f.metadata["kind"]) for f in fields(cls) if "kind" in f.metadata)
        _FIELDS_CACHE[cls] = cached
    return cached


# Passes ask every op for its operands and regions many times: per-class field
# lists make that a few attribute reads.
_OPERAND_FIELDS: dict[type, tuple[tuple[str, FieldKind], ...]] = {}
_REGION_FIELDS: dict[type, tuple[str, ...]] = {}
_OPERAND_KINDS = (FieldKind.OPERAND, FieldKind.OPT_OPERAND, FieldKind.OPERANDS)


def _operand_fields(cls: type) -> tuple[tuple[str, FieldKind], ...]:
    cached = _OPERAND_FIELDS.get(cls)
    if cached is None:
        cached = tuple((f, k) for f, k in op_fields(cls) if k in _OPERAND_KINDS)
        _OPERAND_FIELDS[cls] = cached
    return cached


def _region_fields(cls: type) -> tuple[str, ...]:
    cached = _REGION_FIELDS.get(cls)
    if cached is None:
        cached = tuple(f for f, k in op_fields(cls) if k is FieldKind.REGION)
        _REGION_FIELDS[cls] = cached
    return cached


def walk(block: Block) -> Iterator[Op]:
    """Every op in ``block`` and, recursively, in the regions of its ops (pre-order)."""
    for op in block.ops:
        yield op
        for r in op.regions():
            yield from walk(r)


# ---------------------------------------------------------------------------
# helpers for verify()
# ---------------------------------------------------------------------------

def _is_scalar(v: Value) -> bool:
    return isinstance(v.type, ScalarType)


def _is_tile(v: Value) -> bool:
    return isinstance(v.type, TileType)


def _is_value(v: Value) -> bool:
    return isinstance(v.type, (ScalarType, TileType))


def _is_int_scalar(v: Value) -> bool:
    return isinstance(v.type, ScalarType) and (v.type.dtype.is_int or v.type.dtype.is_bool)


# Every op class the text format knows, by ``NAME`` (filled by ``register_ops``).
OPS_BY_NAME: dict[str, type[Op]] = {}


def register_ops(classes: tuple[type[Op], ...]) -> None:
    """Make more op classes known to the text format (by their ``NAME``)."""
    for cls in classes:
        if OPS_BY_NAME.get(cls.NAME, cls) is not cls:
            raise ValueError(f"two op classes are named {cls.NAME}")
        OPS_BY_NAME[cls.NAME] = cls
