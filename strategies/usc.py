"""`usc`: Universal Self-Consistency (Chen et al. 2023).

`n` sampled drafts (ONE request), then the model itself is shown all of them (the `usc`
role, ONE request, greedy) and names the most consistent one: self-consistency for
answers that cannot be compared as strings, where a vote needs an extractable answer.
The pick is read with `pattern` (default: the last "Response N"); a pick the pack cannot
read, or out of range, falls back to the vote (recorded).

Cost: n drafts plus one selection call whose prompt holds every draft (prompt tokens grow
with n); two calls on the critical path.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from langgraph.graph import END, START, StateGraph
from pydantic import Field, field_validator
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.nodes import draft, node
from thinkfast.orchestrator.prompt_pack import RolePrompt
from thinkfast.orchestrator.selection import select_vote
from thinkfast.orchestrator.state import Decision, DraftTask, GraphState
from thinkfast.orchestrator.strategy import Strategy, register_strategy

from .moa import shown

__all__ = ["UniversalSelfConsistency", "USC_PROMPT"]

USC_PROMPT = RolePrompt(
    system="You read several responses to the same question and pick the most consistent one.",
    template="Question: {question}\n\n{responses}\n\nEvaluate these responses and select the "
    "most consistent one, based on majority consensus. End with one line: "
    "The most consistent response is Response <number>",
    max_tokens=160,
)


@register_strategy
class UniversalSelfConsistency(Strategy):
    """n drafts; the model picks the most consistent one."""

    name = "usc"
    summary = "n drafts; the model itself picks the most consistent (free-form answers)"
    default_prompts: ClassVar[dict[str, RolePrompt]] = {"usc": USC_PROMPT}

    n: int = Field(8, ge=2, le=64, description="drafts to choose among")
    temperature: float = Field(0.7, ge=0.0, le=10.0, description="drafter temperature")
    pattern: str = Field(
        r"(?i)response\s*\[?#?(?P<index>\d+)",
        description="regular expression whose LAST match's group `index` is the pick (1-based)",
    )

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        try:
            compiled = re.compile(v)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        if "index" not in compiled.groupindex:
            raise ValueError("the pattern needs a named group (?P<index>...)")
        return v

    def roles(self) -> tuple[str, ...]:
        return ("draft", "usc")

    def build_graph(self) -> StateGraph:
        @node("draft")
        async def drafts(state: GraphState, ctx: RunContext) -> dict[str, Any]:
            task = DraftTask(
                question=state["question"], role="draft", n=self.n, branch="usc", after=[]
            )
            return await draft(task, ctx, sampling={"temperature": self.temperature})

        @node("select")
        async def select(state: GraphState, ctx: RunContext) -> dict[str, Any]:
            candidates = state["candidates"]
            best, vote = select_vote(candidates)
            agent = ctx.agent("usc")
            request = agent.ask(question=state["question"], **shown(candidates))
            outcome = await ctx.attempt(
                agent, "select", [request], after=sorted({c.call_id for c in candidates})
            )
            if not outcome.ok:
                vote.detail += " (selector unavailable, fell back to vote)"
                return {**outcome.update, "selected": best.id, "decisions": [vote]}
            text = outcome.generations[0].samples[0].text
            matches = list(re.finditer(self.pattern, text))
            pick = int(matches[-1]["index"]) if matches else None
            if pick is None or not 1 <= pick <= len(candidates):
                vote.detail += f" (pick unreadable in {text[-60:]!r}, fell back to vote)"
                return {**outcome.update, "selected": best.id, "decisions": [vote]}
            chosen = candidates[pick - 1]
            decision = Decision(
                kind="usc",
                candidates=[c.id for c in candidates],
                winner=chosen.id,
                detail=f"picked response {pick} of {len(candidates)} ({chosen.answer}); "
                f"the vote would pick {best.answer}",
                call_id=outcome.call.id,
            )
            return {**outcome.update, "selected": chosen.id, "decisions": [decision]}

        async def after_drafts(state: GraphState) -> str:
            return "select" if state.get("candidates") else END

        graph = StateGraph(GraphState, context_schema=RunContext)
        graph.add_node("draft", drafts)
        graph.add_node("select", select)
        graph.add_edge(START, "draft")
        graph.add_conditional_edges("draft", after_drafts, ["select", END])
        graph.add_edge("select", END)
        return graph
