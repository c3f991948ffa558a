"""`particle`: particle filtering over the scratchpad's steps (Puri et al. 2025).

`particles` partial solutions are extended one step each (identical ones as one request
with n samples, all in ONE engine call), the verifier scores every extension, and the
population is resampled in proportion to the scores (a particle scored 0 keeps a small
`floor` weight, so a harsh verifier does not empty the population). Finished particles
keep their place and are resampled like the others, so a well-scored answer multiplies.
Unlike `beam`, which keeps the top scores deterministically, resampling keeps some
lower-scored paths alive; Puri et al. report it scales 4-16x better than deterministic
search over a process reward, most at small budgets. The answer: the highest score among
the finished particles, ties by the vote among them (duplicates count), then drawn first.

Cost: per step one call of at most `particles` samples of one step each, plus one
verifier pass; the critical path is two calls per step.
"""

from __future__ import annotations

import random
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from pydantic import Field
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.nodes import node
from thinkfast.orchestrator.selection import select_by_score
from thinkfast.orchestrator.state import Decision, GraphState, last_value
from thinkfast.orchestrator.strategy import register_strategy

from .step_search import Path, StepSearch, expand, score_paths, to_candidates, verifier_of

__all__ = ["Particle", "ParticleState"]


class ParticleState(GraphState, total=False):
    particles: Annotated[list[Path], last_value]
    step: Annotated[int, last_value]


@register_strategy
class Particle(StepSearch):
    """Step-level particle filtering weighted by a verifier."""

    name = "particle"
    summary = "particle filtering over scratchpad steps, resampled by a process verifier"

    particles: int = Field(8, ge=1, le=256, description="particles (partial solutions)")
    floor: float = Field(0.05, ge=0.0, le=1.0, description="least resampling weight")

    def build_graph(self) -> StateGraph:
        verifier = verifier_of(self)

        @node("search")
        async def search(state: ParticleState, ctx: RunContext) -> dict[str, Any]:
            question = state["question"]
            step = state.get("step", 0) + 1
            population = state.get("particles") or [Path() for _ in range(self.particles)]
            groups: dict[str, tuple[Path, int]] = {}
            for p in population:
                if not p.done:
                    path, k = groups.get(p.text, (p, 0))
                    groups[p.text] = (path, k + 1)
            update, children = await expand(ctx, self, question, list(groups.values()), step)
            if not children:  # refused or failed: stop with what there is
                return {**update, "particles": population, "step": self.max_steps}
            more, children = await score_paths(ctx, verifier, question, children, step)
            for key, value in more.items():
                update[key] = update.get(key, []) + value if isinstance(value, list) else value
            pool = [p for p in population if p.done] + children
            weights = [max(p.score, self.floor) for p in pool]
            rng = random.Random(ctx.seed_for("particle/resample", step))
            if sum(weights) > 0:
                resampled = rng.choices(pool, weights=weights, k=self.particles)
            else:  # floor 0 and every score 0: nothing to prefer
                resampled = rng.choices(pool, k=self.particles)
            decision = Decision(
                kind="resample",
                round=step,
                detail=f"{len(pool)} particles, mean score "
                f"{sum(p.score for p in pool) / len(pool):.2f}; "
                f"{len({id(p) for p in resampled})} distinct survive",
            )
            return {**update, "particles": resampled, "step": step, "decisions": [decision]}

        @node("select")
        async def select(state: ParticleState, ctx: RunContext) -> dict[str, Any]:
            population = [p for p in state.get("particles", []) if p.text]
            if not population:
                return {}
            finished = [p for p in population if p.done] or population
            candidates = to_candidates(ctx, finished)
            best, decision = select_by_score(candidates, "particle")
            return {"candidates": candidates, "selected": best.id, "decisions": [decision]}

        async def next_step(state: ParticleState) -> str:
            population = state.get("particles", [])
            if state.get("step", 0) >= self.max_steps or all(p.done for p in population):
                return "select"
            return "search"

        graph = StateGraph(ParticleState, context_schema=RunContext)
        graph.add_node("search", search)
        graph.add_node("select", select)
        graph.add_edge(START, "search")
        graph.add_conditional_edges("search", next_step, ["search", "select"])
        graph.add_edge("select", END)
        return graph
