"""Integer, floating-point, predicate and conversion instructions (PTX ISA 8.x,
"Integer Arithmetic", "Floating-Point", "Comparison and Selection", "Logic and
Shift", "Data Movement: mov, cvt").

Each ``compile_*`` takes the ``Program`` and a decoded instruction and returns
``run(lanes)``. Arithmetic is numpy on the instruction's type: integers wrap,
``.rn`` float operations are IEEE round-to-nearest-even (numpy's), shifts clamp
the amount to the width, float-to-integer conversions saturate and map NaN to 0.
``ex2``/``lg2``/``sin``/``cos.approx`` are computed exactly and rounded to f32 (the hardware's error bound is
2 ulp; the interpreter's answer is within it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np

from tilelang.emulator.ptx.errors import PtxError
from tilelang.emulator.ptx.operands import reader, vector_items, writer
from tilelang.emulator.ptx.parser import Instr, Vec
from tilelang.emulator.ptx.state import SINT, UINT, type_bits, type_dtype

Run = Callable[[Any], None]
_TYPES = {"b8", "u8", "s8", "b16", "u16", "s16", "f16", "bf16", "b32", "u32", "s32", "f32",
          "b64", "u64", "s64", "f64", "pred", "bf16x2", "f16x2"}


def _type(ins: Instr) -> str:
    for part in reversed(ins.parts):
        if part in _TYPES:
            return part
    raise PtxError(f"'{ins.opcode}': no operand type")


def _unsupported(ins: Instr, what: str = "") -> PtxError:
    return PtxError(f"PTX line {ins.line}: '{ins.opcode}' {what}is not supported by the PTX "
                    f"interpreter", hint="docs/emulate-ptx.md lists the instructions it runs")


def _binary(fn: Callable[[Any, Any, str], Any]) -> Callable[[Any, Instr], Run]:
    def compile_(p: Any, ins: Instr) -> Run:
        t = _type(ins)
        d, a, b = ins.operands
        w, ra, rb = writer(p, d, t), reader(p, a, t), reader(p, b, t)

        def run(lanes: Any) -> None:
            with np.errstate(all="ignore"):     # inf - inf is NaN, as on the GPU
                w(lanes, fn(ra(lanes), rb(lanes), t))
        return run
    return compile_


def _wrap_int(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any, str], Any]:
    """An integer operation done on unsigned words, so signed overflow wraps silently."""
    def op(a: Any, b: Any, t: str) -> Any:
        if t.startswith(("f", "bf")):
            return fn(a, b)
        u = UINT[type_bits(t)]
        return fn(np.asarray(a).view(u) if np.ndim(a) else np.array(a).view(u),
                  np.asarray(b).view(u) if np.ndim(b) else np.array(b).view(u)).astype(u)
    return op


def _shift(left: bool) -> Callable[[Any, Any, str], Any]:
    def op(a: Any, b: Any, t: str) -> Any:
        bits = type_bits(t)
        amount = np.minimum(np.asarray(b).astype(np.uint64), bits)
        a = np.asarray(a)
        if left:
            u = UINT[bits]
            r = np.where(amount >= bits, 0, a.view(u) << np.minimum(amount, bits - 1)
                         .astype(u))
            return r.astype(u)
        if t.startswith("s"):
            s = np.minimum(amount, bits - 1).astype(a.dtype)
            return a >> s
        u = UINT[bits]
        r = np.where(amount >= bits, 0, a.view(u) >> np.minimum(amount, bits - 1).astype(u))
        return r.astype(u)
    return op


def _minmax(ins: Instr, is_max: bool) -> Callable[[Any, Any, str], Any]:
    nan = "NaN" in ins.parts

    def op(a: Any, b: Any, t: str) -> Any:
        if t.startswith("f"):
            # .NaN propagates a NaN; plain min/max return the other operand
            if nan:
                return np.maximum(a, b) if is_max else np.minimum(a, b)
            return np.fmax(a, b) if is_max else np.fmin(a, b)
        return np.maximum(a, b) if is_max else np.minimum(a, b)
    return op


def _div(a: Any, b: Any, t: str) -> Any:
    if t.startswith("f"):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(a) / np.asarray(b)
    a, b = np.asarray(a), np.asarray(b)
    safe = np.where(b == 0, 1, b)
    if t.startswith("s"):
        q = np.trunc(a.astype(np.float64) / safe.astype(np.float64)) if type_bits(t) < 64 \
            else np.sign(a) * np.sign(safe) * (np.abs(a) // np.abs(safe))
        q = np.asarray(q).astype(a.dtype)
    else:
        q = a // safe
    # division by zero: the ISA leaves the result unspecified; all ones, as the hardware
    return np.where(b == 0, np.array(-1).astype(a.dtype) if t.startswith("s") else
                    np.iinfo(a.dtype).max, q).astype(a.dtype)


def _rem(a: Any, b: Any, t: str) -> Any:
    a, b = np.asarray(a), np.asarray(b)
    safe = np.where(b == 0, 1, b)
    return (a - _div(a, safe, t) * safe).astype(a.dtype)


def compile_arith(p: Any, ins: Instr) -> Run:
    base = ins.parts[0]
    t = _type(ins)
    if base == "mul" and "wide" in ins.parts:
        d, a, b = ins.operands
        wide = ("s" if t.startswith("s") else "u") + str(2 * type_bits(t))
        ra, rb, w = reader(p, a, t), reader(p, b, t), writer(p, d, wide)
        wdt = type_dtype(wide)
        return lambda lanes: w(lanes, np.asarray(ra(lanes)).astype(wdt) *
                               np.asarray(rb(lanes)).astype(wdt))
    if base == "mul" and "hi" in ins.parts:
        d, a, b = ins.operands
        bits = type_bits(t)
        ra, rb, w = reader(p, a, t), reader(p, b, t), writer(p, d, t)
        if bits == 64:
            raise _unsupported(ins)
        wdt = SINT[2 * bits] if t.startswith("s") else UINT[2 * bits]

        def mulhi(lanes: Any) -> None:
            prod = np.asarray(ra(lanes)).astype(wdt) * np.asarray(rb(lanes)).astype(wdt)
            w(lanes, (prod >> bits).astype(type_dtype(t)))
        return mulhi
    if base == "mad":
        d, a, b, c = ins.operands
        if "wide" in ins.parts or "hi" in ins.parts:
            raise _unsupported(ins)
        ra, rb, rc, w = reader(p, a, t), reader(p, b, t), reader(p, c, t), writer(p, d, t)
        u = UINT[type_bits(t)]

        def mad(lanes: Any) -> None:
            x = np.asarray(ra(lanes)).view(u) * np.asarray(rb(lanes)).view(u)
            w(lanes, (x + np.asarray(rc(lanes)).view(u)).astype(u))
        return mad
    if base == "fma":
        d, a, b, c = ins.operands
        ra, rb, rc, w = reader(p, a, t), reader(p, b, t), reader(p, c, t), writer(p, d, t)
        if t != "f32":
            raise _unsupported(ins)

        def fma(lanes: Any) -> None:
            # fused: one rounding of the exact a*b+c (f64 holds an f32 product exactly)
            x = np.asarray(ra(lanes), np.float64) * np.asarray(rb(lanes), np.float64)
            w(lanes, (x + np.asarray(rc(lanes), np.float64)).astype(np.float32))
        return fma
    ops: dict[str, Callable[[Any, Any, str], Any]] = {
        "add": _wrap_int(np.add), "sub": _wrap_int(np.subtract),
        "mul": _wrap_int(np.multiply), "div": _div, "rem": _rem,
        "and": lambda a, b, t: np.logical_and(a, b) if t == "pred" else np.bitwise_and(a, b),
        "or": lambda a, b, t: np.logical_or(a, b) if t == "pred" else np.bitwise_or(a, b),
        "xor": lambda a, b, t: np.logical_xor(a, b) if t == "pred" else np.bitwise_xor(a, b),
        "shl": _shift(True), "shr": _shift(False),
        "max": _minmax(ins, True), "min": _minmax(ins, False),
        # copysign d, a, b: b's magnitude with a's sign (PTX ISA operand order)
        "copysign": lambda a, b, t: np.copysign(b, a),
    }
    if base not in ops:
        raise _unsupported(ins)
    if t.startswith("f") and any(m in ins.parts for m in ("sat", "ftz")) and base != "max":
        raise _unsupported(ins, "with .sat/.ftz ")
    return _binary(ops[base])(p, ins)


def compile_unary(p: Any, ins: Instr) -> Run:
    base = ins.parts[0]
    t = _type(ins)
    d, a = ins.operands
    ra, w = reader(p, a, t), writer(p, d, t)
    fns = {
        "neg": lambda x: -np.asarray(x) if t.startswith("f") else
        (-np.asarray(x).view(UINT[type_bits(t)])).view(type_dtype(t)),
        "abs": np.abs,
        "not": lambda x: np.logical_not(x) if t == "pred" else np.invert(x),
        "ex2": lambda x: np.exp2(np.asarray(x, np.float64)).astype(np.float32),
        "lg2": lambda x: np.log2(np.asarray(x, np.float64)).astype(np.float32),
        "sin": lambda x: np.sin(np.asarray(x, np.float64)).astype(np.float32),
        "cos": lambda x: np.cos(np.asarray(x, np.float64)).astype(np.float32),
        "sqrt": lambda x: np.sqrt(np.asarray(x, np.float32)),
        "rcp": lambda x: (np.float32(1.0) / np.asarray(x, np.float32)),
    }
    fn = fns.get(base)
    if fn is None:
        raise _unsupported(ins)
    if "ftz" in ins.parts or "sat" in ins.parts:
        raise _unsupported(ins, "with .ftz/.sat ")

    def run(lanes: Any) -> None:
        with np.errstate(all="ignore"):
            w(lanes, fn(ra(lanes)))
    return run


_CMP = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
        "gt": np.greater, "ge": np.greater_equal,
        "lo": np.less, "ls": np.less_equal, "hi": np.greater, "hs": np.greater_equal}


def _nan(a: Any, b: Any) -> Any:
    return np.isnan(a) | np.isnan(b)


def _float_cmp(cmp: str) -> Any:
    """The float comparisons of setp: ordered ones are false with a NaN, the ``u`` ones
    (``equ``, ``ltu`` ...) true; ``num``: neither is NaN, ``nan``: either is."""
    if cmp == "num":
        return lambda a, b: ~_nan(a, b)
    if cmp == "nan":
        return _nan
    if cmp.endswith("u") and cmp[:-1] in _CMP:
        base = _CMP[cmp[:-1]]
        return lambda a, b: base(a, b) | _nan(a, b)
    return _CMP.get(cmp)


def compile_setp(p: Any, ins: Instr) -> Run:
    cmp, t = ins.parts[1], ins.parts[-1]
    is_float = t.startswith(("f", "bf"))
    fn = _float_cmp(cmp) if is_float else _CMP.get(cmp)
    if len(ins.parts) != 3 or fn is None or len(ins.operands) != 3:
        raise _unsupported(ins, "(this comparison form) ")
    d, a, b = ins.operands
    ra, rb, w = reader(p, a, t), reader(p, b, t), writer(p, d, "pred")
    n = p.threads

    def run(lanes: Any) -> None:
        with np.errstate(invalid="ignore"):
            r = fn(ra(lanes), rb(lanes))
        w(lanes, np.broadcast_to(r, (n,))[lanes] if np.ndim(r) == 0 else r)
    return run


def compile_selp(p: Any, ins: Instr) -> Run:
    t = _type(ins)
    d, a, b, c = ins.operands
    ra, rb, rc, w = reader(p, a, t), reader(p, b, t), reader(p, c, "pred"), writer(p, d, t)
    return lambda lanes: w(lanes, np.where(rc(lanes), ra(lanes), rb(lanes)).astype(
        type_dtype(t)))


def compile_bfe(p: Any, ins: Instr) -> Run:
    t = _type(ins)
    d, a, b, c = ins.operands
    bits = type_bits(t)
    ra, rb, rc, w = reader(p, a, t), reader(p, b, "u32"), reader(p, c, "u32"), writer(p, d, t)
    u = UINT[bits]

    def run(lanes: Any) -> None:
        x = np.asarray(ra(lanes))
        pos = np.asarray(rb(lanes)).astype(np.int64) & 0xFF
        ln = np.asarray(rc(lanes)).astype(np.int64) & 0xFF
        xu = np.broadcast_to(x.view(u) if x.ndim else np.array(x).view(u),
                             np.broadcast(x, pos, ln).shape).astype(np.uint64)
        shifted = np.where(pos >= bits, 0, xu >> np.minimum(pos, 63).astype(np.uint64))
        width = np.minimum(ln, 64)
        mask = np.where(width >= 64, np.uint64(0xFFFFFFFFFFFFFFFF),
                        (np.uint64(1) << width.astype(np.uint64)) - np.uint64(1))
        r = shifted & mask
        if t.startswith("s"):
            # sign bit: bit pos+len-1 of a (the top bit when the field runs past it)
            sbit = np.minimum(pos + ln - 1, bits - 1)
            sign = ((xu >> sbit.astype(np.uint64)) & np.uint64(1)).astype(bool) & (ln > 0)
            r = np.where(sign, r | ~mask, r)
        r = np.where(ln == 0, 0, r)
        w(lanes, r.astype(u).view(type_dtype(t)))
    return run


def compile_prmt(p: Any, ins: Instr) -> Run:
    if len(ins.parts) != 2:
        raise _unsupported(ins, "(a mode other than the default) ")
    d, a, b, c = ins.operands
    ra, rb, rc, w = (reader(p, a, "b32"), reader(p, b, "b32"), reader(p, c, "b32"),
                     writer(p, d, "b32"))
    n = p.threads

    def run(lanes: Any) -> None:
        m = n if isinstance(lanes, slice) else len(lanes)
        av = np.broadcast_to(ra(lanes), (m,)).astype(np.uint64)
        bv = np.broadcast_to(rb(lanes), (m,)).astype(np.uint64)
        sel = np.broadcast_to(rc(lanes), (m,)).astype(np.uint64)
        both = av | (bv << np.uint64(32))           # bytes 0-3 from a, 4-7 from b
        out = np.zeros(m, np.uint64)
        for i in range(4):
            s = (sel >> np.uint64(4 * i)) & np.uint64(0xF)
            byte = (both >> ((s & np.uint64(7)) * np.uint64(8))) & np.uint64(0xFF)
            # selector bit 3: replicate the sign of the chosen byte
            byte = np.where(s & np.uint64(8), np.where(byte & np.uint64(0x80),
                                                       np.uint64(0xFF), np.uint64(0)), byte)
            out |= byte << np.uint64(8 * i)
        w(lanes, out.astype(np.uint32))
    return run


def compile_mov(p: Any, ins: Instr) -> Run:
    t = _type(ins)
    d, a = ins.operands
    if isinstance(a, Vec):      # pack: the first element is the low bits
        items = vector_items(a)
        part = f"b{type_bits(t) // len(items)}"
        reads = [reader(p, x, part) for x in items]
        w = writer(p, d, t)
        sub = type_bits(t) // len(items)
        u = UINT[type_bits(t)]

        def pack(lanes: Any) -> None:
            acc = 0
            for i, r in enumerate(reads):
                acc = acc | (np.asarray(r(lanes)).astype(u) << u(sub * i))
            w(lanes, np.asarray(acc, u))
        return pack
    if isinstance(d, Vec):      # unpack
        items = vector_items(d)
        sub = type_bits(t) // len(items)
        ra = reader(p, a, t)
        writes = [writer(p, x, f"b{sub}") for x in items]
        u, su = UINT[type_bits(t)], UINT[sub]

        def unpack(lanes: Any) -> None:
            v = np.asarray(ra(lanes)).view(u)
            for i, wr in enumerate(writes):
                wr(lanes, ((v >> u(sub * i)) & u((1 << sub) - 1)).astype(su))
        return unpack
    ra, w = reader(p, a, t), writer(p, d, t)
    n = p.threads

    def run(lanes: Any) -> None:
        v = ra(lanes)
        w(lanes, v if np.ndim(v) else np.broadcast_to(v, (n,))[lanes])
    return run


def _round_int(x: np.ndarray, mode: str) -> np.ndarray:
    return {"rni": np.rint, "rzi": np.trunc, "rmi": np.floor, "rpi": np.ceil}[mode](x)


def compile_cvt(p: Any, ins: Instr) -> Run:
    parts = ins.parts
    types = [x for x in parts[1:] if x in _TYPES]
    modes = [x for x in parts[1:] if x not in _TYPES]
    if "sat" in modes or "ftz" in modes or len(types) != 2:
        raise _unsupported(ins, "(this form) ")
    dt_, st = types
    mode = modes[0] if modes else None
    if dt_ in ("bf16x2", "f16x2"):
        d, a, b = ins.operands
        ra, rb, w = reader(p, a, st), reader(p, b, st), writer(p, d, "b32")
        half = ml_dtypes.bfloat16 if dt_ == "bf16x2" else np.float16
        if mode != "rn":
            raise _unsupported(ins)

        def pack(lanes: Any) -> None:
            # a goes to the upper half, b to the lower (PTX ISA, cvt)
            hi = np.asarray(ra(lanes)).astype(half).view(np.uint16).astype(np.uint32)
            lo = np.asarray(rb(lanes)).astype(half).view(np.uint16).astype(np.uint32)
            w(lanes, (hi << np.uint32(16)) | lo)
        return pack
    d, a = ins.operands
    ra, w = reader(p, a, st), writer(p, d, dt_)
    ddt = np.dtype(type_dtype(dt_))
    src_float = st.startswith(("f", "bf"))
    dst_float = dt_.startswith(("f", "bf"))
    n = p.threads

    def run(lanes: Any) -> None:
        x = np.asarray(ra(lanes))
        if x.ndim == 0:
            x = np.broadcast_to(x, (n,))[lanes]
        with np.errstate(all="ignore"):
            if src_float and dst_float:
                if mode in ("rni", "rzi", "rmi", "rpi"):
                    x = _round_int(x.astype(np.float64), mode)
                elif mode not in (None, "rn"):
                    raise _unsupported(ins)
                w(lanes, x.astype(ddt))
            elif src_float:
                r = _round_int(x.astype(np.float64), mode or "rzi")
                info = np.iinfo(ddt)
                r = np.where(np.isnan(r), 0, np.clip(r, info.min, info.max))
                w(lanes, r.astype(ddt))
            elif dst_float:
                w(lanes, x.astype(ddt))
            else:
                # integer to integer: truncate or extend by the source's signedness
                w(lanes, x.astype(ddt))
    return run


COMPILERS: dict[str, Callable[[Any, Instr], Run]] = {
    **{k: compile_arith for k in ("add", "sub", "mul", "mad", "fma", "div", "rem", "and", "or",
                                  "xor", "shl", "shr", "max", "min", "copysign")},
    **{k: compile_unary for k in ("neg", "abs", "not", "ex2", "lg2", "sin", "cos", "sqrt",
                                  "rcp")},
    "setp": compile_setp, "selp": compile_selp, "bfe": compile_bfe, "prmt": compile_prmt,
    "mov": compile_mov, "cvt": compile_cvt,
}

__all__ = ["COMPILERS"]
