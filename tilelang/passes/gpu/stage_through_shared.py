"""stage-through-shared: tl.dot operands loaded from global memory go through a
shared buffer, so tensor cores read them with ``ldmatrix`` in place.

Contract. Input and output: verified tile-IR modules with the same results in
the interpreter. A ``tl.load`` without ``mask`` and ``other`` is rewritten when
every use of its tile is an operand of a ``tl.dot`` that takes the tensor-core
path (``dot_instr.DotUnit.select`` for the function's target facts), reached
directly or through ``tl.reshape`` of unit dimensions and, for B only, one
``tl.trans``. It becomes, at the same place::

    %x_smem = tl.alloc_shared() : shared<shape, swizzle = "...">   # the window shape
    tl.copy(tensor = X, offsets = [...], dst = %x_smem)
    %x = tl.shared_load(src = %x_smem) : tile<shape>

The buffer is swizzled (``operand_swizzle``: the ``swizzle`` annotation of its
type, an XOR permutation of 16-byte chunks from ``shared_layouts.choose_swizzle``)
so that the copies into it and the ``ldmatrix`` reads out of it are free of bank
conflicts. ``%x`` keeps its name, so the uses are untouched. Both forms read the window
with zeros outside the tensor. Loads inside loops are staged inside the loop
body (the ``pipeline`` pass turns those buffers into ring buffers); loads with
other uses, masks or an ``other`` value are left alone. lower-to-threads then
reads such operands straight from the buffer (``shared_operands.py``).
"""

from __future__ import annotations

from dataclasses import replace

from tilelang.ir import ops as o
from tilelang.ir.rewrite import map_regions
from tilelang.ir.layouts import LayoutError
from tilelang.ir.shared_layouts import choose_swizzle
from tilelang.ir.types import SharedType, TileType
from tilelang.ir.values import Block, Function, Module, Value
from tilelang.passes.gpu.shared_operands import dot_operand_ok, unit_reshape
from tilelang.passes.tile.names import Namer
from tilelang.passes.gpu.dot_instr import DotUnit


def run(module: Module) -> Module:
    return Module(tuple(_function(f) for f in module.functions))


def _function(fn: Function) -> Function:
    warps = DotUnit.of(fn)
    uses: dict[str, list[o.Op]] = {}
    for op in o.walk(fn.body):
        for v in set(op.operand_values()):
            uses.setdefault(v.name, []).append(op)
    staged = {op.result.name for op in o.walk(fn.body)
              if isinstance(op, o.LoadOp) and op.mask is None and op.other is None
              and _feeds_dots_only(op.result, uses, warps)}
    if not staged:
        return fn
    namer = Namer(fn)
    return replace(fn, body=_block(fn.body, staged, namer))


def _feeds_dots_only(v: Value, uses: dict[str, list[o.Op]], warps: DotUnit,
                     trans: bool = False) -> bool:
    users = uses.get(v.name, [])
    if not users:
        return False
    for user in users:
        if isinstance(user, o.ReshapeOp) and not trans and unit_reshape(user):
            ok = _feeds_dots_only(user.result, uses, warps)
        elif isinstance(user, o.TransOp) and not trans:
            ok = _feeds_dots_only(user.result, uses, warps, trans=True)
        elif isinstance(user, o.DotOp):
            ok = dot_operand_ok(user, v, trans, warps)
        else:
            ok = False
        if not ok:
            return False
    return True


def operand_swizzle(t: TileType) -> str:
    """The swizzle of a staged operand's buffer: the smallest under which its
    ``ldmatrix`` row reads and 16-byte copies are free of bank conflicts (""
    when none is needed or none exists for the shape)."""
    rows, cols = t.shape[-2:] if t.rank >= 2 else (1, t.shape[0])
    try:
        swz = choose_swizzle((rows, cols), t.dtype.bits, ("ldmatrix", "vec16"))
    except LayoutError:
        return ""
    return "" if swz.is_identity else str(swz)


def _block(block: Block, staged: set[str], namer: Namer) -> Block:
    out: list[o.Op] = []
    for op in block.ops:
        if isinstance(op, o.LoadOp) and op.result.name in staged:
            t: TileType = op.result.type
            buf = namer.fresh(SharedType(t.shape, t.dtype, operand_swizzle(t)),
                              f"{op.result.name}_smem")
            out.append(o.AllocSharedOp(results=(buf,), loc=op.loc))
            out.append(o.CopyOp(loc=op.loc, tensor=op.tensor, offsets=op.offsets, dst=buf))
            out.append(o.SharedLoadOp(results=op.results, loc=op.loc, src=buf))
            continue
        out.append(map_regions(op, lambda b: _block(b, staged, namer)))
    return Block(block.args, tuple(out))
