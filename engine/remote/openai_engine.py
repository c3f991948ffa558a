"""OpenAIEngine: the Engine seam over any OpenAI-compatible HTTP server.

Hosted providers (Cerebras, Groq, OpenAI) and self-hosted servers (vLLM, SGLang, Ollama,
llama.cpp, `thinkfast serve`) all speak /v1/chat/completions and /v1/completions; this
module owns talking to them reliably:

- one pooled `httpx.AsyncClient` and a semaphore bounding in-flight calls per engine;
- retries (tenacity) on 408/429/5xx, connect and read timeouts, dropped connections and
  malformed bodies: exponential backoff with jitter, `Retry-After` honoured, a bounded
  number of attempts and a total deadline per call; other 4xx raise `RemoteEngineError`
  at once, quoting the server's message;
- `n > 1` sent as one call, falling back to parallel single calls (seed + i for sample i)
  when the server returns fewer choices or rejects `n`, logged once per engine;
- SSE streaming with `stream_options.include_usage`, time to first token measured;
- the emulation attributes the hardware emulator reads (`model_spec`, guessed from the
  model name when unambiguous, `project_as`, `hardware`).

The wire format lives in wire.py, the retry loop in retry.py, the provider presets in
providers.py, the spec guess in hardware/spec_guess.py.

Retries never duplicate output: a whole response is only used once it has fully arrived,
and `stream()` only retries before it has yielded its first delta.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from ..errors import ContextLengthError, InvalidRequestError, RemoteEngineError
from ..hardware.spec_guess import guess_model_spec
from ..hardware.stamping import EmulatedEngine
from ..types import Generation, GenerationRequest, Sample, Timing, Usage
from .providers import Provider, get_provider
from .retry import RETRYABLE_STATUS, RetryPolicy, TransientError, retry_after_s, with_retries
from .wire import (
    MalformedResponseError,
    SSEDecoder,
    StreamAssembler,
    endpoint_for,
    request_body,
    samples_from_choices,
    usage_from_json,
)

__all__ = [
    "OpenAIEngine",
    "RetryPolicy",
    "RemoteRequestError",
    "RemoteContextLengthError",
    "guess_model_spec",
]

log = logging.getLogger("thinkfast.engine.openai")


class RemoteRequestError(RemoteEngineError):
    """The server refused the request itself (a 4xx other than 408/409/429): not retried.

    `server_message` is the server's own words, `code` its error code when it sent one.
    """

    def __init__(
        self, message: str, *, status_code: int, server_message: str, code: str | None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.server_message = server_message
        self.code = code


class RemoteContextLengthError(RemoteRequestError, ContextLengthError):
    """The server said the prompt plus max_tokens does not fit its context window."""


# OpenAI and thinkfast send code "context_length_exceeded"; vLLM, SGLang and llama.cpp say
# it in words ("maximum context length is 8192 tokens", "exceeds the context size").
_CONTEXT_WORDS = re.compile(r"context (length|size|window)|maximum context", re.IGNORECASE)


# -- error reading -------------------------------------------------------------------


def _server_error(response: httpx.Response) -> tuple[str, str | None]:
    """The human part of an error body (OpenAI's error.message, FastAPI's detail, or the
    text) and the error code when there is one."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:500] if text else response.reason_phrase), None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            code = error.get("code")
            return str(error["message"]), str(code) if code is not None else None
        if isinstance(error, str):
            return error, None
        if body.get("detail"):
            return str(body["detail"]), None
        if body.get("message"):
            return str(body["message"]), None
    return str(body)[:500], None


_HINTS = {
    401: "check the API key",
    403: "check the API key and that it may use this model",
    404: "check the model name and base URL",
    413: "the request is too large for this server",
}


class OpenAIEngine(EmulatedEngine):
    """Engine over an OpenAI-compatible server.

    `OpenAIEngine("llama3.1-8b", provider="cerebras")` reads the key from CEREBRAS_API_KEY;
    `OpenAIEngine("arith-tiny", base_url="http://127.0.0.1:8800/v1")` talks to
    `thinkfast serve`. Without `provider` or `base_url`, THINKFAST_BASE_URL is used, and
    THINKFAST_API_KEY is the key of last resort.
    """

    def __init__(
        self,
        model: str,
        *,
        provider: str | Provider | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        hardware: Sequence[str] = ("cs3", "h100"),
        project_as: str | None = None,
        model_spec: str | None = None,
        pace: str | None = None,
        context_length: int | None = None,
        max_concurrency: int = 16,
        retry: RetryPolicy | None = None,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 60.0,
        stream_generations: bool = False,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not model or not isinstance(model, str):
            raise InvalidRequestError("model must be a non-empty model name, e.g. 'llama3.1-8b'")
        if max_concurrency < 1:
            raise InvalidRequestError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.provider = get_provider(provider) if isinstance(provider, str) else provider
        self.base_url = self._resolve_base_url(base_url)
        self._api_key = self._resolve_api_key(api_key)
        self.model_name = model
        self.context_length = context_length
        self.hardware = tuple(hardware)
        self.project_as = project_as
        self.pace = pace
        self.model_config = None
        self.model_spec = model_spec or guess_model_spec(model)
        self.max_concurrency = max_concurrency
        self.retry = retry or RetryPolicy()
        # stream_generations: run generate() over SSE too, which measures time to first
        # token at the price of a streaming connection per call.
        self.stream_generations = stream_generations
        self._timeout = httpx.Timeout(
            connect=connect_timeout_s, read=read_timeout_s, write=read_timeout_s, pool=None
        )
        self._headers = {"Accept": "application/json", **(headers or {})}
        if self._api_key:
            self._headers["Authorization"] = f"Bearer {self._api_key}"
        self._transport = transport
        # httpx pools and asyncio semaphores belong to one event loop; generate_sync runs a
        # fresh loop per call, so both are created per loop on first use.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._n_supported: bool | None = self.provider.supports_n if self.provider else None
        self._max_tokens_field = (
            self.provider.chat_max_tokens_field if self.provider else "max_tokens"
        )
        self._warned: set[str] = set()
        self.calls = 0  # HTTP attempts made, retries included (visible for tests and ledgers)

    # -- configuration -----------------------------------------------------------------
    def _resolve_base_url(self, base_url: str | None) -> str:
        url = base_url or (self.provider.base_url if self.provider else None)
        url = url or os.environ.get("THINKFAST_BASE_URL")
        if not url:
            raise InvalidRequestError(
                "no server to talk to: pass base_url=..., provider= one of "
                "cerebras/groq/openai/vllm/sglang/ollama/llamacpp/thinkfast, "
                "or set THINKFAST_BASE_URL"
            )
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise InvalidRequestError(f"base_url must be an http(s) URL with a host, got {url!r}")
        url = url.rstrip("/")
        if parsed.path in ("", "/"):
            url += "/v1"  # every OpenAI-compatible server mounts its API under /v1
        return url

    def _resolve_api_key(self, api_key: str | None) -> str | None:
        if api_key:
            return api_key
        env = self.provider.api_key_env if self.provider else None
        key = (os.environ.get(env) if env else None) or os.environ.get("THINKFAST_API_KEY")
        if not key and self.provider and not self.provider.local:
            raise InvalidRequestError(
                f"no API key for {self.provider.name}: set {self.provider.api_key_env} "
                "(or THINKFAST_API_KEY), or pass api_key=..."
            )
        return key or None

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "base_url": self.base_url,
            "provider": self.provider.name if self.provider else None,
            "model_spec": self.model_spec,
        }

    def _pool(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
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

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    # -- the server's model list ---------------------------------------------------------
    async def list_models(self) -> list[dict[str, Any]]:
        """GET /models; also fills `context_length` when the server reports this model's
        window (`max_model_len` in vLLM, `context_length` in thinkfast serve)."""

        async def attempt() -> list[dict[str, Any]]:
            response = await self._send("GET", "models", None)
            data = self._json(response).get("data")
            if not isinstance(data, list):
                raise TransientError("GET /models returned no 'data' list")
            return [m for m in data if isinstance(m, dict)]

        models = await self._with_retries(attempt, "GET /models")
        for entry in models:
            if entry.get("id") == self.model_name and self.context_length is None:
                window = entry.get("max_model_len") or entry.get("context_length")
                if isinstance(window, int) and window > 0:
                    self.context_length = window
        return models

    async def _with_retries(self, attempt: Any, what: str) -> Any:
        return await with_retries(attempt, policy=self.retry, what=what, where=self.base_url)

    # -- one HTTP attempt ------------------------------------------------------------------
    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        message, code = _server_error(response)
        if status in RETRYABLE_STATUS or status >= 500:
            raise TransientError(
                f"HTTP {status}: {message}", status_code=status, retry_after=retry_after_s(response)
            )
        hint = _HINTS.get(status, "check the request parameters")
        if status in (401, 403) and self.provider and self.provider.api_key_env:
            hint += f" (from {self.provider.api_key_env} or THINKFAST_API_KEY)"
        too_long = code == "context_length_exceeded" or (
            status in (400, 413, 422) and _CONTEXT_WORDS.search(message) is not None
        )
        if too_long:
            hint = "shorten the prompt or lower max_tokens"
        kind = RemoteContextLengthError if too_long else RemoteRequestError
        raise kind(
            f"{self.base_url} rejected the request for model {self.model_name!r}: "
            f"HTTP {status}: {message!r} — {hint}",
            status_code=status,
            server_message=message,
            code=code,
        )

    async def _send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        client, semaphore = self._pool()
        async with semaphore:
            self.calls += 1
            try:
                response = await client.request(method, path, json=body)
            except httpx.TimeoutException as exc:
                raise TransientError(f"{type(exc).__name__}: no response in time") from exc
            except httpx.TransportError as exc:
                raise TransientError(f"{type(exc).__name__}: {exc or 'connection failed'}") from exc
        self._raise_for_status(response)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise TransientError(f"response is not JSON: {response.text[:200]!r}") from None
        if not isinstance(body, dict):
            raise TransientError(f"response is not a JSON object: {response.text[:200]!r}")
        return body

    async def _once(self, request: GenerationRequest, n: int) -> tuple[list[Sample], Usage | None]:
        """One non-streaming call for `n` samples; the samples and the server's usage."""
        body = request_body(
            request, self.model_name, n=n, chat_max_tokens_field=self._max_tokens_field
        )
        response = await self._send("POST", endpoint_for(request), body)
        payload = self._json(response)
        if "choices" not in payload and "error" in payload:
            # some proxies answer 200 with an error body; say what it said
            raise TransientError(f"HTTP 200 with an error: {payload['error']!r:.300}")
        try:
            samples = samples_from_choices(payload.get("choices"), want_logprobs=request.logprobs)
        except MalformedResponseError as exc:
            raise TransientError(f"malformed response: {exc}") from None
        return samples, usage_from_json(payload.get("usage"))

    async def _once_streamed(
        self, request: GenerationRequest, n: int, on_delta: Any = None
    ) -> tuple[list[Sample], Usage | None, float | None]:
        """One streaming call; samples, usage and seconds to the first content delta."""
        client, semaphore = self._pool()
        body = request_body(
            request,
            self.model_name,
            n=n,
            stream=True,
            chat_max_tokens_field=self._max_tokens_field,
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
                        self._raise_for_status(response)
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

    # -- the Engine seam -------------------------------------------------------------------
    async def _generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        tasks = [asyncio.ensure_future(self._generate_one(r)) for r in requests]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            # one request failed (or the caller cancelled): stop the others' HTTP calls
            # rather than leave them running for results nobody will read
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def _check(self, request: GenerationRequest) -> None:
        if request.messages is None and self.provider and not self.provider.supports_completions:
            raise InvalidRequestError(
                f"{self.provider.name} serves chat completions only; send messages=[...] "
                "instead of a raw prompt or prompt_ids"
            )

    async def _call(
        self, request: GenerationRequest, n: int
    ) -> tuple[list[Sample], Usage | None, float | None]:
        what = f"POST /{endpoint_for(request)} (model {self.model_name}, n={n})"
        if self.stream_generations:
            return await self._with_retries(lambda: self._once_streamed(request, n), what)
        samples, usage = await self._with_retries(lambda: self._once(request, n), what)
        return samples, usage, None

    async def _generate_one(self, request: GenerationRequest) -> Generation:
        self._check(request)
        started = time.perf_counter()
        parts = await self._samples_for(request)
        return self._assemble(request, parts, time.perf_counter() - started)

    async def _samples_for(
        self, request: GenerationRequest
    ) -> list[tuple[list[Sample], Usage | None, float | None]]:
        """All `n` samples: one call with `n`, or single calls where `n` is not honoured."""
        n = request.n
        if n > 1 and self._n_supported is False:
            return await self._fan_out(request, range(n))
        try:
            first = await self._call(request, n)
        except RemoteEngineError as exc:
            said = exc.server_message if isinstance(exc, RemoteRequestError) else ""
            if not (n > 1 and exc.status_code in (400, 422) and re.search(r"\bn\b", said)):
                raise
            self._n_supported = False
            self._warn_once(
                "n",
                "%s rejected n=%d (%r); sending parallel single calls from now on",
                self.base_url,
                n,
                said,
            )
            return await self._fan_out(request, range(n))
        got = len(first[0])
        if got > n:
            raise RemoteEngineError(f"{self.base_url} returned {got} choices for n={n}")
        if got == n:
            if n > 1:
                self._n_supported = True
            return [first]
        self._n_supported = False
        self._warn_once(
            "n",
            "%s returned %d choice(s) for n=%d; it ignores n, so the missing samples come "
            "from parallel single calls (seed + i for sample i)",
            self.base_url,
            got,
            n,
        )
        return [first, *await self._fan_out(request, range(got, n))]

    async def _fan_out(
        self, request: GenerationRequest, indices: range
    ) -> list[tuple[list[Sample], Usage | None, float | None]]:
        def single(i: int) -> GenerationRequest:
            seed = None if request.seed is None else request.seed + i
            return request.model_copy(update={"n": 1, "seed": seed})

        return list(await asyncio.gather(*(self._call(single(i), 1) for i in indices)))

    def _assemble(
        self,
        request: GenerationRequest,
        parts: list[tuple[list[Sample], Usage | None, float | None]],
        wall_s: float,
    ) -> Generation:
        samples = [s for part_samples, _, _ in parts for s in part_samples]
        usages = [u for _, u, _ in parts]
        if all(u is not None for u in usages):
            # The seam counts a prompt once per request, however many calls carried it.
            usage = Usage(
                prompt_tokens=usages[0].prompt_tokens,
                cached_tokens=usages[0].cached_tokens,
                completion_tokens=sum(u.completion_tokens for u in usages),
            )
        else:
            self._warn_once("usage", "%s sent no usage; token counts are estimates", self.base_url)
            usage = Usage(
                prompt_tokens=self.count_tokens(request),
                completion_tokens=sum(
                    len(s.token_ids) or max(1, len(s.text) // 4) if s.text else len(s.token_ids)
                    for s in samples
                ),
            )
        ttfts = [t for _, _, t in parts if t is not None]
        ttft = min(ttfts) if ttfts else None
        timing = Timing(
            wall_s=wall_s,
            prefill_s=ttft or 0.0,
            decode_s=max(0.0, wall_s - ttft) if ttft is not None else 0.0,
            ttft_s=ttft,
        )
        return Generation(model=self.model_name, samples=samples, usage=usage, timing=timing)

    async def _stream(self, request: GenerationRequest) -> AsyncIterator[str | Generation]:
        """Text deltas of one sample. Retries only until the first delta has been yielded:
        after that a retry could repeat text, so a broken stream raises RemoteEngineError."""
        self._check(request)
        if request.n != 1:
            raise InvalidRequestError(f"stream() yields one sample; got n={request.n}")
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        # Set as soon as a delta is handed over (not when the consumer takes it), so no
        # retry can start once any text may have reached the caller.
        produced: list[str] = []
        last_error: list[BaseException] = []

        async def on_delta(_index: int, delta: str) -> None:
            produced.append(delta)
            await queue.put(delta)

        async def attempt() -> Any:
            if produced:
                raise _NoRetry()
            try:
                return await self._once_streamed(request, 1, on_delta)
            except TransientError as exc:
                last_error[:] = [exc]
                raise

        async def run() -> Any:
            try:
                return await self._with_retries(attempt, f"stream /{endpoint_for(request)}")
            finally:
                await queue.put(None)

        started = time.perf_counter()
        task = asyncio.create_task(run())
        try:
            while True:
                delta = await queue.get()
                if delta is None:
                    break
                yield delta
            part = await task  # re-raises the call's error, if any
            yield self._assemble(request, [part], time.perf_counter() - started)
        except _NoRetry:
            cause = f" ({last_error[0]})" if last_error else ""
            raise RemoteEngineError(
                f"stream from {self.base_url} broke after {sum(map(len, produced))} characters "
                f"had been yielded{cause}; not retried, because a retry would repeat that text"
            ) from None
        finally:
            if not task.done():
                task.cancel()


class _NoRetry(Exception):
    """Raised inside a retry when a retry would duplicate streamed output."""
