"""`single`: one draft, the baseline every other strategy is compared against."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from pydantic import Field
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.nodes import DRAFT_PROMPTS, draft_once, node
from thinkfast.orchestrator.state import GraphState
from thinkfast.orchestrator.strategy import Strategy, register_strategy

__all__ = ["Single"]


@register_strategy
class Single(Strategy):
    """One draft; greedy by default, so it is the model's single best guess."""

    name = "single"
    summary = "one draft (the baseline)"

    mode: Literal["think", "direct"] = Field(
        "think", description="think: worked answer (draft role); direct: answer only"
    )
    temperature: float = Field(0.0, ge=0.0, le=10.0, description="drafter temperature (0 = greedy)")

    def roles(self) -> tuple[str, ...]:
        return (DRAFT_PROMPTS[self.mode],)

    def build_graph(self) -> StateGraph:
        @node("draft")
        async def draft_one(state: GraphState, ctx: RunContext) -> dict[str, Any]:
            # the draft IS the answer: its tokens stream live in a streaming run
            update = await draft_once(
                state, ctx, mode=self.mode, temperature=self.temperature, live=True
            )
            if update.get("candidates"):
                update["selected"] = update["candidates"][0].id
            return update

        graph = StateGraph(GraphState, context_schema=RunContext)
        graph.add_node("draft", draft_one)
        graph.add_edge(START, "draft")
        graph.add_edge("draft", END)
        return graph
