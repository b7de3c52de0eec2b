"""A ``@tl.kernel`` as a ``torch.library`` custom op: ``tl.torch_op(kernel, ...)``.

The op is defined with torch's documented custom-op API: ``torch.library.custom_op``
with an explicit schema (the kernel's inputs in order: ``Tensor`` for a tensor, ``float``
/ ``int`` / ``bool`` for a runtime scalar as annotated), ``register_fake`` (the same
output allocators run on fake tensors, so ``torch.compile`` learns the outputs' shapes
and dtypes without launching) and, when a backward is given, ``register_autograd``.
To ``torch.compile`` the op is one opaque node: ``fullgraph=True`` holds.

The real implementation allocates the outputs, launches ``kernel[grid]`` on the inputs
followed by the outputs (in the kernel's parameter order) and returns the outputs:
on CUDA tensors through the default GPU target on torch's current stream, on CPU
tensors through ``cpu_target`` (``"interp"`` by default, or an ``"emulate:..."``).

torch is imported when an op is made, never by ``import tilelang``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from tilelang.errors import CompileError, LaunchError

_SCALAR_SCHEMA = {float: "float", int: "int", bool: "bool",
                  "float": "float", "int": "int", "bool": "bool"}


class TorchOp:
    """A kernel registered as the torch custom op ``name``; call it like a function
    of the kernel's inputs. ``op`` is torch's ``CustomOpDef``."""

    def __init__(self, kernel: Any, name: str, inputs: tuple[str, ...],
                 input_kinds: tuple[str, ...], outputs: Mapping[str, Callable[..., Any]],
                 grid: Any, constexprs: Any, cpu_target: str, op: Any) -> None:
        self.kernel = kernel
        self.name = name
        self.inputs = inputs
        self.input_kinds = input_kinds
        self.outputs = dict(outputs)
        self.grid = grid
        self.constexprs = constexprs
        self.cpu_target = cpu_target
        self.op = op

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.op(*args, **kwargs)

    def __repr__(self) -> str:
        return f"TorchOp({self.name}: {self.kernel.name}({', '.join(self.inputs)}) -> " \
               f"{', '.join(self.outputs)})"

    # -- what the registered implementations call -------------------------------------
    def allocate(self, args: Sequence[Any]) -> list[Any]:
        """The outputs for ``args`` (real or fake tensors alike)."""
        import torch
        outs = []
        for out_name, alloc in self.outputs.items():
            out = alloc(*args)
            if not isinstance(out, torch.Tensor):
                raise LaunchError(
                    f"the allocator of output {out_name!r} returned {type(out).__name__}, "
                    f"not a torch.Tensor", kernel=self.kernel.name,
                    loc=self.kernel.source.def_loc,
                    hint="allocate it from the inputs, e.g. lambda X, Y: torch.empty_like(X)")
            outs.append(out)
        return outs

    def run(self, args: Sequence[Any]) -> Any:
        """Allocate the outputs, launch the kernel on them, return them."""
        import torch
        outs = self.allocate(args)
        tensors = [a for a, k in zip(args, self.input_kinds) if k == "tensor"] + outs
        devices = {t.device.type for t in tensors}
        if len(devices) != 1:
            raise LaunchError(f"torch op {self.name}: tensors on several devices "
                              f"({', '.join(sorted(devices))})", kernel=self.kernel.name,
                              loc=self.kernel.source.def_loc,
                              hint="move every input to one device (.cuda() or .cpu())")
        # (a tensor that requires grad, as a backward passes its saved ones, has no
        # DLPack view; a detached one shares its memory)
        by_name = {n: a.detach() if isinstance(a, torch.Tensor) else a
                   for n, a in zip(self.inputs, args)}
        by_name.update(zip(self.outputs, outs))
        ordered = [by_name[p] for p in _runtime_params(self.kernel)]
        grid = self.grid(*args) if callable(self.grid) else self.grid
        constexprs = dict(self.constexprs(*args) if callable(self.constexprs)
                          else self.constexprs)
        if devices == {"cpu"}:
            self.kernel[grid](*ordered, target=self.cpu_target, **constexprs)
        else:
            device = tensors[0].device
            stream = torch.cuda.current_stream(device)
            with torch.cuda.device(device):
                self.kernel[grid](*ordered, stream=stream, **constexprs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def fake(self, args: Sequence[Any]) -> Any:
        outs = self.allocate(args)
        return outs[0] if len(outs) == 1 else tuple(outs)


def _runtime_params(kernel: Any) -> list[str]:
    """The kernel's tensor and scalar parameters in order (no constexprs)."""
    return [n for n, k in kernel.param_kinds.items()
            if k != "constexpr" and n in kernel.signature.parameters]


def _scalar_schema(kernel: Any, name: str) -> str:
    annotation = kernel.signature.parameters[name].annotation
    schema = _SCALAR_SCHEMA.get(annotation) if isinstance(annotation, (type, str)) else None
    if schema is None:
        raise CompileError(
            f"torch_op: scalar parameter {name!r} needs a float, int or bool annotation "
            f"to become part of the op's schema", kernel=kernel.name,
            loc=kernel.source.def_loc, hint=f"write `{name}: float` (or int, bool)")
    return schema


def torch_op(kernel: Any, *, outputs: Mapping[str, Callable[..., Any]], grid: Any,
             name: str | None = None, constexprs: Mapping[str, Any] | Callable[..., Mapping[str, Any]] = (),
             cpu_target: str = "interp", backward: Callable[..., Any] | None = None,
             setup_context: Callable[..., None] | None = None) -> TorchOp:
    """Register ``kernel`` as the torch custom op ``name`` (``"tilelang::<kernel>"``).

    ``outputs`` maps each output parameter of the kernel to an allocator called with the
    op's arguments (``lambda X, Y: torch.empty_like(X)``); every other tensor or scalar
    parameter is an input, in the kernel's order. ``grid`` is a grid or a function of the
    op's arguments giving one; ``constexprs`` a dict or such a function giving one.
    ``backward(ctx, *grad_outputs)`` returns one gradient per input (``None`` for
    scalars); the default ``setup_context`` saves the tensor inputs then the outputs
    (``ctx.saved_tensors``) and the arguments as ``ctx.args``.
    """
    import torch
    if not hasattr(kernel, "param_kinds"):
        raise CompileError(f"torch_op takes a @tl.kernel, not {type(kernel).__name__}")
    params = _runtime_params(kernel)
    missing = [o for o in outputs if o not in params or kernel.param_kinds[o] != "tensor"]
    if missing or not outputs:
        raise CompileError(
            f"torch_op: outputs {missing or '{}'} are not tensor parameters of the kernel "
            f"(its tensors: {[p for p in params if kernel.param_kinds[p] == 'tensor']})",
            kernel=kernel.name, loc=kernel.source.def_loc,
            hint="name the output tensors the kernel stores into, each with an allocator")
    inputs = tuple(p for p in params if p not in outputs)
    kinds = tuple("tensor" if kernel.param_kinds[p] == "tensor" else "scalar" for p in inputs)
    arg_schema = ", ".join(f"Tensor {p}" if k == "tensor" else f"{_scalar_schema(kernel, p)} {p}"
                           for p, k in zip(inputs, kinds))
    returns = "Tensor" if len(outputs) == 1 else f"({', '.join(['Tensor'] * len(outputs))})"
    op_name = name or f"tilelang::{kernel.name}"
    holder: list[TorchOp] = []

    def impl(*args: Any) -> Any:
        return holder[0].run(args)

    impl.__name__ = kernel.name
    op = torch.library.custom_op(op_name, impl, mutates_args=(),
                                 schema=f"({arg_schema}) -> {returns}")
    wrapper = TorchOp(kernel, op_name, inputs, kinds, outputs, grid, constexprs or {},
                      cpu_target, op)
    holder.append(wrapper)
    op.register_fake(lambda *args: wrapper.fake(args))
    if backward is not None:
        op.register_autograd(backward, setup_context=setup_context or
                             _default_setup_context(kinds))
    elif setup_context is not None:
        raise CompileError("torch_op: setup_context without a backward", kernel=kernel.name,
                           loc=kernel.source.def_loc, hint="pass backward= as well")
    return wrapper


def _default_setup_context(kinds: tuple[str, ...]) -> Callable[..., None]:
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
        outs = output if isinstance(output, tuple) else (output,)
        ctx.save_for_backward(*(a for a, k in zip(inputs, kinds) if k == "tensor"), *outs)
        ctx.args = tuple(None if k == "tensor" else a for a, k in zip(inputs, kinds))
    return setup_context


__all__ = ["TorchOp", "torch_op"]
