"""``GpuBenchmarker`` against a fake driver: events around each run, the L2 flushed
before every timed run, fresh arguments, the median of the repeats."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tilelang.autotune.bench import GpuBenchmarker, default_benchmarker
from tilelang.autotune.bench import EmulatorBenchmarker


class FakeDriver:
    """The members of ``CudaDriver`` the benchmarker uses, logging each call."""

    def __init__(self, elapsed: list[float]) -> None:
        self.log: list[str] = []
        self.device = 0
        elapsed_iter = iter(elapsed)
        events = iter(range(100))
        self._cu = SimpleNamespace(
            cuEventCreate=lambda flags: (0, f"ev{next(events)}"),
            cuEventRecord=lambda ev, stream: self._note(f"record {ev}"),
            cuEventSynchronize=lambda ev: self._note(f"sync {ev}"),
            cuEventElapsedTime=lambda a, b: (0, next(elapsed_iter)),
            cuEventDestroy=lambda ev: self._note(f"destroy {ev}"),
            cuMemsetD8=lambda addr, value, n: self._note(f"flush {n}"),
            cuDeviceGetName=lambda n, dev: (0, b"Fake GPU\0\0"),
        )

    def _note(self, what: str) -> tuple[int]:
        self.log.append(what)
        return (0,)

    def ensure(self) -> None:
        pass

    def check(self, result: Any, call: str) -> Any:
        assert result[0] == 0, call
        return result[1] if len(result) == 2 else None

    def synchronize(self) -> None:
        self.log.append("synchronize")

    def alloc(self, nbytes: int) -> int:
        self.log.append(f"alloc {nbytes}")
        return 1234

    def free(self, address: int) -> None:
        self.log.append(f"free {address}")


def test_gpu_benchmarker_times_with_events_and_flushes_l2() -> None:
    driver = FakeDriver([3.0, 1.0, 2.0])
    bench = GpuBenchmarker(warmup=2, repeats=3, driver=driver)
    made = iter(range(10))
    runs: list[int] = []

    def run(args: int) -> None:
        runs.append(args)
        driver.log.append(f"run {args}")

    m = bench.measure(run, lambda: next(made))
    assert m.median_ms == 2.0 and m.times_ms == (3.0, 1.0, 2.0)
    assert runs == [0, 1, 2, 3, 4]  # two warm-ups, then fresh arguments per timed run
    timed = driver.log[driver.log.index("run 1") + 1:]
    assert timed[:7] == ["synchronize", "alloc 268435456", "flush 268435456", "synchronize",
                         "record ev0", "run 2", "record ev1"]
    assert timed.count("flush 268435456") == 3 and timed.count("alloc 268435456") == 1
    assert timed[-2:] == ["destroy ev0", "destroy ev1"]
    bench.close()
    assert driver.log[-1] == "free 1234"
    assert bench.device("sm_90a") == "Fake GPU (sm_90a)" and bench.kind == "gpu"


def test_default_benchmarker_per_target() -> None:
    assert isinstance(default_benchmarker("sm_80"), GpuBenchmarker)
    emu = default_benchmarker("emulate:sm_90a")
    assert isinstance(emu, EmulatorBenchmarker) and emu.kind == "emulator"
    assert default_benchmarker("interp").kind == "interpreter"
