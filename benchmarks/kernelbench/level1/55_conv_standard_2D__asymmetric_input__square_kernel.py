"""KernelBench level 1, problem 55: 2-D convolution, 3 x 3 kernel, x (8, 64, 512, 1024).

2-D convolution, 64 -> 128 channels, kernel 3, stride 1, padding 0,
dilation 1, groups 1, no bias. The weight is an input, drawn like
PyTorch's default initialization (uniform in +-1/sqrt(fan_in)).

The kernel works on 5-D tensors (1-D and 2-D problems are unit-dimension views) as
an implicit GEMM: no im2col copy is made; each K step loads a (BO, BC) weight slice
for one tap and the matching (BC, BW) input window straight from x (bounds-safe
loads supply the zero padding; a stride s along W loads the BW*s-wide run and keeps
every s-th element).

Tolerance: f32 products summed over C/G * taps terms:
``reduction_tolerance(C/G * taps)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, pow2, rand, reduction_tolerance
from benchmarks.kernelbench.conv_reference import conv3d as conv3d_ref
from benchmarks.kernelbench.conv_reference import out_size
from tilelang import f32

NAME = "55_conv_standard_2D__asymmetric_input__square_kernel"
SIZES = dict(batch_size=8, in_channels=64, out_channels=128, height=512, width=1024)
CPU_SIZES = dict(batch_size=1, in_channels=5, out_channels=6, height=6, width=9)


@tl.kernel(num_warps=4)
def conv(X: tl.Tensor, Wt: tl.Tensor, Y: tl.Tensor, G: tl.constexpr,
         KD: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
         SD: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
         PD: tl.constexpr, PH: tl.constexpr, PW: tl.constexpr,
         DD: tl.constexpr, DH: tl.constexpr, DW: tl.constexpr,
         BO: tl.constexpr = 64, BC: tl.constexpr = 16, BW: tl.constexpr = 64):
    """Implicit GEMM: program (pixel row block, out-channel block, n * G + g) computes the
    (BO, BW) tile of Y[n, g*OPG + o0 :, od, oh, ow0 :] as the sum over input-channel
    blocks and taps of W[o, c, kd, kh, kw] (BO, BC) @ X-window (BC, BW)."""
    CPG = Wt.shape[1]
    OPG = Wt.shape[0] // G
    OH = Y.shape[3]
    OW = Y.shape[4]
    owb = tl.cdiv(OW, BW)
    ow0 = (tl.program_id(0) % owb) * BW
    oh = (tl.program_id(0) // owb) % OH
    od = tl.program_id(0) // owb // OH
    o0 = tl.program_id(1) * BO
    n = tl.program_id(2) // G
    g = tl.program_id(2) % G
    acc = tl.zeros((BO, BW), f32)
    for c0 in range(0, CPG, BC):
        for kd in range(KD):
            for kh in range(KH):
                for kw in range(KW):
                    # weights of channels past the group's CPG are outside Wt: zeros
                    w = tl.load(Wt, (g * OPG + o0, c0, kd, kh, kw), (BO, BC, 1, 1, 1))
                    iw0 = ow0 * SW - PW + kw * DW
                    # the BW*SW-wide input run; every SW-th element is a tap (zeros
                    # outside X are the padding)
                    run = tl.load(X, (n, g * CPG + c0, od * SD - PD + kd * DD,
                                      oh * SH - PH + kh * DH, iw0), (1, BC, 1, 1, BW * SW))
                    if SW == 1:
                        xw = run.reshape(BC, BW)
                    else:
                        first = tl.arange(SW)[None, None, :] == 0
                        xw = tl.sum(tl.where(first, run.reshape(BC, BW, SW), 0.0), 2)
                    acc = tl.dot(w.reshape(BO, BC), xw, acc)
    rows = (o0 + tl.arange(BO))[:, None]
    cols = (ow0 + tl.arange(BW))[None, :]
    # out channels past the group's OPG belong to the next group: never written here
    tl.store(Y, (n, g * OPG + o0, od, oh, ow0), acc.reshape(1, BO, 1, 1, BW),
             mask=((rows < OPG) & (cols < OW)).reshape(1, BO, 1, 1, BW))


def _tiles(opg: int, cpg: int, ow: int) -> dict:
    """Out-channel, in-channel and pixel tiles: at least 16 (the smallest dot), at most
    64 x 32 x 64."""
    return dict(BO=min(pow2(opg, 16), 64), BC=min(pow2(cpg, 16), 32), BW=min(pow2(ow, 16), 64))


def conv3d(x, w, stride, padding, dilation, groups: int, target: str):
    """The convolution of a 5-D x (N, C, D, H, W) by w (O, C/G, KD, KH, KW)."""
    n, _, d, h, wd = x.shape
    o, cpg, kd, kh, kw = w.shape
    outs = [out_size(v, k, s, p, dl) for v, k, s, p, dl in
            zip((d, h, wd), (kd, kh, kw), stride, padding, dilation)]
    y = empty(x, (n, o, *outs))
    cfg = _config(x.shape, w.shape, stride, padding, dilation, groups)
    grid = (outs[0] * outs[1] * tl.cdiv(outs[2], cfg["BW"]), tl.cdiv(o // groups, cfg["BO"]),
            n * groups)
    conv[grid](x, w, y, **cfg, target=target)
    return y


def _config(xshape, wshape, stride, padding, dilation, groups: int) -> dict:
    o, cpg, kd, kh, kw = wshape
    ow = out_size(xshape[4], kw, stride[2], padding[2], dilation[2])
    return dict(G=groups, KD=kd, KH=kh, KW=kw, SD=stride[0], SH=stride[1], SW=stride[2],
                PD=padding[0], PH=padding[1], PW=padding[2], DD=dilation[0], DH=dilation[1],
                DW=dilation[2], **_tiles(o // groups, cpg, ow))


KERNEL = (1, 3, 3)
STRIDE = (1, 1, 1)
PADDING = (0, 0, 0)
DILATION = (1, 1, 1)
GROUPS = 1


def _out_shape(xshape, wshape) -> tuple:
    """The output shape in the problem's own rank."""
    sp = xshape[2:]
    k = KERNEL[3 - len(sp):]
    st, pd, dl = (v[3 - len(sp):] for v in (STRIDE, PADDING, DILATION))
    return (xshape[0], wshape[0]) + tuple(out_size(*a) for a in zip(sp, k, st, pd, dl))


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    x = rand(rng, s["batch_size"], s["in_channels"], s["height"], s["width"])
    fan_in = s["in_channels"] // GROUPS * 1*3*3
    bound = np.float32(1 / np.sqrt(fan_in))
    w = (2 * rand(rng, s["out_channels"], s["in_channels"] // GROUPS, *KERNEL[1:]) - 1) * bound
    return [x, w]


def reference(inputs: list) -> np.ndarray:
    x, w = inputs
    return conv3d_ref(x.reshape(x.shape[:2] + (1,) * 1 + x.shape[2:]), w.reshape(w.shape[:2] + (1,) + w.shape[2:]),
                      STRIDE, PADDING, DILATION, GROUPS).reshape(_out_shape(x.shape, w.shape))


def run(inputs: list, target: str) -> object:
    x, w = inputs
    x5 = x.reshape(tuple(x.shape[:2]) + (1,) * 1 + tuple(x.shape[2:]))
    w5 = w.reshape(tuple(w.shape[:2]) + (1,) * 1 + tuple(w.shape[2:]))
    y = conv3d(x5, w5, STRIDE, PADDING, DILATION, GROUPS, target)
    return y.reshape(_out_shape(tuple(x.shape), tuple(w.shape)))


def torch_eager(inputs: list) -> object:
    import torch
    x, w = inputs
    return torch.nn.functional.conv2d(x, w, stride=1, padding=0, dilation=1, groups=GROUPS)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["in_channels"] // GROUPS * 1*3*3)


def compile_specs(sizes: dict) -> list:
    s = sizes
    xs = (s["batch_size"], s["in_channels"]) + (1,) * 1 + (s["height"], s["width"],)
    ws = (s["out_channels"], s["in_channels"] // GROUPS) + KERNEL
    return [(conv, "X=f32[5]:16,Wt=f32[5]:16,Y=f32[5]:16", _config(xs, ws, STRIDE, PADDING, DILATION, GROUPS))]
