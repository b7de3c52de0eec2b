"""The launch interface of a thread-IR kernel, the same on every vendor.

A kernel takes, in order, for each tensor parameter its address, its shape and
its strides (in elements; i32, or i64 for a ``wide`` tensor), then its TMA
tensor map where a TMA copy reads or writes it (NVIDIA sm_90a), and each scalar
parameter as itself. The PTX and
HIP emitters declare exactly these parameters; the runtime packs a launch's
arguments by ``kernel_abi`` and the ahead-of-time launchers declare them in C.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tilelang.errors import CompileError
from tilelang.ir import ops as o
from tilelang.ir import tma_ops as tma
from tilelang.ir.types import ScalarType, TensorType
from tilelang.ir.values import Function

_STRUCT_CODES = {
    "f16": "e", "bf16": "H", "f32": "f", "f64": "d", "bool": "B", "i8": "b", "u8": "B",
    "i16": "h", "u16": "H", "i32": "i", "u32": "I", "i64": "q", "u64": "Q",
}


@dataclass(frozen=True)
class KernelParam:
    """One PTX kernel parameter: where its value comes from and how to pack it.

    ``role`` is ``"ptr"`` (a tensor's device address), ``"dim"`` / ``"stride"``
    (``tensor.shape[index]`` / ``tensor.stride(index)`` in elements, i32 or for a
    wide tensor i64) or
    ``"scalar"`` (a runtime scalar argument). ``format`` is its ``struct``
    format character (``"Q"`` for pointers; bf16 travels as its 16 raw bits).
    """

    source: str
    role: str
    index: int
    format: str


@dataclass(frozen=True)
class KernelABI:
    """The launch interface of a generated kernel."""

    name: str
    params: tuple[KernelParam, ...]
    num_threads: int
    shared_bytes: int   # dynamic shared memory to pass to cuLaunchKernel


_PTX_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def kernel_abi(fn: Function) -> KernelABI:
    """The PTX parameters of ``fn`` in order, its block size and dynamic shared memory."""
    if not _PTX_IDENTIFIER.fullmatch(fn.name):
        raise CompileError(f"{fn.name!r} cannot name a PTX kernel", kernel=fn.name, loc=fn.loc,
                           hint="name the kernel function with letters, digits and '_'")
    params: list[KernelParam] = []
    boxes = tma_boxes(fn)
    for p in fn.params:
        if isinstance(p.type, TensorType):
            params.append(KernelParam(p.name, "ptr", 0, "Q"))
            code = "q" if p.type.wide else "i"        # the tensor's index dtype
            params += [KernelParam(p.name, "dim", d, code) for d in range(p.type.rank)]
            params += [KernelParam(p.name, "stride", d, code) for d in range(p.type.rank)]
            if p.name in boxes:   # its TMA tensor map, 128 bytes (runtime/tensor_maps.py)
                params.append(KernelParam(p.name, "tmap", 0, "128s"))
        elif isinstance(p.type, ScalarType):
            params.append(KernelParam(p.name, "scalar", 0, _STRUCT_CODES[p.type.dtype.name]))
        else:
            raise CompileError(f"parameter '{p.name}' has type {p.type}, which a kernel "
                               "cannot take", kernel=fn.name, loc=fn.loc)
    return KernelABI(fn.name, tuple(params), _num_threads(fn), _shared_bytes(fn))


def _int_attr(fn: Function, key: str, default: int | None = None) -> int:
    value = fn.attr(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CompileError(f"the thread-IR function has no integer '{key}' attribute",
                           kernel=fn.name, loc=fn.loc,
                           hint="emit PTX from the output of the nvidia pass pipeline")
    return value


def _num_threads(fn: Function) -> int:
    n = _int_attr(fn, "num_threads")
    if not 1 <= n <= 1024:
        raise CompileError(f"num_threads = {n}: a block has 1 to 1024 threads",
                           kernel=fn.name, loc=fn.loc, hint="use num_warps between 1 and 32")
    return n


def _shared_bytes(fn: Function) -> int:
    return _int_attr(fn, "shared_bytes", 0)


def tma_boxes(fn: Function) -> dict[str, tuple[tuple[int, ...], int]]:
    """``tensor name -> (box, swizzle)`` of the tensors ``fn``'s TMA loads read or
    TMA stores write.

    A tensor map fixes one box and swizzle, so all loads of a tensor must agree
    (``pipeline-tma`` only makes such loads); otherwise a ``CompileError``."""
    from tilelang.errors import CompileError
    out: dict[str, tuple[tuple[int, ...], int]] = {}
    for op in o.walk(fn.body):
        if isinstance(op, (tma.TmaLoadOp, tma.TmaStoreOp)):
            key = (tuple(op.box), op.swizzle)
            if out.setdefault(op.tensor.name, key) != key:
                raise CompileError(
                    f"tensor '{op.tensor.name}' is TMA-copied with two boxes/swizzles "
                    f"({out[op.tensor.name]} and {key}); one tensor map serves one box",
                    kernel=fn.name, loc=op.loc, hint="a bug in pipeline-tma; report it")
    return out


__all__ = ["KernelABI", "KernelParam", "kernel_abi", "tma_boxes"]
