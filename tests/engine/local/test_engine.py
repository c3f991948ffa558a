"""LocalEngine as a service: coalescing, cancellation, streaming, typed errors, timing."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from thinkfast.engine import (
    ContextLengthError,
    EngineError,
    GenerationRequest,
    InvalidRequestError,
    LocalEngine,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "qwen2-bias"


@pytest.fixture(scope="module")
def engine():
    return LocalEngine(FIXTURE)


def req(prompt="hello", **kw):
    kw.setdefault("max_tokens", 12)
    return GenerationRequest(prompt=prompt, **kw)


@pytest.fixture(scope="module")
def slow_engine(tmp_path_factory):
    """A random Llama (hidden 256, 4 layers, 4096 context) slow enough to cancel mid-decode."""
    folder = tmp_path_factory.mktemp("slow")
    shutil.copy(FIXTURE / "tokenizer.json", folder)
    shutil.copy(FIXTURE / "tokenizer_config.json", folder)
    vocab, dim, inter, layers = 98, 256, 512, 4
    config = dict(
        architectures=["LlamaForCausalLM"],
        vocab_size=vocab,
        hidden_size=dim,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=8,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        eos_token_id=2,
        tie_word_embeddings=True,
    )
    (folder / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)

    def w(*shape):
        return rng.normal(0, 0.05, shape).astype(np.float32)

    weights = {
        "model.embed_tokens.weight": w(vocab, dim),
        "model.norm.weight": np.ones(dim, np.float32),
    }
    for i in range(layers):
        p = f"model.layers.{i}."
        weights |= {
            p + "self_attn.q_proj.weight": w(dim, dim),
            p + "self_attn.k_proj.weight": w(128, dim),
            p + "self_attn.v_proj.weight": w(128, dim),
            p + "self_attn.o_proj.weight": w(dim, dim),
            p + "mlp.gate_proj.weight": w(inter, dim),
            p + "mlp.up_proj.weight": w(inter, dim),
            p + "mlp.down_proj.weight": w(dim, inter),
            p + "input_layernorm.weight": np.ones(dim, np.float32),
            p + "post_attention_layernorm.weight": np.ones(dim, np.float32),
        }
    save_file(weights, str(folder / "model.safetensors"))
    return LocalEngine(folder)


async def test_calls_arriving_mid_decode_join_the_running_batch(slow_engine):
    eng = slow_engine
    eng.batch_log.clear()
    first = asyncio.create_task(eng.generate([req(max_tokens=200, temperature=0.0)]))
    while not eng.scheduler.draining:  # wait until the worker is busy with the first call
        await asyncio.sleep(0.001)
    rest = [req(f"prompt {i}", max_tokens=5 + i, seed=i) for i in range(3)]
    gathered = await asyncio.gather(*(eng.generate([r]) for r in rest))
    assert not first.done()  # the short calls did not wait for the long one
    await first
    assert [rec.jobs for rec in eng.batch_log] == [4]  # continuous batching: they joined
    alone = [(await eng.generate([r]))[0] for r in rest]
    assert [g[0].samples[0].token_ids for g in gathered] == [a.samples[0].token_ids for a in alone]


async def test_cache_budget_makes_later_calls_wait_and_coalesce(slow_engine):
    eng = LocalEngine(slow_engine.checkpoint.path, max_batch_tokens=210)
    first = asyncio.create_task(eng.generate([req(max_tokens=200, temperature=0.0)]))
    while not eng.scheduler.draining:
        await asyncio.sleep(0.001)
    rest = [req(f"prompt {i}", max_tokens=5 + i, seed=i) for i in range(3)]
    gathered = await asyncio.gather(*(eng.generate([r]) for r in rest))
    assert first.done()  # no room next to the first call: they ran after it ...
    assert [rec.jobs for rec in eng.batch_log] == [1, 3]  # ... together, as one batch
    assert all(len(g[0].samples[0].token_ids) == 5 + i for i, g in enumerate(gathered))


async def test_cancel_stops_decoding_and_spares_the_rest(slow_engine):
    eng = slow_engine
    eng.batch_log.clear()
    long = req(max_tokens=3000, temperature=0.0)
    keeper = req("other", max_tokens=40, seed=1)
    doomed = asyncio.create_task(eng.generate([long]))
    kept = asyncio.create_task(eng.generate([keeper]))
    while not eng.scheduler.draining:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.05)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    (result,) = await kept
    (alone,) = await eng.generate([keeper])
    assert result.samples[0].token_ids == alone.samples[0].token_ids
    first_batch = eng.batch_log[0]
    assert first_batch.tokens_per_row[0] < 3000  # the cancelled row stopped early


async def test_stream_yields_the_same_text_as_generate(engine):
    r = req(max_tokens=30, temperature=0.9, seed=11)
    deltas = [d async for d in engine.stream(r)]
    (gen,) = await engine.generate([r])
    assert len(deltas) > 1 and "".join(deltas) == gen.samples[0].text


async def test_stream_never_leaks_part_of_a_stop_string(engine):
    (free,) = await engine.generate([req(max_tokens=30, temperature=0.0)])
    text = free.samples[0].text
    stop = text[10:13]
    stream = engine.stream(req(max_tokens=30, temperature=0.0, stop=[stop]))
    deltas = [d async for d in stream]
    assert "".join(deltas) == text[: text.index(stop)]
    # the stream ends with the exact Generation: the tokens cut off by the stop string
    # are counted, as generate counts them
    (stopped,) = await engine.generate([req(max_tokens=30, temperature=0.0, stop=[stop])])
    assert stream.generation is not None
    assert stream.generation.samples[0].token_ids == stopped.samples[0].token_ids
    assert stream.generation.usage == stopped.usage
    assert stream.generation.samples[0].finish_reason == "stop"
    assert stream.generation.timing.emulated  # stamped like any generation


async def test_stream_closed_early_cancels_its_row(slow_engine):
    eng = slow_engine
    eng.batch_log.clear()
    stream = eng.stream(req(max_tokens=3000, temperature=0.0))
    async for _ in stream:
        break
    await stream.aclose()
    (after,) = await eng.generate([req(max_tokens=3)])
    assert len(after.samples[0].token_ids) == 3
    assert eng.batch_log[0].tokens_per_row[0] < 3000


async def test_timing_and_usage_are_filled(engine):
    (gen,) = await engine.generate([req(n=3, max_tokens=6, temperature=1.0, seed=0)])
    t = gen.timing
    assert 0 < t.prefill_s <= t.wall_s and 0 < t.decode_s <= t.wall_s
    assert t.ttft_s is not None and 0 < t.ttft_s <= t.wall_s
    assert gen.usage.prompt_tokens == engine.count_tokens(req())
    assert gen.usage.completion_tokens == 18
    assert all(s.cumulative_logprob < 0 for s in gen.samples)


def test_typed_errors_say_what_is_accepted(engine):
    with pytest.raises(ContextLengthError, match=r"prompt \(\d+ tokens\) \+ max_tokens \(500\)"):
        engine.generate_sync([req(max_tokens=500)])
    with pytest.raises(InvalidRequestError, match="top_logprobs needs logprobs"):
        engine.generate_sync([req(top_logprobs=3)])
    with pytest.raises(InvalidRequestError, match="outside the vocabulary"):
        engine.generate_sync([GenerationRequest(prompt_ids=[5, 100000])])
    with pytest.raises(InvalidRequestError, match="n=1"):
        engine.generate_stream_sync(req(n=2))
    with pytest.raises(InvalidRequestError, match="response_format"):
        engine.generate_sync([req(response_format={"type": "xml"})])


async def test_close_fails_queued_calls_and_stops_running_ones(slow_engine):
    eng = LocalEngine(slow_engine.checkpoint.path, max_batch_tokens=3100)
    running = asyncio.create_task(eng.generate([req(max_tokens=3000, temperature=0.0)]))
    while not eng.scheduler.draining:
        await asyncio.sleep(0.001)
    queued = asyncio.create_task(eng.generate([req(max_tokens=3000)]))  # no room: waits
    await asyncio.sleep(0.02)
    await eng.aclose()
    with pytest.raises(EngineError, match="closed"):
        await queued
    (gen,) = await asyncio.wait_for(running, timeout=30)
    assert len(gen.samples[0].token_ids) < 3000


async def test_closed_engine_refuses_work():
    eng = LocalEngine(FIXTURE)
    await eng.aclose()
    with pytest.raises(EngineError, match="closed"):
        await eng.generate([req()])


def test_engine_attributes_for_the_seam(engine):
    assert engine.model_name == "qwen2-bias"
    assert engine.context_length == 128
    assert engine.model_config["model_type"] == "qwen2"
    assert engine.hardware == ("cs3", "h100") and engine.pace is None
    eng = LocalEngine(FIXTURE, hardware=["groq"], project_as="llama-3.1-8b", pace="cs3")
    assert (eng.hardware, eng.project_as, eng.pace) == (("groq",), "llama-3.1-8b", "cs3")
    assert engine.describe()["architecture"] == "Qwen2ForCausalLM"
