"""Rebuilding frozen ops: replace operand values, regions or whole blocks."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from tilelang.ir.ops import FieldKind, Op, op_fields
from tilelang.ir.values import Block, Value


def map_operands(op: Op, fn: Callable[[Value], Value]) -> Op:
    """``op`` with every operand ``v`` replaced by ``fn(v)`` (regions untouched)."""
    changes = {}
    for name, kind in op_fields(type(op)):
        v = getattr(op, name)
        if kind is FieldKind.OPERAND:
            new = fn(v)
        elif kind is FieldKind.OPT_OPERAND:
            new = fn(v) if v is not None else None
        elif kind is FieldKind.OPERANDS:
            new = tuple(fn(x) for x in v)
            if all(a is b for a, b in zip(new, v)):
                new = v   # unchanged: keep the op itself (its identity spares re-checks)
        else:
            continue
        if new is not v:   # (an equal value may still differ in its layout annotation)
            changes[name] = new
    return replace(op, **changes) if changes else op


def map_regions(op: Op, fn: Callable[[Block], Block]) -> Op:
    """``op`` with every region ``b`` replaced by ``fn(b)``."""
    changes = {}
    for name, kind in op_fields(type(op)):
        if kind is FieldKind.REGION:
            old = getattr(op, name)
            new = fn(old)
            if new is not old:
                changes[name] = new
    return replace(op, **changes) if changes else op


def substitute(block: Block, mapping: dict[str, Value]) -> Block:
    """``block`` with uses of values named in ``mapping`` replaced, in nested regions too."""
    if not mapping:
        return block

    def sub(v: Value) -> Value:
        return mapping.get(v.name, v)

    ops = tuple(map_regions(map_operands(op, sub), lambda b: substitute(b, mapping))
                for op in block.ops)
    return Block(block.args, ops)
