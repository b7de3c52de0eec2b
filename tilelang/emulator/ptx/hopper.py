"""sm_90a instructions: mbarriers, TMA (``cp.async.bulk.tensor``), ``wgmma`` and the
fences and register reallocation around them (PTX ISA 8.x, "Parallel Synchronization
and Communication: mbarrier", "Data Movement: cp.async.bulk.tensor",
"Warpgroup Level Matrix Multiply-Accumulate").

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
* **wgmma.mma_async.m64nNk16.f32.{bf16,f16}**: a warpgroup (128 threads, whole) reads
  A (64 x 16, registers or descriptor) and B (16 x N, descriptor) and adds A @ B to
  its f32 accumulator registers (``scale-d`` false: no addition); descriptors
  (bits 0-13 start >> 4, 16-29 LBO >> 4, 32-45 SBO >> 4, 62-63 swizzle 1: 128B,
  2: 64B, 3: 32B) address 8-row core-matrix groups as the ISA's canonical K-major
  and MN-major layouts, through the same address swizzle. It executes when issued,
  but its accumulators stay *in flight* until a ``wgmma.wait_group`` completes its
  ``commit_group``: any other instruction touching them before is a reported error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np

from tilelang.emulator.ptx import memory
from tilelang.emulator.ptx.errors import PtxError
from tilelang.emulator.ptx.memory import address
from tilelang.emulator.ptx.operands import reader, vector_items, writer
from tilelang.emulator.ptx.parser import Imm, Instr, Reg, TensorAddr, Vec
from tilelang.emulator.ptx.state import scatter
from tilelang.emulator.ptx.tensormap import decode

Run = Callable[[Any], Any]
WARPGROUP = 128


def _unsupported(ins: Instr) -> PtxError:
    return PtxError(f"PTX line {ins.line}: the instruction '{ins.opcode}' is not supported by "
                    f"the PTX interpreter", hint="docs/emulate-ptx.md lists the instructions "
                                                 "it runs")


def swizzle(addr: np.ndarray, width: int) -> np.ndarray:
    """The shared address of logical byte address ``addr`` under a ``width``-byte swizzle."""
    if width == 0:
        return addr
    b = {32: 1, 64: 2, 128: 3}[width]
    mask = (1 << b) - 1
    return addr ^ (((addr >> 7) & mask) << 4)


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
        self.any_inflight = False

    def reset(self) -> None:
        self.barriers.clear()
        self.done_clock.clear()
        self.open.clear()
        self.groups.clear()
        self.any_inflight = False

    def inflight(self, wg: int) -> set[int]:
        out = set(self.open.get(wg, ()))
        for g in self.groups.get(wg, ()):
            out |= g
        return out

    def _update(self) -> None:
        self.any_inflight = any(self.open.values()) or any(any(g) for g in
                                                           self.groups.values())

    def issue(self, warpgroups: list[int], regs: set[int]) -> None:
        for wg in warpgroups:
            self.open.setdefault(wg, set()).update(regs)
        self._update()

    def commit(self, warpgroups: list[int]) -> None:
        for wg in warpgroups:
            self.groups.setdefault(wg, []).append(self.open.pop(wg, set()))
        self._update()

    def wait(self, warpgroups: list[int], keep: int) -> None:
        for wg in warpgroups:
            gs = self.groups.get(wg, [])
            self.groups[wg] = gs[len(gs) - keep:] if keep else []
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
    load = "global" == parts[6] if len(parts) > 6 else False
    if parts[5].startswith("shared") and parts[6] == "global" and \
            "mbarrier::complete_tx::bytes" in parts[7:] + (".".join(parts[7:]),):
        load = True
    elif parts[5] == "global" and parts[6].startswith("shared") and "bulk_group" in parts:
        load = False
    else:
        raise _unsupported(ins)
    if load:
        dst, src, bar = ins.operands
        tens = src
    else:
        tens, src_s = ins.operands
    if not isinstance(tens, TensorAddr):
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


_HALF = {"bf16": ml_dtypes.bfloat16, "f16": np.float16}


def decode_descriptor(desc: int) -> tuple[int, int, int, int]:
    """(start, LBO, SBO, swizzle bytes) of a wgmma matrix descriptor."""
    start = (desc & 0x3FFF) << 4
    lbo = ((desc >> 16) & 0x3FFF) << 4
    sbo = ((desc >> 32) & 0x3FFF) << 4
    width = {0: 0, 1: 128, 2: 64, 3: 32}[(desc >> 62) & 3]
    return start, lbo, sbo, width


def operand_addresses(desc: int, rows: int, k_major: bool, isz: int = 2) -> np.ndarray:
    """Shared byte addresses of a (rows x 16) operand (A: M x K; B: N x K) element grid,
    ``[row, k]``, for the ISA's canonical layouts."""
    start, lbo, sbo, width = decode_descriptor(desc)
    r = np.arange(rows)[:, None]
    k = np.arange(16)[None, :]
    if k_major:
        if width == 0:
            lin = start + (r // 8) * sbo + (k * isz // 16) * lbo + (r % 8) * 16 + (k * isz) % 16
        else:
            lin = start + (r // 8) * sbo + (r % 8) * width + k * isz
    else:
        if width == 0:
            raise PtxError("wgmma: an MN-major operand without a swizzle is not supported by "
                           "the PTX interpreter")
        per = width // isz
        lin = start + (r // per) * lbo + (k // 8) * sbo + (k % 8) * width + (r % per) * isz
    return swizzle(lin.astype(np.int64), width)


def _warpgroups(p: Any, lanes: Any) -> list[int]:
    return sorted(set((p.lane_array(lanes) // WARPGROUP).tolist()))


def compile_wgmma(p: Any, ins: Instr) -> Run:
    parts = ins.parts
    h = p.hopper
    if parts[1] == "fence":
        return lambda lanes: None
    if parts[1] == "commit_group":
        return lambda lanes: h.commit(_warpgroups(p, lanes))
    if parts[1] == "wait_group":
        keep = int(ins.operands[0].value)
        return lambda lanes: h.wait(_warpgroups(p, lanes), keep)
    if parts[1] != "mma_async" or parts[-3] != "f32" or parts[-2] != parts[-1] or \
            parts[-1] not in _HALF:
        raise _unsupported(ins)
    shape = parts[4]
    m, n, k = (int(x) for x in shape[1:].replace("n", " ").replace("k", " ").split())
    if m != 64 or k != 16:
        raise _unsupported(ins)
    half = _HALF[parts[-1]]
    ops = ins.operands
    d = vector_items(ops[0])
    a_regs = isinstance(ops[1], Vec)
    if a_regs:
        a_items = vector_items(ops[1])
        b_desc, scale_d, sa, sb, tb = ops[2:7]
        ta = Imm(0)
    else:
        a_desc, b_desc, scale_d, sa, sb, ta, tb = ops[1:8]
    if len(d) != n // 2:
        raise PtxError(f"PTX line {ins.line}: wgmma m64n{n} with {len(d)} accumulators")
    rd = [reader(p, x, "f32") for x in d]
    acc_regs = {x.index for x in d if isinstance(x, Reg)}
    wd = [writer(p, x, "f32") for x in d]
    rbd = reader(p, b_desc, "u64")
    rad = None if a_regs else reader(p, a_desc, "u64")
    ra = [reader(p, x, "b32") for x in a_items] if a_regs else None
    rscale = reader(p, scale_d, "pred") if isinstance(scale_d, Reg) else None
    imm = [int(x.value) for x in (sa, sb, ta, tb)]
    what = f"PTX line {ins.line} ({ins.opcode})"
    lane = np.arange(32)
    g, q = lane // 4, lane % 4

    def smem(desc: np.ndarray, rows: int, k_major: bool, wg: np.ndarray) -> np.ndarray:
        if (desc != desc[0]).any():
            raise PtxError(f"{what}: threads of a warpgroup disagree on a descriptor")
        ad = operand_addresses(int(desc[0]), rows, k_major).reshape(-1)
        raw = p.read_bytes("shared", np.full(ad.size, wg[0]), ad.astype(np.uint64), 2, what)
        return raw.copy().view(np.uint16).reshape(rows, 16).view(half).astype(np.float64)

    def run(lanes: Any) -> None:
        la = p.warp_lanes(lanes, what)
        if la.size % WARPGROUP or (la.reshape(-1, WARPGROUP)[:, 0] % WARPGROUP).any():
            raise PtxError(f"{what}: wgmma executed by part of a warpgroup")
        ngroups = la.size // WARPGROUP
        acc = np.stack([np.broadcast_to(np.asarray(r(lanes)), (la.size,)) for r in rd], 1)
        acc = acc.reshape(ngroups, 4, 32, n // 2).astype(np.float64)
        scale = np.broadcast_to(np.asarray(rscale(lanes)) if rscale else np.bool_(
            bool(scale_d.value)), (la.size,)).reshape(ngroups, WARPGROUP)
        bdesc = np.broadcast_to(np.asarray(rbd(lanes)), (la.size,)).reshape(ngroups, -1)
        out = np.zeros_like(acc)
        for gi in range(ngroups):
            wg = la.reshape(ngroups, WARPGROUP)[gi]
            if (scale[gi] != scale[gi][0]).any():
                raise PtxError(f"{what}: threads of a warpgroup disagree on scale-d")
            B = smem(bdesc[gi], n, imm[3] == 0, wg).T                # 16 x N
            if a_regs:
                A = np.zeros((64, 16))
                sl = slice(gi * WARPGROUP, (gi + 1) * WARPGROUP)
                for r, (row, col) in enumerate([(g, 2 * q), (g + 8, 2 * q), (g, 2 * q + 8),
                                                (g + 8, 2 * q + 8)]):
                    v = np.broadcast_to(np.asarray(ra[r](lanes)), (la.size,))[sl] \
                        .astype(np.uint32).reshape(4, 32)
                    lo = (v & np.uint32(0xFFFF)).astype(np.uint16).view(half)
                    hi = (v >> np.uint32(16)).astype(np.uint16).view(half)
                    for w in range(4):
                        A[16 * w + row, col] = lo[w]
                        A[16 * w + row, col + 1] = hi[w]
            else:
                adesc = np.broadcast_to(np.asarray(rad(lanes)), (la.size,)) \
                    .reshape(ngroups, -1)[gi]
                A = smem(adesc, 64, imm[2] == 0, wg)                   # 64 x 16
            D = (imm[0] * A) @ (imm[1] * B)                             # 64 x N, exact
            i = np.arange(n // 2)
            for w in range(4):
                rows = 16 * w + g[:, None] + 8 * ((i[None, :] >> 1) & 1)
                cols = 8 * (i[None, :] >> 2) + 2 * q[:, None] + (i[None, :] & 1)
                prod = D[rows, cols]
                out[gi, w] = prod + (acc[gi, w] if scale[gi][0] else 0.0)
        res = out.astype(np.float32).reshape(la.size, n // 2)
        for j, wr in enumerate(wd):
            wr(lanes, res[:, j])
        h.issue(_warpgroups(p, lanes), acc_regs)
    return run


def wgmma_accumulators(instrs: list[Instr]) -> set[int]:
    """The 32-bit registers any ``wgmma.mma_async`` of the entry accumulates into."""
    out: set[int] = set()
    for ins in instrs:
        if ins.opcode.startswith("wgmma.mma_async") and isinstance(ins.operands[0], Vec):
            out |= {x.index for x in ins.operands[0].items if isinstance(x, Reg)}
    return out


def _registers(op: Any) -> set[int]:
    if isinstance(op, Reg):
        return {op.index} if op.kind == "32" else set()
    if isinstance(op, Vec):
        return set().union(*(_registers(x) for x in op.items))
    if isinstance(op, TensorAddr):
        return _registers(op.base) | set().union(*(_registers(x) for x in op.coords))
    base = getattr(op, "base", None)
    return _registers(base) if base is not None else set()


def guard_accumulators(p: Any, ins: Instr, fn: Run, accumulators: set[int]) -> Run:
    """``fn``, first checking that it touches no wgmma accumulator still in flight: until
    ``wgmma.wait_group`` completes its group, the hardware may still write it."""
    touched = set().union(*(_registers(op) for op in ins.operands)) & accumulators \
        if ins.operands else set()
    if not touched or ins.opcode.startswith("wgmma"):
        return fn
    h = p.hopper

    def run(lanes: Any) -> Any:
        if h.any_inflight:
            for wg in _warpgroups(p, lanes):
                busy = touched & h.inflight(wg)
                if busy:
                    name = next(x for x in _names(ins) if x.index in busy).name
                    raise PtxError(f"PTX line {ins.line} ({ins.opcode}): warpgroup {wg} "
                                   f"uses {name}, the accumulator of a wgmma whose group "
                                   f"no wgmma.wait_group has completed",
                                   hint="a missing or too-late wgmma.wait_group in the "
                                        "emitted code")
        return fn(lanes)
    return run


def _names(ins: Instr) -> list[Reg]:
    out: list[Reg] = []

    def walk(op: Any) -> None:
        if isinstance(op, Reg):
            out.append(op)
        elif isinstance(op, Vec):
            for x in op.items:
                walk(x)
        elif getattr(op, "base", None) is not None:
            walk(op.base)
    for op in ins.operands:
        walk(op)
    return out


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
    "wgmma": compile_wgmma, "fence": compile_noop, "setmaxnreg": compile_noop,
}

__all__ = ["COMPILERS", "HopperState", "decode_descriptor", "guard_accumulators",
           "operand_addresses", "swizzle", "wgmma_accumulators"]
