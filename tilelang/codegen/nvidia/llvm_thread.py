"""Thread IR → LLVM IR: the ``th.*`` ops (memory, cp.async, ldmatrix, mma, shuffles).

Global addresses are i64 byte addresses turned into ``ptr addrspace(1)``;
shared addresses are i32 byte offsets into the kernel's one shared array
(``ptr addrspace(3)``), or 32-bit shared-window addresses for inline PTX.
A vector access is split into chunks of its natural alignment (at most 16
bytes) loaded or stored as 32-bit words (``<4 x i32>`` → ``ld.global.v4.b32``)
and bit-cast to the elements. A predicated access runs in its own basic block,
so a lane whose predicate is false touches no memory.
"""

from __future__ import annotations

from typing import Callable, Sequence

from llvmlite import ir

from tilelang.codegen.nvidia.llvm_math import F32, I8, I16, I32, I64, itemsize, mem_type
from tilelang.codegen.nvidia.llvm_ops import Handler, KernelEmitter, float_const, int_const
from tilelang.ir import thread_ops as th
from tilelang.ir.types import DType, bf16, f16, f32, u32

GLOBAL_PTR = ir.PointerType(addrspace=1)


def _plan(dt: DType, vec: int) -> tuple[int, int, ir.Type]:
    """(chunk bytes, chunk count, chunk type): natural alignment, at most 16 bytes."""
    total = itemsize(dt) * vec
    chunk = min(16, total & -total)
    word = I32 if chunk >= 4 else (I16 if chunk == 2 else I8)
    n = chunk * 8 // word.width
    return chunk, total // chunk, word if n == 1 else ir.VectorType(word, n)


def _chunk_ptr(e: KernelEmitter, base: ir.Value, offset: int) -> ir.Value:
    if offset == 0:
        return base
    return e.b.gep(base, [ir.Constant(I32, offset)], source_etype=I8)


def global_ptr(e: KernelEmitter, addr: ir.Value) -> ir.Value:
    return e.b.inttoptr(addr, GLOBAL_PTR)


def shared_ptr(e: KernelEmitter, offset: ir.Value) -> ir.Value:
    """The pointer to shared byte ``offset``. An offset ``x + C`` (a scratch range's
    or buffer's base ``C``) becomes ``(smem + C) + x``, so LLVM's load/store
    vectorizer still sees neighbouring accesses as one base plus constant steps
    (it does not look through the addition) and pairs them into wide ones."""
    if e.smem is None:
        raise e.error("a shared-memory access in a kernel with shared_bytes = 0",
                      "a bug in a pass: the function's shared_bytes must cover its buffers")
    if isinstance(offset, ir.Instruction) and offset.opname == "add":
        x, c = offset.operands
        if isinstance(x, ir.Constant):
            x, c = c, x
        if isinstance(c, ir.Constant):
            return e.b.gep(e.b.gep(e.smem, [c], source_etype=I8), [x], source_etype=I8)
    return e.b.gep(e.smem, [offset], source_etype=I8)


def shared_addr32(e: KernelEmitter, offset: ir.Value) -> ir.Value:
    """The 32-bit shared-window address of a shared byte offset (for inline PTX)."""
    return e.b.ptrtoint(shared_ptr(e, offset), I32)


def load_vector(e: KernelEmitter, base: ir.Value, dt: DType, vec: int) -> list[ir.Value]:
    chunk, n, cty = _plan(dt, vec)
    per = chunk // itemsize(dt)
    ety = mem_type(dt)
    out: list[ir.Value] = []
    for c in range(n):
        raw = e.b.load(_chunk_ptr(e, base, c * chunk), align=chunk, typ=cty)
        if per == 1:
            out.append(raw if raw.type == ety else e.b.bitcast(raw, ety))
        else:
            v = e.b.bitcast(raw, ir.VectorType(ety, per))
            out.extend(e.b.extract_element(v, ir.Constant(I32, i)) for i in range(per))
    if dt.is_bool:
        out = [e.b.icmp_unsigned("!=", x, ir.Constant(I8, 0)) for x in out]
    return out


def store_vector(e: KernelEmitter, base: ir.Value, dt: DType, values: Sequence[ir.Value]) -> None:
    chunk, n, cty = _plan(dt, len(values))
    per = chunk // itemsize(dt)
    ety = mem_type(dt)
    if dt.is_bool:
        values = [e.b.zext(x, I8) for x in values]
    for c in range(n):
        part = values[c * per:(c + 1) * per]
        if per == 1:
            word = part[0]
        else:
            word = ir.Constant(ir.VectorType(ety, per), None)
            for i, x in enumerate(part):
                word = e.b.insert_element(word, x, ir.Constant(I32, i))
        if word.type != cty:
            word = e.b.bitcast(word, cty)
        e.b.store(word, _chunk_ptr(e, base, c * chunk), align=chunk)


def guarded(e: KernelEmitter, pred: ir.Value | None,
            body: Callable[[], Sequence[ir.Value] | None],
            other: Sequence[ir.Value] = ()) -> list[ir.Value]:
    """Run ``body`` only where ``pred`` holds; its results, or ``other`` elsewhere."""
    if pred is None:
        return list(body() or ())
    bld = e.b
    pre, then, merge = bld.block, e.new_block("pred.then"), e.new_block("pred.end")
    bld.cbranch(pred, then, merge)
    bld.position_at_end(then)
    results = body() or ()
    then_end = bld.block
    bld.branch(merge)
    bld.position_at_end(merge)
    out = []
    for r, x in zip(results, other):
        phi = bld.phi(r.type)
        phi.add_incoming(r, then_end)
        phi.add_incoming(x, pre)
        out.append(phi)
    return out


def _opt(e: KernelEmitter, v) -> ir.Value | None:
    return None if v is None else e.val(v)


# -- handlers -------------------------------------------------------------------------

def _thread_id(e: KernelEmitter, op: th.ThreadIdOp) -> None:
    e.bind(op.result, e.sreg("tid.x"))


def _tensor_ptr(e: KernelEmitter, op: th.TensorPtrOp) -> None:
    e.bind(op.result, e.b.ptrtoint(e.tensors[op.tensor.name].ptr, I64))


def _zero(e: KernelEmitter, dt: DType) -> ir.Value:
    return float_const(e, dt, 0.0) if dt.is_float else int_const(dt, 0)


def _ld_global(e: KernelEmitter, op: th.LdGlobalOp) -> None:
    e.type_of(op.dtype)
    other = e.val(op.other) if op.other is not None else _zero(e, op.dtype)
    vals = guarded(e, _opt(e, op.pred),
                   lambda: load_vector(e, global_ptr(e, e.val(op.addr)), op.dtype, op.vec),
                   [other] * op.vec)
    for r, v in zip(op.results, vals):
        e.bind(r, v)


def _st_global(e: KernelEmitter, op: th.StGlobalOp) -> None:
    dt = op.values[0].type.dtype
    e.type_of(dt)
    guarded(e, _opt(e, op.pred), lambda: store_vector(
        e, global_ptr(e, e.val(op.addr)), dt, [e.val(v) for v in op.values]))


def _ld_shared(e: KernelEmitter, op: th.LdSharedOp) -> None:
    e.type_of(op.dtype)
    vals = load_vector(e, shared_ptr(e, e.val(op.addr)), op.dtype, op.vec)
    for r, v in zip(op.results, vals):
        e.bind(r, v)


def _st_shared(e: KernelEmitter, op: th.StSharedOp) -> None:
    dt = op.values[0].type.dtype
    e.type_of(dt)
    guarded(e, _opt(e, op.pred), lambda: store_vector(
        e, shared_ptr(e, e.val(op.addr)), dt, [e.val(v) for v in op.values]))


def _atomic_add(e: KernelEmitter, op: th.AtomicAddGlobalOp) -> None:
    dt = op.value.type.dtype
    e.type_of(dt)
    if dt.is_bool:
        raise e.error("atomic add of bool values", "add integers (x.to(tl.i32)) instead")
    kind = "fadd" if dt.is_float else "add"

    def body() -> None:
        e.b.atomic_rmw(kind, global_ptr(e, e.val(op.addr)), e.val(op.value), "monotonic")
    guarded(e, _opt(e, op.pred), body)


def _cp_async(e: KernelEmitter, op: th.CpAsyncOp) -> None:
    cache = "cg" if op.bytes == 16 else "ca"      # .cg (L2 only) exists for 16 bytes only
    asm = f"cp.async.{cache}.shared.global [$0], [$1], {op.bytes}, $2;"
    args = [shared_addr32(e, e.val(op.dst)), e.val(op.src), e.val(op.src_bytes)]
    e.inline_asm(ir.VoidType(), asm, "r,l,r,~{memory}", args, side_effect=True)


def _cp_async_commit(e: KernelEmitter, op: th.CpAsyncCommitOp) -> None:
    e.inline_asm(ir.VoidType(), "cp.async.commit_group;", "~{memory}", [], side_effect=True)


def _cp_async_wait(e: KernelEmitter, op: th.CpAsyncWaitOp) -> None:
    e.inline_asm(ir.VoidType(), f"cp.async.wait_group {op.pending};", "~{memory}", [],
                 side_effect=True)


def _unpack16(e: KernelEmitter, word: ir.Value, dt: DType) -> list[ir.Value]:
    """Two 16-bit elements of a b32 register, the low half first."""
    pair = e.b.bitcast(word, ir.VectorType(e.type_of(dt), 2))
    halves = [e.b.extract_element(pair, ir.Constant(I32, i)) for i in range(2)]
    for i, x in enumerate(halves):
        e.halves[id(x)] = (x, word, i)
    return halves


def _pack16(e: KernelEmitter, lo: ir.Value, hi: ir.Value) -> ir.Value:
    # The two halves of one register, in order (an ldmatrix fragment going into an
    # mma): that register. LLVM would fold the repacking to it; not emitting it keeps
    # the IR a third smaller for flash attention, and LLVM's time on it shorter.
    a, b = e.halves.get(id(lo)), e.halves.get(id(hi))
    if a is not None and b is not None and a[0] is lo and b[0] is hi and a[1] is b[1] \
            and (a[2], b[2]) == (0, 1):
        return a[1]
    pair = ir.Constant(ir.VectorType(lo.type, 2), None)
    pair = e.b.insert_element(pair, lo, ir.Constant(I32, 0))
    pair = e.b.insert_element(pair, hi, ir.Constant(I32, 1))
    return e.b.bitcast(pair, I32)


def _regs(first: int, n: int) -> str:
    return "{" + ", ".join(f"${i}" for i in range(first, first + n)) + "}"


def _asm_results(e: KernelEmitter, ret: ir.Value, n: int) -> list[ir.Value]:
    return [ret] if n == 1 else [e.b.extract_value(ret, i) for i in range(n)]


def _ldmatrix(e: KernelEmitter, op: th.LdMatrixOp) -> None:
    n = op.num
    trans = ".trans" if op.trans else ""
    asm = f"ldmatrix.sync.aligned.m8n8.x{n}{trans}.shared.b16 {_regs(0, n)}, [${n}];"
    ret = I32 if n == 1 else ir.LiteralStructType([I32] * n)
    out = e.inline_asm(ret, asm, ",".join(["=r"] * n + ["r", "~{memory}"]),
                       [shared_addr32(e, e.val(op.addr))], side_effect=True, convergent=True)
    vals = [x for w in _asm_results(e, out, n) for x in _unpack16(e, w, op.dtype)]
    for r, v in zip(op.results, vals):
        e.bind(r, v)


_MMA_TYPES = {bf16: "bf16", f16: "f16"}


def _mma(e: KernelEmitter, op: th.MmaOp) -> None:
    ab, cd = op.a[0].type.dtype, op.c[0].type.dtype
    if ab not in _MMA_TYPES or cd not in (f32, f16) or (ab == bf16 and cd == f16):
        raise e.error(f"mma.sync {op.shape} with {ab} inputs and a {cd} accumulator is not "
                      "supported", "use bf16 or f16 inputs with an f32 accumulator "
                                   "(or f16 with f16)")
    a = [e.val(v) for v in op.a]
    b = [e.val(v) for v in op.b]
    packed = [_pack16(e, x, y) for x, y in zip(a[0::2] + b[0::2], a[1::2] + b[1::2])]
    c = [e.val(v) for v in op.c]
    t = _MMA_TYPES[ab]
    if cd == f32:
        nc, cty, ccon, cargs = 4, F32, "f", c
    else:
        nc, cty, ccon, cargs = 2, I32, "r", [_pack16(e, c[0], c[1]), _pack16(e, c[2], c[3])]
    ct = "f32" if cd == f32 else "f16"
    asm = (f"mma.sync.aligned.{op.shape}.row.col.{ct}.{t}.{t}.{ct} {_regs(0, nc)}, "
           f"{_regs(nc, 4)}, {_regs(nc + 4, 2)}, {_regs(nc + 6, nc)};")
    cons = ",".join([f"={ccon}"] * nc + ["r"] * 6 + [ccon] * nc)
    out = _asm_results(e, e.inline_asm(ir.LiteralStructType([cty] * nc), asm, cons,
                                       packed + cargs, side_effect=False, convergent=True), nc)
    if cd == f16:
        out = [x for w in out for x in _unpack16(e, w, f16)]
    for r, v in zip(op.results, out):
        e.bind(r, v)


def _shfl(e: KernelEmitter, op: th.ShflOp) -> None:
    dt = op.value.type.dtype
    x = e.val(op.value)
    bld = e.b
    full = (1 << min(32, e.num_threads)) - 1
    mask = int_const(u32, full)
    clamp = ir.Constant(I32, 0 if op.mode == "up" else 0x1F)
    if dt == f32:
        r = e.call_intrinsic(f"llvm.nvvm.shfl.sync.{op.mode}.f32", F32,
                             [mask, x, e.val(op.lane), clamp])
    else:
        if dt.is_float:                       # f16 / bf16: move the bits
            x32 = bld.zext(bld.bitcast(x, I16), I32)
        elif x.type.width < 32:
            x32 = bld.zext(x, I32)
        else:
            x32 = x
        r = e.call_intrinsic(f"llvm.nvvm.shfl.sync.{op.mode}.i32", I32,
                             [mask, x32, e.val(op.lane), clamp])
        if dt.is_float:
            r = bld.bitcast(bld.trunc(r, I16), x.type)
        elif x.type.width < 32:
            r = bld.trunc(r, x.type)
    e.bind(op.result, r)


HANDLERS: dict[type, Handler] = {
    th.ThreadIdOp: _thread_id, th.TensorPtrOp: _tensor_ptr, th.LdGlobalOp: _ld_global,
    th.StGlobalOp: _st_global, th.AtomicAddGlobalOp: _atomic_add, th.LdSharedOp: _ld_shared,
    th.StSharedOp: _st_shared, th.CpAsyncOp: _cp_async, th.CpAsyncCommitOp: _cp_async_commit,
    th.CpAsyncWaitOp: _cp_async_wait, th.LdMatrixOp: _ldmatrix, th.MmaOp: _mma, th.ShflOp: _shfl,
}
"""Handlers of the thread-IR ops (``tilelang.ir.thread_ops``)."""
