"""`auto`: compute-optimal spending per question (Snell et al. 2024).

First `k` drafts (ONE request) give a cheap signal of how hard the question is: their
agreement (the share of the most common answer) and their mean token logprob. A policy,
fitted on a TRAINING split (`thinkfast eval fit-auto`, never the evaluation seeds), maps
that signal to how much more to spend: `extra` more drafts (ONE more request) and whether
to rank them with the `equations` verifier before the vote. Easy questions (unanimous,
confident drafts) stop at k; contested ones buy more samples. The policy file holds one
table per spend level (mean tokens as a multiple of `single`'s on the training split);
`spend` picks the richest table that fits.

Cost: k drafts, plus 0..max `extra` drafts in a second call for the questions that need
them; the critical path is one or two calls.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field, ValidationError, model_validator
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.errors import StrategyConfigError
from thinkfast.orchestrator.nodes import draft, node
from thinkfast.orchestrator.selection import select_by_score, select_vote, tally_votes
from thinkfast.orchestrator.state import Candidate, Decision, DraftTask, GraphState, last_value
from thinkfast.orchestrator.strategy import Strategy, register_strategy
from thinkfast.orchestrator.verifiers import EquationVerifier, score_candidates

__all__ = ["Auto", "Policy", "PolicyTable", "Rule", "signal_of", "DEFAULT_POLICY"]

DEFAULT_POLICY = Path(__file__).with_name("policies") / "auto_arith.json"


class Rule(BaseModel):
    """What to do for questions whose signal falls in this bin."""

    min_agreement: float = Field(ge=0.0, le=1.0)  # the bin: agreement >= this ...
    confident: bool | None = None  # ... and mean logprob above the table's threshold (None: either)
    extra: int = Field(ge=0, le=256)
    verify: bool = False
    train_accuracy: float | None = None
    train_share: float | None = None


class PolicyTable(BaseModel):
    spend: float  # mean tokens as a multiple of single's, measured on the training split
    k: int = Field(ge=1, le=64)
    logprob_threshold: float
    rules: list[Rule]  # first match wins; ordered from the most to the least agreement
    train_accuracy: float


class Policy(BaseModel):
    task: str
    fitted_on: str
    temperature: float
    tables: list[PolicyTable]

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        try:
            return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StrategyConfigError(f"auto policy file not found: {path}") from None
        except (ValidationError, json.JSONDecodeError) as exc:
            raise StrategyConfigError(f"auto policy file {path} is invalid: {exc}") from None

    def table(self, spend: float) -> PolicyTable:
        """The most accurate table whose spend fits (the cheapest when none does)."""
        fits = [t for t in self.tables if t.spend <= spend]
        if not fits:
            return min(self.tables, key=lambda t: t.spend)
        return max(fits, key=lambda t: (t.train_accuracy, -t.spend))


@cache
def _load(path: str) -> Policy:
    return Policy.load(path)


def signal_of(candidates: list[Candidate]) -> tuple[float, float]:
    """(agreement, mean logprob) of the first drafts."""
    voted = tally_votes(candidates)
    top = max((c.votes for c in voted), default=0)
    agreement = top / len(candidates) if candidates else 0.0
    mean_lp = sum(c.mean_logprob for c in candidates) / max(1, len(candidates))
    return agreement, mean_lp


def rule_for(table: PolicyTable, agreement: float, mean_lp: float) -> Rule:
    confident = mean_lp >= table.logprob_threshold
    for rule in table.rules:
        if agreement + 1e-9 >= rule.min_agreement and rule.confident in (None, confident):
            return rule
    return table.rules[-1]


class AutoState(GraphState, total=False):
    rule: Annotated[dict | None, last_value]


@register_strategy
class Auto(Strategy):
    """k drafts, then as much more as the fitted policy says the question needs."""

    name = "auto"
    summary = "k drafts; their agreement and logprob decide how much more to spend (fitted policy)"

    spend: float = Field(4.0, ge=1.0, le=256.0, description="mean tokens, multiple of single's")
    policy: str | None = Field(
        None, description="policy file (thinkfast eval fit-auto); default: the shipped arith one"
    )

    @model_validator(mode="after")
    def _policy_loads(self) -> Auto:
        try:
            self._policy()
        except StrategyConfigError as exc:  # reported as this option's problem
            raise ValueError(str(exc)) from None
        return self

    def roles(self) -> tuple[str, ...]:
        return ("draft",)

    def _policy(self) -> Policy:
        return _load(str(self.policy or DEFAULT_POLICY))

    def build_graph(self) -> StateGraph:
        policy = self._policy()
        table = policy.table(self.spend)
        sampling = {"temperature": policy.temperature}

        @node("draft")
        async def first(state: AutoState, ctx: RunContext) -> dict[str, Any]:
            task = DraftTask(
                question=state["question"], role="draft", n=table.k, branch="signal", after=[]
            )
            return await draft(task, ctx, sampling=sampling)

        @node("decide")
        async def decide(state: AutoState, ctx: RunContext) -> dict[str, Any]:
            drafts = state["candidates"]
            agreement, mean_lp = signal_of(drafts)
            rule = rule_for(table, agreement, mean_lp)
            decision = Decision(
                kind="auto",
                candidates=[c.id for c in drafts],
                detail=f"agreement {agreement:.2f}, mean logprob {mean_lp:.3f} "
                f"({'confident' if mean_lp >= table.logprob_threshold else 'unsure'}): "
                f"{rule.extra} more drafts{', equations verifier' if rule.verify else ''} "
                f"(table spend {table.spend:g}x)",
            )
            return {"rule": rule.model_dump(), "decisions": [decision]}

        @node("more")
        async def more(state: AutoState, ctx: RunContext) -> dict[str, Any]:
            after = [c.id for c in state.get("calls", [])]
            task = DraftTask(
                question=state["question"],
                role="draft",
                n=state["rule"]["extra"],
                branch="more",
                after=after,
            )
            return await draft(task, ctx, node_name="more", sampling=sampling)

        @node("select")
        async def select(state: AutoState, ctx: RunContext) -> dict[str, Any]:
            candidates = state["candidates"]
            if state.get("rule", {}).get("verify"):
                update, scored, _ = await score_candidates(
                    EquationVerifier(), ctx, state["question"], candidates, node="select"
                )
                best, decision = select_by_score(scored, "verifier")
                return {
                    **update,
                    "candidates": scored,
                    "selected": best.id,
                    "decisions": [decision],
                }
            best, decision = select_vote(candidates)
            return {
                "candidates": tally_votes(candidates),
                "selected": best.id,
                "decisions": [decision],
            }

        async def after_draft(state: AutoState) -> str:
            return "decide" if state.get("candidates") else END

        async def after_decide(state: AutoState) -> str:
            return "more" if state["rule"]["extra"] and not state.get("budget_stop") else "select"

        graph = StateGraph(AutoState, context_schema=RunContext)
        graph.add_node("draft", first)
        graph.add_node("decide", decide)
        graph.add_node("more", more)
        graph.add_node("select", select)
        graph.add_edge(START, "draft")
        graph.add_conditional_edges("draft", after_draft, ["decide", END])
        graph.add_conditional_edges("decide", after_decide, ["more", "select"])
        graph.add_edge("more", "select")
        graph.add_edge("select", END)
        return graph
