"""overlap-wgmma: keep one wgmma group in flight across the iterations of a
warp-specialized consumer loop (``wgmma.wait_group 1``).

Contract. Input and output: thread IR (after ``lower-to-threads``, before
``insert-barriers``); the emulator gives the same results before and after.
A ``tl.for`` at the top level of a ``tl.warp_specialize`` consumer region (or of
the body of a loop there) changes when its body

* has exactly one ``th.wgmma_wait`` (``pending = 0``), whose results feed only the
  body's ``tl.yield``, and whose loop-carried accumulators feed only
  ``th.wgmma`` ops (an accumulator chain: nothing else reads them in the loop);
* releases its stage with exactly one ``th.mbarrier_arrive`` after that wait;
* writes no shared memory (a later iteration's write could land on bytes the
  previous iteration's wgmma, still in flight, reads).

The body then waits with ``pending = 1`` (guarding nothing): the group of the
previous iteration completes while this iteration's runs, and the release
releases the previous iteration's stage instead of this one (its barrier address
and release predicate travel as two extra loop-carried values, the predicate
false before the first iteration). The accumulators go round the loop still in
flight, which the chain allows (the PTX ISA lets ``wgmma.mma_async`` ops of one
shape read an accumulator in flight), and one ``th.wgmma_wait 0`` after the loop
completes them before anything else reads them; then the last iteration's stage
is released (a persistent kernel's next tile refills it). The loop may also be
the body's of a persistent kernel's tile loop at the region's top level.

Flash attention's loop rescales its accumulator between the two dots, so it
reads the accumulator in the loop and keeps ``pending = 0``.
"""

from __future__ import annotations

from dataclasses import replace

from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.ir import tma_ops as tma
from tilelang.ir.hopper_ops import WgmmaOp, WgmmaWaitOp
from tilelang.ir.rewrite import substitute
from tilelang.ir.role_ops import WarpSpecializeOp
from tilelang.ir.types import ScalarType, bool_, i32
from tilelang.ir.values import Block, Function, Module, Value
from tilelang.passes.tile.names import Namer

_SHARED_WRITES = (th.StSharedOp, th.CpAsyncOp, th.CpAsyncWaitOp)


def run(module: Module) -> Module:
    return Module(tuple(_function(f) for f in module.functions))


def _function(fn: Function) -> Function:
    if not any(isinstance(op, WarpSpecializeOp) for op in fn.body.ops):
        return fn
    namer = Namer(fn)
    ops = []
    for op in fn.body.ops:
        if isinstance(op, WarpSpecializeOp):
            op = replace(op, consumer=_consumer(op.consumer, namer))
        ops.append(op)
    return replace(fn, body=Block(fn.body.args, tuple(ops)))


def _consumer(block: Block, namer: Namer, depth: int = 0) -> Block:
    """``block`` (the consumer region, or at ``depth`` 1 a persistent kernel's tile
    loop body in it) with its first loop that qualifies overlapped."""
    out: list[o.Op] = []
    ops = list(block.ops)
    for i, op in enumerate(ops):
        if isinstance(op, o.ForOp):
            rewritten = _loop(op, namer)
            if rewritten is None and depth == 0:
                body = _consumer(op.body, namer, 1)
                if body is not op.body:
                    out.append(replace(op, body=body))
                    return Block(block.args, (*out, *ops[i + 1:]))
            if rewritten is not None:
                new_ops, completed = rewritten
                out.extend(new_ops)
                # the rest of the region reads the completed accumulators
                rest = substitute(Block((), tuple(ops[i + 1:])), completed)
                return Block(block.args, (*out, *rest.ops))
        out.append(op)
    return block


def _loop(loop: o.ForOp, namer: Namer) -> tuple[list[o.Op], dict[str, Value]] | None:
    """The loop with its wgmma groups overlapped followed by the final wait, and the
    loop results to read as the completed values; None where the module docstring's
    conditions do not hold."""
    body = list(loop.body.ops)
    waits = [op for op in body if isinstance(op, WgmmaWaitOp)]
    arrives = [op for op in body if isinstance(op, tma.MbarrierArriveOp)]
    if len(waits) != 1 or len(arrives) != 1 or body.index(arrives[0]) < body.index(waits[0]):
        return None
    wait, arrive = waits[0], arrives[0]
    inner = list(o.walk(loop.body))
    if wait.pending != 0 or not wait.values or \
            sum(isinstance(op, (WgmmaWaitOp, tma.MbarrierArriveOp)) for op in inner) != 2 or \
            any(isinstance(op, _SHARED_WRITES) for op in inner):
        return None
    yield_op = body[-1]
    assert isinstance(yield_op, o.YieldOp)
    done = {r.name for r in wait.results}
    # the wait's results feed only the yield ...
    if any(op is not yield_op and any(v.name in done for v in op.operand_values())
           for op in inner):
        return None
    positions = [k for k, v in enumerate(yield_op.values) if v.name in done]
    if len(positions) != len(done):
        return None
    # ... and the carried accumulators only the accumulator operands of wgmma chains
    carried = {loop.body.args[k + 1].name for k in positions}
    for op in inner:
        if isinstance(op, WgmmaOp):
            others = (*op.a, op.a_desc, op.b_desc)
            if any(v is not None and v.name in carried for v in others):
                return None
        elif any(v.name in carried for v in op.operand_values()):
            return None
    prev_bar = namer.fresh(ScalarType(i32), "prev_stage_bar")
    prev_pred = namer.fresh(ScalarType(bool_), "prev_stage_release")
    new_ops: list[o.Op] = []
    pred = arrive.pred
    for op in body[:-1]:
        if op is wait:
            # at most this iteration's group stays in flight: the previous one is done
            new_ops.append(WgmmaWaitOp(loc=op.loc, pending=1, values=()))
        elif op is arrive:
            # ... so the previous iteration's stage is released (where this one's was)
            new_ops.append(tma.MbarrierArriveOp(loc=arrive.loc, bar=prev_bar, pred=prev_pred))
        else:
            new_ops.append(op)
    if pred is None:
        pred = namer.fresh(ScalarType(bool_), "true")
        new_ops.append(o.ConstantOp(results=(pred,), loc=loop.loc, value=True))
    inputs = {r.name: v for r, v in zip(wait.results, wait.values)}
    values = tuple(inputs.get(v.name, v) for v in yield_op.values) + (arrive.bar, pred)
    new_ops.append(replace(yield_op, values=values))
    zero = namer.fresh(ScalarType(i32), "no_stage_bar")
    no = namer.fresh(ScalarType(bool_), "false")
    before = [o.ConstantOp(results=(zero,), loc=loop.loc, value=0),
              o.ConstantOp(results=(no,), loc=loop.loc, value=False)]
    last_bar = namer.fresh(ScalarType(i32), "last_stage_bar")
    last_pred = namer.fresh(ScalarType(bool_), "last_stage_release")
    new_loop = replace(loop, inits=loop.inits + (zero, no),
                       results=loop.results + (last_bar, last_pred),
                       body=Block(loop.body.args + (prev_bar, prev_pred), tuple(new_ops)))
    in_flight = tuple(loop.results[k] for k in positions)
    completed = tuple(namer.fresh(v.type, f"{v.name}_done") for v in in_flight)
    # every group is done: the last iteration's stage is released too (false when
    # the loop ran no iteration), which a persistent kernel's next tile refills
    final = [WgmmaWaitOp(results=completed, loc=loop.loc, pending=0, values=in_flight),
             tma.MbarrierArriveOp(loc=arrive.loc, bar=last_bar, pred=last_pred)]
    return [*before, new_loop, *final], {a.name: b for a, b in zip(in_flight, completed)}
