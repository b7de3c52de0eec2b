"""Autotuning sweeps: ``@tl.autotune`` (``tuner``), the search space and pruning
(``space``), parallel compilation (``workers``), benchmarkers (``bench``), stored
results (``store``) and the report of a sweep (``report``). See docs/autotune.md."""

from tilelang.autotune.bench import (
    Benchmarker, EmulatorBenchmarker, GpuBenchmarker, Measurement,
)
from tilelang.autotune.space import Config, expand_space, static_prune
from tilelang.autotune.tuner import Autotuner, TuneResult, TuningError, autotune

__all__ = ["Autotuner", "Benchmarker", "Config", "EmulatorBenchmarker", "GpuBenchmarker",
           "Measurement", "TuneResult", "TuningError", "autotune", "expand_space",
           "static_prune"]
