"""Pure selection rules: votes, tie-breaks and score selection over candidates.

No engine, no graph: every function takes candidates and returns candidates and a
`Decision`, so the answer builder and every strategy choose the same way.

The tie-break everywhere is *drawn first*: among equally good candidates the one whose
sample was drawn earliest wins, that is the candidate from the earlier engine call (call
ids follow the order in which calls started) and, within one call, the earlier sample.
It depends only on the order of the graph's calls, never on timing or on the engine's
logprobs, so the local and a remote engine break the same tie the same way. A decision
that needed it says so (`Decision.tie`), and its detail names the tied answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .state import Candidate, Decision

__all__ = [
    "tally_votes",
    "drawn_order",
    "rank_key",
    "select_vote",
    "select_logprob",
    "select_by_score",
    "vote_decided",
    "representatives",
]


def tally_votes(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Copies of the candidates with `votes` = how many candidates share their answer."""
    counts = Counter(c.answer for c in candidates if c.answer is not None)
    return [
        c.model_copy(update={"votes": counts.get(c.answer, 0) if c.answer is not None else 0})
        for c in candidates
    ]


def drawn_order(candidate: Candidate) -> tuple[int, int]:
    """When a candidate was drawn: its call, then its place among that call's samples."""
    return (candidate.call_id, candidate.sample_index)


def rank_key(candidate: Candidate) -> tuple:
    """Order used everywhere (larger is better): a readable answer, more votes, then drawn
    first."""
    call, index = drawn_order(candidate)
    return (candidate.answer is not None, candidate.votes, -call, -index)


def _tied(best: Candidate, others: Sequence[Candidate], key) -> list[Candidate]:
    """Candidates with another answer that only the drawn-first rule put behind `best`."""
    strength = key(best)[:-2]
    return [c for c in others if c.answer != best.answer and key(c)[:-2] == strength]


def _tie_note(best: Candidate, tied: Sequence[Candidate]) -> str:
    answers = sorted({str(c.answer) for c in tied} | {str(best.answer)})
    return f"; tie between {', '.join(answers)}, broken by drawn first ({best.answer})"


def select_vote(candidates: Sequence[Candidate]) -> tuple[Candidate, Decision]:
    """Majority over extracted answers (self-consistency); a tie goes to the answer drawn
    first."""
    voted = tally_votes(candidates)
    best = max(voted, key=rank_key)
    counts = Counter(c.answer for c in voted if c.answer is not None)
    order = {c.answer: drawn_order(c) for c in sorted(voted, key=drawn_order, reverse=True)}
    ranked = sorted(counts.items(), key=lambda item: (-item[1], order[item[0]]))
    detail = ", ".join(f"{answer}: {count}" for answer, count in ranked) or "no readable answer"
    tied = _tied(best, voted, rank_key) if best.answer is not None else []
    if tied:
        detail += _tie_note(best, tied)
    return best, Decision(
        kind="vote", candidates=[c.id for c in voted], winner=best.id, detail=detail, tie=bool(tied)
    )


def select_logprob(candidates: Sequence[Candidate]) -> tuple[Candidate, Decision]:
    """Highest mean token logprob (a readable answer first); equal logprobs: drawn first."""

    def key(c: Candidate) -> tuple:
        call, index = drawn_order(c)
        return (c.answer is not None, c.mean_logprob, -call, -index)

    best = max(candidates, key=key)
    tied = _tied(best, candidates, key)
    detail = f"mean logprob {best.mean_logprob:.4f}" + (_tie_note(best, tied) if tied else "")
    return best, Decision(
        kind="logprob",
        candidates=[c.id for c in candidates],
        winner=best.id,
        detail=detail,
        tie=bool(tied),
    )


def mean_score(candidate: Candidate) -> float:
    scores = candidate.scores
    return sum(scores) / len(scores) if scores else float("-inf")


def select_by_score(candidates: Sequence[Candidate], kind: str) -> tuple[Candidate, Decision]:
    """Highest mean score (critic verdicts or reward), then the vote, then drawn first."""
    voted = tally_votes(candidates)

    def key(c: Candidate) -> tuple:
        return (mean_score(c), *rank_key(c))

    best = max(voted, key=key)
    tied = _tied(best, voted, key)
    detail = f"score {mean_score(best):.3f}" + (_tie_note(best, tied) if tied else "")
    return best, Decision(
        kind=kind,
        candidates=[c.id for c in voted],
        winner=best.id,
        detail=detail,
        tie=bool(tied),
    )


def vote_decided(candidates: Sequence[Candidate], remaining: int) -> bool:
    """True when the leading answer cannot be overtaken by the samples still to draw."""
    counts = Counter(c.answer for c in candidates if c.answer is not None).most_common(2)
    if not counts:
        return remaining == 0
    lead = counts[0][1] - (counts[1][1] if len(counts) > 1 else 0)
    return lead > remaining


def representatives(candidates: Sequence[Candidate]) -> list[Candidate]:
    """One candidate per distinct answer (the first drawn), strongest first. Comparing two
    candidates with the same answer cannot change which answer wins, so a judge only sees
    distinct answers."""
    voted = tally_votes(candidates)
    best: dict[object, Candidate] = {}
    for c in voted:
        key = c.answer if c.answer is not None else ("unreadable", c.id)
        if key not in best or rank_key(c) > rank_key(best[key]):
            best[key] = c
    return sorted(best.values(), key=rank_key, reverse=True)
