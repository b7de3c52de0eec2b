"""Register layouts: which thread holds which element of a register tile, in which slot.

A register layout of a tile of ``shape`` spread over ``num_threads`` threads with
``num_slots`` registers per thread maps each (thread, slot) pair to one tile
coordinate. Layouts are built, as in Tilus, from four primitives and a
Kronecker-like product (see ``docs/layouts.md``)::

    local(2, 1) * spatial(8, 4) * local(1, 2)    # the mma.sync m16n8k16 accumulator

* ``local(*shape)``          one thread holds the whole shape, slots row-major;
* ``column_local(*shape)``   the same, slots column-major;
* ``spatial(*shape)``        threads row-major over the shape, one slot each;
* ``column_spatial(*shape)`` threads column-major over the shape;
* ``replicate(n, rank)``     a ``(1,) * rank`` tile held by ``n`` threads;
* ``A * B``: shape_i = A.shape_i * B.shape_i, thread = tA * B.num_threads + tB,
  slot = sA * B.num_slots + sB, coord_i = cA_i * B.shape_i + cB_i.

Layouts are frozen, hashable expression trees (``==`` compares expressions;
``same_as`` compares mappings) with a cached numpy ``table()``. ``str`` prints
the expression and ``parse_layout`` reads it back. ``divide`` and ``reduce``
work on the expression's canonical form of one-axis *atoms* and are checked
against the tables. At the end: the mma.sync m16n8k16 fragments (from the PTX
ISA's tables), ldmatrix results and warp-tiled block layouts built from them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cached_property
from math import prod
from typing import Callable, ClassVar, Iterable, Sequence

import numpy as np

from tilelang.errors import IRError


class LayoutError(IRError):
    """A layout built, combined or parsed with arguments that cannot work."""


def _dims(shape: Iterable[int], what: str) -> tuple[int, ...]:
    dims = tuple(shape)
    if not dims or any(not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1
                       for d in dims):
        raise LayoutError(f"{what} needs one or more positive integer sizes, got {dims}")
    return tuple(int(d) for d in dims)


# Atom kinds: a slot digit, a thread digit on a tile axis, a replicating thread digit.
LOCAL, SPATIAL, REPLICA = "L", "S", "R"
Atom = tuple[str, int, int]   # (kind, axis (-1 for REPLICA), size)


class Layout:
    """Base of register layouts; subclasses are frozen dataclasses."""

    shape: tuple[int, ...]
    num_threads: int
    num_slots: int

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return prod(self.shape)

    def __mul__(self, other: Layout) -> Layout:
        if not isinstance(other, Layout):
            return NotImplemented
        return Product.of(self, other)

    # -- the mapping ---------------------------------------------------------
    def _table(self) -> np.ndarray:
        raise NotImplementedError

    @cached_property
    def _cached_table(self) -> np.ndarray:
        t = self._table().astype(np.int64)
        t.setflags(write=False)   # shared by every caller: nobody may edit it
        return t

    def table(self) -> np.ndarray:
        """Coordinates, an int array ``(num_threads, num_slots, rank)``; read-only, cached."""
        return self._cached_table

    def flat_table(self) -> np.ndarray:
        """Row-major flat element index, an int array ``(num_threads, num_slots)``."""
        t = self.table()
        return np.ravel_multi_index(tuple(np.moveaxis(t, -1, 0)), self.shape)

    def _counts(self) -> np.ndarray:
        return np.bincount(self.flat_table().ravel(), minlength=self.numel)

    def is_injective(self) -> bool:
        """No element is held twice (no replication)."""
        return bool(self._counts().max() <= 1)

    def covers(self) -> bool:
        """Every element is held by some (thread, slot)."""
        return bool(self._counts().min() >= 1)

    def replication(self) -> int:
        """How many (thread, slot) pairs hold each element (the same for every element)."""
        counts = self._counts()
        if counts.min() != counts.max():
            raise LayoutError(f"{self} holds elements unevenly ({counts.min()}..{counts.max()})")
        return int(counts[0])

    def owners(self) -> np.ndarray:
        """The holders of each element: an int array ``(*shape, replication, 2)`` of
        ``(thread, slot)`` pairs, in increasing (thread, slot) order."""
        r = self.replication()
        flat = self.flat_table().ravel()
        order = np.argsort(flat, kind="stable")   # stable: (thread, slot) order per element
        pairs = np.stack([order // self.num_slots, order % self.num_slots], axis=-1)
        return pairs.reshape(*self.shape, r, 2)

    def same_as(self, other: Layout) -> bool:
        """Same shape, threads, slots and mapping (expressions may differ)."""
        return (self.shape == other.shape and self.table().shape == other.table().shape
                and bool(np.array_equal(self.table(), other.table())))

    # -- canonical form ------------------------------------------------------
    def atoms(self) -> tuple[Atom, ...]:
        """The layout as a product of one-axis atoms, most significant first."""
        raise NotImplementedError

    def canonical(self) -> Layout:
        """An equivalent expression built from the merged atoms (``same_as(self)``)."""
        return from_atoms(normalize(self.atoms()), self.rank)


class _Grid(Layout):
    """``local``/``spatial``: one digit (slot or thread) enumerating ``shape``."""

    KIND: ClassVar[str]
    shape: tuple[int, ...]
    column: bool

    @property
    def num_threads(self) -> int:
        return prod(self.shape) if self.KIND == SPATIAL else 1

    @property
    def num_slots(self) -> int:
        return prod(self.shape) if self.KIND == LOCAL else 1

    def _table(self) -> np.ndarray:
        idx = np.unravel_index(np.arange(self.numel), self.shape, order="F" if self.column else "C")
        coords = np.stack(idx, axis=-1)
        return coords[None] if self.KIND == LOCAL else coords[:, None]

    def atoms(self) -> tuple[Atom, ...]:
        axes = reversed(range(self.rank)) if self.column else range(self.rank)
        return tuple((self.KIND, a, self.shape[a]) for a in axes if self.shape[a] > 1)

    def __str__(self) -> str:
        name = "local" if self.KIND == LOCAL else "spatial"
        return f"{'column_' if self.column else ''}{name}({', '.join(map(str, self.shape))})"


@dataclass(frozen=True)
class Local(_Grid):
    """One thread holds the whole ``shape``; slots row-major (column-major if ``column``)."""

    KIND: ClassVar[str] = LOCAL
    shape: tuple[int, ...]
    column: bool = False


@dataclass(frozen=True)
class Spatial(_Grid):
    """Threads laid over ``shape`` row-major (column-major if ``column``), one slot each."""

    KIND: ClassVar[str] = SPATIAL
    shape: tuple[int, ...]
    column: bool = False


@dataclass(frozen=True)
class Replicate(Layout):
    """``n`` threads hold the same ``(1,) * rank`` tile: broadcasts and reduction results."""

    n: int
    ndim: int

    shape = property(lambda self: (1,) * self.ndim)
    num_threads = property(lambda self: self.n)
    num_slots = property(lambda self: 1)

    def _table(self) -> np.ndarray:
        return np.zeros((self.n, 1, self.ndim), dtype=np.int64)

    def atoms(self) -> tuple[Atom, ...]:
        return ((REPLICA, -1, self.n),) if self.n > 1 else ()

    def __str__(self) -> str:
        return f"replicate({self.n}, {self.ndim})"


@dataclass(frozen=True)
class Product(Layout):
    """The Kronecker product of ``factors`` (flat: ``(A*B)*C`` and ``A*(B*C)`` are equal)."""

    factors: tuple[Layout, ...]

    @staticmethod
    def of(*layouts: Layout) -> Layout:
        flat: list[Layout] = []
        for f in layouts:
            flat.extend(f.factors if isinstance(f, Product) else (f,))
        if len({f.rank for f in flat}) != 1:
            raise LayoutError("a product needs factors of one rank: "
                              + " * ".join(f"{f} (rank {f.rank})" for f in flat))
        return flat[0] if len(flat) == 1 else Product(tuple(flat))

    @cached_property
    def shape(self) -> tuple[int, ...]:   # type: ignore[override]
        return tuple(prod(dims) for dims in zip(*(f.shape for f in self.factors)))

    num_threads = cached_property(lambda self: prod(f.num_threads for f in self.factors))
    num_slots = cached_property(lambda self: prod(f.num_slots for f in self.factors))

    def _table(self) -> np.ndarray:
        acc = self.factors[0].table()
        for f in self.factors[1:]:
            b = f.table()
            t = acc[:, None, :, None, :] * np.asarray(f.shape) + b[None, :, None, :, :]
            acc = t.reshape(acc.shape[0] * b.shape[0], acc.shape[1] * b.shape[1], -1)
        return acc

    def atoms(self) -> tuple[Atom, ...]:
        return tuple(a for f in self.factors for a in f.atoms())

    def __str__(self) -> str:
        return " * ".join(map(str, self.factors))


def local(*shape: int) -> Layout:
    """One thread holds ``shape``, slots in row-major order."""
    return Local(_dims(shape, "local"))


def column_local(*shape: int) -> Layout:
    """One thread holds ``shape``, slots in column-major order."""
    return Local(_dims(shape, "column_local"), column=True)


def spatial(*shape: int) -> Layout:
    """``prod(shape)`` threads laid row-major over ``shape``, one slot each."""
    return Spatial(_dims(shape, "spatial"))


def column_spatial(*shape: int) -> Layout:
    """``prod(shape)`` threads laid column-major over ``shape``, one slot each."""
    return Spatial(_dims(shape, "column_spatial"), column=True)


def replicate(n: int, rank: int) -> Layout:
    """``n`` threads each holding the single element of a ``(1,) * rank`` tile."""
    _dims((n, rank), "replicate")
    return Replicate(int(n), int(rank))


def unit(rank: int) -> Layout:
    """The identity of the product: one thread, one slot, shape ``(1,) * rank``."""
    return local(*(1,) * rank)


# ---------------------------------------------------------------------------
# atoms: the canonical form behind divide and reduce
# ---------------------------------------------------------------------------

def _thread_kind(kind: str) -> bool:
    return kind != LOCAL


def _commute(x: Atom, y: Atom) -> bool:
    # Slot digits and thread digits are independent counters, so a slot atom and
    # a thread atom commute unless they split the same tile axis (their order
    # there decides which is the major part of the coordinate).
    return _thread_kind(x[0]) != _thread_kind(y[0]) and (x[1] != y[1] or x[1] < 0)


def _mergeable(x: Atom, y: Atom) -> bool:
    return x[0] == y[0] and x[1] == y[1]


def normalize(atoms: Sequence[Atom]) -> tuple[Atom, ...]:
    """Merge atoms of one kind and axis that can be brought together (A_a(m) * A_a(n)
    = A_a(m*n)); drops size-1 atoms. Keeps the mapping."""
    out: list[list] = []
    for x in atoms:
        if x[2] == 1:
            continue
        for i in range(len(out) - 1, -1, -1):
            y = tuple(out[i])
            if _mergeable(y, x):
                out[i][2] *= x[2]
                break
            if not _commute(y, x):
                out.append(list(x))
                break
        else:
            out.append(list(x))
    return tuple((k, a, n) for k, a, n in out)


def from_atoms(atoms: Sequence[Atom], rank: int) -> Layout:
    """An expression for a product of atoms: runs of one kind over increasing axes
    become ``local``/``spatial``, over decreasing axes the ``column_`` forms."""
    factors: list[Layout] = []
    i = 0
    while i < len(atoms):
        kind, axis, n = atoms[i]
        if kind == REPLICA:
            factors.append(replicate(n, rank))
            i += 1
            continue
        j, step = i + 1, 0
        while j < len(atoms) and atoms[j][0] == kind:
            d = atoms[j][1] - atoms[j - 1][1]
            if d == 0 or (step and (d > 0) != (step > 0)):
                break
            step = step or d
            j += 1
        shape = [1] * rank
        for _, a, s in atoms[i:j]:
            shape[a] = s
        make = {(LOCAL, False): local, (LOCAL, True): column_local,
                (SPATIAL, False): spatial, (SPATIAL, True): column_spatial}[kind, step < 0]
        factors.append(make(*shape))
        i = j
    return Product.of(*factors) if factors else unit(rank)


def divide(layout: Layout, inner: Layout) -> Layout | None:
    """The outer layout ``O`` with ``O * inner`` the same mapping as ``layout``, or
    ``None`` if ``inner`` does not divide it. Instruction selection asks this: an mma
    instruction fits a tile when its fragment layout divides the tile's layout."""
    if layout.rank != inner.rank or any(a % b for a, b in zip(layout.shape, inner.shape)):
        return None
    if layout.num_threads % inner.num_threads or layout.num_slots % inner.num_slots:
        return None
    rest = list(normalize(layout.atoms()))
    # Peel inner's atoms off the right end of layout, least significant first: an atom
    # is at the end if everything after it commutes with it.
    for x in reversed(normalize(inner.atoms())):
        for i in range(len(rest) - 1, -1, -1):
            if _mergeable(rest[i], x):
                if rest[i][2] % x[2]:
                    return None
                size = rest[i][2] // x[2]
                rest[i:i + 1] = [(x[0], x[1], size)] if size > 1 else []
                break
            if not _commute(rest[i], x):
                return None
        else:
            return None
    outer = from_atoms(normalize(rest), layout.rank)
    # The atoms argument is exact, but the tables are the definition: check them.
    return outer if (outer * inner).same_as(layout) else None


@dataclass(frozen=True)
class Digit:
    """One atom of a layout as lowering reads it: the atom's digit is
    ``(index // stride) % size`` of the thread index (``kind`` S or R) or of the
    slot index (``kind`` L), and adds ``digit * scale`` to coordinate ``axis``
    (replica digits add nothing: ``axis`` is -1)."""

    kind: str
    axis: int
    size: int
    stride: int
    scale: int


def digits(layout: Layout) -> tuple[Digit, ...]:
    """The layout's atoms with their index strides and coordinate scales, most
    significant first. ``coord[axis] = sum(digit * scale)`` over the atoms on that
    axis, which is how lowering computes a slot's coordinates from the thread id."""
    atoms = layout.atoms()
    out: list[Digit] = []
    thread_stride = slot_stride = 1
    scale = [1] * layout.rank
    for kind, axis, n in reversed(atoms):
        if kind == LOCAL:
            stride, slot_stride = slot_stride, slot_stride * n
        else:
            stride, thread_stride = thread_stride, thread_stride * n
        sc = scale[axis] if axis >= 0 else 0
        if axis >= 0:
            scale[axis] *= n
        out.append(Digit(kind, axis, n, stride, sc))
    return tuple(reversed(out))


def drop_axis(layout: Layout, axis: int) -> Layout:
    """The same mapping without the size-1 ``axis`` (``reshape`` removing a unit dim)."""
    if layout.shape[axis] != 1:
        raise LayoutError(f"axis {axis} of {layout} has size {layout.shape[axis]}, not 1")
    atoms = [(k, a - (a > axis), n) for k, a, n in layout.atoms()]
    return from_atoms(normalize(atoms), layout.rank - 1)


def insert_axis(layout: Layout, axis: int) -> Layout:
    """The same mapping with a new size-1 ``axis`` (``reshape`` adding a unit dim)."""
    if not 0 <= axis <= layout.rank:
        raise LayoutError(f"cannot insert axis {axis} into a rank-{layout.rank} layout")
    atoms = [(k, a + (a >= axis), n) for k, a, n in layout.atoms()]
    return from_atoms(normalize(atoms), layout.rank + 1)


@dataclass(frozen=True, eq=False)
class Reduction:
    """What ``reduce`` tells the lowering.

    ``layout``: the result (the reduced axis has size 1; threads that split it now
    replicate the result). ``slot_map[s]``: the result slot that input slot ``s``
    folds into, within its thread. ``thread_groups``: rows of threads that must
    combine their partial results. ``shuffle_masks``: lane XOR masks that combine
    each group with butterflies, or ``None`` if the groups are not XOR-closed;
    ``cross_warp``: some group spans several warps (needs shared memory).
    """

    layout: Layout
    slot_map: np.ndarray
    thread_groups: np.ndarray
    shuffle_masks: tuple[int, ...] | None
    cross_warp: bool


def reduce(layout: Layout, axis: int, warp_size: int = 32) -> Reduction:
    """The layout of ``layout``'s tile reduced along ``axis`` (kept as size 1)."""
    if not -layout.rank <= axis < layout.rank:
        raise LayoutError(f"axis {axis} is out of range for rank {layout.rank}")
    axis %= layout.rank
    atoms = normalize(layout.atoms())
    out = [((REPLICA, -1, n) if k == SPATIAL else None) if a == axis else (k, a, n)
           for k, a, n in atoms]
    result = from_atoms(normalize([x for x in out if x is not None]), layout.rank)
    # Thread digits that split the axis: their sizes and strides in the thread index.
    digits, stride = [], 1
    for k, a, n in reversed(atoms):
        if _thread_kind(k):
            if k == SPATIAL and a == axis:
                digits.append((n, stride))
            stride *= n
    offsets, base = np.zeros(1, dtype=np.int64), np.arange(layout.num_threads)
    for n, st in digits:
        offsets = (offsets[:, None] + np.arange(n)[None, :] * st).ravel()
        base = base - (base // st % n) * st     # the thread with these digits zeroed
    groups = np.unique(base)[:, None] + np.sort(offsets)[None, :]
    pow2 = all(n & (n - 1) == 0 and st & (st - 1) == 0 for n, st in digits)
    masks = tuple(sorted(st << j for n, st in digits for j in range(n.bit_length() - 1)))
    cross = bool((groups // warp_size != groups[:, :1] // warp_size).any())
    # The slot map is thread-independent; read it off thread 0 of both tables.
    coords = layout.table()[0].copy()
    coords[:, axis] = 0
    out_flat = result.flat_table()[0]
    in_flat = np.ravel_multi_index(tuple(coords.T), result.shape)
    lookup = np.full(result.numel, -1)
    lookup[out_flat] = np.arange(result.num_slots)
    return Reduction(result, lookup[in_flat], groups, masks if pow2 else None, cross)


# ---------------------------------------------------------------------------
# text: str(layout) parses back
# ---------------------------------------------------------------------------

def parse_expr(text: str, constructors: dict[str, Callable], what: str) -> object:
    """Parse ``name(arg, ...) * name(...)`` (args: ints or nested calls) by calling
    ``constructors[name](*args)`` and multiplying the terms; shared with
    ``shared_layouts``. Python's own parser reads the text; only int literals,
    calls of the given names and ``*`` are accepted, nothing is evaluated."""
    def fail(node: ast.AST | None, msg: str) -> LayoutError:
        col = f" at column {node.col_offset + 1}" if node is not None else ""
        return LayoutError(f"cannot parse {what} {text!r}{col}: {msg}")

    def build(node: ast.AST) -> object:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            lhs, rhs = build(node.left), build(node.right)
            try:
                return lhs * rhs  # type: ignore[operator]
            except (TypeError, LayoutError) as e:
                raise fail(node, f"cannot multiply: {e}") from None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            if node.func.id not in constructors:
                raise fail(node, f"unknown name {node.func.id!r}; expected one of "
                           + ", ".join(constructors))
            args = [build(a) for a in node.args]
            try:
                return constructors[node.func.id](*args)
            except (TypeError, LayoutError) as e:
                raise fail(node, str(e)) from None
        raise fail(node, "expected an integer or name(...) terms joined by '*'")

    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise LayoutError(f"cannot parse {what} {text!r}: {e.msg} at column {e.offset}") from None
    return build(tree.body)


REGISTER_CONSTRUCTORS: dict[str, Callable[..., Layout]] = {
    "local": local, "column_local": column_local, "spatial": spatial,
    "column_spatial": column_spatial, "replicate": replicate,
}


def parse_layout(text: str) -> Layout:
    """The register layout written as ``text`` (as ``str`` prints it)."""
    result = parse_expr(text, REGISTER_CONSTRUCTORS, "register layout")
    assert isinstance(result, Layout)
    return result
