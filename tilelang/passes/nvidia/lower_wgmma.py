"""``tl.dot`` on Hopper warpgroup MMA for lower-to-threads: ``wgmma.mma_async``.

When. A function whose target records ``mma = "wgmma"`` (``sm_90a``, through
``target_facts``) lowers ``acc + a @ b`` with ``wgmma`` when all of these hold,
and with ``mma.sync`` (``lower_mma``) otherwise:

* A and B are f16 or bf16 (one dtype), the accumulator f32;
* ``num_warps`` is a multiple of 4 (whole warpgroups) and ``M`` a multiple of
  ``16 * num_warps``: each warpgroup owns ``M / (num_warps / 4)`` consecutive rows,
  ``r = M / (16 * num_warps)`` m64 blocks, and ``r * N <= 256`` (the accumulator
  takes ``r * N / 2`` registers per thread);
* ``N`` is a multiple of 8 up to 256 (one ``m64nNk16`` instruction wide) and
  ``K`` a multiple of 16;
* the accumulator is in its fragment layout (assign-layouts gives it one).

The accumulator layout. The PTX ISA's m64nNk16 D fragment gives warp ``w`` of a
warpgroup rows ``16w + g + 8*((i//2) % 2)`` and columns ``8*(i//4) + 2t + i%2``
of its slot ``i`` (``fragment_layouts.wgmma_accumulator``, blocks after one another in the
slots). With one block per warpgroup that is exactly the ``mma.sync``
accumulator tiled over a ``(num_warps, 1)`` warp grid, ``warp_tiled("c", (M, N),
(num_warps, 1))``, and assign-layouts gives the accumulator that layout
(``accumulator_layout``). So the accumulator stays in registers across the K
loop, the row reductions and broadcasts of flash attention work on it as on any
layout, and an A already in that layout (P in flash attention) is exactly wgmma's
register A fragment (per block and K step, the slots of two adjacent n8 tiles),
fed from registers as on the ``mma.sync`` path.

Operands. wgmma reads A (unless it is in registers) and B through descriptors
of canonical layouts: K-major (rows of ``W`` bytes of K, ``W`` in 128/64/32, K in
atoms of ``W / 2`` elements) or, for B, N-major (K rows of ``W`` bytes of N, N in
atoms of ``W / 2`` columns, the transpose bit set), 16-byte chunk ``c`` of line
``r`` at ``c ^ ((r * W >> 7) % (W / 16))`` (CuTe's ``Swizzle<log2(W/16), 4, 3>``
on byte addresses), 8-line groups ``8 W`` bytes apart.

* A shared operand whose buffer already is canonical (its rows exactly ``W``
  bytes, its swizzle ``Swizzle(log2(W/16), 3, 3)``, placed at a multiple of
  ``8 W``) is read in place: A and a B stored N x K K-major, a B stored K x N
  N-major. So is a buffer of 128-byte column blocks (``BlockSwizzle(lines, line,
  64, Swizzle(3, 3, 3))``, what ``pipeline-tma`` gives rows wider than 128 bytes
  on Hopper): its blocks are the atom columns of ``W = 128``, ``lines x 128``
  bytes apart, exactly the layout staging would write.
* Anything else is staged into the dot's scratch range (1024-byte aligned,
  ``shared_area.DOT_SCRATCH_ALIGN``) with the
  widest swizzle its lines allow: a buffer 16 bytes per thread and step (a B
  stored K x N goes N-major, so it needs no transpose, unless N is not a multiple
  of 16: then it is gathered K-major element by element), a register tile slot by
  slot.

A K step's descriptor starts ``32`` bytes further within a K-major atom (or at
the next atom), or ``16 W`` bytes further for N-major. The code generator aligns
shared memory to 1024 bytes wherever a descriptor is built, so the swizzle, which
acts on absolute address bits, sees the offsets planned here.

Order. ``fence.proxy.async`` (the copies become visible to wgmma's async reads;
insert-barriers then puts the block barrier before the first ``wgmma``),
``wgmma.fence``, one ``wgmma`` per K step chained on the accumulator,
``commit_group`` and ``wait_group 0``, whose results are the accumulator the
rest of the program reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING, Any, Callable

from tilelang.errors import IRError
from tilelang.ir import hopper_ops as hp
from tilelang.ir import thread_ops as th
from tilelang.ir.layouts import Layout
from tilelang.ir.fragment_layouts import warp_tiled, wgmma_accumulator
from tilelang.ir.types import ScalarType, TileType, bf16, f16, f32, i32, i64
from tilelang.ir.values import Function, Value

if TYPE_CHECKING:
    from tilelang.passes.gpu.lower_to_threads import Tile, _Lowering

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
            warps % 4 == 0 and m % (16 * warps) == 0 and n % 8 == 0 and
            (m // (16 * warps)) * n <= 256 and k % 16 == 0)


def accumulator_layout(m: int, n: int, warps: int) -> Layout:
    """The register layout of an ``m x n`` wgmma accumulator (or register A, with
    ``n = K``) over ``warps`` warps: ``warp_tiled`` with one block per warpgroup,
    else ``wgmma_accumulator`` with ``m / (16 warps)`` blocks."""
    blocks = m // (16 * warps)
    if blocks == 1:
        return warp_tiled("c", (m, n), (warps, 1))
    return wgmma_accumulator(n, warps // 4, blocks)


def wgmma_applies(fn: Function, a: TileType, b: TileType, acc: TileType) -> bool:
    warps = fn.attr("num_warps", 4)
    return target_has_wgmma(fn) and isinstance(warps, int) and \
        wgmma_shape_applies(a, b, acc, warps)


def wgmma_scratch_bytes(fn: Function, dot: Any,
                        source: Callable[[Value], tuple[Any, bool] | None] | None = None
                        ) -> int | None:
    """The scratch a ``tl.dot`` lowered by wgmma uses: A staged (its bytes rounded
    up to 1 KiB), then B staged -- the accumulator stays in registers -- where an
    operand that ``source`` traces to its buffer (``(buffer type, transposed)`` of a
    tile wgmma may read in place) and that buffer is in the canonical layout
    (``canonical_in_place``, at an offset aligned as the function's ``shared_align``
    guarantees) takes none. ``None`` where the dot takes ``mma.sync`` (which may also
    stash the accumulator), as when the accumulator is not in its fragment layout."""
    a, b, acc = dot.a.type, dot.b.type, dot.acc.type
    warps = fn.attr("num_warps", 4)
    if not (isinstance(acc, TileType) and acc.layout and wgmma_applies(fn, a, b, acc)):
        return None
    from tilelang.passes.gpu.lower_layouts import assigned
    (m, k), n = a.shape, b.shape[1]
    try:
        lay = assigned(acc.layout, warps * 32)
    except ValueError:
        return None
    if not lay.expr.same_as(accumulator_layout(m, n, warps)):
        return None
    a_bytes, b_bytes = -(-m * k * 2 // 1024) * 1024, k * n * 2
    from tilelang.passes.gpu.shared_area import shared_align
    if source is not None and shared_align(fn, 1) >= 1024:
        got_a, got_b = source(dot.a), source(dot.b)
        if got_a is not None and not got_a[1] and \
                canonical_in_place(got_a[0], a.dtype.bits, m, k, n, False, 0):
            a_bytes = 0
        if got_b is not None and \
                canonical_in_place(got_b[0], b.dtype.bits, n, k, n, not got_b[1], 0):
            b_bytes = 0
    return a_bytes + b_bytes


def canonical_in_place(buf: Any, bits: int, rows: int, k: int, n: int, n_major: bool,
                       offset: int) -> tuple[int, int] | None:
    """``(W, atom stride)`` when an operand of ``bits``-bit elements, row-major in a
    buffer of type ``buf`` at byte ``offset``, is already in wgmma's canonical layout,
    so wgmma reads it where it is; else ``None`` (it is staged). That is: rows of
    exactly ``W`` bytes (``W`` = 32, 64 or 128) and the buffer's swizzle
    ``Swizzle(log2(W/16), 3, 3)`` (the same permutation on 16-bit elements), placed at
    a multiple of ``8 W`` bytes; or a buffer of 128-byte column blocks
    (``shared_layouts.BlockSwizzle`` with the 128-byte swizzle), the canonical
    layout with ``W = 128`` as it stands: block ``j`` is atom column ``j`` (K-major:
    K elements ``64j..``, the block's rows the operand's rows; N-major: N elements
    ``64j..``, its rows the K rows), ``rows x 128`` bytes apart, which is the stride
    staging would use too."""
    from tilelang.passes.gpu.lower_layouts import _parse_swizzle, is_blocked
    if bits != 16 or not buf.swizzle:
        return None
    line = n if n_major else k            # elements per buffer row
    w = 2 * line
    swz = _parse_swizzle(buf.swizzle)
    if is_blocked(swz):
        return blocked_in_place(buf, swz, k if n_major else rows, line, offset)
    if w not in (32, 64, 128):
        return None
    if (swz.bits, swz.base, swz.shift) != (w.bit_length() - 5, 3, 3) or \
            offset % (8 * w) or rows % 8:
        return None
    return w, (rows * w if not n_major else k * w)


def blocked_in_place(buf: Any, blk: Any, lines: int, line: int,
                     offset: int) -> tuple[int, int] | None:
    """``canonical_in_place`` for a buffer of ``lines`` rows of ``line`` elements in
    128-byte column blocks (``blk``, a ``BlockSwizzle``)."""
    swz = blk.swizzle
    if (blk.rows, blk.cols) != (lines, line) or blk.block != 64 or \
            (swz.bits, swz.base, swz.shift) != (3, 3, 3) or \
            prod(buf.shape) != lines * line or offset % 1024 or lines % 8:
        return None
    return 128, lines * 128


def swizzle_width(k: int) -> int:
    """The swizzle (bytes per line of an atom) for operand lines of ``k`` 16-bit
    elements (K for K-major, N for N-major): the widest of 128, 64, 32 dividing
    them (``k`` a multiple of 16)."""
    return next(w for w in (128, 64, 32) if (2 * k) % w == 0)


def _is_fragment_layout(L: "_Lowering", lay: object, m: int, n: int) -> bool:
    from tilelang.passes.gpu.lower_layouts import Assigned
    warps = L.threads // 32
    return isinstance(lay, Assigned) and m % (16 * warps) == 0 and \
        lay.expr.same_as(accumulator_layout(m, n, warps))


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


@dataclass(frozen=True)
class _Operand:
    """Where wgmma reads an operand: ``base`` (i32 byte address of its first atom),
    swizzle ``width``, orientation and the byte stride between atom columns (along
    K for K-major, along N for N-major: the descriptor's ``lbo``)."""

    base: Value
    width: int
    n_major: bool
    atom_stride: int


class _Wgmma:
    def __init__(self, L: "_Lowering", m: int, n: int, k: int) -> None:
        self.L, self.B = L, L.b
        self.m, self.n, self.k = m, n, k

    def c(self, v: int) -> Value:
        return self.B.const(v, i32)

    # -- canonical layouts ---------------------------------------------------------------
    def _chunk_at(self, base: int, atom: Value, atom_bytes: int, line: Value, chunk: Value,
                  w: int) -> Value:
        """Byte address of 16-byte ``chunk`` of ``line`` (a row, ``w`` bytes) of atom
        column ``atom``, with the ``w``-byte swizzle: address bits 7.. of the line's
        offset are XORed into the chunk bits 4.."""
        B, c = self.B, self.c
        bits = B.binary("and", B.binary("shr", B.mul(line, c(w)), c(7)), c(w // 16 - 1))
        sw = B.binary("xor", chunk, bits)
        return B.add(B.add(c(base), B.mul(atom, c(atom_bytes))),
                     B.add(B.mul(line, c(w)), B.mul(sw, c(16))))

    def _k_major_dest(self, base: int, rows: int, w: int, row: Value, kchunk: Value) -> Value:
        per = w // 16
        return self._chunk_at(base, self.B.binary("floordiv", kchunk, self.c(per)), rows * w,
                              row, self.B.binary("mod", kchunk, self.c(per)), w)

    def _n_major_dest(self, base: int, w: int, kk: Value, nchunk: Value) -> Value:
        per = w // 16
        return self._chunk_at(base, self.B.binary("floordiv", nchunk, self.c(per)),
                              self.k * w, kk, self.B.binary("mod", nchunk, self.c(per)), w)

    def in_place(self, x: Any, rows: int, n_major: bool) -> _Operand | None:
        """The operand read where it is, when its buffer already has the canonical
        layout (``canonical_in_place``)."""
        from tilelang.passes.gpu.shared_operands import SharedOperand
        if not isinstance(x, SharedOperand):
            return None
        got = canonical_in_place(x.buf.type, x.type.dtype.bits, rows, self.k, self.n,
                                 n_major, x.buf.static_offset)
        return None if got is None else _Operand(x.buf.base(self.B), got[0], n_major, got[1])

    def stage(self, x: Any, base: int, rows: int, n_major: bool, is_a: bool) -> _Operand:
        """Write operand ``x`` into scratch at ``base`` in the canonical layout: K-major
        ``rows x K`` or (``n_major``, B only) N-major ``K x N``."""
        from tilelang.passes.gpu.shared_operands import SharedOperand
        w = swizzle_width(self.n if n_major else self.k)
        base = self.L.scratch(base, rows * self.k * 2)   # (1024-aligned: allocate-shared)
        if isinstance(x, SharedOperand):
            # a K-major copy of a K x rows buffer (A stored M-major, or a B that is
            # too narrow for an N-major atom) is gathered element by element
            gather = not n_major and x.trans == is_a
            self._stage_shared(x, base, rows, w, n_major, gather)
        else:
            self._stage_registers(x, base, rows, w, n_major, swap=not is_a and not n_major)
        return _Operand(self.c(base), w, n_major, self.k * w if n_major else rows * w)

    def _stage_shared(self, x: Any, base: int, rows: int, w: int, n_major: bool,
                      gather: bool) -> None:
        """Copy from a buffer holding the operand row-major (``x.trans``: its
        transpose), one 16-byte chunk per thread and step; with ``gather`` (an A
        stored K x M) element by element."""
        L, B, c, k = self.L, self.B, self.c, self.k
        dt, buf = x.type.dtype, x.buf
        start = buf.base(B)
        # the buffer's rows: "lines" of `cols` elements, copied in 16-byte chunks
        if n_major:
            lines, cols = k, self.n                     # K x N buffer, N-major B
        else:
            lines, cols = rows, k                       # rows x K (A, or B stored N x K)
        total = lines * cols // 8
        for j in range(-(-total // L.threads)):
            q = B.add(L.tid, c(j * L.threads))
            ok = None if (j + 1) * L.threads <= total else B.cmp("lt", q, c(total))
            q = q if ok is None else B.where(ok, q, c(0))
            line = B.binary("floordiv", q, c(cols // 8))
            chunk = B.binary("mod", q, c(cols // 8))
            if gather:   # K x rows buffer: 8 elements of one column
                vals = []
                for e in range(8):
                    kk = B.add(B.mul(chunk, c(8)), c(e))
                    flat = B.add(B.mul(kk, c(rows)), line)
                    vals.append(B.emit1(th.LdSharedOp, ScalarType(dt), dtype=dt, vec=1,
                                        addr=B.add(start, B.mul(buf.element(L, flat), c(2)))))
                vals = tuple(vals)
            else:
                flat = B.add(B.mul(line, c(cols)), B.mul(chunk, c(8)))
                vals = B.builder.emit(th.LdSharedOp(
                    results=tuple(B.builder.fresh(ScalarType(dt)) for _ in range(8)),
                    loc=B.loc, dtype=dt, vec=8,
                    addr=B.add(start, B.mul(buf.element(L, flat), c(2))))).results
            dest = self._n_major_dest(base, w, line, chunk) if n_major else \
                self._k_major_dest(base, rows, w, line, chunk)
            B.emit0(th.StSharedOp, addr=dest, values=tuple(vals), pred=ok)

    def _stage_registers(self, x: "Tile", base: int, rows: int, w: int, n_major: bool,
                         swap: bool) -> None:
        """Slot by slot; ``swap``: a K x N tile written K-major (as N x K)."""
        from tilelang.passes.gpu.lower_layouts import Assigned, owner
        L, B, c = self.L, self.B, self.c
        lay = x.layout
        only = owner(L, lay) if isinstance(lay, Assigned) else None
        for r, v in enumerate(x.slots):
            if lay.never_valid(r):
                continue
            i, j = L.slot_coords(lay, r, x.type.shape)
            valid = L.valid(lay, r)
            if valid is not None:
                i, j = B.where(valid, i, c(0)), B.where(valid, j, c(0))
            if swap:   # A is (row, k); B is (k, n)
                i, j = j, i
            lo = B.mul(B.binary("and", j, c(7)), c(2))
            chunk = B.binary("shr", j, c(3))
            dest = self._n_major_dest(base, w, i, chunk) if n_major else \
                self._k_major_dest(base, rows, w, i, chunk)
            B.emit0(th.StSharedOp, addr=B.add(dest, lo), values=(v,), pred=B.both(valid, only))

    def desc(self, x: _Operand, ks: int, row0: Value | None) -> Value:
        """The descriptor of K step ``ks``; ``row0``: the first row this warpgroup
        reads (A), ``None`` for B."""
        B, c, w = self.B, self.c, x.width
        if x.n_major:   # 16 K rows further per step; lbo steps between N atoms
            off, lbo = ks * 16 * w, x.atom_stride
        else:           # the step's atom column, and 32 bytes per step within it
            per = w // 2
            off, lbo = (ks * 16 // per) * x.atom_stride + (ks * 16 % per) * 2, 16
        addr = B.add(x.base, c(off)) if off else x.base
        if row0 is not None:
            addr = B.add(addr, B.mul(row0, c(w)))
        return B.emit1(hp.WgmmaDescOp, ScalarType(i64), lbo=lbo, sbo=8 * w, swizzle=w,
                       addr=addr)

    # -- the dot -------------------------------------------------------------------------
    def lower(self, a: "Tile", b: "Tile", acc: "Tile", out_t: TileType) -> list[Value]:
        from tilelang.passes.gpu.shared_operands import SharedOperand
        L, B, c = self.L, self.B, self.c
        m, n, k = self.m, self.n, self.k
        warps = L.threads // 32
        a_regs = not isinstance(a, SharedOperand) and _accumulator_kept(L, a, m, k)
        top = 0
        a_op = None
        if not a_regs:
            a_op = self.in_place(a, m, False) if isinstance(a, SharedOperand) and \
                not a.trans else None
            if a_op is None:
                a_op = self.stage(a, 0, m, n_major=False, is_a=True)
                top = -(-m * k * 2 // 1024) * 1024
        b_op = None
        if isinstance(b, SharedOperand):
            b_op = self.in_place(b, n, n_major=not b.trans)
        if b_op is None:
            # B stored K x N goes N-major where N fills whole 32-byte atom rows
            n_major = not (isinstance(b, SharedOperand) and b.trans) and n % 16 == 0
            b_op = self.stage(b, top, n, n_major=n_major, is_a=False)
        B.emit0(hp.FenceProxyAsyncOp)
        B.emit0(hp.WgmmaFenceOp)
        blocks = m // (16 * warps)                            # m64 blocks per warpgroup
        first = B.mul(B.binary("shr", L.tid, c(7)), c(64 * blocks))   # warpgroup's row 0
        rows0 = [first if r == 0 else B.add(first, c(64 * r)) for r in range(blocks)]
        h = n // 2
        d = [list(acc.slots[r * h:(r + 1) * h]) for r in range(blocks)]
        dt = a.type.dtype
        for ks in range(k // 16):
            b_desc = self.desc(b_op, ks, None)
            for r in range(blocks):
                fields: dict = {}
                if a_op is None:   # block r's slots of n8 tiles 2 ks and 2 ks + 1
                    first_slot = r * (k // 2) + 8 * ks
                    fields["a"] = tuple(a.slots[first_slot:first_slot + 8])
                else:
                    fields["a_desc"] = self.desc(a_op, ks, rows0[r])
                res = tuple(B.builder.fresh(ScalarType(f32)) for _ in range(h))
                B.builder.emit(hp.WgmmaOp(results=res, loc=B.loc, n=n, dtype=dt,
                                          scale_d=True, trans_b=b_op.n_major, b_desc=b_desc,
                                          c=tuple(d[r]), **fields))
                d[r] = list(res)
        B.emit0(hp.WgmmaCommitOp)
        flat = [v for block in d for v in block]
        done = tuple(B.builder.fresh(ScalarType(f32)) for _ in flat)
        B.builder.emit(hp.WgmmaWaitOp(results=done, loc=B.loc, pending=0, values=tuple(flat)))
        if not _is_fragment_layout(L, L.layout(out_t), m, n):
            raise IRError("lower-to-threads: tl.dot result and accumulator layouts differ "
                          "(assign-layouts gives them one layout)")
        if warps % 4:
            raise IRError("lower-to-threads: wgmma needs whole warpgroups (a bug)")
        return list(done)
