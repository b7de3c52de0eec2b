"""Checking and timing one candidate of a sweep, wherever it runs.

``measure_candidate`` is what the tuner does for each configuration that
compiled: run it once on fresh copies of the launch's arguments and compare
with ``reference`` (when given), then time it with the benchmarker. It returns
a ``MeasureOutcome`` of plain values, so the same function serves a local sweep
and a Ray benchmark worker (``ray_backend``), which re-imports the kernel from
its file and gets the arguments through Ray's object store.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tilelang.errors import TileLangError
from tilelang.runtime.arrays import as_host_numpy, is_array


@dataclass(frozen=True)
class MeasureCheck:
    """How a candidate's result is judged: ``reference(**inputs)`` gives the expected
    output (the last array argument, or ``outputs[0]``) or a dict of them."""

    reference: Callable[..., Any] | None = None
    rtol: float = 1e-2
    atol: float = 0.0
    outputs: Sequence[str] | None = None


@dataclass(frozen=True)
class MeasureOutcome:
    """``ok`` (with the median and the repeats in ms), ``wrong`` or ``run-failed``
    (with the reason); ``device``: where it was timed, when a worker timed it."""

    status: str
    reason: str | None = None
    median_ms: float | None = None
    times_ms: tuple[float, ...] = ()
    device: str | None = None


def copy_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Fresh copies of the arrays among ``arguments`` (other values as they are)."""
    out = {}
    for name, value in arguments.items():
        if isinstance(value, np.ndarray):
            out[name] = value.copy()
        elif is_array(value) and hasattr(value, "clone"):
            out[name] = value.clone()
        elif is_array(value) and hasattr(value, "copy"):
            out[name] = value.copy()
        else:
            out[name] = value
    return out


def measure_candidate(kernel: Any, grid: Any, arguments: Mapping[str, Any],
                      launch_kwargs: Mapping[str, Any], target: str, bench: Any,
                      check: MeasureCheck) -> MeasureOutcome:
    """Check (when ``check.reference``) and time ``kernel[grid]`` with ``launch_kwargs``
    on copies of ``arguments``; never raises for a kernel's own error."""
    def run(a: dict[str, Any]) -> None:
        kernel[grid](**a, **launch_kwargs, target=target)

    try:
        if check.reference is not None:
            wrong = _wrong(run, copy_arguments(arguments), check)
            if wrong is not None:
                return MeasureOutcome("wrong", wrong)
        m = bench.measure(run, lambda: copy_arguments(arguments))
    except TileLangError as e:
        return MeasureOutcome("run-failed", " ".join((getattr(e, "message", None)
                                                      or str(e)).split()))
    return MeasureOutcome("ok", None, m.median_ms, tuple(m.times_ms))


def _wrong(run: Callable[[dict[str, Any]], None], args: dict[str, Any],
           check: MeasureCheck) -> str | None:
    """Run once and compare with the reference; the reason it is wrong, or ``None``."""
    inputs = {n: _host(v) for n, v in copy_arguments(args).items()}
    expected = check.reference(**inputs)  # type: ignore[misc]
    if not isinstance(expected, Mapping):
        names = check.outputs or [n for n, v in args.items() if is_array(v)][-1:]
        expected = {names[0]: expected}
    run(args)
    for name, want in expected.items():
        got = _host(args[name]).astype(np.float64)
        want = np.asarray(want, dtype=np.float64)
        if got.shape != want.shape or not np.allclose(got, want, rtol=check.rtol,
                                                      atol=check.atol, equal_nan=True):
            err = float(np.max(np.abs(got - want))) if got.shape == want.shape else None
            what = f"max |error| {err:.3g}" if err is not None else \
                f"shape {got.shape} != {want.shape}"
            return (f"wrong result in '{name}': {what} (rtol {check.rtol:g}, "
                    f"atol {check.atol:g})")
    return None


def _host(value: Any) -> Any:
    if not is_array(value):
        return value
    host = as_host_numpy(value)
    if host is not None:
        return host
    if hasattr(value, "cpu"):
        return value.cpu().numpy()
    return np.asarray(copy.copy(value))


__all__ = ["MeasureCheck", "MeasureOutcome", "copy_arguments", "measure_candidate"]
