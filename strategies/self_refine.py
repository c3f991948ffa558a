"""`self_refine`: draft, then critique and refine until the critic approves.

The loop ends when the critic approves, after `max_rounds`, or when the budget refuses
the next call. Acceptance is safe by default: a revision replaces the current answer only
if the judge prefers it (Huang et al. 2023 found unchecked self-correction lowers math
accuracy), and every round records whether the final answer flipped. The first draft is
greedy, the same as `single`, so with a judge that never prefers a worse revision the
strategy cannot do worse than the baseline.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from pydantic import Field
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.nodes import (
    DRAFT_PROMPTS,
    critique_all,
    draft_once,
    judge_round,
    new_candidate,
    node,
)
from thinkfast.orchestrator.state import Candidate, Decision, GraphState, RoundRecord, last_value
from thinkfast.orchestrator.strategy import Strategy, register_strategy

__all__ = ["SelfRefine", "SelfRefineState"]


class SelfRefineState(GraphState, total=False):
    """self_refine's working keys beside the shared state."""

    current: Annotated[int | None, last_value]  # the answer so far
    round: Annotated[int, last_value]
    frontier: Annotated[list[int], last_value]  # calls the next step waits on
    pending_round: Annotated[RoundRecord | None, last_value]  # the round in progress


@register_strategy
class SelfRefine(Strategy):
    """Draft -> critique -> refine rounds, a revision kept only if the judge prefers it."""

    name = "self_refine"
    summary = "draft, then critique -> refine rounds; the judge guards each revision"

    max_rounds: int = Field(3, ge=0, le=20, description="critique/refine rounds at most")
    mode: Literal["think", "direct"] = Field("think", description="prompt of the first draft")
    temperature: float = Field(0.0, ge=0.0, le=10.0, description="first draft temperature")
    accept: Literal["judge", "always"] = Field(
        "judge",
        description="judge: keep a revision only if the judge prefers it; always: keep every revision",
    )
    both_orders: bool = Field(True, description="judge current vs revision in both orders")

    def roles(self) -> tuple[str, ...]:
        if self.max_rounds == 0:
            return (DRAFT_PROMPTS[self.mode],)
        judge = ("judge",) if self.accept == "judge" else ()
        return (DRAFT_PROMPTS[self.mode], "critique", "refine", *judge)

    def build_graph(self) -> StateGraph:
        max_rounds, accept, both = self.max_rounds, self.accept, self.both_orders

        @node("draft")
        async def first_draft(state: SelfRefineState, ctx: RunContext) -> dict[str, Any]:
            update = await draft_once(state, ctx, mode=self.mode, temperature=self.temperature)
            if update.get("candidates"):
                first = update["candidates"][0]
                update.update(
                    current=first.id, selected=first.id, round=0, frontier=[first.call_id]
                )
            return update

        def current_of(state: SelfRefineState) -> Candidate:
            return next(c for c in state["candidates"] if c.id == state["current"])

        def finish(record: RoundRecord, why: str, ctx: RunContext) -> dict[str, Any]:
            record.stopped = why
            return {"rounds": [record], "pending_round": None}

        @node("critique")
        async def critique(state: SelfRefineState, ctx: RunContext) -> dict[str, Any]:
            current = current_of(state)
            round_ = state.get("round", 0) + 1
            record = RoundRecord(
                round=round_,
                current=current.id,
                answer_before=current.answer,
                answer_after=current.answer,
            )
            update, critiqued = await critique_all(
                state["question"],
                [current],
                ctx,
                "critique",
                round_,
                after=state.get("frontier", []),
            )
            update["round"] = round_
            if critiqued is None:
                why = "budget" if "budget_stop" in update else "critic failed"
                return {**update, **finish(record, why, ctx)}
            last = critiqued[0].critiques[-1]
            record.approved, record.critique = last.approved, last.text
            if last.approved:
                return {**update, **finish(record, "critic approved", ctx)}
            return {**update, "pending_round": record, "frontier": [last.call_id]}

        @node("refine")
        async def refine(state: SelfRefineState, ctx: RunContext) -> dict[str, Any]:
            current = current_of(state)
            record = state["pending_round"].model_copy()
            refiner = ctx.agent("refine")
            request = refiner.ask(
                question=state["question"],
                candidate=current.text,
                answer=current.answer or "",
                critique=record.critique or "",
            )
            branch = f"round-{record.round}"
            outcome = await ctx.attempt(
                refiner, "refine", [request], branch=branch, after=state.get("frontier", [])
            )
            if not outcome.ok:
                why = "budget" if outcome.stopped else "refiner failed"
                return {**outcome.update, **finish(record, why, ctx)}
            sample = outcome.generations[0].samples[0]
            revision = new_candidate(
                ctx,
                refiner,
                sample,
                outcome.call.id,
                branch=branch,
                round=record.round,
                parent=current.id,
            )
            record.revision = revision.id
            ctx.event(
                "candidate",
                node="refine",
                role=refiner.role,
                data={"id": revision.id, "answer": revision.answer},
            )
            return {
                **outcome.update,
                "candidates": [revision],
                "pending_round": record,
                "frontier": [outcome.call.id],
            }

        @node("accept")
        async def accept_revision(state: SelfRefineState, ctx: RunContext) -> dict[str, Any]:
            current = current_of(state)
            record = state["pending_round"].model_copy()
            revision = next(c for c in state["candidates"] if c.id == record.revision)
            update: dict[str, Any] = {}
            frontier = state.get("frontier", [])
            if accept == "always":
                accepted = True
            else:
                update, winners = await judge_round(
                    state["question"],
                    [current, revision],
                    ctx,
                    "accept",
                    record.round,
                    both,
                    after=frontier,
                    tie_keeps_first=True,
                )
                if winners is None:  # no verdict: the current answer stands
                    why = "budget" if "budget_stop" in update else "judge failed"
                    return {**update, **finish(record, why, ctx)}
                accepted = winners[0].id == revision.id
                record.judge_prefers_revision = accepted
                frontier = [update["calls"][0].id]
            record.accepted = accepted
            if accepted:
                record.answer_after = revision.answer
                record.flipped = revision.answer != current.answer
            ctx.event(
                "decision",
                node="accept",
                data={"round": record.round, "accepted": accepted, "flipped": record.flipped},
            )
            new_current = revision.id if accepted else current.id
            how = "always" if accept == "always" else update["decisions"][-1].detail
            acceptance = Decision(
                kind="accept",
                round=record.round,
                candidates=[current.id, revision.id],
                winner=new_current,
                detail=f"{'kept the revision' if accepted else 'kept the current answer'} ({how})",
            )
            update.update(
                current=new_current,
                selected=new_current,
                frontier=frontier,
                pending_round=None,
                decisions=[*update.get("decisions", []), acceptance],
            )
            if record.round >= max_rounds:
                record.stopped = "max_rounds"
            update["rounds"] = [record]
            return update

        async def after_draft(state: SelfRefineState) -> str:
            if state.get("current") is None or max_rounds == 0:
                return END
            return "critique"

        async def after_critique(state: SelfRefineState) -> str:
            return "refine" if state.get("pending_round") is not None else END

        async def after_refine(state: SelfRefineState) -> str:
            return "accept" if state.get("pending_round") is not None else END

        async def after_accept(state: SelfRefineState) -> str:
            last = state["rounds"][-1]
            return END if last.stopped else "critique"

        graph = StateGraph(SelfRefineState, context_schema=RunContext)
        graph.add_node("draft", first_draft)
        graph.add_node("critique", critique)
        graph.add_node("refine", refine)
        graph.add_node("accept", accept_revision)
        graph.add_edge(START, "draft")
        graph.add_conditional_edges("draft", after_draft, ["critique", END])
        graph.add_conditional_edges("critique", after_critique, ["refine", END])
        graph.add_conditional_edges("refine", after_refine, ["accept", END])
        graph.add_conditional_edges("accept", after_accept, ["critique", END])
        return graph
