"""Ahead-of-time artifacts of a kernel compiled for an AMD target (``gfx90a``, ``gfx942``).

``write_hip_artifacts(compiled, out_dir, ...)`` writes:

* ``NAME.hip``: the HIP C++ source (compile it with the flags in its second line);
* ``NAME.hsaco``: the code object, when hipcc was installed at compile time (the
  manifest's ``code_object_arch`` names the arch it was built for: ``gfx940`` for
  gfx942 with a hipcc older than ROCm 5.7);
* ``NAME.h`` / ``NAME.c``: a C99 launcher over the HIP module API, written when
  there is a code object to embed: ``hipError_t NAME_load(void)``
  (``hipModuleLoadData`` on the embedded code object, then ``hipModuleGetFunction``),
  ``NAME_unload(void)`` and ``NAME_launch(hipStream_t stream, unsigned grid_x,
  grid_y, grid_z, ...)`` with the parameters of ``kernel_abi`` (as the NVIDIA
  launcher: a tensor ``A`` of rank r is ``hipDeviceptr_t A, int32_t A_dim0 ..,
  int32_t A_stride0 ..``; ``int64_t`` for a ``wide`` tensor), plus
  ``NAME_launch_auto`` with a grid formula. Compile
  the C file with ``-D__HIP_PLATFORM_AMD__`` and link ``-lamdhip64``;
* ``NAME.json``: the manifest (``codegen.manifest``), as for NVIDIA, with the
  HIP compile flags and the code object's arch.

Each file is written to a temporary name in ``out_dir`` and moved into place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tilelang.codegen import c_host as ch
from tilelang.codegen.manifest import build_manifest, write_file
from tilelang.codegen.c_host import CParam, c_params, grid_formula_for
from tilelang.codegen.grid_formula import GridFormula
from tilelang.codegen.amd.hip import HIP_FLAGS
from tilelang.codegen.abi import KernelABI, kernel_abi
from tilelang.errors import CompileError
from tilelang.ir.values import Function

__all__ = ["emit_hip_launcher", "write_hip_artifacts"]


def _hip_params(fn: Function, abi: KernelABI) -> tuple[CParam, ...]:
    return tuple(CParam(p.name, "hipDeviceptr_t", p.source, p.role, p.index, p.dtype)
                 if p.role == "ptr" else p for p in c_params(fn, abi))


def _to_hip(text: str) -> str:
    """The NVIDIA launcher's grid helper lines in HIP's names."""
    return (text.replace("CUresult", "hipError_t").replace("CUstream", "hipStream_t")
            .replace("CUDA_ERROR_INVALID_VALUE", "hipErrorInvalidValue"))


def emit_hip_launcher(fn: Function, prefix: str, code_object: bytes,
                      grid: GridFormula | None = None) -> tuple[str, str]:
    """The C header and source of ``prefix``'s launcher over the HIP module API."""
    if not prefix.isidentifier() or not prefix.isascii():
        raise CompileError(f"{prefix!r} is not a C identifier", kernel=fn.name,
                           hint="choose a name of letters, digits and '_'")
    abi = kernel_abi(fn)
    params = _hip_params(fn, abi)
    p = prefix
    guard = f"TILELANG_{p.upper()}_H"
    proto = _to_hip(ch.prototype(p, "launch", params, True))
    header = [f"/* {p}: launcher of the tilelang kernel '{fn.name}' (HIP kernel "
              f"'{abi.name}'). Generated; do not edit. */",
              f"#ifndef {guard}", f"#define {guard}", "",
              "#include <hip/hip_runtime_api.h>", "#include <stdint.h>"]
    header += ["#include <stdbool.h>"] if any(c.c_type == "bool" for c in params) else []
    header += ["", "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
               f"#define {p.upper()}_NUM_THREADS {abi.num_threads}",
               f"#define {p.upper()}_SHARED_BYTES {abi.shared_bytes}  /* static LDS */", "",
               "/* Load the embedded code object on the current HIP device. */",
               f"hipError_t {p}_load(void);", "",
               f"/* Unload the module; {p}_launch fails until the next load. */",
               f"hipError_t {p}_unload(void);", "",
               f"/* Launch on grid (grid_x, grid_y, grid_z), block ({abi.num_threads}, 1, 1). */",
               proto + ";"]
    if grid is not None:
        header += ["", f"/* Launch on the grid ({grid.text}). */",
                   _to_hip(ch.prototype(p, "launch_auto", params, False)) + ";"]
    header += ["", "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */", ""]
    out = [f"/* {p}: launcher of the tilelang kernel '{fn.name}'. Generated; do not edit. */",
           f'#include "{p}.h"', "", "#include <stddef.h>", "",
           ch.byte_array(f"{p}_code_object", code_object),
           f"static hipModule_t {p}_module = NULL;", f"static hipFunction_t {p}_function = NULL;",
           "", f"hipError_t {p}_load(void)", "{", "    hipError_t r;",
           "    hipModule_t module = NULL;", "    hipFunction_t function = NULL;",
           f"    if ({p}_function != NULL)", "        return hipSuccess;",
           f"    r = hipModuleLoadData(&module, {p}_code_object);",
           "    if (r != hipSuccess)", "        return r;",
           f'    r = hipModuleGetFunction(&function, module, "{abi.name}");',
           "    if (r != hipSuccess) {", "        hipModuleUnload(module);", "        return r;",
           "    }", f"    {p}_module = module;", f"    {p}_function = function;",
           "    return hipSuccess;", "}", "",
           f"hipError_t {p}_unload(void)", "{", "    hipError_t r;",
           f"    if ({p}_module == NULL)", "        return hipSuccess;",
           f"    r = hipModuleUnload({p}_module);", f"    {p}_module = NULL;",
           f"    {p}_function = NULL;", "    return r;", "}", "", proto, "{"]
    if params:
        out.append(f"    void *args[{len(params)}];")
    out += [f"    uint8_t {c.name}_byte = {c.name} ? 1 : 0;" for c in params if c.c_type == "bool"]
    out += [f"    if ({p}_function == NULL)", "        return hipErrorNotInitialized;"]
    for i, c in enumerate(params):
        out.append(f"    args[{i}] = &{c.name}{'_byte' if c.c_type == 'bool' else ''};")
    out += [f"    return hipModuleLaunchKernel({p}_function, grid_x, grid_y, grid_z,",
            f"                                 {abi.num_threads}, 1, 1, 0, stream, "
            f"{'args' if params else 'NULL'}, NULL);", "}", ""]
    if grid is not None:
        out += [_to_hip(line) for line in ch.launch_auto(p, params, grid)]
    return "\n".join(header), "\n".join(out)


def write_hip_artifacts(compiled: Any, out_dir: str | os.PathLike[str], name: str | None = None,
                        grid: str | None = None,
                        grid_aliases: dict[str, str] | None = None) -> dict[str, Any]:
    """Write the HIP source, code object, C launcher and manifest of ``compiled`` (see the
    module docstring); returns the manifest. ``CompileError`` when ``compiled`` has no HIP."""
    if compiled.hip is None:
        raise CompileError(f"target '{compiled.target}' produces no HIP source",
                           kernel=compiled.name, hint="compile for gfx90a or gfx942")
    name = name or compiled.name
    fn = compiled.function
    formula = None
    if grid is not None:
        formula = grid_formula_for(fn, grid, compiled.spec.constexpr_dict(), grid_aliases)
    files = {f"{name}.hip": compiled.hip.encode()}
    code_object = compiled.code_object
    if code_object is not None:
        files[f"{name}.hsaco"] = code_object
        header, source = emit_hip_launcher(fn, name, code_object, formula)
        files[f"{name}.h"] = header.encode()
        files[f"{name}.c"] = source.encode()
    grid_info = None
    if formula is not None:
        grid_info = {"formula": formula.text, "aliases": dict(grid_aliases or {}),
                     "c": [_to_hip(x) for x in formula.c_exprs(name)]}
    manifest = build_manifest(compiled, name, files, grid_info)
    manifest["hip_flags"] = list(HIP_FLAGS)
    manifest["code_object_arch"] = compiled.artifacts.get("hsaco_arch")
    if code_object is None:
        manifest["functions"] = {}   # no launcher without a code object to embed
    for c in manifest["parameters"]:
        for cp in c["c_params"]:
            if cp["type"] == "CUdeviceptr":
                cp["type"] = "hipDeviceptr_t"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for fname, data in files.items():
        write_file(out / fname, data)
    write_file(out / f"{name}.json", (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest
