"""Every call a fake CUDA driver answers, checked against the real ``cuda.bindings.driver``.

``fake_cuda.FakeCu`` routes each call through ``check_call`` and each answer through
``check_result``, so a test on the fake fails where the real binding would:

* the name must exist in the real module, and the arguments must bind to the real
  function's signature (``inspect.signature`` of the Cython function: arity, order);
* where no ``libcuda`` can be loaded (CI, this machine), the real function is called
  with the same arguments: its argument conversion (``unsigned int``, ``bytes``,
  ``cuuint64_t`` lists, enums, handles) runs before it loads the driver, so reaching
  the "driver library not found" error proves the arguments convert, and a
  ``TypeError``/``OverflowError`` is exactly what the runtime would meet on a GPU.
  Where a driver *is* installed the replay is skipped (fake handles must never reach a
  real driver); the signature and result checks still run;
* a fake built to show how the runtime meets the binding's conversion errors
  (``mimic``) gets the real exception instead;
* the fake's answer must have the real shape, read from the function's docstring
  ``Returns`` section: a tuple of a ``CUresult`` and one value per documented return,
  each of the documented type (``CUmodule``, ``CUtensorMap``, ``bytes``, ``int``), and
  ``None`` values when the code is an error.

A mismatch raises ``BindingMismatch``, a ``BaseException``: the runtime turns ordinary
exceptions of ``cuInit`` into "no CUDA device" errors, which would hide it.
"""

from __future__ import annotations

import inspect
import re
from functools import lru_cache
from typing import Any

from cuda.bindings import driver as real

# classes the docstrings name as plain Python types
_PLAIN = {"int": int, "bytes": bytes, "float": float, "bool": bool, "str": str}


class BindingMismatch(BaseException):
    """A fake driver call or answer that the real binding would not make or give."""


@lru_cache(maxsize=None)
def returns(name: str) -> tuple[str, ...]:
    """The documented types of ``name``'s values after the ``CUresult`` (docstring
    ``Returns`` section: ``CUresult`` first, then one ``name : type`` line per value)."""
    doc = getattr(real, name).__doc__ or ""
    section = doc.split("\nReturns\n-------\n", 1)
    if len(section) != 2:
        raise BindingMismatch(f"{name}: no Returns section in the real docstring")
    body = section[1].split("\nSee Also", 1)[0]
    lines = [ln for ln in body.splitlines() if ln and not ln[0].isspace()]
    if not lines or lines[0].strip() != "CUresult":
        raise BindingMismatch(f"{name}: the real call does not return a CUresult first")
    types = []
    for ln in lines[1:]:
        _, _, kind = ln.partition(" : ")
        found = re.search(r"`~\.(\w+)`", kind)
        types.append(found.group(1) if found else kind.strip().split("[", 1)[0])
    return tuple(types)


@lru_cache(maxsize=1)
def replay_safe() -> bool:
    """Whether real calls can be replayed: only where the driver library cannot be
    loaded, so that no fake handle ever reaches a real driver."""
    try:
        real.cuDriverGetVersion()
    except Exception as e:  # the binding's own "not found" error
        return type(e).__name__ == "DynamicLibNotFoundError"
    return False


def _shape(value: Any) -> Any:
    """What decides a conversion's outcome: the type, and for ints the range."""
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        return type(value), value < 0, value.bit_length() > 31, value.bit_length() > 32, \
            value.bit_length() > 64
    if isinstance(value, (list, tuple)):
        return type(value), tuple(_shape(v) for v in value)
    return type(value)


_replayed: set[tuple] = set()


def check_call(name: str, args: tuple, mimic: bool = False) -> None:
    """``name(*args)`` is a call the real binding accepts (see the module docstring).
    With ``mimic``, a conversion error of the real binding is raised as the binding
    raises it (for tests of how the runtime handles it), not as a ``BindingMismatch``."""
    fn = getattr(real, name, None)
    if fn is None or not callable(fn):
        raise BindingMismatch(f"cuda.bindings.driver has no function {name}")
    try:
        inspect.signature(fn).bind(*args)
    except TypeError as e:
        raise BindingMismatch(f"{name}{inspect.signature(fn)} does not take "
                              f"{len(args)} arguments: {e}") from None
    if not replay_safe():
        return
    key = (name, tuple(_shape(a) for a in args))
    if key in _replayed:
        return
    try:
        fn(*args)
    except Exception as e:
        if type(e).__name__ != "DynamicLibNotFoundError":
            if mimic:
                raise
            raise BindingMismatch(f"the real {name} rejects the arguments "
                                  f"{[type(a).__name__ for a in args]}: "
                                  f"{type(e).__name__}: {e}") from None
    else:
        raise BindingMismatch(f"the real {name} ran without a driver library")
    _replayed.add(key)


def check_result(name: str, result: Any) -> Any:
    """``result`` has the shape of the real ``name``'s answer; returned unchanged."""
    kinds = returns(name)
    if not isinstance(result, tuple) or len(result) != 1 + len(kinds):
        raise BindingMismatch(f"{name} returns (CUresult, {', '.join(kinds)}); the fake "
                              f"gave {result!r}")
    code, values = result[0], result[1:]
    if not isinstance(code, real.CUresult):
        raise BindingMismatch(f"{name}: the first value must be a CUresult, not {code!r}")
    for kind, value in zip(kinds, values):
        if code != real.CUresult.CUDA_SUCCESS:
            if value is not None:
                raise BindingMismatch(f"{name} failed but the fake gave a value {value!r}")
            continue
        expected = _PLAIN.get(kind) or getattr(real, kind, None)
        if expected is None:
            continue  # a documented type the module does not export (e.g. "list")
        if not isinstance(value, expected):
            raise BindingMismatch(f"{name} returns a {kind}; the fake gave "
                                  f"{type(value).__name__} {value!r}")
    return result


__all__ = ["BindingMismatch", "check_call", "check_result", "replay_safe", "returns"]
