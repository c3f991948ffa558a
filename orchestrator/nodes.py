"""Graph building blocks: node functions for each role.

Strategies compose these into graphs (the pure selection rules they use live in
`selection`). Every node takes `(state, runtime)` with the `RunContext` as
`runtime.context`, returns a state update, and never raises for an engine failure or a
budget refusal: those become `failures` and `budget_stop` in the state, so a query ends
with whatever it has. Parallel work of one kind is one engine call: n drafts are one
request with `n` samples (one call per engine when the role has several), all matches of
a tournament round and all critiques of a scoring pass are the requests of one
`generate()` call.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from .agents import Agent
from .context import RunContext
from .selection import rank_key
from .state import Candidate, Critique, Decision, DraftTask

__all__ = [
    "node",
    "loop_graph",
    "draft",
    "draft_once",
    "DRAFT_PROMPTS",
    "DRAFT_TEMPERATURE",
    "new_candidate",
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


Step = tuple[str, Callable[..., Any]]  # a node's name and its function


def loop_graph(
    state_type: type,
    route: Callable[[Any], Awaitable[str]],
    *,
    repeat: Step,
    finish: Step,
    first: Step | None = None,
) -> StateGraph:
    """The graph of a strategy that repeats one step: START -> `first` (when given) ->
    `repeat` as often as `route` says -> `finish` -> END. `route` runs after `first` and
    after each `repeat` and names `repeat`, `finish`, or END (nothing to finish from)."""
    steps = [first, repeat] if first is not None else [repeat]
    graph = StateGraph(state_type, context_schema=RunContext)
    for name, fn in [*steps, finish]:
        graph.add_node(name, fn)
    graph.add_edge(START, steps[0][0])
    for name, _ in steps:
        graph.add_conditional_edges(name, route, [repeat[0], finish[0], END])
    graph.add_edge(finish[0], END)
    return graph


def new_candidate(
    ctx: RunContext, agent: Agent, sample, call_id: int, index: int = 0, **fields: Any
) -> Candidate:
    """A candidate from one sample an agent wrote, its answer read with the agent's pack."""
    return Candidate(
        id=ctx.new_candidate_id(),
        text=sample.text,
        answer=agent.read_answer(sample),
        mean_logprob=sample.mean_logprob,
        completion_tokens=len(sample.token_ids),
        finish_reason=sample.finish_reason,
        source=agent.role,
        engine=agent.label,
        call_id=call_id,
        sample_index=index,
        **fields,
    )


# -- drafting ------------------------------------------------------------------------------
DRAFT_PROMPTS = {"think": "draft", "direct": "draft_direct"}  # mode -> prompt-pack role
DRAFT_TEMPERATURE = 0.7  # drafts sample hot unless the strategy says otherwise


async def draft_once(
    state: dict[str, Any], ctx: RunContext, *, mode: str, temperature: float, live: bool = False
) -> dict[str, Any]:
    """One draft of the question in `mode` (think or direct): the start of single and
    self_refine, and the baseline every strategy is compared against. `live`: this draft
    is the final answer once written (see `RunContext.call`), so stream its tokens."""
    task = DraftTask(
        question=state["question"], role=DRAFT_PROMPTS[mode], n=1, branch=mode, after=[]
    )
    return await draft(task, ctx, sampling={"temperature": temperature}, live=live)


def _shares(n: int, parts: int) -> list[int]:
    """n split as evenly as possible over `parts`, the earlier parts taking the remainder."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


async def draft(
    task: DraftTask,
    ctx: RunContext,
    node_name: str = "draft",
    sampling: dict[str, Any] | None = None,
    live: bool = False,
) -> dict[str, Any]:
    """Draw `task["n"]` drafts of one prompt: ONE request with n samples (one prefill,
    batched decode) per engine of the role, the samples split across its engines.

    `sampling` (temperature, top_p, top_k) overrides the drafting defaults for this call;
    `live` streams a single draft's tokens (only for a draft that IS the final answer).
    """
    agents = ctx.agents(task["role"])
    sampling = {"temperature": DRAFT_TEMPERATURE, **(sampling or {})}
    plan = [
        (a, k, i)
        for i, (a, k) in enumerate(zip(agents, _shares(task["n"], len(agents)), strict=True))
    ]
    plan = [(agent, k, i) for agent, k, i in plan if k > 0]

    async def one(agent: Agent, n: int, index: int):
        # the first engine keeps the seed a single-engine run uses
        parts = (node_name, task["branch"]) + ((index,) if index else ())
        request = agent.ask(n=n, seed=ctx.seed_for(*parts), question=task["question"])
        request = request.model_copy(update=sampling)
        outcome = await ctx.attempt(
            agent,
            node_name,
            [request],
            branch=task["branch"],
            after=task["after"],
            shrinkable=True,
            live=live and task["n"] == 1,
        )
        return agent, n, outcome

    results = await asyncio.gather(*(one(*step) for step in plan))
    update: dict[str, Any] = {}
    candidates: list[Candidate] = []
    drawn = 0
    for agent, _, outcome in results:
        for key, value in outcome.update.items():
            update[key] = update.get(key, []) + value if isinstance(value, list) else value
        if not outcome.ok:
            continue
        drawn += outcome.requests[0].n
        for index, sample in enumerate(outcome.generations[0].samples):
            candidate = new_candidate(
                ctx, agent, sample, outcome.call.id, index, branch=task["branch"]
            )
            candidates.append(candidate)
            ctx.event(
                "candidate",
                node=node_name,
                role=agent.role,
                branch=task["branch"],
                data={"id": candidate.id, "answer": candidate.answer, "engine": agent.label},
            )
    if candidates:
        update["candidates"] = candidates
    ran = all(outcome.ok for _, _, outcome in results)
    if ran and drawn < task["n"]:  # the gate shrank the batch to what the budget covers
        reason = f"token budget: drew {drawn} of {task['n']} drafts"
        ctx.event(
            "budget_stop",
            node=node_name,
            role=task["role"],
            branch=task["branch"],
            data={"reason": reason},
        )
        update["budget_stop"] = reason
    return update


# -- critic pass -----------------------------------------------------------------------------
async def critique_all(
    question: str,
    candidates: Sequence[Candidate],
    ctx: RunContext,
    node_name: str,
    round_: int = 0,
    after: Sequence[int] = (),
    role: str = "critique",
) -> tuple[dict[str, Any], list[Candidate] | None]:
    """Have `role` (the critic, or any role whose reply ends in a verdict) check every
    candidate in ONE call. Returns the state update and the checked candidates (None
    when the call was refused or failed)."""
    critic = ctx.agent(role)
    requests = [
        critic.ask(question=question, candidate=c.text, answer=c.answer or "") for c in candidates
    ]
    deps = list(after) + [c.call_id for c in candidates]
    outcome = await ctx.attempt(critic, node_name, requests, after=deps)
    if not outcome.ok:
        return outcome.update, None
    call = outcome.call
    updated = []
    for candidate, generation in zip(candidates, outcome.generations, strict=True):
        text = generation.samples[0].text
        approved = critic.read_verdict(generation.samples[0])
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
    return {**outcome.update, "candidates": updated}, updated


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
    the strongest gets a bye) and judge every pair in ONE call. Returns the update and the
    next survivors (None when the call was refused or failed). A split or unreadable
    verdict (a tie, so labelled) goes to the stronger candidate by vote, then drawn first, or to the first of the pair with `tie_keeps_first`
    (self-refine keeps its current answer unless the judge prefers the revision)."""
    judge = ctx.agent("judge")
    # Seeded like a knockout: the strongest by vote meets the weakest, so the
    # likeliest answers meet late; with an odd field the top seed sits the round out.
    # (With tie_keeps_first the given order IS the meaning: current first, revision second.)
    seeded = list(survivors) if tie_keeps_first else sorted(survivors, key=rank_key, reverse=True)
    bye = seeded[:1] if len(seeded) % 2 else []
    field = seeded[len(bye) :]
    pairs = [(field[i], field[-1 - i]) for i in range(len(field) // 2)]
    requests = []
    for a, b in pairs:
        requests.append(_match(judge, question, a, b))
        if both_orders:  # judges favour a position; asking both ways cancels that out
            requests.append(_match(judge, question, b, a))
    deps = list(after) + [c.call_id for c in survivors]
    outcome = await ctx.attempt(judge, node_name, requests, branch=f"round-{round_}", after=deps)
    if not outcome.ok:
        return outcome.update, None
    call, generations = outcome.call, outcome.generations
    per_pair = 2 if both_orders else 1
    winners, decisions, updated = [], [], []
    for index, (a, b) in enumerate(pairs):
        outs = generations[index * per_pair : (index + 1) * per_pair]
        points = [0, 0]
        choices = []
        for order, generation in enumerate(outs):
            choice = judge.read_choice(generation.samples[0])
            choices.append(choice)
            if choice is not None:
                # the second request shows the pair swapped
                points[choice if order == 0 else 1 - choice] += 1
        tie = points[0] == points[1]
        if not tie:
            winner = a if points[0] > points[1] else b
            how = f"judge {points[0]}-{points[1]}"
        elif tie_keeps_first:
            winner = a
            how = f"judge tied {points[0]}-{points[1]}, kept the first"
        else:  # split or unreadable: fall back to the vote, then drawn first
            winner = max((a, b), key=rank_key)
            how = f"judge tied {points[0]}-{points[1]}, kept the stronger by vote/drawn first"
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
                tie=tie,
                call_id=call.id,
            )
        )
        ctx.event(
            "choice",
            node=node_name,
            role=judge.role,
            data={"a": a.id, "b": b.id, "winner": winner.id, "choices": choices},
        )
    return {**outcome.update, "candidates": updated, "decisions": decisions}, winners + bye


def _match(judge: Agent, question: str, a: Candidate, b: Candidate):
    return judge.ask(
        question=question,
        candidate_a=a.text,
        candidate_b=b.text,
        answer_a=a.answer or "",
        answer_b=b.answer or "",
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
