"""Shared pieces of the thread-level emulator (see ``emulator`` for the semantics).

Values. Inside a block every SSA value is either *uniform* (a numpy scalar or a
0-d array: the same in every thread, e.g. a constant or a program id) or a
numpy array of shape ``(num_threads,)``: element ``t`` is thread ``t``'s value.
Both have the value's exact storage dtype, and numpy broadcasting mixes them
freely, so the interpreter's elementwise closures run unchanged on either.
Values are never modified in place once defined.

Environment. As in the interpreter, a block's environment is a list indexed by
slots chosen once per function: slot ``CTX`` holds the ``LaunchContext``
(program id, grid, kernel name), slot ``STATE`` the ``BlockState`` (threads,
tensors, shared memory, cp.async groups).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Sequence

import numpy as np

from tilelang.ir import ops as o
from tilelang.interp.ops import CTX, Closure, Env, Fault, Slot

__all__ = ["CTX", "REPORT_BASE", "REPORT_WARP", "STATE", "WARP", "Closure", "Env", "Fault", "Slot",
           "BlockState", "Prep", "lanes", "who", "who_block", "lane_list", "uniform_value"]

STATE = 1
WARP = 32   # lanes per warp on NVIDIA; a function's ``warp_size`` attribute overrides it

# The running kernel's warp size, so thread names in error messages give the
# right warp and lane on 64-lane wavefronts (set by ``EmulatedKernel.run``).
REPORT_WARP: ContextVar[int] = ContextVar("REPORT_WARP", default=WARP)
# The block-wide id of the running region's first thread: inside a
# ``tl.warp_specialize`` region per-thread arrays are indexed by position in the
# region, and messages name block-wide threads (set per role by ``emu_roles``).
REPORT_BASE: ContextVar[int] = ContextVar("REPORT_BASE", default=0)


class Prep:
    """What op compilers know about the kernel being prepared."""

    def __init__(self, name: str, num_threads: int, shared_bytes: int,
                 param_index: dict[str, int], granule: int = 1, warp_size: int = WARP) -> None:
        self.name = name
        self.num_threads = num_threads          # threads running the ops being compiled
        self.base = 0                           # block-wide id of the first of them
        self.role: str | None = None            # the warp_specialize region, if any
        self.warp = warp_size                   # lanes per warp: 32, or 64 (AMD wavefronts)
        self.warps = num_threads // warp_size
        self.shared_bytes = shared_bytes
        self.param_index = param_index          # tensor parameter name -> position
        self.granule = granule                  # shared bookkeeping unit (emu_shared)
        self.ops: list[o.Op] = []               # op id -> op (for "written at <loc>")

    def region(self, role: str, base: int, num_threads: int) -> "Prep":
        """The ``Prep`` of a ``tl.warp_specialize`` region: threads ``[base, base +
        num_threads)`` of the block; the op list, parameters and granule are shared
        (op ids stay block-wide)."""
        sub = Prep(self.name, num_threads, self.shared_bytes, self.param_index, self.granule,
                   self.warp)
        sub.ops, sub.base, sub.role = self.ops, self.base + base, role
        return sub

    def op_id(self, op: o.Op) -> int:
        self.ops.append(op)
        return len(self.ops) - 1

    def loc_of(self, op_id: int) -> str:
        op = self.ops[op_id]
        return f"{op.NAME} at {op.loc}" if op.loc else op.NAME


class BlockState:
    """Per-launch state, reset for each block: tensors, shared memory, cp.async groups."""

    def __init__(self, prep: Prep, tensors: list[Any], shared: Any) -> None:
        self.prep = prep
        self.num_threads = prep.num_threads
        self.tensors = tensors                  # param position -> GlobalTensor | None
        self.known = np.array([t is not None for t in tensors] or [False])
        self.shared = shared                    # SharedMemory
        self.open_group: list[Any] = []         # cp.async records not yet committed
        self.groups: list[list[Any]] = []       # committed groups, oldest first
        self.mbarriers: dict[int, Any] = {}     # shared offset -> emu_tma.Mbarrier
        self.wgmma: Any = None                  # emu_wgmma.WgmmaState, made on first use
        self.roles: Any = None                  # emu_roles.Roles while regions run

    def new_block(self) -> None:
        self.shared.new_block()
        self.open_group = []
        self.groups = []
        self.mbarriers = {}
        self.wgmma = None
        self.roles = None


def lanes(v: Any, n: int) -> np.ndarray:
    """``v`` as a per-thread array of length ``n``."""
    if type(v) is np.ndarray and v.ndim == 1:
        return v
    out = np.empty(n, np.asarray(v).dtype)
    out[...] = v
    return out


def who(t: int) -> str:
    """``thread 37 (warp 1, lane 5)`` for position ``t`` among the running threads
    (block-wide id, in the running kernel's warp size)."""
    return who_block(int(t) + REPORT_BASE.get())


def who_block(t: int) -> str:
    """``who`` of the block-wide thread id ``t`` (as recorded across regions)."""
    t, w = int(t), REPORT_WARP.get()
    return f"thread {t} (warp {t // w}, lane {t % w})"


def lane_list(threads: Sequence[int] | np.ndarray, limit: int = 4) -> str:
    """Several threads, the first in full: ``thread 3 (warp 0, lane 3) and 2 other
    threads (5, 9)``."""
    base = REPORT_BASE.get()
    ts = [int(t) + base for t in np.unique(np.asarray(threads))]
    if len(ts) == 1:
        return who_block(ts[0])
    rest = ", ".join(str(t) for t in ts[1:limit + 1]) + (", ..." if len(ts) > limit + 1 else "")
    other = "other thread" if len(ts) == 2 else "other threads"
    return f"{who_block(ts[0])} and {len(ts) - 1} {other} ({rest})"


def uniform_value(v: Any, what: str) -> Any:
    """The single value of a block-uniform operand; a ``Fault`` if threads disagree."""
    a = np.asarray(v)
    if a.ndim == 0:
        return a[()]
    first = a[0]
    differ = np.flatnonzero(a != first)
    if differ.size:
        t, t0 = int(differ[0]), REPORT_BASE.get()
        raise Fault(
            f"non-uniform control flow: {what} is {first.item()!r} in thread {t0} but "
            f"{a[t].item()!r} in "
            f"{who(t)} ({differ.size} threads differ from thread {t0})",
            "thread-IR control flow must be block-uniform; a per-thread choice needs a "
            "predicate or tl.where (a lowering bug: report it with the kernel's IR)")
    return first
