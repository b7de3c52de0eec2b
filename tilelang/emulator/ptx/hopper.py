"""sm_90a instructions: mbarriers, TMA (``cp.async.bulk.tensor``), ``wgmma`` and the
fences and register reallocation around them (PTX ISA 8.x, "Parallel Synchronization
and Communication: mbarrier", "Data Movement: cp.async.bulk.tensor",
"Warpgroup Level Matrix Multiply-Accumulate" for the state wgmma keeps here).

* **mbarrier** (8 bytes of shared memory, state kept here by address): ``init``
  sets the expected arrival count; a phase completes when its pending arrivals and
  its transaction count both reach zero, then the phase bit flips and the arrivals
  reset; ``arrive.expect_tx`` adds the bytes then arrives; a TMA load's
  ``complete_tx`` removes its bytes; ``try_wait.parity P`` succeeds once the phase of
  parity ``P`` has completed (the current phase's parity differs from ``P``), and the
  waiting threads then see everything released into that phase.
* **TMA** reads the map (``tensormap``) from its parameter, copies the box at the
  coordinates (innermost first; elements outside the tensor read 0, a store skips
  them) in row-major box order into shared memory, the 16-byte chunk bits [4, 4+b)
  of each shared address XORed with bits [7, 7+b) (b = 1, 2, 3 for 32/64/128-byte
  swizzles). A load runs when issued and completes its bytes on the mbarrier.
* **wgmma**: see ``wgmma.py``; ``HopperState`` keeps its groups in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tilelang.emulator.ptx import memory
from tilelang.emulator.ptx.errors import PtxError
from tilelang.emulator.ptx.memory import address
from tilelang.emulator.ptx.operands import reader, writer
from tilelang.emulator.ptx.parser import Instr, TensorAddr
from tilelang.emulator.ptx.state import scatter, swizzle
from tilelang.emulator.ptx.tensormap import decode

Run = Callable[[Any], Any]
WARPGROUP = 128


def _unsupported(ins: Instr) -> PtxError:
    return PtxError(f"PTX line {ins.line}: the instruction '{ins.opcode}' is not supported by "
                    f"the PTX interpreter", hint="docs/emulate-ptx.md lists the instructions "
                                                 "it runs")


class _Barrier:
    __slots__ = ("clock", "count", "pending", "phase", "tx")

    def __init__(self, count: int, threads: int) -> None:
        self.count = self.pending = count
        self.tx = 0
        self.phase = 0
        self.clock = np.zeros(threads, np.int64)     # released into the current phase


class HopperState:
    """mbarriers of the running CTA, the threads' last mbarrier wait address, and per
    warpgroup the accumulator registers of its wgmma groups still in flight."""

    def __init__(self, p: Any) -> None:
        self.p = p
        self.barriers: dict[int, _Barrier] = {}
        self.done_clock: dict[int, np.ndarray] = {}
        self.last_wait_addr = np.full(p.threads, -1, np.int64)
        self.open: dict[int, set[int]] = {}           # uncommitted wgmma accumulators
        self.groups: dict[int, list[set[int]]] = {}   # committed groups, oldest first
        self.open_bytes: dict[int, list[np.ndarray]] = {}        # their operand bytes
        self.group_bytes: dict[int, list[list[np.ndarray]]] = {}
        self.any_inflight = False

    def reset(self) -> None:
        self.barriers.clear()
        self.done_clock.clear()
        self.open.clear()
        self.groups.clear()
        self.open_bytes.clear()
        self.group_bytes.clear()
        self.any_inflight = False

    def inflight(self, wg: int) -> set[int]:
        out = set(self.open.get(wg, ()))
        for g in self.groups.get(wg, ()):
            out |= g
        return out

    def _update(self) -> None:
        self.any_inflight = any(self.open.values()) or any(any(g) for g in
                                                           self.groups.values())

    def issue(self, warpgroups: list[int], regs: set[int],
              operand_bytes: dict[int, list[np.ndarray]]) -> None:
        """A wgmma of each of ``warpgroups``: its accumulators ``regs`` and the shared
        bytes it reads (per warpgroup) stay in flight until its group is waited for."""
        busy = self.p.races.busy
        for wg in warpgroups:
            self.open.setdefault(wg, set()).update(regs)
            for idx in operand_bytes.get(wg, ()):
                np.add.at(busy, idx, 1)
            self.open_bytes.setdefault(wg, []).extend(operand_bytes.get(wg, ()))
        self._update()

    def commit(self, warpgroups: list[int]) -> None:
        for wg in warpgroups:
            self.groups.setdefault(wg, []).append(self.open.pop(wg, set()))
            self.group_bytes.setdefault(wg, []).append(self.open_bytes.pop(wg, []))
        self._update()

    def wait(self, warpgroups: list[int], keep: int) -> None:
        busy = self.p.races.busy
        for wg in warpgroups:
            gs, bs = self.groups.get(wg, []), self.group_bytes.get(wg, [])
            cut = max(len(gs) - keep, 0)
            for done in bs[:cut]:
                for idx in done:
                    np.add.at(busy, idx, -1)
            self.groups[wg], self.group_bytes[wg] = gs[cut:], bs[cut:]
        self._update()

    def barrier(self, addr: int, what: str) -> _Barrier:
        b = self.barriers.get(addr)
        if b is None:
            raise PtxError(f"{what}: no initialized mbarrier at shared address {addr:#x}",
                           hint="an mbarrier used before mbarrier.init (or after inval), or a "
                                "wrong mbarrier address, in the emitted code")
        return b

    def complete_if_done(self, addr: int, b: _Barrier) -> None:
        if b.pending == 0 and b.tx == 0:
            self.done_clock[addr] = b.clock.copy()
            b.phase += 1
            b.pending = b.count
            b.clock = np.zeros_like(b.clock)
            self.p.wake(addr)
        elif b.pending < 0:
            raise PtxError(f"mbarrier at {addr:#x}: more arrivals than its count {b.count}")


def _uniform(v: np.ndarray, what: str) -> int:
    v = np.asarray(v).reshape(-1)
    if v.size and (v != v[0]).any():
        raise PtxError(f"{what}: threads of one mbarrier operation disagree on the address")
    return int(v[0]) if v.size else 0


def compile_mbarrier(p: Any, ins: Instr) -> Run:
    op = ins.parts[1]
    what = f"PTX line {ins.line} ({ins.opcode})"
    h = p.hopper
    if op == "init":
        a, c = ins.operands
        ad, rc = address(p, a), reader(p, c, "u32")

        def init(lanes: Any) -> None:
            for addr, cnt in set(zip(ad(lanes).tolist(),
                                     np.broadcast_to(rc(lanes), ad(lanes).shape).tolist())):
                p.shared.offsets(np.array([addr], np.uint64), 8, what)
                h.barriers[int(addr)] = _Barrier(int(cnt), p.threads)
        return init
    if op == "inval":
        ad = address(p, ins.operands[0])

        def inval(lanes: Any) -> None:
            for addr in set(ad(lanes).tolist()):
                h.barrier(int(addr), what)
                del h.barriers[int(addr)]
        return inval
    if op == "arrive":
        expect = "expect_tx" in ins.parts
        ad = address(p, ins.operands[1])
        rtx = reader(p, ins.operands[2], "u32") if expect else None
        if not (ins.operands[0].__class__.__name__ == "Sink"):
            raise _unsupported(ins)

        def arrive(lanes: Any) -> None:
            la = p.lane_array(lanes)
            addr = _uniform(ad(lanes), what)
            b = h.barrier(addr, what)
            if rtx is not None:
                b.tx += int(np.broadcast_to(rtx(lanes), la.shape).astype(np.int64).sum())
            b.clock = np.maximum(b.clock, p.races.release(la))
            b.pending -= la.size
            h.complete_if_done(addr, b)
        return arrive
    if op == "try_wait":
        if "parity" not in ins.parts:
            raise _unsupported(ins)
        d, a, par = ins.operands
        ad, rp, w = address(p, a), reader(p, par, "u32"), writer(p, d, "pred")

        def try_wait(lanes: Any) -> np.ndarray:
            la = p.lane_array(lanes)
            addr = _uniform(ad(lanes), what)
            b = h.barrier(addr, what)
            parity = np.broadcast_to(np.asarray(rp(lanes)).astype(np.int64) & 1, la.shape)
            ok = (b.phase & 1) != parity
            w(lanes, ok)
            if ok.any():
                clock = h.done_clock.get(addr)
                if clock is not None:
                    p.races.acquire(la[ok], clock)
            h.last_wait_addr[la[~ok]] = addr
            return ok
        return try_wait
    raise _unsupported(ins)


def _tma_box(tm: Any, coords: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Global byte addresses of the box at ``coords`` (row-major, innermost last) and
    whether each element is inside the tensor."""
    rank = len(tm.dims)
    idx = [np.arange(tm.box[d]) + coords[d] for d in range(rank)]
    grids = np.meshgrid(*reversed(idx), indexing="ij")       # outermost first
    grids = list(reversed(grids))                              # back to innermost first
    inside = np.ones(grids[0].shape, bool)
    addr = np.full(grids[0].shape, tm.address, np.int64)
    for d in range(rank):
        inside &= (grids[d] >= 0) & (grids[d] < tm.dims[d])
        stride = tm.itemsize if d == 0 else tm.strides[d - 1]
        addr = addr + grids[d].astype(np.int64) * stride
    return addr.reshape(-1), inside.reshape(-1)


def compile_cp(p: Any, ins: Instr) -> Run:
    parts = ins.parts
    if len(parts) < 3 or parts[2] != "bulk":
        return memory.compile_cp_async(p, ins)
    what = f"PTX line {ins.line} ({ins.opcode})"
    if parts[3] in ("commit_group", "wait_group"):
        # stores run when issued, so their groups have nothing left to wait for
        return lambda lanes: None
    if parts[3] != "tensor":
        raise _unsupported(ins)
    # cp.async.bulk.tensor.<n>d.<dst>.<src>...: a load into shared memory completes its
    # bytes on an mbarrier; a store from shared memory belongs to a bulk group
    dst_space, src_space, rest = parts[5], parts[6], parts[7:]
    if dst_space.startswith("shared") and src_space == "global" and \
            rest == ("mbarrier::complete_tx::bytes",):
        load = True
        dst, tens, bar = ins.operands
    elif dst_space == "global" and src_space.startswith("shared") and rest == ("bulk_group",):
        load = False
        tens, src_s = ins.operands
    else:
        raise _unsupported(ins)
    rank = int(parts[4].rstrip("d"))
    if not isinstance(tens, TensorAddr) or len(tens.coords) != rank:
        raise _unsupported(ins)
    rmap = reader(p, tens.base, "u64")
    rcoords = [reader(p, c, "s32") for c in tens.coords]
    if load:
        rdst, rbar = address(p, dst), address(p, bar)
    else:
        rsrc = address(p, src_s)

    def run(lanes: Any) -> None:
        la = p.lane_array(lanes)
        for k, t in enumerate(la):
            sub = la[k:k + 1]
            maddr = int(np.broadcast_to(rmap(sub), (1,))[0])
            # a CUtensorMap is 64-byte aligned (CUDA driver API)
            tm = decode(bytes(p.generic_bytes(maddr, 128, what, 64)))
            if len(tm.dims) != rank:
                raise PtxError(f"{what}: a {rank}-d copy through a tensor map of rank "
                               f"{len(tm.dims)}", hint="a wrong tensor map in the emitted code")
            coords = [int(np.broadcast_to(r(sub), (1,))[0]) for r in rcoords]
            gaddr, inside = _tma_box(tm, coords)
            isz = tm.itemsize
            nelem = gaddr.size
            logical = np.arange(nelem, dtype=np.int64) * isz
            if load:
                base = int(rdst(sub)[0])
                data = np.zeros((nelem, isz), np.uint8)
                if inside.any():
                    data[inside] = p.read_bytes("global", sub, gaddr[inside].astype(np.uint64),
                                                isz, what)
                sh = swizzle(base + logical, tm.swizzle)
                off = p.shared.offsets(sh.astype(np.uint64), isz, what)
                p.races.check(np.full(nelem, t), off, isz, f"{what} (TMA write)", True)
                scatter(p.shared.data, off, data)
                baddr = int(rbar(sub)[0])
                b = p.hopper.barrier(baddr, what)
                b.tx -= nelem * isz
                b.clock = np.maximum(b.clock, p.races.vc[t])
                p.hopper.complete_if_done(baddr, b)
            else:
                base = int(rsrc(sub)[0])
                sh = swizzle(base + logical, tm.swizzle)
                data = p.read_bytes("shared", np.full(nelem, t), sh.astype(np.uint64), isz,
                                    what)
                if inside.any():
                    p.write_bytes("global", sub, gaddr[inside].astype(np.uint64),
                                  data[inside], what)
    return run


def compile_noop(p: Any, ins: Instr) -> Run:
    """Fences and register reallocation: ordering the interpreter already has."""
    if ins.parts[0] == "fence" and ins.opcode not in ("fence.proxy.async.shared::cta",
                                                       "fence.mbarrier_init.release.cluster",
                                                       "fence.proxy.async"):
        raise _unsupported(ins)
    if ins.parts[0] == "setmaxnreg":
        what = f"PTX line {ins.line} ({ins.opcode})"

        def check(lanes: Any) -> None:
            la = p.warp_lanes(lanes, what)
            if la.size % WARPGROUP:
                raise PtxError(f"{what}: setmaxnreg executed by part of a warpgroup")
        return check
    return lambda lanes: None


COMPILERS: dict[str, Callable[[Any, Instr], Run]] = {
    "mbarrier": compile_mbarrier, "mbarrier.try_wait": compile_mbarrier, "cp": compile_cp,
    "fence": compile_noop, "setmaxnreg": compile_noop,
}

__all__ = ["COMPILERS", "HopperState"]
