"""The manifest an ahead-of-time build writes beside its files, for both vendors.

``build_manifest`` describes a compiled specialization as JSON: its entry point,
target, signature, constexprs, the C parameters of each kernel parameter (and
its TMA tensor map), block size, shared memory, grid formula, the launcher's
function names and each file's SHA-256. ``write_file`` replaces a file
atomically, so a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from tilelang.codegen.abi import kernel_abi, tma_boxes
from tilelang.codegen.c_host import c_params
from tilelang.ir.types import DType
from tilelang.version import __version__

__all__ = ["MANIFEST_VERSION", "build_manifest", "write_file"]


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


def write_file(path: Path, data: bytes) -> None:
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
    fn = compiled.function
    abi = kernel_abi(fn)
    cparams = c_params(fn, abi)
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
