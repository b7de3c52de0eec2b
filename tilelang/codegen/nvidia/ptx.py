"""The NVIDIA code generator: thread IR → LLVM IR (llvmlite) → PTX (LLVM's NVPTX back end).

Public API::

    emit_llvm(fn, target) -> str     # LLVM IR text of the kernel
    emit_ptx(fn, target) -> str      # PTX text for ptxas / the driver

``fn`` is a thread-IR ``Function`` (after the ``nvidia`` pass pipeline) with the
attributes ``num_threads`` and ``shared_bytes``; ``target`` is ``"sm_80"`` or
``"sm_90a"``. The kernel's parameters are ``codegen.abi.kernel_abi``'s. The
kernel ABI, the shared-memory scheme and the accuracy of every
math function are documented in ``docs/codegen-nvidia.md``.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass
from typing import Any

import llvmlite.binding as llvm
from llvmlite import ir

from tilelang.codegen.nvidia import llvm_atomics
from tilelang.codegen.abi import kernel_abi, tma_boxes
from tilelang.codegen.nvidia import llvm_debug
from tilelang.codegen.nvidia import llvm_hopper
from tilelang.codegen.nvidia import llvm_ops
from tilelang.codegen.nvidia import llvm_roles
from tilelang.codegen.nvidia import llvm_special
from tilelang.codegen.nvidia import llvm_while
from tilelang.codegen.nvidia import llvm_thread
from tilelang.codegen.nvidia import llvm_tma
from tilelang.codegen.nvidia.llvm_math import I8, I32, llvm_type
from tilelang.codegen.nvidia.llvm_ops import KernelEmitter, TensorArgs
from tilelang.errors import CompileError
from tilelang.hardware import max_shared_bytes
from tilelang.ir.types import DType, ScalarType, TensorType
from tilelang.ir.values import Function, Loc

__all__ = ["TARGETS", "emit_llvm", "emit_ptx", "llvm_to_ptx"]

TRIPLE = "nvptx64-nvidia-cuda"
SHARED_SYMBOL = "tl_shared"


@dataclass(frozen=True)
class NvidiaTarget:
    """An NVIDIA target: LLVM cpu and features, and the per-block limits."""

    cpu: str
    features: str
    max_shared_bytes: int


TARGETS: dict[str, NvidiaTarget] = {
    "sm_80": NvidiaTarget("sm_80", "+ptx80", max_shared_bytes("sm_80")),
    "sm_90a": NvidiaTarget("sm_90a", "+ptx80", max_shared_bytes("sm_90a")),
}

HANDLERS = {**llvm_ops.HANDLERS, **llvm_thread.HANDLERS, **llvm_debug.HANDLERS,
            **llvm_hopper.HANDLERS, **llvm_tma.HANDLERS, **llvm_roles.HANDLERS,
            **llvm_special.HANDLERS, **llvm_while.HANDLERS,
            **llvm_atomics.HANDLERS}


def _uses_wgmma(fn: Function) -> bool:
    from tilelang.ir import hopper_ops, ops as o
    return any(isinstance(op, hopper_ops.WgmmaDescOp) for op in o.walk(fn.body))


def _target(target: str) -> NvidiaTarget:
    try:
        return TARGETS[target]
    except KeyError:
        raise CompileError(f"unknown NVIDIA target {target!r}",
                           hint=f"use one of {', '.join(TARGETS)}") from None


# -- LLVM machinery -------------------------------------------------------------------

_LOCK = threading.Lock()   # llvmlite's global LLVM context is not thread safe


@functools.lru_cache(maxsize=None)
def _target_machine(target: str) -> Any:
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    t = _target(target)
    return llvm.Target.from_triple(TRIPLE).create_target_machine(
        cpu=t.cpu, features=t.features, opt=3, codemodel="default")


def llvm_to_ptx(text: str, target: str, *, opt_level: int = 3) -> str:
    """Parse, verify and optimize LLVM IR text, then emit PTX for ``target``."""
    tm = _target_machine(target)
    with _LOCK:
        try:
            mod = llvm.parse_assembly(text)
            mod.verify()
        except RuntimeError as e:
            raise CompileError(f"LLVM rejected the generated IR: {e}",
                               hint="a bug in the NVIDIA code generator; report it with "
                                    "the kernel's thread IR") from None
        if opt_level > 0:
            pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
            pb = llvm.create_pass_builder(tm, pto)
            pb.getModulePassManager().run(mod, pb)
        return tm.emit_assembly(mod)


# -- module construction --------------------------------------------------------------

def _scalar_param_type(dt: DType) -> ir.Type:
    return I8 if dt.is_bool else llvm_type(dt)


def build_module(fn: Function, target: str) -> ir.Module:
    """The LLVM module of one kernel (see the module docstring and the ABI doc)."""
    t = _target(target)
    abi = kernel_abi(fn)
    if abi.shared_bytes > t.max_shared_bytes:
        raise CompileError(f"the kernel needs {abi.shared_bytes} bytes of shared memory; "
                           f"{target} has at most {t.max_shared_bytes} per block",
                           kernel=fn.name, loc=fn.loc,
                           hint="use smaller tiles or fewer pipeline stages")
    llvm_roles.check_target(fn, target, abi.num_threads)
    module = ir.Module(name=fn.name)
    module.triple = TRIPLE
    module.data_layout = str(_target_machine(target).target_data)
    types: list[ir.Type] = []
    boxes = tma_boxes(fn)
    for p in fn.params:
        if isinstance(p.type, TensorType):
            index = ir.IntType(64) if p.type.wide else I32      # the tensor's index dtype
            types += [ir.PointerType(addrspace=1)] + [index] * (2 * p.type.rank)
            if p.name in boxes:
                types.append(ir.PointerType())   # the grid-constant tensor map (llvm_tma)
        else:
            types.append(_with_context(fn, lambda: _scalar_param_type(p.type.dtype)))
    llfn = ir.Function(module, ir.FunctionType(ir.VoidType(), types), fn.name)
    llfn.calling_convention = "ptx_kernel"
    # llvmlite knows only LLVM's enum attributes; this string one is NVPTX's block size.
    set.add(llfn.attributes, f'"nvvm.maxntid"="{abi.num_threads}"')
    min_ctas = llvm_roles.needs_min_ctas(fn)
    if min_ctas:   # .minnctapersm 1: ptxas then knows the register count setmaxnreg starts at
        set.add(llfn.attributes, '"nvvm.minctasm"="1"')
    tensors: dict[str, TensorArgs] = {}
    scalars: dict[str, ir.Value] = {}
    tensor_maps: dict[str, ir.Value] = {}
    args = iter(llfn.args)
    for p in fn.params:
        if isinstance(p.type, TensorType):
            ptr = next(args)
            ptr.name = p.name
            dims = [next(args) for _ in range(p.type.rank)]
            strides = [next(args) for _ in range(p.type.rank)]
            for d, (a, s) in enumerate(zip(dims, strides)):
                a.name, s.name = f"{p.name}.shape{d}", f"{p.name}.stride{d}"
            tensors[p.name] = TensorArgs(ptr, dims, strides)
            if p.name in boxes:
                tmap = tensor_maps[p.name] = next(args)
                tmap.name = f"{p.name}.tmap"
                llvm_tma.tensor_map_param(tmap)
        else:
            a = next(args)
            a.name = p.name
            scalars[p.name] = a
    smem = None
    if abi.shared_bytes > 0:
        smem = ir.GlobalVariable(module, ir.ArrayType(I8, 0), SHARED_SYMBOL, addrspace=3)
        smem.linkage = "external"
        # wgmma's swizzles act on absolute shared-address bits 4-9: its operands need
        # the 1024-byte alignment their offsets were planned with
        smem.align = 1024 if _uses_wgmma(fn) or llvm_tma.uses_tma(fn) else 16
        # Seen through an opaque pointer: llvmlite types the global as [0 x i8]*.
        smem = ir.FormattedConstant(ir.PointerType(addrspace=3), smem.get_reference())
    _annotate(module, llfn, abi.num_threads, min_ctas)
    debug = _DebugInfo(module, fn, llfn) if _first_loc(fn) is not None else None
    emitter = KernelEmitter(fn, llfn, handlers=HANDLERS, tensors=tensors, scalars=scalars,
                            smem=smem, num_threads=abi.num_threads, debug=debug)
    emitter.tensor_maps = tensor_maps
    for p in fn.params:   # bool arguments arrive as one byte
        if isinstance(p.type, ScalarType) and p.type.dtype.is_bool:
            emitter.values[p.name] = emitter.b.icmp_unsigned("!=", scalars[p.name],
                                                             ir.Constant(I8, 0))
    emitter.run()
    return module


def _with_context(fn: Function, f: Any) -> Any:
    try:
        return f()
    except CompileError as e:
        raise e.with_context(kernel=fn.name, loc=fn.loc) from None


def _annotate(module: ir.Module, llfn: ir.Function, num_threads: int,
              min_ctas: bool = False) -> None:
    # ptx_kernel, "nvvm.maxntid" and "nvvm.minctasm" are what LLVM >= 20 reads; the
    # annotations are what older LLVMs read (newer ones upgrade "kernel" and ignore
    # the rest).
    md = module.add_named_metadata("nvvm.annotations")
    ref = ir.FormattedConstant(ir.PointerType(), llfn.get_reference())
    md.add(module.add_metadata([ref, "kernel", ir.Constant(I32, 1)]))
    md.add(module.add_metadata([ref, "maxntidx", ir.Constant(I32, num_threads)]))
    if min_ctas:
        md.add(module.add_metadata([ref, "minctasm", ir.Constant(I32, 1)]))


def _first_loc(fn: Function) -> Loc | None:
    if fn.loc is not None:
        return fn.loc
    from tilelang.ir.ops import walk
    return next((op.loc for op in walk(fn.body) if op.loc is not None), None)


class _DebugInfo:
    """Line tables: a DISubprogram for the kernel and a DILocation per op location."""

    def __init__(self, module: ir.Module, fn: Function, llfn: ir.Function) -> None:
        self.module = module
        first = _first_loc(fn)
        assert first is not None
        self.main = first.file
        self.files: dict[str, Any] = {}
        self.scopes: dict[str, Any] = {}
        # add_debug_info hashes its operands to find an equal node: one lookup per op
        # in a kernel of thousands, for a few hundred distinct locations
        self.locations: dict[Loc, Any] = {}
        self.cu = module.add_debug_info("DICompileUnit", {
            "language": ir.DIToken("DW_LANG_Python"), "file": self.file(first.file),
            "producer": "tilelang", "isOptimized": True, "runtimeVersion": 0,
            # NVPTX's equivalent of nvcc -lineinfo: .file/.loc and no DWARF sections.
            "emissionKind": ir.DIToken("DebugDirectivesOnly"),
        }, is_distinct=True)
        module.add_named_metadata("llvm.dbg.cu", self.cu)
        flags = module.add_named_metadata("llvm.module.flags")
        flags.add(module.add_metadata([ir.Constant(I32, 2), "Debug Info Version",
                                       ir.Constant(I32, 3)]))
        flags.add(module.add_metadata([ir.Constant(I32, 2), "Dwarf Version",
                                       ir.Constant(I32, 2)]))
        sp_type = module.add_debug_info("DISubroutineType", {"types": module.add_metadata([])})
        self.sp = module.add_debug_info("DISubprogram", {
            "name": fn.name, "scope": self.file(first.file), "file": self.file(first.file),
            "line": first.line, "type": sp_type, "scopeLine": first.line,
            "spFlags": ir.DIToken("DISPFlagDefinition | DISPFlagOptimized"), "unit": self.cu,
        }, is_distinct=True)
        llfn.set_metadata("dbg", self.sp)
        self.scopes[first.file] = self.sp

    def file(self, path: str) -> Any:
        f = self.files.get(path)
        if f is None:
            f = self.files[path] = self.module.add_debug_info("DIFile", {
                "filename": os.path.basename(path), "directory": os.path.dirname(path)})
        return f

    def scope(self, path: str) -> Any:
        # Ops from another file (an inlined @tl.func) keep their own file name.
        s = self.scopes.get(path)
        if s is None:
            s = self.scopes[path] = self.module.add_debug_info("DILexicalBlockFile", {
                "scope": self.sp, "file": self.file(path), "discriminator": 0})
        return s

    def __call__(self, loc: Loc | None) -> Any:
        if loc is None:
            return None
        node = self.locations.get(loc)
        if node is None:
            node = self.locations[loc] = self.module.add_debug_info("DILocation", {
                "line": loc.line, "column": loc.col, "scope": self.scope(loc.file)})
        return node


# -- the API ----------------------------------------------------------------------------

def emit_llvm(fn: Function, target: str) -> str:
    """The LLVM IR text of the thread-IR kernel ``fn`` for ``target`` (before optimization)."""
    with _LOCK:
        return str(build_module(fn, target))


def emit_ptx(fn: Function, target: str) -> str:
    """The PTX of the thread-IR kernel ``fn`` for ``target`` (``sm_80`` or ``sm_90a``)."""
    return llvm_to_ptx(emit_llvm(fn, target), target)
