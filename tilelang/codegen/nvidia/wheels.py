"""Finding the CUDA tools (ptxas, nvdisasm, cuobjdump) that NVIDIA's pip wheels carry.

The wheels install into the ``nvidia`` namespace package, each tool under
``<component>/bin`` (``cuda_nvcc/bin`` in CUDA 12 wheels, ``cu13/bin`` in CUDA 13
ones), so the search globs every component's ``bin`` folder.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def executable(p: Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def wheel_binary(name: str) -> Path | None:
    """``*/bin/<name>`` inside the ``nvidia`` namespace package, newest layout first."""
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for candidate in sorted(Path(root).glob(f"*/bin/{name}"), reverse=True):
            if executable(candidate):
                return candidate
    return None
