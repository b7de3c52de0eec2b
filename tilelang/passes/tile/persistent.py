"""persistent-tiles: grouped (L2-friendly) tile order and persistent programs.

Contract. Input and output are verified tile-IR modules. A function is changed
only when its attributes ask for it (``@tl.kernel(persistent=..., group_m=...)``
records them; see docs/persistent.md):

* ``group_m = G`` (an int >= 1) alone: the program's linear id
  ``lin = program_id(0) + program_id(1) * num_programs(0)`` (the order in which
  a GPU starts the blocks of a 2-D grid) is mapped to a tile ``(pid_m, pid_n)``
  in *grouped* order, as in Triton's matmul tutorial: ``G`` consecutive rows of
  tiles are walked column by column, so programs running together share rows of
  A and columns of B in L2. Every use of ``tl.program_id(0)`` / ``(1)`` reads
  ``pid_m`` / ``pid_n``. The map is a bijection of ``[0, nx) x [0, ny)``, so the
  kernel's results do not change; axis 2 and ``tl.num_programs`` are untouched.
* ``persistent = true``: the function's last two parameters are the i32 scalars
  ``tl_tiles_x``, ``tl_tiles_y``, the logical grid of tiles (the runtime launches
  a fixed number of programs and passes the grid the user asked for; see
  ``tilelang/runtime/persistent_launch.py``). The body, all but its final
  ``tl.return``, becomes
  ``for t in range(program_id(0), tl_tiles_x * tl_tiles_y, num_programs(0))``;
  each iteration maps ``t`` to ``(pid_m, pid_n)`` (grouped when ``group_m`` is
  set, else in launch order ``t % tiles_x, t // tiles_x``) and runs the original
  body with ``tl.program_id(0/1/2)`` reading ``pid_m, pid_n, 0`` and
  ``tl.num_programs(0/1/2)`` reading ``tl_tiles_x, tl_tiles_y, 1``. Each
  iteration does what the program of that tile did in the non-persistent launch.

A kernel body that does not end in its only ``tl.return`` cannot be wrapped in
a loop; the frontend never produces one, and the pass refuses it with an
``IRError``.
"""

from __future__ import annotations

from dataclasses import replace

from tilelang.errors import IRError
from tilelang.ir import ops as o
from tilelang.ir.builder import Builder
from tilelang.ir.control_ops import ForOp, ReturnOp, YieldOp
from tilelang.ir.ops import Op, Trait, walk
from tilelang.ir.rewrite import map_regions, substitute
from tilelang.ir.types import ScalarType, i32
from tilelang.ir.values import Block, Function, Loc, Module, Value

# the names of the logical-grid parameters the runtime appends to a persistent kernel
TILE_PARAMS = ("tl_tiles_x", "tl_tiles_y")
PERSISTENT_ATTR = "persistent"
GROUP_ATTR = "group_m"

_I32 = ScalarType(i32)


def run(module: Module) -> Module:
    return Module(tuple(_function(f) for f in module.functions))


def _function(fn: Function) -> Function:
    persistent = bool(fn.attr(PERSISTENT_ATTR, False))
    group = fn.attr(GROUP_ATTR)
    if not persistent and group is None:
        return fn
    if group is not None and (not isinstance(group, int) or group < 1):
        raise IRError(f"function @{fn.name}: group_m must be an int >= 1, got {group!r}")
    names = {p.name for p in fn.params} | {v.name for op in walk(fn.body)
                                           for v in (*op.results, *_region_args(op))}
    em = _Emitter(Builder(reserved=tuple(names)), fn.loc)
    if persistent:
        return replace(fn, body=_persistent_body(fn, em, group))
    return replace(fn, body=_grouped_body(fn, em, group))


def _region_args(op: Op) -> tuple[Value, ...]:
    return tuple(a for r in op.regions() for a in r.args)


class _Emitter:
    """Fresh i32 scalars and the ops that define them, collected in order."""

    def __init__(self, b: Builder, loc: Loc | None) -> None:
        self.b, self.loc, self.ops = b, loc, []

    def const(self, value: int) -> Value:
        v = self.b.fresh(_I32)
        self.ops.append(o.ConstantOp(value=value, results=(v,), loc=self.loc))
        return v

    def binary(self, fn: str, lhs: Value, rhs: Value, hint: str | None = None) -> Value:
        v = self.b.fresh(_I32, hint)
        self.ops.append(o.BinaryOp(fn=fn, lhs=lhs, rhs=rhs, results=(v,), loc=self.loc))
        return v

    def grid_query(self, cls: type, axis: int, hint: str) -> Value:
        v = self.b.fresh(_I32, hint)
        self.ops.append(cls(axis=axis, results=(v,), loc=self.loc))
        return v

    def take(self) -> list[Op]:
        out, self.ops = self.ops, []
        return out


def _tile_of(em: _Emitter, lin: Value, nx: Value, ny: Value,
             group: int | None) -> tuple[Value, Value]:
    """``(pid_m, pid_n)`` of linear tile id ``lin`` on an ``nx`` x ``ny`` grid."""
    if group is None:
        return em.binary("mod", lin, nx, "pid_m"), em.binary("floordiv", lin, nx, "pid_n")
    # Triton's grouped order; all values are non-negative, so C division is floor division
    g = em.const(group)
    per_group = em.binary("mul", g, ny, "tiles_per_group")
    first_m = em.binary("mul", em.binary("floordiv", lin, per_group, "group_id"), g,
                        "first_m")
    rows = em.binary("minimum", em.binary("sub", nx, first_m), g, "group_rows")
    within = em.binary("mod", lin, per_group, "in_group")
    pid_m = em.binary("add", first_m, em.binary("mod", within, rows), "pid_m")
    pid_n = em.binary("floordiv", within, rows, "pid_n")
    return pid_m, pid_n


def _strip_grid_queries(block: Block, axes: tuple[int, ...]) -> tuple[Block, dict[str, tuple]]:
    """``block`` without its ``tl.program_id``/``tl.num_programs`` ops on ``axes`` (in any
    region), and each removed result's name mapped to ``(op class, axis)``."""
    removed: dict[str, tuple] = {}

    def strip(b: Block) -> Block:
        kept = []
        for op in b.ops:
            if isinstance(op, (o.ProgramIdOp, o.NumProgramsOp)) and op.axis in axes:
                removed[op.result.name] = (type(op), op.axis)
                continue
            kept.append(map_regions(op, strip) if op.regions() else op)
        return Block(b.args, tuple(kept))

    return strip(block), removed


def _split_return(fn: Function) -> tuple[tuple[Op, ...], Op]:
    ops = fn.body.ops
    if not ops or not isinstance(ops[-1], ReturnOp) or \
            any(isinstance(op, ReturnOp) for op in walk(Block((), ops[:-1]))):
        raise IRError(f"function @{fn.name}: a persistent kernel's body must end in its "
                      f"only tl.return")
    return ops[:-1], ops[-1]


def _hoist_invariants(ops: tuple[Op, ...], outside: set[str]) -> tuple[tuple[Op, ...],
                                                                       tuple[Op, ...]]:
    """Split top-level ``ops`` into those that are the same for every tile (pure scalar
    ops reading only ``outside`` values and earlier such ops: tensor shapes,
    strides, constants and what follows from them), to run once before the tile loop,
    and the rest, in order."""
    known, hoisted, rest = set(outside), [], []
    for op in ops:
        # scalars only: a hoisted tile would hold its registers across every tile
        if op.has_trait(Trait.PURE) and not op.regions() and op.results and \
                all(isinstance(r.type, ScalarType) for r in op.results) and \
                all(v.name in known for v in op.operand_values()):
            hoisted.append(op)
            known.update(r.name for r in op.results)
        else:
            rest.append(op)
    return tuple(hoisted), tuple(rest)


def _grouped_body(fn: Function, em: _Emitter, group: int) -> Block:
    body, removed = _strip_grid_queries(fn.body, (0, 1))
    if not removed:
        return fn.body
    pid0 = em.grid_query(o.ProgramIdOp, 0, "pid_x")
    pid1 = em.grid_query(o.ProgramIdOp, 1, "pid_y")
    nx = em.grid_query(o.NumProgramsOp, 0, "programs_x")
    ny = em.grid_query(o.NumProgramsOp, 1, "programs_y")
    lin = em.binary("add", pid0, em.binary("mul", pid1, nx), "linear_id")
    pid_m, pid_n = _tile_of(em, lin, nx, ny, group)
    values = {(o.ProgramIdOp, 0): pid_m, (o.ProgramIdOp, 1): pid_n,
              (o.NumProgramsOp, 0): nx, (o.NumProgramsOp, 1): ny}
    mapping = {name: values[key] for name, key in removed.items()}
    return substitute(Block(body.args, tuple(em.take()) + body.ops), mapping)


def _persistent_body(fn: Function, em: _Emitter, group: int | None) -> Block:
    params = fn.params[-2:]
    if len(fn.params) < 2 or tuple(p.name for p in params) != TILE_PARAMS or \
            any(p.type != _I32 for p in params):
        raise IRError(f"function @{fn.name}: a persistent kernel's last parameters must be "
                      f"the i32 scalars {', '.join('%' + n for n in TILE_PARAMS)}")
    tiles_x, tiles_y = params
    inner, ret = _split_return(fn)
    stripped, removed = _strip_grid_queries(Block((), inner), (0, 1, 2))
    hoisted, per_tile = _hoist_invariants(stripped.ops, {p.name for p in fn.params})
    # loop bounds, before the loop
    start = em.grid_query(o.ProgramIdOp, 0, "first_tile")
    step = em.grid_query(o.NumProgramsOp, 0, "programs")
    total = em.binary("mul", tiles_x, tiles_y, "num_tiles")
    prologue = [*hoisted, *em.take()]
    # per tile: its (pid_m, pid_n), then the original body
    t = em.b.fresh(_I32, "tile")
    pid_m, pid_n = _tile_of(em, t, tiles_x, tiles_y, group)
    zero, one = em.const(0), em.const(1)
    values = {(o.ProgramIdOp, 0): pid_m, (o.ProgramIdOp, 1): pid_n, (o.ProgramIdOp, 2): zero,
              (o.NumProgramsOp, 0): tiles_x, (o.NumProgramsOp, 1): tiles_y,
              (o.NumProgramsOp, 2): one}
    mapping = {name: values[key] for name, key in removed.items()}
    loop_body = substitute(Block((t,), tuple(em.take()) + per_tile +
                                 (YieldOp(loc=fn.loc),)), mapping)
    loop = ForOp(kind="range", stages=1, lower=start, upper=total, step=step, inits=(),
                 body=loop_body, results=(), loc=fn.loc)
    return Block(fn.body.args, tuple(prologue) + (loop, ret))


__all__ = ["GROUP_ATTR", "PERSISTENT_ATTR", "TILE_PARAMS", "run"]
