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

One row (batch-1 decode) is bound by the bytes streamed: per block the kernel sums the raw
values times the activations and scales once, d * sum_j v_j x_j + m * sum_j x_j (the
activation sums computed once per call, `_block_sums`). Nibbles are split in float32
(v - 16 floor(v / 16)): numba widens integer bit operations to int64, which would halve
the vector lanes. Scales are float16 bits where exact (see `_scales`).

n rows (n samples decoding together) are bound by arithmetic: each block's T x 32 raw
values are unpacked ONCE per step into a float32 scratch that stays in L1, every row is
multiplied against it, 4 rows x 4 inputs per pass (`_apply`: each scratch vector feeds 4
FMAs, the 16 broadcast activations stay in registers), and each row's block sums are then
scaled, d * blk + m * sum(x). That is an FMA-bound loop (about 2 vector FMAs a cycle, 8
float32 lanes: LLVM prefers 256-bit vectors on this host). That bound is why steps of 2+
rows normally take int_kernels.py's 8-bit integer dot products instead; these n-row
kernels serve `activations="float32"` and 8-bit weights on CPUs without VNNI.
Tiles are split across threads (`prange`) in the parallel variants.
"""

from __future__ import annotations

import types

import numpy as np
from numba import njit, prange
from numba import types as nbtypes
from numba.extending import overload

F32 = np.float32
SIXTEENTH = F32(0.0625)
SIXTEEN = F32(16.0)
TWO_112 = F32(2.0**112)
_FLAGS = {"cache": True, "nogil": True, "fastmath": True}
W = 64  # tile width (weights.TILE): a compile-time constant lets LLVM see that the four
# accumulator rows of `_apply` never overlap, so it vectorises them without runtime alias
# checks


@njit(inline="always", fastmath=True)
def _split(byte):
    """One byte of two 4-bit values -> (low, high) as float32, in float arithmetic."""
    v = np.float32(byte)
    high = np.floor(v * SIXTEENTH)
    return v - SIXTEEN * high, high


def _scales(s, t, b, out):
    """out[:W] = the float32 scales (or offsets) of tile t, block b; compiled by the overload."""


@overload(_scales, inline="always")
def _scales_impl(s, t, b, out):
    """Scales are held as float16 bits (uint16) where that is exact (the ggml types whose
    block scales are float16: 2 bytes instead of 4, 17% of a Q4_1 matrix's bytes) and as
    float32 otherwise (K-quant sub-block products d * sc, int8 absmax). numba has no float16,
    so the bits are widened by hand: exponent and mantissa shifted into a float32, then one
    exact multiply by 2^112 rebiases the exponent (subnormals and zero included)."""
    if s.dtype == nbtypes.uint16:

        def widen(s, t, b, out):
            bits = out.view(np.uint32)
            row = s[t, b]
            for r in range(W):
                h = np.uint32(row[r])
                bits[r] = ((h & 0x7FFF) << 13) | ((h & 0x8000) << 16)
            for r in range(W):
                out[r] *= TWO_112

        return widen

    def copy(s, t, b, out):
        out[:] = s[t, b]

    return copy


def _u4_rows1(q, d, m, x, out):
    """One row (batch-1 decode): bound by the bytes streamed, so the block's raw nibble
    products are summed first and scaled once: d * sum_j v_j x_j + m * sum_j x_j. Eight
    bytes (16 weights) per pass: one accumulator load and store per 16 weights instead of
    per 2, which let SmolLM2's layers stream 1.45x faster from memory (measured)."""
    tiles, nb, _, width = q.shape
    xsum = _block_sums(x, 32, nb)  # here, not a separate call: a dispatch costs microseconds
    for t in prange(tiles):
        blk = np.empty(W, np.float32)
        acc = np.zeros(W, np.float32)
        db = np.empty(W, np.float32)
        mb = np.empty(W, np.float32)
        for b in range(nb):
            blk[:] = 0
            for j in range(0, 16, 8):
                i = b * 32 + j
                a0, a1, a2, a3 = x[i], x[i + 1], x[i + 2], x[i + 3]
                a4, a5, a6, a7 = x[i + 4], x[i + 5], x[i + 6], x[i + 7]
                h0, h1, h2, h3 = x[i + 16], x[i + 17], x[i + 18], x[i + 19]
                h4, h5, h6, h7 = x[i + 20], x[i + 21], x[i + 22], x[i + 23]
                q0, q1, q2, q3 = q[t, b, j], q[t, b, j + 1], q[t, b, j + 2], q[t, b, j + 3]
                q4, q5, q6, q7 = q[t, b, j + 4], q[t, b, j + 5], q[t, b, j + 6], q[t, b, j + 7]
                for r in range(W):
                    l0, u0 = _split(q0[r])
                    l1, u1 = _split(q1[r])
                    l2, u2 = _split(q2[r])
                    l3, u3 = _split(q3[r])
                    l4, u4 = _split(q4[r])
                    l5, u5 = _split(q5[r])
                    l6, u6 = _split(q6[r])
                    l7, u7 = _split(q7[r])
                    blk[r] += (
                        (l0 * a0 + l1 * a1 + l2 * a2 + l3 * a3)
                        + (u0 * h0 + u1 * h1 + u2 * h2 + u3 * h3)
                    ) + (
                        (l4 * a4 + l5 * a5 + l6 * a6 + l7 * a7)
                        + (u4 * h4 + u5 * h5 + u6 * h6 + u7 * h7)
                    )
            _scales(d, t, b, db)
            _scales(m, t, b, mb)
            c = xsum[b]
            for r in range(W):
                acc[r] += db[r] * blk[r] + mb[r] * c
        out[t * width : (t + 1) * width] = acc


def _i8_rows1(q, d, m, x, out):
    """As `_u4_rows1`, eight inputs per pass (1.85x faster than two on SmolLM2's lm_head)."""
    tiles, nb, block, width = q.shape
    has_min = m.shape[0] > 0
    xsum = _block_sums(x, block, nb if has_min else 0)
    for t in prange(tiles):
        blk = np.empty(W, np.float32)
        acc = np.zeros(W, np.float32)
        db = np.empty(W, np.float32)
        mb = np.empty(W, np.float32)
        for b in range(nb):
            blk[:] = 0
            for j in range(0, block, 8):  # blocks are 16 or 32
                i = b * block + j
                a0, a1, a2, a3 = x[i], x[i + 1], x[i + 2], x[i + 3]
                a4, a5, a6, a7 = x[i + 4], x[i + 5], x[i + 6], x[i + 7]
                q0, q1, q2, q3 = q[t, b, j], q[t, b, j + 1], q[t, b, j + 2], q[t, b, j + 3]
                q4, q5, q6, q7 = q[t, b, j + 4], q[t, b, j + 5], q[t, b, j + 6], q[t, b, j + 7]
                for r in range(W):
                    blk[r] += (
                        (F32(q0[r]) * a0 + F32(q1[r]) * a1) + (F32(q2[r]) * a2 + F32(q3[r]) * a3)
                    ) + ((F32(q4[r]) * a4 + F32(q5[r]) * a5) + (F32(q6[r]) * a6 + F32(q7[r]) * a7))
            _scales(d, t, b, db)
            for r in range(W):
                acc[r] += db[r] * blk[r]
            if has_min:
                _scales(m, t, b, mb)
                c = xsum[b]
                for r in range(W):
                    acc[r] += mb[r] * c
        out[t * width : (t + 1) * width] = acc


# -- n rows: unpack each block once into float32 scratch, then a register-blocked product --
@njit(inline="always", fastmath=True)
def _apply(w, xv, acc, o, block):
    """acc[k, r] += sum_j w[j, r] x[k, o + j] for every row k: 4 rows x 4 inputs per pass,
    so 16 broadcast activations stay in registers and each scratch vector feeds 4 FMAs."""
    n = xv.shape[0]
    k = 0
    while k + 4 <= n:
        x0, x1, x2, x3 = xv[k], xv[k + 1], xv[k + 2], xv[k + 3]
        y0, y1, y2, y3 = acc[k], acc[k + 1], acc[k + 2], acc[k + 3]
        for j in range(0, block, 4):
            i = o + j
            w0, w1, w2, w3 = w[j], w[j + 1], w[j + 2], w[j + 3]
            a0, a1, a2, a3 = x0[i], x0[i + 1], x0[i + 2], x0[i + 3]
            b0, b1, b2, b3 = x1[i], x1[i + 1], x1[i + 2], x1[i + 3]
            c0, c1, c2, c3 = x2[i], x2[i + 1], x2[i + 2], x2[i + 3]
            e0, e1, e2, e3 = x3[i], x3[i + 1], x3[i + 2], x3[i + 3]
            for r in range(W):
                p0, p1, p2, p3 = w0[r], w1[r], w2[r], w3[r]
                y0[r] += (p0 * a0 + p1 * a1) + (p2 * a2 + p3 * a3)
                y1[r] += (p0 * b0 + p1 * b1) + (p2 * b2 + p3 * b3)
                y2[r] += (p0 * c0 + p1 * c1) + (p2 * c2 + p3 * c3)
                y3[r] += (p0 * e0 + p1 * e1) + (p2 * e2 + p3 * e3)
        k += 4
    while k < n:
        x0 = xv[k]
        y0 = acc[k]
        for j in range(0, block, 4):
            i = o + j
            w0, w1, w2, w3 = w[j], w[j + 1], w[j + 2], w[j + 3]
            a0, a1, a2, a3 = x0[i], x0[i + 1], x0[i + 2], x0[i + 3]
            for r in range(W):
                y0[r] += (w0[r] * a0 + w1[r] * a1) + (w2[r] * a2 + w3[r] * a3)
        k += 1


@njit(inline="always", fastmath=True)
def _unpack_u4(q, t, b, w):
    """Block b of tile t -> w [32, T]: the raw 4-bit values as float32 (scaled per block
    afterwards, so the unpack does no multiply-add per weight)."""
    for j in range(16):
        qj = q[t, b, j]
        lo_row = w[j]
        hi_row = w[j + 16]
        for r in range(W):
            lo_row[r], hi_row[r] = _split(qj[r])


@njit(inline="always", fastmath=True)
def _unpack_i8(q, t, b, w):
    for j in range(q.shape[2]):
        qj = q[t, b, j]
        row = w[j]
        for r in range(W):
            row[r] = F32(qj[r])


@njit(inline="always", fastmath=True)
def _rows_block_sums(xv, block, nb):
    """[n, nb] block sums of every row (what each block's offset m multiplies)."""
    out = np.empty((xv.shape[0], nb), np.float32)
    for k in range(xv.shape[0]):
        out[k] = _block_sums(xv[k], block, nb)
    return out


def _u4_rowsn(q, d, m, xv, out):
    """All rows of xv at once: each block's raw values are unpacked once into L1-resident
    scratch, multiplied into every row's block sums (`_apply`), which are then scaled:
    acc += d * blk + m * sum(x). Raw values, not d v + m: two multiply-adds fewer per
    weight in the unpack, which then keeps up with the memory stream better (SmolLM2's 30
    gate|up matrices, 8 rows: 16.3 -> 14.1 ms; 2 rows: 9.3 -> 7.5 ms)."""
    tiles, nb, _, width = q.shape
    n = xv.shape[0]
    xsum = _rows_block_sums(xv, 32, nb)
    for t in prange(tiles):
        w = np.empty((32, W), np.float32)
        blk = np.empty((n, W), np.float32)
        acc = np.zeros((n, W), np.float32)
        db = np.empty(W, np.float32)
        mb = np.empty(W, np.float32)
        for b in range(nb):
            _unpack_u4(q, t, b, w)
            blk[:] = 0
            _apply(w, xv, blk, b * 32, 32)
            _scales(d, t, b, db)
            _scales(m, t, b, mb)
            for k in range(n):
                c = xsum[k, b]
                bk = blk[k]
                ak = acc[k]
                for r in range(W):
                    ak[r] += db[r] * bk[r] + mb[r] * c
        for k in range(n):
            out[k, t * width : (t + 1) * width] = acc[k]


def _i8_rowsn(q, d, m, xv, out):
    tiles, nb, block, width = q.shape
    has_min = m.shape[0] > 0
    n = xv.shape[0]
    xsum = _rows_block_sums(xv, block, nb if has_min else 0)
    for t in prange(tiles):
        w = np.empty((block, W), np.float32)
        blk = np.empty((n, W), np.float32)
        acc = np.zeros((n, W), np.float32)
        db = np.empty(W, np.float32)
        mb = np.empty(W, np.float32)
        for b in range(nb):
            _unpack_i8(q, t, b, w)
            blk[:] = 0
            _apply(w, xv, blk, b * block, block)
            _scales(d, t, b, db)
            if has_min:
                _scales(m, t, b, mb)
            for k in range(n):
                bk = blk[k]
                ak = acc[k]
                if has_min:
                    c = xsum[k, b]
                    for r in range(W):
                        ak[r] += db[r] * bk[r] + mb[r] * c
                else:
                    for r in range(W):
                        ak[r] += db[r] * bk[r]
        for k in range(n):
            out[k, t * width : (t + 1) * width] = acc[k]


# -- dequantizing (prefill through BLAS, embedding rows, tests) -----------------------------------
def _u4_dequantize(q, d, m, t0, t1, out):
    """Tiles [t0, t1) -> out [IN, (t1 - t0) * T] float32 (the layout `x @ out` wants)."""
    _, nb, _, width = q.shape
    for t in prange(t0, t1):
        c = (t - t0) * width
        db = np.empty(W, np.float32)
        mb = np.empty(W, np.float32)
        for b in range(nb):
            _scales(d, t, b, db)
            _scales(m, t, b, mb)
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
        db = np.empty(W, np.float32)
        mb = np.zeros(W, np.float32)
        for b in range(nb):
            _scales(d, t, b, db)
            if has_min:
                _scales(m, t, b, mb)
            for j in range(block):
                row = out[b * block + j]
                qj = q[t, b, j]
                for r in range(W):
                    row[c + r] = db[r] * np.float32(qj[r]) + mb[r]


def _u4_rows(q, d, m, ids, out):
    """Rows `ids` of W (an embedding lookup) -> out [len(ids), IN]."""
    width = q.shape[3]
    db = np.empty(W, np.float32)
    mb = np.empty(W, np.float32)
    for k in range(ids.shape[0]):
        t, r = ids[k] // width, ids[k] % width
        for b in range(q.shape[1]):
            _scales(d, t, b, db)
            _scales(m, t, b, mb)
            for j in range(16):
                lo, hi = _split(q[t, b, j, r])
                out[k, b * 32 + j] = db[r] * lo + mb[r]
                out[k, b * 32 + 16 + j] = db[r] * hi + mb[r]


def _i8_rows(q, d, m, ids, out):
    _, nb, block, width = q.shape
    has_min = m.shape[0] > 0
    db = np.empty(W, np.float32)
    mb = np.zeros(W, np.float32)
    for k in range(ids.shape[0]):
        t, r = ids[k] // width, ids[k] % width
        for b in range(nb):
            _scales(d, t, b, db)
            if has_min:
                _scales(m, t, b, mb)
            for j in range(block):
                out[k, b * block + j] = db[r] * np.float32(q[t, b, j, r]) + mb[r]


@njit(inline="always", fastmath=True)
def _block_sums(x, block, nb):
    """[nb]: sums of x over each block of inputs (what a block's offset m multiplies)."""
    out = np.empty(nb, np.float32)
    for b in range(nb):
        s = np.float32(0.0)
        for j in range(block):
            s += x[b * block + j]
        out[b] = s
    return out


def _variant(fn, parallel: bool, constants: dict | None = None):
    """A jitted copy of `fn`, parallel or not, seeing `constants` as its globals' values
    (compile-time constants to numba); each copy gets its own name, so its own disk cache."""
    if not parallel and not constants:
        return njit(**_FLAGS)(fn)
    suffix = "".join(f"_{k}_{v}" for k, v in (constants or {}).items())
    name = fn.__name__ + suffix + ("_parallel" if parallel else "")
    code = fn.__code__.replace(co_name=name, co_qualname=name)
    clone = types.FunctionType(code, {**fn.__globals__, **(constants or {})}, name)
    clone.__qualname__ = name
    return njit(parallel=parallel, **_FLAGS)(clone)


_KERNELS = {
    "u4": (_u4_rows1, _u4_rowsn, _u4_dequantize),
    "i8": (_i8_rows1, _i8_rowsn, _i8_dequantize),
}
SERIAL = {k: tuple(_variant(f, False) for f in fs) for k, fs in _KERNELS.items()}
PARALLEL = {k: tuple(_variant(f, True) for f in fs) for k, fs in _KERNELS.items()}
ROWS = {"u4": njit(**_FLAGS)(_u4_rows), "i8": njit(**_FLAGS)(_i8_rows)}
