"""`debate`: multi-agent debate (Du et al. 2023).

`agents` drafts (spread over the draft role's engines), then for up to `rounds` rounds
every agent reads the other agents' current answers and writes a revised one through the
`debate` role; the revisions of one round are the requests of ONE call. The answer is
the majority of the last answers (a tie to the answer drawn first). A revision the pack
cannot read keeps that agent's previous answer. With `stop_when_agreed` (default) the
debate ends as soon as every agent gives the same answer.

Each round is recorded as a `debate_round` decision (the answers, how many changed, how
many agree), and the final vote's detail says whether, when and on what they converged.

Cost: `agents` drafts (one call) plus `agents` revisions per round (one call each); the
critical path is one call per round.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, ClassVar

from langgraph.graph import END, StateGraph
from pydantic import Field
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.nodes import draft, loop_graph, new_candidate, node
from thinkfast.orchestrator.prompt_pack import RolePrompt
from thinkfast.orchestrator.selection import select_vote
from thinkfast.orchestrator.state import Candidate, Decision, DraftTask, GraphState, last_value
from thinkfast.orchestrator.strategy import Strategy, register_strategy

__all__ = ["Debate", "DebateState", "DEBATE_PROMPT", "agreement"]

DEBATE_PROMPT = RolePrompt(
    system="You are one of several agents solving a problem together. Think step by step, "
    "briefly. End with one line: Answer: <final answer>",
    template="Question: {question}\n\nYour previous solution:\n{candidate}\n\nThe other "
    "agents' solutions:\n{responses}\n\nUsing their reasoning as extra advice, give your "
    "updated solution.",
    max_tokens=320,
)


def agreement(candidates: list[Candidate]) -> tuple[str | None, int]:
    """The most common readable answer and how many agents give it."""
    counts = Counter(c.answer for c in candidates if c.answer is not None).most_common(1)
    return counts[0] if counts else (None, 0)


class DebateState(GraphState, total=False):
    current: Annotated[list[int], last_value]  # each agent's current candidate id
    round: Annotated[int, last_value]
    converged: Annotated[int | None, last_value]  # the round all agents first agreed


@register_strategy
class Debate(Strategy):
    """k agents, r rounds of reading the others' answers and revising; then a vote."""

    name = "debate"
    summary = "k agents revise after reading each other's answers for r rounds; then vote"
    default_prompts: ClassVar[dict[str, RolePrompt]] = {"debate": DEBATE_PROMPT}

    agents: int = Field(3, ge=2, le=32, description="debating agents")
    rounds: int = Field(2, ge=0, le=10, description="revision rounds at most")
    temperature: float = Field(0.7, ge=0.0, le=10.0, description="temperature of the drafts")
    stop_when_agreed: bool = Field(True, description="end the debate once all agents agree")

    def roles(self) -> tuple[str, ...]:
        return ("draft", "debate") if self.rounds else ("draft",)

    def build_graph(self) -> StateGraph:
        k = self.agents

        @node("draft")
        async def drafts(state: DebateState, ctx: RunContext) -> dict[str, Any]:
            task = DraftTask(
                question=state["question"], role="draft", n=k, branch="agents", after=[]
            )
            update = await draft(task, ctx, sampling={"temperature": self.temperature})
            made = update.get("candidates", [])
            update.update(current=[c.id for c in made], round=0)
            if made:
                answer, count = agreement(made)
                update["decisions"] = [_round_decision(0, made, 0)]
                if count == len(made) and len(made) > 1:
                    update["converged"] = 0
            return update

        @node("debate")
        async def revise(state: DebateState, ctx: RunContext) -> dict[str, Any]:
            by_id = {c.id: c for c in state["candidates"]}
            current = [by_id[i] for i in state["current"]]
            round_ = state.get("round", 0) + 1
            agent = ctx.agent("debate")
            requests = []
            for i, mine in enumerate(current):
                others = [c for j, c in enumerate(current) if j != i]
                requests.append(
                    agent.ask(
                        question=state["question"],
                        candidate=mine.text,
                        answer=mine.answer or "none",
                        others=", ".join(c.answer or "none" for c in others),
                        responses="\n\n".join(
                            f"[{j}] {c.text.strip()}" for j, c in enumerate(others, 1)
                        ),
                    )
                )
            outcome = await ctx.attempt(
                agent,
                "debate",
                requests,
                branch=f"round-{round_}",
                after=sorted({c.call_id for c in current}),
            )
            if not outcome.ok:  # refused or failed: the debate ends with the answers so far
                return {**outcome.update, "round": self.rounds}
            revised, kept = [], []
            for index, (mine, generation) in enumerate(
                zip(current, outcome.generations, strict=True)
            ):
                candidate = new_candidate(
                    ctx,
                    agent,
                    generation.samples[0],
                    outcome.call.id,
                    index,
                    round=round_,
                    parent=mine.id,
                    branch=f"agent-{index + 1}",
                )
                if candidate.answer is None:  # unreadable: the agent keeps its answer
                    kept.append(index)
                    candidate = candidate.model_copy(update={"answer": mine.answer})
                revised.append(candidate)
            changed = sum(1 for a, b in zip(current, revised, strict=True) if a.answer != b.answer)
            decision = _round_decision(round_, revised, changed, kept)
            update = {
                **outcome.update,
                "candidates": revised,
                "current": [c.id for c in revised],
                "round": round_,
                "decisions": [decision],
            }
            _, count = agreement(revised)
            if count == len(revised) and state.get("converged") is None:
                update["converged"] = round_
            return update

        @node("vote")
        async def vote(state: DebateState, ctx: RunContext) -> dict[str, Any]:
            by_id = {c.id: c for c in state["candidates"]}
            final = [by_id[i] for i in state["current"]]
            best, decision = select_vote(final)
            decision.kind = "debate_vote"
            answer, count = agreement(final)
            when = state.get("converged")
            if when is not None and count == len(final):
                decision.detail += f"; converged on {answer} in round {when}"
            else:
                decision.detail += f"; no consensus after {state.get('round', 0)} round(s) ({count}/{len(final)} on {answer})"
            return {"selected": best.id, "decisions": [decision]}

        async def after_round(state: DebateState) -> str:
            if not state.get("current"):
                return END
            if state.get("round", 0) >= self.rounds or state.get("budget_stop"):
                return "vote"
            if self.stop_when_agreed and state.get("converged") is not None:
                return "vote"
            return "debate"

        return loop_graph(
            DebateState,
            after_round,
            first=("draft", drafts),
            repeat=("debate", revise),
            finish=("vote", vote),
        )


def _round_decision(round_: int, answers: list[Candidate], changed: int, kept=()) -> Decision:
    answer, count = agreement(answers)
    listed = ", ".join(str(c.answer) for c in answers)
    detail = f"answers {listed}; {count}/{len(answers)} agree on {answer}; {changed} changed"
    if kept:
        detail += f"; {len(kept)} unreadable, kept their answer"
    return Decision(
        kind="debate_round", round=round_, candidates=[c.id for c in answers], detail=detail
    )
