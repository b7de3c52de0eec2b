"""Thread IR → LLVM IR: ``tl.print`` (``vprintf``) and ``tl.device_assert`` (``__assertfail``).

Both are CUDA system calls that ptxas resolves itself, so the PTX needs no
library. In the thread IR every thread runs the print with its own values, so
each line names the block and the thread: ``[kernel pid=(x, y, z) tid=t] prefix v...``.
"""

from __future__ import annotations

from llvmlite import ir

from tilelang.codegen.nvidia.llvm_math import F64, I8, I32, I64, widen
from tilelang.codegen.nvidia.llvm_ops import Handler, KernelEmitter
from tilelang.ir import ops as o

GENERIC_PTR = ir.PointerType()


def string(e: KernelEmitter, text: str) -> ir.Value:
    """A NUL-terminated constant string as a generic pointer (one global per text)."""
    cached = e.strings.get(text)
    if cached is not None:
        return cached
    data = bytearray(text.encode("utf-8") + b"\0")
    ty = ir.ArrayType(I8, len(data))
    gv = ir.GlobalVariable(e.module, ty, name=e.module.get_unique_name("str"), addrspace=1)
    gv.global_constant = True
    gv.linkage = "private"
    gv.unnamed_addr = True
    gv.initializer = ir.Constant(ty, data)
    # The cast is a constant expression: valid in every block that uses it.
    ptr = ir.FormattedConstant(
        GENERIC_PTR, f"addrspacecast ({gv.type} {gv.get_reference()} to {GENERIC_PTR})")
    e.strings[text] = ptr
    return ptr


def _declare(e: KernelEmitter, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    fn = e.module.globals.get(name)
    if fn is None:
        fn = ir.Function(e.module, ir.FunctionType(ret, args), name)
    return fn


def _print_arg(e: KernelEmitter, v: ir.Value, dt) -> tuple[str, ir.Value]:
    """The printf conversion and the promoted value of one argument."""
    bld = e.b
    if dt.is_bool:
        return "%s", bld.select(v, string(e, "True"), string(e, "False"))
    if dt.is_float:
        x = widen(e, v, dt)
        return "%g", x if x.type == F64 else bld.fpext(x, F64)
    if dt.bits == 64:
        return ("%lld" if dt.is_signed else "%llu"), v
    if dt.bits < 32:
        v = bld.sext(v, I32) if dt.is_signed else bld.zext(v, I32)
    return ("%d" if dt.is_signed else "%u"), v


def _print(e: KernelEmitter, op: o.PrintOp) -> None:
    head = e.fn.name.replace("%", "%%")
    fmt = f"[{head} pid=(%d, %d, %d) tid=%d] {op.prefix.replace('%', '%%')}"
    args = [e.sreg(f"ctaid.{a}") for a in "xyz"] + [e.sreg("tid.x")]
    for v in op.values:
        e.type_of(v.type.dtype)
        conv, x = _print_arg(e, e.val(v), v.type.dtype)
        fmt += " " + conv
        args.append(x)
    buf_ty = ir.LiteralStructType([a.type for a in args])
    # The argument buffer lives in the entry block so a print in a loop reuses it.
    entry = ir.IRBuilder(e.entry)
    entry.position_at_start(e.entry)
    buf = entry.alloca(buf_ty)
    buf.type = GENERIC_PTR   # llvmlite types it buf_ty*; LLVM's pointers are opaque
    e.b.position_at_end(e.b.block)   # an insertion above moved the builder's anchor
    for i, a in enumerate(args):
        e.b.store(a, e.b.gep(buf, [ir.Constant(I32, 0), ir.Constant(I32, i)], source_etype=buf_ty))
    vprintf = _declare(e, "vprintf", I32, [GENERIC_PTR, GENERIC_PTR])
    e.b.call(vprintf, [string(e, fmt + "\n"), buf])


def _assert(e: KernelEmitter, op: o.AssertOp) -> None:
    bld = e.b
    fail, ok = e.new_block("assert.fail"), e.new_block("assert.ok")
    bld.cbranch(e.val(op.cond), ok, fail)
    bld.position_at_end(fail)
    loc = op.loc or e.loc
    assertfail = _declare(e, "__assertfail", ir.VoidType(),
                          [GENERIC_PTR, GENERIC_PTR, I32, GENERIC_PTR, I64])
    message = op.message or "tl.device_assert failed"
    bld.call(assertfail, [string(e, message), string(e, loc.file if loc else "<unknown>"),
                          ir.Constant(I32, loc.line if loc else 0), string(e, e.fn.name),
                          ir.Constant(I64, 1)])
    bld.branch(ok)
    bld.position_at_end(ok)


HANDLERS: dict[type, Handler] = {o.PrintOp: _print, o.AssertOp: _assert}
"""Handlers of the debugging ops."""
