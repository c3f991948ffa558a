"""`beam`: beam search over the scratchpad's steps, guided by a process verifier.

Each step extends every live beam `expansions` times (all beams' partial solutions in
ONE engine call), the verifier scores every extension (one pass), and the best `width`
live on; finished solutions stay in the beam with their score. The search ends when
every beam has finished or after `max_steps`; the best-scored finished solution is the
answer (ties: the vote among the beam, then drawn first). This is the deterministic
search Snell et al. (2024) and its_hub run with a process reward model; Puri et al.
(2025) compare it with particle filtering (`particle`).

Cost: per step one call of at most `width * expansions` samples of one step each, plus
one verifier pass (free for `equations`, one call for `step`); each step's prompt is the
question plus the steps so far, so prompt tokens grow with depth. Critical path: two
calls per step, in sequence.
"""

from __future__ import annotations

from typing import Annotated, Any

from langgraph.graph import StateGraph
from pydantic import Field
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.nodes import node
from thinkfast.orchestrator.state import Decision, GraphState, last_value
from thinkfast.orchestrator.strategy import register_strategy

from .step_search import Path, StepSearch, grow, search_graph, verifier_of

__all__ = ["Beam", "BeamState"]


class BeamState(GraphState, total=False):
    beams: Annotated[list[Path], last_value]
    step: Annotated[int, last_value]


def _rank(path: Path) -> tuple:
    return (path.score, path.mean_logprob)


@register_strategy
class Beam(StepSearch):
    """Step-level beam search scored by a verifier."""

    name = "beam"
    summary = "beam search over scratchpad steps, scored by a process verifier"

    width: int = Field(4, ge=1, le=64, description="beams kept after each step")
    expansions: int = Field(2, ge=1, le=32, description="extensions of each beam per step")

    def build_graph(self) -> StateGraph:
        verifier = verifier_of(self)

        @node("search")
        async def search(state: BeamState, ctx: RunContext) -> dict[str, Any]:
            question = state["question"]
            beams = state.get("beams") or [Path()]
            step = state.get("step", 0) + 1
            if step == 1:  # from the empty scratchpad: as many first steps as later ones
                live = [(beams[0], self.width * self.expansions)]
            else:
                live = [(b, self.expansions) for b in beams if not b.done]
            update, children = await grow(ctx, self, verifier, question, live, step)
            if not children:  # refused or failed: stop with what there is
                return {**update, "beams": beams, "step": self.max_steps}
            pool = [b for b in beams if b.done] + children
            kept = sorted(pool, key=_rank, reverse=True)[: self.width]
            decision = Decision(
                kind="beam_step",
                round=step,
                detail=f"kept {len(kept)} of {len(pool)}; scores "
                + ", ".join(f"{p.score:.2f}" for p in kept),
            )
            return {**update, "beams": kept, "step": step, "decisions": [decision]}

        return search_graph(self, BeamState, "beams", search)
