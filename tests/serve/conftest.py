"""Set-up shared by the serve tests: the shipped model behind a running server, and the
official openai client pointed at it. A module sets the server's limits with a `LIMITS`
global (ServerLimits); a module that needs another engine defines its own `engine`.
`watched_fault_server` is the fault server with an event set when a call reaches it, so a
test waits for that instead of polling."""

from __future__ import annotations

import asyncio

import openai
import pytest
from thinkfast.engine import LocalEngine
from thinkfast.serve.server import ServerLimits, running_server
from thinkfast_tests_fault_server import FaultServer


class WatchedFaultServer(FaultServer):
    """The fault server; `arrived` is set once a call (a POST) has reached it."""

    def __init__(self, script=None) -> None:
        super().__init__(script)
        self.arrived = asyncio.Event()

    async def _act(self, behaviour, request, reader, writer):
        self.arrived.set()
        return await super()._act(behaviour, request, reader, writer)


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
