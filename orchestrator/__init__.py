"""thinkfast.orchestrator: roles and agents, the graph state, selection rules, the ledger,
budgets and `think`."""

from .agents import Agent, Sampling
from .answer import Answer
from .api import astream, athink, default_engine, run_context, think
from .budget import Budget, BudgetStop
from .context import CallOutcome, RunContext
from .errors import (
    AllBranchesFailedError,
    BudgetExhaustedError,
    RunningLoopError,
    StrategyConfigError,
    StrategyError,
    UnknownStrategyError,
)
from .events import Event
from .ledger import Call, EmulatedLatency, LatencyReport, Ledger, RoleUsage, UsageReport
from .prompt_pack import ROLES, PromptPack, PromptPackError, RolePrompt
from .roster import Roster, default_pack, pack_for
from .state import Candidate, Critique, Decision, Failure, GraphState, RoundRecord

__all__ = [
    "ROLES",
    "Agent",
    "AllBranchesFailedError",
    "Answer",
    "Budget",
    "BudgetExhaustedError",
    "BudgetStop",
    "Call",
    "CallOutcome",
    "Candidate",
    "Critique",
    "Decision",
    "EmulatedLatency",
    "Event",
    "Failure",
    "GraphState",
    "LatencyReport",
    "Ledger",
    "PromptPack",
    "PromptPackError",
    "RoleUsage",
    "RolePrompt",
    "RoundRecord",
    "Roster",
    "RunContext",
    "RunningLoopError",
    "Sampling",
    "StrategyConfigError",
    "StrategyError",
    "UnknownStrategyError",
    "UsageReport",
    "astream",
    "athink",
    "default_engine",
    "default_pack",
    "pack_for",
    "run_context",
    "think",
]
