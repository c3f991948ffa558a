"""Quantized blocks and the compiled kernels against the project's own dequantization.

Each ggml block type is filled with random bytes (scale fields replaced by finite float16
values, so every bit pattern of the quants is exercised) and decoded two ways: by
engine/checkpoint/gguf/dequant.py (itself tested bit-exact against the gguf package) and
by the kernels' layout. Dequantized weights must be bit-identical. Products differ from
`x @ W_ref.T` only in float32 summation order, so each output is held within
1e-5 * sum_i |x_i| |W_ri| of the reference (about 80 float32 roundings of the largest
possible partial sum; an error in layout, scale or nibble order is orders larger).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba", reason="numba is not installed (pip install numba)")
gguf = pytest.importorskip("gguf", reason="the gguf extra is not installed")

from thinkfast.engine.checkpoint.gguf.dequant import dequantize  # noqa: E402
from thinkfast.engine.local.quant import (  # noqa: E402
    QuantizedMatrix,
    decode,
    quantize_int8,
    runtime,
    set_threads,
)
from thinkfast.engine.local.quant.weights import QuantizedStack  # noqa: E402

Q = gguf.GGMLQuantizationType
# type -> (bytes per block, weights per block, byte offsets of float16 scale fields)
LAYOUT = {
    Q.Q8_0: (34, 32, [0]),
    Q.Q4_0: (18, 32, [0]),
    Q.Q4_1: (20, 32, [0, 2]),
    Q.Q5_0: (22, 32, [0]),
    Q.Q5_1: (24, 32, [0, 2]),
    Q.Q4_K: (144, 256, [0, 2]),
    Q.Q6_K: (210, 256, [208]),
}


def random_tensor(qtype: int, rows: int, n_in: int, seed: int = 0) -> np.ndarray:
    """Raw bytes [rows, bytes per row] of a valid tensor: random quants, finite scales."""
    size, per, scales = LAYOUT[qtype]
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (rows * n_in // per, size), dtype=np.uint8)
    for at in scales:
        d = (rng.standard_normal(len(blocks)) * 0.01).astype(np.float16)
        blocks[:, at : at + 2] = d.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(rows, -1)


def tolerance(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return 1e-5 * (np.abs(x) @ np.abs(w).T) + 1e-30


@pytest.mark.parametrize("qtype", list(LAYOUT), ids=lambda t: Q(t).name)
def test_blocks_dequantize_bit_exactly(qtype: int) -> None:
    data = random_tensor(qtype, 70, 512)
    reference = dequantize(data, qtype, (70, 512))
    blocks = decode(data, qtype, 512)
    assert np.array_equal(blocks.dequantize(), reference)
    matrix = QuantizedMatrix(blocks)
    assert np.array_equal(matrix.dequantize(), reference)  # the compiled row gather
    ids = np.array([69, 0, 64, 3])
    assert np.array_equal(matrix[ids], reference[ids])


@pytest.mark.parametrize("qtype", list(LAYOUT), ids=lambda t: Q(t).name)
@pytest.mark.parametrize("rows", [1, 3, 4, 9, 40, 70])  # 1-row, n-row kernels, BLAS path
def test_products_match_the_float32_reference(qtype: int, rows: int) -> None:
    data = random_tensor(qtype, 200, 512, seed=rows)  # 200: the last tile is padded
    w = dequantize(data, qtype, (200, 512))
    x = np.random.default_rng(rows).standard_normal((rows, 512)).astype(np.float32)
    y = QuantizedMatrix(decode(data, qtype, 512))(x)
    assert y.shape == (rows, 200) and y.dtype == np.float32
    assert np.all(np.abs(y - x @ w.T) <= tolerance(x, w))


def test_a_row_gets_the_same_numbers_alone_or_in_a_batch() -> None:
    data = random_tensor(Q.Q4_1, 128, 256)
    matrix = QuantizedMatrix(decode(data, Q.Q4_1, 256))
    x = np.random.default_rng(1).standard_normal((6, 256)).astype(np.float32)
    batched = matrix(x)
    alone = np.concatenate([matrix(x[i : i + 1]) for i in range(6)])
    np.testing.assert_allclose(batched, alone, rtol=1e-5, atol=1e-6)


def test_fused_parts_concat_or_stack_and_add_their_bias() -> None:
    q = QuantizedMatrix(decode(random_tensor(Q.Q4_K, 128, 256), Q.Q4_K, 256))
    v = QuantizedMatrix(decode(random_tensor(Q.Q6_K, 64, 256, seed=1), Q.Q6_K, 256))
    k = QuantizedMatrix(decode(random_tensor(Q.Q4_K, 64, 256, seed=2), Q.Q4_K, 256))
    assert QuantizedMatrix.can_concat([q, k]) and not QuantizedMatrix.can_concat([q, v])
    x = np.random.default_rng(2).standard_normal((2, 256)).astype(np.float32)
    w = np.concatenate([q.dequantize(), k.dequantize(), v.dequantize()])
    bias = np.arange(256, dtype=np.float32)
    fused = QuantizedStack([QuantizedMatrix.concat([q, k]), v])
    fused.b = bias
    assert np.all(np.abs(fused(x) - (x @ w.T + bias)) <= tolerance(x, w) + 1e-4)


def test_int8_quantization_error_is_within_half_a_step() -> None:
    w = np.random.default_rng(3).standard_normal((96, 128)).astype(np.float32)
    blocks = quantize_int8(w)
    step = np.repeat(blocks.d, 32, axis=1)
    assert np.all(np.abs(blocks.dequantize() - w) <= step / 2 + 1e-7)
    x = np.random.default_rng(4).standard_normal((2, 128)).astype(np.float32)
    got, wq = QuantizedMatrix(blocks)(x), blocks.dequantize()
    assert np.all(np.abs(got - x @ wq.T) <= tolerance(x, wq))


def test_parallel_kernels_give_the_serial_numbers() -> None:
    data = random_tensor(Q.Q4_1, 256, 256)
    matrix = QuantizedMatrix(decode(data, Q.Q4_1, 256))
    x = np.random.default_rng(5).standard_normal((5, 256)).astype(np.float32)
    before = runtime.threads()
    serial = matrix(x)
    set_threads(2)
    try:
        parallel = matrix(x)
    finally:
        set_threads(before)
    assert np.array_equal(serial, parallel)  # tiles are split, never a sum


def test_unsupported_types_stay_float32() -> None:
    assert decode(np.zeros((2, 128), np.uint8), Q.F16, 64) is None
    assert decode(np.zeros((2, 84), np.uint8), Q.Q2_K, 256) is None
    with pytest.raises(ValueError, match="threads must be a whole number >= 1"):
        set_threads(0)
