"""Float64 numpy references for convolutions, transposed convolutions and pooling, written
from their definitions (PyTorch's conventions: NC[D]HW layouts, weights (O, C/G, k...)
for a convolution and (C, O/G, k...) for a transposed one, zero padding).

All work on 3 spatial dimensions; 1-D and 2-D problems add unit dimensions.
"""

from __future__ import annotations

import itertools

import numpy as np


def out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    """Output length of a convolution or pooling window (floor mode)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def conv3d(x: np.ndarray, w: np.ndarray, stride=(1, 1, 1), padding=(0, 0, 0),
           dilation=(1, 1, 1), groups: int = 1) -> np.ndarray:
    """y[n, o, z] = sum_{c in o's group, k} x[n, c, z*s - p + k*d] w[o, c, k], in float64."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, c, *sp = x.shape
    o, cpg, *ks = w.shape
    opg = o // groups
    outs = [out_size(sp[i], ks[i], stride[i], padding[i], dilation[i]) for i in range(3)]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    y = np.zeros((n, o, *outs))
    for k in itertools.product(*(range(kk) for kk in ks)):
        sl = tuple(slice(k[i] * dilation[i], k[i] * dilation[i] + stride[i] * (outs[i] - 1) + 1,
                         stride[i]) for i in range(3))
        win = xp[(slice(None), slice(None)) + sl]            # (n, c, *outs)
        for g in range(groups):
            y[:, g * opg:(g + 1) * opg] += np.einsum(
                "nc...,oc->no...", win[:, g * cpg:(g + 1) * cpg], w[(slice(g * opg, (g + 1) * opg), slice(None)) + tuple(k)])
    return y


def conv_transpose3d(x: np.ndarray, w: np.ndarray, stride=(1, 1, 1), padding=(0, 0, 0),
                     output_padding=(0, 0, 0), dilation=(1, 1, 1), groups: int = 1) -> np.ndarray:
    """The adjoint of conv3d: every input element scatters x[n, c, i] w[c, o, k] to output
    position i*s - p + k*d; output length (L-1)*s - 2p + d(k-1) + output_padding + 1."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, c, *sp = x.shape
    _, opg, *ks = w.shape
    cpg = c // groups
    outs = [(sp[i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (ks[i] - 1)
            + output_padding[i] + 1 for i in range(3)]
    full = [(sp[i] - 1) * stride[i] + dilation[i] * (ks[i] - 1) + 1 + output_padding[i]
            for i in range(3)]
    y = np.zeros((n, opg * groups, *full))
    for k in itertools.product(*(range(kk) for kk in ks)):
        sl = tuple(slice(k[i] * dilation[i], k[i] * dilation[i] + stride[i] * (sp[i] - 1) + 1,
                         stride[i]) for i in range(3))
        for g in range(groups):
            y[(slice(None), slice(g * opg, (g + 1) * opg)) + sl] += np.einsum(
                "nc...,co->no...", x[:, g * cpg:(g + 1) * cpg], w[(slice(g * cpg, (g + 1) * cpg), slice(None)) + tuple(k)])
    crop = tuple(slice(padding[i], padding[i] + outs[i]) for i in range(3))
    return y[(slice(None), slice(None)) + crop]


def pool3d(x: np.ndarray, kernel, stride, padding=(0, 0, 0), dilation=(1, 1, 1),
           op: str = "max") -> np.ndarray:
    """Max pooling (padding is -inf) or average pooling (padding counts as 0 and the
    divisor is the full window, PyTorch's count_include_pad=True) over 3 dimensions."""
    x = x.astype(np.float64)
    n, c, *sp = x.shape
    outs = [out_size(sp[i], kernel[i], stride[i], padding[i], dilation[i]) for i in range(3)]
    fill = -np.inf if op == "max" else 0.0
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding], constant_values=fill)
    y = np.full((n, c, *outs), fill)
    for k in itertools.product(*(range(kk) for kk in kernel)):
        sl = tuple(slice(k[i] * dilation[i], k[i] * dilation[i] + stride[i] * (outs[i] - 1) + 1,
                         stride[i]) for i in range(3))
        win = xp[(slice(None), slice(None)) + sl]
        y = np.maximum(y, win) if op == "max" else y + win
    return y if op == "max" else y / np.prod(kernel)
