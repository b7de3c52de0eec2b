"""insert-barriers: put ``tl.barrier`` between conflicting shared-memory accesses.

Contract. Input and output: thread IR. Shared memory is treated as one region:
a read after a write, or a write after a read, with no barrier between them in
some execution order gets a barrier right before the later access. Accesses
are shared loads/stores, ``ldmatrix`` and ``wgmma`` (reads; a ``wgmma``'s
asynchronous read ends at its ``wgmma_wait``, which the lowering puts before any
later shared write), and ``cp_async_wait`` (the point where asynchronous copies
land: a write). Loops are handled by analysing the
body with the state at its end joined into the state at its start, so an
access that conflicts with one of the previous iteration is guarded too. Two
writes are not separated: the lowering never lets two threads write one
address between barriers (the emulator reports it if it ever does).

The regions of a ``tl.warp_specialize`` are analysed like the branches of an
``if``; every block barrier inside one (inserted here, or written by the
lowering) becomes ``th.bar_sync`` over that role's threads (named barrier 1 for
the consumers, 2 for the producer). The roles share no generic-proxy shared
accesses: they hand stages over through mbarriers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tilelang.ir import ops as o
from tilelang.ir.while_ops import WhileOp
from tilelang.passes.gpu.while_loops import insert_barriers_while
from tilelang.ir import thread_ops as th
from tilelang.ir.hopper_ops import WgmmaOp
from tilelang.ir.rewrite import map_regions
from tilelang.ir.role_ops import BarSyncOp, WarpSpecializeOp
from tilelang.ir.tma_ops import TmaStoreOp
from tilelang.ir.values import Block, Function, Module

# named barriers of the two roles of a tl.warp_specialize (0 is the block barrier)
CONSUMER_BARRIER, PRODUCER_BARRIER = 1, 2

# a TMA store reads its source until the issuing thread's th.bulk_wait_read, which
# the lowering puts right after it, before any barrier
_READS = (th.LdSharedOp, th.LdMatrixOp, WgmmaOp, TmaStoreOp)
_WRITES = (th.StSharedOp, th.CpAsyncWaitOp)


@dataclass(frozen=True)
class State:
    """Shared accesses since the last barrier on some path."""

    read: bool = False
    written: bool = False

    def join(self, other: "State") -> "State":
        return State(self.read or other.read, self.written or other.written)


def run(module: Module) -> Module:
    return Module(tuple(_function(f) for f in module.functions))


def _function(fn: Function) -> Function:
    body, _ = _block(fn.body, State())
    return replace(fn, body=body)


def _block(block: Block, state: State) -> tuple[Block, State]:
    out: list[o.Op] = []
    for op in block.ops:
        if isinstance(op, o.BarrierOp):
            state = State()
        elif isinstance(op, _READS) and state.written or \
                isinstance(op, _WRITES) and state.read:
            out.append(o.BarrierOp(loc=op.loc))
            state = State()
        if isinstance(op, _READS):
            state = replace(state, read=True)
        elif isinstance(op, _WRITES):
            state = replace(state, written=True)
        elif isinstance(op, o.ForOp):
            _, end = _block(op.body, state)  # what one iteration leaves behind
            body, end = _block(op.body, state.join(end))
            op = replace(op, body=body)
            state = state.join(end)
        elif isinstance(op, WhileOp):
            op, end = insert_barriers_while(op, state, _block)
            state = state.join(end)
        elif isinstance(op, o.IfOp):
            then, s1 = _block(op.then, state)
            orelse, s2 = _block(op.orelse, state)
            op = replace(op, then=then, orelse=orelse)
            state = s1.join(s2)
        elif isinstance(op, WarpSpecializeOp):
            producer, s1 = _block(op.producer, state)
            consumer, s2 = _block(op.consumer, state)
            op = replace(op, producer=_named(producer, PRODUCER_BARRIER, op.producer_threads),
                         consumer=_named(consumer, CONSUMER_BARRIER, op.consumer_threads))
            state = s1.join(s2)
        out.append(op)
    return Block(block.args, tuple(out)), state


def _named(block: Block, bar_id: int, threads: int) -> Block:
    """``block`` (a warp role's region) with every block barrier made the role's named
    barrier: the other role's threads never reach it, so ``bar.sync 0`` would hang."""
    out = []
    for op in block.ops:
        if isinstance(op, o.BarrierOp):
            op = BarSyncOp(loc=op.loc, id=bar_id, threads=threads)
        out.append(map_regions(op, lambda b: _named(b, bar_id, threads)))
    return Block(block.args, tuple(out))
