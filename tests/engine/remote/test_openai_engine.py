"""OpenAIEngine against a fault-injecting server on 127.0.0.1: parameters, retries,
deadlines, n fallback, streaming, presets. No real host is contacted."""

from __future__ import annotations

import asyncio
import logging

import pytest
from thinkfast.engine.errors import ContextLengthError, InvalidRequestError, RemoteEngineError
from thinkfast.engine.remote.openai_engine import OpenAIEngine, RetryPolicy, guess_model_spec
from thinkfast.engine.remote.providers import PROVIDERS, get_provider
from thinkfast.engine.types import ChatMessage, GenerationRequest
from thinkfast_tests_fault_server import Drop, FaultServer, Hang, Ok, Reply, Stream, answer_text

FAST = RetryPolicy(max_attempts=4, deadline_s=10, backoff_initial_s=0.05, jitter_s=0.0)


def chat(text: str = "2+2=", **kw) -> GenerationRequest:
    return GenerationRequest(messages=[ChatMessage(role="user", content=text)], **kw)


def engine_for(server, **kw) -> OpenAIEngine:
    kw.setdefault("retry", FAST)
    kw.setdefault("read_timeout_s", 2.0)
    return OpenAIEngine("fault-model", base_url=server.base_url, **kw)


def err(status: int, message: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


# -- the happy path and the wire format ---------------------------------------------------


# every sampling field a request can carry, as sent and as it must arrive on the wire
SAMPLING = dict(
    n=3,
    max_tokens=17,
    temperature=0.7,
    top_p=0.9,
    top_k=5,
    seed=11,
    stop=["\n", "END"],
    logprobs=True,
    top_logprobs=2,
    response_format={"type": "json_object"},
)


async def test_chat_passes_every_sampling_field_and_reads_choices_and_usage():
    async with FaultServer() as server:
        engine = engine_for(server)
        request = chat(**SAMPLING)
        [gen] = await engine.generate([request])
        await engine.aclose()
    [post] = server.posts
    assert post.path == "/v1/chat/completions"
    body = post.body
    assert body["model"] == "fault-model"
    assert body["messages"] == [{"role": "user", "content": "2+2="}]
    for key, value in SAMPLING.items():
        assert body[key] == value, key
    assert "stream" not in body
    assert [s.text for s in gen.samples] == [answer_text(1, body, i) for i in range(3)]
    assert gen.usage.prompt_tokens == len("2+2=")
    assert gen.usage.cached_tokens == 3
    assert gen.usage.completion_tokens == sum(len(s.text) for s in gen.samples)
    first = gen.samples[0]
    assert first.logprobs is not None and len(first.logprobs) == len(first.text)
    assert first.cumulative_logprob == pytest.approx(-0.5 * len(first.text))
    assert gen.timing.wall_s > 0 and gen.timing.ttft_s is None
    assert gen.model == "fault-model"


async def test_raw_prompt_and_token_ids_go_to_completions():
    async with FaultServer() as server:
        engine = engine_for(server)
        gens = await engine.generate(
            [
                GenerationRequest(prompt="1+1=", logprobs=True, top_logprobs=1),
                GenerationRequest(prompt_ids=[5, 6, 7]),
            ]
        )
        await engine.aclose()
    paths = sorted(p.path for p in server.posts)
    assert paths == ["/v1/completions", "/v1/completions"]
    by_prompt = {str(p.body["prompt"]): p.body for p in server.posts}
    assert by_prompt["1+1="]["logprobs"] == 1  # legacy API: one integer
    assert by_prompt["[5, 6, 7]"]["prompt"] == [5, 6, 7]
    assert gens[0].samples[0].text.endswith(":1+1=:seed=None:i=0")
    assert len(gens[0].samples[0].logprobs) == len(gens[0].text)
    assert gens[1].samples[0].text.endswith(":[5, 6, 7]:seed=None:i=0")


# -- retries -----------------------------------------------------------------------------


async def test_429_honours_retry_after_then_succeeds(caplog):
    script = [Reply(429, err(429, "slow down"), {"Retry-After": "0.3"}), Ok()]
    async with FaultServer(script) as server:
        engine = engine_for(server)
        with caplog.at_level(logging.INFO, logger="thinkfast.engine.retry"):
            [gen] = await engine.generate([chat()])
    first, second = server.posts
    assert "retrying in 0.30s" in caplog.text  # the server's wait, not the 0.05 s backoff
    assert gen.text == answer_text(2, second.body, 0)  # the answer of the retry, once
    assert engine.calls == 2


async def test_5xx_backoff_is_exponential_and_bounded():
    policy = RetryPolicy(max_attempts=3, deadline_s=10, backoff_initial_s=0.1, jitter_s=0.0)
    async with FaultServer([Reply(500, err(500, "boom"))] * 5) as server:
        engine = engine_for(server, retry=policy)
        with pytest.raises(RemoteEngineError) as info:
            await engine.generate([chat()])
    assert len(server.posts) == 3  # bounded: exactly max_attempts
    assert info.value.status_code == 500
    assert "boom" in str(info.value) and "3 attempt(s)" in str(info.value)


async def test_jitter_stays_within_its_bound():
    policy = RetryPolicy(backoff_initial_s=0.1, backoff_max_s=0.3, jitter_s=0.05)
    waits = [policy.backoff(a) for a in (1, 2, 3, 4) for _ in range(50)]
    assert all(0.1 <= w <= 0.35 for w in waits)
    assert min(policy.backoff(4) for _ in range(50)) >= 0.3  # capped at backoff_max_s


async def test_hang_past_read_timeout_is_retried():
    async with FaultServer([Hang(600), Ok()]) as server:
        engine = engine_for(server, read_timeout_s=0.2)
        [gen] = await engine.generate([chat()])
    assert server.abandoned == [1]  # the engine gave up on call 1, the server never did
    assert len(server.posts) == 2 and gen.text.startswith("call2:")


async def test_deadline_is_kept_when_the_server_keeps_hanging():
    policy = RetryPolicy(max_attempts=50, deadline_s=0.6, backoff_initial_s=0.05, jitter_s=0)
    async with FaultServer([Hang(600)] * 50) as server:
        engine = engine_for(server, read_timeout_s=0.25, retry=policy)
        with pytest.raises(RemoteEngineError, match="deadline"):
            await engine.generate([chat()])
    # without the deadline all 50 attempts would run (on a loaded machine the deadline can
    # pass before the first request reaches the server, so no lower bound)
    assert len(server.posts) <= 3


async def test_retry_after_beyond_the_deadline_fails_fast():
    policy = RetryPolicy(deadline_s=5.0, backoff_initial_s=0.01)  # room for a loaded machine
    async with FaultServer([Reply(503, err(503, "overloaded"), {"Retry-After": "30"})]) as server:
        engine = engine_for(server, retry=policy)
        with pytest.raises(RemoteEngineError, match="overloaded") as info:
            await engine.generate([chat()])
    assert "would pass the deadline" in str(info.value)  # it did not wait the 30 s
    assert len(server.posts) == 1 and info.value.status_code == 503


async def test_dropped_connection_and_malformed_body_are_retried():
    script = [Drop(), Reply(200, b"{not json"), Ok()]
    async with FaultServer(script) as server:
        engine = engine_for(server)
        [gen] = await engine.generate([chat()])
    assert len(server.posts) == 3 and gen.text.startswith("call3:")


async def test_an_error_body_with_status_200_is_retried_and_quoted():
    policy = RetryPolicy(max_attempts=2, backoff_initial_s=0.01, jitter_s=0)
    async with FaultServer([Reply(200, {"error": {"message": "upstream gone"}})] * 2) as server:
        engine = engine_for(server, retry=policy)
        with pytest.raises(RemoteEngineError, match="upstream gone"):
            await engine.generate([chat()])
    assert len(server.posts) == 2


@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [
        (401, "Incorrect API key provided", "API key"),
        (404, "The model `nope` does not exist", "model name"),
        (400, "temperature must be <= 2", "request parameters"),
    ],
)
async def test_client_errors_are_not_retried_and_quote_the_server(status, message, hint):
    async with FaultServer([Reply(status, err(status, message))]) as server:
        engine = engine_for(server)
        with pytest.raises(RemoteEngineError) as info:
            await engine.generate([chat()])
    assert len(server.posts) == 1
    assert info.value.status_code == status
    assert message in str(info.value) and hint in str(info.value)


async def test_many_concurrent_requests_under_faults_lose_and_duplicate_nothing():
    faults = [Reply(429, err(429, "busy"), {"Retry-After": "0.05"}), Reply(500, err(500, "x"))]
    script = (faults + [Drop(), Ok()]) * 4
    async with FaultServer(script) as server:
        engine = engine_for(server, max_concurrency=3, retry=FAST)
        requests = [chat(f"q{i}") for i in range(12)]
        results = await asyncio.gather(
            *(engine.generate([r]) for r in requests), return_exceptions=True
        )
    for i, result in enumerate(results):
        assert not isinstance(result, BaseException) or isinstance(result, RemoteEngineError)
        if not isinstance(result, BaseException):
            # the answer names its own prompt: no result went to the wrong caller
            assert f":q{i}:" in result[0].text
    ok = [r for r in results if not isinstance(r, BaseException)]
    assert len(ok) == 12  # every fault was retryable within max_attempts=4
    # each successful answer came from a distinct server call: nothing duplicated
    calls = [r[0].text.split(":")[0] for r in ok]
    assert len(set(calls)) == 12
    assert server.max_in_flight <= 3


async def test_concurrency_is_bounded_by_the_semaphore():
    async with FaultServer([Ok(delay_s=0.1)] * 8) as server:
        engine = engine_for(server, max_concurrency=2)
        await asyncio.gather(*(engine.generate([chat(f"q{i}")]) for i in range(8)))
    assert server.max_in_flight == 2


# -- n fallback and usage ---------------------------------------------------------------


async def test_server_ignoring_n_gets_parallel_single_calls_logged_once(caplog):
    caplog.set_level(logging.WARNING, logger="thinkfast.engine.openai")
    async with FaultServer([Ok(choices=1)]) as server:
        engine = engine_for(server)
        [gen] = await engine.generate([chat(n=4, seed=100)])
        [again] = await engine.generate([chat(n=2, seed=7)])
    assert len(gen.samples) == 4
    seeds = sorted(p.body["seed"] for p in server.posts[:4])
    assert seeds == [100, 101, 102, 103]  # sample i uses seed + i
    assert [p.body["n"] for p in server.posts[1:]] == [1] * 5  # learned: no more n > 1
    assert len(again.samples) == 2
    assert len([r for r in caplog.records if "ignores n" in r.getMessage()]) == 1
    # the prompt is counted once, the completions of every call are summed
    assert gen.usage.prompt_tokens == len("2+2=")
    assert gen.usage.completion_tokens == sum(len(s.text) for s in gen.samples)


async def test_server_rejecting_n_gets_parallel_single_calls():
    script = [Reply(400, err(400, "'n' : number must be at most 1"))]
    async with FaultServer(script) as server:
        engine = engine_for(server)
        [gen] = await engine.generate([chat(n=3)])
    assert len(gen.samples) == 3 and len(server.posts) == 4


async def test_missing_usage_is_estimated_and_logged(caplog):
    caplog.set_level(logging.WARNING, logger="thinkfast.engine.openai")
    async with FaultServer([Ok(usage=False)]) as server:
        engine = engine_for(server)
        [gen] = await engine.generate([chat()])
    assert gen.usage.prompt_tokens >= 1 and gen.usage.completion_tokens >= 1
    assert any("no usage" in r.getMessage() for r in caplog.records)


# -- streaming --------------------------------------------------------------------------


async def test_stream_yields_deltas_that_join_to_the_answer():
    async with FaultServer() as server:
        engine = engine_for(server)
        stream = engine.stream(chat())
        deltas = [d async for d in stream]
    [post] = server.posts
    assert post.body["stream"] is True
    assert post.body["stream_options"] == {"include_usage": True}
    assert len(deltas) > 1
    assert "".join(deltas) == answer_text(1, post.body, 0)
    # the stream ends with the Generation, usage as the server reported it
    generation = stream.generation
    assert generation.samples[0].text == "".join(deltas)
    assert generation.usage.completion_tokens > 0
    assert generation.timing.wall_s > 0


async def test_stream_retries_only_before_its_first_delta():
    async with FaultServer([Stream(drop_after=0), Stream()]) as server:
        engine = engine_for(server)
        text = "".join([d async for d in engine.stream(chat())])
    assert len(server.posts) == 2
    assert text == answer_text(2, server.posts[1].body, 0)  # once, not duplicated


async def test_stream_broken_after_text_raises_instead_of_repeating_it():
    async with FaultServer([Stream(drop_after=3), Stream()]) as server:
        engine = engine_for(server)
        got: list[str] = []
        with pytest.raises(RemoteEngineError, match="would repeat"):
            async for delta in engine.stream(chat()):
                got.append(delta)
    assert len(server.posts) == 1
    assert "".join(got) == answer_text(1, server.posts[0].body, 0)[:12]


async def test_streamed_generation_measures_ttft_and_survives_malformed_sse():
    bad = ["data: {not json", "data: [DONE]"]
    async with FaultServer([Stream(lines=bad), Stream(delay_s=0.01)]) as server:
        engine = engine_for(server, stream_generations=True)
        [gen] = await engine.generate([chat(n=2)])
    assert len(server.posts) == 2
    body = server.posts[1].body
    assert [s.text for s in gen.samples] == [answer_text(2, body, i) for i in range(2)]
    assert gen.timing.ttft_s is not None and 0 < gen.timing.ttft_s <= gen.timing.wall_s
    assert gen.usage.completion_tokens == sum(len(s.text) for s in gen.samples)


async def test_stream_without_usage_or_done_but_finished_is_accepted():
    async with FaultServer([Stream(usage=False)]) as server:
        engine = engine_for(server, stream_generations=True)
        [gen] = await engine.generate([chat()])
    assert gen.text == answer_text(1, server.posts[0].body, 0)
    assert gen.usage.prompt_tokens > 0 and gen.usage.completion_tokens > 0  # estimated


async def test_streamed_generation_dropped_mid_stream_is_retried_whole():
    async with FaultServer([Stream(drop_after=3), Stream()]) as server:
        engine = engine_for(server, stream_generations=True)
        [gen] = await engine.generate([chat(n=2)])
    assert len(server.posts) == 2
    body = server.posts[1].body
    # the partial text of the broken attempt is dropped, not glued to the retry's
    assert [s.text for s in gen.samples] == [answer_text(2, body, i) for i in range(2)]


async def test_truncated_stream_without_finish_is_retried():
    async with FaultServer() as server:
        lines = FaultServer.stream_lines(1, {"messages": [{"content": "x"}]})[:2]
        server.script = [Stream(lines=lines), Stream()]
        engine = engine_for(server, stream_generations=True)
        [gen] = await engine.generate([chat()])
    assert len(server.posts) == 2 and gen.text.startswith("call2:")


# -- configuration ----------------------------------------------------------------------


async def test_provider_preset_reads_its_key_and_skips_n_when_unsupported(monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    async with FaultServer() as server:
        engine = OpenAIEngine(
            "llama-3.3-70b-versatile", provider="groq", base_url=server.base_url, retry=FAST
        )
        [gen] = await engine.generate([chat(n=3, seed=1)])
        with pytest.raises(InvalidRequestError, match="chat completions only"):
            await engine.generate([GenerationRequest(prompt="1+1=")])
    assert len(gen.samples) == 3
    assert [p.body["n"] for p in server.posts] == [1, 1, 1]
    # Groq documents max_completion_tokens for chat; max_tokens is deprecated there
    assert all("max_tokens" not in p.body for p in server.posts)
    assert all(p.body["max_completion_tokens"] == 256 for p in server.posts)
    assert all(p.headers["authorization"] == "Bearer gsk-test" for p in server.posts)
    assert engine.model_spec == "llama-3.1-70b"


def test_hosted_preset_without_a_key_says_which_variable(monkeypatch):
    monkeypatch.delenv("CEREBRAS_API_KEY", raising=False)
    monkeypatch.delenv("THINKFAST_API_KEY", raising=False)
    with pytest.raises(InvalidRequestError, match="CEREBRAS_API_KEY"):
        OpenAIEngine("llama3.1-8b", provider="cerebras")


def test_presets_and_unknown_provider():
    assert set(PROVIDERS) >= {"cerebras", "groq", "openai", "vllm", "sglang", "ollama", "llamacpp"}
    assert get_provider("llama.cpp").base_url == "http://localhost:8080/v1"
    assert get_provider("Ollama").base_url == "http://localhost:11434/v1"
    with pytest.raises(InvalidRequestError, match="presets are"):
        get_provider("nope")


def test_base_url_from_environment_and_v1_default(monkeypatch):
    monkeypatch.setenv("THINKFAST_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("THINKFAST_API_KEY", "k")
    engine = OpenAIEngine("m")
    assert engine.base_url == "http://127.0.0.1:9/v1"
    monkeypatch.delenv("THINKFAST_BASE_URL")
    with pytest.raises(InvalidRequestError, match="THINKFAST_BASE_URL"):
        OpenAIEngine("m")
    with pytest.raises(InvalidRequestError, match="http"):
        OpenAIEngine("m", base_url="localhost:8000")


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("llama3.1-8b", "llama-3.1-8b"),
        ("llama-3.3-70b", "llama-3.1-70b"),
        ("meta-llama/Llama-3.1-405B-Instruct-FP8", "llama-3.1-405b"),
        ("Meta-Llama-3.1-70B-Instruct", "llama-3.1-70b"),
        ("llama3.2:1b", "llama-3.2-1b"),
        ("Qwen/Qwen2.5-72B-Instruct", "qwen2.5-72b"),
        ("qwen2.5:7b", "qwen2.5-7b"),
        ("arith-tiny", "arith-tiny"),
        ("gpt-4o", None),
        ("deepseek-r1-distill-llama-70b", None),
        ("llama-4-scout-17b-16e-instruct", None),
        ("mixtral-8x7b", None),
    ],
)
def test_model_spec_guess_only_when_unambiguous(name, spec):
    assert guess_model_spec(name) == spec


def test_explicit_model_spec_wins_over_the_guess():
    engine = OpenAIEngine("gpt-4o", base_url="http://127.0.0.1:9/v1", model_spec="llama-3.1-70b")
    assert engine.model_spec == "llama-3.1-70b"
    assert engine.context_length is None and engine.hardware == ("cs3", "h100")


async def test_list_models_fills_the_context_length():
    async with FaultServer() as server:
        engine = engine_for(server)
        models = await engine.list_models()
    assert [m["id"] for m in models] == ["fault-model"]
    assert engine.context_length == 4096


def test_generate_sync_works_across_event_loops():
    async def start():
        server = FaultServer()
        await server.__aenter__()
        return server

    # a server in its own thread's loop, so that generate_sync can run loops here
    import threading

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder = {}

    def run():
        asyncio.set_event_loop(loop)
        holder["server"] = loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        engine = engine_for(holder["server"])
        first = engine.generate_sync([chat("a")])
        second = engine.generate_sync([chat("b")])  # a new loop, a new pool
        assert ":a:" in first[0].text and ":b:" in second[0].text
    finally:
        stop = asyncio.run_coroutine_threadsafe(holder["server"].__aexit__(None, None, None), loop)
        stop.result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


async def test_generations_carry_emulated_timing_for_a_known_model_spec():
    async with FaultServer() as server:
        known = OpenAIEngine("llama3.1-8b", base_url=server.base_url, retry=FAST)
        unknown = OpenAIEngine("gpt-4o", base_url=server.base_url, retry=FAST)
        named = OpenAIEngine(
            "gpt-4o", base_url=server.base_url, retry=FAST, model_spec="llama-3.1-70b"
        )
        [a] = await known.generate([chat(n=2)])
        [b] = await unknown.generate([chat()])
        [c] = await named.generate([chat()])
    assert set(a.timing.emulated) == {"cs3", "h100"} and all(a.timing.emulated.values())
    assert b.timing.emulated == {}  # nothing to project: no guess is made
    assert c.timing.emulated["h100"] > 0


async def test_a_failing_request_cancels_its_siblings_calls():
    script = [Reply(400, err(400, "bad seed")), Hang(600)]
    async with FaultServer(script) as server:
        engine = engine_for(server, read_timeout_s=600)
        with pytest.raises(RemoteEngineError, match="bad seed"):
            await engine.generate([chat("a"), chat("b")])
        # the sibling's call is hung up on by the engine, not left to run for 600 s
        await asyncio.wait_for(server.hung_up.wait(), timeout=60)
    assert server.abandoned == [2] and len(server.posts) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "prompt too long", "code": "context_length_exceeded"}},
        {  # vLLM's error shape
            "object": "error",
            "message": "This model's maximum context length is 2048 tokens. However, you "
            "requested 3000 tokens (2900 in the messages, 100 in the completion).",
            "type": "BadRequestError",
            "code": 400,
        },
        {"detail": "the request exceeds the available context size"},
    ],
)
async def test_context_overflow_is_a_typed_context_length_error(body):
    async with FaultServer([Reply(400, body)]) as server:
        engine = engine_for(server)
        with pytest.raises(ContextLengthError) as info:
            await engine.generate([chat()])
    assert isinstance(info.value, RemoteEngineError) and info.value.status_code == 400
    assert "shorten the prompt" in str(info.value)
    assert len(server.posts) == 1
