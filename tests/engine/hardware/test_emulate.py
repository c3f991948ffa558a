"""Emulated timings on every generation, batching semantics, projection and paced streaming.

Uses the real LocalEngine on a committed tiny random checkpoint (tests/engine/fixtures).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from thinkfast.engine import GenerationRequest, LocalEngine
from thinkfast.engine.checkpoint import MODELS_DIR
from thinkfast.engine.errors import EngineError, HardwareError
from thinkfast.engine.hardware import (
    PROFILES,
    CallShape,
    EmulatedEngine,
    emulate_call,
    get_spec,
    place,
    prefill_s,
)
from thinkfast.engine.hardware.emulate import engine_spec, pace_schedule

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "llama-gqa-llama3-bf16"


def _req(n: int = 1, max_tokens: int = 8, seed: int = 1) -> GenerationRequest:
    return GenerationRequest(
        prompt="Compute 7 * 8 = ?", n=n, max_tokens=max_tokens, temperature=1.0, seed=seed
    )


@pytest.fixture(scope="module")
def tiny_engine():
    return LocalEngine(TINY)


def test_every_generation_carries_emulated_timings_for_default_profiles(tiny_engine):
    gens = tiny_engine.generate_sync([_req(n=3), _req(max_tokens=4)])
    for gen in gens:
        assert set(gen.timing.emulated) == {"cs3", "h100"}
        assert all(s > 0 for s in gen.timing.emulated.values())


def test_emulated_time_follows_the_real_token_counts(tiny_engine):
    short, long = tiny_engine.generate_sync(
        [_req(max_tokens=2, seed=2), _req(max_tokens=24, seed=2)]
    )
    assert len(long.samples[0].token_ids) > len(short.samples[0].token_ids)
    assert long.timing.emulated["h100"] > short.timing.emulated["h100"]


def test_project_as_projects_token_counts_onto_a_real_model():
    engine = LocalEngine(TINY, hardware=("cs3", "h100", "groq"), project_as="llama-3.1-70b")
    assert engine_spec(engine).name == "llama-3.1-70b"
    (gen,) = engine.generate_sync([_req(max_tokens=16, seed=3)])
    steps = len(gen.samples[0].token_ids) - 1
    spec, cs3 = get_spec("llama-3.1-70b"), PROFILES["cs3"]
    prefill = prefill_s(spec, cs3, place(spec, cs3, context=64), [gen.usage.prompt_tokens])
    # 70B on 4 wafers decodes at ~450 tok/s: each decode step after the prefill costs ~2.2 ms
    assert gen.timing.emulated["cs3"] - prefill == pytest.approx(steps / 450, rel=0.05)
    assert gen.timing.emulated["h100"] > gen.timing.emulated["cs3"]
    assert set(gen.timing.emulated) == {"cs3", "h100", "groq"}


def test_unknown_profile_or_projection_fails_before_generating():
    for kwargs, pattern in [
        ({"hardware": ("cs3", "tpu")}, "accepted: cs3"),
        ({"project_as": "llama-9"}, "unknown model"),
        ({"pace": "warp-drive"}, "unknown hardware profile"),
    ]:
        engine = LocalEngine(TINY, **kwargs)
        with pytest.raises(HardwareError, match=pattern):
            engine.generate_sync([_req()])


def test_n_samples_decode_as_one_batch():
    spec, h100 = get_spec("llama-3.1-8b"), PROFILES["h100"]
    one = emulate_call(spec, h100, [CallShape(500, 0, (100,))])[0]
    batched = emulate_call(spec, h100, [CallShape(500, 0, (100,) * 8)])[0]
    assert one < batched < 2 * one  # batch-8 decode on a GPU costs far less than 8 x batch 1


def test_requests_of_one_call_share_the_batch_and_finish_in_order():
    spec, cs3 = get_spec("llama-3.1-70b"), PROFILES["cs3"]
    short, long = emulate_call(spec, cs3, [CallShape(100, 0, (10,)), CallShape(100, 0, (200,))])
    assert short < long
    alone = emulate_call(spec, cs3, [CallShape(100, 0, (200,))])[0]
    assert alone < long  # sharing the call costs the long request some prefill and batch
    cached = emulate_call(spec, cs3, [CallShape(100, 90, (200,))])[0]
    assert cached < alone


def test_remote_engine_spec_comes_from_its_model_spec_attribute():
    from thinkfast.engine.remote.openai_engine import OpenAIEngine

    engine = OpenAIEngine("llama3.1-8b", base_url="http://127.0.0.1:9/v1", api_key="x")
    assert engine_spec(engine).name == "llama-3.1-8b"


async def test_paced_stream_yields_no_faster_than_the_emulated_rate():
    engine = LocalEngine(TINY, pace="a100", project_as="llama-3.1-8b")
    request = _req(max_tokens=6, seed=4)
    schedule = pace_schedule(engine, engine.count_tokens(request), request.max_tokens)
    assert schedule.step_s > 0.005  # 8B on an A100: ~100 tok/s
    loop = asyncio.get_running_loop()
    start = loop.time()
    arrivals = [loop.time() - start async for _ in engine.stream(request)]
    assert arrivals
    for k, t in enumerate(arrivals):
        assert t >= schedule.due_s(k) - 0.002, (k, t, schedule)


def test_a_running_model_the_emulator_cannot_describe_still_generates():
    engine = LocalEngine(TINY)
    engine.model_config = {**engine.model_config, "num_local_experts": 4}  # an MoE config
    (gen,) = engine.generate_sync([_req(max_tokens=3)])
    assert gen.samples and gen.timing.emulated == {}


SHIPPED = MODELS_DIR / "arith-tiny"


@pytest.mark.skipif(not (SHIPPED / "config.json").is_file(), reason="shipped model not built")
def test_shipped_model_projects_itself_from_its_config():
    engine = LocalEngine("arith-tiny")
    request = GenerationRequest(
        messages=[{"role": "user", "content": "12+7="}], n=4, max_tokens=12, seed=0
    )
    (gen,) = engine.generate_sync([request])
    spec = engine_spec(engine)
    assert (spec.n_layers, spec.hidden_size) == (4, 256)
    shape = CallShape(
        gen.usage.prompt_tokens,
        gen.usage.cached_tokens,
        tuple(len(s.token_ids) for s in gen.samples),
    )
    for name in ("cs3", "h100"):
        assert gen.timing.emulated[name] == pytest.approx(
            emulate_call(spec, PROFILES[name], [shape])[0]
        )


async def test_a_backend_stream_that_never_gives_its_generation_is_a_clear_error():
    class TextOnly(EmulatedEngine):  # a plugin backend written against the text-only contract
        async def _stream(self, request):
            yield "4"
            yield "2"

    stream = TextOnly().stream(_req(max_tokens=2))
    with pytest.raises(EngineError, match="ended without its Generation"):
        [d async for d in stream]
