"""Graph building blocks: node functions for each role and the pure selection rules.

Strategies compose these into graphs. Every node takes `(state, runtime)` with the
`RunContext` as `runtime.context`, returns a state update, and never raises for an
engine failure or a budget refusal: those become `failures` and `budget_stop` in the
state, so a query ends with whatever it has. Parallel work of one kind is one engine
call: n drafts are one request with `n` samples, all matches of a tournament round and
all critiques of a scoring pass are the requests of one `generate()` call.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langgraph.runtime import Runtime

from .budget import BudgetStop
from .context import BranchFailed, RunContext
from .state import Candidate, Critique, Decision, DraftTask, Failure

__all__ = [
    "node",
    "draft",
    "draft_once",
    "DRAFT_PROMPTS",
    "failure_update",
    "tally_votes",
    "rank_key",
    "select_vote",
    "select_logprob",
    "select_by_score",
    "vote_decided",
    "representatives",
    "critique_all",
    "judge_round",
    "score_rewards",
    "RewardFn",
]

RewardFn = Callable[[str, str, str | None], float | Awaitable[float]]


def node(name: str):
    """Wrap a node function so it emits node_started / node_finished events."""

    def wrap(fn):
        # Not functools.wraps: LangGraph reads the signature to inject `runtime`, and
        # __wrapped__ would show it the inner (state, ctx) signature instead.
        async def run(state: Any, runtime: Runtime[RunContext]) -> dict[str, Any]:
            ctx = runtime.context
            ctx.event("node_started", node=name)
            update = await fn(state, ctx)
            ctx.event("node_finished", node=name, data={"keys": sorted(update or {})})
            return update or {}

        run.__name__ = run.__qualname__ = fn.__name__
        run.__doc__ = fn.__doc__
        return run

    return wrap


def failure_update(exc: BranchFailed, node_name: str, branch: str | None = None) -> dict[str, Any]:
    call = exc.call
    return {
        "calls": [call],
        "failures": [
            Failure(
                node=node_name,
                role=call.role,
                branch=branch,
                error=call.error or "",
                call_id=call.id,
            )
        ],
    }


# -- drafting ------------------------------------------------------------------------------
DRAFT_PROMPTS = {"think": "draft", "direct": "draft_direct"}  # mode -> prompt-pack role


async def draft_once(
    state: dict[str, Any], ctx: RunContext, *, mode: str, temperature: float
) -> dict[str, Any]:
    """One draft of the question in `mode` (think or direct): the start of single and
    self_refine, and the baseline every strategy is compared against."""
    task = {
        "question": state["question"],
        "prompt_role": DRAFT_PROMPTS[mode],
        "n": 1,
        "branch": mode,
        "after": [],
    }
    return await draft(task, ctx, sampling={"temperature": temperature})


async def draft(
    task: DraftTask,
    ctx: RunContext,
    node_name: str = "draft",
    sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Draw `task["n"]` drafts of one prompt in ONE request (one prefill, batched decode).

    `sampling` (temperature, top_p, top_k) overrides the drafter's settings for this call.
    """
    drafter = ctx.drafter
    seed = ctx.seed_for(node_name, task["branch"])
    request = drafter.ask(task["question"], n=task["n"], prompt_role=task["prompt_role"], seed=seed)
    if sampling:
        request = request.model_copy(update=sampling)
    try:
        generations, call, ran = await ctx.call(
            drafter,
            node_name,
            [request],
            branch=task["branch"],
            after=task["after"],
            shrinkable=True,
        )
    except BudgetStop as stop:
        ctx.event(
            "budget_stop",
            node=node_name,
            role=drafter.role,
            branch=task["branch"],
            data={"reason": stop.reason},
        )
        return {"budget_stop": stop.reason}
    except BranchFailed as exc:
        ctx.event(
            "failure",
            node=node_name,
            role=drafter.role,
            branch=task["branch"],
            data={"error": exc.call.error},
        )
        return failure_update(exc, node_name, task["branch"])
    candidates = []
    for sample in generations[0].samples:
        candidate = Candidate(
            id=ctx.new_candidate_id(),
            text=sample.text,
            answer=drafter.read(sample),
            mean_logprob=sample.mean_logprob,
            completion_tokens=len(sample.token_ids),
            finish_reason=sample.finish_reason,
            source=task["prompt_role"],
            branch=task["branch"],
            call_id=call.id,
        )
        candidates.append(candidate)
        ctx.event(
            "candidate",
            node=node_name,
            role=drafter.role,
            branch=task["branch"],
            data={"id": candidate.id, "answer": candidate.answer},
        )
    update: dict[str, Any] = {"candidates": candidates, "calls": [call]}
    if ran[0].n < task["n"]:  # the gate shrank the batch to what the budget covers
        reason = f"token budget: drew {ran[0].n} of {task['n']} drafts"
        ctx.event(
            "budget_stop",
            node=node_name,
            role=drafter.role,
            branch=task["branch"],
            data={"reason": reason},
        )
        update["budget_stop"] = reason
    return update


# -- pure selection rules ----------------------------------------------------------------------
def tally_votes(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Copies of the candidates with `votes` = how many candidates share their answer."""
    counts = Counter(c.answer for c in candidates if c.answer is not None)
    return [
        c.model_copy(update={"votes": counts.get(c.answer, 0) if c.answer is not None else 0})
        for c in candidates
    ]


def rank_key(candidate: Candidate) -> tuple:
    """Tie-break order used everywhere: readable answer, more votes, higher mean logprob,
    then the earlier candidate."""
    return (candidate.answer is not None, candidate.votes, candidate.mean_logprob, -candidate.id)


def select_vote(candidates: Sequence[Candidate]) -> tuple[Candidate, Decision]:
    """Majority over extracted answers; ties broken by the best mean logprob of each answer
    (self-consistency)."""
    voted = tally_votes(candidates)
    best = max(voted, key=rank_key)
    counts = Counter(c.answer for c in voted if c.answer is not None)
    detail = (
        ", ".join(f"{answer}: {count}" for answer, count in counts.most_common())
        or "no readable answer"
    )
    return best, Decision(
        kind="vote", candidates=[c.id for c in voted], winner=best.id, detail=detail
    )


def select_logprob(candidates: Sequence[Candidate]) -> tuple[Candidate, Decision]:
    best = max(candidates, key=lambda c: (c.answer is not None, c.mean_logprob, -c.id))
    return best, Decision(
        kind="logprob",
        candidates=[c.id for c in candidates],
        winner=best.id,
        detail=f"mean logprob {best.mean_logprob:.4f}",
    )


def select_by_score(candidates: Sequence[Candidate], kind: str) -> tuple[Candidate, Decision]:
    """Highest mean score (critic verdicts or reward), then the vote, then logprob."""

    def mean_score(c: Candidate) -> float:
        return sum(c.scores) / len(c.scores) if c.scores else float("-inf")

    voted = tally_votes(candidates)
    best = max(voted, key=lambda c: (mean_score(c), *rank_key(c)))
    return best, Decision(
        kind=kind,
        candidates=[c.id for c in voted],
        winner=best.id,
        detail=f"score {mean_score(best):.3f}",
    )


def vote_decided(candidates: Sequence[Candidate], remaining: int) -> bool:
    """True when the leading answer cannot be overtaken by the samples still to draw."""
    counts = Counter(c.answer for c in candidates if c.answer is not None).most_common(2)
    if not counts:
        return remaining == 0
    lead = counts[0][1] - (counts[1][1] if len(counts) > 1 else 0)
    return lead > remaining


def representatives(candidates: Sequence[Candidate]) -> list[Candidate]:
    """One candidate per distinct answer (the best by rank_key), strongest first. Comparing
    two candidates with the same answer cannot change which answer wins, so a judge only
    sees distinct answers."""
    voted = tally_votes(candidates)
    best: dict[object, Candidate] = {}
    for c in voted:
        key = c.answer if c.answer is not None else ("unreadable", c.id)
        if key not in best or rank_key(c) > rank_key(best[key]):
            best[key] = c
    return sorted(best.values(), key=rank_key, reverse=True)


# -- critic pass -----------------------------------------------------------------------------
async def critique_all(
    question: str,
    candidates: Sequence[Candidate],
    ctx: RunContext,
    node_name: str,
    round_: int = 0,
    after: Sequence[int] = (),
) -> tuple[dict[str, Any], list[Candidate] | None]:
    """Critique every candidate in ONE call. Returns the state update and the critiqued
    candidates (None when the call was refused or failed)."""
    critic = ctx.critic
    requests = [critic.ask(question, c.text, c.answer) for c in candidates]
    deps = list(after) + [c.call_id for c in candidates]
    try:
        generations, call, _ = await ctx.call(critic, node_name, requests, after=deps)
    except BudgetStop as stop:
        ctx.event("budget_stop", node=node_name, role=critic.role, data={"reason": stop.reason})
        return {"budget_stop": stop.reason}, None
    except BranchFailed as exc:
        ctx.event("failure", node=node_name, role=critic.role, data={"error": exc.call.error})
        return failure_update(exc, node_name), None
    updated = []
    for candidate, generation in zip(candidates, generations, strict=True):
        text = generation.samples[0].text
        approved = critic.read(generation.samples[0])
        critique = Critique(text=text, approved=approved, call_id=call.id, round=round_)
        score = {True: 1.0, False: 0.0, None: 0.5}[approved]
        updated.append(
            candidate.model_copy(
                update={
                    "critiques": [*candidate.critiques, critique],
                    "scores": [*candidate.scores, score],
                }
            )
        )
        ctx.event(
            "verdict",
            node=node_name,
            role=critic.role,
            data={"id": candidate.id, "approved": approved},
        )
    return {"candidates": updated, "calls": [call]}, updated


# -- judge tournament ------------------------------------------------------------------------------
async def judge_round(
    question: str,
    survivors: Sequence[Candidate],
    ctx: RunContext,
    node_name: str,
    round_: int,
    both_orders: bool,
    after: Sequence[int] = (),
    tie_keeps_first: bool = False,
) -> tuple[dict[str, Any], list[Candidate] | None]:
    """One knockout round: pair the survivors (strongest with weakest; with an odd field
    the strongest gets a bye) and judge every pair in ONE call. Returns the update and the next survivors (None when
    the call was refused or failed). A split or unreadable verdict goes to the stronger
    candidate by vote and logprob, or to the first of the pair with `tie_keeps_first`
    (self-refine keeps its current answer unless the judge prefers the revision)."""
    judge = ctx.judge
    # Seeded like a knockout: the strongest by vote/logprob meets the weakest, so the
    # likeliest answers meet late; with an odd field the top seed sits the round out.
    # (With tie_keeps_first the given order IS the meaning: current first, revision second.)
    seeded = list(survivors) if tie_keeps_first else sorted(survivors, key=rank_key, reverse=True)
    bye = seeded[:1] if len(seeded) % 2 else []
    field = seeded[len(bye) :]
    pairs = [(field[i], field[-1 - i]) for i in range(len(field) // 2)]
    requests = []
    for a, b in pairs:
        requests.append(judge.ask(question, a.text, b.text, a.answer, b.answer))
        if both_orders:  # judges favour a position; asking both ways cancels that out
            requests.append(judge.ask(question, b.text, a.text, b.answer, a.answer))
    deps = list(after) + [c.call_id for c in survivors]
    try:
        generations, call, _ = await ctx.call(
            judge, node_name, requests, branch=f"round-{round_}", after=deps
        )
    except BudgetStop as stop:
        ctx.event("budget_stop", node=node_name, role=judge.role, data={"reason": stop.reason})
        return {"budget_stop": stop.reason}, None
    except BranchFailed as exc:
        ctx.event("failure", node=node_name, role=judge.role, data={"error": exc.call.error})
        return failure_update(exc, node_name, f"round-{round_}"), None
    per_pair = 2 if both_orders else 1
    winners, decisions, updated = [], [], []
    for index, (a, b) in enumerate(pairs):
        outs = generations[index * per_pair : (index + 1) * per_pair]
        points = [0, 0]
        choices = []
        for order, generation in enumerate(outs):
            choice = judge.read(generation.samples[0])
            choices.append(choice)
            if choice is not None:
                # the second request shows the pair swapped
                points[choice if order == 0 else 1 - choice] += 1
        if points[0] != points[1]:
            winner = a if points[0] > points[1] else b
            how = f"judge {points[0]}-{points[1]}"
        elif tie_keeps_first:
            winner = a
            how = f"judge tied {points[0]}-{points[1]}, kept the first"
        else:  # split or unreadable: fall back to the vote, then logprob
            winner = max((a, b), key=rank_key)
            how = f"judge tied {points[0]}-{points[1]}, kept the stronger by vote/logprob"
        winner = winner.model_copy(update={"wins": winner.wins + 1})
        winners.append(winner)
        updated.append(winner)
        decisions.append(
            Decision(
                kind="match",
                round=round_,
                candidates=[a.id, b.id],
                winner=winner.id,
                detail=how,
                call_id=call.id,
            )
        )
        ctx.event(
            "choice",
            node=node_name,
            role=judge.role,
            data={"a": a.id, "b": b.id, "winner": winner.id, "choices": choices},
        )
    return (
        {"candidates": updated, "decisions": decisions, "calls": [call]},
        winners + bye,
    )


# -- user reward --------------------------------------------------------------------------------------
async def score_rewards(
    question: str, candidates: Sequence[Candidate], reward: RewardFn
) -> list[Candidate]:
    """Score each candidate with the user's `reward(question, text, answer)` (sync or async)."""
    scored = []
    for c in candidates:
        value = reward(question, c.text, c.answer)
        if inspect.isawaitable(value):
            value = await value
        scored.append(
            c.model_copy(update={"reward": float(value), "scores": [*c.scores, float(value)]})
        )
    return scored
