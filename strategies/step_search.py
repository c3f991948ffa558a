"""Step-level search over the draft's scratchpad, shared by `beam` and `particle`.

A partial solution is the draft prompt followed by the steps written so far; one step is
the text up to the pack's `step_delimiter` (arith-tiny: `", "` between equations, the
last step ends with `\\nAnswer: N`). Each search step extends every live partial solution
by one step, the partial solutions of the step going to the engine as ONE call (identical
partial solutions as one request with n samples), then a verifier scores every extension
(partial ones as partial solutions, finished ones as answers), also in one pass. The
strategy decides which extensions live on: `beam` keeps the best `width`, `particle`
resamples in proportion to the scores.

Continuing a partial solution needs the draft prompt as raw text (a chat template would
close the assistant's turn), so both strategies need a pack whose `draft` role is raw.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from langgraph.graph import END, START, StateGraph
from pydantic import Field, field_validator
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.errors import StrategyConfigError
from thinkfast.orchestrator.nodes import node
from thinkfast.orchestrator.prompt_pack import RolePrompt
from thinkfast.orchestrator.selection import select_by_score
from thinkfast.orchestrator.state import Candidate
from thinkfast.orchestrator.strategy import Strategy
from thinkfast.orchestrator.verifiers import (
    VERIFIER_PROMPTS,
    Verifier,
    VerifierSpec,
    as_verifier,
)

__all__ = [
    "Path",
    "StepSearch",
    "expand",
    "grow",
    "score_paths",
    "search_graph",
    "to_candidates",
    "verifier_of",
]


@dataclass
class Path:
    """One partial (or finished) solution: its text and how it was written."""

    text: str = ""
    done: bool = False
    logprob: float = 0.0  # sum over its tokens
    tokens: int = 0
    score: float = 0.0
    ok: bool | None = None
    findings: str = ""
    calls: list[int] = field(default_factory=list)  # the calls that wrote and scored it
    finish: str = "stop"

    @property
    def mean_logprob(self) -> float:
        return self.logprob / max(1, self.tokens)


class StepSearch(Strategy):
    """Options both step-level searches share; `beam` and `particle` subclass it."""

    default_prompts: ClassVar[dict[str, RolePrompt]] = dict(VERIFIER_PROMPTS)

    verifier: VerifierSpec = Field(
        "step",
        description="scores partial solutions: step (the model's step verifier), equations, "
        "critic, python, or a callable(question, text, answer) -> float",
    )
    temperature: float = Field(0.8, ge=0.0, le=10.0, description="temperature of each step")
    max_steps: int = Field(16, ge=1, le=128, description="search steps at most")
    step_tokens: int = Field(64, ge=1, le=4096, description="tokens one step may take")
    delimiter: str | None = Field(
        None, min_length=1, description="step delimiter; default: the pack's step_delimiter"
    )

    @field_validator("verifier")
    @classmethod
    def _needed(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("step-level search needs a verifier to score partial solutions")
        return v

    def roles(self) -> tuple[str, ...]:
        return ("draft", *as_verifier(self.verifier).roles(partial=True))


def _delimiter(ctx: RunContext, strategy: Any) -> str:
    agent = ctx.agents("draft")[0]
    delimiter = strategy.delimiter or agent.pack.step_delimiter
    if delimiter is None:
        raise StrategyConfigError(
            f"strategy {strategy.name!r} splits drafts into steps, but prompt pack "
            f"{agent.pack.name!r} defines no step_delimiter; add one to the pack or pass "
            "delimiter= (arith-tiny's steps are separated by ', ')"
        )
    if not agent.pack.role("draft").raw:
        raise StrategyConfigError(
            f"strategy {strategy.name!r} continues partial solutions as raw text, but the "
            f"draft role of pack {agent.pack.name!r} is a chat prompt; use a pack with a raw "
            "draft role (the shipped model's) or another strategy"
        )
    return delimiter


async def expand(
    ctx: RunContext, strategy: Any, question: str, live: list[tuple[Path, int]], step: int
) -> tuple[dict[str, Any], list[Path]]:
    """Extend each `(path, k)` by one step k times: ONE engine call, one request per
    distinct partial solution (k samples). Returns the update and the new paths (empty
    when the call was refused or failed)."""
    delimiter = _delimiter(ctx, strategy)
    agent = ctx.agents("draft")[0]
    base = agent.ask(question=question)
    requests = [
        base.model_copy(
            update={
                "prompt": base.prompt + path.text,
                "n": k,
                "stop": [delimiter],
                "max_tokens": strategy.step_tokens,
                "temperature": strategy.temperature,
                "seed": ctx.seed_for(strategy.name, step, index),
            }
        )
        for index, (path, k) in enumerate(live)
    ]
    after = sorted({c for path, _ in live for c in path.calls[-1:]})
    outcome = await ctx.attempt(agent, "expand", requests, branch=f"step-{step}", after=after)
    if not outcome.ok:
        return outcome.update, []
    children = []
    for (path, _), generation in zip(live, outcome.generations, strict=True):
        for sample in generation.samples:
            text = path.text + sample.text
            finished = (
                agent.pack.extract_answer(text) is not None
                or sample.finish_reason == "length"
                or not sample.text.strip()
            )
            children.append(
                Path(
                    text=text if finished else text + delimiter,
                    done=finished,
                    logprob=path.logprob + sample.cumulative_logprob,
                    tokens=path.tokens + len(sample.token_ids),
                    calls=[*path.calls, outcome.call.id],
                    finish=sample.finish_reason,
                )
            )
    return outcome.update, children


async def score_paths(
    ctx: RunContext, verifier: Verifier, question: str, paths: list[Path], step: int
) -> tuple[dict[str, Any], list[Path]]:
    """Score every new path in one verifier pass (finished ones as answers). A verifier
    failure on a path scores it 0 and is recorded; the query goes on."""
    agent = ctx.agents("draft")[0]
    update: dict[str, Any] = {}
    scored = list(paths)
    for done in (False, True):
        group = [i for i, p in enumerate(paths) if p.done is done]
        if not group:
            continue
        texts = [paths[i].text.rstrip() if not done else paths[i].text for i in group]
        answers = [agent.pack.extract_answer(t) if done else None for t in texts]
        after = sorted({paths[i].calls[-1] for i in group})
        run = await verifier.verify(
            ctx, question, texts, answers, node="verify", partial=not done, after=after
        )
        for key, value in run.update.items():
            update[key] = update.get(key, []) + value if isinstance(value, list) else value
        for i, verdict in zip(group, run.verdicts, strict=True):
            calls = scored[i].calls + ([run.call_id] if run.call_id else [])
            scored[i] = replace(
                scored[i],
                score=verdict.score,
                ok=verdict.ok,
                findings=verdict.error or verdict.findings,
                calls=calls,
            )
    return update, scored


def to_candidates(ctx: RunContext, paths: list[Path]) -> list[Candidate]:
    """The final paths as candidates (answers read with the draft pack), votes tallied."""
    agent = ctx.agents("draft")[0]
    answers = [agent.pack.extract_answer(p.text) for p in paths]
    votes = Counter(a for a in answers if a is not None)
    return [
        Candidate(
            id=ctx.new_candidate_id(),
            text=p.text,
            answer=answer,
            mean_logprob=p.mean_logprob,
            completion_tokens=p.tokens,
            finish_reason=p.finish if p.done else "length",
            source="draft",
            engine=agent.label,
            call_id=p.calls[-1] if p.calls else 0,
            sample_index=i,
            scores=[p.score],
            votes=votes.get(answer, 0) if answer is not None else 0,
        )
        for i, (p, answer) in enumerate(zip(paths, answers, strict=True))
    ]


def verifier_of(strategy: Any) -> Verifier:
    verifier = as_verifier(strategy.verifier)
    assert verifier is not None
    return verifier


async def grow(
    ctx: RunContext,
    strategy: StepSearch,
    verifier: Verifier,
    question: str,
    live: list[tuple[Path, int]],
    step: int,
) -> tuple[dict[str, Any], list[Path]]:
    """Extend each live path by one step (k extensions each), then score the extensions:
    one update carrying both passes' calls. No children: the expansion failed or was
    refused, and the caller stops with what it has."""
    update, children = await expand(ctx, strategy, question, live, step)
    if not children:
        return update, children
    more, children = await score_paths(ctx, verifier, question, children, step)
    for key, value in more.items():
        update[key] = update.get(key, []) + value if isinstance(value, list) else value
    return update, children


def search_graph(strategy: StepSearch, state_type: type, key: str, search: Any) -> StateGraph:
    """The graph both searches share: `search` (the strategy's own step) until every path
    in `state[key]` is done or `max_steps` is reached, then select the best finished path
    by its verifier score."""

    @node("select")
    async def select(state: dict, ctx: RunContext) -> dict[str, Any]:
        paths = [p for p in state.get(key, []) if p.text]
        if not paths:
            return {}
        finished = [p for p in paths if p.done] or paths
        candidates = to_candidates(ctx, finished)
        best, decision = select_by_score(candidates, strategy.name)
        return {"candidates": candidates, "selected": best.id, "decisions": [decision]}

    async def next_step(state: dict) -> str:
        paths = state.get(key, [])
        if state.get("step", 0) >= strategy.max_steps or all(p.done for p in paths):
            return "select"
        return "search"

    graph = StateGraph(state_type, context_schema=RunContext)
    graph.add_node("search", search)
    graph.add_node("select", select)
    graph.add_edge(START, "search")
    graph.add_conditional_edges("search", next_step, ["search", "select"])
    graph.add_edge("select", END)
    return graph
