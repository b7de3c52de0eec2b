"""What every KernelBench problem module provides, and the helpers they share.

A problem module ``level1/NN_name.py`` defines:

- ``NAME``: the KernelBench file name without ``.py`` (``"19_ReLU"``);
- ``SIZES``: the problem's real sizes (a dict of ints), as in KernelBench;
- ``CPU_SIZES``: small, ragged sizes for the CPU tiers (interp, the emulators);
- ``make_inputs(sizes, rng) -> list``: the inputs (float32 numpy arrays like
  ``torch.rand``, integer arrays, Python scalars) in the order of the torch module;
- ``reference(inputs) -> np.ndarray``: the output in float64, written with numpy
  from the operator's semantics;
- ``run(inputs, target) -> array``: the tilelang kernel launches a user would write;
  ``inputs`` are numpy arrays on the CPU targets and torch CUDA tensors on a GPU,
  and the output is an array of the same kind (see ``empty``);
- ``torch_eager(inputs)``: the problem's torch ops (torch is imported lazily, on a
  GPU only), the baseline that ``run.py`` times against;
- ``tolerance(sizes) -> float``: the largest ``max |out - ref| / max |ref|`` allowed,
  derived in the module's docstring from the kernel's dtypes and reduction lengths;
- ``compile_specs(sizes) -> list[(kernel, signature, constexprs)]``: every kernel the
  problem launches at ``sizes``, for the ptxas and hipcc compile checks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: float32 unit roundoff.
F32_EPS = 2.0 ** -24


def is_numpy(x: Any) -> bool:
    """Whether ``x`` is a host (numpy) array rather than a torch tensor."""
    return isinstance(x, np.ndarray)


def empty(like: Any, shape: tuple[int, ...], dtype: Any = np.float32) -> Any:
    """A zero-filled output array of ``shape`` beside ``like``: numpy on the host, a torch
    tensor on ``like``'s device otherwise (``dtype`` is a numpy dtype either way)."""
    if is_numpy(like):
        return np.zeros(shape, dtype)
    import torch
    tdtype = {np.dtype(np.float32): torch.float32, np.dtype(np.int64): torch.int64,
              np.dtype(np.int32): torch.int32}[np.dtype(dtype)]
    return torch.zeros(shape, dtype=tdtype, device=like.device)


def reduction_tolerance(n: int, base: float = 1e-5) -> float:
    """Tolerance of an f32 result that sums ``n`` terms: ``base`` (a few roundings of
    elementwise math) plus 4 ulps per sqrt(n) for the sum's rounding: the rounding
    errors of a sum of n terms add up like a random walk, about sqrt(n) ulps, and
    4 sqrt(n) is a 4-sigma bound (a blocked or tree sum does better still)."""
    return base + 4 * F32_EPS * math.sqrt(max(n, 1))


def rel_error(out: Any, ref: np.ndarray) -> float:
    """``max |out - ref| / max |ref|`` in float64 (``inf`` on a shape mismatch or NaN)."""
    out = np.asarray(to_host(out), dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if out.shape != ref.shape:
        return math.inf
    if out.size == 0:
        return 0.0
    scale = float(np.max(np.abs(ref))) or 1.0
    err = float(np.max(np.abs(out - ref))) / scale
    return math.inf if math.isnan(err) else err


def to_host(x: Any) -> Any:
    """A numpy view or copy of an array (torch tensors are copied off the device)."""
    if is_numpy(x) or np.isscalar(x):
        return x
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Uniform [0, 1) float32, as ``torch.rand``."""
    return rng.random(shape, dtype=np.float32)


def pow2(n: int, lo: int = 1, hi: int | None = None) -> int:
    """The power of two at or above ``n``, clamped to [lo, hi]."""
    p = max(lo, 1 << max(0, (n - 1)).bit_length())
    return min(p, hi) if hi is not None else p
