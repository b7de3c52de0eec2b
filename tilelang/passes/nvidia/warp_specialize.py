"""pipeline-tma's warp-specialized form (``sm_90a``): a producer warpgroup issues the
TMA loads, the kernel's own warps (the consumers) compute.

Contract. Called by ``pipeline-tma`` for a function with the ``tma`` fact, unless
the kernel option ``@tl.kernel(warp_specialize=False)`` recorded the attribute
``warp_specialize = false``. The function changes when all of these hold, and
otherwise gets the lockstep TMA ring of ``pipeline_tma``:

* its body has exactly one ``tl.pipeline`` loop with at least 2 stages, at the
  body's top level or at the top level of a top-level ``tl.for`` without carried
  values (a persistent kernel's tile loop; the pipelined loop's step must then be
  a positive constant), and every eligible copy of that loop is a TMA load;
* ``num_warps`` is a multiple of 4 (the consumers are whole warpgroups), at
  least 8 (two consumer warpgroups; see "Registers" below) and at most 28 (the
  producer warpgroup must fit in a block of 1024 threads);
* the body has no ``tl.return`` but its last op (an early exit of the consumers
  would leave the producer waiting for stages nobody releases);
* every value the producer needs from before the loop (window offsets, the loop
  bounds) is computed by pure scalar ops, which move before the split.

The function becomes::

    <the pure scalar ops the producer needs>
    rings; full = shared<S x i64>; empty = shared<S x i64>
    tl.mbarrier_init(full) {count = 1}; tl.mbarrier_init(empty) {count = consumer warps}
    tl.warp_specialize {consumer_threads = 32 * num_warps, producer_threads = 128} (
      producer: {
        for iv in the loop's range:                        # iteration i, stage s = i % S
          tl.mbarrier_wait(empty, s, ((i // S) & 1) ^ 1)   # the consumers released it
          tl.mbarrier_expect(full, s) {bytes}; tl.tma_copy(..., full, s) per copy
      },
      consumer: {
        <the rest of the body before the loop>
        for iv ...:
          tl.mbarrier_wait(full, s, (i // S) & 1)          # stage s has landed
          ... the body, reading stage s ...
          tl.mbarrier_arrive(empty, s)                     # one arrival per warp
        tl.mbarrier_inval(full); tl.mbarrier_inval(empty)
        <the body after the loop>
      })
    tl.return

In a persistent kernel each role runs its own copy of the tile loop, carrying
the number of pipeline iterations of the tiles before (``g``, advanced by each
tile's trip count ``max(0, cdiv(upper - lower, step))``): iteration ``i`` of a
tile is ring iteration ``g + i``, so stages and phases continue from tile to
tile and the producer loads the next tile's first stages while the consumers
finish the current one. The producer's tile loop copies the pure scalar ops of
the tile body that compute its windows (the tile's coordinates).

An empty barrier's first wait asks for parity 1 of a fresh barrier, the phase
before its first, which counts as complete: the producer fills the first ``S``
stages without waiting. The consumers release a stage after the body's last read
of it (every ``tl.dot`` has waited for its wgmma by then), so the producer's
refill never overwrites data still being read, and no block barrier is needed in
the loop. The consumer warpgroups keep thread ids ``0 .. 32 * num_warps - 1``,
so every tile layout is unchanged; the producer warpgroup comes after them.

Registers: the producer gives registers back (``setmaxnreg.dec`` to 40, or 24
from three consumer warpgroups on) and the consumers take them (``setmaxnreg.inc``
to what the register file then holds, at most 240). A block's registers are
reserved at launch at the count every thread starts with, and what the producer
gives back only its own block's consumers can take. With one consumer warpgroup
the producer would double the block's reservation for no register the consumers
could use (they start at 255 already), halving the blocks an SM holds; such a
kernel keeps the lockstep ring, where thread 0 issues the loads.
"""

from __future__ import annotations

from dataclasses import replace

from tilelang.ir import ops as o
from tilelang.ir.role_ops import MAX_REGS, WARPGROUP, WarpSpecializeOp
from tilelang.ir.tma_staging_ops import (
    MbarrierArriveRingOp, MbarrierInitRingOp, MbarrierInvalRingOp, MbarrierWaitRingOp,
)
from tilelang.ir.types import ScalarType, SharedType, i64
from tilelang.ir.values import Block, Function, Value
from tilelang.ir.rewrite import map_operands, substitute
from tilelang.passes.tile.names import Namer

OPTION_ATTR = "warp_specialize"   # @tl.kernel(warp_specialize=False) records it as false
CONSUMER_REGS_CAP = 240
MAX_BLOCK = 1024   # threads per block, the producer warpgroup included
MIN_CONSUMER_WARPS = 8   # two consumer warpgroups: see "Registers" in the docstring


def enabled(fn: Function) -> bool:
    """Whether the kernel allows warp specialization (its option)."""
    return fn.attr(OPTION_ATTR, True) is not False


def register_split(consumer_threads: int, register_file: int = 65536) -> tuple[int, int]:
    """``(consumer_regs, producer_regs)`` for ``th.setmaxnreg``; ``(0, 0)`` leaves the
    registers alone (one consumer warpgroup already has the per-thread maximum)."""
    groups = consumer_threads // WARPGROUP
    if groups < 2:
        return 0, 0
    producer = 40 if groups == 2 else 24
    consumer = (register_file - WARPGROUP * producer) // consumer_threads // 8 * 8
    return min(consumer, CONSUMER_REGS_CAP, MAX_REGS), producer


def specialize(fn: Function, pipeliner_cls: type, namer: Namer, consts: dict[str, object],
               align: list[int], boxes: dict[str, tuple]) -> Block | None:
    """``fn``'s body split into producer and consumer roles, or None where the
    module docstring's conditions do not hold (nothing is changed then)."""
    warps = fn.attr("num_warps", 4)
    body = fn.body.ops
    if not isinstance(warps, int) or warps % 4 or warps < MIN_CONSUMER_WARPS or \
            warps * 32 + WARPGROUP > MAX_BLOCK or not body or \
            not isinstance(body[-1], o.ReturnOp):
        return None
    pipelined = [op for op in o.walk(fn.body) if _pipelined(op)]
    returns = [op for op in o.walk(fn.body) if isinstance(op, o.ReturnOp)]
    if len(pipelined) != 1 or len(returns) != 1:
        return None
    found = _locate(body, pipelined[0])
    if found is None:
        return None
    at, tile_loop, inner_at = found
    loop = pipelined[0]
    p = pipeliner_cls(loop, namer, consts, [align[0]], dict(boxes))
    copies = p.plan()
    if copies is None or p.has_async:
        return None
    step = p._const_of(loop.step)
    if tile_loop is not None and (step is None or step <= 0):
        return None          # the trip count carried across tiles needs a known step
    setup: list[o.Op] = []
    rings = p.rings(setup, copies)
    full = namer.fresh(SharedType((p.S,), i64), "full")
    empty = namer.fresh(SharedType((p.S,), i64), "empty")
    p.bars = full
    setup += [o.AllocSharedOp(results=(full,), loc=p.loc),
              o.AllocSharedOp(results=(empty,), loc=p.loc),
              MbarrierInitRingOp(loc=p.loc, count=1, bars=full),
              MbarrierInitRingOp(loc=p.loc, count=warps, bars=empty)]
    if tile_loop is None:
        producer = _producer(p, copies, rings, empty, None)
        consumer_loop = [replace(loop, body=_consumer_body(p, copies, rings, full, empty,
                                                            None))]
    else:
        roles = _tile_roles(p, copies, rings, full, empty, tile_loop, inner_at)
        if roles is None:
            return None
        producer, consumer_loop = roles
    # the pure scalar ops the producer reads move before the split, for every thread
    hoisted = _slice(body[:at], producer)
    if hoisted is None:
        return None
    # committed: the pipeliner's choices (alignment, tensor-map boxes) now hold
    align[0] = max(align[0], p.align[0])
    boxes.update(p.boxes)
    consumer = [op for op in body[:at] if id(op) not in hoisted]
    consumer += consumer_loop
    consumer += [MbarrierInvalRingOp(loc=p.loc, bars=full),
                 MbarrierInvalRingOp(loc=p.loc, bars=empty)]
    consumer += body[at + 1:-1]
    end = o.YieldOp(loc=p.loc)
    consumer_threads = warps * 32
    consumer_regs, producer_regs = register_split(consumer_threads)
    split = WarpSpecializeOp(loc=loop.loc, consumer_threads=consumer_threads,
                             producer_threads=WARPGROUP, consumer_regs=consumer_regs,
                             producer_regs=producer_regs,
                             producer=Block((), (*producer, end)),
                             consumer=Block((), (*consumer, end)))
    first = [op for op in body[:at] if id(op) in hoisted]
    retyped = {n: Value(n, t) for n, t in p.retyped.items()}
    out = Block(fn.body.args, (*first, *setup, split, body[-1]))
    return substitute(out, retyped) if retyped else out


def _pipelined(op: o.Op) -> bool:
    return isinstance(op, o.ForOp) and op.kind == "pipeline" and op.stages >= 2


def _locate(body: tuple[o.Op, ...], loop: o.ForOp) -> tuple[int, o.ForOp | None, int] | None:
    """Where the pipelined ``loop`` sits: at the body's top level (``(index, None,
    -1)``) or at the top level of a top-level ``tl.for`` without carried values, a
    persistent kernel's tile loop (``(its index, it, the loop's index in it)``)."""
    for i, op in enumerate(body):
        if op is loop:
            return i, None, -1
        if isinstance(op, o.ForOp) and not op.inits:
            for j, inner in enumerate(op.body.ops):
                if inner is loop:
                    return i, op, j
    return None


def _tile_roles(p, copies: list[o.CopyOp], rings: dict[str, Value], full: Value,
                empty: Value, tile_loop: o.ForOp,
                at: int) -> tuple[list[o.Op], list[o.Op]] | None:
    """Both roles' tile loops for a persistent kernel. Each carries the count of
    pipeline iterations of the tiles before, so iteration ``i`` of a tile is ring
    iteration ``g + i``: stages and phases continue from tile to tile. The
    producer's tile body is a copy of the scalar ops computing what its loads need
    (None where one is not a pure scalar op)."""
    namer, loc = p.namer, tile_loop.loc
    zero_p = namer.fresh(p.ity, "issued0")
    zero_c = namer.fresh(p.ity, "consumed0")
    inner = tile_loop.body.ops
    tile_iv = tile_loop.body.args[0]
    # the producer: its own tile index, the scalars its loads need, the loads
    p_tile = namer.fresh(tile_iv.type, f"{tile_iv.name}_p")
    g_p = namer.fresh(p.ity, "issued")
    k_loop = _producer(p, copies, rings, empty, g_p)
    cloned = _clone_slice(inner[:at], k_loop, {tile_iv.name: p_tile}, namer)
    if cloned is None:
        return None
    clones, mapping = cloned
    k_loop = list(substitute(Block((), tuple(k_loop)), mapping).ops)
    tail_p: list[o.Op] = []
    lower, upper = (mapping.get(v.name, v) for v in (p.loop.lower, p.loop.upper))
    next_p = p.binary(tail_p, "add", g_p, _trip(p, tail_p, lower, upper))
    p_loop = o.ForOp(loc=loc, kind="range", stages=1, lower=tile_loop.lower,
                     upper=tile_loop.upper, step=tile_loop.step, inits=(zero_p,),
                     results=(namer.fresh(p.ity, "issued_all"),),
                     body=Block((p_tile, g_p), (*clones, *k_loop, *tail_p,
                                                o.YieldOp(loc=loc, values=(next_p,)))))
    # the consumers: the tile body, its loop waiting on ring iteration g + i
    g_c = namer.fresh(p.ity, "consumed")
    c_body = list(inner[:at])
    c_body.append(replace(p.loop, body=_consumer_body(p, copies, rings, full, empty, g_c)))
    c_body += inner[at + 1:-1]
    next_c = p.binary(c_body, "add", g_c, _trip(p, c_body, p.loop.lower, p.loop.upper))
    c_body.append(o.YieldOp(loc=loc, values=(next_c,)))
    c_loop = replace(tile_loop, inits=(zero_c,),
                     results=(namer.fresh(p.ity, "consumed_all"),),
                     body=Block((tile_iv, g_c), tuple(c_body)))
    return ([o.ConstantOp(results=(zero_p,), loc=loc, value=0), p_loop],
            [o.ConstantOp(results=(zero_c,), loc=loc, value=0), c_loop])


def _trip(p, out: list[o.Op], lower: Value, upper: Value) -> Value:
    """The trip count ``max(0, cdiv(upper - lower, step))`` of the pipelined loop's
    range (its step a positive constant)."""
    step = p._const_of(p.loop.step)
    span = p.binary(out, "sub", upper, lower)
    if step != 1:
        span = p.binary(out, "floordiv", p.binary(out, "add", span, p.const(out, step - 1)),
                        p.const(out, step))
    return p.binary(out, "maximum", span, p.const(out, 0))


def _clone_slice(pre: tuple[o.Op, ...], users: list[o.Op], mapping: dict[str, Value],
                 namer: Namer) -> tuple[list[o.Op], dict[str, Value]] | None:
    """Copies, under fresh names, of the ops of ``pre`` computing values ``users``
    read, with what they depend on (values named in ``mapping`` replaced); None if
    one is not a pure scalar op."""
    need = _slice(pre, users)
    if need is None:
        return None
    mapping = dict(mapping)
    clones = []
    for op in pre:
        if id(op) in need:
            new = tuple(namer.fresh(r.type, r.name) for r in op.results)
            clones.append(replace(map_operands(op, lambda v: mapping.get(v.name, v)),
                                  results=new))
            mapping.update({r.name: n for r, n in zip(op.results, new)})
    return clones, mapping


def _hoistable(op: o.Op) -> bool:
    """A pure scalar op without regions: it may run in every thread, anywhere."""
    return not op.regions() and o.Trait.PURE in op.TRAITS and \
        all(isinstance(r.type, ScalarType) for r in op.results)


def _producer(p, copies: list[o.CopyOp], rings: dict[str, Value], empty: Value,
              offset: Value | None) -> list[o.Op]:
    """The producer's loop: wait for the consumers to release a stage, refill it.
    ``offset``: the ring iterations before this loop's first (earlier tiles)."""
    iv = p.namer.fresh(p.iv.type, f"{p.iv.name}_p")
    ops: list[o.Op] = []
    it = p._iteration(ops, iv)
    if offset is not None:
        it = p.binary(ops, "add", it, offset)
    s_const = p.const(ops, p.S)
    stage = p.binary(ops, "mod", it, s_const)
    one = p.const(ops, 1)
    parity = p.binary(ops, "xor", p.binary(ops, "and", p.binary(ops, "floordiv", it, s_const),
                                           one), one)
    ops.append(MbarrierWaitRingOp(loc=p.loc, bars=empty, stage=stage, parity=parity))
    ops += p.fill(copies, rings, iv, stage)
    ops.append(o.YieldOp(loc=p.loc))
    loop = p.loop
    return [o.ForOp(loc=loop.loc, kind="range", stages=1, lower=loop.lower, upper=loop.upper,
                    step=loop.step, inits=(), body=Block((iv,), tuple(ops)))]


def _consumer_body(p, copies: list[o.CopyOp], rings: dict[str, Value], full: Value,
                   empty: Value, offset: Value | None) -> Block:
    """The loop body waiting on ``full`` for each stage and releasing it on ``empty``
    (``offset``: the ring iterations before this loop's first)."""
    top: list[o.Op] = []
    it = p._iteration(top)
    if offset is not None:
        it = p.binary(top, "add", it, offset)
    s_const = p.const(top, p.S)
    stage = p.binary(top, "mod", it, s_const)
    parity = p.binary(top, "and", p.binary(top, "floordiv", it, s_const), p.const(top, 1))
    top.append(MbarrierWaitRingOp(loc=p.loc, bars=full, stage=stage, parity=parity))
    ops = p._staged_ops(copies, rings, stage, p.retyped)
    release = MbarrierArriveRingOp(loc=p.loc, bars=empty, stage=stage)
    block = p.loop.body
    return Block(block.args, (*top, *ops, release, block.ops[-1]))


def _slice(pre: tuple[o.Op, ...], users: list[o.Op]) -> set[int] | None:
    """The ids of the ops of ``pre`` computing values ``users`` (and their regions)
    read, with everything they depend on in ``pre``; None if one is not a pure
    scalar op (it could not run in every thread, or be copied, safely)."""
    by_name = {r.name: op for op in pre for r in op.results}
    found: set[int] = set()
    work = [v.name for op in o.walk(Block((), tuple(users))) for v in op.operand_values()
            if v.name in by_name]
    while work:
        op = by_name[work.pop()]
        if id(op) in found:
            continue
        if not _hoistable(op):
            return None
        found.add(id(op))
        work += [v.name for v in op.operand_values() if v.name in by_name]
    return found


__all__ = ["OPTION_ATTR", "enabled", "register_split", "specialize"]
