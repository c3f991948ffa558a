"""The same GGUF file in thinkfast's LocalEngine and in llama.cpp, side by side, one run.

Measures, at the same thread count:
  - prompt processing tokens/s (one prompt of --prompt-tokens tokens, prefill only),
  - batch-1 decode tokens/s (greedy, after the prompt, clock starting at the first token),
  - aggregate tokens/s of --n samples of one prompt at temperature 0.8: thinkfast runs one
    request with n samples (one prefill, rows decode as a batch); llama.cpp's Python API has
    no batched sampling, so the best a Python user gets is --n completions in a row, each
    reusing the cached prompt prefix (llama-cpp-python keeps the KV of a matching prefix),
  - resident memory: the process before loading, after thinkfast's load, after llama.cpp's,
and prints thinkfast / llama.cpp ratios. Both engines are loaded first and every repeat
times them back to back, so a busy machine slows both alike; each figure is the best of
--repeats. Both see exactly the same token ids. thinkfast runs with its default weights
(GGUF blocks kept quantized, numba kernels) and no prompt cache (llama.cpp's `reset()`
forgets its prompt too); `--weights float32` times the numpy reference path instead.

--q8-0 also runs the comparison on a Q8_0 file: no Q8_0 SmolLM2 exists offline, so the
script writes one by re-quantizing the dequantized weights of the given file to Q8_0 with
the `gguf` package (same metadata and tokenizer; 8-bit blocks of the 4-bit weights, so the
model's numbers barely change but every block is the Q8_0 layout).

--compile-cost times a fresh process's load + first requests with an empty numba cache
(compiling every kernel) and again with the cache it wrote. --rows-sweep times one decode
step of 1-32 rows through the quantized kernels and through the float32 path.

    python benchmarks/engine_vs_llamacpp.py --threads 1 --q8-0
    python benchmarks/engine_vs_llamacpp.py --threads 2 --model path/to/model.gguf
    python benchmarks/engine_vs_llamacpp.py --compile-cost
    python benchmarks/engine_vs_llamacpp.py --rows-sweep

Needs the gguf extra, numba and llama-cpp-python (see docs/gguf.md for the build flags).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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
    parser.add_argument("--weights", default="auto", help="thinkfast weights mode")
    parser.add_argument("--q8-0", action="store_true", help="also a Q8_0 copy of the file")
    parser.add_argument("--compile-cost", action="store_true", help="numba's first-load cost")
    parser.add_argument(
        "--rows-sweep", action="store_true", help="decode step: kernels vs float32, 1-32 rows"
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args()

    # The thread count must be fixed before numpy's BLAS starts.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    os.environ["THINKFAST_BLAS_THREADS"] = str(args.threads)
    from thinkfast.engine.checkpoint.gguf import find_known_gguf

    path = args.model if args.model.endswith(".gguf") else str(find_known_gguf(args.model))
    if args.compile_cost:
        return compile_cost(path)
    if args.rows_sweep:
        return rows_sweep(path, args.repeats)
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("llama-cpp-python is not installed; see docs/gguf.md", file=sys.stderr)
        return 2
    paths = [path]
    if args.q8_0:
        paths.append(str(requantize_q8_0(Path(path))))
    results = [compare(p, args) for p in paths]
    if args.json:
        print(json.dumps(results))
    return 0


def compare(path: str, args: argparse.Namespace) -> dict:
    import llama_cpp
    from thinkfast.engine.local.footprint import resident_memory_mib, timed_load
    from thinkfast.engine.types import GenerationRequest
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    rss_before = resident_memory_mib()["rss_mib"]
    engine, load = timed_load(
        path, hardware=(), weights=args.weights, prefix_cache_bytes=0, blas_threads=args.threads
    )
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
    rss_both = resident_memory_mib()["rss_mib"]

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

    file_mib = os.path.getsize(path) / 2**20
    ours["load_rss_mib"] = round(load["rss_mib"] - rss_before, 1)
    theirs["load_rss_mib"] = round(rss_both - load["rss_mib"], 1)
    rows = [
        ("load s", "load_s", False),
        ("prompt processing tok/s", "prompt_tps", True),
        ("batch-1 decode tok/s", "decode_tps", True),
        (f"n={args.n} aggregate tok/s", "parallel_tps", True),
    ]
    import llama_cpp as lc

    print(f"\nmodel {os.path.basename(path)} ({file_mib:.1f} MiB), {args.threads} thread(s), "
          f"thinkfast weights={args.weights}, llama-cpp-python {lc.__version__}, "
          f"best of {args.repeats}")  # fmt: skip
    print(f"{'':28s}{'thinkfast':>12s}{'llama.cpp':>12s}{'ratio':>9s}")
    for label, key, higher_better in rows:
        ratio = ours[key] / theirs[key] if higher_better else theirs[key] / ours[key]
        print(f"{label:28s}{ours[key]:12.1f}{theirs[key]:12.1f}{ratio:8.2f}x")
    print("(ratio > 1: thinkfast faster; the load ratio is llama.cpp time / thinkfast time)")
    print(
        f"resident memory: {rss_before:.0f} MiB before loading; thinkfast's load added "
        f"{ours['load_rss_mib']:.0f} MiB ({ours['load_rss_mib'] / file_mib:.2f}x the file, "
        f"weights held {load['weights_mib']:.0f} MiB), process {load['rss_mib']:.0f} MiB; "
        f"llama.cpp's load added {theirs['load_rss_mib']:.0f} MiB"
    )
    return {
        "model": os.path.basename(path),
        "file_mib": round(file_mib, 1),
        "threads": args.threads,
        "weights": args.weights,
        "rss_before_mib": rss_before,
        "thinkfast": ours,
        "llama_cpp": theirs,
    }


def requantize_q8_0(src: Path) -> Path:
    """A Q8_0 copy of a GGUF file: every quantized matrix dequantized and re-encoded as
    Q8_0 by the gguf package; metadata, tokenizer and float tensors copied as they are."""
    import gguf
    import numpy as np

    dst = Path(tempfile.gettempdir()) / f"{src.stem.split('.')[0]}.Q8_0-requantized.gguf"
    if dst.is_file() and dst.stat().st_mtime > src.stat().st_mtime:
        return dst
    reader = gguf.GGUFReader(str(src))
    arch = reader.get_field("general.architecture").contents()
    writer = gguf.GGUFWriter(str(dst), arch)
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        sub = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if field.name == "general.file_type":
            value = int(gguf.LlamaFileType.MOSTLY_Q8_0)
        writer.add_key_value(field.name, value, field.types[0], sub_type=sub)
    Q = gguf.GGMLQuantizationType
    for tensor in reader.tensors:
        kind = Q(tensor.tensor_type)
        if kind in (Q.F32, Q.F16, Q.BF16, Q.Q8_0):
            writer.add_tensor(tensor.name, np.asarray(tensor.data), raw_dtype=kind)
        else:
            weights = gguf.quants.dequantize(tensor.data, kind)
            writer.add_tensor(tensor.name, gguf.quants.quantize(weights, Q.Q8_0), raw_dtype=Q.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst


def rows_sweep(path: str, repeats: int) -> int:
    """One decode step (`Transformer.decode`, position 100) for 1-32 rows, the quantized
    kernels against the float32 path in one process: where the kernels should be used."""
    import numpy as np
    from thinkfast.engine.checkpoint.gguf import load_gguf
    from thinkfast.engine.local.config import ModelArgs
    from thinkfast.engine.local.model import Transformer

    ckpt = load_gguf(path)
    args = ModelArgs.from_hf(ckpt.config)
    models = [Transformer(args, ckpt.weights, weight_format=w) for w in ("auto", "float32")]
    print("rows  quantized ms/step  float32 ms/step  quantized speed / float32")
    for rows in (1, 2, 4, 8, 16, 32):
        tokens, positions = np.arange(rows) + 100, np.full(rows, 100)
        steps = [
            lambda m=m, c=m.new_cache(rows, 128), t=tokens, p=positions: m.decode(t, p, c)
            for m in models
        ]
        best = [float("inf")] * 2
        for _ in range(max(repeats, 5) + 1):  # interleaved; the first round warms up
            for i, step in enumerate(steps):
                start = time.thread_time()  # CPU time: a busy machine's waits excluded
                step()
                best[i] = min(best[i], time.thread_time() - start)
        print(f"{rows:4d}  {best[0] * 1e3:17.1f}  {best[1] * 1e3:15.1f}  {best[1] / best[0]:.2f}x")
    return 0


_FIRST_LOAD = """
import time
t = time.perf_counter()
from thinkfast.engine.local.engine import LocalEngine
from thinkfast.engine.types import GenerationRequest as R
e = LocalEngine({path!r}, hardware=(), prefix_cache_bytes=0)
load = time.perf_counter() - t
t = time.perf_counter()
e.generate_sync([R(prompt="Once upon a time " * 24, max_tokens=4, temperature=0)])  # 1 row + GEMM
e.generate_sync([R(prompt="Hello", max_tokens=4, temperature=0.8, n=5, seed=0)])  # n-row
print(round(load, 2), round(time.perf_counter() - t, 2))
"""


def compile_cost(path: str) -> int:
    """Load + first requests in fresh processes: with an empty numba cache, then cached."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("empty cache (compiles)", "cache on disk"):
            out = subprocess.run(
                [sys.executable, "-c", _FIRST_LOAD.format(path=path)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            load, first = out.stdout.split()
            print(f"{label:24s} load {load} s, first requests {first} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
