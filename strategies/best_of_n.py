"""`best_of_n`: draw n drafts, then pick one with a selector.

Selectors: `vote` (majority over extracted answers, a tie to the answer drawn first:
self-consistency),
`judge` (pairwise knockout tournament over the distinct answers, each round one batched
call), `score` (the critic scores each candidate in one batched call), `logprob` (highest
mean token logprob), `reward` (a user callable). Drafts of one prompt are ONE request
with n samples; drafts of different prompts (`prompts=["draft", "draft_direct"]`) are
parallel `Send` branches, which a batching engine coalesces. With `adaptive`, drafts
come in batches of `batch` and drawing stops once the vote is decided.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from pydantic import Field, model_validator
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.nodes import critique_all, draft, judge_round, node, score_rewards
from thinkfast.orchestrator.options import ImportableCallable
from thinkfast.orchestrator.selection import (
    representatives,
    select_by_score,
    select_logprob,
    select_vote,
    tally_votes,
    vote_decided,
)
from thinkfast.orchestrator.state import DraftTask, GraphState, last_value
from thinkfast.orchestrator.strategy import Strategy, register_strategy
from thinkfast.orchestrator.verifiers import VerifierSpec, as_verifier, score_candidates

__all__ = ["BestOfN", "BestOfNState"]

Selector = Literal["vote", "judge", "score", "logprob", "reward"]


class BestOfNState(GraphState, total=False):
    """best_of_n's working keys beside the shared state."""

    batches: Annotated[int, last_value]  # adaptive: draft batches drawn so far
    survivors: Annotated[list[int], last_value]  # judge tournament: ids still in the running
    round: Annotated[int, last_value]  # judge tournament: the last round played


@register_strategy
class BestOfN(Strategy):
    """n drafts in one batched request, then a selector picks the answer."""

    name = "best_of_n"
    summary = "n drafts, then vote / judge tournament / critic score / logprob / reward"

    n: int = Field(8, ge=1, le=256, description="drafts to draw")
    selector: Selector = Field("vote", description="how to pick among the drafts")
    temperature: float = Field(0.7, ge=0.0, le=10.0, description="drafter temperature")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="drafter nucleus mass")
    top_k: int = Field(0, ge=0, description="drafter top-k (0 = all tokens)")
    prompts: tuple[Literal["draft", "draft_direct"], ...] = Field(
        ("draft",), min_length=1, description="draft prompts; samples are split across them"
    )
    adaptive: bool = Field(False, description="draw in batches, stop when the vote is decided")
    batch: int = Field(4, ge=1, le=256, description="samples per batch when adaptive")
    both_orders: bool = Field(True, description="judge each pair in both orders")
    reward: ImportableCallable | None = Field(
        None,
        description="selector=reward: reward(question, text, answer) -> float; from the "
        "command line as module:function (-S reward=mypackage.rewards:score)",
    )
    verifier: VerifierSpec = Field(
        None,
        description="rank the drafts by a verifier's score, ties by the vote: critic, "
        "equations, python, or a callable(question, text, answer) -> float",
    )

    @model_validator(mode="after")
    def _reward_given(self) -> BestOfN:
        if self.selector == "reward" and self.reward is None:
            raise ValueError(
                "selector 'reward' needs reward=callable(question, text, answer); from the "
                "command line: -S reward=module:function"
            )
        if self.reward is not None and self.selector != "reward":
            raise ValueError("reward is only used with selector='reward'")
        if self.verifier is not None and self.selector != "vote":
            raise ValueError(
                "verifier= ranks the drafts by its score with the vote breaking ties; "
                f"it cannot be combined with selector={self.selector!r} (leave selector='vote')"
            )
        return self

    def roles(self) -> tuple[str, ...]:
        extra = {"judge": ("judge",), "score": ("critique",)}.get(self.selector, ())
        checks = as_verifier(self.verifier).roles() if self.verifier is not None else ()
        return (*self.prompts, *extra, *checks)

    # -- graph --------------------------------------------------------------------------
    async def _sends(self, state: BestOfNState) -> list[Send]:
        """Send the next batch of drafts, one branch per prompt."""
        drawn = sum(1 for c in state.get("candidates", []) if c.source in self.prompts)
        tried = state.get("batches", 0)
        want = min(self.batch, self.n - drawn) if self.adaptive else self.n
        prompts = list(self.prompts)
        share = [
            want // len(prompts) + (1 if i < want % len(prompts) else 0)
            for i in range(len(prompts))
        ]
        after = [c.id for c in state.get("calls", []) if c.node == "draft"]  # batches in sequence
        return [
            Send(
                "draft",
                DraftTask(
                    question=state["question"],
                    role=prompt,
                    n=k,
                    branch=prompt if not self.adaptive else f"{prompt}/batch-{tried + 1}",
                    after=after,
                ),
            )
            for prompt, k in zip(prompts, share, strict=True)
            if k > 0
        ]

    async def _after_drafts(self, state: BestOfNState) -> Any:
        candidates = state.get("candidates", [])
        if not candidates:
            return END  # nothing to select from: the answer builder reports why
        if self.adaptive and not state.get("budget_stop"):
            remaining = self.n - len(candidates)
            if remaining > 0 and not vote_decided(candidates, remaining):
                if state.get("failures"):
                    return "select"  # an engine that failed once is not asked for more
                return await self._sends(state)
        return "select"

    def build_graph(self) -> StateGraph:
        sampling = {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k}
        if self.selector == "logprob":
            # asked for explicitly: a remote engine fills logprobs only when asked, and one
            # that cannot must fail, not score every draft 0.0
            sampling["logprobs"] = True

        @node("draft")
        async def draft_branch(task: DraftTask, ctx: RunContext) -> dict[str, Any]:
            return await draft(task, ctx, sampling=sampling)

        @node("tally")
        async def tally(state: BestOfNState, ctx: RunContext) -> dict[str, Any]:
            # runs once after each superstep of draft branches
            return {
                "batches": state.get("batches", 0) + 1,
                "candidates": tally_votes(state.get("candidates", [])),
            }

        graph = StateGraph(BestOfNState, context_schema=RunContext)
        graph.add_node("draft", draft_branch)
        graph.add_node("tally", tally)
        graph.add_conditional_edges(START, self._sends, ["draft"])
        graph.add_edge("draft", "tally")
        graph.add_conditional_edges("tally", self._after_drafts, ["draft", "select", END])

        if self.selector == "judge":
            graph.add_node("select", self._judge_seed_node())
            graph.add_node("judge", self._judge_round_node())
            graph.add_conditional_edges("select", self._tournament_next, ["judge", END])
            graph.add_conditional_edges("judge", self._tournament_next, ["judge", END])
        else:
            graph.add_node("select", self._select_node())
            graph.add_edge("select", END)
        return graph

    # -- selectors ------------------------------------------------------------------------
    def _select_node(self):
        selector = self.selector
        reward = self.reward
        verifier = as_verifier(self.verifier)

        @node("select")
        async def select(state: BestOfNState, ctx: RunContext) -> dict[str, Any]:
            candidates = state["candidates"]
            update: dict[str, Any] = {}
            if verifier is not None:  # outside feedback first, the vote breaks ties
                update, scored, _ = await score_candidates(
                    verifier, ctx, state["question"], candidates, node="select"
                )
                best, decision = select_by_score(scored, "verifier")
                update["candidates"] = scored
            elif selector == "vote":
                best, decision = select_vote(candidates)
            elif selector == "logprob":
                best, decision = select_logprob(candidates)
            elif selector == "reward":
                scored = await score_rewards(state["question"], candidates, reward)
                best, decision = select_by_score(scored, "reward")
                update["candidates"] = scored
            else:  # score: the critic reads each distinct draft, all in one call
                distinct = list({c.text: c for c in candidates}.values())
                update, critiqued = await critique_all(state["question"], distinct, ctx, "select")
                if critiqued is None:  # refused or failed: the vote still answers
                    best, decision = select_vote(candidates)
                    decision.detail += " (critic unavailable, fell back to vote)"
                else:
                    by_text = {c.text: c for c in critiqued}
                    scored = [
                        c.model_copy(
                            update={
                                "critiques": by_text[c.text].critiques,
                                "scores": by_text[c.text].scores,
                            }
                        )
                        for c in candidates
                    ]
                    update["candidates"] = scored
                    best, decision = select_by_score(scored, "score")
            ctx.event(
                "decision",
                node="select",
                data={"kind": decision.kind, "winner": best.id, "detail": decision.detail},
            )
            return {**update, "selected": best.id, "decisions": [decision]}

        return select

    def _judge_seed_node(self):
        @node("select")
        async def seed_tournament(state: BestOfNState, ctx: RunContext) -> dict[str, Any]:
            field = representatives(state["candidates"])
            update: dict[str, Any] = {"survivors": [c.id for c in field], "round": 0}
            if len(field) == 1:
                update["selected"] = field[0].id
            return update

        return seed_tournament

    def _judge_round_node(self):
        both = self.both_orders

        @node("judge")
        async def judge(state: BestOfNState, ctx: RunContext) -> dict[str, Any]:
            by_id = {c.id: c for c in state["candidates"]}
            survivors = [by_id[i] for i in state["survivors"]]
            round_ = state.get("round", 0) + 1
            previous = [c.id for c in state.get("calls", []) if c.role == "judge"]
            update, winners = await judge_round(
                state["question"], survivors, ctx, "judge", round_, both, after=previous
            )
            if winners is None:  # refused or failed: the best remaining by vote/logprob wins
                best, decision = select_vote(survivors)
                decision.detail += " (tournament cut short)"
                decision.round = round_
                return {
                    **update,
                    "survivors": [best.id],
                    "selected": best.id,
                    "decisions": [decision],
                    "round": round_,
                }
            update.update({"survivors": [c.id for c in winners], "round": round_})
            if len(winners) == 1:
                update["selected"] = winners[0].id
            return update

        return judge

    @staticmethod
    async def _tournament_next(state: BestOfNState) -> str:
        return "judge" if len(state.get("survivors", [])) > 1 else END
