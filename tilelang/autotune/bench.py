"""Benchmarkers: how the autotuner times one configuration.

A benchmarker gets ``run(args)`` (one launch on the given arguments, returning
when its work is done or queued) and ``make_args()`` (fresh copies of the
inputs, built outside the timed region) and returns a ``Measurement``: the
median of its repeats after warm-up. The tuner only calls ``measure``,
``kind`` and ``device``, so tests inject a fake with the same three members.

* ``EmulatorBenchmarker``: wall time of runs on a CPU target (``emulate:*``,
  ``interp``); its numbers are labelled ``emulator`` (or ``interpreter``) and say
  nothing about a GPU's speed, only that the whole mechanism works.
* ``GpuBenchmarker``: CUDA events around each launch on one stream, the L2 cache
  flushed (a 256 MiB buffer overwritten) before every run.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

RunFn = Callable[[tuple], None]
ArgsFn = Callable[[], tuple]


@dataclass(frozen=True)
class Measurement:
    """The median of ``times_ms`` and the raw repeats, in milliseconds."""

    median_ms: float
    times_ms: tuple[float, ...] = field(default_factory=tuple)


class Benchmarker(Protocol):
    """What the autotuner needs of a benchmarker."""

    kind: str  # the timings' label: "gpu", "emulator", "interpreter"

    def device(self, target: str) -> str:
        """The device name the results are stored under."""
        ...

    def measure(self, run: RunFn, make_args: ArgsFn) -> Measurement:
        """Warm up, then time ``run`` on fresh arguments ``repeats`` times."""
        ...


def _median(times: list[float]) -> Measurement:
    return Measurement(statistics.median(times), tuple(times))


class EmulatorBenchmarker:
    """Wall time of runs on a CPU target (the emulator or the interpreter)."""

    def __init__(self, target: str = "emulate:sm_90a", warmup: int = 1, repeats: int = 3,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.kind = "emulator" if target.startswith("emulate") else "interpreter"
        self.warmup = warmup
        self.repeats = max(1, repeats)
        self.clock = clock

    def device(self, target: str) -> str:
        return target

    def measure(self, run: RunFn, make_args: ArgsFn) -> Measurement:
        for _ in range(self.warmup):
            run(make_args())
        times = []
        for _ in range(self.repeats):
            args = make_args()
            t0 = self.clock()
            run(args)
            times.append((self.clock() - t0) * 1e3)
        return _median(times)


class GpuBenchmarker:
    """CUDA-event timing on the current device: warm-up, fresh inputs, the L2 flushed
    before each run (outside the events), median of ``repeats``.

    ``driver`` is a ``CudaDriver`` (default: the process-wide one); its ``cu`` module
    provides the event calls, so a fake driver can stand in for one."""

    L2_FLUSH_BYTES = 256 << 20  # larger than any current GPU's L2

    def __init__(self, warmup: int = 5, repeats: int = 20, driver: Any = None) -> None:
        self.kind = "gpu"
        self.warmup = warmup
        self.repeats = max(1, repeats)
        self._driver = driver
        self._flush: int | None = None

    @property
    def driver(self) -> Any:
        if self._driver is None:
            from tilelang.runtime.cuda_driver import default_driver
            self._driver = default_driver()
        return self._driver

    def device(self, target: str) -> str:
        d = self.driver
        d.ensure()
        err, raw = d._cu.cuDeviceGetName(256, d.device)
        d.check((err,), "cuDeviceGetName")
        name = raw.split(b"\0", 1)[0].decode() if isinstance(raw, bytes) else str(raw)
        return f"{name} ({target})"

    def _flush_l2(self) -> None:
        d = self.driver
        if self._flush is None:
            self._flush = d.alloc(self.L2_FLUSH_BYTES)
        d.check(d._cu.cuMemsetD8(self._flush, 0, self.L2_FLUSH_BYTES), "cuMemsetD8")

    def measure(self, run: RunFn, make_args: ArgsFn) -> Measurement:
        d = self.driver
        d.ensure()
        cu = d._cu
        start = d.check(cu.cuEventCreate(0), "cuEventCreate")
        stop = d.check(cu.cuEventCreate(0), "cuEventCreate")
        try:
            for _ in range(self.warmup):
                run(make_args())
            d.synchronize()
            times = []
            for _ in range(self.repeats):
                args = make_args()
                self._flush_l2()
                d.synchronize()
                d.check(cu.cuEventRecord(start, 0), "cuEventRecord")
                run(args)
                d.check(cu.cuEventRecord(stop, 0), "cuEventRecord")
                d.check(cu.cuEventSynchronize(stop), "cuEventSynchronize")
                times.append(float(d.check(cu.cuEventElapsedTime(start, stop),
                                           "cuEventElapsedTime")))
            return _median(times)
        finally:
            cu.cuEventDestroy(start)
            cu.cuEventDestroy(stop)

    def close(self) -> None:
        """Free the L2-flush buffer."""
        if self._flush is not None:
            self.driver.free(self._flush)
            self._flush = None


def default_benchmarker(target: str) -> Benchmarker:
    """``GpuBenchmarker`` for an NVIDIA target, ``EmulatorBenchmarker`` otherwise."""
    from tilelang.runtime.targets import NVIDIA_TARGETS
    if target in NVIDIA_TARGETS:
        return GpuBenchmarker()
    return EmulatorBenchmarker(target)


__all__ = ["Benchmarker", "EmulatorBenchmarker", "GpuBenchmarker", "Measurement",
           "default_benchmarker"]
