"""Running hand-written PTX in the interpreter: parameters packed as a driver would
receive them (one pointer per parameter), numpy arrays mapped at their addresses."""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from tilelang.emulator.ptx.launch import PtxDevice

HEADER = ".version 8.0\n.target sm_80\n.address_size 64\n"


def run_ptx(body: str, args: list[Any], threads: int = 32, grid: tuple = (1, 1, 1),
            shared: int = 0, params: str = "", name: str = "k", decls: str = "") -> None:
    """Run ``.entry name(params) { body }``; ``args``: numpy arrays (passed as u64
    addresses) or ``(ctypes type, value)`` scalars, in parameter order."""
    text = f"{HEADER}{decls}\n.visible .entry {name}(\n{params}\n)\n{{\n{body}\n}}\n"
    dev = PtxDevice()
    keep, pointers = [], []
    for a in args:
        if isinstance(a, np.ndarray):
            dev.map_host(a, "arg")
            v = ctypes.c_uint64(a.ctypes.data)
        else:
            ctype, value = a
            v = ctype(value)
        keep.append(v)
        pointers.append(ctypes.addressof(v))
    arr = (ctypes.c_void_p * max(len(pointers), 1))(*pointers)
    module = dev.load(text)
    dev.launch(dev.function(module, name), grid, (threads, 1, 1), shared,
               ctypes.addressof(arr))


def params(*decls: str) -> str:
    """``.param`` declarations ``k_param_0 ...`` of the given PTX types."""
    return ",\n".join(f".param .{t} k_param_{i}" for i, t in enumerate(decls))
