"""`self_refine`: draft, then critique and refine until the critic approves.

The loop ends when the critic approves, after `max_rounds`, or when the budget refuses
the next call. Acceptance is safe by default: a revision replaces the current answer only
if the judge prefers it (Huang et al. 2023 found unchecked self-correction lowers math
accuracy), and every round records whether the final answer flipped. The first draft is
greedy, the same as `single`, so with a judge that never prefers a worse revision the
strategy cannot do worse than the baseline.

Streaming (`astream`): only a generation nothing can replace streams live as "token"
events: the last round's revision with accept="always", or the draft when max_rounds=0.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from pydantic import Field, model_validator
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
from thinkfast.orchestrator.verifiers import VerifierSpec, as_verifier, score_candidates

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
    accept: Literal["judge", "always", "verifier"] = Field(
        "judge",
        description="judge: keep a revision only if the judge prefers it; always: keep every "
        "revision; verifier: keep it if the verifier scores it higher",
    )
    both_orders: bool = Field(True, description="judge current vs revision in both orders")
    verifier: VerifierSpec = Field(
        None,
        description="outside feedback in place of the critic: equations, python, critic, or a "
        "callable(question, text, answer) -> float; its findings go to the refiner",
    )

    @model_validator(mode="after")
    def _verifier_given(self) -> SelfRefine:
        if self.accept == "verifier" and self.verifier is None:
            raise ValueError("accept='verifier' needs verifier= (e.g. verifier='equations')")
        return self

    def roles(self) -> tuple[str, ...]:
        if self.max_rounds == 0:
            return (DRAFT_PROMPTS[self.mode],)
        judge = ("judge",) if self.accept == "judge" else ()
        check = as_verifier(self.verifier).roles() if self.verifier is not None else ("critique",)
        return (DRAFT_PROMPTS[self.mode], *check, "refine", *judge)

    def build_graph(self) -> StateGraph:
        max_rounds, accept, both = self.max_rounds, self.accept, self.both_orders
        verifier = as_verifier(self.verifier)

        @node("draft")
        async def first_draft(state: SelfRefineState, ctx: RunContext) -> dict[str, Any]:
            # with no rounds the draft is the answer, so it may stream live; otherwise a
            # round may replace it, and streamed text cannot be taken back
            update = await draft_once(
                state, ctx, mode=self.mode, temperature=self.temperature, live=max_rounds == 0
            )
            if update.get("candidates"):
                first = update["candidates"][0]
                update.update(
                    current=first.id, selected=first.id, round=0, frontier=[first.call_id]
                )
            return update

        def current_of(state: SelfRefineState) -> Candidate:
            return next(c for c in state["candidates"] if c.id == state["current"])

        def rounds_used(record: RoundRecord) -> Decision:
            return Decision(
                kind="rounds",
                round=record.round,
                detail=f"{record.round} of {max_rounds} round(s) used; stopped: {record.stopped}",
            )

        def finish(record: RoundRecord, why: str, ctx: RunContext) -> dict[str, Any]:
            record.stopped = why
            return {"rounds": [record], "pending_round": None, "decisions": [rounds_used(record)]}

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
            if verifier is not None:  # outside feedback: its findings are the critique
                update, checked, verdicts = await score_candidates(
                    verifier,
                    ctx,
                    state["question"],
                    [current],
                    node="critique",
                    after=state.get("frontier", []),
                )
                verdict = verdicts[0]
                update = {**update, "candidates": checked, "round": round_}
                record.approved = verdict.ok
                record.critique = verdict.error or verdict.findings
                if verdict.error:
                    return {**update, **finish(record, "verifier failed", ctx)}
                if verdict.ok is not False:
                    why = "verifier approved" if verdict.ok else "verifier could not tell"
                    return {**update, **finish(record, why, ctx)}
                calls = update.get("calls", [])
                frontier = [calls[-1].id] if calls else state.get("frontier", [])
                return {**update, "pending_round": record, "frontier": frontier}
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
            # Only the last round's revision under accept="always" is certain to be the
            # answer once written (no judge or verifier follows, no round after it), so
            # only it streams live; the judge may reject any other revision.
            live = accept == "always" and record.round >= max_rounds
            outcome = await ctx.attempt(
                refiner,
                "refine",
                [request],
                branch=branch,
                after=state.get("frontier", []),
                live=live,
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
            elif accept == "verifier":
                update, checked, verdicts = await score_candidates(
                    verifier, ctx, state["question"], [revision], node="accept", after=frontier
                )
                before = current.scores[-1] if current.scores else 0.0
                accepted = verdicts[0].error is None and verdicts[0].score > before
                update = {**update, "candidates": checked, "decisions": []}
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
            how = {"always": "always", "verifier": "verifier score"}.get(accept) or (
                update["decisions"][-1].detail
            )
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
            elif new_current == current.id or revision.text == current.text:
                # every call of a round is greedy: a round that left the answer as it was
                # would be asked the same again and answer the same
                record.stopped = "a new round would repeat this one (the answer did not change)"
            update["rounds"] = [record]
            if record.stopped:
                update["decisions"] = [*update["decisions"], rounds_used(record)]
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
