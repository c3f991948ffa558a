"""thinkfast: think before speaking, and know what the thinking cost.

The public surface is exactly what `__all__` lists (a test checks it). Each name is
imported from its layer on first use (PEP 562), so `import thinkfast` and the
`thinkfast` command start in milliseconds and load only the layers they touch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"  # the one place the version is written (pyproject reads it)

# layer -> the public names it provides
_EXPORTS: dict[str, tuple[str, ...]] = {
    "thinkfast.engine": (
        "ChatMessage",
        "ContextLengthError",
        "Engine",
        "EngineError",
        "Generation",
        "GenerationRequest",
        "HardwareError",
        "InvalidRequestError",
        "LocalEngine",
        "ModelLoadError",
        "OpenAIEngine",
        "RemoteEngineError",
        "Sample",
        "ThinkfastError",
        "Timing",
        "UnsupportedArchitectureError",
        "Usage",
    ),
    "thinkfast.engine.hardware": (
        "HardwareProfile",
        "ModelSpec",
        "PROFILES",
        "Placement",
        "Projection",
        "get_profile",
        "get_spec",
        "place",
        "project",
    ),
    "thinkfast.orchestrator": (
        "AllBranchesFailedError",
        "Answer",
        "Budget",
        "BudgetExhaustedError",
        "Event",
        "PromptPack",
        "RunningLoopError",
        "StrategyConfigError",
        "StrategyError",
        "UnknownStrategyError",
        "astream",
        "athink",
        "think",
    ),
    "thinkfast.strategies": (
        "Strategy",
        "available_strategies",
        "get_strategy",
        "register_strategy",
    ),
    "thinkfast.evals": ("EvalError", "EvalSample", "Task", "get_task", "register_task", "run_eval"),
}
_LAYER_OF = {name: layer for layer, names in _EXPORTS.items() for name in names}

__all__ = [*_LAYER_OF, "__version__"]


def __getattr__(name: str) -> Any:
    layer = _LAYER_OF.get(name)
    if layer is None:
        raise AttributeError(f"module 'thinkfast' has no attribute {name!r}")
    value = getattr(importlib.import_module(layer), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
