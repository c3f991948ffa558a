"""Progress events a query emits while its graph runs (`astream` yields them).

Nodes emit through LangGraph's custom stream writer, so the same events reach a user of
`thinkfast.astream` and a user who embeds `strategy.graph` in their own app and streams
with `stream_mode="custom"`. Outside a streaming run emitting is a no-op.
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
