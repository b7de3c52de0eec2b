"""Typing rules of the language and the IR each construct emits.

Promotion (as in Triton): Python numbers are *weakly* typed and take the type of
the other operand (a Python float next to an integer tile gives f32); between two
runtime values the wider float wins, float beats int, f16 with bf16 gives f32, the
wider int wins and unsigned wins at equal width. Shapes broadcast with numpy's
rules; scalars splat. ``/`` on integers is true division in f32; ``//`` and ``%``
on integers truncate toward zero as in C.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from tilelang.errors import CompileError
from tilelang.frontend.context import current
from tilelang.frontend.handles import (Handle, SharedHandle, TensorHandle, TileHandle,
                                       bind_rules)
from tilelang.frontend.int_rules import python_divmod
from tilelang.ir import ops
from tilelang.ir.types import (
    DTYPES_BY_NAME, DType, ScalarType, SharedType, TileType, bf16, bool_, f16, f32, f64, i32, i64,
)

Operand = Any  # TileHandle or a Python number


# ---------------------------------------------------------------------------
# basic conversions
# ---------------------------------------------------------------------------

def is_runtime(x: Any) -> bool:
    return isinstance(x, Handle)


def as_dtype(x: Any, what: str = "dtype") -> DType:
    if isinstance(x, DType):
        return x
    if isinstance(x, str) and x in DTYPES_BY_NAME:
        return DTYPES_BY_NAME[x]
    raise CompileError(f"{what} must be a tilelang dtype such as tl.f32, got {x!r}")


def static_shape(shape: Any, what: str) -> tuple[int, ...]:
    """A compile-time tile shape, or a clear error naming ``what``."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise CompileError(f"{what} must be a tuple of compile-time ints, got {_describe(shape)}",
                           hint="tile shapes are static: use tl.constexpr parameters")
    out = []
    for s in shape:
        if isinstance(s, Handle):
            raise CompileError(
                f"{what} must be a compile-time constant, but it contains a runtime value "
                f"({_describe(s)})",
                hint="make the size a tl.constexpr parameter (e.g. BLOCK: tl.constexpr) and "
                     "let bounds checks handle the ragged edge")
        if not isinstance(s, int) or isinstance(s, bool) or s <= 0:
            raise CompileError(f"{what} must contain positive ints, got {s!r}")
        out.append(int(s))
    return tuple(out)


def python_dtype(x: Any) -> DType:
    """Default dtype of a Python constant that must become a runtime value."""
    if isinstance(x, bool):
        return bool_
    if isinstance(x, int):
        return i32 if -2**31 <= x < 2**31 else i64
    if isinstance(x, float):
        return f32
    raise CompileError(f"{_describe(x)} cannot be used as a kernel value")


def require_computable(dtype: DType, what: str) -> None:
    """A ``CompileError`` for arithmetic on a low-bit storage format."""
    if dtype.is_lowbit:
        wide = "tl.f32" if dtype.is_float else "tl.i32"
        raise CompileError(f"{what} on {dtype} values: low-bit formats are storage types "
                           "(load, store, reshape, convert), not arithmetic ones",
                           hint=f"convert first, e.g. x.to({wide}), and back with .to(tl.{dtype})")


def constant(value: Any, dtype: DType | None = None) -> TileHandle:
    """A runtime scalar holding the Python constant ``value``."""
    dtype = dtype or python_dtype(value)
    if dtype.is_lowbit:     # a storage format: the constant is made wide, then converted
        return cast(constant(value, f32 if dtype.is_float else i32), dtype)
    if dtype.is_bool:
        value = bool(value)
    elif dtype.is_float:
        value = float(value)
    else:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise CompileError(f"{value} cannot be converted to {dtype}")
            value = int(value)
        value = int(value)
    op = current().emit(ops.ConstantOp, (ScalarType(dtype),), value=value)
    return TileHandle(op.result)


def to_handle(x: Any, like: DType | None = None) -> TileHandle:
    """``x`` as a runtime value; Python numbers take dtype ``like`` when given."""
    if isinstance(x, TileHandle):
        return x
    if isinstance(x, SharedHandle):
        return shared_load(x)
    if isinstance(x, (bool, int, float)):
        return constant(x, like if like is not None else None)
    raise CompileError(f"expected a tile or a number, got {_describe(x)}")


def _describe(x: Any) -> str:
    if isinstance(x, TileHandle):
        return f"a runtime {x.value.type}"
    if isinstance(x, TensorHandle):
        return f"tensor '{x.name}' ({x.type})"
    if isinstance(x, SharedHandle):
        return f"a {x.value.type}"
    return f"{type(x).__name__} {x!r}"


def _type_of(dtype: DType, shape: tuple[int, ...]) -> ScalarType | TileType:
    return TileType(shape, dtype) if shape else ScalarType(dtype)


# ---------------------------------------------------------------------------
# promotion and broadcasting
# ---------------------------------------------------------------------------

def promote_dtypes(a: DType, b: DType) -> DType:
    """The dtype two runtime operands of dtypes ``a`` and ``b`` compute in."""
    if a == b:
        return a
    if a.is_float and b.is_float:
        if a.bits == b.bits or {a, b} == {f16, bf16}:
            return f32 if max(a.bits, b.bits) <= 16 else (a if a.bits >= b.bits else b)
        return a if a.bits > b.bits else b
    if a.is_float:
        return a
    if b.is_float:
        return b
    if a.is_bool:
        return b
    if b.is_bool:
        return a
    if a.bits != b.bits:
        return a if a.bits > b.bits else b
    return a if a.kind == "uint" else b


def weak_dtype(py: Any, other: DType) -> DType:
    """The dtype a Python number takes next to a runtime value of ``other``."""
    if isinstance(py, bool):
        return other
    if isinstance(py, float) and not other.is_float:
        return f32
    return other


def broadcast_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """numpy's broadcast of two static shapes, or a CompileError."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and x != 1 and y != 1:
            raise CompileError(
                f"shapes {a} and {b} are incompatible for broadcasting "
                f"(dimension {-i}: {x} vs {y})",
                hint="reshape one operand (e.g. x[:, None]) so that each dimension is "
                     "equal or 1")
        out.append(max(x, y) if 1 in (x, y) else x)
    return tuple(reversed(out))


def broadcast_to(x: TileHandle, shape: tuple[int, ...]) -> TileHandle:
    """``x`` stretched to ``shape`` (scalars splat, lower ranks gain leading 1s)."""
    if x.shape == shape:
        return x
    ctx = current()
    if x.is_scalar:
        op = ctx.emit(ops.SplatOp, (TileType(shape, x.dtype),), value=x.value)
        return TileHandle(op.result)
    if len(x.shape) > len(shape):
        raise CompileError(f"cannot broadcast a {x.value.type} to shape {shape}")
    if len(x.shape) < len(shape):
        x = reshape(x, (1,) * (len(shape) - len(x.shape)) + x.shape)
    if x.shape == shape:
        return x
    if broadcast_shapes(x.shape, shape) != shape:
        raise CompileError(f"cannot broadcast a {x.value.type} to shape {shape}")
    op = ctx.emit(ops.BroadcastOp, (TileType(shape, x.dtype),), value=x.value)
    return TileHandle(op.result)


def unify(a: Operand, b: Operand) -> tuple[TileHandle, TileHandle]:
    """Promote and broadcast two operands to one type."""
    if not is_runtime(a) and not is_runtime(b):
        raise CompileError("internal: unify of two constants")
    if not is_runtime(a):
        b = to_handle(b)
        a = constant(a, weak_dtype(a, b.dtype))
    elif not is_runtime(b):
        a = to_handle(a)
        b = constant(b, weak_dtype(b, a.dtype))
    a, b = to_handle(a), to_handle(b)
    dtype = promote_dtypes(a.dtype, b.dtype)
    a, b = cast(a, dtype), cast(b, dtype)
    shape = broadcast_shapes(a.shape, b.shape)
    return broadcast_to(a, shape), broadcast_to(b, shape)


# ---------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------

_PY_BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "floordiv": lambda a, b: a // b, "mod": lambda a, b: a % b,
    "pow": lambda a, b: a ** b, "and": lambda a, b: a & b, "or": lambda a, b: a | b,
    "xor": lambda a, b: a ^ b, "shl": lambda a, b: a << b, "shr": lambda a, b: a >> b,
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "maximum": max, "minimum": min,
}


def binary(fn: str, a: Operand, b: Operand, python_rules: bool = True) -> Any:
    """``fn(a, b)``: folded when both are constants, else emitted with promotion.

    ``floordiv``/``mod`` follow Python's floor rules on signed integers (and ``mod``
    on floats) unless ``python_rules`` is false (operands known non-negative)."""
    if not is_runtime(a) and not is_runtime(b):
        try:
            return _PY_BINARY[fn](a, b)
        except Exception as e:  # a user's constant expression failed
            raise CompileError(f"constant expression failed: {type(e).__name__}: {e}") from None
    for x in (a, b):
        if isinstance(x, TensorHandle):
            raise CompileError(
                f"arithmetic on tensor '{x.name}' itself is not supported",
                hint="load a tile with tl.load(X, offsets, shape) and compute on the tile")
        if not isinstance(x, (TileHandle, SharedHandle, bool, int, float)):
            raise CompileError(f"unsupported operand {_describe(x)} for {fn}")
    b_const = None if is_runtime(b) else b
    a, b = unify(a, b)
    require_computable(a.dtype, f"'{fn}'")
    if python_rules and fn in ("floordiv", "mod") and \
            (a.dtype.is_signed or (fn == "mod" and a.dtype.is_float)):
        return python_divmod(fn, a, b, b_const)
    if fn == "div" and not a.dtype.is_float:
        a, b = cast(a, f32), cast(b, f32)
    if fn == "pow" and not a.dtype.is_float:
        a, b = cast(a, f32), cast(b, f32)
    if fn in ops.BITWISE_FNS and a.dtype.is_float:
        raise CompileError(f"'{fn}' needs integer or bool operands, got {a.dtype}")
    out_dtype = bool_ if fn in ops.COMPARE_FNS else a.dtype
    op = current().emit(ops.BinaryOp, (_type_of(out_dtype, a.shape),), fn=fn,
                        lhs=a.value, rhs=b.value)
    return TileHandle(op.result)


_PY_UNARY = {
    "neg": lambda x: -x, "not": lambda x: not x, "invert": lambda x: ~x, "abs": abs,
    "exp": math.exp, "exp2": lambda x: 2.0 ** x, "log": math.log, "log2": math.log2,
    "sqrt": math.sqrt, "rsqrt": lambda x: 1.0 / math.sqrt(x), "sin": math.sin,
    "cos": math.cos, "tanh": math.tanh, "floor": math.floor, "ceil": math.ceil,
    "sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)),
}


def unary(fn: str, x: Operand) -> Any:
    """``fn(x)``; math functions convert integer operands to f32 first."""
    if not is_runtime(x):
        try:
            return _PY_UNARY[fn](x)
        except Exception as e:
            raise CompileError(f"constant expression failed: {type(e).__name__}: {e}") from None
    x = to_handle(x)
    require_computable(x.dtype, f"'{fn}'")
    if fn in ops.FLOAT_ONLY_UNARY and not x.dtype.is_float:
        x = cast(x, f32)
    if fn == "not" and not x.dtype.is_bool:
        return binary("eq", x, 0)
    if fn == "invert" and x.dtype.is_float:
        raise CompileError(f"'~' needs an integer or bool operand, got {x.dtype}")
    op = current().emit(ops.UnaryOp, (x.value.type,), fn=fn, value=x.value)
    return TileHandle(op.result)


def cast(x: Operand, dtype: Any) -> TileHandle:
    dtype = as_dtype(dtype, "the target of .to()")
    x = to_handle(x, dtype)
    if x.dtype == dtype:
        return x
    op = current().emit(ops.CastOp, (_type_of(dtype, x.shape),), value=x.value)
    return TileHandle(op.result)


def where(cond: Operand, x: Operand, y: Operand) -> Any:
    if not is_runtime(cond):
        return x if cond else y
    c = to_handle(cond)
    if not c.dtype.is_bool:
        c = binary("ne", c, 0)
    if not is_runtime(x) and not is_runtime(y):
        x = constant(x)
    x, y = unify(x, y)
    shape = broadcast_shapes(c.shape, x.shape)
    c, x, y = broadcast_to(c, shape), broadcast_to(x, shape), broadcast_to(y, shape)
    op = current().emit(ops.WhereOp, (x.value.type,), cond=c.value, x=x.value, y=y.value)
    return TileHandle(op.result)


# ---------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------

def normalize_axis(axis: Any, rank: int, what: str) -> int:
    if isinstance(axis, Handle) or not isinstance(axis, int) or isinstance(axis, bool):
        raise CompileError(f"{what}: axis must be a compile-time int, got {_describe(axis)}")
    if not -rank <= axis < rank:
        raise CompileError(f"{what}: axis {axis} is out of range for rank {rank}")
    return axis % rank


def reshape(x: Operand, shape: Sequence[int]) -> TileHandle:
    x = to_handle(x)
    shape = static_shape(tuple(shape), "reshape's shape")
    numel = math.prod(x.shape)
    if math.prod(shape) != numel:
        raise CompileError(f"cannot reshape {x.value.type} ({numel} elements) to {shape}")
    if x.is_scalar:
        return broadcast_to(x, shape)
    if shape == x.shape:
        return x
    op = current().emit(ops.ReshapeOp, (TileType(shape, x.dtype),), value=x.value)
    return TileHandle(op.result)


def subscript(x: TileHandle, index: Any) -> TileHandle:
    """``x[:, None]``-style indexing: full slices keep a dimension, ``None`` adds one."""
    if not isinstance(index, tuple):
        index = (index,)
    shape: list[int] = []
    dims = iter(x.shape)
    consumed = 0
    for item in index:
        if item is None:
            shape.append(1)
        elif isinstance(item, slice) and item == slice(None):
            try:
                shape.append(next(dims))
            except StopIteration:
                raise CompileError(f"too many indices for a {x.value.type}") from None
            consumed += 1
        elif item is Ellipsis:
            rest = x.shape[consumed:]
            n_after = sum(1 for i in index[index.index(Ellipsis) + 1:] if i is not None)
            for _ in range(len(rest) - n_after):
                shape.append(next(dims))
                consumed += 1
        else:
            raise CompileError(
                f"tiles support only x[:, None]-style indexing, got index {item!r}",
                hint="to take part of a tile, load a smaller window with tl.load")
    shape.extend(dims)
    return reshape(x, tuple(shape))


def trans(x: Operand) -> TileHandle:
    x = to_handle(x)
    if x.ndim != 2:
        raise CompileError(f"tl.trans needs a 2-D tile, got {x.value.type}")
    op = current().emit(ops.TransOp, (TileType(x.shape[::-1], x.dtype),), value=x.value)
    return TileHandle(op.result)


# ---------------------------------------------------------------------------
# reductions and dot
# ---------------------------------------------------------------------------

def reduce(fn: str, x: Operand, axis: Any, keepdims: bool) -> TileHandle:
    x = to_handle(x)
    if x.is_scalar:
        return x
    if fn == "sum" and (x.dtype.is_bool or (x.dtype.is_int and x.dtype.bits < 32)):
        x = cast(x, i32)
    require_computable(x.dtype, f"tl.{fn}")
    if axis is None:
        flat = reshape(x, (math.prod(x.shape),))
        out = reduce(fn, flat, 0, False)
        return reshape(out, (1,) * x.ndim) if keepdims else out
    axis = normalize_axis(axis, x.ndim, f"tl.{fn}")
    shape = list(x.shape)
    if keepdims:
        shape[axis] = 1
    else:
        del shape[axis]
    op = current().emit(ops.ReduceOp, (_type_of(x.dtype, tuple(shape)),), fn=fn, axis=axis,
                        keepdims=bool(keepdims), value=x.value)
    return TileHandle(op.result)


def dot(a: Any, b: Any, acc: Any = None, out_dtype: Any = None) -> TileHandle:
    a, b = to_handle(a), to_handle(b)
    if a.ndim != 2 or b.ndim != 2:
        raise CompileError(f"tl.dot needs 2-D tiles (or 3-D batched ones), got "
                           f"{a.value.type} and {b.value.type}",
                           hint="reshape operands to (M, K) and (K, N)")
    if a.shape[1] != b.shape[0]:
        raise CompileError(
            f"tl.dot inner dimensions differ: {a.value.type} @ {b.value.type} "
            f"({a.shape[1]} != {b.shape[0]})",
            hint="the second dimension of a must equal the first dimension of b")
    if a.dtype != b.dtype:
        raise CompileError(f"tl.dot operands have different dtypes {a.dtype} and {b.dtype}",
                           hint="convert one with .to(...)")
    shape = (a.shape[0], b.shape[1])
    if acc is None:
        acc_dtype = as_dtype(out_dtype) if out_dtype is not None else \
            (f64 if a.dtype == f64 else f32 if a.dtype.is_float else i32)
        acc = broadcast_to(constant(0, acc_dtype), shape)
    else:
        acc = to_handle(acc)
        if acc.shape != shape:
            raise CompileError(f"tl.dot accumulator is {acc.value.type} but "
                               f"{a.value.type} @ {b.value.type} has shape {shape}")
    op = current().emit(ops.DotOp, (acc.value.type,), a=a.value, b=b.value, acc=acc.value)
    return TileHandle(op.result)


# ---------------------------------------------------------------------------
# tensors and memory
# ---------------------------------------------------------------------------

def tensor_dim(x: TensorHandle, dim: int) -> TileHandle:
    op = current().emit(ops.TensorDimOp, (ScalarType(x.value.type.index_dtype),),
                        tensor=x.value, dim=dim)
    return TileHandle(op.result)


def tensor_stride(x: TensorHandle, dim: int) -> TileHandle:
    op = current().emit(ops.TensorStrideOp, (ScalarType(x.value.type.index_dtype),),
                        tensor=x.value, dim=dim)
    return TileHandle(op.result)


def _tensor(x: Any, what: str) -> TensorHandle:
    if not isinstance(x, TensorHandle):
        raise CompileError(f"{what} needs a tensor argument as its first operand, "
                           f"got {_describe(x)}")
    return x


def _offsets(x: TensorHandle, offsets: Any, what: str) -> tuple:
    if not isinstance(offsets, (tuple, list)):
        offsets = (offsets,)
    if len(offsets) != x.ndim:
        raise CompileError(
            f"{what} of {x.ndim}-D tensor '{x.name}' needs {x.ndim} offsets, got {len(offsets)}",
            hint=f"give one offset per dimension of '{x.name}' (its rank is {x.ndim})")
    out = []
    for o in offsets:
        h = to_handle(o, i32) if not is_runtime(o) else to_handle(o)
        if not h.is_scalar or not (h.dtype.is_int or h.dtype.is_bool):
            raise CompileError(f"{what} offsets must be integer scalars, got {_describe(o)}")
        out.append(h.value)
    return tuple(out)


def _window_shape(x: TensorHandle, shape: Any, what: str) -> tuple[int, ...]:
    shape = static_shape(shape, f"the shape of {what}")
    if len(shape) != x.ndim:
        raise CompileError(
            f"{what} of {x.ndim}-D tensor '{x.name}' needs a {x.ndim}-D shape, got {shape}",
            hint="a tl.load shape has the tensor's rank; use .reshape() to drop unit "
                 "dimensions afterwards")
    return shape


def _mask(mask: Any, shape: tuple[int, ...]) -> Any:
    if mask is None:
        return None
    m = to_handle(mask)
    if not m.dtype.is_bool:
        m = binary("ne", m, 0)
    try:
        return broadcast_to(m, shape).value
    except CompileError as e:
        raise CompileError(f"mask of shape {m.shape} does not fit the tile {shape}: "
                           f"{e.message}") from None


def load(x: Any, offsets: Any, shape: Any, other: Any = None, mask: Any = None) -> TileHandle:
    x = _tensor(x, "tl.load")
    offs = _offsets(x, offsets, "tl.load")
    shape = _window_shape(x, shape, "tl.load")
    other_v = None
    if other is not None and not (not is_runtime(other) and other == 0):
        oh = to_handle(other, x.dtype)
        if not oh.is_scalar:
            raise CompileError("tl.load's other= must be a scalar")
        other_v = cast(oh, x.dtype).value
    op = current().emit(ops.LoadOp, (TileType(shape, x.dtype),), tensor=x.value, offsets=offs,
                        mask=_mask(mask, shape), other=other_v)
    return TileHandle(op.result)


def _stored_tile(x: TensorHandle, tile: Any, what: str) -> TileHandle:
    t = to_handle(tile, x.dtype)
    if t.ndim > x.ndim:
        raise CompileError(f"{what} of a {t.value.type} into {x.ndim}-D tensor '{x.name}'",
                           hint="reshape the tile to the tensor's rank")
    if t.ndim < x.ndim:
        t = reshape(t, (1,) * (x.ndim - t.ndim) + t.shape)
    return cast(t, x.dtype)


def store(x: Any, offsets: Any, tile: Any, mask: Any = None) -> None:
    x = _tensor(x, "tl.store")
    offs = _offsets(x, offsets, "tl.store")
    t = _stored_tile(x, tile, "tl.store")
    current().emit(ops.StoreOp, tensor=x.value, offsets=offs, value=t.value,
                   mask=_mask(mask, t.shape))


def atomic_add(x: Any, offsets: Any, tile: Any, mask: Any = None) -> None:
    x = _tensor(x, "tl.atomic_add")
    offs = _offsets(x, offsets, "tl.atomic_add")
    t = _stored_tile(x, tile, "tl.atomic_add")
    current().emit(ops.AtomicAddOp, tensor=x.value, offsets=offs, value=t.value,
                   mask=_mask(mask, t.shape))


def alloc_shared(shape: Any, dtype: Any) -> SharedHandle:
    shape = static_shape(shape, "the shape of tl.alloc_shared")
    op = current().emit(ops.AllocSharedOp, (SharedType(shape, as_dtype(dtype)),), hint="smem")
    return SharedHandle(op.result)


def copy(x: Any, offsets: Any, dst: Any) -> None:
    x = _tensor(x, "tl.copy")
    if not isinstance(dst, SharedHandle):
        raise CompileError(f"tl.copy copies into a tl.alloc_shared buffer, got {_describe(dst)}")
    if dst.dtype != x.dtype:
        raise CompileError(f"tl.copy from {x.dtype} tensor '{x.name}' into a {dst.dtype} buffer",
                           hint="allocate the shared buffer with the tensor's dtype")
    offs = _offsets(x, offsets, "tl.copy")
    _window_shape(x, dst.shape, "tl.copy")
    current().emit(ops.CopyOp, tensor=x.value, offsets=offs, dst=dst.value)


def shared_load(s: SharedHandle) -> TileHandle:
    op = current().emit(ops.SharedLoadOp, (TileType(s.shape, s.dtype),), src=s.value)
    return TileHandle(op.result)


def shared_store(s: SharedHandle, tile: Any) -> None:
    t = cast(broadcast_to(to_handle(tile, s.dtype), s.shape), s.dtype)
    current().emit(ops.SharedStoreOp, dst=s.value, value=t.value)


bind_rules(trans=trans, cast=cast, reshape=reshape, normalize_axis=normalize_axis,
           shared_load=shared_load, shared_store=shared_store)
