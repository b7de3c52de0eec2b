"""Thread IR → LLVM IR: the per-function emitter, scalar ops and control flow.

``KernelEmitter`` walks a thread-IR ``Function`` once, op by op, with one
handler per op class (``HANDLERS`` here, ``llvm_thread.HANDLERS`` and
``llvm_debug.HANDLERS`` for the thread and debug ops). Values are SSA already,
so each IR value maps to one LLVM value; ``tl.for`` and ``tl.if`` become basic
blocks with phi nodes for their carried values and results. Numerics follow
the interpreter (``tilelang/interp/interpreter.py``): integers wrap, integer
``floordiv``/``mod`` truncate (division by zero gives 0), shifts by the width
or more give 0 (or -1 for a negative ``shr``), narrow floats round after every op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from llvmlite import ir

from tilelang.codegen.nvidia import llvm_math as m
from tilelang.codegen.nvidia.llvm_math import F32, F64, I1, I32, llvm_type, narrow, widen
from tilelang.errors import CompileError
from tilelang.ir import ops as o
from tilelang.ir.types import DType, bool_
from tilelang.ir.values import Block, Function, Loc, Value

Handler = Callable[["KernelEmitter", Any], None]


@dataclass
class TensorArgs:
    """The LLVM arguments of one tensor parameter."""

    ptr: ir.Value
    dims: list[ir.Value]
    strides: list[ir.Value]


class KernelEmitter:
    """Emits one thread-IR function into an LLVM function (see the module docstring)."""

    def __init__(self, fn: Function, llfn: ir.Function, *, handlers: dict[type, Handler],
                 tensors: dict[str, TensorArgs], scalars: dict[str, ir.Value],
                 smem: ir.Value | None, num_threads: int,
                 debug: Callable[[Loc | None], Any] | None) -> None:
        self.fn = fn
        self.llfn = llfn
        self.module: ir.Module = llfn.module
        self.entry = llfn.append_basic_block("entry")
        self.b = ir.IRBuilder(self.entry)
        self.handlers = handlers
        self.tensors = tensors
        self.smem = smem
        self.num_threads = num_threads
        self.debug = debug
        self.loc: Loc | None = fn.loc
        self.values: dict[str, ir.Value] = dict(scalars)
        self.consts: dict[str, int | float | bool] = {}
        self.strings: dict[str, ir.Value] = {}
        # id(value) -> (value, i32 register, half): 16-bit values unpacked from a
        # register (llvm_thread._pack16 repacks such a pair as the register itself)
        self.halves: dict[int, tuple[ir.Value, ir.Value, int]] = {}

    # -- driver --------------------------------------------------------------------
    def run(self) -> None:
        self._set_loc(self.fn.loc)
        if self.emit_block(self.fn.body) is not None:
            self.b.ret_void()

    def emit_block(self, block: Block) -> list[ir.Value] | None:
        """Emit ``block``'s ops; its ``tl.yield`` values, or None if it returned."""
        for op in block.ops:
            if isinstance(op, o.YieldOp):
                return [self.val(v) for v in op.values]
            self.emit_op(op)
            if self.b.block.is_terminated:
                return None
        return []

    def emit_op(self, op: o.Op) -> None:
        self._set_loc(op.loc or self.loc)
        handler = self.handlers.get(type(op))
        if handler is None:
            raise self.error(f"the NVIDIA code generator has no lowering for {op.NAME}",
                             "it takes thread IR: run the nvidia pass pipeline "
                             "(lower-to-threads) before emitting PTX")
        handler(self, op)

    def _set_loc(self, loc: Loc | None) -> None:
        if loc is not None:
            self.loc = loc
        if self.debug is not None:
            self.b.debug_metadata = self.debug(self.loc)

    # -- values ----------------------------------------------------------------------
    def val(self, v: Value) -> ir.Value:
        try:
            return self.values[v.name]
        except KeyError:
            raise self.error(f"%{v.name} is used before it is defined", "a bug in a pass") from None

    def bind(self, v: Value, x: ir.Value) -> None:
        self.values[v.name] = x

    def error(self, message: str, hint: str | None = None) -> CompileError:
        return CompileError(message, kernel=self.fn.name, loc=self.loc, hint=hint)

    def type_of(self, dt: DType) -> ir.Type:
        try:
            return llvm_type(dt)
        except CompileError as e:
            raise e.with_context(kernel=self.fn.name, loc=self.loc) from None

    # -- helpers -------------------------------------------------------------------
    def call_intrinsic(self, name: str, ret: ir.Type, args: Sequence[ir.Value],
                       name_hint: str = "") -> ir.Value:
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, [a.type for a in args]), name)
        return self.b.call(fn, list(args), name=name_hint)

    def inline_asm(self, ret: ir.Type, asm: str, constraints: str, args: Sequence[ir.Value],
                   *, side_effect: bool, convergent: bool = False) -> ir.Value:
        ftype = ir.FunctionType(ret, [a.type for a in args])
        fn = ir.InlineAsm(ftype, asm, constraints, side_effect)
        return self.b.call(fn, list(args), attrs=("convergent",) if convergent else ())

    def new_block(self, name: str) -> ir.Block:
        return self.llfn.append_basic_block(name)

    def sreg(self, name: str) -> ir.Value:
        return self.call_intrinsic(f"llvm.nvvm.read.ptx.sreg.{name}", I32, [])

    def const_of(self, v: Value) -> int | float | bool | None:
        """The compile-time value of ``v`` if a ``tl.constant`` defined it."""
        return self.consts.get(v.name)


def int_const(dt: DType, value: int) -> ir.Constant:
    bits = 1 if dt.is_bool else dt.bits
    v = int(value) & ((1 << bits) - 1)
    if bits > 1 and v >= 1 << (bits - 1):
        v -= 1 << bits
    return ir.Constant(ir.IntType(bits), v)


def float_const(e: KernelEmitter, dt: DType, value: float) -> ir.Constant:
    from tilelang.ir.numpy_dtypes import to_numpy  # numpy rounding, as the interpreter
    ty = e.type_of(dt)
    return ir.Constant(ty, float(to_numpy(dt).type(value)))


# -- scalars -----------------------------------------------------------------------------

def _constant(e: KernelEmitter, op: o.ConstantOp) -> None:
    dt = op.result.type.dtype
    e.consts[op.result.name] = op.value
    if dt.is_float:
        c = float_const(e, dt, float(op.value))
    else:
        e.type_of(dt)
        c = int_const(dt, int(op.value))
    e.bind(op.result, c)


def _program_id(e: KernelEmitter, op: o.ProgramIdOp) -> None:
    e.bind(op.result, e.sreg(f"ctaid.{'xyz'[op.axis]}"))


def _num_programs(e: KernelEmitter, op: o.NumProgramsOp) -> None:
    e.bind(op.result, e.sreg(f"nctaid.{'xyz'[op.axis]}"))


def _tensor_dim(e: KernelEmitter, op: o.TensorDimOp) -> None:
    e.bind(op.result, e.tensors[op.tensor.name].dims[op.dim])


def _tensor_stride(e: KernelEmitter, op: o.TensorStrideOp) -> None:
    e.bind(op.result, e.tensors[op.tensor.name].strides[op.dim])


def _barrier(e: KernelEmitter, op: o.BarrierOp) -> None:
    e.call_intrinsic("llvm.nvvm.barrier0", ir.VoidType(), [])


def _return(e: KernelEmitter, op: o.ReturnOp) -> None:
    e.b.ret_void()


# -- binary ------------------------------------------------------------------------------

_ORDERED = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "=="}
_ICMP = {**_ORDERED, "ne": "!="}


def _binary(e: KernelEmitter, op: o.BinaryOp) -> None:
    dt, fn = op.lhs.type.dtype, op.fn
    a, b = e.val(op.lhs), e.val(op.rhs)
    e.type_of(dt)
    bld = e.b
    if fn in o.COMPARE_FNS:
        if dt.is_float:
            a, b = widen(e, a, dt), widen(e, b, dt)
            r = bld.fcmp_unordered("!=", a, b) if fn == "ne" else \
                bld.fcmp_ordered(_ORDERED[fn], a, b)
        elif dt.is_signed:
            r = bld.icmp_signed(_ICMP[fn], a, b)
        else:
            r = bld.icmp_unsigned(_ICMP[fn], a, b)
    elif dt.is_bool:
        r = _bool_binary(e, fn, a, b)
    elif dt.is_float:
        r = narrow(e, _float_binary(e, op, widen(e, a, dt), widen(e, b, dt)), dt)
    else:
        r = _int_binary(e, fn, a, b, dt)
    e.bind(op.result, r)


def _bool_binary(e: KernelEmitter, fn: str, a: ir.Value, b: ir.Value) -> ir.Value:
    # The interpreter computes on 0/1 and gives result != 0.
    bld = e.b
    if fn in ("add", "or", "maximum"):
        return bld.or_(a, b)
    if fn in ("sub", "xor"):
        return bld.xor(a, b)
    if fn in ("mul", "and", "minimum", "floordiv"):
        return bld.and_(a, b)
    if fn == "mod":
        return ir.Constant(I1, 0)
    if fn == "shl":
        return a
    if fn == "shr":
        return bld.and_(a, bld.not_(b))
    if fn == "pow":
        return bld.or_(a, bld.not_(b))
    raise e.error(f"{fn} is not defined on bool")


def _float_binary(e: KernelEmitter, op: o.BinaryOp, a: ir.Value, b: ir.Value) -> ir.Value:
    bld, fn = e.b, op.fn
    if fn == "add":
        return bld.fadd(a, b)
    if fn == "sub":
        return bld.fsub(a, b)
    if fn == "mul":
        return bld.fmul(a, b)
    if fn == "div":
        return bld.fdiv(a, b)
    if fn == "floordiv":
        return m.unary_intrinsic(e, "floor", bld.fdiv(a, b))
    if fn == "mod":
        return m.fmod(e, a, b)
    if fn in ("maximum", "minimum"):
        sfx = "f64" if a.type == F64 else "f32"
        return e.call_intrinsic(f"llvm.{fn}.{sfx}", a.type, [a, b])
    if fn == "pow":
        return _float_pow(e, op, a, b)
    raise e.error(f"{fn} is not defined on floats")


def _float_pow(e: KernelEmitter, op: o.BinaryOp, a: ir.Value, b: ir.Value) -> ir.Value:
    y = e.const_of(op.rhs)
    one = ir.Constant(a.type, 1.0)
    if y == 0:
        return one
    if y == 1:
        return a
    if y == 2:
        return e.b.fmul(a, a)
    if y == -1:
        return e.b.fdiv(one, a)
    if a.type == F64:
        raise e.error("pow on f64 is not supported by the NVIDIA code generator",
                      "compute it in f32 (x.to(tl.f32)) or use an integer exponent of 0, 1, 2, -1")
    return m.pow_f32(e, a, b)


def _int_binary(e: KernelEmitter, fn: str, a: ir.Value, b: ir.Value, dt: DType) -> ir.Value:
    bld, ty = e.b, a.type
    zero, bits = ir.Constant(ty, 0), ir.Constant(ty, dt.bits)
    if fn in ("add", "sub", "mul", "and", "or", "xor"):
        name = {"and": "and_", "or": "or_"}.get(fn, fn)
        return getattr(bld, name)(a, b)
    if fn in ("floordiv", "mod"):
        return _int_div(e, fn, a, b, dt)
    if fn in ("maximum", "minimum"):
        cmp = bld.icmp_signed if dt.is_signed else bld.icmp_unsigned
        return bld.select(cmp(">" if fn == "maximum" else "<", a, b), a, b)
    k = _const_int(b, dt)
    if fn in ("shl", "shr") and k is not None:
        # A constant shift needs no guard: emitting none keeps the IR (and LLVM's
        # time on it) small; LLVM folds the guarded form to the same code.
        if k < dt.bits:
            return bld.shl(a, b) if fn == "shl" else \
                (bld.ashr if dt.is_signed else bld.lshr)(a, b)
        if fn == "shl" or not dt.is_signed:
            return zero
        return bld.ashr(a, ir.Constant(ty, dt.bits - 1))
    if fn == "shl":
        return bld.select(bld.icmp_unsigned(">=", b, bits), zero, bld.shl(a, b))
    if fn == "shr":
        if dt.is_signed:
            top = ir.Constant(ty, dt.bits - 1)
            return bld.ashr(a, bld.select(bld.icmp_unsigned(">", b, top), top, b))
        return bld.select(bld.icmp_unsigned(">=", b, bits), zero, bld.lshr(a, b))
    if fn == "pow":
        return _int_pow(e, a, b, dt)
    raise e.error(f"{fn} is not defined on integers")


def _int_div(e: KernelEmitter, fn: str, a: ir.Value, b: ir.Value, dt: DType) -> ir.Value:
    """C division with the interpreter's answers where C's is undefined: x/0 = x%0 = 0,
    MIN/-1 = MIN (wraps), MIN%-1 = 0."""
    bld, ty = e.b, a.type
    zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
    k = _const_int(b, dt)
    if k is not None and k != 0 and not (dt.is_signed and k == (1 << dt.bits) - 1):
        # a constant divisor other than 0 and -1 needs none of the guards below
        if fn == "mod":
            return (bld.srem if dt.is_signed else bld.urem)(a, b)
        return (bld.sdiv if dt.is_signed else bld.udiv)(a, b)
    by_zero = bld.icmp_unsigned("==", b, zero)
    bad = by_zero
    if dt.is_signed:
        min_ = ir.Constant(ty, -(1 << (dt.bits - 1)))
        overflow = bld.and_(bld.icmp_signed("==", a, min_),
                            bld.icmp_signed("==", b, ir.Constant(ty, -1)))
        bad = bld.or_(by_zero, overflow)
    d = bld.select(bad, one, b)        # a/1 = a (MIN/-1 = MIN), a%1 = 0
    if fn == "mod":
        return (bld.srem if dt.is_signed else bld.urem)(a, d)
    q = (bld.sdiv if dt.is_signed else bld.udiv)(a, d)
    return bld.select(by_zero, zero, q)


def _const_int(x: ir.Value, dt: DType) -> int | None:
    """``x``'s bits as an unsigned integer when ``x`` is an integer constant, else None."""
    if isinstance(x, ir.Constant) and isinstance(x.constant, int):
        return x.constant & ((1 << dt.bits) - 1)
    return None


def _int_pow(e: KernelEmitter, a: ir.Value, b: ir.Value, dt: DType) -> ir.Value:
    """Square and multiply; a negative exponent gives trunc(1 / a**-b) (numpy refuses)."""
    bld, ty = e.b, a.type
    one = ir.Constant(ty, 1)
    pre, loop, done = bld.block, e.new_block("pow.loop"), e.new_block("pow.done")
    bld.branch(loop)
    bld.position_at_end(loop)
    acc, base, ex = bld.phi(ty), bld.phi(ty), bld.phi(ty)
    bit = bld.trunc(bld.and_(ex, one), I1)
    acc2 = bld.select(bit, bld.mul(acc, base), acc)
    base2, ex2 = bld.mul(base, base), bld.lshr(ex, one)
    for phi, first, nxt in ((acc, one, acc2), (base, a, base2), (ex, b, ex2)):
        phi.add_incoming(first, pre)
        phi.add_incoming(nxt, loop)
    bld.cbranch(bld.icmp_unsigned("!=", ex2, ir.Constant(ty, 0)), loop, done)
    bld.position_at_end(done)
    if not dt.is_signed:
        return acc2
    minus_one = ir.Constant(ty, -1)
    odd = bld.trunc(bld.and_(b, one), I1)
    neg_pow = bld.select(bld.icmp_signed("==", a, one), one,
                         bld.select(bld.icmp_signed("==", a, minus_one),
                                    bld.select(odd, minus_one, one), ir.Constant(ty, 0)))
    return bld.select(bld.icmp_signed("<", b, ir.Constant(ty, 0)), neg_pow, acc2)


# -- unary, where, cast --------------------------------------------------------------------

def _unary(e: KernelEmitter, op: o.UnaryOp) -> None:
    dt, fn, x = op.value.type.dtype, op.fn, e.val(op.value)
    e.type_of(dt)
    bld = e.b
    if dt.is_float:
        r = narrow(e, _float_unary(e, fn, widen(e, x, dt)), dt)
    elif fn == "neg":
        r = x if dt.is_bool else bld.neg(x)
    elif fn == "not":
        is_zero = bld.icmp_unsigned("==", x, ir.Constant(x.type, 0))
        r = bld.not_(x) if dt.is_bool else bld.zext(is_zero, x.type)
    elif fn == "invert":
        r = bld.not_(x)
    elif fn == "abs":
        r = e.call_intrinsic(f"llvm.abs.i{dt.bits}", x.type, [x, ir.Constant(I1, 0)]) \
            if dt.is_signed else x
    else:
        raise e.error(f"{fn} needs a float operand")
    e.bind(op.result, r)


def _float_unary(e: KernelEmitter, fn: str, x: ir.Value) -> ir.Value:
    bld = e.b
    if fn == "neg":
        return bld.fneg(x)
    if fn == "not":
        return bld.uitofp(bld.fcmp_ordered("==", x, ir.Constant(x.type, 0.0)), x.type)
    if fn in ("abs", "sqrt", "floor", "ceil"):
        return m.unary_intrinsic(e, "fabs" if fn == "abs" else fn, x)
    if fn == "rsqrt":
        return m.rsqrt(e, x)
    if fn == "invert":
        raise e.error("invert needs an integer or bool operand")
    if x.type == F64:
        raise e.error(f"{fn} on f64 is not supported by the NVIDIA code generator "
                      "(no f64 transcendental instructions without libdevice)",
                      "compute it in f32: x.to(tl.f32)")
    return m.UNARY_F32[fn](e, x)


def _where(e: KernelEmitter, op: o.WhereOp) -> None:
    e.bind(op.result, e.b.select(e.val(op.cond), e.val(op.x), e.val(op.y)))


def _cast(e: KernelEmitter, op: o.CastOp) -> None:
    e.bind(op.result, cast(e, e.val(op.value), op.value.type.dtype, op.result.type.dtype))


def cast(e: KernelEmitter, x: ir.Value, src: DType, dst: DType) -> ir.Value:
    """``tl.cast``: floats round to nearest even, float → int truncates (saturating,
    NaN → 0), ints wrap, bool → 0/1, number → bool is ``x != 0``."""
    bld = e.b
    ty = e.type_of(dst)
    e.type_of(src)
    if src == dst:
        return x
    if dst == bool_:
        if src.is_float:
            return bld.fcmp_unordered("!=", x, ir.Constant(x.type, 0.0))
        return bld.icmp_unsigned("!=", x, ir.Constant(x.type, 0))
    if src.is_bool:
        return bld.uitofp(x, ty) if dst.is_float else bld.zext(x, ty)
    if src.is_float and dst.is_float:
        if src.bits == dst.bits:       # f16 <-> bf16: exactly through f32
            return bld.fptrunc(bld.fpext(x, F32), ty)
        return bld.fpext(x, ty) if dst.bits > src.bits else bld.fptrunc(x, ty)
    if src.is_float:
        x = widen(e, x, src)
        kind = "fptosi" if dst.is_signed else "fptoui"
        sfx = "f64" if x.type == F64 else "f32"
        return e.call_intrinsic(f"llvm.{kind}.sat.i{dst.bits}.{sfx}", ty, [x])
    if dst.is_float:
        return bld.sitofp(x, ty) if src.is_signed else bld.uitofp(x, ty)
    if dst.bits < src.bits:
        return bld.trunc(x, ty)
    if dst.bits > src.bits:
        return bld.sext(x, ty) if src.is_signed else bld.zext(x, ty)
    return x


# -- control flow ------------------------------------------------------------------------

def _for(e: KernelEmitter, op: o.ForOp) -> None:
    bld = e.b
    lo, hi, step = e.val(op.lower), e.val(op.upper), e.val(op.step)
    signed = op.lower.type.dtype.is_signed
    pre = bld.block
    header, body = e.new_block("for.header"), e.new_block("for.body")
    exit_ = e.new_block("for.exit")
    bld.branch(header)
    bld.position_at_end(header)
    iv = bld.phi(lo.type, name=op.body.args[0].name)
    iv.add_incoming(lo, pre)
    phis = []
    for arg, init in zip(op.body.args[1:], op.inits):
        phi = bld.phi(e.val(init).type, name=arg.name)
        phi.add_incoming(e.val(init), pre)
        phis.append(phi)
    bld.cbranch(_loop_condition(e, op, iv, hi, step, signed), body, exit_)
    bld.position_at_end(body)
    e.bind(op.body.args[0], iv)
    for arg, phi in zip(op.body.args[1:], phis):
        e.bind(arg, phi)
    nexts = e.emit_block(op.body)
    if nexts is not None:
        latch_iv = bld.add(iv, step)
        latch = bld.block
        iv.add_incoming(latch_iv, latch)
        for phi, v in zip(phis, nexts):
            phi.add_incoming(v, latch)
        bld.branch(header)
    bld.position_at_end(exit_)
    e._set_loc(op.loc)
    for r, phi in zip(op.results, phis):
        e.bind(r, phi)


def _loop_condition(e: KernelEmitter, op: o.ForOp, iv: ir.Value, hi: ir.Value,
                    step: ir.Value, signed: bool) -> ir.Value:
    bld = e.b
    if not signed:
        return bld.icmp_unsigned("<", iv, hi)
    k = e.const_of(op.step)
    if k is not None:
        return bld.icmp_signed("<" if k > 0 else ">", iv, hi)
    up = bld.icmp_signed(">", step, ir.Constant(step.type, 0))
    return bld.select(up, bld.icmp_signed("<", iv, hi), bld.icmp_signed(">", iv, hi))


def _if(e: KernelEmitter, op: o.IfOp) -> None:
    bld = e.b
    then_bb, else_bb, merge = e.new_block("if.then"), e.new_block("if.else"), e.new_block("if.end")
    bld.cbranch(e.val(op.cond), then_bb, else_bb)
    incoming: list[tuple[list[ir.Value], ir.Block]] = []
    for bb, region in ((then_bb, op.then), (else_bb, op.orelse)):
        bld.position_at_end(bb)
        vals = e.emit_block(region)
        if vals is not None:
            incoming.append((vals, bld.block))
            bld.branch(merge)
        e._set_loc(op.loc)
    if not incoming:               # both branches returned: so does the if
        e.llfn.blocks.remove(merge)
        return
    bld.position_at_end(merge)
    for i, r in enumerate(op.results):
        phi = bld.phi(incoming[0][0][i].type, name=r.name)
        for vals, block in incoming:
            phi.add_incoming(vals[i], block)
        e.bind(r, phi)


HANDLERS: dict[type, Handler] = {
    o.ConstantOp: _constant, o.ProgramIdOp: _program_id, o.NumProgramsOp: _num_programs,
    o.TensorDimOp: _tensor_dim, o.TensorStrideOp: _tensor_stride, o.BarrierOp: _barrier,
    o.ReturnOp: _return, o.BinaryOp: _binary, o.UnaryOp: _unary, o.WhereOp: _where,
    o.CastOp: _cast, o.ForOp: _for, o.IfOp: _if,
}
"""Handlers of the tile-IR scalar ops the thread IR reuses."""
