"""The float64 convolution and pooling references against brute-force loops over the
definitions, at tiny sizes with strides, padding, dilation, groups and output padding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from benchmarks.kernelbench import conv_reference as cr


def brute_conv(x, w, s, p, d, g):
    n, c, *sp = x.shape
    o, cpg, *ks = w.shape
    outs = [cr.out_size(sp[i], ks[i], s[i], p[i], d[i]) for i in range(3)]
    y = np.zeros((n, o, *outs))
    for b, oc, *z in itertools.product(range(n), range(o), *(range(v) for v in outs)):
        grp = oc // (o // g)
        for ci, *k in itertools.product(range(cpg), *(range(v) for v in ks)):
            pos = [z[i] * s[i] - p[i] + k[i] * d[i] for i in range(3)]
            if all(0 <= pos[i] < sp[i] for i in range(3)):
                y[(b, oc, *z)] += x[(b, grp * cpg + ci, *pos)] * w[(oc, ci, *k)]
    return y


def brute_conv_t(x, w, s, p, op, d, g):
    n, c, *sp = x.shape
    _, opg, *ks = w.shape
    cpg = c // g
    outs = [(sp[i] - 1) * s[i] - 2 * p[i] + d[i] * (ks[i] - 1) + op[i] + 1 for i in range(3)]
    y = np.zeros((n, opg * g, *outs))
    for b, ci, *i in itertools.product(range(n), range(c), *(range(v) for v in sp)):
        grp = ci // cpg
        for oc, *k in itertools.product(range(opg), *(range(v) for v in ks)):
            pos = [i[j] * s[j] - p[j] + k[j] * d[j] for j in range(3)]
            if all(0 <= pos[j] < outs[j] for j in range(3)):
                y[(b, grp * opg + oc, *pos)] += x[(b, ci, *i)] * w[(ci, oc, *k)]
    return y


@pytest.mark.parametrize("s,p,d,g", [((1, 1, 1), (0, 0, 0), (1, 1, 1), 1),
                                     ((1, 2, 3), (1, 0, 2), (1, 2, 1), 2)])
def test_conv3d(s, p, d, g):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 7, 9))
    w = rng.standard_normal((6, 4 // g, 2, 3, 2))
    np.testing.assert_allclose(cr.conv3d(x, w, s, p, d, g), brute_conv(x, w, s, p, d, g),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("s,p,op,d,g", [((1, 1, 1), (0, 0, 0), (0, 0, 0), (1, 1, 1), 1),
                                        ((2, 3, 1), (1, 2, 0), (1, 2, 0), (2, 1, 1), 2)])
def test_conv_transpose3d(s, p, op, d, g):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 3, 4, 5))
    w = rng.standard_normal((4, 3, 2, 3, 2))
    np.testing.assert_allclose(cr.conv_transpose3d(x, w, s, p, op, d, g),
                               brute_conv_t(x, w, s, p, op, d, g), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", ["max", "avg"])
def test_pool3d(op):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 5, 6, 7))
    k, s, p, d = (2, 3, 2), (1, 2, 2), (1, 1, 0), (1, 1, 2)
    y = cr.pool3d(x, k, s, p, d, op)
    outs = [cr.out_size(x.shape[2 + i], k[i], s[i], p[i], d[i]) for i in range(3)]
    ref = np.zeros((1, 2, *outs))
    for c, *z in itertools.product(range(2), *(range(v) for v in outs)):
        vals = []
        for kk in itertools.product(*(range(v) for v in k)):
            pos = [z[i] * s[i] - p[i] + kk[i] * d[i] for i in range(3)]
            inside = all(0 <= pos[i] < x.shape[2 + i] for i in range(3))
            vals.append(x[(0, c, *pos)] if inside else (-np.inf if op == "max" else 0.0))
        ref[(0, c, *z)] = max(vals) if op == "max" else sum(vals) / np.prod(k)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
