"""The server reports the local engine's prompt-cache hits as OpenAI does:
`usage.prompt_tokens_details.cached_tokens`, read with the official openai client."""

from __future__ import annotations

import openai
from thinkfast.engine import LocalEngine
from thinkfast.serve.server import running_server


def test_cached_tokens_reach_the_openai_client():
    engine = LocalEngine("arith-tiny")
    with running_server(engine) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        ask = dict(model="arith-tiny", max_tokens=4, temperature=0)
        first = client.completions.create(prompt="Q: 12+34=? A:", **ask)
        again = client.completions.create(prompt="Q: 12+34=? A:", n=2, **ask)
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    # the repeat loads all but its last token from the cache
    assert again.usage.prompt_tokens_details.cached_tokens == again.usage.prompt_tokens - 1
