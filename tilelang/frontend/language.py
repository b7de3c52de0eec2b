"""The language's public functions (``tl.load``, ``tl.dot``, ...).

Each is a *builtin*: callable only while a kernel is traced, where it emits tile
IR through the current context. Arguments are handles (runtime values) or
Python constants; Python constants are folded where the result is constant.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from tilelang.errors import CompileError
from tilelang.frontend import gather_sem, random_lang
from tilelang.frontend import semantic as sem
from tilelang.frontend.context import current
from tilelang.frontend.handles import Handle, SharedHandle, TensorHandle, TileHandle
from tilelang.ir import ops
from tilelang.ir.types import ScalarType, i32

F = TypeVar("F", bound=Callable[..., Any])


def builtin(fn: F) -> F:
    """Mark ``fn`` as a language function: it needs an active tracing context."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current(f"tl.{fn.__name__}")
        return fn(*args, **kwargs)

    wrapper.__tl_builtin__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# annotations and loop markers
# ---------------------------------------------------------------------------

class constexpr:
    """Annotation of a compile-time parameter: ``BLOCK: tl.constexpr = 128``."""


class Tensor:
    """Annotation of a tensor parameter (any array with DLPack or the CUDA array interface)."""


class static_range:
    """``for i in tl.static_range(n)``: the loop is unrolled at compile time."""

    def __init__(self, start: int, stop: int | None = None, step: int = 1) -> None:
        if stop is None:
            start, stop = 0, start
        for v in (start, stop, step):
            if isinstance(v, Handle) or not isinstance(v, int):
                raise CompileError(
                    f"tl.static_range bounds must be compile-time ints, got {v!r}",
                    hint="use range(...) for a loop with runtime bounds")
        self.range = range(start, stop, step)


class pipeline:
    """``for k in tl.pipeline(n, stages=S)``: a loop the compiler software-pipelines.

    ``tl.pipeline(n)`` runs ``k`` over ``range(n)``; ``tl.pipeline(start, stop, step)``
    as ``range`` does. Semantics are those of a plain loop.
    """

    def __init__(self, *bounds: Any, stages: int = 2) -> None:
        if not 1 <= len(bounds) <= 3:
            raise CompileError("tl.pipeline takes 1 to 3 bounds like range()")
        if isinstance(stages, Handle) or not isinstance(stages, int) or stages < 1:
            raise CompileError(f"tl.pipeline stages must be a positive compile-time int, "
                               f"got {stages!r}")
        self.bounds = bounds
        self.stages = stages


# ---------------------------------------------------------------------------
# program ids and constants
# ---------------------------------------------------------------------------

@builtin
def program_id(axis: int) -> TileHandle:
    """Index of this program instance along ``axis`` (0, 1 or 2)."""
    _axis(axis, "tl.program_id")
    op = current().emit(ops.ProgramIdOp, (ScalarType(i32),), hint="pid", axis=axis)
    return TileHandle(op.result)


@builtin
def num_programs(axis: int) -> TileHandle:
    """Number of program instances along ``axis``."""
    _axis(axis, "tl.num_programs")
    op = current().emit(ops.NumProgramsOp, (ScalarType(i32),), axis=axis)
    return TileHandle(op.result)


def _axis(axis: Any, what: str) -> None:
    if isinstance(axis, Handle) or axis not in (0, 1, 2) or isinstance(axis, bool):
        raise CompileError(f"{what} axis must be 0, 1 or 2 (a constant), got {axis!r}")


@builtin
def zeros(shape: Any, dtype: Any) -> TileHandle:
    """A register tile of zeros."""
    return full(shape, 0, dtype)


@builtin
def full(shape: Any, value: Any, dtype: Any) -> TileHandle:
    """A register tile with every element equal to ``value`` (constant or runtime scalar)."""
    shape = sem.static_shape(shape, "the shape of tl.full/tl.zeros")
    dt = sem.as_dtype(dtype)
    v = sem.cast(sem.to_handle(value, dt), dt)
    if not v.is_scalar:
        raise CompileError("tl.full's value must be a scalar")
    return sem.broadcast_to(v, shape)


@builtin
def arange(start: int, stop: int | None = None) -> TileHandle:
    """The i32 tile ``[start, ..., stop - 1]`` (``arange(n)`` starts at 0)."""
    if stop is None:
        start, stop = 0, start
    for v in (start, stop):
        if isinstance(v, Handle) or not isinstance(v, int):
            raise CompileError(f"tl.arange bounds must be compile-time ints, got {v!r}",
                               hint="add a runtime offset afterwards: base + tl.arange(N)")
    if stop <= start:
        raise CompileError(f"tl.arange({start}, {stop}) is empty")
    op = current().emit(ops.ArangeOp, (sem.TileType((stop - start,), i32),),
                        start=start, stop=stop)
    return TileHandle(op.result)


def cdiv(a: Any, b: Any) -> Any:
    """Ceiling division of non-negative integers; on constants it also works on the host
    (``kernel[(tl.cdiv(n, BLOCK),)]``)."""
    if not sem.is_runtime(a) and not sem.is_runtime(b):
        return -(-a // b)
    current("tl.cdiv")
    return sem.binary("floordiv", sem.binary("sub", sem.binary("add", a, b), 1), b,
                      python_rules=False)  # non-negative: truncation is floor


cdiv.__tl_builtin__ = True  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------
# elementwise math
# ---------------------------------------------------------------------------

def _unary(fn: str) -> Callable[[Any], Any]:
    def f(x: Any) -> Any:
        return sem.unary(fn, x)
    f.__name__ = fn
    f.__doc__ = f"Elementwise {fn} (integers are converted to f32 first)."
    return builtin(f)


exp = _unary("exp")
exp2 = _unary("exp2")
log = _unary("log")
log2 = _unary("log2")
sqrt = _unary("sqrt")
rsqrt = _unary("rsqrt")
sin = _unary("sin")
cos = _unary("cos")
tanh = _unary("tanh")
floor = _unary("floor")
ceil = _unary("ceil")
sigmoid = _unary("sigmoid")
abs = _unary("abs")  # noqa: A001 - the language's name


@builtin
def maximum(a: Any, b: Any) -> Any:
    """Elementwise maximum (NaN-propagating)."""
    return sem.binary("maximum", a, b)


@builtin
def minimum(a: Any, b: Any) -> Any:
    """Elementwise minimum (NaN-propagating)."""
    return sem.binary("minimum", a, b)


@builtin
def where(cond: Any, x: Any, y: Any) -> Any:
    """``x`` where ``cond`` holds, else ``y`` (broadcasting)."""
    return sem.where(cond, x, y)


@builtin
def cast(x: Any, dtype: Any) -> TileHandle:
    """``x`` converted to ``dtype`` (same as ``x.to(dtype)``)."""
    return sem.cast(x, dtype)


@builtin
def trans(x: Any) -> TileHandle:
    """Transpose of a 2-D tile."""
    return sem.trans(x)


@builtin
def reshape(x: Any, shape: Any) -> TileHandle:
    """``x`` with another static shape (same number of elements)."""
    return sem.reshape(x, tuple(shape) if isinstance(shape, (tuple, list)) else (shape,))


@builtin
def broadcast_to(x: Any, shape: Any) -> TileHandle:
    """``x`` stretched to ``shape`` with numpy's rules."""
    return sem.broadcast_to(sem.to_handle(x), sem.static_shape(shape, "broadcast_to's shape"))


# ---------------------------------------------------------------------------
# reductions and dot
# ---------------------------------------------------------------------------

@builtin
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> TileHandle:  # noqa: A001
    """Sum along ``axis`` (all axes when ``None``); small ints and bool sum in i32."""
    return sem.reduce("sum", x, axis, keepdims)


@builtin
def max(x: Any, axis: Any = None, keepdims: bool = False) -> TileHandle:  # noqa: A001
    """Maximum along ``axis`` (all axes when ``None``)."""
    return sem.reduce("max", x, axis, keepdims)


@builtin
def min(x: Any, axis: Any = None, keepdims: bool = False) -> TileHandle:  # noqa: A001
    """Minimum along ``axis`` (all axes when ``None``)."""
    return sem.reduce("min", x, axis, keepdims)


@builtin
def dot(a: Any, b: Any, acc: Any = None, out_dtype: Any = None) -> TileHandle:
    """``a @ b + acc``; without ``acc`` accumulates from zero in f32 (i32 for ints)."""
    return sem.dot(a, b, acc, out_dtype)


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------

@builtin
def load(x: Any, offsets: Any, shape: Any = None, other: Any = None,
         mask: Any = None) -> TileHandle:
    """The window ``x[offsets : offsets + shape]``; outside ``x.shape`` reads ``other`` (0).
    With index tiles in ``offsets`` and no ``shape``: ``tl.gather(x, offsets, ...)``."""
    if shape is None:
        if gather_sem.is_index_form(offsets):
            return gather_sem.gather(x, offsets, mask, other)
        raise CompileError("tl.load needs a window shape: tl.load(X, offsets, shape)",
                           hint="or give index tiles as offsets to gather elements")
    return sem.load(x, offsets, shape, other, mask)


@builtin
def store(x: Any, offsets: Any, tile: Any, mask: Any = None) -> None:
    """Write ``tile`` at ``offsets``; elements outside ``x.shape`` are not written.
    With index tiles in ``offsets``: ``tl.scatter(x, offsets, tile, ...)``."""
    if gather_sem.is_index_form(offsets):
        return gather_sem.scatter(x, offsets, tile, mask, "", "tl.store")
    sem.store(x, offsets, tile, mask)


@builtin
def atomic_add(x: Any, offsets: Any, tile: Any, mask: Any = None) -> None:
    """Atomically add ``tile`` into ``x`` at ``offsets`` (bounds as ``tl.store``).
    With index tiles in ``offsets``: ``tl.scatter_add(x, offsets, tile, ...)``."""
    if gather_sem.is_index_form(offsets):
        return gather_sem.scatter(x, offsets, tile, mask, "add", "tl.atomic_add")
    sem.atomic_add(x, offsets, tile, mask)


@builtin
def randint4x(seed: Any, offset: Any) -> tuple[TileHandle, ...]:
    """The four u32 words of Philox4x32-10 at counter ``offset`` under key ``seed``."""
    return random_lang.philox(seed, offset)


@builtin
def randint(seed: Any, offset: Any) -> TileHandle:
    """A u32 random number per ``offset`` (the first Philox4x32-10 word)."""
    return random_lang.philox(seed, offset)[0]


@builtin
def rand(seed: Any, offset: Any) -> TileHandle:
    """An f32 uniform in [0, 1) per ``offset`` (24 random bits)."""
    return random_lang.uniform(random_lang.philox(seed, offset)[0])


@builtin
def randn(seed: Any, offset: Any) -> TileHandle:
    """An f32 standard normal per ``offset`` (Box-Muller of two Philox words)."""
    w = random_lang.philox(seed, offset)
    return random_lang.normal(w[0], w[1])


@builtin
def gather(x: Any, indices: Any, mask: Any = None, other: Any = None) -> TileHandle:
    """``x[indices]`` elementwise, numpy's advanced indexing: one index (tile or scalar)
    per axis, broadcast together; out of bounds or masked off reads ``other`` (0)."""
    return gather_sem.gather(x, indices, mask, other)


@builtin
def scatter(x: Any, indices: Any, value: Any, mask: Any = None) -> None:
    """``x[indices] = value`` elementwise (out of bounds or masked: skipped)."""
    gather_sem.scatter(x, indices, value, mask, "", "tl.scatter")


@builtin
def scatter_add(x: Any, indices: Any, value: Any, mask: Any = None) -> None:
    """``x[indices] += value`` elementwise and atomically (duplicates all add up)."""
    gather_sem.scatter(x, indices, value, mask, "add", "tl.scatter_add")


@builtin
def alloc_shared(shape: Any, dtype: Any) -> SharedHandle:
    """A shared-memory buffer; fill it with ``tl.copy`` or ``s.store``."""
    return sem.alloc_shared(shape, dtype)


@builtin
def copy(x: Any, offsets: Any, dst: Any) -> None:
    """Copy ``x[offsets : offsets + dst.shape]`` into the shared buffer ``dst`` (zero outside)."""
    sem.copy(x, offsets, dst)


@builtin
def barrier() -> None:
    """Synchronize all threads of the program instance."""
    current().emit(ops.BarrierOp)


# ---------------------------------------------------------------------------
# debugging
# ---------------------------------------------------------------------------

@builtin
def print(prefix: Any, *values: Any) -> None:  # noqa: A001
    """Print ``prefix`` and the values from each program instance."""
    if not isinstance(prefix, str):
        values = (prefix,) + values
        prefix = ""
    hs = []
    for v in values:
        if isinstance(v, TensorHandle):
            raise CompileError(f"tl.print cannot print tensor '{v.name}'; load a tile first")
        hs.append(sem.to_handle(v).value)
    current().emit(ops.PrintOp, prefix=prefix, values=tuple(hs))


@builtin
def device_assert(cond: Any, msg: str = "") -> None:
    """Stop the kernel with ``msg`` if ``cond`` is false anywhere."""
    if not isinstance(msg, str):
        raise CompileError("tl.device_assert's message must be a constant string")
    if not sem.is_runtime(cond):
        if not cond:
            raise CompileError(f"device_assert is false at compile time: {msg}")
        return
    c = sem.to_handle(cond)
    if not c.dtype.is_bool:
        c = sem.binary("ne", c, 0)
    current().emit(ops.AssertOp, message=msg, cond=c.value)


@builtin
def static_assert(cond: Any, msg: str = "") -> None:
    """A compile-time check on constexpr values."""
    if sem.is_runtime(cond):
        raise CompileError("tl.static_assert needs a compile-time condition",
                           hint="use tl.device_assert for runtime values")
    if not cond:
        raise CompileError(f"static_assert failed: {msg}")
