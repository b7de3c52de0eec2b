"""lower-to-threads: tile IR → thread IR (what each of a block's threads runs).

Contract. Input: a verified tile-IR module. Output: a verified thread-IR module
whose values are all scalars or tensors, with function attributes
``num_threads`` (``num_warps * warp_size``, ``target_facts``, plus the producer
warpgroup of a ``tl.warp_specialize``) and ``shared_bytes``. Each register tile is
spread over the threads with the blocked layout (``blocked_layout.py``) and
becomes one scalar per slot; uniform scalars stay single values.

* elementwise ops, casts, ``where`` and ``splat`` work slot by slot; ``reshape``
  moves nothing;
* ``broadcast``, ``trans``, ``reduce`` and ``dot`` exchange data between threads
  through scratch: owners store their slots in row-major order, then each
  thread reads what it needs. Each exchange uses the range allocate-shared
  placed for it (``scratch_offsets``); without that attribute all share one
  scratch area at the start of shared memory;
* global loads, stores and atomics compute one address per slot and are
  predicated on the tensor bounds (and the mask), so a padding slot or an
  out-of-bounds element never touches memory;
* shared buffers are row-major regions at the offsets ``allocate-shared``
  recorded (from ``user_area_base``), else one after another above the rest.

Barriers are not inserted here (see ``insert_barriers.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tilelang.errors import IRError
from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.ir.while_ops import WhileOp
from tilelang.passes.gpu.while_loops import lower_while
from tilelang.ir.builder import Builder
from tilelang.ir.types import DType, ScalarType, SharedType, TensorType, TileType, i32, i64
from tilelang.ir.values import Block, Function, Module, Value
from tilelang.passes.gpu.blocked_layout import Blocked, blocked, row_major_strides
from tilelang.passes.gpu.lower_layouts import (Assigned, assigned, broadcast_slots,
                                           lower_reduce_in_registers, owner, slot_coords,
                                           swizzled)
from tilelang.passes.gpu.thread_builder import ThreadBuilder
from tilelang.ir.staging_ops import AsyncCommitOp, AsyncWaitOp, SharedSliceOp
from tilelang.ir.role_ops import WarpSpecializeOp
from tilelang.passes.gpu.shared_operands import SharedOperand, shared_operand_values
from tilelang.passes.gpu import target_facts, vendor
from tilelang.passes.gpu.shared_area import align as _align, itemsize as _itemsize
from tilelang.passes.gpu.shared_area import placed_scratch, scratch_area_bytes, user_area_base
from tilelang.passes.gpu.dot_instr import DotUnit


@dataclass
class Tile:
    """A register tile in the thread IR: its static type, layout and slot values."""

    type: TileType
    layout: Blocked
    slots: list[Value]


class Shared:
    """A shared buffer: a row-major region at byte ``offset``.

    A view made by ``tl.shared_slice`` also has ``dyn``, a runtime i32 byte offset
    added to the static one. Reading ``offset`` of such a view raises: code that
    addresses buffers must use ``base()``, so it can never drop ``dyn`` silently.
    """

    def __init__(self, type: SharedType, offset: int, dyn: Value | None = None) -> None:
        self.type = type
        self.static_offset = offset
        self.dyn = dyn

    @property
    def offset(self) -> int:
        if self.dyn is not None:
            raise IRError("lower-to-threads: a tl.shared_slice view has a runtime offset; "
                          "address it with Shared.base() (a bug in the lowering)")
        return self.static_offset

    def element(self, L: "_Lowering", flat: Value) -> Value:
        """Where row-major element ``flat`` lives, in elements from ``base`` (the
        buffer's swizzle applied)."""
        return swizzled(L, self.type.swizzle, flat)

    def base(self, b: ThreadBuilder) -> Value:
        """The i32 byte address of element 0 (emits the addition for a view)."""
        start = b.const(self.static_offset, i32)
        return start if self.dyn is None else b.add(start, self.dyn)

    def __repr__(self) -> str:
        return f"Shared({self.type}, {self.static_offset}, dyn={self.dyn})"


def run(module: Module) -> Module:
    return Module(tuple(_Lowering(f).function() for f in module.functions))


class _Lowering:
    def __init__(self, fn: Function) -> None:
        self.fn = fn
        self.unit = DotUnit.of(fn)       # the target's matrix instructions and warps
        self.warp_size = self.unit.warp_size
        self.threads = self.unit.threads
        self.async_copy = target_facts.async_copy(fn)
        self.vendor = vendor.of(fn)   # dots and the ops only one vendor has
        self.b = ThreadBuilder(Builder())
        self.elect_thread = 0      # the thread that issues for its role (lower_tma)
        for p in fn.params:
            self.b.builder.fresh(p.type, p.name)
        self.env: dict[str, Any] = {p.name: p for p in fn.params}
        # shared_load results (and their reshapes/transposes) that tl.dot reads in place
        self.shared_operands = shared_operand_values(fn.body, self.unit)
        # The scratch range of the op being lowered: ``scratch_base`` is its first
        # byte, ``scratch_bytes`` its size (stash/fetch offsets count from the base).
        self.scratch_at = _scratch_ranges(fn)
        self.scratch_base = 0
        self.scratch_bytes = self.area_bytes = scratch_area_bytes(fn)
        # Buffers placed by allocate-shared sit at their offsets from user_base;
        # unplaced ones (lower-to-threads run alone, or added after allocate-shared)
        # go above everything placed.
        self.user_base = user_area_base(fn)
        placed = fn.attr("shared_user_bytes")
        self.shared_top = self.user_base + placed if isinstance(placed, int) and placed > 0 \
            else self.area_bytes

    # -- driver ------------------------------------------------------------------
    def function(self) -> Function:
        self.b.loc = self.fn.loc
        self.tid = self.b.emit1(th.ThreadIdOp, ScalarType(i32), hint="tid")
        self.tensors: dict[str, tuple[Value, list[Value], list[Value]]] = {}
        for p in self.fn.params:
            if isinstance(p.type, TensorType):
                ptr = self.b.emit1(th.TensorPtrOp, ScalarType(i64), hint=f"{p.name}_ptr", tensor=p)
                index = ScalarType(p.type.index_dtype)      # i64 for a wide tensor
                dims = [self.b.emit1(o.TensorDimOp, index, tensor=p, dim=d)
                        for d in range(p.type.rank)]
                strides = [self.b.emit1(o.TensorStrideOp, index, tensor=p, dim=d)
                           for d in range(p.type.rank)]
                self.tensors[p.name] = (ptr, dims, strides)
        self._ops(self.fn.body.ops)
        body = self.b.builder.pop(self.fn.params)
        attrs = dict(self.fn.attrs)
        # a warp-specialized function adds its producer warpgroup after the consumers
        attrs["num_threads"] = self.threads + sum(
            op.producer_threads for op in self.fn.body.ops if isinstance(op, WarpSpecializeOp))
        attrs["shared_bytes"] = _align(self.shared_top, 16)
        return replace(self.fn, body=body, attrs=tuple(attrs.items()))

    def _ops(self, ops: tuple[o.Op, ...]) -> None:
        for op in ops:
            self.b.loc = op.loc
            # the op's own scratch range; an op whose lowering lowers nested ops (a
            # region) gets its range back after them
            around = self.scratch_base, self.scratch_bytes
            if self.scratch_at is not None:
                self.scratch_base, self.scratch_bytes = self.scratch_at.get(id(op), (0, 0))
            handler = getattr(self, f"_op_{type(op).__name__}", None)
            if handler is not None:
                handler(op)
            elif (vendor_handler := self.vendor.op_lowerings.get(type(op))) is not None:
                vendor_handler(self, op)
            else:
                raise IRError(f"lower-to-threads: no lowering for {op.NAME}")
            self.scratch_base, self.scratch_bytes = around

    # -- value helpers -------------------------------------------------------------
    def val(self, v: Value) -> Any:
        return self.env[v.name]

    def layout(self, t: TileType) -> Blocked | Assigned:
        """The tile's assigned layout (its type's annotation), else the blocked one."""
        if t.layout:
            return assigned(t.layout, self.threads)
        return blocked(t.numel, self.threads)

    def flat(self, lay: Blocked | Assigned, r: int) -> Value:
        """The flat (row-major) element index of slot ``r`` in this thread (i32)."""
        if isinstance(lay, Assigned):
            return self.flatten(slot_coords(self, lay, r), lay.expr.shape)
        return self.b.add(self.b.mul(self.tid, self.b.const(lay.vec, i32)),
                          self.b.const(lay.slot_base(r), i32))

    def slot_coords(self, lay: Blocked | Assigned, r: int, shape: tuple[int, ...]) -> list[Value]:
        """The tile coordinates of slot ``r`` in this thread."""
        if isinstance(lay, Assigned):
            return slot_coords(self, lay, r)
        return self.coords(self.flat(lay, r), shape)

    def valid(self, lay: Blocked | Assigned, r: int) -> Value | None:
        """Whether slot ``r`` is a real element (``None``: always)."""
        if lay.always_valid(r):
            return None
        return self.b.cmp("lt", self.flat(lay, r), self.b.const(lay.numel, i32))

    def coords(self, flat: Value, shape: tuple[int, ...]) -> list[Value]:
        out = []
        for d, (size, stride) in enumerate(zip(shape, row_major_strides(shape))):
            c = flat if stride == 1 else self.b.binary("floordiv", flat, self.b.const(stride, i32))
            if d > 0:
                c = self.b.binary("mod", c, self.b.const(size, i32))
            out.append(c)
        return out

    def flatten(self, coords: list[Value], shape: tuple[int, ...]) -> Value:
        acc: Value | None = None
        for c, stride in zip(coords, row_major_strides(shape)):
            term = c if stride == 1 else self.b.mul(c, self.b.const(stride, i32))
            acc = term if acc is None else self.b.add(acc, term)
        return acc if acc is not None else self.b.const(0, i32)

    def new_tile(self, t: TileType, slots: list[Value]) -> Tile:
        return Tile(t, self.layout(t), slots)

    def bind(self, result: Value, value: Any) -> None:
        self.env[result.name] = value

    # -- exchange through shared scratch ---------------------------------------------
    def scratch(self, offset: int, used: int) -> int:
        """The shared byte address of ``offset`` in the current op's scratch range,
        checking that ``used`` bytes from there fit in it."""
        if offset + used > self.scratch_bytes:
            raise IRError("lower-to-threads: scratch range sized too small (a bug in "
                          "shared_area.exchange_bytes or a vendor's dot_scratch)")
        return self.scratch_base + offset

    def stash(self, tile: Tile, base: int = 0) -> int:
        """Store ``tile`` row-major at byte ``base`` of the op's scratch range; return
        the bytes used (16-byte aligned)."""
        size = _itemsize(tile.type.dtype)
        used = tile.type.numel * size
        at = self.scratch(base, used)
        # a replicated layout holds an element in several threads: one of them writes
        only = owner(self, tile.layout) if isinstance(tile.layout, Assigned) else None
        for r, v in enumerate(tile.slots):
            if tile.layout.never_valid(r):
                continue
            addr = self.b.add(self.b.mul(self.flat(tile.layout, r), self.b.const(size, i32)),
                              self.b.const(at, i32))
            self.b.emit0(th.StSharedOp, addr=addr, values=(v,),
                         pred=self.b.both(self.valid(tile.layout, r), only))
        return _align(used, 16)

    def fetch(self, flat: Value, dtype: DType, base: int | Value = 0,
              valid: Value | None = None) -> Value:
        """Read element ``flat`` of a stashed tile (padding slots read element 0);
        ``base`` is a byte of the op's scratch range, or an i32 shared address."""
        if valid is not None:
            flat = self.b.where(valid, flat, self.b.const(0, i32))
        at = base if isinstance(base, Value) else \
            self.b.const(self.scratch_base + base, i32)
        addr = self.b.add(self.b.mul(flat, self.b.const(_itemsize(dtype), i32)), at)
        return self.b.emit1(th.LdSharedOp, ScalarType(dtype), dtype=dtype, vec=1, addr=addr)

    # -- plain scalar ops ------------------------------------------------------------
    def _copy_scalar_op(self, op: o.Op) -> None:
        results = tuple(self.b.builder.fresh(r.type, r.name) for r in op.results)
        self.b.builder.emit(replace(o_map(op, self.val), results=results))
        for old, new in zip(op.results, results):
            self.bind(old, new)

    _op_ConstantOp = _copy_scalar_op
    _op_ProgramIdOp = _copy_scalar_op
    _op_NumProgramsOp = _copy_scalar_op
    _op_TensorDimOp = _copy_scalar_op
    _op_TensorStrideOp = _copy_scalar_op
    _op_BarrierOp = _copy_scalar_op
    _op_ReturnOp = _copy_scalar_op

    def _elementwise(self, op: o.Op) -> None:
        if isinstance(op.result.type, ScalarType):
            return self._copy_scalar_op(op)
        t: TileType = op.result.type
        args = {name: self.val(getattr(op, name)) for name, kind in o.op_fields(type(op))
                if kind is o.FieldKind.OPERAND}
        slots = []
        for r in range(self.layout(t).slots):
            fields = {k: (v.slots[r] if isinstance(v, Tile) else v) for k, v in args.items()}
            fields.update(op.attributes())
            slots.append(self.b.emit1(type(op), ScalarType(t.dtype), **fields))
        self.bind(op.result, self.new_tile(t, slots))

    _op_BinaryOp = _elementwise
    _op_UnaryOp = _elementwise
    _op_WhereOp = _elementwise
    _op_CastOp = _elementwise
    _op_FmaOp = _elementwise

    # -- tile construction and movement ------------------------------------------------
    def _op_SplatOp(self, op: o.SplatOp) -> None:
        s = self.val(op.value)
        self.bind(op.result, self.new_tile(op.result.type, [s] * self.layout(op.result.type).slots))

    def _op_ArangeOp(self, op: o.ArangeOp) -> None:
        t, lay = op.result.type, self.layout(op.result.type)
        start = self.b.const(op.start, i32)
        self.bind(op.result, self.new_tile(t, [self.b.add(self.flat(lay, r), start)
                                               for r in range(lay.slots)]))

    def _op_ReshapeOp(self, op: o.ReshapeOp) -> None:
        src: Tile = self.val(op.value)
        if isinstance(src, SharedOperand):  # unit dimensions only: same row-major bytes
            return self.bind(op.result, SharedOperand(op.result.type, src.buf))
        lay = self.layout(op.result.type)
        if isinstance(lay, Assigned) or isinstance(src.layout, Assigned):
            # assign-layouts gives both sides one mapping (unit dims added or dropped)
            if not isinstance(lay, Assigned) or not isinstance(src.layout, Assigned) or \
                    lay.slots != src.layout.slots:
                raise IRError("lower-to-threads: reshape between unrelated layouts "
                              "(assign-layouts should have converted it)")
            return self.bind(op.result, Tile(op.result.type, lay, src.slots))
        self.bind(op.result, Tile(op.result.type, src.layout, src.slots))

    def _gather(self, src: Tile, t: TileType, source_coords: Any) -> None:
        """A tile of type ``t`` whose element at coords ``c`` is ``src`` at
        ``source_coords(c)``, exchanged through scratch."""
        self.stash(src)
        lay = self.layout(t)
        slots = []
        for r in range(lay.slots):
            c = self.slot_coords(lay, r, t.shape)
            index = self.flatten(source_coords(c), src.type.shape)
            slots.append(self.fetch(index, t.dtype, valid=self.valid(lay, r)))
        return slots

    def _op_ConvertLayoutOp(self, op: o.ConvertLayoutOp) -> None:
        src: Tile = self.val(op.value)
        slots = self._gather(src, op.result.type, lambda c: c)
        self.bind(op.result, self.new_tile(op.result.type, slots))

    def _op_BroadcastOp(self, op: o.BroadcastOp) -> None:
        src: Tile = self.val(op.value)
        lay = self.layout(op.result.type)
        if isinstance(lay, Assigned) and isinstance(src.layout, Assigned):
            pick = broadcast_slots(src.layout.expr, lay.expr)
            if pick is not None:   # every thread already holds what it broadcasts
                return self.bind(op.result, Tile(op.result.type, lay,
                                                 [src.slots[s] for s in pick]))
        zero = self.b.const(0, i32)
        slots = self._gather(src, op.result.type, lambda c: [
            zero if s == 1 else x for x, s in zip(c, src.type.shape)])
        self.bind(op.result, self.new_tile(op.result.type, slots))

    def _op_TransOp(self, op: o.TransOp) -> None:
        src: Tile = self.val(op.value)
        if isinstance(src, SharedOperand):
            return self.bind(op.result, SharedOperand(op.result.type, src.buf, not src.trans))
        slots = self._gather(src, op.result.type, lambda c: [c[1], c[0]])
        self.bind(op.result, self.new_tile(op.result.type, slots))

    # -- reductions and dot ----------------------------------------------------------
    def _op_ReduceOp(self, op: o.ReduceOp) -> None:
        src: Tile = self.val(op.value)
        if isinstance(src.layout, Assigned):
            out = lower_reduce_in_registers(self, src, op.axis, op.fn, op.result.type)
            want = self.layout(op.result.type) if isinstance(op.result.type, TileType) else None
            if out is not None and (want is None or len(out) == want.slots):
                if isinstance(op.result.type, TileType):
                    return self.bind(op.result, self.new_tile(op.result.type, out))
                return self.bind(op.result, out[0])
        from tilelang.passes.gpu.lower_reduce import lower_reduce
        lower_reduce(self, op)

    def _op_GatherOp(self, op: Any) -> None:
        from tilelang.passes.gpu.lower_gather import lower_gather
        lower_gather(self, op)

    def _op_ScatterOp(self, op: Any) -> None:
        from tilelang.passes.gpu.lower_gather import lower_scatter
        lower_scatter(self, op)

    def _op_ArgReduceOp(self, op: Any) -> None:
        from tilelang.passes.gpu.lower_scan import lower_argreduce
        lower_argreduce(self, op)

    def _op_ScanOp(self, op: Any) -> None:
        from tilelang.passes.gpu.lower_scan import lower_scan
        lower_scan(self, op)

    def _op_AssociativeScanOp(self, op: Any) -> None:
        from tilelang.passes.gpu.lower_scan import lower_associative_scan
        lower_associative_scan(self, op)

    def _op_DotOp(self, op: o.DotOp) -> None:
        from tilelang.passes.gpu.lower_reduce import lower_dot
        lower_dot(self, op)

    # -- memory ------------------------------------------------------------------------
    def _op_LoadOp(self, op: o.LoadOp) -> None:
        if _packed(op.tensor):
            from tilelang.passes.gpu.lower_packed import lower_packed_load
            return lower_packed_load(self, op)
        from tilelang.passes.gpu.lower_memory import lower_load
        lower_load(self, op)

    def _op_StoreOp(self, op: o.StoreOp) -> None:
        if _packed(op.tensor):
            from tilelang.passes.gpu.lower_packed import lower_packed_store
            return lower_packed_store(self, op)
        from tilelang.passes.gpu.lower_memory import lower_store
        lower_store(self, op, atomic=False)

    def _op_AtomicAddOp(self, op: o.AtomicAddOp) -> None:
        from tilelang.passes.gpu.lower_memory import lower_store
        lower_store(self, op, atomic=True)

    def _op_AtomicRMWOp(self, op: Any) -> None:
        from tilelang.passes.gpu.lower_atomics import lower_atomic_rmw
        lower_atomic_rmw(self, op)

    def _op_AllocSharedOp(self, op: o.AllocSharedOp) -> None:
        t: SharedType = op.result.type
        size = _numel(t.shape) * _itemsize(t.dtype)
        if op.offset >= 0:
            buf = Shared(t, self.user_base + op.offset)
            self.shared_top = max(self.shared_top, buf.offset + size)
        else:
            buf = Shared(t, _align(self.shared_top, 16))
            self.shared_top = buf.offset + size
        self.bind(op.result, buf)

    def _op_SharedSliceOp(self, op: SharedSliceOp) -> None:
        src: Shared = self.val(op.src)
        stage = _numel(op.result.type.shape) * _itemsize(op.result.type.dtype)
        dyn = self.b.mul(self.b.cast(self.val(op.index), i32), self.b.const(stage, i32))
        if src.dyn is not None:
            dyn = self.b.add(src.dyn, dyn)
        self.bind(op.result, Shared(op.result.type, src.static_offset, dyn))

    # Without cp.async (AMD) every copy is synchronous (global -> registers -> LDS),
    # so a group is complete when issued: commits and waits have nothing to do.
    def _op_AsyncCommitOp(self, op: AsyncCommitOp) -> None:
        if self.async_copy:
            self.b.emit0(th.CpAsyncCommitOp)

    def _op_AsyncWaitOp(self, op: AsyncWaitOp) -> None:
        if self.async_copy:
            self.b.emit0(th.CpAsyncWaitOp, pending=op.pending)

    def _op_CopyOp(self, op: o.CopyOp) -> None:
        from tilelang.passes.gpu.lower_memory import lower_copy
        lower_copy(self, op)

    def _op_SharedLoadOp(self, op: o.SharedLoadOp) -> None:
        buf: Shared = self.val(op.src)
        if op.result.name in self.shared_operands:
            # Read by tl.dot straight from the buffer (ldmatrix): no code here.
            return self.bind(op.result, SharedOperand(op.result.type, buf))
        from tilelang.passes.gpu.lower_memory import lower_shared_load
        t = op.result.type
        self.bind(op.result, self.new_tile(t, lower_shared_load(self, t, buf.base(self.b),
                                                                buf.type.swizzle)))

    def _op_SharedStoreOp(self, op: o.SharedStoreOp) -> None:
        from tilelang.passes.gpu.lower_memory import lower_shared_store
        buf: Shared = self.val(op.dst)
        lower_shared_store(self, self.val(op.value), buf.base(self.b), buf.type.swizzle)

    # -- debugging ---------------------------------------------------------------------
    def _op_PrintOp(self, op: o.PrintOp) -> None:
        values: list[Value] = []
        for v in op.values:
            x = self.val(v)
            values.extend(x.slots if isinstance(x, Tile) else [x])
        self.b.emit0(o.PrintOp, prefix=op.prefix, values=tuple(values))

    def _op_AssertOp(self, op: o.AssertOp) -> None:
        cond = self.val(op.cond)
        if not isinstance(cond, Tile):
            return self.b.emit0(o.AssertOp, message=op.message, cond=cond)
        for r, c in enumerate(cond.slots):
            ok = self.valid(cond.layout, r)
            if ok is not None:
                c = self.b.binary("or", c, self.b.unary("not", ok))
            self.b.emit0(o.AssertOp, message=op.message, cond=c)

    # -- control flow ------------------------------------------------------------------
    def expand(self, v: Value) -> list[Value]:
        x = self.val(v)
        return list(x.slots) if isinstance(x, Tile) else [x]

    def fresh_like(self, v: Value) -> tuple[Any, list[Value]]:
        """New block arguments standing for the tile-IR value ``v``."""
        if isinstance(v.type, TileType):
            lay = self.layout(v.type)
            args = [self.b.builder.fresh(ScalarType(v.type.dtype), f"{v.name}_")
                    for _ in range(lay.slots)]
            return Tile(v.type, lay, args), args
        arg = self.b.builder.fresh(v.type, v.name)
        return arg, [arg]

    def _region(self, block: Block, args: list[Value]) -> Block:
        self.b.builder.push()
        self._ops(block.ops)
        return self.b.builder.pop(tuple(args))

    def _op_YieldOp(self, op: o.YieldOp) -> None:
        values = [x for v in op.values for x in self.expand(v)]
        self.b.emit0(o.YieldOp, values=tuple(values))

    def _op_ForOp(self, op: o.ForOp) -> None:
        inits = [x for v in op.inits for x in self.expand(v)]
        iv = self.b.builder.fresh(op.body.args[0].type, op.body.args[0].name)
        self.bind(op.body.args[0], iv)
        args = [iv]
        for a in op.body.args[1:]:
            value, flat = self.fresh_like(a)
            self.bind(a, value)
            args.extend(flat)
        loc = op.loc
        body = self._region(op.body, args)
        self.b.loc = loc
        results = self._results(op.results)
        self.b.builder.emit(o.ForOp(results=tuple(results), loc=loc, kind=op.kind,
                                    stages=op.stages, lower=self.val(op.lower),
                                    upper=self.val(op.upper), step=self.val(op.step),
                                    inits=tuple(inits), body=body))

    def _op_WhileOp(self, op: WhileOp) -> None:
        lower_while(self, op)

    def _op_IfOp(self, op: o.IfOp) -> None:
        loc = op.loc
        then, orelse = self._region(op.then, []), self._region(op.orelse, [])
        results = self._results(op.results)
        self.b.builder.emit(o.IfOp(results=tuple(results), loc=loc, cond=self.val(op.cond),
                                   then=then, orelse=orelse))

    def _results(self, results: tuple[Value, ...]) -> list[Value]:
        out: list[Value] = []
        for r in results:
            value, flat = self.fresh_like(r)
            self.bind(r, value)
            out.extend(flat)
        return out


def _scratch_ranges(fn: Function) -> dict[int, tuple[int, int]] | None:
    """``id(op) -> (byte offset, bytes)`` of each exchange's scratch range that
    allocate-shared placed (``None``: it did not run; all share one area)."""
    placed = placed_scratch(fn)
    if placed is None:
        return None
    ops = list(o.walk(fn.body))
    out: dict[int, tuple[int, int]] = {}
    for number, name, offset, size in placed:
        if number >= len(ops) or ops[number].NAME != name:
            raise IRError(f"lower-to-threads: @{fn.name}'s scratch_offsets do not match its "
                          f"ops (a pass between allocate-shared and lower-to-threads changed "
                          f"the body: a bug in the pass pipeline)")
        out[id(ops[number])] = (offset, size)
    return out


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def o_map(op: o.Op, lookup: Any) -> o.Op:
    from tilelang.ir.rewrite import map_operands
    return map_operands(op, lookup)


def _packed(tensor: Value) -> bool:
    """Whether ``tensor`` holds a sub-byte format in the packed layout (lower_packed.py)."""
    dt = tensor.type.dtype
    return dt.is_lowbit and dt.bits < 8
