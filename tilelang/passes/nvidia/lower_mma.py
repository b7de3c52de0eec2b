"""``tl.dot`` on tensor cores for lower-to-threads: ``ldmatrix`` + ``mma.sync.m16n8k16``.

Used for f16/bf16 operands with an f32 accumulator when ``M % 16 == 0``,
``N % 8 == 0``, ``K % 16 == 0`` and the block's warps tile C evenly. A, B and the
accumulator are stored row-major in the scratch area; the warps form a
``wm × wn`` grid over C, each lane loads its C fragments, and for each 16-wide
step of K the lanes load A fragments with ``ldmatrix.x4`` and B fragments with
``ldmatrix.x2.trans`` (B is K×N row-major, the transposed load gives the
column-major fragment mma wants) and issue one ``mma.sync`` per 16×8 tile. The
results go back through scratch into the blocked layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tilelang.errors import IRError
from tilelang.ir import thread_ops as th
from tilelang.ir.fragment_layouts import warp_tiled
from tilelang.ir.types import ScalarType, TileType, bf16, f16, f32, i32
from tilelang.ir.values import Value
from tilelang.passes.gpu.lower_layouts import SwizzledOffsets
from tilelang.passes.gpu.shared_operands import swizzle_of

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import Tile, _Lowering

MMA_M, MMA_N, MMA_K = 16, 8, 16


def warp_grid(m: int, n: int, warps: int) -> tuple[int, int] | None:
    """The ``(wm, wn)`` warp arrangement over an ``m × n`` C with the fewest fragment
    registers, or ``None`` if the warps cannot tile C evenly."""
    best = None
    for wm in range(1, warps + 1):
        if warps % wm:
            continue
        wn = warps // wm
        if (m // MMA_M) % wm or (n // MMA_N) % wn:
            continue
        regs = (m // wm // MMA_M) * 8 + (n // wn // MMA_N) * 4
        if best is None or regs < best[0]:
            best = (regs, wm, wn)
    return None if best is None else (best[1], best[2])


def mma_applies(a: TileType, b: TileType, acc: TileType, warps: int) -> bool:
    (m, k), n = a.shape, b.shape[1]
    return (a.dtype in (f16, bf16) and acc.dtype == f32 and m % MMA_M == 0 and
            n % MMA_N == 0 and k % MMA_K == 0 and warp_grid(m, n, warps) is not None)


def lower_dot_mma(L: "_Lowering", a: "Tile", b: "Tile", acc: "Tile", out_t: TileType) -> list:
    (m, k), n = a.type.shape, b.type.shape[1]
    # An accumulator in its mma layout (assign-layouts) stays in registers: its slots
    # are the C fragments, tile (mi, nj) in row-major order, 4 f32 each.
    warps = L.unit.warps
    keep = accumulator_grid(acc, m, n, warps)
    wm, wn = keep or warp_grid(m, n, warps)  # type: ignore[misc]
    from tilelang.passes.gpu.shared_operands import SharedOperand, mma_operand_bases  # (cycle)
    B = L.b
    # A and B are register tiles stashed in scratch, or SharedOperands read in place
    # A in the accumulator layout of a one-column grid is already in fragments
    a_regs = wn == 1 and accumulator_grid(a, m, k, warps) == (wm, 1)
    a_base, b_base, off_c = mma_operand_bases(L, None if a_regs else a, b)
    b_from_nk = isinstance(b, SharedOperand) and b.trans  # B = trans(N x K row-major buffer)
    if keep is None:
        L.stash(acc, base=off_c)

    c = lambda v: B.const(v, i32)  # noqa: E731
    lane = B.binary("and", L.tid, c(31))
    warp = B.binary("shr", L.tid, c(5))
    wi, wj = B.binary("floordiv", warp, c(wn)), B.binary("mod", warp, c(wn))
    g, t = B.binary("shr", lane, c(2)), B.binary("and", lane, c(3))
    WM, WN = m // wm, n // wn
    row0 = B.mul(wi, c(WM))
    col0 = B.mul(wj, c(WN))

    def c_addr(mi: int, nj: int, half: int) -> Value:
        row = B.add(B.add(row0, c(mi * MMA_M + 8 * half)), g)
        col = B.add(B.add(col0, c(nj * MMA_N)), B.mul(t, c(2)))
        return B.add(B.mul(B.add(B.mul(row, c(n)), col), c(4)), c(L.scratch(off_c, 0)))

    tiles = [(mi, nj) for mi in range(WM // MMA_M) for nj in range(WN // MMA_N)]
    frags: dict[tuple[int, int], list[Value]] = {}
    for i, (mi, nj) in enumerate(tiles):
        if keep is not None:
            frags[(mi, nj)] = list(acc.slots[4 * i:4 * i + 4])
            continue
        vals: list[Value] = []
        for half in (0, 1):
            vals += [B.builder.fresh(ScalarType(f32)) for _ in range(2)]
            B.builder.emit(th.LdSharedOp(results=tuple(vals[-2:]), loc=B.loc, dtype=f32, vec=2,
                                         addr=c_addr(mi, nj, half)))
        frags[(mi, nj)] = vals

    in_dt = a.type.dtype
    # ldmatrix row addresses: lane l names row l % 8 of matrix l // 8
    r8 = B.binary("and", lane, c(7))
    quad = B.binary("shr", lane, c(3))
    a_row = B.add(row0, B.add(r8, B.mul(B.binary("and", quad, c(1)), c(8))))
    a_col = B.mul(B.binary("shr", quad, c(1)), c(8))
    b_row = B.add(r8, B.mul(B.binary("and", quad, c(1)), c(8)))
    b_kcol = B.mul(B.binary("and", quad, c(1)), c(8))
    # Each ldmatrix address is a lane part plus a constant (mi, nj, ks) part, kept
    # apart so that the swizzle costs a few registers, not one per address.
    pow2 = lambda x: x & (x - 1) == 0  # noqa: E731
    # (lane, tile and warp parts of rows and columns fall in separate bits when the
    # row length and the warp tile are powers of two: SwizzledOffsets' condition)
    a_off = SwizzledOffsets(L, swizzle_of(a), B.add(B.mul(a_row, c(k)), a_col),
                            exact=pow2(k) and pow2(WM))
    if b_from_nk:
        b_off = SwizzledOffsets(L, swizzle_of(b), B.add(B.mul(B.add(col0, r8), c(k)), b_kcol),
                                exact=pow2(k) and pow2(WN))
    else:
        b_off = SwizzledOffsets(L, swizzle_of(b), B.add(B.mul(b_row, c(n)), col0),
                                exact=pow2(n) and pow2(WN))

    def a_addr(const: int) -> Value:
        return B.add(B.mul(a_off.at(const), c(2)), a_base)

    def b_addr(const: int) -> Value:
        return B.add(B.mul(b_off.at(const), c(2)), b_base)
    for ks in range(k // MMA_K):
        a_frag = {}
        for mi in range(WM // MMA_M):
            if a_regs:   # A fragment = accumulator tiles (mi, 2 ks) and (mi, 2 ks + 1)
                first = 4 * (mi * (k // MMA_N) + 2 * ks)
                a_frag[mi] = list(a.slots[first:first + 8])
                continue
            addr = a_addr(mi * MMA_M * k + ks * MMA_K)
            a_frag[mi] = _ldmatrix(B, in_dt, 4, False, addr)
        b_frag = {}
        for nj in range(WN // MMA_N):
            if b_from_nk:
                # matrix j: rows n (lane % 8), columns k 8j..8j+7; the plain load gives
                # lane l the elements (k = 2 (l % 4) + {0, 1}, n = l / 4) mma wants
                addr = b_addr(nj * MMA_N * k + ks * MMA_K)
            else:
                addr = b_addr(ks * MMA_K * n + nj * MMA_N)
            b_frag[nj] = _ldmatrix(B, in_dt, 2, not b_from_nk, addr)
        for mi, nj in tiles:
            res = tuple(B.builder.fresh(ScalarType(f32)) for _ in range(4))
            B.builder.emit(th.MmaOp(results=res, loc=B.loc, a=tuple(a_frag[mi]),
                                    b=tuple(b_frag[nj]), c=tuple(frags[(mi, nj)])))
            frags[(mi, nj)] = list(res)

    if keep is not None:
        if accumulator_grid_of(L.layout(out_t), m, n, warps) != keep:
            raise IRError("lower-to-threads: tl.dot result and accumulator layouts differ "
                          "(assign-layouts gives them one layout)")
        return [v for mi_nj in tiles for v in frags[mi_nj]]
    for mi, nj in tiles:
        d = frags[(mi, nj)]
        for half in (0, 1):
            B.emit0(th.StSharedOp, addr=c_addr(mi, nj, half),
                    values=tuple(d[2 * half:2 * half + 2]))
    lay = L.layout(out_t)
    return [L.fetch(L.flat(lay, r), f32, base=off_c, valid=L.valid(lay, r))
            for r in range(lay.slots)]


def accumulator_grid_of(lay: object, m: int, n: int, warps: int) -> tuple[int, int] | None:
    """The warp grid ``(wm, wn)`` whose ``warp_tiled("c", ...)`` layout ``lay`` is, or
    ``None`` (the blocked layout, or any other)."""
    from tilelang.passes.gpu.lower_layouts import Assigned
    if not isinstance(lay, Assigned):
        return None
    for wm in range(1, warps + 1):
        if warps % wm or m % (MMA_M * wm) or n % (MMA_N * (warps // wm)):
            continue
        if lay.expr.same_as(warp_tiled("c", (m, n), (wm, warps // wm))):
            return wm, warps // wm
    return None


def accumulator_grid(acc: "Tile", m: int, n: int, warps: int) -> tuple[int, int] | None:
    return accumulator_grid_of(getattr(acc, "layout", None), m, n, warps)


def _ldmatrix(B, dtype, num: int, trans: bool, addr: Value) -> list[Value]:
    res = tuple(B.builder.fresh(ScalarType(dtype)) for _ in range(2 * num))
    B.builder.emit(th.LdMatrixOp(results=res, loc=B.loc, dtype=dtype, num=num, trans=trans,
                                 addr=addr))
    return list(res)
