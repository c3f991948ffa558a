"""Choosing, per weight matrix, between quantized blocks and the float32 `Linear`.

The model asks `linear(...)` / `embedding(...)` for each (fused) matrix; the answer is a
QuantizedMatrix when the weights mode and the checkpoint allow it, else None and the model
builds its float32 Linear as before. Modes (`LocalEngine(..., weights=...)`):

  auto     GGUF tensors in a supported block type stay quantized; everything else float32
  float32  every weight dequantized to float32 (the numpy reference path)
  int8     as auto, and float weights (HF checkpoints, F16/F32 GGUF tensors) are
           quantized to int8 with one scale per 32 inputs (Q8_0's rule)

Without numba, `auto` and `int8` fall back to float32 and say so once.

Activations (`LocalEngine(..., activations=...)`): how a step of 2+ rows (n samples, a
prompt) multiplies the quantized weights; one row always uses float32 activations.

  int8x2   each block of activations as int8 plus the int8 of what rounding lost
           (~15 bits): 8-bit integer dot products, logits as float32's (default)
  int8     one int8 per activation, llama.cpp's scheme: about 1.3x faster for n
           samples and 1.8x for prompts, at ~1% error per product (top-1 agreement
           with float32 0.942: BENCHMARKS.md)
  float32  the float32 kernels
"""

from __future__ import annotations

import mmap
from collections.abc import Mapping, Sequence

import numpy as np

from ...errors import InvalidRequestError, ModelLoadError
from . import runtime
from .blocks import Blocks, decode, quantize_int8
from .weights import QuantizedMatrix, QuantizedStack

__all__ = [
    "ACTIVATION_MODES",
    "WEIGHT_MODES",
    "check_activations",
    "check_mode",
    "embedding",
    "linear",
]

WEIGHT_MODES = ("auto", "float32", "int8")
ACTIVATION_MODES = ("int8x2", "int8", "float32")


def check_mode(mode: str) -> str:
    if mode not in WEIGHT_MODES:
        raise InvalidRequestError(
            f"weights={mode!r} is not a weights mode; accepted: {', '.join(WEIGHT_MODES)}"
        )
    return mode


def check_activations(mode: str) -> str:
    if mode not in ACTIVATION_MODES:
        raise InvalidRequestError(
            f"activations={mode!r} is not an activations mode; accepted: "
            f"{', '.join(ACTIVATION_MODES)}"
        )
    return mode


def _enabled(mode: str, weights: Mapping[str, np.ndarray]) -> bool:
    if mode == "float32" or (mode == "auto" and not hasattr(weights, "raw")):
        return False  # nothing would be quantized: do not import numba at all
    if runtime.available():
        return True
    runtime.warn_fallback(f"weights={mode!r}")
    return False


def _blocks(weights: Mapping[str, np.ndarray], name: str, shape: tuple[int, int], mode: str):
    """Blocks for one matrix, or None when it stays float32."""
    raw = getattr(weights, "raw", None)
    if raw is not None:
        data, ggml_type = raw(name)
        blocks = decode(data, ggml_type, shape[1])
        if blocks is not None:
            _release_pages(weights.source(name).data)  # the mapped bytes, not a q/k copy
            if blocks.values.shape[0] != shape[0] or blocks.d.shape[1] * blocks.block != shape[1]:
                raise ModelLoadError(
                    f"tensor {name!r} has shape {weights.shape(name)}, the config implies {shape}"
                )
            return blocks
    if mode != "int8" or shape[1] % 32:
        return None
    array = np.asarray(weights[name])
    if tuple(array.shape) != shape:
        raise ModelLoadError(f"tensor {name!r} has shape {array.shape}, the config implies {shape}")
    return quantize_int8(array)


def _release_pages(data: np.ndarray) -> None:
    """Drop a converted tensor's pages of the memory-mapped file from resident memory.

    The tiles are a copy; without this the file's pages read while converting stay
    resident too (94 MiB for SmolLM2), though nothing reads them again. They are file
    pages, so a later read (an HF export, say) simply faults them back in.
    """
    owner = data
    while owner is not None and not isinstance(owner, mmap.mmap):
        owner = owner.obj if isinstance(owner, memoryview) else getattr(owner, "base", None)
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if owner is None or advice is None:
        return
    base = np.frombuffer(owner, dtype=np.uint8).ctypes.data
    start = data.ctypes.data - base
    first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages inside the tensor only
    last = (start + data.nbytes) // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        owner.madvise(advice, first, last - first)


def linear(
    weights: Mapping[str, np.ndarray],
    names: Sequence[str],
    shapes: Sequence[tuple[int, int]],
    bias: np.ndarray | None,
    mode: str,
    activations: str = "int8x2",
) -> QuantizedMatrix | QuantizedStack | None:
    """The matrices `names` stacked along OUT as one quantized product, or None."""
    if not _enabled(mode, weights):
        return None
    parts: list[Blocks] = []
    for name, shape in zip(names, shapes, strict=True):
        blocks = _blocks(weights, name, shape, mode)
        if blocks is None:
            return None  # one float part: keep the whole fused matrix in float32
        parts.append(blocks)
    matrices = [QuantizedMatrix(b) for b in parts]
    for matrix in matrices:
        matrix.activations = activations
    fused = (
        QuantizedMatrix.concat(matrices)
        if QuantizedMatrix.can_concat(matrices)
        else QuantizedStack(matrices)
    )
    fused.b = None if bias is None else np.ascontiguousarray(bias, dtype=np.float32)
    return fused


def embedding(
    weights: Mapping[str, np.ndarray],
    name: str,
    shape: tuple[int, int],
    mode: str,
    activations: str = "int8x2",
) -> QuantizedMatrix | None:
    """The token embedding kept quantized (rows dequantized on lookup; the lm_head when
    tied), or None."""
    if not _enabled(mode, weights):
        return None
    blocks = _blocks(weights, name, shape, mode)
    if blocks is None:
        return None
    matrix = QuantizedMatrix(blocks)
    matrix.activations = activations
    return matrix
