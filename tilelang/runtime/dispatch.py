"""The cache-hit path of ``kernel[grid](...)``: a key read straight off the arguments.

The general path binds the arguments with ``inspect.Signature``, builds
``ParamSpec``s and a ``Specialization``, then looks the compiled kernel up. On a
hit that work repeats what an earlier launch already did. ``fast_key`` reads the
same information (target, launch options, constexpr values, each array's dtype,
rank and alignment facts, each scalar's dtype) from the positional arguments
into one tuple; a launch whose key was stored after a successful general launch
goes straight to the target's ``launch``.

Soundness: every check and every choice of the general path depends only on
what the key holds, so a launch with a stored key would bind, specialize and
compile exactly as the one that stored it. Anything the key cannot describe
(runtime arguments passed by keyword, numpy scalars, unhashable constexprs)
returns ``None`` and takes the general path, which raises the usual errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tilelang.ir import types as t
from tilelang.ir.types import VECTOR_BYTES
from tilelang.runtime.arrays import array_dtype, array_rank, is_array
from tilelang.ir.numpy_dtypes import from_numpy
from tilelang.runtime.facts import array_facts, facts_of
from tilelang.runtime.nvidia_launch import contiguous_strides

_I32_MIN, _I32_MAX = -2**31, 2**31


@dataclass(frozen=True)
class FastEntry:
    """A stored hit: the compiled kernel, the positions of the runtime arguments among
    the positional ones, and the constexprs (for a callable grid)."""

    compiled: Any
    runtime_positions: tuple[int, ...]
    all_runtime: bool          # every positional argument is a runtime one, in order
    constexprs: dict[str, Any]
    run: Any   # run(grid3, runtime_args, views, stream): the target's launch


def _kernel_layout(kernel: Any) -> tuple[tuple[bool, ...], frozenset[str]]:
    """Per positional parameter whether it is a constexpr, and the constexpr names (cached)."""
    layout = kernel.__dict__.get("_dispatch_layout")
    if layout is None:
        kinds = tuple(kind == "constexpr" for kind in kernel.param_kinds.values())
        names = frozenset(n for n, k in kernel.param_kinds.items() if k == "constexpr")
        layout = kernel._dispatch_layout = (kinds, names)
    return layout


def key_reader(kernel: Any, count: int) -> Any:
    """The generated key function (``hit_codegen.key_function``) for launches of
    ``kernel`` with ``count`` positional arguments and no keywords, built once per
    count: it gives ``fast_key``'s key, or ``None`` where ``fast_key`` would."""
    readers = kernel.__dict__.setdefault("_key_readers", {})
    reader = readers.get(count)
    if reader is None:
        from tilelang.runtime.hit_codegen import key_function
        is_constexpr = _kernel_layout(kernel)[0]
        reader = readers[count] = key_function(is_constexpr[:count], _DESCRIBERS,
                                               _describer_for) \
            if count <= len(is_constexpr) else _no_key
    return reader


def _no_key(*args: Any) -> None:
    return None


def fast_key(kernel: Any, target: str, args: tuple, kwargs: dict[str, Any],
             num_warps: Any, num_stages: Any, views: list[Any]) -> tuple | None:
    """The dispatch key of a launch, or ``None`` when only the general path can tell.
    Appends to ``views`` each runtime argument's device view (``None`` for scalars and
    for arrays read only by the target), in order."""
    # (this runs on every launch: names are bound to locals, calls kept few)
    is_constexpr, constexpr_names = kernel.__dict__.get("_dispatch_layout") or \
        _kernel_layout(kernel)
    if len(args) > len(is_constexpr):
        return None
    parts: list[Any] = [target, num_warps, num_stages]
    add, add_view, describers = parts.append, views.append, _DESCRIBERS
    for a, const in zip(args, is_constexpr):
        tp = type(a)
        if const:
            add((tp, a))
            continue
        if tp is int:   # the scalar dtypes as strings: cheaper to hash than DTypes
            add("i32" if _I32_MIN <= a < _I32_MAX else "i64")
        elif tp is float:
            add("f32")
        elif tp is bool:
            add("bool")
        else:
            describe = describers.get(tp)
            if describe is None:
                describe = describers[tp] = _describer_for(a)
            info = describe(a)
            if info is None:
                return None
            add(info[0])
            add_view(info[1])
            continue
        add_view(None)
    if kwargs:
        for name, value in kwargs.items():
            if name not in constexpr_names:
                return None
            parts.append((name, type(value), value))
    return tuple(parts)


# (the key's part for an array: its type, dtype, rank and facts; its device view or
# None), or None for a non-array
Description = "tuple[tuple, Any] | None"
_DESCRIBERS: dict[type, Any] = {}


def _describer_for(a: Any) -> Any:
    """The cheapest way to describe arrays of ``type(a)``, chosen once per type."""
    if isinstance(a, np.ndarray):
        return _describe_numpy
    if isinstance(a, np.generic):   # numpy scalars: the general path decides
        return _not_an_array
    if getattr(a, "is_cuda", None) is not None and callable(getattr(a, "data_ptr", None)):
        return _describe_torch                 # torch: its dtype and strides by method
    if hasattr(a, "__cuda_array_interface__"):
        # cupy arrays name their device (a property of the class); looking for a missing
        # attribute on every launch would be slow, so the type decides once
        return _describe_cai_on_device if hasattr(type(a), "device") else _describe_cai
    return _describe_general if is_array(a) else _not_an_array


def _not_an_array(a: Any) -> None:
    return None


def _describe_numpy(a: np.ndarray) -> Any:
    np_dtype = a.dtype
    dtype = _NUMPY_DTYPES.get(np_dtype)
    if dtype is None:
        return None
    return (np.ndarray, np_dtype, a.ndim, array_facts(a, dtype)), None


def _describe_general(a: Any) -> Any:
    dtype = array_dtype(a)
    if dtype is None:
        return None
    return (type(a), dtype, array_rank(a), array_facts(a, dtype)), None


def _describe_torch(a: Any) -> Any:
    """A torch tensor: like ``_describe_cai``, what follows from its dtype, shape and
    strides is worked out once per distinct layout; a launch reads the address and
    the device. Host tensors take the general description (no view)."""
    if not a.is_cuda:
        return _describe_general(a)
    layout = (type(a), a.dtype, a.shape, a.stride())   # the type is in the key part too
    try:
        static = _TORCH_LAYOUTS[layout]
    except KeyError:
        if len(_TORCH_LAYOUTS) > 4096:
            _TORCH_LAYOUTS.clear()
        static = _TORCH_LAYOUTS[layout] = _torch_layout(a)
    if static is None:
        return _describe_general(a)
    address = a.data_ptr()
    return static[address % VECTOR_BYTES == 0], (address, static[2], static[3], a.get_device())


def _torch_layout(a: Any) -> tuple | None:
    """``_cai_layout``'s tuple for a torch tensor's layout (``None``: an unknown dtype)."""
    dtype = array_dtype(a)
    if dtype is None:
        return None
    shape, strides = tuple(a.shape), tuple(a.stride())
    tp = type(a)
    parts = tuple(_PART_IDS.setdefault(part, len(_PART_IDS)) for part in (
        (tp, dtype, len(shape), facts_of(address, shape, strides, _ITEMSIZES[dtype]))
        for address in (1, 0)))
    return parts[0], parts[1], shape, strides


def _describe_cai_on_device(a: Any) -> Any:
    """``_describe_cai`` for arrays that name their device (``a.device.id``)."""
    info = _describe_cai(a)
    if info is None or info[1] is None:
        return info
    device = getattr(a.device, "id", None)
    if type(device) is not int:
        return info
    view = info[1]
    return info[0], (view[0], view[1], view[2], device)


def _describe_cai(a: Any) -> Any:
    """A ``__cuda_array_interface__`` array, read once for the key and the launch.

    What follows from the dtype, shape and strides alone (element strides, the
    unit-stride and divisibility facts, the key's part for either alignment) is
    worked out once per distinct layout; a launch reads the address and indexes."""
    iface = a.__cuda_array_interface__
    shape = iface["shape"]
    strides = iface.get("strides")
    # (the array's type is part of the key part, so of the layout's key too)
    layout = (type(a), iface["typestr"], shape, strides)
    try:
        static = _CAI_LAYOUTS[layout]
    except KeyError:
        if len(_CAI_LAYOUTS) > 4096:           # a program cycling through many shapes
            _CAI_LAYOUTS.clear()
        static = _CAI_LAYOUTS[layout] = _cai_layout(a, iface)
    except TypeError:                          # a list shape or strides: not a key
        static = _cai_layout(a, iface)
    if static is None:
        return _describe_general(a)
    address = iface["data"][0]
    return static[address % VECTOR_BYTES == 0], (address, static[2], static[3], None)


def _cai_layout(a: Any, iface: dict) -> tuple | None:
    """``(key part if unaligned, key part if aligned, shape, element strides)`` of a
    ``__cuda_array_interface__`` layout; ``None`` for what the general path handles
    (an unknown dtype, strides that are not whole elements)."""
    typestr = iface["typestr"]
    dtype = _NUMPY_DTYPES.get(typestr)
    if dtype is None:
        return None
    itemsize = _ITEMSIZES[dtype]
    shape = tuple(iface["shape"])
    strides = iface.get("strides")
    if strides is None:
        elems = contiguous_strides(shape)
    elif any(s % itemsize for s in strides):
        return None                            # the target reports the odd strides
    else:
        elems = tuple(s // itemsize for s in strides)
    tp = type(a)
    # each distinct (type, dtype, rank, facts) becomes a small int: the key then hashes
    # an int per array rather than a nested tuple (a one-to-one renaming)
    parts = tuple(_PART_IDS.setdefault(part, len(_PART_IDS)) for part in (
        (tp, typestr, len(shape), facts_of(address, shape, elems, itemsize))
        for address in (1, 0)))                # an odd address, then an aligned one
    return parts[0], parts[1], shape, elems


# the static part of each __cuda_array_interface__ layout seen so far, and the ids of
# the key parts they use
_CAI_LAYOUTS: dict[tuple, tuple | None] = {}
_TORCH_LAYOUTS: dict[tuple, tuple | None] = {}
_PART_IDS: dict[tuple, int] = {}
_ITEMSIZES = {d: max(1, d.bits // 8) for d in t.ALL_DTYPES}


class _DtypeTable(dict):
    """numpy dtypes and typestrs to tilelang dtypes, filled on first sight."""

    def __missing__(self, key: Any) -> t.DType | None:
        try:
            value = from_numpy(np.dtype(key))
        except TypeError:
            value = None
        self[key] = value
        return value

    def get(self, key: Any, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[key]
        except TypeError:     # unhashable
            return default


_NUMPY_DTYPES = _DtypeTable()


def lookup(kernel: Any, key: tuple | None) -> FastEntry | None:
    """The stored entry of ``key``."""
    if key is None:
        return None
    table = kernel.__dict__.get("_dispatch")
    if table is None:
        return None
    try:
        return table.get(key)
    except TypeError:    # an unhashable constexpr: the general path handles it
        return None


def store(kernel: Any, key: tuple | None, target: Any, compiled: Any, args: tuple,
          runtime_args: list[Any], constexprs: dict[str, Any]) -> None:
    """Remember a successful general launch under ``key`` when its runtime arguments
    were all positional (the fast path passes exactly those)."""
    if key is None:
        return
    is_constexpr, _ = _kernel_layout(kernel)
    positions = tuple(i for i in range(len(args)) if not is_constexpr[i])
    if len(positions) != len(runtime_args):
        return
    kernel.__dict__.setdefault("_dispatch", {})[key] = FastEntry(
        compiled, positions, positions == tuple(range(len(args))), dict(constexprs),
        target.fast_runner(compiled, kernel, runtime_args))


def quick_grid(grid: Any) -> tuple[int, int, int] | None:
    """A tuple of 1 to 3 non-negative Python ints as three ints; ``None`` otherwise
    (``normalize_grid`` then handles, or rejects, it)."""
    if type(grid) is not tuple:
        return None
    n = len(grid)
    if n == 1:
        x = grid[0]
        if type(x) is int and x >= 0:
            return x, 1, 1
    elif n == 2:
        x, y = grid
        if type(x) is int and type(y) is int and x >= 0 and y >= 0:
            return x, y, 1
    elif n == 3:
        x, y, z = grid
        if type(x) is int and type(y) is int and type(z) is int and \
                x >= 0 and y >= 0 and z >= 0:
            return grid
    return None


__all__ = ["FastEntry", "fast_key", "key_reader", "lookup", "quick_grid", "store"]
