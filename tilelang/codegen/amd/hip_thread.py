"""Thread IR → HIP C++: the ``th.*`` ops (memory, shuffles, MFMA) and the debugging ops.

Global addresses are i64 byte addresses (``long long``) cast to typed pointers;
shared addresses are i32 byte offsets into the kernel's ``__shared__`` byte array.
A vector access is split into chunks of its natural alignment (at most 16 bytes),
each one load or store of a clang ext_vector of the elements' memory type
(``tl_floatx4``, ``tl_ushortx8`` for bf16...), which the AMDGPU back end turns into
``global_load_dwordx4`` / ``ds_read_b128``. A predicated access runs under an
``if``, so a lane whose predicate is false touches no memory.
"""

from __future__ import annotations

from typing import Callable, Sequence

from tilelang.codegen.amd import hip_types as ht
from tilelang.codegen.amd.hip_emitter import SHARED_SYMBOL, HipEmitter, HipHandler, c_string
from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.ir.types import DType, bf16, f16, f32, f64, i32, i64, u32, u64
from tilelang.ir.values import Value


def _plan(dt: DType, vec: int) -> tuple[int, int]:
    """(chunk bytes, chunks): natural alignment, at most 16 bytes per access."""
    total = ht.itemsize(dt) * vec
    chunk = min(16, total & -total)
    return chunk, total // chunk


def _chunk_type(e: HipEmitter, dt: DType, per: int) -> str:
    elem = ht.mem_ctype(dt)
    return elem if per == 1 else e.vector_type(elem, per)


def _global_ptr(addr: str, offset: int) -> str:
    return f"({addr} + {offset})" if offset else addr


def _shared_ptr(e: HipEmitter, addr: str, offset: int) -> str:
    if e.fn.attr("shared_bytes", 0) in (0, None):
        raise e.error("a shared-memory access in a kernel with shared_bytes = 0",
                      "a bug in a pass: the function's shared_bytes must cover its buffers")
    return f"({SHARED_SYMBOL} + {addr}{f' + {offset}' if offset else ''})"


def _load(e: HipEmitter, dt: DType, vec: int, ptr: Callable[[int], str],
          targets: Sequence[str], const: bool) -> None:
    """Statements loading ``vec`` elements into the C names ``targets`` (declared with
    ``const`` when the load is unconditional)."""
    chunk, n = _plan(dt, vec)
    per = chunk // ht.itemsize(dt)
    ctype = _chunk_type(e, dt, per)
    decl = f"const {e.ctype(dt)} " if const else ""
    qual = "const " if const else ""
    for c in range(n):
        access = f"*({qual}{ctype}*){ptr(c * chunk)}"
        if per == 1:
            e.line(f"{decl}{targets[c]} = {ht.from_mem(access, dt)};")
            continue
        raw = e.temp("raw")
        e.line(f"const {ctype} {raw} = {access};")
        for i in range(per):
            e.line(f"{decl}{targets[c * per + i]} = {ht.from_mem(f'{raw}[{i}]', dt)};")


def _store(e: HipEmitter, dt: DType, values: Sequence[str], ptr: Callable[[int], str]) -> None:
    chunk, n = _plan(dt, len(values))
    per = chunk // ht.itemsize(dt)
    ctype = _chunk_type(e, dt, per)
    for c in range(n):
        part = [ht.to_mem(v, dt) for v in values[c * per:(c + 1) * per]]
        data = part[0] if per == 1 else f"{ctype}{{{', '.join(part)}}}"
        e.line(f"*({ctype}*){ptr(c * chunk)} = {data};")


def _guarded(e: HipEmitter, pred: Value | None, body: Callable[[], None]) -> None:
    if pred is None:
        body()
        return
    e.open(f"if ({e.val(pred)}) {{")
    body()
    e.close()


def _zero(dt: DType) -> str:
    return ht.literal(dt, 0.0 if dt.is_float else 0)


# -- handlers -------------------------------------------------------------------------

def _thread_id(e: HipEmitter, op: th.ThreadIdOp) -> None:
    e.define(op.result, "(int)threadIdx.x")


def _tensor_ptr(e: HipEmitter, op: th.TensorPtrOp) -> None:
    e.define(op.result, f"(long long){e.tensor_args[op.tensor.name][0]}")


def _ld_global(e: HipEmitter, op: th.LdGlobalOp) -> None:
    addr = e.val(op.addr)
    e.ctype(op.dtype)
    if op.pred is None:
        names = [e.value_name(r) for r in op.results]
        _load(e, op.dtype, op.vec, lambda off: _global_ptr(addr, off), names, const=True)
    else:
        other = e.val(op.other) if op.other is not None else _zero(op.dtype)
        names = [e.value_name(r) for r in op.results]
        t = e.ctype(op.dtype)
        e.line(f"{t} " + ", ".join(f"{n} = {other}" for n in names) + ";")
        _guarded(e, op.pred, lambda: _load(e, op.dtype, op.vec,
                                           lambda off: _global_ptr(addr, off), names,
                                           const=False))
    for r, n in zip(op.results, names):
        e.bind(r, n)


def _st_global(e: HipEmitter, op: th.StGlobalOp) -> None:
    dt = op.values[0].type.dtype
    e.ctype(dt)
    addr = e.val(op.addr)
    vals = [e.val(v) for v in op.values]
    _guarded(e, op.pred, lambda: _store(e, dt, vals, lambda off: _global_ptr(addr, off)))


def _ld_shared(e: HipEmitter, op: th.LdSharedOp) -> None:
    addr = e.val(op.addr)
    e.ctype(op.dtype)
    names = [e.value_name(r) for r in op.results]
    _load(e, op.dtype, op.vec, lambda off: _shared_ptr(e, addr, off), names, const=True)
    for r, n in zip(op.results, names):
        e.bind(r, n)


def _st_shared(e: HipEmitter, op: th.StSharedOp) -> None:
    dt = op.values[0].type.dtype
    e.ctype(dt)
    addr = e.val(op.addr)
    vals = [e.val(v) for v in op.values]
    _guarded(e, op.pred, lambda: _store(e, dt, vals, lambda off: _shared_ptr(e, addr, off)))


# atomicAdd overloads HIP has; i64 adds as two's complement u64.
_ATOMIC_TYPES = {f32: "float", f64: "double", i32: "int", u32: "unsigned int",
                 u64: "unsigned long long", i64: "unsigned long long"}


def _atomic_add(e: HipEmitter, op: th.AtomicAddGlobalOp) -> None:
    dt = op.value.type.dtype
    e.ctype(dt)
    t = _ATOMIC_TYPES.get(dt)
    if t is None:
        raise e.error(f"atomic add of {dt} values is not supported on AMD targets",
                      "accumulate in f32 or i32 (x.to(tl.f32)) and convert afterwards")
    addr, v = e.val(op.addr), e.val(op.value)
    value = v if t == e.ctype(dt) else f"({t}){v}"
    _guarded(e, op.pred, lambda: e.line(f"atomicAdd(({t}*){addr}, {value});"))


_SHFL = {"bfly": "__shfl_xor", "idx": "__shfl", "down": "__shfl_down", "up": "__shfl_up"}


def _shfl(e: HipEmitter, op: th.ShflOp) -> None:
    dt = op.value.type.dtype
    e.ctype(dt)
    x, lane = e.val(op.value), e.val(op.lane)
    fn, w = _SHFL[op.mode], e.warp_size

    def call(v: str) -> str:
        return f"{fn}({v}, {lane}, {w})"

    if dt in (f32, f64, i32, u32, i64, u64):
        r = call(x)
    elif dt == bf16:
        r = f"tl_bf16{{(unsigned short){call(f'(int){x}.bits')}}}"
    elif dt == f16:
        r = (f"__builtin_bit_cast(_Float16, (unsigned short)"
             f"{call(f'(int)__builtin_bit_cast(unsigned short, {x})')})")
    elif dt.is_bool:
        r = f"{call(f'(int){x}')} != 0"
    else:   # 8- and 16-bit integers: through int, truncated back
        r = f"({e.ctype(dt)}){call(f'(int){x}')}"
    e.define(op.result, r)


_MFMA_BUILTINS = {
    ("32x32x8", f16): "__builtin_amdgcn_mfma_f32_32x32x8f16",
    ("16x16x16", f16): "__builtin_amdgcn_mfma_f32_16x16x16f16",
    ("32x32x8", bf16): "__builtin_amdgcn_mfma_f32_32x32x8bf16_1k",
    ("16x16x16", bf16): "__builtin_amdgcn_mfma_f32_16x16x16bf16_1k",
}


def _mfma(e: HipEmitter, op: th.MfmaOp) -> None:
    ab = op.a[0].type.dtype
    builtin = _MFMA_BUILTINS.get((op.shape, ab))
    if builtin is None:
        raise e.error(f"mfma {op.shape} with {ab} inputs is not supported",
                      "use f16 or bf16 inputs with an f32 accumulator")
    if ab == bf16:   # the _1k builtins take bf16 as 4 x short
        vt = e.vector_type("short", 4)
        pack = [f"(short){e.val(v)}.bits" for v in op.a], [f"(short){e.val(v)}.bits"
                                                           for v in op.b]
    else:
        vt = e.vector_type("_Float16", 4)
        pack = [e.val(v) for v in op.a], [e.val(v) for v in op.b]
    ct = e.vector_type("float", len(op.c))
    acc = e.temp("acc")
    e.line(f"const {ct} {acc} = {builtin}(")
    e.line(f"    {vt}{{{', '.join(pack[0])}}}, {vt}{{{', '.join(pack[1])}}},")
    e.line(f"    {ct}{{{', '.join(e.val(v) for v in op.c)}}}, 0, 0, 0);")
    for i, r in enumerate(op.results):
        e.define(r, f"{acc}[{i}]")


# -- debugging ------------------------------------------------------------------------

def _print_arg(x: str, dt: DType) -> tuple[str, str]:
    """The printf conversion and the promoted argument of one value."""
    if dt.is_bool:
        return "%s", f"{x} ? \"True\" : \"False\""
    if dt.is_float:
        return "%g", f"(double){ht.widen(x, dt)}"
    if dt.bits == 64:
        return ("%lld" if dt.is_signed else "%llu"), x
    return ("%d" if dt.is_signed else "%u"), f"({'int' if dt.is_signed else 'unsigned int'}){x}"


def _print(e: HipEmitter, op: o.PrintOp) -> None:
    head = e.fn.name.replace("%", "%%")
    fmt = f"[{head} pid=(%d, %d, %d) tid=%d] {op.prefix.replace('%', '%%')}"
    args = ["(int)blockIdx.x", "(int)blockIdx.y", "(int)blockIdx.z", "(int)threadIdx.x"]
    for v in op.values:
        e.ctype(v.type.dtype)
        conv, x = _print_arg(e.val(v), v.type.dtype)
        fmt += " " + conv
        args.append(x)
    e.line(f"printf({c_string(fmt + chr(10))}, {', '.join(args)});")


def _assert(e: HipEmitter, op: o.AssertOp) -> None:
    loc = op.loc or e.loc
    message = op.message or "tl.device_assert failed"
    e.line(f"if (!{e.val(op.cond)}) __assert_fail({c_string(message)}, "
           f"{c_string(loc.file if loc else '<unknown>')}, {loc.line if loc else 0}, "
           f"{c_string(e.fn.name)});")


HANDLERS: dict[type, HipHandler] = {
    th.ThreadIdOp: _thread_id, th.TensorPtrOp: _tensor_ptr, th.LdGlobalOp: _ld_global,
    th.StGlobalOp: _st_global, th.AtomicAddGlobalOp: _atomic_add, th.LdSharedOp: _ld_shared,
    th.StSharedOp: _st_shared, th.ShflOp: _shfl, th.MfmaOp: _mfma,
    o.PrintOp: _print, o.AssertOp: _assert,
}
"""Handlers of the thread-IR ops HIP supports and of the debugging ops."""
