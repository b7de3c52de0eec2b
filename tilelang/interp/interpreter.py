"""The reference interpreter: runs a tile-IR ``Function`` with numpy (``target="interp"``).

It defines what every tile-IR op means and is the users' debug mode. The
semantics, exactly:

Execution
    One program instance at a time, program ids iterating with axis 0 fastest.
    Each op works on whole tiles with numpy (no per-element Python loops).
    ``tl.for`` is a Python ``range`` over its scalar bounds carrying values
    (``kind="pipeline"`` runs like ``"range"``); ``tl.if`` runs one region and its
    ``tl.yield`` gives the results; ``tl.return`` ends the program instance;
    ``tl.barrier`` does nothing (an instance runs as a whole), nor do the
    mbarrier ring ops of ``tma_staging_ops`` (``tl.tma_copy`` is ``tl.copy``).
    ``tl.warp_specialize`` is an ``IRError``: the interpreter runs tile IR from
    before warp specialization; ``emulate:sm_90a`` runs the specialized kernel.

Values
    Scalars are numpy scalars of the exact storage dtype (``np.int32``...), tiles
    numpy arrays of it (ml_dtypes' bfloat16 where numpy has none; the codes of a
    low-bit format, ``tilelang.ir.lowbit``, in uint8),
    shared buffers ``SharedBuffer`` objects (data and a written-mask) private to
    the program instance. Tiles are never modified in place once defined.

Arithmetic
    Narrow floats (f16, bf16, f8) compute in f32 and round to their storage dtype
    after every op; sub-byte integers compute in 8 bits and wrap. Integers wrap
    around; numpy's overflow, invalid and divide warnings are silenced. Integer
    ``floordiv``/``mod`` truncate toward zero as in C (``mod`` has the dividend's
    sign); integer division by zero gives 0 (numpy's answer; GPUs give garbage).
    Float ``floordiv`` is ``floor(a / b)``, float ``mod`` is ``fmod``, ``div`` is
    true division. Comparisons give bool. ``shl``/``shr`` are numpy's ``<<``/``>>``
    (arithmetic for signed). ``maximum``/``minimum`` propagate NaN. ``pow`` is
    ``np.power`` in the compute dtype (an integer to a negative power is an error).
    ``not`` is logical not on bool, ``x == 0`` (as 0/1 of x's dtype) on numbers;
    ``invert`` is ``~`` (an ``IRError`` on floats); ``rsqrt`` is ``1/sqrt``;
    ``sigmoid`` is ``1/(1+exp(-x))``. Arithmetic on bool computes on 0/1 integers
    and gives ``result != 0`` (add is or, mul is and, sub is xor).
    A cast from or to a low-bit format goes through its values: ``lowbit.decode``
    and ``lowbit.encode`` (round to nearest even, the format's saturation and NaN
    rules; integers wrap from integers and saturate from floats, NaN giving 0).
    Other casts are numpy/ml_dtypes ``astype``: float to float rounds to nearest
    even, float to int truncates toward zero (NaN and out-of-range give what
    astype gives), int to int wraps, bool to number 0/1, number to bool ``x != 0``.
    ``tl.reduce``: narrow floats accumulate in f32 and round once at the end,
    other dtypes accumulate in themselves (integers wrap). ``tl.dot`` converts a
    and b to the accumulator's compute dtype, computes ``a @ b + acc`` there
    (f32 matmul for f16/bf16/f8 inputs, int32 for i8 inputs with an i32
    accumulator) and rounds to the accumulator's storage dtype.

Memory
    ``tl.load``/``tl.store``/``tl.atomic_add``/``tl.copy`` access the window
    ``X[o0:o0+s0, o1:o1+s1, ...]``; offsets may be negative or past the end.
    Elements outside ``X.shape`` read ``other`` (0 if absent) and are not
    written. With a mask, elements where it is false read ``other`` / are not
    written, and one where it is true but the index is outside ``X.shape`` is a
    ``KernelError`` naming the first such index. ``tl.copy`` fills the whole
    shared buffer (outside elements become 0); ``tl.shared_load`` of a buffer with
    an element never written is a ``KernelError``. ``tl.atomic_add`` adds in the
    tensor's compute dtype and rounds to its storage dtype. Every ``tl.copy``
    (``is_async`` too) completes when it runs, so ``tl.async_commit`` and
    ``tl.async_wait`` do nothing. ``tl.shared_slice`` is the view ``src[index]``:
    it shares the buffer's data and written-mask; an index outside
    ``[0, src.shape[0])`` is a ``KernelError``.

Debugging
    ``tl.print`` prints ``[kernel pid=(x, y, z)] prefix`` and the values to stdout;
    ``tl.device_assert`` with any false element raises a ``KernelError`` with the
    assert's message.

Every error while running is a ``KernelError`` carrying the kernel name, the
op's source location, the program id and a hint; numpy exceptions inside an op
become one too, naming the op.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Sequence

import numpy as np

from tilelang.errors import IRError, KernelError, LaunchError
from tilelang.ir import ops as o
from tilelang.ir.role_ops import WarpSpecializeOp
from tilelang.ir.scan_ops import AssociativeScanOp
from tilelang.ir.while_ops import WhileOp
from tilelang.interp.while_loop import compile_while
from tilelang.ir.types import ScalarType, TensorType
from tilelang.ir.values import Block, Function, Value
from tilelang.interp import atomics as interp_atomics
from tilelang.interp import memory as interp_memory
from tilelang.interp import ops as interp_ops
from tilelang.interp import gather_ops as interp_gather
from tilelang.interp import scan_ops as interp_scan
from tilelang.interp.ops import CTX, Closure, Env, Fault, LaunchContext, storage

__all__ = ["PreparedKernel", "prepare", "run_kernel"]

BlockRunner = Callable[[Env], "list[Any] | None"]


class _ProgramReturn(Exception):
    """Raised by a ``tl.return`` nested in a region to end the program instance."""


_COMPILERS: dict[type[o.Op], Callable[[Any, Callable[[Value], int]], Closure]] = {
    **interp_ops.COMPILERS, **interp_memory.COMPILERS, **interp_scan.COMPILERS,
    **interp_gather.COMPILERS, **interp_atomics.COMPILERS,
}


class PreparedKernel:
    """A ``Function`` turned into closures once; ``run`` launches it on a grid."""

    def __init__(self, fn: Function) -> None:
        # Not the Function itself: the cache entry must not keep it alive.
        self.name = fn.name
        self.params = fn.params
        self._slots: dict[str, int] = {}
        self._param_slots = tuple(self._slot(p) for p in fn.params)
        with np.errstate(all="ignore"):
            self._body = self._compile_block(fn.body, top=True)

    # -- preparation ---------------------------------------------------------
    def _slot(self, v: Value) -> int:
        s = self._slots.get(v.name)
        if s is None:
            s = self._slots[v.name] = len(self._slots) + 1  # slot 0 is the context
        return s

    def _compile_op(self, op: o.Op) -> Closure:
        if isinstance(op, o.ForOp):
            return self._compile_for(op)
        if isinstance(op, o.IfOp):
            return self._compile_if(op)
        if isinstance(op, WhileOp):
            return compile_while(op, self._slot, self._compile_block, lambda c: c)
        if isinstance(op, AssociativeScanOp):
            return interp_scan.compile_associative_scan(op, self._slot, self._compile_block)
        if isinstance(op, o.ReturnOp):
            def run(env: Env) -> None:
                raise _ProgramReturn()
            return run
        if isinstance(op, WarpSpecializeOp):
            raise IRError("the interpreter cannot run tl.warp_specialize: it runs a kernel's "
                          "tile IR before warp specialization (the interp pipeline never "
                          "produces it)", kernel=self.name, loc=op.loc,
                          hint="interpret the kernel from its source (target='interp'), or "
                               "run the warp-specialized lowering with target='emulate:sm_90a'")
        compiler = _COMPILERS.get(type(op))
        if compiler is None:
            raise IRError(f"the interpreter cannot run {op.NAME or type(op).__name__}: "
                          f"it runs tile IR only", kernel=self.name, loc=op.loc,
                          hint="interpret the tile IR, before lowering to thread IR")
        return compiler(op, self._slot)

    def _compile_block(self, block: Block, top: bool = False) -> BlockRunner:
        """A runner of ``block``'s ops that returns its ``tl.yield`` values (or None)."""
        body = list(block.ops)
        yields: tuple[int, ...] | None = None
        if body and isinstance(body[-1], o.YieldOp):
            yields = tuple(self._slot(v) for v in body.pop().values)
        elif top and body and isinstance(body[-1], o.ReturnOp):
            body.pop()  # the final return needs no exception to end the instance
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
            except _ProgramReturn:
                raise
            except Exception as e:  # numpy or a bug: still a KernelError naming the op
                raise Fault(f"{op.NAME} failed: {type(e).__name__}: {e}",
                            "the interpreter could not evaluate this op on these values "
                            "(check the operands, e.g. an integer raised to a negative "
                            "power); if they look right, report it with the kernel's IR",
                            op) from e
            return None if yields is None else [env[s] for s in yields]
        return run

    def _compile_for(self, op: o.ForOp) -> Closure:
        lo, hi, st = self._slot(op.lower), self._slot(op.upper), self._slot(op.step)
        inits = tuple(self._slot(v) for v in op.inits)
        iv = self._slot(op.body.args[0])
        carried = tuple(self._slot(a) for a in op.body.args[1:])
        results = tuple(self._slot(r) for r in op.results)
        make_iv = storage(op.lower.type.dtype).type
        body = self._compile_block(op.body)

        def run(env: Env) -> None:
            step = int(env[st])
            if step == 0:
                raise Fault("tl.for has a step of 0", "give the loop a nonzero step")
            vals = [env[s] for s in inits]
            for i in range(int(env[lo]), int(env[hi]), step):
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
            vals = then(env) if env[c] else orelse(env)
            for s, v in zip(results, vals):
                env[s] = v
        return run

    # -- launching -----------------------------------------------------------
    def run(self, grid: Sequence[int], args: Sequence[object], *,
            kernel_name: str | None = None) -> None:
        """Run every program instance of ``grid`` on ``args`` (in ``fn.params`` order).

        Tensor arguments are numpy arrays written in place; scalars are converted
        to their parameter's dtype. Raises ``LaunchError`` for bad arguments and
        ``KernelError`` for an error while running.
        """
        kernel = kernel_name or self.name
        gx, gy, gz = _check_grid(grid, kernel)
        base: Env = [None] * (len(self._slots) + 1)
        params = self.params
        if len(args) != len(params):
            raise LaunchError(f"expected {len(params)} arguments "
                              f"({', '.join(p.name for p in params)}), got {len(args)}",
                              kernel=kernel, hint="pass one argument per kernel parameter")
        for p, a, s in zip(params, args, self._param_slots):
            base[s] = _convert_arg(p, a, kernel)
        grid32 = (np.int32(gx), np.int32(gy), np.int32(gz))
        body = self._body
        with np.errstate(all="ignore"):
            for z in range(gz):
                for y in range(gy):
                    for x in range(gx):
                        env = base.copy()
                        env[CTX] = LaunchContext((np.int32(x), np.int32(y), np.int32(z)),
                                                 grid32, kernel)
                        try:
                            body(env)
                        except _ProgramReturn:
                            pass
                        except Fault as f:
                            # from None: the user gets the kernel's line, not numpy's stack.
                            raise KernelError(f.message, kernel=kernel,
                                              loc=f.op.loc if f.op else None, hint=f.hint,
                                              program_id=(x, y, z)) from None


def _check_grid(grid: Sequence[int], kernel: str) -> tuple[int, int, int]:
    try:
        dims = [int(g) for g in grid]
        ok = 1 <= len(dims) <= 3 and all(g >= 0 and g == gg for g, gg in zip(dims, grid))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise LaunchError(f"bad grid {grid!r}", kernel=kernel,
                          hint="give the grid as a tuple of 1 to 3 non-negative ints")
    dims += [1] * (3 - len(dims))
    return dims[0], dims[1], dims[2]


def _convert_arg(param: Value, arg: object, kernel: str) -> object:
    t = param.type
    if isinstance(t, TensorType):
        want = storage(t.dtype)
        if not isinstance(arg, np.ndarray) or arg.dtype != want or arg.ndim != t.rank:
            got = (f"{arg.dtype} array of rank {arg.ndim}" if isinstance(arg, np.ndarray)
                   else type(arg).__name__)
            raise LaunchError(f"argument {param.name} must be a {want} numpy array of rank "
                              f"{t.rank}, got {got}", kernel=kernel,
                              hint="the interpreter runs on numpy arrays; convert the "
                                   "argument (np.asarray) to the kernel's dtype and rank")
        return arg
    if isinstance(t, ScalarType):
        dt = t.dtype
        try:
            if dt.is_bool:
                return np.bool_(bool(arg))
            if dt.is_int:
                value = int(arg)  # type: ignore[call-overload]
                lo = -(1 << (dt.bits - 1)) if dt.is_signed else 0
                hi = (1 << (dt.bits - 1 if dt.is_signed else dt.bits)) - 1
                if value != arg or not lo <= value <= hi:
                    raise ValueError(f"{arg!r} is not an integer in [{lo}, {hi}]")
                return storage(dt).type(value)
            return interp_ops.make_scalar(float(arg), dt)  # type: ignore[arg-type]
        except (TypeError, ValueError) as e:
            raise LaunchError(f"argument {param.name} must be a {dt} scalar: {e}",
                              kernel=kernel, hint=f"pass a value that fits {dt}") from None
    raise LaunchError(f"parameter {param.name} has type {t}, which a kernel cannot take",
                      kernel=kernel, hint="kernel parameters are tensors and scalars")


# Keyed by id() with a weak reference: hashing a Function hashes its whole op
# tree, far too slow for a per-launch cache lookup.
_CACHE: dict[int, tuple[weakref.ref, PreparedKernel]] = {}


def prepare(fn: Function) -> PreparedKernel:
    """The prepared (closure-compiled) form of ``fn``, built once per Function object."""
    key = id(fn)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is fn:
        return hit[1]
    prepared = PreparedKernel(fn)

    def forget(ref: weakref.ref, key: int = key, cache: dict = _CACHE) -> None:
        entry = cache.get(key)
        if entry is not None and entry[0] is ref:
            del cache[key]
    _CACHE[key] = (weakref.ref(fn, forget), prepared)
    return prepared


def run_kernel(fn: Function, grid: tuple[int, int, int], args: Sequence[object], *,
               kernel_name: str | None = None) -> None:
    """Interpret ``fn`` on ``grid`` with ``args`` in ``fn.params`` order (see module doc).

    Tensor arguments are numpy arrays (any strides) of the parameter's storage
    dtype and are written in place; scalar arguments are converted to their
    parameter's dtype. Errors while running raise ``KernelError`` naming the
    kernel (``kernel_name`` or ``fn.name``), source line and program id.
    """
    prepare(fn).run(grid, args, kernel_name=kernel_name)
