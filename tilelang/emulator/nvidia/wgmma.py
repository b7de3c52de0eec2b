"""Hopper warpgroup ops of the emulator: ``th.wgmma*`` and ``th.fence_proxy_async``.

Warpgroup ``g`` is threads ``128*g .. 128*g + 127``; ``th.wgmma`` runs once per
warpgroup with the layouts of ``tilelang.ir.hopper_ops``:

* descriptors are decoded exactly (start, ``lbo``, ``sbo``, swizzle width) and
  must be the same in every thread of a warpgroup; each 16-byte chunk of A
  (64 x 16) and B (N x 16, K-major, or 16 x N N-major with ``trans_b``) is
  read at its swizzled absolute shared
  address, as a read by the warpgroup's threads (so a write by another thread
  without a barrier in between is a reported race, and the bounds, alignment
  and initialization checks of ``emu_shared`` apply);
* until ``th.wgmma_wait`` completes its group, the operand bytes stay *busy*: a
  write to them (a store, a cp.async landing, a TMA copy) is a reported race,
  since the hardware may read them at any time before the wait;
* the products are exact in f32 (16-bit inputs) and summed in f32, as ``th.mma``;
* a ``th.wgmma`` result is *in flight* (an ``InFlight``) until a
  ``th.wgmma_wait`` completes its group: it may only feed another ``th.wgmma``
  (the same accumulator chain) or the wait; any other read is a fault naming
  the op, as is a wait that leaves the value's group unfinished, and a
  ``th.wgmma`` that reads registers written by ordinary ops (a not-in-flight
  accumulator, or register A), or is the block's first, with no
  ``th.wgmma_fence`` since the last commit (the PTX ISA's fence rule).

``th.fence_proxy_async`` has nothing to do in the emulator: shared memory has
one proxy here, and the barrier that must follow it is checked as any barrier.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tilelang.ir import hopper_ops as hp
from tilelang.ir import ops as o
from tilelang.emulator.core import STATE, WARP, Closure, Env, Fault, Prep, Slot, lanes
from tilelang.interp.ops import storage

WARPGROUP = 4 * WARP
_L = np.arange(WARP)
_G, _T = _L // 4, _L % 4

_EARLY_HINT = ("an asynchronous wgmma result may only be read after the th.wgmma_wait that "
               "completes its group (a lowering bug: the wait is missing or too late)")


class _Group:
    """A commit group of ``th.wgmma`` ops; ``done`` once a wait has completed it.
    ``reads``: the shared granules its operands occupy, busy until then."""

    __slots__ = ("done", "committed", "reads")

    def __init__(self) -> None:
        self.done = False
        self.committed = False
        self.reads: list[np.ndarray] = []

    def read(self, sm: Any, gidx: np.ndarray) -> None:
        if sm.async_readers is None:
            sm.async_readers = np.zeros(len(sm.init), np.int16)
        g = np.unique(gidx)
        sm.async_readers[g] += 1
        self.reads.append(g)

    def finish(self, sm: Any) -> None:
        self.done = True
        for g in self.reads:
            sm.async_readers[g] -= 1
        self.reads = []


class InFlight:
    """The value of a ``th.wgmma`` result before its group completes: any use but
    ``th.wgmma`` / ``th.wgmma_wait`` reads it too early and faults."""

    __slots__ = ("value", "group")

    def __init__(self, value: np.ndarray, group: _Group) -> None:
        self.value = value
        self.group = group

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise Fault("read of a wgmma accumulator before th.wgmma_wait completed its group",
                    _EARLY_HINT)

    def __getattr__(self, name: str) -> Any:
        raise Fault("read of a wgmma accumulator before th.wgmma_wait completed its group",
                    _EARLY_HINT)


class WgmmaState:
    """Per-block wgmma bookkeeping: the open group, committed groups, fence flag."""

    def __init__(self) -> None:
        self.open = _Group()
        self.committed: list[_Group] = []
        self.fenced = False
        self.started = False     # a wgmma has run in this block


def _state(env: Env) -> WgmmaState:
    st = env[STATE]
    ws = getattr(st, "wgmma", None)
    if ws is None:
        ws = st.wgmma = WgmmaState()
    return ws


def chunk_addresses(desc: int, rows: int) -> np.ndarray:
    """Shared byte addresses ``(rows, 2)`` of the two 16-byte chunks (k 0-7, 8-15)
    of each row of a K-major ``rows x 16`` operand with 16-bit elements."""
    start, lbo, sbo, width = hp.decode_descriptor(desc)
    r = np.arange(rows)[:, None]
    c = np.arange(2)[None, :]
    if width == 0:
        return start + (r // 8) * sbo + c * lbo + (r % 8) * 16
    lin = start + (r // 8) * sbo + (r % 8) * width + c * 16
    return lin ^ (((lin >> 7) & (width // 16 - 1)) << 4)


def n_major_chunk_addresses(desc: int, n: int) -> np.ndarray:
    """Shared byte addresses ``(16, n // 8)`` of the 16-byte chunks (8 columns) of
    each K row of an N-major ``16 x n`` B (``trans_b``) with 16-bit elements."""
    start, lbo, sbo, width = hp.decode_descriptor(desc)
    if width == 0:
        raise Fault("th.wgmma with an N-major B needs a swizzled descriptor",
                    "the lowering stages N-major operands with a 32/64/128-byte swizzle")
    k = np.arange(16)[:, None]
    col = 8 * np.arange(n // 8)[None, :]
    per = width // 2                                  # columns per atom
    lin = start + (col // per) * lbo + (k // 8) * sbo + (k % 8) * width + (col % per) * 2
    return lin ^ (((lin >> 7) & (width // 16 - 1)) << 4)


def _uniform_desc(env: Env, s: int, n: int, groups: int, what: str) -> list[int]:
    d = lanes(env[s], n).astype(np.int64).view(np.uint64).reshape(groups, WARPGROUP)
    if (d != d[:, :1]).any():
        g = int(np.flatnonzero((d != d[:, :1]).any(axis=1))[0])
        raise Fault(f"th.wgmma {what} descriptor differs between the threads of warpgroup {g}",
                    "a wgmma descriptor is one value for the whole warpgroup (a lowering bug)")
    return [int(x) for x in d[:, 0]]


def _plain(v: Any) -> tuple[Any, bool]:
    """(the value, whether it is in flight)."""
    if type(v) is InFlight:
        return v.value, True
    return v, False


def _compile_wgmma(op: hp.WgmmaOp, slot: Slot, prep: Prep) -> Closure:
    n, N = prep.num_threads, op.n
    if n % WARPGROUP:
        raise Fault(f"th.wgmma needs whole warpgroups: {n} threads is not a multiple of 128",
                    "wgmma applies to blocks of 4, 8, ... warps (a lowering bug)", op)
    G = n // WARPGROUP
    a_desc = None if op.a_desc is None else slot(op.a_desc)
    a_s = tuple(slot(v) for v in op.a)
    b_desc = slot(op.b_desc)
    c_s = tuple(slot(v) for v in op.c)
    rs = tuple(slot(r) for r in op.results)
    dt = storage(op.dtype)
    op_id = prep.op_id(op)
    scale_d, trans_b = op.scale_d, op.trans_b
    # row and column of register slot i of every thread of a warpgroup (128 threads)
    warp = np.repeat(np.arange(4), WARP)
    g, t = np.tile(_G, 4), np.tile(_T, 4)
    a_rows = np.stack([16 * warp + g + 8 * ((i // 2) % 2) for i in range(8)])
    a_cols = np.stack([2 * t + i % 2 + 8 * (i // 4) for i in range(8)])
    d_rows = np.stack([16 * warp + g + 8 * ((i // 2) % 2) for i in range(N // 2)])
    d_cols = np.stack([8 * (i // 4) + 2 * t + i % 2 for i in range(N // 2)])

    def operand(env: Env, desc: int, rows: int, wg: int, n_major: bool = False) -> np.ndarray:
        """The ``rows x 16`` operand (B as N x K) a descriptor names."""
        sm = env[STATE].shared
        addr = (n_major_chunk_addresses(desc, rows) if n_major else
                chunk_addresses(desc, rows)).ravel()
        threads = wg * WARPGROUP + np.arange(addr.size) % WARPGROUP
        idx, gidx = sm.positions(threads, addr, 16, 16, "th.wgmma operand read")
        data = sm.read(threads, idx, gidx, op_id).view(dt)      # (chunks, 8)
        _state(env).open.read(sm, gidx)
        if n_major:   # chunk (k, j) holds B[8j .. 8j + 7, k]
            return data.reshape(16, rows).T.astype(np.float32)
        return data.reshape(rows, 16).astype(np.float32)

    def run(env: Env) -> None:
        ws = _state(env)
        cs = [_plain(env[s]) for s in c_s]
        reads_regs = a_desc is None or (scale_d and not all(f for _, f in cs))
        if (reads_regs or not ws.started) and not ws.fenced:
            raise Fault("th.wgmma is the block's first or reads registers written by ordinary "
                        "instructions, with no th.wgmma_fence since the last th.wgmma_commit",
                        "issue wgmma.fence before a wgmma whose accumulator or A registers "
                        "were just written (a lowering bug)")
        bds = _uniform_desc(env, b_desc, n, G, "B")
        ads = None if a_desc is None else _uniform_desc(env, a_desc, n, G, "A")
        if a_desc is None:
            regs = np.stack([lanes(env[s], n) for s in a_s]).reshape(8, G, WARPGROUP)
        C = np.stack([lanes(v, n) for v, _ in cs]).reshape(N // 2, G, WARPGROUP) \
            if scale_d else None
        out = np.empty((N // 2, G, WARPGROUP), np.float32)
        for wg in range(G):
            if ads is not None:
                A = operand(env, ads[wg], 64, wg)
            else:
                A = np.zeros((64, 16), np.float32)
                A[a_rows, a_cols] = regs[:, wg].astype(np.float32)
            B = operand(env, bds[wg], N, wg, trans_b)            # N x 16
            D = A @ B.T
            if C is not None:
                acc = np.zeros((64, N), np.float32)
                acc[d_rows, d_cols] = C[:, wg]
                D = D + acc
            out[:, wg] = D[d_rows, d_cols]
        out = out.reshape(N // 2, n)
        ws.started = True
        for i, r in enumerate(rs):
            env[r] = InFlight(out[i], ws.open)
    return run


def _compile_fence(op: hp.WgmmaFenceOp, slot: Slot, prep: Prep) -> Closure:
    def run(env: Env) -> None:
        _state(env).fenced = True
    return run


def _compile_commit(op: hp.WgmmaCommitOp, slot: Slot, prep: Prep) -> Closure:
    def run(env: Env) -> None:
        ws = _state(env)
        ws.open.committed = True
        ws.committed.append(ws.open)
        ws.open = _Group()
        ws.fenced = False
    return run


def _compile_wait(op: hp.WgmmaWaitOp, slot: Slot, prep: Prep) -> Closure:
    vs = tuple(slot(v) for v in op.values)
    rs = tuple(slot(r) for r in op.results)
    pending = op.pending

    def run(env: Env) -> None:
        ws = _state(env)
        k = len(ws.committed) - pending
        if k > 0:
            for grp in ws.committed[:k]:
                grp.finish(env[STATE].shared)
            ws.committed = ws.committed[k:]
        for v, r in zip(vs, rs):
            x = env[v]
            if type(x) is InFlight:
                if not x.group.done:
                    why = "was never committed" if not x.group.committed else \
                        f"is still among the {pending} groups th.wgmma_wait may leave pending"
                    raise Fault(f"th.wgmma_wait {pending} returns an accumulator whose wgmma "
                                f"group {why}", _EARLY_HINT)
                x = x.value
            env[r] = x
    return run


def _compile_fence_proxy(op: hp.FenceProxyAsyncOp, slot: Slot, prep: Prep) -> Closure:
    def run(env: Env) -> None:
        return None
    return run


COMPILERS: dict[type[o.Op], Callable[[Any, Slot, Prep], Closure]] = {
    hp.WgmmaOp: _compile_wgmma,
    hp.WgmmaFenceOp: _compile_fence,
    hp.WgmmaCommitOp: _compile_commit,
    hp.WgmmaWaitOp: _compile_wait,
    hp.FenceProxyAsyncOp: _compile_fence_proxy,
}


def _compile_desc(op: hp.WgmmaDescOp, slot: Slot, prep: Prep) -> Closure:
    a, r = slot(op.addr), slot(op.result)
    fixed = np.array(hp.encode_descriptor(0, op.lbo, op.sbo, op.swizzle),
                     np.uint64).view(np.int64)[()]

    def run(env: Env) -> None:
        addr = np.asarray(env[a]).astype(np.int64)
        env[r] = fixed | ((addr >> 4) & 0x3FFF)
    return run


COMPILERS[hp.WgmmaDescOp] = _compile_desc
