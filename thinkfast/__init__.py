"""thinkfast: think before speaking, and know what the thinking cost.

The public surface is exactly what `__all__` lists (a test checks it).
"""

from thinkfast.engine import (
    ChatMessage,
    ContextLengthError,
    Engine,
    EngineError,
    Generation,
    GenerationRequest,
    HardwareError,
    InvalidRequestError,
    LocalEngine,
    ModelLoadError,
    OpenAIEngine,
    RemoteEngineError,
    Sample,
    ThinkfastError,
    Timing,
    Usage,
    UnsupportedArchitectureError,
)
from thinkfast.orchestrator import (
    AllBranchesFailedError,
    Answer,
    Budget,
    BudgetExhaustedError,
    Event,
    PromptPack,
    StrategyConfigError,
    StrategyError,
    UnknownStrategyError,
    astream,
    athink,
    think,
)
from thinkfast.strategies import Strategy, available_strategies, get_strategy, register_strategy

__version__ = "0.1.0"

__all__ = [
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
    "AllBranchesFailedError",
    "Answer",
    "Budget",
    "BudgetExhaustedError",
    "Event",
    "PromptPack",
    "StrategyConfigError",
    "StrategyError",
    "UnknownStrategyError",
    "astream",
    "athink",
    "think",
    "Strategy",
    "available_strategies",
    "get_strategy",
    "register_strategy",
    "__version__",
]
