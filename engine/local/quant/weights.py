"""QuantizedMatrix: a weight matrix kept in quantized blocks, applied by compiled kernels.

It stands where the float32 `Linear` stands in the model (`y = m(x)`, x [N, IN] -> [N, OUT],
optional bias), and can also hand out rows (an embedding held quantized, tied to the
lm_head). Few rows (decode: one per sample) go through the fused kernels, which read each
weight tile once for all rows; many rows (a prompt) dequantize a few MiB of tiles at a
time into a float32 buffer and run one BLAS GEMM on it, which is compute-bound anyway.
"""

from __future__ import annotations

import numpy as np

from . import runtime
from .blocks import Blocks

__all__ = ["QuantizedMatrix", "QuantizedStack"]

F32 = np.float32
TILE = 64  # output rows per tile: the kernels' vector lanes
GEMM_CHUNK_BYTES = 4 << 20  # float32 scratch per GEMM chunk
GROUP = 4  # the integer kernels take rows in fours (int_kernels)
# From this many rows on, dequantize tiles and run one BLAS GEMM, per activations mode
# (benchmarks/quant_crossover.py on SmolLM2's matrices, BENCHMARKS.md): the float32
# kernels beat the GEMM up to about 48 rows; the int8x2 kernels up to about 200; the int8
# ones were still 1.3-2.0x faster at 512 rows, the largest measured, so they take any number.
GEMM_ROWS = {"float32": 64, "int8x2": 192, "int8": 1 << 62}


class QuantizedMatrix:
    """W [OUT, IN] as tiles: values q [tiles, IN / block, 16 | block, TILE], d and m
    [tiles, IN / block, TILE] (see kernels.py for why rows are the fastest axis), as
    float16 bits (uint16) when that is exact, else float32."""

    activations = "int8x2"  # how 2+ rows are multiplied (build.ACTIVATION_MODES)

    def __init__(self, blocks: Blocks, bias: np.ndarray | None = None) -> None:
        rows = blocks.values.shape[0]
        self.kind, self.block, self.source = blocks.kind, blocks.block, blocks.source
        self.n_out = rows
        self.n_in = blocks.d.shape[1] * blocks.block
        tiles = -(-rows // TILE)
        pad = tiles * TILE - rows  # zero scales: padded rows compute zeros, then are dropped
        per_block = 16 if self.kind == "u4" else self.block
        q = blocks.values.reshape(rows, -1, per_block)
        self.q = _tiled(q, tiles, pad)  # [tiles, nb, per_block, TILE]
        d = _tiled(blocks.d[:, :, None], tiles, pad)[:, :, 0]  # [tiles, nb, TILE]
        m = None if blocks.m is None else _tiled(blocks.m[:, :, None], tiles, pad)[:, :, 0]
        # float16 bits where every scale (and offset) survives the round trip: the ggml
        # types that store float16 scales (Q8_0, Q4_0, Q4_1, Q5_*), not K-quant products
        half = _as_half(d) is not None and (m is None or _as_half(m) is not None)
        self.d = _as_half(d) if half else d
        if m is None:
            self.m = np.zeros((0, 0, 0), dtype=self.d.dtype)
        else:
            self.m = _as_half(m) if half else m
        self.b = None if bias is None else np.ascontiguousarray(bias, dtype=F32)

    @classmethod
    def concat(cls, parts: list[QuantizedMatrix]) -> QuantizedMatrix:
        """Stack matrices along OUT (fused q|k|v, gate|up) when their layouts match.

        Parts must share kind, block and IN, and all but the last fill whole tiles;
        otherwise keep them apart in a QuantizedStack (see `can_concat`).
        """
        first = parts[0]
        out = cls.__new__(cls)
        out.kind, out.block, out.source, out.n_in = (
            first.kind,
            first.block,
            first.source,
            first.n_in,
        )
        out.activations = first.activations
        out.n_out = sum(p.n_out for p in parts)
        out.q = np.concatenate([p.q for p in parts])
        out.d = np.concatenate([p.d for p in parts])
        out.m = first.m if first.m.size == 0 else np.concatenate([p.m for p in parts])
        biases = [p.b for p in parts]
        if any(b is not None for b in biases):
            out.b = np.concatenate(
                [
                    np.zeros(p.n_out, F32) if b is None else b
                    for p, b in zip(parts, biases, strict=True)
                ]
            )
        else:
            out.b = None
        return out

    @staticmethod
    def can_concat(parts: list[QuantizedMatrix]) -> bool:
        a = parts[0]
        return all(
            p.kind == a.kind
            and p.block == a.block
            and p.n_in == a.n_in
            and (p.m.size == 0) == (a.m.size == 0)
            and p.d.dtype == a.d.dtype
            for p in parts
        ) and all(p.n_out % TILE == 0 for p in parts[:-1])

    @property
    def nbytes(self) -> int:
        return (
            self.q.nbytes + self.d.nbytes + self.m.nbytes + (0 if self.b is None else self.b.nbytes)
        )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_out, self.n_in)

    # -- products ---------------------------------------------------------------------------
    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x [N, IN] float32 -> [N, OUT] float32."""
        x = np.ascontiguousarray(x, dtype=F32)
        n = x.shape[0]
        mode = self.activations
        integer = (
            None if mode == "float32" else runtime.integer_variant(self.kind, mode == "int8x2")
        )
        if n >= GEMM_ROWS[mode if integer else "float32"]:
            y = self._gemm(x)
        elif n == 1:  # bound by memory: float32 activations cost nothing here
            y = self._one_row(x)
        elif integer:  # 8-bit activations, with their rounding residual for int8x2
            y = np.empty((-(-n // GROUP) * GROUP, self._width), dtype=F32)
            flat = self.q.reshape(-1), self.d.reshape(-1), self.m.reshape(-1)
            integer(*flat, x, y, *(() if self.kind == "u4" else (self.block,)))
            y = y[:n, : self.n_out]
        else:
            y = np.empty((n, self._width), dtype=F32)
            runtime.variant(self.kind)[1](self.q, self.d, self.m, x, y)
            y = y[:, : self.n_out]
        if self.b is not None:
            y += self.b
        return y

    @property
    def _width(self) -> int:
        """OUT padded to whole tiles (what the kernels write)."""
        return self.q.shape[0] * TILE

    def _one_row(self, x: np.ndarray) -> np.ndarray:
        """Raw products scaled per block (see kernels._u4_rows1)."""
        y = np.empty((1, self._width), dtype=F32)
        runtime.variant(self.kind)[0](self.q, self.d, self.m, x[0], y[0])
        return y[:, : self.n_out]

    def _gemm(self, x: np.ndarray) -> np.ndarray:
        # Serial dequantizing: BLAS's threads own this path. numba's OpenMP pool and
        # OpenBLAS's spin-waiting in turn on 2 cores held a 2-thread prompt to 191 tok/s,
        # 516 since (SmolLM2 Q4_1, benchmarks/engine_vs_llamacpp.py --separate).
        dequantize = runtime.kernels().SERIAL[self.kind][2]
        tiles = self.q.shape[0]
        step = max(1, GEMM_CHUNK_BYTES // (self.n_in * TILE * 4))
        buf = np.empty(self.n_in * min(step, tiles) * TILE, dtype=F32)
        out = np.empty((x.shape[0], tiles * TILE), dtype=F32)
        for t0 in range(0, tiles, step):
            t1 = min(t0 + step, tiles)
            # a contiguous [IN, cols] view even for the last, narrower chunk: the kernel's
            # row writes then vectorise (a column slice of a wider buffer would not)
            w = buf[: self.n_in * (t1 - t0) * TILE].reshape(self.n_in, -1)
            dequantize(self.q, self.d, self.m, t0, t1, w)
            np.matmul(x, w, out=out[:, t0 * TILE : t1 * TILE])
        return out[:, : self.n_out] if out.shape[1] != self.n_out else out

    # -- rows -------------------------------------------------------------------------------
    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows `ids` of W as float32 [len(ids), IN] (an embedding lookup)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        out = np.empty((len(ids), self.n_in), dtype=F32)
        runtime.kernels().ROWS[self.kind](self.q, self.d, self.m, ids, out)
        return out

    def __getitem__(self, ids) -> np.ndarray:
        return self.rows(np.asarray(ids))

    def dequantize(self) -> np.ndarray:
        """The whole matrix as float32 [OUT, IN] (tests, exports)."""
        return self.rows(np.arange(self.n_out))


class QuantizedStack:
    """Matrices of different layouts (a Q4_K_M file's q, k in Q4_K and v in Q6_K) applied
    one after the other to the same input and concatenated along OUT."""

    def __init__(self, parts: list[QuantizedMatrix]) -> None:
        self.parts = parts
        self.n_out = sum(p.n_out for p in parts)
        self.n_in = parts[0].n_in
        self.b: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.parts) + (0 if self.b is None else self.b.nbytes)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = np.concatenate([p(x) for p in self.parts], axis=1)
        if self.b is not None:
            y += self.b
        return y


def _as_half(a: np.ndarray) -> np.ndarray | None:
    """float32 `a` as float16 bits (uint16) if that is exact, else None."""
    with np.errstate(over="ignore"):
        h = a.astype(np.float16)
    return h.view(np.uint16) if np.array_equal(h.astype(F32), a) else None


def _tiled(a: np.ndarray, tiles: int, pad: int) -> np.ndarray:
    """[rows, nb, k] -> [tiles, nb, k, TILE], rows padded with zeros."""
    if pad:
        a = np.concatenate([a, np.zeros((pad, *a.shape[1:]), dtype=a.dtype)])
    rows, nb, k = a.shape
    return np.ascontiguousarray(a.reshape(tiles, TILE, nb, k).transpose(0, 2, 3, 1))
