"""Set-up shared by the serve tests: the shipped model behind a running server, and the
official openai client pointed at it. A module sets the server's limits with a `LIMITS`
global (ServerLimits); a module that needs another engine defines its own `engine`.
`watched_fault_server` is the fault server with an event set when a call reaches it, so a
test waits for that instead of polling."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from thinkfast.engine import LocalEngine
from thinkfast.serve.server import ServerLimits, running_server
from thinkfast.serve.upstream import upstream_engine
from thinkfast_tests_fault_server import FaultServer


class WatchedFaultServer(FaultServer):
    """The fault server; `arrived` is set once a call (a POST) has reached it."""

    def __init__(self, script=None) -> None:
        super().__init__(script)
        self.arrived = asyncio.Event()

    async def _act(self, behaviour, request, reader, writer):
        self.arrived.set()
        return await super()._act(behaviour, request, reader, writer)

    async def hang_up_mid_stream(self, model: str, messages: list[dict]) -> None:
        """A streamed chat request for `model` through a server over this upstream; once
        the scaffold's call has reached the upstream, the client hangs up; returns when
        the upstream has seen the hang-up. Events, not polling or sleeps: a script that
        hangs longer than any wait here makes a loaded machine only slower, never wrong."""
        pool = upstream_engine([self.base_url], model="fault-model")
        with running_server(pool) as url:
            async with httpx.AsyncClient(timeout=60) as http:
                body = {"model": model, "messages": messages, "stream": True}
                async with http.stream("POST", url + "/chat/completions", json=body) as response:
                    assert response.status_code == 200
                    await asyncio.wait_for(self.arrived.wait(), timeout=30)
                # leaving the block hangs up
            await asyncio.wait_for(self.hung_up.wait(), timeout=30)
        await pool.aclose()


@pytest.fixture
def watched_fault_server():
    return WatchedFaultServer


@pytest.fixture(scope="module")
def engine():
    return LocalEngine("arith-tiny")


@pytest.fixture(scope="module")
def url(engine, request):
    limits = getattr(request.module, "LIMITS", ServerLimits())
    with running_server(engine, limits=limits) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def client(url):
    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
