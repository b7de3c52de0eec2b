"""Every call a fake HIP module answers, checked against hip-python's real signatures
(``hip_signatures.json``, read from the stubs of its wheel: ``hip_signatures.py``).

hip-python cannot be replayed here as cuda-python is (``cuda_binding_check``): its
wheels are not installed where the tests run, and where a ``libamdhip64`` exists
without a GPU a replayed call would reach it. So the check is static: the call
exists, takes exactly the real parameters, and the fake answers with a tuple of the
real size (``hipError_t``/``hiprtcResult`` first, as an int), with an ``int`` where
the real call returns one. A mismatch is a ``BindingMismatch``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from tests.runtime.cuda_binding_check import BindingMismatch
from tests.runtime.hip_signatures import DATA


@lru_cache(maxsize=1)
def signatures() -> dict[str, dict[str, dict]]:
    return json.loads(DATA.read_text())


def check_call(module: str, name: str, args: tuple) -> None:
    """``module.name(*args)`` has the real name and arity."""
    real = signatures()[module].get(name)
    if real is None:
        raise BindingMismatch(f"the recorded hip-python {module} surface has no {name} "
                              f"(add it to hip_signatures.CALLS and regenerate)")
    if len(args) != len(real["params"]):
        raise BindingMismatch(f"{module}.{name}({', '.join(real['params'])}) takes "
                              f"{len(real['params'])} arguments; called with {len(args)}")


def check_result(module: str, name: str, result: Any) -> Any:
    """``result`` has the shape of the real answer; returned unchanged."""
    kinds = signatures()[module][name]["returns"]
    if not isinstance(result, tuple) or len(result) != len(kinds):
        raise BindingMismatch(f"{module}.{name} returns a tuple of ({', '.join(kinds)}); "
                              f"the fake gave {result!r}")
    if not isinstance(result[0], int):
        raise BindingMismatch(f"{module}.{name}: the first value is the {kinds[0]} code")
    for kind, value in zip(kinds[1:], result[1:]):
        if int(result[0]) == 0 and kind == "int" and not isinstance(value, int):
            raise BindingMismatch(f"{module}.{name} returns an int; the fake gave {value!r}")
    return result


__all__ = ["check_call", "check_result", "signatures"]
