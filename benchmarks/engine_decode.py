"""LocalEngine vs transformers `generate`, side by side, same machine, same thread count.

Builds two random checkpoints with transformers in a temp dir (nothing is downloaded):
  tiny: ~3M parameters (4 layers, hidden 256, vocab 128) — per-call overhead dominates;
  40m:  ~40M parameters (8 layers, hidden 512, 8 heads / 2 kv heads, vocab 32000, tied)
        — memory bandwidth dominates.
For each it prints decode tokens/s at batch 1 and for n=8 samples of one prompt, prefill
tokens/s, the ratio LocalEngine / transformers, and for batch 1 the memory-bandwidth
roofline: streaming bandwidth (measured here, at the same thread count, as a matrix-vector
product over a 160 MB matrix) divided by the bytes of weights one decode step reads.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/engine_decode.py [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {
    "tiny": dict(
        vocab_size=128,
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        tie_word_embeddings=False,
    ),
    "40m": dict(
        vocab_size=32000,
        hidden_size=512,
        intermediate_size=1536,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    ),
}


def build(folder: Path, size: str):
    """Random Llama saved with save_pretrained plus a word-level tokenizer of the same vocab."""
    import torch
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM

    spec = SIZES[size]
    torch.manual_seed(0)
    config = LlamaConfig(max_position_embeddings=2048, eos_token_id=None, bos_token_id=None, **spec)
    model = LlamaForCausalLM(config).eval()
    model.generation_config.eos_token_id = None
    model.save_pretrained(folder)
    vocab = {f"t{i}": i for i in range(spec["vocab_size"])}
    Tokenizer(models.WordLevel(vocab=vocab, unk_token="t0")).save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({}))
    return model


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def streaming_bandwidth() -> dict[str, float]:
    """Bytes/s of reading a 160 MB float32 matrix, three ways.

    `gemv`: numpy's x @ W (the figure the issue quotes, ~16.6 GB/s here); `read`: the best
    of a plain reduction and a 32-column blocked GEMV, i.e. what streaming can reach.
    """
    w = np.random.default_rng(0).standard_normal((10240, 4096), dtype=np.float32)
    x = np.ones((1, 10240), dtype=np.float32)
    blocks = np.ascontiguousarray(w.reshape(10240, 128, 32).transpose(1, 0, 2))
    gemv = w.nbytes / best(lambda: x @ w, 7)
    read = w.nbytes / min(best(lambda: w.max(), 7), best(lambda: np.matmul(x, blocks), 7))
    return {"gemv": gemv, "read": max(read, gemv)}


def bench_local(folder: Path, prompt: list[int], long_prompt: list[int], new: int, repeats: int):
    from thinkfast.engine import GenerationRequest, LocalEngine

    engine = LocalEngine(folder)

    def decode_rate(n: int) -> float:
        req = GenerationRequest(
            prompt_ids=prompt, max_tokens=new, n=n, temperature=0.0 if n == 1 else 1.0, seed=0
        )
        rates = []
        for _ in range(repeats):
            (gen,) = engine.generate_sync([req])
            assert gen.usage.completion_tokens == n * new
            rates.append(n * new / gen.timing.decode_s)
        return max(rates)

    def prefill_rate() -> float:
        req = GenerationRequest(prompt_ids=long_prompt, max_tokens=1, temperature=0.0)
        return max(
            len(long_prompt) / engine.generate_sync([req])[0].timing.prefill_s
            for _ in range(repeats)
        )

    decode_rate(1)  # warm-up
    return {
        "decode_b1": decode_rate(1),
        "decode_n8": decode_rate(8),
        "prefill": prefill_rate(),
        "weight_bytes": engine.model.weight_bytes,
    }


def bench_transformers(model, prompt: list[int], long_prompt: list[int], new: int, repeats: int):
    import torch

    ids = torch.tensor([prompt])
    long_ids = torch.tensor([long_prompt])

    def forward(x):
        with torch.no_grad():
            model(x)

    def generate(n: int):
        with torch.no_grad():
            out = model.generate(
                ids,
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=n > 1,
                num_return_sequences=n,
                pad_token_id=0,
            )
        assert out.shape == (n, len(prompt) + new)

    prefill_short = best(lambda: forward(ids), repeats)
    generate(1)  # warm-up
    return {
        # decode time = generate time minus the prompt's own forward pass
        "decode_b1": new / (best(lambda: generate(1), repeats) - prefill_short),
        "decode_n8": 8 * new / (best(lambda: generate(8), repeats) - prefill_short),
        "prefill": len(long_prompt) / best(lambda: forward(long_ids), repeats),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    args = parser.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    rng = np.random.default_rng(0)
    print(f"threads={args.threads} new_tokens={args.new_tokens} repeats={args.repeats} (best of)")
    bandwidth = streaming_bandwidth()
    print(
        f"streaming bandwidth: {bandwidth['gemv'] / 1e9:.1f} GB/s as numpy GEMV, "
        f"{bandwidth['read'] / 1e9:.1f} GB/s best read"
    )
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            model = build(folder, size)
            vocab = SIZES[size]["vocab_size"]
            prompt = rng.integers(0, vocab, 16).tolist()
            long_prompt = rng.integers(0, vocab, 256).tolist()
            ours = bench_local(folder, prompt, long_prompt, args.new_tokens, args.repeats)
            ref = bench_transformers(model, prompt, long_prompt, args.new_tokens, args.repeats)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        roofline = {k: v / ours["weight_bytes"] for k, v in bandwidth.items()}
        print(f"\n{size}: {params:.1f}M parameters, {ours['weight_bytes'] / 1e6:.0f} MB per step")
        print(f"{'metric':<14}{'thinkfast':>12}{'transformers':>14}{'ratio':>8}")
        for key, label in (
            ("decode_b1", "decode b=1"),
            ("decode_n8", "decode n=8"),
            ("prefill", "prefill"),
        ):
            print(f"{label:<14}{ours[key]:>12.0f}{ref[key]:>14.0f}{ours[key] / ref[key]:>7.2f}x")
        for kind, label in (("gemv", "GEMV bandwidth"), ("read", "best read bandwidth")):
            print(
                f"roofline b=1 at {label}: {roofline[kind]:.0f} tok/s; thinkfast reaches "
                f"{ours['decode_b1'] / roofline[kind]:.0%}"
            )
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
