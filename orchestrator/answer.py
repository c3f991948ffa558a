"""Answer: what a scaffolded query returns, built from the final graph state and ledger.

JSON-serialisable (pydantic): the final text and extracted answer, every candidate with
its critiques, scores and votes, the self-refine rounds, the decisions, failed branches,
every engine call, usage by role and in total, and latency three ways (wall, sum of
calls, critical path), here and emulated per hardware profile. `tie` says whether the
final choice was a tie settled by the tie-break rule (see `selection`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, computed_field

from .errors import AllBranchesFailedError, BudgetExhaustedError, StrategyError
from .ledger import Call, LatencyReport, Ledger, UsageReport
from .selection import select_vote
from .state import Candidate, Decision, Failure, RoundRecord

__all__ = ["Answer", "build_answer"]


class Answer(BaseModel):
    question: str
    strategy: str
    options: dict[str, Any] = Field(default_factory=dict)
    model: str = "unknown"
    text: str = Field(description="the chosen candidate's full text")
    answer: str | None = Field(None, description="the final answer extracted from it")
    selected: int | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    rounds: list[RoundRecord] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    calls: list[Call] = Field(default_factory=list)
    usage: UsageReport = Field(default_factory=UsageReport)
    latency: LatencyReport = Field(default_factory=LatencyReport)
    stopped_for_budget: bool = False
    budget_stop_reason: str | None = None
    warnings: list[str] = Field(
        default_factory=list,
        description="what the user should know about how this answer was reached: a "
        "question not of the kind the model reads, a role whose replies could not be read. "
        "Each is 'what happened — this query's details' (eval reports count the first part)",
    )

    @property
    def chosen(self) -> Candidate | None:
        return next((c for c in self.candidates if c.id == self.selected), None)

    @computed_field(description="the final choice was a tie, settled by the tie-break rule")
    @property
    def tie(self) -> bool:
        deciding = [d for d in self.decisions if d.winner == self.selected]
        return bool(deciding) and deciding[-1].tie

    @property
    def flips(self) -> int:
        """Self-refine rounds in which the final answer changed."""
        return sum(1 for r in self.rounds if r.flipped)


def build_answer(
    question: str,
    strategy: str,
    options: dict[str, Any],
    state: dict[str, Any],
    ledger: Ledger,
    wall_s: float,
    model: str,
) -> Answer:
    """Turn a finished graph run into an Answer, or raise why there is none."""
    candidates: list[Candidate] = state.get("candidates", [])
    failures: list[Failure] = state.get("failures", [])
    stop: str | None = state.get("budget_stop")
    if not candidates:
        if failures:
            lines = [f"{f.node}[{f.branch or '-'}]: {f.error}" for f in failures]
            raise AllBranchesFailedError(
                f"every draft branch failed ({len(failures)}), no answer:\n  " + "\n  ".join(lines),
                lines,
            )
        if stop:
            raise BudgetExhaustedError(f"the budget does not cover one draft: {stop}")
        raise StrategyError(f"strategy {strategy!r} produced no candidate")
    selected = state.get("selected")
    decisions: list[Decision] = list(state.get("decisions", []))
    if selected is None or all(c.id != selected for c in candidates):
        # a graph stopped before choosing (e.g. its selector was refused): vote
        best, decision = select_vote(candidates)
        decision.detail += " (graph stopped before selecting)"
        decisions.append(decision)
        selected = best.id
    chosen = next(c for c in candidates if c.id == selected)
    return Answer(
        question=question,
        strategy=strategy,
        options=options,
        model=model,
        text=chosen.text,
        answer=chosen.answer,
        selected=selected,
        candidates=candidates,
        rounds=state.get("rounds", []),
        decisions=decisions,
        failures=failures,
        calls=sorted(ledger.calls, key=lambda c: c.id),  # start order, not finish order
        usage=ledger.usage(),
        latency=ledger.latency(wall_s),
        stopped_for_budget=stop is not None,
        budget_stop_reason=stop,
    )
