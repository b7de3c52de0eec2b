"""Fresh SSA names for passes that add values to an existing function."""

from __future__ import annotations

from tilelang.ir.ops import walk
from tilelang.ir.types import Type
from tilelang.ir.values import Function, Value


class Namer:
    """Hands out value names not used anywhere in ``fn`` (nor by earlier calls)."""

    def __init__(self, fn: Function) -> None:
        used = {p.name for p in fn.params} | {a.name for a in fn.body.args}
        for op in walk(fn.body):
            used.update(r.name for r in op.results)
            for region in op.regions():
                used.update(a.name for a in region.args)
        self._used = used
        self._counter = 0

    def fresh(self, type_: Type, hint: str) -> Value:
        """A new value of ``type_`` named ``hint``, or ``hint`` with a number appended."""
        name = hint
        while name in self._used:
            self._counter += 1
            name = f"{hint}_{self._counter}"
        self._used.add(name)
        return Value(name, type_)
