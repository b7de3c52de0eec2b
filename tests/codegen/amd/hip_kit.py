"""Thread-IR kernels for the HIP code generator's tests: the examples without
``tl.dot`` lowered by the pass pipeline, and hand-built kernels (``emu_irkit.T``)
exercising what the examples do not: MFMA, wave64 shuffles of every width,
loop-carried swaps, ``if`` results, casts, integer edge cases, print and assert."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from tests.examples.test_examples import load_example
from tests.emulator.irkit import T
from tilelang.errors import LaunchError, SourceLoc
from tilelang.ir import ops as o
from tilelang.ir.types import ScalarType, bf16, bool_, f16, f32, f64, i8, i16, i32, i64, u8, u32
from tilelang.ir.values import Function

# (example, kernel, signature) of the examples whose lowering needs no tensor cores
EXAMPLES = [
    ("vector_add", "vector_add", "X=f32[1]:16,Y=f32[1]:16,Z=f32[1]:16"),
    ("softmax", "softmax", "X=f32[2]:16,Y=f32[2]:16"),
    ("layernorm", "layernorm", "X=f32[2]:16,W=f32[1]:16,B=f32[1]:16,Y=f32[2]:16,eps=f32"),
    ("row_sum", "row_sum", "X=f32[2]:16,OUT=f32[1]:16"),
]


@lru_cache(maxsize=None)
def example_fn(name: str, arch: str = "gfx90a") -> Function:
    """The thread IR of an example from the AMD lowering for ``arch`` (the NVIDIA one,
    whose thread IR needs no tensor cores for these examples, where this build has no
    AMD lowering)."""
    example, kernel, sig = next(e for e in EXAMPLES if e[0] == name)
    k = getattr(load_example(example), kernel)
    try:
        return k.compile(sig, target=f"emulate:{arch}").function
    except LaunchError:
        return k.compile(sig, target="emulate:sm_80").function


def with_attrs(fn: Function, **attrs: object) -> Function:
    kept = tuple((k, v) for k, v in fn.attrs if k not in attrs)
    return replace(fn, attrs=kept + tuple(attrs.items()))


def mfma_kernel(shape: str, dtype) -> Function:
    """One wavefront: load 4 A and 4 B elements per lane, one th.mfma, store C."""
    from tilelang.ir import thread_ops as th
    nc = th.MFMA_C_ELEMENTS[shape]
    t = T("mfma_" + shape.replace("x", "_") + "_" + dtype.name, threads=64)
    a_t, b_t, c_t = t.tensor(dtype, 1, "A"), t.tensor(dtype, 1, "B"), t.tensor(f32, 1, "C")
    lane = t.tid()
    a = t.ld_global(dtype, t.gaddr(a_t, t.mul(lane, 4), 2), vec=4)
    b = t.ld_global(dtype, t.gaddr(b_t, t.mul(lane, 4), 2), vec=4)
    zero = t.const(0.0, f32)
    d = t.emit(th.MfmaOp, (f32,) * nc, shape=shape, a=tuple(a), b=tuple(b),
               c=(zero,) * nc).results
    t.st_global(t.gaddr(c_t, t.mul(lane, nc), 4), d)
    return with_attrs(t.build(), warp_size=64)


def shuffle_kernel() -> Function:
    """Every shuffle mode on every dtype width, wave64."""
    t = T("shuffles", threads=128)
    out = t.tensor(f32, 1, "OUT")
    lane = t.tid()
    acc = t.cast(lane, f32)
    for dt in (f32, i32, u32, i8, i16, u8, f16, bf16, bool_):   # shfl moves <= 32 bits
        x = t.cast(lane, dt)
        for mode, k in (("bfly", 16), ("idx", 3), ("down", 1), ("up", 2)):
            acc = t.bin("add", acc, t.cast(t.shfl(mode, x, k), f32))
    t.st_global(t.gaddr(out, lane, 4), [acc])
    return with_attrs(t.build(), warp_size=64)


def scalar_kernel() -> Function:
    """Casts, integer division by runtime values, shifts, powers, narrow-float math,
    a loop whose carried values swap, an ``if`` with results, print and assert."""
    t = T("scalars", threads=64, shared=256)
    x_t, y_t = t.tensor(bf16, 1, "X"), t.tensor(f16, 1, "Y")
    n = t.scalar(i32, "n")
    scale = t.scalar(bf16, "scale")
    lane = t.tid()
    xb = t.ld_global(bf16, t.gaddr(x_t, t.mul(lane, 8), 2), vec=8,
                     pred=t.bin("lt", lane, n), other=t.const(1.5, bf16))
    s = t.bin("mul", xb[0], scale)
    s = t.bin("maximum", s, t.un("exp", xb[1]))
    s = t.bin("pow", s, t.const(2.0, bf16))
    q = t.bin("floordiv", lane, n)
    r = t.bin("mod", t.cast(lane, i8), t.cast(n, i8))
    sh = t.bin("shl", lane, n)
    sr = t.bin("shr", t.cast(lane, i64), t.cast(n, i64))
    p = t.bin("pow", lane, n)
    f = t.cast(t.un("sigmoid", t.cast(s, f32)), i16)
    g = t.cast(t.cast(lane, u8), f16)
    h = t.cast(t.cast(s, f64), bf16)
    t.st_shared(t.mul(lane, 4), [t.cast(q, f32)])
    t.barrier()
    (back,) = t.ld_shared(f32, t.mul(t.bin("xor", lane, 1), 4))
    t.print_("values", q, r, sh, sr, p, f, g, h, back, t.bin("lt", back, 1.0))
    t.assert_(t.bin("ge", lane, 0), "lane is negative")
    ca, cb = _swap_loop(t, n, t.const(1.0, f32), t.const(2.0, f32))
    picked = _if_result(t, t.bin("eq", n, 3), ca, cb)
    y = t.cast(t.bin("add", t.cast(picked, f16), g), f16)
    t.st_global(t.gaddr(y_t, lane, 2), [y], pred=t.bin("lt", lane, n))
    return with_attrs(t.build(), warp_size=64)


def _loc(t: T) -> SourceLoc:
    t.line += 1
    return SourceLoc("tkern.py", t.line)


def _swap_loop(t: T, n, a0, b0):
    """``for i in range(n): a, b = b, a + i``: a yield that reads the carried values."""
    S = ScalarType
    iv, ca, cb = t.b.fresh(S(i32), "iv"), t.b.fresh(S(f32), "ca"), t.b.fresh(S(f32), "cb")
    t.b.push()
    nxt = t.bin("add", ca, t.cast(iv, f32))
    t.b.emit(o.YieldOp(values=(cb, nxt), loc=_loc(t)))
    block = t.b.pop((iv, ca, cb))
    results = (t.b.fresh(S(f32)), t.b.fresh(S(f32)))
    t.b.emit(o.ForOp(lower=t.const(0, i32), upper=n, step=t.const(1, i32), inits=(a0, b0),
                     body=block, results=results, loc=_loc(t)))
    return results


def _if_result(t: T, cond, x, y):
    blocks = []
    for v in (x, y):
        t.b.push()
        t.print_("branch")
        t.b.emit(o.YieldOp(values=(t.un("neg", v),), loc=_loc(t)))
        blocks.append(t.b.pop())
    r = t.b.fresh(ScalarType(f32))
    t.b.emit(o.IfOp(cond=cond, then=blocks[0], orelse=blocks[1], results=(r,), loc=_loc(t)))
    return r


FLOAT_BINARY = ("add", "sub", "mul", "div", "floordiv", "mod", "maximum", "minimum", "pow")
FLOAT_UNARY = ("neg", "abs", "sqrt", "rsqrt", "exp", "exp2", "log", "log2", "sin", "cos",
               "tanh", "floor", "ceil", "sigmoid", "not")
# results whose math library may differ from numpy's by an ulp or so
APPROXIMATE = ("sqrt", "rsqrt", "exp", "exp2", "log", "log2", "sin", "cos", "tanh", "sigmoid",
               "pow")
INT_BINARY = ("add", "sub", "mul", "floordiv", "mod", "maximum", "minimum", "shl", "shr", "and",
              "or", "xor", "pow")


def ops_kernel() -> tuple[Function, list[str]]:
    """Per thread: every scalar op on its own inputs, each result cast to f64 and stored
    at ``OUT[tid * n + k]``; returns the kernel and the name of each result ``k``.
    Threads do not communicate, so the HIP source can run thread by thread on a host."""
    from tilelang.ir.types import u32
    t = T("ops", threads=64)
    x_t, a_t, b_t, y_t = (t.tensor(f32, 1, "X"), t.tensor(i32, 1, "A"), t.tensor(i32, 1, "B"),
                          t.tensor(f32, 1, "Y"))
    out = t.tensor(f64, 1, "OUT")
    lane = t.tid()
    (x,) = t.ld_global(f32, t.gaddr(x_t, lane, 4))
    (y,) = t.ld_global(f32, t.gaddr(y_t, lane, 4))
    (a,) = t.ld_global(i32, t.gaddr(a_t, lane, 4))
    (b,) = t.ld_global(i32, t.gaddr(b_t, lane, 4))
    results: list[tuple[str, object]] = []
    for dt in (f32, f16, bf16, f64):
        xd, yd = t.cast(x, dt), t.cast(y, dt)
        results.append((f"cast.{dt}", xd))
        for fn in FLOAT_BINARY:
            results.append((f"{fn}.{dt}", t.bin(fn, xd, yd)))
        results.append((f"pow2.{dt}", t.bin("pow", xd, t.const(2.0, dt))))
        for fn in ("lt", "ne", "eq"):
            results.append((f"{fn}.{dt}", t.bin(fn, xd, yd)))
        for fn in FLOAT_UNARY:
            results.append((f"{fn}.{dt}", t.un(fn, xd)))
        for it in (i8, i32, u8, u32, i64):
            results.append((f"cast.{dt}.{it}", t.cast(xd, it)))
        results.append((f"cast.{dt}.bool", t.cast(xd, bool_)))
    results.append(("cast.f64.bf16", t.cast(t.bin("div", t.cast(x, f64), t.cast(y, f64)), bf16)))
    for it in (i8, i16, i32, i64, u8, u32):
        ai, bi = t.cast(a, it), t.cast(b, it)
        results.append((f"cast.{it}", ai))
        for fn in INT_BINARY:
            # numpy (the emulator) refuses negative integer exponents: 0..7
            rhs = bi if fn != "pow" else t.bin("and", bi, t.const(7, it))
            results.append((f"{fn}.{it}", t.bin(fn, ai, rhs)))
        for fn in ("shl", "shr", "floordiv", "mod"):
            results.append((f"{fn}3.{it}", t.bin(fn, ai, t.const(3, it))))
        for fn in ("neg", "abs", "invert", "not"):
            results.append((f"{fn}.{it}", t.un(fn, ai)))
        for dt in (f32, bf16, f16):
            results.append((f"cast.{it}.{dt}", t.cast(ai, dt)))
        results.append((f"lt.{it}", t.bin("lt", ai, bi)))
    c = t.bin("lt", a, b)
    results.append(("where", t.where(c, x, y)))
    results.append(("bool.xor", t.bin("xor", c, t.bin("lt", b, a))))
    results.append(("bool.f32", t.cast(c, f32)))
    n = len(results)
    base = t.mul(lane, n)
    for k, (_, v) in enumerate(results):
        t.st_global(t.gaddr(out, t.add(base, k), 8), [t.cast(v, f64)])
    return t.build(), [name for name, _ in results]
