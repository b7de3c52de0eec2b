"""pipeline-tma's warp-specialized form (``sm_90a``): a producer warpgroup issues the
TMA loads, the kernel's own warps (the consumers) compute.

Contract. Called by ``pipeline-tma`` for a function with the ``tma`` fact, unless
the kernel option ``@tl.kernel(warp_specialize=False)`` recorded the attribute
``warp_specialize = false``. The function changes when all of these hold, and
otherwise gets the lockstep TMA ring of ``pipeline_tma``:

* its body has exactly one ``tl.pipeline`` loop with at least 2 stages, at the
  body's top level (a persistent kernel's tile loop, or a second pipelined loop,
  keeps the lockstep ring), and every eligible copy of that loop is a TMA load;
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
from tilelang.passes.names import Namer

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
    loops = [i for i, op in enumerate(body)
             if isinstance(op, o.ForOp) and op.kind == "pipeline" and op.stages >= 2]
    pipelined = [op for op in o.walk(fn.body)
                 if isinstance(op, o.ForOp) and op.kind == "pipeline" and op.stages >= 2]
    returns = [op for op in o.walk(fn.body) if isinstance(op, o.ReturnOp)]
    if len(loops) != 1 or len(pipelined) != 1 or len(returns) != 1:
        return None
    at = loops[0]
    loop = body[at]
    assert isinstance(loop, o.ForOp)
    consumer_threads = warps * 32
    p = pipeliner_cls(loop, namer, consts, [align[0]], dict(boxes))
    copies = p.plan()
    if copies is None or p.has_async:
        return None
    setup: list[o.Op] = []
    rings = p.rings(setup, copies)
    full = namer.fresh(SharedType((p.S,), i64), "full")
    empty = namer.fresh(SharedType((p.S,), i64), "empty")
    p.bars = full
    setup += [o.AllocSharedOp(results=(full,), loc=p.loc),
              o.AllocSharedOp(results=(empty,), loc=p.loc),
              MbarrierInitRingOp(loc=p.loc, count=1, bars=full),
              MbarrierInitRingOp(loc=p.loc, count=warps, bars=empty)]
    producer = _producer(p, copies, rings, empty)
    hoisted = _hoist(body[:at], producer, setup)
    if hoisted is None:
        return None
    # committed: the pipeliner's choices (alignment, tensor-map boxes) now hold
    align[0] = max(align[0], p.align[0])
    boxes.update(p.boxes)
    consumer = [op for op in body[:at] if id(op) not in hoisted]
    consumer.append(replace(loop, body=_consumer_body(p, copies, rings, full, empty)))
    consumer += [MbarrierInvalRingOp(loc=p.loc, bars=full),
                 MbarrierInvalRingOp(loc=p.loc, bars=empty)]
    consumer += body[at + 1:-1]
    end = o.YieldOp(loc=p.loc)
    consumer_regs, producer_regs = register_split(consumer_threads)
    split = WarpSpecializeOp(loc=loop.loc, consumer_threads=consumer_threads,
                             producer_threads=WARPGROUP, consumer_regs=consumer_regs,
                             producer_regs=producer_regs,
                             producer=Block((), (*producer, end)),
                             consumer=Block((), (*consumer, end)))
    first = [op for op in body[:at] if id(op) in hoisted]
    retyped = {n: Value(n, t) for n, t in p.retyped.items()}
    out = Block(fn.body.args, (*first, *setup, split, body[-1]))
    if retyped:
        from tilelang.ir.rewrite import substitute
        out = substitute(out, retyped)
    return out


def _producer(p, copies: list[o.CopyOp], rings: dict[str, Value],
              empty: Value) -> list[o.Op]:
    """The producer's loop: wait for the consumers to release a stage, refill it."""
    iv = p.namer.fresh(p.iv.type, f"{p.iv.name}_p")
    ops: list[o.Op] = []
    it = p._iteration(ops, iv)
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
                   empty: Value) -> Block:
    """The loop body waiting on ``full`` for each stage and releasing it on ``empty``."""
    top: list[o.Op] = []
    it = p._iteration(top)
    s_const = p.const(top, p.S)
    stage = p.binary(top, "mod", it, s_const)
    parity = p.binary(top, "and", p.binary(top, "floordiv", it, s_const), p.const(top, 1))
    top.append(MbarrierWaitRingOp(loc=p.loc, bars=full, stage=stage, parity=parity))
    ops = p._staged_ops(copies, rings, stage, p.retyped)
    release = MbarrierArriveRingOp(loc=p.loc, bars=empty, stage=stage)
    block = p.loop.body
    return Block(block.args, (*top, *ops, release, block.ops[-1]))


def _hoist(pre: tuple[o.Op, ...], producer: list[o.Op], setup: list[o.Op]) -> set[int] | None:
    """The ids of the ops of ``pre`` (the body before the loop) computing values the
    producer uses, with everything they depend on; None if one is not a pure scalar op
    (it could not run in every thread before the split)."""
    defined: set[str] = {r.name for op in setup for r in op.results}
    inner = list(o.walk(Block((), tuple(producer))))
    for op in inner:
        defined.update(r.name for r in op.results)
        for region in op.regions():
            defined.update(a.name for a in region.args)
    need = {v.name for op in inner for v in op.operand_values()} - defined
    by_name = {r.name: op for op in pre for r in op.results}
    hoisted: set[int] = set()
    work = [n for n in need if n in by_name]
    while work:
        op = by_name[work.pop()]
        if id(op) in hoisted:
            continue
        if op.regions() or o.Trait.PURE not in op.TRAITS or \
                not all(isinstance(r.type, ScalarType) for r in op.results):
            return None
        hoisted.add(id(op))
        work += [v.name for v in op.operand_values() if v.name in by_name]
    return hoisted


__all__ = ["OPTION_ATTR", "enabled", "register_split", "specialize"]
