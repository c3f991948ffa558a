"""`thinkfast serve`: an OpenAI-compatible HTTP server over any Engine (starlette + uvicorn).

Routes: GET /v1/models, POST /v1/chat/completions, POST /v1/completions, GET /health.
Each request is validated (server_api), then simply awaited on the engine: LocalEngine
coalesces concurrent calls into one batch, so requests that arrive together decode
together without any batching logic here. Streams (SSE, OpenAI chunk format, final usage
chunk, `data: [DONE]`) run one engine stream per sample; sample i of a seeded request uses
seed + i, as LocalEngine does for n samples, so streamed and non-streamed answers agree.

Every failure becomes an OpenAI-style `{"error": {...}}` with a 4xx (the client's fault)
or 5xx (ours); no input can take the server down. Needs the `serve` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import ipaddress
import json
import logging
import math
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from .base import Engine
from .errors import ContextLengthError, EngineError, InvalidRequestError, ThinkfastError
from .server_api import (
    ApiError,
    ChatCompletionBody,
    CompletionBody,
    ServeDependencyError,
    ServerLimits,
    chat_requests,
    chat_response,
    chunk,
    completion_requests,
    completion_response,
    new_id,
    parse_body,
    thinkfast_json,
    usage_json,
)
from .types import Generation, GenerationRequest, Sample, Timing, Usage

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ServeDependencyError(
        f"thinkfast serve needs starlette and uvicorn ({exc.name} is missing): "
        "pip install 'thinkfast[serve]'"
    ) from exc

__all__ = ["create_app", "serve", "running_server", "ServerLimits"]

log = logging.getLogger("thinkfast.engine.server")


def _finite(value: Any) -> Any:
    """JSON has no infinities: a -inf logprob (a token outside top-p) becomes -9999.0."""
    if isinstance(value, float) and not math.isfinite(value):
        return -9999.0 if value < 0 else 9999.0
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _dumps(obj: Any) -> str:
    try:
        return json.dumps(obj, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_finite(obj), allow_nan=False, separators=(",", ":"))


def _json(obj: Any, status: int = 200) -> Response:
    return Response(_dumps(obj), status_code=status, media_type="application/json")


def _error(exc: ApiError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    response = _json(exc.body(), exc.status)
    if headers:
        response.headers.update(headers)
    return response


def _engine_error(exc: BaseException) -> ApiError:
    """Map what the engine raised to the HTTP answer."""
    if isinstance(exc, ContextLengthError):
        return ApiError(400, str(exc), param="messages", code="context_length_exceeded")
    if isinstance(exc, InvalidRequestError):
        return ApiError(400, str(exc))
    if isinstance(exc, EngineError | ThinkfastError):
        return ApiError(500, f"the engine failed: {exc}", type="server_error")
    log.exception("unexpected error while serving a request", exc_info=exc)
    return ApiError(500, f"internal server error ({type(exc).__name__})", type="server_error")


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
            return _error(_engine_error(exc))

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
    ) -> None:
        self.engine = engine
        self.api_key = api_key
        self.limits = limits
        self.model = served_model_name or engine.model_name
        # The engine's own name is always accepted too, so both spellings work.
        self.names = {self.model, engine.model_name}
        self.created = int(time.time())

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

    def check_model(self, model: str) -> None:
        if model not in self.names:
            raise ApiError(
                404,
                f"model {model!r} is not served here; available: {self.model!r}",
                param="model",
                code="model_not_found",
            )

    async def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        try:
            return await self.engine.generate(requests)
        except ApiError:
            raise
        except Exception as exc:
            raise _engine_error(exc) from exc

    def check_context(self, requests: list[GenerationRequest]) -> None:
        """Streams answer 200 before the engine runs, so catch overlong prompts first."""
        window = self.engine.context_length
        if not window:
            return
        for r in requests:
            total = self.engine.count_tokens(r) + r.max_tokens
            if total > window:
                raise _engine_error(
                    ContextLengthError(
                        f"prompt + max_tokens = {total} tokens exceeds the context length of "
                        f"{self.model} ({window} tokens); shorten the prompt or lower max_tokens"
                    )
                )

    # -- routes ----------------------------------------------------------------------------
    async def models(self, request: Request) -> Response:
        self.authorize(request)
        window = self.engine.context_length
        entry = {
            "id": self.model,
            "object": "model",
            "created": self.created,
            "owned_by": "thinkfast",
            "context_length": window,
            "max_model_len": window,
        }
        return _json({"object": "list", "data": [entry]})

    async def health(self, request: Request) -> Response:
        return _json({"status": "ok", "model": self.model})

    async def chat(self, request: Request) -> Response:
        self.authorize(request)
        body = parse_body(await self.read_body(request), ChatCompletionBody)
        self.check_model(body.model)
        greq = chat_requests(
            body, self.limits, self.engine.count_tokens, self.engine.context_length
        )
        if body.stream:
            return await self.stream(True, [greq], body)
        [generation] = await self.generate([greq])
        return _json(chat_response(self.model, generation))

    async def completions(self, request: Request) -> Response:
        self.authorize(request)
        body = parse_body(await self.read_body(request), CompletionBody)
        self.check_model(body.model)
        greqs = completion_requests(
            body, self.limits, self.engine.count_tokens, self.engine.context_length
        )
        if body.stream:
            return await self.stream(False, greqs, body)
        generations = await self.generate(greqs)
        return _json(completion_response(self.model, generations, greqs))

    # -- streaming -------------------------------------------------------------------------
    async def stream(
        self, chat: bool, requests: list[GenerationRequest], body: Any
    ) -> StreamingResponse:
        self.check_context(requests)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        if any(r.logprobs for r in requests):
            events = await self._replayed_events(chat, requests, include_usage)
        else:
            events = await self._live_events(chat, requests, include_usage)
        return StreamingResponse(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    def _header(self, chat: bool) -> Callable[..., str]:
        ident, created = new_id("chatcmpl" if chat else "cmpl"), int(time.time())

        def event(choices: list[dict[str, Any]], **kw: Any) -> str:
            payload = chunk(
                chat=chat, ident=ident, created=created, model=self.model, choices=choices, **kw
            )
            return f"data: {_dumps(payload)}\n\n"

        return event

    @staticmethod
    def _choice(chat: bool, index: int, text: str | None, finish: str | None, **extra: Any):
        if chat:
            delta: dict[str, Any] = {} if text is None else {"content": text}
            return {"index": index, "delta": delta, "finish_reason": finish, **extra}
        return {"index": index, "text": text or "", "finish_reason": finish, **extra}

    async def _live_events(
        self, chat: bool, requests: list[GenerationRequest], include_usage: bool
    ) -> AsyncIterator[str]:
        """Start one engine stream per sample and wait for every first delta, so that a
        request the engine rejects still gets its 4xx before the 200 goes out."""
        singles = [
            (
                p * r.n + i,
                r,
                r.model_copy(update={"n": 1, "seed": None if r.seed is None else r.seed + i}),
            )
            for p, r in enumerate(requests)
            for i in range(r.n)
        ]
        started = time.perf_counter()
        streams = [self.engine.stream(single) for _, _, single in singles]

        async def first(agen: AsyncIterator[str]) -> str | None:
            try:
                return await agen.__anext__()
            except StopAsyncIteration:
                return None

        try:
            heads = await asyncio.gather(*(first(s) for s in streams))
        except BaseException as exc:
            await asyncio.gather(*(s.aclose() for s in streams), return_exceptions=True)
            if isinstance(exc, Exception):
                raise _engine_error(exc) from exc
            raise
        ttft = time.perf_counter() - started
        return self._pump(chat, requests, singles, streams, heads, started, ttft, include_usage)

    async def _pump(
        self,
        chat: bool,
        requests: list[GenerationRequest],
        singles: list[tuple[int, GenerationRequest, GenerationRequest]],
        streams: list[Any],
        heads: list[str | None],
        started: float,
        ttft: float,
        include_usage: bool,
    ) -> AsyncIterator[str]:
        event = self._header(chat)
        queue: asyncio.Queue[tuple[int, str | None, BaseException | None]] = asyncio.Queue()

        async def drain(k: int, agen: Any) -> None:
            try:
                async for delta in agen:
                    await queue.put((k, delta, None))
                await queue.put((k, None, None))
            except Exception as exc:  # reported in-stream, the other samples carry on
                await queue.put((k, None, exc))

        texts = [[h] if h else [] for h in heads]
        tasks = [asyncio.create_task(drain(k, s)) for k, s in enumerate(streams)]
        try:
            if chat:
                yield event(
                    [
                        {
                            "index": i,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                        }
                        for i, _, _ in singles
                    ]
                )
            for k, head in enumerate(heads):
                if head:
                    yield event([self._choice(chat, singles[k][0], head, None)])
            open_streams = len(tasks)
            while open_streams:
                k, delta, exc = await queue.get()
                index = singles[k][0]
                if exc is not None:
                    api = _engine_error(exc)
                    yield f"data: {_dumps(api.body())}\n\n"
                    return
                if delta is None:
                    open_streams -= 1
                    continue
                texts[k].append(delta)
                yield event([self._choice(chat, index, delta, None)])
            wall = time.perf_counter() - started
            generations = self._account(requests, singles, texts, wall, ttft)
            finish = [s for g in generations for s in g.samples]
            # the timing rides on the finish chunk (and on the usage chunk when asked for)
            extra = {"thinkfast": thinkfast_json(generations)}
            yield event(
                [
                    self._choice(chat, singles[k][0], None, s.finish_reason)
                    for k, s in enumerate(finish)
                ],
                extra=extra,
            )
            if include_usage:
                u = [g.usage for g in generations]
                usage = usage_json(
                    sum(x.prompt_tokens for x in u), sum(x.completion_tokens for x in u)
                )
                yield event([], usage=usage, extra=extra)
            yield "data: [DONE]\n\n"
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(s.aclose() for s in streams), return_exceptions=True)

    def _completion_ids(self, text: str) -> list[int]:
        codec = getattr(self.engine, "codec", None)
        if codec is not None and hasattr(codec, "encode"):
            return list(codec.encode(text, add_special_tokens=False))
        tokenizer = getattr(self.engine, "tokenizer", None)
        if tokenizer is not None and hasattr(tokenizer, "encode"):
            return list(tokenizer.encode(text, add_special_tokens=False).ids)
        return [-1] * max(1, len(text) // 4) if text else []

    def _account(
        self,
        requests: list[GenerationRequest],
        singles: list[tuple[int, GenerationRequest, GenerationRequest]],
        texts: list[list[str]],
        wall: float,
        ttft: float,
    ) -> list[Generation]:
        """Usage and timing of a live stream. Engine streams yield text only, so the
        completion is re-tokenised: exact for text the tokenizer round-trips, but an end-of-
        sequence token or the tokens of a cut stop string are not counted, and a sample
        that used its whole max_tokens is reported as finish_reason "length"."""
        by_request: dict[int, list[Sample]] = {}
        for k, (_, original, _) in enumerate(singles):
            text = "".join(texts[k])
            ids = self._completion_ids(text)
            finish = "length" if len(ids) >= original.max_tokens else "stop"
            sample = Sample(text=text, token_ids=ids, finish_reason=finish)
            by_request.setdefault(id(original), []).append(sample)
        generations = []
        for r in requests:
            samples = by_request[id(r)]
            generations.append(
                Generation(
                    model=self.model,
                    samples=samples,
                    usage=Usage(
                        prompt_tokens=self.engine.count_tokens(r),
                        completion_tokens=sum(len(s.token_ids) for s in samples),
                    ),
                    timing=Timing(wall_s=wall, prefill_s=ttft, decode_s=wall - ttft, ttft_s=ttft),
                )
            )
        try:
            self.engine._stamp_emulated(requests, generations)  # the seam's emulation hook
        except Exception as exc:  # emulation is a report, never a reason to fail a stream
            log.warning("could not emulate the timing of a stream: %s", exc)
        return generations

    async def _replayed_events(
        self, chat: bool, requests: list[GenerationRequest], include_usage: bool
    ) -> AsyncIterator[str]:
        """Streams that ask for logprobs are served from the finished generation (engine
        streams carry text only): the same events, one per token, once decoding is done."""
        generations = await self.generate(requests)
        return self._replay(chat, requests, generations, include_usage)

    async def _replay(
        self,
        chat: bool,
        requests: list[GenerationRequest],
        generations: list[Generation],
        include_usage: bool,
    ) -> AsyncIterator[str]:
        event = self._header(chat)
        body = (
            chat_response(self.model, generations[0])
            if chat
            else completion_response(self.model, generations, requests)
        )
        if chat:
            yield event(
                [
                    {
                        "index": c["index"],
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                    for c in body["choices"]
                ]
            )
        for choice in body["choices"]:
            # One delta per choice carrying the whole text and all its token logprobs: the
            # token strings may include an end-of-sequence token or a cut stop string, so
            # they are not replayed as text; the text is the finished sample's.
            text = choice["message"]["content"] if chat else choice["text"]
            logprobs = choice["logprobs"]
            yield event([self._choice(chat, choice["index"], text, None, logprobs=logprobs)])
        extra = {"thinkfast": body["thinkfast"]}
        finishes = [
            self._choice(chat, c["index"], None, c["finish_reason"]) for c in body["choices"]
        ]
        yield event(finishes, extra=extra)
        if include_usage:
            yield event([], usage=body["usage"], extra=extra)
        yield "data: [DONE]\n\n"

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
) -> Starlette:
    """The ASGI app serving `engine`; mount it anywhere or run it with `serve`."""
    server = _Server(
        engine,
        api_key=api_key,
        limits=limits or ServerLimits(),
        served_model_name=served_model_name,
    )
    return server.app()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it Nagle + delayed ACK add ~40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise EngineError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 8800,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
    served_model_name: str | None = None,
    log_level: str = "info",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted (blocking). `port=0` picks a free port; `on_ready` gets the URL."""
    if not _is_loopback(host) and api_key is None:
        log.warning("serving on %s without --api-key: anyone who can reach it may use it", host)
    app = create_app(engine, api_key=api_key, limits=limits, served_model_name=served_model_name)
    sock = _bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="off"))
    if on_ready is not None:
        on_ready(_url(sock, host))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has shut down gracefully and re-raised the Ctrl-C: a normal stop
    finally:
        sock.close()


@contextlib.contextmanager
def running_server(
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout_s: float = 10.0,
    **app_kwargs: Any,
) -> Iterator[str]:
    """Serve `engine` from a background thread for the duration of a `with` block; yields
    the base URL (e.g. for tests, notebooks, or pointing an OpenAI client at it)."""
    app = create_app(engine, **app_kwargs)
    sock = _bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="thinkfast-serve", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise EngineError(f"the server did not start on {host}:{port} in {startup_timeout_s}s")
        time.sleep(0.01)
    try:
        yield _url(sock, host)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
