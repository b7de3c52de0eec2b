"""Ahead-of-time artifacts of a kernel compiled for an NVIDIA target.

``write_artifacts(compiled, out_dir, ...)`` writes, for a ``CompiledKernel`` of
an ``sm_*`` target:

* ``NAME.ptx`` and, when ptxas produced one, ``NAME.cubin``;
* ``NAME.h`` / ``NAME.c``: the C launcher (``tilelang.codegen.nvidia.c_launcher``);
* ``NAME.json``: the manifest (``codegen.manifest``) describing the kernel,
  its specialization, its parameters and the C parameters each one becomes,
  the launch configuration, the grid formula if any, and every file's sha256.

Each file is written to a temporary name in ``out_dir`` and moved into place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tilelang.codegen.c_host import grid_formula_for
from tilelang.codegen.manifest import build_manifest, write_file
from tilelang.codegen.nvidia.c_launcher import emit_c_launcher
from tilelang.errors import CompileError

__all__ = ["write_artifacts"]


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
        write_file(out / fname, data)
    write_file(out / f"{name}.json", (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest
