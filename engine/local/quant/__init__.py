"""Quantized weights for the local engine: GGUF blocks (and int8) applied by compiled kernels.

`blocks` decodes ggml block types into two kernel forms, `weights.QuantizedMatrix` holds a
matrix in them and multiplies, `kernels` are the numba loops, `runtime` says whether numba
is usable and with how many threads. numba is imported only when a quantized matrix is
first used; without it the model keeps the float32 numpy path (see runtime.warn_fallback).
"""

from __future__ import annotations

from .blocks import SUPPORTED, Blocks, decode, quantize_int8
from .build import ACTIVATION_MODES, check_activations
from .runtime import available, set_threads, threads, warn_fallback
from .weights import QuantizedMatrix

__all__ = [
    "ACTIVATION_MODES",
    "SUPPORTED",
    "Blocks",
    "QuantizedMatrix",
    "available",
    "check_activations",
    "decode",
    "quantize_int8",
    "set_threads",
    "threads",
    "warn_fallback",
]
