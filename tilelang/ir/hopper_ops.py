"""Thread-IR ops for Hopper (``sm_90a``) warpgroup matrix multiply: ``wgmma``.

A *warpgroup* is four consecutive warps (threads ``128*g .. 128*g + 127``).
``wgmma.mma_async`` multiplies a 64 x 16 A by a 16 x N B into a 64 x N f32
accumulator held by the warpgroup's 128 threads, asynchronously:

* ``th.wgmma_desc``  the 64-bit shared-memory *matrix descriptor* of an operand
  (PTX ISA "Matrix Descriptor Format"): bits 0-13 start address >> 4, 16-29
  leading-dimension byte offset >> 4, 32-45 stride byte offset >> 4, 62-63 the
  swizzle mode (0 none, 1 128B, 2 64B, 3 32B).
* ``th.wgmma_fence``  ``wgmma.fence.sync.aligned``: orders the registers that
  the next ``wgmma`` reads (accumulator, register A) after the instructions that
  wrote them. Needed before the first ``wgmma`` of a group whose register
  operands were written by ordinary instructions.
* ``th.fence_proxy_async``  ``fence.proxy.async.shared::cta``: makes this
  thread's generic-proxy shared writes visible to the async proxy that ``wgmma``
  reads through (followed by a block barrier before the ``wgmma``).
* ``th.wgmma``  ``wgmma.mma_async.sync.aligned.m64n{N}k16.f32.{bf16|f16}``: its
  results are the accumulator *in flight*; they may only feed another
  ``th.wgmma`` (same accumulator chain) or a ``th.wgmma_wait``.
* ``th.wgmma_commit``  ``wgmma.commit_group.sync.aligned``: closes the group of
  ``wgmma`` ops issued since the last commit.
* ``th.wgmma_wait``  ``wgmma.wait_group.sync.aligned N``: waits until at most
  ``pending`` groups are unfinished, and passes the ``values`` it guards through
  as its results, so that SSA order alone keeps every read of an accumulator
  after the wait that completes it (the code generator ties them as ``+f``
  registers, as Triton does).

Operand layouts. K-major (A is M x K, B is N x K, K contiguous): element
``(r, k)`` of an R x 16 operand sits, before swizzling, at
``start + (r // 8) * sbo + (r % 8) * W + 2 * k`` for swizzle width ``W`` in
32/64/128 bytes (``lbo`` unused), or ``start + (r // 8) * sbo + (k // 8) * lbo +
(r % 8) * 16 + 2 * (k % 8)`` without a swizzle. N-major B (``trans_b``, B stored
K x N with N contiguous; swizzled modes only): element ``(n, k)`` sits at
``start + (n // (W/2)) * lbo + (k // 8) * sbo + (k % 8) * W + 2 * (n % (W/2))``:
the transpose bit routes ``lbo`` to N (atoms of ``W/2`` columns) and ``sbo`` to
K (groups of 8 rows). The swizzle XORs address bits ``[4, 4 + log2(W / 16))``
with the bits starting at bit 7 (CuTe's ``Swizzle<log2(W/16), 4, 3>``) on the
absolute shared address.

The register forms of A and D per warp ``w`` of the warpgroup (``g = lane // 4``,
``t = lane % 4``): ``a_i`` is row ``16w + g + 8*((i//2) % 2)``, column
``2t + i%2 + 8*(i//4)`` (as ``mma.m16n8k16``), and accumulator element ``d_i``
is row ``16w + g + 8*((i//2) % 2)``, column ``8*(i//4) + 2t + i%2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.ops import Op, Trait, attr, operand, operands, opt_operand, register_ops
from tilelang.ir.types import DType, ScalarType, bf16, f16, f32, i32, i64
from tilelang.ir.values import Value

SWIZZLE_MODES: dict[int, int] = {0: 0, 128: 1, 64: 2, 32: 3}   # width in bytes -> field
WGMMA_NS: tuple[int, ...] = tuple(range(8, 257, 8))
WGMMA_M, WGMMA_K = 64, 16


def _scalar(v: Value, dtype: DType) -> bool:
    return isinstance(v.type, ScalarType) and v.type.dtype == dtype


def encode_descriptor(start: int, lbo: int, sbo: int, swizzle: int) -> int:
    """The 64-bit matrix descriptor value (see the module docstring)."""
    return (((start >> 4) & 0x3FFF) | (((lbo >> 4) & 0x3FFF) << 16) |
            (((sbo >> 4) & 0x3FFF) << 32) | (SWIZZLE_MODES[swizzle] << 62))


def decode_descriptor(desc: int) -> tuple[int, int, int, int]:
    """``(start, lbo, sbo, swizzle width)`` of a descriptor (inverse of ``encode``)."""
    mode = (desc >> 62) & 3
    width = {v: k for k, v in SWIZZLE_MODES.items()}[mode]
    return ((desc & 0x3FFF) << 4, ((desc >> 16) & 0x3FFF) << 4,
            ((desc >> 32) & 0x3FFF) << 4, width)


@dataclass(frozen=True, kw_only=True)
class WgmmaDescOp(Op):
    """The i64 matrix descriptor of an operand at shared byte ``addr`` (16-aligned),
    with byte offsets ``lbo`` and ``sbo`` and swizzle width ``swizzle`` bytes
    (0 = none)."""

    NAME: ClassVar[str] = "th.wgmma_desc"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    lbo: int = attr(16)
    sbo: int = attr(16)
    swizzle: int = attr(0)
    addr: Value = operand()

    def verify(self) -> None:
        if self.swizzle not in SWIZZLE_MODES:
            self._fail("swizzle must be 0, 32, 64 or 128 (bytes)")
        for name in ("lbo", "sbo"):
            v = getattr(self, name)
            if v < 0 or v % 16 or v >= 1 << 18:
                self._fail(f"{name} must be a multiple of 16 in [0, 2**18)")
        if not _scalar(self.addr, i32):
            self._fail("addr must be an i32 shared offset")
        if len(self.results) != 1 or not _scalar(self.results[0], i64):
            self._fail("expected one i64 result")


@dataclass(frozen=True, kw_only=True)
class WgmmaFenceOp(Op):
    """``wgmma.fence.sync.aligned`` (warpgroup-collective)."""

    NAME: ClassVar[str] = "th.wgmma_fence"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.WRITES_MEMORY, Trait.CONVERGENT})

    def verify(self) -> None:
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class FenceProxyAsyncOp(Op):
    """``fence.proxy.async.shared::cta``: this thread's shared writes become visible
    to the async proxy (``wgmma`` operand reads) after the next block barrier."""

    NAME: ClassVar[str] = "th.fence_proxy_async"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.WRITES_MEMORY})

    def verify(self) -> None:
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class WgmmaOp(Op):
    """``wgmma.mma_async`` m64n{n}k16, f32 accumulator, ``dtype`` (bf16/f16) inputs.

    A comes from the descriptor ``a_desc`` or, when that is absent, from the 8
    registers ``a`` (the ``mma.m16n8k16`` A fragment of this thread's warp's 16
    rows); B from the descriptor ``b_desc``, K-major or, with ``trans_b``, N-major.
    ``c`` are the ``n // 2`` accumulator
    elements; with ``scale_d`` false they are ignored (D = A @ B). The ``n // 2``
    results are in flight until a ``th.wgmma_wait`` completes their group.
    """

    NAME: ClassVar[str] = "th.wgmma"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.CONVERGENT})
    n: int = attr(64)
    dtype: DType = attr(bf16)
    scale_d: bool = attr(True)
    trans_b: bool = attr(False)
    a_desc: Value | None = opt_operand()
    a: tuple[Value, ...] = operands()
    b_desc: Value = operand()
    c: tuple[Value, ...] = operands()

    def verify(self) -> None:
        if self.n not in WGMMA_NS:
            self._fail("n must be a multiple of 8 in [8, 256]")
        if self.dtype not in (bf16, f16):
            self._fail("wgmma inputs must be bf16 or f16")
        if self.a_desc is not None:
            if self.a or not _scalar(self.a_desc, i64):
                self._fail("A is either one i64 descriptor or 8 registers")
        elif len(self.a) != 8 or not all(_scalar(v, self.dtype) for v in self.a):
            self._fail(f"register A takes 8 {self.dtype} elements per thread")
        if not _scalar(self.b_desc, i64):
            self._fail("b_desc must be an i64 descriptor")
        if len(self.c) != self.n // 2 or not all(_scalar(v, f32) for v in self.c):
            self._fail(f"expected {self.n // 2} f32 accumulator elements")
        if len(self.results) != self.n // 2 or not all(_scalar(r, f32) for r in self.results):
            self._fail(f"expected {self.n // 2} f32 results")


@dataclass(frozen=True, kw_only=True)
class WgmmaCommitOp(Op):
    """``wgmma.commit_group.sync.aligned``: close the open group of ``wgmma`` ops."""

    NAME: ClassVar[str] = "th.wgmma_commit"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.WRITES_MEMORY, Trait.CONVERGENT})

    def verify(self) -> None:
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class WgmmaWaitOp(Op):
    """``wgmma.wait_group.sync.aligned pending``: at most ``pending`` committed
    groups stay unfinished; ``values`` come back completed as the results."""

    NAME: ClassVar[str] = "th.wgmma_wait"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY,
                                                    Trait.CONVERGENT})
    pending: int = attr(0)
    values: tuple[Value, ...] = operands()

    def verify(self) -> None:
        if not 0 <= self.pending <= 7:
            self._fail("pending must be in [0, 7]")
        if not all(_scalar(v, f32) for v in self.values):
            self._fail("the guarded values are f32 accumulator elements")
        if tuple(r.type for r in self.results) != tuple(v.type for v in self.values):
            self._fail("results must match the guarded values")


HOPPER_OPS: tuple[type[Op], ...] = (
    WgmmaDescOp, WgmmaFenceOp, FenceProxyAsyncOp, WgmmaOp, WgmmaCommitOp, WgmmaWaitOp,
)

register_ops(HOPPER_OPS)
