"""Compiled (numba) kernels over quantized weight tiles: y = x @ W.T, W kept in its blocks.

Why compiled code in a numpy engine: a decode step reads every weight once, so its speed
is the bytes it streams. numpy can only multiply float32 (513 MiB a token for SmolLM2's
94 MiB Q4_1 file); dequantizing slabs before each product was measured 1.9x (int8) to 13x
(float16) slower than the float32 GEMV, since numpy has no fused low-precision kernels.
numba (LLVM, from PyPI, no compiler on the user's machine) compiles the loops below to the
host's vector units; `cache=True` keeps the machine code on disk after the first load.

Layout (weights.py builds it): output rows are cut into tiles of T (64) rows, and each tile
stores, for every block b of 32 (or 16) inputs, the quantized values of its T rows with the
row index fastest: `q[tile, b, j, r]`. The innermost loops therefore run over T contiguous
lanes (one output row each) with no horizontal sums, which LLVM vectorises; each value is
multiplied by a broadcast activation. Two kinds:

  u4: 4-bit values 0..15, byte j of a 32-block holds weight j (low nibble) and j + 16
      (high), w = d * v + m        (Q4_0 with m = -8d, Q4_1, Q4_K sub-blocks)
  i8: int8 values, blocks of 32 or 16, w = d * v (+ m)   (Q8_0, Q6_K, Q5_*, int8)

Per block the kernel computes  d * (sx_scale * sum_j v_j x_j) + m * sum_j x_j, with the
activation sums precomputed per block (`x_block_sums`). Nibbles are split in float32
(v - 16 floor(v / 16)): numba widens integer bit operations to int64, which would halve
the vector lanes.

Batched rows share one pass over the weights: a tile's weights (a few KiB) are unpacked
once per block and applied to 4 rows at a time while in registers / L1; tiles are split
across threads (`prange`) in the parallel variants.
"""

from __future__ import annotations

import types

import numpy as np
from numba import njit, prange

F32 = np.float32
SIXTEENTH = F32(0.0625)
SIXTEEN = F32(16.0)
_FLAGS = {"cache": True, "nogil": True, "fastmath": True}
W = 64  # tile width (weights.TILE): a compile-time constant lets LLVM see that the four
# accumulator rows of the 4-row kernels never overlap, so it vectorises them without
# runtime alias checks


@njit(inline="always", fastmath=True)
def _split(byte):
    """One byte of two 4-bit values -> (low, high) as float32, in float arithmetic."""
    v = np.float32(byte)
    high = np.floor(v * SIXTEENTH)
    return v - SIXTEEN * high, high


def _u4_rows1(q, d, m, xv, xs, xsum, out, row):
    tiles, nb, _, width = q.shape
    x = xv[row]
    for t in prange(tiles):
        blk = np.empty(W, np.float32)
        acc = np.zeros(W, np.float32)
        for b in range(nb):
            blk[:] = 0
            o = b * 32
            for j in range(16):
                lo_x = x[o + j]
                hi_x = x[o + j + 16]
                qj = q[t, b, j]
                for r in range(W):
                    lo, hi = _split(qj[r])
                    blk[r] += lo * lo_x + hi * hi_x
            s = xs[row, b]
            c = xsum[row, b]
            db = d[t, b]
            mb = m[t, b]
            for r in range(W):
                acc[r] += db[r] * (s * blk[r]) + mb[r] * c
        out[row, t * width : (t + 1) * width] = acc


def _u4_rows4(q, d, m, xv, xs, xsum, out, row):
    tiles, nb, _, width = q.shape
    x0, x1, x2, x3 = xv[row], xv[row + 1], xv[row + 2], xv[row + 3]
    for t in prange(tiles):
        blk = np.empty((4, W), np.float32)
        acc = np.zeros((4, W), np.float32)
        for b in range(nb):
            blk[:] = 0
            o = b * 32
            for j in range(0, 16, 4):  # four bytes per pass: a quarter of the accumulator traffic
                i = o + j
                qa, qb, qc, qe = q[t, b, j], q[t, b, j + 1], q[t, b, j + 2], q[t, b, j + 3]
                a0, a1, a2, a3 = x0[i], x0[i + 1], x0[i + 2], x0[i + 3]
                a4, a5, a6, a7 = x0[i + 16], x0[i + 17], x0[i + 18], x0[i + 19]
                b0, b1, b2, b3 = x1[i], x1[i + 1], x1[i + 2], x1[i + 3]
                b4, b5, b6, b7 = x1[i + 16], x1[i + 17], x1[i + 18], x1[i + 19]
                c0, c1, c2, c3 = x2[i], x2[i + 1], x2[i + 2], x2[i + 3]
                c4, c5, c6, c7 = x2[i + 16], x2[i + 17], x2[i + 18], x2[i + 19]
                e0, e1, e2, e3 = x3[i], x3[i + 1], x3[i + 2], x3[i + 3]
                e4, e5, e6, e7 = x3[i + 16], x3[i + 17], x3[i + 18], x3[i + 19]
                for r in range(W):
                    w0, w4 = _split(qa[r])
                    w1, w5 = _split(qb[r])
                    w2, w6 = _split(qc[r])
                    w3, w7 = _split(qe[r])
                    blk[0, r] += (w0 * a0 + w1 * a1 + w2 * a2 + w3 * a3) + (
                        w4 * a4 + w5 * a5 + w6 * a6 + w7 * a7
                    )
                    blk[1, r] += (w0 * b0 + w1 * b1 + w2 * b2 + w3 * b3) + (
                        w4 * b4 + w5 * b5 + w6 * b6 + w7 * b7
                    )
                    blk[2, r] += (w0 * c0 + w1 * c1 + w2 * c2 + w3 * c3) + (
                        w4 * c4 + w5 * c5 + w6 * c6 + w7 * c7
                    )
                    blk[3, r] += (w0 * e0 + w1 * e1 + w2 * e2 + w3 * e3) + (
                        w4 * e4 + w5 * e5 + w6 * e6 + w7 * e7
                    )
            db = d[t, b]
            mb = m[t, b]
            for k in range(4):
                s = xs[row + k, b]
                c = xsum[row + k, b]
                bk = blk[k]
                ak = acc[k]
                for r in range(width):
                    ak[r] += db[r] * (s * bk[r]) + mb[r] * c
        for k in range(4):
            out[row + k, t * width : (t + 1) * width] = acc[k]


def _i8_rows1(q, d, m, xv, xs, xsum, out, row):
    tiles, nb, block, width = q.shape
    has_min = m.shape[0] > 0
    x = xv[row]
    for t in prange(tiles):
        blk = np.empty(W, np.float32)
        acc = np.zeros(W, np.float32)
        for b in range(nb):
            blk[:] = 0
            o = b * block
            for j in range(0, block, 2):
                xa = x[o + j]
                xb = x[o + j + 1]
                qa = q[t, b, j]
                qb = q[t, b, j + 1]
                for r in range(W):
                    blk[r] += np.float32(qa[r]) * xa + np.float32(qb[r]) * xb
            s = xs[row, b]
            db = d[t, b]
            for r in range(W):
                acc[r] += db[r] * (s * blk[r])
            if has_min:
                c = xsum[row, b]
                mb = m[t, b]
                for r in range(W):
                    acc[r] += mb[r] * c
        out[row, t * width : (t + 1) * width] = acc


def _i8_rows4(q, d, m, xv, xs, xsum, out, row):
    tiles, nb, block, width = q.shape
    has_min = m.shape[0] > 0
    x0, x1, x2, x3 = xv[row], xv[row + 1], xv[row + 2], xv[row + 3]
    for t in prange(tiles):
        blk = np.empty((4, W), np.float32)
        acc = np.zeros((4, W), np.float32)
        for b in range(nb):
            blk[:] = 0
            o = b * block
            for j in range(0, block, 4):  # four inputs per pass (blocks are 16 or 32)
                i = o + j
                qa, qb, qc, qe = q[t, b, j], q[t, b, j + 1], q[t, b, j + 2], q[t, b, j + 3]
                a0, a1, a2, a3 = x0[i], x0[i + 1], x0[i + 2], x0[i + 3]
                b0, b1, b2, b3 = x1[i], x1[i + 1], x1[i + 2], x1[i + 3]
                c0, c1, c2, c3 = x2[i], x2[i + 1], x2[i + 2], x2[i + 3]
                e0, e1, e2, e3 = x3[i], x3[i + 1], x3[i + 2], x3[i + 3]
                for r in range(W):
                    w0 = np.float32(qa[r])
                    w1 = np.float32(qb[r])
                    w2 = np.float32(qc[r])
                    w3 = np.float32(qe[r])
                    blk[0, r] += w0 * a0 + w1 * a1 + w2 * a2 + w3 * a3
                    blk[1, r] += w0 * b0 + w1 * b1 + w2 * b2 + w3 * b3
                    blk[2, r] += w0 * c0 + w1 * c1 + w2 * c2 + w3 * c3
                    blk[3, r] += w0 * e0 + w1 * e1 + w2 * e2 + w3 * e3
            db = d[t, b]
            for k in range(4):
                s = xs[row + k, b]
                bk = blk[k]
                ak = acc[k]
                for r in range(width):
                    ak[r] += db[r] * (s * bk[r])
                if has_min:
                    c = xsum[row + k, b]
                    mb = m[t, b]
                    for r in range(width):
                        ak[r] += mb[r] * c
        for k in range(4):
            out[row + k, t * width : (t + 1) * width] = acc[k]


# -- dequantizing (prefill through BLAS, embedding rows, tests) -----------------------------------
def _u4_dequantize(q, d, m, t0, t1, out):
    """Tiles [t0, t1) -> out [IN, (t1 - t0) * T] float32 (the layout `x @ out` wants)."""
    _, nb, _, width = q.shape
    for t in prange(t0, t1):
        c = (t - t0) * width
        for b in range(nb):
            db = d[t, b]
            mb = m[t, b]
            for j in range(16):
                lo_row = out[b * 32 + j]
                hi_row = out[b * 32 + 16 + j]
                qj = q[t, b, j]
                for r in range(W):
                    lo, hi = _split(qj[r])
                    lo_row[c + r] = db[r] * lo + mb[r]
                    hi_row[c + r] = db[r] * hi + mb[r]


def _i8_dequantize(q, d, m, t0, t1, out):
    _, nb, block, width = q.shape
    has_min = m.shape[0] > 0
    for t in prange(t0, t1):
        c = (t - t0) * width
        for b in range(nb):
            db = d[t, b]
            for j in range(block):
                row = out[b * block + j]
                qj = q[t, b, j]
                if has_min:
                    mb = m[t, b]
                    for r in range(W):
                        row[c + r] = db[r] * np.float32(qj[r]) + mb[r]
                else:
                    for r in range(W):
                        row[c + r] = db[r] * np.float32(qj[r])


def _u4_rows(q, d, m, ids, out):
    """Rows `ids` of W (an embedding lookup) -> out [len(ids), IN]."""
    width = q.shape[3]
    for k in range(ids.shape[0]):
        t, r = ids[k] // width, ids[k] % width
        for b in range(q.shape[1]):
            for j in range(16):
                lo, hi = _split(q[t, b, j, r])
                out[k, b * 32 + j] = d[t, b, r] * lo + m[t, b, r]
                out[k, b * 32 + 16 + j] = d[t, b, r] * hi + m[t, b, r]


def _i8_rows(q, d, m, ids, out):
    _, nb, block, width = q.shape
    has_min = m.shape[0] > 0
    for k in range(ids.shape[0]):
        t, r = ids[k] // width, ids[k] % width
        for b in range(nb):
            for j in range(block):
                w = d[t, b, r] * np.float32(q[t, b, j, r])
                out[k, b * block + j] = w + m[t, b, r] if has_min else w


def _block_sums(x, block, out):
    """out[n, b] = sum of x[n, b*block:(b+1)*block] (what a block's offset m multiplies)."""
    for n in range(x.shape[0]):
        for b in range(out.shape[1]):
            s = np.float32(0.0)
            for j in range(block):
                s += x[n, b * block + j]
            out[n, b] = s


def _variant(fn, parallel: bool):
    """A jitted copy of `fn`; the parallel one gets its own name so the disk caches differ."""
    if not parallel:
        return njit(**_FLAGS)(fn)
    name = fn.__name__ + "_parallel"
    code = fn.__code__.replace(co_name=name, co_qualname=name)
    clone = types.FunctionType(code, fn.__globals__, name)
    clone.__qualname__ = name
    return njit(parallel=True, **_FLAGS)(clone)


_KERNELS = {
    "u4": (_u4_rows1, _u4_rows4, _u4_dequantize),
    "i8": (_i8_rows1, _i8_rows4, _i8_dequantize),
}
SERIAL = {k: tuple(_variant(f, False) for f in fs) for k, fs in _KERNELS.items()}
PARALLEL = {k: tuple(_variant(f, True) for f in fs) for k, fs in _KERNELS.items()}
ROWS = {"u4": njit(**_FLAGS)(_u4_rows), "i8": njit(**_FLAGS)(_i8_rows)}
block_sums = njit(**_FLAGS)(_block_sums)
