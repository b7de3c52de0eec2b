"""The real hip-python signatures of the HIP and hiprtc calls tilelang makes, as data.

hip-python (``rocm-bindings-hip``) is not installed where the tests run, so the
signatures are read once from the stubs its wheel ships (``rocm/bindings/hip.pyi``,
``hiprtc.pyi``) and kept in ``hip_signatures.json`` beside this file: per call, the
parameter names and the types of the returned tuple. ``hip_binding_check`` holds
the fake HIP modules to them. To refresh after a hip-python release:

    pip download rocm-bindings-hip --no-deps -d /tmp/w && unzip -o /tmp/w/*.whl -d /tmp/w
    python tests/runtime/hip_signatures.py /tmp/w/rocm/bindings
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

DATA = Path(__file__).with_name("hip_signatures.json")
CALLS = {
    "hip": ["hipGetErrorName", "hipGetErrorString", "hipInit", "hipGetDeviceCount",
            "hipGetDevice", "hipGetDeviceProperties", "hipModuleLoadData",
            "hipModuleGetFunction", "hipModuleLaunchKernel", "hipDeviceSynchronize",
            "hipMalloc", "hipFree", "hipMemcpy", "hipStreamCreate", "hipStreamDestroy"],
    "hiprtc": ["hiprtcGetErrorString", "hiprtcCreateProgram", "hiprtcCompileProgram",
               "hiprtcGetProgramLogSize", "hiprtcGetProgramLog", "hiprtcGetCodeSize",
               "hiprtcGetCode", "hiprtcDestroyProgram"],
}


def parse(stub: str, names: list[str]) -> dict[str, dict]:
    """``name -> {"params": [...], "returns": [...]}`` from a hip-python ``.pyi``."""
    out = {}
    for name in names:
        found = re.search(rf"^def {name}\((.*?)\):\n(.*?)^    \"\"\"", stub, re.S | re.M)
        if found is None:
            raise SystemExit(f"{name} is not in the stub")
        params = [p.strip() for p in found.group(1).split(",") if p.strip()]
        doc = found.group(2)
        size = re.search(r"A :py:obj:`~\.tuple` of size (\d+)", doc)
        returns = []
        if size:
            tail = doc[size.end():]
            returns = re.findall(r"^\s*\* :py:obj:`~\.([\w.]+)`", tail, re.M)[:int(size.group(1))]
            if len(returns) != int(size.group(1)):
                raise SystemExit(f"{name}: could not read its {size.group(1)} return types")
        else:
            single = re.search(r"Returns:\s*\n\s*:py:obj:`~\.([\w.]+)`", doc)
            returns = [single.group(1)] if single else []
        out[name] = {"params": params, "returns": returns}
    return out


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    data = {mod: parse((folder / f"{mod}.pyi").read_text(), names)
            for mod, names in CALLS.items()}
    DATA.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {DATA}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
