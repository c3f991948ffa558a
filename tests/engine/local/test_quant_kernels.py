"""Quantized blocks and the compiled kernels against the project's own dequantization.

Each ggml block type is filled with random bytes (scale fields replaced by finite float16
values, so every bit pattern of the quants is exercised) and decoded two ways: by
engine/checkpoint/gguf/dequant.py (itself tested bit-exact against the gguf package) and
by the kernels' layout. Dequantized weights must be bit-identical. Products with float32
activations differ from `x @ W_ref.T` only in float32 summation order, so each output is
held within 1e-5 * sum_i |x_i| |W_ri| of the reference (about 80 float32 roundings of the
largest possible partial sum; an error in layout, scale or nibble order is orders larger).
With 8-bit activations (int_kernels) each activation may also be off by half its rounding
step, amax / 254 per block for int8 and up to amax / 32512 for int8x2, so the bound adds
sum over blocks of that times sum |W_ri| over the block: again tight enough that a wrong
layout fails, loose enough that rounding never does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def rounding_bound(x: np.ndarray, w: np.ndarray, block: int, activations: str) -> np.ndarray:
    """The most 8-bit activations (per block of `block` inputs) can move x @ w.T."""
    n, out = x.shape[0], w.shape[0]
    step = np.abs(x).reshape(n, -1, block).max(axis=2) / 127  # [n, blocks]
    # int8x2: the residual rounds to 1/256 of a step, clipped at +-127/256 (so up to 1/256)
    half = {"float32": 0.0, "int8": 0.5, "int8x2": 1 / 256}[activations]
    weight = np.abs(w).reshape(out, -1, block).sum(axis=2)  # [out, blocks]
    return tolerance(x, w) + half * step @ weight.T


def matrix_for(data: np.ndarray, qtype: int, n_in: int, activations: str) -> QuantizedMatrix:
    matrix = QuantizedMatrix(decode(data, qtype, n_in))
    matrix.activations = activations
    return matrix


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
@pytest.mark.parametrize("activations", ["int8x2", "int8", "float32"])
# 1 row, the n-row kernels (rows in groups of 8 and 4, padded), the BLAS path (200)
@pytest.mark.parametrize("rows", [1, 3, 4, 9, 12, 40, 200])
def test_products_match_the_float32_reference(qtype: int, activations: str, rows: int) -> None:
    if activations == "int8" and rows == 200:
        pytest.skip("int8 activations never take the BLAS path")
    data = random_tensor(qtype, 200, 512, seed=rows)  # 200: the last tile is padded
    w = dequantize(data, qtype, (200, 512))
    x = np.random.default_rng(rows).standard_normal((rows, 512)).astype(np.float32)
    matrix = matrix_for(data, qtype, 512, activations)
    y = matrix(x)
    assert y.shape == (rows, 200) and y.dtype == np.float32
    integer = 1 < rows < 192 and runtime.integer_variant(matrix.kind) is not None
    bound = rounding_bound(x, w, matrix.block, activations if integer else "float32")
    assert np.all(np.abs(y - x @ w.T) <= bound)


@pytest.mark.parametrize("activations", ["int8x2", "int8"])
def test_integer_products_are_exact_for_the_rounded_activations(activations: str) -> None:
    """What the 8-bit kernels compute is exactly sum_j v_j round(x_j): the only error is
    the activations' rounding (here redone in numpy), none from the integer arithmetic."""
    data = random_tensor(Q.Q8_0, 128, 256, seed=7)
    matrix = matrix_for(data, Q.Q8_0, 256, activations)
    if runtime.integer_variant("i8") is None:
        pytest.skip("this CPU has no 8-bit dot product for signed weights")
    x = np.random.default_rng(8).standard_normal((5, 256)).astype(np.float32)
    amax = np.abs(x.reshape(5, -1, 32)).max(axis=2, keepdims=True)
    step, scaled = amax / np.float32(127), x.reshape(5, -1, 32) * (np.float32(127) / amax)
    rounded = np.rint(scaled) * step  # float32 as the kernel rounds
    if activations == "int8x2":
        rest = np.clip(np.rint((scaled - np.rint(scaled)) * np.float32(256)), -127, 127)
        rounded += rest * (step / 256)
    w = dequantize(data, Q.Q8_0, (128, 256))
    expected = rounded.reshape(5, 256) @ w.T
    assert np.all(np.abs(matrix(x) - expected) <= tolerance(x, w))
    assert not np.allclose(matrix(x), x @ w.T, rtol=0, atol=1e-6)  # rounding did happen


@pytest.mark.parametrize("activations", ["int8x2", "int8", "float32"])
def test_a_row_gets_the_same_numbers_in_any_batch(activations: str) -> None:
    """A sample's numbers must not depend on which others share its step: identical in
    every batch of 2+ rows; alone (the one-row kernel, float32 activations) within the
    rounding bound."""
    data = random_tensor(Q.Q4_1, 128, 256)
    matrix = matrix_for(data, Q.Q4_1, 256, activations)
    x = np.random.default_rng(1).standard_normal((11, 256)).astype(np.float32)
    batched = matrix(x)
    for size in (2, 3, 5, 8):
        assert np.array_equal(matrix(x[:size]), batched[:size])
    alone = np.concatenate([matrix(x[i : i + 1]) for i in range(11)])
    w = dequantize(data, Q.Q4_1, (128, 256))
    integer = runtime.integer_variant("u4") is not None
    bound = rounding_bound(x, w, 32, activations if integer else "float32")
    assert np.all(np.abs(alone - batched) <= 2 * bound)


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


@pytest.mark.parametrize("activations", ["int8x2", "float32"])
def test_parallel_kernels_give_the_serial_numbers(activations: str) -> None:
    data = random_tensor(Q.Q4_1, 256, 256)
    matrix = matrix_for(data, Q.Q4_1, 256, activations)
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


AVX2_FEATURES = (  # a Haswell: AVX2 and FMA, no AVX-512 (the CPUs the docs' build flags name)
    "+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+fsgsbase,+lzcnt,+mmx,+movbe,"
    "+pclmul,+popcnt,+sahf,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave"
)


def test_the_avx2_form_of_the_integer_kernels(tmp_path) -> None:
    """Compiled for an AVX2-only CPU (in a subprocess: numba fixes its target at start),
    4-bit weights take the vpmaddubsw form of the dot product and stay within the int8x2
    bound; 8-bit weights keep the float32 kernels."""
    script = (
        "import numpy as np, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_quant_kernels import Q, random_tensor, rounding_bound, matrix_for\n"
        "from thinkfast.engine.checkpoint.gguf.dequant import dequantize\n"
        "from thinkfast.engine.local.quant import runtime, simd\n"
        "assert simd.DOT == 'avx2', simd.DOT\n"
        "assert runtime.integer_variant('i8') is None and runtime.integer_variant('u4')\n"
        "data = random_tensor(Q.Q4_1, 200, 512, seed=3)\n"
        "w = dequantize(data, Q.Q4_1, (200, 512))\n"
        "x = np.random.default_rng(3).standard_normal((9, 512)).astype(np.float32)\n"
        "y = matrix_for(data, Q.Q4_1, 512, 'int8x2')(x)\n"
        "assert np.all(np.abs(y - x @ w.T) <= rounding_bound(x, w, 32, 'int8x2'))\n"
        "print('ok')\n"
    )
    env = {
        **os.environ,
        "NUMBA_CPU_NAME": "haswell",
        "NUMBA_CPU_FEATURES": AVX2_FEATURES,
        "NUMBA_CACHE_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]
