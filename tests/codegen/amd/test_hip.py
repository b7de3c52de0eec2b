"""The HIP code generator: structural checks on the generated C++ (not whole files),
and tier-3 compile checks with a real hipcc for gfx90a and gfx940 (gfx942 where the
compiler knows it), skipped with a reason where hipcc is absent."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.codegen.amd import hip_kit as kit
from tilelang.codegen.amd import hip_types as ht
from tilelang.codegen.amd import hipcc
from tilelang.codegen.amd.hip import emit_hip
from tilelang.errors import CompileError
from tilelang.ir import ops as o
from tilelang.ir import thread_ops as th
from tilelang.ir.types import bf16, f16, f32, i8, i32, i64, u32
from tilelang.ir.values import Function


def _hipcc_found() -> bool:
    try:
        return hipcc.find_hipcc() is not None
    except CompileError:
        return False


needs_hipcc = pytest.mark.skipif(
    not _hipcc_found(), reason="hipcc not found: apt-get install hipcc (Debian/Ubuntu), "
                               "install ROCm, or set TILELANG_HIPCC")

ARCHS = ["gfx90a", "gfx942"]


def _kernel_line(src: str) -> str:
    return next(line for line in src.splitlines() if line.startswith('extern "C"'))


def _count(fn: Function, cls: type) -> int:
    return sum(isinstance(op, cls) for op in o.walk(fn.body))


# -- structure ------------------------------------------------------------------------

@pytest.mark.parametrize("name", [e[0] for e in kit.EXAMPLES])
def test_example_source_structure(name):
    fn = kit.example_fn(name)
    src = emit_hip(fn, "gfx90a")
    assert src.count("#include <hip/hip_runtime.h>") == 1
    assert src.count('extern "C" __global__') == 1, "one kernel function"
    threads = fn.attr("num_threads")
    assert _kernel_line(src) == f'extern "C" __global__ void __launch_bounds__({threads})'
    assert re.search(rf"^{fn.name}\(", src, re.M), "the kernel keeps its Python name"
    # #line directives name the example's Python file, with lines inside the file
    lines = [int(m.group(1)) for m in re.finditer(rf'^#line (\d+) ".*/{name}\.py"$', src, re.M)]
    assert lines and max(lines) <= len(open(fn.loc.file).read().splitlines())
    shared = fn.attr("shared_bytes", 0)
    if shared:
        assert f"__shared__ __attribute__((aligned(16))) unsigned char tl_smem[{shared}];" in src
    assert src.count("__syncthreads();") == _count(fn, o.BarrierOp)
    vector_loads = [op for op in o.walk(fn.body)
                    if isinstance(op, th.LdGlobalOp) and op.vec * op.dtype.bits >= 128]
    if vector_loads:
        assert "tl_floatx4" in src, "16-byte accesses are vector loads"


def test_line_directives_are_exact():
    """Each statement's line number, as the compiler counts it, is its op's Python line."""
    fn = kit.example_fn("softmax")
    src = emit_hip(fn, "gfx90a")
    current, file = None, None
    for text in src.splitlines():
        m = re.match(r'#line (\d+) "(.*)"', text)
        if m:
            current, file = int(m.group(1)), m.group(2)
            continue
        if current is not None:
            assert file == fn.loc.file
            current += 1
    assert current is not None


@pytest.mark.parametrize("shape", list(th.MFMA_SHAPES))
@pytest.mark.parametrize("dtype", [f16, bf16])
def test_mfma_uses_the_builtin(shape, dtype):
    src = emit_hip(kit.mfma_kernel(shape, dtype), "gfx90a")
    suffix = "bf16_1k" if dtype == bf16 else "f16"
    assert f"__builtin_amdgcn_mfma_f32_{shape}{suffix}(" in src
    nc = th.MFMA_C_ELEMENTS[shape]
    assert f"typedef float tl_floatx{nc} __attribute__((ext_vector_type({nc})));" in src
    vt = "tl_shortx4" if dtype == bf16 else "tl_halfx4"
    assert src.count(f"{vt}{{") == 2, "A and B packed as 4-element vectors"
    assert re.search(r", 0, 0, 0\);", src), "cbsz, abid, blgp = 0"
    if dtype == bf16:
        assert "(short)" in src and "#include <hip/hip_bf16.h>" not in src


def test_shuffles_use_the_warp_size_as_width():
    fn = kit.shuffle_kernel()
    src = emit_hip(fn, "gfx90a")
    for name in ("__shfl_xor(", "__shfl(", "__shfl_down(", "__shfl_up("):
        calls = re.findall(re.escape(name) + r"[^;]*?, 64\)", src)
        assert len(calls) >= 9, name
    assert ", 32)" not in src
    src32 = emit_hip(kit.with_attrs(fn, warp_size=32), "gfx90a")
    assert ", 64)" not in src32 and "__shfl_xor(" in src32


def test_scalar_kernel_structure():
    src = emit_hip(kit.scalar_kernel(), "gfx90a")
    assert "unsigned short scale_bits" in src, "a bf16 scalar arrives as its raw bits"
    assert "tl_bf16_to_f32(" in src and "tl_f32_to_bf16(" in src
    assert "tl_sdiv<int>(" in src and "tl_smod<signed char>(" in src
    assert "tl_f2i<short, float>(" in src
    assert 'printf("[scalars pid=(%d, %d, %d) tid=%d] values' in src
    assert '__assert_fail("lane is negative", "tkern.py",' in src
    assert re.search(r"for \(int v_iv = 0; v_iv < n; v_iv \+= 1\) \{", src)
    # the swap goes through temporaries, so the second assignment reads the old value
    body = src[src.index("for (int v_iv"):]
    assert re.search(r"const float (next\d+) = v_cb;.*v_ca = \1;", body, re.S)
    assert "} else {" in src


def test_unsupported_ops_and_targets_are_compile_errors():
    fn = kit.example_fn("vector_add")
    with pytest.raises(CompileError, match="unknown AMD target 'sm_80'"):
        emit_hip(fn, "sm_80")
    t = kit.T("cp", threads=64, shared=64)
    t.cp_async(t.const(0), t.const(0, i64), t.const(16))
    with pytest.raises(CompileError, match=r"no lowering for th\.cp_async") as e:
        emit_hip(t.build(), "gfx90a")
    assert "tkern.py" in str(e.value)
    big = kit.with_attrs(fn, shared_bytes=65 * 1024)
    with pytest.raises(CompileError, match="bytes of LDS"):
        emit_hip(big, "gfx942")


@settings(max_examples=60, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True, width=32))
def test_f32_literals_are_exact(x):
    text = ht.literal(f32, x)
    if np.isnan(x):
        assert text == '__builtin_nanf("")'
    elif np.isinf(x):
        assert text.endswith("__builtin_inff()")
    else:
        assert text.endswith("f") and np.float32(float(text[:-1])) == np.float32(x)


@settings(max_examples=60, deadline=None)
@given(st.integers(-(1 << 40), 1 << 40), st.sampled_from([i8, i32, i64, u32]))
def test_integer_literals_wrap_like_the_type(v, dt):
    text = ht.literal(dt, v)
    bits = dt.bits
    want = v & ((1 << bits) - 1)
    if dt.is_signed and want >= 1 << (bits - 1):
        want -= 1 << bits
    digits = re.sub(r"^\((signed char|short|unsigned char|unsigned short)\)", "", text)
    digits = digits.rstrip("uLl")
    got = eval(digits.replace("LL", "")) if digits.startswith("(-") else int(digits)
    assert got == want


def test_bf16_literal_shows_bits_and_value():
    assert ht.literal(bf16, 1.0) == "tl_bf16{0x3F80 /* 1 */}"
    assert ht.literal(i32, -(1 << 31)) == "(-2147483647 - 1)"


# -- compile checks -------------------------------------------------------------------

@needs_hipcc
def test_hipcc_version_and_arch_resolution():
    assert "HIP" in hipcc.hipcc_version() or "clang" in hipcc.hipcc_version()
    assert hipcc.resolve_arch("gfx90a") == "gfx90a"
    assert hipcc.resolve_arch("gfx942") in ("gfx942", "gfx941", "gfx940")


@needs_hipcc
def test_compile_error_quotes_the_compiler_and_points_at_python():
    src = emit_hip(kit.example_fn("vector_add"), "gfx90a")
    broken = re.sub(r"(= raw\d+\[0\]);", r"\1 + undefined_name;", src, count=1)
    assert broken != src
    with pytest.raises(CompileError) as e:
        hipcc.compile_hip(broken, "gfx90a", kernel="vector_add")
    msg = str(e.value)
    assert "undefined_name" in msg and "kernel 'vector_add'" in msg
    assert "vector_add.py:" in msg and e.value.loc is not None


def _compile(fn: Function, arch: str) -> hipcc.HipccResult:
    result = hipcc.compile_hip(emit_hip(fn, arch), arch, kernel=fn.name)
    assert result.code_object[:4] == b"\x7fELF"
    assert result.arch == hipcc.resolve_arch(arch)
    assert "warning" not in result.log, result.log
    return result


@needs_hipcc
@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", [e[0] for e in kit.EXAMPLES])
def test_example_compiles(name, arch):
    _compile(kit.example_fn(name, arch), arch)


@needs_hipcc
@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_hand_built_kernels_compile(arch):
    kernels = [kit.mfma_kernel(s, d) for s in th.MFMA_SHAPES for d in (f16, bf16)]
    for fn in kernels + [kit.shuffle_kernel(), kit.scalar_kernel()]:
        result = _compile(fn, arch)
        assert fn.name.encode() in result.code_object


def test_a_kernel_named_like_a_math_function_is_a_clear_error():
    import tilelang as tl

    @tl.kernel
    def tanh(X: tl.Tensor, Y: tl.Tensor):
        tl.store(Y, (0,), tl.tanh(tl.load(X, (0,), (64,))))
    with pytest.raises(tl.CompileError, match="collides with the HIP math function") as e:
        tanh.compile("X=f32[1],Y=f32[1]", target="gfx942")
    assert "tanh_kernel" in str(e.value) and "test_hip.py" in str(e.value)
