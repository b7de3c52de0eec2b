"""Compiling a sweep's candidates in parallel worker processes.

A worker re-imports the kernel from its file (``kernel.source.file``) and name,
so the kernel must be a module-level ``@tl.kernel`` (or ``@tl.autotune``) of a
plain Python file; the examples are. It compiles one specialization per task
through the target's ``compile``, which writes the disk cache: the tuning
process then finds each candidate there and only loads it. A ``CompileError``
prunes the candidate with the compiler's message as its reason (a shared-memory
budget exceeded, an unsupported shape, ...).

Tasks and results cross processes as plain values (strings, numbers): the
signature in ``ParamSpec`` text form (``A=bf16[2]:16``) and the constexprs.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Sequence

from tilelang.frontend.source import import_file

_LOADED: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class CompileTask:
    """One candidate to compile: where the kernel lives and its specialization."""

    file: str
    name: str
    signature: str
    constexprs: tuple[tuple[str, Any], ...]
    num_warps: int | None
    num_stages: int | None
    target: str


@dataclass(frozen=True)
class CompileOutcome:
    """``ok`` or the reason it failed, and the seconds it took."""

    ok: bool
    reason: str | None
    seconds: float


def load_kernel_from_file(file: str, name: str) -> Any:
    """The ``Kernel`` called ``name`` in ``file`` (through an autotuner wrapping it)."""
    cached = _LOADED.get((file, name))
    if cached is not None:
        return cached
    from tilelang.runtime.kernel import Kernel
    module = import_file(Path(file), "tune")
    obj = getattr(module, name, None)
    kernel = getattr(obj, "kernel", obj)
    if not isinstance(kernel, Kernel):
        raise ImportError(f"{file} has no module-level kernel named {name!r}")
    _LOADED[(file, name)] = kernel
    return kernel


def compile_one(task: CompileTask, kernel: Any = None) -> CompileOutcome:
    """Compile ``task`` (re-importing the kernel unless given); never raises for a
    compile error, which becomes the outcome's reason."""
    from tilelang.errors import TileLangError
    from tilelang.frontend.signature import parse_signature
    from tilelang.runtime.targets import get_target
    t0 = time.perf_counter()
    try:
        if kernel is None:
            kernel = load_kernel_from_file(task.file, task.name)
        params = parse_signature(kernel, task.signature)
        spec = kernel.make_specialization(params, dict(task.constexprs), task.num_warps,
                                          task.num_stages)
        get_target(task.target).compile(kernel, spec)
    except TileLangError as e:
        return CompileOutcome(False, classify(e), time.perf_counter() - t0)
    return CompileOutcome(True, None, time.perf_counter() - t0)


def classify(error: Exception) -> str:
    """A compile error as a one-line reason, prefixed by the budget it broke when known."""
    message = getattr(error, "message", None) or str(error)
    message = " ".join(message.split())
    if "bytes of shared memory" in message:
        return f"shared-memory budget: {message}"
    if "register" in message.lower():
        return f"register budget: {message}"
    return f"compile error: {message}"


def _context() -> Any:
    """``fork`` where there is one (workers start in milliseconds and need no
    ``if __name__ == "__main__"`` guard in the user's script; they only compile, never
    touch a CUDA context), else ``spawn``."""
    import multiprocessing
    return get_context("fork" if "fork" in multiprocessing.get_all_start_methods()
                       else "spawn")


def compile_candidates(tasks: Sequence[CompileTask], jobs: int, kernel: Any = None,
                       on_done: Callable[[int, CompileOutcome], None] | None = None
                       ) -> list[CompileOutcome]:
    """Compile ``tasks``; with ``jobs > 1`` in that many worker processes (each
    re-imports the kernel from its file), else here with ``kernel``.
    ``on_done(index, outcome)`` is called as each finishes."""
    outcomes: list[CompileOutcome | None] = [None] * len(tasks)
    if jobs <= 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            outcomes[i] = compile_one(task, kernel)
            if on_done:
                on_done(i, outcomes[i])  # type: ignore[arg-type]
        return outcomes  # type: ignore[return-value]
    workers = min(jobs, len(tasks))
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        futures = {pool.submit(compile_one, task): i for i, task in enumerate(tasks)}
        from concurrent.futures import as_completed
        for future in as_completed(futures):
            i = futures[future]
            try:
                outcomes[i] = future.result()
            except Exception as e:  # a worker that died or could not import the kernel
                outcomes[i] = CompileOutcome(False, f"worker failed: {type(e).__name__}: {e}",
                                             0.0)
            if on_done:
                on_done(i, outcomes[i])  # type: ignore[arg-type]
    return outcomes  # type: ignore[return-value]


__all__ = ["CompileOutcome", "CompileTask", "classify", "compile_candidates", "compile_one",
           "load_kernel_from_file"]
