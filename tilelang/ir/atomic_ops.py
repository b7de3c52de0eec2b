"""Read-modify-write atomics that return the old values: ``tl.atomic_max``,
``tl.atomic_min``, ``tl.atomic_and``, ``tl.atomic_or``, ``tl.atomic_xor``,
``tl.atomic_xchg`` and ``tl.atomic_cas`` on a window of a global tensor, and the
thread op ``th.atomic_rmw_global`` they lower to.

Every atomic is relaxed (no ordering with other memory accesses) at device
scope: PTX ``atom.global`` without ``.sem``/``.scope`` (which is ``.relaxed.gpu``),
HIP's ``atomicMax``/... (relaxed, agent scope). Importing this module registers
the ops by name (``tilelang.ir.ops`` does so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.memory_ops import _verify_mask, _verify_window
from tilelang.ir.op_base import Op, Trait, attr, operand, operands, opt_operand, register_ops
from tilelang.ir.types import DType, ScalarType, TileType, bool_, i64
from tilelang.ir.values import Value

#: The read-modify-write kinds; ``cas`` also takes ``cmp``.
ATOMIC_KINDS = ("max", "min", "and", "or", "xor", "xchg", "cas")


def atomic_dtype_error(kind: str, dtype: DType) -> str | None:
    """Why ``kind`` cannot act on ``dtype`` elements (``None``: it can).

    The rules are the intersection of what PTX ``atom.global`` and HIP's atomic
    functions do natively on 32/64-bit words: integer kinds on 32/64-bit
    integers; ``xchg`` also on f32/f64 (a bit exchange).
    """
    if dtype.bits not in (32, 64) or dtype.is_bool:
        return f"tl.atomic_{kind} acts on 32- or 64-bit elements, not {dtype}"
    if dtype.is_float and kind != "xchg":
        return f"tl.atomic_{kind} acts on integer elements, not {dtype}"
    return None


@dataclass(frozen=True, kw_only=True)
class AtomicRMWOp(Op):
    """Atomically combine ``value`` into ``tensor[offsets : offsets + value.shape]``
    with ``kind`` and give the elements' old values.

    Bounds and mask as ``tl.store``: an element outside ``tensor.shape`` or where
    ``mask`` is false is neither read nor written and its result is zero. ``cas``
    writes ``value`` where the old element equals ``cmp``.
    """

    NAME: ClassVar[str] = "tl.atomic_rmw"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})
    kind: str = attr()
    tensor: Value = operand()
    offsets: tuple[Value, ...] = operands()
    value: Value = operand()
    cmp: Value | None = opt_operand()
    mask: Value | None = opt_operand()

    def verify(self) -> None:
        self._expect_results(1)
        vt = self.value.type
        if self.kind not in ATOMIC_KINDS:
            self._fail(f"unknown atomic kind {self.kind!r}")
        if not isinstance(vt, TileType):
            self._fail("value must be a tile")
        _verify_window(self, self.tensor, self.offsets, vt.shape)
        if vt.dtype != self.tensor.type.dtype:
            self._fail(f"value dtype {vt.dtype} differs from the tensor's {self.tensor.type.dtype}")
        why = atomic_dtype_error(self.kind, vt.dtype)
        if why:
            self._fail(why)
        if (self.kind == "cas") != (self.cmp is not None):
            self._fail("cmp is given exactly for cas")
        if self.cmp is not None and self.cmp.type != vt:
            self._fail(f"cmp must be {vt}")
        if self.result.type != vt:
            self._fail(f"result must be {vt}")
        _verify_mask(self, self.mask, vt.shape)


@dataclass(frozen=True, kw_only=True)
class AtomicRMWGlobalOp(Op):
    """Atomically combine ``value`` with ``kind`` into the element at global byte
    address ``addr`` where ``pred`` holds; the result is the element's old value
    (zero where ``pred`` is false)."""

    NAME: ClassVar[str] = "th.atomic_rmw_global"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})
    kind: str = attr()
    addr: Value = operand()
    value: Value = operand()
    cmp: Value | None = opt_operand()
    pred: Value | None = opt_operand()

    def verify(self) -> None:
        self._expect_results(1)
        if self.addr.type != ScalarType(i64) or not isinstance(self.value.type, ScalarType):
            self._fail("atomic_rmw_global takes an i64 address and a scalar")
        if self.kind not in ATOMIC_KINDS:
            self._fail(f"unknown atomic kind {self.kind!r}")
        why = atomic_dtype_error(self.kind, self.value.type.dtype)
        if why:
            self._fail(why)
        if (self.kind == "cas") != (self.cmp is not None):
            self._fail("cmp is given exactly for cas")
        if self.cmp is not None and self.cmp.type != self.value.type:
            self._fail(f"cmp must be {self.value.type}")
        if self.pred is not None and self.pred.type != ScalarType(bool_):
            self._fail("pred must be a bool scalar")
        if self.result.type != self.value.type:
            self._fail(f"result must be {self.value.type}")


register_ops((AtomicRMWOp, AtomicRMWGlobalOp))

__all__ = ["ATOMIC_KINDS", "AtomicRMWGlobalOp", "AtomicRMWOp", "atomic_dtype_error"]
