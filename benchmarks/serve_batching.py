"""What serving over HTTP costs, and what coalescing concurrent requests buys.

Runs the same K chat requests four ways, side by side in one process, and prints ratios:

  local  sequential   LocalEngine in-process, one request at a time
  local  concurrent   LocalEngine in-process, all K awaited together (coalesced batches)
  http   sequential   OpenAIEngine -> thinkfast serve (127.0.0.1) -> the same LocalEngine
  http   concurrent   the same, K requests in flight

plus time to first token of one streamed request, in-process vs over HTTP.

    OMP_NUM_THREADS=1 python benchmarks/serve_batching.py [--model arith-tiny] [-k 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from thinkfast.engine import GenerationRequest, LocalEngine, OpenAIEngine
from thinkfast.engine.types import ChatMessage
from thinkfast.serve.server import running_server


def requests(k: int, max_tokens: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            messages=[ChatMessage(role="user", content=f"{17 * i + 3}+{29 * i + 5}=")],
            max_tokens=max_tokens,
            temperature=0.8,
            seed=i,
        )
        for i in range(k)
    ]


async def run(engine, reqs, concurrent: bool) -> tuple[float, int]:
    start = time.perf_counter()
    if concurrent:
        gens = await asyncio.gather(*(engine.generate([r]) for r in reqs))
    else:
        gens = [await engine.generate([r]) for r in reqs]
    wall = time.perf_counter() - start
    return wall, sum(g[0].usage.completion_tokens for g in gens)


async def ttft(engine, request: GenerationRequest) -> float:
    start = time.perf_counter()
    async for _ in engine.stream(request):
        return time.perf_counter() - start
    return float("nan")


async def main(args: argparse.Namespace) -> None:
    local = LocalEngine(args.model)
    reqs = requests(args.k, args.max_tokens)
    await local.generate(reqs[:2])  # warm-up: first-call allocations off the clock
    rows: dict[str, list[tuple[float, int]]] = {}
    with running_server(local) as url:
        remote = OpenAIEngine(local.model_name, base_url=url, max_concurrency=args.k)
        await remote.generate(reqs[:2])
        for _ in range(args.repeats):
            for name, engine in (("local", local), ("http", remote)):
                for concurrent in (False, True):
                    key = f"{name} {'concurrent' if concurrent else 'sequential'}"
                    rows.setdefault(key, []).append(await run(engine, reqs, concurrent))
        one = reqs[0].model_copy(update={"max_tokens": 8})
        t_local = statistics.median([await ttft(local, one) for _ in range(5)])
        t_http = statistics.median([await ttft(remote, one) for _ in range(5)])
        await remote.aclose()

    print(
        f"model {local.model_name}, K={args.k} requests x max_tokens={args.max_tokens}, "
        f"median of {args.repeats} runs"
    )
    print(f"{'mode':<20}{'wall s':>9}{'req/s':>9}{'tok/s':>9}")
    medians = {}
    for key, runs in rows.items():
        wall = statistics.median(w for w, _ in runs)
        tokens = statistics.median(t for _, t in runs)
        medians[key] = wall
        print(f"{key:<20}{wall:>9.3f}{args.k / wall:>9.1f}{tokens / wall:>9.0f}")
    print()
    print(
        f"coalescing speed-up, local : {medians['local sequential'] / medians['local concurrent']:.2f}x"
    )
    print(
        f"coalescing speed-up, http  : {medians['http sequential'] / medians['http concurrent']:.2f}x"
    )
    print(
        f"HTTP overhead, sequential  : {medians['http sequential'] / medians['local sequential']:.2f}x wall"
    )
    print(
        f"HTTP overhead, concurrent  : {medians['http concurrent'] / medians['local concurrent']:.2f}x wall"
    )
    print(
        f"TTFT one stream            : local {t_local * 1e3:.1f} ms, http {t_http * 1e3:.1f} ms "
        f"({t_http / t_local:.2f}x)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="arith-tiny")
    parser.add_argument("-k", type=int, default=16, help="requests per run")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
