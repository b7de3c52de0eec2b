"""Generated Python for the cache-hit path of ``kernel[grid](...)``.

A cache-hit launch does the same few steps every time: read each argument's key
part (and device view), look the key up, pack the parameter values and call the
driver. Written as loops over parameter descriptions, most of its time goes to
the loops themselves. This module writes, once per kernel and once per launch
plan, a straight-line Python function with those loops unrolled (the way
Triton generates a launcher per kernel signature), and ``exec``s it:

* ``key_function(is_constexpr)``: ``key(args, target, num_warps, num_stages,
  views)`` for launches with exactly one positional argument per parameter;
  the key and views equal ``dispatch.fast_key``'s for those launches (a test
  checks the two agree), and ``None`` means "take the general path".
* ``plan_runner(...)``: ``run(grid, args, views, stream)`` for one
  ``LaunchPlan``: the values ``LaunchPlan.values`` would give, packed and passed
  to ``cuLaunchKernel`` with the same checks and errors.

The generated source only names values from the namespace it is given, so it
can be printed (``source`` attribute of the function) and read.
"""

from __future__ import annotations

from typing import Any, Callable


def _compile(source: str, name: str, namespace: dict[str, Any]) -> Callable:
    code = compile(source, f"<tilelang hit path: {name}>", "exec")
    exec(code, namespace)
    fn = namespace[name]
    fn.source = source
    return fn


def key_function(is_constexpr: tuple[bool, ...], describers: dict, describer_for: Callable
                 ) -> Callable:
    """The unrolled key reader for a kernel whose positional parameters are constexprs
    where ``is_constexpr`` says (see the module docstring)."""
    n = len(is_constexpr)
    names = [f"a{i}" for i in range(n)]
    lines = ["def key(args, target, num_warps, num_stages, views):",
             f"    if len(args) != {n}:",
             "        return None"]
    if n:
        lines.append(f"    {', '.join(names)}{',' if n == 1 else ''} = args")
    parts = ["target", "num_warps", "num_stages"]
    view_names = []
    for i, const in enumerate(is_constexpr):
        a, k = names[i], f"k{i}"
        if const:
            lines.append(f"    {k} = (type({a}), {a})")
        else:
            v = f"v{i}"
            view_names.append(v)
            lines += [
                f"    tp = type({a})",
                "    d = D.get(tp)",
                "    if d is None:",
                "        if tp is int:",
                f"            {k} = 'i32' if -2147483648 <= {a} < 2147483648 else 'i64'",
                f"            {v} = None",
                "        elif tp is float:",
                f"            {k} = 'f32'",
                f"            {v} = None",
                "        elif tp is bool:",
                f"            {k} = 'bool'",
                f"            {v} = None",
                "        else:",
                f"            d = D[tp] = describer_for({a})",
                f"            info = d({a})",
                "            if info is None:",
                "                return None",
                f"            {k}, {v} = info",
                "    else:",
                f"        info = d({a})",
                "        if info is None:",
                "            return None",
                f"        {k}, {v} = info",
            ]
        parts.append(k)
    if view_names:
        lines.append(f"    views += ({', '.join(view_names)},)")
    lines.append(f"    return ({', '.join(parts)},)")
    return _compile("\n".join(lines) + "\n", "key",
                    {"D": describers, "describer_for": describer_for})


def plan_runner(ranks: list[int | None], converters: list[Any], namespace: dict[str, Any],
                tensor_maps: list[bool] | None = None, *, device_attr: str = "ordinal",
                raw_launch: bool = True) -> Callable:
    """``run(grid, args, views, stream)`` for a launch plan whose runtime parameters have
    ``ranks`` (``None`` for a scalar) and scalar ``converters``. ``driver.<device_attr>``
    is the current device's number; with ``raw_launch`` the bindings' launch function
    ``cu_launch`` is called directly (CUDA's argument order, its result checked by
    ``driver.check``), else ``driver.launch(function, grid, threads, shared_bytes,
    stream, params_address)``, which checks its own result.

    ``namespace`` gives what the source names: ``fallback(grid, args, stream)`` (the
    target's general launch, used when the default driver was replaced since),
    ``current_driver()``, ``driver``, ``plan``, ``view_of(i, x)`` (a view whose rank was
    checked), ``device_fail(i, device)``, ``pack_fail(error)``, ``current_stream``,
    ``resolve_stream``, ``lock``, ``pack``, ``buffer``, ``cu_launch``, ``threads``,
    ``shared_bytes``, ``params_address``, ``struct_error``, ``arguments_error(error,
    grid, stream)`` (the ``LaunchError`` of a grid the binding cannot convert) and ``conv<i>`` for each
    converter that is not ``None``. Where ``tensor_maps[i]``, tensor ``i``'s TMA map
    follows its strides: ``tmap<i>(address, shape, strides)`` (``tensor_maps.py``)."""
    lines = ["def run(grid, args, views, stream):",
             "    if current_driver() is not driver:",
             "        fallback(grid, args, stream)",
             "        return",
             "    loaded = plan.function or plan.load()"]
    values: list[str] = []
    for i, (rank, conv) in enumerate(zip(ranks, converters)):
        if rank is None:
            values.append(f"args[{i}]" if conv is None else f"conv{i}(args[{i}])")
            continue
        lines += [f"    v = views[{i}]",
                  "    if v is None:",
                  f"        v = view_of({i}, args[{i}])",
                  f"    if v[3] is not None and v[3] != driver.{device_attr}:",
                  f"        device_fail({i}, v[3])",
                  f"    p{i} = v[0]"]
        values.append(f"p{i}")
        if rank:
            dims = ", ".join(f"s{i}_{d}" for d in range(rank))
            strides = ", ".join(f"t{i}_{d}" for d in range(rank))
            lines += [f"    {dims}{',' if rank == 1 else ''} = v[1]",
                      f"    {strides}{',' if rank == 1 else ''} = v[2]"]
            values += [f"s{i}_{d}" for d in range(rank)] + [f"t{i}_{d}" for d in range(rank)]
        if tensor_maps and tensor_maps[i]:   # encoded (or found) while v is this view
            lines.append(f"    m{i} = tmap{i}(p{i}, v[1], v[2])")
            values.append(f"m{i}")
    lines += ["    s = current_stream() if stream is None else resolve_stream(stream, args)",
              "    with lock:",
              "        try:",
              f"            pack(buffer, 0, {', '.join(values)})",
              "        except struct_error as e:",
              "            pack_fail(e)",
              ]
    if raw_launch:
        lines += ["        try:",
                  "            result = cu_launch(loaded.function, grid[0], grid[1], grid[2], "
                  "threads, 1, 1, shared_bytes, s, params_address, 0)",
                  "        except (OverflowError, TypeError) as e:",
                  "            raise arguments_error(e, grid, s) from None",
                  "    if result[0]:",
                  "        driver.check(result, 'cuLaunchKernel')"]
    else:
        lines += ["        driver.launch(loaded.function, grid, threads, shared_bytes, s, "
                  "params_address)"]
    return _compile("\n".join(lines) + "\n", "run", namespace)


__all__ = ["key_function", "plan_runner"]
