"""Run generated HIP C++ on the host CPU, one thread after another, for kernels whose
threads do not talk to each other (no barriers, shuffles or MFMA): a shim header
stands in for ``<hip/hip_runtime.h>`` and a generated ``main`` calls the kernel for
every block and thread on 1-D tensors read from and written back to files.

This checks the generated source's *numerics* (bf16 rounding, saturating casts,
integer edge cases) against the emulator without an AMD GPU. Needs clang++ (the
source uses clang's ext_vector_type and _Float16).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from tilelang.codegen.amd.hip import HIP_FLAGS, emit_hip
from tilelang.ir.types import TensorType
from tilelang.ir.values import Function

SHIM = r"""
#pragma once
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <assert.h>
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
struct tl_dim3 { unsigned int x, y, z; };
static tl_dim3 threadIdx, blockIdx, gridDim;
inline float __uint_as_float(unsigned int u) { float f; memcpy(&f, &u, 4); return f; }
inline unsigned int __float_as_uint(float f) { unsigned int u; memcpy(&u, &f, 4); return u; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
template <typename T> inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
"""


def find_clangxx() -> str | None:
    for name in ("clang++", "clang++-15", "/usr/lib/llvm-15/bin/clang++"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _main(fn: Function, grid: int, threads: int) -> str:
    tensors = [p for p in fn.params if isinstance(p.type, TensorType)]
    assert len(tensors) == len(fn.params), "host runs take 1-D tensor parameters only"
    lines = ["#include <stdlib.h>", "int main(int argc, char** argv) {"]
    call = []
    for i, p in enumerate(tensors):
        assert p.type.rank == 1
        lines += [f"  FILE* f{i} = fopen(argv[{i + 1}], \"rb\"); fseek(f{i}, 0, SEEK_END);",
                  f"  long n{i} = ftell(f{i}); fseek(f{i}, 0, SEEK_SET);",
                  f"  unsigned char* b{i} = (unsigned char*)aligned_alloc(64, n{i} + 64);",
                  f"  if (fread(b{i}, 1, n{i}, f{i}) != (size_t)n{i}) return 2; fclose(f{i});"]
        item = max(1, p.type.dtype.bits // 8)
        call.append(f"(void*)b{i}, (int)(n{i} / {item}), 1")
    lines += [f"  gridDim.x = {grid}; gridDim.y = gridDim.z = 1;",
              f"  for (unsigned int b = 0; b < {grid}; ++b)",
              f"    for (unsigned int t = 0; t < {threads}; ++t) {{",
              "      blockIdx.x = b; threadIdx.x = t;",
              f"      {fn.name}_host({', '.join(call)});", "    }"]
    for i in range(len(tensors)):
        lines += [f"  FILE* o{i} = fopen(argv[{i + 1}], \"wb\"); fwrite(b{i}, 1, n{i}, o{i}); "
                  f"fclose(o{i});"]
    lines += ["  return 0;", "}"]
    return "\n".join(lines)


def _wrapper(fn: Function, src: str) -> str:
    """``NAME_host(void*, int, int, ...)``: the kernel with untyped pointers."""
    sig_start = src.index(f"\n{fn.name}(") + 1
    sig_end = src.index(") {", sig_start)
    params = [p.strip() for p in src[sig_start + len(fn.name) + 1:sig_end].split(",")]
    args, decl = [], []
    for k, p in enumerate(params):
        ctype, name = p.rsplit(" ", 1)
        if ctype.endswith("*"):
            decl.append(f"void* a{k}")
            args.append(f"({ctype})a{k}")
        else:
            decl.append(f"{ctype} a{k}")
            args.append(f"a{k}")
    return (f"static void {fn.name}_host({', '.join(decl)}) {{ {fn.name}({', '.join(args)}); }}\n")


def run_on_host(fn: Function, grid: int, arrays: Sequence[np.ndarray],
                target: str = "gfx90a") -> list[np.ndarray]:
    """Compile ``fn``'s HIP source for the host and run it on copies of ``arrays``."""
    cxx = find_clangxx()
    assert cxx is not None
    src = emit_hip(fn, target)
    threads = int(fn.attr("num_threads"))
    with tempfile.TemporaryDirectory(prefix="tilelang-hiphost-") as tmp:
        root = Path(tmp)
        (root / "hip").mkdir()
        (root / "hip" / "hip_runtime.h").write_text(SHIM)
        (root / "k.cpp").write_text(src + "\n" + _wrapper(fn, src) + _main(fn, grid, threads))
        flags = [f for f in HIP_FLAGS if f != "-O3"] + ["-O1"]
        proc = subprocess.run([cxx, "-std=c++17", *flags, "-I", str(root), "-w",
                               "-o", str(root / "k"), str(root / "k.cpp"), "-lm"],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-4000:]
        paths = []
        for i, a in enumerate(arrays):
            path = root / f"a{i}.bin"
            path.write_bytes(np.ascontiguousarray(a).tobytes())
            paths.append(str(path))
        run = subprocess.run([str(root / "k"), *paths], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return [np.frombuffer(Path(p).read_bytes(), dtype=a.dtype).copy()
                for p, a in zip(paths, arrays)]
