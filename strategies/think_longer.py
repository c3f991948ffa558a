"""`think_longer`: budget forcing (s1, Muennighoff et al. 2025).

The draft thinks, then writes its answer after the pack's `thinking_end` (arith-tiny:
`\\nAnswer:`). When the thinking is shorter than `min_thinking` tokens, its answer is
dropped and the model is asked to go on (the `think_more` role: the thinking so far, then
a continuation cue such as "Wait"), up to `max_waits` times; the answer written after the
last continuation is the answer. Thinking is cut at `max_thinking` tokens: the allowance
of each call is what is left of it, and a draft cut there is made to answer at once (the
pack's `thinking_end` appended to the raw text, a short greedy continuation). s1 reports
accuracy rising with forced extra thinking, then flattening.

For packs that define a thinking segment (`thinking_end`). Cost: one call per phase,
all on the critical path (each continuation reads the previous one).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from langgraph.graph import END, StateGraph
from pydantic import Field, model_validator
from thinkfast.orchestrator.context import RunContext
from thinkfast.orchestrator.errors import StrategyConfigError
from thinkfast.orchestrator.nodes import loop_graph, new_candidate, node
from thinkfast.orchestrator.prompt_pack import RolePrompt
from thinkfast.orchestrator.state import Decision, GraphState, last_value
from thinkfast.orchestrator.strategy import Strategy, register_strategy

__all__ = ["ThinkLonger", "THINK_MORE_PROMPT"]

THINK_MORE_PROMPT = RolePrompt(
    system="You are a careful assistant. Think step by step, briefly. End with one line: "
    "Answer: <final answer>",
    template="{question}\n\nYour thinking so far:\n{thinking}\n\nWait, that may be wrong or "
    "incomplete. Check it again another way, then answer.",
    max_tokens=320,
)
ANSWER_TOKENS = 24  # room for the answer after the thinking


class ThinkLongerState(GraphState, total=False):
    attempts: Annotated[list[str], last_value]  # the thinking of each phase
    thinking_tokens: Annotated[int, last_value]
    tail: Annotated[str, last_value]  # what the last phase wrote after thinking_end
    waits: Annotated[int, last_value]
    frontier: Annotated[list[int], last_value]
    cut: Annotated[bool, last_value]  # the last phase reached max_thinking
    resume: Annotated[str | None, last_value]  # raw prompt + thinking of the last phase
    resume_role: Annotated[str, last_value]


@register_strategy
class ThinkLonger(Strategy):
    """Budget forcing: keep the model thinking to a minimum, cut it at a maximum."""

    name = "think_longer"
    summary = "budget forcing (s1): a continuation cue when thinking ends early; cut at a maximum"
    default_prompts: ClassVar[dict[str, RolePrompt]] = {"think_more": THINK_MORE_PROMPT}

    min_thinking: int = Field(96, ge=0, le=32768, description="thinking tokens at least")
    max_thinking: int = Field(512, ge=1, le=32768, description="thinking tokens at most")
    max_waits: int = Field(2, ge=0, le=16, description="continuation cues at most")
    temperature: float = Field(0.0, ge=0.0, le=10.0, description="sampling temperature")
    joiner: str = Field(
        "\nWait: ", description="how earlier phases' thinking is joined in the next prompt"
    )
    thinking_end: str | None = Field(
        None, min_length=1, description="where thinking ends; default: the pack's thinking_end"
    )

    @model_validator(mode="after")
    def _range(self) -> ThinkLonger:
        if self.min_thinking > self.max_thinking:
            raise ValueError(
                f"min_thinking ({self.min_thinking}) must not exceed max_thinking ({self.max_thinking})"
            )
        return self

    def roles(self) -> tuple[str, ...]:
        return ("draft", "think_more") if self.max_waits else ("draft",)

    def build_graph(self) -> StateGraph:
        def end_of(ctx: RunContext) -> str:
            pack = ctx.agents("draft")[0].pack
            if self.thinking_end is not None:
                return self.thinking_end
            if pack.thinking_end is None:
                raise StrategyConfigError(
                    f"strategy 'think_longer' needs a pack with a thinking segment, but prompt "
                    f"pack {pack.name!r} defines no thinking_end; add it to the pack "
                    '(e.g. "\\nAnswer:")'
                )
            return pack.thinking_end

        async def phase(state: ThinkLongerState, ctx: RunContext, role: str) -> dict[str, Any]:
            end = end_of(ctx)
            attempts = list(state.get("attempts", []))
            used = state.get("thinking_tokens", 0)
            agent = ctx.agent(role)
            fields = {"question": state["question"]}
            if role == "think_more":
                fields["thinking"] = self.joiner.join(attempts)
            left = max(1, self.max_thinking - used)
            request = agent.ask(**fields).model_copy(
                update={
                    "max_tokens": left,
                    "temperature": self.temperature,
                    "seed": ctx.seed_for("think_longer", len(attempts)),
                }
            )
            outcome = await ctx.attempt(
                agent,
                role,
                [request],
                branch=f"phase-{len(attempts) + 1}",
                after=state.get("frontier", []),
            )
            if not outcome.ok:
                return {**outcome.update, "waits": self.max_waits + 1}
            sample = outcome.generations[0].samples[0]
            thinking, found, tail = sample.text.partition(end)
            tokens = len(sample.token_ids)
            share = round(tokens * len(thinking) / max(1, len(sample.text))) if found else tokens
            cut = sample.finish_reason == "length" and not found
            update: dict[str, Any] = {
                **outcome.update,
                "attempts": [*attempts, thinking.rstrip() if found else thinking],
                "thinking_tokens": used + share,
                "tail": tail if found else "",
                "frontier": [outcome.call.id],
                "cut": cut or used + share >= self.max_thinking,
                # the raw text so far, to force an answer from (None: a chat prompt)
                "resume": None if request.prompt is None else request.prompt + thinking,
                "resume_role": role,
            }
            if role == "think_more":
                update["waits"] = state.get("waits", 0) + 1
            return update

        async def force_answer(
            state: ThinkLongerState, ctx: RunContext, end: str
        ) -> dict[str, Any]:
            """The thinking ended (or was cut) without an answer: append the end of the
            thinking segment to the raw text and let the model write only the answer."""
            if state.get("resume") is None:  # a chat prompt cannot be continued as text
                return {}
            agent = ctx.agents(state["resume_role"])[0]
            forced = agent.ask(question=state["question"], thinking="").model_copy(
                update={
                    "prompt": state["resume"] + end,
                    "max_tokens": ANSWER_TOKENS,
                    "temperature": 0.0,
                    "stop": [],
                }
            )
            answer = await ctx.attempt(agent, "answer", [forced], after=state.get("frontier", []))
            if not answer.ok:
                return answer.update
            return {
                **answer.update,
                "tail": answer.generations[0].samples[0].text,
                "frontier": [answer.call.id],
            }

        @node("draft")
        async def first(state: ThinkLongerState, ctx: RunContext) -> dict[str, Any]:
            return await phase(state, ctx, "draft")

        @node("think_more")
        async def more(state: ThinkLongerState, ctx: RunContext) -> dict[str, Any]:
            return await phase(state, ctx, "think_more")

        @node("answer")
        async def answer(state: ThinkLongerState, ctx: RunContext) -> dict[str, Any]:
            attempts = state.get("attempts", [])
            if not attempts:
                return {}
            end = end_of(ctx)
            agent = ctx.agents("draft")[0]
            update: dict[str, Any] = {}
            if not state.get("tail"):
                update = await force_answer(state, ctx, end)
            tail = update.get("tail", state.get("tail", ""))
            text = self.joiner.join(attempts) + end + tail
            call_id = (update.get("frontier") or state.get("frontier") or [0])[-1]

            # the candidate is assembled from several phases' text
            candidate = new_candidate(ctx, agent, _text_sample(text), call_id, branch="final")
            candidate = candidate.model_copy(
                update={"completion_tokens": state.get("thinking_tokens", 0)}
            )
            decision = Decision(
                kind="think_longer",
                candidates=[candidate.id],
                winner=candidate.id,
                detail=f"{state.get('thinking_tokens', 0)} thinking tokens over "
                f"{len(attempts)} phase(s), {state.get('waits', 0)} wait(s)"
                + ("; cut at max_thinking" if state.get("cut") else ""),
            )
            return {
                **update,
                "candidates": [candidate],
                "selected": candidate.id,
                "decisions": [decision],
            }

        async def next_phase(state: ThinkLongerState) -> str:
            if not state.get("attempts"):
                return END
            waits = state.get("waits", 0)
            if (
                state.get("cut")
                or waits >= self.max_waits
                or state.get("thinking_tokens", 0) >= self.min_thinking
                or state.get("budget_stop")
            ):
                return "answer"
            return "think_more"

        return loop_graph(
            ThinkLongerState,
            next_phase,
            first=("draft", first),
            repeat=("think_more", more),
            finish=("answer", answer),
        )


def _text_sample(text: str):
    from thinkfast.engine import Sample

    return Sample(text=text, token_ids=[], finish_reason="stop")
