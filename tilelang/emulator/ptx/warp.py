"""Warp collectives: ``shfl.sync``, ``ldmatrix.sync.aligned.m8n8``, ``mma.sync.aligned``.

All of them run over whole warps (``.sync.aligned``: every lane of the member mask
executes the same instruction); a warp with some lanes elsewhere is a reported
divergence. Layouts follow the PTX ISA 8.x figures:

* ``shfl.sync``: the pseudocode of the ISA (``c`` packs the clamp in bits 0-4 and the
  segment mask in bits 8-12); lanes whose source is out of range read their own value;
* ``ldmatrix .m8n8 .x1/.x2/.x4 [.trans] .b16``: lanes ``8i .. 8i+7`` give the row
  addresses of matrix ``i``; destination register ``i`` of lane ``l`` holds row
  ``l // 4``, columns ``2 (l % 4)`` and ``+1`` of matrix ``i`` (of its transpose with
  ``.trans``), the lower column in the low half;
* ``mma.sync.aligned.m16n8k16.row.col`` (f32 += bf16/f16 x bf16/f16): with
  ``g = lane // 4``, ``q = lane % 4``: A's registers hold (row, col) pairs
  ``(g, 2q..)``, ``(g+8, 2q..)``, ``(g, 2q+8..)``, ``(g+8, 2q+8..)``; B's ``(2q.., g)``,
  ``(2q+8.., g)``; C/D's ``(g, 2q)``, ``(g, 2q+1)``, ``(g+8, 2q)``, ``(g+8, 2q+1)``.
  Products of 16-bit inputs are exact in f32 and are summed in f32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np

from tilelang.emulator.ptx.errors import PtxError
from tilelang.emulator.ptx.memory import address
from tilelang.emulator.ptx.operands import reader, vector_items, writer
from tilelang.emulator.ptx.parser import Imm, Instr

Run = Callable[[Any], Any]
WARP = 32
LANE = np.arange(WARP)
G, Q = LANE // 4, LANE % 4


def compile_shfl(p: Any, ins: Instr) -> Run:
    parts = ins.parts
    if parts[1] != "sync" or parts[-1] != "b32" or len(ins.operands) != 5:
        raise PtxError(f"PTX line {ins.line}: '{ins.opcode}' is not supported by the PTX "
                       f"interpreter", hint="docs/emulate-ptx.md lists the instructions it runs")
    mode = parts[2]
    d, a, b, c, mask = ins.operands
    ra, rb, rc, w = reader(p, a, "b32"), reader(p, b, "u32"), reader(p, c, "u32"), \
        writer(p, d, "b32")
    if not (isinstance(mask, Imm) and (mask.value & 0xFFFFFFFF) == 0xFFFFFFFF):
        raise PtxError(f"PTX line {ins.line}: shfl.sync with a partial member mask is not "
                       f"supported by the PTX interpreter")
    what = f"PTX line {ins.line} ({ins.opcode})"

    def run(lanes: Any) -> None:
        la = p.warp_lanes(lanes, what)
        nw = la.size // WARP
        av = np.broadcast_to(np.asarray(ra(lanes)), (la.size,)).reshape(nw, WARP)
        bv = np.broadcast_to(np.asarray(rb(lanes)), (la.size,)).reshape(nw, WARP) \
            .astype(np.int64) & 31
        cv = np.broadcast_to(np.asarray(rc(lanes)), (la.size,)).reshape(nw, WARP) \
            .astype(np.int64)
        cval, seg = cv & 31, (cv >> 8) & 31
        lane = LANE[None, :]
        max_lane = (lane & seg) | (cval & ~seg)
        min_lane = lane & seg
        if mode == "up":
            j = lane - bv
            ok = j >= max_lane
        elif mode == "down":
            j = lane + bv
            ok = j <= max_lane
        elif mode == "bfly":
            j = lane ^ bv
            ok = j <= max_lane
        elif mode == "idx":
            j = min_lane | (bv & ~seg)
            ok = j <= max_lane
        else:
            raise PtxError(f"{what}: unknown shuffle mode {mode}")
        j = np.where(ok, j, lane)
        w(lanes, np.take_along_axis(av, j, axis=1).reshape(-1))
    return run


def compile_ldmatrix(p: Any, ins: Instr) -> Run:
    parts = ins.parts
    num = next((int(x[1:]) for x in parts if x in ("x1", "x2", "x4")), None)
    if "m8n8" not in parts or "b16" not in parts or num is None or "shared" not in parts:
        raise PtxError(f"PTX line {ins.line}: '{ins.opcode}' is not supported by the PTX "
                       f"interpreter", hint="docs/emulate-ptx.md lists the instructions it runs")
    trans = "trans" in parts
    d, a = ins.operands
    regs = vector_items(d)
    writes = [writer(p, x, "b32") for x in regs]
    addr = address(p, a)
    what = f"PTX line {ins.line} ({ins.opcode})"

    def run(lanes: Any) -> None:
        la = p.warp_lanes(lanes, what)
        nw = la.size // WARP
        ad = addr(lanes).reshape(nw, WARP)
        # row addresses: lanes 8i..8i+7 for matrix i; 16 bytes per row
        rows = ad[:, :8 * num]
        readers = la.reshape(nw, WARP)[:, :8 * num].reshape(-1)
        raw = p.read_bytes("shared", readers, rows.reshape(-1), 16, what)
        mats = raw.view(np.uint16).reshape(nw, num, 8, 8)       # (warp, matrix, row, col)
        if trans:
            mats = mats.transpose(0, 1, 3, 2)
        lo = mats[:, :, G, 2 * Q]                                 # (warp, matrix, lane)
        hi = mats[:, :, G, 2 * Q + 1]
        val = lo.astype(np.uint32) | (hi.astype(np.uint32) << np.uint32(16))
        for i, w in enumerate(writes):
            w(lanes, val[:, i, :].reshape(-1))
        p.races.join_groups(la, WARP)      # each row read is the whole warp's read
    return run


_HALF = {"bf16": ml_dtypes.bfloat16, "f16": np.float16}


def compile_mma(p: Any, ins: Instr) -> Run:
    parts = ins.parts
    shape = parts[3] if len(parts) > 3 else ""
    if parts[1:3] != ("sync", "aligned") or shape != "m16n8k16" or parts[4:6] != (
            "row", "col") or parts[6] != "f32" or parts[9] != "f32" or parts[7] != parts[8] \
            or parts[7] not in _HALF:
        raise PtxError(f"PTX line {ins.line}: '{ins.opcode}' is not supported by the PTX "
                       f"interpreter", hint="docs/emulate-ptx.md lists the instructions it runs")
    half = _HALF[parts[7]]
    d, a, b, c = (vector_items(x) for x in ins.operands)
    ra = [reader(p, x, "b32") for x in a]
    rb = [reader(p, x, "b32") for x in b]
    rc = [reader(p, x, "f32") for x in c]
    wd = [writer(p, x, "f32") for x in d]
    what = f"PTX line {ins.line} ({ins.opcode})"

    def halves(v: np.ndarray, nw: int) -> tuple[np.ndarray, np.ndarray]:
        v = np.broadcast_to(np.asarray(v), (nw * WARP,)).astype(np.uint32).reshape(nw, WARP)
        lo = (v & np.uint32(0xFFFF)).astype(np.uint16).view(half).astype(np.float32)
        hi = (v >> np.uint32(16)).astype(np.uint16).view(half).astype(np.float32)
        return lo, hi

    def run(lanes: Any) -> None:
        la = p.warp_lanes(lanes, what)
        nw = la.size // WARP
        A = np.zeros((nw, 16, 16), np.float32)
        B = np.zeros((nw, 16, 8), np.float32)
        C = np.zeros((nw, 16, 8), np.float32)
        wi = np.arange(nw)[:, None]
        for r, (row, col) in enumerate([(G, 2 * Q), (G + 8, 2 * Q), (G, 2 * Q + 8),
                                        (G + 8, 2 * Q + 8)]):
            lo, hi = halves(ra[r](lanes), nw)
            A[wi, row, col] = lo
            A[wi, row, col + 1] = hi
        for r, (row, col) in enumerate([(2 * Q, G), (2 * Q + 8, G)]):
            lo, hi = halves(rb[r](lanes), nw)
            B[wi, row, col] = lo
            B[wi, row + 1, col] = hi
        cpos = [(G, 2 * Q), (G, 2 * Q + 1), (G + 8, 2 * Q), (G + 8, 2 * Q + 1)]
        for r, (row, col) in enumerate(cpos):
            C[wi, row, col] = np.broadcast_to(np.asarray(rc[r](lanes)), (la.size,)) \
                .reshape(nw, WARP)
        # each product is exact in f32 (8-bit significands); the sum is done in f64 and
        # rounded once, within the f32 accumulation's error bound
        D = (np.einsum("wik,wkj->wij", A.astype(np.float64), B.astype(np.float64))
             + C).astype(np.float32)
        for r, (row, col) in enumerate(cpos):
            wd[r](lanes, D[wi, row, col].reshape(-1))
    return run


COMPILERS: dict[str, Callable[[Any, Instr], Run]] = {
    "shfl": compile_shfl, "ldmatrix": compile_ldmatrix, "mma": compile_mma,
}

__all__ = ["COMPILERS"]
