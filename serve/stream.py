"""Streaming completions for `thinkfast serve`: OpenAI SSE chunks from engine streams.

`CompletionStream(engine, model, chat).open(requests, include_usage)` does everything
that can fail with a 4xx first (the context check, starting one engine stream per sample
and awaiting its first delta), then returns the iterator of SSE lines the response sends:
a role chunk (chat), content deltas, one finish chunk carrying the `thinkfast` timing, a
usage chunk when asked for, and `data: [DONE]`. Sample i of a seeded request streams with
seed + i, as LocalEngine seeds the n samples of one request, so streamed and plain
answers agree. Streams that ask for logprobs are replayed from the finished generation,
because engine streams carry text only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from thinkfast.engine.base import Engine
from thinkfast.engine.errors import ContextLengthError
from thinkfast.engine.hardware.stamping import stamp_emulated
from thinkfast.engine.types import Generation, GenerationRequest, Sample, Timing, Usage

from .api import engine_error
from .responses import (
    chat_response,
    chunk,
    completion_response,
    dumps,
    new_id,
    thinkfast_json,
    usage_json,
)

__all__ = ["CompletionStream"]

log = logging.getLogger("thinkfast.serve")


class CompletionStream:
    """One streamed response of /v1/chat/completions (`chat=True`) or /v1/completions."""

    def __init__(self, engine: Engine, model: str, chat: bool) -> None:
        self.engine = engine
        self.model = model
        self.chat = chat

    async def open(
        self, requests: list[GenerationRequest], include_usage: bool
    ) -> AsyncIterator[str]:
        """Raise ApiError for what is wrong with the requests; else the SSE lines to send."""
        self._check_context(requests)
        if any(r.logprobs for r in requests):
            return await self._replayed_events(self.chat, requests, include_usage)
        return await self._live_events(self.chat, requests, include_usage)

    async def _generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        try:
            return await self.engine.generate(requests)
        except Exception as exc:
            raise engine_error(exc) from exc

    def _check_context(self, requests: list[GenerationRequest]) -> None:
        """Streams answer 200 before the engine runs, so catch overlong prompts first."""
        window = self.engine.context_length
        if not window:
            return
        for r in requests:
            total = self.engine.count_tokens(r) + r.max_tokens
            if total > window:
                raise engine_error(
                    ContextLengthError(
                        f"prompt + max_tokens = {total} tokens exceeds the context length of "
                        f"{self.model} ({window} tokens); shorten the prompt or lower max_tokens"
                    )
                )

    def _header(self) -> Callable[..., str]:
        """A function turning choices into one SSE line of this response."""
        chat = self.chat
        ident, created = new_id("chatcmpl" if chat else "cmpl"), int(time.time())

        def event(choices: list[dict[str, Any]], **kw: Any) -> str:
            payload = chunk(
                chat=chat, ident=ident, created=created, model=self.model, choices=choices, **kw
            )
            return f"data: {dumps(payload)}\n\n"

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
                raise engine_error(exc) from exc
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
        event = self._header()
        queue: asyncio.Queue[tuple[int, str | None, BaseException | None]] = asyncio.Queue()

        async def drain(k: int, agen: Any) -> None:
            try:
                async for delta in agen:
                    await queue.put((k, delta, None))
                await queue.put((k, None, None))
            except Exception as exc:  # reported in-stream, the other samples carry on
                await queue.put((k, None, exc))

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
                    api = engine_error(exc)
                    yield f"data: {dumps(api.body())}\n\n"
                    return
                if delta is None:
                    open_streams -= 1
                    continue
                yield event([self._choice(chat, index, delta, None)])
            wall = time.perf_counter() - started
            generations = self._account(requests, singles, streams, wall, ttft)
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

    def _account(
        self,
        requests: list[GenerationRequest],
        singles: list[tuple[int, GenerationRequest, GenerationRequest]],
        streams: list[Any],
        wall: float,
        ttft: float,
    ) -> list[Generation]:
        """One Generation per request from its samples' streams: each engine stream ends
        with its own Generation (exact token ids, finish reason), so nothing is
        re-tokenised; the timing is the live stream's, with the emulated timing of the
        whole batch stamped as `generate` would."""
        by_request: dict[int, list[Sample]] = {}
        for k, (_, original, _) in enumerate(singles):
            generation = streams[k].generation
            by_request.setdefault(id(original), []).extend(generation.samples)
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
            stamp_emulated(self.engine, requests, generations)
        except Exception as exc:  # emulation is a report, never a reason to fail a stream
            log.warning("could not emulate the timing of a stream: %s", exc)
        return generations

    async def _replayed_events(
        self, chat: bool, requests: list[GenerationRequest], include_usage: bool
    ) -> AsyncIterator[str]:
        """Streams that ask for logprobs are served from the finished generation (engine
        streams carry text only): one delta per choice, once decoding is done."""
        generations = await self._generate(requests)
        return self._replay(chat, requests, generations, include_usage)

    async def _replay(
        self,
        chat: bool,
        requests: list[GenerationRequest],
        generations: list[Generation],
        include_usage: bool,
    ) -> AsyncIterator[str]:
        event = self._header()
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
