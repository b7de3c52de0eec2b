"""``wgmma.mma_async.m64nNk16.f32.{bf16,f16}`` and its groups (PTX ISA 8.x, "Warpgroup
Level Matrix Multiply-Accumulate").

A warpgroup (128 threads, whole) reads
A (64 x 16, registers or descriptor) and B (16 x N, descriptor) and adds A @ B to
its f32 accumulator registers (``scale-d`` false: no addition); descriptors
(bits 0-13 start >> 4, 16-29 LBO >> 4, 32-45 SBO >> 4, 62-63 swizzle 1: 128B,
2: 64B, 3: 32B) address 8-row core-matrix groups as the ISA's canonical K-major
and MN-major layouts, through the shared-address swizzle (``state.swizzle``, as TMA
writes it). It executes when issued,
but its accumulators stay *in flight* until a ``wgmma.wait_group`` completes its
``commit_group``: any other instruction touching them before is a reported error; the
shared bytes it read stay busy as long, and a write to them is a reported race.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np

from tilelang.emulator.ptx.errors import PtxError
from tilelang.emulator.ptx.operands import reader, vector_items, writer
from tilelang.emulator.ptx.parser import Imm, Instr, Reg, TensorAddr, Vec
from tilelang.emulator.ptx.state import swizzle

Run = Callable[[Any], Any]
WARPGROUP = 128


def _unsupported(ins: Instr) -> PtxError:
    return PtxError(f"PTX line {ins.line}: the instruction '{ins.opcode}' is not supported by "
                    f"the PTX interpreter", hint="docs/emulate-ptx.md lists the instructions "
                                                 "it runs")


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
        off = ad.astype(np.int64) - p.SHARED_BASE
        read.setdefault(int(wg[0]) // WARPGROUP, []).append(
            (off[:, None] + np.arange(2)).ravel())
        return raw.copy().view(np.uint16).reshape(rows, 16).view(half).astype(np.float64)

    read: dict[int, list[np.ndarray]] = {}     # operand bytes per warpgroup, this issue

    def run(lanes: Any) -> None:
        read.clear()
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
        h.issue(_warpgroups(p, lanes), acc_regs, dict(read))
        p.races.join_groups(la, WARPGROUP)   # the operand reads are the warpgroup's
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


COMPILERS: dict[str, Callable[[Any, Instr], Run]] = {"wgmma": compile_wgmma}

__all__ = ["COMPILERS", "decode_descriptor", "guard_accumulators", "operand_addresses",
           "wgmma_accumulators"]
