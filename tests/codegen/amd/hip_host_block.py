"""Run a generated HIP kernel on the host CPU with every thread of a block as a real
thread: ``__syncthreads`` is a barrier, shuffles and MFMA exchange values through a
per-wavefront buffer between two wavefront barriers, LDS is per block, atomics take a
lock. MFMA follows the CDNA ISA's fragment layouts as written in the ISA tables
(independently of ``tilelang.ir.layouts``):

* 32x32x8:  A row l%32, col 4*(l/32)+i;  B row 4*(l/32)+i, col l%32;
            D row 8*(i/4)+4*(l/32)+i%4, col l%32
* 16x16x16: A row l%16, col 4*(l/16)+i;  B row 4*(l/16)+i, col l%16;
            D row 4*(l/16)+i, col l%16

``HostHipTarget`` is a target whose launch compiles the kernel's HIP source for the
host and runs it on numpy arrays, so an example's own ``run(target=...)`` checks
the HIP C++ against numpy. Needs clang++ and pthreads.
"""

from __future__ import annotations

import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from tests.codegen.amd.hip_host import find_clangxx
from tilelang.codegen.amd.hip import HIP_FLAGS, emit_hip
from tilelang.ir.lowbit import PackedArray
from tilelang.codegen.abi import kernel_abi
from tilelang.runtime.compiled import CompiledKernel
from tilelang.runtime.target import Target, host_arrays as _host_arrays

SHIM = r"""
#pragma once
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include <pthread.h>
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static   /* LDS: one copy shared by the block's threads */
struct tl_dim3 { unsigned int x, y, z; };
static thread_local tl_dim3 threadIdx;
static tl_dim3 blockIdx, gridDim;
inline float __uint_as_float(unsigned int u) { float f; memcpy(&f, &u, 4); return f; }
inline unsigned int __float_as_uint(float f) { unsigned int u; memcpy(&u, &f, 4); return u; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }

struct tl_wave { pthread_barrier_t bar; unsigned char buf[64][64]; };
static pthread_barrier_t tl_block_bar;
static tl_wave tl_waves[16];
static pthread_mutex_t tl_atomic_lock = PTHREAD_MUTEX_INITIALIZER;

inline void __syncthreads() { pthread_barrier_wait(&tl_block_bar); }
template <typename T> inline T atomicAdd(T* p, T v) {
  pthread_mutex_lock(&tl_atomic_lock); T old = *p; *p = old + v;
  pthread_mutex_unlock(&tl_atomic_lock); return old;
}

template <typename T> inline T tl_take(T v, int src) {
  tl_wave& w = tl_waves[threadIdx.x / 64];
  memcpy(w.buf[threadIdx.x % 64], &v, sizeof(T));
  pthread_barrier_wait(&w.bar);
  T r; memcpy(&r, w.buf[src & 63], sizeof(T));
  pthread_barrier_wait(&w.bar);
  return r;
}
template <typename T> inline T __shfl_xor(T v, int mask, int width) {
  int l = threadIdx.x % 64, i = l ^ mask;
  return tl_take(v, i >= ((l + width) & ~(width - 1)) ? l : i);
}
template <typename T> inline T __shfl(T v, int src, int width) {
  int l = threadIdx.x % 64; return tl_take(v, src % width + (l & ~(width - 1)));
}
template <typename T> inline T __shfl_down(T v, unsigned int d, int width) {
  int l = threadIdx.x % 64;
  return tl_take(v, (int)((l & (width - 1)) + d) >= width ? l : l + (int)d);
}
template <typename T> inline T __shfl_up(T v, unsigned int d, int width) {
  int l = threadIdx.x % 64; return tl_take(v, (l & (width - 1)) < (int)d ? l : l - (int)d);
}

typedef float tl_f16v __attribute__((ext_vector_type(16)));
typedef float tl_f4v __attribute__((ext_vector_type(4)));
typedef _Float16 tl_h4v __attribute__((ext_vector_type(4)));
typedef short tl_s4v __attribute__((ext_vector_type(4)));
struct tl_frag { float a[4], b[4]; };
inline float tl_bits_f(short s) { return __uint_as_float((unsigned int)(unsigned short)s << 16); }

template <int M, typename V> inline V tl_mfma(const float* a, const float* b, V c) {
  // M = 32 (32x32x8) or 16 (16x16x16); K = 256 / M... as per the ISA tables
  const int G = 64 / M;              // lane groups along K
  tl_frag mine; memcpy(mine.a, a, 16); memcpy(mine.b, b, 16);
  tl_wave& w = tl_waves[threadIdx.x / 64];
  memcpy(w.buf[threadIdx.x % 64], &mine, sizeof mine);
  pthread_barrier_wait(&w.bar);
  int l = threadIdx.x % 64;
  V d = c;
  const int n = M == 32 ? 16 : 4;
  for (int r = 0; r < n; ++r) {
    int row = M == 32 ? 8 * (r / 4) + 4 * (l / 32) + r % 4 : 4 * (l / 16) + r;
    int col = l % M;
    float acc = c[r];
    for (int k = 0; k < 4 * G; ++k) {
      const tl_frag* fa = (const tl_frag*)w.buf[row + M * (k / 4)];
      const tl_frag* fb = (const tl_frag*)w.buf[col + M * (k / 4)];
      acc += fa->a[k % 4] * fb->b[k % 4];
    }
    d[r] = acc;
  }
  pthread_barrier_wait(&w.bar);
  return d;
}
#define TL_MFMA_H(M, V) \
  [](tl_h4v a, tl_h4v b, V c, int, int, int) { \
    float fa[4], fb[4]; for (int i = 0; i < 4; ++i) { fa[i] = a[i]; fb[i] = b[i]; } \
    return tl_mfma<M, V>(fa, fb, c); }
#define TL_MFMA_B(M, V) \
  [](tl_s4v a, tl_s4v b, V c, int, int, int) { \
    float fa[4], fb[4]; \
    for (int i = 0; i < 4; ++i) { fa[i] = tl_bits_f(a[i]); fb[i] = tl_bits_f(b[i]); } \
    return tl_mfma<M, V>(fa, fb, c); }
#define __builtin_amdgcn_mfma_f32_32x32x8f16 TL_MFMA_H(32, tl_f16v)
#define __builtin_amdgcn_mfma_f32_16x16x16f16 TL_MFMA_H(16, tl_f4v)
#define __builtin_amdgcn_mfma_f32_32x32x8bf16_1k TL_MFMA_B(32, tl_f16v)
#define __builtin_amdgcn_mfma_f32_16x16x16bf16_1k TL_MFMA_B(16, tl_f4v)
"""

_C_SCALARS = {"Q": "unsigned long long", "i": "int", "I": "unsigned int", "q": "long long",
              "f": "float", "d": "double", "H": "unsigned short", "h": "short",
              "b": "signed char", "B": "unsigned char", "e": "unsigned short"}


def _main(name: str, abi: Any, threads: int, src: str) -> str:
    """``main(grid_x, grid_y, grid_z, values_file, tensor files...)``: every ABI value
    arrives as 8 bytes (pointers are tensor indices, replaced by the loaded buffers)."""
    n = len(abi.params)
    decls = ["struct tl_args { unsigned long long v[%d]; };" % max(n, 1),
             "static tl_args tl_a; static void* tl_buf[64];"]
    lines = ["static void* tl_thread(void* p) {",
             "  threadIdx.x = (unsigned int)(size_t)p; threadIdx.y = threadIdx.z = 0;"]
    call = []
    for k, p in enumerate(abi.params):
        if p.format == "Q":
            call.append(f"({_pointer_type(src, name, k)})tl_buf[tl_a.v[{k}]]")
        else:
            t = _C_SCALARS[p.format]
            call.append(f"*({t}*)&tl_a.v[{k}]")
    lines += [f"  {name}_call();", "  return 0;", "}"]
    wrapper = [f"static void {name}_call() {{ {name}({', '.join(call)}); }}"]
    main = ["int main(int argc, char** argv) {",
            "  gridDim.x = atoi(argv[1]); gridDim.y = atoi(argv[2]); gridDim.z = atoi(argv[3]);",
            "  FILE* f = fopen(argv[4], \"rb\"); if (fread(&tl_a, 8, %d, f) != %d) return 2;"
            % (n, n) + " fclose(f);",
            "  long sizes[64]; int nt = argc - 5;",
            "  for (int i = 0; i < nt; ++i) {",
            "    FILE* g = fopen(argv[5 + i], \"rb\"); fseek(g, 0, SEEK_END); sizes[i] = ftell(g);",
            "    fseek(g, 0, SEEK_SET); tl_buf[i] = aligned_alloc(64, sizes[i] + 64);",
            "    if (fread(tl_buf[i], 1, sizes[i], g) != (size_t)sizes[i]) return 3; fclose(g);",
            "  }",
            f"  pthread_barrier_init(&tl_block_bar, NULL, {threads});",
            f"  for (int w = 0; w < {max(1, threads // 64)}; ++w)",
            f"    pthread_barrier_init(&tl_waves[w].bar, NULL, {min(64, threads)});",
            "  for (unsigned int z = 0; z < gridDim.z; ++z)",
            "  for (unsigned int y = 0; y < gridDim.y; ++y)",
            "  for (unsigned int x = 0; x < gridDim.x; ++x) {",
            "    blockIdx.x = x; blockIdx.y = y; blockIdx.z = z;",
            f"    pthread_t th[{threads}];",
            f"    for (size_t t = 0; t < {threads}; ++t)",
            "      if (pthread_create(&th[t], NULL, tl_thread, (void*)t)) return 4;",
            f"    for (int t = 0; t < {threads}; ++t) pthread_join(th[t], NULL);",
            "  }",
            "  for (int i = 0; i < nt; ++i) {",
            "    FILE* g = fopen(argv[5 + i], \"wb\"); fwrite(tl_buf[i], 1, sizes[i], g); fclose(g);",
            "  }",
            "  return 0;", "}"]
    return "\n".join(decls + wrapper + lines + main)


class HostHipTarget(Target):
    """``hiphost:<arch>``: the AMD lowering and HIP source of ``<arch>``, run on the host
    CPU by a binary built with clang++ (see the module docstring)."""

    pipeline_name = "gpu"

    def __init__(self, arch: str) -> None:
        self.arch = arch
        self.name = f"hiphost:{arch}"
        self.dirs: list[Path] = []

    def cleanup(self) -> None:
        """Remove the build folders of every kernel compiled so far."""
        import shutil
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.dirs.clear()

    def compile(self, kernel: Any, spec: Any, keep_stages: bool = False) -> CompiledKernel:
        result = self.lower(kernel, spec, keep_stages)
        compiled = CompiledKernel(kernel.name, self.name, spec, result.module, result.stages)
        self.finish(compiled)
        return compiled

    def finish(self, compiled: CompiledKernel) -> None:
        fn = compiled.function
        src = emit_hip(fn, self.arch)
        abi = kernel_abi(fn)
        text = src + '\n#line 1 "harness.cpp"\n' + _main(fn.name, abi, abi.num_threads, src)
        tmp = Path(tempfile.mkdtemp(prefix="tilelang-hipblock-"))
        self.dirs.append(tmp)
        (tmp / "hip").mkdir()
        (tmp / "hip" / "hip_runtime.h").write_text(SHIM)
        (tmp / "k.cpp").write_text(text)
        flags = [f for f in HIP_FLAGS if f != "-O3"] + ["-O1"]
        proc = subprocess.run([find_clangxx(), "-std=c++17", *flags, "-w", "-pthread",
                               "-I", str(tmp), "-o", str(tmp / "k"), str(tmp / "k.cpp"), "-lm"],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-6000:]
        compiled.program = (tmp, abi)

    def launch(self, compiled: CompiledKernel, grid: tuple[int, int, int],
               args: list[Any], kernel: Any, stream: Any = None) -> None:
        tmp, abi = compiled.program
        host = _host_arrays(compiled, args, kernel, self.name)
        by_name = dict(zip([p.name for p in compiled.spec.params], host))
        tensors: list[np.ndarray] = []
        index: dict[str, int] = {}
        logical: dict[str, Any] = {}   # a packed low-bit tensor: its shape and strides
        values = []
        for p in abi.params:
            a = by_name[p.source]
            if p.role == "ptr":
                index[p.source] = len(tensors)
                if isinstance(a, PackedArray):
                    logical[p.source] = a
                    tensors.append(a.data)              # its bytes
                else:
                    tensors.append(np.ascontiguousarray(a))
                values.append(index[p.source])
            elif p.role == "dim":
                t = logical.get(p.source, tensors[index[p.source]])
                values.append(t.shape[p.index])
            elif p.role == "stride":
                t = logical.get(p.source, tensors[index[p.source]])
                values.append(t.strides[p.index] // t.itemsize)
            elif compiled.function.params[[q.name for q in compiled.function.params]
                                           .index(p.source)].type.dtype.name == "bf16":
                from tilelang.runtime.param_buffer import bf16_bits as _bf16_bits
                values.append(_bf16_bits(a))
            else:
                raw = np.array(a, dtype=_NUMPY[p.format]).tobytes()
                values.append(int.from_bytes(raw.ljust(8, b"\0"), "little"))
        packed = b"".join((v & (2 ** 64 - 1)).to_bytes(8, "little") for v in values)
        (tmp / "values.bin").write_bytes(packed)
        paths = []
        for i, t in enumerate(tensors):
            path = tmp / f"t{i}.bin"
            path.write_bytes(t.tobytes())
            paths.append(str(path))
        run = subprocess.run([str(tmp / "k"), *map(str, grid), str(tmp / "values.bin"), *paths],
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        for name, i in index.items():
            out = np.frombuffer((tmp / f"t{i}.bin").read_bytes(), tensors[i].dtype)
            dst = by_name[name].data if name in logical else by_name[name]
            dst[...] = out.reshape(tensors[i].shape)


_NUMPY = {"i": np.int32, "I": np.uint32, "q": np.int64, "f": np.float32, "d": np.float64,
          "H": np.uint16, "h": np.int16, "b": np.int8, "B": np.uint8, "e": np.float16}


def _pointer_type(src: str, name: str, k: int) -> str:
    """The C type of the ``k``-th kernel parameter in the generated signature."""
    start = src.index(f"\n{name}(") + len(name) + 2
    params = src[start:src.index(") {", start)].split(", ")
    return params[k].rsplit(" ", 1)[0]


@contextmanager
def registered(arch: str) -> Iterator[HostHipTarget]:
    """``hiphost:<arch>`` registered as a target for the duration (kernels launch on it
    by that name), its build folders removed afterwards."""
    from tilelang.runtime import targets
    target = targets._TARGETS[f"hiphost:{arch}"] = HostHipTarget(arch)
    try:
        yield target
    finally:
        targets._TARGETS.pop(target.name, None)
        target.cleanup()

