"""`moa`: Mixture-of-Agents (Wang et al. 2024).

Layer 1: `proposers` drafts, spread over the draft role's engines
(`engines={"draft": [e1, e2, e3]}`) and over `temperatures`; each engine's share is ONE
call (one request per temperature). Layers 2..`layers`: as many proposers again, each
shown the previous layer's answers through the `aggregate` role (sampled, so they
differ), again one call per engine. Finally the aggregator (the `aggregate` role,
greedy, one request) writes the answer from the last layer's; with `aggregator="vote"`
the last layer is decided by majority instead (a pack without an `aggregate` role can
still run one layer that way). An aggregate the pack cannot read falls back to the vote.

Cost: `layers * proposers` samples plus one aggregate; the critical path is one call per
layer plus the aggregator: Wang et al. note time to first token as MoA's price.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from langgraph.graph import END, StateGraph
from pydantic import Field
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.nodes import loop_graph, new_candidate, node
from thinkfast.orchestrator.prompt_pack import RolePrompt
from thinkfast.orchestrator.selection import select_vote, tally_votes
from thinkfast.orchestrator.state import Candidate, Decision, GraphState, last_value
from thinkfast.orchestrator.strategy import Strategy, register_strategy

__all__ = ["MixtureOfAgents", "MoAState", "AGGREGATE_PROMPT", "shown"]

AGGREGATE_PROMPT = RolePrompt(
    system="You combine several candidate solutions into one better solution. Think step by "
    "step, briefly. End with one line: Answer: <final answer>",
    template="Question: {question}\n\nCandidate solutions:\n{responses}\n\nSome may be "
    "wrong. Write the best solution.",
    max_tokens=320,
)


def shown(candidates: Sequence[Candidate]) -> dict[str, str]:
    """The fields a role that reads several candidates is given: `answers` (their final
    answers, comma-separated: what a small model's format takes) and `responses` (the full
    texts, numbered: what a chat model reads)."""
    return {
        "answers": ", ".join(c.answer or "none" for c in candidates),
        "responses": "\n\n".join(
            f"Response {i}:\n{c.text.strip()}" for i, c in enumerate(candidates, 1)
        ),
    }


class MoAState(GraphState, total=False):
    layer: Annotated[int, last_value]
    last_layer: Annotated[list[int], last_value]  # candidate ids of the latest layer


@register_strategy
class MixtureOfAgents(Strategy):
    """Layers of proposers over engines / temperatures; an aggregator writes the answer."""

    name = "moa"
    summary = "layers of proposers (engines, temperatures); an aggregator writes the answer"
    default_prompts: ClassVar[dict[str, RolePrompt]] = {"aggregate": AGGREGATE_PROMPT}

    layers: int = Field(2, ge=1, le=6, description="proposer layers (1 = drafts only)")
    proposers: int = Field(3, ge=1, le=64, description="proposals per layer")
    temperatures: tuple[Annotated[float, Field(ge=0.0, le=10.0)], ...] = Field(
        (0.7,), min_length=1, max_length=16, description="proposers cycle through these"
    )
    aggregator: Literal["model", "vote"] = Field(
        "model", description="model: the aggregate role writes the answer; vote: majority"
    )

    def roles(self) -> tuple[str, ...]:
        uses = self.layers > 1 or self.aggregator == "model"
        return ("draft", "aggregate") if uses else ("draft",)

    async def _layer(
        self, ctx: RunContext, question: str, layer: int, previous: list[Candidate]
    ) -> dict[str, Any]:
        role = "draft" if layer == 1 else "aggregate"
        agents = ctx.agents(role)
        fields = {"question": question, **(shown(previous) if previous else {})}
        # proposer i: engine i mod m, then the next temperature each time round the engines
        plan: dict[int, dict[float, int]] = {}
        for i in range(self.proposers):
            temps = plan.setdefault(i % len(agents), {})
            t = self.temperatures[(i // len(agents)) % len(self.temperatures)]
            temps[t] = temps.get(t, 0) + 1
        after = sorted({c.call_id for c in previous})

        async def one(index: int, temps: dict[float, int]):
            agent = agents[index]
            requests = [
                agent.ask(n=k, seed=ctx.seed_for("moa", layer, index, t), **fields).model_copy(
                    update={"temperature": t}
                )
                for t, k in temps.items()
            ]
            return agent, await ctx.attempt(
                agent, f"layer-{layer}", requests, branch=agent.label, after=after
            )

        results = await asyncio.gather(*(one(i, temps) for i, temps in plan.items()))
        update: dict[str, Any] = {}
        made: list[Candidate] = []
        for agent, outcome in results:
            for key, value in outcome.update.items():
                update[key] = update.get(key, []) + value if isinstance(value, list) else value
            if not outcome.ok:
                continue
            index = 0
            for generation in outcome.generations:
                for sample in generation.samples:
                    made.append(
                        new_candidate(
                            ctx,
                            agent,
                            sample,
                            outcome.call.id,
                            index,
                            round=layer,
                            branch=f"layer-{layer}",
                        )
                    )
                    index += 1
        made = tally_votes(made)
        if made:
            update["candidates"] = made
            update["last_layer"] = [c.id for c in made]
        update["layer"] = layer
        return update

    def build_graph(self) -> StateGraph:
        @node("propose")
        async def propose(state: MoAState, ctx: RunContext) -> dict[str, Any]:
            layer = state.get("layer", 0) + 1
            by_id = {c.id: c for c in state.get("candidates", [])}
            previous = [by_id[i] for i in state.get("last_layer", [])]
            return await self._layer(ctx, state["question"], layer, previous)

        @node("aggregate")
        async def aggregate(state: MoAState, ctx: RunContext) -> dict[str, Any]:
            by_id = {c.id: c for c in state.get("candidates", [])}
            last = [by_id[i] for i in state.get("last_layer", [])]
            if not last:
                return {}
            best, vote = select_vote(last)
            if self.aggregator == "vote":
                return {"selected": best.id, "decisions": [vote]}
            agent = ctx.agent("aggregate")
            request = agent.ask(question=state["question"], **shown(last))
            outcome = await ctx.attempt(
                agent, "aggregate", [request], after=sorted({c.call_id for c in last})
            )
            if not outcome.ok:
                vote.detail += " (aggregator unavailable, fell back to vote)"
                return {**outcome.update, "selected": best.id, "decisions": [vote]}
            final = new_candidate(
                ctx,
                agent,
                outcome.generations[0].samples[0],
                outcome.call.id,
                round=state.get("layer", 1) + 1,
                branch="aggregate",
            )
            if final.answer is None:
                vote.detail += " (aggregate unreadable, fell back to vote)"
                return {
                    **outcome.update,
                    "candidates": [final],
                    "selected": best.id,
                    "decisions": [vote],
                }
            decision = Decision(
                kind="aggregate",
                round=final.round,
                candidates=[c.id for c in last],
                winner=final.id,
                detail=f"aggregated {len(last)} proposals ({vote.detail}) into {final.answer}",
                call_id=outcome.call.id,
            )
            return {
                **outcome.update,
                "candidates": [final],
                "selected": final.id,
                "decisions": [decision],
            }

        async def next_layer(state: MoAState) -> str:
            if not state.get("last_layer"):
                return END
            if state.get("layer", 0) < self.layers and not state.get("budget_stop"):
                return "propose"
            return "aggregate"

        return loop_graph(
            MoAState, next_layer, repeat=("propose", propose), finish=("aggregate", aggregate)
        )
