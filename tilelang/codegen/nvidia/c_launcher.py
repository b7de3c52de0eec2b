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
  in elements), a scalar its C type (``f16``/``bf16`` as their ``uint16_t`` bits,
  ``bool`` as ``bool``). Block size and dynamic shared memory are baked in.
  Returns ``CUDA_ERROR_NOT_INITIALIZED`` before a successful ``PREFIX_load``.
* ``CUresult PREFIX_launch_auto(CUstream stream, ...)`` when a ``GridFormula`` is
  given: the same parameters without the grid, computed from the formula;
  ``CUDA_ERROR_INVALID_VALUE`` when a grid dimension is out of range.

Load and unload are not thread-safe; launches are as safe as ``cuLaunchKernel``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tilelang.codegen.grid_formula import GridFormula, parse_grid
from tilelang.codegen.nvidia.ptx import KernelABI, kernel_abi
from tilelang.errors import CompileError
from tilelang.ir.types import ScalarType, TensorType
from tilelang.ir.values import Function

from tilelang.codegen.nvidia.c_tensor_maps import launcher_lines  # noqa: E402

__all__ = ["CParam", "C_SCALAR_TYPES", "c_params", "emit_c_launcher", "grid_formula_for"]

# The C type of each scalar dtype as the launcher takes it.
C_SCALAR_TYPES = {
    "bool": "bool", "i8": "int8_t", "u8": "uint8_t", "i16": "int16_t", "u16": "uint16_t",
    "i32": "int32_t", "u32": "uint32_t", "i64": "int64_t", "u64": "uint64_t",
    "f16": "uint16_t", "bf16": "uint16_t", "f32": "float", "f64": "double",
}
_INT_DTYPES = ("i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64")
_C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum
extern float for goto if inline int long register restrict return short signed sizeof static
struct switch typedef union unsigned void volatile while _Bool _Complex _Imaginary bool
true false""".split())
_FIXED_NAMES = ("stream", "grid_x", "grid_y", "grid_z", "args", "gx", "gy", "gz")
MAX_STATIC_SHARED = 48 * 1024
_BYTES_PER_LINE = 20


@dataclass(frozen=True)
class CParam:
    """One C parameter of the launch function, for one PTX parameter."""

    name: str      # the C identifier
    c_type: str    # CUdeviceptr, int32_t, float, ...
    source: str    # the kernel parameter it comes from
    role: str      # ptr, dim, stride, tmap or scalar (as in KernelParam)
    index: int
    dtype: str     # the kernel parameter's dtype (the tensor's element type for ptr/dim/stride)


def c_params(fn: Function, abi: KernelABI | None = None) -> tuple[CParam, ...]:
    """The launch function's kernel parameters, in the order of ``kernel_abi(fn)``."""
    abi = abi or kernel_abi(fn)
    types = {p.name: p.type for p in fn.params}
    out = []
    for kp in abi.params:
        t = types[kp.source]
        if kp.role == "ptr":
            out.append(CParam(kp.source, "CUdeviceptr", kp.source, "ptr", 0, t.dtype.name))
        elif kp.role in ("dim", "stride"):
            out.append(CParam(f"{kp.source}_{kp.role}{kp.index}", "int32_t", kp.source,
                              kp.role, kp.index, t.dtype.name))
        elif kp.role == "tmap":   # built in the launch function (c_tensor_maps.py)
            out.append(CParam(f"{kp.source}_tmap", "CUtensorMap", kp.source, "tmap", 0,
                              t.dtype.name))
        else:
            out.append(CParam(kp.source, C_SCALAR_TYPES[t.dtype.name], kp.source, "scalar",
                              0, t.dtype.name))
    seen: set[str] = set()
    for p in out:
        if p.name in _C_KEYWORDS or p.name in _FIXED_NAMES or p.name in seen:
            raise CompileError(f"parameter name '{p.source}' gives the C parameter "
                               f"'{p.name}', which is a C keyword or taken", kernel=fn.name,
                               hint="rename the kernel parameter")
        seen.add(p.name)
    return tuple(out)


def grid_formula_for(fn: Function, text: str, constexprs: dict[str, object],
                     aliases: dict[str, str] | None = None) -> GridFormula:
    """Parse a grid formula over ``fn``'s tensors, integer scalars and ``constexprs``."""
    tensors = {p.name: p.type.rank for p in fn.params if isinstance(p.type, TensorType)}
    scalars = {p.name: p.name for p in fn.params if isinstance(p.type, ScalarType)
               and p.type.dtype.name in _INT_DTYPES}
    return parse_grid(text, tensors=tensors, int_scalars=scalars, constexprs=constexprs,
                      aliases=aliases)


def _byte_array(name: str, data: bytes) -> str:
    lines = [", ".join(f"0x{b:02x}" for b in data[i:i + _BYTES_PER_LINE])
             for i in range(0, len(data), _BYTES_PER_LINE)]
    body = ",\n    ".join(lines)
    return f"static const unsigned char {name}[{len(data)}] = {{\n    {body}\n}};\n"


def _prototype(prefix: str, suffix: str, params: tuple[CParam, ...], grid: bool) -> str:
    args = ["CUstream stream"]
    if grid:
        args += ["unsigned int grid_x", "unsigned int grid_y", "unsigned int grid_z"]
    args += [f"{p.c_type} {p.name}" for p in params if p.role != "tmap"]
    return _wrap(f"CUresult {prefix}_{suffix}(", args)


def _wrap(head: str, args: list[str], width: int = 96) -> str:
    """``head`` followed by ``args`` joined with commas, wrapped under the ``(``."""
    lines, line = [], head
    indent = " " * len(head)
    for i, a in enumerate(args):
        piece = a + (", " if i < len(args) - 1 else ")")
        if len(line) + len(piece) > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += piece
    lines.append(line)
    return "\n".join(lines)


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
               _prototype(prefix, "launch", params, True) + ";"]
    if grid is not None:
        header += ["", f"/* Launch on the grid ({grid.text}). */",
                   _prototype(prefix, "launch_auto", params, False) + ";"]
    header += ["", "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */", ""]
    return "\n".join(header), _source(fn, prefix, abi, params, ptx, cubin, grid)


def _source(fn: Function, prefix: str, abi: KernelABI, params: tuple[CParam, ...], ptx: str,
            cubin: bytes | None, grid: GridFormula | None) -> str:
    p = prefix
    out = [f"/* {p}: launcher of the tilelang kernel '{fn.name}'. Generated; do not edit. */",
           f'#include "{p}.h"', "", "#include <stddef.h>", ""]
    out.append(_byte_array(f"{p}_ptx", ptx.encode() + b"\0"))
    if cubin is not None:
        out.append(_byte_array(f"{p}_cubin", cubin))
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
    out += [_prototype(p, "launch", params, True), "{"]
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
        out += _launch_auto(p, params, grid)
    return "\n".join(out)


def _launch_auto(p: str, params: tuple[CParam, ...], grid: GridFormula) -> list[str]:
    out = []
    if "cdiv" in grid.helpers:
        out += [f"static int64_t {p}_cdiv(int64_t a, int64_t b)", "{",
                "    if (b == 0)", "        return 0;",
                f"    return -{p}_floordiv_raw(-a, b);", "}", ""]
    if grid.helpers:
        out = [f"static int64_t {p}_floordiv_raw(int64_t a, int64_t b)", "{",
               "    int64_t q = a / b;", "    if ((a % b != 0) && ((a < 0) != (b < 0)))",
               "        q -= 1;", "    return q;", "}", ""] + out
    if "floordiv" in grid.helpers:
        out += [f"static int64_t {p}_floordiv(int64_t a, int64_t b)", "{",
                "    if (b == 0)", "        return 0;", f"    return {p}_floordiv_raw(a, b);",
                "}", ""]
    gx, gy, gz = grid.c_exprs(p)
    call = _wrap(f"    return {p}_launch(", ["stream", "(unsigned int)gx", "(unsigned int)gy",
                                             "(unsigned int)gz"] +
                [c.name for c in params if c.role != "tmap"])
    out += [_prototype(p, "launch_auto", params, False), "{",
            f"    int64_t gx = {gx};", f"    int64_t gy = {gy};", f"    int64_t gz = {gz};",
            "    if (gx < 1 || gx > INT64_C(2147483647) || gy < 1 || gy > 65535 || gz < 1 "
            "|| gz > 65535)",
            "        return CUDA_ERROR_INVALID_VALUE;",
            call + ";", "}", ""]
    return out
