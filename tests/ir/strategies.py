"""Hypothesis strategies for random, well-typed tile IR modules.

Modules are built with the ``Builder`` from one generator per op class in
``ops.ALL_OPS`` (``GENERATORS``); every generated module passes
``verify_module``. An operand of a given type is either a visible value of
that type or made on the spot (a constant, a splat, a shared buffer), so any
op can be generated anywhere, inside nested ``tl.for`` / ``tl.if`` regions too.
"""

from __future__ import annotations

from typing import Any, Callable

from hypothesis import strategies as st

from tilelang.errors import SourceLoc
from tilelang.ir import ops
from tilelang.ir.builder import Builder
from tilelang.ir.ops import Op
from tilelang.ir.types import (
    ALL_DTYPES, TENSOR_FACTS, DType, ScalarType, SharedType, TensorType, TileType, Type, bool_,
    i32, i64,
)
from tilelang.ir.values import Block, Function, Module, Value

# random modules compute on their values: low-bit storage formats (which must be cast
# before any arithmetic, docs/lowbit.md) have their own tests
COMPUTE_DTYPES = tuple(d for d in ALL_DTYPES if not d.is_lowbit)
FLOATS = tuple(d for d in COMPUTE_DTYPES if d.is_float)
INTS = tuple(d for d in COMPUTE_DTYPES if d.is_int)
DIMS = (1, 2, 4, 16)
MAX_DEPTH = 2

# Some spelled like keywords of the text format, some needing quotes.
KEYS = st.one_of(st.sampled_from(["num_warps", "BM", "tile", "loc", "none", "a.b", "x y", ""]),
                 st.text(max_size=6))
NAME_HINTS = st.sampled_from([None, "x", "acc", "tile", "none", "é", "k", "A", "bad hint"])

# Attribute values of every kind; nan is left out because nan != nan.
ATTR_LEAVES = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.text(max_size=6),
    st.none(), st.sampled_from(ALL_DTYPES),
)
ATTRS = st.recursive(ATTR_LEAVES, lambda c: st.lists(c, max_size=3).map(tuple), max_leaves=6)

LOCS = st.one_of(st.none(), st.builds(SourceLoc, st.text(max_size=8),
                                      st.integers(0, 10**6), st.integers(0, 200)))


class _Gen:
    """State of one function being generated: builder, visible values, nesting depth."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any], b: Builder,
                 tensors: list[Value], visible: list[Value]) -> None:
        self.draw = draw
        self.b = b
        self.tensors = tensors
        self.visible = visible
        self.depth = 0

    # -- types and values ------------------------------------------------------
    def shape(self, rank: int | None = None) -> tuple[int, ...]:
        if rank is None:
            rank = self.draw(st.integers(1, 3))
        return tuple(self.draw(st.sampled_from(DIMS)) for _ in range(rank))

    def dtype(self, choices: tuple[DType, ...] = COMPUTE_DTYPES) -> DType:
        return self.draw(st.sampled_from(choices))

    def value_type(self, dtype: DType | None = None) -> ScalarType | TileType:
        d = dtype or self.dtype()
        return TileType(self.shape(), d) if self.draw(st.booleans()) else ScalarType(d)

    def fresh(self, t: Type) -> Value:
        return self.b.fresh(t, self.draw(NAME_HINTS))

    def value_of(self, t: Type) -> Value:
        """A visible value of type ``t``, or a new one made by the ops this emits."""
        have = [v for v in self.visible if v.type == t]
        if have and self.draw(st.booleans()):
            return self.draw(st.sampled_from(have))
        if isinstance(t, ScalarType):
            return self.emit(ops.ConstantOp, [t], value=self.constant(t.dtype))[0]
        if isinstance(t, TileType):
            scalar = self.value_of(ScalarType(t.dtype))
            return self.emit(ops.SplatOp, [t], value=scalar)[0]
        if isinstance(t, SharedType):
            return self.emit(ops.AllocSharedOp, [t])[0]
        raise AssertionError(f"cannot make a value of {t}")

    def constant(self, d: DType) -> int | float | bool:
        if d.is_bool:
            return self.draw(st.booleans())
        if d.is_int:
            return self.draw(st.integers(-(2**31), 2**31 - 1))
        return self.draw(st.one_of(st.floats(allow_nan=False), st.integers(-100, 100)))

    def int_scalar(self) -> Value:
        return self.value_of(ScalarType(self.draw(st.sampled_from((i32, i32, i64)))))

    def tensor(self) -> Value:
        return self.draw(st.sampled_from(self.tensors))

    def emit(self, cls: type[Op], result_types: list[Type], **fields: Any) -> tuple[Value, ...]:
        results = tuple(self.fresh(t) for t in result_types)
        self.b.emit(cls(results=results, loc=self.draw(LOCS), **fields))
        self.visible.extend(results)
        return results

    # -- blocks ----------------------------------------------------------------
    def ops(self, count: int) -> None:
        for _ in range(count):
            gen = self.draw(st.sampled_from(_CHOICES))
            if gen in (_gen_for, _gen_if) and self.depth >= MAX_DEPTH:
                continue
            gen(self)

    def region(self, args: tuple[Value, ...], yield_types: list[Type]) -> Block:
        """A nested block with ``args`` that ends by yielding values of ``yield_types``."""
        saved = list(self.visible)
        self.b.push()
        self.depth += 1
        self.visible.extend(args)
        self.ops(self.draw(st.integers(0, 3)))
        values = tuple(self.value_of(t) for t in yield_types)
        self.b.emit(ops.YieldOp(values=values, loc=self.draw(LOCS)))
        self.depth -= 1
        self.visible[:] = saved  # a region's values are invisible after it
        return self.b.pop(args)


# ---------------------------------------------------------------------------
# one generator per op class
# ---------------------------------------------------------------------------

def _gen_constant(g: _Gen) -> None:
    d = g.dtype()
    g.emit(ops.ConstantOp, [ScalarType(d)], value=g.constant(d))


def _gen_axis_op(cls: type[Op]) -> Callable[[_Gen], None]:
    def gen(g: _Gen) -> None:
        g.emit(cls, [ScalarType(i32)], axis=g.draw(st.integers(0, 2)))
    return gen


def _gen_tensor_query(cls: type[Op]) -> Callable[[_Gen], None]:
    def gen(g: _Gen) -> None:
        t = g.tensor()
        g.emit(cls, [ScalarType(t.type.index_dtype)], tensor=t,
               dim=g.draw(st.integers(0, t.type.rank - 1)))
    return gen


def _gen_splat(g: _Gen) -> None:
    d = g.dtype()
    g.emit(ops.SplatOp, [TileType(g.shape(), d)], value=g.value_of(ScalarType(d)))


def _gen_arange(g: _Gen) -> None:
    start = g.draw(st.integers(-8, 8))
    n = g.draw(st.sampled_from(DIMS))
    g.emit(ops.ArangeOp, [TileType((n,), i32)], start=start, stop=start + n)


def _gen_broadcast(g: _Gen) -> None:
    dst = TileType(g.shape(), g.dtype())
    src = tuple(1 if g.draw(st.booleans()) else s for s in dst.shape)
    g.emit(ops.BroadcastOp, [dst], value=g.value_of(TileType(src, dst.dtype)))


def _gen_reshape(g: _Gen) -> None:
    src = TileType(g.shape(), g.dtype())
    dst = (src.numel,) if g.draw(st.booleans()) else src.shape[::-1]
    g.emit(ops.ReshapeOp, [TileType(dst, src.dtype)], value=g.value_of(src))


def _gen_convert_layout(g: _Gen) -> None:
    src = TileType(g.shape(), g.dtype())
    dims = ",".join(map(str, src.shape))
    kind = g.draw(st.sampled_from(["local", "spatial", "column_local", "column_spatial"]))
    g.emit(ops.ConvertLayoutOp, [TileType(src.shape, src.dtype, f"{kind}({dims})")],
           value=g.value_of(src))


def _gen_trans(g: _Gen) -> None:
    src = TileType(g.shape(2), g.dtype())
    g.emit(ops.TransOp, [TileType(src.shape[::-1], src.dtype)], value=g.value_of(src))


def _gen_binary(g: _Gen) -> None:
    fn = g.draw(st.sampled_from(ops.BINARY_FNS))
    if fn == "div":
        d = g.dtype(FLOATS)
    elif fn in ops.BITWISE_FNS:
        d = g.dtype(INTS + (bool_,))
    else:
        d = g.dtype()
    t = g.value_type(d)
    rd = bool_ if fn in ops.COMPARE_FNS else d
    rt = TileType(t.shape, rd) if isinstance(t, TileType) else ScalarType(rd)
    g.emit(ops.BinaryOp, [rt], fn=fn, lhs=g.value_of(t), rhs=g.value_of(t))


def _gen_unary(g: _Gen) -> None:
    fn = g.draw(st.sampled_from(ops.UNARY_FNS))
    if fn in ops.FLOAT_ONLY_UNARY:
        t = g.value_type(g.dtype(FLOATS))
    elif fn == "invert":
        t = g.value_type(g.dtype(INTS + (bool_,)))
    else:
        t = g.value_type()
    g.emit(ops.UnaryOp, [t], fn=fn, value=g.value_of(t))


def _bool_like(t: ScalarType | TileType) -> ScalarType | TileType:
    return TileType(t.shape, bool_) if isinstance(t, TileType) else ScalarType(bool_)


def _gen_where(g: _Gen) -> None:
    t = g.value_type()
    g.emit(ops.WhereOp, [t], cond=g.value_of(_bool_like(t)), x=g.value_of(t), y=g.value_of(t))


def _gen_cast(g: _Gen) -> None:
    t = g.value_type()
    d = g.dtype()
    rt = TileType(t.shape, d) if isinstance(t, TileType) else ScalarType(d)
    g.emit(ops.CastOp, [rt], value=g.value_of(t))


def _gen_reduce(g: _Gen) -> None:
    src = TileType(g.shape(), g.dtype())
    axis = g.draw(st.integers(0, src.rank - 1))
    keepdims = g.draw(st.booleans())
    shape = list(src.shape)
    if keepdims:
        shape[axis] = 1
    else:
        del shape[axis]
    rt: Type = TileType(tuple(shape), src.dtype) if shape else ScalarType(src.dtype)
    g.emit(ops.ReduceOp, [rt], fn=g.draw(st.sampled_from(ops.REDUCE_FNS)), axis=axis,
           keepdims=keepdims, value=g.value_of(src))


def _gen_dot(g: _Gen) -> None:
    m, k, n = (g.draw(st.sampled_from(DIMS)) for _ in range(3))
    d, acc_d = g.dtype(), g.dtype()
    acc = g.value_of(TileType((m, n), acc_d))
    g.emit(ops.DotOp, [acc.type], a=g.value_of(TileType((m, k), d)),
           b=g.value_of(TileType((k, n), d)), acc=acc)


def _window(g: _Gen) -> tuple[Value, tuple[Value, ...], tuple[int, ...]]:
    t = g.tensor()
    rank = t.type.rank
    return t, tuple(g.int_scalar() for _ in range(rank)), g.shape(rank)


def _vec(g: _Gen, shape: tuple[int, ...]) -> int:
    """A ``vec`` attribute the verifier accepts: a power of two dividing the last dim."""
    return g.draw(st.sampled_from([v for v in (1, 2, 4, 8, 16) if shape[-1] % v == 0]))


def _mask(g: _Gen, shape: tuple[int, ...]) -> Value | None:
    return g.value_of(TileType(shape, bool_)) if g.draw(st.booleans()) else None


def _gen_load(g: _Gen) -> None:
    t, offsets, shape = _window(g)
    other = g.value_of(ScalarType(t.type.dtype)) if g.draw(st.booleans()) else None
    g.emit(ops.LoadOp, [TileType(shape, t.type.dtype)], tensor=t, offsets=offsets,
           mask=_mask(g, shape), other=other, vec=_vec(g, shape))


def _gen_store_like(cls: type[Op]) -> Callable[[_Gen], None]:
    def gen(g: _Gen) -> None:
        t, offsets, shape = _window(g)
        vec = {"vec": _vec(g, shape)} if cls is ops.StoreOp else {}
        g.emit(cls, [], tensor=t, offsets=offsets,
               value=g.value_of(TileType(shape, t.type.dtype)), mask=_mask(g, shape), **vec)
    return gen


def _gen_alloc_shared(g: _Gen) -> None:
    g.emit(ops.AllocSharedOp, [SharedType(g.shape(), g.dtype())])


def _gen_copy(g: _Gen) -> None:
    t, offsets, shape = _window(g)
    g.emit(ops.CopyOp, [], tensor=t, offsets=offsets, vec=_vec(g, shape),
           dst=g.value_of(SharedType(shape, t.type.dtype)))


def _gen_shared_load(g: _Gen) -> None:
    st_ = SharedType(g.shape(), g.dtype())
    g.emit(ops.SharedLoadOp, [TileType(st_.shape, st_.dtype)], src=g.value_of(st_))


def _gen_shared_store(g: _Gen) -> None:
    st_ = SharedType(g.shape(), g.dtype())
    g.emit(ops.SharedStoreOp, [], dst=g.value_of(st_),
           value=g.value_of(TileType(st_.shape, st_.dtype)))


def _gen_barrier(g: _Gen) -> None:
    g.emit(ops.BarrierOp, [])


def _gen_print(g: _Gen) -> None:
    values = tuple(g.value_of(g.value_type()) for _ in range(g.draw(st.integers(0, 2))))
    g.emit(ops.PrintOp, [], prefix=g.draw(st.text(max_size=8)), values=values)


def _gen_assert(g: _Gen) -> None:
    cond = g.value_of(_bool_like(g.value_type()))
    g.emit(ops.AssertOp, [], message=g.draw(st.text(max_size=8)), cond=cond)


def _gen_for(g: _Gen) -> None:
    it = ScalarType(g.draw(st.sampled_from((i32, i64))))
    lower, upper, step = g.value_of(it), g.value_of(it), g.value_of(it)
    inits = tuple(g.value_of(g.value_type()) for _ in range(g.draw(st.integers(0, 2))))
    types = [v.type for v in inits]
    args = (g.fresh(it),) + tuple(g.fresh(t) for t in types)
    body = g.region(args, types)
    g.emit(ops.ForOp, types, kind=g.draw(st.sampled_from(ops.LOOP_KINDS)),
           stages=g.draw(st.integers(1, 4)), lower=lower, upper=upper, step=step,
           inits=inits, body=body)


def _gen_if(g: _Gen) -> None:
    cond = g.value_of(ScalarType(bool_))
    types: list[Type] = [g.value_type() for _ in range(g.draw(st.integers(0, 2)))]
    then = g.region((), types)
    orelse = g.region((), types)
    g.emit(ops.IfOp, types, cond=cond, then=then, orelse=orelse)


def _gen_yield(g: _Gen) -> None:
    # A yield ends a region; it comes from _Gen.region. Here: a one-iteration
    # tl.if whose regions are nothing but yields.
    if g.depth < MAX_DEPTH:
        _gen_if(g)


def _gen_return(g: _Gen) -> None:
    """Every function body ends with tl.return (see ``functions``)."""


GENERATORS: dict[type[Op], Callable[[_Gen], None]] = {
    ops.ConstantOp: _gen_constant,
    ops.ProgramIdOp: _gen_axis_op(ops.ProgramIdOp),
    ops.NumProgramsOp: _gen_axis_op(ops.NumProgramsOp),
    ops.TensorDimOp: _gen_tensor_query(ops.TensorDimOp),
    ops.TensorStrideOp: _gen_tensor_query(ops.TensorStrideOp),
    ops.SplatOp: _gen_splat,
    ops.ArangeOp: _gen_arange,
    ops.BroadcastOp: _gen_broadcast,
    ops.ReshapeOp: _gen_reshape,
    ops.ConvertLayoutOp: _gen_convert_layout,
    ops.TransOp: _gen_trans,
    ops.BinaryOp: _gen_binary,
    ops.UnaryOp: _gen_unary,
    ops.WhereOp: _gen_where,
    ops.CastOp: _gen_cast,
    ops.ReduceOp: _gen_reduce,
    ops.DotOp: _gen_dot,
    ops.LoadOp: _gen_load,
    ops.StoreOp: _gen_store_like(ops.StoreOp),
    ops.AtomicAddOp: _gen_store_like(ops.AtomicAddOp),
    ops.AllocSharedOp: _gen_alloc_shared,
    ops.CopyOp: _gen_copy,
    ops.SharedLoadOp: _gen_shared_load,
    ops.SharedStoreOp: _gen_shared_store,
    ops.BarrierOp: _gen_barrier,
    ops.PrintOp: _gen_print,
    ops.AssertOp: _gen_assert,
    ops.ForOp: _gen_for,
    ops.IfOp: _gen_if,
    ops.YieldOp: _gen_yield,
    ops.ReturnOp: _gen_return,
}
# Regions are drawn as often as any two other ops so that nesting is common.
_CHOICES = tuple(GENERATORS.values()) + (_gen_for, _gen_if)


@st.composite
def functions(draw: Callable[[st.SearchStrategy[Any]], Any], name: str = "kernel",
              focus: type[Op] | None = None, max_ops: int = 8) -> Function:
    """A random, well-typed function called ``name``; with ``focus``, its first op
    (besides helpers that make its operands) is one of that class."""
    b = Builder()
    tensors = [b.fresh(TensorType(draw(st.sampled_from(COMPUTE_DTYPES)), draw(st.integers(1, 3)),
                                  **{f: draw(st.booleans()) for f in TENSOR_FACTS}),
                       draw(st.sampled_from(["A", "B", "C", "X"])))
               for _ in range(draw(st.integers(1, 3)))]
    scalars = [b.fresh(ScalarType(draw(st.sampled_from(COMPUTE_DTYPES))), draw(NAME_HINTS))
               for _ in range(draw(st.integers(0, 2)))]
    params = tuple(tensors + scalars)
    g = _Gen(draw, b, tensors, list(params))
    if focus is not None:
        GENERATORS[focus](g)
    g.ops(draw(st.integers(0, max_ops)))
    b.emit(ops.ReturnOp(loc=draw(LOCS)))
    body = b.pop(params)
    attrs = tuple(draw(st.lists(st.tuples(KEYS, ATTRS), max_size=3)))
    return Function(name=name, params=params, body=body, attrs=attrs, loc=draw(LOCS))


FUNCTION_NAMES = st.one_of(st.sampled_from(["matmul", "k0", "0", "a.b", "my kernel"]),
                           st.text(min_size=1, max_size=6))


@st.composite
def modules(draw: Callable[[st.SearchStrategy[Any]], Any], focus: type[Op] | None = None,
            max_functions: int = 2) -> Module:
    """A random module of well-typed functions with distinct names (passes
    ``verify_module``); ``focus`` forces an op of that class into the first."""
    names = draw(st.lists(FUNCTION_NAMES, min_size=1, max_size=max_functions, unique=True))
    fns = [draw(functions(name=n, focus=focus if i == 0 else None)) for i, n in enumerate(names)]
    return Module(tuple(fns))


__all__ = ["GENERATORS", "ATTRS", "LOCS", "functions", "modules"]
