"""EndpointPool over fault-injecting servers on 127.0.0.1: least-loaded routing, failover
on connection errors / 5xx / 429 with the endpoint out of rotation, refusals not failed
over, n samples as one upstream request, saturation, streams. No real host is contacted."""

from __future__ import annotations

import asyncio

import pytest
from thinkfast.engine.errors import InvalidRequestError, RemoteEngineError
from thinkfast.engine.remote import EndpointPool, OpenAIEngine, PoolSaturatedError, RetryPolicy
from thinkfast.engine.remote.refusals import RemoteRequestError
from thinkfast.engine.types import ChatMessage, GenerationRequest
from thinkfast_tests_fault_server import Drop, FaultServer, Hang, Ok, Reply

# Endpoints of a pool try once: the pool is the retry, on another endpoint.
ONCE = RetryPolicy(max_attempts=1, deadline_s=5)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def chat(text: str = "2+2=", **kw) -> GenerationRequest:
    return GenerationRequest(messages=[ChatMessage(role="user", content=text)], **kw)


def pool_of(*servers, **kw) -> EndpointPool:
    endpoints = [
        OpenAIEngine("fault-model", base_url=s.base_url, retry=ONCE, read_timeout_s=2.0)
        for s in servers
    ]
    return EndpointPool(endpoints, **kw)


def err(message: str) -> dict:
    return {"error": {"message": message, "type": "server_error", "code": None}}


@pytest.mark.parametrize(
    "fault",
    [Reply(503, err("overloaded")), Reply(429, err("slow down"), {"Retry-After": "0"}), Drop()],
    ids=["503", "429", "dropped"],
)
async def test_a_failing_endpoint_is_failed_over_and_rested(fault):
    clock = Clock()
    async with FaultServer([fault]) as bad, FaultServer() as good:
        pool = pool_of(bad, good, cooldown_s=30, clock=clock)
        try:
            [first] = await pool.generate([chat(seed=1)])
            assert first.text.endswith(":seed=1:i=0")  # answered, by the good endpoint
            assert (len(bad.posts), len(good.posts)) == (1, 1)
            # the failed endpoint is out of rotation: the next calls skip it
            await pool.generate([chat()])
            await pool.generate([chat()])
            assert (len(bad.posts), len(good.posts)) == (1, 3)
            state = {e["endpoint"]: e for e in pool.describe()["endpoints"]}
            assert not state[bad.base_url]["healthy"] and state[bad.base_url]["failures"] == 1
            # back in rotation once the cooldown has passed (least used first)
            clock.now += 31
            await pool.generate([chat()])
            assert len(bad.posts) == 2
        finally:
            await pool.aclose()


async def test_a_refused_request_is_not_failed_over():
    async with FaultServer([Reply(400, err("bad temperature"))]) as a, FaultServer() as b:
        pool = pool_of(a, b)
        try:
            with pytest.raises(RemoteRequestError, match="bad temperature"):
                await pool.generate([chat()])
            assert (len(a.posts), len(b.posts)) == (1, 0)
        finally:
            await pool.aclose()


async def test_every_endpoint_failing_names_each_failure():
    async with FaultServer([Reply(500, err("boom A"))]) as a, FaultServer([Drop()]) as b:
        pool = pool_of(a, b)
        try:
            with pytest.raises(RemoteEngineError, match="every endpoint") as info:
                await pool.generate([chat()])
            assert a.base_url in str(info.value) and b.base_url in str(info.value)
        finally:
            await pool.aclose()


async def test_n_samples_are_one_upstream_request():
    async with FaultServer() as a, FaultServer() as b:
        pool = pool_of(a, b)
        try:
            [generation] = await pool.generate([chat(n=8, seed=3)])
            assert len(generation.samples) == 8
            posts = a.posts + b.posts
            assert len(posts) == 1 and posts[0].body["n"] == 8
            assert pool.calls == 1
        finally:
            await pool.aclose()


async def test_concurrent_calls_go_to_the_least_loaded_endpoint():
    async with FaultServer([Ok(delay_s=0.3)]) as a, FaultServer([Ok(delay_s=0.3)]) as b:
        pool = pool_of(a, b)
        try:
            await asyncio.gather(pool.generate([chat()]), pool.generate([chat()]))
            assert (len(a.posts), len(b.posts)) == (1, 1)
        finally:
            await pool.aclose()


async def test_a_saturated_pool_says_so_instead_of_hanging():
    async with FaultServer([Hang(5)]) as a:
        pool = pool_of(a, max_in_flight=1, queue_timeout_s=0.05)
        try:
            held = asyncio.create_task(pool.generate([chat()]))
            while a.in_flight == 0:
                await asyncio.sleep(0.01)
            assert pool.saturated()
            with pytest.raises(PoolSaturatedError) as info:
                await pool.generate([chat()])
            assert info.value.retry_after_s > 0
            held.cancel()
            await asyncio.gather(held, return_exceptions=True)
            assert not pool.saturated()  # the cancelled call gave its place back
        finally:
            await pool.aclose()


async def test_a_stream_fails_over_before_its_first_delta():
    async with FaultServer([Reply(503, err("down"))]) as a, FaultServer() as b:
        pool = pool_of(a, b)
        try:
            stream = pool.stream(chat(seed=2))
            text = "".join([d async for d in stream])
            assert text.endswith(":seed=2:i=0")
            assert stream.generation is not None and stream.generation.text == text
            assert (len(a.posts), len(b.posts)) == (1, 1)
        finally:
            await pool.aclose()


def test_a_pool_serves_one_model():
    a = OpenAIEngine("m1", base_url="http://127.0.0.1:9/v1")
    b = OpenAIEngine("m2", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InvalidRequestError, match="one model"):
        EndpointPool([a, b])
    with pytest.raises(InvalidRequestError, match="at least one"):
        EndpointPool([])


def test_pool_window_follows_what_its_endpoints_learn():
    # an OpenAIEngine learns its window from GET /models, after the pool was made
    a = OpenAIEngine("fault-model", base_url="http://127.0.0.1:9/v1")
    b = OpenAIEngine("fault-model", base_url="http://127.0.0.1:10/v1")
    pool = EndpointPool([a, b])
    assert pool.context_length is None
    a.context_length, b.context_length = 8192, 4096
    assert pool.context_length == 4096
