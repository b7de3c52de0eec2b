"""``tl.dot`` on CDNA matrix cores for lower-to-threads: LDS vector reads + ``th.mfma``.

The AMD counterpart of ``lower_mma`` (chosen by ``dot_instr.DotUnit.select`` when
the function's target has ``mfma_shapes``). The 64-lane wavefronts form a
``wm × wn`` grid over C; each owns ``WM × WN`` and issues one ``th.mfma`` per
``M × N`` instruction tile and K step. There is no ``ldmatrix``: lanes read their
fragments from shared memory (LDS) themselves.

* The accumulator lives in MFMA C fragments across the K loop when assign-layouts
  gave it the accumulator layout (``warp_tiled("c", ..., shape)``); otherwise it
  goes through the scratch area like the mma path.
* A (``M x K`` row-major, staged buffer or a register tile stashed in scratch):
  lane ``l`` holds row ``l % M`` and 4 consecutive k. Because a dot's sum does
  not care in which order the k are taken, two consecutive K steps are fed from
  one 16-byte read: lane group ``h = l // M`` reads k ``8h .. 8h+7`` of a
  ``2 * K_step`` chunk, registers 0..3 going to the first step and 4..7 to the
  second (B uses the same k order). Eight consecutive lanes then read one 16-byte
  chunk of eight consecutive rows, which is exactly the ``ldmatrix`` row pattern
  the staging swizzle (``stage_through_shared.operand_swizzle``) makes free of bank
  conflicts. When K holds no whole chunk, each step reads 8 bytes.
* B from a ``K x N`` row-major buffer: lane ``l`` holds column ``l % N``; its k are
  read one element at a time (consecutive lanes read consecutive columns of a
  row: conflict-free). B from an ``N x K`` buffer (``tl.trans`` of a staged
  tile, as attention's ``Q @ K^T``) is read like A, 16 bytes at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tilelang.errors import IRError
from tilelang.ir import thread_ops as th
from tilelang.ir.types import DType, ScalarType, TileType, f32, i32
from tilelang.ir.values import Value
from tilelang.passes.gpu.dot_instr import DotInstr
from tilelang.passes.gpu.lower_layouts import Assigned, SwizzledOffsets
from tilelang.passes.gpu.shared_operands import swizzle_of

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import Tile, _Lowering


def _pow2(x: int) -> bool:
    return x > 0 and x & (x - 1) == 0


def kept_grid(L: "_Lowering", ins: DotInstr, lay: object, m: int, n: int
              ) -> tuple[int, int] | None:
    """The warp grid of an accumulator already in ``ins``'s fragments, else ``None``."""
    if not isinstance(lay, Assigned):
        return None
    found = L.unit.accumulator(lay.expr, m, n)
    return found[1] if found is not None and found[0] == ins else None


def lower_dot_mfma(L: "_Lowering", ins: DotInstr, a: "Tile", b: "Tile", acc: "Tile",
                   out_t: TileType) -> list[Value]:
    """The result slots of ``acc + a @ b`` in ``out_t``'s layout (see the module doc)."""
    from tilelang.passes.gpu.shared_operands import SharedOperand, mma_operand_bases  # (cycle)
    (m, k), n = a.type.shape, b.type.shape[1]
    warps, W = L.unit.warps, ins.warp_size
    keep = kept_grid(L, ins, getattr(acc, "layout", None), m, n)
    grid = keep or ins.warp_grid(m, n, warps)
    if grid is None:
        raise IRError(f"lower-to-threads: {ins.shape} tiles do not split {m}x{n} over "
                      f"{warps} wavefronts (DotUnit.select allowed it: a bug)")
    wm, wn = grid
    B = L.b
    a_base, b_base, off_c = mma_operand_bases(L, a, b)
    b_from_nk = isinstance(b, SharedOperand) and b.trans
    if keep is None:
        L.stash(acc, base=off_c)

    c = lambda v: B.const(v, i32)  # noqa: E731
    M, N = ins.m, ins.n
    G = W // M                       # lane groups splitting K (2 for 32x32x8, 4 for 16x16x16)
    lane = B.binary("and", L.tid, c(W - 1))
    warp = B.binary("shr", L.tid, c(W.bit_length() - 1))
    wi, wj = B.binary("floordiv", warp, c(wn)), B.binary("mod", warp, c(wn))
    r = B.binary("and", lane, c(M - 1))                 # A row / B and C column
    h = B.binary("shr", lane, c(M.bit_length() - 1))    # k group (and C row group)
    WM, WN = m // wm, n // wn
    row0, col0 = B.mul(wi, c(WM)), B.mul(wj, c(WN))
    n_c = ins.m * ins.n // W                            # C elements per lane

    # C element i of lane (r, h): row 4G*(i // 4) + 4h + i % 4, column r (the ISA's
    # order; fragment_layouts.mfma_*_c).
    c_row0 = B.add(row0, B.mul(h, c(4)))
    c_col0 = B.add(col0, r)

    def c_addr(mi: int, nj: int, i: int) -> Value:
        row = B.add(c_row0, c(mi * M + 4 * G * (i // 4) + i % 4))
        col = B.add(c_col0, c(nj * N))
        return B.add(B.mul(B.add(B.mul(row, c(n)), col), c(4)), c(L.scratch(off_c, 0)))

    tiles = [(mi, nj) for mi in range(WM // M) for nj in range(WN // N)]
    frags: dict[tuple[int, int], list[Value]] = {}
    for t, (mi, nj) in enumerate(tiles):
        if keep is not None:
            frags[(mi, nj)] = list(acc.slots[n_c * t:n_c * (t + 1)])
            continue
        frags[(mi, nj)] = [B.emit1(th.LdSharedOp, ScalarType(f32), dtype=f32, vec=1,
                                   addr=c_addr(mi, nj, i)) for i in range(n_c)]

    in_dt = a.type.dtype
    steps = k // ins.k
    pair = k % (2 * ins.k) == 0      # two K steps per 16-byte read
    per = 8 if pair else 4           # k elements a lane reads per chunk
    chunk_k = per * G                # k covered by one chunk
    kk = B.mul(h, c(per))            # this lane's first k within a chunk

    # Row-read offsets (A, and B from N x K): lane part + constant part, swizzled.
    a_off = SwizzledOffsets(L, swizzle_of(a), B.add(B.mul(B.add(row0, r), c(k)), kk),
                            exact=_pow2(k) and _pow2(WM))
    if b_from_nk:
        b_off = SwizzledOffsets(L, swizzle_of(b), B.add(B.mul(B.add(col0, r), c(k)), kk),
                                exact=_pow2(k) and _pow2(WN))
    else:
        b_off = SwizzledOffsets(L, swizzle_of(b), B.add(B.mul(kk, c(n)), c_col0),
                                exact=_pow2(n) and _pow2(WN))

    def read(dtype: DType, vec: int, offs: SwizzledOffsets, base: Value, const: int
             ) -> list[Value]:
        addr = B.add(B.mul(offs.at(const), c(2)), base)
        res = tuple(B.builder.fresh(ScalarType(dtype)) for _ in range(vec))
        B.builder.emit(th.LdSharedOp(results=res, loc=B.loc, dtype=dtype, vec=vec, addr=addr))
        return list(res)

    for ch in range(steps * ins.k // chunk_k):
        k0 = ch * chunk_k
        a_frag = {mi: read(in_dt, per, a_off, a_base, mi * M * k + k0)
                  for mi in range(WM // M)}
        b_frag = {}
        for nj in range(WN // N):
            if b_from_nk:
                b_frag[nj] = read(in_dt, per, b_off, b_base, nj * N * k + k0)
            else:   # one element per k: consecutive lanes read consecutive columns
                b_frag[nj] = [x for j in range(per)
                              for x in read(in_dt, 1, b_off, b_base, (k0 + j) * n + nj * N)]
        for half in range(per // 4):
            for mi, nj in tiles:
                res = tuple(B.builder.fresh(ScalarType(f32)) for _ in range(n_c))
                B.builder.emit(th.MfmaOp(
                    results=res, loc=B.loc, shape=ins.shape,
                    a=tuple(a_frag[mi][4 * half:4 * half + 4]),
                    b=tuple(b_frag[nj][4 * half:4 * half + 4]), c=tuple(frags[(mi, nj)])))
                frags[(mi, nj)] = list(res)

    if keep is not None:
        if kept_grid(L, ins, L.layout(out_t), m, n) != keep:
            raise IRError("lower-to-threads: tl.dot result and accumulator layouts differ "
                          "(assign-layouts gives them one layout)")
        return [v for t in tiles for v in frags[t]]
    for mi, nj in tiles:
        for i, v in enumerate(frags[(mi, nj)]):
            B.emit0(th.StSharedOp, addr=c_addr(mi, nj, i), values=(v,))
    lay = L.layout(out_t)
    return [L.fetch(L.flat(lay, s), f32, base=off_c, valid=L.valid(lay, s))
            for s in range(lay.slots)]
