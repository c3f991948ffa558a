"""One OpenAI-compatible server as seen from one engine: a pooled client and single calls.

Owns the HTTP side: one `httpx.AsyncClient` and a semaphore bounding in-flight calls,
created per event loop (both belong to one loop; `generate_sync` runs a fresh loop per
call); one attempt of a call, plain or streamed over SSE, turned into samples and usage
or into the error that says whether to try again (`refusals.py`). Retrying is the
caller's (`retry.py`), and so is deciding how many calls `n` samples take.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from ..types import GenerationRequest, Sample, Usage
from .providers import Provider
from .refusals import raise_for_status
from .retry import TransientError
from .wire import (
    MalformedResponseError,
    SSEDecoder,
    StreamAssembler,
    endpoint_for,
    request_body,
    samples_from_choices,
    usage_from_json,
)

__all__ = ["Connection"]


class Connection:
    """Calls to `base_url` for `model_name`, at most `max_concurrency` at a time."""

    def __init__(
        self,
        base_url: str,
        model_name: str,
        *,
        provider: Provider | None,
        headers: dict[str, str],
        timeout: httpx.Timeout,
        max_concurrency: int,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.base_url = base_url
        self.model_name = model_name
        self.provider = provider
        self.max_concurrency = max_concurrency
        self._headers = headers
        self._timeout = timeout
        self._transport = transport
        self._max_tokens_field = provider.chat_max_tokens_field if provider else "max_tokens"
        # regex / choice / grammar constraints go in vLLM's form to self-hosted servers
        # (vLLM, SGLang, thinkfast, or any base_url); hosted presets read response_format only
        self._structured_form = (
            "vllm"
            if provider is None or provider.name in ("vllm", "sglang", "thinkfast")
            else "openai"
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self.calls = 0  # HTTP attempts made, retries included

    def pool(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._semaphore is None:
            self._loop = loop
            self._client = httpx.AsyncClient(
                base_url=self.base_url + "/",
                headers=self._headers,
                timeout=self._timeout,
                limits=httpx.Limits(
                    max_connections=self.max_concurrency,
                    max_keepalive_connections=self.max_concurrency,
                ),
                transport=self._transport,
            )
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._client, self._semaphore

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
        self._semaphore = None

    async def send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        client, semaphore = self.pool()
        async with semaphore:
            self.calls += 1
            try:
                response = await client.request(method, path, json=body)
            except httpx.TimeoutException as exc:
                raise TransientError(f"{type(exc).__name__}: no response in time") from exc
            except httpx.TransportError as exc:
                raise TransientError(f"{type(exc).__name__}: {exc or 'connection failed'}") from exc
        raise_for_status(
            response, where=self.base_url, model=self.model_name, provider=self.provider
        )
        return response

    @staticmethod
    def json(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise TransientError(f"response is not JSON: {response.text[:200]!r}") from None
        if not isinstance(body, dict):
            raise TransientError(f"response is not a JSON object: {response.text[:200]!r}")
        return body

    async def once(self, request: GenerationRequest, n: int) -> tuple[list[Sample], Usage | None]:
        """One non-streaming call for `n` samples; the samples and the server's usage."""
        body = request_body(
            request,
            self.model_name,
            n=n,
            chat_max_tokens_field=self._max_tokens_field,
            structured_form=self._structured_form,
        )
        response = await self.send("POST", endpoint_for(request), body)
        payload = self.json(response)
        if "choices" not in payload and "error" in payload:
            # some proxies answer 200 with an error body; say what it said
            raise TransientError(f"HTTP 200 with an error: {payload['error']!r:.300}")
        try:
            samples = samples_from_choices(payload.get("choices"), want_logprobs=request.logprobs)
        except MalformedResponseError as exc:
            raise TransientError(f"malformed response: {exc}") from None
        return samples, usage_from_json(payload.get("usage"))

    async def once_streamed(
        self, request: GenerationRequest, n: int, on_delta: Any = None
    ) -> tuple[list[Sample], Usage | None, float | None]:
        """One streaming call; samples, usage and seconds to the first content delta."""
        client, semaphore = self.pool()
        body = request_body(
            request,
            self.model_name,
            n=n,
            stream=True,
            chat_max_tokens_field=self._max_tokens_field,
            structured_form=self._structured_form,
        )
        assembler = StreamAssembler(n=n, want_logprobs=request.logprobs)
        decoder = SSEDecoder()
        started = time.perf_counter()
        ttft: float | None = None
        async with semaphore:
            self.calls += 1
            try:
                async with client.stream("POST", endpoint_for(request), json=body) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise_for_status(
                            response,
                            where=self.base_url,
                            model=self.model_name,
                            provider=self.provider,
                        )
                    async for line in response.aiter_lines():
                        data = decoder.feed(line)
                        if data is None:
                            continue
                        for index, delta in assembler.add(data):
                            if ttft is None:
                                ttft = time.perf_counter() - started
                            if on_delta is not None:
                                await on_delta(index, delta)
                    tail = decoder.flush()
                    if tail is not None:
                        assembler.add(tail)
            except MalformedResponseError as exc:
                raise TransientError(f"malformed stream: {exc}") from None
            except httpx.TimeoutException as exc:
                raise TransientError(f"{type(exc).__name__}: stream stalled") from exc
            except httpx.TransportError as exc:
                raise TransientError(f"{type(exc).__name__}: stream broke: {exc}") from exc
        if not assembler.complete:
            raise TransientError("stream ended before every choice finished and without [DONE]")
        return assembler.samples(), assembler.usage, ttft
