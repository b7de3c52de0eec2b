"""Global memory of the emulator: a virtual address space over the tensor arguments.

Tensor parameter ``k`` (its position in ``fn.params``) starts at byte address
``(k + 1) << 40`` (what ``th.tensor_ptr`` gives). An address ``a`` decodes to the
parameter ``k`` whose base is nearest below or above it and the byte offset
``a - base`` (so an address a little before a tensor's start reads as a negative
offset into that tensor, not as a huge offset into the previous one). The offset
must be the offset of an element of the argument's numpy view,
``sum(index_d * stride_d)`` bytes for an index inside its shape; anything else is
a ``KernelError`` naming the tensor, the offset and the threads.

Elements are reached through ``flat``, a 1-D view (stride = itemsize) over the
memory span of the argument, so a strided or transposed view costs nothing
more than a contiguous one; ``valid`` decides which flat positions are elements.

Alignment is checked against the argument's real address: an access of ``n``
bytes (a vector, or a ``cp.async`` source) must start at a multiple of ``n`` in
the host array's memory, so code specialized for 16-byte-aligned tensors and
launched on an array that is not (a slice offset by one element) is reported.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tilelang.errors import LaunchError
from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.emulator.core import STATE, Closure, Env, Fault, Prep, Slot, lane_list, lanes
from tilelang.interp.ops import compute, make_scalar, storage

SPACE_BITS = 40
_HALF = 1 << (SPACE_BITS - 1)

_BOUNDS_HINT = ("the address of a thread whose predicate is true must be an element of the "
                "tensor: predicate the access on the tensor bounds (a lowering bug if the "
                "kernel source is in bounds)")


def base_address(param_position: int) -> int:
    return (param_position + 1) << SPACE_BITS


class GlobalTensor:
    """One tensor argument seen through the virtual address space."""

    def __init__(self, position: int, name: str, array: np.ndarray, kernel: str,
                 packed: bool = False) -> None:
        self.position = position
        self.packed = packed          # the bytes of a packed low-bit tensor
        self.name = name
        self.array = array
        self.itemsize = isz = array.itemsize
        for n, s in zip(array.shape, array.strides):
            if n > 1 and (s < 0 or s % isz):
                raise LaunchError(
                    f"argument {name} has strides {array.strides}, which the emulator "
                    f"cannot address (negative or not a multiple of the item size)",
                    kernel=kernel, hint="pass np.ascontiguousarray(...) of it")
        # (element stride, size) of the dims that move in memory, largest stride first
        self.dims = sorted(((s // isz, n) for n, s in zip(array.shape, array.strides)
                            if n > 1 and s != 0), reverse=True)
        reach = 0
        for s, n in reversed(self.dims):
            if s <= reach:
                raise LaunchError(
                    f"argument {name} (shape {array.shape}, strides {array.strides}) has "
                    f"overlapping elements, which the emulator cannot address",
                    kernel=kernel, hint="pass np.ascontiguousarray(...) of it")
            reach += (n - 1) * s
        self.span = reach + 1 if array.size else 0
        count = 1
        for _, n in self.dims:
            count *= n
        self.dense = self.span == count          # every flat position is an element
        self.flat = as_strided(array, (self.span,), (isz,)) if self.span else \
            np.zeros(0, array.dtype)
        # where element 0 lies past a 16-byte boundary (the widest access's alignment)
        self.misalign = array.ctypes.data % 16 if array.size else 0

    def valid(self, q: np.ndarray) -> np.ndarray:
        """Which flat positions ``q`` (int64) are elements of the view."""
        ok = (q >= 0) & (q < self.span)
        if self.dense or not ok.any():
            return ok
        r = np.where(ok, q, 0)
        for s, n in self.dims:
            i = r // s
            ok &= i < n
            r = r - i * s
        return ok & (r == 0)

    def describe(self) -> str:
        a = self.array
        return f"'{self.name}' (shape {a.shape}, strides {a.strides} bytes)"


def decode(state: Any, addr: np.ndarray, threads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parameter position, byte offset) of each address."""
    pos = ((addr + _HALF) >> SPACE_BITS) - 1
    off = addr - ((pos + 1) << SPACE_BITS)
    lo, hi = int(np.minimum.reduce(pos)), int(np.maximum.reduce(pos))
    known = state.known
    if lo < 0 or hi >= len(known) or not (known[lo] if lo == hi else known[pos].all()):
        bad = (pos < 0) | (pos >= len(known))
        bad[~bad] = ~known[pos[~bad]]
        k = int(np.flatnonzero(bad)[0])
        raise Fault(f"global access at address {int(addr[k]):#x}, which is in no tensor "
                    f"argument, by {lane_list(threads[bad])}", _BOUNDS_HINT)
    return pos, off


def _is_multiple(x: np.ndarray, size: int) -> bool:
    if size & (size - 1) == 0:
        return not int(np.bitwise_or.reduce(x)) & (size - 1)
    return not np.any(x % size)


def locate(state: Any, addr: np.ndarray, threads: np.ndarray, vec: int, itemsize: int,
           what: str, align: int | None = None) -> list[tuple[Any, Any, np.ndarray]]:
    """Check ``vec``-element accesses of ``itemsize`` bytes at ``addr`` (one per thread in
    ``threads``), aligned to ``align`` bytes (default: the access size); return
    ``(tensor, rows, q)`` groups: the rows of ``addr`` that access ``tensor`` and their
    flat element positions ``q`` (shape ``(len(rows), vec)``)."""
    pos, off = decode(state, addr, threads)
    out = []
    single = np.minimum.reduce(pos) == np.maximum.reduce(pos)
    for p in ([pos[0]] if single else np.unique(pos)):
        rows = slice(None) if single else np.flatnonzero(pos == p)
        t = state.tensors[int(p)]
        o_ = off[rows]
        size = align or vec * itemsize
        # a packed low-bit tensor is bytes: a u16/u32 access reads its bytes in order
        vec_, isz = (vec * itemsize, 1) if t.packed else (vec, itemsize)
        if isz != t.itemsize:
            raise Fault(f"{what} of {itemsize}-byte elements on tensor '{t.name}' of "
                        f"{t.array.dtype} ({t.itemsize}-byte elements) by "
                        f"{lane_list(threads[rows])}",
                        "a thread-IR access must use the tensor's element size")
        real = o_ + t.misalign if t.misalign else o_   # offsets from a 16-byte boundary
        if not _is_multiple(real, size):
            mis = real % size != 0
            k = int(np.flatnonzero(mis)[0])
            start = f", whose array starts {t.misalign} bytes past a 16-byte boundary," \
                if t.misalign else ""
            raise Fault(f"misaligned {what}: {size}-byte access at byte offset {int(o_[k])} "
                        f"of tensor '{t.name}'{start} is not aligned to {size} bytes, by "
                        f"{lane_list(threads[rows][mis])}",
                        "a vector access must be aligned to its size: a lowering must only "
                        "vectorize accesses it can prove aligned, and code specialized for "
                        "aligned tensors (signature 'X=f32[2]:16') must get aligned arrays")
        first = o_ // isz
        if t.dense and int(np.minimum.reduce(first)) >= 0 and \
                int(np.maximum.reduce(first)) + vec_ <= t.span:
            q = first[:, None] + np.arange(vec_) if vec_ > 1 else first[:, None]
        else:
            q = first[:, None] + np.arange(vec_)
            ok = t.valid(q)
            if not ok.all():
                bad_rows = ~ok.all(axis=1)
                k = int(np.flatnonzero(bad_rows)[0])
                j = int(np.flatnonzero(~ok[k])[0])
                extra = f" (element {j} of a {vec}-element vector)" if vec > 1 else ""
                raise Fault(f"global access outside tensor {t.describe()} at byte offset "
                            f"{int(o_[k]) + j * isz}{extra} by "
                            f"{lane_list(threads[rows][bad_rows])} ({what})", _BOUNDS_HINT)
        out.append((t, rows, q))
    return out


def _active(env: Env, pred: int | None, n: int) -> np.ndarray | None:
    """Threads whose predicate holds (``None``: all of them)."""
    if pred is None:
        return None
    p = env[pred]
    if np.ndim(p) == 0:
        return None if p else np.zeros(0, np.int64)
    return np.flatnonzero(p)


def _reinterpret(vals: np.ndarray, dt: np.dtype) -> np.ndarray:
    return vals if vals.dtype == dt else vals.view(dt)


def _compile_tensor_ptr(op: th.TensorPtrOp, slot: Slot, prep: Prep) -> Closure:
    r, value = slot(op.result), np.int64(base_address(prep.param_index[op.tensor.name]))

    def run(env: Env) -> None:
        env[r] = value
    return run


def _compile_ld_global(op: th.LdGlobalOp, slot: Slot, prep: Prep) -> Closure:
    a, n, vec = slot(op.addr), prep.num_threads, op.vec
    p = slot(op.pred) if op.pred is not None else None
    oth = slot(op.other) if op.other is not None else None
    rs = tuple(slot(r) for r in op.results)
    dt = storage(op.dtype)
    isz = dt.itemsize
    zero = make_scalar(0, op.dtype)
    every = np.arange(n)

    def run(env: Env) -> None:
        state = env[STATE]
        act = _active(env, p, n)
        other = zero if oth is None else env[oth]
        if act is not None and act.size == 0:
            for r in rs:
                env[r] = other
            return
        threads = every if act is None else act
        addr = lanes(env[a], n).astype(np.int64, copy=False)
        if act is not None:
            addr = addr[act]
        out = np.empty((len(threads), vec), dt)
        for t, rows, q in locate(state, addr, threads, vec, isz, "th.ld_global"):
            out[rows] = _reinterpret(t.flat[q], dt)
        if act is None:
            for j, r in enumerate(rs):
                env[r] = out[:, j]
        else:
            full = np.empty((n, vec), dt)
            full[...] = np.asarray(other)[..., None] if np.ndim(other) else other
            full[act] = out
            for j, r in enumerate(rs):
                env[r] = full[:, j]
    return run


def _stack(env: Env, slots: tuple[int, ...], dt: np.dtype, n: int) -> np.ndarray:
    out = np.empty((n, len(slots)), dt)
    for j, s in enumerate(slots):
        out[:, j] = env[s]
    return out


def _check_writeable(t: GlobalTensor, what: str) -> None:
    if not t.flat.flags.writeable:
        raise Fault(f"{what} writes tensor '{t.name}', whose numpy array is read-only",
                    "pass a writeable array for an output tensor")


def _compile_st_global(op: th.StGlobalOp, slot: Slot, prep: Prep) -> Closure:
    a, n = slot(op.addr), prep.num_threads
    p = slot(op.pred) if op.pred is not None else None
    vs = tuple(slot(v) for v in op.values)
    dt = storage(op.values[0].type.dtype)
    every = np.arange(n)

    def run(env: Env) -> None:
        act = _active(env, p, n)
        if act is not None and act.size == 0:
            return
        threads = every if act is None else act
        addr = lanes(env[a], n).astype(np.int64, copy=False)
        vals = _stack(env, vs, dt, n)
        if act is not None:
            addr, vals = addr[act], vals[act]
        for t, rows, q in locate(env[STATE], addr, threads, len(vs), dt.itemsize,
                                 "th.st_global"):
            _check_writeable(t, "th.st_global")
            # Two threads storing to one address: the higher thread's value stays.
            t.flat[q] = _reinterpret(vals[rows], t.flat.dtype)
    return run


def _add_in_order(flat: np.ndarray, q: np.ndarray, v: np.ndarray, cd: np.dtype) -> None:
    """``flat[q[i]] += v[i]`` for i in order, each add in ``cd`` rounded to flat's dtype."""
    if flat.dtype == cd:
        np.add.at(flat, q, v)  # unbuffered: repeated positions add one after another
        return
    order = np.argsort(q, kind="stable")
    qs, vs = q[order], v[order]
    first = np.ones(len(qs), bool)
    first[1:] = qs[1:] != qs[:-1]
    idx = np.arange(len(qs))
    rank = idx - np.maximum.accumulate(np.where(first, idx, 0))
    for k in range(int(rank.max()) + 1 if len(rank) else 0):
        sel = rank == k
        pos = qs[sel]
        flat[pos] = (flat[pos].astype(cd) + vs[sel].astype(cd)).astype(flat.dtype)


def _compile_atomic_add(op: th.AtomicAddGlobalOp, slot: Slot, prep: Prep) -> Closure:
    a, v, n = slot(op.addr), slot(op.value), prep.num_threads
    p = slot(op.pred) if op.pred is not None else None
    dtype = op.value.type.dtype
    dt, cd = storage(dtype), compute(dtype)
    every = np.arange(n)

    def run(env: Env) -> None:
        act = _active(env, p, n)
        if act is not None and act.size == 0:
            return
        threads = every if act is None else act
        addr = lanes(env[a], n).astype(np.int64, copy=False)
        vals = lanes(env[v], n)
        if act is not None:
            addr, vals = addr[act], vals[act]
        for t, rows, q in locate(env[STATE], addr, threads, 1, dt.itemsize,
                                 "th.atomic_add_global"):
            if t.flat.dtype != dt:
                raise Fault(f"th.atomic_add_global adds {dtype} values to tensor "
                            f"'{t.name}' of {t.flat.dtype}",
                            "an atomic add must use the tensor's dtype")
            _check_writeable(t, "th.atomic_add_global")
            _add_in_order(t.flat, q[:, 0], vals[rows], cd)
    return run


COMPILERS: dict[type[o.Op], Callable[[Any, Slot, Prep], Closure]] = {
    th.TensorPtrOp: _compile_tensor_ptr,
    th.LdGlobalOp: _compile_ld_global,
    th.StGlobalOp: _compile_st_global,
    th.AtomicAddGlobalOp: _compile_atomic_add,
}
