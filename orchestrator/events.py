"""Progress events a query emits while its graph runs (`astream` yields them).

Nodes emit through LangGraph's custom stream writer, so the same events reach a user of
`thinkfast.astream` and a user who embeds `strategy.graph` in their own app and streams
with `stream_mode="custom"`. Outside a streaming run emitting is a no-op.

"token" events carry the final answer's text while it is decoded (`data`: `call`, the
ledger id of the call, and `text`, a delta). A strategy asks for them only on a call whose
generation is certain to become the answer if it completes (single's draft, self_refine's
last round with accept="always"): a consumer may show them as the answer at once, since
nothing later can replace that text. Should the call fail or be cut off part-way, the
answer (or the error) that follows does not extend what was streamed; consumers that
cannot take text back must check (the server does: serve/scaffold_stream.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["Event", "EventKind", "emit"]

EventKind = Literal[
    "node_started",
    "node_finished",
    "call_started",
    "call_finished",
    "token",
    "candidate",
    "verdict",
    "choice",
    "decision",
    "failure",
    "budget_stop",
    "warning",
    "answer",
]


class Event(BaseModel):
    """One thing that happened, `t` seconds after the query started."""

    kind: EventKind
    t: float = 0.0
    node: str | None = None
    role: str | None = None
    branch: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    result: Any = Field(None, description="the Answer, on the final 'answer' event")


def emit(event: Event) -> None:
    """Send `event` to the stream of the running graph, if anyone is listening."""
    try:
        from langgraph.config import get_stream_writer

        writer = get_stream_writer()
    except Exception:  # not inside a graph run
        return
    writer(event)
