"""thinkfast.orchestrator: agents, the graph state, the ledger, budgets and `think`."""

from .agents import Agent, Critic, Drafter, Judge, Refiner, Sampling
from .answer import Answer
from .api import astream, athink, default_engine, default_pack, pack_for, run_context, think
from .budget import Budget, BudgetStop
from .context import RunContext
from .errors import (
    AllBranchesFailedError,
    BudgetExhaustedError,
    StrategyConfigError,
    StrategyError,
    UnknownStrategyError,
)
from .events import Event
from .ledger import Call, EmulatedLatency, LatencyReport, Ledger, RoleUsage, UsageReport
from .prompt_pack import ROLES, PromptPack, PromptPackError, RolePrompt
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
    "Candidate",
    "Critic",
    "Critique",
    "Decision",
    "Drafter",
    "EmulatedLatency",
    "Event",
    "Failure",
    "GraphState",
    "Judge",
    "LatencyReport",
    "Ledger",
    "PromptPack",
    "PromptPackError",
    "Refiner",
    "RoleUsage",
    "RolePrompt",
    "RoundRecord",
    "RunContext",
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
