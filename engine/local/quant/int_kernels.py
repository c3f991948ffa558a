"""Many-row products with 8-bit integer dot products: y = x @ W.T for 2+ rows.

n samples decoding together make a step bound by arithmetic, not bytes (kernels.py). These
kernels round each row's activations per weight block to int8, as llama.cpp does
(x ~ dx * qx, dx = max|x| / 127 over the block), and multiply them with the raw weight
values by 64-lane integer dot products (simd.py): per 16 weight rows and 4 inputs, one
`vpdpbusd` per activation row, accumulated in int32 over the block, then scaled once:

    y[k, r] += d[r] * dx[k, b] * sum_j v[r, j] qx[k, j]  +  m[r] * sum_j x[k, j]

The offset term uses the float sum of the activations (exact), not the rounded one.
4-bit values (u4) are unsigned and go in as `vpdpbusd`'s unsigned operand against signed
activations; 8-bit values (i8) are signed, so the activations go in unsigned, offset by 128,
and 128 * sum(v) is taken off per block (computed from the same weights by one more dot).

Two compiled copies of each kernel (RESIDUAL, a compile-time constant):
  int8     the rounded activations alone (llama.cpp's scheme; ~1% error per product)
  int8x2   each row followed by the residual of its rounding in 1/256 steps: a pass of 8
           activation rows is 4 rows and their residuals, summed as 256 q + r in int32
           before the one scaling, so the products carry ~15-bit activations and the
           logits are the float32 path's (docs/engine.md, "Activations")

Loop order: per tile, per 16 rows of it, per 8 activation rows (4 at the end), over all
blocks; the 16 rows' weights (4.6 KiB for a 576-wide Q4 matrix) stay in L1 while each pass
of activation rows goes over them, and each weight vector is unpacked once per pass.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import _FLAGS, W, _variant
from .simd import (
    DOT,
    dot,
    fma,
    high_nibbles,
    load_floats,
    low_nibbles,
    mul,
    quads,
    shift_add,
    splat_byte,
    splat_float,
    splat_quad,
    store_floats,
    sub_ints,
    to_floats,
    zero_floats,
    zero_ints,
)

LANES = 16  # weight rows per vector


@njit(**_FLAGS)
def quantize_rows(x, block, offset, npad, residual):
    """x [n, IN] -> (the int8 activations as int32 quads [npad * IN / 4], their scales dx
    and the float block sums [npad, nb]); rows past n are zero. `offset` 128 stores them
    unsigned (+128). With `residual`, rows go in groups of 8: 4 rows, then what rounding
    lost from each of them, x / dx - q, in steps of 1/256 (the kernel adds 256 q + r in
    int32 and scales by dx / 256, which is what these rows' dx hold): ~15-bit activations."""
    n, width = x.shape
    nb = width // block
    q = np.zeros((npad, width), np.int8)
    dx = np.zeros((npad, nb), np.float32)
    xs = np.zeros((npad, nb), np.float32)
    for k in range(n):
        row = (k // 4) * 8 + k % 4 if residual else k
        for b in range(nb):
            seg = x[k, b * block : (b + 1) * block]
            amax = np.float32(0.0)
            total = np.float32(0.0)
            for j in range(block):  # branch-free loops over one block: LLVM vectorises them
                amax = max(amax, abs(seg[j]))
                total += seg[j]
            xs[row, b] = total
            dx[row, b] = amax / np.float32(127.0 * 256.0 if residual else 127.0)
            inv = np.float32(127.0) / amax if amax > 0 else np.float32(0.0)
            high = q[row, b * block : (b + 1) * block]
            for j in range(block):
                high[j] = np.int8(np.rint(seg[j] * inv))
            if residual:
                low = q[row + 4, b * block : (b + 1) * block]
                for j in range(block):
                    v = seg[j] * inv
                    r = np.rint((v - np.rint(v)) * np.float32(256.0))  # within +-128
                    low[j] = np.int8(min(max(r, np.float32(-127.0)), np.float32(127.0)))
    quads = q.reshape(-1).view(np.int32)
    if offset:  # + 128 on every byte is flipping its top bit
        for i in range(quads.shape[0]):
            quads[i] ^= np.int32(-2139062144)  # 0x80808080
    return quads, dx, xs


def _u4_rowsn_int(q, d, m, x, result):
    """x [n, IN] float32 -> result [n rounded up to 4, OUT padded]. q, d, m: the u4 tiles
    and scales flat. Block b of a tile: 16 bytes x W rows, byte j holding inputs j | j + 16
    of each row; the activations go in as int32 quads of int8."""
    rows, orow = result.shape
    residual = RESIDUAL
    npad = 2 * rows if residual else rows  # activation rows
    tiles, nb = orow // W, x.shape[1] // 32
    xq, dx, xs = quantize_rows(x, 32, 0, npad, residual)
    out = result.reshape(-1)
    qrow = nb * 8  # activation quads per row
    none = zero_ints()
    for t in prange(tiles):
        for rv in range(0, W, LANES):
            for k in range(0, npad, 8):
                eight = k + 8 <= npad  # else the last 4 rows
                f, h = _zeros4(zero_floats()), _zeros4(zero_floats())
                for b in range(nb):
                    a, e = _zeros4(none), _zeros4(none)
                    base = (t * nb + b) * 16 * W + rv
                    for g in range(4):
                        w = quads(q, base + g * 4 * W)
                        lo, hi = low_nibbles(w), high_nibbles(w)
                        p = k * qrow + b * 8 + g
                        a = _u4_dots(a, lo, hi, xq, p, qrow)
                        if eight:
                            e = _u4_dots(e, lo, hi, xq, p + 4 * qrow, qrow)
                    s = (t * nb + b) * W + rv
                    dv, mv = load_floats(d, s), load_floats(m, s)
                    if residual:  # e: the rounding residual of a's rows, 1/256 steps
                        f = _scale4(f, _combine4(a, e, none), none, dv, mv, dx, xs, k, b)
                    else:
                        f = _scale4(f, a, none, dv, mv, dx, xs, k, b)
                        if eight:
                            h = _scale4(h, e, none, dv, mv, dx, xs, k + 4, b)
                _store_group(out, orow, t * W + rv, k, f, h, eight, residual)


def _i8_rowsn_int(q, d, m, x, result, block):
    """As `_u4_rowsn_int` for signed 8-bit values (blocks of 32 or 16, one value a byte)
    against activations stored unsigned (+128); `m` is empty when the type has no offset."""
    rows, orow = result.shape
    residual = RESIDUAL
    npad = 2 * rows if residual else rows
    tiles, nb = orow // W, x.shape[1] // block
    xq, dx, xs = quantize_rows(x, block, 128, npad, residual)
    out = result.reshape(-1)
    per = block // 4  # quads per block
    qrow = nb * per
    has_min = m.shape[0] > 0
    offset = splat_byte(128)
    none = zero_ints()
    for t in prange(tiles):
        for rv in range(0, W, LANES):
            for k in range(0, npad, 8):
                eight = k + 8 <= npad
                f, h = _zeros4(zero_floats()), _zeros4(zero_floats())
                for b in range(nb):
                    a, e = _zeros4(none), _zeros4(none)
                    c = none  # 128 * sum(v): what the +128 of the activations added
                    base = (t * nb + b) * block * W + rv
                    for g in range(per):
                        w = quads(q, base + g * 4 * W)
                        c = dot(c, offset, w)
                        p = k * qrow + b * per + g
                        a = _i8_dots(a, w, xq, p, qrow)
                        if eight:
                            e = _i8_dots(e, w, xq, p + 4 * qrow, qrow)
                    s = (t * nb + b) * W + rv
                    dv = load_floats(d, s)
                    mv = load_floats(m, s) if has_min else zero_floats()
                    if residual:  # e: the rounding residual of a's rows, 1/256 steps
                        f = _scale4(f, _combine4(a, e, c), none, dv, mv, dx, xs, k, b)
                    else:
                        f = _scale4(f, a, c, dv, mv, dx, xs, k, b)
                        if eight:
                            h = _scale4(h, e, c, dv, mv, dx, xs, k + 4, b)
                _store_group(out, orow, t * W + rv, k, f, h, eight, residual)


# Four activation rows at a time, as tuples of vectors (LLVM keeps them in registers). A
# pass takes 8 rows where there are 8 left, so each weight vector is unpacked once for 8.
@njit(inline="always", **_FLAGS)
def _zeros4(z):
    return z, z, z, z


@njit(inline="always", **_FLAGS)
def _u4_dots(a, lo, hi, xq, p, qrow):
    """Rows' int32 sums += low nibbles x quad p, high nibbles x quad p + 4 (inputs + 16)."""
    a0, a1, a2, a3 = a
    a0 = dot(dot(a0, lo, splat_quad(xq, p)), hi, splat_quad(xq, p + 4))
    p += qrow
    a1 = dot(dot(a1, lo, splat_quad(xq, p)), hi, splat_quad(xq, p + 4))
    p += qrow
    a2 = dot(dot(a2, lo, splat_quad(xq, p)), hi, splat_quad(xq, p + 4))
    p += qrow
    a3 = dot(dot(a3, lo, splat_quad(xq, p)), hi, splat_quad(xq, p + 4))
    return a0, a1, a2, a3


@njit(inline="always", **_FLAGS)
def _i8_dots(a, w, xq, p, qrow):
    a0, a1, a2, a3 = a
    a0 = dot(a0, splat_quad(xq, p), w)
    a1 = dot(a1, splat_quad(xq, p + qrow), w)
    a2 = dot(a2, splat_quad(xq, p + 2 * qrow), w)
    a3 = dot(a3, splat_quad(xq, p + 3 * qrow), w)
    return a0, a1, a2, a3


@njit(inline="always", **_FLAGS)
def _store_group(out, orow, col, k, f, h, eight, residual):
    """Outputs of activation rows k.. at columns col..col+15; with `residual` the rows
    were 4 rows and their residuals, so output rows k / 2.. ."""
    if residual:
        _store4(out, (k // 2) * orow + col, orow, f)
    else:
        _store4(out, k * orow + col, orow, f)
        if eight:
            _store4(out, (k + 4) * orow + col, orow, h)


@njit(inline="always", **_FLAGS)
def _combine4(a, e, c):
    """256 (a - c) + (e - c): a row's int8 sums and its residual's (1/256 steps) in one."""
    a0, a1, a2, a3 = a
    e0, e1, e2, e3 = e
    return (
        shift_add(sub_ints(a0, c), sub_ints(e0, c)),
        shift_add(sub_ints(a1, c), sub_ints(e1, c)),
        shift_add(sub_ints(a2, c), sub_ints(e2, c)),
        shift_add(sub_ints(a3, c), sub_ints(e3, c)),
    )


@njit(inline="always", **_FLAGS)
def _scale4(f, a, c, dv, mv, dx, xs, k, b):
    """f + d * dx * (a - c) + m * xs for rows k..k+3: a block's integer sums into the rows'
    float outputs (c: the i8 kernels' offset correction, zero for u4)."""
    f0, f1, f2, f3 = f
    a0, a1, a2, a3 = a
    f0 = _scale(f0, sub_ints(a0, c), dv, mv, dx[k, b], xs[k, b])
    f1 = _scale(f1, sub_ints(a1, c), dv, mv, dx[k + 1, b], xs[k + 1, b])
    f2 = _scale(f2, sub_ints(a2, c), dv, mv, dx[k + 2, b], xs[k + 2, b])
    f3 = _scale(f3, sub_ints(a3, c), dv, mv, dx[k + 3, b], xs[k + 3, b])
    return f0, f1, f2, f3


@njit(inline="always", **_FLAGS)
def _scale(f, a, dv, mv, dx, xs):
    return fma(to_floats(a), mul(dv, splat_float(dx)), fma(mv, splat_float(xs), f))


@njit(inline="always", **_FLAGS)
def _store4(out, o, orow, f):
    f0, f1, f2, f3 = f
    store_floats(out, o, f0)
    store_floats(out, o + orow, f1)
    store_floats(out, o + 2 * orow, f2)
    store_floats(out, o + 3 * orow, f3)


# AVX2's form of the dot product adds pairs in 16 bits with saturation: exact for 4-bit
# weights (2 * 15 * 128 < 2^15), not for 8-bit ones against activations + 128, which keep
# the float32 kernels there.
_KINDS = {"u4": _u4_rowsn_int, "i8": _i8_rowsn_int} if DOT == "vnni" else {"u4": _u4_rowsn_int}
RESIDUAL = False  # each compiled copy below sees its own value, a compile-time constant:
# as an argument, the branches it decides made LLVM spill the accumulators (1.35x slower)
SERIAL = {
    (kind, residual): _variant(fn, False, {"RESIDUAL": residual})
    for kind, fn in _KINDS.items()
    for residual in (False, True)
}
PARALLEL = {
    (kind, residual): _variant(fn, True, {"RESIDUAL": residual})
    for kind, fn in _KINDS.items()
    for residual in (False, True)
}
