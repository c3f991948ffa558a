"""`thinkfast serve` over real HTTP on 127.0.0.1: the official openai client, OpenAIEngine
against the server versus LocalEngine in-process, a table of bad requests, auth, the CLI."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from thinkfast.engine import GenerationRequest, LocalEngine, OpenAIEngine, RetryPolicy
from thinkfast.engine.errors import RemoteEngineError
from thinkfast.engine.types import ChatMessage
from thinkfast.serve.api import ServeDependencyError
from thinkfast.serve.server import ServerLimits, running_server

SERVE_DIR = Path(__file__).resolve().parents[2] / "serve"
MODEL = "arith-tiny"  # the shipped model: small, fast, and it gives checkable answers
PROMPT = "12+34="
LIMITS = ServerLimits(max_tokens=128, max_n=8, max_body_bytes=64 * 1024)


def user(text: str = PROMPT) -> list[dict]:
    return [{"role": "user", "content": text}]


def chat_req(text: str = PROMPT, **kw) -> GenerationRequest:
    kw.setdefault("max_tokens", 16)
    return GenerationRequest(messages=[ChatMessage(role="user", content=text)], **kw)


# -- the official openai client ---------------------------------------------------------


def test_models_lists_the_served_model(client, engine):
    model, *scaffolds = client.models.list().data
    assert model.id == engine.model_name
    # every strategy is listed as STRATEGY/MODEL too (tests/serve/test_scaffold.py)
    assert all(m.id.endswith("/" + engine.model_name) for m in scaffolds)
    assert model.model_extra["context_length"] == engine.context_length
    assert client.models.retrieve(engine.model_name).id == engine.model_name
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_chat_completion_matches_the_engine_and_carries_emulated_timing(client, engine):
    response = client.chat.completions.create(
        model=engine.model_name, messages=user(), max_tokens=16, temperature=0
    )
    [local] = engine.generate_sync([chat_req(temperature=0)])
    [choice] = response.choices
    assert choice.message.content == local.text
    assert choice.finish_reason == local.samples[0].finish_reason
    assert response.usage.prompt_tokens == local.usage.prompt_tokens
    assert response.usage.completion_tokens == local.usage.completion_tokens
    timing = response.model_extra["thinkfast"]["timing"]
    assert timing["wall_s"] > 0
    assert set(timing["emulated"]) == set(engine.hardware)
    assert all(v > 0 for v in timing["emulated"].values())


def test_completions_accept_text_token_ids_and_several_prompts(client, engine):
    ids = engine.codec.encode(PROMPT)
    response = client.completions.create(
        model=engine.model_name, prompt=[PROMPT, "7*8="], max_tokens=8, temperature=0, n=2
    )
    assert [c.index for c in response.choices] == [0, 1, 2, 3]  # prompt-major
    assert response.choices[0].text == response.choices[1].text  # greedy: samples agree
    by_ids = client.completions.create(
        model=engine.model_name, prompt=ids, max_tokens=8, temperature=0
    )
    [local] = engine.generate_sync([GenerationRequest(prompt_ids=ids, max_tokens=8, temperature=0)])
    assert by_ids.choices[0].text == local.text


def test_n_samples_are_seeded_like_single_requests_and_reproducible(client, engine):
    kw = dict(model=engine.model_name, messages=user(), max_tokens=12, temperature=1.0)
    batch = client.chat.completions.create(n=3, seed=40, **kw)
    again = client.chat.completions.create(n=3, seed=40, **kw)
    singles = [client.chat.completions.create(n=1, seed=40 + i, **kw) for i in range(3)]
    texts = [c.message.content for c in batch.choices]
    assert texts == [c.message.content for c in again.choices]
    assert texts == [s.choices[0].message.content for s in singles]
    assert batch.usage.prompt_tokens == singles[0].usage.prompt_tokens  # prompt counted once


def test_streaming_chat_with_usage_equals_the_plain_answer(client, engine):
    # long enough that samples usually end on the end-of-sequence token, not max_tokens
    kw = dict(model=engine.model_name, messages=user(), max_tokens=128, seed=9, n=2)
    plain = client.chat.completions.create(**kw)
    deltas: dict[int, list[str]] = {0: [], 1: []}
    finish, usage, extra = {}, None, None
    for event in client.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **kw
    ):
        for choice in event.choices:
            if choice.delta.content:
                deltas[choice.index].append(choice.delta.content)
            if choice.finish_reason:
                finish[choice.index] = choice.finish_reason
        if event.usage is not None:
            usage, extra = event.usage, event.model_extra.get("thinkfast")
    assert ["".join(deltas[i]) for i in (0, 1)] == [c.message.content for c in plain.choices]
    assert set(finish) == {0, 1}
    assert usage.prompt_tokens == plain.usage.prompt_tokens
    assert usage.completion_tokens == plain.usage.completion_tokens  # eos included
    assert extra["timing"]["ttft_s"] > 0 and set(extra["timing"]["emulated"]) == set(
        engine.hardware
    )


def test_streamed_usage_counts_the_tokens_a_stop_string_cut_off(client, engine):
    kw = dict(model=engine.model_name, messages=user(), max_tokens=40, seed=3, temperature=0)
    free = client.chat.completions.create(**kw).choices[0].message.content
    stop = free[8:11]
    kw["stop"] = [stop]
    plain = client.chat.completions.create(**kw)
    usage = None
    for event in client.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **kw
    ):
        usage = event.usage or usage
    assert plain.choices[0].finish_reason == "stop"
    assert usage.completion_tokens == plain.usage.completion_tokens


def test_streaming_completion(client, engine):
    stream = client.completions.create(
        model=engine.model_name, prompt=PROMPT, max_tokens=10, temperature=0, stream=True
    )
    events = list(stream)
    text = "".join(event.choices[0].text for event in events if event.choices)
    [local] = engine.generate_sync([GenerationRequest(prompt=PROMPT, max_tokens=10, temperature=0)])
    assert text == local.text
    # no usage chunk was asked for: the timing rides on the finish chunk
    [last] = [e for e in events if e.choices and e.choices[0].finish_reason]
    assert last.choices[0].finish_reason == local.samples[0].finish_reason
    assert set(last.model_extra["thinkfast"]["timing"]["emulated"]) == set(engine.hardware)
    assert all(e.usage is None for e in events)


def test_logprobs_chat_and_completions(client, engine):
    response = client.chat.completions.create(
        model=engine.model_name,
        messages=user(),
        max_tokens=8,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
    )
    content = response.choices[0].logprobs.content
    assert len(content) == response.usage.completion_tokens
    for entry in content:
        tops = [t.logprob for t in entry.top_logprobs]
        assert len(tops) == 3 and tops == sorted(tops, reverse=True)
        assert entry.logprob == pytest.approx(tops[0], abs=1e-6)  # greedy picks the best
    legacy = client.completions.create(
        model=engine.model_name, prompt=PROMPT, max_tokens=8, temperature=0, logprobs=2
    )
    lp = legacy.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs)
    assert all(len(alternatives) <= 2 for alternatives in lp.top_logprobs)


def test_streaming_with_logprobs_is_served_whole(client, engine):
    kw = dict(model=engine.model_name, messages=user(), max_tokens=8, temperature=0, logprobs=True)
    plain = client.chat.completions.create(**kw)
    events = list(client.chat.completions.create(stream=True, **kw))
    text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    entries = [
        x
        for e in events
        if e.choices and e.choices[0].logprobs
        for x in e.choices[0].logprobs.content
    ]
    assert text == plain.choices[0].message.content
    assert [x.logprob for x in entries] == [x.logprob for x in plain.choices[0].logprobs.content]


async def test_concurrent_requests_are_served_together_and_batched(url, engine):
    async with openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0) as aclient:
        engine.batch_log.clear()
        responses = await asyncio.gather(
            *(
                aclient.chat.completions.create(
                    model=engine.model_name, messages=user(f"{i}+{i}="), max_tokens=16, seed=i
                )
                for i in range(8)
            )
        )
    assert len(responses) == 8 and all(r.choices[0].message.content is not None for r in responses)
    sizes = [record.jobs for record in engine.batch_log]
    assert sum(sizes) == 8  # every request ran in exactly one batch
    assert max(sizes) > 1  # requests that arrived together shared engine steps


# -- OpenAIEngine against thinkfast serve ---------------------------------------------------


async def test_openai_engine_reproduces_local_engine_exactly(url, engine):
    remote = OpenAIEngine(engine.model_name, base_url=url, retry=RetryPolicy(max_attempts=1))
    requests = [
        chat_req(temperature=0),
        GenerationRequest(
            prompt=PROMPT, max_tokens=12, temperature=0, logprobs=True, top_logprobs=2
        ),
        chat_req(temperature=0.8, n=3, seed=5),
    ]
    got = await remote.generate(requests)
    want = await engine.generate(requests)
    for g, w in zip(got, want, strict=True):
        assert [s.text for s in g.samples] == [s.text for s in w.samples]
        assert [s.token_ids for s in g.samples] == [s.token_ids for s in w.samples]
        assert [s.finish_reason for s in g.samples] == [s.finish_reason for s in w.samples]
        assert g.usage.prompt_tokens == w.usage.prompt_tokens
        assert g.usage.completion_tokens == w.usage.completion_tokens
    assert got[1].samples[0].cumulative_logprob == pytest.approx(
        want[1].samples[0].cumulative_logprob, abs=1e-5
    )
    assert [lp.token_id for lp in got[1].samples[0].logprobs] == want[1].samples[0].token_ids
    streamed = "".join([d async for d in remote.stream(chat_req(temperature=0))])
    assert streamed == want[0].text
    await remote.aclose()


async def test_openai_engine_streamed_generation_measures_ttft(url, engine):
    remote = OpenAIEngine(engine.model_name, base_url=url, stream_generations=True)
    [gen] = await remote.generate([chat_req(temperature=0)])
    [local] = await engine.generate([chat_req(temperature=0)])
    assert gen.text == local.text
    assert 0 < gen.timing.ttft_s <= gen.timing.wall_s
    await remote.aclose()


async def test_openai_engine_quotes_the_servers_4xx(url, engine):
    remote = OpenAIEngine("no-such-model", base_url=url)
    with pytest.raises(RemoteEngineError) as info:
        await remote.generate([chat_req()])
    assert info.value.status_code == 404 and "not served here" in str(info.value)
    assert remote.calls == 1  # not retried
    await remote.aclose()


# -- bad input --------------------------------------------------------------------------

LONG = "9" * 5000


def _bad_requests(model: str) -> list[tuple[str, str, object, int, str]]:
    chat, comp = "/chat/completions", "/completions"
    ok = {"model": model, "messages": [{"role": "user", "content": "1+1="}]}
    return [
        ("POST", chat, b"{", 400, "not valid JSON"),
        ("POST", chat, b"", 400, "empty"),
        ("POST", chat, b"[1, 2]", 400, "JSON object"),
        ("POST", chat, b"\xff\xfe{}", 400, "JSON"),
        ("POST", chat, b"[" * 20000 + b"]" * 20000, 400, ""),
        ("POST", chat, {**ok, "model": "gpt-4o"}, 404, "not served here"),
        ("POST", chat, {"model": model}, 400, "messages"),
        ("POST", chat, {**ok, "messages": []}, 400, "messages"),
        ("POST", chat, {**ok, "messages": [{"role": "wizard", "content": "x"}]}, 400, "role"),
        ("POST", chat, {**ok, "messages": [{"role": "user", "content": None}]}, 400, "content"),
        (
            "POST",
            chat,
            {**ok, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            400,
            "content",
        ),
        ("POST", chat, {**ok, "n": "2"}, 400, "n"),
        ("POST", chat, {**ok, "n": 0}, 400, "n"),
        ("POST", chat, {**ok, "n": 9}, 400, "limit of 8"),
        ("POST", chat, {**ok, "max_tokens": 0}, 400, "max_tokens"),
        ("POST", chat, {**ok, "max_tokens": 129}, 400, "limit of 128"),
        ("POST", chat, {**ok, "max_tokens": 1.5}, 400, "max_tokens"),
        ("POST", chat, {**ok, "temperature": 5}, 400, "temperature"),
        ("POST", chat, {**ok, "top_p": 0}, 400, "top_p"),
        ("POST", chat, {**ok, "stop": [""]}, 400, "stop"),
        ("POST", chat, {**ok, "stop": ["x"] * 20}, 400, "stop"),
        ("POST", chat, {**ok, "top_logprobs": 2}, 400, "logprobs"),
        ("POST", chat, {**ok, "top_logprobs": 50, "logprobs": True}, 400, "top_logprobs"),
        ("POST", chat, {**ok, "frequency_penalty": 1.0}, 400, "frequency_penalty"),
        (
            "POST",
            chat,
            {**ok, "tools": [{"type": "function", "function": {"name": "f"}}]},
            400,
            "tools",
        ),
        ("POST", chat, {**ok, "logit_bias": {"5": 10}}, 400, "logit_bias"),
        ("POST", chat, {**ok, "stream": "yes"}, 400, "stream"),
        ("POST", chat, {**ok, "response_format": {"type": "json_schema"}}, 400, "response_format"),
        (
            "POST",
            chat,
            {**ok, "messages": [{"role": "user", "content": LONG}]},
            400,
            "context length",
        ),
        (
            "POST",
            chat,
            {**ok, "messages": [{"role": "user", "content": LONG}], "stream": True},
            400,
            "context length",
        ),
        ("POST", comp, {"model": model, "prompt": ""}, 400, "prompt"),
        ("POST", comp, {"model": model, "prompt": []}, 400, "prompt"),
        ("POST", comp, {"model": model, "prompt": [1, "a"]}, 400, "prompt"),
        ("POST", comp, {"model": model, "prompt": "1", "echo": True}, 400, "echo"),
        ("POST", comp, {"model": model, "prompt": "1", "best_of": 3}, 400, "best_of"),
        ("POST", comp, {"model": model, "prompt": "1", "logprobs": 99}, 400, "logprobs"),
        ("POST", comp, {"model": model, "prompt": [999999]}, 400, ""),
        ("POST", comp, b'{"model": "x", "prompt": "' + b"a" * 70000 + b'"}', 413, "limit"),
        ("GET", chat, None, 405, "not allowed"),
        ("POST", "/embeddings", {}, 404, "no route"),
    ]


def test_every_bad_request_gets_a_clear_4xx_and_the_server_survives(url, engine):
    with httpx.Client(timeout=30) as http:
        for method, path, body, status, needle in _bad_requests(engine.model_name):
            content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
            response = http.request(method, url + path, content=content)
            label = f"{method} {path} {str(body)[:80]}"
            assert response.status_code == status, (label, response.text[:300])
            error = response.json()["error"]
            assert error["message"] and needle.lower() in error["message"].lower(), (label, error)
            assert error["type"]
        assert http.get(url.removesuffix("/v1") + "/health").json()["status"] == "ok"
        good = {"model": engine.model_name, "messages": user(), "max_tokens": 4}
        assert http.post(url + "/chat/completions", json=good).status_code == 200


def test_client_hanging_up_mid_stream_leaves_the_server_healthy(url, engine):
    body = {"model": engine.model_name, "messages": user(), "max_tokens": 64, "stream": True}
    with httpx.Client(timeout=30) as http:
        with http.stream("POST", url + "/chat/completions", json=body) as response:
            assert response.status_code == 200
            next(response.iter_lines())
        after = http.post(
            url + "/chat/completions", json={**body, "stream": False, "max_tokens": 4}
        )
    assert after.status_code == 200


# -- auth, the CLI, the missing extra ----------------------------------------------------


def test_api_key_is_required_when_set(engine):
    with running_server(engine, api_key="sekret") as base:
        with httpx.Client() as http:
            assert http.get(base + "/models").status_code == 401
            wrong = http.get(base + "/models", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and "API key" in wrong.json()["error"]["message"]
        keyed = openai.OpenAI(base_url=base, api_key="sekret", max_retries=0)
        assert keyed.models.list().data[0].id == engine.model_name
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=base, api_key="nope", max_retries=0).models.list()


def test_served_model_name_is_what_clients_see(engine):
    with running_server(engine, served_model_name="my-model") as base:
        client = openai.OpenAI(base_url=base, api_key="x", max_retries=0)
        assert client.models.list().data[0].id == "my-model"
        response = client.chat.completions.create(model="my-model", messages=user(), max_tokens=2)
        assert response.model == "my-model"


def test_thinkfast_serve_command_end_to_end():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "thinkfast.cli",
            "serve",
            MODEL,
            "--port",
            "0",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert "thinkfast serve:" in line, proc.stderr.read() if proc.poll() is not None else line
        base = line.split(" on ")[1].split()[0]
        assert base.startswith("http://127.0.0.1:")
        models = httpx.get(base + "/models", timeout=30).json()
        assert models["data"][0]["object"] == "model"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0


def test_missing_serve_extra_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    spec = importlib.util.spec_from_file_location(
        "thinkfast.serve._server_without_extra", SERVE_DIR / "server.py"
    )
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(ServeDependencyError, match=r"pip install 'thinkfast\[serve\]'"):
        spec.loader.exec_module(module)


def test_listening_socket_is_tcp_so_responses_are_not_delayed_by_nagle():
    # asyncio sets TCP_NODELAY only on accepted sockets whose proto is IPPROTO_TCP; a plain
    # socket(AF_INET, SOCK_STREAM) has proto 0 and every response waited ~40 ms for an ACK.
    from thinkfast.serve.server import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--hardware", "bogus"], "accepted: "),
        (["--pace", "nope"], "unknown hardware profile"),
        (["--max-n", "0"], "max_n"),
        (["--max-tokens-limit", "0"], "max_tokens"),
        (["--max-in-flight", "0"], "max_in_flight"),
    ],
)
def test_serve_command_rejects_bad_settings_before_listening(argv, needle, capsys):
    from thinkfast.cli import main

    assert main(["serve", MODEL, "--port", "0", *argv]) == 2
    assert needle in capsys.readouterr().err


async def test_openai_engine_with_the_thinkfast_preset_sends_its_key(engine, monkeypatch):
    monkeypatch.setenv("THINKFAST_API_KEY", "sekret")
    with running_server(engine, api_key="sekret") as base:
        remote = OpenAIEngine(engine.model_name, provider="thinkfast", base_url=base)
        [gen] = await remote.generate([chat_req(temperature=0, max_tokens=4)])
        await remote.aclose()
        keyless = OpenAIEngine(engine.model_name, base_url=base, api_key="wrong")
        with pytest.raises(RemoteEngineError) as info:
            await keyless.generate([chat_req(max_tokens=4)])
        await keyless.aclose()
    assert gen.samples and info.value.status_code == 401
    assert "API key" in str(info.value)


class GatedEngine(LocalEngine):
    """The real LocalEngine whose streams wait for a gate, to hold a request in flight."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()

    async def _stream(self, request):
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        async for delta in super()._stream(request):
            yield delta


def test_busy_server_answers_429_with_retry_after_and_recovers():
    engine = GatedEngine(MODEL)
    limits = ServerLimits(max_in_flight=1)
    held_body = {"model": MODEL, "messages": user(), "max_tokens": 8, "stream": True}
    plain = {"model": MODEL, "messages": user(), "max_tokens": 4}
    with running_server(engine, limits=limits) as base, httpx.Client(timeout=30) as http:
        held = threading.Thread(
            target=lambda: httpx.post(base + "/chat/completions", json=held_body, timeout=30)
        )
        held.start()
        health = base.removesuffix("/v1") + "/health"
        for _ in range(500):  # until the held stream occupies the only slot
            if http.get(health).json()["in_flight"] == 1:
                break
            time.sleep(0.01)
        busy = http.post(base + "/chat/completions", json=plain)
        assert busy.status_code == 429
        assert busy.headers["retry-after"] == "1"
        assert busy.json()["error"]["code"] == "server_busy"
        assert http.get(base + "/models").status_code == 200  # listing needs no slot

        # OpenAIEngine waits out the Retry-After and gets in once the slot is free
        remote = OpenAIEngine(MODEL, base_url=base, retry=RetryPolicy(deadline_s=20))
        result: dict = {}
        client = threading.Thread(
            target=lambda: result.update(gen=remote.generate_sync([chat_req(max_tokens=4)]))
        )
        client.start()
        time.sleep(0.3)
        engine.gate.set()
        held.join(30)
        client.join(30)
        assert result["gen"][0].samples and remote.calls >= 2
        # every slot came back: requests one after another all get in
        assert [
            http.post(base + "/chat/completions", json=plain).status_code for _ in range(3)
        ] == [200] * 3


def test_a_client_gone_before_the_first_byte_gives_its_slot_back():
    engine = GatedEngine(MODEL)
    body = {"model": MODEL, "messages": user(), "max_tokens": 8, "stream": True}
    with running_server(engine, limits=ServerLimits(max_in_flight=1)) as base:
        health = base.removesuffix("/v1") + "/health"
        with pytest.raises(httpx.ReadTimeout):  # the stream is gated: nothing arrives
            httpx.post(base + "/chat/completions", json=body, timeout=0.5)
        assert httpx.get(health).json()["in_flight"] == 1
        engine.gate.set()  # the response now starts, for a client that has left
        for _ in range(500):
            if httpx.get(health).json()["in_flight"] == 0:
                break
            time.sleep(0.01)
        assert httpx.get(health).json()["in_flight"] == 0
