"""The typed LangGraph state every strategy graph shares, with its reducers.

Parallel branches (Send fan-out) write into the same keys, so each list key has a
reducer: candidates merge by id (a later version of a candidate replaces the earlier
one, new ones are appended), the records (calls, decisions, rounds, failures) append,
and the budget stop keeps the first reason given. `GraphState` holds only what every
strategy and the answer builder read; a strategy's own working keys (a tournament's
survivors, a refinement loop's current answer) live in its own subclass of it.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, Field

from .ledger import Call

__all__ = [
    "Critique",
    "Candidate",
    "Decision",
    "RoundRecord",
    "Failure",
    "GraphState",
    "DraftTask",
    "merge_candidates",
    "first_reason",
    "last_value",
]


class Critique(BaseModel):
    """A critic's text about one candidate and its verdict (None when unreadable)."""

    text: str
    approved: bool | None
    call_id: int
    round: int = 0


class Candidate(BaseModel):
    """One drafted or refined answer and everything the graph learned about it."""

    id: int
    text: str
    answer: str | None = Field(None, description="extracted final answer, normalised")
    mean_logprob: float = 0.0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    source: str = Field("draft", description="role that wrote it: draft, draft_direct, refine")
    branch: str | None = None
    engine: str | None = Field(None, description="label of the engine that wrote it")
    round: int = 0
    parent: int | None = Field(None, description="the candidate a refinement revised")
    call_id: int
    sample_index: int = Field(0, description="its place among the samples of its call")
    critiques: list[Critique] = Field(default_factory=list)
    scores: list[float] = Field(default_factory=list)
    votes: int = Field(0, description="candidates (itself included) with the same answer")
    wins: int = Field(0, description="judge comparisons won")
    reward: float | None = None


class Decision(BaseModel):
    """One choice the graph made: a vote tally, a judge match, a score, an acceptance."""

    kind: str
    round: int = 0
    candidates: list[int] = Field(default_factory=list)
    winner: int | None = None
    detail: str = ""
    tie: bool = Field(
        False, description="the winner was tied and chosen by the tie-break rule (drawn first)"
    )
    call_id: int | None = None


class RoundRecord(BaseModel):
    """One self-refine round: the critique, the revision, and whether it was accepted."""

    round: int
    current: int = Field(description="candidate id the round started from")
    approved: bool | None = None
    critique: str | None = None
    revision: int | None = None
    judge_prefers_revision: bool | None = None
    accepted: bool = False
    answer_before: str | None = None
    answer_after: str | None = None
    flipped: bool = Field(False, description="the final answer changed in this round")
    stopped: str | None = Field(None, description="why the loop ended here, if it did")


class Failure(BaseModel):
    """An engine call that failed; its branch is left out of the answer."""

    node: str
    role: str
    branch: str | None = None
    error: str
    call_id: int | None = None


def merge_candidates(left: list[Candidate], right: list[Candidate]) -> list[Candidate]:
    merged = {c.id: c for c in left}
    for candidate in right:
        merged[candidate.id] = candidate
    return sorted(merged.values(), key=lambda c: c.id)


def first_reason(left: str | None, right: str | None) -> str | None:
    return left if left is not None else right


def last_value(left: Any, right: Any) -> Any:
    """Reducer of a working key: the latest write wins."""
    return right


class GraphState(TypedDict, total=False):
    """What flows through every strategy graph.

    `question` is the input; `candidates` are answers with their critiques, scores and
    votes; `decisions` and `rounds` say how the answer was chosen; `calls` is the ledger
    (one record per engine call); `selected` is the chosen candidate's id.
    """

    question: str
    candidates: Annotated[list[Candidate], merge_candidates]
    decisions: Annotated[list[Decision], operator.add]
    rounds: Annotated[list[RoundRecord], operator.add]
    calls: Annotated[list[Call], operator.add]
    failures: Annotated[list[Failure], operator.add]
    budget_stop: Annotated[str | None, first_reason]
    selected: Annotated[int | None, last_value]


class DraftTask(TypedDict):
    """The input of one draft branch (sent with `Send`)."""

    question: str
    role: str  # the pack role to draft with, e.g. draft or draft_direct
    n: int
    branch: str
    after: list[int]
