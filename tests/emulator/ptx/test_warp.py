"""Warp collectives against worked examples of the PTX ISA's layouts."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from tests.emulator.ptx.ptx_kit import params, run_ptx
from tilelang.emulator.ptx.errors import PtxError

LANE = np.arange(32)
G, Q = LANE // 4, LANE % 4

LOAD_WORD = """
	mul.wide.u32 %rd4, %r0, 4;
	add.s64 %rd5, %rd1, %rd4;
	ld.global.b32 %r1, [%rd5];"""
STORE = """
	mul.wide.u32 %rd6, %r0, 4;
	add.s64 %rd7, %rd2, %rd6;
	st.global.b32 [%rd7], %r3;
	ret;"""
REGS = """
	.reg .b32 %r<40>;
	.reg .b64 %rd<40>;
	.reg .pred %p<4>;
	ld.param.u64 %rd1, [k_param_0];
	ld.param.u64 %rd2, [k_param_1];
	mov.u32 %r0, %tid.x;"""


@pytest.mark.parametrize("mode, b, c, ref", [
    ("bfly", 5, 31, LANE ^ 5),
    ("idx", 3, 31, np.full(32, 3)),
    ("down", 4, 31, np.where(LANE + 4 <= 31, LANE + 4, LANE)),
    ("up", 2, 0, np.where(LANE - 2 >= 0, LANE - 2, LANE)),
    ("idx", 1, 0x1C1F, (LANE & ~3) | 1),       # segments of 4 lanes (segmask 0b11100)
])
def test_shfl_sync_follows_the_isa_pseudocode(mode, b, c, ref):
    x = (np.arange(64, dtype=np.uint32) * 7 + 3)
    out = np.zeros(64, np.uint32)
    run_ptx(REGS + LOAD_WORD + f"\n\tshfl.sync.{mode}.b32 %r3, %r1, {b}, {c}, -1;" + STORE,
            [x, out], threads=64, params=params("u64", "u64"))
    src = np.concatenate([ref, 32 + ref])
    np.testing.assert_array_equal(out, x[src])


def test_shfl_in_a_divergent_warp_is_reported():
    x = np.zeros(32, np.uint32)
    body = REGS + LOAD_WORD + """
	setp.lt.u32 %p1, %r0, 16;
	@%p1 bra $SKIP;
	shfl.sync.bfly.b32 %r3, %r1, 1, 31, -1;
$SKIP:""" + STORE
    with pytest.raises(PtxError, match="part of a warp"):
        run_ptx(body, [x, x.copy()], params=params("u64", "u64"))


def _ldmatrix(variant: str, regs: int, mats: np.ndarray) -> np.ndarray:
    """Each lane's ``regs`` destination words of ``ldmatrix.<variant>`` over the 8 x 8 b16
    matrices ``mats`` (stored row by row in shared memory, 16 bytes a row)."""
    words = mats.view(np.uint32).reshape(-1)
    out = np.zeros((regs, 32), np.uint32)
    dst = ", ".join(f"%r{10 + i}" for i in range(regs))
    stores = "".join(f"""
	add.s64 %rd{20 + i}, %rd7, {128 * i};
	st.global.b32 [%rd{20 + i}], %r{10 + i};""" for i in range(regs))
    body = REGS + f"""
	mov.b64 %rd10, smem;
	cvt.u32.u64 %r20, %rd10;
	mul.lo.s32 %r21, %r0, 4;
	add.s32 %r22, %r20, %r21;
	mul.wide.u32 %rd4, %r0, 4;
	setp.lt.u32 %p1, %r0, {words.size // 4};
	@!%p1 bra $L1;
	add.s64 %rd5, %rd1, %rd4;
	ld.global.b32 %r1, [%rd5];
	st.shared.b32 [%r22], %r1;
	ld.global.b32 %r2, [%rd5+128];
	st.shared.b32 [%r22+128], %r2;
	ld.global.b32 %r2, [%rd5+256];
	st.shared.b32 [%r22+256], %r2;
	ld.global.b32 %r2, [%rd5+384];
	st.shared.b32 [%r22+384], %r2;
$L1:
	bar.sync 0;
	shl.b32 %r23, %r0, 4;
	add.s32 %r24, %r20, %r23;
	ldmatrix.sync.aligned.m8n8.{variant}.shared.b16 {{{dst}}}, [%r24];
	add.s64 %rd7, %rd2, %rd4;{stores}
	ret;"""
    run_ptx(body, [words, out], params=params("u64", "u64"),
            decls=".shared .align 16 .b8 smem[1024];\n")
    return out


@pytest.mark.parametrize("trans", [False, True])
def test_ldmatrix_gives_each_lane_two_elements_of_a_row(trans):
    mats = np.arange(4 * 64, dtype=np.uint16).reshape(4, 8, 8)
    out = _ldmatrix("x4.trans" if trans else "x4", 4, mats)
    for i in range(4):
        m = mats[i].T if trans else mats[i]
        lo, hi = m[G, 2 * Q], m[G, 2 * Q + 1]
        np.testing.assert_array_equal(out[i], lo.astype(np.uint32) | (hi.astype(np.uint32) << 16))


@pytest.mark.parametrize("half", ["bf16", "f16"])
def test_mma_m16n8k16_matches_numpy_through_the_isa_fragments(half):
    dt = ml_dtypes.bfloat16 if half == "bf16" else np.float16
    rng = np.random.default_rng(3)
    A = rng.standard_normal((16, 16)).astype(dt)
    B = rng.standard_normal((16, 8)).astype(dt)
    C = rng.standard_normal((16, 8)).astype(np.float32)

    def pack(lo, hi):
        return lo.view(np.uint16).astype(np.uint32) | (hi.view(np.uint16).astype(np.uint32) << 16)

    a = [pack(A[r, c], A[r, c + 1]) for r, c in
         [(G, 2 * Q), (G + 8, 2 * Q), (G, 2 * Q + 8), (G + 8, 2 * Q + 8)]]
    b = [pack(B[r, G], B[r + 1, G]) for r in (2 * Q, 2 * Q + 8)]
    cpos = [(G, 2 * Q), (G, 2 * Q + 1), (G + 8, 2 * Q), (G + 8, 2 * Q + 1)]
    c = [C[r, col].view(np.uint32) for r, col in cpos]
    inp = np.concatenate(a + b + c).astype(np.uint32)          # 10 words per lane, by reg
    out = np.zeros((4, 32), np.uint32)
    loads = "".join(f"""
	add.s64 %rd{10 + i}, %rd5, {128 * i};
	ld.global.b32 %r{10 + i}, [%rd{10 + i}];""" for i in range(10))
    stores = "".join(f"""
	add.s64 %rd{25 + i}, %rd7, {128 * i};
	st.global.b32 [%rd{25 + i}], %r{30 + i};""" for i in range(4))
    body = REGS + """
	mul.wide.u32 %rd4, %r0, 4;
	add.s64 %rd5, %rd1, %rd4;""" + loads + """
	mma.sync.aligned.m16n8k16.row.col.f32.HALF.HALF.f32 {%r30, %r31, %r32, %r33}, {%r10, %r11, %r12, %r13}, {%r14, %r15}, {%r16, %r17, %r18, %r19};
	add.s64 %rd7, %rd2, %rd4;""" + stores + "\n\tret;"
    body = body.replace("HALF", half)
    run_ptx(body, [inp, out], params=params("u64", "u64"))
    D = np.zeros((16, 8), np.float32)
    for i, (r, col) in enumerate(cpos):
        D[r, col] = out[i].view(np.float32)
    ref = A.astype(np.float64) @ B.astype(np.float64) + C
    np.testing.assert_allclose(D, ref, rtol=1e-6, atol=1e-6)
