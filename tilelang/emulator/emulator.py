"""The thread-level emulator: runs a thread-IR ``Function`` with numpy
(``target="emulate:<gpu>"``), so the real GPU lowering is tested on a CPU.

Semantics, exactly (the op docstrings in ``tilelang.ir.thread_ops`` are the
contract; this is how the emulator carries them out):

Execution
    Blocks run one after another, program ids iterating with axis 0 fastest.
    Inside a block all ``num_threads`` threads (the function attribute, a
    multiple of the ``warp_size`` attribute: 32, or 64 for AMD wavefronts) run
    in lockstep: each op runs once for the whole block on
    per-thread numpy arrays (see ``emu_core`` for the value representation).
    ``th.thread_id`` is ``arange(num_threads)``; ``tl.program_id``,
    ``tl.num_programs``, ``tl.tensor_dim`` and ``tl.tensor_stride`` are uniform.
    Control flow is block-uniform: ``tl.for`` bounds and ``tl.if`` conditions
    that differ between threads are a ``KernelError`` ("non-uniform control
    flow", a lowering bug). ``tl.return`` ends the block for every thread.

    A ``tl.warp_specialize`` (``emu_roles``) runs its regions as two roles of
    the block: consumer threads ``[0, consumer_threads)``, producer threads
    after them, each region in lockstep over its own threads (``th.thread_id``
    gives block-wide ids; control flow is uniform per region). The roles run
    one at a time, deterministically, the producer first: a role runs until
    it waits on an mbarrier phase not yet complete, and an arrival (or TMA
    issue) that lets a waiting role's wait complete hands that role the baton
    at once, so a stage released too early is refilled while still being read.
    When every unfinished role waits, the block is a reported deadlock naming
    each role's wait. ``tl.return`` in a region ends that role only; a
    ``tl.barrier`` in a region is a fault (``th.bar_sync`` synchronizes a role).

Arithmetic
    ``tl.constant``, ``tl.binary``, ``tl.unary``, ``tl.cast`` and ``tl.where`` are
    the interpreter's own closures (``interp_ops``) applied to per-thread arrays,
    so numerics are identical to the reference interpreter's.

Memory
    Global memory is a virtual address space over the tensor arguments
    (``emu_global``): bounds, element boundaries and vector alignment are checked
    for every thread whose predicate holds; predicated-off threads touch nothing
    and their addresses may be garbage. ``th.atomic_add_global`` applies threads
    in thread order, rounding after each add. Shared memory is ``shared_bytes``
    bytes per block, fresh (uninitialized) for each block, with race, bounds,
    alignment, uninitialized-read and cp.async checks (``emu_shared``).
    Warp-collective ops (``th.ldmatrix``, ``th.mma``, ``th.shfl``) follow the PTX
    fragment layouts (``emu_warp``); ``th.mfma`` the CDNA ones on 64-lane
    wavefronts (``emu_mfma``), where ``th.shfl`` spans all 64 lanes.

Debugging
    ``tl.print`` prints ``[kernel pid=(x, y, z)] prefix`` and each value (a
    uniform value once, otherwise the array of all threads' values);
    ``tl.device_assert`` fails if the condition is false in any thread.

Every error while running is a ``KernelError`` carrying the kernel name, the
op's source location, the program id, the threads involved and a hint; a numpy
exception inside an op becomes one too, naming the op.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np

from tilelang.errors import IRError, KernelError, LaunchError
from tilelang.ir import ops as o
from tilelang.ir.math_ops import FmaOp
from tilelang.ir.while_ops import WhileOp
from tilelang.interp.while_loop import compile_while
from tilelang.ir import role_ops as ro
from tilelang.ir import thread_ops as th
from tilelang.ir.types import ScalarType, TensorType, TileType
from tilelang.ir.values import Block, Function, Value
from tilelang.emulator import atomics as emu_atomics
from tilelang.emulator import global_memory as emu_global
from tilelang.emulator.amd import mfma as emu_mfma
from tilelang.emulator import shared as emu_shared
from tilelang.emulator import warp as emu_warp
from tilelang.emulator.nvidia import wgmma as emu_wgmma
from tilelang.interp import ops as interp_ops
from tilelang.emulator.core import (
    CTX, REPORT_WARP, STATE, WARP, BlockState, Closure, Env, Fault, Prep, Slot, lane_list, lanes,
    uniform_value,
)
from tilelang.interp.ops import LaunchContext, storage
from tilelang.interp.interpreter import _check_grid, _convert_arg
from tilelang.ir.lowbit import PackedArray
from tilelang.emulator.nvidia import tma as emu_tma  # noqa: E402  (mbarriers and TMA loads)
from tilelang.emulator.nvidia import tma_store as emu_tma_store  # noqa: E402  (TMA stores)
from tilelang.emulator import roles as emu_roles  # noqa: E402  (warp-specialized regions)

__all__ = ["EmulatedKernel", "prepare_threads", "run_threads"]

BlockRunner = Callable[[Env], "list[Any] | None"]


class _BlockReturn(Exception):
    """Raised by a ``tl.return`` nested in a region to end the block."""


# Scalar ops whose interpreter closures work unchanged on per-thread arrays.
_SCALAR_OPS = (o.ConstantOp, o.ProgramIdOp, o.NumProgramsOp, o.TensorDimOp,
               o.TensorStrideOp, o.BinaryOp, o.UnaryOp, o.CastOp, FmaOp)


def _compile_where(op: o.WhereOp, slot: Slot, prep: Prep) -> Closure:
    # The interpreter's scalar `where` branches in Python; its tile form is
    # np.where, which is what per-thread values need. Same closure, tile types.
    def tile(v: Value) -> Value:
        return Value(v.name, TileType((prep.num_threads,), v.type.dtype))
    shadow = replace(op, cond=tile(op.cond), x=tile(op.x), y=tile(op.y),
                     results=(tile(op.result),))
    return interp_ops.COMPILERS[o.WhereOp](shadow, slot)


def _compile_thread_id(op: th.ThreadIdOp, slot: Slot, prep: Prep) -> Closure:
    r = slot(op.result)
    value = np.arange(prep.base, prep.base + prep.num_threads, dtype=np.int32)
    value.flags.writeable = False

    def run(env: Env) -> None:
        env[r] = value
    return run


def _compile_print(op: o.PrintOp, slot: Slot, prep: Prep) -> Closure:
    prefix, vals = op.prefix, tuple(slot(v) for v in op.values)

    def run(env: Env) -> None:
        ctx = env[CTX]
        x, y, z = ctx.pid
        print(f"[{ctx.kernel} pid=({x}, {y}, {z})] {prefix}", *[env[s] for s in vals])
    return run


def _compile_assert(op: o.AssertOp, slot: Slot, prep: Prep) -> Closure:
    c, n = slot(op.cond), prep.num_threads
    message = op.message or "device assertion failed"

    def run(env: Env) -> None:
        cond = env[c]
        if np.all(cond):
            return
        bad = np.flatnonzero(~lanes(cond, n))
        raise Fault(f"{message} (false in {lane_list(bad)})",
                    "the asserted condition is false in these threads; check the inputs "
                    "and the launch grid, or the condition itself")
    return run


_COMPILERS: dict[type[o.Op], Callable[[Any, Slot, Prep], Closure]] = {
    th.ThreadIdOp: _compile_thread_id,
    o.WhereOp: _compile_where,
    o.PrintOp: _compile_print,
    o.AssertOp: _compile_assert,
    **emu_global.COMPILERS, **emu_atomics.COMPILERS, **emu_shared.COMPILERS,
    **emu_warp.COMPILERS,
    **emu_tma.COMPILERS, **emu_tma_store.COMPILERS,
    **emu_mfma.COMPILERS,
    **emu_wgmma.COMPILERS,
    **emu_roles.COMPILERS,      # last: its tl.barrier checks for regions, then is emu_shared's
}


def _granule(fn: Function) -> int:
    """The gcd of the sizes of ``fn``'s shared-memory accesses (1 if it has none)."""
    g = 0
    for op in o.walk(fn.body):
        if isinstance(op, th.LdSharedOp):
            size = op.vec * storage(op.dtype).itemsize
        elif isinstance(op, th.StSharedOp):
            size = len(op.values) * storage(op.values[0].type.dtype).itemsize
        elif isinstance(op, th.LdMatrixOp):
            size = 16
        elif isinstance(op, th.CpAsyncOp):
            size = op.bytes
        else:
            continue
        g = math.gcd(g, size)
    return g or 1


class EmulatedKernel:
    """A thread-IR ``Function`` turned into closures once; ``run`` launches it on a grid."""

    def __init__(self, fn: Function) -> None:
        self.name = fn.name
        self.params = fn.params
        threads = fn.attr("num_threads")
        shared = fn.attr("shared_bytes", 0)
        warp = fn.attr("warp_size", WARP)   # 64 on AMD: lanes of a wavefront
        if warp not in (32, 64):
            raise IRError(f"function {fn.name}: warp_size must be 32 or 64, got {warp!r}",
                          loc=fn.loc, hint="the target records warp_size (32 NVIDIA, 64 AMD)")
        if not isinstance(threads, int) or threads < warp or threads % warp:
            raise IRError(f"function {fn.name}: num_threads must be a positive multiple of "
                          f"{warp}, got {threads!r}", loc=fn.loc,
                          hint="the emulator runs thread IR (after lower-to-threads)")
        self.warp_size = warp
        if not isinstance(shared, int) or shared < 0:
            raise IRError(f"function {fn.name}: bad shared_bytes {shared!r}", loc=fn.loc)
        self.num_threads, self.shared_bytes = threads, shared
        positions = {p.name: i for i, p in enumerate(fn.params)
                     if isinstance(p.type, TensorType)}
        self.prep = Prep(fn.name, threads, shared, positions, _granule(fn), warp)
        self._slots: dict[str, int] = {}
        self._param_slots = tuple(self._slot(p) for p in fn.params)
        with np.errstate(all="ignore"):
            self._body = self._compile_block(fn.body, top=True)

    # -- preparation ---------------------------------------------------------
    def _slot(self, v: Value) -> int:
        s = self._slots.get(v.name)
        if s is None:
            s = self._slots[v.name] = len(self._slots) + 2  # 0: context, 1: block state
        return s

    def _check_types(self, op: o.Op) -> None:
        for v in op.operand_values() + op.results:
            if not isinstance(v.type, (ScalarType, TensorType)):
                raise IRError(f"the emulator runs thread IR, whose values are scalars; "
                              f"{op.NAME} has %{v.name} of type {v.type}", kernel=self.name,
                              loc=op.loc, hint="lower the kernel to thread IR first")

    def _compile_op(self, op: o.Op) -> Closure:
        self._check_types(op)
        if isinstance(op, o.ForOp):
            return self._compile_for(op)
        if isinstance(op, o.IfOp):
            return self._compile_if(op)
        if isinstance(op, WhileOp):
            return compile_while(op, self._slot, self._compile_block,
                                 lambda c: uniform_value(c, "the tl.while condition"))
        if isinstance(op, o.ReturnOp):
            def run(env: Env) -> None:
                raise _BlockReturn()
            return run
        if isinstance(op, ro.WarpSpecializeOp):
            return emu_roles.compile_warp_specialize(op, self._slot, self.prep,
                                                     self._compile_region, _BlockReturn)
        if isinstance(op, _SCALAR_OPS):
            return interp_ops.COMPILERS[type(op)](op, self._slot)
        compiler = _COMPILERS.get(type(op))
        if compiler is None:
            raise IRError(f"the emulator cannot run {op.NAME or type(op).__name__}: it runs "
                          f"thread IR only", kernel=self.name, loc=op.loc,
                          hint="lower the kernel to thread IR (the gpu pipeline) first")
        return compiler(op, self._slot, self.prep)

    def _compile_block(self, block: Block, top: bool = False) -> BlockRunner:
        body = list(block.ops)
        yields: tuple[int, ...] | None = None
        if body and isinstance(body[-1], o.YieldOp):
            yields = tuple(self._slot(v) for v in body.pop().values)
        elif top and body and isinstance(body[-1], o.ReturnOp):
            body.pop()
        for a in block.args:
            self._slot(a)
        pairs = tuple((op, self._compile_op(op)) for op in body)

        def run(env: Env) -> list[Any] | None:
            op = None
            try:
                for op, f in pairs:
                    f(env)
            except Fault as e:
                if e.op is None:
                    e.op = op
                raise
            except _BlockReturn:
                raise
            except Exception as e:  # numpy or a bug: still a KernelError naming the op
                raise Fault(f"{op.NAME} failed in the emulator: {type(e).__name__}: {e}",
                            "the emulator could not evaluate this op on these values; if "
                            "they look right, report it with the kernel's thread IR",
                            op) from e
            return None if yields is None else [env[s] for s in yields]
        return run

    def _compile_region(self, block: Block, prep: Prep) -> BlockRunner:
        """``block`` compiled for the threads of ``prep`` (a warp_specialize region)."""
        outer, self.prep = self.prep, prep
        try:
            return self._compile_block(block)
        finally:
            self.prep = outer

    def _compile_for(self, op: o.ForOp) -> Closure:
        lo, hi, st = self._slot(op.lower), self._slot(op.upper), self._slot(op.step)
        inits = tuple(self._slot(v) for v in op.inits)
        iv = self._slot(op.body.args[0])
        carried = tuple(self._slot(a) for a in op.body.args[1:])
        results = tuple(self._slot(r) for r in op.results)
        make_iv = storage(op.lower.type.dtype).type
        body = self._compile_block(op.body)

        def run(env: Env) -> None:
            start = int(uniform_value(env[lo], "the tl.for lower bound"))
            stop = int(uniform_value(env[hi], "the tl.for upper bound"))
            step = int(uniform_value(env[st], "the tl.for step"))
            if step == 0:
                raise Fault("tl.for has a step of 0", "give the loop a nonzero step")
            vals = [env[s] for s in inits]
            for i in range(start, stop, step):
                env[iv] = make_iv(i)
                for s, v in zip(carried, vals):
                    env[s] = v
                vals = body(env)
            for s, v in zip(results, vals):
                env[s] = v
        return run

    def _compile_if(self, op: o.IfOp) -> Closure:
        c = self._slot(op.cond)
        then, orelse = self._compile_block(op.then), self._compile_block(op.orelse)
        results = tuple(self._slot(r) for r in op.results)

        def run(env: Env) -> None:
            cond = uniform_value(env[c], "the tl.if condition")
            vals = then(env) if cond else orelse(env)
            for s, v in zip(results, vals):
                env[s] = v
        return run

    # -- launching -----------------------------------------------------------
    def run(self, grid: Sequence[int], args: Sequence[object], *,
            kernel_name: str | None = None) -> None:
        """Run every block of ``grid`` on ``args`` (in ``fn.params`` order).

        Tensor arguments are numpy arrays (non-negative strides) of the parameter's
        storage dtype, written in place; scalars are converted to their parameter's
        dtype. Raises ``LaunchError`` for bad arguments and ``KernelError`` for an
        error while running.
        """
        kernel = kernel_name or self.name
        gx, gy, gz = _check_grid(grid, kernel)
        params = self.params
        if len(args) != len(params):
            raise LaunchError(f"expected {len(params)} arguments "
                              f"({', '.join(p.name for p in params)}), got {len(args)}",
                              kernel=kernel, hint="pass one argument per kernel parameter")
        base: Env = [None] * (len(self._slots) + 2)
        tensors: list[Any] = [None] * len(params)
        for k, (p, a, s) in enumerate(zip(params, args, self._param_slots)):
            if isinstance(p.type, TensorType) and isinstance(a, PackedArray):
                # a packed low-bit tensor: its logical shape and element strides for
                # tl.tensor_dim / tl.tensor_stride, its bytes for the memory accesses
                base[s] = a
                tensors[k] = emu_global.GlobalTensor(k, p.name, a.host_bytes().reshape(-1),
                                                     kernel, packed=True)
                continue
            base[s] = _convert_arg(p, a, kernel)
            if isinstance(p.type, TensorType):
                tensors[k] = emu_global.GlobalTensor(k, p.name, base[s], kernel)
        state = BlockState(self.prep, tensors, emu_shared.SharedMemory(self.prep))
        base[STATE] = state
        body = self._body
        report = REPORT_WARP.set(self.warp_size)
        try:
            self._blocks(body, base, state, (gx, gy, gz), kernel)
        finally:
            REPORT_WARP.reset(report)

    def _blocks(self, body: Any, base: Env, state: BlockState,
                grid: tuple[int, int, int], kernel: str) -> None:
        gx, gy, gz = grid
        grid32 = (np.int32(gx), np.int32(gy), np.int32(gz))
        with np.errstate(all="ignore"):
            for z in range(gz):
                for y in range(gy):
                    for x in range(gx):
                        env = base.copy()
                        env[CTX] = LaunchContext((np.int32(x), np.int32(y), np.int32(z)),
                                                 grid32, kernel)
                        state.new_block()
                        try:
                            body(env)
                        except _BlockReturn:
                            pass
                        except Fault as f:
                            raise KernelError(f.message, kernel=kernel,
                                              loc=f.op.loc if f.op else None, hint=f.hint,
                                              program_id=(x, y, z)) from None


# Keyed by id() with a weak reference, like interpreter.prepare: hashing a
# Function hashes its whole op tree.
_CACHE: dict[int, tuple[weakref.ref, EmulatedKernel]] = {}


def prepare_threads(fn: Function) -> EmulatedKernel:
    """The emulator's prepared form of the thread-IR ``fn``, built once per Function object."""
    key = id(fn)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is fn:
        return hit[1]
    prepared = EmulatedKernel(fn)

    def forget(ref: weakref.ref, key: int = key, cache: dict = _CACHE) -> None:
        entry = cache.get(key)
        if entry is not None and entry[0] is ref:
            del cache[key]
    _CACHE[key] = (weakref.ref(fn, forget), prepared)
    return prepared


def run_threads(fn: Function, grid: Sequence[int], args: Sequence[object], *,
                kernel_name: str | None = None) -> None:
    """Emulate the thread-IR ``fn`` on ``grid`` with ``args`` (see the module doc)."""
    prepare_threads(fn).run(grid, args, kernel_name=kernel_name)
