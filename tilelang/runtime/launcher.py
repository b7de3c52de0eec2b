"""``kernel[grid](*args)``: bind arguments, specialize, compile once, launch."""

from __future__ import annotations

from typing import Any

import numpy as np

from tilelang.errors import LaunchError
from tilelang.ir import types as t
from tilelang.runtime import dispatch
from tilelang.runtime.arrays import array_dtype, array_dtype_name, array_rank, is_array
from tilelang.ir.numpy_dtypes import from_numpy
from tilelang.runtime.facts import array_facts
from tilelang.runtime.targets import _TARGETS as _KNOWN_TARGETS
from tilelang.runtime.targets import resolve_target


class Launcher:
    """The callable ``kernel[grid]``."""

    __slots__ = ("kernel", "grid")

    def __init__(self, kernel: Any, grid: Any) -> None:
        self.kernel = kernel
        self.grid = grid

    def with_host_arrays(self, *args: Any, **kwargs: Any) -> None:
        """This launch with numpy arrays on any target: on a GPU they are copied to the
        device and back (``host_arrays.py``); elsewhere it is the plain launch."""
        from tilelang.runtime.host_arrays import launch_with_host_arrays
        launch_with_host_arrays(self.kernel, self.grid, args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        """Launch the kernel on the grid: a stored hit (``dispatch``) goes straight to the
        target; otherwise bind, specialize, compile once, launch and store the hit."""
        kernel, grid = self.kernel, self.grid
        target = stream = num_warps = num_stages = None
        if kwargs:
            target = kwargs.pop("target", None)
            if kwargs:   # (target= alone is the common case)
                stream = kwargs.pop("stream", None)
                num_warps = kwargs.pop("num_warps", None)
                num_stages = kwargs.pop("num_stages", None)
        tgt = _KNOWN_TARGETS.get(target) if target is not None else None
        if tgt is None:
            tgt = resolve_target(target)
        views: list[Any] = []
        if kwargs:   # (constexprs by keyword; anything else makes fast_key say None)
            key = dispatch.fast_key(kernel, tgt.name, args, kwargs, num_warps, num_stages, views)
        else:        # the generated reader: fast_key's key, unrolled (a property test checks)
            readers = kernel.__dict__.get("_key_readers")
            reader = readers.get(len(args)) if readers is not None else None
            if reader is None:
                reader = dispatch.key_reader(kernel, len(args))
            key = reader(args, tgt.name, num_warps, num_stages, views)
        table = kernel.__dict__.get("_dispatch")
        try:
            hit = table.get(key) if table is not None and key is not None else None
        except TypeError:   # an unhashable constexpr: the general path handles it
            hit = None
        if hit is not None:
            grid3 = dispatch.quick_grid(grid) or normalize_grid(kernel, grid, hit.constexprs)
            hit.run(grid3, args if hit.all_runtime else [args[i] for i in hit.runtime_positions],
                    views, stream)
            return
        params, runtime_args, constexprs = bind_arguments(kernel, args, kwargs)
        spec = kernel.make_specialization(params, constexprs, num_warps, num_stages)
        grid3 = normalize_grid(kernel, grid, spec.constexpr_dict())
        spec_key = (tgt.name, spec)
        compiled = kernel.__dict__.setdefault("_compiled", {}).get(spec_key)
        if compiled is None:
            compiled = tgt.compile(kernel, spec)
            kernel._compiled[spec_key] = compiled
        tgt.launch(compiled, grid3, runtime_args, kernel, stream)
        dispatch.store(kernel, key, tgt, compiled, args, runtime_args, spec.constexpr_dict())


def launch(kernel: Any, grid: Any, args: tuple, kwargs: dict[str, Any]) -> None:
    """``kernel[grid](*args, **kwargs)``."""
    Launcher(kernel, grid)(*args, **kwargs)


def _fail(kernel: Any, message: str, hint: str | None = None) -> LaunchError:
    return LaunchError(message, kernel=kernel.name, loc=kernel.source.def_loc, hint=hint)


def bind_arguments(kernel: Any, args: tuple, kwargs: dict[str, Any]) -> tuple:
    """Split a launch's arguments into runtime ``ParamSpec``s (a tensor's with the
    alignment facts of its array), their values and constexprs."""
    from tilelang.frontend.kernel_def import ParamSpec
    try:
        bound = kernel.signature.bind(*args, **kwargs)
    except TypeError as e:
        names = [f"{n}{' (constexpr)' if k == 'constexpr' else ''}"
                 for n, k in kernel.param_kinds.items()]
        raise _fail(kernel, f"bad launch arguments: {e}",
                    f"kernel '{kernel.name}' takes ({', '.join(names)})") from None
    params, values, constexprs = [], [], {}
    for name, value in bound.arguments.items():
        kind = kernel.param_kinds[name]
        if kind == "constexpr":
            constexprs[name] = value
            continue
        if is_array(value):
            dtype = array_dtype(value)
            if dtype is None:
                raise _fail(kernel, f"argument '{name}' has unsupported dtype "
                                    f"{array_dtype_name(value)}",
                            f"supported dtypes: {', '.join(d.name for d in t.ALL_DTYPES)}")
            # The facts are part of the key: an aligned and an unaligned array of one
            # dtype and rank get different code (vectorized or not).
            params.append(ParamSpec(name, dtype, array_rank(value), array_facts(value, dtype)))
        elif kind == "tensor":
            raise _fail(kernel, f"argument '{name}' must be an array (it is annotated "
                                f"tl.Tensor), got {type(value).__name__}",
                        "pass a numpy array, or a torch/cupy/DLPack array on a GPU target")
        else:
            params.append(ParamSpec(name, _scalar_dtype(kernel, name, value), None))
        values.append(value)
    return tuple(params), values, constexprs


def _scalar_dtype(kernel: Any, name: str, value: Any) -> t.DType:
    if isinstance(value, (bool, np.bool_)):
        return t.bool_
    if isinstance(value, int):
        return t.i32 if -2**31 <= value < 2**31 else t.i64
    if isinstance(value, float):
        return t.f32
    if isinstance(value, np.generic):
        dtype = from_numpy(value.dtype)
        if dtype is not None:
            return dtype
    raise _fail(kernel, f"argument '{name}' is a {type(value).__name__}, which a kernel "
                        f"cannot take at run time",
                "pass an array or a number, or annotate the parameter with tl.constexpr "
                "to make it a compile-time value")


def normalize_grid(kernel: Any, grid: Any, constexprs: dict[str, Any]) -> tuple[int, int, int]:
    """The grid as three non-negative ints; a callable grid gets the constexprs."""
    if callable(grid):
        grid = grid(dict(constexprs))
    if not isinstance(grid, tuple):
        raise _fail(kernel, f"the grid must be a tuple of 1 to 3 ints, got "
                            f"{type(grid).__name__} {grid!r}",
                    "write kernel[(n,)](...) (note the comma) or kernel[(x, y)](...)")
    if not 1 <= len(grid) <= 3 or not all(isinstance(g, (int, np.integer)) and
                                          not isinstance(g, bool) and g >= 0 for g in grid):
        raise _fail(kernel, f"the grid must be 1 to 3 non-negative ints, got {grid!r}")
    g = tuple(int(x) for x in grid) + (1,) * (3 - len(grid))
    return g[0], g[1], g[2]


__all__ = ["Launcher", "bind_arguments", "launch", "normalize_grid"]
