"""pipeline: software-pipeline ``tl.pipeline(n, stages=S)`` loops into S-stage
asynchronous ring buffers.

Contract. Input and output: verified tile-IR modules; the interpreter gives the
same results before and after (its copies complete at once, and every stage is
read only after the copy that fills it). A ``tl.for`` with ``kind="pipeline"``
and ``stages = S >= 2`` is rewritten when its body has *eligible copies*: a
``tl.copy`` at the body's top level whose

* destination is a ``tl.alloc_shared`` at the body's top level that nothing
  else in the loop writes and that no op before the copy uses;
* offsets are computed by pure ops of the body from the induction variable and
  values defined outside the loop (never from carried values);
* tensor is not written by any op of the loop (so fetching it early reads what
  the plain loop would read).

Each eligible buffer of shape ``s`` becomes one ring ``shared<S x s>`` allocated
before the loop, and the loop becomes::

    for p in 0 .. S-2:                     # prologue
        if iv_p in range: copy iteration p's window into stage p  (async)
        tl.async_commit()
    for iv ...:                            # iteration i
        tl.async_wait(S-2); tl.barrier()   # iteration i's group has landed for all
        buf = tl.shared_slice(ring, i % S) # replaces the alloc; the copy is gone
        ... the body, reading buf ...
        if iv + (S-1)*step in range: copy that window into stage (i+S-1) % S (async)
        tl.async_commit()                  # one group per iteration, maybe empty
    tl.async_wait(0)

Iterations past the trip count copy nothing (the ``tl.if``), so every
iteration commits exactly one group and the wait count stays ``S-2``. The
stage written in iteration ``i`` is the one read in iteration ``i-1``: the
barrier after the wait at the top of iteration ``i`` orders those reads
before the new copies, so no other barrier is needed for the ring. ``i`` is
``(iv - lower) // step`` (``iv`` itself for ``lower = 0, step = 1``). Loops
with ``stages = 1``, of kind ``range``, or without eligible copies are
unchanged; nested pipeline loops are rewritten innermost first. On a target
without ``cp.async`` (function attribute ``async_copy = false``) the copies are
synchronous and the stage count is first lowered to what the shared-memory
budget holds (``pipeline_budget.py``).
"""

from __future__ import annotations

from dataclasses import replace

from tilelang.ir import ops as o
from tilelang.ir.rewrite import map_operands, map_regions
from tilelang.ir.staging_ops import AsyncCommitOp, AsyncWaitOp, SharedSliceOp
from tilelang.ir.types import ScalarType, SharedType, TensorType, bool_
from tilelang.ir.values import Block, Function, Module, Value
from tilelang.passes.tile.names import Namer
from tilelang.passes.gpu.pipeline_budget import stages_that_fit


def run(module: Module) -> Module:
    return Module(tuple(_function(f) for f in module.functions))


def _function(fn: Function) -> Function:
    namer = Namer(fn)
    # loop bounds are defined anywhere above the loop: constants of the whole function
    consts = {op.result.name: op.value for op in o.walk(fn.body)
              if isinstance(op, o.ConstantOp)}
    body = _block(fn.body, namer, consts, fn)
    return fn if body == fn.body else replace(fn, body=body)


def _block(block: Block, namer: Namer, consts: dict[str, object],
           fn: Function | None = None) -> Block:
    out: list[o.Op] = []
    for op in block.ops:
        op = map_regions(op, lambda b: _block(b, namer, consts, fn))
        if isinstance(op, o.ForOp) and op.kind == "pipeline" and op.stages >= 2 and \
                fn is not None:   # without cp.async, as many stages as the LDS holds
            ring = _Pipeliner(op, namer, consts).eligible()
            op = replace(op, stages=stages_that_fit(fn, op, ring))
        if isinstance(op, o.ForOp) and op.kind == "pipeline" and op.stages >= 2:
            out.extend(_Pipeliner(op, namer, consts).rewrite())
        else:
            out.append(op)
    return Block(block.args, tuple(out))


class _Pipeliner:
    """Rewrites one pipeline loop (see the module docstring)."""

    def __init__(self, loop: o.ForOp, namer: Namer, consts: dict[str, object]) -> None:
        self.loop, self.namer, self.loc, self.consts = loop, namer, loop.loc, consts
        self.S = loop.stages
        self.iv = loop.body.args[0]
        self.ity = self.iv.type
        self.defs = {r.name: op for op in loop.body.ops for r in op.results}

    # -- emitting helpers --------------------------------------------------------
    def _emit(self, out: list[o.Op], cls: type[o.Op], type_: object, hint: str,
              **fields: object) -> Value:
        v = self.namer.fresh(type_, hint)
        out.append(cls(results=(v,), loc=self.loc, **fields))
        return v

    def const(self, out: list[o.Op], value: int) -> Value:
        return self._emit(out, o.ConstantOp, self.ity, "c", value=value)

    def binary(self, out: list[o.Op], fn: str, a: Value, b: Value) -> Value:
        t = ScalarType(bool_) if fn in o.COMPARE_FNS else self.ity
        return self._emit(out, o.BinaryOp, t, fn, fn=fn, lhs=a, rhs=b)

    # -- analysis ------------------------------------------------------------------
    def eligible(self) -> list[o.CopyOp]:
        body = self.loop.body.ops
        allocs = {op.result.name: i for i, op in enumerate(body)
                  if isinstance(op, o.AllocSharedOp)}
        loop_ops = list(o.walk(self.loop.body))
        found = []
        for i, op in enumerate(body):
            if not isinstance(op, o.CopyOp) or op.is_async or op.dst.name not in allocs:
                continue
            if self._slice(op) is None or self._tensor_written(op.tensor, loop_ops):
                continue
            if self._buffer_ok(op, i, body, loop_ops):
                found.append(op)
        return found

    def _slice(self, copy: o.CopyOp) -> list[o.Op] | None:
        """The body's ops computing ``copy``'s offsets, in order; None if impure or
        depending on carried values."""
        carried = {a.name for a in self.loop.body.args[1:]}
        need: set[str] = set()
        work = list(copy.offsets)
        while work:
            v = work.pop()
            if v.name in carried:
                return None
            op = self.defs.get(v.name)
            if op is None or v.name in need:
                continue  # the induction variable, or defined outside the loop
            if not op.has_trait(o.Trait.PURE) or op.regions():
                return None
            need.add(v.name)
            work.extend(op.operand_values())
        return [op for op in self.loop.body.ops if any(r.name in need for r in op.results)]

    @staticmethod
    def _tensor_written(tensor: Value, loop_ops: list[o.Op]) -> bool:
        # a tl.copy writes shared memory only: its tensor is what it reads
        return any(op.has_trait(o.Trait.WRITES_MEMORY) and not isinstance(op, o.CopyOp) and any(
            v.name == tensor.name and isinstance(v.type, TensorType)
            for v in op.operand_values()) for op in loop_ops)

    @staticmethod
    def _buffer_ok(copy: o.CopyOp, pos: int, body: tuple[o.Op, ...],
                   loop_ops: list[o.Op]) -> bool:
        buf = copy.dst.name
        for op in loop_ops:
            if op is copy or buf not in {v.name for v in op.operand_values()}:
                continue
            if op.has_trait(o.Trait.WRITES_MEMORY) or isinstance(op, o.YieldOp):
                return False
        for op in body[:pos]:  # a use before the copy would read the previous iteration
            inner = [op, *(x for r in op.regions() for x in o.walk(r))]
            if any(buf in {v.name for v in x.operand_values()} for x in inner):
                return False
        return True

    # -- rewriting -------------------------------------------------------------------
    def rewrite(self) -> list[o.Op]:
        copies = self.eligible()
        if not copies:
            return [self.loop]
        before: list[o.Op] = []
        rings = {}
        for c in copies:
            st: SharedType = c.dst.type
            ring = self.namer.fresh(SharedType((self.S, *st.shape), st.dtype, st.swizzle),
                                    f"{c.dst.name}_ring")
            before.append(o.AllocSharedOp(results=(ring,), loc=c.loc))
            rings[c.dst.name] = ring
        lower = self.loop.lower
        for p in range(self.S - 1):
            iv_p = lower if p == 0 else self.binary(before, "add", lower,
                                                    self._times_step(before, p))
            self._issue(before, copies, rings, iv_p, self.const(before, p))
        body = self._body(copies, rings)
        loop = replace(self.loop, body=body)
        after = [AsyncWaitOp(loc=self.loc, pending=0)]
        return [*before, loop, *after]

    def _body(self, copies: list[o.CopyOp], rings: dict[str, Value]) -> Block:
        S, iv = self.S, self.iv
        top: list[o.Op] = [AsyncWaitOp(loc=self.loc, pending=S - 2), o.BarrierOp(loc=self.loc)]
        it = self._iteration(top)
        s_const = self.const(top, S)
        stage = self.binary(top, "mod", it, s_const)
        ops = self._staged_ops(copies, rings, stage)
        tail: list[o.Op] = []
        iv_n = self.binary(tail, "add", iv, self._times_step(tail, S - 1))
        it_n = iv_n if it is iv else self.binary(tail, "add", it, self.const(tail, S - 1))
        stage_n = self.binary(tail, "mod", it_n, s_const)
        self._issue(tail, copies, rings, iv_n, stage_n)
        block = self.loop.body
        return Block(block.args, (*top, *ops, *tail, block.ops[-1]))

    def _staged_ops(self, copies: list[o.CopyOp], rings: dict[str, Value], stage: Value,
                    retyped: dict[str, object] | None = None) -> list[o.Op]:
        """The loop body's ops without its pipelined copies, each copy's buffer now the
        ``stage`` slice of its ring (same result name, so every use reads the current
        stage; with the type ``retyped`` gives it, where it gives one)."""
        retyped = retyped or {}
        drop = {c.dst.name for c in copies}
        removed = {id(c) for c in copies}
        ops: list[o.Op] = []
        for op in self.loop.body.ops[:-1]:
            if id(op) in removed:
                continue
            if isinstance(op, o.AllocSharedOp) and op.result.name in drop:
                name = op.result.name
                res = (Value(name, retyped[name]),) if name in retyped else op.results
                ops.append(SharedSliceOp(results=res, loc=op.loc, src=rings[name], index=stage))
                continue
            ops.append(op)
        return ops

    def _iteration(self, out: list[o.Op], iv: Value | None = None) -> Value:
        """The iteration number ``(iv - lower) // step`` (``iv`` when 0 and 1) of the
        loop's induction variable, or of ``iv`` running over the same range."""
        iv = self.iv if iv is None else iv
        lo, st = self.loop.lower, self.loop.step
        if self._const_of(lo) == 0 and self._const_of(st) == 1:
            return iv
        return self.binary(out, "floordiv", self.binary(out, "sub", iv, lo), st)

    def _times_step(self, out: list[o.Op], n: int) -> Value:
        """``n * step`` (folded when the step is a constant)."""
        step = self._const_of(self.loop.step)
        if step is not None:
            return self.const(out, n * step)
        return self.binary(out, "mul", self.const(out, n), self.loop.step)

    def _const_of(self, v: Value) -> int | None:
        c = self.consts.get(v.name)
        return c if isinstance(c, int) and not isinstance(c, bool) else None

    def _in_range(self, out: list[o.Op], iv: Value) -> Value:
        up, st = self.loop.upper, self.loop.step
        step = self._const_of(st)
        if step is not None:
            return self.binary(out, "lt" if step > 0 else "gt", iv, up)
        zero = self.const(out, 0)
        fwd = self.binary(out, "and", self.binary(out, "gt", st, zero),
                          self.binary(out, "lt", iv, up))
        back = self.binary(out, "and", self.binary(out, "lt", st, zero),
                           self.binary(out, "gt", iv, up))
        return self.binary(out, "or", fwd, back)

    def _issue(self, out: list[o.Op], copies: list[o.CopyOp], rings: dict[str, Value],
               iv: Value, stage: Value) -> None:
        """``if iv in range: copy each window of iteration iv into stage``, then commit."""
        cond = self._in_range(out, iv)
        then: list[o.Op] = []
        mapping = {self.iv.name: iv}  # body value -> its clone for iteration ``iv``
        for c in copies:
            for op in self._slice(c) or []:
                if op.results[0].name in mapping:
                    continue  # shared with an earlier copy's offsets
                new = tuple(self.namer.fresh(r.type, r.name) for r in op.results)
                then.append(replace(map_operands(op, lambda v: mapping.get(v.name, v)),
                                    results=new))
                mapping.update({r.name: n for r, n in zip(op.results, new)})
            dst = self._emit(then, SharedSliceOp, c.dst.type, c.dst.name, src=rings[c.dst.name],
                             index=stage)
            then.append(replace(map_operands(c, lambda v: mapping.get(v.name, v)), dst=dst,
                                is_async=True))
        then.append(o.YieldOp(loc=self.loc))
        out.append(o.IfOp(loc=self.loc, cond=cond, then=Block((), tuple(then)),
                          orelse=Block((), (o.YieldOp(loc=self.loc),))))
        out.append(AsyncCommitOp(loc=self.loc))


__all__ = ["run"]
