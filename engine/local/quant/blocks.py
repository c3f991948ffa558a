"""ggml quantized blocks -> the kernels' two forms: 4-bit (u4) or int8 (i8) values with a
float32 scale (and offset) per block of 32 or 16 inputs.

Every supported type maps exactly: the weight the kernel reconstructs, d * v + m in
float32, equals the project's dequantization (engine/checkpoint/gguf/dequant.py and the
gguf package) bit for bit, because each scale product (an f16 times a 6- or 8-bit integer)
is exact in float32. Block layouts from ggml's `ggml-common.h`:

  Q8_0  34 B / 32: d f16, q int8[32]                       w = d q            -> i8, 32
  Q4_0  18 B / 32: d f16, q 4-bit[32] (byte j: j | j+16)   w = d (q - 8)      -> u4, m = -8d
  Q4_1  20 B / 32: d, m f16, q 4-bit[32]                   w = d q + m        -> u4
  Q4_K 144 B / 256: d, dmin f16, 12 B of 6-bit (sc, mn) per 32, 128 B nibbles
                    (32 bytes give sub-block 2c its low nibbles, 2c+1 its high ones)
                                                           w = d sc q - dmin mn -> u4
  Q6_K 210 B / 256: ql 128 B, qh 64 B, int8 sc[16], d f16  w = d sc (q - 32)  -> i8, 16
  Q5_0  22 B / 32: d f16, qh u32 (bit 4 of each), q 4-bit  w = d (q - 16)     -> i8, 32
  Q5_1  24 B / 32: d, m f16, qh u32, q 4-bit               w = d q + m        -> i8, 32

Other types (F16, BF16, Q2_K, Q3_K, Q5_K, IQ*) return None: such a tensor keeps the
float32 path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Blocks", "decode", "quantize_int8", "SUPPORTED"]

F32 = np.float32
Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K = 2, 3, 6, 7, 8, 12, 14
SUPPORTED = {Q8_0: "Q8_0", Q4_0: "Q4_0", Q4_1: "Q4_1", Q4_K: "Q4_K", Q6_K: "Q6_K",
             Q5_0: "Q5_0", Q5_1: "Q5_1"}  # fmt: skip


@dataclass
class Blocks:
    """One matrix [rows, n_in] as values + per-block scale d and offset m (or None).

    u4: `values` are packed bytes [rows, n_in / 2], byte j of a 32-block holding weight j
    in its low nibble and weight j + 16 in its high one; i8: int8 [rows, n_in].
    """

    kind: str  # "u4" | "i8"
    block: int  # inputs per scale: 32 or 16
    values: np.ndarray
    d: np.ndarray  # float32 [rows, n_in / block]
    m: np.ndarray | None  # float32 [rows, n_in / block]
    source: str  # ggml type name, or "int8"

    def dequantize(self) -> np.ndarray:
        """float32 [rows, n_in], computed as the kernels do (tests hold it to ggml's)."""
        rows = self.values.shape[0]
        if self.kind == "u4":
            b = self.values.reshape(rows, -1, 16)
            v = np.concatenate([b & 15, b >> 4], axis=2).astype(F32)  # [rows, nb, 32]
        else:
            v = self.values.reshape(rows, -1, self.block).astype(F32)
        w = self.d[:, :, None] * v
        if self.m is not None:
            w = w + self.m[:, :, None]
        return w.reshape(rows, -1)


def _f16(raw: np.ndarray) -> np.ndarray:
    """[..., 2] bytes -> float32 [...]."""
    return np.ascontiguousarray(raw).view(np.float16)[..., 0].astype(F32)


def decode(data: np.ndarray, ggml_type: int, n_in: int) -> Blocks | None:
    """Raw bytes [rows, bytes per row] of one GGUF matrix -> Blocks, or None if unsupported."""
    if ggml_type not in SUPPORTED:
        return None
    rows = data.shape[0]
    name = SUPPORTED[ggml_type]
    if ggml_type == Q8_0:
        b = data.reshape(rows, -1, 34)
        values = np.ascontiguousarray(b[:, :, 2:]).view(np.int8).reshape(rows, n_in)
        return Blocks("i8", 32, values, _f16(b[:, :, 0:2]), None, name)
    if ggml_type == Q4_0:
        b = data.reshape(rows, -1, 18)
        d = _f16(b[:, :, 0:2])
        packed = np.ascontiguousarray(b[:, :, 2:]).reshape(rows, -1)
        return Blocks("u4", 32, packed, d, -8.0 * d, name)
    if ggml_type == Q4_1:
        b = data.reshape(rows, -1, 20)
        packed = np.ascontiguousarray(b[:, :, 4:]).reshape(rows, -1)
        return Blocks("u4", 32, packed, _f16(b[:, :, 0:2]), _f16(b[:, :, 2:4]), name)
    if ggml_type in (Q5_0, Q5_1):
        return _q5(data, ggml_type, rows, n_in, name)
    if ggml_type == Q4_K:
        return _q4_k(data, rows, n_in)
    return _q6_k(data, rows, n_in)


def _q5(data: np.ndarray, ggml_type: int, rows: int, n_in: int, name: str) -> Blocks:
    width = 22 if ggml_type == Q5_0 else 24
    b = data.reshape(rows, -1, width)
    head = 2 if ggml_type == Q5_0 else 4
    high = np.ascontiguousarray(b[:, :, head : head + 4]).view(np.uint32)  # [rows, nb, 1]
    bits = ((high >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8)  # [rows, nb, 32]
    q = b[:, :, head + 4 :]
    v = np.concatenate([q & 15, q >> 4], axis=2) | (bits << 4)
    d = _f16(b[:, :, 0:2])
    if ggml_type == Q5_0:
        values = (v.astype(np.int16) - 16).astype(np.int8).reshape(rows, n_in)
        return Blocks("i8", 32, values, d, None, name)
    return Blocks("i8", 32, v.astype(np.int8).reshape(rows, n_in), d, _f16(b[:, :, 2:4]), name)


def _q4_k(data: np.ndarray, rows: int, n_in: int) -> Blocks:
    b = data.reshape(rows, -1, 144)
    n_super = b.shape[1]
    d, dmin = _f16(b[:, :, 0:2]), _f16(b[:, :, 2:4])
    s = b[:, :, 4:16].reshape(rows, n_super, 3, 4)
    lo, mid, top = s[:, :, 0], s[:, :, 1], s[:, :, 2]
    # 8 six-bit scales and mins: sub-blocks 0-3 in the low 6 bits of bytes 0-3 / 4-7,
    # sub-blocks 4-7 from the nibbles of bytes 8-11 plus the top 2 bits of bytes 0-7
    sc = np.concatenate([lo & 63, (top & 15) | ((lo >> 2) & 48)], axis=2).astype(F32)
    mn = np.concatenate([mid & 63, (top >> 4) | ((mid >> 2) & 48)], axis=2).astype(F32)
    q = b[:, :, 16:].reshape(rows, n_super, 4, 32)
    sub = np.stack([q & 15, q >> 4], axis=3)  # [rows, super, 4, 2 (even/odd sub-block), 32]
    sub = sub.reshape(rows, n_super * 8, 32)  # weight j of each 32-block, in order
    packed = sub[:, :, :16] | (sub[:, :, 16:] << 4)  # the u4 byte convention
    scale = (d[:, :, None] * sc).reshape(rows, -1)
    offset = -(dmin[:, :, None] * mn).reshape(rows, -1)
    return Blocks("u4", 32, packed.reshape(rows, -1), scale, offset, "Q4_K")


def _q6_k(data: np.ndarray, rows: int, n_in: int) -> Blocks:
    b = data.reshape(rows, -1, 210)
    n_super = b.shape[1]
    # each 128-weight half: ql 64 B (low nibbles: weights 0-63, high: 64-127 of the half
    # in two runs of 32), qh 32 B (2 bits per weight, four runs of 32)
    ql = b[:, :, :128].reshape(rows, n_super, 2, 2, 32)  # [.., half, run of 32 bytes, 32]
    qh = b[:, :, 128:192].reshape(rows, n_super, 2, 1, 32)
    low = np.stack([ql & 15, ql >> 4], axis=3)  # [.., half, 2 (nibble), 2 (byte run), 32]
    low = low.reshape(rows, n_super, 2, 4, 32)  # runs: (lo, bytes 0-31), (lo, 32-63), (hi ..)
    high = (qh >> (2 * np.arange(4, dtype=np.uint8)).reshape(1, 1, 1, 4, 1)) & 3
    q = (low | (high << 4)).astype(np.int16) - 32
    values = q.astype(np.int8).reshape(rows, n_in)
    sc = np.ascontiguousarray(b[:, :, 192:208]).view(np.int8).astype(F32)  # [rows, super, 16]
    d = _f16(b[:, :, 208:210])
    return Blocks("i8", 16, values, (d[:, :, None] * sc).reshape(rows, -1), None, "Q6_K")


def quantize_int8(weight: np.ndarray, block: int = 32) -> Blocks:
    """float32 [rows, n_in] -> int8 with one absmax scale per `block` inputs (Q8_0's rule,
    scales kept in float32). Used for HF checkpoints loaded with weights="int8"."""
    rows, n_in = weight.shape
    w = np.asarray(weight, dtype=F32).reshape(rows, n_in // block, block)
    amax = np.abs(w).max(axis=2)
    d = (amax / 127.0).astype(F32)
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    values = np.clip(np.rint(w * inv[:, :, None]), -127, 127).astype(np.int8)
    return Blocks("i8", block, values.reshape(rows, n_in), d, None, "int8")
