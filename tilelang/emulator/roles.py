"""Warp-specialized blocks in the emulator: ``tl.warp_specialize``, ``th.setmaxnreg``,
``th.bar_sync`` (``tilelang.ir.role_ops``), exactly.

Regions. Each region of ``tl.warp_specialize`` is compiled with its own ``Prep``
(``Prep.region``): its ops work on per-thread arrays of the region's length,
``th.thread_id`` gives the block-wide ids ``arange(base, base + count)``, a
per-thread value defined before the op is sliced to the region's threads, and
messages name block-wide threads (``REPORT_BASE``; shared-memory race records
hold block-wide ids too). The function's ``num_threads`` must equal
``consumer_threads + producer_threads`` (an ``IRError`` otherwise).

Scheduling. The two regions run as *roles*: cooperative tasks, each on its own
Python thread (so a role can block in the middle of nested loops), of which
exactly one -- the baton holder -- runs at any time; the order is deterministic.
The producer runs first, so it gets ahead of the consumers as on the GPU. A role
runs until

* it waits (``th.mbarrier_wait``) for a phase that cannot complete yet: the baton
  goes to the next role, in region order, that can make progress (one not
  waiting, or one whose wait can now complete); if there is none, every
  unfinished role is stuck and the block is a deadlock ``Fault`` naming each
  role's wait (the barrier's shared byte offset, the parity, the arrivals and
  transaction bytes missing);
* or it makes an arrival (``th.mbarrier_arrive``, ``th.mbarrier_expect_tx``) or
  issues a ``th.tma_load`` after which a waiting role's wait can complete: that
  role gets the baton at once. Releasing a stage hands it straight to the
  producer, so a consumer that arrives on ``empty[s]`` before it is done reading
  stage ``s`` reads bytes of the refill in flight, a reported fault.

Each role runs under its own copy of the caller's context variables and with
numpy's floating-point warnings off (both are per OS thread). An error in a role
abandons the others and is raised on the caller's thread (a ``Fault`` keeps the op
it names); ``tl.return`` inside a region ends that role only. ``cp.async`` groups
and the wgmma groups are per thread on the GPU, so each role keeps its own.

``th.setmaxnreg`` is a fault outside a region of whole warpgroups and otherwise
does nothing (registers are unlimited here). ``th.bar_sync`` is a fault (the GPU
would hang) unless its ``threads`` is the running region's thread count (the
block's outside regions); then it is a barrier of those threads: the
shared-memory race records are reset. ``tl.barrier`` inside a region is a fault:
the other role's threads never reach it.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any, Callable

import numpy as np

from tilelang.errors import IRError
from tilelang.ir import ops as o
from tilelang.ir import role_ops as ro
from tilelang.ir.types import ScalarType
from tilelang.ir.values import Block, Value
from tilelang.emulator import shared as emu_shared
from tilelang.emulator.core import REPORT_BASE, STATE, Closure, Env, Fault, Prep, Slot
from tilelang.emulator.nvidia.tma import Mbarrier, missing, settles

__all__ = ["COMPILERS", "Role", "Roles", "compile_warp_specialize"]

# Per-thread state of the GPU that BlockState keeps for the running role.
_PRIVATE = ("open_group", "groups", "wgmma")


class _Abort(BaseException):
    """Unwinds a role whose block is abandoned (another role failed, or a deadlock).
    A BaseException, so the block runners do not turn it into a ``Fault``."""


class Role:
    """One region of a ``tl.warp_specialize`` running in a block."""

    def __init__(self, name: str, base: int, count: int,
                 runner: Callable[[Env], Any], env: Env) -> None:
        self.name, self.base, self.count = name, base, count
        self.runner, self.env = runner, env
        self.done = False
        # (op, shared byte, barrier, parity) of the wait it is blocked in
        self.wait: tuple[o.Op, int, Mbarrier, int] | None = None
        self.private: dict[str, Any] = {"open_group": [], "groups": [], "wgmma": None}

    def runnable(self) -> bool:
        return not self.done and (self.wait is None or settles(self.wait[2], self.wait[3]))

    def describe(self) -> str:
        who = f"{self.name} (threads {self.base}-{self.base + self.count - 1})"
        if self.done:
            return f"{who} has finished"
        if self.wait is None:
            return f"{who} is ready to run"
        op, addr, bar, parity = self.wait
        at = f" at {op.loc}" if op.loc else ""
        arrivals, nbytes = missing(bar)
        return (f"{who} waits{at} on the mbarrier at shared byte {addr} for the phase of "
                f"parity {parity} (phase {bar.phase}: {arrivals} arrival(s) and {nbytes} "
                f"transaction byte(s) missing)")


class Roles:
    """The baton-passing scheduler of one block's roles (``BlockState.roles``)."""

    def __init__(self, state: Any, roles: list[Role], block_return: type[Exception]) -> None:
        self.state, self.roles, self.block_return = state, roles, block_return
        self.cond = threading.Condition()
        self.current: Role | None = None
        self.error: BaseException | None = None
        self.aborted = False

    # -- the caller's side -------------------------------------------------------
    def run(self) -> None:
        """Run every role to its end; raise the first error of any of them."""
        state = self.state
        saved = {k: getattr(state, k) for k in _PRIVATE}
        state.roles = self
        threads = [threading.Thread(target=contextvars.copy_context().run,
                                    args=(self._main, r), name=f"tilelang-emu-{r.name}",
                                    daemon=True) for r in self.roles]
        with self.cond:
            self._hand(self.roles[-1])         # the producer first
        for t in threads:
            t.start()
        try:
            with self.cond:
                while not all(r.done for r in self.roles):
                    self.cond.wait()
        except BaseException:
            with self.cond:
                self._fail(None)
            raise
        finally:
            for t in threads:
                t.join()
            state.roles = None
            for k, v in saved.items():
                setattr(state, k, v)
        if self.error is not None:
            raise self.error

    # -- the roles' side (called by the baton holder) ----------------------------------
    def block(self, op: o.Op, addr: int, bar: Mbarrier, parity: int) -> None:
        """The running role waits for a phase that cannot complete yet: run the others
        until it can; a ``Fault`` (raised via the caller) if none can progress."""
        with self.cond:
            me = self.current
            me.wait = (op, addr, bar, parity)
            nxt = self._pick(me)
            if nxt is None:
                self._fail(self._deadlock())
                raise _Abort()
            self._hand(nxt)
            self._await(me)
            me.wait = None

    def progress(self) -> None:
        """After an arrival or a TMA issue: hand the baton to a waiting role whose wait
        can now complete (the earliest moment it could run on the GPU)."""
        with self.cond:
            me = self.current
            for r in self.roles:
                if r is not me and r.wait is not None and r.runnable():
                    self._hand(r)
                    self._await(me)
                    return

    # -- internals (under self.cond) ----------------------------------------------
    def _main(self, role: Role) -> None:
        REPORT_BASE.set(role.base)
        with np.errstate(all="ignore"):
            try:
                with self.cond:
                    self._await(role)
                role.runner(role.env)
            except (_Abort, self.block_return):
                pass
            except BaseException as e:   # noqa: BLE001 -- re-raised on the caller's thread
                with self.cond:
                    self._fail(e)
            finally:
                with self.cond:
                    role.done, role.wait = True, None
                    if self.current is role and not self.aborted:
                        nxt = self._pick(role)
                        if nxt is not None:
                            self._hand(nxt)
                        elif not all(r.done for r in self.roles):
                            self._fail(self._deadlock())
                    self.cond.notify_all()

    def _await(self, role: Role) -> None:
        while self.current is not role and not self.aborted:
            self.cond.wait()
        if self.aborted:
            raise _Abort()

    def _pick(self, me: Role) -> Role | None:
        """The next role after ``me`` (cyclically, in region order) that can progress."""
        k = self.roles.index(me)
        for r in self.roles[k + 1:] + self.roles[:k]:
            if r.runnable():
                return r
        return None

    def _hand(self, role: Role) -> None:
        state, cur = self.state, self.current
        if cur is not None:
            cur.private = {k: getattr(state, k) for k in _PRIVATE}
        for k, v in role.private.items():
            setattr(state, k, v)
        self.current = role
        self.cond.notify_all()

    def _fail(self, error: BaseException | None) -> None:
        if self.error is None and error is not None:
            self.error = error
        self.aborted = True
        self.cond.notify_all()

    def _deadlock(self) -> Fault:
        waits = [r for r in self.roles if r.wait is not None and not r.done]
        text = "; ".join(r.describe() for r in self.roles)
        return Fault(f"deadlock: no role of the warp-specialized block can progress: {text}",
                     "a role waits for a phase nobody completes: an arrival (the consumers' "
                     "release of a stage, or the producer's expect_tx) is missing, a parity "
                     "is wrong, or the copies announced were never issued (a lowering bug)",
                     waits[0].wait[0] if waits else None)


def _outer_scalars(block: Block) -> list[Value]:
    """The scalar values ``block`` uses but does not define (defined before the op)."""
    defined: set[str] = set()
    used: dict[str, Value] = {}
    for op in o.walk(block):
        defined.update(r.name for r in op.results)
        for region in op.regions():
            defined.update(a.name for a in region.args)
        for v in op.operand_values():
            used[v.name] = v
    return [v for name, v in used.items()
            if name not in defined and isinstance(v.type, ScalarType)]


def compile_warp_specialize(op: ro.WarpSpecializeOp, slot: Slot, prep: Prep,
                            compile_region: Callable[[Any, Prep], Callable[[Env], Any]],
                            block_return: type[Exception]) -> Closure:
    """The closure running ``op``'s regions as roles (see the module docstring).
    ``compile_region(block, prep)`` compiles a region's block with the region's Prep;
    ``block_return`` is what ``tl.return`` raises (it ends the role). Per-thread values
    defined before the op are sliced to each region's threads on entry."""
    if prep.role is not None:
        raise IRError("tl.warp_specialize nested in a warp_specialize region", kernel=prep.name,
                      loc=op.loc, hint="a block specializes its warps once (a lowering bug)")
    if prep.num_threads != op.num_threads:
        raise IRError(f"function {prep.name} has num_threads {prep.num_threads}, but its "
                      f"tl.warp_specialize runs {op.consumer_threads} consumer + "
                      f"{op.producer_threads} producer threads", kernel=prep.name, loc=op.loc,
                      hint="num_threads must equal consumer_threads + producer_threads "
                           "(a lowering bug)")
    specs = (("consumer", 0, op.consumer_threads, op.consumer),
             ("producer", op.consumer_threads, op.producer_threads, op.producer))
    compiled = tuple((name, base, count, tuple(slot(v) for v in _outer_scalars(block)),
                      compile_region(block, prep.region(name, base, count)))
                     for name, base, count, block in specs)

    def entry(env: Env, lo: int, count: int, outer: tuple[int, ...]) -> Env:
        mine = env.copy()
        for s in outer:
            v = mine[s]
            if type(v) is np.ndarray and v.ndim == 1:
                mine[s] = v[lo:lo + count]
        return mine

    def run(env: Env) -> None:
        roles = [Role(name, prep.base + lo, count, runner, entry(env, lo, count, outer))
                 for name, lo, count, outer, runner in compiled]
        Roles(env[STATE], roles, block_return).run()
    return run


def _compile_setmaxnreg(op: ro.SetMaxNRegOp, slot: Slot, prep: Prep) -> Closure:
    whole = prep.role is not None and not prep.base % ro.WARPGROUP \
        and not prep.num_threads % ro.WARPGROUP
    where = (f"the {prep.role} region (threads {prep.base}-{prep.base + prep.num_threads - 1})"
             if prep.role is not None else "no tl.warp_specialize region")

    def run(env: Env) -> None:
        if not whole:
            raise Fault(f"th.setmaxnreg {op.regs} runs in {where}, not in a region of whole "
                        f"warpgroups", "setmaxnreg is executed by every thread of whole "
                        "warpgroups of a warp-specialized role (a lowering bug)")
    return run


def _compile_bar_sync(op: ro.BarSyncOp, slot: Slot, prep: Prep) -> Closure:
    n = prep.num_threads
    where = f"the {prep.role} region" if prep.role is not None else "the block"

    def run(env: Env) -> None:
        if op.threads != n:
            raise Fault(f"th.bar_sync {op.id} waits for {op.threads} threads, but {where} "
                        f"runs {n}: it never completes (the GPU hangs)",
                        "a named barrier's thread count is the number of threads that reach "
                        "it: the running region's thread count (a lowering bug)")
        env[STATE].shared.barrier()
    return run


_BLOCK_BARRIER = emu_shared.COMPILERS[o.BarrierOp]


def _compile_barrier(op: o.BarrierOp, slot: Slot, prep: Prep) -> Closure:
    if prep.role is None:
        return _BLOCK_BARRIER(op, slot, prep)
    role = prep.role

    def run(env: Env) -> None:
        raise Fault(f"deadlock: tl.barrier (the block barrier) in the {role} region of a "
                    f"tl.warp_specialize: the other role's threads never reach it",
                    "synchronize a role's own threads with th.bar_sync over its thread count "
                    "(a lowering bug)")
    return run


COMPILERS: dict[type[o.Op], Callable[[Any, Slot, Prep], Closure]] = {
    ro.SetMaxNRegOp: _compile_setmaxnreg,
    ro.BarSyncOp: _compile_bar_sync,
    o.BarrierOp: _compile_barrier,
}
