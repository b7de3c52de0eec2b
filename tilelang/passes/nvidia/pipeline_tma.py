"""pipeline-tma: software-pipeline ``tl.pipeline`` loops with TMA loads completing on
one mbarrier per stage (Hopper), before the ``pipeline`` pass sees them.

Contract. Input and output: verified tile-IR modules; the interpreter gives the
same results before and after. Only functions with the attribute ``tma = true``
(recorded by the runtime's target from ``GpuArch.has_tma``) and without
``use_tma = false`` (the kernel option ``@tl.kernel(tma=False)``) change; others
come out identical, so they keep the ``pipeline`` pass's cp.async ring.

A loop is rewritten when it has eligible copies (the ``pipeline`` pass's rules)
of which at least one may be a TMA load: its tensor is known 16-byte aligned
with a unit inner stride and 16-byte-multiple strides (the ``aligned``,
``unit_stride`` and ``divisible`` facts), its element size is whole bytes, the
buffer's box (its shape, or one column block of a blocked buffer: see below)
has every dimension at most 256 and the buffer's swizzle is one a TMA swizzle
mode produces (``tma_swizzle_mode``), with each stage a
multiple of the mode's repeat (``8 * mode`` bytes, 128 when unswizzled). A
tensor has one tensor map, so its TMA loads in a function share one box and
swizzle (the first decides; later copies with another box stay cp.async). The
other eligible copies stay ``cp.async`` copies in the same ring. The loop becomes::

    bars = tl.alloc_shared : shared<S x i64>; tl.mbarrier_init(bars) {count = 1}
    for p in 0 .. S-2:                            # prologue
        if iv_p in range:
            tl.mbarrier_expect(bars, p) {bytes}   # the stage's TMA bytes, one arrival
            tl.tma_copy(..., stage p, bars, p)    # and cp.async copies, if any
        tl.async_commit()                         # only with cp.async copies
    for iv ...:                                   # iteration i, stage s = i % S
        tl.async_wait(S-2)                        # only with cp.async copies
        tl.mbarrier_wait(bars, s, (i // S) & 1)   # stage s's TMA bytes have landed
        tl.barrier()                              # every thread is done with stage
                                                  # (i-1) % S, refilled below
        ... the body, reading stage s ...
        if iv + (S-1)*step in range: expect + copies into stage (i+S-1) % S
        tl.async_commit()
    tl.async_wait(0); tl.mbarrier_inval(bars)

Stage ``s`` is filled once every ``S`` iterations, so iteration ``i`` waits for
the phase numbered ``i // S`` of its barrier, whose parity is ``(i // S) & 1``.
Copies of iterations past the trip count are not issued and never waited for.
Swizzled TMA buffers need their base aligned to the swizzle's repeat: the pass
records the largest such alignment as the function attribute ``shared_align``,
which ``allocate-shared`` and ``lower-to-threads`` honour.

Warp specialization. Where ``warp_specialize.py``'s conditions hold (one
pipelined loop at the body's top level, every copy a TMA load, whole
warpgroups), the function instead splits into a producer warpgroup that issues
the loads and the kernel's warps that consume them, on ``full`` and ``empty``
barrier rings (``tl.warp_specialize``; that module's docstring has the form).
``@tl.kernel(warp_specialize=False)`` keeps the lockstep ring above.

Rows wider than 128 bytes (a 32 x 128 bf16 B tile, head dim 128) fit no TMA
swizzle as a row-major buffer. Such a copy's buffer, ring and readers take the
blocked type of ``blocked_type``: ``shared_layouts.BlockSwizzle``, 128-byte
column blocks, each a ``rows x 128``-byte atom under the 128-byte swizzle, one
after another. ``lower-tma`` fills it with one box per block from the same tensor
map (box width 128 bytes, the last coordinate ``j * block`` further), and
``lower-wgmma`` reads it in place. Every other swizzled buffer of the function
with such rows (attention's Q, loaded before the loop; or a cp.async ring when
the tensor lacks the TMA facts) takes the blocked type too, so wgmma reads it in
place as well. Each reader and writer computes addresses from the annotation
(``lower_layouts.swizzled``), and the blocked layout is as free of bank
conflicts as the row swizzle it replaces, so mma.sync and plain loads work
unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from math import prod

from tilelang.ir import ops as o
from tilelang.ir.rewrite import map_operands, map_regions, substitute
from tilelang.ir.staging_ops import AsyncCommitOp, AsyncWaitOp, SharedSliceOp
from tilelang.ir.tma_staging_ops import (
    MbarrierExpectOp, MbarrierInitRingOp, MbarrierInvalRingOp, MbarrierWaitRingOp, TmaCopyOp,
    tma_boxes, tma_swizzle_mode,
)
from tilelang.ir.shared_layouts import block_swizzle
from tilelang.ir.types import SharedType, TensorType, i64
from tilelang.ir.values import Block, Function, Module, Value
from tilelang.passes.tile.names import Namer
from tilelang.passes.gpu.pipeline import _Pipeliner
from tilelang.passes.gpu.shared_area import ALIGN_ATTR, shared_align

TMA_ATTR = "tma"
OPTION_ATTR = "use_tma"   # @tl.kernel(tma=False) records it as false
MAX_BOX = 256


def run(module: Module) -> Module:
    return Module(tuple(_function(f) if f.attr(TMA_ATTR, False) is True and
                        f.attr(OPTION_ATTR, True) is not False else f
                        for f in module.functions))


def tma_eligible(copy: o.CopyOp) -> bool:
    """Whether ``copy`` may be one TMA box load (see the module docstring)."""
    tt, dt = copy.tensor.type, copy.dst.type
    if not isinstance(tt, TensorType) or not isinstance(dt, SharedType):
        return False
    if not (tt.aligned and tt.unit_stride and tt.divisible) or not 1 <= tt.rank <= 5:
        return False
    if tt.wide:     # TMA coordinates are i32
        return False
    if tt.dtype.bits % 8 or dt.rank != tt.rank:
        return False
    mode, boxes = tma_swizzle_mode(dt), tma_boxes(dt)
    if mode is None or boxes is None or max(boxes[0]) > MAX_BOX:   # (a block's box)
        return False
    return prod(dt.shape) * (dt.dtype.bits // 8) % (8 * mode or 128) == 0


def blocked_type(t: SharedType) -> SharedType | None:
    """``t`` laid out as 128-byte-swizzled column blocks (``shared_layouts.BlockSwizzle``)
    when its rows are wider than 128 bytes and no TMA swizzle mode fits it as it is;
    otherwise ``None``. Every reader computes addresses from the annotation, and the
    blocked layout is as free of bank conflicts for ldmatrix rows and 16-byte
    accesses as the row swizzle it replaces (the same XOR of the chunk with the
    row), so the buffer's consumers are unaffected."""
    if t.rank < 2 or prod(t.shape[:-2]) != 1 or tma_swizzle_mode(t) is not None:
        return None   # (leading unit dimensions: a 2-D window of a 4-D tensor)
    blk = block_swizzle(t.shape[-2], t.shape[-1], t.dtype.bits)
    return None if blk is None else SharedType(t.shape, t.dtype, str(blk))


def _function(fn: Function) -> Function:
    namer = Namer(fn)
    consts = {op.result.name: op.value for op in o.walk(fn.body)
              if isinstance(op, o.ConstantOp)}
    align = [128]
    boxes: dict[str, tuple] = {}
    from tilelang.passes.nvidia import warp_specialize as ws
    body = ws.specialize(fn, _TmaPipeliner, namer, consts, align, boxes) \
        if ws.enabled(fn) else None
    if body is None:
        body = _block(fn.body, namer, consts, align, boxes)
    wide = {op.result.name: blocked_type(op.result.type) for op in o.walk(body)
            if isinstance(op, o.AllocSharedOp) and op.result.type.swizzle and
            not op.result.type.swizzle.startswith("BlockSwizzle(")}
    wide = {n: Value(n, t) for n, t in wide.items() if t is not None}
    if wide:
        # Other operand buffers with rows wider than 128 bytes (attention's Q, loaded
        # once before the loop) take the same blocked layout, so wgmma reads them in
        # place as well; their copies and readers follow the annotation.
        body = substitute(_retype_allocs(body, wide), wide)
        align[0] = max(align[0], 1024)
    if body == fn.body and not wide:
        return fn
    attrs = [(k, v) for k, v in fn.attrs if k != ALIGN_ATTR]
    attrs.append((ALIGN_ATTR, max(align[0], shared_align(fn, 128))))
    return replace(fn, body=body, attrs=tuple(attrs))


def _retype_allocs(block: Block, wide: dict[str, Value]) -> Block:
    """``block`` with the buffers named in ``wide`` allocated with their new types."""
    out = []
    for op in block.ops:
        op = map_regions(op, lambda b: _retype_allocs(b, wide))
        if isinstance(op, o.AllocSharedOp) and op.result.name in wide:
            op = replace(op, results=(wide[op.result.name],))
        out.append(op)
    return Block(block.args, tuple(out))


def _block(block: Block, namer: Namer, consts: dict[str, object], align: list[int],
           boxes: dict[str, tuple]) -> Block:
    out: list[o.Op] = []
    for op in block.ops:
        op = map_regions(op, lambda b: _block(b, namer, consts, align, boxes))
        if isinstance(op, o.ForOp) and op.kind == "pipeline" and op.stages >= 2:
            out.extend(_TmaPipeliner(op, namer, consts, align, boxes).rewrite())
        else:
            out.append(op)
    return Block(block.args, tuple(out))


class _TmaPipeliner(_Pipeliner):
    """The ``pipeline`` pass's rewrite with TMA copies on per-stage mbarriers."""

    def __init__(self, loop: o.ForOp, namer: Namer, consts: dict[str, object],
                 align: list[int], boxes: dict[str, tuple]) -> None:
        super().__init__(loop, namer, consts)
        self.align = align
        self.boxes = boxes   # tensor -> (box, swizzle) of its TMA loads in this function
        self.tma: set[int] = set()
        self.retyped: dict[str, SharedType] = {}   # buffer -> its blocked type
        self.has_async = False
        self.bars: Value | None = None

    def rewrite(self) -> list[o.Op]:
        copies = self.plan()
        if copies is None:
            return [self.loop]  # the pipeline pass's cp.async ring
        before: list[o.Op] = []
        rings = self.rings(before, copies)
        self.bars = self.namer.fresh(SharedType((self.S,), i64), "bars")
        before.append(o.AllocSharedOp(results=(self.bars,), loc=self.loc))
        before.append(MbarrierInitRingOp(loc=self.loc, count=1, bars=self.bars))
        lower = self.loop.lower
        for p in range(self.S - 1):
            iv_p = lower if p == 0 else self.binary(before, "add", lower,
                                                    self._times_step(before, p))
            self._issue(before, copies, rings, iv_p, self.const(before, p))
        body = self._tma_body(copies, rings)
        after: list[o.Op] = [AsyncWaitOp(loc=self.loc, pending=0)] if self.has_async else []
        after.append(MbarrierInvalRingOp(loc=self.loc, bars=self.bars))
        return [*before, replace(self.loop, body=body), *after]

    def plan(self) -> list[o.CopyOp] | None:
        """The loop's eligible copies, deciding which become TMA loads (``self.tma``,
        ``self.retyped``, ``self.has_async``); None when none can."""
        copies = self.eligible()
        tma = []
        for c in copies:
            wide = blocked_type(c.dst.type)
            t = c.dst.type
            if wide is not None and tma_eligible(replace(c, dst=Value(c.dst.name, wide))):
                t = wide
            # one tensor map per tensor: all its TMA loads share one box and swizzle
            boxes = tma_boxes(t)
            key = (boxes[0] if boxes else t.shape, tma_swizzle_mode(t))
            if (t is wide or tma_eligible(c)) and \
                    self.boxes.setdefault(c.tensor.name, key) == key:
                tma.append(c)
                if t is wide:
                    self.retyped[c.dst.name] = wide
        if not tma:
            return None
        self.tma = {id(c) for c in tma}
        self.has_async = len(tma) < len(copies)
        for c in tma:
            mode = tma_swizzle_mode(self._type(c)) or 0
            self.align[0] = max(self.align[0], 8 * mode)
        return copies

    def rings(self, out: list[o.Op], copies: list[o.CopyOp]) -> dict[str, Value]:
        """Allocate one ``shared<S x shape>`` ring per copy's buffer (into ``out``)."""
        rings = {}
        for c in copies:
            st: SharedType = self._type(c)
            ring = self.namer.fresh(SharedType((self.S, *st.shape), st.dtype, st.swizzle),
                                    f"{c.dst.name}_ring")
            out.append(o.AllocSharedOp(results=(ring,), loc=c.loc))
            rings[c.dst.name] = ring
        return rings

    def _type(self, copy: o.CopyOp) -> SharedType:
        """The type ``copy``'s buffer gets: its own, or its blocked one."""
        return self.retyped.get(copy.dst.name, copy.dst.type)

    def _tma_body(self, copies: list[o.CopyOp], rings: dict[str, Value]) -> Block:
        S, iv = self.S, self.iv
        top: list[o.Op] = []
        if self.has_async:
            top.append(AsyncWaitOp(loc=self.loc, pending=S - 2))
        it = self._iteration(top)
        s_const = self.const(top, S)
        stage = self.binary(top, "mod", it, s_const)
        phase = self.binary(top, "floordiv", it, s_const)
        parity = self.binary(top, "and", phase, self.const(top, 1))
        top.append(MbarrierWaitRingOp(loc=self.loc, bars=self.bars, stage=stage, parity=parity))
        top.append(o.BarrierOp(loc=self.loc))
        ops = self._staged_ops(copies, rings, stage, self.retyped)
        if self.retyped:
            # the body's readers address a blocked buffer through its new annotation
            ops = list(substitute(Block((), tuple(ops)),
                                  {n: Value(n, t) for n, t in self.retyped.items()}).ops)
        tail: list[o.Op] = []
        iv_n = self.binary(tail, "add", iv, self._times_step(tail, S - 1))
        it_n = iv_n if it is iv else self.binary(tail, "add", it, self.const(tail, S - 1))
        stage_n = self.binary(tail, "mod", it_n, s_const)
        self._issue(tail, copies, rings, iv_n, stage_n)
        block = self.loop.body
        return Block(block.args, (*top, *ops, *tail, block.ops[-1]))

    def _issue(self, out: list[o.Op], copies: list[o.CopyOp], rings: dict[str, Value],
               iv: Value, stage: Value) -> None:
        """``if iv in range``: announce the stage's TMA bytes, then issue every copy."""
        cond = self._in_range(out, iv)
        then = self.fill(copies, rings, iv, stage)
        then.append(o.YieldOp(loc=self.loc))
        out.append(o.IfOp(loc=self.loc, cond=cond, then=Block((), tuple(then)),
                          orelse=Block((), (o.YieldOp(loc=self.loc),))))
        if self.has_async:
            out.append(AsyncCommitOp(loc=self.loc))

    def fill(self, copies: list[o.CopyOp], rings: dict[str, Value], iv: Value,
             stage: Value) -> list[o.Op]:
        """Announce the TMA bytes of iteration ``iv``'s copies on ``bars[stage]``, then
        issue them (with the ops computing their offsets) into ``stage``."""
        nbytes = sum(prod(c.dst.type.shape) * (c.dst.type.dtype.bits // 8)
                     for c in copies if id(c) in self.tma)
        then: list[o.Op] = [MbarrierExpectOp(loc=self.loc, bytes=nbytes, bars=self.bars,
                                             stage=stage)]
        mapping = {self.iv.name: iv}
        for c in copies:
            for op in self._slice(c) or []:
                if op.results[0].name in mapping:
                    continue
                new = tuple(self.namer.fresh(r.type, r.name) for r in op.results)
                then.append(replace(map_operands(op, lambda v: mapping.get(v.name, v)),
                                    results=new))
                mapping.update({r.name: n for r, n in zip(op.results, new)})
            dst = self._emit(then, SharedSliceOp, self._type(c), c.dst.name, src=rings[c.dst.name],
                             index=stage)
            moved = map_operands(c, lambda v: mapping.get(v.name, v))
            if id(c) in self.tma:
                then.append(TmaCopyOp(loc=c.loc, tensor=moved.tensor, offsets=moved.offsets,
                                      dst=dst, bars=self.bars, stage=stage))
            else:
                then.append(replace(moved, dst=dst, is_async=True))
        return then


__all__ = ["ALIGN_ATTR", "OPTION_ATTR", "TMA_ATTR", "blocked_type", "run", "shared_align",
           "tma_eligible"]
