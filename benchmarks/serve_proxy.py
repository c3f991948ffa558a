"""What `thinkfast serve` costs as a scaffolding proxy, side by side in one run.

Starts two servers as subprocesses on 127.0.0.1 with the shipped model: the upstream
(`thinkfast serve`, the local engine) and the proxy (`thinkfast serve --upstream URL`),
then measures, interleaving the variants so load drift hits all alike:

1. proxy overhead: wall of a pass-through chat request through the proxy vs straight to
   the upstream (p50/p95); and `best_of_n:n=8` over HTTP (the upstream serving the
   strategy) vs the same `athink()` in this process on its own LocalEngine;
2. upstream requests per best-of-8 query (an in-process proxy whose pool counts them);
3. streamed: time to the first progress delta (the first draft's line, not the header),
   to the first `content` delta of the answer, and to the end of the stream, for
   best_of_n:n=8, self_refine (its judge guards every revision, so the answer is sent at
   the end), self_refine:accept=always,max_rounds=1 (its round streams live; also on
   a*b-c questions, where arith-tiny's critic rejects most drafts so a round is refined)
   and single (its draft streams live); "live" counts the queries whose first content delta came
   before the scaffold ended (before its `answer:` progress line); beside them the same
   queries answered whole (not streamed);
4. throughput of 32 concurrent scaffolded clients vs one at a time.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/serve_proxy.py [-r 40] [--only 1,3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx

MODEL = "arith-tiny"


def question(i: int) -> str:
    return f"{17 * i % 90 + 10}+{29 * i % 90 + 10}"


@contextmanager
def server(*extra: str):
    """`thinkfast serve --port 0 ...` as a subprocess; yields its base URL."""
    cmd = [sys.executable, "-m", "thinkfast.cli", "serve", "--port", "0", "--log-level"]
    process = subprocess.Popen(
        [*cmd, "warning", *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        line = process.stdout.readline()
        if " on http" not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        yield line.split(" on ")[1].split()[0]
    finally:
        process.terminate()
        process.wait(timeout=30)


def hard_question(i: int) -> str:
    """a*b-c: arith-tiny's critic rejects most of its drafts of these, so a round is refined."""
    return f"{11 + 7 * i % 80}*{12 + 3 * i % 20}-{5 + i % 9}"


def body(model: str, i: int, ask=question, **kw) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": ask(i)}], "seed": i, **kw}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def row(name: str, ms: list[float]) -> str:
    return f"{name:<34} p50 {pct(ms, 0.5):7.1f} ms   p95 {pct(ms, 0.95):7.1f} ms   (n={len(ms)})"


def timed_post(http: httpx.Client, url: str, payload: dict) -> float:
    start = time.perf_counter()
    response = http.post(url + "/chat/completions", json=payload)
    response.raise_for_status()
    return (time.perf_counter() - start) * 1e3


def overhead(upstream: str, proxy: str, rounds: int) -> None:
    from thinkfast.engine import LocalEngine
    from thinkfast.orchestrator.api import athink, pack_for

    engine = LocalEngine(MODEL)
    pack = pack_for(engine)
    direct, proxied, http_bon, local_bon = [], [], [], []
    # the same pair in the other order: the second request of a pair finds the first's
    # prompt in the upstream's prompt cache, which flatters whichever goes second
    swapped_proxied, swapped_direct = [], []
    plain = {"max_tokens": 16, "temperature": 0}
    with httpx.Client(timeout=60) as http:
        for i in range(3):  # warm-up: first-call allocations off the clock
            timed_post(http, upstream, body(MODEL, i, **plain))
            timed_post(http, proxy, body(MODEL, i, **plain))
            timed_post(http, upstream, body(f"best_of_n:n=8/{MODEL}", i))
            asyncio.run(athink(question(i), "best_of_n", engine, n=8, seed=i, pack=pack))
        for i in range(rounds):
            direct.append(timed_post(http, upstream, body(MODEL, i, **plain)))
            proxied.append(timed_post(http, proxy, body(MODEL, i, **plain)))
            http_bon.append(timed_post(http, upstream, body(f"best_of_n:n=8/{MODEL}", i)))
            start = time.perf_counter()
            asyncio.run(athink(question(i), "best_of_n", engine, n=8, seed=i, pack=pack))
            local_bon.append((time.perf_counter() - start) * 1e3)
            swapped_proxied.append(timed_post(http, proxy, body(MODEL, i + 500, **plain)))
            swapped_direct.append(timed_post(http, upstream, body(MODEL, i + 500, **plain)))
    print("1. proxy overhead")
    print(row("pass-through, direct", direct))
    print(row("pass-through, via proxy", proxied))
    added = statistics.median(p - d for p, d in zip(proxied, direct, strict=True))
    print(
        f"   added by the proxy: {added:.1f} ms at p50 (paired), ratio p50 "
        f"{pct(proxied, 0.5) / pct(direct, 0.5):.2f}x"
    )
    swapped = statistics.median(p - d for p, d in zip(swapped_proxied, swapped_direct, strict=True))
    print(
        f"   the other order (proxy first, then direct): {swapped:.1f} ms at p50 (paired); "
        f"mean of both orders {(added + swapped) / 2:.1f} ms"
    )
    print(row("best_of_n:n=8, athink in-process", local_bon))
    print(row("best_of_n:n=8, over HTTP", http_bon))
    added = statistics.median(h - loc for h, loc in zip(http_bon, local_bon, strict=True))
    print(
        f"   added by HTTP: {added:.1f} ms at p50 (paired), "
        f"{100 * added / pct(local_bon, 0.5):.1f}% of the in-process query"
    )


def upstream_requests(upstream: str, queries: int) -> None:
    from thinkfast.serve.server import running_server
    from thinkfast.serve.upstream import upstream_engine

    pool = upstream_engine([upstream], model=MODEL)
    with running_server(pool) as proxy, httpx.Client(timeout=60) as http:
        before = pool.calls
        for i in range(queries):
            timed_post(http, proxy, body(f"best_of_n:n=8/{MODEL}", i))
        per_query = (pool.calls - before) / queries
    print(
        f"\n2. upstream requests per best_of_n:n=8 query: {per_query:.2f} (over {queries} queries)"
    )


def streamed(http: httpx.Client, url: str, model: str, i: int, ask=question) -> dict[str, float]:
    """ms from the request to: the first progress line after the header (`progress`), the
    first content delta (`content`), the scaffold's `answer:` line (`answered`), the end."""
    start = time.perf_counter()
    marks: dict[str, float] = {}
    reasoning_seen = 0

    def mark(name: str) -> None:
        marks.setdefault(name, (time.perf_counter() - start) * 1e3)

    payload = body(model, i, ask, stream=True)
    with http.stream("POST", url + "/chat/completions", json=payload) as r:
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices", []):
                delta = choice.get("delta", {})
                reasoning = delta.get("reasoning_content")
                if reasoning:
                    reasoning_seen += 1
                    if reasoning_seen == 2:  # the first is the header line
                        mark("progress")
                    if reasoning.startswith("answer:"):
                        mark("answered")
                if delta.get("content"):
                    mark("content")
    mark("end")
    return marks


def progress(upstream: str, rounds: int) -> None:
    print("\n3. streamed: time to first progress, first content delta, end (p50)")
    refine_always = f"self_refine:accept=always,max_rounds=1/{MODEL}"
    models = (
        (f"best_of_n:n=8/{MODEL}", question),
        (f"self_refine/{MODEL}", question),
        (refine_always, question),
        (refine_always, hard_question),
        (f"single/{MODEL}", question),
    )
    with httpx.Client(timeout=60) as http:
        for model, ask in models:
            streamed(http, upstream, model, 0, ask)
            times, whole = [], []
            for i in range(rounds):  # interleaved: the same query streamed and not
                times.append(streamed(http, upstream, model, i, ask))
                whole.append(timed_post(http, upstream, body(model, i, ask)))
            first = statistics.median(t.get("progress", float("nan")) for t in times)
            content = statistics.median(t.get("content", t["end"]) for t in times)
            end = statistics.median(t["end"] for t in times)
            live = sum(t.get("content", t["end"]) < t.get("answered", t["end"]) for t in times)
            name = model.removesuffix(f"/{MODEL}") + (" (a*b-c)" if ask is hard_question else "")
            print(
                f"   {name:<46} first progress {first:6.1f} ms ({100 * first / end:3.0f}%)"
                f"   first content {content:6.1f} ms ({100 * content / end:3.0f}%)"
                f"   end {end:6.1f} ms   live {live}/{len(times)}"
                f"   (not streamed: {statistics.median(whole):6.1f} ms)"
            )


async def concurrent(upstream: str, clients: int, per_client: int) -> None:
    model = f"best_of_n:n=8/{MODEL}"
    total = clients * per_client
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients)) as http:

        async def one(i: int) -> None:
            r = await http.post(upstream + "/chat/completions", json=body(model, i))
            r.raise_for_status()

        await one(0)
        start = time.perf_counter()
        for i in range(total):
            await one(i)
        sequential = time.perf_counter() - start

        async def client(c: int) -> None:
            for k in range(per_client):
                await one(c * per_client + k)

        start = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(clients)))
        together = time.perf_counter() - start
    print(f"\n4. {total} best_of_n:n=8 queries")
    print(f"   one at a time      {sequential:6.2f} s   {total / sequential:6.1f} queries/s")
    print(f"   {clients} concurrent      {together:6.2f} s   {total / together:6.1f} queries/s")
    print(f"   speed-up {sequential / together:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-r", "--rounds", type=int, default=40, help="samples per latency row")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--per-client", type=int, default=2)
    parser.add_argument("--only", default="1,2,3,4", help="sections to run, e.g. 1,3")
    args = parser.parse_args()
    only = {int(part) for part in args.only.split(",")}
    with server(MODEL) as upstream, server("--upstream", upstream) as proxy:
        print(f"model {MODEL}; upstream {upstream}, proxy {proxy}\n")
        if 1 in only:
            overhead(upstream, proxy, args.rounds)
        if 2 in only:
            upstream_requests(upstream, 10)
        if 3 in only:
            progress(upstream, max(5, args.rounds // 4))
        if 4 in only:
            asyncio.run(concurrent(upstream, args.clients, args.per_client))


if __name__ == "__main__":
    main()
