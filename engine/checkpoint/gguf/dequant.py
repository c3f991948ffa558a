"""Dequantizing GGUF tensors to float32.

The `gguf` package dequantizes every ggml type, but in row groups with many small numpy
calls (about 1.4 s for SmolLM2's 135M Q4_1 weights). The block types most files use for
most tensors (Q4_0, Q4_1, Q8_0, F16, BF16, F32) are simple enough to decode for a whole
tensor in a handful of vectorised operations, which this module does; every other type
goes to `gguf.quants.dequantize`.

Block layouts (ggml `ggml-common.h`), 32 weights per block:
  Q8_0: d (f16), q[32] (int8)                    w = d * q
  Q4_0: d (f16), q[16] (two 4-bit values a byte) w = d * (q - 8)
  Q4_1: d (f16), m (f16), q[16]                  w = d * q + m
In a 4-bit block, byte j holds weight j in its low nibble and weight j + 16 in its high one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dequantize"]

# ggml type ids (ggml.h `enum ggml_type`)
F32, F16, Q4_0, Q4_1, Q8_0, BF16 = 0, 1, 2, 3, 8, 30


def dequantize(data: np.ndarray, ggml_type: int, shape: tuple[int, ...]) -> np.ndarray:
    """Raw bytes [rows, bytes per row] of one tensor -> float32 array of `shape`."""
    fast = _FAST.get(ggml_type)
    if fast is not None:
        raw = np.ascontiguousarray(data).reshape(-1)
        block_bytes, block_size = _BLOCK[ggml_type]
        out = np.empty(raw.size // block_bytes * block_size, dtype=np.float32)
        # a few thousand blocks at a time keeps the temporaries in cache (one pass over
        # the whole tensor per operation would be memory-bound)
        step = _CHUNK_BLOCKS * block_bytes
        for start in range(0, raw.size, step):
            piece = fast(raw[start : start + step])
            at = start // block_bytes * block_size
            out[at : at + piece.size] = piece.reshape(-1)
        return out.reshape(shape)
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize as gguf_dequantize

    out = gguf_dequantize(data, GGMLQuantizationType(ggml_type))
    return np.ascontiguousarray(out, dtype=np.float32).reshape(shape)


def _f32(raw: np.ndarray) -> np.ndarray:
    return raw.view(np.float32).copy()


def _f16(raw: np.ndarray) -> np.ndarray:
    return raw.view(np.float16).astype(np.float32)


def _bf16(raw: np.ndarray) -> np.ndarray:
    # bf16 is the top half of a float32: widen the bits and reinterpret
    return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)


def _scale(blocks: np.ndarray, at: int) -> np.ndarray:
    """The f16 field at byte offset `at` of every block, as a float32 column."""
    return blocks[:, at : at + 2].copy().view(np.float16).astype(np.float32)


def _nibbles(q: np.ndarray) -> np.ndarray:
    """[blocks, 16] bytes -> [blocks, 32] values 0..15 in weight order."""
    return np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.float32)


def _q8_0(raw: np.ndarray) -> np.ndarray:
    blocks = raw.reshape(-1, 34)
    return _scale(blocks, 0) * blocks[:, 2:].view(np.int8).astype(np.float32)


def _q4_0(raw: np.ndarray) -> np.ndarray:
    blocks = raw.reshape(-1, 18)
    return _scale(blocks, 0) * (_nibbles(blocks[:, 2:]) - 8.0)


def _q4_1(raw: np.ndarray) -> np.ndarray:
    blocks = raw.reshape(-1, 20)
    return _scale(blocks, 0) * _nibbles(blocks[:, 4:]) + _scale(blocks, 2)


_FAST = {F32: _f32, F16: _f16, BF16: _bf16, Q8_0: _q8_0, Q4_0: _q4_0, Q4_1: _q4_1}
# type -> (bytes per block, weights per block)
_BLOCK = {F32: (4, 1), F16: (2, 1), BF16: (2, 1), Q8_0: (34, 32), Q4_0: (18, 32), Q4_1: (20, 32)}
_CHUNK_BLOCKS = 8192
