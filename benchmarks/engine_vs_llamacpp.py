"""The same GGUF file in thinkfast's LocalEngine and in llama.cpp, side by side, one run.

Measures, at the same thread count:
  - prompt processing tokens/s (one prompt of --prompt-tokens tokens, prefill only),
  - batch-1 decode tokens/s (greedy, after the prompt),
  - aggregate tokens/s of --n samples of one prompt at temperature 0.8: thinkfast runs one
    request with n samples (one prefill, rows decode as a batch); llama.cpp's Python API has
    no batched sampling, so the best a Python user gets is --n completions in a row, each
    reusing the cached prompt prefix (llama-cpp-python keeps the KV of a matching prefix).
and prints thinkfast / llama.cpp ratios.

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help=".gguf path or known name")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many timings")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args()

    # Thread count must be fixed before numpy's BLAS starts.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)

    from thinkfast.engine.gguf import find_known_gguf

    path = args.model if args.model.endswith(".gguf") else str(find_known_gguf(args.model))
    try:
        import llama_cpp
    except ImportError:
        print("llama-cpp-python is not installed; see docs/gguf.md", file=sys.stderr)
        return 2

    ours, prompts = bench_thinkfast(path, args)
    theirs = bench_llamacpp(path, args, llama_cpp, prompts)
    rows = [
        ("load s", "load_s", False),
        ("prompt processing tok/s", "prompt_tps", True),
        ("batch-1 decode tok/s", "decode_tps", True),
        (f"n={args.n} aggregate tok/s", "parallel_tps", True),
    ]
    print(f"\nmodel {os.path.basename(path)}, {args.threads} thread(s), "
          f"llama-cpp-python {llama_cpp.__version__}")  # fmt: skip
    print(f"{'':28s}{'thinkfast':>12s}{'llama.cpp':>12s}{'ratio':>9s}")
    for label, key, higher_better in rows:
        ratio = ours[key] / theirs[key] if higher_better else theirs[key] / ours[key]
        print(f"{label:28s}{ours[key]:12.1f}{theirs[key]:12.1f}{ratio:8.2f}x")
    print("(ratio > 1: thinkfast faster; load ratio is llama.cpp time / thinkfast time)")
    print(f"thinkfast resident memory after load: {ours['rss_mib']:.0f} MiB")
    if args.json:
        print(json.dumps({"threads": args.threads, "thinkfast": ours, "llama_cpp": theirs}))
    return 0


def prompt_text(tokenizer, n_tokens: int) -> list[int]:
    base = (
        "The history of lighthouses is a history of small improvements: better lamps, "
        "better lenses, better towers, and keepers who wrote down what they saw. "
    )
    ids: list[int] = []
    while len(ids) < n_tokens:
        ids += tokenizer.encode(base, add_special_tokens=False).ids
    return ids[:n_tokens]


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_thinkfast(path: str, args) -> tuple[dict[str, float], dict[str, list[int]]]:
    from thinkfast.engine.local import LocalEngine
    from thinkfast.engine.types import GenerationRequest

    start = time.perf_counter()
    engine = LocalEngine(path)
    load_s = time.perf_counter() - start
    rss = rss_mib()
    ids = prompt_text(engine.tokenizer, args.prompt_tokens)
    chat = [{"role": "user", "content": "Tell me a long story about a lighthouse keeper."}]

    prefill = GenerationRequest(prompt_ids=ids, max_tokens=1, temperature=0.0)
    engine.generate_sync([prefill])  # warm-up: rope tables, caches
    prompt_tps = max(
        args.prompt_tokens / engine.generate_sync([prefill])[0].timing.prefill_s
        for _ in range(args.repeats)
    )

    greedy = GenerationRequest(messages=chat, max_tokens=args.decode_tokens, temperature=0.0)
    decode_tps = 0.0
    for _ in range(args.repeats):
        g = engine.generate_sync([greedy])[0]
        decode_tps = max(decode_tps, (g.usage.completion_tokens - 1) / g.timing.decode_s)

    parallel = GenerationRequest(
        messages=chat, max_tokens=args.decode_tokens, temperature=0.8, n=args.n, seed=0
    )
    parallel_tps = 0.0
    for _ in range(args.repeats):
        t = time.perf_counter()
        g = engine.generate_sync([parallel])[0]
        parallel_tps = max(parallel_tps, g.usage.completion_tokens / (time.perf_counter() - t))
    stats = {
        "load_s": load_s,
        "rss_mib": rss,
        "prompt_tps": prompt_tps,
        "decode_tps": decode_tps,
        "parallel_tps": parallel_tps,
    }
    # llama.cpp gets exactly the same token ids (tokenization is tested identical anyway)
    return stats, {"prefill": ids, "chat": engine.codec.prompt_ids(greedy)}


def bench_llamacpp(path: str, args, llama_cpp, prompts: dict[str, list[int]]) -> dict[str, float]:
    start = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=path,
        n_ctx=2048,
        n_batch=512,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )
    load_s = time.perf_counter() - start

    prompt_tps = 0.0
    for _ in range(args.repeats + 1):  # the first round warms up
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompts["prefill"])
        prompt_tps = max(prompt_tps, len(prompts["prefill"]) / (time.perf_counter() - t))

    # batch-1 greedy decode through the token-level generator: clock starts at token one
    decode_tps = 0.0
    for _ in range(args.repeats):
        count, first = 0, 0.0
        for token in llm.generate(prompts["chat"], temp=0.0, reset=True):
            count += 1
            if count == 1:
                first = time.perf_counter()
            if token == llm.token_eos() or count >= args.decode_tokens:
                break
        decode_tps = max(decode_tps, (count - 1) / (time.perf_counter() - first))

    # n samples: one completion after another; the prompt prefix stays cached between them
    parallel_tps = 0.0
    for _ in range(args.repeats):
        llm.reset()
        t = time.perf_counter()
        total = 0
        for i in range(args.n):
            out = llm.create_completion(
                prompts["chat"], max_tokens=args.decode_tokens, temperature=0.8, seed=i
            )
            total += out["usage"]["completion_tokens"]
        parallel_tps = max(parallel_tps, total / (time.perf_counter() - t))
    llm.close()
    return {
        "load_s": load_s,
        "prompt_tps": prompt_tps,
        "decode_tps": decode_tps,
        "parallel_tps": parallel_tps,
    }


if __name__ == "__main__":
    sys.exit(main())
