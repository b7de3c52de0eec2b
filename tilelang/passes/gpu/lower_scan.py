"""``tl.argreduce``, ``tl.scan`` and ``tl.associative_scan`` for lower-to-threads,
through the op's scratch range.

As ``lower_reduce``: the operand tile is stored row-major in scratch, then each
thread computes its own result slots by reading along the axis in one runtime
loop.

* argmax/argmin carry (best value, its index) and take an element when it is
  strictly better, or when it is NaN and the best is not: the first index on
  ties, the first NaN wins (numpy's rules, as the interpreter's ``np.argmax``);
* a running sum/product slot at position ``i`` of the axis carries the
  accumulator over the whole axis and takes each step only while ``k <= i``
  (``k >= i`` reversed), selecting rather than adding a neutral element, so the
  values are the interpreter's sequential ones bit for bit (a ``-0.0`` prefix
  stays ``-0.0``). 16-bit floats accumulate in f32 and round per output.

Each slot reads the whole axis: O(n) per element, which suits the axis lengths
a tile holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tilelang.ir.scan_ops import ArgReduceOp, AssociativeScanOp, ScanOp
from tilelang.ir.types import TileType, i32
from tilelang.ir.values import Block, Value
from tilelang.passes.gpu.lower_reduce import _acc_dtype, _loop

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import Tile, _Lowering

_BETTER = {"argmax": "gt", "argmin": "lt"}
_STEP = {"sum": "add", "prod": "mul"}


def _stride(shape: tuple[int, ...], axis: int) -> int:
    step = 1
    for s in shape[axis + 1:]:
        step *= s
    return step


def lower_argreduce(L: "_Lowering", op: ArgReduceOp) -> None:
    src: "Tile" = L.val(op.value)
    st: TileType = src.type
    L.stash(src)
    acc_dt = _acc_dtype(st.dtype)
    out_t = op.result.type
    out_shape = out_t.shape if isinstance(out_t, TileType) else ()
    lay = L.layout(out_t) if isinstance(out_t, TileType) else None
    bases = []
    for r in range(lay.slots if lay is not None else 1):
        coords = L.coords(L.flat(lay, r), out_shape) if lay is not None else []
        if op.keepdims:
            coords[op.axis] = L.b.const(0, i32)
        else:
            coords.insert(op.axis, L.b.const(0, i32))
        base = L.flatten(coords, st.shape)
        valid = L.valid(lay, r) if lay is not None else None
        bases.append(base if valid is None else L.b.where(valid, base, L.b.const(0, i32)))
    stride = L.b.const(_stride(st.shape, op.axis), i32)
    better, is_float = _BETTER[op.fn], st.dtype.is_float

    def at(base: Value, k: Value) -> Value:
        return L.b.cast(L.fetch(L.b.add(base, L.b.mul(k, stride)), st.dtype), acc_dt)

    inits = [L.b.cast(L.fetch(base, st.dtype), acc_dt) for base in bases]
    inits += [L.b.const(0, i32)] * len(bases)

    def body(k: Value, carried: list[Value]) -> list[Value]:
        kk = L.b.add(k, L.b.const(1, i32))
        n = len(bases)
        vals, idxs = [], []
        for base, best, idx in zip(bases, carried[:n], carried[n:]):
            x = at(base, kk)
            take = L.b.cmp(better, x, best)
            if is_float:   # a NaN beats a number; the first NaN stays
                nan_x, nan_best = L.b.cmp("ne", x, x), L.b.cmp("ne", best, best)
                take = L.b.binary("or", take,
                                  L.b.binary("and", nan_x, L.b.unary("not", nan_best)))
            vals.append(L.b.where(take, x, best))
            idxs.append(L.b.where(take, kk, idx))
        return vals + idxs

    n = st.shape[op.axis]
    carried = _loop(L, n - 1, inits, body) if n > 1 else inits
    idxs = carried[len(bases):]
    if lay is None:
        L.bind(op.result, idxs[0])
    else:
        L.bind(op.result, L.new_tile(out_t, idxs))


def _lines(L: "_Lowering", lay: Any, shape: tuple[int, ...],
           axis: int) -> tuple[list[Value], list[Value]]:
    """Per slot of ``lay``: the flat index of its line's first element (position 0
    along ``axis``) and its position on the line (both 0 for a padding slot)."""
    bases, positions = [], []
    for r in range(lay.slots):
        coords = L.coords(L.flat(lay, r), shape)
        pos = coords[axis]
        coords[axis] = L.b.const(0, i32)
        base = L.flatten(coords, shape)
        valid = L.valid(lay, r)
        if valid is not None:
            zero = L.b.const(0, i32)
            base, pos = L.b.where(valid, base, zero), L.b.where(valid, pos, zero)
        bases.append(base)
        positions.append(pos)
    return bases, positions


def _step(L: "_Lowering", n: int, reverse: bool, t: Value,
          positions: list[Value]) -> tuple[Value, list[Value]]:
    """Iteration ``t`` of a scan loop: the axis position ``k`` it reads and, per
    slot, whether the slot's output takes it (``k <= i``; ``k >= i`` reversed)."""
    if reverse:        # k = n-2 .. 0
        k = L.b.binary("sub", L.b.const(n - 2, i32), t)
        return k, [L.b.cmp("ge", k, pos) for pos in positions]
    k = L.b.add(t, L.b.const(1, i32))   # k = 1 .. n-1
    return k, [L.b.cmp("le", k, pos) for pos in positions]


def lower_scan(L: "_Lowering", op: ScanOp) -> None:
    src: "Tile" = L.val(op.value)
    st: TileType = src.type
    L.stash(src)
    acc_dt = _acc_dtype(st.dtype)
    lay = L.layout(st)
    n = st.shape[op.axis]
    stride = L.b.const(_stride(st.shape, op.axis), i32)
    bases, positions = _lines(L, lay, st.shape, op.axis)
    step = _STEP[op.fn]

    def at(base: Value, k: Value) -> Value:
        return L.b.cast(L.fetch(L.b.add(base, L.b.mul(k, stride)), st.dtype), acc_dt)

    first = L.b.const(n - 1 if op.reverse else 0, i32)
    inits = [at(base, first) for base in bases]

    def body(t: Value, accs: list[Value]) -> list[Value]:
        k, keep = _step(L, n, op.reverse, t, positions)
        return [L.b.where(c, L.b.binary(step, a, at(base, k)), a)
                for base, a, c in zip(bases, accs, keep)]

    accs = _loop(L, n - 1, inits, body) if n > 1 else inits
    L.bind(op.result, L.new_tile(st, [L.b.cast(a, st.dtype) for a in accs]))


def _combine(L: "_Lowering", combine: Block, args: list[Value]) -> list[Value]:
    """The combine region's yielded values for ``args``, its scalar ops emitted here."""
    for a, v in zip(combine.args, args):
        L.bind(a, v)
    L._ops(combine.ops[:-1])
    return [L.val(v) for v in combine.ops[-1].values]


def lower_associative_scan(L: "_Lowering", op: AssociativeScanOp) -> None:
    """Each value is stashed (one after the other); each output slot carries the
    tuple of accumulators along its line, one per value, and takes step ``k``
    only while it is on the slot's side of its position -- as ``lower_scan``,
    with the combine region inlined in the loop. Results of different layouts
    each get such a pass."""
    srcs: list["Tile"] = [L.val(v) for v in op.values]
    shape = srcs[0].type.shape
    starts, top = [], 0
    for s in srcs:
        starts.append(top)
        top += L.stash(s, base=top)
    n, k = shape[op.axis], len(srcs)
    stride = L.b.const(_stride(shape, op.axis), i32)
    dtypes = [s.type.dtype for s in srcs]

    def at(j: int, base: Value, pos: Value) -> Value:
        return L.fetch(L.b.add(base, L.b.mul(pos, stride)), dtypes[j], base=starts[j])

    out: dict[int, "Tile"] = {}
    for lay_key in dict.fromkeys(r.type.layout for r in op.results):
        lay = L.layout(next(r.type for r in op.results if r.type.layout == lay_key))
        bases, positions = _lines(L, lay, shape, op.axis)
        first = L.b.const(n - 1 if op.reverse else 0, i32)
        inits = [at(j, base, first) for base in bases for j in range(k)]

        def body(t: Value, accs: list[Value]) -> list[Value]:
            pos, keep = _step(L, n, op.reverse, t, positions)
            new: list[Value] = []
            for s, (base, c) in enumerate(zip(bases, keep)):
                acc = accs[s * k:(s + 1) * k]
                x = [at(j, base, pos) for j in range(k)]
                got = _combine(L, op.combine, x + acc if op.reverse else acc + x)
                new += [L.b.where(c, g, a) for g, a in zip(got, acc)]
            return new

        accs = _loop(L, n - 1, inits, body) if n > 1 else inits
        for j, r in enumerate(op.results):
            if r.type.layout == lay_key:
                out[j] = L.new_tile(r.type, accs[j::k])
    for j, r in enumerate(op.results):
        L.bind(r, out[j])


__all__ = ["lower_argreduce", "lower_associative_scan", "lower_scan"]
