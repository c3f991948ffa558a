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

The HTTP calls live in connection.py, error responses in refusals.py, the wire format
in wire.py, the retry loop in retry.py, the provider presets in providers.py, the spec
guess in hardware/spec_guess.py.

Retries never duplicate output: a whole response is only used once it has fully arrived,
and `stream()` only retries before it has yielded its first delta.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from ..errors import InvalidRequestError, RemoteEngineError
from ..hardware.spec_guess import guess_model_spec
from ..hardware.stamping import EmulatedEngine
from ..types import Generation, GenerationRequest, Sample, Timing, Usage
from .connection import Connection
from .providers import Provider, get_provider, resolve_api_key, resolve_base_url
from .refusals import RemoteContextLengthError, RemoteRequestError
from .retry import RetryPolicy, TransientError, with_retries
from .wire import endpoint_for

__all__ = [
    "OpenAIEngine",
    "RetryPolicy",
    "RemoteRequestError",
    "RemoteContextLengthError",
    "guess_model_spec",
]

log = logging.getLogger("thinkfast.engine.openai")


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
        self.base_url = resolve_base_url(self.provider, base_url)
        api_key = resolve_api_key(self.provider, api_key)
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
        sent_headers = {"Accept": "application/json", **(headers or {})}
        if api_key:
            sent_headers["Authorization"] = f"Bearer {api_key}"
        self.connection = Connection(
            self.base_url,
            model,
            provider=self.provider,
            headers=sent_headers,
            timeout=httpx.Timeout(
                connect=connect_timeout_s, read=read_timeout_s, write=read_timeout_s, pool=None
            ),
            max_concurrency=max_concurrency,
            transport=transport,
        )
        self._n_supported: bool | None = self.provider.supports_n if self.provider else None
        self._warned: set[str] = set()

    @property
    def calls(self) -> int:
        """HTTP attempts made, retries included (visible for tests and ledgers)."""
        return self.connection.calls

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "base_url": self.base_url,
            "provider": self.provider.name if self.provider else None,
            "model_spec": self.model_spec,
        }

    async def aclose(self) -> None:
        await self.connection.aclose()

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    # -- the server's model list ---------------------------------------------------------
    async def list_models(self) -> list[dict[str, Any]]:
        """GET /models; also fills `context_length` when the server reports this model's
        window (`max_model_len` in vLLM, `context_length` in thinkfast serve)."""

        async def attempt() -> list[dict[str, Any]]:
            response = await self.connection.send("GET", "models", None)
            data = self.connection.json(response).get("data")
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
            return await self._with_retries(lambda: self.connection.once_streamed(request, n), what)
        samples, usage = await self._with_retries(lambda: self.connection.once(request, n), what)
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
        if request.logprobs and any(s.text and not s.logprobs for s in samples):
            # Scoring by logprob (selector=logprob) must not see a silent 0.0 per sample.
            raise RemoteEngineError(
                f"{self.base_url} returned no logprobs for model {self.model_name} although "
                "logprobs=true was sent; this backend cannot serve logprobs (nor a strategy "
                "that selects by them, e.g. best_of_n selector=logprob); use another selector"
            )
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
                return await self.connection.once_streamed(request, 1, on_delta)
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
