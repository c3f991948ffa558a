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

from langgraph.graph import StateGraph
from pydantic import Field
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.nodes import node
from thinkfast.orchestrator.state import Decision, GraphState, last_value
from thinkfast.orchestrator.strategy import register_strategy

from .step_search import Path, StepSearch, grow, search_graph, verifier_of

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
            update, children = await grow(
                ctx, self, verifier, question, list(groups.values()), step
            )
            if not children:  # refused or failed: stop with what there is
                return {**update, "particles": population, "step": self.max_steps}
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

        return search_graph(self, ParticleState, "particles", search)
