"""KernelBench level 1, problem 84: depthwise 3 x 3 convolution, 128 channels, of x (64, 128, 256, 512).

Depthwise 2-D convolution (groups = channels, one filter per channel), kernel 3,
stride 1, padding 0, dilation 1, no bias. The weight (C, 1, KH, KW) is an input,
uniform in +-1/sqrt(KH*KW) like PyTorch's default initialization. Each output is
a sum of KH*KW products, so the kernel is elementwise per tap (no GEMM); see
``depthwise``'s docstring.

Tolerance: sums of KH*KW products: ``reduction_tolerance(KH*KW)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, pow2, rand, reduction_tolerance
from benchmarks.kernelbench.conv_reference import conv3d as conv3d_ref
from benchmarks.kernelbench.conv_reference import out_size
from tilelang import f32

NAME = "84_conv_depthwise_2D_asymmetric_input_square_kernel"
SIZES = dict(batch_size=64, in_channels=128, height_in=256, width_in=512)
CPU_SIZES = dict(batch_size=2, in_channels=3, height_in=11, width_in=21)


@tl.kernel
def depthwise(X: tl.Tensor, Wt: tl.Tensor, Y: tl.Tensor, KH: tl.constexpr, KW: tl.constexpr,
              SH: tl.constexpr, SW: tl.constexpr, PH: tl.constexpr, PW: tl.constexpr,
              DH: tl.constexpr, DW: tl.constexpr, BH: tl.constexpr = 8, BW: tl.constexpr = 64):
    """Program (row block, column block, n*C + c) computes a (BH, BW) output tile of
    channel c: per tap, one weight (a (1, 1) window broadcast over the tile) times the
    input window at the tap's offset (bounds-safe loads give the zero padding; strides
    keep every s-th element with a one-hot select)."""
    C = Wt.shape[0]
    oh0 = tl.program_id(0) * BH
    ow0 = tl.program_id(1) * BW
    nc = tl.program_id(2)
    c = nc % C
    acc = tl.zeros((BH, BW), f32)
    for kh in range(KH):
        for kw in range(KW):
            w = tl.load(Wt, (c, kh * KW + kw), (1, 1))
            win = tl.load(X, (nc, oh0 * SH - PH + kh * DH, ow0 * SW - PW + kw * DW),
                          (1, BH * SH, BW * SW))
            if SH == 1 and SW == 1:
                xw = win.reshape(BH, BW)
            else:
                first = ((tl.arange(SH)[:, None] == 0) & (tl.arange(SW)[None, :] == 0))
                sel = tl.where(first[None, :, None, :], win.reshape(BH, SH, BW, SW), 0.0)
                xw = tl.sum(tl.sum(sel, 3), 1)
            acc += w * xw
    tl.store(Y, (nc, oh0, ow0), acc.reshape(1, BH, BW))


def depthwise2d(x, w, target: str):
    """The depthwise convolution of x (N, C, H, W) by w (C, 1, KH, KW) (groups = C)."""
    n, c, h, wd = x.shape
    kh, kw = w.shape[2], w.shape[3]
    oh = out_size(h, kh, STRIDE[0], PADDING[0], DILATION[0])
    ow = out_size(wd, kw, STRIDE[1], PADDING[1], DILATION[1])
    y = empty(x, (n, c, oh, ow))
    cfg = _config(kh, kw, ow)
    depthwise[(tl.cdiv(oh, cfg["BH"]), tl.cdiv(ow, cfg["BW"]), n * c)](
        x.reshape(n * c, h, wd), w.reshape(c, kh * kw), y.reshape(n * c, oh, ow), **cfg,
        target=target)
    return y


def _config(kh: int, kw: int, ow: int) -> dict:
    return dict(KH=kh, KW=kw, SH=STRIDE[0], SW=STRIDE[1], PH=PADDING[0], PW=PADDING[1],
                DH=DILATION[0], DW=DILATION[1], BH=8, BW=min(pow2(ow, 16), 64))


STRIDE = (1, 1)
PADDING = (0, 0)
DILATION = (1, 1)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    x = rand(rng, s["batch_size"], s["in_channels"], s["height_in"], s["width_in"])
    bound = np.float32(1 / np.sqrt(9))
    return [x, (2 * rand(rng, s["in_channels"], 1, 3, 3) - 1) * bound]


def reference(inputs: list) -> np.ndarray:
    x, w = inputs
    y = conv3d_ref(x[:, :, None], w[:, :, None], (1,) + STRIDE, (0,) + PADDING, (1,) + DILATION,
                   groups=x.shape[1])
    return y[:, :, 0]


def run(inputs: list, target: str) -> object:
    return depthwise2d(inputs[0], inputs[1], target)


def torch_eager(inputs: list) -> object:
    import torch
    x, w = inputs
    return torch.nn.functional.conv2d(x, w, stride=1, padding=0, dilation=1, groups=x.shape[1])


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(9)


def compile_specs(sizes: dict) -> list:
    s = sizes
    ow = out_size(s["width_in"], 3, STRIDE[1], PADDING[1], DILATION[1])
    return [(depthwise, "X=f32[3]:16,Wt=f32[2]:16,Y=f32[3]:16", _config(3, 3, ow))]
