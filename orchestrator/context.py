"""RunContext: what one query's graph run needs besides its state.

Engines, packs and agents are not graph state (they are not data and must not be
checkpointed), so they travel as LangGraph's run context; that is also why one compiled
graph serves every engine. Nodes look agents up by role name (`ctx.agent("judge")`,
`ctx.agents("draft")`) from the run's `Roster`.

`RunContext.call` is the only way nodes reach an engine: it passes the budget gate, times
the call, writes the ledger record (with the label of the engine that served it), emits
events, and raises `BudgetStop` or `BranchFailed` (an engine failure, recorded). A call
marked `live` (a generation certain to be the final answer) is streamed when the run is
(`astream`): its text arrives as "token" events while it decodes, and its Generation, from
the end of the stream, is accounted exactly as `generate`'s would be. Most
nodes want `RunContext.attempt` instead: the same call, returning a `CallOutcome` whose
`update` already holds the state update for a refused or failed call, so a node ends its
branch with `if not outcome.ok: return outcome.update`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import zlib
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from thinkfast.engine import Generation, GenerationRequest
from thinkfast.engine.errors import EngineError

from .agents import Agent
from .budget import Budget, BudgetGate, BudgetStop, RequestCost
from .events import Event, emit
from .ledger import Call, Ledger
from .roster import Roster
from .state import Failure

__all__ = ["RunContext", "BranchFailed", "CallOutcome"]


class BranchFailed(Exception):  # noqa: N818 - control flow inside nodes
    """An engine call failed; `call` is its ledger record (with `error` set)."""

    def __init__(self, call: Call, cause: BaseException) -> None:
        super().__init__(call.error)
        self.call = call
        self.cause = cause


@dataclass
class CallOutcome:
    """What `RunContext.attempt` returns: the call's results, or why there are none.

    `update` is the state update the call contributes: its ledger record when it ran;
    the budget stop when refused; the failed record and a `Failure` when the engine failed.
    """

    update: dict[str, Any]
    generations: list[Generation] = field(default_factory=list)
    call: Call | None = None
    requests: list[GenerationRequest] = field(default_factory=list)
    stopped: str | None = None  # the budget's reason, when refused or cut off

    @property
    def ok(self) -> bool:
        return self.call is not None and self.call.ok and self.stopped is None


def failure_update(exc: BranchFailed, node: str, branch: str | None = None) -> dict[str, Any]:
    """The state update of a failed call: its record in the ledger and a `Failure`."""
    call = exc.call
    failure = Failure(
        node=node, role=call.role, branch=branch, error=call.error or "", call_id=call.id
    )
    return {"calls": [call], "failures": [failure]}


@dataclass
class RunContext:
    """Roster, budget, ledger and clock of one query."""

    roster: Roster
    budget: Budget = field(default_factory=Budget)
    seed: int | None = None
    ledger: Ledger = field(default_factory=Ledger)
    started: float = field(default_factory=time.perf_counter)
    gate: BudgetGate | None = None
    # astream sets it: calls marked live stream their text as "token" events
    stream_tokens: bool = False
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _candidate_ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        if self.gate is None:
            self.gate = BudgetGate(self.budget, self.ledger, self.budget.profile)

    # -- small helpers ------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def new_candidate_id(self) -> int:
        return next(self._candidate_ids)

    def seed_for(self, *parts: object) -> int | None:
        """A per-call seed derived from the query seed and the call's place in the graph,
        so reruns repeat and different branches do not draw the same samples."""
        if self.seed is None:
            return None
        key = "/".join(str(p) for p in parts).encode()
        return (self.seed * 1_000_003 + zlib.crc32(key)) % (2**31 - 1)

    def event(self, kind: str, **kwargs: Any) -> None:
        emit(Event(kind=kind, t=self.elapsed(), **kwargs))

    # -- agents by role ------------------------------------------------------------------
    def agent(self, role: str) -> Agent:
        """The agent for the role's next call (round-robin over the role's engines)."""
        return self.roster.agent(role)

    def agents(self, role: str) -> list[Agent]:
        """Every agent of the role, one per engine, in the order the engines were given."""
        return self.roster.agents(role)

    async def attempt(
        self, agent: Agent, node: str, requests: list[GenerationRequest], **options: Any
    ) -> CallOutcome:
        """`call` with the same options (branch, after, shrinkable), but a budget refusal
        or an engine failure is returned (its events emitted, its state update ready), not
        raised."""
        branch = options.get("branch")
        try:
            generations, record, ran = await self.call(agent, node, requests, **options)
        except BudgetStop as stop:
            data = {"reason": stop.reason}
            self.event("budget_stop", node=node, role=agent.role, branch=branch, data=data)
            return CallOutcome(update={"budget_stop": stop.reason}, stopped=stop.reason)
        except BranchFailed as exc:
            data = {"error": exc.call.error}
            self.event("failure", node=node, role=agent.role, branch=branch, data=data)
            return CallOutcome(update=failure_update(exc, node, branch), call=exc.call)
        return CallOutcome(
            update={"calls": [record]}, generations=generations, call=record, requests=ran
        )

    # -- the one door to the engines ------------------------------------------------------
    async def call(
        self,
        agent: Agent,
        node: str,
        requests: list[GenerationRequest],
        *,
        branch: str | None = None,
        after: list[int] | None = None,
        shrinkable: bool = False,
        live: bool = False,
    ) -> tuple[list[Generation], Call, list[GenerationRequest]]:
        """Run `requests` on the agent's engine as ONE generate() call.

        Returns the generations, the ledger record and the requests as run (a shrinkable
        draft may have had its `n` reduced to fit the budget). Raises `BudgetStop` when the
        budget refuses the call (or cuts it off), `BranchFailed` when the engine fails.
        `live`: the caller guarantees this generation becomes the final answer's text if it
        completes; in a streaming run a single-sample call then goes through
        `engine.stream` and emits each delta as a "token" event.
        """
        after = sorted(set(after or []))
        engine = agent.engine
        prompts = [engine.count_tokens(r) for r in requests]
        requests = [self._fit_context(engine, r, p) for r, p in zip(requests, prompts, strict=True)]
        costs = [RequestCost(p, r.n, r.max_tokens) for r, p in zip(requests, prompts, strict=True)]
        costs = self.gate.admit(
            engine,
            agent.role,
            costs,
            after=after,
            elapsed_s=self.elapsed(),
            shrinkable=shrinkable,
        )
        requests = [
            r if r.n == c.n else r.model_copy(update={"n": c.n})
            for r, c in zip(requests, costs, strict=True)
        ]
        call_id = next(self._ids)
        start = self.elapsed()
        self.event(
            "call_started",
            node=node,
            role=agent.role,
            branch=branch,
            data={
                "call": call_id,
                "engine": agent.label,
                "requests": len(requests),
                "samples": sum(r.n for r in requests),
            },
        )
        remaining = self.gate.remaining_wall_s(start)
        record = Call(
            id=call_id,
            role=agent.role,
            node=node,
            branch=branch,
            model=engine.model_name,
            engine=agent.label,
            requests=len(requests),
            samples=sum(r.n for r in requests),
            start_s=start,
            after=after,
        )
        try:
            async with asyncio.timeout(remaining) if remaining is not None else nullcontext():
                if live and self.stream_tokens and len(requests) == 1 and requests[0].n == 1:
                    generations = [await self._stream(engine, requests[0], record)]
                else:
                    generations = await engine.generate(requests)
        except TimeoutError as exc:
            reason = (
                f"latency budget: the {agent.role} call was cut off at {self.budget.max_latency_s}s"
            )
            self._close(record, error=reason)
            self.gate.stop_reason = self.gate.stop_reason or reason
            raise BudgetStop(reason) from exc
        except asyncio.CancelledError:
            self._close(record, error="cancelled")
            raise
        except Exception as exc:  # an engine failure loses this branch, not the query
            self._close(record, error=f"{type(exc).__name__}: {exc}")
            raise BranchFailed(record, exc) from exc
        finally:
            self.gate.release(costs)
        record.prompt_tokens = sum(g.usage.prompt_tokens for g in generations)
        record.completion_tokens = sum(g.usage.completion_tokens for g in generations)
        record.cached_tokens = sum(g.usage.cached_tokens for g in generations)
        # Requests of one call run as one batch: on the target they finish together, so
        # the call takes as long as its slowest request.
        emulated: dict[str, float] = {}
        for generation in generations:
            for profile, seconds in generation.timing.emulated.items():
                emulated[profile] = max(emulated.get(profile, 0.0), seconds)
        record.emulated = emulated
        self._close(record)
        steps = max((len(s.token_ids) for g in generations for s in g.samples), default=0)
        BudgetGate.observe(engine, record, steps)
        return generations, record, requests

    async def _stream(self, engine, request: GenerationRequest, record: Call) -> Generation:
        """One sample through `engine.stream`, each delta sent as a "token" event; the
        Generation at the end of the stream is the same one `generate` returns."""
        stream = engine.stream(request)
        where = {"node": record.node, "role": record.role, "branch": record.branch}
        try:
            async for delta in stream:
                self.event("token", **where, data={"call": record.id, "text": delta})
        finally:
            await stream.aclose()  # cancelled or cut off: the engine stops decoding
        if stream.generation is None:
            raise EngineError(
                f"the stream of {record.engine or record.model} ended without its generation"
            )
        return stream.generation

    @staticmethod
    def _fit_context(engine, request: GenerationRequest, prompt_tokens: int) -> GenerationRequest:
        """Lower max_tokens to the room the context window leaves after the prompt.

        A judge shown two long drafts may not have room for its full allowance; a shorter
        answer beats a failed call. A prompt that does not fit at all is left to fail.
        """
        window = engine.context_length
        if window is None:
            return request
        room = window - prompt_tokens
        if 0 < room < request.max_tokens:
            return request.model_copy(update={"max_tokens": room})
        return request

    def _close(self, record: Call, error: str | None = None) -> None:
        record.end_s = self.elapsed()
        record.wall_s = record.end_s - record.start_s
        record.error = error
        self.ledger.append(record)
        self.event(
            "call_finished",
            node=record.node,
            role=record.role,
            branch=record.branch,
            data={
                "call": record.id,
                "tokens": record.total_tokens,
                "wall_s": record.wall_s,
                "error": error,
            },
        )
