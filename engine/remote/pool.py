"""EndpointPool: one Engine over several endpoints serving the same model.

`EndpointPool([OpenAIEngine(m, base_url=u1), OpenAIEngine(m, base_url=u2)])` sends each
`generate()` call (all its requests together, so n samples stay ONE upstream request) to
the least-loaded healthy endpoint: fewest calls in flight relative to its limit, ties to
the one used least. An endpoint that fails in a way another endpoint may not (no
connection, a timeout, 5xx or 429 once its own retries are spent: a `RemoteEngineError`
that is not a refusal of the request itself) is taken out of rotation for `cooldown_s`,
and the call is sent to the next endpoint; a refusal (`RemoteRequestError`: a 4xx about
the request) is raised at once, since every endpoint would refuse it too. A call fails
only when every endpoint has failed it. Streams fail over only before their first delta
(after that a retry would repeat text).

`max_in_flight` bounds the calls each endpoint holds at once; a call waits up to
`queue_timeout_s` for a free endpoint, then raises `PoolSaturatedError` (the server turns
it into 429 + Retry-After, never a hung connection); `saturated()` says whether a new
call would have to wait, for servers that refuse work at the door.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..base import Engine, TextStream
from ..errors import EngineError, InvalidRequestError, RemoteEngineError
from ..types import Generation, GenerationRequest
from .refusals import RemoteRequestError

__all__ = ["EndpointPool", "PoolSaturatedError"]

log = logging.getLogger("thinkfast.engine.pool")


class PoolSaturatedError(EngineError):
    """Every endpoint of the pool is at its in-flight limit; retry after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class _Endpoint:
    engine: Engine
    limit: int
    in_flight: int = 0
    served: int = 0
    failures: int = 0
    down_until: float = 0.0
    last_error: str | None = None

    @property
    def name(self) -> str:
        return str(getattr(self.engine, "base_url", None) or self.engine.model_name)


def _fails_over(exc: BaseException) -> bool:
    """Whether another endpoint may succeed where this one failed."""
    if isinstance(exc, RemoteRequestError):
        return False  # the request itself was refused: every endpoint would refuse it
    return isinstance(exc, RemoteEngineError | OSError | TimeoutError)


class EndpointPool(Engine):
    """Endpoints serving one model, used as one engine (see the module docstring)."""

    def __init__(
        self,
        endpoints: Sequence[Engine],
        *,
        cooldown_s: float = 30.0,
        max_in_flight: int | None = None,
        queue_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        endpoints = list(endpoints)
        if not endpoints:
            raise InvalidRequestError("an endpoint pool needs at least one endpoint")
        names = {e.model_name for e in endpoints}
        if len(names) > 1:
            raise InvalidRequestError(
                f"the endpoints of a pool must serve one model; got {', '.join(sorted(names))}"
            )
        if cooldown_s < 0 or queue_timeout_s < 0:
            raise InvalidRequestError("cooldown_s and queue_timeout_s must be >= 0")
        first = endpoints[0]
        self.model_name = first.model_name
        self.hardware = first.hardware
        self.project_as = first.project_as
        self.pace = first.pace
        self.model_config = first.model_config
        self.model_spec = getattr(first, "model_spec", None)
        self.cooldown_s = cooldown_s
        self.queue_timeout_s = queue_timeout_s
        self._clock = clock
        self.endpoints = [
            _Endpoint(e, max_in_flight or getattr(e, "max_concurrency", None) or 16)
            for e in endpoints
        ]
        self._freed: asyncio.Event | None = None

    # -- what callers see --------------------------------------------------------------
    @property
    def calls(self) -> int:
        """HTTP attempts made by every endpoint (retries included)."""
        return sum(getattr(ep.engine, "calls", 0) for ep in self.endpoints)

    def describe(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "engine": "EndpointPool",
            "model": self.model_name,
            "endpoints": [
                {
                    "endpoint": ep.name,
                    "in_flight": ep.in_flight,
                    "limit": ep.limit,
                    "served": ep.served,
                    "failures": ep.failures,
                    "healthy": ep.down_until <= now,
                    "last_error": ep.last_error,
                }
                for ep in self.endpoints
            ],
        }

    def saturated(self) -> bool:
        """Whether every endpoint is at its in-flight limit (a new call would wait)."""
        return all(ep.in_flight >= ep.limit for ep in self.endpoints)

    def count_tokens(self, request: GenerationRequest) -> int:
        return self.endpoints[0].engine.count_tokens(request)

    async def aclose(self) -> None:
        await asyncio.gather(*(ep.engine.aclose() for ep in self.endpoints))

    # -- choosing an endpoint ----------------------------------------------------------
    def _candidates(self, tried: set[int]) -> list[_Endpoint]:
        """Endpoints not yet tried for this call, healthy ones first, least loaded first;
        endpoints out of rotation come last (soonest back first), so a call is not lost
        while any endpoint remains."""
        now = self._clock()
        left = [ep for ep in self.endpoints if id(ep) not in tried]
        healthy = [ep for ep in left if ep.down_until <= now]
        resting = [ep for ep in left if ep.down_until > now]
        healthy.sort(key=lambda ep: (ep.in_flight / ep.limit, ep.served))
        resting.sort(key=lambda ep: ep.down_until)
        return healthy + resting

    async def _acquire(self, tried: set[int], errors: list[str]) -> _Endpoint:
        """The endpoint for the call's next attempt (marked tried), waiting for a free one
        up to the timeout; when every endpoint has failed the call, the call fails."""
        if self._freed is None:
            self._freed = asyncio.Event()
        deadline = self._clock() + self.queue_timeout_s
        while True:
            candidates = self._candidates(tried)
            if not candidates:
                raise RemoteEngineError(
                    f"every endpoint of the {self.model_name} pool failed this call: "
                    + "; ".join(errors)
                )
            for ep in candidates:
                if ep.in_flight < ep.limit:
                    ep.in_flight += 1
                    tried.add(id(ep))
                    return ep
            left = deadline - self._clock()
            if left <= 0:
                raise PoolSaturatedError(
                    f"every endpoint of the {self.model_name} pool is at its in-flight limit "
                    f"({', '.join(f'{ep.name}: {ep.limit}' for ep in candidates)})",
                    retry_after_s=1.0,
                )
            self._freed.clear()
            try:
                await asyncio.wait_for(self._freed.wait(), timeout=left)
            except TimeoutError:
                pass

    def _release(self, ep: _Endpoint) -> None:
        ep.in_flight -= 1
        if self._freed is not None:
            self._freed.set()

    def _failed(self, ep: _Endpoint, exc: BaseException, errors: list[str]) -> None:
        errors.append(f"{ep.name}: {exc}")
        ep.failures += 1
        ep.last_error = f"{type(exc).__name__}: {exc}"
        ep.down_until = self._clock() + self.cooldown_s
        log.warning(
            "endpoint %s failed (%s); out of rotation for %.0fs", ep.name, exc, self.cooldown_s
        )

    @staticmethod
    def _served(ep: _Endpoint) -> None:
        ep.served += 1
        ep.down_until = 0.0

    @property
    def context_length(self) -> int | None:  # type: ignore[override]
        """The smallest window of its endpoints, read each time: an OpenAIEngine learns its
        window from GET /models after the pool is made."""
        windows = [ep.engine.context_length for ep in self.endpoints if ep.engine.context_length]
        return min(windows) if windows else None

    # -- the Engine seam -----------------------------------------------------------------
    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        requests = list(requests)
        if not requests:
            return []
        tried: set[int] = set()
        errors: list[str] = []
        while True:
            ep = await self._acquire(tried, errors)
            try:
                generations = await ep.engine.generate(requests)
            except Exception as exc:
                if not _fails_over(exc):
                    raise
                self._failed(ep, exc, errors)
                continue
            finally:
                self._release(ep)
            self._served(ep)
            return generations

    def stream(self, request: GenerationRequest) -> TextStream:
        return TextStream(self._stream(request))

    async def _stream(self, request: GenerationRequest) -> AsyncIterator[str | Generation]:
        tried: set[int] = set()
        errors: list[str] = []
        while True:
            ep = await self._acquire(tried, errors)
            stream = ep.engine.stream(request)
            yielded = False
            try:
                async for delta in stream:
                    yielded = True
                    yield delta
            except Exception as exc:
                if yielded or not _fails_over(exc):
                    raise
                self._failed(ep, exc, errors)
                continue
            finally:
                self._release(ep)
                await stream.aclose()
            if stream.generation is None:
                raise EngineError(f"the stream from {ep.name} ended without its generation")
            self._served(ep)
            yield stream.generation
            return
