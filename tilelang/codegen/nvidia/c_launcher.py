"""C launchers for compiled kernels: a C99 header and source over the CUDA driver API.

``emit_c_launcher(fn, prefix, ptx=..., cubin=...)`` returns ``(header, source)``
for the thread-IR function ``fn`` (the output of the gpu pipeline). The
source embeds the cubin (when given) and the PTX, and defines:

* ``CUresult PREFIX_load(void)``: ``cuInit``, then the module from the cubin,
  falling back to the PTX through the driver's JIT when the cubin does not load
  (e.g. another architecture); above 48 KiB of dynamic shared memory it raises
  ``CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES``. A CUDA context must be
  current on the calling thread.
* ``CUresult PREFIX_unload(void)``.
* ``CUresult PREFIX_launch(CUstream stream, unsigned int grid_x, grid_y, grid_z,
  ...)``: the parameters of ``kernel_abi(fn)`` in order: a tensor ``A`` of rank r
  is ``CUdeviceptr A, int32_t A_dim0 .. A_dim{r-1}, int32_t A_stride0 ..`` (strides
  in elements; ``int64_t`` for a ``wide`` tensor), a scalar its C type
  (``f16``/``bf16`` as their ``uint16_t`` bits,
  ``bool`` as ``bool``). Block size and dynamic shared memory are baked in.
  Returns ``CUDA_ERROR_NOT_INITIALIZED`` before a successful ``PREFIX_load``.
* ``CUresult PREFIX_launch_auto(CUstream stream, ...)`` when a ``GridFormula`` is
  given: the same parameters without the grid, computed from the formula;
  ``CUDA_ERROR_INVALID_VALUE`` when a grid dimension is out of range.

Load and unload are not thread-safe; launches are as safe as ``cuLaunchKernel``.
"""

from __future__ import annotations

from tilelang.codegen.abi import KernelABI, kernel_abi
from tilelang.codegen.c_host import CParam, byte_array, c_params, launch_auto, prototype
from tilelang.codegen.grid_formula import GridFormula
from tilelang.codegen.nvidia.c_tensor_maps import launcher_lines
from tilelang.errors import CompileError
from tilelang.ir.values import Function

__all__ = ["MAX_STATIC_SHARED", "emit_c_launcher"]

MAX_STATIC_SHARED = 48 * 1024


def emit_c_launcher(fn: Function, prefix: str, *, ptx: str, cubin: bytes | None = None,
                    grid: GridFormula | None = None) -> tuple[str, str]:
    """The C header and source of ``prefix``'s launcher (``prefix`` a C identifier)."""
    if not prefix.isidentifier() or not prefix.isascii():
        raise CompileError(f"{prefix!r} is not a C identifier", kernel=fn.name,
                           hint="choose a name of letters, digits and '_'")
    abi = kernel_abi(fn)
    params = c_params(fn, abi)
    guard = f"TILELANG_{prefix.upper()}_H"
    uses_bool = any(p.c_type == "bool" for p in params)
    header = [f"/* {prefix}: launcher of the tilelang kernel '{fn.name}' (PTX entry "
              f"'{abi.name}'). Generated; do not edit. */",
              f"#ifndef {guard}", f"#define {guard}", "",
              "#include <cuda.h>", "#include <stdint.h>"]
    header += ["#include <stdbool.h>"] if uses_bool else []
    header += ["", "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
               f"#define {prefix.upper()}_NUM_THREADS {abi.num_threads}",
               f"#define {prefix.upper()}_SHARED_BYTES {abi.shared_bytes}", "",
               "/* Load the module into the current CUDA context (cubin, else PTX JIT). */",
               f"CUresult {prefix}_load(void);", "",
               f"/* Unload the module; {prefix}_launch fails until the next load. */",
               f"CUresult {prefix}_unload(void);", "",
               f"/* Launch on grid (grid_x, grid_y, grid_z), block ({abi.num_threads}, 1, 1), "
               f"{abi.shared_bytes} bytes of dynamic shared memory. */",
               prototype(prefix, "launch", params, True) + ";"]
    if grid is not None:
        header += ["", f"/* Launch on the grid ({grid.text}). */",
                   prototype(prefix, "launch_auto", params, False) + ";"]
    header += ["", "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */", ""]
    return "\n".join(header), _source(fn, prefix, abi, params, ptx, cubin, grid)


def _source(fn: Function, prefix: str, abi: KernelABI, params: tuple[CParam, ...], ptx: str,
            cubin: bytes | None, grid: GridFormula | None) -> str:
    p = prefix
    out = [f"/* {p}: launcher of the tilelang kernel '{fn.name}'. Generated; do not edit. */",
           f'#include "{p}.h"', "", "#include <stddef.h>", ""]
    out.append(byte_array(f"{p}_ptx", ptx.encode() + b"\0"))
    if cubin is not None:
        out.append(byte_array(f"{p}_cubin", cubin))
    out += [f"static CUmodule {p}_module = NULL;", f"static CUfunction {p}_function = NULL;", "",
            f"CUresult {p}_load(void)", "{", "    CUresult r;", "    CUmodule module = NULL;",
            "    CUfunction function = NULL;",
            f"    if ({p}_function != NULL)", "        return CUDA_SUCCESS;",
            "    r = cuInit(0);", "    if (r != CUDA_SUCCESS)", "        return r;"]
    if cubin is not None:
        out += [f"    r = cuModuleLoadData(&module, {p}_cubin);",
                "    if (r != CUDA_SUCCESS) {",
                f"        CUresult jit = cuModuleLoadData(&module, {p}_ptx);",
                "        if (jit != CUDA_SUCCESS)", "            return r;", "    }"]
    else:
        out += [f"    r = cuModuleLoadData(&module, {p}_ptx);",
                "    if (r != CUDA_SUCCESS)", "        return r;"]
    out += [f'    r = cuModuleGetFunction(&function, module, "{abi.name}");']
    if abi.shared_bytes > MAX_STATIC_SHARED:
        out += ["    if (r == CUDA_SUCCESS)",
                "        r = cuFuncSetAttribute(function, "
                "CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,",
                f"                               {abi.shared_bytes});"]
    out += ["    if (r != CUDA_SUCCESS) {", "        cuModuleUnload(module);", "        return r;",
            "    }", f"    {p}_module = module;", f"    {p}_function = function;",
            "    return CUDA_SUCCESS;", "}", "",
            f"CUresult {p}_unload(void)", "{", "    CUresult r;",
            f"    if ({p}_module == NULL)", "        return CUDA_SUCCESS;",
            f"    r = cuModuleUnload({p}_module);", f"    {p}_module = NULL;",
            f"    {p}_function = NULL;", "    return r;", "}", ""]
    out += [prototype(p, "launch", params, True), "{"]
    body = []
    if params:
        body.append(f"    void *args[{len(params)}];")
    body += [f"    uint8_t {c.name}_byte = {c.name} ? 1 : 0;" for c in params
             if c.c_type == "bool"]
    body += [f"    if ({p}_function == NULL)", "        return CUDA_ERROR_NOT_INITIALIZED;"]
    body += launcher_lines(fn, params)   # TMA tensor maps of this launch's tensors
    for i, c in enumerate(params):
        body.append(f"    args[{i}] = &{c.name}{'_byte' if c.c_type == 'bool' else ''};")
    body += [f"    return cuLaunchKernel({p}_function, grid_x, grid_y, grid_z,",
             f"                          {abi.num_threads}, 1, 1, {abi.shared_bytes}, stream, "
             f"{'args' if params else 'NULL'}, NULL);", "}", ""]
    out += body
    if grid is not None:
        out += launch_auto(p, params, grid)
    return "\n".join(out)


