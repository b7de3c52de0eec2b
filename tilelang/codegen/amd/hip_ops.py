"""Thread IR → HIP C++: one handler per op (scalar, control flow, memory, cross-lane,
MFMA, debugging). Numerics follow the interpreter (see ``llvm_ops`` for the same
rules on the NVIDIA side): integers wrap (``-fwrapv``), integer ``floordiv``/``mod``
truncate with x/0 = 0, out-of-range shifts give 0 (or the sign for ``shr``),
narrow floats round after every op, float → int casts saturate with NaN → 0.
"""

from __future__ import annotations

import re
from typing import Sequence

from tilelang.codegen.amd import hip_types as ht
from tilelang.codegen.amd.hip_emitter import HipEmitter, HipHandler
from tilelang.ir import ops as o
from tilelang.ir.types import DType, bf16, bool_, f32, f64

# -- scalars -------------------------------------------------------------------------


def _constant(e: HipEmitter, op: o.ConstantOp) -> None:
    dt = op.result.type.dtype
    e.ctype(dt)
    e.consts[op.result.name] = op.value
    e.bind(op.result, ht.literal(dt, op.value))


def _program_id(e: HipEmitter, op: o.ProgramIdOp) -> None:
    e.define(op.result, f"(int)blockIdx.{'xyz'[op.axis]}")


def _num_programs(e: HipEmitter, op: o.NumProgramsOp) -> None:
    e.define(op.result, f"(int)gridDim.{'xyz'[op.axis]}")


def _tensor_dim(e: HipEmitter, op: o.TensorDimOp) -> None:
    e.bind(op.result, e.tensor_args[op.tensor.name][1][op.dim])


def _tensor_stride(e: HipEmitter, op: o.TensorStrideOp) -> None:
    e.bind(op.result, e.tensor_args[op.tensor.name][2][op.dim])


def _barrier(e: HipEmitter, op: o.BarrierOp) -> None:
    e.line("__syncthreads();")


def _return(e: HipEmitter, op: o.ReturnOp) -> None:
    e.line("return;")


_ATOM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[\d+\])?|[0-9][0-9A-Za-z_.]*")


def _paren(x: str) -> str:
    """``x`` as an operand: names, ``name[i]`` and unsigned literals stay bare."""
    return x if _ATOM.fullmatch(x) else f"({x})"


# -- binary ----------------------------------------------------------------------------

_C_OPS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "and": "&", "or": "|", "xor": "^",
          "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}


def _binary(e: HipEmitter, op: o.BinaryOp) -> None:
    dt, fn = op.lhs.type.dtype, op.fn
    e.ctype(dt)
    a, b = e.val(op.lhs), e.val(op.rhs)
    if fn in o.COMPARE_FNS:
        expr = f"{_paren(ht.widen(a, dt))} {_C_OPS[fn]} {_paren(ht.widen(b, dt))}"
        e.define(op.result, expr, bool_)
        return
    if dt.is_bool:
        expr = _bool_binary(e, fn, _paren(a), _paren(b))
    elif dt.is_float:
        expr = ht.narrow(_float_binary(e, op, ht.widen(a, dt), ht.widen(b, dt), dt), dt)
    else:
        expr = _int_binary(e, op, a, b, dt)
    e.define(op.result, expr)


def _bool_binary(e: HipEmitter, fn: str, a: str, b: str) -> str:
    # The interpreter computes on 0/1 and gives result != 0.
    if fn in ("add", "or", "maximum"):
        return f"{a} | {b}"
    if fn in ("sub", "xor"):
        return f"{a} != {b}"
    if fn in ("mul", "and", "minimum", "floordiv"):
        return f"{a} & {b}"
    if fn == "mod":
        return "false"
    if fn == "shl":
        return a
    if fn == "shr":
        return f"{a} & !{b}"
    if fn == "pow":
        return f"{a} | !{b}"
    raise e.error(f"{fn} is not defined on bool")


def _float_binary(e: HipEmitter, op: o.BinaryOp, a: str, b: str, dt: DType) -> str:
    fn = op.fn
    sfx = "" if dt == f64 else "f"
    ctype = ht.compute_ctype(dt)
    if fn in ("add", "sub", "mul", "div"):
        return f"{_paren(a)} {_C_OPS[fn]} {_paren(b)}"
    if fn == "floordiv":
        return f"floor{sfx}({a} / {_paren(b)})"
    if fn == "mod":
        return f"fmod{sfx}({a}, {b})"
    if fn == "maximum":
        return f"tl_fmax<{ctype}>({a}, {b})"
    if fn == "minimum":
        return f"tl_fmin<{ctype}>({a}, {b})"
    if fn == "pow":
        y = e.const_of(op.rhs)
        if y == 0:
            return ht.literal(f64 if dt == f64 else f32, 1.0)
        if y == 1:
            return a
        if y == 2:
            return f"{_paren(a)} * {_paren(a)}"
        if y == -1:
            return f"{ht.literal(f64 if dt == f64 else f32, 1.0)} / {_paren(a)}"
        return f"pow{sfx}({a}, {b})"
    raise e.error(f"{fn} is not defined on floats")


def _int_binary(e: HipEmitter, op: o.BinaryOp, a: str, b: str, dt: DType) -> str:
    fn, t = op.fn, ht.ctype(dt)
    pa, pb = _paren(a), _paren(b)
    if fn in ("add", "sub", "mul", "and", "or", "xor"):
        expr = f"{pa} {_C_OPS[fn]} {pb}"
        return expr if dt.bits >= 32 else f"({t})({expr})"
    if fn in ("floordiv", "mod"):
        k = e.const_of(op.rhs)
        if isinstance(k, int) and k > 0:     # C's truncating division is the rule here
            return f"{pa} {'/' if fn == 'floordiv' else '%'} {pb}"
        helper = ("tl_sdiv" if fn == "floordiv" else "tl_smod") if dt.is_signed else \
            ("tl_udiv" if fn == "floordiv" else "tl_umod")
        return f"{helper}<{t}>({a}, {b})"
    if fn in ("maximum", "minimum"):
        return f"{pa} {'>' if fn == 'maximum' else '<'} {pb} ? {pa} : {pb}"
    u = ht.unsigned_ctype(dt)
    k = e.const_of(op.rhs)
    in_range = isinstance(k, int) and 0 <= k < dt.bits
    if fn == "shl":
        shifted = f"({t})(({u}){pa} << {pb})"
        return shifted if in_range else f"({u}){pb} >= {dt.bits}u ? ({t})0 : {shifted}"
    if fn == "shr":
        if in_range:
            return f"({t})({pa} >> {pb})"
        if dt.is_signed:
            return f"({t})({pa} >> (({u}){pb} > {dt.bits - 1}u ? {dt.bits - 1} : {pb}))"
        return f"({u}){pb} >= {dt.bits}u ? ({t})0 : ({t})({pa} >> {pb})"
    if fn == "pow":
        return f"tl_ipow<{t}, {u}>({a}, {b}, {'true' if dt.is_signed else 'false'})"
    raise e.error(f"{fn} is not defined on integers")


# -- unary, where, cast --------------------------------------------------------------------

_FLOAT_FNS = {"abs": "fabs", "sqrt": "sqrt", "floor": "floor", "ceil": "ceil",
              "rsqrt": "rsqrt", "exp": "exp", "exp2": "exp2", "log": "log", "log2": "log2",
              "sin": "sin", "cos": "cos", "tanh": "tanh", "erf": "erf", "log1p": "log1p",
              "expm1": "expm1"}


def _unary(e: HipEmitter, op: o.UnaryOp) -> None:
    dt, fn, x = op.value.type.dtype, op.fn, e.val(op.value)
    t = e.ctype(dt)
    if dt.is_float:
        w = ht.widen(x, dt)
        sfx = "" if dt == f64 else "f"
        one = ht.literal(f64 if dt == f64 else f32, 1.0)
        if fn == "neg":
            r = f"-{_paren(w)}"
        elif fn == "not":
            r = f"{_paren(w)} == 0 ? {one} : {ht.literal(f64 if dt == f64 else f32, 0.0)}"
        elif fn == "sigmoid":
            r = f"{one} / ({one} + exp{sfx}(-{_paren(w)}))"
        elif fn in _FLOAT_FNS:
            r = f"{_FLOAT_FNS[fn]}{sfx}({w})"
        else:
            raise e.error(f"{fn} needs an integer or bool operand")
        e.define(op.result, ht.narrow(r, dt))
        return
    px = _paren(x)
    if fn == "neg":
        r = x if dt.is_bool else f"({t})(-{px})"
    elif fn == "not":
        r = f"!{px}" if dt.is_bool else f"({t})({px} == 0)"
    elif fn == "invert":
        r = f"!{px}" if dt.is_bool else f"({t})~{px}"
    elif fn == "abs":
        r = f"({t})({px} < 0 ? -{px} : {px})" if dt.is_signed else x
    else:
        raise e.error(f"{fn} needs a float operand")
    e.define(op.result, r)


def _where(e: HipEmitter, op: o.WhereOp) -> None:
    e.define(op.result, f"{_paren(e.val(op.cond))} ? {_paren(e.val(op.x))} : "
                        f"{_paren(e.val(op.y))}")


def _cast(e: HipEmitter, op: o.CastOp) -> None:
    src, dst = op.value.type.dtype, op.result.type.dtype
    x = e.val(op.value)
    if src == dst:
        e.bind(op.result, x)
        return
    e.define(op.result, cast(e, x, src, dst))


def cast(e: HipEmitter, x: str, src: DType, dst: DType) -> str:
    """``tl.cast``: floats round to nearest even, float → int truncates (saturating,
    NaN → 0), ints wrap, bool → 0/1, number → bool is ``x != 0``."""
    t = e.ctype(dst)
    e.ctype(src)
    if dst.is_bool:
        return f"{_paren(ht.widen(x, src))} != 0"
    if src.is_bool:
        if dst.is_float:
            return ht.narrow(f"{_paren(x)} ? 1.0f : 0.0f", dst) if dst != f64 \
                else f"{_paren(x)} ? 1.0 : 0.0"
        return f"({t}){x}"
    if src.is_float and dst.is_float:
        if dst == bf16:
            return f"tl_f64_to_bf16({x})" if src == f64 else f"tl_f32_to_bf16({ht.widen(x, src)})"
        if src == bf16:
            return f"({t})tl_bf16_to_f32({x})" if dst != f32 else f"tl_bf16_to_f32({x})"
        return f"({t}){x}"
    if src.is_float:
        lo, hi = ht.int_limits(dst)
        ctype = ht.compute_ctype(src)
        return f"tl_f2i<{t}, {ctype}>({ht.widen(x, src)}, {lo}, {hi})"
    if dst == bf16:   # int -> bf16: through f64, exact for up to 53-bit integers
        return f"tl_f64_to_bf16((double){x})"
    return f"({t}){x}"


# -- control flow -----------------------------------------------------------------------

def _for(e: HipEmitter, op: o.ForOp) -> None:
    iv_arg, carried = op.body.args[0], op.body.args[1:]
    lo, hi, step = e.val(op.lower), e.val(op.upper), e.val(op.step)
    names = [e.declare(arg, e.val(init)) for arg, init in zip(carried, op.inits)]
    it = e.ctype(iv_arg.type.dtype)
    iv = e.value_name(iv_arg)
    e.bind(iv_arg, iv)
    dt = op.lower.type.dtype
    k = e.const_of(op.step)
    if not dt.is_signed or (isinstance(k, int) and k > 0):
        cond = f"{iv} < {_paren(hi)}"
    elif isinstance(k, int):
        cond = f"{iv} > {_paren(hi)}"
    else:
        cond = f"({_paren(step)} > 0 ? {iv} < {_paren(hi)} : {iv} > {_paren(hi)})"
    e.open(f"for ({it} {iv} = {lo}; {cond}; {iv} += {step}) {{")
    nexts = e.emit_block(op.body)
    if nexts is not None:
        _assign(e, names, nexts, [a.type.dtype for a in carried])
    e._set_loc(op.loc)
    e.close()
    for r, n in zip(op.results, names):
        e.bind(r, n)


def _assign(e: HipEmitter, names: Sequence[str], exprs: Sequence[str],
            dtypes: Sequence[DType]) -> None:
    """``names = exprs`` as a parallel assignment (a yield may swap carried values)."""
    pairs = [(n, x) for n, x in zip(names, exprs) if n != x]
    if any(x in names for _, x in pairs) and len(pairs) > 1:
        temps = []
        for (n, x), dt in zip(pairs, dtypes):
            t = e.temp("next")
            e.line(f"const {e.ctype(dt)} {t} = {x};")
            temps.append((n, t))
        pairs = temps
    for n, x in pairs:
        e.line(f"{n} = {x};")


def _if(e: HipEmitter, op: o.IfOp) -> None:
    names = [e.declare(r) for r in op.results]
    dtypes = [r.type.dtype for r in op.results]
    e.open(f"if ({e.val(op.cond)}) {{")
    vals = e.emit_block(op.then)
    if vals is not None:
        _assign(e, names, vals, dtypes)
    e._set_loc(op.loc)
    e.depth -= 1
    e.open("} else {")
    vals = e.emit_block(op.orelse)
    if vals is not None:
        _assign(e, names, vals, dtypes)
    e._set_loc(op.loc)
    e.close()


HANDLERS: dict[type, HipHandler] = {
    o.ConstantOp: _constant, o.ProgramIdOp: _program_id, o.NumProgramsOp: _num_programs,
    o.TensorDimOp: _tensor_dim, o.TensorStrideOp: _tensor_stride, o.BarrierOp: _barrier,
    o.ReturnOp: _return, o.BinaryOp: _binary, o.UnaryOp: _unary, o.WhereOp: _where,
    o.CastOp: _cast, o.ForOp: _for, o.IfOp: _if,
}

__all__ = ["HANDLERS", "cast"]
