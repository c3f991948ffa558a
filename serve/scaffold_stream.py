"""Streaming a scaffold: progress as `reasoning_content` deltas while it runs, the
final answer as `content` deltas, live where the strategy's last step writes it.

Each finished draft, verdict, judge match, vote and budget stop is sent the moment its
event arrives (one line per event, so the first arrives within one draft's latency,
not after the whole pipeline). Where the strategy streams its final generation (single's
draft, self_refine's last round with accept="always": "token" events, see
orchestrator/events.py), its tokens go out as `content` (chat) or `text` (completions)
deltas as they are decoded. When a choice's scaffold ends, the part of its final answer
not yet sent follows (all of it for a strategy that chooses at the end, such as
best_of_n), then its finish chunk. Streamed text that the answer does not begin with (the
streaming call failed or was cut off part-way and another candidate stands) cannot be
taken back: the stream then ends with an error event, never a contradicting tail. Then, with
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

__all__ = ["scaffold_events", "unsent_tail"]


def unsent_tail(answer: Any, sent: str) -> str:
    """What of `answer.text` the client has not been sent, given `sent` (the text streamed
    live). Raises ApiError when the answer does not begin with `sent`: the streaming call
    failed or was cut off part-way and another candidate stands (or the run failed), and a
    client cannot take back text it was sent."""
    if answer.text.startswith(sent):
        return answer.text[len(sent) :]
    why = "; ".join(f.error for f in answer.failures) or answer.budget_stop_reason or "unknown"
    raise ApiError(
        500,
        f"the answer streamed so far ({len(sent)} characters) was cut off ({why}), and the "
        f"scaffold's answer is another candidate (#{answer.selected}, answer "
        f"{answer.answer!r}); the text already sent cannot be taken back, so this stream "
        "ends here: ask again, or without stream=true, for the whole answer",
        type="server_error",
        code="streamed_answer_cut_off",
    )


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
    streamed: dict[int, list[str]] = {}  # choice -> the answer's text sent so far
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
                if ev.kind == "token":
                    streamed.setdefault(choice, []).append(ev.data["text"])
                    yield event([piece(choice, content=ev.data["text"])])
                    continue
                if ev.kind == "answer":
                    answer = ev.result
                    answers[choice] = answer
                    chosen = answer.chosen
                    finish = chosen.finish_reason if chosen is not None else "stop"
                    tail = unsent_tail(answer, "".join(streamed.get(choice, [])))
                    yield event([piece(choice, reasoning=f"answer: {answer.answer}\n")])
                    if tail or choice not in streamed:
                        yield event([piece(choice, content=tail)])
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
