"""The same GGUF file in thinkfast's LocalEngine and in llama.cpp, side by side, one run.

Measures, at the same thread count:
  - prompt processing tokens/s (one prompt of --prompt-tokens tokens, prefill only),
  - batch-1 decode tokens/s (greedy, after the prompt, clock starting at the first token),
  - aggregate tokens/s of --n samples of one prompt at temperature 0.8: thinkfast runs one
    request with n samples (one prefill, rows decode as a batch); llama.cpp's Python API has
    no batched sampling, so the best a Python user gets is --n completions in a row, each
    reusing the cached prompt prefix (llama-cpp-python keeps the KV of a matching prefix).
and prints thinkfast / llama.cpp ratios. Both engines are loaded first and every repeat
times them back to back, so a busy machine slows both alike; each figure is the best of
--repeats. Both see exactly the same token ids.

    python benchmarks/engine_vs_llamacpp.py --threads 1
    python benchmarks/engine_vs_llamacpp.py --threads 2 --model path/to/model.gguf

Needs the gguf extra and llama-cpp-python (see docs/gguf.md for the build flags).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

CHAT = [{"role": "user", "content": "Tell me a long story about a lighthouse keeper."}]
FILLER = (
    "The history of lighthouses is a history of small improvements: better lamps, "
    "better lenses, better towers, and keepers who wrote down what they saw. "
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help=".gguf path or known name")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args()

    # The thread count must be fixed before numpy's BLAS starts.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    try:
        import llama_cpp
    except ImportError:
        print("llama-cpp-python is not installed; see docs/gguf.md", file=sys.stderr)
        return 2
    from thinkfast.engine.checkpoint.gguf import find_known_gguf
    from thinkfast.engine.local.footprint import timed_load
    from thinkfast.engine.types import GenerationRequest

    path = args.model if args.model.endswith(".gguf") else str(find_known_gguf(args.model))
    engine, load = timed_load(path)
    start = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=path,
        n_ctx=2048,
        n_batch=512,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )
    llama_load_s = time.perf_counter() - start

    filler = engine.tokenizer.encode(FILLER * 40, add_special_tokens=False).ids
    prefill_ids = filler[: args.prompt_tokens]
    greedy = GenerationRequest(messages=CHAT, max_tokens=args.decode_tokens, temperature=0.0)
    chat_ids = engine.codec.prompt_ids(greedy)
    parallel = GenerationRequest(
        messages=CHAT, max_tokens=args.decode_tokens, temperature=0.8, n=args.n, seed=0
    )

    # -- thinkfast ---------------------------------------------------------------------
    def ours_prefill() -> float:
        request = GenerationRequest(prompt_ids=prefill_ids, max_tokens=1, temperature=0.0)
        return len(prefill_ids) / engine.generate_sync([request])[0].timing.prefill_s

    def ours_decode() -> float:
        g = engine.generate_sync([greedy])[0]
        return (g.usage.completion_tokens - 1) / g.timing.decode_s

    def ours_parallel() -> float:
        t = time.perf_counter()
        g = engine.generate_sync([parallel])[0]
        return g.usage.completion_tokens / (time.perf_counter() - t)

    # -- llama.cpp -----------------------------------------------------------------------
    def theirs_prefill() -> float:
        llm.reset()
        t = time.perf_counter()
        llm.eval(prefill_ids)
        return len(prefill_ids) / (time.perf_counter() - t)

    def theirs_decode() -> float:
        count, first = 0, 0.0
        for token in llm.generate(chat_ids, temp=0.0, reset=True):
            count += 1
            if count == 1:
                first = time.perf_counter()  # prompt evaluated, first token sampled
            if token == llm.token_eos() or count >= args.decode_tokens:
                break
        return (count - 1) / (time.perf_counter() - first)

    def theirs_parallel() -> float:
        llm.reset()
        t = time.perf_counter()
        total = 0
        for i in range(args.n):  # the prompt prefix stays cached between completions
            out = llm.create_completion(
                chat_ids, max_tokens=args.decode_tokens, temperature=0.8, seed=i
            )
            total += out["usage"]["completion_tokens"]
        return total / (time.perf_counter() - t)

    pairs: dict[str, tuple[Callable[[], float], Callable[[], float]]] = {
        "prompt_tps": (ours_prefill, theirs_prefill),
        "decode_tps": (ours_decode, theirs_decode),
        "parallel_tps": (ours_parallel, theirs_parallel),
    }
    ours: dict[str, float] = {"load_s": load["load_s"], "rss_mib": load["rss_mib"]}
    theirs: dict[str, float] = {"load_s": llama_load_s}
    for key, (mine, other) in pairs.items():
        mine(), other()  # warm-up: rope tables, caches, first-call allocations
        runs_ours, runs_theirs = [], []
        for _ in range(args.repeats):  # back to back, so load spikes hit both
            runs_ours.append(mine())
            runs_theirs.append(other())
        ours[key], theirs[key] = max(runs_ours), max(runs_theirs)
    llm.close()

    rows = [
        ("load s", "load_s", False),
        ("prompt processing tok/s", "prompt_tps", True),
        ("batch-1 decode tok/s", "decode_tps", True),
        (f"n={args.n} aggregate tok/s", "parallel_tps", True),
    ]
    print(f"model {os.path.basename(path)}, {args.threads} thread(s), "
          f"llama-cpp-python {llama_cpp.__version__}, best of {args.repeats}")  # fmt: skip
    print(f"{'':28s}{'thinkfast':>12s}{'llama.cpp':>12s}{'ratio':>9s}")
    for label, key, higher_better in rows:
        ratio = ours[key] / theirs[key] if higher_better else theirs[key] / ours[key]
        print(f"{label:28s}{ours[key]:12.1f}{theirs[key]:12.1f}{ratio:8.2f}x")
    print("(ratio > 1: thinkfast faster; the load ratio is llama.cpp time / thinkfast time)")
    print(f"thinkfast resident memory after load: {ours['rss_mib']:.0f} MiB")
    if args.json:
        print(json.dumps({"threads": args.threads, "thinkfast": ours, "llama_cpp": theirs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
