"""Memory instructions: ``ld``/``st`` (``.param``, ``.global``, ``.shared``, vector forms
``.v2``/``.v4``), ``atom.global.add``, ``cvta.param``, and the sm_80 asynchronous copy
``cp.async.{ca,cg}.shared.global`` with ``commit_group``/``wait_group``.

Every access is bounds- and alignment-checked (a vector access is aligned to its
whole size, as the ISA requires). Shared accesses go through the race tracker.
``cp.async`` reads its source when issued (``src-size`` bytes, the rest of the
``cp-size`` zero-filled) and lands in shared memory only when a
``cp.async.wait_group`` of the issuing thread completes its group; until then the
destination bytes are in flight (see ``races``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tilelang.emulator.ptx.errors import PtxError
from tilelang.emulator.ptx.operands import reader, vector_items, writer
from tilelang.emulator.ptx.parser import Addr, Imm, Instr, Reg, Sym
from tilelang.emulator.ptx.state import UINT, gather, scatter, type_bits

Run = Callable[[Any], Any]


def address(p: Any, op: Any) -> Callable[[Any], np.ndarray]:
    """``addr(lanes)``: the u64 address of an ``[base+offset]`` operand, per lane."""
    if not isinstance(op, Addr):
        raise PtxError(f"{op!r} is not an address operand")
    off = np.uint64(op.offset & 0xFFFFFFFFFFFFFFFF)
    n = p.threads
    if op.base is None:
        return lambda lanes: np.full(n, off, np.uint64)[lanes]
    if isinstance(op.base, Sym):
        base = np.uint64(p.symbol_address(op.base.name))
        return lambda lanes: np.full(n, base + off, np.uint64)[lanes]
    if isinstance(op.base, Reg):
        t = "u64" if op.base.kind == "64" else "u32"
        r = reader(p, op.base, t)
        return lambda lanes: np.asarray(r(lanes)).astype(np.uint64) + off
    raise PtxError(f"cannot address through {op.base!r}")


def _space(ins: Instr) -> str:
    for s in ("param", "global", "shared", "local", "const"):
        if s in ins.parts or f"{s}::cta" in ins.parts:
            return s
    raise PtxError(f"PTX line {ins.line}: '{ins.opcode}': a generic address (no state space) "
                   f"is not supported by the PTX interpreter")


def _shape(ins: Instr) -> tuple[str, int]:
    t = ins.parts[-1]
    vec = 1
    for x in ins.parts:
        if x in ("v2", "v4", "v8"):
            vec = int(x[1:])
    return t, vec


def compile_ld(p: Any, ins: Instr) -> Run:
    space = _space(ins)
    t, vec = _shape(ins)
    d, a = ins.operands
    items = vector_items(d)
    if len(items) != vec:
        raise PtxError(f"PTX line {ins.line}: {ins.opcode} with {len(items)} registers")
    esize = max(1, type_bits(t) // 8)
    nbytes = esize * vec
    addr = address(p, a)
    writes = [writer(p, x, t) for x in items]
    from tilelang.emulator.ptx.state import type_dtype
    dt = np.dtype(type_dtype(t))
    what = f"PTX line {ins.line} ({ins.opcode})"

    def run(lanes: Any) -> None:
        ad = addr(lanes)
        raw = p.read_bytes(space, lanes, ad, nbytes, what)
        vals = raw.reshape(raw.shape[0], vec, esize).copy().view(dt)
        for i, w in enumerate(writes):
            w(lanes, vals[:, i, 0] if vals.ndim == 3 else vals[:, i])
    return run


def compile_st(p: Any, ins: Instr) -> Run:
    space = _space(ins)
    t, vec = _shape(ins)
    a, s = ins.operands
    items = vector_items(s)
    esize = max(1, type_bits(t) // 8)
    nbytes = esize * vec
    addr = address(p, a)
    store_t = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}[esize]
    reads = [reader(p, x, store_t) for x in items]
    what = f"PTX line {ins.line} ({ins.opcode})"

    def run(lanes: Any) -> None:
        ad = addr(lanes)
        m = ad.shape[0]
        cols = [np.broadcast_to(np.asarray(r(lanes)), (m,)) for r in reads]
        data = np.stack(cols, axis=1).astype(UINT[8 * esize]).view(np.uint8).reshape(m, nbytes)
        p.write_bytes(space, lanes, ad, data, what)
    return run


def compile_atom(p: Any, ins: Instr) -> Run:
    if ins.parts[1] != "global" or ins.parts[2] != "add" or ins.parts[3] not in (
            "f32", "u32", "s32"):
        raise PtxError(f"PTX line {ins.line}: '{ins.opcode}' is not supported by the PTX "
                       f"interpreter", hint="docs/emulate-ptx.md lists the instructions it runs")
    t = ins.parts[3]
    d, a, b = ins.operands
    addr, rb, w = address(p, a), reader(p, b, t), writer(p, d, t)
    from tilelang.emulator.ptx.state import type_dtype
    dt = np.dtype(type_dtype(t))
    what = f"PTX line {ins.line} ({ins.opcode})"

    def run(lanes: Any) -> None:
        ad = addr(lanes)
        val = np.broadcast_to(np.asarray(rb(lanes), dt), ad.shape)
        buf, off = p.gmem.locate(ad, 4, what)
        old = np.zeros(ad.shape, dt)
        left = np.arange(ad.size)
        # threads on one address apply in thread order, one round per duplicate
        while left.size:
            _, first = np.unique(off[left], return_index=True)
            take = left[first]
            cur = gather(buf, off[take], 4).copy().view(dt)[:, 0]
            old[take] = cur
            new = (cur + val[take]).astype(dt)
            scatter(buf, off[take], new.view(np.uint8).reshape(-1, 4))
            left = np.setdiff1d(left, take, assume_unique=True)
        w(lanes, old)
    return run


def compile_cvta(p: Any, ins: Instr) -> Run:
    if "param" not in ins.parts or "to" in ins.parts:
        raise PtxError(f"PTX line {ins.line}: '{ins.opcode}' is not supported by the PTX "
                       f"interpreter", hint="docs/emulate-ptx.md lists the instructions it runs")
    d, a = ins.operands
    ra, w = reader(p, a, "u64"), writer(p, d, "u64")
    base = np.uint64(p.PARAM_GENERIC)
    n = p.threads

    def run(lanes: Any) -> None:
        v = np.asarray(ra(lanes)) + base
        w(lanes, v if v.ndim else np.full(n, v, np.uint64)[lanes])
    return run


def compile_cp_async(p: Any, ins: Instr) -> Run:
    parts = ins.parts
    if parts[2] == "commit_group":
        return lambda lanes: p.cp_async.commit(p.lane_array(lanes))
    if parts[2] in ("wait_group", "wait_all"):
        n = 0 if parts[2] == "wait_all" else int(ins.operands[0].value)
        return lambda lanes: p.cp_async.wait(p.lane_array(lanes), n)
    if parts[2:5] not in (("ca", "shared", "global"), ("cg", "shared", "global")):
        raise PtxError(f"PTX line {ins.line}: '{ins.opcode}' is not supported by the PTX "
                       f"interpreter", hint="docs/emulate-ptx.md lists the instructions it runs")
    dst, src, size = ins.operands[:3]
    src_size = ins.operands[3] if len(ins.operands) > 3 else None
    if not isinstance(size, Imm):
        raise PtxError(f"PTX line {ins.line}: cp.async size must be an immediate")
    cp = size.value
    ad_d, ad_s = address(p, dst), address(p, src)
    rs = reader(p, src_size, "u32") if src_size is not None else None
    what = f"PTX line {ins.line} ({ins.opcode})"

    def run(lanes: Any) -> None:
        la = p.lane_array(lanes)
        d, s = ad_d(lanes), ad_s(lanes)
        valid = np.broadcast_to(np.asarray(rs(lanes)).astype(np.int64), la.shape) \
            if rs is not None else np.full(la.shape, cp)
        if int(valid.max(initial=0)) > cp:
            raise PtxError(f"{what}: src-size above the copy size {cp}")
        data = np.zeros((la.size, cp), np.uint8)
        full = valid == cp
        if full.any():
            data[full] = p.read_bytes("global", la[full], s[full], cp, what)
        part = np.flatnonzero((valid > 0) & ~full)
        for i in part:          # partial copies are rare (ragged edges): byte by byte
            v = int(valid[i])
            data[i, :v] = p.read_bytes("global", la[i:i + 1], s[i:i + 1] + np.arange(
                v, dtype=np.uint64), 1, what)[:, 0]
        off = p.shared.offsets(d, cp, what)
        p.cp_async.issue(la, off, data)
    return run


class CpAsyncGroups:
    """Per-thread ``cp.async`` commit groups: copies issued, committed and landed."""

    def __init__(self, p: Any) -> None:
        self.p = p
        self.chunks: list[list] = []   # [lanes, group (-1: uncommitted), offsets, data]
        self.committed = np.zeros(p.threads, np.int64)

    def reset(self) -> None:
        self.chunks.clear()
        self.committed[:] = 0

    def issue(self, lanes: np.ndarray, off: np.ndarray, data: np.ndarray) -> None:
        self.chunks.append([lanes, np.full(lanes.size, -1, np.int64), off, data])
        nb = data.shape[1]
        idx = (off[:, None] + np.arange(nb)).ravel()
        # the copy may land any time from now: earlier reads must be ordered before it
        self.p.races.check_busy(np.repeat(lanes, nb), idx, "cp.async write")
        self.p.races.check_readers(np.repeat(lanes, nb), idx, "cp.async write")
        np.add.at(self.p.races.inflight, idx, 1)

    def commit(self, lanes: np.ndarray) -> None:
        for ch in self.chunks:
            m = np.isin(ch[0], lanes) & (ch[1] < 0)
            ch[1][m] = self.committed[ch[0][m]]
        self.committed[lanes] += 1

    def wait(self, lanes: np.ndarray, keep: int) -> None:
        """Land every committed group of ``lanes`` but the newest ``keep``."""
        races = self.p.races
        rest = []
        for ch in self.chunks:
            ln, grp, off, data = ch
            m = np.isin(ln, lanes) & (grp >= 0) & (grp < self.committed[ln] - keep)
            if m.any():
                nb = data.shape[1]
                idx = (off[m][:, None] + np.arange(nb)).ravel()
                np.add.at(races.inflight, idx, -1)
                scatter(self.p.shared.data, off[m], data[m])
                races.record_write(np.repeat(ln[m], nb), idx)
                keep_m = ~m
                ch = [ln[keep_m], grp[keep_m], off[keep_m], data[keep_m]]
            if ch[0].size:
                rest.append(ch)
        self.chunks = rest


COMPILERS: dict[str, Callable[[Any, Instr], Run]] = {
    "ld": compile_ld, "st": compile_st, "atom": compile_atom, "cvta": compile_cvta,
    "cp": compile_cp_async,
}

__all__ = ["COMPILERS", "CpAsyncGroups", "address"]
