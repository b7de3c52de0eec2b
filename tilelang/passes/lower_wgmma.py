"""``tl.dot`` on Hopper warpgroup MMA for lower-to-threads: ``wgmma.mma_async``.

When. A function whose target records ``mma = "wgmma"`` (``sm_90a``, through
``target_facts``) lowers ``acc + a @ b`` with ``wgmma`` when all of these hold,
and with ``mma.sync`` (``lower_mma``) otherwise:

* A and B are f16 or bf16 (one dtype), the accumulator f32;
* ``num_warps`` is a multiple of 4 (whole warpgroups) and ``M == 16 * num_warps``:
  warpgroup ``g`` owns rows ``64g .. 64g + 63`` (one ``m64`` instruction tall);
* ``N`` is a multiple of 8 up to 256 (one ``m64nNk16`` instruction wide) and
  ``K`` a multiple of 16;
* the accumulator is in its fragment layout (assign-layouts gives it one).

The accumulator layout. The PTX ISA's m64nNk16 D fragment gives warp ``w`` of a
warpgroup rows ``16w + g + 8*((i//2) % 2)`` and columns ``8*(i//4) + 2t + i%2``
of its slot ``i``: exactly the ``mma.sync`` accumulator tiled over a
``(num_warps, 1)`` warp grid, ``warp_tiled("c", (M, N), (num_warps, 1))``
(``wgmma_accumulator`` builds it from the formula; the layout tests check the
two agree). So the accumulator stays in registers across the K loop, and the
row reductions and broadcasts of flash attention work on it unchanged, and an
A already in that layout (P in flash attention) is exactly wgmma's register A
fragment, fed from registers as on the ``mma.sync`` path.

Operands. Each operand read from shared memory (A unless it is in registers,
and B) is written into the scratch area in the canonical K-major layout with the
widest swizzle its K extent allows (128, 64 or 32 bytes per row; K in atoms of
``W / 2`` elements, each atom ``R x W`` bytes, rows ``W`` apart, 16-byte chunk
``c`` of row ``r`` at ``c ^ ((r * W >> 7) % (W / 16))``: CuTe's
``Swizzle<log2(W/16), 4, 3>`` on byte addresses): a shared
buffer (any swizzle, either orientation) is copied 16 bytes at a time (B stored
K x N is transposed on the way), a register tile slot by slot. The descriptor
of K step ``s`` starts at its atom plus ``32 * s`` bytes within the atom, with a
stride byte offset of ``8 * W`` (the 8-row groups). The scratch area starts at
shared offset 0 and the code generator aligns shared memory to 1024 bytes, so
the swizzle, which acts on absolute address bits, sees the layout written.

Order. ``fence.proxy.async`` (the copies become visible to wgmma's async reads;
insert-barriers then puts the block barrier before the first ``wgmma``),
``wgmma.fence``, one ``wgmma`` per K step chained on the accumulator,
``commit_group`` and ``wait_group 0``, whose results are the accumulator the
rest of the program reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tilelang.errors import IRError
from tilelang.ir import hopper_ops as hp
from tilelang.ir import thread_ops as th
from tilelang.ir.layouts import Layout, local, spatial, warp_tiled
from tilelang.ir.types import ScalarType, TileType, bf16, f16, f32, i32, i64
from tilelang.ir.values import Function, Value

if TYPE_CHECKING:
    from tilelang.passes.lower_to_threads import Tile, _Lowering

MMA_ATTR = "mma"          # function attribute: "wgmma" where the target has it
WGMMA = "wgmma"


def target_has_wgmma(fn: Function) -> bool:
    return fn.attr(MMA_ATTR, "mma.sync") == WGMMA


def wgmma_shape_applies(a: TileType, b: TileType, acc: TileType, warps: int) -> bool:
    """The shape and dtype rule of the module docstring (the target aside)."""
    if a.rank != 2 or b.rank != 2:
        return False
    (m, k), n = a.shape, b.shape[1]
    return (a.dtype in (f16, bf16) and b.dtype == a.dtype and acc.dtype == f32 and
            warps % 4 == 0 and m == 16 * warps and n % 8 == 0 and 8 <= n <= 256 and
            k % 16 == 0)


def wgmma_applies(fn: Function, a: TileType, b: TileType, acc: TileType) -> bool:
    warps = fn.attr("num_warps", 4)
    return target_has_wgmma(fn) and isinstance(warps, int) and \
        wgmma_shape_applies(a, b, acc, warps)


def wgmma_accumulator(n: int, warpgroups: int) -> Layout:
    """The m64nNk16 D fragment of ``warpgroups`` warpgroups stacked along M, from the
    PTX ISA's formula (warp ``w`` rows ``16w + g (+8)``, slot ``i`` column
    ``8 (i // 4) + 2t + i % 2``)."""
    return spatial(4 * warpgroups, 1) * local(1, n // 8) * \
        (local(2, 1) * spatial(8, 4) * local(1, 2))


def swizzle_width(k: int) -> int:
    """The swizzle (bytes per row of an atom) for a K-major operand ``k`` 16-bit
    elements deep: the widest of 128, 64, 32 dividing its rows."""
    return next(w for w in (128, 64, 32) if (2 * k) % w == 0)


def _is_fragment_layout(L: "_Lowering", lay: object, m: int, n: int) -> bool:
    from tilelang.passes.lower_layouts import Assigned
    return isinstance(lay, Assigned) and \
        lay.expr.same_as(warp_tiled("c", (m, n), (L.threads // 32, 1)))


def _accumulator_kept(L: "_Lowering", acc: "Tile", m: int, n: int) -> bool:
    return _is_fragment_layout(L, getattr(acc, "layout", None), m, n)


def try_lower_dot_wgmma(L: "_Lowering", a: "Tile", b: "Tile", acc: "Tile",
                        out_t: TileType) -> list[Value] | None:
    """The accumulator slots of ``acc + a @ b`` on wgmma, or ``None`` when the rule
    of the module docstring does not hold (the caller uses ``mma.sync``)."""
    (m, k), n = a.type.shape, b.type.shape[1]
    if not (target_has_wgmma(L.fn) and
            wgmma_shape_applies(a.type, b.type, acc.type, L.threads // 32) and
            _accumulator_kept(L, acc, m, n)):
        return None
    return _Wgmma(L, m, n, k).lower(a, b, acc, out_t)


class _Wgmma:
    def __init__(self, L: "_Lowering", m: int, n: int, k: int) -> None:
        self.L, self.B = L, L.b
        self.m, self.n, self.k = m, n, k
        self.w = swizzle_width(k)

    def c(self, v: int) -> Value:
        return self.B.const(v, i32)

    # -- canonical K-major layout ------------------------------------------------------
    def _dest(self, base: int, rows: int, row: Value, chunk: Value) -> Value:
        """Byte address of 16-byte chunk ``chunk`` (k // 8) of row ``row``."""
        B, c, w = self.B, self.c, self.w
        per = w // 16                                  # chunks per atom row
        atom = B.binary("floordiv", chunk, c(per))
        inner = B.binary("mod", chunk, c(per))
        # the swizzle XORs address bits 7.. (of the row's offset, rows w bytes apart)
        # into the chunk bits 4..
        bits = B.binary("and", B.binary("shr", B.mul(row, c(w)), c(7)), c(per - 1))
        sw = B.binary("xor", inner, bits)
        return B.add(B.add(c(base), B.mul(atom, c(rows * w))),
                     B.add(B.mul(row, c(w)), B.mul(sw, c(16))))

    def stage(self, x: "Tile", base: int, rows: int, k_major: bool) -> None:
        """Write operand ``x`` (``rows x K`` when ``k_major``, else ``K x rows``) into
        scratch at ``base`` in the canonical layout."""
        from tilelang.passes.shared_operands import SharedOperand
        if isinstance(x, SharedOperand):
            self._stage_shared(x, base, rows, k_major != x.trans)
        else:
            self._stage_registers(x, base, rows, k_major)
        if base + rows * self.k * 2 > self.L.scratch_bytes:
            raise IRError("lower-to-threads: scratch area sized too small for wgmma (a bug)")

    def _stage_shared(self, x, base: int, rows: int, rows_first: bool) -> None:
        """From a buffer holding the operand row-major: ``rows x K`` (``rows_first``)
        or ``K x rows``; one 16-byte chunk per thread and step."""
        L, B, c, k = self.L, self.B, self.c, self.k
        dt = x.type.dtype
        buf = x.buf
        start = buf.base(B)
        cols = k if rows_first else rows              # the buffer's row length
        total = rows * k // 8
        for j in range(-(-total // L.threads)):
            q = B.add(L.tid, c(j * L.threads))
            ok = None if (j + 1) * L.threads <= total else B.cmp("lt", q, c(total))
            q = q if ok is None else B.where(ok, q, c(0))
            row = B.binary("floordiv", q, c(k // 8))
            chunk = B.binary("mod", q, c(k // 8))
            if rows_first:   # 8 consecutive elements of one buffer row
                flat = B.add(B.mul(row, c(cols)), B.mul(chunk, c(8)))
                addr = B.add(start, B.mul(buf.element(L, flat), c(2)))
                vals = B.builder.emit(th.LdSharedOp(
                    results=tuple(B.builder.fresh(ScalarType(dt)) for _ in range(8)),
                    loc=B.loc, dtype=dt, vec=8, addr=addr)).results
            else:            # a column of 8 rows of a K x rows buffer: the transpose
                vals = []
                for e in range(8):
                    kk = B.add(B.mul(chunk, c(8)), c(e))
                    flat = B.add(B.mul(kk, c(cols)), row)
                    addr = B.add(start, B.mul(buf.element(L, flat), c(2)))
                    vals.append(B.emit1(th.LdSharedOp, ScalarType(dt), dtype=dt, vec=1,
                                        addr=addr))
            B.emit0(th.StSharedOp, addr=self._dest(base, rows, row, chunk),
                    values=tuple(vals), pred=ok)

    def _stage_registers(self, x: "Tile", base: int, rows: int, k_major: bool) -> None:
        from tilelang.passes.lower_layouts import Assigned, owner
        L, B, c = self.L, self.B, self.c
        lay = x.layout
        only = owner(L, lay) if isinstance(lay, Assigned) else None
        for r, v in enumerate(x.slots):
            if lay.never_valid(r):
                continue
            i, j = L.slot_coords(lay, r, x.type.shape)
            row, kk = (i, j) if k_major else (j, i)
            valid = L.valid(lay, r)
            if valid is not None:
                row, kk = B.where(valid, row, c(0)), B.where(valid, kk, c(0))
            chunk = B.binary("shr", kk, c(3))
            addr = B.add(self._dest(base, rows, row, chunk),
                         B.mul(B.binary("and", kk, c(7)), c(2)))
            B.emit0(th.StSharedOp, addr=addr, values=(v,), pred=B.both(valid, only))

    def desc(self, base: int, rows: int, ks: int, row0: Value | None) -> Value:
        """The descriptor of K step ``ks`` of an operand staged at ``base``; ``row0``:
        the first row this warpgroup reads (A), ``None`` for row 0 (B)."""
        B, c, w = self.B, self.c, self.w
        per = w // 2                                   # elements per atom row
        off = base + (ks * 16 // per) * rows * w + (ks * 16 % per) * 2
        addr = c(off) if row0 is None else B.add(c(off), B.mul(row0, c(w)))
        return B.emit1(hp.WgmmaDescOp, ScalarType(i64), lbo=16, sbo=8 * w, swizzle=w,
                       addr=addr)

    # -- the dot -------------------------------------------------------------------------
    def lower(self, a: "Tile", b: "Tile", acc: "Tile", out_t: TileType) -> list[Value]:
        from tilelang.passes.shared_operands import SharedOperand
        L, B, c = self.L, self.B, self.c
        m, n, k = self.m, self.n, self.k
        warps = L.threads // 32
        a_regs = not isinstance(a, SharedOperand) and _accumulator_kept(L, a, m, k)
        a_base, b_base = 0, 0
        if not a_regs:
            self.stage(a, 0, m, k_major=True)
            b_base = -(-m * k * 2 // 1024) * 1024
        self.stage(b, b_base, n, k_major=False)
        B.emit0(hp.FenceProxyAsyncOp)
        B.emit0(hp.WgmmaFenceOp)
        row0 = B.mul(B.binary("shr", L.tid, c(7)), c(64))    # this warpgroup's first row
        d = list(acc.slots)
        dt = a.type.dtype
        for ks in range(k // 16):
            b_desc = self.desc(b_base, n, ks, None)
            fields: dict = {}
            if a_regs:   # slots of accumulator tiles (0, 2 ks) and (0, 2 ks + 1)
                fields["a"] = tuple(a.slots[8 * ks:8 * ks + 8])
            else:
                fields["a_desc"] = self.desc(a_base, m, ks, row0)
            res = tuple(B.builder.fresh(ScalarType(f32)) for _ in range(n // 2))
            B.builder.emit(hp.WgmmaOp(results=res, loc=B.loc, n=n, dtype=dt, scale_d=True,
                                      b_desc=b_desc, c=tuple(d), **fields))
            d = list(res)
        B.emit0(hp.WgmmaCommitOp)
        done = tuple(B.builder.fresh(ScalarType(f32)) for _ in d)
        B.builder.emit(hp.WgmmaWaitOp(results=done, loc=B.loc, pending=0, values=tuple(d)))
        if not _is_fragment_layout(L, L.layout(out_t), m, n):
            raise IRError("lower-to-threads: tl.dot result and accumulator layouts differ "
                          "(assign-layouts gives them one layout)")
        if warps % 4:
            raise IRError("lower-to-threads: wgmma needs whole warpgroups (a bug)")
        return list(done)
