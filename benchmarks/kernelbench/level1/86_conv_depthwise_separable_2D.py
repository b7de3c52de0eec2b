"""KernelBench level 1, problem 86: depthwise-separable convolution of x (16, 64, 512, 512).

A depthwise 3 x 3 convolution (padding 1, groups = 64) followed by a pointwise
1 x 1 convolution to 128 channels, no biases; both weights are inputs, uniform in
+-1/sqrt(fan_in) like PyTorch's default initialization. Two kernels: ``depthwise``
(elementwise per tap) writes the intermediate, ``pointwise`` multiplies it per
sample as a (O, C) @ (C, H*W) GEMM.

Tolerance: sums of 9 then C terms: ``reduction_tolerance(9 * C)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, pow2, rand, reduction_tolerance
from benchmarks.kernelbench.conv_reference import conv3d as conv3d_ref
from benchmarks.kernelbench.conv_reference import out_size
from tilelang import f32

NAME = "86_conv_depthwise_separable_2D"
SIZES = dict(batch_size=16, in_channels=64, out_channels=128, height=512, width=512)
CPU_SIZES = dict(batch_size=2, in_channels=5, out_channels=6, height=11, width=21)


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


@tl.kernel(num_warps=4)
def pointwise(Z: tl.Tensor, Wp: tl.Tensor, Y: tl.Tensor, BO: tl.constexpr = 64,
              BC: tl.constexpr = 32, BP: tl.constexpr = 64):
    """Y[n] (O, H*W) = Wp (O, C) @ Z[n] (C, H*W): program (pixel block, out block, n)."""
    C = Wp.shape[1]
    p0 = tl.program_id(0) * BP
    o0 = tl.program_id(1) * BO
    n = tl.program_id(2)
    acc = tl.zeros((BO, BP), f32)
    for c0 in range(0, C, BC):
        w = tl.load(Wp, (o0, c0), (BO, BC))
        z = tl.load(Z, (n, c0, p0), (1, BC, BP)).reshape(BC, BP)
        acc = tl.dot(w, z, acc)
    tl.store(Y, (n, o0, p0), acc.reshape(1, BO, BP))


def _pw_tiles(o: int, c: int) -> dict:
    return dict(BO=min(pow2(o, 16), 64), BC=min(pow2(c, 16), 32), BP=64)


STRIDE = (1, 1)
PADDING = (1, 1)
DILATION = (1, 1)


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    x = rand(rng, s["batch_size"], s["in_channels"], s["height"], s["width"])
    wd = (2 * rand(rng, s["in_channels"], 1, 3, 3) - 1) * np.float32(1 / 3)
    bound = np.float32(1 / np.sqrt(s["in_channels"]))
    wp = (2 * rand(rng, s["out_channels"], s["in_channels"], 1, 1) - 1) * bound
    return [x, wd, wp]


def reference(inputs: list) -> np.ndarray:
    x, wd, wp = inputs
    z = conv3d_ref(x[:, :, None], wd[:, :, None], (1,) + STRIDE, (0,) + PADDING, (1,) + DILATION,
                   groups=x.shape[1])
    return conv3d_ref(z, wp[:, :, None])[:, :, 0]


def run(inputs: list, target: str) -> object:
    x, wd, wp = inputs
    z = depthwise2d(x, wd, target)
    n, c, h, w = z.shape
    o = wp.shape[0]
    y = empty(x, (n, o, h, w))
    t = _pw_tiles(o, c)
    pointwise[(tl.cdiv(h * w, t["BP"]), tl.cdiv(o, t["BO"]), n)](
        z.reshape(n, c, h * w), wp.reshape(o, c), y.reshape(n, o, h * w), **t, target=target)
    return y


def torch_eager(inputs: list) -> object:
    import torch
    x, wd, wp = inputs
    F = torch.nn.functional
    return F.conv2d(F.conv2d(x, wd, padding=1, groups=x.shape[1]), wp)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(9 * sizes["in_channels"])


def compile_specs(sizes: dict) -> list:
    s = sizes
    return [(depthwise, "X=f32[3]:16,Wt=f32[2]:16,Y=f32[3]:16", _config(3, 3, s["width"])),
            (pointwise, "Z=f32[3]:16,Wp=f32[2]:16,Y=f32[3]:16",
             _pw_tiles(s["out_channels"], s["in_channels"]))]
