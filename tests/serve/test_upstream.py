"""`thinkfast serve --upstream`: a proxy in front of a second `thinkfast serve` and in front
of the fault server. Pass-through equals direct, best-of-8 is ONE upstream request,
logprobs reach the selector (or fail clearly), failover, 429 + Retry-After when the
upstream is saturated, and a client hanging up cancels the upstream calls."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import openai
import pytest
from thinkfast.engine import LocalEngine
from thinkfast.orchestrator.api import pack_for
from thinkfast.serve.server import ServerLimits, running_server
from thinkfast.serve.upstream import upstream_engine
from thinkfast_tests_fault_server import FaultServer, Hang, Reply

from thinkfast import athink

MODEL = "arith-tiny"
QUESTION = "12+34"
MESSAGES = [{"role": "user", "content": QUESTION}]


@pytest.fixture(scope="module")
def local():
    return LocalEngine(MODEL)


@pytest.fixture(scope="module")
def upstream_url(local):
    with running_server(local) as url:
        yield url


@pytest.fixture(scope="module")
def pool(upstream_url):
    return upstream_engine([upstream_url])  # the model id comes from the upstream's list


@pytest.fixture(scope="module")
def proxy_url(pool):
    with running_server(pool) as url:
        yield url


def test_pass_through_equals_the_upstream_directly(upstream_url, proxy_url, pool):
    assert pool.model_name == MODEL
    kw = {"model": MODEL, "messages": MESSAGES, "max_tokens": 24, "temperature": 0}
    direct = openai.OpenAI(base_url=upstream_url, api_key="x").chat.completions.create(**kw)
    proxied = openai.OpenAI(base_url=proxy_url, api_key="x").chat.completions.create(**kw)
    assert proxied.choices[0].message.content == direct.choices[0].message.content
    assert proxied.usage.completion_tokens == direct.usage.completion_tokens


def test_best_of_8_is_one_upstream_request(proxy_url, pool):
    client = openai.OpenAI(base_url=proxy_url, api_key="x")
    before = pool.calls
    response = client.chat.completions.create(
        model=f"best_of_n:n=8/{MODEL}", messages=MESSAGES, seed=1
    )
    assert pool.calls - before == 1
    [scaffold] = response.model_extra["thinkfast"]["choices"]
    assert len(scaffold["candidates"]) == 8 and len(scaffold["calls"]) == 1


async def test_logprob_selector_over_the_upstream_matches_in_process(proxy_url, local):
    client = openai.AsyncOpenAI(base_url=proxy_url, api_key="x")
    response = await client.chat.completions.create(
        model=f"best_of_n:n=4,selector=logprob/{MODEL}", messages=MESSAGES, seed=9
    )
    await client.close()
    [scaffold] = response.model_extra["thinkfast"]["choices"]
    [decision] = scaffold["decisions"]
    assert decision["kind"] == "logprob" and "mean logprob -" in decision["detail"]
    here = await athink(
        QUESTION, "best_of_n", local, n=4, selector="logprob", seed=9, pack=pack_for(local)
    )
    assert response.choices[0].message.content == here.text
    assert decision["detail"].split(" ")[2][:6] == f"{here.chosen.mean_logprob:.4f}"[:6]


def _no_logprobs(n: int) -> dict:
    choice = {"message": {"role": "assistant", "content": "Answer: 4"}, "finish_reason": "stop"}
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": i, **choice} for i in range(n)],
        "usage": {"prompt_tokens": 3, "completion_tokens": 3 * n, "total_tokens": 3 + 3 * n},
    }


async def test_a_backend_without_logprobs_is_a_clear_error_not_a_silent_zero():
    async with FaultServer([Reply(200, _no_logprobs(2))]) as fault:
        pool = upstream_engine([fault.base_url], model="fault-model")
        with running_server(pool) as url:
            async with httpx.AsyncClient(timeout=30) as http:
                body = {"model": "best_of_n:n=2,selector=logprob/fault-model", "messages": MESSAGES}
                response = await http.post(url + "/chat/completions", json=body)
        await pool.aclose()
    assert response.status_code == 502
    assert "returned no logprobs" in response.json()["error"]["message"]
    assert fault.posts[0].body["logprobs"] is True


async def test_failover_to_the_next_upstream(upstream_url):
    # two 503s spend the endpoint's own retries; the pool then sends the call elsewhere
    busy = Reply(503, {"error": {"message": "overloaded", "type": "server_error"}})
    async with FaultServer([busy, busy]) as fault:
        pool = upstream_engine([fault.base_url, upstream_url], model=MODEL)
        with running_server(pool) as url:
            client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
            first = await client.chat.completions.create(
                model=f"best_of_n:n=4/{MODEL}", messages=MESSAGES, seed=1
            )
            second = await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=8
            )
            await client.close()
        state = {e["endpoint"]: e for e in pool.describe()["endpoints"]}
        await pool.aclose()
    assert "Answer:" in first.choices[0].message.content and second.choices
    assert len(fault.posts) == 2  # tried (twice), then out of rotation for the second call
    assert not state[fault.base_url]["healthy"] and state[upstream_url]["served"] == 2


async def test_a_saturated_upstream_gets_429_with_retry_after_not_a_hang():
    async with FaultServer([Hang(10)]) as fault:
        pool = upstream_engine([fault.base_url], model="fault-model", concurrency=1)
        with running_server(pool, limits=ServerLimits()) as url:
            async with httpx.AsyncClient(timeout=30) as http:
                body = {"model": "fault-model", "messages": MESSAGES, "max_tokens": 4}
                held = asyncio.create_task(http.post(url + "/chat/completions", json=body))
                while fault.in_flight == 0:
                    await asyncio.sleep(0.01)
                response = await http.post(url + "/chat/completions", json=body)
                held.cancel()
                await asyncio.gather(held, return_exceptions=True)
        await pool.aclose()
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "busy" in response.json()["error"]["message"]


async def test_a_client_hanging_up_cancels_the_scaffolds_upstream_calls(watched_fault_server):
    async with watched_fault_server([Hang(60)]) as fault:
        await fault.hang_up_mid_stream("best_of_n:n=4/fault-model", MESSAGES)
    assert fault.abandoned == [1]


def test_serve_command_with_upstream(upstream_url):
    """`thinkfast serve --upstream URL` end to end: it finds the model, serves it plain
    and scaffolded."""
    process = subprocess.Popen(
        [sys.executable, "-m", "thinkfast.cli", "serve", "--port", "0", "--upstream", upstream_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith(f"thinkfast serve: {MODEL} on http://"), line
        url = line.split(" on ")[1].split()[0]
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        response = client.chat.completions.create(
            model=f"self_refine/{MODEL}", messages=MESSAGES, seed=1
        )
        assert "Answer:" in response.choices[0].message.content
    finally:
        process.terminate()
        process.wait(timeout=20)
