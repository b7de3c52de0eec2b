"""A sweep on a Ray cluster (the ``ray`` extra): compiling on CPU workers,
checking and timing on GPU workers.

Two pools of Ray actors, each running one task at a time and taking the next
when it finishes:

* compile workers (``num_cpus=1`` each) run ``workers.compile_one``: the same
  contract as ``workers.compile_candidates`` -- tasks in, one ``CompileOutcome``
  per task out (in order), ``on_done(index, outcome)`` as each finishes;
* benchmark workers run ``measure.measure_candidate`` on the arguments of the
  launch (shipped through Ray's object store) with the tuner's benchmarker, or
  the target's default one built on the worker. For a GPU target each asks for
  ``num_gpus=1``, so Ray places one per GPU and the timings come from the GPU
  the worker was given; for a CPU target (``emulate:*``, ``interp``) ``num_cpus=1``.

Workers re-import the kernel from its file, so the file must be readable at the
same path on the workers (a local cluster, or a shared checkout). A worker that
dies (its process killed, its node lost) is replaced by a fresh actor and its
task is sent again, up to ``retries`` times per task; only then does the task
become a ``worker failed`` outcome. Compile errors and wrong results are
outcomes, never retried.

``address`` is what ``ray.init`` takes (``"auto"``, ``"ray://host:10001"``, ...); when
Ray is already initialized in this process that connection is used as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

from tilelang.errors import LaunchError
from tilelang.autotune.measure import MeasureCheck, MeasureOutcome, measure_candidate
from tilelang.autotune.workers import (CompileOutcome, CompileTask, compile_one,
                                       load_kernel_from_file)


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


@dataclass(frozen=True)
class MeasureTask:
    """One compiled candidate to check and time on a benchmark worker."""

    file: str
    name: str
    grid: Any
    arguments: Mapping[str, Any]
    launch_kwargs: Mapping[str, Any]
    target: str
    check: MeasureCheck
    benchmarker: Any = None     # None: the target's default, built on the worker


def measure_one(task: MeasureTask) -> MeasureOutcome:
    """``measure_candidate`` for ``task``, re-importing its kernel; the outcome names
    the device it was timed on."""
    from tilelang.autotune.bench import default_benchmarker
    kernel = load_kernel_from_file(task.file, task.name)
    bench = task.benchmarker or default_benchmarker(task.target)
    outcome = measure_candidate(kernel, task.grid, task.arguments, task.launch_kwargs,
                                task.target, bench, task.check)
    return replace(outcome, device=bench.device(task.target))


class _Worker:
    """One Ray actor: compiles or measures tasks one at a time."""

    def pid(self) -> int:
        import os
        return os.getpid()

    def gpu_ids(self) -> list[int]:
        import ray
        return [int(g) for g in ray.get_gpu_ids()]

    def compile(self, task: CompileTask) -> CompileOutcome:
        return compile_one(task)

    def measure(self, task: MeasureTask) -> MeasureOutcome:
        return measure_one(task)

    def device(self, target: str, benchmarker: Any) -> str:
        from tilelang.autotune.bench import default_benchmarker
        return (benchmarker or default_benchmarker(target)).device(target)


class RayPool:
    """``workers`` actors on the cluster at ``address`` (each with ``num_gpus`` GPUs, or
    one CPU when 0); ``run(method, tasks)`` sends each task to ``_Worker.method``."""

    def __init__(self, address: str | None = "auto", workers: int | None = None,
                 retries: int = 3, num_gpus: int = 0) -> None:
        self.ray = connect(address)
        resources = self.ray.cluster_resources()
        if num_gpus:
            have = int(resources.get("GPU", 0))
            if have < num_gpus:
                raise LaunchError(f"the Ray cluster has {have} GPUs; timing a GPU target "
                                  f"needs workers with {num_gpus}",
                                  hint="add GPU nodes to the cluster, or tune on an "
                                       "emulate:* target")
            capacity = have // num_gpus
        else:
            capacity = int(resources.get("CPU", 1))
        self.workers = max(1, workers if workers is not None else capacity)
        self.retries = retries
        options = {"num_gpus": num_gpus} if num_gpus else {"num_cpus": 1}
        self._actor_class = self.ray.remote(max_restarts=0, **options)(_Worker)
        self.actors: list[Any] = []
        self.replaced = 0   # actors that died and were replaced

    def _new_actor(self) -> Any:
        return self._actor_class.remote()

    def run(self, method: str, tasks: Sequence[Any],
            on_done: Callable[[int, Any], None] | None = None,
            failed: Callable[[str], Any] = lambda reason: CompileOutcome(False, reason, 0.0)
            ) -> list[Any]:
        """Every task's outcome, in order; ``failed(reason)`` stands for a task whose
        worker died more than ``retries`` times or could not run it."""
        ray = self.ray
        outcomes: list[Any] = [None] * len(tasks)
        queue = list(range(len(tasks)))
        tries = [0] * len(tasks)
        self.actors = [self._new_actor() for _ in range(min(self.workers, len(tasks)))]
        pending: dict[Any, tuple[int, int]] = {}   # ref -> (task index, actor slot)

        def submit(slot: int) -> None:
            if queue:
                i = queue.pop(0)
                tries[i] += 1
                ref = getattr(self.actors[slot], method).remote(tasks[i])
                pending[ref] = (i, slot)

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
                    outcome = failed(f"worker failed: {type(e).__name__} after {tries[i]} "
                                     f"tries")
                except ray.exceptions.RayTaskError as e:   # could not import the kernel
                    outcome = failed(f"worker failed: {e.cause!r}")
                outcomes[i] = outcome
                if on_done:
                    on_done(i, outcome)
                submit(slot)
        finally:
            for actor in self.actors:
                ray.kill(actor, no_restart=True)
        return outcomes


class RayCompilePool(RayPool):
    """Compile workers; ``map`` compiles tasks."""

    def map(self, tasks: Sequence[CompileTask],
            on_done: Callable[[int, CompileOutcome], None] | None = None
            ) -> list[CompileOutcome]:
        return self.run("compile", tasks, on_done)


class RayBenchPool(RayPool):
    """Benchmark workers for ``target``: one GPU each for a GPU target, else one CPU."""

    def __init__(self, address: str | None, target: str, workers: int | None = None,
                 retries: int = 3, num_gpus: int | None = None) -> None:
        from tilelang.runtime.targets import GPU_TARGETS
        gpus = (1 if target in GPU_TARGETS else 0) if num_gpus is None else num_gpus
        super().__init__(address, workers, retries, gpus)

    def map(self, tasks: Sequence[MeasureTask],
            on_done: Callable[[int, MeasureOutcome], None] | None = None
            ) -> list[MeasureOutcome]:
        return self.run("measure", tasks, on_done,
                        failed=lambda reason: MeasureOutcome("run-failed", reason))


def remote_device(address: str | None, target: str, benchmarker: Any = None) -> str:
    """The device a benchmark worker for ``target`` times on (its benchmarker's name)."""
    pool = RayBenchPool(address, target, workers=1)
    actor = pool._new_actor()
    try:
        return pool.ray.get(actor.device.remote(target, benchmarker))
    finally:
        pool.ray.kill(actor, no_restart=True)


def compile_candidates(tasks: Sequence[CompileTask], address: str | None,
                       workers: int | None = None,
                       on_done: Callable[[int, CompileOutcome], None] | None = None
                       ) -> list[CompileOutcome]:
    """``workers.compile_candidates`` on the Ray cluster at ``address``."""
    return RayCompilePool(address, workers).map(tasks, on_done)


def measure_candidates(tasks: Sequence[MeasureTask], address: str | None, target: str,
                       workers: int | None = None,
                       on_done: Callable[[int, MeasureOutcome], None] | None = None
                       ) -> list[MeasureOutcome]:
    """Check and time each task on the cluster's benchmark workers for ``target``."""
    return RayBenchPool(address, target, workers).map(tasks, on_done)


__all__ = ["MeasureTask", "RayBenchPool", "RayCompilePool", "RayPool", "compile_candidates",
           "connect", "measure_candidates", "measure_one", "remote_device"]
