"""The ledger: one record per engine call, and the usage and latency read from it.

Every call a query makes (drafts, critiques, judge rounds, refinements) is a `Call` with
its role, graph node, branch, the engine that served it, tokens, wall seconds here and emulated seconds per hardware
profile, and `after`: the calls whose output it consumed. Those edges make the calls a DAG,
so latency can be reported three ways:

- wall: the query's own clock (measured by the caller, not derived here);
- sum of calls: what a provider pays for, every call end to end;
- critical path: what a user waits for when parallel branches overlap, the longest
  chain of dependent calls. The same DAG weighted by emulated seconds gives the
  critical path on each target profile.

Totals are sums over the calls, by construction; `tests/orchestrator` checks it.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

__all__ = ["Call", "RoleUsage", "UsageReport", "EmulatedLatency", "LatencyReport", "Ledger"]


class Call(BaseModel):
    """One `engine.generate()` call: possibly several requests, each with n samples."""

    id: int
    role: str
    node: str
    branch: str | None = None
    model: str = "unknown"
    engine: str = Field("", description="label of the engine that served the call")
    requests: int = 1
    samples: int = 1
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    start_s: float = Field(0.0, description="offset from the query's start")
    end_s: float = 0.0
    wall_s: float = 0.0
    emulated: dict[str, float] = Field(default_factory=dict)
    after: list[int] = Field(default_factory=list, description="ids of the calls it waited on")
    error: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def ok(self) -> bool:
        return self.error is None


class RoleUsage(BaseModel):
    """Tokens and seconds summed over a set of calls (one role, or all of them)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    total_tokens: int = 0
    wall_s: float = 0.0
    emulated: dict[str, float] = Field(default_factory=dict)

    def add(self, call: Call) -> None:
        self.calls += 1
        self.prompt_tokens += call.prompt_tokens
        self.completion_tokens += call.completion_tokens
        self.cached_tokens += call.cached_tokens
        self.total_tokens += call.total_tokens
        self.wall_s += call.wall_s
        for profile, seconds in call.emulated.items():
            self.emulated[profile] = self.emulated.get(profile, 0.0) + seconds


class UsageReport(BaseModel):
    by_role: dict[str, RoleUsage] = Field(default_factory=dict)
    total: RoleUsage = Field(default_factory=RoleUsage)


class EmulatedLatency(BaseModel):
    """Latency of the same calls on one target hardware profile."""

    sum_of_calls_s: float = 0.0
    critical_path_s: float = 0.0


class LatencyReport(BaseModel):
    """The query's latency three ways, here and emulated per profile.

    `engine_busy_s` is the union of the calls' intervals on the query clock; the rest of
    `wall_s` (`overhead_s`) is orchestration: graph steps, prompt rendering, parsing.
    """

    wall_s: float = 0.0
    sum_of_calls_s: float = 0.0
    critical_path_s: float = 0.0
    engine_busy_s: float = 0.0
    overhead_s: float = 0.0
    emulated: dict[str, EmulatedLatency] = Field(default_factory=dict)


class Ledger:
    """An append-only list of calls of one query, with the sums and paths over them."""

    def __init__(self, calls: Iterable[Call] = ()) -> None:
        self.calls: list[Call] = list(calls)

    def __len__(self) -> int:
        return len(self.calls)

    def append(self, call: Call) -> None:
        self.calls.append(call)

    def profiles(self) -> list[str]:
        seen: dict[str, None] = {}
        for call in self.calls:
            for profile in call.emulated:
                seen.setdefault(profile, None)
        return list(seen)

    # -- usage ------------------------------------------------------------------------
    def usage(self) -> UsageReport:
        report = UsageReport()
        for call in self.calls:
            report.by_role.setdefault(call.role, RoleUsage()).add(call)
            report.total.add(call)
        return report

    @property
    def total_tokens(self) -> int:
        return sum(call.total_tokens for call in self.calls)

    # -- latency ----------------------------------------------------------------------
    def sum_of_calls_s(self, profile: str | None = None) -> float:
        return sum(self._weight(call, profile) for call in self.calls)

    def finish_times(self, profile: str | None = None) -> dict[int, float]:
        """Earliest finish of each call if every call starts as soon as its inputs exist."""
        finish: dict[int, float] = {}
        # A call only depends on calls that finished before it started, which were
        # created earlier, so id order is a topological order.
        for call in sorted(self.calls, key=lambda c: c.id):
            ready = max((finish.get(dep, 0.0) for dep in call.after), default=0.0)
            finish[call.id] = ready + self._weight(call, profile)
        return finish

    def critical_path_s(self, profile: str | None = None) -> float:
        return max(self.finish_times(profile).values(), default=0.0)

    def critical_path(self, profile: str | None = None) -> list[int]:
        """Ids of the calls on the longest dependent chain, first to last."""
        finish = self.finish_times(profile)
        if not finish:
            return []
        by_id = {call.id: call for call in self.calls}
        path = [max(finish, key=lambda i: finish[i])]
        while True:
            deps = [d for d in by_id[path[-1]].after if d in finish]
            if not deps:
                break
            path.append(max(deps, key=lambda i: finish[i]))
        return path[::-1]

    def engine_busy_s(self) -> float:
        """Length of the union of the calls' [start, end] intervals on the query clock."""
        busy = 0.0
        current_start = current_end = None
        for call in sorted(self.calls, key=lambda c: c.start_s):
            if current_end is None or call.start_s > current_end:
                if current_end is not None:
                    busy += current_end - current_start
                current_start, current_end = call.start_s, call.end_s
            else:
                current_end = max(current_end, call.end_s)
        if current_end is not None:
            busy += current_end - current_start
        return busy

    def latency(self, wall_s: float) -> LatencyReport:
        busy = self.engine_busy_s()
        return LatencyReport(
            wall_s=wall_s,
            sum_of_calls_s=self.sum_of_calls_s(),
            critical_path_s=self.critical_path_s(),
            engine_busy_s=busy,
            overhead_s=max(0.0, wall_s - busy),
            emulated={
                profile: EmulatedLatency(
                    sum_of_calls_s=self.sum_of_calls_s(profile),
                    critical_path_s=self.critical_path_s(profile),
                )
                for profile in self.profiles()
            },
        )

    @staticmethod
    def _weight(call: Call, profile: str | None) -> float:
        return call.wall_s if profile is None else call.emulated.get(profile, 0.0)
