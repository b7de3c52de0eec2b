"""Compiling a sweep's candidates on a Ray cluster (the ``ray`` extra).

The same contract as ``workers.compile_candidates``: tasks in, one
``CompileOutcome`` per task out (in order), ``on_done(index, outcome)`` as each
finishes. The pool is a set of Ray actors (``num_cpus=1`` each), every one
running ``workers.compile_one``, which re-imports the kernel from its file, so the
file must be readable at the same path on the workers (a local cluster, or a shared
checkout). A worker that dies (its process killed, its node lost) is replaced by a
fresh actor and its task is sent again, up to ``retries`` times per task; only then
does the task become a ``worker failed`` outcome. Compile errors are outcomes, never
retried.

``address`` is what ``ray.init`` takes (``"auto"``, ``"ray://host:10001"``, ...); when
Ray is already initialized in this process that connection is used as it is.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from tilelang.errors import LaunchError
from tilelang.autotune.workers import CompileOutcome, CompileTask, compile_one


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise LaunchError("a Ray sweep needs Ray installed",
                          hint="pip install 'tilelang[ray]'") from None
    return ray


def connect(address: str | None) -> Any:
    """``ray``, connected to ``address`` unless this process already is."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    return ray


class _CompileWorker:
    """One Ray actor: compiles tasks one at a time."""

    def pid(self) -> int:
        import os
        return os.getpid()

    def compile(self, task: CompileTask) -> CompileOutcome:
        return compile_one(task)


class RayCompilePool:
    """``workers`` compile actors on the cluster at ``address``; ``map`` compiles tasks."""

    def __init__(self, address: str | None = "auto", workers: int | None = None,
                 retries: int = 3) -> None:
        self.ray = connect(address)
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, workers if workers is not None else cpus)
        self.retries = retries
        self._actor_class = self.ray.remote(num_cpus=1, max_restarts=0)(_CompileWorker)
        self.actors: list[Any] = []
        self.replaced = 0   # actors that died and were replaced

    def _new_actor(self) -> Any:
        return self._actor_class.remote()

    def map(self, tasks: Sequence[CompileTask],
            on_done: Callable[[int, CompileOutcome], None] | None = None
            ) -> list[CompileOutcome]:
        """Compile every task; each actor takes the next task when it finishes one."""
        ray = self.ray
        outcomes: list[CompileOutcome | None] = [None] * len(tasks)
        queue = list(range(len(tasks)))
        tries = [0] * len(tasks)
        self.actors = [self._new_actor() for _ in range(min(self.workers, len(tasks)))]
        pending: dict[Any, tuple[int, int]] = {}   # ref -> (task index, actor slot)

        def submit(slot: int) -> None:
            if queue:
                i = queue.pop(0)
                tries[i] += 1
                pending[self.actors[slot].compile.remote(tasks[i])] = (i, slot)

        for slot in range(len(self.actors)):
            submit(slot)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                ref = ready[0]
                i, slot = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as e:
                    # the worker died under this task: a fresh actor takes its slot
                    self.actors[slot] = self._new_actor()
                    self.replaced += 1
                    if tries[i] <= self.retries:
                        queue.insert(0, i)
                        submit(slot)
                        continue
                    outcome = CompileOutcome(False, f"worker failed: {type(e).__name__} "
                                             f"after {tries[i]} tries", 0.0)
                except ray.exceptions.RayTaskError as e:   # could not import the kernel
                    outcome = CompileOutcome(False, f"worker failed: {e.cause!r}", 0.0)
                outcomes[i] = outcome
                if on_done:
                    on_done(i, outcome)
                submit(slot)
        finally:
            for actor in self.actors:
                ray.kill(actor, no_restart=True)
        return outcomes  # type: ignore[return-value]


def compile_candidates(tasks: Sequence[CompileTask], address: str | None,
                       workers: int | None = None,
                       on_done: Callable[[int, CompileOutcome], None] | None = None
                       ) -> list[CompileOutcome]:
    """``workers.compile_candidates`` on the Ray cluster at ``address``."""
    return RayCompilePool(address, workers).map(tasks, on_done)


__all__ = ["RayCompilePool", "compile_candidates", "connect"]
