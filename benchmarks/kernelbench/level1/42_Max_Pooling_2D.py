"""KernelBench level 1, problem 42: MaxPool2d(4, stride 1, padding 1) of x (32, 64, 512, 512).

2-D max pooling, kernel 4, stride 1, padding 1, dilation 1.
One kernel serves 1-D, 2-D and 3-D pooling on 4-D (N*C, D, H, W) views; see
``pool``'s docstring. Inputs are 2 * rand - 1 so that padding (-inf) never wins but a window may hold only negatives.

Tolerance: a max is exact: 0.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, pow2, rand
from benchmarks.kernelbench.conv_reference import out_size
from benchmarks.kernelbench.conv_reference import pool3d as pool3d_ref
from tilelang import f32

NAME = "42_Max_Pooling_2D"
SIZES = dict(batch_size=32, channels=64, height=512, width=512)
CPU_SIZES = dict(batch_size=2, channels=3, height=9, width=21)


@tl.kernel
def pool(X: tl.Tensor, Y: tl.Tensor, MAX: tl.constexpr,
         KD: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
         SD: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
         PD: tl.constexpr, PH: tl.constexpr, PW: tl.constexpr,
         DD: tl.constexpr, DH: tl.constexpr, DW: tl.constexpr, BW: tl.constexpr = 128):
    """Program (output row od*OH + oh, column block, n*C + c) reduces each tap's input
    run: the BW*SW elements from ow0*SW - PW + kw*DW, of which every SW-th is the tap
    of one output (kept with a one-hot select). Reads outside X are the padding:
    -inf for a max, 0 for an average (which divides by the whole window, PyTorch's
    count_include_pad)."""
    OH = Y.shape[2]
    oh = tl.program_id(0) % OH
    od = tl.program_id(0) // OH
    ow0 = tl.program_id(1) * BW
    nc = tl.program_id(2)
    fill = float("-inf") if MAX else 0.0
    first = tl.arange(SW)[None, :] == 0
    acc = tl.full((BW,), fill, f32)
    for kd in range(KD):
        for kh in range(KH):
            for kw in range(KW):
                run = tl.load(X, (nc, od * SD - PD + kd * DD, oh * SH - PH + kh * DH,
                                  ow0 * SW - PW + kw * DW), (1, 1, 1, BW * SW), other=fill)
                taps = tl.where(first, run.reshape(BW, SW), fill)
                if MAX:
                    acc = tl.maximum(acc, tl.max(taps, 1))
                else:
                    acc += tl.sum(taps, 1)
    if not MAX:
        acc = acc / (KD * KH * KW)
    tl.store(Y, (nc, od, oh, ow0), acc.reshape(1, 1, 1, BW))


def pool3d(x, op: str, target: str):
    """Pool the (N, C, D, H, W) x with the module's window; returns (N, C, OD, OH, OW)."""
    n, c, d, h, w = x.shape
    outs = [out_size(*a) for a in zip((d, h, w), KERNEL, STRIDE, PADDING, DILATION)]
    y = empty(x, (n, c, *outs))
    cfg = _config(outs[2])
    pool[(outs[0] * outs[1], tl.cdiv(outs[2], cfg["BW"]), n * c)](
        x.reshape(n * c, d, h, w), y.reshape(n * c, *outs), **cfg, target=target)
    return y


def _config(ow: int) -> dict:
    return dict(MAX=OP == "max", KD=KERNEL[0], KH=KERNEL[1], KW=KERNEL[2], SD=STRIDE[0],
                SH=STRIDE[1], SW=STRIDE[2], PD=PADDING[0], PH=PADDING[1], PW=PADDING[2],
                DD=DILATION[0], DH=DILATION[1], DW=DILATION[2], BW=min(pow2(ow, 16), 128))


OP = "max"
KERNEL = (1, 4, 4)
STRIDE = (1, 1, 1)
PADDING = (0, 1, 1)
DILATION = (1, 1, 1)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    x = rand(rng, s["batch_size"], s["channels"], s["height"], s["width"])
    return [2 * x - 1]


def reference(inputs: list) -> np.ndarray:
    x = inputs[0]
    y = pool3d_ref(x.reshape(x.shape[:2] + (1,) * 1 + x.shape[2:]), KERNEL, STRIDE, PADDING, DILATION, OP)
    return y.reshape(y.shape[:2] + y.shape[3:])


def run(inputs: list, target: str) -> object:
    x = inputs[0]
    y = pool3d(x.reshape(tuple(x.shape[:2]) + (1,) * 1 + tuple(x.shape[2:])), OP, target)
    return y.reshape(tuple(y.shape[:2]) + tuple(y.shape[3:]))


def torch_eager(inputs: list) -> object:
    import torch
    return torch.nn.functional.max_pool2d(inputs[0], kernel_size=4, stride=1, padding=1, dilation=1)


def tolerance(sizes: dict) -> float:
    return 0.0


def compile_specs(sizes: dict) -> list:
    s = sizes
    sp = (1,) * 1 + (s["height"], s["width"],)
    ow = out_size(sp[2], KERNEL[2], STRIDE[2], PADDING[2], DILATION[2])
    return [(pool, "X=f32[4]:16,Y=f32[4]:16", _config(ow))]
