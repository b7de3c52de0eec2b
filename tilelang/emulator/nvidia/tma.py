"""The emulator's mbarriers and TMA loads (``tilelang.ir.tma_ops``), exactly.

Barriers. Each block keeps, per initialized mbarrier (its shared byte offset),
the arrival count per phase, the arrivals and transaction bytes still expected
in the current phase, the number of completed phases and the TMA copies that
will complete on it. Arrivals past the count, using a barrier that was never
initialized (or was invalidated), and initializing or invalidating one with
copies in flight are faults.

TMA loads. ``th.tma_load`` reads its box from the tensor when issued (a
snapshot; elements outside the tensor are zero), lays it out row-major with the
swizzle mode applied to the *absolute* shared address (as the hardware does,
so a buffer not aligned to the pattern's repeat gets scrambled data and fails
the kernel's check), and holds it in flight: the destination bytes are off
limits to every thread (a read or write is a fault naming the early access)
until the copy completes. Issuing is checked like a write against accesses
since the last barrier.

Phases. A phase completes when its last arrival is made with no transaction
bytes outstanding (the arrival count back to zero and the transaction count
zero), or at a wait, once the copies in flight on the barrier land.

Waits. ``th.mbarrier_wait(bar, parity)`` returns at once when the phase of that
parity has completed (the barrier's current phase has the other parity).
Otherwise the copies on the barrier land (their bytes complete), and the phase
must then complete: all arrivals made and the transaction count back to zero.
Outside a ``tl.warp_specialize`` region, if it cannot, no later event could
complete it either -- every thread of the block is waiting (the threads run in
lockstep) -- so the wait is reported as a deadlock with the arrivals and bytes
still missing. Landed data is visible to every waiting thread (it carries no
writer for the race checks).

Inside a region (``emu_roles``) another role may still complete the phase: the
wait blocks the role until the phase completes or its copies in flight would
complete it (then they land and it completes); the copies stay in flight, and
their bytes off limits, until then. An arrival or TMA issue that lets a blocked
role's wait complete hands that role the baton. A completed wait in a role is
an acquire across roles: it drops the shared-memory race records, since the
mbarrier orders the other role's accesses before it. That trades the race
checks between threads of one role across a wait for no false races between
roles; a stage released too early is still caught, by the refill's TMA copy in
flight on bytes the consumer then reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from tilelang.ir import ops as o
from tilelang.ir import tma_ops as tma
from tilelang.emulator.core import STATE, Closure, Env, Fault, Prep, Slot, lanes, who

_HINT_DEADLOCK = ("the phase this wait needs can never complete: an arrival or the "
                  "mbarrier_expect_tx announcing the TMA bytes is missing, or the copies "
                  "announced were never issued (a lowering bug)")


@dataclass
class Mbarrier:
    """One mbarrier's state in the emulator."""

    count: int
    pending: int
    tx: int = 0
    phase: int = 0                               # completed phases
    copies: list[Any] = field(default_factory=list)


@dataclass
class _Copy:
    thread: int
    op_id: int
    idx: np.ndarray          # (1, bytes) destination byte positions
    gidx: np.ndarray         # their granules
    data: np.ndarray         # (1, bytes) uint8
    nbytes: int


def barriers(state: Any) -> dict[int, Mbarrier]:
    """The block's mbarriers by shared byte offset (created on first use)."""
    bars = getattr(state, "mbarriers", None)
    if bars is None:
        bars = state.mbarriers = {}
    return bars


def _active(env: Env, pred: int | None, n: int) -> np.ndarray:
    if pred is None:
        return np.arange(n)
    p = env[pred]
    if np.ndim(p) == 0:
        return np.arange(n) if p else np.zeros(0, np.int64)
    return np.flatnonzero(p)


def _addresses(env: Env, slot: int, threads: np.ndarray, n: int, what: str) -> np.ndarray:
    sm = env[STATE].shared
    addr = lanes(env[slot], n)[threads].astype(np.int64)
    sm.positions(threads, addr, 8, 8, what)      # bounds and alignment
    return addr


def _get(env: Env, addr: int, thread: int, what: str) -> Mbarrier:
    bar = barriers(env[STATE]).get(int(addr))
    if bar is None:
        raise Fault(f"{what} on shared byte {int(addr)} by {who(thread)}, which holds no "
                    f"initialized mbarrier",
                    "initialize the barrier (th.mbarrier_init) and fence before using it")
    return bar


def _compile_init(op: tma.MbarrierInitOp, slot: Slot, prep: Prep) -> Closure:
    b, n, count = slot(op.bar), prep.num_threads, op.count
    p = slot(op.pred) if op.pred is not None else None

    def run(env: Env) -> None:
        threads = _active(env, p, n)
        bars = barriers(env[STATE])
        for t, a in zip(threads, _addresses(env, b, threads, n, "th.mbarrier_init")):
            old = bars.get(int(a))
            if old is not None and old.copies:
                raise Fault(f"th.mbarrier_init by {who(int(t))} of the barrier at shared byte "
                            f"{int(a)} while TMA copies are in flight on it",
                            "wait for the copies before re-initializing")
            bars[int(a)] = Mbarrier(count, count)
    return run


def _arrive(env: Env, bar: Mbarrier, addr: int, thread: int, tx: int) -> None:
    bar.tx += tx
    bar.pending -= 1
    if bar.pending < 0:
        raise Fault(f"{who(thread)} arrives on the mbarrier at shared byte {addr} more often "
                    f"than its count ({bar.count}) in one phase",
                    "an arrival too many: check the count given at init")
    if bar.pending == 0 and bar.tx == 0:     # the last arrival, nothing outstanding
        bar.phase += 1
        bar.pending = bar.count


def _inflight_bytes(bar: Mbarrier) -> int:
    return sum(c.nbytes for c in bar.copies)


def settles(bar: Mbarrier, parity: int) -> bool:
    """Whether a wait for the phase of ``parity`` returns now: that phase completed, or
    it completes once the copies in flight on ``bar`` land."""
    return (bar.phase & 1 != parity & 1
            or (bar.pending == 0 and bar.tx == _inflight_bytes(bar)))


def missing(bar: Mbarrier) -> tuple[int, int]:
    """(arrivals, transaction bytes) the current phase still needs beyond the copies in
    flight on ``bar``."""
    return bar.pending, bar.tx - _inflight_bytes(bar)


def _progress(env: Env) -> None:
    """Inside a warp-specialized role: let a role whose wait can now complete run."""
    roles = env[STATE].roles
    if roles is not None:
        roles.progress()


def _compile_arrive(op: Any, slot: Slot, prep: Prep) -> Closure:
    b, n = slot(op.bar), prep.num_threads
    p = slot(op.pred) if op.pred is not None else None
    tx = getattr(op, "bytes", 0)
    in_role = prep.role is not None

    def run(env: Env) -> None:
        threads = _active(env, p, n)
        for t, a in zip(threads, _addresses(env, b, threads, n, op.NAME)):
            _arrive(env, _get(env, a, int(t), op.NAME), int(a), int(t), tx)
        if in_role and threads.size:
            _progress(env)
    return run


def _land(env: Env, bar: Mbarrier) -> None:
    """Complete every copy in flight on ``bar``: its bytes land and count as done."""
    sm = env[STATE].shared
    for c in bar.copies:
        np.subtract.at(sm.inflight, c.gidx.ravel(), 1)
        sm.n_inflight -= c.gidx.size
        sm.data[c.idx] = c.data
        if not sm.all_init:
            sm.init[c.gidx] = True
            sm.all_init = bool(sm.init.all())
        bar.tx -= c.nbytes
    bar.copies = []


def _compile_wait(op: tma.MbarrierWaitOp, slot: Slot, prep: Prep) -> Closure:
    b, par, n = slot(op.bar), slot(op.parity), prep.num_threads
    in_role = prep.role is not None

    def run(env: Env) -> None:
        addrs = _addresses(env, b, np.arange(n), n, "th.mbarrier_wait")
        parity = lanes(env[par], n)
        for a in np.unique(addrs):
            bar = _get(env, a, int(np.flatnonzero(addrs == a)[0]), "th.mbarrier_wait")
            want = parity[addrs == a]
            if np.any(want != want[0]):
                raise Fault(f"threads wait on different phases of the mbarrier at shared "
                            f"byte {int(a)}", "the parity of a wait must be block-uniform")
            bit = int(want[0]) & 1
            if in_role:
                # Another role may complete it: block until it can (emu_roles), then
                # acquire: mbarriers order the other roles' shared accesses before ours.
                while not settles(bar, bit):
                    env[STATE].roles.block(op, int(a), bar, bit)
                if bar.phase & 1 == bit:
                    _land(env, bar)
                    bar.phase += 1
                    bar.pending = bar.count
                env[STATE].shared.barrier()
                continue
            if bar.phase & 1 != bit:
                continue  # that phase has completed
            _land(env, bar)
            if bar.pending or bar.tx:
                raise Fault(f"deadlock: th.mbarrier_wait on the barrier at shared byte "
                            f"{int(a)} (phase {bar.phase}, parity {int(want[0]) & 1}) can "
                            f"never complete: {bar.pending} arrival(s) and {bar.tx} "
                            f"transaction byte(s) outstanding", _HINT_DEADLOCK)
            bar.phase += 1
            bar.pending = bar.count
    return run


def _compile_inval(op: tma.MbarrierInvalOp, slot: Slot, prep: Prep) -> Closure:
    b, n = slot(op.bar), prep.num_threads
    p = slot(op.pred) if op.pred is not None else None

    def run(env: Env) -> None:
        threads = _active(env, p, n)
        bars = barriers(env[STATE])
        for t, a in zip(threads, _addresses(env, b, threads, n, op.NAME)):
            bar = _get(env, a, int(t), op.NAME)
            if bar.copies:
                raise Fault(f"th.mbarrier_inval by {who(int(t))} of the barrier at shared "
                            f"byte {int(a)} while TMA copies are in flight on it",
                            "wait for the copies before invalidating")
            del bars[int(a)]
    return run


def swizzle_bytes(addr: np.ndarray, mode: int) -> np.ndarray:
    """The shared byte address TMA's swizzle ``mode`` sends byte address ``addr`` to."""
    if not mode:
        return addr
    mask = mode // 16 - 1
    return addr ^ (((addr >> 7) & mask) << 4)


def box_positions(sm: Any, start: int, rel: np.ndarray,
                  mode: int) -> tuple[np.ndarray, np.ndarray]:
    """The shared byte positions ``(1, bytes)`` of a box laid out from byte ``start``
    under the swizzle ``mode`` (``rel``: ``arange(bytes)``), and their granules."""
    idx = swizzle_bytes(start + rel, mode)[None, :]
    g = sm.g  # divides 16, and the swizzle moves whole 16-byte chunks
    return idx, (idx[:, ::g] // g if g > 1 else idx)


def read_box(array: np.ndarray, coords: list[int], box: tuple[int, ...]) -> np.ndarray:
    """The ``box`` of ``array`` at ``coords`` (may be out of range): zeros outside."""
    out = np.zeros(box, array.dtype)
    src, dst = [], []
    for c, b, d in zip(coords, box, array.shape):
        lo, hi = max(c, 0), min(c + b, d)
        if lo >= hi:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - c, hi - c))
    out[tuple(dst)] = array[tuple(src)]
    return out


def _compile_tma_load(op: tma.TmaLoadOp, slot: Slot, prep: Prep) -> Closure:
    n, box, mode = prep.num_threads, tuple(op.box), op.swizzle
    b, d = slot(op.bar), slot(op.dst)
    cs = tuple(slot(c) for c in op.coords)
    p = slot(op.pred) if op.pred is not None else None
    position = prep.param_index[op.tensor.name]
    op_id = prep.op_id(op)
    nbytes = op.bytes
    in_role = prep.role is not None
    rel = np.arange(nbytes, dtype=np.int64)

    def run(env: Env) -> None:
        state = env[STATE]
        sm = state.shared
        threads = _active(env, p, n)
        if not threads.size:
            return
        tensor = state.tensors[position]
        if tensor is None:
            raise Fault(f"th.tma_load reads tensor argument {op.tensor.name}, which was not "
                        f"passed as an array", "pass a numpy array for it")
        dsts = lanes(env[d], n)[threads].astype(np.int64)
        bars_at = _addresses(env, b, threads, n, "th.tma_load")
        coords = [lanes(env[c], n)[threads].astype(np.int64) for c in cs]
        for k, t in enumerate(threads):
            t = int(t)
            sm.positions(np.array([t]), dsts[k:k + 1], nbytes, 128, "th.tma_load destination")
            bar = _get(env, bars_at[k], t, "th.tma_load")
            data = read_box(tensor.array, [int(c[k]) for c in coords], box)
            raw = np.ascontiguousarray(data).view(np.uint8).reshape(1, nbytes)
            idx, gidx = box_positions(sm, int(dsts[k]), rel, mode)
            sm.check_write(np.array([t]), gidx)    # it may land at any moment from now on
            np.add.at(sm.inflight, gidx.ravel(), 1)
            sm.n_inflight += gidx.size
            bar.copies.append(_Copy(t, op_id, idx, gidx, raw, nbytes))
        if in_role:
            _progress(env)     # a waiting role may now complete its phase
    return run


def compile_nothing(op: o.Op, slot: Slot, prep: Prep) -> Closure:
    """An op with nothing to do in the emulator (ordering only, or already done)."""
    def run(env: Env) -> None:
        pass
    return run


COMPILERS: dict[type[o.Op], Callable[[Any, Slot, Prep], Closure]] = {
    tma.MbarrierInitOp: _compile_init,
    tma.MbarrierArriveOp: _compile_arrive,
    tma.MbarrierExpectTxOp: _compile_arrive,
    tma.MbarrierWaitOp: _compile_wait,
    tma.MbarrierInvalOp: _compile_inval,
    tma.FenceMbarrierInitOp: compile_nothing,   # ordering only: the emulator is sequential
    tma.TmaLoadOp: _compile_tma_load,
}

__all__ = ["COMPILERS", "Mbarrier", "barriers", "box_positions", "compile_nothing", "missing",
           "read_box", "settles", "swizzle_bytes"]
