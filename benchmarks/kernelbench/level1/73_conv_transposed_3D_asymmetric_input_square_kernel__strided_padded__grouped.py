"""KernelBench level 1, problem 73: 3-D transposed convolution, 32 -> 32 channels, 3 x 3 x 3, stride 2, padding 1, 4 groups, x (4, 32, 32, 64, 128).

3-D transposed convolution, kernel 3, stride 2, padding 1, output padding
0, dilation 1, groups 4, no bias. The weight (C, O/G, k...) is an
input, drawn uniform in +-1/sqrt(fan_in) like PyTorch's default initialization.

The kernel (5-D; 1-D and 2-D problems are unit-dimension views) gathers instead of
scattering, so no output element is written twice and no atomics are needed: see
``conv_transpose``'s docstring. Nothing is copied or im2col'ed on the host.

Tolerance: f32 products summed over C/G * taps terms:
``reduction_tolerance(C/G * taps)`` relative to max |reference|.
"""

from __future__ import annotations

import numpy as np

import tilelang as tl
from benchmarks.kernelbench.common import empty, pow2, rand, reduction_tolerance
from benchmarks.kernelbench.conv_reference import (
    conv_transpose3d as conv_transpose3d_ref,
)
from tilelang import f32

NAME = "73_conv_transposed_3D_asymmetric_input_square_kernel__strided_padded__grouped"
SIZES = dict(batch_size=4, in_channels=32, out_channels=32, depth=32, height=64, width=128)
CPU_SIZES = dict(batch_size=1, in_channels=8, out_channels=12, depth=1, height=2, width=3)


@tl.kernel(num_warps=4)
def conv_transpose(X: tl.Tensor, Wt: tl.Tensor, Y: tl.Tensor, G: tl.constexpr,
                   KD: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
                   SD: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
                   PD: tl.constexpr, PH: tl.constexpr, PW: tl.constexpr,
                   DD: tl.constexpr, DH: tl.constexpr, DW: tl.constexpr,
                   BO: tl.constexpr = 64, BC: tl.constexpr = 16, BQ: tl.constexpr = 64):
    """Transposed convolution as a gather: output ow = q*SW + r (phase r) receives
    x[i] w[k] where i*SW = ow + PW - kw*DW, i.e. i = q + (r + PW - kw*DW) / SW when SW
    divides it; for one phase and tap those i are consecutive, so each K step is a
    (BO, BC) @ (BC, BQ) product of a weight slice and a contiguous input window. The
    SW phases are interleaved into one (BO, BQ*SW) output tile. D and H work the same
    way with one output row per program (an invalid tap reads row -1: zeros)."""
    CPG = Wt.shape[0] // G
    OPG = Wt.shape[1]
    OH = Y.shape[3]
    OW = Y.shape[4]
    qb = tl.cdiv(OW, BQ * SW)
    q0 = (tl.program_id(0) % qb) * BQ
    oh = (tl.program_id(0) // qb) % OH
    od = tl.program_id(0) // qb // OH
    o0 = tl.program_id(1) * BO
    n = tl.program_id(2) // G
    g = tl.program_id(2) % G
    phase = tl.arange(SW)[None, None, :]
    out = tl.zeros((BO, BQ, SW), f32)
    for r in range(SW):
        acc = tl.zeros((BO, BQ), f32)
        for c0 in range(0, CPG, BC):
            # weights of channels past the group's CPG belong to the next group
            chan_ok = (c0 + tl.arange(BC) < CPG)[:, None]
            for kd in range(KD):
                # offsets made non-negative by a multiple of the stride before % and //
                td = od + PD - kd * DD + SD * KD * DD
                i_d = tl.where(td % SD == 0, td // SD - KD * DD, -1)
                for kh in range(KH):
                    th = oh + PH - kh * DH + SH * KH * DH
                    i_h = tl.where(th % SH == 0, th // SH - KH * DH, -1)
                    for kw in range(KW):
                        tw = r + PW - kw * DW + SW * KW * DW
                        i_w = tl.where(tw % SW == 0, q0 + tw // SW - KW * DW, -BQ - 1)
                        w = tl.load(Wt, (g * CPG + c0, o0, kd, kh, kw), (BC, BO, 1, 1, 1))
                        w = tl.where(chan_ok, w.reshape(BC, BO), 0.0)
                        xw = tl.load(X, (n, g * CPG + c0, i_d, i_h, i_w), (1, BC, 1, 1, BQ))
                        acc = tl.dot(tl.trans(w), xw.reshape(BC, BQ), acc)
        out = tl.where(phase == r, acc[:, :, None], out)
    rows = (o0 + tl.arange(BO))[:, None]
    cols = (q0 * SW + tl.arange(BQ * SW))[None, :]
    tl.store(Y, (n, g * OPG + o0, od, oh, q0 * SW), out.reshape(1, BO, 1, 1, BQ * SW),
             mask=((rows < OPG) & (cols < OW)).reshape(1, BO, 1, 1, BQ * SW))


def _tiles(opg: int, cpg: int, iw: int) -> dict:
    """Out-channel, in-channel and input-column tiles: at least 16, at most 64 x 32 x 32."""
    return dict(BO=min(pow2(opg, 16), 64), BC=min(pow2(cpg, 16), 32), BQ=min(pow2(iw, 16), 32))


def _config(xshape, wshape, stride, padding, dilation, groups: int) -> dict:
    c, opg, kd, kh, kw = wshape
    return dict(G=groups, KD=kd, KH=kh, KW=kw, SD=stride[0], SH=stride[1], SW=stride[2],
                PD=padding[0], PH=padding[1], PW=padding[2], DD=dilation[0], DH=dilation[1],
                DW=dilation[2], **_tiles(opg, c // groups, xshape[4]))


def conv_transpose3d(x, w, stride, padding, output_padding, dilation, groups: int, target: str):
    """The transposed convolution of a 5-D x (N, C, D, H, W) by w (C, O/G, KD, KH, KW)."""
    n = x.shape[0]
    outs = _out_sizes(tuple(x.shape[2:]), tuple(w.shape[2:]), stride, padding, output_padding,
                      dilation)
    o = w.shape[1] * groups
    y = empty(x, (n, o, *outs))
    cfg = _config(tuple(x.shape), tuple(w.shape), stride, padding, dilation, groups)
    grid = (outs[0] * outs[1] * tl.cdiv(outs[2], cfg["BQ"] * cfg["SW"]),
            tl.cdiv(w.shape[1], cfg["BO"]), n * groups)
    conv_transpose[grid](x, w, y, **cfg, target=target)
    return y


def _out_sizes(sp, ks, stride, padding, output_padding, dilation) -> tuple:
    return tuple((i - 1) * s - 2 * p + d * (k - 1) + op + 1
                 for i, k, s, p, op, d in zip(sp, ks, stride, padding, output_padding, dilation))


KERNEL = (3, 3, 3)
STRIDE = (2, 2, 2)
PADDING = (1, 1, 1)
OUTPUT_PADDING = (0, 0, 0)
DILATION = (1, 1, 1)
GROUPS = 4


def make_inputs(sizes: dict, rng: np.random.Generator) -> list:
    s = sizes
    x = rand(rng, s["batch_size"], s["in_channels"], s["depth"], s["height"], s["width"])
    fan_in = s["out_channels"] // GROUPS * 3*3*3
    bound = np.float32(1 / np.sqrt(fan_in))
    w = (2 * rand(rng, s["in_channels"], s["out_channels"] // GROUPS, *KERNEL[0:]) - 1) * bound
    return [x, w]


def reference(inputs: list) -> np.ndarray:
    x, w = inputs
    y = conv_transpose3d_ref(x.reshape(x.shape[:2] + x.shape[2:]),
                             w.reshape(w.shape[:2] + w.shape[2:]),
                             STRIDE, PADDING, OUTPUT_PADDING, DILATION, GROUPS)
    return y.reshape(y.shape[:2] + y.shape[2:])


def run(inputs: list, target: str) -> object:
    x, w = inputs
    x5 = x.reshape(tuple(x.shape[:2]) + tuple(x.shape[2:]))
    w5 = w.reshape(tuple(w.shape[:2]) + tuple(w.shape[2:]))
    y = conv_transpose3d(x5, w5, STRIDE, PADDING, OUTPUT_PADDING, DILATION, GROUPS, target)
    return y.reshape(tuple(y.shape[:2]) + tuple(y.shape[2:]))


def torch_eager(inputs: list) -> object:
    import torch
    x, w = inputs
    return torch.nn.functional.conv_transpose3d(x, w, stride=2, padding=1, output_padding=0,
                                                  groups=GROUPS, dilation=1)


def tolerance(sizes: dict) -> float:
    return reduction_tolerance(sizes["in_channels"] // GROUPS * 3*3*3)


def compile_specs(sizes: dict) -> list:
    s = sizes
    xs = (s["batch_size"], s["in_channels"]) + (s["depth"], s["height"], s["width"],)
    ws = (s["in_channels"], s["out_channels"] // GROUPS) + KERNEL
    return [(conv_transpose, "X=f32[5]:16,Wt=f32[5]:16,Y=f32[5]:16",
             _config(xs, ws, STRIDE, PADDING, DILATION, GROUPS))]
