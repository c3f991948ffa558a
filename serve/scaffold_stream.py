"""Streaming a scaffold: progress as `reasoning_content` deltas while it runs.

Each finished draft, verdict, judge match, vote and budget stop is sent the moment its
event arrives (one line per event, so the first arrives within one draft's latency,
not after the whole pipeline); when a choice's scaffold ends, its final answer follows
as `content` (chat) or `text` (completions) and its finish chunk; then, with
`stream_options.include_usage`, one usage chunk carrying the `thinkfast` object; then
`data: [DONE]`. A failure after the 200 went out is sent as an `{"error": ...}` event,
which the openai SDK raises. A client that hangs up cancels the scaffold's engine calls
(`Scaffold.events` cancels its tasks when the response stops iterating it).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .api import ApiError
from .responses import chunk, dumps, new_id
from .scaffold import Scaffold, scaffold_error
from .scaffold_response import progress_line, scaffold_usage, thinkfast_object

__all__ = ["scaffold_events"]


async def scaffold_events(
    scaffold: Scaffold,
    questions: Sequence[str],
    *,
    chat: bool,
    model: str,
    include_usage: bool,
    source: str,
    ignored: list[str],
) -> AsyncIterator[str]:
    ident, created = new_id("chatcmpl" if chat else "cmpl"), int(time.time())

    def event(choices: list[dict[str, Any]], **kw: Any) -> str:
        payload = chunk(chat=chat, ident=ident, created=created, model=model, choices=choices, **kw)
        return f"data: {dumps(payload)}\n\n"

    def piece(
        index: int,
        *,
        content: str | None = None,
        reasoning: str | None = None,
        finish: str | None = None,
    ) -> dict[str, Any]:
        if chat:
            delta: dict[str, Any] = {}
            if content is not None:
                delta["content"] = content
            if reasoning is not None:
                delta["reasoning_content"] = reasoning
            return {"index": index, "delta": delta, "finish_reason": finish}
        out = {"index": index, "text": content or "", "finish_reason": finish}
        if reasoning is not None:
            out["reasoning_content"] = reasoning
        return out

    total = len(questions) * scaffold.settings.n
    answers: dict[int, Any] = {}
    if chat:
        roles = [
            {"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            for i in range(total)
        ]
        yield event(roles)
    header = f"{scaffold.strategy.name} on {scaffold.base.model_name}\n"
    yield event([piece(i, reasoning=header) for i in range(total)])
    try:
        # aclosing: when this response is closed (a client gone), the scaffold's own
        # generator is closed at once too, which cancels its engine calls
        async with contextlib.aclosing(scaffold.events(questions)) as events:
            async for choice, ev in events:
                if ev.kind == "answer":
                    answer = ev.result
                    answers[choice] = answer
                    chosen = answer.chosen
                    finish = chosen.finish_reason if chosen is not None else "stop"
                    yield event([piece(choice, reasoning=f"answer: {answer.answer}\n")])
                    yield event([piece(choice, content=answer.text)])
                    yield event([piece(choice, finish=finish)])
                    continue
                line = progress_line(ev)
                if line is not None:
                    yield event([piece(choice, reasoning=line + "\n")])
    except ApiError as exc:
        yield f"data: {dumps(exc.body())}\n\n"
        return
    except Exception as exc:  # noqa: BLE001 - the 200 is out: report it in the stream
        yield f"data: {dumps(scaffold_error(exc).body())}\n\n"
        return
    ordered = [answers[i] for i in sorted(answers)]
    extra = {"thinkfast": thinkfast_object(ordered, source, ignored, scaffold.spec.budget)}
    if include_usage:
        yield event([], usage=scaffold_usage(ordered), extra=extra)
    else:
        yield event([], extra=extra)
    yield "data: [DONE]\n\n"
