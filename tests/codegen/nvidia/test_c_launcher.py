"""C launchers (``tilelang.codegen.nvidia.c_launcher``): prototypes that follow the kernel ABI,
C that gcc builds against the CUDA driver headers of the nvidia-cuda-runtime wheel, and
a launch through stand-in driver functions that record what ``cuLaunchKernel`` got."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tilelang as tl
from tilelang.codegen.c_host import C_SCALAR_TYPES, c_params, grid_formula_for
from tilelang.codegen.nvidia.c_launcher import MAX_STATIC_SHARED, emit_c_launcher
from tilelang.codegen.grid_formula import GridFormulaError
from tilelang.codegen.abi import kernel_abi
from tilelang.errors import CompileError

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"_c_launcher_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    return getattr(module, name)


@tl.kernel
def axpby(X: tl.Tensor, Y: tl.Tensor, alpha, beta, n, flag, BLOCK: tl.constexpr = 256):
    """Y = alpha * X + beta * Y over the first n elements (flag and the dtypes vary)."""
    off = tl.program_id(0) * BLOCK
    x = tl.load(X, (off,), (BLOCK,)).to(tl.f32)
    y = tl.load(Y, (off,), (BLOCK,)).to(tl.f32)
    out = x * alpha.to(tl.f32) + y * beta.to(tl.f32)
    tl.store(Y, (off,), tl.where(flag, out, y).to(Y.dtype))


def cuda_include() -> Path | None:
    """The folder holding ``cuda.h``: a CUDA pip wheel's, else ``$CUDA_HOME``'s."""
    spec = importlib.util.find_spec("nvidia")
    roots = list(spec.submodule_search_locations) if spec and spec.submodule_search_locations \
        else []
    for root in roots:
        for header in sorted(Path(root).glob("*/include/cuda.h"), reverse=True):
            return header.parent
    for home in ("/usr/local/cuda",):
        if (Path(home) / "include" / "cuda.h").is_file():
            return Path(home) / "include"
    return None


def gcc_or_skip() -> tuple[str, Path]:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    include = cuda_include()
    if include is None:
        pytest.skip("no cuda.h: pip install nvidia-cuda-runtime (the test extra)")
    return gcc, include


GCC_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


@pytest.fixture(scope="module")
def matmul_sm80():
    return _example("matmul").compile("A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16",
                                      target="sm_80", BM=64, BN=64)


@pytest.fixture(scope="module")
def softmax_sm90a():
    return _example("softmax").compile("X=f32[2]:16,Y=f32[2]:16", target="sm_90a")


@pytest.fixture(scope="module")
def big_matmul_sm90a():
    return _example("matmul").compile("A=bf16[2]:16,B=bf16[2]:16,C=bf16[2]:16",
                                      target="sm_90a", BM=128, BN=128, STAGES=4)


@pytest.fixture(scope="module")
def axpby_sm80():
    return axpby.compile("X=f16[1],Y=bf16[1],alpha=bf16,beta=f32,n=i32,flag=bool",
                         target="sm_80")


def prototype_args(header: str, function: str) -> list[tuple[str, str]]:
    """The (type, name) of each parameter of ``function`` declared in ``header``."""
    m = re.search(rf"CUresult {function}\((.*?)\);", header, flags=re.S)
    assert m, f"{function} is not declared"
    args = [" ".join(a.split()) for a in m.group(1).split(",")]
    return [tuple(a.rsplit(" ", 1)) for a in args]


def expected_args(fn) -> list[tuple[str, str]]:
    types = {p.name: p.type for p in fn.params}
    out = []
    for kp in kernel_abi(fn).params:
        if kp.role == "ptr":
            out.append(("CUdeviceptr", kp.source))
        elif kp.role in ("dim", "stride"):
            out.append(("int32_t", f"{kp.source}_{kp.role}{kp.index}"))
        else:
            out.append((C_SCALAR_TYPES[types[kp.source].dtype.name], kp.source))
    return out


@pytest.mark.parametrize("which", ["matmul_sm80", "softmax_sm90a", "axpby_sm80"])
def test_the_launch_prototype_follows_the_kernel_abi(request, which):
    compiled = request.getfixturevalue(which)
    header, _ = emit_c_launcher(compiled.function, "k", ptx=compiled.ptx, cubin=compiled.cubin)
    grid = [("unsigned int", "grid_x"), ("unsigned int", "grid_y"), ("unsigned int", "grid_z")]
    assert prototype_args(header, "k_launch") == [("CUstream", "stream"), *grid,
                                                  *expected_args(compiled.function)]
    abi = kernel_abi(compiled.function)
    assert f"#define K_NUM_THREADS {abi.num_threads}" in header
    assert f"#define K_SHARED_BYTES {abi.shared_bytes}" in header
    assert "k_launch_auto" not in header


def test_scalars_take_their_c_types(axpby_sm80):
    params = {p.name: p.c_type for p in c_params(axpby_sm80.function)}
    assert params == {"X": "CUdeviceptr", "X_dim0": "int32_t", "X_stride0": "int32_t",
                      "Y": "CUdeviceptr", "Y_dim0": "int32_t", "Y_stride0": "int32_t",
                      "alpha": "uint16_t", "beta": "float", "n": "int32_t", "flag": "bool"}


def test_large_shared_memory_raises_the_attribute(big_matmul_sm90a, matmul_sm80):
    big = kernel_abi(big_matmul_sm90a.function).shared_bytes
    assert big > MAX_STATIC_SHARED
    _, source = emit_c_launcher(big_matmul_sm90a.function, "big", ptx=big_matmul_sm90a.ptx)
    assert "CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES" in source
    assert f"{big});" in source
    small = kernel_abi(matmul_sm80.function).shared_bytes
    assert small <= MAX_STATIC_SHARED
    _, source = emit_c_launcher(matmul_sm80.function, "mm", ptx=matmul_sm80.ptx)
    assert "cuFuncSetAttribute" not in source


def test_without_a_cubin_the_module_comes_from_the_ptx(softmax_sm90a):
    _, source = emit_c_launcher(softmax_sm90a.function, "sm", ptx=softmax_sm90a.ptx)
    assert "sm_cubin" not in source and "cuModuleLoadData(&module, sm_ptx)" in source


def test_a_prefix_must_be_a_c_identifier(softmax_sm90a):
    with pytest.raises(CompileError, match="not a C identifier"):
        emit_c_launcher(softmax_sm90a.function, "soft-max", ptx=softmax_sm90a.ptx)


def test_grid_formulas_resolve_and_evaluate(matmul_sm80):
    fn = matmul_sm80.function
    g = grid_formula_for(fn, "cdiv(M, BM), cdiv(N, BN) * 1 + 0, K // 2",
                         matmul_sm80.spec.constexpr_dict(),
                         {"M": "C.shape[0]", "N": "C.shape[1]", "K": "A.stride(0)"})
    values = {("C", "dim", 0): 500, ("C", "dim", 1): 300, ("A", "stride", 0): 7}
    assert g.evaluate(values) == (8, 5, 3)
    assert g.c_exprs("mm")[0] == "mm_cdiv((int64_t)C_dim0, INT64_C(64))"
    assert grid_formula_for(fn, "3", {}).evaluate({}) == (3, 1, 1)


@pytest.mark.parametrize("formula, says", [
    ("cdiv(M, 2)", "unknown name 'M'"),
    ("A", "is a tensor"),
    ("A.shape[2]", "below A's rank 2"),
    ("1, 2, 3, 4", "1 to 3 dimensions"),
    ("2 ** 3", "unsupported grid expression"),
    ("__import__('os')", "unsupported grid expression"),
    ("BK.real", "unsupported grid expression"),
    ("cdiv(1,", "cannot parse"),
    ("Q.shape[0]", "not a tensor parameter"),
])
def test_bad_grid_formulas_are_refused(matmul_sm80, formula, says):
    with pytest.raises(GridFormulaError, match=re.escape(says)):
        grid_formula_for(matmul_sm80.function, formula, matmul_sm80.spec.constexpr_dict())


def test_aliases_may_not_refer_to_themselves(matmul_sm80):
    with pytest.raises(GridFormulaError, match="refers to itself"):
        grid_formula_for(matmul_sm80.function, "M", {}, {"M": "N + 1", "N": "M"})


@pytest.mark.parametrize("which", ["matmul_sm80", "softmax_sm90a", "big_matmul_sm90a",
                                   "axpby_sm80"])
def test_the_c_builds_against_the_cuda_headers(request, tmp_path, which):
    gcc, include = gcc_or_skip()
    compiled = request.getfixturevalue(which)
    tensor = next(p.name for p in compiled.function.params if p.type.__class__.__name__ ==
                  "TensorType")
    grid = grid_formula_for(compiled.function, f"cdiv({tensor}.shape[0], 64), 2 // 1",
                            compiled.spec.constexpr_dict())
    header, source = emit_c_launcher(compiled.function, "k", ptx=compiled.ptx,
                                     cubin=compiled.cubin, grid=grid)
    (tmp_path / "k.h").write_text(header)
    (tmp_path / "k.c").write_text(source)
    r = subprocess.run([gcc, *GCC_FLAGS, "-isystem", str(include), "-c", "k.c", "-o", "k.o"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "k.o").stat().st_size > 0


# Stand-ins for the driver functions the launcher calls: they print what they were given.
STUB = r"""
#include <stdio.h>
#include "k.h"
static int loads = 0;
CUresult CUDAAPI cuInit(unsigned int flags) { (void)flags; return CUDA_SUCCESS; }
CUresult CUDAAPI cuModuleLoadData(CUmodule *module, const void *image)
{
    loads += 1;
    printf("load %s\n", ((const char *)image)[0] == '\x7f' ? "cubin" : "ptx");
    *module = (CUmodule)(size_t)16;
    return CUDA_SUCCESS;
}
CUresult CUDAAPI cuModuleUnload(CUmodule module) { (void)module; return CUDA_SUCCESS; }
CUresult CUDAAPI cuModuleGetFunction(CUfunction *f, CUmodule module, const char *name)
{
    (void)module;
    printf("entry %s\n", name);
    *f = (CUfunction)(size_t)32;
    return CUDA_SUCCESS;
}
CUresult CUDAAPI cuFuncSetAttribute(CUfunction f, CUfunction_attribute a, int value)
{
    (void)f;
    printf("attribute %d %d\n", (int)a, value);
    return CUDA_SUCCESS;
}
CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                unsigned int bx, unsigned int by, unsigned int bz,
                                unsigned int shared, CUstream stream, void **args, void **extra)
{
    (void)f; (void)stream; (void)extra;
    printf("grid %u %u %u block %u %u %u shared %u\n", gx, gy, gz, bx, by, bz, shared);
    PRINT_ARGS
    return CUDA_SUCCESS;
}
int main(void)
{
    printf("before load %d\n", (int)CALL);
    if (k_load() != CUDA_SUCCESS)
        return 1;
    printf("result %d\n", (int)CALL);
    return k_unload() == CUDA_SUCCESS && loads == 1 ? 0 : 2;
}
"""

_PRINTF = {"CUdeviceptr": ("unsigned long long", "%llu"), "int32_t": ("int", "%d"),
           "uint16_t": ("unsigned", "%u"), "float": ("double", "%g"), "bool": ("int", "%d")}
_DEREF = {"bool": "uint8_t"}


def test_a_launch_passes_every_argument_to_cuLaunchKernel(tmp_path, axpby_sm80):
    """Link the launcher with stand-in driver functions and run it on the host."""
    gcc, include = gcc_or_skip()
    fn = axpby_sm80.function
    params = c_params(fn)
    grid = grid_formula_for(fn, "cdiv(n, BLOCK), X.shape[0] // 100, 1",
                            axpby_sm80.spec.constexpr_dict())
    header, source = emit_c_launcher(fn, "k", ptx=axpby_sm80.ptx, cubin=axpby_sm80.cubin,
                                     grid=grid)
    values = {"X": "4096", "X_dim0": "1000", "X_stride0": "1", "Y": "8192", "Y_dim0": "1000",
              "Y_stride0": "2", "alpha": "16256", "beta": "0.5", "n": "777", "flag": "1"}
    prints = []
    for i, p in enumerate(params):
        cast, fmt = _PRINTF[p.c_type]
        ptr = _DEREF.get(p.c_type, p.c_type)
        prints.append(f'printf("arg {p.name} {fmt}\\n", ({cast})*({ptr} *)args[{i}]);')
    call = "k_launch_auto(NULL, " + ", ".join(values[p.name] for p in params) + ")"
    stub = STUB.replace("PRINT_ARGS", "\n    ".join(prints)).replace("CALL", call)
    for name, text in (("k.h", header), ("k.c", source), ("main.c", stub)):
        (tmp_path / name).write_text(text)
    build = subprocess.run([gcc, "-std=c99", "-Wall", "-Werror", "-isystem", str(include),
                            "k.c", "main.c", "-o", "k"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(tmp_path / "k")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    abi = kernel_abi(fn)
    expected_grid = grid.evaluate({("n", "scalar", 0): 777, ("X", "dim", 0): 1000})
    assert expected_grid == (4, 10, 1)
    assert lines[0] == "before load 3"            # CUDA_ERROR_NOT_INITIALIZED
    assert lines[1] == ("load cubin" if axpby_sm80.cubin else "load ptx")
    assert lines[2] == f"entry {abi.name}"
    assert lines[3] == (f"grid 4 10 1 block {abi.num_threads} 1 1 shared {abi.shared_bytes}")
    assert lines[4:4 + len(params)] == [f"arg {p.name} {values[p.name]}" for p in params]
    assert lines[-1] == "result 0"
