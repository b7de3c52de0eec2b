"""The pieces of a C host launcher both vendors' ahead-of-time launchers share.

Written in the CUDA driver API's spelling (``CUstream``, ``CUdeviceptr``,
``CUresult``); the HIP launcher (``codegen/amd/aot.py``) renames them to HIP's.
``c_params`` gives the launch function's C parameters in the order of
``codegen.abi.kernel_abi``; ``prototype``, ``byte_array`` and ``launch_auto``
write the declarations, the embedded code object and the launch-by-grid-formula
function.
"""

from __future__ import annotations

from dataclasses import dataclass

from tilelang.codegen.abi import KernelABI, kernel_abi
from tilelang.codegen.grid_formula import GridFormula, parse_grid
from tilelang.errors import CompileError
from tilelang.ir.types import ScalarType, TensorType
from tilelang.ir.values import Function

__all__ = ["CParam", "C_SCALAR_TYPES", "byte_array", "c_params", "grid_formula_for",
           "launch_auto", "prototype", "wrap"]


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
            c_type = "int64_t" if kp.format == "q" else "int32_t"   # a wide tensor: i64
            out.append(CParam(f"{kp.source}_{kp.role}{kp.index}", c_type, kp.source,
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


def byte_array(name: str, data: bytes) -> str:
    lines = [", ".join(f"0x{b:02x}" for b in data[i:i + _BYTES_PER_LINE])
             for i in range(0, len(data), _BYTES_PER_LINE)]
    body = ",\n    ".join(lines)
    return f"static const unsigned char {name}[{len(data)}] = {{\n    {body}\n}};\n"


def prototype(prefix: str, suffix: str, params: tuple[CParam, ...], grid: bool) -> str:
    args = ["CUstream stream"]
    if grid:
        args += ["unsigned int grid_x", "unsigned int grid_y", "unsigned int grid_z"]
    args += [f"{p.c_type} {p.name}" for p in params if p.role != "tmap"]
    return wrap(f"CUresult {prefix}_{suffix}(", args)


def wrap(head: str, args: list[str], width: int = 96) -> str:
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


def launch_auto(p: str, params: tuple[CParam, ...], grid: GridFormula) -> list[str]:
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
    call = wrap(f"    return {p}_launch(", ["stream", "(unsigned int)gx", "(unsigned int)gy",
                                             "(unsigned int)gz"] +
                [c.name for c in params if c.role != "tmap"])
    out += [prototype(p, "launch_auto", params, False), "{",
            f"    int64_t gx = {gx};", f"    int64_t gy = {gy};", f"    int64_t gz = {gz};",
            "    if (gx < 1 || gx > INT64_C(2147483647) || gy < 1 || gy > 65535 || gz < 1 "
            "|| gz > 65535)",
            "        return CUDA_ERROR_INVALID_VALUE;",
            call + ";", "}", ""]
    return out
