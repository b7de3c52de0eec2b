"""``@tl.kernel`` and ``@tl.func``: decorated functions, their parameters and tracing.

A ``Kernel`` traces its Python source into a tile-IR ``Module`` once per
``Specialization`` (argument dtypes and ranks, constexpr values, options);
launching and compiling for targets belong to ``tilelang.runtime``.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from typing import Any, Callable

from tilelang.errors import CompileError, LaunchError
from tilelang.frontend.context import TraceContext, tracing
from tilelang.frontend.handles import TensorHandle, TileHandle
from tilelang.frontend.source import FunctionSource
from tilelang.ir import ops
from tilelang.ir.builder import Builder
from tilelang.ir.types import TENSOR_FACTS, DType, ScalarType, TensorType
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
        """The signature entry: ``A=f32[2]``, ``A=f32[2]:16`` (every fact) or
        ``A=f32[2]:aligned+unit_stride``."""
        if not self.is_tensor:
            return f"{self.name}={self.dtype.name}"
        facts = ""
        if self.facts == TENSOR_FACTS:
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


class Kernel:
    """A ``@tl.kernel`` function. Launch with ``kernel[grid](*args, **constexprs)``."""

    def __init__(self, fn: Callable[..., Any], num_warps: int = 4,
                 num_stages: int | None = None) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.source = FunctionSource(fn)
        self.signature = inspect.signature(fn)
        self.num_warps = num_warps
        self.num_stages = num_stages
        self.param_kinds: dict[str, str | None] = {}
        for p in self.signature.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise CompileError(f"*args/**kwargs parameters are not supported",
                                   kernel=self.name, loc=self.source.def_loc)
            if p.name in RESERVED_LAUNCH_KEYWORDS:
                raise CompileError(f"parameter name '{p.name}' is reserved for launch options",
                                   kernel=self.name, loc=self.source.def_loc,
                                   hint=f"rename it; reserved: {', '.join(RESERVED_LAUNCH_KEYWORDS)}")
            self.param_kinds[p.name] = _annotation_kind(p.annotation)
        self.constexpr_names = tuple(n for n, k in self.param_kinds.items() if k == "constexpr")
        self._modules: dict[Specialization, Module] = {}
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<tl.kernel {self.name} at {self.source.file}:{self.source.def_loc.line}>"

    def __getitem__(self, grid: Any) -> Callable[..., None]:
        from tilelang.runtime.launcher import Launcher
        return Launcher(self, grid)

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise LaunchError("a kernel is launched with a grid: kernel[grid](*args)",
                          kernel=self.name, loc=self.source.def_loc,
                          hint="e.g. kernel[(tl.cdiv(n, BLOCK),)](x, y, n)")

    def compile(self, signature: Any = None, *, target: str = "interp",
                num_warps: int | None = None, **constexprs: Any) -> Any:
        """Compile for ``target`` without launching; returns the artifacts (IR per stage).

        ``signature`` gives the runtime parameters as ``'A=bf16[2],B=bf16[2],eps=f32'``
        (tensors as ``dtype[rank]``, scalars as their dtype) or as a dict of such strings.
        A tensor may add the facts to specialize on: ``A=bf16[2]:16`` (16-byte aligned,
        unit innermost stride, divisible; see ``TensorType``) or a ``+``-joined subset,
        ``A=bf16[2]:aligned+unit_stride``.
        """
        from tilelang.frontend.signature import parse_signature
        from tilelang.runtime.targets import get_target
        params = parse_signature(self, signature)
        spec = self.make_specialization(params, constexprs, num_warps)
        return get_target(target).compile(self, spec, keep_stages=True)

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
                              num_stages if num_stages is not None else self.num_stages)

    def trace(self, spec: Specialization) -> Module:
        """The tile IR of this kernel for ``spec`` (cached)."""
        module = self._modules.get(spec)
        if module is None:
            module = self._trace(spec)
            self._modules[spec] = module
        return module

    def _trace(self, spec: Specialization) -> Module:
        from tilelang.frontend.ast_to_ir import Tracer
        from tilelang.frontend import semantic as sem
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
        from tilelang.frontend.ast_to_ir import Tracer
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


def kernel(fn: Callable[..., Any] | None = None, *, num_warps: int = 4,
           num_stages: int | None = None) -> Any:
    """Decorate a kernel: ``@tl.kernel`` or ``@tl.kernel(num_warps=8)``."""
    if fn is None:
        return lambda f: Kernel(f, num_warps=num_warps, num_stages=num_stages)
    return Kernel(fn, num_warps=num_warps, num_stages=num_stages)


def func(fn: Callable[..., Any]) -> TLFunc:
    """Decorate a helper that kernels call; it is inlined at each call."""
    return TLFunc(fn)
