"""Reductions and ``tl.dot`` for lower-to-threads, through the shared scratch area.

The operand tiles are stored row-major in scratch; each thread then computes
its own result slots by reading the elements it needs, in one runtime loop over
the reduced dimension that carries every slot's accumulator. Narrow floats
accumulate in f32 and round once at the end, as the interpreter does (the order
of the additions differs, so sums may differ in the last bits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from tilelang.ir import ops as o
from tilelang.ir.types import DType, ScalarType, TileType, f32, i32
from tilelang.ir.values import Value

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import Tile, _Lowering

_COMBINE = {"sum": "add", "max": "maximum", "min": "minimum"}


def _acc_dtype(dtype: DType) -> DType:
    return f32 if dtype.is_float and dtype.bits < 32 else dtype


def _loop(L: "_Lowering", n: int, inits: list[Value],
          body: Callable[[Value, list[Value]], list[Value]]) -> list[Value]:
    """``for k in range(n)`` carrying ``inits``; ``body(k, carried)`` gives the next values."""
    b = L.b.builder
    lower, upper, step = L.b.const(0, i32), L.b.const(n, i32), L.b.const(1, i32)
    b.push()
    k = b.fresh(ScalarType(i32), "k")
    args = [b.fresh(v.type, "acc") for v in inits]
    nxt = body(k, args)
    L.b.emit0(o.YieldOp, values=tuple(nxt))
    block = b.pop((k, *args))
    results = [b.fresh(v.type, "acc") for v in inits]
    b.emit(o.ForOp(results=tuple(results), loc=L.b.loc, lower=lower, upper=upper, step=step,
                   inits=tuple(inits), body=block))
    return results


def lower_reduce(L: "_Lowering", op: o.ReduceOp) -> None:
    src: "Tile" = L.val(op.value)
    st: TileType = src.type
    L.stash(src)
    acc_dt = _acc_dtype(st.dtype)
    step = 1
    for s in st.shape[op.axis + 1:]:
        step *= s
    out_t = op.result.type
    out_shape = out_t.shape if isinstance(out_t, TileType) else ()
    if isinstance(out_t, TileType):
        lay = L.layout(out_t)
        slots = list(range(lay.slots))
    else:
        lay, slots = None, [0]
    bases = []
    for r in slots:
        coords = L.coords(L.flat(lay, r), out_shape) if lay is not None else []
        if not op.keepdims:
            coords.insert(op.axis, L.b.const(0, i32))
        else:
            coords[op.axis] = L.b.const(0, i32)
        base = L.flatten(coords, st.shape)
        valid = L.valid(lay, r) if lay is not None else None
        if valid is not None:
            base = L.b.where(valid, base, L.b.const(0, i32))
        bases.append(base)
    fn = _COMBINE[op.fn]
    inits = [L.b.cast(L.fetch(base, st.dtype), acc_dt) for base in bases]
    stride = L.b.const(step, i32)

    def body(k: Value, accs: list[Value]) -> list[Value]:
        kk = L.b.add(k, L.b.const(1, i32))
        return [L.b.binary(fn, a, L.b.cast(L.fetch(L.b.add(base, L.b.mul(kk, stride)),
                                                    st.dtype), acc_dt))
                for base, a in zip(bases, accs)]

    n = st.shape[op.axis]
    accs = _loop(L, n - 1, inits, body) if n > 1 else inits
    outs = [L.b.cast(a, st.dtype) for a in accs]
    if lay is None:
        L.bind(op.result, outs[0])
    else:
        L.bind(op.result, L.new_tile(out_t, outs))


def lower_dot(L: "_Lowering", op: o.DotOp) -> None:
    a: "Tile" = L.val(op.a)
    bt: "Tile" = L.val(op.b)
    acc: "Tile" = L.val(op.acc)
    k_, n_ = a.type.shape[1], bt.type.shape[1]
    out_t: TileType = op.result.type
    ins = L.unit.select(a.type, bt.type, acc.type)
    if ins is not None:
        L.bind(op.result, L.new_tile(out_t, L.vendor.lower_dot(L, ins, a, bt, acc, out_t)))
        return
    b_base = L.stash(a)
    L.stash(bt, base=b_base)
    acc_dt = _acc_dtype(out_t.dtype)
    lay = acc.layout
    rows, cols = [], []
    for r in range(lay.slots):
        mi, ni = L.coords(L.flat(lay, r), out_t.shape)
        valid = L.valid(lay, r)
        if valid is not None:
            zero = L.b.const(0, i32)
            mi, ni = L.b.where(valid, mi, zero), L.b.where(valid, ni, zero)
        rows.append(L.b.mul(mi, L.b.const(k_, i32)))
        cols.append(ni)
    inits = [L.b.cast(v, acc_dt) for v in acc.slots]
    in_dt = a.type.dtype
    width = L.b.const(n_, i32)

    def body(k: Value, accs: list[Value]) -> list[Value]:
        out = []
        for row, col, s in zip(rows, cols, accs):
            x = L.b.cast(L.fetch(L.b.add(row, k), in_dt), acc_dt)
            y = L.b.cast(L.fetch(L.b.add(L.b.mul(k, width), col), in_dt, base=b_base), acc_dt)
            out.append(L.b.add(s, L.b.mul(x, y)))
        return out

    accs = _loop(L, k_, inits, body)
    L.bind(op.result, L.new_tile(out_t, [L.b.cast(v, out_t.dtype) for v in accs]))
