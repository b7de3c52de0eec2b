"""Operand readers and writers, bound once per instruction to a ``Program``'s register
views: ``reader(p, op, t)`` gives ``read(lanes)``, the operand as an array (or a numpy
scalar for an immediate) of PTX type ``t``; ``writer(p, op, t)`` gives
``write(lanes, value)``. ``lanes`` is ``ALL`` (a slice) or an index array of threads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tilelang.emulator.ptx.errors import PtxError
from tilelang.emulator.ptx.parser import Imm, Reg, Sink, Special, Sym, Vec
from tilelang.emulator.ptx.state import REG_DTYPE, UINT, convert_width, type_dtype

ALL = slice(None)
Read = Callable[[Any], Any]
Write = Callable[[Any, Any], None]


def count(lanes: Any, threads: int) -> int:
    return threads if isinstance(lanes, slice) else len(lanes)


def imm_value(op: Imm, t: str) -> Any:
    """An immediate as a numpy scalar of type ``t``: float immediates carry their bits,
    integers are wrapped to the type's width."""
    dt = np.dtype(type_dtype(t))
    if op.is_float:
        bits = np.array(op.value, UINT[op.width])
        val = bits.view(np.float32 if op.width == 32 else np.float64)
        if dt.kind == "f":
            return val.astype(dt)[()]
        return convert_width(bits, dt)[()]
    if dt.kind == "f":
        return dt.type(op.value)
    if dt == np.bool_:
        return np.bool_(op.value != 0)
    return np.array(op.value & ((1 << (8 * dt.itemsize)) - 1), UINT[8 * dt.itemsize]) \
        .view(dt)[()]


def reader(p: Any, op: Any, t: str) -> Read:
    """``read(lanes)`` of operand ``op`` as PTX type ``t``."""
    dt = np.dtype(type_dtype(t))
    if isinstance(op, Reg):
        file = p.regs.files[op.kind]
        i = op.index
        if op.kind == "pred":
            if dt != np.bool_:
                return lambda lanes: file[i, lanes].astype(dt)
            return lambda lanes: file[i, lanes]
        if np.dtype(REG_DTYPE[op.kind]).itemsize == dt.itemsize:
            view = p.regs.view(op.kind, dt)
            return lambda lanes: view[i, lanes]
        return lambda lanes: convert_width(file[i, lanes], dt)
    if isinstance(op, Imm):
        v = imm_value(op, t)
        return lambda lanes: v
    if isinstance(op, Special):
        return p.special(op.name, dt)
    if isinstance(op, Sym):
        addr = p.symbol_address(op.name)
        v = np.array(addr, np.uint64).astype(dt)[()] if dt.kind != "f" else None
        if v is None:
            raise PtxError(f"the symbol '{op.name}' used as a {t} value")
        return lambda lanes: v
    raise PtxError(f"cannot read the operand {op!r} as .{t}")


def writer(p: Any, op: Any, t: str) -> Write:
    """``write(lanes, value)`` of a value of PTX type ``t`` into register ``op``."""
    dt = np.dtype(type_dtype(t))
    if isinstance(op, Sink):
        return lambda lanes, v: None
    if not isinstance(op, Reg):
        raise PtxError(f"the destination {op!r} is not a register")
    file = p.regs.files[op.kind]
    i = op.index
    if op.kind == "pred":
        return lambda lanes, v: file.__setitem__((i, lanes), v)
    rdt = np.dtype(REG_DTYPE[op.kind])
    if rdt.itemsize == dt.itemsize:
        view = p.regs.view(op.kind, dt)

        def write(lanes: Any, v: Any) -> None:
            view[i, lanes] = v
        return write

    def write_convert(lanes: Any, v: Any) -> None:
        file[i, lanes] = convert_width(np.asarray(v, dt), rdt)
    return write_convert


def vector_items(op: Any) -> tuple:
    """The elements of a ``{...}`` operand, or the operand itself as one element."""
    return op.items if isinstance(op, Vec) else (op,)


__all__ = ["ALL", "count", "imm_value", "reader", "vector_items", "writer"]
