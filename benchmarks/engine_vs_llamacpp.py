"""The same GGUF file in thinkfast's LocalEngine and in llama.cpp, side by side, one run.

Measures, at the same thread count:
  - prompt processing tokens/s (one prompt of --prompt-tokens tokens, prefill only),
  - batch-1 decode tokens/s (greedy, after the prompt, clock starting at the first token),
  - aggregate tokens/s of --n samples of one prompt at temperature 0.8: thinkfast runs one
    request with n samples (one prefill, rows decode as a batch); llama.cpp's Python API has
    no batched sampling, so the best a Python user gets is --n completions in a row, each
    reusing the cached prompt prefix (llama-cpp-python keeps the KV of a matching prefix),
  - resident memory: the process before loading, after thinkfast's load and its first
    requests, after llama.cpp's load,
and prints thinkfast / llama.cpp ratios. Both engines are loaded first and every repeat
times them back to back, so a busy machine slows both alike; each figure is the best of
--repeats. Both see exactly the same token ids. thinkfast runs with its default weights
(GGUF blocks kept quantized, numba kernels) and no prompt cache (llama.cpp's `reset()`
forgets its prompt too); `--weights float32` times the numpy reference path instead, and
`--activations` how quantized weights multiply many rows (int8x2, int8, float32).
`--separate` runs each engine in its own process instead, alternating --repeats times
(two thread pools in one process may contend when --threads is above 1).

--q8-0 also runs the comparison on a Q8_0 file: no Q8_0 SmolLM2 exists offline, so the
script writes one by re-quantizing the dequantized weights of the given file to Q8_0 with
the `gguf` package (same metadata and tokenizer; 8-bit blocks of the 4-bit weights, so the
model's numbers barely change but every block is the Q8_0 layout).

--compile-cost times a fresh process's load + first requests with an empty numba cache
(compiling every kernel) and again with the cache it wrote. --rows-sweep times one decode
step of 1-32 rows through the quantized kernels and through the float32 path.

    python benchmarks/engine_vs_llamacpp.py --threads 1 --q8-0
    python benchmarks/engine_vs_llamacpp.py --threads 2 --separate
    python benchmarks/engine_vs_llamacpp.py --activations int8 --model path/to/model.gguf
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
    parser.add_argument(
        "--activations", default="int8x2", help="thinkfast activations mode (docs/engine.md)"
    )
    parser.add_argument(
        "--separate", action="store_true", help="each engine in its own process, alternating"
    )
    parser.add_argument("--only", choices=("thinkfast", "llamacpp"), help=argparse.SUPPRESS)
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
        return rows_sweep(path, args.repeats, args.activations)
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("llama-cpp-python is not installed; see docs/gguf.md", file=sys.stderr)
        return 2
    paths = [path]
    if args.q8_0:
        paths.append(str(requantize_q8_0(Path(path))))
    if args.separate:
        results = [separately(p, args) for p in paths]
    elif len(paths) > 1:  # a file per process: the second's memory is not the first's
        results = [_child(p, args) for p in paths]
    else:
        results = [compare(path, args)]
    for result in results:
        result["n"] = args.n
        if not args.only:
            report(result, args.repeats, args.separate)
    if args.json:
        print(json.dumps(results))
    return 0


def compare(path: str, args: argparse.Namespace) -> dict:
    """Both engines in this process (or only `args.only`'s), timed back to back."""
    from thinkfast.engine.checkpoint.gguf import load_gguf
    from thinkfast.engine.local.footprint import resident_memory_mib, timed_load
    from thinkfast.engine.local.tokenizer import TextCodec
    from thinkfast.engine.types import GenerationRequest
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    ours: dict[str, float] = {}
    theirs: dict[str, float] = {}
    pairs: dict[str, list[Callable[[], float]]] = {}
    rss = resident_memory_mib()["rss_mib"]
    ours["rss_before_mib"] = theirs["rss_before_mib"] = rss
    if args.only != "llamacpp":  # our load includes the tokenizer: measured from here
        engine, load = timed_load(
            path,
            hardware=(),
            weights=args.weights,
            activations=args.activations,
            prefix_cache_bytes=0,
            blas_threads=args.threads,
        )
        ours |= {"load_s": load["load_s"], "load_rss_mib": round(load["rss_mib"] - rss, 1)}
        ours["weights_mib"] = load["weights_mib"]
    # the token ids both engines see
    codec = engine.codec if args.only != "llamacpp" else TextCodec(load_gguf(path))
    filler = codec.tokenizer.encode(FILLER * 40, add_special_tokens=False).ids
    prefill_ids = filler[: args.prompt_tokens]
    greedy = GenerationRequest(messages=CHAT, max_tokens=args.decode_tokens, temperature=0.0)
    chat_ids = codec.prompt_ids(greedy)
    parallel = GenerationRequest(
        messages=CHAT, max_tokens=args.decode_tokens, temperature=0.8, n=args.n, seed=0
    )

    if args.only != "llamacpp":  # -- thinkfast --------------------------------------------

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

        # what the first requests add (numba's compiler context, loaded kernels, buffers)
        ours_prefill(), ours_parallel()
        ours["first_rss_mib"] = round(resident_memory_mib()["rss_mib"] - rss, 1)
        pairs = {"prompt_tps": [ours_prefill], "decode_tps": [ours_decode]}
        pairs["parallel_tps"] = [ours_parallel]
    if args.only != "thinkfast":  # -- llama.cpp --------------------------------------------
        import llama_cpp

        rss = resident_memory_mib()["rss_mib"]
        start = time.perf_counter()
        llm = llama_cpp.Llama(
            model_path=path,
            n_ctx=2048,
            n_batch=512,
            n_threads=args.threads,
            n_threads_batch=args.threads,
            verbose=False,
        )
        theirs["load_s"] = time.perf_counter() - start
        theirs["load_rss_mib"] = round(resident_memory_mib()["rss_mib"] - rss, 1)

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

        for key, fn in (
            ("prompt_tps", theirs_prefill),
            ("decode_tps", theirs_decode),
            ("parallel_tps", theirs_parallel),
        ):
            pairs.setdefault(key, []).append(fn)
    sides = [d for d, skip in ((ours, "llamacpp"), (theirs, "thinkfast")) if args.only != skip]
    for key, fns in pairs.items():
        for fn in fns:
            fn()  # warm-up: rope tables, caches, first-call allocations
        runs: list[list[float]] = [[] for _ in fns]
        for _ in range(args.repeats):  # back to back, so load spikes hit both
            for i, fn in enumerate(fns):
                runs[i].append(fn())
        for side, timings in zip(sides, runs, strict=True):
            side[key] = max(timings)
    if args.only != "thinkfast":
        llm.close()
    return {
        "model": os.path.basename(path),
        "file_mib": round(os.path.getsize(path) / 2**20, 1),
        "threads": args.threads,
        "weights": args.weights,
        "activations": args.activations,
        "thinkfast": ours,
        "llama_cpp": theirs,
    }


def _child(path: str, args: argparse.Namespace, *extra: str) -> dict:
    """This script's result for one file, measured in a fresh process."""
    keep = ("threads", "prompt_tokens", "decode_tokens", "n", "weights", "activations")
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k in keep]
    cmd = [sys.executable, __file__, "--model", path, *flags, *extra, "--json"]
    if "--repeats" not in extra:
        cmd += ["--repeats", str(args.repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])[0]


def separately(path: str, args: argparse.Namespace) -> dict:
    """Each engine in its own process (`--only`), alternating for --repeats rounds; the
    best figure of each. For thread counts above 1: two thread pools in one process may
    contend (llama.cpp's 2-thread decode fell from 51.7 to 29.4 tok/s beside ours)."""
    best: dict = {}
    for _ in range(args.repeats):
        for only in ("thinkfast", "llamacpp"):
            result = _child(path, args, "--only", only, "--repeats", "1")
            side = "thinkfast" if only == "thinkfast" else "llama_cpp"
            merged = best.setdefault("result", result)[side]
            for key, value in result[side].items():
                better = max if key.endswith("_tps") else min
                merged[key] = better(merged.get(key, value), value)
    return best["result"]


def report(result: dict, repeats: int, separate: bool) -> None:
    import llama_cpp as lc

    ours, theirs, file_mib = result["thinkfast"], result["llama_cpp"], result["file_mib"]
    where = "separate processes" if separate else "one process"
    print(f"\nmodel {result['model']} ({file_mib:.1f} MiB), {result['threads']} thread(s), "
          f"thinkfast weights={result['weights']} activations={result['activations']}, "
          f"llama-cpp-python {lc.__version__}, best of {repeats}, {where}")  # fmt: skip
    print(f"{'':28s}{'thinkfast':>12s}{'llama.cpp':>12s}{'ratio':>9s}")
    for label, key, higher_better in (
        ("load s", "load_s", False),
        ("prompt processing tok/s", "prompt_tps", True),
        ("batch-1 decode tok/s", "decode_tps", True),
        (f"n={result.get('n', 8)} aggregate tok/s", "parallel_tps", True),
    ):
        ratio = ours[key] / theirs[key] if higher_better else theirs[key] / ours[key]
        print(f"{label:28s}{ours[key]:12.1f}{theirs[key]:12.1f}{ratio:8.2f}x")
    print("(ratio > 1: thinkfast faster; the load ratio is llama.cpp time / thinkfast time)")
    print(
        f"resident memory: {ours['rss_before_mib']:.0f} MiB before loading; thinkfast's load "
        f"added {ours['load_rss_mib']:.0f} MiB ({ours['load_rss_mib'] / file_mib:.2f}x the "
        f"file, weights held {ours['weights_mib']:.0f} MiB), {ours['first_rss_mib']:.0f} MiB "
        f"after its first requests ({ours['first_rss_mib'] / file_mib:.2f}x); llama.cpp's "
        f"load added {theirs['load_rss_mib']:.0f} MiB"
    )


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


def rows_sweep(path: str, repeats: int, activations: str) -> int:
    """One decode step (`Transformer.decode`, position 100) for 1-32 rows, the quantized
    kernels against the float32 path in one process: where the kernels should be used."""
    import numpy as np
    from thinkfast.engine.checkpoint.gguf import load_gguf
    from thinkfast.engine.local.config import ModelArgs
    from thinkfast.engine.local.model import Transformer

    ckpt = load_gguf(path)
    args = ModelArgs.from_hf(ckpt.config)
    models = [
        Transformer(args, ckpt.weights, weight_format="auto", activations=activations),
        Transformer(args, ckpt.weights, weight_format="float32"),
    ]
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
