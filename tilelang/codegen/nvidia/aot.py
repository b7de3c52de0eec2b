"""Ahead-of-time artifacts of a kernel compiled for an NVIDIA target.

``write_artifacts(compiled, out_dir, ...)`` writes, for a ``CompiledKernel`` of
an ``sm_*`` target:

* ``NAME.ptx`` and, when ptxas produced one, ``NAME.cubin``;
* ``NAME.h`` / ``NAME.c``: the C launcher (``tilelang.codegen.nvidia.c_launcher``);
* ``NAME.json``: the manifest (``MANIFEST_VERSION``) describing the kernel,
  its specialization, its parameters and the C parameters each one becomes,
  the launch configuration, the grid formula if any, and every file's sha256.

Each file is written to a temporary name in ``out_dir`` and moved into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tilelang.codegen.nvidia.c_launcher import c_params, emit_c_launcher, grid_formula_for
from tilelang.codegen.nvidia.ptx import kernel_abi
from tilelang.errors import CompileError
from tilelang.ir.types import DType

__all__ = ["MANIFEST_VERSION", "write_artifacts"]

MANIFEST_VERSION = 1


def _jsonable(value: Any) -> Any:
    """A constexpr value as JSON (dtypes by name, tuples as lists)."""
    if isinstance(value, DType):
        return value.name
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_manifest(compiled: Any, name: str, files: dict[str, bytes],
                   grid: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest of ``compiled`` written as ``name`` with the given file contents."""
    from tilelang.version import __version__
    fn = compiled.function
    abi = kernel_abi(fn)
    cparams = c_params(fn, abi)
    from tilelang.codegen.nvidia.llvm_tma import tma_boxes
    boxes = tma_boxes(fn)
    params = []
    for spec in compiled.spec.params:
        params.append({
            "name": spec.name, "kind": "tensor" if spec.is_tensor else "scalar",
            "dtype": spec.dtype.name, "rank": spec.rank, "facts": list(spec.facts),
            "c_params": [{"name": c.name, "type": c.c_type, "role": c.role, "index": c.index}
                         for c in cparams if c.source == spec.name and c.role != "tmap"],
        })
        if spec.name in boxes:   # the launcher encodes its TMA tensor map (c_tensor_maps.py)
            box, swizzle = boxes[spec.name]
            params[-1]["tensor_map"] = {"box": list(box), "swizzle": swizzle}
    return {
        "manifest_version": MANIFEST_VERSION,
        "name": name,
        "kernel": compiled.name,
        "entry": abi.name,
        "target": compiled.target,
        "signature": ",".join(str(p) for p in compiled.spec.params),
        "constexprs": {k: _jsonable(v) for k, v in compiled.spec.constexprs},
        "num_warps": compiled.spec.num_warps,
        "parameters": params,
        "num_threads": abi.num_threads,
        "shared_bytes": abi.shared_bytes,
        "grid": grid,
        "functions": {"load": f"{name}_load", "unload": f"{name}_unload",
                      "launch": f"{name}_launch",
                      **({"launch_auto": f"{name}_launch_auto"} if grid else {})},
        "files": {f: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                  for f, data in files.items()},
        "tilelang_version": __version__,
    }


def write_artifacts(compiled: Any, out_dir: str | os.PathLike[str], name: str | None = None,
                    grid: str | None = None,
                    grid_aliases: dict[str, str] | None = None) -> dict[str, Any]:
    """Write the PTX, cubin, C launcher and manifest of ``compiled``; returns the manifest.

    ``grid`` is a grid formula (``tilelang.codegen.grid_formula``) over the tensors'
    shapes, integer scalars, constexprs and ``grid_aliases``; with it the launcher
    also has ``NAME_launch_auto``. Raises ``GridFormulaError`` for a bad formula and
    ``CompileError`` when ``compiled`` has no PTX.
    """
    if compiled.ptx is None:
        raise CompileError(f"target '{compiled.target}' produces no PTX",
                           kernel=compiled.name, hint="compile for an sm_* target")
    name = name or compiled.name
    fn = compiled.function
    formula = None
    if grid is not None:
        formula = grid_formula_for(fn, grid, compiled.spec.constexpr_dict(), grid_aliases)
    header, source = emit_c_launcher(fn, name, ptx=compiled.ptx, cubin=compiled.cubin,
                                     grid=formula)
    files = {f"{name}.ptx": compiled.ptx.encode()}
    if compiled.cubin is not None:
        files[f"{name}.cubin"] = compiled.cubin
    files[f"{name}.h"] = header.encode()
    files[f"{name}.c"] = source.encode()
    grid_info = None
    if formula is not None:
        grid_info = {"formula": formula.text, "aliases": dict(grid_aliases or {}),
                     "c": list(formula.c_exprs(name))}
    manifest = build_manifest(compiled, name, files, grid_info)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for fname, data in files.items():
        _write(out / fname, data)
    _write(out / f"{name}.json", (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest
