"""Budgets: what a query may spend, and the gate every engine call passes first.

A `Budget` caps tokens across all roles (`max_tokens`), the query's wall clock
(`max_latency_s`) and its emulated critical path on one hardware profile
(`max_emulated_s` on `profile`). The `BudgetGate` admits a call only if its worst case
fits what is left:

- tokens: exact upper bound, prompt tokens plus `n * max_tokens` per request, counting
  calls still running as already spent;
- emulated seconds: the hardware emulator's time for the call with every sample running
  to `max_tokens`, added to the emulated finish time of the calls it waits on (the
  budget caps the emulated critical path, what a user on that hardware waits for);
- wall seconds: learned from the engine's own recent calls. Each finished call is
  remembered per engine as (seconds, decode steps, samples), by role and by profile (None
  for the wall clock), the last `RECENT_CALLS` of each; the first call an engine serves
  is left out, because it pays for warm-up (allocation, caches, connections) that later
  calls do not. A call is predicted to take as long as the slowest recent call of its
  role that drew as many samples (of any role on that engine when its role has not run
  yet), scaled down when its `max_tokens` is fewer than that call's steps; when no recent
  call drew as many samples, the nearest sample count is scaled by the ratio of samples
  (so one draft after a batch of 16 is not refused for the batch's time). A draft that
  took 0.09 s is predicted at about 0.09 s, not at its `max_tokens` ceiling, and the
  budget admits what will fit. A call nothing predicts (a new engine, or only its
  warm-up seen) is admitted on tokens alone.
  A running call is also cancelled when the wall budget runs out, so a wrong prediction
  cannot overrun it by more than the time to notice. (Emulated seconds fall back to the
  same observed rule for a model the emulator cannot project.)

A draft call may shrink its `n` to fit; any other call that does not fit raises
`BudgetStop`, which strategies catch to stop cleanly with what they have.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator
from thinkfast.engine import ThinkfastError
from thinkfast.engine.hardware.emulate import CallShape, emulate_call, engine_spec
from thinkfast.engine.hardware.profiles import get_profile

from .ledger import Call, Ledger

__all__ = ["Budget", "BudgetGate", "BudgetStop", "RequestCost"]


class Budget(BaseModel):
    """Caps on one query. `None` means unlimited."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int | None = Field(None, ge=1, description="prompt + completion, all roles")
    max_latency_s: float | None = Field(None, gt=0, description="the query's wall clock")
    max_emulated_s: float | None = Field(
        None, gt=0, description="emulated critical path on `profile`"
    )
    profile: str | None = Field(
        None, description="hardware profile of max_emulated_s; default: the engine's first"
    )

    @model_validator(mode="after")
    def _profile_only_with_emulated(self) -> Budget:
        if self.profile is not None and self.max_emulated_s is None:
            raise ValueError("profile names the hardware of max_emulated_s; give max_emulated_s")
        return self


class BudgetStop(ThinkfastError):  # noqa: N818 - control flow, caught by strategies
    """A call was not started (or was cut off) because the budget could not pay for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class RequestCost:
    """The worst case of one request: its prompt once, `n * max_tokens` completion tokens."""

    prompt_tokens: int
    n: int
    max_tokens: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.n * self.max_tokens


RECENT_CALLS = 8  # observations kept per engine, role and profile


@dataclass
class _Speed:
    """What one engine's recent calls took: (seconds, decode steps) by (role, profile)."""

    calls_seen: int = 0  # the first is warm-up and not learned from
    # (seconds, decode steps, samples drawn) of recent calls
    recent: dict[tuple[str, str | None], deque[tuple[float, int, int]]] = field(
        default_factory=dict
    )


_SPEEDS: weakref.WeakKeyDictionary[object, _Speed] = weakref.WeakKeyDictionary()


def emulated_worst_case_s(
    engine: object, profile: str, costs: Sequence[RequestCost]
) -> float | None:
    """The hardware emulator's seconds for the call if every sample ran to max_tokens;
    None when the engine's model cannot be projected (then observed rates are used)."""
    try:
        spec = engine_spec(engine)
        if spec is None:
            return None
        shapes = [CallShape(c.prompt_tokens, 0, (c.max_tokens,) * c.n) for c in costs]
        return max(emulate_call(spec, get_profile(profile), shapes))
    except ThinkfastError:
        return None


class BudgetGate:
    """Admits or refuses engine calls of one query against its `Budget`."""

    def __init__(self, budget: Budget, ledger: Ledger, profile: str | None) -> None:
        self.budget = budget
        self.ledger = ledger
        self.profile = profile  # resolved profile of max_emulated_s
        self.reserved_tokens = 0  # worst case of calls still running
        self.stop_reason: str | None = None

    # -- admission --------------------------------------------------------------------
    def admit(
        self,
        engine: object,
        role: str,
        costs: Sequence[RequestCost],
        *,
        after: Sequence[int],
        elapsed_s: float,
        shrinkable: bool = False,
    ) -> list[RequestCost]:
        """The costs to run (n possibly reduced when `shrinkable`), or raise BudgetStop."""
        costs = list(costs)
        if self.stop_reason is not None:
            raise BudgetStop(self.stop_reason)
        if self.budget.max_tokens is not None:
            left = self.budget.max_tokens - self.ledger.total_tokens - self.reserved_tokens
            need = sum(c.tokens for c in costs)
            if need > left:
                if shrinkable and len(costs) == 1:
                    cost = costs[0]
                    fit = (left - cost.prompt_tokens) // cost.max_tokens
                    if fit >= 1:
                        costs = [RequestCost(cost.prompt_tokens, fit, cost.max_tokens)]
                    else:
                        self._refuse(
                            role,
                            f"token budget: {left} tokens left, one {role} call needs {cost.prompt_tokens + cost.max_tokens}",
                        )
                else:
                    self._refuse(
                        role,
                        f"token budget: {left} tokens left, the {role} call needs up to {need}",
                    )
        steps = max(c.max_tokens for c in costs)
        if self.budget.max_latency_s is not None:
            samples = sum(c.n for c in costs)
            predicted = self.predict_s(engine, role, None, steps, samples)
            if elapsed_s + (predicted or 0.0) > self.budget.max_latency_s:
                self._refuse(
                    role,
                    f"latency budget: {elapsed_s:.3f}s spent of {self.budget.max_latency_s}s, "
                    f"the {role} call may take {predicted or 0.0:.3f}s",
                )
        if self.budget.max_emulated_s is not None and self.profile is not None:
            predicted = emulated_worst_case_s(engine, self.profile, costs)
            if predicted is None:
                samples = sum(c.n for c in costs)
                predicted = self.predict_s(engine, role, self.profile, steps, samples)
            finish = self.ledger.finish_times(self.profile)
            ready = max((finish.get(dep, 0.0) for dep in after), default=0.0)
            if ready + (predicted or 0.0) > self.budget.max_emulated_s:
                self._refuse(
                    role,
                    f"emulated budget on {self.profile}: {ready:.4f}s on the path so far of "
                    f"{self.budget.max_emulated_s}s, the {role} call may take {predicted or 0.0:.4f}s",
                )
        self.reserved_tokens += sum(c.tokens for c in costs)
        return costs

    def remaining_wall_s(self, elapsed_s: float) -> float | None:
        if self.budget.max_latency_s is None:
            return None
        return self.budget.max_latency_s - elapsed_s

    def release(self, costs: Sequence[RequestCost]) -> None:
        """A call admitted with `costs` has finished (or failed); its tokens are in the ledger."""
        self.reserved_tokens -= sum(c.tokens for c in costs)

    def _refuse(self, role: str, reason: str) -> None:
        self.stop_reason = reason
        raise BudgetStop(reason)

    # -- speed memory -------------------------------------------------------------------
    @staticmethod
    def observe(engine: object, call: Call, steps: int) -> None:
        """Remember what this call took on its engine (not the engine's first call)."""
        if call.error is not None or steps <= 0:
            return
        try:
            speed = _SPEEDS.setdefault(engine, _Speed())
        except TypeError:  # engine not weak-referenceable: no memory, admit on tokens
            return
        speed.calls_seen += 1
        if speed.calls_seen == 1:  # warm-up: slower than anything after it
            return
        for profile, seconds in [(None, call.wall_s), *call.emulated.items()]:
            recent = speed.recent.setdefault((call.role, profile), deque(maxlen=RECENT_CALLS))
            recent.append((seconds, steps, max(1, call.samples)))

    @staticmethod
    def predict_s(
        engine: object, role: str, profile: str | None, steps: int, samples: int | None = None
    ) -> float | None:
        """Seconds a call of `role` with at most `steps` decode steps and `samples` samples
        is expected to take: the slowest recent call of that role (else of any role on the
        engine) that drew as many samples, scaled down to `steps` when it decoded more;
        without one, the calls of the nearest sample count scaled by the samples' ratio.
        `samples=None` compares every recent call as it is. None when no call after
        warm-up was seen."""
        try:
            speed = _SPEEDS.get(engine)
        except TypeError:
            return None
        if speed is None:
            return None
        seen = list(speed.recent.get((role, profile), ()))
        if not seen:  # another role on the same engine: its speed is the best guess
            seen = [obs for (_, p), calls in speed.recent.items() if p == profile for obs in calls]
        if not seen:
            return None
        scale = 1.0
        if samples is not None:
            nearest = min({drawn for _, _, drawn in seen}, key=lambda d: (abs(d - samples), d))
            seen = [obs for obs in seen if obs[2] == nearest]
            scale = samples / nearest
        return scale * max(seconds * min(1.0, steps / taken) for seconds, taken, _ in seen)
