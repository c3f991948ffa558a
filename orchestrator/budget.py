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
- wall seconds: `max_tokens` decode steps at the slowest seconds-per-step observed so far
  for that engine and role (prefill folded into the step rate, which makes the bound
  conservative). Rates are remembered per engine across queries; a call on an engine never
  seen before is admitted on tokens alone, because nothing predicts its speed yet. A
  running call is also cancelled when the wall budget runs out, so a wrong prediction
  cannot overrun it by more than the time to notice. (Emulated seconds fall back to the
  same observed-rate rule for a model the emulator cannot project.)

A draft call may shrink its `n` to fit; any other call that does not fit raises
`BudgetStop`, which strategies catch to stop cleanly with what they have.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

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


# seconds per decode step, by (role, profile or None for wall), remembered per engine.
_RATES: weakref.WeakKeyDictionary[object, dict[tuple[str, str | None], float]] = (
    weakref.WeakKeyDictionary()
)


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
            predicted = self.predict_s(engine, role, None, steps)
            if elapsed_s + (predicted or 0.0) > self.budget.max_latency_s:
                self._refuse(
                    role,
                    f"latency budget: {elapsed_s:.3f}s spent of {self.budget.max_latency_s}s, "
                    f"the {role} call may take {predicted or 0.0:.3f}s",
                )
        if self.budget.max_emulated_s is not None and self.profile is not None:
            predicted = emulated_worst_case_s(engine, self.profile, costs)
            if predicted is None:
                predicted = self.predict_s(engine, role, self.profile, steps)
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
        """Remember the slowest seconds per decode step seen for this engine and role."""
        if call.error is not None or steps <= 0:
            return
        try:
            rates = _RATES.setdefault(engine, {})
        except TypeError:  # engine not weak-referenceable: no memory, admit on tokens
            return
        for profile, seconds in [(None, call.wall_s), *call.emulated.items()]:
            key = (call.role, profile)
            rates[key] = max(rates.get(key, 0.0), seconds / steps)

    @staticmethod
    def predict_s(engine: object, role: str, profile: str | None, steps: int) -> float | None:
        try:
            rates = _RATES.get(engine)
        except TypeError:
            return None
        if not rates:
            return None
        rate = rates.get((role, profile))
        if rate is None:  # another role on the same engine: decode speed is shared
            same_profile = [r for (_, p), r in rates.items() if p == profile]
            if not same_profile:
                return None
            rate = max(same_profile)
        return rate * steps
