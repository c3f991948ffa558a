"""Where a quantized matrix should hand many rows to BLAS: the dequantize + GEMM path
against the 8-bit integer kernels (int8x2 and int8), per row count, side by side.

For one layer's gate and down matrices of a GGUF file, each row count is timed through
`QuantizedMatrix` three ways in this process, interleaved, best of --repeats: the GEMM path
(what `activations="float32"` uses from 64 rows, and int8x2 from `GEMM_ROWS["int8x2"]`),
and the integer kernels forced at every row count. Ratios > 1: the kernels are faster.
This is what set `GEMM_ROWS` in engine/local/quant/weights.py.

    OMP_NUM_THREADS=1 python benchmarks/quant_crossover.py
    OMP_NUM_THREADS=1 python benchmarks/quant_crossover.py --model path/to/model.Q8_0.gguf
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

MATRICES = {  # name in the file -> what it is (layer 0)
    "model.layers.0.mlp.gate_proj.weight": "gate",
    "model.layers.0.mlp.down_proj.weight": "down",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help=".gguf path or known name")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    from thinkfast.engine.checkpoint.gguf import find_known_gguf, load_gguf
    from thinkfast.engine.local.quant import decode, weights

    path = args.model if args.model.endswith(".gguf") else str(find_known_gguf(args.model))
    raw = load_gguf(path).weights
    rng = np.random.default_rng(0)
    forced = {"float32": 1, "int8x2": 1 << 62, "int8": 1 << 62}  # GEMM / kernels always
    print(f"{path.rsplit('/', 1)[-1]}: GEMM ms, and integer kernels' speed / GEMM's")
    print(
        f"{'rows':>5s}"
        + "".join(f"{n + ' GEMM':>12s}{'int8x2':>9s}{'int8':>8s}" for n in MATRICES.values())
    )
    for rows in (64, 128, 192, 256, 512):
        cells = []
        for name in MATRICES:
            data, ggml_type = raw.raw(name)
            matrix = weights.QuantizedMatrix(decode(data, ggml_type, raw.shape(name)[1]))
            x = rng.standard_normal((rows, matrix.n_in)).astype(np.float32)
            best = {mode: float("inf") for mode in forced}
            saved = dict(weights.GEMM_ROWS)
            weights.GEMM_ROWS.update(forced)
            try:
                for _ in range(args.repeats + 1):  # the first round compiles and warms up
                    for mode in forced:
                        matrix.activations = mode
                        start = time.perf_counter()
                        matrix(x)
                        best[mode] = min(best[mode], time.perf_counter() - start)
            finally:
                weights.GEMM_ROWS.update(saved)
            gemm = best["float32"]
            cells.append(
                f"{gemm * 1e3:12.2f}{gemm / best['int8x2']:8.2f}x{gemm / best['int8']:7.2f}x"
            )
        print(f"{rows:5d}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
