"""assign-layouts: choose how each register tile is spread over a block's threads.

Contract. Input: a verified tile-IR module without layout annotations. Output:
the same computation in which some tile types carry a ``layout`` (a layout
expression of ``tilelang.ir.layouts``; no annotation means the blocked layout of
``blocked_layout.py``), such that every op receives its tile operands in the
layout it needs. Where an operand arrives in another layout the pass either
recomputes it in the needed one (values that are cheap to rebuild anywhere:
``splat``, ``arange`` and elementwise/``reshape``/``broadcast`` chains over them;
and any ``broadcast``, redone from its source brought to the matching layout, so
a bias row added to a matmul accumulator converts the row, not the tile) or
inserts ``tl.convert_layout`` (lowered as an exchange through shared memory).

Rules:

* ``tl.dot`` on matrix units (``dot_instr.DotUnit.select``: ``mma.sync`` on
  NVIDIA, ``th.mfma`` on AMD) gives its result, and wants its accumulator, in
  the instruction's accumulator layout ``warp_tiled("c", (M, N), (wm, wn), shape)``:
  the accumulator then lives in fragments across the whole loop. The warp grid
  is ``(num_warps, 1)`` when the function reduces a 2-D tile along its rows and
  the shape allows (each row then stays inside one warp, so row reductions are
  shuffles), else ``DotInstr.warp_grid``'s choice. A and B are wanted blocked
  (lowering stages them through shared memory), except, for ``mma.sync``, an A
  already in the accumulator layout of a one-column warp grid, which feeds the
  tensor cores from registers; for MFMA a register A keeps any layout (an MFMA
  accumulator is not an A fragment: lowering stashes A into scratch as it is).
  Where the vendor's instruction fixes the accumulator layout
  (``vendor.VendorLowering.fixed_accumulator``: wgmma on sm_90a, see
  ``nvidia/lower_wgmma.accumulator_layout``) the grid is ``(num_warps, 1)`` and the
  layout that one: warpgroups stacked along M, each holding whole m64 blocks (with
  one block, the same as ``warp_tiled``);
* elementwise ops, ``where`` and casts take the layout of their first operand
  that has one; the other operands are brought to it;
* ``reduce`` of a tile in an assigned layout gives ``layouts.reduce``'s layout
  (the reduced axis dropped unless ``keepdims``): lowering reduces in registers;
* ``reshape`` that adds or drops unit dimensions keeps the mapping;
  ``broadcast`` of a tile in an assigned layout takes a layout seen earlier in
  the function in which every thread already holds the elements it broadcasts
  (so a row statistic broadcasts back over the tile it came from for free);
* a loop-carried value takes the layout of the value its body yields when its
  initial value is cheap or blocked (decided by re-running the body analysis
  until the layouts stop changing);
* on targets with MFMA (64 KiB of LDS), a ``tl.store`` of a tile in an assigned
  layout that holds each element once writes from registers: converting it to
  blocked would need the whole tile in the scratch area beside the pipeline's
  buffers (a 128x128 bf16 epilogue alone is 32 KiB);
* every other op (memory, ``trans``, ``if`` results, printing) works on blocked
  tiles.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from tilelang.ir import ops as o
from tilelang.ir.math_ops import FmaOp
from tilelang.ir.while_ops import WhileOp
from tilelang.ir.layouts import Layout, LayoutError, drop_axis, insert_axis, parse_layout, reduce
from tilelang.ir.rewrite import map_operands
from tilelang.ir.types import TileType
from tilelang.ir.values import Block, Function, Module, Value
from tilelang.passes.gpu.lower_layouts import broadcast_slots
from tilelang.passes.gpu import vendor
from tilelang.passes.gpu.while_loops import assign_layouts_while
from tilelang.passes.gpu.dot_instr import DotInstr, DotUnit

_ELEMENTWISE = (o.BinaryOp, o.UnaryOp, o.WhereOp, o.CastOp, FmaOp)


def run(module: Module) -> Module:
    return Module(tuple(_Assign(f).function() for f in module.functions))


def _operands(op: o.Op) -> list[Value]:
    out: list[Value] = []
    for name, kind in o.op_fields(type(op)):
        v = getattr(op, name)
        if kind is o.FieldKind.OPERAND or (kind is o.FieldKind.OPT_OPERAND and v is not None):
            out.append(v)
        elif kind is o.FieldKind.OPERANDS:
            out.extend(v)
    return out


def _layout_of(v: Value) -> str:
    return v.type.layout if isinstance(v.type, TileType) else ""


def _annotated(v: Value, layout: str) -> Value:
    if not isinstance(v.type, TileType) or v.type.layout == layout:
        return v
    return Value(v.name, replace(v.type, layout=layout))


def _unit_reshape(src: tuple[int, ...], dst: tuple[int, ...]) -> list[tuple[str, int]] | None:
    """The drops and inserts of unit axes that turn ``src`` into ``dst`` (``None`` if
    the reshape moves elements between non-unit axes)."""
    if [d for d in src if d != 1] != [d for d in dst if d != 1]:
        return None
    steps = [("drop", i) for i in reversed(range(len(src))) if src[i] == 1]
    steps += [("insert", i) for i in range(len(dst)) if dst[i] == 1]
    return steps


def _reshaped(layout: str, src: tuple[int, ...], dst: tuple[int, ...]) -> str:
    steps = _unit_reshape(src, dst)
    if not layout or steps is None:
        return ""
    lay = parse_layout(layout)
    for kind, axis in steps:
        lay = drop_axis(lay, axis) if kind == "drop" else insert_axis(lay, axis)
    return str(lay)


class _Assign:
    def __init__(self, fn: Function) -> None:
        self.fn = fn
        self.unit = DotUnit.of(fn)
        self.warps = self.unit.warps
        self.prefer_rows = any(
            isinstance(op, o.ReduceOp) and op.value.type.rank == 2 and op.axis == 1
            for op in o.walk(fn.body))
        self.defs: dict[str, o.Op] = {r.name: op for op in o.walk(fn.body) for r in op.results}
        self.names = set(self.defs) | {p.name for p in fn.params}
        for op in o.walk(fn.body):
            for r in op.regions():
                self.names.update(a.name for a in r.args)
        self.env: dict[str, Value] = {p.name: p for p in fn.params}
        self.out: list[list[o.Op]] = []
        self.memo: list[dict[tuple[str, str], Value]] = []
        self.seen: dict[tuple[int, ...], list[str]] = {}   # layouts met, by shape
        self.cheap_memo: dict[str, bool] = {}

    def function(self) -> Function:
        body = self._block(self.fn.body, self.fn.body.args)
        return replace(self.fn, body=body)

    # -- blocks -------------------------------------------------------------------
    def _block(self, block: Block, args: tuple[Value, ...],
               yields: list[str] | None = None) -> Block:
        self.out.append([])
        self.memo.append({})
        for old, new in zip(block.args, args):
            self.env[old.name] = new
        for op in block.ops:
            if isinstance(op, o.YieldOp) and yields is not None:
                vals = tuple(self.need(v, lay) if isinstance(v.type, TileType) else self.val(v)
                             for v, lay in zip(op.values, yields))
                self.emit(replace(op, values=vals))
            else:
                self._op(op)
        self.memo.pop()
        return Block(tuple(args), tuple(self.out.pop()))

    def _yield_layouts(self, block: Block, args: tuple[Value, ...]) -> list[str]:
        """The layouts ``block`` yields when entered with ``args`` (nothing is kept)."""
        saved_env, saved_seen = dict(self.env), {k: list(v) for k, v in self.seen.items()}
        out: list[str] = []
        self.out.append([])
        self.memo.append({})
        for old, new in zip(block.args, args):
            self.env[old.name] = new
        for op in block.ops:
            if isinstance(op, o.YieldOp):
                out = [_layout_of(self.val(v)) for v in op.values]
            else:
                self._op(op)
        self.memo.pop()
        self.out.pop()
        self.env, self.seen = saved_env, saved_seen
        return out

    def emit(self, op: o.Op) -> None:
        self.out[-1].append(op)
        for r in op.results:
            self.env.setdefault(r.name, r)
            lay = _layout_of(r)
            if lay and lay not in self.seen.setdefault(r.type.shape, []):
                self.seen[r.type.shape].append(lay)

    def val(self, v: Value) -> Value:
        return self.env.get(v.name, v)

    def fresh(self, base: str) -> str:
        i = 0
        while f"{base}_l{i}" in self.names:
            i += 1
        self.names.add(f"{base}_l{i}")
        return f"{base}_l{i}"

    # -- bringing an operand to a layout -------------------------------------------
    def need(self, v: Value, layout: str) -> Value:
        cur = self.val(v)
        if _layout_of(cur) == layout:
            return cur
        for scope in reversed(self.memo):
            if (v.name, layout) in scope:
                return scope[(v.name, layout)]
        made = self.clone(v, layout) if layout and (self.cheap(v) or self.widens(v)) \
            else None
        if made is None:
            made = Value(self.fresh(v.name), replace(cur.type, layout=layout))
            self.emit(o.ConvertLayoutOp(results=(made,), loc=self.defs[v.name].loc
                                        if v.name in self.defs else None, value=cur))
        self.memo[-1][(v.name, layout)] = made
        return made

    def cheap(self, v: Value) -> bool:
        """Whether ``v`` is a tile rebuilt at no memory cost in any layout."""
        if v.name in self.cheap_memo:
            return self.cheap_memo[v.name]
        op = self.defs.get(v.name)
        ok = isinstance(op, (o.SplatOp, o.ArangeOp)) or (
            isinstance(op, (*_ELEMENTWISE, o.ReshapeOp, o.BroadcastOp)) and
            all(self.cheap(x) for x in _operands(op) if isinstance(x.type, TileType)))
        self.cheap_memo[v.name] = ok
        return ok

    def widens(self, v: Value) -> bool:
        """Whether ``v`` is a ``broadcast``: redone in another layout from its source,
        it converts the (small) source rather than the (large) result."""
        return isinstance(self.defs.get(v.name), o.BroadcastOp)

    def clone(self, v: Value, layout: str) -> Value | None:
        """A copy of the cheap value ``v`` computed in ``layout`` (``None``: impossible)."""
        op = self.defs[v.name]
        t: TileType = v.type
        subs: dict[str, Value] = {}
        if isinstance(op, _ELEMENTWISE):
            want = {x.name: layout for x in _operands(op) if isinstance(x.type, TileType)}
        elif isinstance(op, o.ReshapeOp):
            src = op.value.type.shape
            back = _reshaped(layout, t.shape, src)
            if not back:
                return None
            want = {op.value.name: back}
        elif isinstance(op, o.BroadcastOp):
            lay = parse_layout(layout)
            for axis, n in enumerate(op.value.type.shape):
                if n == 1 and t.shape[axis] != 1:
                    lay = reduce(lay, axis).layout
            if broadcast_slots(lay, parse_layout(layout)) is None:
                return None
            want = {op.value.name: str(lay)}
        else:
            want = {}
        for name, lay in want.items():
            x = next(x for x in _operands(op) if x.name == name)
            got = self.need(x, lay)
            subs[name] = got
        result = Value(self.fresh(v.name), replace(t, layout=layout))
        new = map_operands(op, lambda x: subs.get(x.name) or self.val(x))
        self.emit(replace(new, results=(result,)))
        return result

    # -- ops ---------------------------------------------------------------------
    def _op(self, op: o.Op) -> None:
        if isinstance(op, o.DotOp):
            return self._dot(op)
        if isinstance(op, _ELEMENTWISE) and isinstance(op.result.type, TileType):
            lay = next((_layout_of(self.val(x)) for x in _operands(op)
                        if _layout_of(self.val(x))), "")
            return self._same(op, lay)
        if isinstance(op, o.ReduceOp):
            return self._reduce(op)
        if isinstance(op, o.ReshapeOp):
            src = _layout_of(self.val(op.value))
            lay = _reshaped(src, op.value.type.shape, op.result.type.shape) if src else ""
            return self._with(op, {op.value.name: src if lay else ""}, lay)
        if isinstance(op, o.BroadcastOp):
            return self._broadcast(op)
        if isinstance(op, o.ForOp):
            return self._for(op)
        if isinstance(op, o.IfOp):
            return self._if(op)
        if isinstance(op, WhileOp):
            return assign_layouts_while(self, op, _layout_of, _annotated)
        if isinstance(op, (o.SplatOp, o.ArangeOp)):
            return self.emit(map_operands(op, self.val))
        if isinstance(op, o.StoreOp) and self.unit.mfma_shapes and op.mask is None:
            lay = _layout_of(self.val(op.value))
            if lay and parse_layout(lay).is_injective():
                return self._with(op, {op.value.name: lay}, "")
        self._with(op, {x.name: "" for x in _operands(op) if isinstance(x.type, TileType)}, "")

    def _with(self, op: o.Op, wants: dict[str, str], result_layout: str) -> None:
        subs = {name: self.need(next(x for x in _operands(op) if x.name == name), lay)
                for name, lay in wants.items()}
        new = map_operands(op, lambda x: subs.get(x.name) or self.val(x))
        results = tuple(_annotated(r, result_layout) for r in op.results)
        for old, r in zip(op.results, results):
            self.env[old.name] = r
        self.emit(replace(new, results=results))

    def _same(self, op: o.Op, lay: str) -> None:
        self._with(op, {x.name: lay for x in _operands(op) if isinstance(x.type, TileType)}, lay)

    def _dot(self, op: o.DotOp) -> None:
        a, b, acc = op.a.type, op.b.type, op.acc.type
        ins = self.unit.select(a, b, acc, rows=self.prefer_rows)
        if ins is None:
            return self._with(op, {x.name: "" for x in (op.a, op.b, op.acc)}, "")
        (m, _), n = a.shape, b.shape[1]
        grid = ins.warp_grid(m, n, self.warps)
        fixed = vendor.of(self.fn).fixed_accumulator(self.fn, a, b, acc)
        if self.prefer_rows and m % (ins.m * self.warps) == 0 or fixed:
            grid = (self.warps, 1)   # (wgmma: warpgroups stacked along M)
        assert grid is not None   # select() checked that the warps tile C
        lay = str(fixed(m, n, self.warps) if fixed else ins.tiled("c", (m, n), grid))
        wants = {op.a.name: self._register_a(op, ins, grid, fixed), op.b.name: ""}
        wants[op.acc.name] = lay   # (an operand used twice keeps the accumulator's want)
        self._with(op, wants, lay)

    def _register_a(self, op: o.DotOp, ins: DotInstr, grid: tuple[int, int],
                    fixed: Callable[[int, int, int], Layout] | None = None) -> str:
        """A's layout when A can feed the tensor cores from registers: it is already
        in the accumulator layout of this warp grid with one warp column (an
        m16n8 accumulator pair holds exactly an m16k16 A fragment, as FlashAttention
        reuses P); else blocked (A is staged through shared memory). The MFMA path
        stashes a register A into scratch from whatever layout it has, so A keeps
        its layout there (a conversion would be a second trip through LDS)."""
        cur = _layout_of(self.val(op.a))
        if ins.is_mfma:
            return cur
        if not cur or grid[1] != 1:
            return ""
        want = fixed(*op.a.type.shape, self.warps) if fixed else \
            ins.tiled("c", op.a.type.shape, grid)
        return cur if parse_layout(cur).same_as(want) else ""

    def _reduce(self, op: o.ReduceOp) -> None:
        src = _layout_of(self.val(op.value))
        if not src or not isinstance(op.result.type, TileType):
            return self._with(op, {}, "")
        red = reduce(parse_layout(src), op.axis, self.unit.warp_size).layout
        lay = red if op.keepdims else drop_axis(red, op.axis)
        self._with(op, {}, str(lay))

    def _broadcast(self, op: o.BroadcastOp) -> None:
        src = _layout_of(self.val(op.value))
        if src:
            have = parse_layout(src)
            for cand in self.seen.get(op.result.type.shape, []):
                try:
                    if broadcast_slots(have, parse_layout(cand)) is not None:
                        return self._with(op, {}, cand)
                except LayoutError:
                    continue
        self._with(op, {op.value.name: ""}, "")

    def _for(self, op: o.ForOp) -> None:
        inits = [self.val(v) for v in op.inits]
        lays = [_layout_of(v) for v in inits]
        iv = op.body.args[0]
        for _ in range(3):
            args = (iv, *(_annotated(a, lay) for a, lay in zip(op.body.args[1:], lays)))
            got = self._yield_layouts(op.body, args)
            changed = False
            for i, (init, lay) in enumerate(zip(op.inits, got)):
                if lay and lay != lays[i] and (not lays[i] or self.cheap(init)):
                    lays[i], changed = lay, True
            if not changed:
                break
        new_inits = tuple(self.need(v, lay) if isinstance(v.type, TileType) else self.val(v)
                          for v, lay in zip(op.inits, lays))
        args = (iv, *(_annotated(a, lay) for a, lay in zip(op.body.args[1:], lays)))
        body = self._block(op.body, args, yields=lays)
        results = tuple(_annotated(r, lay) for r, lay in zip(op.results, lays))
        for old, r in zip(op.results, results):
            self.env[old.name] = r
        new = map_operands(op, self.val)
        self.emit(replace(new, inits=new_inits, body=body, results=results))

    def _if(self, op: o.IfOp) -> None:
        blocked = [""] * len(op.results)
        then = self._block(op.then, (), yields=blocked)
        orelse = self._block(op.orelse, (), yields=blocked)
        new = map_operands(op, self.val)
        for r in op.results:
            self.env[r.name] = r
        self.emit(replace(new, then=then, orelse=orelse))


__all__: list[Any] = ["run"]
