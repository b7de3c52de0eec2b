"""The ops of the thread IR: what one thread (lane) of a block runs.

The thread IR reuses the tile IR's scalar ops (``tl.constant``, ``tl.binary``,
``tl.unary``, ``tl.cast``, ``tl.where``, ``tl.program_id``, ``tl.num_programs``,
``tl.tensor_dim``, ``tl.tensor_stride``, ``tl.barrier``, ``tl.print``,
``tl.device_assert``, ``tl.for``, ``tl.if``, ``tl.yield``, ``tl.return``) on
``ScalarType`` values only, and adds the ops below. Addresses
are plain integers: global addresses are i64 byte addresses (``th.tensor_ptr``
plus byte offsets), shared addresses are i32 byte offsets into the block's
shared memory. A vector access of ``vec`` elements has ``vec`` results (or
operands), so the IR needs no vector types; code generators pack them.

Control flow in the thread IR is block-uniform: loop bounds and ``if``
conditions have the same value in every thread. Per-thread choices are
predicates (``pred``) on memory ops and ``tl.where``.

Memory rules: every access is aligned to its size (``vec * itemsize`` bytes;
``ldmatrix`` rows and ``cp.async`` to 16 or ``bytes``); a global access's dtype
has the element size of the tensor it touches (atomics: exactly its dtype);
an access without ``pred`` is made by every thread, so every thread's address
must be valid. ``tl.print`` prints from every thread. Ops with the
``CONVERGENT`` trait are warp-collective: all lanes of a warp (32 on NVIDIA,
a 64-lane wavefront on AMD: the function's ``warp_size`` attribute) run them
together, so passes must not move them into code that only some lanes reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tilelang.ir.ops import Op, Trait, attr, operand, operands, opt_operand, register_ops
from tilelang.ir.types import DType, ScalarType, TensorType, bf16, bool_, f16, f32, i32, i64
from tilelang.ir.values import Value

MMA_SHAPES = {"m16n8k16": (16, 8, 16)}
# CDNA MFMA shapes (M, N, K) and the f32 accumulator elements each of 64 lanes holds.
MFMA_SHAPES = {"32x32x8": (32, 32, 8), "16x16x16": (16, 16, 16)}
MFMA_C_ELEMENTS = {"32x32x8": 16, "16x16x16": 4}


def _scalar(v: Value, dtype: DType | None = None) -> bool:
    return isinstance(v.type, ScalarType) and (dtype is None or v.type.dtype == dtype)


def _check_pred(op: Op, pred: Value | None) -> None:
    if pred is not None and not _scalar(pred, bool_):
        op._fail("pred must be a bool scalar")


def _check_results(op: Op, n: int, dtype: DType) -> None:
    if len(op.results) != n or any(r.type != ScalarType(dtype) for r in op.results):
        op._fail(f"expected {n} result(s) of {dtype}")


@dataclass(frozen=True, kw_only=True)
class ThreadIdOp(Op):
    """This thread's index in its block, ``0 <= tid < num_threads`` (i32)."""

    NAME: ClassVar[str] = "th.thread_id"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})

    def verify(self) -> None:
        _check_results(self, 1, i32)


@dataclass(frozen=True, kw_only=True)
class TensorPtrOp(Op):
    """The global byte address of a tensor argument's first element (i64)."""

    NAME: ClassVar[str] = "th.tensor_ptr"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE})
    tensor: Value = operand()

    def verify(self) -> None:
        if not isinstance(self.tensor.type, TensorType):
            self._fail("operand must be a tensor")
        _check_results(self, 1, i64)


@dataclass(frozen=True, kw_only=True)
class LdGlobalOp(Op):
    """Load ``vec`` consecutive elements of ``dtype`` at global byte address ``addr``.

    Where ``pred`` is false nothing is read and every result is ``other`` (zero
    when absent). ``addr`` must be aligned to the access size.
    """

    NAME: ClassVar[str] = "th.ld_global"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY})
    dtype: DType = attr()
    vec: int = attr(1)
    addr: Value = operand()
    pred: Value | None = opt_operand()
    other: Value | None = opt_operand()

    def verify(self) -> None:
        if not _scalar(self.addr, i64):
            self._fail("addr must be an i64 scalar")
        _check_pred(self, self.pred)
        if self.other is not None and not _scalar(self.other, self.dtype):
            self._fail(f"other must be a {self.dtype} scalar")
        _check_results(self, self.vec, self.dtype)


@dataclass(frozen=True, kw_only=True)
class StGlobalOp(Op):
    """Store ``values`` (consecutive elements) at global byte address ``addr`` where
    ``pred`` holds."""

    NAME: ClassVar[str] = "th.st_global"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.WRITES_MEMORY})
    addr: Value = operand()
    values: tuple[Value, ...] = operands()
    pred: Value | None = opt_operand()

    def verify(self) -> None:
        if not _scalar(self.addr, i64):
            self._fail("addr must be an i64 scalar")
        _check_pred(self, self.pred)
        if not self.values or len({v.type for v in self.values}) != 1 or \
                not all(_scalar(v) for v in self.values):
            self._fail("values must be one or more scalars of one dtype")
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class AtomicAddGlobalOp(Op):
    """Atomically add ``value`` to the element at global byte address ``addr`` where
    ``pred`` holds."""

    NAME: ClassVar[str] = "th.atomic_add_global"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})
    addr: Value = operand()
    value: Value = operand()
    pred: Value | None = opt_operand()

    def verify(self) -> None:
        if not _scalar(self.addr, i64) or not _scalar(self.value):
            self._fail("atomic_add_global takes an i64 address and a scalar")
        _check_pred(self, self.pred)
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class LdSharedOp(Op):
    """Load ``vec`` consecutive elements of ``dtype`` at shared byte offset ``addr``."""

    NAME: ClassVar[str] = "th.ld_shared"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY})
    dtype: DType = attr()
    vec: int = attr(1)
    addr: Value = operand()

    def verify(self) -> None:
        if not _scalar(self.addr, i32):
            self._fail("addr must be an i32 scalar")
        _check_results(self, self.vec, self.dtype)


@dataclass(frozen=True, kw_only=True)
class StSharedOp(Op):
    """Store ``values`` (consecutive elements) at shared byte offset ``addr`` where
    ``pred`` holds."""

    NAME: ClassVar[str] = "th.st_shared"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.WRITES_MEMORY})
    addr: Value = operand()
    values: tuple[Value, ...] = operands()
    pred: Value | None = opt_operand()

    def verify(self) -> None:
        if not _scalar(self.addr, i32):
            self._fail("addr must be an i32 scalar")
        _check_pred(self, self.pred)
        if not self.values or len({v.type for v in self.values}) != 1 or \
                not all(_scalar(v) for v in self.values):
            self._fail("values must be one or more scalars of one dtype")
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class CpAsyncOp(Op):
    """Start copying ``bytes`` bytes from global ``src`` to shared ``dst``
    (``cp.async``): the first ``src_bytes`` (``0 <= src_bytes <= bytes``) are read,
    the rest are zero-filled, so ``src_bytes = 0`` writes zeros without touching
    global memory. ``src`` and ``dst`` are aligned to ``bytes``. The data is
    visible only after the ``th.cp_async_wait`` that completes its group; groups
    are per thread."""

    NAME: ClassVar[str] = "th.cp_async"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})
    bytes: int = attr(16)
    dst: Value = operand()
    src: Value = operand()
    src_bytes: Value = operand()

    def verify(self) -> None:
        if self.bytes not in (4, 8, 16):
            self._fail("cp.async copies 4, 8 or 16 bytes")
        if not _scalar(self.dst, i32) or not _scalar(self.src, i64) or \
                not _scalar(self.src_bytes, i32):
            self._fail("cp_async takes (dst: i32 shared, src: i64 global, src_bytes: i32)")
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class CpAsyncCommitOp(Op):
    """Close the group of this thread's ``th.cp_async`` ops issued since the last commit."""

    NAME: ClassVar[str] = "th.cp_async_commit"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.WRITES_MEMORY})

    def verify(self) -> None:
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class CpAsyncWaitOp(Op):
    """Wait until at most ``pending`` of this thread's committed groups are unfinished."""

    NAME: ClassVar[str] = "th.cp_async_wait"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.WRITES_MEMORY})
    pending: int = attr(0)

    def verify(self) -> None:
        if self.pending < 0:
            self._fail("pending must be >= 0")
        self._expect_results(0)


@dataclass(frozen=True, kw_only=True)
class LdMatrixOp(Op):
    """``ldmatrix.sync.aligned.m8n8.x{num}[.trans].b16``: warp-collective load of
    ``num`` 8×8 matrices of 16-bit ``dtype`` from shared memory.

    Lane ``8*j + r`` gives (in ``addr``) the byte offset of row ``r`` of matrix
    ``j``; each lane receives 2 elements of each matrix (lane ``l`` holds row
    ``l // 4``, columns ``2 * (l % 4)`` and ``+1``; transposed with ``trans``), so
    there are ``2 * num`` results in matrix order.
    """

    NAME: ClassVar[str] = "th.ldmatrix"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.READS_MEMORY, Trait.CONVERGENT})
    dtype: DType = attr()
    num: int = attr(4)
    trans: bool = attr(False)
    addr: Value = operand()

    def verify(self) -> None:
        if self.num not in (1, 2, 4) or self.dtype.bits != 16:
            self._fail("ldmatrix loads 1, 2 or 4 matrices of a 16-bit dtype")
        if not _scalar(self.addr, i32):
            self._fail("addr must be an i32 shared offset")
        _check_results(self, 2 * self.num, self.dtype)


@dataclass(frozen=True, kw_only=True)
class MmaOp(Op):
    """``mma.sync.aligned`` warp-collective ``D = A @ B + C`` on fragments.

    For ``m16n8k16`` with f16/bf16 ``a``/``b``: 8 A elements, 4 B elements and 4
    C elements per lane (f32, or f16 when A and B are f16), laid out as the PTX ISA's
    fragment tables (``tilelang.ir.fragment_layouts``: ``mma_m16n8k16_a/b/c``); 4 results like C.
    """

    NAME: ClassVar[str] = "th.mma"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE, Trait.CONVERGENT})
    shape: str = attr("m16n8k16")
    a: tuple[Value, ...] = operands()
    b: tuple[Value, ...] = operands()
    c: tuple[Value, ...] = operands()

    def verify(self) -> None:
        if self.shape not in MMA_SHAPES:
            self._fail(f"unknown mma shape {self.shape!r}")
        if len(self.a) != 8 or len(self.b) != 4 or len(self.c) != 4:
            self._fail("m16n8k16 takes 8 A, 4 B and 4 C elements per lane")
        ab = {v.type for v in self.a + self.b}
        if len(ab) != 1 or next(iter(ab)).dtype not in (f16, bf16):
            self._fail("A and B elements must share one dtype, f16 or bf16")
        c_types = {v.type for v in self.c}
        if c_types != {ScalarType(f32)} and not (
                c_types == {ScalarType(f16)} and ab == {ScalarType(f16)}):
            self._fail("C elements must be f32 (or f16 with f16 A and B)")
        _check_results(self, 4, self.c[0].type.dtype)


@dataclass(frozen=True, kw_only=True)
class MfmaOp(Op):
    """CDNA ``v_mfma_f32_{shape}{f16,bf16_1k}``: wavefront-collective ``D = A @ B + C``.

    All 64 lanes of a wavefront run it together. Per lane: 4 ``a`` and 4 ``b``
    elements of one dtype (f16 or bf16) and ``c`` of f32 (16 elements for
    ``32x32x8``, 4 for ``16x16x16``); the results have C's count and type. Element
    order is the ISA's register order, given as layouts in ``tilelang.ir.fragment_layouts``
    (``mfma_32x32x8_a/b/c``, ``mfma_16x16x16_a/b/c``); cbsz/abid/blgp are 0.
    """

    NAME: ClassVar[str] = "th.mfma"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE, Trait.CONVERGENT})
    shape: str = attr("32x32x8")
    a: tuple[Value, ...] = operands()
    b: tuple[Value, ...] = operands()
    c: tuple[Value, ...] = operands()

    def verify(self) -> None:
        if self.shape not in MFMA_SHAPES:
            self._fail(f"unknown mfma shape {self.shape!r}; expected one of "
                       + ", ".join(MFMA_SHAPES))
        nc = MFMA_C_ELEMENTS[self.shape]
        if len(self.a) != 4 or len(self.b) != 4 or len(self.c) != nc:
            self._fail(f"{self.shape} takes 4 A, 4 B and {nc} C elements per lane")
        ab = {v.type for v in self.a + self.b}
        if len(ab) != 1 or next(iter(ab)) not in (ScalarType(f16), ScalarType(bf16)):
            self._fail("A and B elements must share one dtype, f16 or bf16")
        if {v.type for v in self.c} != {ScalarType(f32)}:
            self._fail("C elements must be f32")
        _check_results(self, nc, f32)


SHFL_MODES = ("bfly", "idx", "down", "up")


@dataclass(frozen=True, kw_only=True)
class ShflOp(Op):
    """``shfl.sync`` over the whole warp: the ``value`` of another lane.

    ``bfly``: lane ``l ^ lane``; ``idx``: lane ``lane``; ``down``: ``l + lane`` (own
    value past the end); ``up``: ``l - lane`` (own value before the start). The
    ``lane`` operand is in ``[0, warp_size)`` (32 on NVIDIA, 64 on AMD).
    """

    NAME: ClassVar[str] = "th.shfl"
    TRAITS: ClassVar[frozenset[Trait]] = frozenset({Trait.PURE, Trait.CONVERGENT})
    mode: str = attr("bfly")
    value: Value = operand()
    lane: Value = operand()

    def verify(self) -> None:
        if self.mode not in SHFL_MODES:
            self._fail(f"unknown shuffle mode {self.mode!r}")
        if not _scalar(self.value) or self.value.type.dtype.bits > 32:
            self._fail("shfl moves one scalar of at most 32 bits")
        if not _scalar(self.lane, i32):
            self._fail("lane must be an i32 scalar")
        if len(self.results) != 1 or self.results[0].type != self.value.type:
            self._fail("result must have the value's type")


THREAD_OPS: tuple[type[Op], ...] = (
    ThreadIdOp, TensorPtrOp, LdGlobalOp, StGlobalOp, AtomicAddGlobalOp, LdSharedOp,
    StSharedOp, CpAsyncOp, CpAsyncCommitOp, CpAsyncWaitOp, LdMatrixOp, MmaOp, MfmaOp, ShflOp,
)

register_ops(THREAD_OPS)
