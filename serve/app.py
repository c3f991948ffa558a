"""The ASGI app of `thinkfast serve`: an OpenAI-compatible HTTP API over any Engine.

Routes: GET /v1/models, POST /v1/chat/completions, POST /v1/completions, GET /health.
Each request is validated (api.py), then simply awaited on the engine: LocalEngine
coalesces concurrent calls into one batch, so requests that arrive together decode
together without any batching logic here. Streams are stream.py's; request schemas,
limits and response bodies are api.py's. Listening on a socket is server.py's.

Every failure becomes an OpenAI-style `{"error": {...}}` with a 4xx (the client's fault)
or 5xx (ours); no input can take the server down. Needs the `serve` extra.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from thinkfast.engine.base import Engine
from thinkfast.engine.types import Generation, GenerationRequest

from .api import (
    ApiError,
    ChatCompletionBody,
    CompletionBody,
    ServeDependencyError,
    ServerLimits,
    chat_request,
    completion_requests,
    engine_error,
    log_ignored,
    parse_body,
)
from .responses import chat_response, completion_response, dumps
from .scaffold_routes import ScaffoldRoutes
from .scaffold_spec import EFFORT_PRESETS, split_model_name
from .stream import CompletionStream

try:
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ServeDependencyError.missing(exc) from exc

__all__ = ["BUSY_RETRY_AFTER_S", "IGNORED_HEADER", "ServerLimits", "create_app"]

log = logging.getLogger("thinkfast.serve")


def _json(obj: Any, status: int = 200) -> Response:
    return Response(dumps(obj), status_code=status, media_type="application/json")


def _error(exc: ApiError) -> Response:
    response = _json(exc.body(), exc.status)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    response.headers.update(exc.headers)
    return response


# What a busy server tells clients to wait: long enough for a few decode batches to finish,
# short enough that a retrying client (OpenAIEngine honours it) barely notices.
BUSY_RETRY_AFTER_S = 1
IGNORED_HEADER = "X-Thinkfast-Ignored-Fields"


class _Slot:
    """One admitted generation request; released once, by whichever end comes first."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._server.in_flight -= 1


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    """Every way a handler can fail ends as an OpenAI error body, never a crash."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return _error(exc)
        except Exception as exc:
            return _error(engine_error(exc))

    return wrapper


class _Server:
    """The state behind the routes: the engine, its public name, limits and the key."""

    def __init__(
        self,
        engine: Engine,
        *,
        api_key: str | None,
        limits: ServerLimits,
        served_model_name: str | None,
        strategy: str | None = None,
        effort: dict[str, str | None] | None = None,
    ) -> None:
        self.engine = engine
        self.api_key = api_key
        self.limits = limits
        self.model = served_model_name or engine.model_name
        # The engine's own name is always accepted too, so both spellings work.
        self.names = {self.model, engine.model_name}
        self.created = int(time.time())
        self.in_flight = 0  # generation requests admitted and not yet finished
        # scaffolded requests (strategies served as models); a bad --strategy or --effort
        # spec fails here, before the server listens
        self.scaffolds = ScaffoldRoutes(
            self, default=strategy, effort={**EFFORT_PRESETS, **(effort or {})}
        )

    # -- request plumbing ------------------------------------------------------------------
    def authorize(self, request: Request) -> None:
        if self.api_key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), self.api_key):
            raise ApiError(
                401,
                "missing or wrong API key: send 'Authorization: Bearer <key>' with the key "
                "given to thinkfast serve --api-key",
                type="authentication_error",
                code="invalid_api_key",
            )

    async def read_body(self, request: Request) -> bytes:
        limit = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, f"request body of {declared} bytes exceeds the limit of {limit}")
        parts, size = [], 0
        async for part in request.stream():
            size += len(part)
            if size > limit:
                raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
            parts.append(part)
        return b"".join(parts)

    def admit(self) -> _Slot:
        """A slot for one generation request, or 429 when `max_in_flight` are running
        (the engine would only queue them, holding memory and connections meanwhile)."""
        limit = self.limits.max_in_flight
        saturated = getattr(self.engine, "saturated", None)  # an endpoint pool at its limits
        if callable(saturated) and saturated():
            raise ApiError(
                429,
                f"the server is busy: every upstream endpoint is at its concurrency limit; "
                f"retry after {BUSY_RETRY_AFTER_S}s",
                type="rate_limit_error",
                code="server_busy",
                headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
            )
        if self.in_flight >= limit:
            raise ApiError(
                429,
                f"the server is busy: {self.in_flight} requests in flight (limit {limit}); "
                f"retry after {BUSY_RETRY_AFTER_S}s",
                type="rate_limit_error",
                code="server_busy",
                headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
            )
        self.in_flight += 1
        return _Slot(self)

    async def admitted(self, request: Request, handler: Any) -> Response:
        """Run a generation handler in a slot; a stream keeps its slot until it ends."""
        self.authorize(request)
        slot = self.admit()
        try:
            response = await handler(request, slot)
        except BaseException:
            slot.release()
            raise
        if not isinstance(response, StreamingResponse):
            slot.release()
        return response

    def check_model(self, model: str) -> str | None:
        """Check the model name; the strategy spec it starts with (STRATEGY/MODEL), if any."""
        spec, name = split_model_name(model)
        if name not in self.names:
            raise ApiError(
                404,
                f"model {name!r} is not served here; available: {self.model!r}, or "
                f"STRATEGY[:opt=val,...]/{self.model} for a scaffolded answer (GET /v1/models "
                "lists the strategies)",
                param="model",
                code="model_not_found",
            )
        return spec

    async def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        try:
            return await self.engine.generate(requests)
        except ApiError:
            raise
        except Exception as exc:
            raise engine_error(exc) from exc

    # -- routes ----------------------------------------------------------------------------
    def _model_entry(self) -> dict[str, Any]:
        window = self.engine.context_length
        return {
            "id": self.model,
            "object": "model",
            "created": self.created,
            "owned_by": "thinkfast",
            "context_length": window,
            "max_model_len": window,  # vLLM's name for it, which some clients read
        }

    async def models(self, request: Request) -> Response:
        self.authorize(request)
        entry = self._model_entry()
        return _json({"object": "list", "data": [entry, *self.scaffolds.model_entries(entry)]})

    async def model_info(self, request: Request) -> Response:
        self.authorize(request)
        name = request.path_params["model"]
        spec = self.check_model(name)
        entry = self._model_entry()
        return _json(self.scaffolds.model_entry(entry, spec) if spec else entry)

    async def health(self, request: Request) -> Response:
        return _json(
            {
                "status": "ok",
                "model": self.model,
                "in_flight": self.in_flight,
                "max_in_flight": self.limits.max_in_flight,
            }
        )

    async def chat(self, request: Request) -> Response:
        return await self.admitted(request, self._chat)

    async def completions(self, request: Request) -> Response:
        return await self.admitted(request, self._completions)

    async def _chat(self, request: Request, slot: _Slot) -> Response:
        body = parse_body(await self.read_body(request), ChatCompletionBody)
        ignored = body.ignored_fields()
        log_ignored(ignored)
        spec = self.scaffolds.spec_for(body, self.check_model(body.model))
        if spec is not None:
            return await self.scaffolds.chat(body, spec, slot, ignored)
        greq = chat_request(body, self.limits, self.engine.count_tokens, self.engine.context_length)
        if body.stream:
            return self.ignoring(await self.stream(True, [greq], body, slot), ignored)
        [generation] = await self.generate([greq])
        return self.ignoring(_json(chat_response(self.model, generation)), ignored)

    async def _completions(self, request: Request, slot: _Slot) -> Response:
        body = parse_body(await self.read_body(request), CompletionBody)
        ignored = body.ignored_fields()
        log_ignored(ignored)
        spec = self.scaffolds.spec_for(body, self.check_model(body.model))
        if spec is not None:
            return await self.scaffolds.completions(body, spec, slot, ignored)
        greqs = completion_requests(
            body, self.limits, self.engine.count_tokens, self.engine.context_length
        )
        if body.stream:
            return self.ignoring(await self.stream(False, greqs, body, slot), ignored)
        generations = await self.generate(greqs)
        return self.ignoring(_json(completion_response(self.model, generations, greqs)), ignored)

    @staticmethod
    def ignoring(response: Response, ignored: list[str]) -> Response:
        """Name the request's ignored fields in a header (scaffolds also list them in the
        `thinkfast` object)."""
        if ignored:
            response.headers[IGNORED_HEADER] = ",".join(ignored)
        return response

    # -- streaming -------------------------------------------------------------------------
    async def stream(
        self, chat: bool, requests: list[GenerationRequest], body: Any, slot: _Slot
    ) -> StreamingResponse:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = await CompletionStream(self.engine, self.model, chat).open(requests, include_usage)
        return self.sse(events, slot)

    def sse(self, events: AsyncIterator[str], slot: _Slot) -> StreamingResponse:
        """An SSE response of `events` that gives the slot back however it ends."""

        async def releasing() -> AsyncIterator[str]:
            try:
                # aclosing: closing this response closes `events` at once (cancelling a
                # scaffold's engine calls), not whenever the garbage collector gets to it
                async with contextlib.aclosing(events) as lines:
                    async for line in lines:
                        yield line
            finally:
                slot.release()

        return StreamingResponse(
            releasing(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            # belt and braces: should the iterator never start (a client gone before the
            # first byte), its finally would not run, but this does; release is idempotent
            background=BackgroundTask(slot.release),
        )

    # -- the app ---------------------------------------------------------------------------
    def app(self) -> Starlette:
        async def not_found(request: Request, exc: Exception) -> Response:
            status = getattr(exc, "status_code", 404)
            if status == 405:
                message = f"{request.method} is not allowed on {request.url.path}"
            else:
                message = (
                    f"no route {request.url.path}; routes: GET /v1/models, "
                    "POST /v1/chat/completions, POST /v1/completions"
                )
            return _error(ApiError(status, message))

        routes = [
            Route("/v1/models", _guarded(self.models), methods=["GET"]),
            Route("/v1/models/{model:path}", _guarded(self.model_info), methods=["GET"]),
            Route("/v1/chat/completions", _guarded(self.chat), methods=["POST"]),
            Route("/v1/completions", _guarded(self.completions), methods=["POST"]),
            Route("/health", _guarded(self.health), methods=["GET"]),
        ]
        return Starlette(routes=routes, exception_handlers={HTTPException: not_found})


def create_app(
    engine: Engine,
    *,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
    served_model_name: str | None = None,
    strategy: str | None = None,
    effort: dict[str, str | None] | None = None,
) -> Starlette:
    """The ASGI app serving `engine`; mount it anywhere or run it with `serve`.

    `strategy` (a spec such as "best_of_n:n=4") scaffolds every request that names no
    strategy of its own; `effort` overrides reasoning_effort presets (level -> spec or None).
    """
    server = _Server(
        engine,
        api_key=api_key,
        limits=limits or ServerLimits(),
        served_model_name=served_model_name,
        strategy=strategy,
        effort=effort,
    )
    return server.app()
