"""The AMD code generator: thread IR → readable HIP C++.

Public API::

    emit_hip(fn, target) -> str      # HIP C++ source of the kernel
    HIP_FLAGS                        # flags every compile of that source needs

``fn`` is a thread-IR ``Function`` (the output of the pass pipeline) with the
attributes ``num_threads``, ``shared_bytes`` and, on AMD, ``warp_size`` (64; 32
when absent, which shuffles within groups of 32 lanes of a wavefront). ``target`` is
``"gfx90a"`` or ``"gfx942"``. The source is one ``extern "C" __global__`` kernel
with ``__launch_bounds__(num_threads)`` and the same parameters as the PTX kernel
(``tilelang.codegen.abi.kernel_abi``: per tensor a pointer, then its dims and
strides as ``int``; runtime scalars by value; bf16 scalars as their 16 bits), so
both vendors share the launch packing. Shared memory is one static ``__shared__``
byte array of ``shared_bytes`` (no dynamic LDS at launch). Each statement is
preceded, where the Python line changes, by a ``#line`` directive naming the
kernel's source file, so compiler diagnostics point at the Python source.
Representation decisions are in ``docs/hip.md``; the emitter's state in
``hip_emitter``, types in ``hip_types``, op lowerings in ``hip_ops`` and
``hip_thread``.
"""

from __future__ import annotations

from tilelang.codegen.amd import hip_atomics, hip_math, hip_ops, hip_thread, hip_while
from tilelang.codegen.amd import hip_types as ht
from tilelang.codegen.amd.hip_emitter import SHARED_SYMBOL, HipEmitter
from tilelang.codegen.abi import kernel_abi
from tilelang.errors import CompileError
from tilelang.hardware import AMD_ARCHS, max_shared_bytes
from tilelang.ir import ops as o
from tilelang.ir.types import DType, ScalarType, TensorType, bf16
from tilelang.ir.values import Function

__all__ = ["HIP_FLAGS", "emit_hip"]

# -fwrapv: signed integer arithmetic wraps (the interpreter's rule); the source
# itself turns FP contraction off with a pragma.
HIP_FLAGS: tuple[str, ...] = ("-O3", "-fwrapv", "-ffp-contract=off")


def _params(e: HipEmitter, fn: Function) -> list[str]:
    """The C++ parameter list, in the order of ``kernel_abi(fn).params``."""
    out: list[str] = []
    for p in fn.params:
        if isinstance(p.type, TensorType):
            name = e.fresh(p.name)
            out.append(f"{_pointee(p.type.dtype)}* {name}")
            e.bind(p, name)
            dims = [e.fresh(f"{p.name}_shape{d}") for d in range(p.type.rank)]
            strides = [e.fresh(f"{p.name}_stride{d}") for d in range(p.type.rank)]
            index = "long long" if p.type.wide else "int"    # the tensor's index dtype
            out += [f"{index} {d}" for d in dims] + [f"{index} {s}" for s in strides]
            e.tensor_args[p.name] = (name, dims, strides)
        elif isinstance(p.type, ScalarType):
            dt = p.type.dtype
            name = e.fresh(p.name)
            if dt == bf16:   # arrives as its 16 raw bits
                bits = e.fresh(f"{name}_bits")
                out.append(f"unsigned short {bits}")
                e.prologue.append(f"const tl_bf16 {name} = tl_bf16{{{bits}}};")
            else:
                out.append(f"{e.ctype(dt)} {name}")
            e.bind(p, name)
        else:
            raise CompileError(f"parameter '{p.name}' has type {p.type}, which a kernel "
                               "cannot take", kernel=fn.name, loc=fn.loc)
    return out


def _pointee(dt: DType) -> str:
    try:
        return ht.mem_ctype(dt)
    except CompileError:
        return "unsigned char"   # sub-byte and fp8 tensors: raw bytes


def _check_target(fn: Function, target: str, shared_bytes: int) -> None:
    if target not in AMD_ARCHS:
        raise CompileError(f"unknown AMD target {target!r}", kernel=fn.name, loc=fn.loc,
                           hint=f"use one of {', '.join(AMD_ARCHS)}")
    limit = max_shared_bytes(target)
    if shared_bytes > limit:
        raise CompileError(f"the kernel needs {shared_bytes} bytes of LDS; {target} has at "
                           f"most {limit} per workgroup", kernel=fn.name, loc=fn.loc,
                           hint="use smaller tiles or fewer pipeline stages")


def _reject_warp_specialization(fn: Function) -> None:
    # Warp specialization (setmaxnreg register handoff, named barriers per role) is an
    # sm_90a lowering; AMD has no counterpart, so say so rather than "no lowering".
    from tilelang.ir import role_ops
    for op in o.walk(fn.body):
        if isinstance(op, role_ops.ROLE_OPS):
            raise CompileError(f"{op.NAME} (warp specialization) is NVIDIA sm_90a only; "
                               "the HIP code generator cannot emit it",
                               kernel=fn.name, loc=op.loc,
                               hint="compile for sm_90a, or pass warp_specialize=False "
                                    "for AMD targets")


# Functions the HIP headers declare at global scope: an extern "C" kernel of the same
# name would be a conflicting declaration (hipcc: "differ only in their return type").
_HEADER_NAMES = frozenset("""
abs acos acosh asin asinh atan atan2 atanh cbrt ceil copysign cos cosh erf erfc exp exp2
expm1 fabs fdim floor fma fmax fmin fmod frexp hypot ldexp lgamma llrint llround log log10
log1p log2 logb lrint lround max min modf nan nearbyint pow remainder rint round rsqrt
scalbn signbit sin sinh sqrt tan tanh tgamma trunc printf malloc free memcpy memset
""".split())


def _check_kernel_name(fn: Function) -> None:
    names = {fn.name, fn.name[:-1] if fn.name.endswith("f") else fn.name}
    if names & _HEADER_NAMES:
        raise CompileError(f"a kernel named {fn.name!r} collides with the HIP math function "
                           f"of that name", kernel=fn.name, loc=fn.loc,
                           hint=f"rename the kernel function (e.g. {fn.name}_kernel)")


def emit_hip(fn: Function, target: str) -> str:
    """The HIP C++ source of the thread-IR kernel ``fn`` for ``target`` (gfx90a, gfx942)."""
    _check_kernel_name(fn)
    abi = kernel_abi(fn)
    _check_target(fn, target, abi.shared_bytes)
    _reject_warp_specialization(fn)
    e = HipEmitter(fn, {**hip_ops.HANDLERS, **hip_thread.HANDLERS, **hip_math.HANDLERS,
                            **hip_while.HANDLERS, **hip_atomics.HANDLERS})
    e.used_names.add(SHARED_SYMBOL)
    params = _params(e, fn)
    body_start = len(e.lines)
    if abi.shared_bytes > 0:
        e.lines.append(f"  __shared__ __attribute__((aligned(16))) unsigned char "
                       f"{SHARED_SYMBOL}[{abi.shared_bytes}];")
    e.lines += ["  " + p for p in e.prologue]
    e.emit_block(fn.body)
    body = e.lines[body_start:]
    head = [
        f"// {fn.name}: generated by tilelang for {target} "
        f"({abi.num_threads} threads, wave{e.warp_size} shuffles, "
        f"{abi.shared_bytes} bytes of LDS)",
        "// compile with: " + " ".join(HIP_FLAGS),
        "#include <hip/hip_runtime.h>",
        "",
        ht.PREAMBLE,
        "",
        *sorted(e.typedefs.values()),
        "",
        f'extern "C" __global__ void __launch_bounds__({abi.num_threads})',
        f"{fn.name}({', '.join(params)}) {{",
    ]
    return "\n".join(head + body + ["}", ""])
