"""Set-up shared by the serve tests: the shipped model behind a running server, and the
official openai client pointed at it. A module sets the server's limits with a `LIMITS`
global (ServerLimits); a module that needs another engine defines its own `engine`."""

from __future__ import annotations

import openai
import pytest
from thinkfast.engine import LocalEngine
from thinkfast.serve.server import ServerLimits, running_server


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
