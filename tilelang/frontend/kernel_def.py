"""What a ``@tl.kernel`` or ``@tl.func`` is to the frontend: its source, its
parameters, and its tracing into tile IR.

A ``KernelDef`` checks the decorated function's parameters and options and traces
its Python source into a tile-IR ``Module`` once per ``Specialization`` (argument
dtypes and ranks, constexpr values, options). The object users launch,
``tilelang.runtime.kernel.Kernel``, extends it with launching and compiling for
targets; the frontend itself never imports the runtime. A ``TLFunc`` is a helper
inlined into the kernel that calls it.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from typing import Any, Callable

from tilelang.errors import CompileError, LaunchError
from tilelang.frontend import semantic as sem
from tilelang.frontend.ast_to_ir import Tracer
from tilelang.frontend.context import TraceContext, tracing
from tilelang.frontend.handles import TensorHandle, TileHandle
from tilelang.frontend.source import FunctionSource
from tilelang.ir import ops
from tilelang.ir.builder import Builder
from tilelang.ir.types import ALIGNMENT_FACTS, DType, ScalarType, TensorType
from tilelang.ir.values import Function, Module
from tilelang.ir.verifier import verify_module

RESERVED_LAUNCH_KEYWORDS = ("target", "stream", "num_warps", "num_stages")

@dataclass(frozen=True)
class ParamSpec:
    """How one runtime parameter is specialized: a tensor (dtype, rank and the facts of
    ``TENSOR_FACTS`` that hold for it, in that order) or a scalar (dtype)."""

    name: str
    dtype: DType
    rank: int | None  # None for a scalar
    facts: tuple[str, ...] = ()

    @property
    def is_tensor(self) -> bool:
        return self.rank is not None

    def __str__(self) -> str:
        """The signature entry: ``A=f32[2]``, ``A=f32[2]:16`` (the alignment facts) or
        ``A=f32[2]:aligned+unit_stride``."""
        if not self.is_tensor:
            return f"{self.name}={self.dtype.name}"
        facts = ""
        if self.facts == ALIGNMENT_FACTS:
            facts = ":16"
        elif self.facts:
            facts = ":" + "+".join(self.facts)
        return f"{self.name}={self.dtype.name}[{self.rank}]{facts}"


@dataclass(frozen=True)
class Specialization:
    """Everything a kernel's IR depends on besides its source."""

    params: tuple[ParamSpec, ...]
    constexprs: tuple[tuple[str, Any], ...]
    num_warps: int
    num_stages: int | None = None
    # kernel options that change the IR (``KERNEL_OPTIONS``), as (name, value) pairs
    options: tuple[tuple[str, Any], ...] = ()

    def constexpr_dict(self) -> dict[str, Any]:
        return dict(self.constexprs)


def _annotation_kind(annotation: Any) -> str | None:
    """'constexpr', 'tensor' or None for a parameter annotation (object or string)."""
    from tilelang.frontend import language
    if annotation is language.constexpr or annotation == "constexpr" or (
            isinstance(annotation, str) and annotation.split(".")[-1] == "constexpr"):
        return "constexpr"
    if annotation is language.Tensor or (
            isinstance(annotation, str) and annotation.split(".")[-1] == "Tensor"):
        return "tensor"
    return None


class KernelDef:
    """A ``@tl.kernel`` function as the frontend sees it: checked parameters and
    options, specializations, and their traced tile IR."""

    __tl_kernel__ = True   # the tracer rejects a call of a kernel from a kernel

    def __init__(self, fn: Callable[..., Any], num_warps: int = 4,
                 num_stages: int | None = None, persistent: bool | int = False,
                 group_m: int | None = None, tma: bool = True,
                 warp_specialize: bool = True) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.source = FunctionSource(fn)
        self.signature = inspect.signature(fn)
        self.num_warps = num_warps
        self.num_stages = num_stages
        self.options = (_tile_order_options(self, persistent, group_m) +
                        _tma_option(self, tma, warp_specialize))
        self.param_kinds: dict[str, str | None] = {}
        for p in self.signature.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise CompileError("*args/**kwargs parameters are not supported",
                                   kernel=self.name, loc=self.source.def_loc)
            if p.name in RESERVED_LAUNCH_KEYWORDS:
                raise CompileError(f"parameter name '{p.name}' is reserved for launch options",
                                   kernel=self.name, loc=self.source.def_loc,
                                   hint=f"rename it; reserved: {', '.join(RESERVED_LAUNCH_KEYWORDS)}")
            if p.name in _TILE_PARAMS:
                raise CompileError(f"parameter name '{p.name}' is reserved for persistent "
                                   f"kernels", kernel=self.name, loc=self.source.def_loc,
                                   hint="rename it")
            self.param_kinds[p.name] = _annotation_kind(p.annotation)
        if self.persistent:
            # The logical grid of tiles reaches a persistent kernel as two trailing i32
            # scalars that the launcher passes (keyword-only, after any defaults).
            extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=int)
                     for n in _TILE_PARAMS]
            self.signature = self.signature.replace(
                parameters=[*self.signature.parameters.values(), *extra])
            self.param_kinds.update(dict.fromkeys(_TILE_PARAMS))
        self.constexpr_names = tuple(n for n, k in self.param_kinds.items() if k == "constexpr")
        self._modules: dict[Specialization, Module] = {}
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<tl.kernel {self.name} at {self.source.file}:{self.source.def_loc.line}>"

    def make_specialization(self, params: tuple[ParamSpec, ...], constexprs: dict[str, Any],
                            num_warps: int | None = None,
                            num_stages: int | None = None) -> Specialization:
        values = []
        for name in self.constexpr_names:
            if name in constexprs:
                values.append((name, constexprs.pop(name)))
                continue
            default = self.signature.parameters[name].default
            if default is inspect.Parameter.empty:
                raise LaunchError(f"constexpr '{name}' has no value",
                                  kernel=self.name, loc=self.source.def_loc,
                                  hint=f"pass it as {name}=... or give it a default")
            values.append((name, default))
        if constexprs:
            raise LaunchError(f"unknown constexpr(s) {sorted(constexprs)}", kernel=self.name,
                              loc=self.source.def_loc,
                              hint=f"constexpr parameters: {list(self.constexpr_names)}")
        return Specialization(params, tuple(values), num_warps or self.num_warps,
                              num_stages if num_stages is not None else self.num_stages,
                              self.options)

    def trace(self, spec: Specialization) -> Module:
        """The tile IR of this kernel for ``spec`` (cached)."""
        module = self._modules.get(spec)
        if module is None:
            module = self._trace(spec)
            self._modules[spec] = module
        return module

    def _trace(self, spec: Specialization) -> Module:
        b = Builder()  # parameters are named first, so they keep their Python names
        ctx = TraceContext(kernel=self.name, builder=b, loc=self.source.def_loc)
        params = tuple(b.fresh(TensorType(p.dtype, p.rank, **dict.fromkeys(p.facts, True))
                               if p.is_tensor else ScalarType(p.dtype), p.name)
                       for p in spec.params)
        scope: dict[str, Any] = dict(spec.constexprs)
        with tracing(ctx):
            for p, v in zip(spec.params, params):
                if p.is_tensor:
                    h = TensorHandle(v, p.name)
                    h.init_dims(tuple(sem.tensor_dim(h, d) for d in range(p.rank)),
                                tuple(sem.tensor_stride(h, d) for d in range(p.rank)))
                    scope[p.name] = h
                else:
                    scope[p.name] = TileHandle(v)
            Tracer(ctx, self.source, scope).run_body()
            b.emit(ops.ReturnOp(loc=self.source.def_loc))
        body = b.pop(params)
        attrs = [("num_warps", spec.num_warps)]
        if spec.num_stages is not None:
            attrs.append(("num_stages", spec.num_stages))
        attrs += list(spec.options)
        attrs += [(k, v) for k, v in spec.constexprs if _printable(v)]
        fn = Function(self.name, params, body, tuple(attrs), self.source.def_loc)
        module = Module((fn,))
        verify_module(module)
        return module


def _printable(v: Any) -> bool:
    if isinstance(v, (bool, int, float, str, DType)) or v is None:
        return True
    return isinstance(v, tuple) and all(_printable(x) for x in v)


class TLFunc:
    """A ``@tl.func`` helper: inlined into the kernel that calls it."""

    __tl_func__ = True   # the tracer inlines a call of it

    MAX_DEPTH = 32

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.source = FunctionSource(fn)
        self.signature = inspect.signature(fn)
        self.__wrapped__ = fn
        self.__doc__ = fn.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise CompileError(f"@tl.func '{self.name}' can only be called from a kernel",
                           loc=self.source.def_loc)

    def inline(self, caller: Any, args: list[Any], kwargs: dict[str, Any],
               node: ast.AST) -> Any:
        if caller.depth >= self.MAX_DEPTH:
            raise caller.error(node, f"@tl.func '{self.name}' calls itself too deeply",
                               "recursion is not supported")
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise caller.error(node, f"bad call of @tl.func '{self.name}': {e}") from None
        bound.apply_defaults()
        tracer = Tracer(caller.ctx, self.source, dict(bound.arguments), is_helper=True,
                        depth=caller.depth + 1)
        saved = caller.ctx.loc
        try:
            return tracer.run_body()
        finally:
            caller.ctx.loc = saved


# kernel options that enter the specialization (and are recorded as function attributes)
KERNEL_OPTIONS = ("persistent", "group_m", "use_tma", "warp_specialize")
# the persistent kernel's logical-grid parameters (tilelang.passes.tile.persistent.TILE_PARAMS)
_TILE_PARAMS = ("tl_tiles_x", "tl_tiles_y")


def _tile_order_options(k: KernelDef, persistent: Any, group_m: Any) -> tuple[tuple[str, Any], ...]:
    """The validated ``persistent``/``group_m`` options as ``Specialization.options``."""
    if isinstance(persistent, bool):
        k.persistent, k.num_programs = persistent, None
    elif isinstance(persistent, int) and persistent >= 1:
        k.persistent, k.num_programs = True, persistent
    else:
        raise CompileError(f"persistent must be True/False or a number of programs >= 1, "
                           f"got {persistent!r}", kernel=k.name, loc=k.source.def_loc)
    if group_m is not None and (isinstance(group_m, bool) or not isinstance(group_m, int)
                                or group_m < 1):
        raise CompileError(f"group_m must be an int >= 1 (rows of tiles per group), got "
                           f"{group_m!r}", kernel=k.name, loc=k.source.def_loc,
                           hint="e.g. @tl.kernel(group_m=8)")
    options: list[tuple[str, Any]] = []
    if k.persistent:
        options.append(("persistent", True))
    if group_m is not None:
        options.append(("group_m", group_m))
    return tuple(options)


def _tma_option(k: KernelDef, tma: Any, ws: Any) -> tuple[tuple[str, Any], ...]:
    """``tma=False`` and ``warp_specialize=False`` as ``Specialization.options`` (the
    attributes ``use_tma`` and ``warp_specialize``, which ``pipeline-tma`` reads
    beside the target's ``tma`` fact)."""
    for name, v in (("tma", tma), ("warp_specialize", ws)):
        if not isinstance(v, bool):
            raise CompileError(f"{name} must be True or False, got {v!r}", kernel=k.name,
                               loc=k.source.def_loc, hint=f"e.g. @tl.kernel({name}=False)")
    return (() if tma else (("use_tma", False),)) + \
        (() if ws else (("warp_specialize", False),))


def with_tile_params(signature: Any) -> Any:
    """A ``compile`` signature with the persistent kernel's i32 grid parameters."""
    if isinstance(signature, dict):
        return {**dict.fromkeys(_TILE_PARAMS, "i32"), **signature}
    text = signature or ""
    missing = [n for n in _TILE_PARAMS if f"{n}=" not in text.replace(" ", "")]
    return ",".join([text, *(f"{n}=i32" for n in missing)]) if text else \
        ",".join(f"{n}=i32" for n in missing)


def func(fn: Callable[..., Any]) -> TLFunc:
    """Decorate a helper that kernels call; it is inlined at each call."""
    return TLFunc(fn)
