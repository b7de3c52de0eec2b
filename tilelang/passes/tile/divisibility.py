"""Divisibility of integer scalars in the tile IR: which powers of two divide a value.

A pure analysis (no IR is changed), used by ``vectorize`` to prove that a
window offset is a multiple of the vector width. For each integer scalar it
finds a power of two ``2**k`` that divides the value in *every* execution;
``is_multiple(v, n)`` then answers whether ``n`` is proven to divide ``v``.

Only powers of two are tracked because they survive the IR's wrap-around
arithmetic: a value that is a multiple of ``2**k`` before wrapping modulo
``2**bits`` still is after it (for ``k <= bits``); a multiple of 3 need not be.
Constants are known exactly, so ``is_multiple(c, 3)`` holds for ``c = 6``.

Rules (``d(x)`` the known divisor of ``x``, capped at ``2**bits``, which means
"the value is 0"):

* constant ``c``: its lowest set bit (``2**bits`` for 0);
* ``tl.program_id``, ``tl.num_programs``, runtime scalar arguments, loop-carried
  values and anything else unknown: 1;
* ``tl.tensor_dim``/``tl.tensor_stride`` of a tensor whose type has the
  ``divisible`` fact: ``elements_per_16_bytes`` for the last dim and the other
  strides (what the fact promises), else 1;
* the induction variable of a ``tl.for`` (``range`` or ``pipeline``):
  ``min(d(lower), d(step))``, as it takes the values ``lower + i * step``;
* ``add``/``sub``/``maximum``/``minimum``/``or``/``xor``/``where``: the smaller
  divisor; ``and``: the larger; ``mul``: the product; ``shl`` by a constant
  ``c``: ``d * 2**c``; ``shr`` and ``floordiv`` by a power-of-two constant ``2**c``:
  ``d / 2**c`` when ``2**c`` divides ``d`` (the division is exact), else 1;
  ``mod`` by ``m``: ``min(d, d(m))``; ``neg``/``abs``: unchanged;
* casts between integer types: unchanged, capped at the target's ``2**bits``;
* the results of a ``tl.if``: the smaller divisor of what the two branches yield.
"""

from __future__ import annotations

from typing import Any

from tilelang.ir import ops as o
from tilelang.ir.types import ScalarType, TensorType
from tilelang.ir.values import Function, Value


def _lowbit(c: int) -> int:
    return c & -c


def _bits(v: Value) -> int:
    return v.type.dtype.bits if isinstance(v.type, ScalarType) else 0


class Divisibility:
    """Known power-of-two divisors of the integer scalars of one tile-IR function."""

    def __init__(self, fn: Function) -> None:
        self.fn = fn
        # value name -> ("op", op, result index) | ("iv", loop) | ("carried", loop)
        self._defs: dict[str, tuple[Any, ...]] = {}
        self._cache: dict[str, int] = {}
        for op in o.walk(fn.body):
            for i, r in enumerate(op.results):
                self._defs[r.name] = ("op", op, i)
            if isinstance(op, o.ForOp):
                self._defs[op.body.args[0].name] = ("iv", op)
                for a in op.body.args[1:]:
                    self._defs[a.name] = ("carried", op)
        # Fill the cache in program order, so that a long chain of definitions is
        # never followed by deep recursion. A tl.if's results wait for its region.
        for op in o.walk(fn.body):
            if not isinstance(op, o.IfOp):
                for r in op.results:
                    self.divisor(r)

    # -- queries ---------------------------------------------------------------
    def divisor(self, v: Value) -> int:
        """The largest power of two proven to divide ``v`` (``2**bits``: ``v`` is 0)."""
        if not isinstance(v.type, ScalarType) or not v.type.dtype.is_int:
            return 1
        d = self._cache.get(v.name)
        if d is None:
            d = min(self._compute(v), 1 << _bits(v))
            self._cache[v.name] = d
        return d

    def constant(self, v: Value) -> int | None:
        """``v``'s value when it is an integer constant (after constexpr folding)."""
        entry = self._defs.get(v.name)
        if entry and entry[0] == "op" and isinstance(entry[1], o.ConstantOp) and \
                isinstance(entry[1].value, int) and not isinstance(entry[1].value, bool):
            return entry[1].value
        return None

    def is_multiple(self, v: Value, n: int) -> bool:
        """Whether ``n`` (> 0) is proven to divide ``v`` in every execution."""
        c = self.constant(v)
        if c is not None:
            return c % n == 0
        if n & (n - 1):  # not a power of two: only constants are known that well
            return False
        return self.divisor(v) % n == 0

    # -- the rules ----------------------------------------------------------------
    def _compute(self, v: Value) -> int:
        entry = self._defs.get(v.name)
        if entry is None or entry[0] == "carried":
            return 1
        if entry[0] == "iv":
            loop: o.ForOp = entry[1]
            return min(self.divisor(loop.lower), self.divisor(loop.step))
        op, index = entry[1], entry[2]
        handler = getattr(self, f"_{type(op).__name__}", None)
        return handler(op, index) if handler is not None else 1

    def _ConstantOp(self, op: o.ConstantOp, index: int) -> int:
        c = op.value
        if isinstance(c, bool) or not isinstance(c, int):
            return 1
        return 1 << _bits(op.result) if c == 0 else _lowbit(c)

    def _tensor_fact(self, op: Any, is_stride: bool) -> int:
        t = op.tensor.type
        if not isinstance(t, TensorType) or not t.divisible:
            return 1
        last = op.dim == t.rank - 1
        return t.elements_per_16_bytes if last != is_stride else 1

    def _TensorDimOp(self, op: o.TensorDimOp, index: int) -> int:
        return self._tensor_fact(op, is_stride=False)

    def _TensorStrideOp(self, op: o.TensorStrideOp, index: int) -> int:
        return self._tensor_fact(op, is_stride=True)

    def _BinaryOp(self, op: o.BinaryOp, index: int) -> int:
        fn = op.fn
        if fn in o.COMPARE_FNS:
            return 1
        a, b = self.divisor(op.lhs), self.divisor(op.rhs)
        if fn in ("add", "sub", "maximum", "minimum", "or", "xor"):
            return min(a, b)
        if fn == "and":
            return max(a, b)
        if fn == "mul":
            return a * b
        if fn == "mod":
            return min(a, b)
        c = self.constant(op.rhs)
        if fn == "shl":
            return a << c if c is not None and 0 <= c < _bits(op.lhs) else a
        if fn == "shr" and c is not None and 0 <= c < _bits(op.lhs):
            return a >> c if a >> c else 1
        if fn == "floordiv" and c and _lowbit(abs(c)) == abs(c):
            return a // abs(c) if a % abs(c) == 0 else 1
        return 1

    def _UnaryOp(self, op: o.UnaryOp, index: int) -> int:
        return self.divisor(op.value) if op.fn in ("neg", "abs") else 1

    def _CastOp(self, op: o.CastOp, index: int) -> int:
        src = op.value.type
        if not isinstance(src, ScalarType) or not src.dtype.is_int:
            return 1
        return self.divisor(op.value)  # low bits survive widening and narrowing

    def _WhereOp(self, op: o.WhereOp, index: int) -> int:
        return min(self.divisor(op.x), self.divisor(op.y))

    def _IfOp(self, op: o.IfOp, index: int) -> int:
        return min(self.divisor(block.ops[-1].values[index]) for block in (op.then, op.orelse))


__all__ = ["Divisibility"]
