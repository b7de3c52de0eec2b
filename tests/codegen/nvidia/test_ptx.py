"""NVIDIA code generator: thread IR → LLVM IR → PTX, checked on the IR and PTX text.

Kernels are hand-built thread IR (``tests/ir/test_thread_ops.py``'s style) plus
the examples lowered by the ``nvidia`` pipeline. ``KERNELS`` lists every test
kernel; ``test_ptxas.py`` assembles each of them with ptxas.
"""

from __future__ import annotations

import functools
import itertools
import re
import sys
from pathlib import Path
from typing import Any, Callable

import llvmlite.binding as llvm
import pytest

from tilelang.codegen.abi import kernel_abi
from tilelang.codegen.nvidia.ptx import TARGETS, emit_llvm, emit_ptx
from tilelang.errors import CompileError, SourceLoc
from tilelang.ir import ops, thread_ops as th
from tilelang.ir.builder import Builder
from tilelang.ir.types import (
    DType, ScalarType, TensorType, bf16, bool_, f16, f32, f64, i8, i16, i32, i64, u8, u16,
    u32, u64,
)
from tilelang.ir.values import Function, Module, Value
from tilelang.ir.verifier import verify_module
from tests.ir.test_thread_ops import build as build_every_thread_op

ROOT = Path(__file__).resolve().parents[3]
TARGET_NAMES = tuple(TARGETS)
S = ScalarType
DTYPES = (f16, bf16, f32, f64, bool_, i8, u8, i16, u16, i32, u32, i64, u64)
F64_UNARY = ("neg", "not", "abs", "sqrt", "rsqrt", "floor", "ceil")


class K:
    """A thread-IR kernel under construction: ``k(OpClass, result_types, **fields)``."""

    def __init__(self, *params: tuple[str, Any], loc: SourceLoc | None = None) -> None:
        self.b = Builder()
        self.params = tuple(self.b.fresh(t, n) for n, t in params)
        self.loc = loc
        self.tid = self(th.ThreadIdOp, (i32,)).result
        self._at = 0

    def __call__(self, cls: type, types: tuple = (), loc: SourceLoc | None = None, **kw: Any):
        results = tuple(self.b.fresh(S(t) if isinstance(t, DType) else t) for t in types)
        return self.b.emit(cls(results=results, loc=loc or self.loc, **kw))

    def const(self, value: Any, dt: DType) -> Value:
        return self(ops.ConstantOp, (dt,), value=value).result

    def bin(self, fn: str, a: Value, b: Value) -> Value:
        dt = bool_ if fn in ops.COMPARE_FNS else a.type.dtype
        return self(ops.BinaryOp, (dt,), fn=fn, lhs=a, rhs=b).result

    def ptr(self, tensor: Value) -> Value:
        return self(th.TensorPtrOp, (i64,), tensor=tensor).result

    def slot(self, tensor: Value, stride: int = 64) -> Value:
        """A fresh global address: base + tid * 16 + k * stride, k counting up."""
        self._at += 1
        t16 = self(ops.CastOp, (i64,), value=self.bin("mul", self.tid, self.const(16, i32))).result
        off = self.bin("add", t16, self.const(self._at * stride * 1024, i64))
        return self.bin("add", self.ptr(tensor), off)

    def fn(self, name: str = "k", num_threads: int = 128, shared_bytes: int = 0,
           ret: bool = True, **attrs: Any) -> Function:
        if ret:
            self(ops.ReturnOp)
        body = self.b.pop(self.params)
        a = {"num_threads": num_threads, "shared_bytes": shared_bytes, **attrs}
        fn = Function(name, self.params, body, tuple(sorted(a.items())), loc=self.loc)
        verify_module(Module((fn,)))
        return fn


def ptx_of(fn: Function, target: str = "sm_90a") -> str:
    return emit_ptx(fn, target)


def body_of(ptx: str) -> str:
    """The PTX instructions without comments and declarations."""
    return "\n".join(line.strip() for line in ptx.splitlines()
                     if line.strip() and not line.strip().startswith(("//", ".reg")))


# -- kernels ------------------------------------------------------------------------------

def one_tensor() -> tuple[K, Value]:
    k = K(("X", TensorType(u8, 1)))
    return k, k.params[0]


def k_load(dt: DType = bf16, vec: int = 8, pred: bool = False, shared: bool = False) -> Function:
    k, X = one_tensor()
    p = k.bin("lt", k.tid, k(ops.TensorDimOp, (i32,), tensor=X, dim=0).result) if pred else None
    other = k.const(1.0 if dt.is_float else 1, dt) if pred else None
    if shared:
        off = k.bin("mul", k.tid, k.const(16, i32))
        vals = k(th.LdGlobalOp, (dt,) * vec, dtype=dt, vec=vec, addr=k.slot(X)).results
        k(th.StSharedOp, addr=off, values=vals, pred=p)
        k(ops.BarrierOp)
        off2 = k.bin("add", off, k.const(2048, i32))
        vals = k(th.LdSharedOp, (dt,) * vec, dtype=dt, vec=vec, addr=off2).results
        k(th.StGlobalOp, addr=k.slot(X), values=vals)
        return k.fn(shared_bytes=4096)
    vals = k(th.LdGlobalOp, (dt,) * vec, dtype=dt, vec=vec, addr=k.slot(X), pred=p,
             other=other).results
    k(th.StGlobalOp, addr=k.slot(X), values=vals, pred=p)
    return k.fn()


def k_scalar_ops(which: str) -> Function:
    """Every binary fn, unary fn or cast pair on every dtype, each at its own address."""
    k, X = one_tensor()

    def load(dt: DType) -> Value:
        return k(th.LdGlobalOp, (dt,), dtype=dt, vec=1, addr=k.slot(X, 16)).result

    def store(v: Value) -> None:
        k(th.StGlobalOp, addr=k.slot(X, 16), values=(v,))

    for dt in DTYPES:
        if which == "binary":
            for fn in ops.BINARY_FNS:
                if (fn == "div" and not dt.is_float) or (fn in ops.BITWISE_FNS and dt.is_float) \
                        or (fn == "pow" and dt == f64):
                    continue
                store(k.bin(fn, load(dt), load(dt)))
        elif which == "unary":
            for fn in ops.UNARY_FNS:
                if (fn in ops.FLOAT_ONLY_UNARY and not dt.is_float) or \
                        (fn == "invert" and dt.is_float) or \
                        (dt == f64 and fn not in F64_UNARY):
                    continue
                store(k(ops.UnaryOp, (dt,), fn=fn, value=load(dt)).result)
        else:
            for dst in DTYPES:
                store(k(ops.CastOp, (dst,), value=load(dt)).result)
    return k.fn(f"scalar_{which}")


def k_atomics() -> Function:
    k, X = one_tensor()
    for dt in (f16, f32, f64, i32, u32, i64, u64, i8, i16):
        v = k(th.LdGlobalOp, (dt,), dtype=dt, vec=1, addr=k.slot(X)).result
        k(th.AtomicAddGlobalOp, addr=k.slot(X), value=v,
          pred=k.bin("lt", k.tid, k.const(100, i32)))
    return k.fn("atomics")


def k_bf16_atomic() -> Function:
    k, X = one_tensor()
    v = k(th.LdGlobalOp, (bf16,), dtype=bf16, vec=1, addr=k.slot(X)).result
    k(th.AtomicAddGlobalOp, addr=k.slot(X), value=v)
    return k.fn("atomic_bf16")


def k_cp_async(nbytes: int = 16) -> Function:
    k, X = one_tensor()
    dst = k.bin("mul", k.tid, k.const(16, i32))
    k(th.CpAsyncOp, bytes=nbytes, dst=dst, src=k.slot(X), src_bytes=k.const(nbytes // 2, i32))
    k(th.CpAsyncCommitOp)
    k(th.CpAsyncWaitOp, pending=0)
    k(ops.BarrierOp)
    v = k(th.LdSharedOp, (f32,), dtype=f32, vec=1, addr=dst).result
    k(th.StGlobalOp, addr=k.slot(X), values=(v,))
    return k.fn(f"cp_async{nbytes}", shared_bytes=2048)


def k_ldmatrix_mma(num: int = 4, trans: bool = False, ab: DType = bf16,
                   cd: DType = f32) -> Function:
    k, X = one_tensor()
    off = k.bin("mul", k.tid, k.const(16, i32))
    frag = k(th.LdMatrixOp, (ab,) * (2 * num), dtype=ab, num=num, trans=trans, addr=off).results
    a = (frag * 4)[:8]
    c = [k.const(0.5, cd)] * 4
    d = k(th.MmaOp, (cd,) * 4, a=a, b=a[:4], c=tuple(c)).results
    k(th.StGlobalOp, addr=k.slot(X), values=tuple(d))
    return k.fn(f"mma_{num}_{int(trans)}_{ab}_{cd}", num_threads=32, shared_bytes=1024)


def k_shfl(mode: str = "bfly", dt: DType = f32, threads: int = 128) -> Function:
    k, X = one_tensor()
    v = k(th.LdGlobalOp, (dt,), dtype=dt, vec=1, addr=k.slot(X)).result
    s = k(th.ShflOp, (dt,), mode=mode, value=v, lane=k.const(1, i32)).result
    k(th.StGlobalOp, addr=k.slot(X), values=(s,))
    return k.fn(f"shfl_{mode}_{dt}", num_threads=threads)


def k_grid() -> Function:
    k, X = one_tensor()
    vals = [k(ops.ProgramIdOp, (i32,), axis=a).result for a in range(3)]
    vals += [k(ops.NumProgramsOp, (i32,), axis=a).result for a in range(3)]
    vals += [k(ops.TensorStrideOp, (i32,), tensor=X, dim=0).result, k.tid]
    k(th.StGlobalOp, addr=k.slot(X), values=tuple(vals))
    return k.fn("grid")


def k_loop(step: int | None = 1, unsigned: bool = False) -> Function:
    """acc = sum of x[i] for i in range(lo, n, step), carried through a tl.for."""
    k = K(("X", TensorType(f32, 1)), ("n", S(i32)), ("st", S(i32)))
    X, n, st = k.params
    it = u32 if unsigned else i32
    lo = k.const(0, it)
    hi = k(ops.CastOp, (it,), value=n).result if unsigned else n
    step_v = k.const(step, it) if step is not None else st
    iv, acc = k.b.fresh(S(it), "i"), k.b.fresh(S(f32), "acc")
    k.b.push()
    i64v = k(ops.CastOp, (i64,), value=iv).result
    addr = k.bin("add", k.ptr(X), k.bin("mul", i64v, k.const(4, i64)))
    x = k(th.LdGlobalOp, (f32,), dtype=f32, vec=1, addr=addr).result
    k(ops.YieldOp, values=(k.bin("add", acc, x),))
    body = k.b.pop((iv, acc))
    res = k(ops.ForOp, (f32,), lower=lo, upper=hi, step=step_v, inits=(k.const(0.0, f32),),
            body=body).result
    k(th.StGlobalOp, addr=k.ptr(X), values=(res,))
    return k.fn(f"loop_{'rt' if step is None else step + 1}_{int(unsigned)}")


def k_if() -> Function:
    k = K(("X", TensorType(f32, 1)), ("flag", S(bool_)))
    X, flag = k.params
    k.b.push()
    k(ops.YieldOp, values=(k.const(1.0, f32),))
    then = k.b.pop()
    k.b.push()
    k(ops.YieldOp, values=(k.const(2.0, f32),))
    orelse = k.b.pop()
    r = k(ops.IfOp, (f32,), cond=flag, then=then, orelse=orelse).result
    k(th.StGlobalOp, addr=k.ptr(X), values=(r,))
    return k.fn("branch")


def k_debug() -> Function:
    k = K(("X", TensorType(f32, 1)), ("flag", S(bool_)), ("h", S(bf16)), ("q", S(i64)))
    X, flag, h, q = k.params
    x = k(th.LdGlobalOp, (f32,), dtype=f32, vec=1, addr=k.ptr(X)).result
    k(ops.PrintOp, prefix="x % =", values=(x, flag, h, q, k.tid))
    k(ops.AssertOp, message="x must be positive", cond=k.bin("gt", x, k.const(0.0, f32)),
      loc=SourceLoc("/src/model.py", 77, 9))
    return k.fn("debug")


def k_located() -> Function:
    """Ops at known lines of two files (a kernel file and an inlined helper's)."""
    main, helper = SourceLoc("/src/kern.py", 10, 4), SourceLoc("/src/helpers.py", 3, 8)
    k = K(("X", TensorType(f32, 1)), loc=main)
    X = k.params[0]
    x = k(th.LdGlobalOp, (f32,), dtype=f32, vec=1, addr=k.ptr(X),
          loc=SourceLoc("/src/kern.py", 11, 8)).result
    y = k(ops.UnaryOp, (f32,), fn="exp", value=x, loc=helper).result
    k(th.StGlobalOp, addr=k.ptr(X), values=(y,), loc=SourceLoc("/src/kern.py", 13, 4))
    return k.fn("located")


sys.path.insert(0, str(ROOT / "examples"))
# The examples at their default configuration: arrays as a launch allocates them
# (":16": 16-byte aligned, unit stride, divisible). Unaligned signatures are
# assembled by tests/examples/test_examples_lowered.py.
EXAMPLES = {
    "vector_add": ("X=f32[1]:16,Y=f32[1]:16,Z=f32[1]:16", {}),
    "softmax": ("X=f32[2]:16,Y=f32[2]:16", {}),
    "layernorm": ("X=f32[2]:16,W=f32[1]:16,B=f32[1]:16,Y=f32[2]:16,eps=f32", {}),
    "row_sum": ("X=f32[2]:16,OUT=f32[1]:16", {}),
    "matmul": ("A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16", {}),
    "flash_attention": ("Q=bf16[4]:16,K=bf16[4]:16,V=bf16[4]:16,O=bf16[4]:16,sm_scale=f32",
                        {"HEAD_DIM": 64}),
}


@functools.lru_cache(maxsize=None)
def example(name: str) -> Function:
    """An example kernel through the nvidia pass pipeline."""
    import importlib

    from tilelang.passes import pipeline, run_pipeline
    sig, constexprs = EXAMPLES[name]
    kernel = getattr(importlib.import_module(name), name)
    tile_ir = kernel.compile(sig, target="interp", **constexprs).module
    return run_pipeline(tile_ir, pipeline("gpu")).module.functions[0]


KERNELS: dict[str, Callable[[], Function]] = {
    "every_thread_op": lambda: build_every_thread_op().functions[0],
    "every_thread_op_x2_trans": lambda: build_every_thread_op(vec=4, num=2, trans=True,
                                                              pending=0).functions[0],
    **{f"load_{dt}_v{v}": functools.partial(k_load, dt, v, True) for dt, v in
       ((bf16, 8), (f16, 4), (f32, 4), (f32, 2), (f64, 2), (i8, 16), (bool_, 4), (f32, 3))},
    "load_shared": functools.partial(k_load, f32, 4, True, True),
    **{f"scalar_{w}": functools.partial(k_scalar_ops, w) for w in ("binary", "unary", "cast")},
    "atomics": k_atomics,
    "cp_async16": k_cp_async, "cp_async8": functools.partial(k_cp_async, 8),
    "cp_async4": functools.partial(k_cp_async, 4),
    **{f"mma_x{n}_{int(t)}": functools.partial(k_ldmatrix_mma, n, t)
       for n, t in ((1, False), (2, True), (4, False))},
    "mma_f16_f32": functools.partial(k_ldmatrix_mma, 4, False, f16, f32),
    "mma_f16_f16": functools.partial(k_ldmatrix_mma, 4, False, f16, f16),
    **{f"shfl_{m}_{dt}": functools.partial(k_shfl, m, dt)
       for m, dt in itertools.product(("bfly", "idx", "down", "up"), (f32, i32, bf16, bool_))},
    "shfl_16_threads": functools.partial(k_shfl, "bfly", f32, 16),
    "grid": k_grid, "loop": k_loop, "loop_neg_step": functools.partial(k_loop, -1),
    "loop_runtime_step": functools.partial(k_loop, None),
    "loop_unsigned": functools.partial(k_loop, 1, True),
    "branch": k_if,
    "debug": k_debug, "located": k_located,
    **{f"example_{n}": functools.partial(example, n) for n in EXAMPLES},
}
"""Every test kernel by name (``test_ptxas.py`` assembles each for both targets)."""

@functools.lru_cache(maxsize=None)
def kernel_ptx(name: str, target: str) -> str:
    return emit_ptx(KERNELS[name](), target)


# -- every kernel emits, and its PTX parses back ------------------------------------------

@pytest.mark.parametrize("target", TARGET_NAMES)
@pytest.mark.parametrize("name", [n for n in KERNELS if not n.startswith("example_")])
def test_every_kernel_emits_ptx_for_both_targets(name, target):
    ptx = kernel_ptx(name, target)
    assert f".target {target}" in ptx and ".address_size 64" in ptx
    assert re.search(r"\.visible \.entry \w+\(", ptx)


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_llvm_ir_parses_and_verifies_in_llvm(target):
    text = emit_llvm(KERNELS["every_thread_op"](), target)
    mod = llvm.parse_assembly(text)
    mod.verify()
    assert 'target triple = "nvptx64-nvidia-cuda"' in text
    assert "define ptx_kernel void" in text and '"nvvm.maxntid"="128"' in text
    assert "!nvvm.annotations" in text


def test_every_thread_op_reaches_the_ptx():
    ptx = kernel_ptx("every_thread_op", "sm_90a")
    for needle in ("mov.u32 %r1, %tid.x", "ld.global.v4.b32", "st.shared.v4.b32",
                   "cp.async.cg.shared.global [", "cp.async.commit_group;",
                   "cp.async.wait_group 1;", "bar.sync 0;",
                   "ldmatrix.sync.aligned.m8n8.x4.shared.b16",
                   "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32",
                   "shfl.sync.bfly.b32", "atom.global.add.f32", "st.global.v4.b32",
                   "ld.shared.v2.b32", "st.global.v2.b32", ".maxntid 128"):
        assert needle in " ".join(ptx.split()), needle


# -- memory --------------------------------------------------------------------------------

@pytest.mark.parametrize("dt, vec, needle", [
    (bf16, 8, "ld.global.v4.b32"), (f16, 4, "ld.global.v2.b32"), (f32, 4, "ld.global.v4.b32"),
    (f32, 2, "ld.global.v2.b32"), (f64, 2, "ld.global.v4.b32"), (i8, 16, "ld.global.v4.b32"),
    (bool_, 4, "ld.global.b32"),
])
def test_vector_loads_are_single_wide_accesses(dt, vec, needle):
    body = body_of(kernel_ptx(f"load_{dt}_v{vec}", "sm_80"))
    assert body.count(needle) == 1
    assert body.count(needle.replace("ld.", "st.")) == 1


def test_an_unaligned_vector_is_split_at_its_natural_alignment():
    body = body_of(kernel_ptx("load_f32_v3", "sm_80"))   # 12 bytes: 3 x 4-byte words
    assert body.count("ld.global.b32") == 3 and "ld.global.v" not in body


def test_predicated_off_lanes_skip_the_load_and_take_other():
    fn = k_load(f32, 4, pred=True)
    text = emit_llvm(fn, "sm_80")
    then = text.split("pred.then")[2].split("pred.end")[0]   # the guarded block
    assert "load <4 x i32>" in then
    assert re.search(r"phi\s+float .*0x3FF0000000000000", text, re.I)   # `other` = 1.0 elsewhere
    body = body_of(emit_ptx(fn, "sm_80"))
    branch = body.index("bra")
    assert branch < body.index("ld.global.v4.b32")


def test_shared_memory_is_one_dynamic_16_byte_aligned_array():
    ptx = kernel_ptx("load_shared", "sm_80")
    assert ".extern .shared .align 16 .b8 tl_shared[];" in ptx
    assert "ld.shared.v4.b32" in ptx and "st.shared.v4.b32" in ptx
    assert ".shared" not in kernel_ptx("load_f32_v4", "sm_80")   # shared_bytes = 0


def test_too_much_shared_memory_is_a_compile_error():
    fn = k_load(f32, 4, shared=True)
    fn = Function(fn.name, fn.params, fn.body, (("num_threads", 128), ("shared_bytes", 200_000)))
    emit_ptx(fn, "sm_90a")
    with pytest.raises(CompileError, match="200000 bytes of shared memory; sm_80 has at most"):
        emit_ptx(fn, "sm_80")


def test_atomics():
    body = body_of(kernel_ptx("atomics", "sm_80"))
    for needle in ("atom.global.add.noftz.f16", "atom.global.add.f32", "atom.global.add.f64",
                   "atom.global.add.u32", "atom.global.add.u64"):
        assert needle in body
    assert "atom.relaxed.sys.global.cas.b32" in body   # i8/i16: a CAS loop on the word
    assert "atom.global.add.noftz.bf16" in body_of(emit_ptx(k_bf16_atomic(), "sm_90a"))


@pytest.mark.parametrize("nbytes, cache", [(16, "cg"), (8, "ca"), (4, "ca")])
def test_cp_async_uses_32_bit_shared_addresses(nbytes, cache):
    body = " ".join(kernel_ptx(f"cp_async{nbytes}", "sm_80").split())
    assert re.search(rf"cp\.async\.{cache}\.shared\.global \[%r\d+\], \[%rd\d+\], {nbytes}, %r\d+;",
                     body)
    assert "cp.async.wait_group 0;" in body


# -- warp-collective ops -----------------------------------------------------------------

@pytest.mark.parametrize("num, trans", [(1, False), (2, True), (4, False)])
def test_ldmatrix(num, trans):
    body = " ".join(kernel_ptx(f"mma_x{num}_{int(trans)}", "sm_80").split())
    regs = ", ".join(["%r\\d+"] * num)
    t = ".trans" if trans else ""
    assert re.search(rf"ldmatrix\.sync\.aligned\.m8n8\.x{num}{t}\.shared\.b16 \{{{regs}\}}, "
                     rf"\[%r\d+\];", body)


@pytest.mark.parametrize("name, needle", [
    ("mma_x4_0", "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"),
    ("mma_f16_f32", "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"),
    ("mma_f16_f16", "mma.sync.aligned.m16n8k16.row.col.f16.f16.f16.f16"),
])
def test_mma(name, needle):
    assert needle in kernel_ptx(name, "sm_80")


def test_mma_packs_element_2i_into_the_low_half():
    k, X = one_tensor()
    vals = k(th.LdGlobalOp, (bf16,) * 8, dtype=bf16, vec=8, addr=k.slot(X)).results
    c = [k.const(0.5, f32)] * 4
    d = k(th.MmaOp, (f32,) * 4, a=vals, b=vals[:4], c=tuple(c)).results
    k(th.StGlobalOp, addr=k.slot(X), values=tuple(d))
    text = emit_llvm(k.fn("mma_pack", num_threads=32), "sm_80")
    assert "bitcast <2 x bfloat>" in text
    lo = re.search(r'insertelement <2 x bfloat> [^\n]*?, bfloat (%"[^"]+"), i32 0', text).group(1)
    extracted = re.search(lo.replace(".", r"\.") + r" = extractelement <8 x bfloat> [^,]+, i32 (\d)",
                          text).group(1)
    assert extracted == "0"   # element 0 of the load goes to the low half of register 0
    asm = re.search(r'asm\s+"mma[^"]*", "([^"]*)"', text).group(1)
    assert asm == ",".join(["=f"] * 4 + ["r"] * 6 + ["f"] * 4)


def test_ldmatrix_registers_go_into_the_mma_as_they_are():
    """An operand pair that is one ldmatrix register, halves in order, is that register
    (no unpack-repack for LLVM to fold); any other pair is packed."""
    text = emit_llvm(k_ldmatrix_mma(), "sm_80")
    assert "insertelement <2 x bfloat>" not in text
    ld = re.search(r'(%"[^"]+") = call \{i32, i32, i32, i32\} asm [^\n]*ldmatrix', text).group(1)
    regs = re.findall(r"(%\S+) = extractvalue \{i32, i32, i32, i32\} " + re.escape(ld), text)
    mma = re.search(r'asm\s+"mma[^\n]*', text).group(0)
    args = re.findall(r"i32 (%\S+?)[,)]", mma)
    assert args == regs + regs[:2]


def test_unsupported_mma_types_are_rejected_by_the_verifier():
    from tilelang.errors import IRError
    with pytest.raises(IRError, match=r"C elements must be f32 \(or f16 with f16 A and B\)"):
        emit_llvm(k_ldmatrix_mma(4, False, bf16, f16), "sm_80")


@pytest.mark.parametrize("mode, clamp", [("bfly", 31), ("idx", 31), ("down", 31), ("up", 0)])
@pytest.mark.parametrize("dt", [f32, i32, bf16, bool_])
def test_shuffles(mode, clamp, dt):
    body = " ".join(kernel_ptx(f"shfl_{mode}_{dt}", "sm_80").split())
    assert re.search(rf"shfl\.sync\.{mode}\.b32 %r\d+, %r\d+, 1, {clamp}, -1;", body)


def test_shuffle_mask_covers_only_the_threads_of_a_small_block():
    assert re.search(r"shfl\.sync\.bfly\.b32 %r\d+, %r\d+, 1, 31, 65535;",
                     " ".join(kernel_ptx("shfl_16_threads", "sm_80").split()))


def test_special_registers_and_tensor_arguments():
    ptx = kernel_ptx("grid", "sm_80")
    for reg in ("%ctaid.x", "%ctaid.y", "%ctaid.z", "%nctaid.x", "%nctaid.y", "%nctaid.z",
                "%tid.x"):
        assert reg in ptx
    params = re.findall(r"\.param (.*) grid_param_\d+", ptx)
    assert params == [".u64 .ptr .global .align 1", ".u32", ".u32"]   # X, X.shape0, X.stride0


# -- control flow ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, cmp", [("loop", "icmp slt"), ("loop_neg_step", "icmp sgt"),
                                       ("loop_unsigned", "icmp ult"),
                                       ("loop_runtime_step", "select  i1")])
def test_loops_carry_values_in_phis(name, cmp):
    text = emit_llvm(KERNELS[name](), "sm_80")
    header = text.split("for.header:")[1].split("for.body:")[0]
    assert header.count("phi") == 2 and cmp in header
    assert re.search(r"bra\.uni|@%p\d+ bra", kernel_ptx(name, "sm_80"))


def test_if_results_are_phis():
    text = emit_llvm(KERNELS["branch"](), "sm_80")
    assert re.search(r'phi\s+float \[0x3FF0000000000000, %"if.then"\], '
                     r'\[0x4000000000000000, %"if.else"\]', text, re.I)


# -- debugging ----------------------------------------------------------------------------

def test_print_calls_vprintf_with_a_format_per_dtype():
    text = emit_llvm(KERNELS["debug"](), "sm_80")
    fmt = re.search(r'c"(\[debug pid=[^"]*)"', text).group(1)
    assert fmt.lower() == r"[debug pid=(%d, %d, %d) tid=%d] x %% = %g %s %g %lld %d\0a\00"
    assert "declare i32 @\"vprintf\"(ptr %\".1\", ptr %\".2\")" in text
    assert "call.uni (retval0), vprintf," in " ".join(kernel_ptx("debug", "sm_80").split())


def test_device_assert_calls_assertfail_with_message_and_location():
    text = emit_llvm(KERNELS["debug"](), "sm_80")
    assert 'c"x must be positive\\00"' in text and 'c"/src/model.py\\00"' in text
    assert re.search(r'call void @"__assertfail"\(.*i32 77, .*i64 1\)', text)
    assert "__assertfail," in kernel_ptx("debug", "sm_80")


def test_loc_directives_point_at_the_python_lines():
    ptx = kernel_ptx("located", "sm_80")
    files = dict(re.findall(r'\.file\s+(\d+) "([^"]+)"', ptx))
    assert sorted(files.values()) == ["/src/helpers.py", "/src/kern.py"]
    num = {v: k for k, v in files.items()}
    locs = set(re.findall(r"\.loc\s+(\d+) (\d+) (\d+)", ptx))
    assert (num["/src/kern.py"], "11", "8") in locs     # the load
    assert (num["/src/kern.py"], "13", "4") in locs     # the store
    assert (num["/src/helpers.py"], "3", "8") in locs   # exp, from the helper's file
    assert ".section .debug_info" not in ptx            # line tables only


def test_examples_carry_their_source_lines():
    ptx = kernel_ptx("example_vector_add", "sm_80")
    src = (ROOT / "examples" / "vector_add.py").read_text().splitlines()
    load_line = next(i + 1 for i, s in enumerate(src) if "x = tl.load(X" in s)
    files = dict(re.findall(r'\.file\s+(\d+) "([^"]+)"', ptx))
    (num,) = [k for k, v in files.items() if v.endswith("examples/vector_add.py")]
    assert re.search(rf"\.loc\s+{num} {load_line} \d+", ptx)


# -- math and numerics -----------------------------------------------------------------------

@pytest.mark.parametrize("fn, needles", [
    ("exp", ["ex2.approx.f32", "cvt.rni.f32.f32"]), ("exp2", ["ex2.approx.f32"]),
    ("log", ["lg2.approx.f32"]), ("log2", ["lg2.approx.f32"]), ("sqrt", ["sqrt.rn.f32"]),
    ("rsqrt", ["sqrt.rn.f32", "rcp.rn.f32"]), ("sin", ["sin.approx.f32"]),
    ("cos", ["cos.approx.f32"]), ("tanh", ["ex2.approx.f32", "div.rn.f32"]),
    ("sigmoid", ["ex2.approx.f32", "rcp.rn.f32"]), ("floor", ["cvt.rmi.f32.f32"]),
    ("ceil", ["cvt.rpi.f32.f32"]),
])
def test_math_functions(fn, needles):
    k, X = one_tensor()
    x = k(th.LdGlobalOp, (f32,), dtype=f32, vec=1, addr=k.slot(X)).result
    k(th.StGlobalOp, addr=k.slot(X), values=(k(ops.UnaryOp, (f32,), fn=fn, value=x).result,))
    body = body_of(emit_ptx(k.fn(), "sm_80"))
    for needle in needles:
        assert needle in body
    assert ".ftz" not in body                 # subnormals are kept, as numpy keeps them


def test_narrow_floats_compute_in_f32_and_round_after_every_op():
    k, X = one_tensor()
    a, b = (k(th.LdGlobalOp, (bf16,), dtype=bf16, vec=1, addr=k.slot(X)).result for _ in "ab")
    k(th.StGlobalOp, addr=k.slot(X), values=(k.bin("mul", k.bin("add", a, b), b),))
    text = emit_llvm(k.fn(), "sm_80")
    assert text.count("fpext bfloat") == 4 and text.count("fptrunc float") == 2
    assert "fadd float" in text and "fmul float" in text


def test_no_fma_contraction_of_separate_multiply_and_add():
    k, X = one_tensor()
    a, b, c = (k(th.LdGlobalOp, (f32,), dtype=f32, vec=1, addr=k.slot(X)).result for _ in "abc")
    k(th.StGlobalOp, addr=k.slot(X), values=(k.bin("add", k.bin("mul", a, b), c),))
    body = body_of(emit_ptx(k.fn(), "sm_80"))
    assert "mul.rn.f32" in body and "add.rn.f32" in body and "fma" not in body


@pytest.mark.parametrize("dt, fn, needles", [
    (i32, "floordiv", ["div.s32"]), (u32, "floordiv", ["div.u32"]), (i32, "mod", ["rem.s32"]),
    (i32, "shl", ["shl.b32"]), (u32, "shr", ["shr.u32"]), (i32, "shr", ["shr.s32", "min.u32"]),
    (f32, "maximum", ["max.NaN.f32"]), (f32, "minimum", ["min.NaN.f32"]),
    (f32, "floordiv", ["div.rn.f32", "cvt.rmi.f32.f32"]),
    (f32, "mod", ["cvt.rzi.f32.f32", "fma.rn.f32"]),
    (f32, "ne", ["setp.neu.f32"]), (f32, "lt", ["setp.lt.f32"]), (u32, "lt", ["setp.lt.u32"]),
])
def test_binary_ops(dt, fn, needles):
    k, X = one_tensor()
    a, b = (k(th.LdGlobalOp, (dt,), dtype=dt, vec=1, addr=k.slot(X)).result for _ in "ab")
    k(th.StGlobalOp, addr=k.slot(X), values=(k.bin(fn, a, b),))
    body = body_of(emit_ptx(k.fn(), "sm_80"))
    for needle in needles:
        assert needle in body


def test_integer_division_by_zero_gives_zero_not_undefined_behaviour():
    k, X = one_tensor()
    a, b = (k(th.LdGlobalOp, (i32,), dtype=i32, vec=1, addr=k.slot(X)).result for _ in "ab")
    k(th.StGlobalOp, addr=k.slot(X), values=(k.bin("floordiv", a, b),))
    text = emit_llvm(k.fn(), "sm_80")
    assert re.search(r'icmp eq i32 %"[^"]+", 0', text) and "sdiv i32" in text
    assert re.search(r"select\s+i1", text)


@pytest.mark.parametrize("dt, fn, rhs, want", [
    (i32, "shl", 3, r"shl i32 %\"[^\"]+\", 3"), (u32, "shr", 5, r"lshr i32 %\"[^\"]+\", 5"),
    (i32, "shr", 5, r"ashr i32 %\"[^\"]+\", 5"), (i32, "floordiv", 24, r"sdiv i32 %\"[^\"]+\", 24"),
    (u32, "floordiv", 24, r"udiv i32 %\"[^\"]+\", 24"), (i32, "mod", 7, r"srem i32 %\"[^\"]+\", 7"),
    (u32, "mod", 0xFFFFFFFF, r"urem i32 %\"[^\"]+\", -1"),
    # shifts by the width or more: 0, or the sign for a signed shr (the interpreter's answers)
    (i32, "shl", 40, r"store i32 0,"), (u32, "shr", 32, r"store i32 0,"),
    (i32, "shr", 40, r"ashr i32 %\"[^\"]+\", 31"),
])
def test_a_constant_shift_or_divisor_needs_no_guard(dt, fn, rhs, want):
    """Guards that a constant right-hand side decides are not emitted (smaller IR, less
    for LLVM to fold); what remains computes the interpreter's answer."""
    k, X = one_tensor()
    a = k(th.LdGlobalOp, (dt,), dtype=dt, vec=1, addr=k.slot(X)).result
    k(th.StGlobalOp, addr=k.slot(X), values=(k.bin(fn, a, k.const(rhs, dt)),))
    text = emit_llvm(k.fn(), "sm_80")
    body = text[text.index("define"):]
    assert re.search(want, body), body
    assert "icmp" not in body and "select" not in body


@pytest.mark.parametrize("fn", ["floordiv", "mod"])
@pytest.mark.parametrize("rhs", [0, -1])
def test_a_constant_divisor_of_zero_or_minus_one_keeps_its_guard(fn, rhs):
    k, X = one_tensor()
    a = k(th.LdGlobalOp, (i32,), dtype=i32, vec=1, addr=k.slot(X)).result
    k(th.StGlobalOp, addr=k.slot(X), values=(k.bin(fn, a, k.const(rhs, i32)),))
    text = emit_llvm(k.fn(), "sm_80")
    assert re.search(r"select\s+i1", text[text.index("define"):])


@pytest.mark.parametrize("src, dst, needle", [
    (f32, bf16, "cvt.rn.bf16.f32"), (f32, f16, "cvt.rn.f16.f32"), (f32, i32, "cvt.rzi.s32.f32"),
    (i32, f32, "cvt.rn.f32.s32"), (u8, f32, "cvt.rn.f32.u16"), (f64, f32, "cvt.rn.f32.f64"),
    (f32, bool_, "setp.neu.f32"),
])
def test_casts(src, dst, needle):
    k, X = one_tensor()
    a = k(th.LdGlobalOp, (src,), dtype=src, vec=1, addr=k.slot(X)).result
    k(th.StGlobalOp, addr=k.slot(X), values=(k(ops.CastOp, (dst,), value=a).result,))
    assert needle in body_of(emit_ptx(k.fn(), "sm_80"))


@pytest.mark.parametrize("fn", ["exp", "tanh", "sin"])
def test_f64_transcendentals_are_compile_errors_with_a_hint(fn):
    k, X = one_tensor()
    x = k(th.LdGlobalOp, (f64,), dtype=f64, vec=1, addr=k.slot(X)).result
    y = k(ops.UnaryOp, (f64,), fn=fn, value=x, loc=SourceLoc("/src/k.py", 4)).result
    k(th.StGlobalOp, addr=k.slot(X), values=(y,), loc=SourceLoc("/src/k.py", 5))
    with pytest.raises(CompileError, match=rf"kernel 'k' at /src/k.py:\d: {fn} on f64") as e:
        emit_llvm(k.fn(), "sm_80")
    assert "x.to(tl.f32)" in str(e.value)


# -- API and ABI errors -----------------------------------------------------------------------

def test_kernel_abi_lists_the_ptx_parameters_in_order():
    abi = kernel_abi(KERNELS["debug"]())
    assert [(p.source, p.role, p.index, p.format) for p in abi.params] == [
        ("X", "ptr", 0, "Q"), ("X", "dim", 0, "i"), ("X", "stride", 0, "i"),
        ("flag", "scalar", 0, "B"), ("h", "scalar", 0, "H"), ("q", "scalar", 0, "q")]
    assert (abi.num_threads, abi.shared_bytes) == (128, 0)
    params = re.findall(r"\.param (.*) debug_param_\d+", kernel_ptx("debug", "sm_80"))
    assert params == [".u64 .ptr .global .align 1", ".u32", ".u32", ".u8", ".align 2 .b8",
                      ".u64"]


def test_unknown_target_missing_attributes_and_tile_ops_are_compile_errors():
    fn = KERNELS["grid"]()
    with pytest.raises(CompileError, match="unknown NVIDIA target 'sm_70'"):
        emit_ptx(fn, "sm_70")
    bare = Function(fn.name, fn.params, fn.body, ())
    with pytest.raises(CompileError, match="no integer 'num_threads'"):
        emit_ptx(bare, "sm_80")
    k = K(("X", TensorType(f32, 1)), loc=SourceLoc("/src/k.py", 9))
    k(ops.LoadOp, (ScalarType(f32),), tensor=k.params[0], offsets=(k.const(0, i32),))
    tile_fn = Function("t", k.params, k.b.pop(k.params), (("num_threads", 32),))
    with pytest.raises(CompileError, match=r"kernel 't' at /src/k.py:9: .* no lowering for "
                                           r"tl.load"):
        emit_ptx(tile_fn, "sm_80")
