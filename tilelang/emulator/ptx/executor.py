"""Running one ``.entry`` over a grid: all threads of a CTA in lockstep, vectorized.

``Program(entry, threads)`` compiles every instruction once into a closure over the
register views (``alu``, ``memory``, ``warp``, ``hopper``); an instruction it has
no closure for is a ``PtxError`` naming it, before anything runs.

Scheduling (per CTA): each thread has a PC and a state (running, waiting at a
``bar.sync``, waiting on an mbarrier phase, exited). A step runs the instruction at
the lowest PC among running threads for all running threads at that PC, so
threads split by a divergent branch run one side after the other and merge again
where their PCs meet (the immediate post-dominator of the structured control
flow LLVM emits). A run of straight-line instructions executes without
rescheduling while no other thread waits at a PC inside it. ``bar.sync a{, b}``
waits for ``b`` threads (all non-exited threads without ``b``) at barrier ``a``;
``mbarrier.try_wait`` suspends a thread until the phase completes (the ISA allows
a try_wait to suspend). If no thread can run while some have not exited, that is
a deadlock, reported with where each thread waits; more than ``max_steps``
scheduling steps per CTA is reported as a hang.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tilelang.emulator.ptx import alu, hopper, memory, warp, wgmma
from tilelang.emulator.ptx.errors import PtxError
from tilelang.emulator.ptx.operands import ALL
from tilelang.emulator.ptx.parser import Entry, Imm, Instr, PtxModule, Sym
from tilelang.emulator.ptx.races import RaceTracker, who
from tilelang.emulator.ptx.state import GlobalMemory, Registers, Space, gather, scatter
from tilelang.errors import SourceLoc

RUN, BAR, MBAR, DONE = 0, 1, 2, 3
_BIG = np.iinfo(np.int64).max
COMPILERS: dict[str, Callable[[Any, Instr], Any]] = {
    **alu.COMPILERS, **memory.COMPILERS, **warp.COMPILERS, **hopper.COMPILERS,
    **wgmma.COMPILERS}
# instructions that end a straight-line run: control flow and waits
_CONTROL = {"bra", "ret", "exit", "bar", "barrier", "mbarrier.try_wait"}
MAX_STEPS = 20_000_000


def _key(ins: Instr) -> str:
    if ins.opcode.startswith("mbarrier.try_wait"):
        return "mbarrier.try_wait"
    return ins.parts[0]


class Program:
    """One entry of a PTX module, compiled for CTAs of ``threads`` threads."""

    SHARED_BASE = 0
    PARAM_GENERIC = 0x7F00_0000_0000   # where cvta.param puts the parameter space

    def __init__(self, module: PtxModule, entry: Entry, threads: int) -> None:
        self.module, self.entry, self.threads = module, entry, threads
        if entry.max_threads is not None and threads > entry.max_threads:
            raise PtxError(f"entry {entry.name} allows {entry.max_threads} threads per CTA "
                           f"(.maxntid), launched with {threads}")
        self.regs = Registers(entry.reg_counts, threads)
        self.tid = np.arange(threads, dtype=np.uint32)
        self.ctaid = (0, 0, 0)
        self.nctaid = (1, 1, 1)
        self.gmem = GlobalMemory()
        self.shared_symbols: dict[str, int] = {}
        self.static_shared = 0
        for decl in module.shared:
            if decl.extern:
                continue
            self.static_shared = -(-self.static_shared // decl.align) * decl.align
            self.shared_symbols[decl.name] = self.static_shared
            self.static_shared += decl.size
        for decl in module.shared:
            if decl.extern:
                self.static_shared = -(-self.static_shared // decl.align) * decl.align
                self.shared_symbols[decl.name] = self.static_shared
        self.param_symbols = {p.name: p.offset for p in entry.params}
        self.params = Space("param", max(entry.param_bytes, 1))
        self.shared = Space("shared", 1)
        self.races = RaceTracker(threads, 1)
        self.cp_async = memory.CpAsyncGroups(self)
        self.hopper = hopper.HopperState(self)
        self.instrs = entry.instrs
        self.targets = np.zeros(len(self.instrs) + 1, np.int64)
        self.kinds: list[str] = []
        self.fns: list[Any] = []
        accumulators = wgmma.wgmma_accumulators(self.instrs)
        for i, ins in enumerate(self.instrs):
            key = _key(ins)
            self.kinds.append(key if key in _CONTROL else "")
            if key == "bra":
                label = ins.operands[0]
                if not isinstance(label, Sym) or label.name not in entry.labels:
                    raise PtxError(f"PTX line {ins.line}: branch to an unknown label")
                self.targets[i] = entry.labels[label.name]
                self.fns.append(None)
                continue
            if key in ("ret", "exit", "bar", "barrier"):
                self.fns.append(self._barrier_args(ins) if key in ("bar", "barrier") else None)
                continue
            if key == "mbarrier.try_wait" and ins.guard is not None:
                raise PtxError(f"PTX line {ins.line}: a predicated mbarrier.try_wait is not "
                               f"supported by the PTX interpreter")
            compile_ = COMPILERS.get(key)
            if compile_ is None:
                raise PtxError(f"PTX line {ins.line}: the instruction '{ins.opcode}' is not "
                               f"supported by the PTX interpreter ({ins.text})",
                               hint="docs/emulate-ptx.md lists the instructions it runs")
            fn = self._guarded(ins, compile_(self, ins))
            if accumulators:
                fn = wgmma.guard_accumulators(self, ins, fn, accumulators)
            self.fns.append(fn)
        self.kinds.append("ret")       # falling off the end exits
        self.fns.append(None)

    # -- operands the compilers ask for -----------------------------------------------

    def special(self, name: str, dt: Any) -> Callable[[Any], Any]:
        axis = {"x": 0, "y": 1, "z": 2}
        base, _, comp = name[1:].partition(".")
        if base == "tid":
            if comp == "x":
                tid = self.tid.astype(dt)
                return lambda lanes: tid[lanes]
            zero = np.dtype(dt).type(0)
            return lambda lanes: zero
        if base == "ntid":
            v = np.dtype(dt).type(self.threads if comp == "x" else 1)
            return lambda lanes: v
        if base in ("ctaid", "nctaid"):
            k = axis[comp]
            if base == "ctaid":
                return lambda lanes: np.dtype(dt).type(self.ctaid[k])
            return lambda lanes: np.dtype(dt).type(self.nctaid[k])
        if base == "laneid":
            lane = (self.tid % 32).astype(dt)
            return lambda lanes: lane[lanes]
        if base == "warpid":
            wid = (self.tid // 32).astype(dt)
            return lambda lanes: wid[lanes]
        raise PtxError(f"the special register {name} is not supported by the PTX interpreter")

    def symbol_address(self, name: str) -> int:
        if name in self.shared_symbols:
            return self.SHARED_BASE + self.shared_symbols[name]
        if name in self.param_symbols:
            return self.param_symbols[name]
        raise PtxError(f"unknown symbol '{name}'")

    def lane_array(self, lanes: Any) -> np.ndarray:
        return np.arange(self.threads) if isinstance(lanes, slice) else lanes

    def warp_lanes(self, lanes: Any, what: str) -> np.ndarray:
        """The lanes of a warp collective, which must be whole warps (in order)."""
        la = self.lane_array(lanes)
        if la.size % 32 or not np.array_equal(la.reshape(-1, 32) % 32,
                                              np.broadcast_to(np.arange(32), (la.size // 32,
                                                                              32))):
            missing = sorted(set(range(32)) - set((la % 32).tolist()))
            raise PtxError(f"{what}: a .sync.aligned warp instruction executed by part of a "
                           f"warp (lanes {missing[:6]} are elsewhere)",
                           hint="divergent control flow around a warp collective in the "
                                "emitted code")
        return la

    # -- memory --------------------------------------------------------------------------

    def read_bytes(self, space: str, lanes: Any, addr: np.ndarray, nbytes: int,
                   what: str) -> np.ndarray:
        if space == "global":
            parts = self.gmem.parts(addr, nbytes, what)
            if parts[0][0] is None:
                return gather(parts[0][1], parts[0][2], nbytes)
            out = np.zeros((len(addr), nbytes), np.uint8)
            for m, buf, off in parts:
                out[m] = gather(buf, off, nbytes)
            return out
        if space == "shared":
            off = self.shared.offsets(addr, nbytes, what)
            self.races.check(self.lane_array(lanes), off, nbytes, f"{what} read", False)
            return gather(self.shared.data, off, nbytes)
        if space == "param":
            off = self.params.offsets(addr, nbytes, what)
            return gather(self.params.data, off, nbytes)
        raise PtxError(f"{what}: the .{space} state space is not supported by the interpreter")

    def write_bytes(self, space: str, lanes: Any, addr: np.ndarray, data: np.ndarray,
                    what: str) -> None:
        nbytes = data.shape[1]
        if space == "global":
            for m, buf, off in self.gmem.parts(addr, nbytes, what):
                if not buf.flags.writeable:
                    raise PtxError(f"{what}: a store into a read-only array")
                scatter(buf, off, data if m is None else data[m])
            return
        if space == "shared":
            off = self.shared.offsets(addr, nbytes, what)
            self.races.check(self.lane_array(lanes), off, nbytes, f"{what} write", True)
            scatter(self.shared.data, off, data)
            return
        raise PtxError(f"{what}: a store to the .{space} state space is not supported")

    def generic_bytes(self, addr: int, nbytes: int, what: str, align: int) -> np.ndarray:
        """Bytes at a generic address: the parameter window (``cvta.param``) or global."""
        a = np.array([addr], np.uint64)
        if self.PARAM_GENERIC <= addr < self.PARAM_GENERIC + self.params.data.size:
            off = self.params.offsets(a - np.uint64(self.PARAM_GENERIC), nbytes, what, align)
            return gather(self.params.data, off, nbytes)[0]
        buf, off = self.gmem.locate(a, nbytes, what, align)
        return gather(buf, off, nbytes)[0]

    # -- compilation helpers ----------------------------------------------------------

    def _guarded(self, ins: Instr, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        if ins.guard is None:
            return fn
        reg, neg = ins.guard
        pred = self.regs.files["pred"]
        i = reg.index

        def run(lanes: Any) -> Any:
            g = pred[i, lanes]
            if neg:
                g = ~g
            if isinstance(lanes, slice):
                if g.all():
                    return fn(lanes)
                sub = np.flatnonzero(g)
            else:
                sub = lanes[g]
            if sub.size:
                return fn(sub)
            return None
        return run

    def _barrier_args(self, ins: Instr) -> tuple[int, int | None]:
        if ins.parts[1:] not in (("sync",), ()) and ins.parts[1:] != ("sync", "aligned"):
            raise PtxError(f"PTX line {ins.line}: '{ins.opcode}' is not supported by the PTX "
                           f"interpreter", hint="docs/emulate-ptx.md lists the instructions "
                                                "it runs")
        ops = ins.operands
        if not ops or not all(isinstance(o, Imm) for o in ops):
            raise PtxError(f"PTX line {ins.line}: bar.sync with a register operand is not "
                           f"supported by the PTX interpreter")
        return int(ops[0].value), (int(ops[1].value) if len(ops) > 1 else None)

    # -- running ----------------------------------------------------------------------

    def run_grid(self, grid: tuple[int, int, int], shared_bytes: int, params: bytes,
                 max_steps: int = MAX_STEPS) -> None:
        """Run every CTA of ``grid`` with ``shared_bytes`` of dynamic shared memory and
        the parameter buffer ``params`` (laid out at the entry's parameter offsets)."""
        size = self.static_shared + shared_bytes
        self.nctaid = tuple(grid)
        self.params.data[:] = 0
        self.params.data[:len(params)] = np.frombuffer(params, np.uint8)
        for z in range(grid[2]):
            for y in range(grid[1]):
                for x in range(grid[0]):
                    self.ctaid = (x, y, z)
                    self.shared = Space("shared", max(size, 1), self.SHARED_BASE)
                    self.races = RaceTracker(self.threads, max(size, 1))
                    self.cp_async.reset()
                    self.hopper.reset()
                    try:
                        self.run_cta(max_steps)
                    except PtxError as e:
                        raise PtxError(e.message, kernel=e.kernel, loc=e.loc, hint=e.hint,
                                       program_id=(x, y, z)) from None

    def run_cta(self, max_steps: int) -> None:
        T = self.threads
        for f in self.regs.files.values():
            f[...] = 0
        pc = np.zeros(T, np.int64)
        status = np.zeros(T, np.int8)
        self.status, self.pc = status, pc
        bar_id = np.full(T, -1, np.int64)
        self.wait_addr = np.full(T, -1, np.int64)
        arrived: dict[int, int] = {}
        self.bar_counts: dict[int, int | None] = {}    # the thread count of each barrier
        try:
            self._schedule(T, pc, status, bar_id, arrived, max_steps)
        except PtxError as e:
            if e.loc is None:
                raise self._located(e) from None
            raise

    def _located(self, e: PtxError) -> PtxError:
        """``e`` at the Python line the failing instruction's ``.loc`` names (the nearest
        one before it when its own says line 0)."""
        i = min(self.at, len(self.instrs) - 1)
        while i >= 0:
            loc = self.instrs[i].loc
            if loc is not None and loc[1] > 0 and loc[0] in self.module.files:
                return PtxError(e.message, kernel=e.kernel, hint=e.hint,
                                loc=SourceLoc(self.module.files[loc[0]], loc[1]),
                                program_id=e.program_id)
            i -= 1
        return e

    def _schedule(self, T: int, pc: np.ndarray, status: np.ndarray, bar_id: np.ndarray,
                  arrived: dict[int, int], max_steps: int) -> None:
        kinds, fns, targets = self.kinds, self.fns, self.targets
        steps = 0
        self.at = 0
        while True:
            steps += 1
            if steps > max_steps:
                raise PtxError(f"more than {max_steps} scheduling steps in one CTA: the kernel "
                               f"does not terminate ({self._where(pc, status)})")
            running = status == RUN
            if running.all():
                p0 = int(pc.min())
                same = pc == p0
                if same.all():
                    lanes: Any = ALL
                    limit = _BIG
                else:
                    lanes = np.flatnonzero(same)
                    limit = int(pc[~same].min())
            else:
                if not running.any():
                    if (status == DONE).all():
                        return
                    self._deadlock(pc, status, bar_id)
                pcs = np.where(running, pc, _BIG)
                p0 = int(pcs.min())
                same = pcs == p0
                lanes = np.flatnonzero(same)
                rest = pcs[~same]
                limit = int(rest.min()) if rest.size else _BIG
            # straight-line run
            i = p0
            try:
                while not kinds[i]:
                    fns[i](lanes)
                    i += 1
                    if i >= limit:
                        break
            except PtxError:
                self.at = i
                raise
            self.at = i
            if kinds[i] == "" or i >= limit:
                pc[lanes] = i
                continue
            kind = kinds[i]
            la = np.arange(T) if isinstance(lanes, slice) else lanes
            ins = self.instrs[i] if i < len(self.instrs) else None
            if kind == "bra":
                taken = self._guard_mask(ins, lanes, la.size)
                pc[la] = np.where(taken, targets[i], i + 1)
            elif kind in ("ret", "exit"):
                done = self._guard_mask(ins, lanes, la.size) if ins is not None else \
                    np.ones(la.size, bool)
                pc[la] = i + 1
                status[la[done]] = DONE
                self._check_barriers(status, bar_id, arrived, pc)
            elif kind in ("bar", "barrier"):
                bid, cnt = fns[i]
                pc[la] = i
                status[la] = BAR
                bar_id[la] = bid
                arrived[bid] = arrived.get(bid, 0) + la.size
                self._check_barriers(status, bar_id, arrived, pc, (bid, cnt))
            elif kind == "mbarrier.try_wait":
                ok = fns[i](lanes)
                ok = np.ones(la.size, bool) if ok is None else ok
                pc[la] = np.where(ok, i + 1, i)
                blocked = la[~ok]
                if blocked.size:
                    status[blocked] = MBAR
                    self.wait_addr[blocked] = self.hopper.last_wait_addr[blocked]
            else:
                raise PtxError(f"internal: unhandled control kind {kind}")

    def _guard_mask(self, ins: Instr | None, lanes: Any, n: int) -> np.ndarray:
        if ins is None or ins.guard is None:
            return np.ones(n, bool)
        reg, neg = ins.guard
        g = self.regs.files["pred"][reg.index, lanes]
        return ~g if neg else g.copy()

    def _check_barriers(self, status: np.ndarray, bar_id: np.ndarray,
                        arrived: dict[int, int], pc: np.ndarray,
                        new: tuple[int, int | None] | None = None) -> None:
        if new is not None:
            self.bar_counts[new[0]] = new[1]
        alive = int((status != DONE).sum())
        for bid, n in list(arrived.items()):
            want = self.bar_counts.get(bid) or alive
            if n and n >= want:
                waiting = np.flatnonzero((status == BAR) & (bar_id == bid))
                if n > want:
                    raise PtxError(f"bar.sync {bid}: {n} threads arrived at a barrier for "
                                   f"{want}", hint="a barrier count that does not match the "
                                                   "threads that use it")
                status[waiting] = RUN
                bar_id[waiting] = -1
                pc[waiting] += 1
                arrived[bid] = 0
                self.races.join(waiting)

    def wake(self, addr: int) -> None:
        """Threads waiting on the mbarrier at ``addr`` may try again (its phase completed)."""
        m = (self.status == MBAR) & (self.wait_addr == addr)
        self.status[m] = RUN

    def _where(self, pc: np.ndarray, status: np.ndarray) -> str:
        parts = []
        for s, label in ((RUN, "running"), (BAR, "at bar.sync"),
                         (MBAR, "waiting on an mbarrier")):
            ts = np.flatnonzero(status == s)
            if ts.size:
                t = int(ts[0])
                line = self.instrs[pc[t]].line if pc[t] < len(self.instrs) else "end"
                parts.append(f"{ts.size} threads {label}, e.g. {who(t)} at PTX line {line}")
        return "; ".join(parts)

    def _deadlock(self, pc: np.ndarray, status: np.ndarray, bar_id: np.ndarray) -> None:
        raise PtxError(f"deadlock: no thread can run ({self._where(pc, status)}; "
                       f"{int((status == DONE).sum())} exited)",
                       hint="a barrier some threads never reach, or an mbarrier phase that "
                            "never completes, in the emitted code")


__all__ = ["MAX_STEPS", "Program"]
