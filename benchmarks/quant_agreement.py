"""How far the quantized kernels move the logits: teacher-forced top-1 agreement and logit
correlation, per activations mode, against the dequantized float32 path and llama.cpp.

Every position of a passage (the llama.cpp test's, 276 SmolLM2 tokens) is decoded one
step at a time, as generation runs: by the one-row kernels (float32 activations), and with
4 copies of the text a step through the many-row kernels of each activations mode
(int8x2, int8, float32; docs/engine.md). Each position's logits are compared with the
float32 numpy path's (the same dequantized weights: what the kernels should compute) and,
with llama-cpp-python installed, with llama.cpp's on the same file. Correlation is the
mean over positions of the Pearson correlation of the two logit vectors; TV the mean
total variation distance between the two sampling distributions at temperature 0.8 (the
share of draws that would change).

    python benchmarks/quant_agreement.py
    python benchmarks/quant_agreement.py --model path/to/model.gguf --rows 8
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help=".gguf path or known name")
    parser.add_argument("--rows", type=int, default=4, help="rows a step for the n-row modes")
    args = parser.parse_args()

    from thinkfast.engine.checkpoint.gguf import find_known_gguf, load_gguf
    from thinkfast.engine.local.config import ModelArgs
    from thinkfast.engine.local.model import Transformer

    path = args.model if args.model.endswith(".gguf") else str(find_known_gguf(args.model))
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "engine" / "checkpoint"))
    from test_gguf_llamacpp import PASSAGE

    ckpt = load_gguf(path)
    config = ModelArgs.from_hf(ckpt.config)
    ids = ckpt.tokenizer.encode(PASSAGE, add_special_tokens=False).ids
    reference = Transformer(config, ckpt.weights)
    references = {
        "float32 path": reference.prefill(
            np.array(ids), reference.new_cache(1, len(ids)), 0, all_logits=True
        )
    }
    try:
        import llama_cpp

        llm = llama_cpp.Llama(
            model_path=path, n_ctx=1024, n_threads=1, logits_all=True, verbose=False
        )
        llm.eval(ids)
        references["llama.cpp"] = np.array(llm.scores[: len(ids)], dtype=np.float32)
        llm.close()
    except ImportError:
        print("(llama-cpp-python is not installed: float32 path only)")

    runs = [("one row (float32 activations)", "int8x2", 1)]
    runs += [(f"{args.rows} rows, {mode}", mode, args.rows) for mode in ("int8x2", "int8")]
    runs += [(f"{args.rows} rows, float32", "float32", args.rows)]
    print(f"{Path(path).name}, {len(ids)} positions teacher-forced")
    heads = [f"{'top-1 vs ' + k:>24s}{'corr':>10s}{'TV':>8s}" for k in references]
    print(f"{'kernels':32s}" + "".join(heads))
    for label, mode, rows in runs:
        model = Transformer(config, ckpt.weights, weight_format="auto", activations=mode)
        cache = model.new_cache(rows, len(ids))
        logits = np.stack(
            [model.decode(np.full(rows, t), np.full(rows, i), cache)[0] for i, t in enumerate(ids)]
        )
        cells = []
        for ref in references.values():
            top1 = np.mean(logits.argmax(-1) == ref.argmax(-1))
            tv = _total_variation(logits, ref).mean()
            cells.append(f"{top1:24.4f}{_correlation(logits, ref).mean():10.6f}{tv:8.4f}")
        print(f"{label:32s}" + "".join(cells))
    if "llama.cpp" in references:
        ref, theirs = references["float32 path"], references["llama.cpp"]
        top1 = np.mean(ref.argmax(-1) == theirs.argmax(-1))
        corr, tv = _correlation(ref, theirs).mean(), _total_variation(ref, theirs).mean()
        print(f"float32 path vs llama.cpp: top-1 {top1:.4f}, corr {corr:.6f}, TV {tv:.4f}")
    return 0


def _total_variation(a: np.ndarray, b: np.ndarray, temperature: float = 0.8) -> np.ndarray:
    def probs(logits: np.ndarray) -> np.ndarray:
        z = logits / temperature
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    return 0.5 * np.abs(probs(a) - probs(b)).sum(-1)


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


if __name__ == "__main__":
    sys.exit(main())
