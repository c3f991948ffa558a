"""The prefix cache: exact hit counts, results equal to no cache, eviction, leases, usage.

Every figure comes from the real engine on the shipped model or the committed fixture
checkpoints (Llama GQA with llama3 rope scaling, tied embeddings with an odd head dim,
Qwen2 with q/k/v biases); prompts are given as token ids so shared prefixes are exact.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from thinkfast.engine import GenerationRequest, LocalEngine
from thinkfast.engine.errors import InvalidRequestError
from thinkfast.engine.local.prefix_cache import PrefixCache

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MODELS = [
    "arith-tiny",
    *(str(FIXTURES / n) for n in ("llama-gqa-llama3-bf16", "llama-tied-headdim", "qwen2-bias")),
]


def ids(engine: LocalEngine, n: int, seed: int) -> list[int]:
    """n token ids drawn from the model's vocabulary (no special meaning needed)."""
    vocab = engine.args.vocab_size
    return np.random.default_rng(seed).integers(3, min(vocab, 60), size=n).tolist()


def req(prompt: list[int], **kw) -> GenerationRequest:
    kw = {"max_tokens": 6, "temperature": 0.9, "seed": 11, "n": 2, "logprobs": True, **kw}
    return GenerationRequest(prompt_ids=prompt, **kw)


@pytest.fixture(scope="module")
def tiny() -> LocalEngine:
    return LocalEngine("arith-tiny")


def test_hits_are_counted_exactly(tiny):
    engine = LocalEngine("arith-tiny")
    shared = ids(engine, 20, 1)
    a, b, c = shared + [5, 6, 7], shared + [8, 9], shared[:12] + [10, 11]
    (ga, gb) = engine.generate_sync([req(a), req(b)])  # one call: b is admitted after a
    assert (ga.usage.cached_tokens, gb.usage.cached_tokens) == (0, 20)
    (gc,) = engine.generate_sync([req(c)])  # a later call, a shorter shared prefix
    assert gc.usage.cached_tokens == 12
    (again,) = engine.generate_sync([req(a)])  # a repeat: all but the last token
    assert again.usage.cached_tokens == len(a) - 1
    assert again.usage.prompt_tokens == len(a)
    engine.prefix_cache.check()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: Path(m).name)
def test_results_equal_without_cache(model):
    cached, plain = LocalEngine(model), LocalEngine(model, prefix_cache_bytes=0)
    assert plain.prefix_cache is None
    base = ids(cached, 24, 2)
    prompts = [base + [4, 5], base + [6], base[:9] + [7, 8, 9], base + [4, 5, 6]]
    for batch in ([req(prompts[0]), req(prompts[1])], [req(prompts[2]), req(prompts[3])]):
        got, want = cached.generate_sync(batch), plain.generate_sync(batch)
        for g, w in zip(got, want, strict=True):
            for s, t in zip(g.samples, w.samples, strict=True):
                assert s.token_ids == t.token_ids  # seeded samples
                lp = [x.logprob for x in s.logprobs]
                np.testing.assert_allclose(
                    lp, [x.logprob for x in t.logprobs], rtol=1e-5, atol=1e-5
                )
    assert sum(g.usage.cached_tokens for g in got) > 0
    # logits of a prompt prefilled after a loaded prefix equal a whole prefill's
    model_ = cached.model
    prompt = np.array(base, dtype=np.int64)
    whole = model_.prefill(prompt, model_.new_cache(1, 32), 0, all_logits=True)
    split = model_.new_cache(1, 32)
    model_.prefill(prompt[:10], split, 0)
    rest = model_.prefill(prompt[10:], split, 0, start=10, all_logits=True)
    np.testing.assert_allclose(rest, whole[10:], rtol=1e-5, atol=1e-5)


def test_eviction_under_a_tiny_cap():
    probe = LocalEngine("arith-tiny")
    per_token = probe.model.new_cache(1, 1).k.nbytes * 2
    engine = LocalEngine("arith-tiny", prefix_cache_bytes=40 * per_token)
    plain = LocalEngine("arith-tiny", prefix_cache_bytes=0)
    pc = engine.prefix_cache
    for seed in range(6):  # six unrelated 25-token prompts: at most one fits
        r = req(ids(engine, 25, 100 + seed), n=1)
        (g,), (w,) = engine.generate_sync([r]), plain.generate_sync([r])
        assert g.samples[0].token_ids == w.samples[0].token_ids
        pc.check()
        assert pc.nbytes <= pc.max_bytes
    assert pc.evicted_tokens > 0
    # the most recent prompt survived (LRU), the first one did not
    (g,) = engine.generate_sync([req(ids(engine, 25, 105), n=1)])
    assert g.usage.cached_tokens == 24
    (g,) = engine.generate_sync([req(ids(engine, 25, 100), n=1)])
    assert g.usage.cached_tokens == 0


def test_leased_entries_are_never_evicted(tiny):
    model = tiny.model
    per_token = model.new_cache(1, 1).k.nbytes * 2
    pc = PrefixCache(30 * per_token)
    cache = model.new_cache(1, 64)
    a, b, c = (np.arange(s, s + 20, dtype=np.int64) for s in (3, 30, 60))
    for tokens in (a, b):  # two leased entries: together over the cap
        pc.lock(pc.insert(tokens, cache, 0))
    pc.evict()
    assert pc.nbytes > pc.max_bytes  # held over the cap by the leases only
    pc.insert(c, cache, 0)  # fits the cap alone, but only by evicting a leased entry
    pc.evict()
    assert [pc.match(t, 20)[1] for t in (a, b, c)] == [20, 20, 0]
    pc.unlock(pc.match(a, 20)[0])  # released: the least recently used entry goes
    pc.check()
    assert [pc.match(t, 20)[1] for t in (a, b)] == [0, 20]


@pytest.mark.parametrize("delay", [0.0, 0.002, 0.02])
async def test_cancellation_leaves_the_cache_consistent(delay):
    """Cancelled while queued, prefilling or decoding (the delay decides which)."""
    engine = LocalEngine("arith-tiny")
    plain = LocalEngine("arith-tiny", prefix_cache_bytes=0)
    prompt = ids(engine, 60, 7)
    task = asyncio.create_task(engine.generate([req(prompt, n=4, max_tokens=200)]))
    await asyncio.sleep(delay)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (g,) = await engine.generate([req(prompt + [9])])  # queued behind the cancelled rows
    (w,) = await plain.generate([req(prompt + [9])])
    assert [s.token_ids for s in g.samples] == [s.token_ids for s in w.samples]
    pc = engine.prefix_cache
    pc.check()
    assert not any(n.refs for n in pc.nodes())  # every lease was released
    assert g.usage.cached_tokens in (0, len(prompt))  # all of the prompt or nothing


async def test_a_stream_stopped_early_keeps_its_prompt_cached():
    engine = LocalEngine("arith-tiny")
    prompt = ids(engine, 40, 8)
    stream = engine.stream(req(prompt, n=1, max_tokens=200, logprobs=False))
    async for _ in stream:
        break  # prefilled, decoding: stop here
    await stream.aclose()
    (g,) = await engine.generate([req(prompt + [9], n=1)])
    assert g.usage.cached_tokens == len(prompt)
    engine.prefix_cache.check()
    assert not any(n.refs for n in engine.prefix_cache.nodes())


def test_a_chat_turn_reuses_the_previous_reply(tiny):
    engine = LocalEngine("arith-tiny")
    prompt = ids(engine, 16, 3)
    (g,) = engine.generate_sync([req(prompt, n=1, temperature=0.0, max_tokens=8)])
    reply = g.samples[0].token_ids
    (h,) = engine.generate_sync([req(prompt + reply + [5], n=1)])
    # prompt and reply (but the reply's last token, never fed) come from the cache
    assert h.usage.cached_tokens == len(prompt) + len(reply) - 1


def test_scaffolds_report_cached_tokens(tiny):
    from thinkfast import think

    answer = think("12+34", "best_of_n", engine=tiny, n=4, selector="judge", seed=1)
    assert answer.usage.total.cached_tokens > 0
    assert answer.usage.by_role["judge"].cached_tokens > 0
    refined = think("12+34", "self_refine", engine=tiny, max_rounds=2, seed=1)
    assert refined.usage.total.cached_tokens > 0


def test_bad_cap_is_refused():
    with pytest.raises(InvalidRequestError, match="prefix_cache_bytes"):
        LocalEngine("arith-tiny", prefix_cache_bytes=-1)
    with pytest.raises(InvalidRequestError, match="blas_threads"):
        LocalEngine("arith-tiny", blas_threads=0)


def test_cli_options_reach_the_engine(monkeypatch):
    import argparse

    from thinkfast.engine.cli_options import add_engine_arguments, engine_from_args

    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    args = parser.parse_args(
        ["--blas-threads", "2", "--prefix-cache-mib", "0", "--activations", "int8"]
    )
    engine = engine_from_args(args)
    assert engine.blas_threads == 2 and engine.prefix_cache is None
    assert engine.model.activations == "int8"
    monkeypatch.setenv("THINKFAST_BLAS_THREADS", "3")
    engine = engine_from_args(parser.parse_args([]))
    assert engine.blas_threads == 3 and engine.prefix_cache.max_bytes == 1024 << 20
    assert engine.model.activations == "int8x2"
    monkeypatch.setenv("THINKFAST_BLAS_THREADS", "many")
    with pytest.raises(InvalidRequestError, match="THINKFAST_BLAS_THREADS"):
        LocalEngine("arith-tiny")


def test_emulated_ttft_falls_with_cached_tokens():
    engine = LocalEngine("arith-tiny", project_as="llama-3.1-70b")
    prompt = ids(engine, 200, 9)
    one = dict(n=1, max_tokens=1, logprobs=False)  # one token: the emulated time is prefill
    (cold,) = engine.generate_sync([req(prompt, **one)])
    (warm,) = engine.generate_sync([req(prompt[:-1] + [7], **one)])
    assert (cold.usage.cached_tokens, warm.usage.cached_tokens) == (0, 199)
    for profile in ("cs3", "h100"):  # at 200 tokens both are latency / weight-read bound
        assert warm.timing.emulated[profile] < cold.timing.emulated[profile]
