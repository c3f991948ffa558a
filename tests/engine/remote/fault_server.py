"""A small fault-injecting OpenAI-compatible HTTP server for the OpenAIEngine tests.

It speaks just enough HTTP/1.1 over asyncio streams (keep-alive, Content-Length bodies,
chunked streams) to misbehave precisely: each POST takes the next behaviour from a script
(`Reply`, `Hang`, `Drop`, `Stream`, `Ok`), and falls back to a correct answer when the
script is empty. The correct answer is deterministic in the request (text names the call
number, the prompt and the seed), so tests can tell which call produced which sample and
prove nothing was lost or duplicated. Every request is recorded with its arrival time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FaultServer", "Reply", "Hang", "Drop", "Stream", "Ok", "Recorded"]


@dataclass
class Reply:
    """Answer with this status, JSON body and headers (e.g. 429 + Retry-After)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hang:
    """Read the request, then say nothing for `seconds` and close; if the client hangs up
    first, the call is recorded in `FaultServer.abandoned`."""

    seconds: float


@dataclass
class Drop:
    """Read the request and close the connection without a byte of response."""


@dataclass
class Ok:
    """A correct answer, optionally with fewer choices (a server ignoring n) or no usage."""

    choices: int | None = None
    usage: bool = True
    delay_s: float = 0.0


@dataclass
class Stream:
    """A streamed answer; `lines` replace the correct SSE lines when given, `drop_after`
    closes the connection after that many events (mid chunked body: a broken stream)."""

    lines: list[str] | None = None
    drop_after: int | None = None
    usage: bool = True
    delay_s: float = 0.0


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    at: float


def _prompt_text(body: dict[str, Any]) -> str:
    if "messages" in body:
        return str(body["messages"][-1]["content"])
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else json.dumps(prompt)


def answer_text(call: int, body: dict[str, Any], index: int) -> str:
    """The deterministic text the server answers choice `index` of call number `call` with."""
    return f"call{call}:{_prompt_text(body)}:seed={body.get('seed')}:i={index}"


class FaultServer:
    """`async with FaultServer([Reply(500), Ok()]) as server:` then use `server.base_url`."""

    def __init__(self, script: list[Any] | None = None) -> None:
        self.script = list(script or [])
        self.requests: list[Recorded] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.abandoned: list[int] = []  # calls (1-based) the client gave up on during a Hang
        self.hung_up = asyncio.Event()  # set when the first call is abandoned

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def posts(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    async def __aenter__(self) -> FaultServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=2)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    # -- HTTP --------------------------------------------------------------------------
    async def _read_request(self, reader: asyncio.StreamReader) -> Recorded | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        body = json.loads(raw) if raw else None
        return Recorded(method, path, body, headers, time.monotonic())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                if request.method == "GET":
                    await self._send_json(
                        writer,
                        200,
                        {
                            "object": "list",
                            "data": [
                                {"id": "fault-model", "object": "model", "context_length": 4096}
                            ],
                        },
                    )
                    continue
                behaviour = self.script.pop(0) if self.script else None
                if behaviour is None:
                    stream = bool(request.body.get("stream"))
                    behaviour = Stream() if stream else Ok()
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    keep_open = await self._act(behaviour, request, reader, writer)
                finally:
                    self.in_flight -= 1
                if not keep_open:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            self._handlers.discard(task)
            writer.transport.abort()

    async def _act(
        self,
        behaviour: Any,
        request: Recorded,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Carry out one behaviour; False when the connection must close afterwards."""
        call = len(self.posts)
        if isinstance(behaviour, Reply):
            await self._send_json(writer, behaviour.status, behaviour.body, behaviour.headers)
            return True
        if isinstance(behaviour, Hang):
            # a client that gives up closes its connection: reading then returns b""
            gone = asyncio.ensure_future(reader.read(1))
            done, _ = await asyncio.wait({gone}, timeout=behaviour.seconds)
            if done and not gone.exception() and gone.result() == b"":
                self.abandoned.append(call)
                self.hung_up.set()
            gone.cancel()
            writer.transport.abort()
            return False
        if isinstance(behaviour, Drop):
            writer.transport.abort()
            return False
        if isinstance(behaviour, Ok):
            await asyncio.sleep(behaviour.delay_s)
            await self._send_json(writer, 200, self.completion(call, request.body, behaviour))
            return True
        if isinstance(behaviour, Stream):
            return await self._stream(call, request.body, behaviour, writer)
        raise TypeError(f"unknown behaviour {behaviour!r}")

    async def _send_json(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(payload)}"]
        head += ["Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        await writer.drain()

    # -- correct answers -----------------------------------------------------------------
    @staticmethod
    def completion(call: int, body: dict[str, Any], ok: Ok | None = None) -> dict[str, Any]:
        ok = ok or Ok()
        n = body.get("n", 1) if ok.choices is None else ok.choices
        chat = "messages" in body
        choices = []
        for i in range(n):
            text = answer_text(call, body, i)
            if chat:
                choice = {"index": i, "message": {"role": "assistant", "content": text}}
            else:
                choice = {"index": i, "text": text}
            choice["finish_reason"] = "stop"
            if body.get("logprobs"):
                entries = [{"token": c, "logprob": -0.5, "top_logprobs": []} for c in text]
                choice["logprobs"] = (
                    {"content": entries}
                    if chat
                    else {
                        "tokens": list(text),
                        "token_logprobs": [-0.5] * len(text),
                        "top_logprobs": [{c: -0.5} for c in text],
                    }
                )
            choices.append(choice)
        out: dict[str, Any] = {
            "id": f"cmpl-{call}",
            "object": "chat.completion" if chat else "text_completion",
            "model": body.get("model"),
            "choices": choices,
        }
        if ok.usage:
            out["usage"] = {
                "prompt_tokens": len(_prompt_text(body)),
                "completion_tokens": sum(len(answer_text(call, body, i)) for i in range(n)),
                "total_tokens": 0,
                "prompt_tokens_details": {"cached_tokens": 3},
            }
        return out

    @staticmethod
    def stream_lines(call: int, body: dict[str, Any], usage: bool = True) -> list[str]:
        """Correct SSE events: one chunk per 4 characters per choice, usage, [DONE]."""
        n = body.get("n", 1)
        chat = "messages" in body
        events = []
        for i in range(n):
            text = answer_text(call, body, i)
            for k in range(0, len(text), 4):
                piece = text[k : k + 4]
                choice = (
                    {"index": i, "delta": {"content": piece}}
                    if chat
                    else {"index": i, "text": piece}
                )
                choice["finish_reason"] = None
                events.append({"choices": [choice]})
            last = {"index": i, "delta": {}} if chat else {"index": i, "text": ""}
            last["finish_reason"] = "stop"
            events.append({"choices": [last]})
        if usage:
            events.append(
                {
                    "choices": [],
                    "usage": {
                        "prompt_tokens": len(_prompt_text(body)),
                        "completion_tokens": sum(len(answer_text(call, body, i)) for i in range(n)),
                    },
                }
            )
        return [f"data: {json.dumps(e)}" for e in events] + ["data: [DONE]"]

    async def _stream(
        self, call: int, body: dict[str, Any], spec: Stream, writer: asyncio.StreamWriter
    ) -> bool:
        lines = spec.lines if spec.lines is not None else self.stream_lines(call, body, spec.usage)
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        writer.write((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
        for k, line in enumerate(lines):
            if spec.drop_after is not None and k >= spec.drop_after:
                await writer.drain()
                writer.transport.abort()  # the chunked body never ends: a broken stream
                return False
            data = (line + "\n\n").encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
            if spec.delay_s:
                await asyncio.sleep(spec.delay_s)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
