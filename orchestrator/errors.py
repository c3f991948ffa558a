"""Errors of the orchestration layer, rooted in `ThinkfastError`.

`StrategyConfigError` is what a user sees for a bad option (it names the option and what
is accepted); `AllBranchesFailedError` when no branch of a query produced a candidate;
`BudgetExhaustedError` when the budget cannot pay for even the first draft;
`RunningLoopError` when the blocking `think()` is called where an event loop already runs.
"""

from __future__ import annotations

from thinkfast.engine import ThinkfastError

__all__ = [
    "StrategyError",
    "StrategyConfigError",
    "UnknownStrategyError",
    "AllBranchesFailedError",
    "BudgetExhaustedError",
    "RunningLoopError",
]


class StrategyError(ThinkfastError):
    """A scaffolded query could not be run or could not produce an answer."""


class StrategyConfigError(StrategyError, ValueError):
    """An option of a strategy, a budget or `think` is invalid or unknown."""


class UnknownStrategyError(StrategyConfigError):
    """No built-in or installed strategy has the requested name."""


class AllBranchesFailedError(StrategyError):
    """Every engine call that could have produced a candidate failed.

    `failures` holds one line per failed call (node, branch, error) so the cause is visible
    without a traceback.
    """

    def __init__(self, message: str, failures: list[str] | None = None) -> None:
        super().__init__(message)
        self.failures = list(failures or [])


class BudgetExhaustedError(StrategyError):
    """The budget does not cover even one draft, so there is nothing to answer with."""


class RunningLoopError(StrategyError, RuntimeError):
    """`think()` blocks until the answer is ready, which it cannot do inside a running
    event loop (a notebook, an async server): there, `await athink(...)` instead."""
