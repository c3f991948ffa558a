"""thinkfast.orchestrator: agents, the graph state, the ledger, budgets and `think`."""

from .prompt_pack import ROLES, PromptPack, PromptPackError, RolePrompt

__all__ = ["ROLES", "PromptPack", "PromptPackError", "RolePrompt"]
