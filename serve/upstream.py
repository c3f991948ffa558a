"""The engine behind `thinkfast serve --upstream URL [--upstream URL ...]`.

Every upstream is an `OpenAIEngine` (keys from the environment or --api-key, provider
presets as everywhere), and together they are one `EndpointPool`, even when there is one:
the pool holds the per-upstream concurrency limit (a full pool answers 429 + Retry-After)
and takes a failing upstream out of rotation. Each endpoint tries a call once or twice
(a short retry policy) because the pool's retry is another endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from thinkfast.engine.errors import InvalidRequestError
from thinkfast.engine.remote import EndpointPool, OpenAIEngine, RetryPolicy

__all__ = ["UPSTREAM_RETRY", "upstream_engine"]

# Two attempts, a short backoff: a blip is retried in place, anything longer fails over.
UPSTREAM_RETRY = RetryPolicy(max_attempts=2, deadline_s=60.0, backoff_initial_s=0.2)


def _first_model(url: str, provider: str | None, api_key: str | None) -> str:
    """The model an upstream serves, when it serves exactly one (GET /v1/models)."""
    probe = OpenAIEngine(
        "?", provider=provider, base_url=url, api_key=api_key, retry=UPSTREAM_RETRY
    )

    async def listed() -> list[str]:
        try:
            return [str(m["id"]) for m in await probe.list_models() if m.get("id")]
        finally:
            await probe.aclose()

    ids = asyncio.run(listed())
    plain = [i for i in ids if "/" not in i] or ids  # thinkfast lists STRATEGY/MODEL too
    if len(plain) != 1:
        raise InvalidRequestError(
            f"{url} serves {len(plain)} models ({', '.join(plain) or 'none'}); "
            "name one with --upstream-model"
        )
    return plain[0]


def upstream_engine(
    urls: Sequence[str],
    *,
    model: str | None = None,
    provider: str | None = None,
    api_key: str | None = None,
    concurrency: int = 16,
    cooldown_s: float = 30.0,
    hardware: Sequence[str] = ("cs3", "h100"),
    project_as: str | None = None,
    pace: str | None = None,
) -> EndpointPool:
    """One pool over the upstream URLs, all serving `model` (default: the first one's)."""
    if not urls:
        raise InvalidRequestError("--upstream needs at least one URL")
    if concurrency < 1:
        raise InvalidRequestError(f"--upstream-concurrency must be >= 1, got {concurrency}")
    name = model or _first_model(urls[0], provider, api_key)
    endpoints = [
        OpenAIEngine(
            name,
            provider=provider,
            base_url=url,
            api_key=api_key,
            hardware=hardware,
            project_as=project_as,
            pace=pace,
            max_concurrency=concurrency,
            retry=UPSTREAM_RETRY,
        )
        for url in urls
    ]
    return EndpointPool(endpoints, cooldown_s=cooldown_s, max_in_flight=concurrency)
