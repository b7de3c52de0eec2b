"""``@tl.autotune``: sweep a kernel's configurations once per key, launch the best.

    @tl.autotune(configs=[tl.Config(BM=128, BN=128, num_warps=8), ...],
                 key=["A.shape[0]", "B.shape[1]"])
    @tl.kernel
    def matmul(A, B, C, BM: tl.constexpr, BN: tl.constexpr, ...): ...

    matmul[grid](a, b, c)   # the first launch per key sweeps; later ones launch the best

A sweep: the candidates (``configs``, or every combination of ``space``) go
through ``space.static_prune`` and the ``prune=`` hook, compile in parallel
worker processes (``workers``; a compile error prunes with its reason), then
each survivor runs on fresh copies of the launch's arguments: first checked
against ``reference`` when one is given, then timed by the benchmarker
(``measure``; with ``ray=``, compiling and timing run on a Ray cluster's CPU
and GPU workers, ``ray_backend``). The
fastest correct one is stored on disk (``store``) and used from then on, in this
process and in the next one.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from tilelang.errors import LaunchError
from tilelang.autotune import store
from tilelang.autotune.bench import Benchmarker, default_benchmarker
from tilelang.autotune.space import (
    Config, apply_prune_hook, configs_digest, expand_space, key_values, static_prune, unique,
)
from tilelang.autotune.measure import (MeasureCheck, MeasureOutcome, copy_arguments,
                                       measure_candidate)
from tilelang.autotune.workers import CompileTask, compile_candidates

LAUNCH_KEYWORDS = ("target", "stream", "num_warps", "num_stages")


@dataclass
class Row:
    """One candidate's fate: ``ok``, ``pruned``, ``compile-failed``, ``wrong`` or
    ``run-failed``, with the reason and (for ``ok``) the median time."""

    config: Config
    status: str
    reason: str | None = None
    median_ms: float | None = None
    times_ms: tuple[float, ...] = ()
    compile_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"config": self.config.as_json(), "label": self.config.label(),
                "status": self.status, "reason": self.reason, "median_ms": self.median_ms,
                "times_ms": list(self.times_ms), "compile_s": self.compile_s}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Row":
        return cls(Config.from_json(data["config"]), data["status"], data.get("reason"),
                   data.get("median_ms"), tuple(data.get("times_ms") or ()),
                   data.get("compile_s"))


@dataclass
class TuneResult:
    """A sweep's outcome (or one read back from disk: ``from_disk``)."""

    kernel: str
    target: str
    device: str
    timing: str  # the benchmarker's kind: "gpu", "emulator", "interpreter"
    key: dict[str, Any]
    best: Config
    rows: list[Row] = field(default_factory=list)
    from_disk: bool = False

    @property
    def best_ms(self) -> float | None:
        return next((r.median_ms for r in self.rows if r.config == self.best), None)

    def as_json(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "target": self.target, "device": self.device,
                "timing": self.timing, "key": self.key, "best": self.best.as_json(),
                "best_ms": self.best_ms, "rows": [r.as_json() for r in self.rows]}


class TuningError(LaunchError):
    """No candidate survived a sweep."""


class Autotuner:
    """A kernel with a tuning sweep in front of its launch: ``tuned[grid](*args)``."""

    def __init__(self, kernel: Any, configs: Sequence[Config] | None = None,
                 space: Mapping[str, Sequence[Any]] | None = None, key: Sequence[str] = (),
                 prune: Callable[..., Any] | None = None,
                 reference: Callable[..., Any] | None = None, rtol: float = 1e-2,
                 atol: float = 0.0, outputs: Sequence[str] | None = None,
                 benchmarker: Benchmarker | None = None, jobs: int | None = None,
                 progress: bool | None = None, cache_results: bool = True,
                 mma_tiles: Sequence[str] | None = None, ray: str | None = None) -> None:
        from tilelang.runtime.kernel import Kernel
        if not isinstance(kernel, Kernel):
            raise TypeError("@tl.autotune goes above @tl.kernel")
        if (configs is None) == (space is None):
            raise TypeError("@tl.autotune needs configs=[tl.Config(...), ...] or space=dict(...)")
        self.kernel = kernel
        self.name = kernel.name
        self.source = kernel.source
        self.configs = unique(configs) if configs is not None else expand_space(space or {})
        if not self.configs:
            raise TypeError("@tl.autotune: no configurations to try")
        for c in self.configs:
            unknown = sorted(set(c.kwargs) - set(kernel.constexpr_names))
            if unknown:
                raise LaunchError(f"autotune config {c!r} sets {unknown}, not constexprs",
                                  kernel=kernel.name, loc=kernel.source.def_loc,
                                  hint=f"constexprs: {list(kernel.constexpr_names)}")
        self.key = tuple(key)
        self.prune = prune
        self.reference = reference
        self.rtol, self.atol = rtol, atol
        self.outputs = tuple(outputs) if outputs is not None else None
        self.benchmarker = benchmarker
        self.jobs = jobs
        self.progress = progress
        self.cache_results = cache_results
        self.mma_tiles = mma_tiles
        self.ray = ray   # a Ray address: compile on that cluster (ray_backend)
        self.tuned: dict[str, TuneResult] = {}  # per target and key, this process
        self.__doc__ = kernel.__doc__
        self.__wrapped__ = kernel

    def __repr__(self) -> str:
        return f"<tl.autotune of {self.kernel!r}, {len(self.configs)} configs>"

    def __getitem__(self, grid: Any) -> Callable[..., None]:
        return lambda *args, **kwargs: self.launch(grid, args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.kernel(*args, **kwargs)  # raises the kernel's "launch with a grid" error

    # -- launching ----------------------------------------------------------------------

    def launch(self, grid: Any, args: tuple, kwargs: dict[str, Any]) -> None:
        """Tune for this launch's key if needed, then launch the best configuration."""
        kwargs = dict(kwargs)
        options = {k: kwargs.pop(k) for k in LAUNCH_KEYWORDS if k in kwargs}
        for k in ("num_warps", "num_stages"):
            if k in options and any(getattr(c, k) is not None for c in self.configs):
                raise LaunchError(f"{k} is tuned by @tl.autotune; do not pass it",
                                  kernel=self.name, loc=self.source.def_loc)
        result = self.tune(grid, args, kwargs, target=options.get("target"))
        self.kernel[grid](*args, **kwargs, **result.best.launch_kwargs(), **options)

    def _arguments(self, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self.kernel.signature.bind_partial(*args, **kwargs)
        except TypeError as e:
            raise LaunchError(f"bad launch arguments: {e}", kernel=self.name,
                              loc=self.source.def_loc) from None
        tuned = {n for c in self.configs for n in c.kwargs}
        clash = sorted(tuned & set(bound.arguments))
        if clash:
            raise LaunchError(f"{', '.join(clash)} tuned by @tl.autotune; do not pass "
                              f"{'it' if len(clash) == 1 else 'them'}", kernel=self.name,
                              loc=self.source.def_loc)
        return dict(bound.arguments)

    def tune(self, grid: Any, args: tuple, kwargs: dict[str, Any],
             target: str | None = None) -> TuneResult:
        """The tuning for this launch's key: from memory, from disk, else a sweep."""
        from tilelang.runtime.targets import resolve_target
        target_name = resolve_target(target).name
        arguments = self._arguments(args, kwargs)
        try:
            key = key_values(self.key, arguments)
        except KeyError as e:
            raise LaunchError(str(e.args[0]), kernel=self.name,
                              loc=self.source.def_loc) from None
        memo = f"{target_name}|{store.digest(key)}"
        if memo in self.tuned:
            return self.tuned[memo]
        bench = self.benchmarker or default_benchmarker(target_name)
        device = self._device(bench, target_name)
        fields = store.record_key(self.kernel, key, device, configs_digest(self.configs))
        use_disk = self.cache_results and store_enabled()
        result = self._from_disk(fields, target_name, key) if use_disk else None
        if result is None:
            result = self.sweep(grid, arguments, target_name, key, bench, device)
            if use_disk:
                store.save(fields, result.as_json())
        self.tuned[memo] = result
        return result

    def _device(self, bench: Benchmarker, target: str) -> str:
        """The device the timings are stored under: on a Ray sweep for a GPU target,
        the benchmark workers' GPU (this process may have none)."""
        from tilelang.runtime.targets import GPU_TARGETS
        if self.ray is not None and target in GPU_TARGETS:
            from tilelang.autotune.ray_backend import remote_device
            return remote_device(self.ray, target, self.benchmarker)
        return bench.device(target)

    def _from_disk(self, fields: dict[str, Any], target: str,
                   key: dict[str, Any]) -> TuneResult | None:
        record = store.load(fields)
        if record is None:
            return None
        try:
            rows = [Row.from_json(r) for r in record.get("rows", [])]
            return TuneResult(self.name, target, record["device"], record["timing"], key,
                              Config.from_json(record["best"]), rows, from_disk=True)
        except (KeyError, TypeError):
            return None

    # -- the sweep ----------------------------------------------------------------------

    def sweep(self, grid: Any, arguments: dict[str, Any], target: str, key: dict[str, Any],
              bench: Benchmarker, device: str) -> TuneResult:
        """Prune, compile in parallel, check and time every candidate; the fastest wins."""
        from tilelang.runtime.launcher import bind_arguments
        rows: dict[Config, Row] = {}
        uses_dot = ".dot(" in self.source.text
        kept, dropped = static_prune(self.configs, default_num_warps=self.kernel.num_warps,
                                     uses_dot=uses_dot, mma_tiles=self.mma_tiles,
                                     target=target)
        kept, hooked = apply_prune_hook(self.prune, kept, key)
        for config, reason in [*dropped, *hooked]:
            rows[config] = Row(config, "pruned", reason)
        tasks = []
        for config in kept:
            params, _, constexprs = bind_arguments(self.kernel, (),
                                                   {**arguments, **config.kwargs})
            tasks.append(CompileTask(str(self.source.file), self.name,
                                     ",".join(str(p) for p in params),
                                     tuple(sorted(constexprs.items())), config.num_warps,
                                     config.num_stages, target))
        jobs = self.jobs if self.jobs is not None else (
            1 if target == "interp" else min(8, os.cpu_count() or 1))
        bar = _progress_bar(2 * len(tasks), self.progress, f"tune {self.name} [{target}]")
        try:
            bar.set_postfix_str("compiling")
            if self.ray is not None:
                from tilelang.autotune.ray_backend import compile_candidates as on_ray
                outcomes = on_ray(tasks, self.ray, self.jobs,
                                  on_done=lambda i, o: bar.update(1))
            else:
                outcomes = compile_candidates(tasks, jobs, self.kernel,
                                              on_done=lambda i, o: bar.update(1))
            survivors = []
            for config, outcome in zip(kept, outcomes):
                if outcome.ok:
                    survivors.append(config)
                    rows[config] = Row(config, "ok", compile_s=outcome.seconds)
                else:
                    rows[config] = Row(config, "compile-failed", outcome.reason,
                                       compile_s=outcome.seconds)
                    bar.update(1)
            bar.set_postfix_str(f"timing ({bench.kind})")
            if self.ray is not None:
                self._measure_on_ray([rows[c] for c in survivors], grid, arguments, target,
                                     on_done=lambda i, o: bar.update(1))
            else:
                for config in survivors:
                    self._measure(rows[config], grid, arguments, target, bench)
                    bar.update(1)
        finally:
            bar.close()
        ordered = [rows[c] for c in self.configs]
        good = [r for r in ordered if r.status == "ok"]
        if not good:
            reasons = "; ".join(f"{r.config.label()}: {r.reason}" for r in ordered[:4])
            raise TuningError(f"no configuration of {len(ordered)} survived the sweep "
                              f"({reasons})", kernel=self.name, loc=self.source.def_loc)
        best = min(good, key=lambda r: r.median_ms or 0.0).config
        return TuneResult(self.name, target, device, bench.kind, key, best, ordered)

    def _measure(self, row: Row, grid: Any, arguments: dict[str, Any], target: str,
                 bench: Benchmarker) -> None:
        outcome = measure_candidate(self.kernel, grid, arguments, row.config.launch_kwargs(),
                                    target, bench, self.check)
        apply_outcome(row, outcome)

    def _measure_on_ray(self, rows: list[Row], grid: Any, arguments: dict[str, Any],
                        target: str, on_done: Callable[[int, Any], None]) -> None:
        """Check and time ``rows``' candidates on the Ray cluster's benchmark workers."""
        from tilelang.autotune.ray_backend import MeasureTask, measure_candidates
        tasks = [MeasureTask(str(self.source.file), self.name, grid, arguments,
                             row.config.launch_kwargs(), target, self.check, self.benchmarker)
                 for row in rows]
        for row, outcome in zip(rows, measure_candidates(tasks, self.ray, target, None,
                                                         on_done)):
            apply_outcome(row, outcome)

    @property
    def check(self) -> MeasureCheck:
        """How a candidate's result is judged (``reference``, tolerances, outputs)."""
        return MeasureCheck(self.reference, self.rtol, self.atol, self.outputs)


def apply_outcome(row: Row, outcome: MeasureOutcome) -> None:
    """Record a candidate's check and timing on its row."""
    if outcome.status != "ok":
        row.status, row.reason = outcome.status, outcome.reason
        return
    row.median_ms, row.times_ms = outcome.median_ms, outcome.times_ms


def store_enabled() -> bool:
    """Tuning results are stored unless the disk cache is off (``TILELANG_CACHE=0``)."""
    from tilelang import knobs
    return knobs.disk_cache()


def _progress_bar(total: int, progress: bool | None, desc: str) -> Any:
    """A tqdm bar on stderr, shown when ``progress`` (default: stderr is a terminal)."""
    from tqdm import tqdm
    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(total=total, desc=desc, disable=not show, leave=False, file=sys.stderr,
                unit="step")


def autotune(configs: Sequence[Config] | None = None, *,
             space: Mapping[str, Sequence[Any]] | None = None, key: Sequence[str] = (),
             prune: Callable[..., Any] | None = None,
             reference: Callable[..., Any] | None = None, rtol: float = 1e-2,
             atol: float = 0.0, outputs: Sequence[str] | None = None,
             benchmarker: Benchmarker | None = None, jobs: int | None = None,
             progress: bool | None = None, cache_results: bool = True,
             mma_tiles: Sequence[str] | None = None,
             ray: str | None = None) -> Callable[[Any], Autotuner]:
    """Decorate a ``@tl.kernel`` with an autotuning sweep (see the module docstring and
    docs/autotune.md). ``reference(**inputs)`` returns the expected output array (the
    last array argument, or ``outputs[0]``) or a dict of them; ``prune(configs, key)``
    returns the configs to keep or ``(config, reason)`` pairs. ``ray="auto"`` (or an
    address) compiles the candidates on a Ray cluster's CPU workers and checks and times
    them on its GPU workers (``ray_backend``)."""
    def wrap(kernel: Any) -> Autotuner:
        return Autotuner(kernel, configs, space, key, prune, reference, rtol, atol, outputs,
                         benchmarker, jobs, progress, cache_results, mma_tiles, ray)
    return wrap


__all__ = ["Autotuner", "Row", "TuneResult", "TuningError", "autotune", "copy_arguments"]
