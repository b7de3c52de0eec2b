"""The AMD code generator: thread IR → readable HIP C++.

Public API::

    emit_hip(fn, target) -> str      # HIP C++ source of the kernel
    HIP_FLAGS                        # flags every compile of that source needs

``fn`` is a thread-IR ``Function`` (the output of the pass pipeline) with the
attributes ``num_threads``, ``shared_bytes`` and, on AMD, ``warp_size`` (64; 32
when absent, which shuffles within groups of 32 lanes of a wavefront). ``target`` is
``"gfx90a"`` or ``"gfx942"``. The source is one ``extern "C" __global__`` kernel
with ``__launch_bounds__(num_threads)`` and the same parameters as the PTX kernel
(``tilelang.codegen.nvidia.ptx.kernel_abi``: per tensor a pointer, then its dims and
strides as ``int``; runtime scalars by value; bf16 scalars as their 16 bits), so
both vendors share the launch packing. Shared memory is one static ``__shared__``
byte array of ``shared_bytes`` (no dynamic LDS at launch). Each statement is
preceded, where the Python line changes, by a ``#line`` directive naming the
kernel's source file, so compiler diagnostics point at the Python source.
Representation decisions are in ``docs/hip.md``; types in ``hip_types``, op
lowerings in ``hip_ops``.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from tilelang.codegen.amd import hip_types as ht
from tilelang.codegen.nvidia.ptx import kernel_abi
from tilelang.errors import CompileError
from tilelang.hardware import AMD_ARCHS, max_shared_bytes
from tilelang.ir import ops as o
from tilelang.ir.types import DType, ScalarType, TensorType, bf16
from tilelang.ir.values import Block, Function, Loc, Value

__all__ = ["HIP_FLAGS", "SHARED_SYMBOL", "HipEmitter", "emit_hip"]

SHARED_SYMBOL = "tl_smem"
# -fwrapv: signed integer arithmetic wraps (the interpreter's rule); the source
# itself turns FP contraction off with a pragma.
HIP_FLAGS: tuple[str, ...] = ("-O3", "-fwrapv", "-ffp-contract=off")

# Names a parameter may not keep in C++ (keywords, HIP builtins, our own symbols).
_RESERVED = frozenset("""
alignas alignof and asm auto bool break case catch char class const constexpr continue
decltype default delete do double else enum explicit export extern false float for friend
goto if inline int long mutable namespace new noexcept not nullptr operator or private
protected public register return short signed sizeof static struct switch template this
throw true try typedef typeid typename union unsigned using virtual void volatile while xor
threadIdx blockIdx blockDim gridDim warpSize printf
""".split())

HipHandler = Callable[["HipEmitter", Any], None]


def _c_string(text: str) -> str:
    """A C string literal of ``text`` (UTF-8 bytes, escaped)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in "\"\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


class HipEmitter:
    """Emits one thread-IR function as HIP C++ (see the module docstring).

    Each IR value maps to a C++ expression: a ``const`` local named after the value,
    a literal for ``tl.constant``, or a parameter. Handlers (``hip_ops.HANDLERS``)
    append statements with ``line`` and bind results with ``define`` / ``bind``.
    """

    def __init__(self, fn: Function, handlers: dict[type, HipHandler]) -> None:
        self.fn = fn
        self.handlers = handlers
        self.warp_size = int(fn.attr("warp_size", 32))
        self.lines: list[str] = []
        self.depth = 1
        self.loc: Loc | None = fn.loc
        self.exprs: dict[str, str] = {}
        self.consts: dict[str, int | float | bool] = {}
        self.typedefs: dict[str, str] = {}
        self.used_names: set[str] = set()
        # (file, line number) the compiler gives the next physical line, if known
        self._next_line: tuple[str, int] | None = None
        self.tensor_args: dict[str, tuple[str, list[str], list[str]]] = {}
        self.prologue: list[str] = []
        self._temps = 0

    # -- names and values -----------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A C++ identifier not used yet, derived from ``hint``."""
        base = re.sub(r"[^A-Za-z0-9_]", "_", hint)
        if not base or base[0].isdigit() or base in _RESERVED:
            base = "v" + base if base and base[0].isdigit() else base + "_"
        name, k = base, 1
        while name in self.used_names:
            k += 1
            name = f"{base}_{k}"
        self.used_names.add(name)
        return name

    def value_name(self, v: Value) -> str:
        hint = v.name if v.name[0].isdigit() else "v_" + v.name
        return self.fresh(hint)

    def temp(self, hint: str = "t") -> str:
        self._temps += 1
        return self.fresh(f"{hint}{self._temps}")

    def val(self, v: Value) -> str:
        try:
            return self.exprs[v.name]
        except KeyError:
            raise self.error(f"%{v.name} is used before it is defined", "a bug in a pass") from None

    def bind(self, v: Value, expr: str) -> None:
        self.exprs[v.name] = expr

    def define(self, v: Value, expr: str, dtype: DType | None = None) -> str:
        """Declare ``const T name = expr;`` for ``v`` and bind it."""
        dt = dtype or v.type.dtype
        name = self.value_name(v)
        self.line(f"const {self.ctype(dt)} {name} = {expr};")
        self.bind(v, name)
        return name

    def declare(self, v: Value, init: str | None = None) -> str:
        """Declare a mutable local for ``v`` (loop-carried values, if results, loads)."""
        name = self.value_name(v)
        self.line(f"{self.ctype(v.type.dtype)} {name}" + (f" = {init};" if init else ";"))
        self.bind(v, name)
        return name

    def const_of(self, v: Value) -> int | float | bool | None:
        return self.consts.get(v.name)

    def ctype(self, dt: DType) -> str:
        try:
            return ht.ctype(dt)
        except CompileError as e:
            raise e.with_context(kernel=self.fn.name, loc=self.loc) from None

    def vector_type(self, elem: str, n: int) -> str:
        name, line = ht.vector_typedef(elem, n)
        self.typedefs[name] = line
        return name

    def error(self, message: str, hint: str | None = None) -> CompileError:
        return CompileError(message, kernel=self.fn.name, loc=self.loc, hint=hint)

    # -- text ---------------------------------------------------------------------------
    def line(self, text: str) -> None:
        """Append one statement line. Where the line number the compiler would give it
        is not its op's Python line, a ``#line`` directive comes first, so every
        statement, and every diagnostic about it, carries its exact source line."""
        loc = self.loc
        if loc is not None and loc.line > 0:
            if self._next_line != (loc.file, loc.line):
                self.lines.append(f"#line {loc.line} {_c_string(loc.file)}")
            self._next_line = (loc.file, loc.line + 1)
        elif self._next_line is not None:
            self._next_line = (self._next_line[0], self._next_line[1] + 1)
        self.lines.append("  " * self.depth + text)

    def open(self, text: str) -> None:
        self.line(text)
        self.depth += 1

    def close(self, text: str = "}") -> None:
        self.depth -= 1
        self.line(text)

    # -- walking ------------------------------------------------------------------------
    def emit_block(self, block: Block) -> list[str] | None:
        """Emit ``block``'s ops; its ``tl.yield`` expressions, or None if it returned."""
        for op in block.ops:
            if isinstance(op, o.YieldOp):
                self._set_loc(op.loc)
                return [self.val(v) for v in op.values]
            self.emit_op(op)
            if isinstance(op, o.ReturnOp):
                return None
        return []

    def emit_op(self, op: o.Op) -> None:
        self._set_loc(op.loc)
        handler = self.handlers.get(type(op))
        if handler is None:
            raise self.error(f"the HIP code generator has no lowering for {op.NAME}",
                             "it takes thread IR for AMD: compile for gfx90a or gfx942 "
                             "(cp.async, ldmatrix and mma.sync are NVIDIA-only)")
        handler(self, op)

    def _set_loc(self, loc: Loc | None) -> None:
        if loc is not None:
            self.loc = loc


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
            out += [f"int {d}" for d in dims] + [f"int {s}" for s in strides]
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


def emit_hip(fn: Function, target: str) -> str:
    """The HIP C++ source of the thread-IR kernel ``fn`` for ``target`` (gfx90a, gfx942)."""
    from tilelang.codegen.amd import hip_ops
    from tilelang.codegen.amd import hip_atomics
    from tilelang.codegen.amd import hip_thread
    abi = kernel_abi(fn)
    _check_target(fn, target, abi.shared_bytes)
    _reject_warp_specialization(fn)
    e = HipEmitter(fn, {**hip_ops.HANDLERS, **hip_thread.HANDLERS, **hip_atomics.HANDLERS})
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
